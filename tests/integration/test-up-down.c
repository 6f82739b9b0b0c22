/*
 * test-up-down.c - the first vertical slice with real containers: `stack up`
 * runs a two-service stack with runc, conmon and the CNI plugins; the page is
 * served on a published port; the client resolves the web service by name;
 * a second `up` changes nothing; `down` leaves the host as it found it; bad
 * input gets one clear line and the right exit status.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static struct itest T;

static void setup(void)
{
    itest_require_host();
    itest_init(&T, "it");
}

static void teardown(void)
{
    itest_fini(&T);
}

/* The two-service stack of examples/app.yaml, on a free port. */
static const char *write_stack(const char *client_cmd)
{
    char site[600], text[4096];

    snprintf(site, sizeof(site), "%s/site", T.dir);
    free(itest_sh("mkdir -p '%s' && echo 'hello from the web service' > '%s/index.html'", site,
                  site));
    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; httpd -f -p 80 -h /www & "
             "httpd -f -p 81 -h /www & wait\"]\n"
             "    volumes:\n"
             "      - ./site:/www:ro\n"
             "    ports:\n"
             "      - \"%d:80\"\n"
             "      - \"81\"\n"
             "  client:\n"
             "    image: %s\n"
             "    depends_on: [web]\n"
             "    command: %s\n",
             T.project, itest_image(), T.port, itest_image(), client_cmd);
    return itest_write(&T, "stack.yaml", text);
}

#define LOOP "[\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]"

#define CLIENT_LOOP                                                                                \
    "[\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do wget -q -O - http://web/; "             \
    "sleep 1 & wait $$!; done\"]"

static char *curl_page(int port)
{
    char *out = NULL;

    for (int i = 0; i < 50; i++) {
        out = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", port);
        if (out && strstr(out, "hello from the web service"))
            return out;
        free(out);
        usleep(200000);
    }
    return NULL;
}

/* Container ids with their start times, from the runtime's own state. */
static char *runtime_ids(void)
{
    return itest_sh("for d in '%s'/containers/*/; do id=$(basename \"$d\"); "
                    "echo \"$id $(cat \"$d/started\" 2>/dev/null)\"; done | sort; "
                    "runc --root '%s/runc' list -q 2>/dev/null | sort",
                    T.state_dir, T.run_dir);
}

