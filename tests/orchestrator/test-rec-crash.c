/*
 * test-rec-crash.c - crash safety (issue: "abort at every intent boundary").
 * A 10-service stack with dependencies and shared network namespaces; for
 * every intent boundary of its `up`, a child process runs `up` with
 * STACK_FAULT_INTENT set to that boundary and aborts there; then a new pass
 * (the fakes and the store reopened from their files, as a new process would)
 * runs `up` again, which must converge to exactly one running container per
 * slot with no leaked container, sandbox, endpoint or network; and `down`
 * must leave nothing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netplugins/net-plugin.h"
#include "orchestrator/store/store.h"
#include "orchestrator/cli/cli.h"
#include "rec-fixture.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

#define LOOP_CMD "[\"sh\", \"-c\", \"sleep 1000\"]"

/* s1..s10: a dependency chain with two joiners of s2 and s5's namespace, and s9 on its own. */
static const char *stack10 =
    "services:\n"
    "  s1: {image: @IMAGE@, command: " LOOP_CMD "}\n"
    "  s2: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s1], ports: [\"18181:80\"]}\n"
    "  s3: {image: @IMAGE@, command: " LOOP_CMD ", network_mode: \"service:s2\"}\n"
    "  s4: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s2]}\n"
    "  s5: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s4]}\n"
    "  s6: {image: @IMAGE@, command: " LOOP_CMD ", network_mode: \"service:s5\"}\n"
    "  s7: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s5, s6]}\n"
    "  s8: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s7]}\n"
    "  s9: {image: @IMAGE@, command: " LOOP_CMD "}\n"
    "  s10: {image: @IMAGE@, command: " LOOP_CMD ", depends_on: [s8, s9]}\n";

#define N_SERVICES 10
#define N_OWNERS 8 /* services with their own sandbox (s3 and s6 join) */

static int count_intents(struct rec_fixture *f)
{
    char *db = NULL;
    sqlite3 *h;
    sqlite3_stmt *st;
    int n = -1;

    if (asprintf(&db, "%s/state.db", f->state_dir) < 0)
        abort();
    sqlite3_open(db, &h);
    sqlite3_prepare_v2(h, "SELECT count(*) FROM intents", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    free(db);
    return n;
}

static void inventory(struct rec_fixture *f, size_t *nets, size_t *sbs, size_t *eps)
{
    struct net_sync s = NET_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    int r = net_list(f->net, net_sync_done, &s, NULL, &err);

    cr_assert_eq(net_sync_wait(&f->loop, &s, r, &err), 0, "%s", err.msg);
    *nets = s.inventory.n_networks;
    *sbs = s.inventory.n_sandboxes;
    *eps = s.inventory.n_endpoints;
    net_sync_release(&s);
}

static void assert_converged(struct rec_fixture *f, int boundary)
{
    size_t nets, sbs, eps;
    char name[8];

    cr_assert_eq(rec_fixture_count(f, NULL, NULL), N_SERVICES,
                 "boundary %d: %zu containers, want %d", boundary, rec_fixture_count(f, NULL, NULL),
                 N_SERVICES);
    for (int i = 1; i <= N_SERVICES; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        cr_assert_eq(rec_fixture_count(f, name, "running"), 1, "boundary %d: %s not running",
                     boundary, name);
    }
    inventory(f, &nets, &sbs, &eps);
    cr_assert_eq(nets, 1, "boundary %d: %zu networks", boundary, nets);
    cr_assert_eq(sbs, N_OWNERS, "boundary %d: %zu sandboxes, want %d", boundary, sbs, N_OWNERS);
    cr_assert_eq(eps, N_OWNERS, "boundary %d: %zu endpoints, want %d", boundary, eps, N_OWNERS);
}

static void load_and_up(struct rec_fixture *f, int expect_ok, int boundary)
{
    struct spec_project *p = rec_fixture_load(f, stack10);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    int r = cli_up(&f->env, p, &o, &err);

    if (expect_ok)
        cr_assert_eq(r, 0, "boundary %d: up after the crash failed: %s", boundary, err.msg);
    spec_project_free(p);
}

Test(rec_crash, every_intent_boundary_of_up_converges, .timeout = 600)
{
    struct rec_fixture f;
    int intents;

    /* How many boundaries: two per intent of a clean up. */
    rec_fixture_init(&f, 1);
    load_and_up(&f, 1, 0);
    assert_converged(&f, 0);
    intents = count_intents(&f);
    cr_assert_geq(intents, N_SERVICES * 3, "suspiciously few intents: %d", intents);
    cr_log_info("%d intents: %d boundaries", intents, 2 * intents);
    rec_fixture_fini(&f);

    for (int b = 1; b <= 2 * intents; b++) {
        pid_t pid;
        int status = 0;
        struct stk_err err = STK_ERR_INIT;
        size_t nets, sbs, eps;

        rec_fixture_init(&f, 1);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            char v[16];
            snprintf(v, sizeof(v), "%d", b);
            setenv("STACK_FAULT_INTENT", v, 1);
            load_and_up(&f, 0, b);
            _exit(0); /* no abort: the boundary was not reached */
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "boundary %d: the child did not abort there (status %d)", b, status);

        rec_fixture_reopen(&f, 1);
        load_and_up(&f, 1, b);
        assert_converged(&f, b);
        cr_assert_eq(cli_down(&f.env, "t", &err), 0, "boundary %d: down: %s", b, err.msg);
        cr_assert_eq(rec_fixture_count(&f, NULL, NULL), 0, "boundary %d: down left containers", b);
        inventory(&f, &nets, &sbs, &eps);
        cr_assert_eq(nets + sbs + eps, 0, "boundary %d: down left %zu/%zu/%zu", b, nets, sbs, eps);
        rec_fixture_fini(&f);
    }
}
