/*
 * test-rec.c - the reconciler on the fake runtime driver and the fake network
 * plug-in: plans for create, no-op, a change of one service (only it and its
 * service: joiners recreated), scale up and down, orphans, dependency
 * conditions, restart policies with backoff, start-first vs stop-first, and a
 * runtime failure in the middle.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "netplugins/fake/net-fake.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/store/store.h"
#include "rec-fixture.h"
#include "runtime/fake/rt-fake.h"
#include "specs/spec.h"

static struct rec_fixture F;

static void setup(void)
{
    rec_fixture_init(&F, 0);
}

static void teardown(void)
{
    rec_fixture_fini(&F);
}

#define LOOP_CMD "[\"sh\", \"-c\", \"sleep 1000\"]"

static const char *three =
    "services:\n"
    "  db:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
    "  web:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n    depends_on: [db]\n"
    "    ports: [\"18080:80\"]\n"
    "  sidecar:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n    network_mode: service:web\n"
    "  other:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n";

static int up(struct spec_project *p, struct stk_err *err)
{
    struct rec_up_opts o = {0};

    return cli_up(&F.env, p, &o, err);
}

static struct rec_plan *plan(struct spec_project *p, int orphans)
{
    struct rec_plan *pl = NULL;
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;

    o.remove_orphans = orphans;
    cr_assert_eq(cli_plan_build(&F.env, p, &o, &pl, &err), 0, "plan: %s", err.msg);
    return pl;
}

static int plan_has(const struct rec_plan *pl, const char *verb, const char *what)
{
    for (size_t i = 0; i < pl->n_changes; i++)
        if (strcmp(pl->changes[i].verb, verb) == 0 && strcmp(pl->changes[i].what, what) == 0)
            return 1;
    return 0;
}

Test(rec, create_then_noop, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, three);
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl = plan(p, 0);

    cr_assert(plan_has(pl, "create", "network t_default"));
    cr_assert(plan_has(pl, "create", "db-1"));
    cr_assert(plan_has(pl, "create", "sidecar-1"));
    rec_plan_free(pl);
    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 4);
    /* The joiner runs in web's sandbox: three sandboxes, not four. */
    cr_assert_eq(net_fake_calls(F.net, NET_FAKE_OP_SANDBOX_CREATE), 3);

    /* Nothing changed: the plan is empty and the second up mutates nothing. */
    pl = plan(p, 0);
    cr_assert_eq(pl->n_actions, 0, "no-op plan has %zu actions", pl->n_actions);
    rec_plan_free(pl);
    rt_fake_calls_reset(F.rt, NULL);
    net_fake_calls_reset(F.net, NULL);
    F.env.mutations = 0;
    cr_assert_eq(up(p, &err), 0);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_MUTATING), 0);
    cr_assert_eq(net_fake_mutations(F.net), 0);
    cr_assert_eq(F.env.mutations, 0);
    spec_project_free(p);
}

Test(rec, change_recreates_the_service_and_its_joiners_only, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, three);
    struct stk_err err = STK_ERR_INIT;
    char *db = NULL, *web = NULL, *side = NULL, *other = NULL;
    struct rec_plan *pl;
    char *changed;

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    db = rec_fixture_id(&F, "db", 1);
    web = rec_fixture_id(&F, "web", 1);
    side = rec_fixture_id(&F, "sidecar", 1);
    other = rec_fixture_id(&F, "other", 1);
    spec_project_free(p);

    changed = stk_xstrdup(three);
    {
        /* web gets an environment variable. */
        char *at = strstr(changed, "    depends_on: [db]\n");
        char *s =
            stk_xasprintf("%.*s    environment: {FOO: bar}\n%s", (int)(at - changed), changed, at);
        free(changed);
        changed = s;
    }
    p = rec_fixture_load(&F, changed);
    pl = plan(p, 0);
    cr_assert(plan_has(pl, "recreate", "web-1"));
    cr_assert(plan_has(pl, "recreate", "sidecar-1"));
    cr_assert_eq(pl->n_changes, 2, "only web and its joiner change");
    for (size_t i = 0; i < pl->n_changes; i++)
        if (strcmp(pl->changes[i].what, "web-1") == 0)
            cr_assert(strstr(pl->changes[i].reason, "environment.FOO"), "reason: %s",
                      pl->changes[i].reason);
    rec_plan_free(pl);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    {
        char *db2 = rec_fixture_id(&F, "db", 1), *web2 = rec_fixture_id(&F, "web", 1);
        char *side2 = rec_fixture_id(&F, "sidecar", 1), *other2 = rec_fixture_id(&F, "other", 1);
        cr_assert_str_eq(db2, db);
        cr_assert_str_eq(other2, other);
        cr_assert_str_neq(web2, web);
        cr_assert_str_neq(side2, side);
        free(db2);
        free(web2);
        free(side2);
        free(other2);
    }
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 4, "old containers removed");
    free(changed);
    free(db);
    free(web);
    free(side);
    free(other);
    spec_project_free(p);
}