Test(integration, up_serves_page_resolves_names_and_is_idempotent, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const char *file = write_stack(CLIENT_LOOP);
    char *out = NULL, *err = NULL, *page, *before, *after;
    int rc;

    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "up failed (%d): %s", rc, err);
    free(out);
    free(err);

    page = curl_page(T.port);
    cr_assert_not_null(page, "the published port %d did not serve the page", T.port);
    free(page);
    /* exec: the command's own status; docker's 127 and 126 when it cannot be started. */
    rc = itest_stack(&T, &out, &err, "exec -f '%s' web sh -c 'echo in-web; exit 3'", file);
    cr_assert_eq(rc, 3, "exec status %d: %s", rc, err);
    cr_assert(strstr(out, "in-web"), "exec output: %s", out);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "exec -f '%s' web no-such-command", file);
    cr_assert_eq(rc, 127, "exec of a missing command: %d %s %s", rc, out, err);
    cr_assert(strstr(out, "executable file not found"), "%s", out);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "exec -f '%s' web /etc/passwd", file);
    cr_assert_eq(rc, 126, "exec of a file that is not executable: %d %s %s", rc, out, err);
    free(out);
    free(err);

    /* ports: ["81"]: an ephemeral host port, which `port` names and which serves. */
    rc = itest_stack(&T, &out, &err, "port -f '%s' web 81", file);
    cr_assert_eq(rc, 0, "port failed: %s", err);
    cr_assert(strncmp(out, "0.0.0.0:", 8) == 0 && atoi(out + 8) > 0, "port printed '%s'", out);
    page = curl_page(atoi(out + 8));
    cr_assert_not_null(page, "the ephemeral port %s did not serve the page", out);
    free(page);
    free(out);
    free(err);

    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert_eq(rc, 0, "ps failed: %s", err);
    {
        /* Both services running, isolation process, and a host PID that exists. */
        const char *svcs[] = {"web", "client"};
        for (int i = 0; i < 2; i++) {
            char name[128], line[512];
            const char *l;
            int pid = 0;
            snprintf(name, sizeof(name), "%s-%s-1 ", T.project, svcs[i]);
            l = strstr(out, name);
            cr_assert_not_null(l, "ps does not list %s:\n%s", name, out);
            snprintf(line, sizeof(line), "%.*s", (int)strcspn(l, "\n"), l);
            cr_assert(strstr(line, " running "), "not running: %s", line);
            cr_assert(strstr(line, " process "), "isolation is not process: %s", line);
            cr_assert(sscanf(line + strlen(name) + strspn(line + strlen(name), " "),
                             "%*s %*s %*s %d", &pid) == 1,
                      "no pid in: %s", line);
            cr_assert_gt(pid, 1, "bad pid in: %s", line);
            snprintf(name, sizeof(name), "/proc/%d", pid);
            cr_assert_eq(access(name, F_OK), 0, "host PID %d does not exist", pid);
        }
    }
    free(out);
    free(err);

    /* The client fetched http://web/ by service name. */
    for (int i = 0; i < 50; i++) {
        rc = itest_stack(&T, &out, &err, "logs -f '%s' client", file);
        if (rc == 0 && strstr(out, "hello from the web service"))
            break;
        free(out);
        free(err);
        out = err = NULL;
        usleep(200000);
    }
    cr_assert(out && strstr(out, "hello from the web service"),
              "client logs do not show the page: %s", out ? out : "");
    free(out);
    free(err);

    /* A second up with nothing changed touches nothing: no mutating runtime call, counted. */
    before = runtime_ids();
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "second up failed: %s", err);
    free(out);
    free(err);
    setenv("STACK_STATS", "1", 1);
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    unsetenv("STACK_STATS");
    cr_assert_eq(rc, 0, "third up failed: %s", err);
    cr_assert(strstr(err, "stats: 0 mutating calls"), "up made mutating calls: %s", err);
    after = runtime_ids();
    cr_assert_str_eq(before, after, "the second up changed containers");
    cr_assert_null(strstr(err, "Creating"), "second up created something: %s", err);
    cr_assert_null(strstr(err, "Removing"), "second up removed something: %s", err);
    free(before);
    free(after);
    free(out);
    free(err);
}

Test(integration, down_leaves_nothing_behind, .init = setup, .fini = teardown, .timeout = 300)
{
    const char *file = write_stack(CLIENT_LOOP);
    char *out = NULL, *err = NULL, *before, *after;
    int rc;

    /* Warm-up: what the CNI plugins create once and keep is there before the snapshot. */
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "warm-up up failed: %s", err);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "warm-up down failed: %s", err);
    free(out);
    free(err);

    before = itest_host_snapshot(&T);
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "up failed: %s", err);
    free(out);
    free(err);
    {
        /* The stack really is there before it is removed. */
        char *during = itest_host_snapshot(&T);
        cr_assert_str_neq(before, during, "up changed nothing on the host");
        free(during);
    }
    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "down failed: %s", err);
    free(out);
    free(err);
    after = itest_host_snapshot(&T);
    if (strcmp(before, after) != 0)
        itest_snapshot_diff(before, after);
    cr_assert_str_eq(before, after, "down left something behind");
    free(before);
    free(after);
}

