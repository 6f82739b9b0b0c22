/*
 * itest.c - see itest.h. Linked into each integration test by including it
 * (tests/integration is not a support folder, so that unit tests stay small).
 */
#include "itest.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_BIN STK_BIN_DIR "/orchestrator/stack"

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;

    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

static int have(const char *path)
{
    return access(path, X_OK) == 0;
}

void itest_require_host(void)
{
    const char *why = NULL;
    const char *ci = getenv("CI");

    if (geteuid() != 0)
        why = "not root";
    else if (!have("/usr/sbin/runc") && !have("/usr/bin/crun"))
        why = "no runc or crun";
    else if (!have("/usr/bin/conmon"))
        why = "no conmon";
    else if (!have("/usr/lib/cni/bridge") || !have("/usr/lib/cni/portmap"))
        why = "no CNI plugins in /usr/lib/cni";
    else if (!have(STACK_BIN))
        why = "stack is not built";
    if (!why)
        return;
    if (ci && strcmp(ci, "true") == 0)
        cr_assert_fail("integration test cannot run under CI: %s", why);
    fprintf(stderr, "SKIP: integration test needs root, runc, conmon and CNI plugins: %s\n", why);
    cr_skip_test("%s", why);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void itest_init(struct itest *t, const char *prefix)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/stack-itest-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->state_dir, sizeof(t->state_dir), "%s/state", t->dir);
    snprintf(t->run_dir, sizeof(t->run_dir), "%s/run", t->dir);
    snprintf(t->project, sizeof(t->project), "%s%ld", prefix, (long)getpid() % 100000);
    t->port = free_port();
    /*
     * The bridge plug-in's DNS responder forwards names it does not know to
     * the host's resolvers unless this is 0: nothing may leave the test's
     * networks (DESIGN.md §8).
     */
    setenv("STACK_DNS_FORWARD", "0", 1);
}

void itest_fini(struct itest *t)
{
    char *out = NULL, *err = NULL;

    if (!t->dir[0])
        return;
    itest_stack(t, &out, &err, "down -p %s", t->project);
    free(out);
    free(err);
    free(itest_sh("rm -rf '%s'", t->dir));
}

const char *itest_image(void)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/examples/images/out/busybox", STK_SOURCE_DIR);
    if (access(path, F_OK) != 0) {
        char *o = itest_sh("sh '%s/examples/images/build-busybox.sh' 2>&1", STK_SOURCE_DIR);
        free(o);
    }
    return path;
}

const char *itest_write(struct itest *t, const char *name, const char *text)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f, "write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *read_all(FILE *f)
{
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];

    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