static const char *scaled(int n)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "services:\n  web:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
             "    deploy:\n      replicas: %d\n",
             n);
    return buf;
}

Test(rec, scale_up_and_down_highest_first, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, scaled(1));
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl;
    char *one;

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    one = rec_fixture_id(&F, "web", 1);
    spec_project_free(p);
    p = rec_fixture_load(&F, scaled(3));
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "web", "running"), 3);
    {
        char *again = rec_fixture_id(&F, "web", 1);
        cr_assert_str_eq(again, one, "replica 1 is kept when scaling up");
        free(again);
    }
    spec_project_free(p);
    p = rec_fixture_load(&F, scaled(1));
    pl = plan(p, 0);
    cr_assert_eq(pl->n_changes, 2);
    cr_assert_str_eq(pl->changes[0].what, "web-3", "highest number goes first");
    cr_assert_str_eq(pl->changes[1].what, "web-2");
    rec_plan_free(pl);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "web", NULL), 1);
    {
        char *left = rec_fixture_id(&F, "web", 1);
        cr_assert_str_eq(left, one);
        free(left);
    }
    free(one);
    spec_project_free(p);
}

Test(rec, orphans_only_with_remove_orphans, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, three);
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    spec_project_free(p);
    p = rec_fixture_load(&F, scaled(1));
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "other", NULL), 1, "orphans stay without the flag");
    o.remove_orphans = 1;
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 1, "only web is left");
    cr_assert_eq(rec_fixture_count(&F, "web", "running"), 1);
    spec_project_free(p);
}

static const char *healthy_gate =
    "services:\n"
    "  db:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
    "    healthcheck:\n      test: [\"CMD\", \"check-db\"]\n      interval: 10ms\n"
    "      timeout: 1s\n      retries: 3\n"
    "  app:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
    "    depends_on:\n      db:\n        condition: service_healthy\n";

Test(rec, healthy_gate_never_starts_dependant_when_check_fails, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, healthy_gate);
    struct stk_err err = STK_ERR_INIT;
    struct stk_err e2 = STK_ERR_INIT;

    cr_assert_eq(rt_fake_script_exec(F.rt, "db", "check-db", 1, "not ready", 0, 0, &e2), 0, "%s",
                 e2.msg);
    cr_assert_lt(up(p, &err), 0, "up must fail");
    cr_assert(strstr(err.msg, "unhealthy"), "%s", err.msg);
    cr_assert(strstr(err.msg, "'db'"), "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "app", "running"), 0, "app must never start");
    cr_assert_geq(rt_fake_calls(F.rt, RT_FAKE_OP_EXEC), 3, "three checks were made");
    spec_project_free(p);
}

Test(rec, healthy_gate_starts_dependant_once_healthy, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, healthy_gate);
    struct stk_err err = STK_ERR_INIT;

    /* Two failures, then success (retries is 3): healthy. */
    cr_assert_eq(rt_fake_script_exec(F.rt, "db", "check-db", 1, "", 0, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "app", "running"), 1);
    spec_project_free(p);
}

Test(rec, noop_up_with_health_gates_makes_no_runtime_call, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, healthy_gate);
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};
    unsigned execs;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    execs = rt_fake_calls(F.rt, RT_FAKE_OP_EXEC);
    cr_assert_geq(execs, 1, "the first up checks db's health");
    cr_assert_eq(rt_fake_calls_reset(F.rt, &err), 0, "%s", err.msg);
    F.env.mutations = F.env.reads = 0;
    /* Nothing changed: the recorded health judges the gate, nothing runs, --wait included. */
    cr_assert_eq(up(p, &err), 0, "second up: %s", err.msg);
    o.wait = 1;
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up --wait: %s", err.msg);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_MUTATING), 0, "no mutating call");
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_EXEC), 0, "no health check re-run");
    cr_assert_eq(F.env.mutations, 0);
    spec_project_free(p);
}

Test(rec, recreated_dependant_trusts_recorded_health, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, healthy_gate);
    struct stk_buf y = STK_BUF_INIT;
    struct stk_err err = STK_ERR_INIT;
    char *db = NULL;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    spec_project_free(p);
    db = rec_fixture_id(&F, "db", 1);
    stk_buf_puts(&y, healthy_gate);
    stk_buf_puts(&y, "    environment:\n      CHANGED: \"1\"\n");
    p = rec_fixture_load(&F, y.buf);
    cr_assert_eq(rt_fake_calls_reset(F.rt, &err), 0, "%s", err.msg);
    cr_assert_eq(up(p, &err), 0, "up after a change of app: %s", err.msg);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_EXEC), 0, "db's gate is judged from the store");
    cr_assert_eq(rec_fixture_count(&F, "app", "running"), 1);
    {
        char *db2 = rec_fixture_id(&F, "db", 1);
        cr_assert_str_eq(db2, db, "db is kept");
        free(db2);
    }
    /* A stop forgets the health: the next start of app checks db again. */
    cr_assert_eq(store_container_set_state(F.store, db, "stopped", &err), 0, "%s", err.msg);
    {
        struct store_container row;
        cr_assert_eq(store_container_get(F.store, db, &row, &err), 0, "%s", err.msg);
        cr_assert_null(row.health, "health forgotten on stop");
        store_container_release(&row);
    }
    free(db);
    stk_buf_release(&y);
    spec_project_free(p);
}