Test(integration, partial_failure_is_recorded_and_down_removes_it, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const char *file = write_stack("[\"no-such-command-here\"]");
    char *out = NULL, *err = NULL, *after;
    int rc;

    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 1, "up should fail with exit status 1, got %d: %s", rc, err);
    cr_assert(strstr(err, "client"), "the error does not name the service: %s", err);
    cr_assert(strstr(err, "no-such-command-here"), "the error does not name the failure: %s", err);
    {
        /* One error line (progress lines are not errors). */
        int n = 0;
        for (const char *l = err; (l = strstr(l, "stack: error:")); l++)
            n++;
        cr_assert_eq(n, 1, "expected one error line, got %d: %s", n, err);
    }
    free(out);
    free(err);

    /* The first service's container and the network are recorded. */
    out = itest_sh("sqlite3 -batch '%s/state.db' \"select service||' '||state from containers"
                   " order by service; select kind||' '||id from objects where kind='network'\"",
                   T.state_dir);
    cr_assert(out && strstr(out, "web running"), "web is not recorded as running: %s", out);
    cr_assert(strstr(out, "network "), "the network is not recorded: %s", out);
    free(out);
    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert(strstr(out, "-web-1"), "ps does not show web: %s", out);
    free(out);
    free(err);

    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "down failed: %s", err);
    free(out);
    free(err);
    after = itest_sh("ls '%s/containers' 2>/dev/null; ls '%s/netns' 2>/dev/null; "
                     "runc --root '%s/runc' list -q 2>/dev/null",
                     T.state_dir, T.run_dir, T.run_dir);
    cr_assert_str_eq(after, "", "down left: %s", after);
    free(after);
}

/*
 * Restart policies with real runc: conmon's exit command re-invokes stack
 * (DESIGN.md §3). on-failure:2 restarts an always-failing command twice and
 * then leaves it exited; a restart: always container killed from outside
 * comes back; `down` of it is not held up by its exit command (which needs
 * the lock down holds); and no exit command is left running afterwards.
 */
Test(integration, restart_policies_through_conmon, .init = setup, .fini = teardown, .timeout = 300)
{
    char text[1024];
    const char *file;
    char *out = NULL, *err = NULL, *s;
    int rc, restarts = 0;

    snprintf(text, sizeof(text),
             "name: %s\nservices:\n"
             "  flaky:\n    image: %s\n    command: [sh, -c, 'exit 1']\n"
             "    restart: on-failure:2\n"
             "  steady:\n    image: %s\n"
             "    command: [sh, -c, \"trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done\"]\n"
             "    restart: always\n",
             T.project, itest_image(), itest_image());
    file = itest_write(&T, "restart.yaml", text);
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "up: %s", err);
    free(out);
    free(err);

    /* Backoff 100 ms, 200 ms: both restarts are done well within 20 s. */
    for (int i = 0; i < 200 && restarts < 2; i++) {
        usleep(100000);
        out = itest_sh("sqlite3 -batch '%s/state.db' \"select count(*) from events where "
                       "kind='container.restart' and object like '%%-flaky-%%'\"",
                       T.state_dir);
        restarts = out ? atoi(out) : 0;
        free(out);
    }
    cr_assert_eq(restarts, 2, "on-failure:2 restarted %d times", restarts);
    usleep(1000000);
    out = itest_sh("sqlite3 -batch '%s/state.db' \"select count(*) from events where "
                   "kind='container.restart' and object like '%%-flaky-%%'\"",
                   T.state_dir);
    cr_assert_eq(atoi(out), 2, "on-failure:2 went on restarting: %s", out);
    free(out);
    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert(strstr(out, "exited (1)"), "flaky is not left exited: %s", out);
    free(out);
    free(err);

    /* restart: always brings back a container killed from outside. */
    s = itest_sh("'%s' --state-dir '%s' --run-dir '%s' ps -f '%s' | awk '/-steady-/{print $5}'",
                 STK_BIN_DIR "/orchestrator/stack", T.state_dir, T.run_dir, file);
    cr_assert(s && atoi(s) > 0, "no PID for steady: %s", s);
    cr_assert_eq(kill((pid_t)atoi(s), SIGKILL), 0);
    free(s);
    restarts = 0;
    for (int i = 0; i < 200 && !restarts; i++) {
        usleep(100000);
        out = itest_sh("sqlite3 -batch '%s/state.db' \"select count(*) from events where "
                       "kind='container.restart' and object like '%%-steady-%%'\"",
                       T.state_dir);
        restarts = out ? atoi(out) : 0;
        free(out);
    }
    cr_assert_eq(restarts, 1, "restart: always did not restart the killed container");

    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "down: %s", err);
    free(out);
    free(err);
    usleep(500000);
    out = itest_sh("ps -eo args | grep -c '[i]nternal container-exited.*%s' || true", T.state_dir);
    cr_assert_eq(atoi(out), 0, "exit commands are still running: %s", out);
    free(out);
}

