/*
 * test-isolation.c - the seed's demonstration through `stack up`
 * (examples/isolation.yaml, issue 13): a process-isolated and a
 * hyperv-isolated service, both running `sleep`. The process one's sleep is a
 * host process with the PID `stack top` reports; the hyperv one's is not a
 * host process at all, only its QEMU is (the PID `stack inspect` shows); its
 * `uname -r` is the guest kernel's; `stack down` leaves nothing behind.
 *
 * One stack serves every assertion: a QEMU boot on TCG is CPU-heavy.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static struct itest T;

static void setup(void)
{
    itest_require_host();
    if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0)
            cr_assert_fail("no /usr/bin/qemu-system-x86_64 under CI (scripts/setup installs it)");
        cr_skip_test("no /usr/bin/qemu-system-x86_64");
    }
    itest_init(&T, "iso");
}

static void teardown(void)
{
    itest_fini(&T);
}

/* The PID (first number) on the line of TEXT that ends with WHAT (not its shell's line). */
static long pid_on_line(const char *text, const char *what)
{
    size_t n = strlen(what);

    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        while (len > 0 && line[len - 1] == ' ')
            len--;
        if (len >= n && memcmp(line + len - n, what, n) == 0 && !memmem(line, len, "trap", 4)) {
            /* ps -f's columns: UID PID ...; the agent's: PID ... */
            for (const char *c = line; c < line + len; c++)
                if (*c >= '0' && *c <= '9')
                    return strtol(c, NULL, 10);
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

/* The "host PID N" of `stack top`'s header for SERVICE, or -1. */
static long top_host_pid(const char *top)
{
    const char *p = top ? strstr(top, "host PID ") : NULL;

    return p ? strtol(p + strlen("host PID "), NULL, 10) : -1;
}

/* The host PIDs whose command line is exactly ARGV0 ARG1 (sleep 3602), one a line. */
static char *host_pids_of(const char *argv0, const char *arg1)
{
    return itest_sh("for p in /proc/[0-9]*; do "
                    "  c=$(tr '\\0' ' ' 2>/dev/null < $p/cmdline) || continue; "
                    "  [ \"$c\" = '%s %s ' ] && echo ${p#/proc/}; done",
                    argv0, arg1);
}

Test(isolation, the_demonstration_process_and_hyperv_side_by_side, .init = setup, .fini = teardown,
     .timeout = 600)
{
    char file[512];
    char *before, *after, *out = NULL, *err = NULL, *s, *host_rel;
    long pid, qemu;
    int rc;

    snprintf(file, sizeof(file), "%s/examples/isolation.yaml", STK_SOURCE_DIR);
    itest_image();
    before = itest_host_snapshot(&T);

    rc = itest_stack(&T, &out, &err, "up -d -p %s -f '%s'", T.project, file);
    cr_assert_eq(rc, 0, "up: %d: %s", rc, err);
    free(out);
    free(err);

    /* process: top's sleep is a host process, `sleep 3601`. */
    rc = itest_stack(&T, &out, &err, "top -p %s -f '%s' shared", T.project, file);
    cr_assert_eq(rc, 0, "top shared: %s", err);
    cr_assert(strstr(out, "isolation process"), "%s", out);
    pid = pid_on_line(out, "sleep 3601");
    cr_assert_gt(pid, 1, "no sleep in top: %s", out);
    cr_assert_eq(top_host_pid(out) > 1, 1, "no host PID: %s", out);
    s = itest_sh("tr '\\0' ' ' < /proc/%ld/cmdline", pid);
    cr_assert_str_eq(s, "sleep 3601 ", "top's PID %ld is not the host's sleep: '%s'", pid, s);
    free(s);
    free(out);
    free(err);

    /* hyperv: top shows the guest's sleep; the host has no such process, only QEMU. */
    rc = itest_stack(&T, &out, &err, "top -p %s -f '%s' vm", T.project, file);
    cr_assert_eq(rc, 0, "top vm: %s", err);
    cr_assert(strstr(out, "isolation hyperv"), "%s", out);
    cr_assert_gt(pid_on_line(out, "sleep 3602"), 0, "the guest's sleep is not in top: %s", out);
    cr_assert(strstr(out, "GUEST-PID"), "top does not mark guest PIDs: %s", out);
    qemu = top_host_pid(out);
    free(out);
    free(err);
    s = host_pids_of("sleep", "3602");
    cr_assert_str_eq(s, "", "the hyperv service's sleep runs on the host: PIDs %s", s);
    free(s);
    rc = itest_stack(&T, &out, &err, "inspect -p %s -f '%s' vm", T.project, file);
    cr_assert_eq(rc, 0, "inspect vm: %s", err);
    {
        char want[64];
        snprintf(want, sizeof(want), "\"pid\": %ld", qemu);
        cr_assert(qemu > 1 && strstr(out, want), "inspect's PID is not top's %ld: %s", qemu, out);
    }
    free(out);
    free(err);
    s = itest_sh("readlink /proc/%ld/exe", qemu);
    cr_assert(strstr(s, "qemu-system-x86_64"), "host PID %ld is not QEMU: '%s'", qemu, s);
    free(s);
    /* Nothing of the guest's runs under QEMU on the host but its own threads' helpers. */
    s = itest_sh("ps -o pid= --ppid %ld | tr -d ' '", qemu);
    cr_assert_str_eq(s, "", "QEMU has host children: %s", s);
    free(s);

    /* The guest's kernel is not the host's. */
    rc = itest_stack(&T, &out, &err, "exec -p %s -f '%s' vm uname -r", T.project, file);
    cr_assert_eq(rc, 0, "exec: %d: %s", rc, err);
    host_rel = itest_sh("uname -r");
    cr_assert(strlen(out) > 1, "no release: '%s'", out);
    cr_assert_str_neq(out, host_rel, "the guest runs the host's kernel %s", host_rel);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "exec -p %s -f '%s' shared uname -r", T.project, file);
    cr_assert_eq(rc, 0, "exec: %d: %s", rc, err);
    cr_assert_str_eq(out, host_rel, "the process one is not on the host's kernel");
    free(out);
    free(err);
    free(host_rel);

    /* down: nothing is left, no QEMU, virtiofsd or tap. */
    rc = itest_stack(&T, &out, &err, "down -p %s -f '%s'", T.project, file);
    cr_assert_eq(rc, 0, "down: %s", err);
    free(out);
    free(err);
    cr_assert(access("/proc/self", F_OK) == 0);
    s = itest_sh("[ -d /proc/%ld ] && tr '\\0' ' ' 2>/dev/null < /proc/%ld/cmdline", qemu, qemu);
    cr_assert(!strstr(s, "qemu"), "QEMU %ld still runs", qemu);
    free(s);
    after = itest_host_snapshot(&T);
    if (strcmp(before, after) != 0)
        itest_snapshot_diff(before, after);
    cr_assert_str_eq(before, after, "down left something behind");
    free(before);
    free(after);
}