static const char *completed =
    "services:\n"
    "  migrate:\n    image: @IMAGE@\n    command: [\"migrate\"]\n"
    "  app:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
    "    depends_on:\n      migrate:\n        condition: service_completed_successfully\n";

Test(rec, completed_successfully_waits_for_exit_0, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, completed);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_fake_script_exit(F.rt, "migrate", 0, 150, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "migrate", "stopped"), 1);
    cr_assert_eq(rec_fixture_count(&F, "app", "running"), 1);
    spec_project_free(p);
}

Test(rec, completed_successfully_fails_on_non_zero, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, completed);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_fake_script_exit(F.rt, "migrate", 3, 50, 1, &err), 0, "%s", err.msg);
    cr_assert_lt(up(p, &err), 0);
    cr_assert(strstr(err.msg, "exit status 3"), "%s", err.msg);
    cr_assert(strstr(err.msg, "'migrate'"), "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "app", "running"), 0, "app must never start");
    spec_project_free(p);
}

Test(rec, restart_decision_backoff)
{
    int64_t d = 0;
    int n = 0;

    cr_assert_eq(rec_restart_decide("no", 1, 0, 0, 100, 60000, &d, &n), 0);
    cr_assert_eq(rec_restart_decide(NULL, 1, 0, 0, 100, 60000, &d, &n), 0);
    cr_assert_eq(rec_restart_decide("always", 0, 0, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(d, 100);
    cr_assert_eq(n, 1);
    cr_assert_eq(rec_restart_decide("always", 0, 1, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(d, 200, "doubles");
    cr_assert_eq(rec_restart_decide("always", 0, 3, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(d, 800);
    cr_assert_eq(rec_restart_decide("always", 0, 20, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(d, 60000, "capped at one minute");
    cr_assert_eq(rec_restart_decide("always", 0, 20, 10000, 100, 60000, &d, &n), 1);
    cr_assert_eq(d, 100, "reset after 10 s of running");
    cr_assert_eq(n, 1);
    cr_assert_eq(rec_restart_decide("on-failure", 0, 0, 0, 100, 60000, &d, &n), 0);
    cr_assert_eq(rec_restart_decide("on-failure", 2, 0, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(rec_restart_decide("on-failure:2", 2, 1, 0, 100, 60000, &d, &n), 1);
    cr_assert_eq(rec_restart_decide("on-failure:2", 2, 2, 0, 100, 60000, &d, &n), 0,
                 "at most 2 restarts");
    cr_assert_eq(rec_restart_decide("unless-stopped", 0, 0, 0, 100, 60000, &d, &n), 1);
}

Test(rec, restart_policy_through_the_exit_path, .init = setup, .fini = teardown)
{
    struct spec_project *p =
        rec_fixture_load(&F, "services:\n  w:\n    image: @IMAGE@\n    command: [\"work\"]\n"
                             "    restart: on-failure:2\n");
    struct stk_err err = STK_ERR_INIT;
    int64_t delay = 0;
    char *id;

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    id = rec_fixture_id(&F, "w", 1);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(rt_fake_container_exit(F.rt, id, 7, &err), 0, "%s", err.msg);
        cr_assert_eq(cli_container_exited(&F.env, id, &delay, &err), 0, "%s", err.msg);
        cr_assert_eq(delay, round == 0 ? 100 : 200, "backoff %lld in round %d", (long long)delay,
                     round);
        cr_assert_eq(cli_container_restart(&F.env, id, &err), 0, "%s", err.msg);
        cr_assert_eq(rec_fixture_count(&F, "w", "running"), 1);
    }
    /* The third failure exceeds on-failure:2. */
    cr_assert_eq(rt_fake_container_exit(F.rt, id, 7, &err), 0);
    cr_assert_eq(cli_container_exited(&F.env, id, &delay, &err), 0);
    cr_assert_eq(delay, -1);
    cr_assert_eq(rec_fixture_count(&F, "w", "stopped"), 1);
    {
        struct store_container row;
        cr_assert_eq(store_container_get(F.store, id, &row, &err), 0);
        cr_assert_str_eq(row.state, "exited");
        cr_assert_eq(row.exit_code, 7);
        store_container_release(&row);
    }
    /* A container stopped on purpose is never restarted. */
    store_container_set_state(F.store, id, "stopping", NULL);
    cr_assert_eq(cli_container_exited(&F.env, id, &delay, &err), 0);
    cr_assert_eq(delay, -1);
    free(id);
    spec_project_free(p);
}

/* Whether action A (transitively) depends on action B. */
static int depends(const struct rec_plan *pl, size_t a, size_t b)
{
    for (size_t d = 0; d < pl->actions[a].n_deps; d++)
        if (pl->actions[a].deps[d] == b || depends(pl, pl->actions[a].deps[d], b))
            return 1;
    return 0;
}

static size_t find(const struct rec_plan *pl, enum rec_action_kind k, const char *object_prefix,
                   int is_old, const char *old_id)
{
    for (size_t i = 0; i < pl->n_actions; i++) {
        if (pl->actions[i].kind != k)
            continue;
        if (is_old && strcmp(pl->actions[i].object, old_id) != 0)
            continue;
        if (!is_old && (strcmp(pl->actions[i].object, old_id) == 0 ||
                        strncmp(pl->actions[i].object, object_prefix, strlen(object_prefix))))
            continue;
        return i;
    }
    cr_assert_fail("no %s action", rec_action_kind_to_string(k));
    return 0;
}

static void check_order(const char *order, int start_first)
{
    char yaml[1024];
    struct spec_project *p;
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl;
    char *old;
    size_t new_start, old_stop, new_create, old_sandbox;

    snprintf(yaml, sizeof(yaml),
             "services:\n  web:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
             "    deploy:\n      update_config:\n        order: %s\n",
             order);
    p = rec_fixture_load(&F, yaml);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    old = rec_fixture_id(&F, "web", 1);
    spec_project_free(p);
    snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "    environment: {V: \"2\"}\n");
    p = rec_fixture_load(&F, yaml);
    pl = plan(p, 0);
    new_start = find(pl, REC_A_CONTAINER_START, "t-web-1-", 0, old);
    new_create = find(pl, REC_A_CONTAINER_CREATE, "t-web-1-", 0, old);
    old_stop = find(pl, REC_A_CONTAINER_STOP, "", 1, old);
    old_sandbox = find(pl, REC_A_SANDBOX_REMOVE, "", 1, old);
    if (start_first) {
        cr_assert(depends(pl, old_stop, new_start), "start-first: old stops after new starts");
        cr_assert_not(depends(pl, new_create, old_stop));
    } else {
        cr_assert(depends(pl, new_create, old_sandbox), "stop-first: old goes before new");
        cr_assert_not(depends(pl, old_stop, new_start));
    }
    rec_plan_free(pl);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "web", NULL), 1);
    cr_assert_eq(rec_fixture_count(&F, "web", "running"), 1);
    free(old);
    spec_project_free(p);
}

Test(rec, stop_first_order, .init = setup, .fini = teardown)
{
    check_order("stop-first", 0);
}

Test(rec, start_first_order, .init = setup, .fini = teardown)
{
    check_order("start-first", 1);
}

Test(rec, failure_in_the_middle_is_recorded_and_resumed, .init = setup, .fini = teardown)
{
    struct stk_buf yaml = STK_BUF_INIT;
    struct spec_project *p;
    struct stk_err err = STK_ERR_INIT;
    struct store_container *rows = NULL;
    size_t nrows = 0;

    stk_buf_puts(&yaml, "services:\n");
    for (int i = 1; i <= 10; i++) {
        stk_buf_printf(&yaml, "  s%d:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n", i);
        if (i > 1)
            stk_buf_printf(&yaml, "    depends_on: [s%d]\n", i - 1);
    }
    p = rec_fixture_load(&F, yaml.buf);
    stk_buf_release(&yaml);
    /* create of service 5 fails. */
    {
        struct rt_fake_fail rule = {0};
        rule.op = RT_FAKE_OP_CREATE;
        rule.match = "s5";
        rule.nth = 1;
        rule.count = 0;
        rule.code = STK_ERUNTIME;
        rule.message = "disk full";
        cr_assert_eq(rt_fake_fail_add(F.rt, &rule, &err), 0, "%s", err.msg);
    }
    cr_assert_lt(up(p, &err), 0);
    cr_assert(strstr(err.msg, "'s5'"), "error names the service: %s", err.msg);
    cr_assert(strstr(err.msg, "create container"), "and the action: %s", err.msg);
    cr_assert(strstr(err.msg, "disk full"), "and why: %s", err.msg);
    /* s1..s4 run; nothing after s5 started (s6 waits for s5). */
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 4);
    for (int i = 1; i <= 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "s%d", i);
        cr_assert_eq(rec_fixture_count(&F, name, "running"), 1, "%s runs", name);
    }
    /* The store agrees with the runtime, container by container; s5 is recorded as creating. */
    cr_assert_eq(store_container_list(F.store, "t", &rows, &nrows, &err), 0);
    {
        size_t creating = 0;
        struct rt_sync s = RT_SYNC_INIT;
        int r = rt_container_list(F.rt, rt_sync_done, &s, NULL, &err);
        cr_assert_eq(rt_sync_wait(&F.loop, &s, r, &err), 0);
        cr_assert_eq(nrows, s.list.n + 1, "every runtime container is recorded, plus s5");
        for (size_t i = 0; i < nrows; i++) {
            const struct rt_container_info *ci = NULL;
            for (size_t k = 0; k < s.list.n; k++)
                if (strcmp(s.list.items[k].id, rows[i].id) == 0)
                    ci = &s.list.items[k];
            if (!ci) {
                cr_assert_str_eq(rows[i].state, "creating");
                cr_assert_str_eq(rows[i].service, "s5");
                creating++;
            } else {
                cr_assert_str_eq(rows[i].state, rt_state_to_string(ci->state),
                                 "store and runtime disagree on %s", rows[i].id);
            }
            store_container_release(&rows[i]);
        }
        free(rows);
        rt_sync_release(&s);
        cr_assert_eq(creating, 1, "the failed create is recorded");
    }
    rt_fake_fail_clear(F.rt, NULL);
    cr_assert_eq(up(p, &err), 0, "second up completes the rest: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 10);
    cr_assert_eq(cli_down(&F.env, "t", &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 0);
    {
        struct net_sync s = NET_SYNC_INIT;
        int r = net_list(F.net, net_sync_done, &s, NULL, &err);
        cr_assert_eq(net_sync_wait(&F.loop, &s, r, &err), 0);
        cr_assert_eq(s.inventory.n_networks + s.inventory.n_sandboxes + s.inventory.n_endpoints, 0,
                     "down left network objects");
        net_sync_release(&s);
    }
    spec_project_free(p);
}

/* networks.*.ipam.config: the first IPv4 subnet and its gateway reach the plug-in. */
Test(rec, ipam_subnet_and_gateway_reach_the_network_plugin, .init = setup, .fini = teardown)
{
    struct spec_project *p =
        rec_fixture_load(&F, "services:\n  a:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
                             "networks:\n  default:\n    ipam:\n      config:\n"
                             "        - subnet: fd00:1::/64\n"
                             "        - subnet: 10.200.0.0/16\n          gateway: 10.200.0.254\n");
    struct stk_err err = STK_ERR_INIT;
    struct net_sync s = NET_SYNC_INIT;
    int r;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    r = net_list(F.net, net_sync_done, &s, NULL, &err);
    cr_assert_eq(net_sync_wait(&F.loop, &s, r, &err), 0, "%s", err.msg);
    cr_assert_eq(s.inventory.n_networks, 1);
    cr_assert_str_eq(s.inventory.networks[0].subnet, "10.200.0.0/16");
    cr_assert_str_eq(s.inventory.networks[0].gateway, "10.200.0.254");
    cr_assert_eq(s.inventory.n_endpoints, 1);
    cr_assert(strncmp(s.inventory.endpoints[0].ipv4, "10.200.", 7) == 0, "%s",
              s.inventory.endpoints[0].ipv4);
    net_sync_release(&s);
    spec_project_free(p);
}

Test(rec, wait_fails_on_an_unhealthy_service, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(
        &F, "services:\n  db:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
            "    healthcheck:\n      test: [\"CMD-SHELL\", \"probe\"]\n      interval: 10ms\n"
            "      retries: 2\n");
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;

    /* Without --wait, up does not look at health. */
    cr_assert_eq(rt_fake_script_exec(F.rt, "db", "/bin/sh -c probe", 1, "", 0, 0, &err), 0);
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_EXEC), 0);
    o.wait = 1;
    cr_assert_lt(cli_up(&F.env, p, &o, &err), 0);
    cr_assert(strstr(err.msg, "unhealthy"), "%s", err.msg);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_EXEC), 2, "retries: 2 checks");
    rt_fake_fail_clear(F.rt, NULL);
    spec_project_free(p);
}

Test(rec, depends_on_restart_true_restarts_the_dependant, .init = setup, .fini = teardown)
{
#define RESTART_BASE                                                                               \
    "services:\n  db:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n%s"                          \
    "  app:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"                                      \
    "    depends_on:\n      db:\n        condition: service_started\n"                             \
    "        restart: true\n"
    char yaml[1024];
    struct spec_project *p;
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl;
    char *app;

    snprintf(yaml, sizeof(yaml), RESTART_BASE, "");
    p = rec_fixture_load(&F, yaml);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    app = rec_fixture_id(&F, "app", 1);
    spec_project_free(p);
    snprintf(yaml, sizeof(yaml), RESTART_BASE, "    environment: {X: \"1\"}\n");
    p = rec_fixture_load(&F, yaml);
    pl = plan(p, 0);
    cr_assert(plan_has(pl, "recreate", "db-1"));
    cr_assert(plan_has(pl, "restart", "app-1"));
    rec_plan_free(pl);
    rt_fake_calls_reset(F.rt, NULL);
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    {
        char *again = rec_fixture_id(&F, "app", 1);
        cr_assert_str_eq(again, app, "app is restarted, not recreated");
        free(again);
    }
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_STOP), 2, "old db and app stopped");
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_START), 2, "new db and app started");
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 2);
    free(app);
    spec_project_free(p);
}