/*
 * Crash safety with real runc and CNI: `up` aborts at an intent boundary
 * (STACK_FAULT_INTENT), the next `up` converges to one running container per
 * slot, and `down` leaves the host as it found it.
 */
Test(integration, crash_at_intent_boundaries_then_converge, .init = setup, .fini = teardown,
     .timeout = 900)
{
    char *out = NULL, *err = NULL, *before, *after;
    const char *file;
    int rc, n_boundaries;

    {
        /* Four services: a chain, a published port, and a joiner of web's namespace. */
        char text[4096];
        snprintf(text, sizeof(text),
                 "name: %s\n"
                 "services:\n"
                 "  db:\n    image: %s\n    command: " LOOP "\n"
                 "  web:\n    image: %s\n    command: " LOOP
                 "\n    depends_on: [db]\n    ports: [\"%d:80\"]\n"
                 "  side:\n    image: %s\n    command: " LOOP "\n    network_mode: service:web\n"
                 "  worker:\n    image: %s\n    command: " LOOP "\n    depends_on: [web]\n",
                 T.project, itest_image(), itest_image(), T.port, itest_image(), itest_image());
        file = itest_write(&T, "crash.yaml", text);
    }
    /* Warm-up, then the "before" snapshot. */
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "warm-up: %s", err);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "warm-up down: %s", err);
    free(out);
    free(err);
    before = itest_host_snapshot(&T);
    {
        /* Every boundary: two per intent of the clean up above. */
        char *n = itest_sh("sqlite3 -batch '%s/state.db' \"select count(*) from intents where "
                           "action not like '%%.remove' and action != 'container.stop'\"",
                           T.state_dir);
        n_boundaries = 2 * atoi(n ? n : "0");
        free(n);
        cr_assert_geq(n_boundaries, 20, "too few intents in a clean up: %d", n_boundaries / 2);
    }

    for (int b = 1; b <= n_boundaries; b++) {
        const int boundaries[] = {b};
        const size_t k = 0;
        char *ps = NULL;
        setenv("STACK_FAULT_INTENT", "0", 1);
        {
            char v[16];
            snprintf(v, sizeof(v), "%d", boundaries[k]);
            setenv("STACK_FAULT_INTENT", v, 1);
        }
        rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
        unsetenv("STACK_FAULT_INTENT");
        cr_assert_neq(rc, 0, "boundary %d: up did not abort", boundaries[k]);
        free(out);
        free(err);
        rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
        cr_assert_eq(rc, 0, "boundary %d: up after the crash failed: %s", boundaries[k], err);
        free(out);
        free(err);
        rc = itest_stack(&T, &ps, &err, "ps -f '%s'", file);
        free(err);
        {
            const char *svcs[] = {"db", "web", "side", "worker"};
            int lines = 0;
            for (const char *l = ps; (l = strchr(l, '\n')); l++)
                lines++;
            cr_assert_eq(lines, 5, "boundary %d: ps shows %d lines:\n%s", boundaries[k], lines, ps);
            for (int i = 0; i < 4; i++) {
                char name[128];
                const char *at;
                snprintf(name, sizeof(name), "%s-%s-1 ", T.project, svcs[i]);
                at = strstr(ps, name);
                cr_assert_not_null(at, "boundary %d: no %s:\n%s", boundaries[k], name, ps);
                cr_assert(strstr(at, " running ") && strstr(at, " running ") < strchr(at, '\n'),
                          "boundary %d: %s not running:\n%s", boundaries[k], name, ps);
            }
        }
        free(ps);
        rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
        cr_assert_eq(rc, 0, "boundary %d: down: %s", boundaries[k], err);
        free(out);
        free(err);
        after = itest_host_snapshot(&T);
        if (strcmp(before, after) != 0)
            itest_snapshot_diff(before, after);
        cr_assert_str_eq(before, after, "boundary %d: down left something behind", boundaries[k]);
        free(after);
    }
    free(before);
}