char *itest_sh(const char *fmt, ...)
{
    va_list ap;
    char *cmd;
    FILE *p;
    char *out;

    va_start(ap, fmt);
    cmd = vformat(fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return NULL;
    out = read_all(p);
    pclose(p);
    return out;
}

int itest_stack(struct itest *t, char **ret_out, char **ret_err, const char *fmt, ...)
{
    va_list ap;
    char *args, *cmd, *errpath;
    FILE *p, *ef;
    int status;

    va_start(ap, fmt);
    args = vformat(fmt, ap);
    va_end(ap);
    if (asprintf(&errpath, "%s/stderr.txt", t->dir) < 0 ||
        asprintf(&cmd, "'%s' --state-dir '%s' --run-dir '%s' %s 2>'%s'", STACK_BIN, t->state_dir,
                 t->run_dir, args, errpath) < 0)
        abort();
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    if (ret_out)
        *ret_out = read_all(p);
    else {
        char *o = read_all(p);
        free(o);
    }
    status = pclose(p);
    ef = fopen(errpath, "r");
    if (ret_err)
        *ret_err = ef ? read_all(ef) : calloc(1, 1);
    if (ef)
        fclose(ef);
    free(errpath);
    free(cmd);
    free(args);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *itest_host_snapshot(struct itest *t)
{
    /*
     * Counters, handles of nft rules and the order-insensitive parts are
     * normalised: iptables-save without counters and comments, nft without
     * handles, mounts by mount point and source only, links by name only.
     */
    return itest_sh(
        "echo '# runtime containers'; for r in '%s/runc' '%s/crun'; do "
        "  [ -d \"$r\" ] && (runc --root \"$r\" list -q 2>/dev/null || true); done; "
        "echo '# conmon processes'; for p in /proc/[0-9]*; do "
        /* One read of stat gives name and state together: a zombie reaped between two reads
         * must not count as a live monitor. */
        "  st=$(cat $p/stat 2>/dev/null) || continue; case \"$st\" in "
        "  *'(conmon) Z'* | *'(conmon) X'*) ;; *'(conmon) '*) echo conmon ;; esac; "
        "done | sort | uniq -c; "
        "echo '# dns responders'; for p in /proc/[0-9]*; do "
        "  st=$(cat $p/stat 2>/dev/null) || continue; case \"$st\" in "
        "  *'(stack-dns) Z'* | *'(stack-dns) X'*) ;; *'(stack-dns) '*) echo stack-dns ;; esac; "
        "done; "
        "echo '# vm processes'; for p in /proc/[0-9]*; do "
        "  st=$(cat $p/stat 2>/dev/null) || continue; case \"$st\" in "
        "  *' Z '* | *' X '*) ;; *'(qemu-system-x86) '* | *'(virtiofsd) '* | "
        "  *'(stack-vm-monito) '*) echo \"$st\" | sed 's/^[0-9]* //; s/ .*//' ;; esac; "
        "done | sort | uniq -c; "
        "echo '# tap devices'; ip -o tuntap show 2>/dev/null | sort; "
        "for n in $(ls /run/netns 2>/dev/null) $(ls '%s/netns' 2>/dev/null); do "
        "  f=/run/netns/$n; [ -e \"$f\" ] || f='%s/netns/'$n; "
        "  nsenter --net=\"$f\" ip -o tuntap show 2>/dev/null | sed \"s|^|$n: |\"; done; "
        "echo '# netns pins'; ls -1 '%s/netns' 2>/dev/null; "
        "echo '# network namespaces'; ls -1 /run/netns 2>/dev/null; "
        "echo '# links'; ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; "
        "echo '# ipam'; find '%s/net' -path '*ipam*' -type f 2>/dev/null | sort; "
        "echo '# iptables'; iptables-save 2>/dev/null | grep -v '^#' | sed 's/\\[[0-9:]*\\]//' "
        "  | sort; "
        "echo '# nft'; nft list ruleset 2>/dev/null | sed 's/ # handle [0-9]*//; "
        "  s/counter packets [0-9]* bytes [0-9]*/counter/' | sort; "
        "echo '# mounts'; awk '{print $5, $10}' /proc/self/mountinfo | sort",
        t->run_dir, t->run_dir, t->run_dir, t->run_dir, t->run_dir, t->state_dir);
}

void itest_snapshot_diff(const char *a, const char *b)
{
    FILE *f = fopen("/tmp/stack-itest-a.txt", "w");
    FILE *g = fopen("/tmp/stack-itest-b.txt", "w");
    char *d;

    if (!f || !g)
        return;
    fputs(a, f);
    fputs(b, g);
    fclose(f);
    fclose(g);
    d = itest_sh("diff /tmp/stack-itest-a.txt /tmp/stack-itest-b.txt");
    fprintf(stderr, "snapshot difference (< before, > after):\n%s\n", d ? d : "");
    free(d);
    /* What a leftover process was doing, to tell a leak from a race. */
    d = itest_sh("ps -eo pid,ppid,stat,etimes,comm,args | awk 'NR == 1 || $5 ~ /conmon|runc/'");
    fprintf(stderr, "monitor and runtime processes now:\n%s\n", d ? d : "");
    free(d);
}