Test(rec, events_are_appended_with_revisions, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, scaled(2));
    struct stk_err err = STK_ERR_INIT;
    struct store_event *ev = NULL;
    size_t n = 0, starts = 0;

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(store_event_list(F.store, "t", 0, &ev, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            cr_assert_gt(ev[i].rev, ev[i - 1].rev, "revisions increase");
        starts += strcmp(ev[i].kind, "container.start") == 0;
        store_event_release(&ev[i]);
    }
    free(ev);
    cr_assert_eq(starts, 2);
    /* --since: only what came after. */
    cr_assert_eq(cli_down(&F.env, "t", &err), 0);
    cr_assert_eq(store_event_list(F.store, "t", (int64_t)n, &ev, &n, &err), 0);
    cr_assert_eq(n, 2, "two removals after the starts");
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(ev[i].kind, "container.remove");
        store_event_release(&ev[i]);
    }
    free(ev);
    spec_project_free(p);
}

/* The output of FN(&F.env, project, ..., out, &err) captured in a new string. */
static char *capture_port(const char *project, const char *service, unsigned port,
                          const char *proto, int *ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct stk_err err = STK_ERR_INIT;

    *ret = cli_port(&F.env, project, service, 1, port, proto, out, &err);
    fclose(out);
    stk_err_clear(&err);
    return buf;
}