/* Starts an attached `stack up -f FILE` (output to /dev/null) as a child; returns its PID. */
static pid_t spawn_attached_up(const char *file)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char *line = NULL;
        if (asprintf(&line, "exec '%s' --state-dir '%s' --run-dir '%s' up -f '%s' >/dev/null 2>&1",
                     STK_BIN_DIR "/orchestrator/stack", T.state_dir, T.run_dir, file) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Polls `ps -f FILE` for up to 10 s until N containers run; returns how many ran last. */
static int wait_running(const char *file, int n)
{
    int running = 0;

    for (int i = 0; i < 100 && running < n; i++) {
        char *ps;
        usleep(100000);
        ps = itest_sh("'%s' --state-dir '%s' --run-dir '%s' ps -f '%s' | grep -c ' running '",
                      STK_BIN_DIR "/orchestrator/stack", T.state_dir, T.run_dir, file);
        running = ps ? atoi(ps) : 0;
        free(ps);
    }
    return running;
}

/*
 * Attached up, as docker compose up: Ctrl-C (SIGINT to its PID) stops the
 * containers gracefully, keeps them, and exits 130; `start` brings them back.
 */
Test(integration, ctrl_c_on_attached_up_stops_the_containers, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const char *file = write_stack(LOOP);
    char *out = NULL, *err = NULL;
    int rc, status = 0;
    pid_t pid = spawn_attached_up(file);

    /* Wait until both services run, then interrupt. */
    cr_assert_eq(wait_running(file, 2), 2, "attached up did not start both services");
    usleep(300000);
    cr_assert_eq(kill(pid, SIGINT), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "attached up ended with %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert_eq(rc, 0, "ps: %s", err);
    cr_assert_null(strstr(out, " running "), "still running after Ctrl-C:\n%s", out);
    cr_assert(strstr(out, "-web-1 ") && strstr(out, "-client-1 "), "containers removed:\n%s", out);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "start -f '%s'", file);
    cr_assert_eq(rc, 0, "start: %s", err);
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert_eq(rc, 0);
    {
        int n = 0;
        for (const char *q = out; (q = strstr(q, " running ")); q++)
            n++;
        cr_assert_eq(n, 2, "start did not bring both back:\n%s", out);
    }
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "down: %s", err);
    free(out);
    free(err);
}

/*
 * The second Ctrl-C forces: a service that ignores SIGTERM with a 60 s grace
 * period is killed at once, and up still exits 130; SIGTERM to an attached up
 * acts as Ctrl-C.
 */
Test(integration, second_ctrl_c_kills_and_sigterm_stops, .init = setup, .fini = teardown,
     .timeout = 300)
{
    char text[2048], *out = NULL, *err = NULL;
    const char *file;
    int rc;

    snprintf(text, sizeof(text),
             "name: %s\nservices:\n  stubborn:\n    image: %s\n    stop_grace_period: 60s\n"
             "    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n",
             T.project, itest_image());
    file = itest_write(&T, "stubborn.yaml", text);
    for (int round = 0; round < 2; round++) {
        int status = 0;
        time_t t0;
        pid_t pid = spawn_attached_up(file);

        cr_assert_eq(wait_running(file, 1), 1, "round %d: the service did not start", round);
        usleep(300000);
        t0 = time(NULL);
        if (round == 0) {
            cr_assert_eq(kill(pid, SIGINT), 0);
            usleep(500000);
            cr_assert_eq(kill(pid, SIGINT), 0);
        } else {
            /* SIGTERM: a graceful stop, which this service sits out: force it with SIGINT. */
            cr_assert_eq(kill(pid, SIGTERM), 0);
            usleep(500000);
            cr_assert_eq(kill(pid, SIGINT), 0);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "round %d: up ended with %d",
                  round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        cr_assert_lt(time(NULL) - t0, 30, "round %d: the forced stop waited the grace period",
                     round);
        rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
        cr_assert_eq(rc, 0);
        cr_assert_null(strstr(out, " running "), "round %d: still running:\n%s", round, out);
        free(out);
        free(err);
    }
    rc = itest_stack(&T, &out, &err, "down -f '%s'", file);
    cr_assert_eq(rc, 0, "down: %s", err);
    free(out);
    free(err);
}