/*
 * ports: ["80"] publishes on an ephemeral host port chosen by the plug-in
 * (docker's behaviour): ps and `port` show it, a no-op up keeps it, and a
 * service on two networks publishes its ports on one endpoint only.
 */
Test(rec, ephemeral_ports_are_chosen_once_and_shown, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(
        &F, "services:\n  a:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n"
            "    ports: [\"80\", \"127.0.0.1::53/udp\", \"18081:81\"]\n"
            "    networks: [front, back]\n"
            "  b:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n    ports: [\"80\"]\n"
            "networks:\n  front: {}\n  back: {}\n");
    struct stk_err err = STK_ERR_INIT;
    struct net_sync s = NET_SYNC_INIT;
    struct store_container *rows = NULL;
    size_t n_rows = 0;
    char *a80, *a53, *b80, *again;
    int r, with_ports = 0;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    a80 = capture_port(p->name, "a", 80, "tcp", &r);
    cr_assert_eq(r, 0);
    a53 = capture_port(p->name, "a", 53, "udp", &r);
    cr_assert_eq(r, 0);
    b80 = capture_port(p->name, "b", 80, "tcp", &r);
    cr_assert_eq(r, 0);
    /* The fake chooses the lowest free port of the ephemeral range, per protocol. */
    cr_assert(strncmp(a80, "0.0.0.0:", 8) == 0 && atoi(a80 + 8) >= 32768, "%s", a80);
    cr_assert(strncmp(b80, "0.0.0.0:", 8) == 0 && atoi(b80 + 8) >= 32768, "%s", b80);
    cr_assert_neq(atoi(a80 + 8), atoi(b80 + 8), "two services on one host port: %s %s", a80, b80);
    cr_assert(strncmp(a53, "127.0.0.1:", 10) == 0 && atoi(a53 + 10) >= 32768, "%s", a53);
    {
        struct stk_err e = STK_ERR_INIT;
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        cr_assert_eq(cli_port(&F.env, p->name, "a", 1, 82, "tcp", out, &e), STK_ENOENT);
        cr_assert_str_eq(e.msg, "service 'a' does not publish port 82/tcp");
        stk_err_clear(&e);
        fclose(out);
        free(buf);
    }

    /* ps shows the chosen ports next to the fixed one. */
    cr_assert_eq(store_container_list(F.store, p->name, &rows, &n_rows, &err), 0);
    for (size_t i = 0; i < n_rows; i++)
        if (strcmp(rows[i].service, "a") == 0) {
            char want[64];
            snprintf(want, sizeof(want), "%.*s->80/tcp", (int)strcspn(a80, "\n"), a80);
            cr_assert(strstr(rows[i].ports, want), "ps ports '%s' lack '%s'", rows[i].ports, want);
            cr_assert(strstr(rows[i].ports, "0.0.0.0:18081->81/tcp"), "%s", rows[i].ports);
        }
    for (size_t i = 0; i < n_rows; i++)
        store_container_release(&rows[i]);
    free(rows);

    /* One endpoint of a's sandbox carries the ports, the other none. */
    r = net_list(F.net, net_sync_done, &s, NULL, &err);
    cr_assert_eq(net_sync_wait(&F.loop, &s, r, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < s.inventory.n_endpoints; i++)
        if (strstr(s.inventory.endpoints[i].sandbox, "-a-1-"))
            with_ports += s.inventory.endpoints[i].n_ports > 0;
    cr_assert_eq(with_ports, 1, "a's ports are published on %d endpoints", with_ports);
    net_sync_release(&s);

    /* A second up changes nothing, the ports included. */
    cr_assert_eq(up(p, &err), 0, "up again: %s", err.msg);
    again = capture_port(p->name, "a", 80, "tcp", &r);
    cr_assert_eq(r, 0);
    cr_assert_str_eq(again, a80);
    free(again);
    free(a80);
    free(a53);
    free(b80);
    spec_project_free(p);
}

/* In PL, whether the stop of the container whose id contains A waits for the stop of B's. */
static int stop_waits_for(const struct rec_plan *pl, const char *a, const char *b)
{
    for (size_t i = 0; i < pl->n_actions; i++) {
        const struct rec_action *x = &pl->actions[i];
        if (x->kind != REC_A_CONTAINER_STOP || !strstr(x->object, a))
            continue;
        for (size_t d = 0; d < x->n_deps; d++) {
            const struct rec_action *y = &pl->actions[x->deps[d]];
            if (y->kind == REC_A_CONTAINER_STOP && strstr(y->object, b))
                return 1;
        }
    }
    return 0;
}

/*
 * down stops dependants first, as docker compose down does: db's stop waits
 * for web's (depends_on), web's for the sidecar's (network_mode: service:web);
 * rows made from two versions of the file that disagree (a cycle) get no order.
 */
Test(rec, down_stops_in_reverse_dependency_order, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, three);
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl = NULL;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(cli_plan_build_down(&F.env, p->name, &pl, &err), 0, "%s", err.msg);
    cr_assert(stop_waits_for(pl, "-db-1-", "-web-1-"), "db stops before web");
    cr_assert(stop_waits_for(pl, "-web-1-", "-sidecar-1-"), "web stops before its sidecar");
    cr_assert_not(stop_waits_for(pl, "-web-1-", "-db-1-"));
    cr_assert_not(stop_waits_for(pl, "-other-1-", "-web-1-"), "other depends on nothing");
    cr_assert_not(stop_waits_for(pl, "-db-1-", "-other-1-"));
    rec_plan_free(pl);
    spec_project_free(p);

    /*
     * depends_on is not part of the service hash (compose's neither): a file
     * that turns the dependency round and changes db recreates db only, whose
     * label now names web while web's still names db.
     */
    p = rec_fixture_load(&F, "services:\n"
                             "  db:\n    image: @IMAGE@\n    command: " LOOP_CMD
                             "\n    depends_on: [web]\n    environment: [CHANGED=1]\n"
                             "  web:\n    image: @IMAGE@\n    command: " LOOP_CMD
                             "\n    ports: [\"18080:80\"]\n"
                             "  sidecar:\n    image: @IMAGE@\n    command: " LOOP_CMD
                             "\n    network_mode: service:web\n"
                             "  other:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n");
    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(cli_plan_build_down(&F.env, p->name, &pl, &err), 0, "%s", err.msg);
    cr_assert_not(stop_waits_for(pl, "-db-1-", "-web-1-") &&
                      stop_waits_for(pl, "-web-1-", "-db-1-"),
                  "a cycle of stops");
    cr_assert_not(stop_waits_for(pl, "-db-1-", "-web-1-") ||
                      stop_waits_for(pl, "-web-1-", "-db-1-"),
                  "labels that disagree give no order");
    rec_plan_free(pl);
    cr_assert_eq(cli_down(&F.env, p->name, &err), 0, "down: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "db", NULL), 0);
    spec_project_free(p);
}

/*
 * stop and start (docker compose's): stop keeps the containers, dependants
 * stopped first; start goes the other way; start of one service starts only
 * it; a later up starts what is still stopped and creates nothing.
 */
Test(rec, stop_then_start_keep_the_containers, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, three);
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl = NULL;
    const char *web[] = {"web", NULL};
    char *db_id;

    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    db_id = rec_fixture_id(&F, "db", 1);
    cr_assert_eq(cli_plan_build_stop_start(&F.env, p->name, NULL, 0, 1000, &pl, &err), 0);
    cr_assert_eq(pl->n_actions, 4);
    cr_assert(stop_waits_for(pl, "-db-1-", "-web-1-"), "db stops after web");
    rec_plan_free(pl);
    cr_assert_eq(cli_stop_start(&F.env, p->name, NULL, 0, 1000, &err), 0, "stop: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 0);
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 4, "stop removed containers");

    /* start: db before web (the stop order reversed). */
    cr_assert_eq(cli_plan_build_stop_start(&F.env, p->name, NULL, 1, 0, &pl, &err), 0);
    cr_assert_eq(pl->n_actions, 4);
    for (size_t i = 0; i < pl->n_actions; i++)
        cr_assert_eq(pl->actions[i].kind, REC_A_CONTAINER_START);
    cr_assert(stop_waits_for(pl, "-db-1-", "-web-1-") == 0);
    {
        /* web's start waits for db's. */
        int found = 0;
        for (size_t i = 0; i < pl->n_actions; i++)
            if (strstr(pl->actions[i].object, "-web-1-"))
                for (size_t d = 0; d < pl->actions[i].n_deps; d++)
                    found |= strstr(pl->actions[pl->actions[i].deps[d]].object, "-db-1-") != NULL;
        cr_assert(found, "web starts before db");
    }
    rec_plan_free(pl);

    {
        const char *nosuch[] = {"nosuch", NULL};
        cr_assert_eq(cli_stop_start(&F.env, p->name, nosuch, 1, 0, &err), STK_ENOENT);
        char want[256];
        snprintf(want, sizeof(want),
                 "no such service: nosuch (project '%s' has no container of it)", p->name);
        cr_assert_str_eq(err.msg, want);
        stk_err_clear(&err);
    }
    cr_assert_eq(cli_stop_start(&F.env, p->name, web, 1, 0, &err), 0, "start web: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "web", "running"), 1);
    cr_assert_eq(rec_fixture_count(&F, "db", "running"), 0, "start web started db too");
    cr_assert_eq(up(p, &err), 0, "up: %s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, NULL, "running"), 4);
    {
        char *again = rec_fixture_id(&F, "db", 1);
        cr_assert_str_eq(again, db_id, "up recreated a stopped container");
        free(again);
    }
    free(db_id);
    spec_project_free(p);
}

/*
 * stop of a container waiting out its restart backoff stops it for good: the
 * pending restart finds the record changed. stop and down use the service's
 * stop signal and grace period, kept in labels (they act without the file);
 * stop -t overrides the grace period.
 */
Test(rec, stop_honours_restart_backoff_and_stop_signal, .init = setup, .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(
        &F, "services:\n  w:\n    image: @IMAGE@\n    command: [\"work\"]\n"
            "    restart: always\n    stop_signal: SIGUSR1\n    stop_grace_period: 3s\n"
            "  plain:\n    image: @IMAGE@\n    command: " LOOP_CMD "\n");
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl = NULL;
    int64_t delay = 0;
    char *id;

    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    id = rec_fixture_id(&F, "w", 1);

    /* The labels give signal and grace to plans made without the file. */
    cr_assert_eq(
        cli_plan_build_stop_start(&F.env, p->name, NULL, 0, REC_GRACE_OF_SERVICE, &pl, &err), 0);
    for (size_t i = 0; i < pl->n_actions; i++) {
        const struct rec_action *a = &pl->actions[i];
        int is_w = strstr(a->object, "-w-1-") != NULL;
        cr_assert_eq(a->signal, is_w ? 10 : 15, "%s: signal %d", a->object, a->signal);
        cr_assert_eq(a->grace_ms, is_w ? 3000 : 10000, "%s: grace %llu", a->object,
                     (unsigned long long)a->grace_ms);
        cr_assert(a->name && strstr(a->name, is_w ? "-w-1" : "-plain-1"), "no name");
    }
    rec_plan_free(pl);
    cr_assert_eq(cli_plan_build_stop_start(&F.env, p->name, NULL, 0, 1000, &pl, &err), 0);
    for (size_t i = 0; i < pl->n_actions; i++)
        cr_assert_eq(pl->actions[i].grace_ms, 1000, "-t does not override");
    rec_plan_free(pl);
    cr_assert_eq(cli_plan_build_down(&F.env, p->name, &pl, &err), 0);
    for (size_t i = 0; i < pl->n_actions; i++)
        if (pl->actions[i].kind == REC_A_CONTAINER_STOP && strstr(pl->actions[i].object, "-w-1-"))
            cr_assert(pl->actions[i].signal == 10 && pl->actions[i].grace_ms == 3000,
                      "down ignores stop_signal/stop_grace_period");
    rec_plan_free(pl);

    /* w crashes; its restart waits out the backoff (delay > 0) when stop comes. */
    cr_assert_eq(rt_fake_container_exit(F.rt, id, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(cli_container_exited(&F.env, id, &delay, &err), 0, "%s", err.msg);
    cr_assert_gt(delay, 0);
    cr_assert_eq(cli_stop_start(&F.env, p->name, NULL, 0, REC_GRACE_OF_SERVICE, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(cli_container_restart(&F.env, id, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "w", "running"), 0, "the pending restart ran after stop");
    /* up brings it back, the same container. */
    cr_assert_eq(up(p, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_fixture_count(&F, "w", "running"), 1);
    {
        char *again = rec_fixture_id(&F, "w", 1);
        cr_assert_str_eq(again, id);
        free(again);
    }
    free(id);
    spec_project_free(p);
}
