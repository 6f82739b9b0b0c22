/*
 * test-rt-fake.c - the fake runtime driver (runtime/fake/rt-fake.h): the
 * asynchronous contract of rt-driver.h, its container model, and its
 * scripting API (failures, delays, exits, exec results, counters, state file,
 * environment).
 */
#include "runtime/fake/rt-fake.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"

static uv_loop_t loop;
static struct rt_ctx *ctx;
static char tmpdir[] = "/tmp/stk-test-fake-XXXXXX";

/* Records one operation's completions. */
struct probe {
    int n;              /* DONE calls */
    int returned;       /* set by the test once the op has returned */
    int before_return;  /* DONE ran before the op returned */
    struct rt_req *req; /* the request DONE was given */
    struct rt_sync s;   /* the copied result */
};

static void probe_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                       void *userdata)
{
    struct probe *p = userdata;

    p->n++;
    if (!p->returned)
        p->before_return = 1;
    p->req = req;
    if (p->n == 1)
        rt_sync_done(req, res, err, &p->s);
}

/* Runs the loop until P completed, then a few more turns; asserts DONE ran exactly once. */
static int wait_probe(struct probe *p)
{
    while (p->n == 0)
        cr_assert_neq(uv_run(&loop, UV_RUN_ONCE) + p->n, 0, "loop ran dry before DONE");
    for (int i = 0; i < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(p->n, 1, "DONE called %d times", p->n);
    cr_assert_eq(p->before_return, 0, "DONE ran before the op returned");
    return p->s.err.code;
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmpdir));
    ctx = rt_ctx_new(rt_driver_find("fake", &err), &loop, tmpdir, tmpdir, "/bin/true", NULL, &err);
    cr_assert_not_null(ctx, "rt_ctx_new: %s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open on the loop");
    stk_rm_rf(tmpdir, &err);
}

TestSuite(rt_fake, .init = setup, .fini = teardown);

static void spec_init(struct rt_container_spec *spec, const char *id, const char *service)
{
    memset(spec, 0, sizeof(*spec));
    spec->id = stk_xstrdup(id);
    spec->name = stk_xasprintf("proj-%s-1", service);
    spec->isolation = RT_ISOLATION_PROCESS;
    spec->process.args = stk_xcalloc(3, sizeof(char *));
    spec->process.args[0] = stk_xstrdup("/bin/sleep");
    spec->process.args[1] = stk_xstrdup("100");
    spec->labels = stk_xcalloc(2, sizeof(struct rt_kv));
    spec->labels[0].key = stk_xstrdup(RT_LABEL_PROJECT);
    spec->labels[0].value = stk_xstrdup("proj");
    spec->labels[1].key = stk_xstrdup(RT_LABEL_SERVICE);
    spec->labels[1].value = stk_xstrdup(service);
    spec->n_labels = 2;
}

/* Each helper starts one op, checks it returned 0 without calling back, and waits. */
static int do_create_iso(const char *id, const char *service, enum rt_isolation iso,
                         struct stk_err *err)
{
    struct rt_container_spec spec;
    struct probe p = {0};
    int r;

    spec_init(&spec, id, service);
    spec.isolation = iso;
    r = rt_container_create(ctx, &spec, probe_done, &p, NULL, err);
    p.returned = 1;
    rt_container_spec_release(&spec);
    if (r < 0)
        return r;
    cr_assert_eq(p.n, 0);
    r = wait_probe(&p);
    if (r < 0)
        stk_err_move(err, &p.s.err);
    rt_sync_release(&p.s);
    return r;
}

static int do_create(const char *id, const char *service)
{
    struct stk_err err = STK_ERR_INIT;

    return do_create_iso(id, service, RT_ISOLATION_PROCESS, &err);
}

enum simple_op { OP_START, OP_STOP, OP_KILL, OP_DELETE, OP_STATE, OP_TOP, OP_LOGS };

static int do_op(enum simple_op op, const char *id, int sig, struct probe *p)
{
    struct stk_err err = STK_ERR_INIT;
    int r = -1;

    memset(p, 0, sizeof(*p));
    switch (op) {
    case OP_START:
        r = rt_container_start(ctx, id, probe_done, p, NULL, &err);
        break;
    case OP_STOP:
        r = rt_container_stop(ctx, id, sig, 10000, probe_done, p, NULL, &err);
        break;
    case OP_KILL:
        r = rt_container_kill(ctx, id, sig, probe_done, p, NULL, &err);
        break;
    case OP_DELETE:
        r = rt_container_delete(ctx, id, probe_done, p, NULL, &err);
        break;
    case OP_STATE:
        r = rt_container_state(ctx, id, probe_done, p, NULL, &err);
        break;
    case OP_TOP:
        r = rt_container_top(ctx, id, probe_done, p, NULL, &err);
        break;
    case OP_LOGS:
        r = rt_container_logs(ctx, id, probe_done, p, NULL, &err);
        break;
    }
    p->returned = 1;
    cr_assert_eq(r, 0, "op %d on '%s' failed at once: %s", op, id, err.msg);
    cr_assert_eq(p->n, 0);
    return wait_probe(p);
}

/* Returns the state of ID (-1 when it does not exist); fills *RET_INFO when non-NULL. */
static int ctr_state(const char *id, struct rt_container_info *ret_info)
{
    struct probe p;
    int r = do_op(OP_STATE, id, 0, &p), st;

    if (r == STK_ENOENT) {
        rt_sync_release(&p.s);
        return -1;
    }
    cr_assert_eq(r, 0, "state '%s': %s", id, p.s.err.msg);
    cr_assert_eq(p.s.kind, RT_RESULT_INFO);
    st = p.s.info.state;
    if (ret_info)
        rt_container_info_copy(ret_info, &p.s.info);
    rt_sync_release(&p.s);
    return st;
}

static int do_simple(enum simple_op op, const char *id, int sig)
{
    struct probe p;
    int r = do_op(op, id, sig, &p);

    rt_sync_release(&p.s);
    return r;
}

static int do_exec(const char *id, const char *const *args, uint64_t timeout_ms, char **ret_out,
                   int *ret_exit)
{
    struct rt_exec_opts opts = {.args = args, .capture = 1, .timeout_ms = timeout_ms};
    struct stk_err err = STK_ERR_INIT;
    struct probe p = {0};
    int r = rt_container_exec(ctx, id, &opts, probe_done, &p, NULL, &err);

    p.returned = 1;
    cr_assert_eq(r, 0, "exec: %s", err.msg);
    r = wait_probe(&p);
    if (r == 0) {
        cr_assert_eq(p.s.kind, RT_RESULT_EXEC);
        *ret_exit = p.s.exit_code;
        if (ret_out)
            *ret_out = stk_xstrdup(p.s.output);
    }
    rt_sync_release(&p.s);
    return r;
}

Test(rt_fake, is_registered_with_every_capability)
{
    struct stk_err err = STK_ERR_INIT;
    const struct rt_driver *d = rt_driver_find("fake", &err);

    cr_assert_eq(d, &rt_driver_fake);
    cr_assert_str_eq(d->name, "fake");
    cr_assert_eq(d->caps, RT_CAP_VOLUMES | RT_CAP_EXEC | RT_CAP_TOP | RT_CAP_LOGS);
    cr_assert_str_eq(rt_fake_op_to_string(RT_FAKE_OP_VOLUME_REMOVE), "volume_remove");
    cr_assert_eq(rt_fake_op_from_string("mutating"), RT_FAKE_OP_MUTATING);
    cr_assert_eq(rt_fake_op_from_string("nope"), _RT_FAKE_OP_INVALID);
}

Test(rt_fake, container_life_cycle)
{
    struct rt_container_info info = {0};
    struct probe p;

    cr_assert_eq(do_create("web-1-aaaa", "web"), 0);
    cr_assert_eq(do_create("web-1-aaaa", "web"), STK_EEXIST);
    cr_assert_eq(ctr_state("web-1-aaaa", &info), RT_STATE_CREATED);
    cr_assert_eq(info.pid, 0);
    cr_assert_gt(info.created_ns, 0);
    cr_assert_str_eq(rt_container_info_label(&info, RT_LABEL_SERVICE), "web");
    cr_assert_str_eq(info.name, "proj-web-1");
    rt_container_info_release(&info);

    cr_assert_eq(do_simple(OP_START, "web-1-aaaa", 0), 0);
    cr_assert_eq(do_simple(OP_START, "web-1-aaaa", 0), STK_EINVAL, "start of a running one");
    cr_assert_eq(do_create("db-1-bbbb", "db"), 0);
    cr_assert_eq(do_simple(OP_START, "db-1-bbbb", 0), 0);

    cr_assert_eq(do_op(OP_TOP, "web-1-aaaa", 0, &p), 0);
    cr_assert_not_null(strstr(p.s.output, "/bin/sleep 100"), "top: %s", p.s.output);
    rt_sync_release(&p.s);

    {
        struct stk_err err = STK_ERR_INIT;
        struct probe lp = {0};
        int r = rt_container_list(ctx, probe_done, &lp, NULL, &err);

        lp.returned = 1;
        cr_assert_eq(r, 0);
        cr_assert_eq(wait_probe(&lp), 0);
        cr_assert_eq(lp.s.list.n, 2);
        cr_assert_str_eq(lp.s.list.items[0].id, "web-1-aaaa");
        cr_assert_str_eq(lp.s.list.items[1].id, "db-1-bbbb");
        cr_assert_eq(lp.s.list.items[0].state, RT_STATE_RUNNING);
        cr_assert_gt(lp.s.list.items[0].pid, 0);
        cr_assert_neq(lp.s.list.items[0].pid, lp.s.list.items[1].pid, "pids must be unique");
        rt_sync_release(&lp.s);
    }

    cr_assert_eq(do_simple(OP_STOP, "web-1-aaaa", SIGTERM), 0);
    cr_assert_eq(ctr_state("web-1-aaaa", &info), RT_STATE_STOPPED);
    cr_assert_eq(info.has_exit_code, 1);
    cr_assert_eq(info.exit_code, 128 + SIGTERM);
    cr_assert_eq(info.pid, 0);
    cr_assert_geq(info.finished_ns, info.started_ns);
    rt_container_info_release(&info);
    cr_assert_eq(rt_fake_last_signal(ctx, "web-1-aaaa"), SIGTERM);
    cr_assert_eq(do_simple(OP_STOP, "web-1-aaaa", SIGTERM), 0, "stop is idempotent");
    cr_assert_eq(do_simple(OP_KILL, "web-1-aaaa", SIGKILL), STK_EINVAL);
    /* An exited container starts again (docker start), with its exit code cleared. */
    cr_assert_eq(do_simple(OP_START, "web-1-aaaa", 0), 0, "restart of a stopped one");
    cr_assert_eq(ctr_state("web-1-aaaa", &info), RT_STATE_RUNNING);
    cr_assert_eq(info.has_exit_code, 0);
    rt_container_info_release(&info);
    cr_assert_eq(do_simple(OP_STOP, "web-1-aaaa", SIGTERM), 0);

    cr_assert_eq(do_simple(OP_KILL, "db-1-bbbb", 0), 0);
    cr_assert_eq(ctr_state("db-1-bbbb", NULL), RT_STATE_RUNNING, "signal 0 only checks");
    cr_assert_eq(do_simple(OP_DELETE, "db-1-bbbb", 0), 0, "delete kills a running one");
    cr_assert_eq(ctr_state("db-1-bbbb", NULL), -1);
    cr_assert_eq(do_simple(OP_DELETE, "db-1-bbbb", 0), 0, "delete is idempotent");
    cr_assert_eq(do_simple(OP_START, "nope", 0), STK_ENOENT);
    cr_assert_eq(do_simple(OP_STOP, "nope", SIGTERM), STK_ENOENT);

    cr_assert_eq(do_op(OP_LOGS, "web-1-aaaa", 0, &p), 0);
    cr_assert_eq(p.s.kind, RT_RESULT_LOGS);
    cr_assert(stk_path_exists(p.s.log_path), "log '%s' must exist", p.s.log_path);
    rt_sync_release(&p.s);
}

Test(rt_fake, immediate_errors_never_call_back)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe p = {0};
    struct rt_fake_fail rule = {.op = RT_FAKE_OP_START,
                                .nth = 1,
                                .code = STK_EPERM,
                                .count = 1,
                                .message = "no way",
                                .immediate = 1};

    cr_assert_eq(rt_container_start(ctx, NULL, probe_done, &p, NULL, &err), STK_EINVAL);
    cr_assert_eq(rt_container_create(ctx, NULL, probe_done, &p, NULL, &err), STK_EINVAL);
    cr_assert_eq(rt_container_state(ctx, "x", NULL, NULL, NULL, &err), STK_EINVAL, "DONE NULL");
    cr_assert_eq(rt_fake_fail_add(ctx, &rule, &err), 0);
    cr_assert_eq(do_create("a", "a"), 0);
    stk_err_clear(&err);
    cr_assert_eq(rt_container_start(ctx, "a", probe_done, &p, NULL, &err), STK_EPERM);
    cr_assert_str_eq(err.msg, "no way");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(p.n, 0, "DONE called after an immediate error");
    cr_assert_eq(ctr_state("a", NULL), RT_STATE_CREATED, "a failed op has no effect");
    cr_assert_eq(do_simple(OP_START, "a", 0), 0, "only the first start fails");
}

Test(rt_fake, cancel_reports_ecanceled_once_and_has_no_effect)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_spec spec;
    struct probe p = {0};
    struct rt_req *req = NULL;

    cr_assert_eq(rt_fake_set_delay(ctx, RT_FAKE_OP_CREATE, 5000, &err), 0);
    spec_init(&spec, "c1", "web");
    cr_assert_eq(rt_container_create(ctx, &spec, probe_done, &p, &req, &err), 0);
    p.returned = 1;
    rt_container_spec_release(&spec);
    cr_assert_not_null(req);
    cr_assert_eq(rt_fake_pending(ctx), 1);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    rt_req_cancel(req);
    cr_assert_eq(p.n, 0, "DONE must not run inside rt_req_cancel()");
    rt_req_cancel(req); /* a second cancel before completion is harmless */
    cr_assert_eq(wait_probe(&p), STK_ECANCELED);
    cr_assert_eq(p.req, req);
    cr_assert_lt(uv_now(&loop) - t0, 2500, "cancel must not wait for the delay");
    cr_assert_eq(rt_fake_pending(ctx), 0);
    rt_sync_release(&p.s);
    cr_assert_eq(rt_fake_set_delay(ctx, RT_FAKE_OP_CREATE, 0, &err), 0);
    cr_assert_eq(ctr_state("c1", NULL), -1, "a canceled create creates nothing");
}

Test(rt_fake, fails_the_nth_call_with_the_chosen_error)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_fake_fail_nth(ctx, RT_FAKE_OP_CREATE, 2, STK_EIO, "disk on fire", &err), 0);
    cr_assert_eq(do_create("c1", "web"), 0);
    cr_assert_eq(do_create_iso("c2", "web", RT_ISOLATION_PROCESS, &err), STK_EIO);
    cr_assert_str_eq(err.msg, "disk on fire");
    stk_err_clear(&err);
    cr_assert_eq(ctr_state("c2", NULL), -1, "the failed create has no effect");
    cr_assert_eq(do_create("c3", "web"), 0);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_CREATE), 3, "failed calls are counted");

    /* The 2nd mutating call from now on (state is read-only and does not count). */
    cr_assert_eq(rt_fake_fail_nth(ctx, RT_FAKE_OP_MUTATING, 2, 0, NULL, &err), 0);
    cr_assert_eq(ctr_state("c1", NULL), RT_STATE_CREATED);
    cr_assert_eq(do_simple(OP_START, "c1", 0), 0);
    cr_assert_eq(ctr_state("c1", NULL), RT_STATE_RUNNING);
    cr_assert_eq(do_simple(OP_START, "c3", 0), STK_ERUNTIME, "default code");
    cr_assert_eq(do_simple(OP_START, "c3", 0), 0);

    /* Any call, forever, only for service db. */
    struct rt_fake_fail rule = {
        .op = RT_FAKE_OP_ANY, .match = "db", .nth = 1, .count = 0, .code = STK_EBUSY};
    cr_assert_eq(rt_fake_fail_add(ctx, &rule, &err), 0);
    cr_assert_eq(do_create("db-1-x", "db"), STK_EBUSY);
    cr_assert_eq(do_create("db-1-x", "db"), STK_EBUSY);
    cr_assert_eq(do_create("web-2-x", "web"), 0);
    cr_assert_eq(rt_fake_fail_clear(ctx, &err), 0);
    cr_assert_eq(do_create("db-1-x", "db"), 0);

    rule.nth = 0;
    cr_assert_eq(rt_fake_fail_add(ctx, &rule, &err), STK_EINVAL, "nth is 1-based");
}

Test(rt_fake, delays_an_op_and_keeps_call_order_otherwise)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe slow = {0}, fast = {0};

    cr_assert_eq(do_create("a", "a"), 0);
    cr_assert_eq(do_create("b", "b"), 0);
    cr_assert_eq(rt_fake_set_delay(ctx, RT_FAKE_OP_START, 80, &err), 0);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    cr_assert_eq(rt_container_start(ctx, "a", probe_done, &slow, NULL, &err), 0);
    slow.returned = 1;
    cr_assert_eq(rt_container_state(ctx, "a", probe_done, &fast, NULL, &err), 0);
    fast.returned = 1;
    cr_assert_eq(wait_probe(&fast), 0);
    cr_assert_eq(slow.n, 0, "the delayed start completed before the later state");
    cr_assert_eq(fast.s.info.state, RT_STATE_CREATED, "start takes effect at completion");
    cr_assert_eq(wait_probe(&slow), 0);
    uv_update_time(&loop);
    cr_assert_geq(uv_now(&loop) - t0, 80);
    rt_sync_release(&fast.s);
    rt_sync_release(&slow.s);
    cr_assert_eq(ctr_state("a", NULL), RT_STATE_RUNNING);
}

struct exits {
    int n;
    char id[64];
    int code;
};

static void on_exit_hook(struct rt_ctx *c, const char *id, int code, void *userdata)
{
    struct exits *e = userdata;

    cr_assert_eq(c, ctx);
    e->n++;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->code = code;
}

Test(rt_fake, scripted_exits_stop_containers_after_a_delay)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};
    struct exits ex = {0};

    cr_assert_eq(rt_fake_set_exit_hook(ctx, on_exit_hook, &ex, &err), 0);
    cr_assert_eq(rt_fake_script_exit(ctx, "job", 3, 30, 1, &err), 0);
    cr_assert_eq(rt_fake_script_exit(ctx, "once", 0, 10, 0, &err), 0);
    cr_assert_eq(do_create("job-1-a", "job"), 0);
    cr_assert_eq(do_create("web-1-a", "web"), 0);
    cr_assert_eq(do_simple(OP_START, "job-1-a", 0), 0);
    cr_assert_eq(do_simple(OP_START, "web-1-a", 0), 0);
    cr_assert_eq(ctr_state("job-1-a", NULL), RT_STATE_RUNNING);
    while (ex.n == 0)
        cr_assert(uv_run(&loop, UV_RUN_ONCE) || ex.n, "the scripted exit never came");
    cr_assert_str_eq(ex.id, "job-1-a");
    cr_assert_eq(ex.code, 3);
    cr_assert_eq(ctr_state("job-1-a", &info), RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 3);
    cr_assert_eq(info.has_exit_code, 1);
    rt_container_info_release(&info);
    cr_assert_eq(ctr_state("web-1-a", NULL), RT_STATE_RUNNING, "web is not selected");

    /* count 1: the replacement keeps running. */
    cr_assert_eq(do_create("job-1-b", "job"), 0);
    cr_assert_eq(do_simple(OP_START, "job-1-b", 0), 0);
    cr_assert_eq(rt_fake_container_exit(ctx, "job-1-b", 42, &err), 0);
    cr_assert_eq(ex.n, 2, "only the manual exit after the rule was used up");
    cr_assert_eq(ex.code, 42);
    cr_assert_eq(rt_fake_container_exit(ctx, "job-1-b", 1, &err), STK_EINVAL);

    /* The service_completed_successfully case: name selector, exit 0. */
    struct rt_container_spec spec;
    struct probe p = {0};

    spec_init(&spec, "x-1", "x");
    free(spec.name);
    spec.name = stk_xstrdup("once");
    cr_assert_eq(rt_container_create(ctx, &spec, probe_done, &p, NULL, &err), 0);
    p.returned = 1;
    rt_container_spec_release(&spec);
    cr_assert_eq(wait_probe(&p), 0);
    rt_sync_release(&p.s);
    cr_assert_eq(do_simple(OP_START, "x-1", 0), 0);
    while (ex.n == 2)
        cr_assert(uv_run(&loop, UV_RUN_ONCE) || ex.n != 2, "the scripted exit never came");
    cr_assert_eq(ctr_state("x-1", &info), RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 0);
    cr_assert_eq(info.has_exit_code, 1);
    rt_container_info_release(&info);
}

Test(rt_fake, exec_returns_scripted_results)
{
    struct stk_err err = STK_ERR_INIT;
    const char *const check[] = {"pg_isready", "-h", "localhost", NULL};
    const char *const other[] = {"/bin/echo", "hi", NULL};
    char *out = NULL;
    int code = -1;

    cr_assert_eq(do_create("db-1", "db"), 0);
    cr_assert_eq(do_create("web-1", "web"), 0);
    cr_assert_eq(do_exec("db-1", check, 0, NULL, &code), STK_EINVAL, "exec in a created one");
    cr_assert_eq(do_simple(OP_START, "db-1", 0), 0);
    cr_assert_eq(do_simple(OP_START, "web-1", 0), 0);
    cr_assert_eq(do_exec("db-1", check, 0, &out, &code), 0);
    cr_assert_eq(code, 0, "default exit code");
    cr_assert_str_eq(out, "");
    free(out);

    cr_assert_eq(rt_fake_script_exec(ctx, "db", "pg_isready", 2, "no response", 0, 2, &err), 0);
    cr_assert_eq(rt_fake_script_exec(ctx, "db", "pg_isready -h", 0, "accepting", 0, 0, &err), 0);
    cr_assert_eq(rt_fake_script_exec(ctx, "db", "pg", 9, "never", 0, 0, &err), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(do_exec("db-1", check, 0, &out, &code), 0);
        cr_assert_eq(code, 2);
        cr_assert_str_eq(out, "no response");
        free(out);
    }
    cr_assert_eq(do_exec("db-1", check, 0, &out, &code), 0);
    cr_assert_eq(code, 0, "passes after two failures");
    cr_assert_str_eq(out, "accepting");
    free(out);
    cr_assert_eq(do_exec("db-1", other, 0, NULL, &code), 0);
    cr_assert_eq(code, 0, "'pg' is not a word prefix of /bin/echo");
    cr_assert_eq(do_exec("web-1", check, 0, NULL, &code), 0);
    cr_assert_eq(code, 0, "web is not selected");

    /* "health check always fails" and "health check hangs". */
    cr_assert_eq(rt_fake_script_exec(ctx, "web", NULL, 1, "down", 0, 1, &err), 0);
    cr_assert_eq(rt_fake_script_exec(ctx, "web", NULL, 0, "", 500, 0, &err), 0);
    cr_assert_eq(do_exec("web-1", other, 0, NULL, &code), 0);
    cr_assert_eq(code, 1);
    cr_assert_eq(do_exec("web-1", other, 50, NULL, &code), STK_ETIMEDOUT);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_EXEC), 9);
}

Test(rt_fake, counts_mutating_and_read_only_calls)
{
    struct stk_err err = STK_ERR_INIT;
    const char *const args[] = {"true", NULL};
    int code;

    cr_assert_eq(do_create("a", "a"), 0);
    cr_assert_eq(do_simple(OP_START, "a", 0), 0);
    cr_assert_eq(ctr_state("a", NULL), RT_STATE_RUNNING);
    cr_assert_eq(do_exec("a", args, 0, NULL, &code), 0);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_MUTATING), 2);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_ANY), 4);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_STATE), 1);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_STOP), 0);
    cr_assert_eq(rt_fake_calls_reset(ctx, &err), 0);
    cr_assert_eq(ctr_state("a", NULL), RT_STATE_RUNNING);
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_MUTATING), 0, "a read is not a mutation");
    cr_assert_eq(rt_fake_calls(ctx, RT_FAKE_OP_ANY), 1);
    cr_assert_eq(rt_fake_calls(NULL, RT_FAKE_OP_ANY), 0);
    cr_assert_eq(rt_fake_calls_reset(NULL, &err), STK_EINVAL);
}

Test(rt_fake, host_info_and_isolation)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe p = {0};

    cr_assert_eq(rt_host_info(ctx, probe_done, &p, NULL, &err), 0);
    p.returned = 1;
    cr_assert_eq(wait_probe(&p), 0);
    cr_assert_eq(p.s.kind, RT_RESULT_HOST_INFO);
    cr_assert_eq(p.s.host.available, 1);
    cr_assert_eq(p.s.host.isolations, 1u << RT_ISOLATION_PROCESS);
    cr_assert_eq(p.s.host.default_isolation, RT_ISOLATION_PROCESS);
    cr_assert_str_eq(p.s.host.os, "linux");
    cr_assert_str_eq(p.s.host.runtime, "fake");
    rt_sync_release(&p.s);
    cr_assert_eq(do_create_iso("h", "h", RT_ISOLATION_HYPERV, &err), STK_EUNAVAIL);
    stk_err_clear(&err);

    cr_assert_eq(rt_fake_set_hyperv(ctx, 1, &err), 0);
    cr_assert_eq(rt_fake_set_default_isolation(ctx, RT_ISOLATION_HYPERV, &err), 0);
    cr_assert_eq(rt_fake_set_available(ctx, 0, "no kvm", &err), 0);
    memset(&p, 0, sizeof(p));
    cr_assert_eq(rt_host_info(ctx, probe_done, &p, NULL, &err), 0);
    p.returned = 1;
    cr_assert_eq(wait_probe(&p), 0);
    cr_assert_eq(p.s.host.isolations, (1u << RT_ISOLATION_PROCESS) | (1u << RT_ISOLATION_HYPERV));
    cr_assert_eq(p.s.host.default_isolation, RT_ISOLATION_HYPERV);
    cr_assert_eq(p.s.host.available, 0);
    cr_assert_str_eq(p.s.host.reason, "no kvm");
    rt_sync_release(&p.s);
    cr_assert_eq(do_create_iso("h", "h", RT_ISOLATION_HYPERV, &err), 0);
}

Test(rt_fake, volumes_are_idempotent)
{
    struct stk_err err = STK_ERR_INIT;

    for (int i = 0; i < 2; i++) {
        struct probe p = {0};

        cr_assert_eq(rt_volume_create(ctx, "data", probe_done, &p, NULL, &err), 0);
        p.returned = 1;
        cr_assert_eq(wait_probe(&p), 0);
        cr_assert(rt_fake_volume_exists(ctx, "data"));
    }
    for (int i = 0; i < 2; i++) {
        struct probe p = {0};

        cr_assert_eq(rt_volume_remove(ctx, "data", probe_done, &p, NULL, &err), 0);
        p.returned = 1;
        cr_assert_eq(wait_probe(&p), 0);
        cr_assert_not(rt_fake_volume_exists(ctx, "data"));
    }
}

Test(rt_fake, fini_cancels_pending_requests)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe p = {0};

    cr_assert_eq(rt_fake_set_delay(ctx, RT_FAKE_OP_ANY, 5000, &err), 0);
    cr_assert_eq(rt_container_list(ctx, probe_done, &p, NULL, &err), 0);
    p.returned = 1;
    rt_ctx_free(ctx);
    ctx = NULL;
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.s.err.code, STK_ECANCELED);
    rt_sync_release(&p.s);
}

Test(rt_fake, state_file_survives_a_new_context)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};
    char *path = stk_xasprintf("%s/fake.json", tmpdir);
    int pid_a;

    cr_assert_eq(rt_fake_set_state_file(ctx, path, &err), 0, "%s", err.msg);
    cr_assert(stk_path_exists(path), "the file is written at once");
    cr_assert_eq(do_create("a", "web"), 0);
    cr_assert_eq(do_simple(OP_START, "a", 0), 0);
    cr_assert_eq(ctr_state("a", &info), RT_STATE_RUNNING);
    pid_a = info.pid;
    rt_container_info_release(&info);
    cr_assert_eq(do_create("b", "db"), 0);
    cr_assert_eq(rt_fake_script_exit(ctx, "late", 7, 60000, 0, &err), 0);
    cr_assert_eq(rt_fake_script_exit(ctx, "soon", 5, 20, 0, &err), 0);
    cr_assert_eq(do_create("c", "soon"), 0);
    cr_assert_eq(do_simple(OP_START, "c", 0), 0);
    cr_assert_eq(do_create("d", "late"), 0);
    cr_assert_eq(do_simple(OP_START, "d", 0), 0);
    {
        struct probe p = {0};

        cr_assert_eq(rt_volume_create(ctx, "vol", probe_done, &p, NULL, &err), 0);
        p.returned = 1;
        cr_assert_eq(wait_probe(&p), 0);
    }

    /* The process "dies": no fini runs before the file is read again. */
    struct rt_ctx *ctx2 =
        rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err);

    cr_assert_not_null(ctx2);
    usleep(50 * 1000); /* c's scripted exit is now overdue */
    cr_assert_eq(rt_fake_set_state_file(ctx2, path, &err), 0, "%s", err.msg);
    rt_ctx_free(ctx);
    ctx = ctx2;

    cr_assert_eq(ctr_state("a", &info), RT_STATE_RUNNING);
    cr_assert_eq(info.pid, pid_a);
    cr_assert_str_eq(rt_container_info_label(&info, RT_LABEL_SERVICE), "web");
    cr_assert_str_eq(info.name, "proj-web-1");
    rt_container_info_release(&info);
    cr_assert_eq(ctr_state("b", NULL), RT_STATE_CREATED);
    cr_assert_eq(ctr_state("c", &info), RT_STATE_STOPPED, "the overdue exit was applied");
    cr_assert_eq(info.exit_code, 5);
    rt_container_info_release(&info);
    cr_assert_eq(ctr_state("d", NULL), RT_STATE_RUNNING, "the pending exit is not due");
    cr_assert(rt_fake_volume_exists(ctx, "vol"));
    cr_assert_eq(do_simple(OP_START, "b", 0), 0);
    cr_assert_eq(ctr_state("b", &info), RT_STATE_RUNNING);
    cr_assert_gt(info.pid, pid_a, "PIDs stay unique across loads");
    rt_container_info_release(&info);

    /* A mutation in the new context is written too. */
    cr_assert_eq(do_simple(OP_DELETE, "a", 0), 0);
    char *text = NULL;

    cr_assert_eq(stk_file_read(path, &text, NULL, &err), 0);
    cr_assert_null(strstr(text, "\"a\""), "deleted container still in the file: %s", text);
    cr_assert_not_null(strstr(text, "\"b\""));
    free(text);

    cr_assert_eq(stk_file_write_atomic(path, "{", 1, 0644, 0, &err), 0);
    cr_assert_eq(rt_fake_set_state_file(ctx, path, &err), STK_EIO, "a corrupt file is an error");
    free(path);
}

Test(rt_fake, reads_its_configuration_from_the_environment)
{
    struct stk_err err = STK_ERR_INIT;
    char *path = stk_xasprintf("%s/env.json", tmpdir);
    struct probe p = {0};
    struct rt_ctx *c2;

    setenv("STACK_FAKE_FAIL", "create:2:runtime failure:boom: really,start:1+:ENOENT", 1);
    setenv("STACK_FAKE_HYPERV", "1", 1);
    setenv("STACK_FAKE_DELAY_MS", "state:30", 1);
    setenv("STACK_FAKE_STATE", path, 1);
    setenv("STACK_FAKE_EXEC", "web:1", 1);
    c2 = rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err);
    cr_assert_not_null(c2, "%s", err.msg);
    rt_ctx_free(ctx);
    ctx = c2;
    cr_assert(stk_path_exists(path));
    cr_assert_eq(do_create("a", "web"), 0);
    cr_assert_eq(do_create_iso("b", "web", RT_ISOLATION_HYPERV, &err), STK_ERUNTIME);
    cr_assert_str_eq(err.msg, "boom: really");
    stk_err_clear(&err);
    cr_assert_eq(do_create_iso("b", "web", RT_ISOLATION_HYPERV, &err), 0, "hyperv is offered");
    cr_assert_eq(do_simple(OP_START, "a", 0), STK_ENOENT);
    cr_assert_eq(do_simple(OP_START, "b", 0), STK_ENOENT, "1+ fails every later start");
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    cr_assert_eq(ctr_state("a", NULL), RT_STATE_CREATED);
    cr_assert_geq(uv_now(&loop) - t0, 30);
    (void)p;

    setenv("STACK_FAKE_FAIL", "create:zero", 1);
    cr_assert_null(rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err));
    cr_assert_eq(err.code, STK_EINVAL);
    cr_assert_not_null(strstr(err.msg, "STACK_FAKE_FAIL"), "%s", err.msg);
    setenv("STACK_FAKE_FAIL", "create:1:ENOTANERROR", 1);
    cr_assert_null(rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err));
    unsetenv("STACK_FAKE_FAIL");
    setenv("STACK_FAKE_EXIT", "web:3", 1);
    cr_assert_null(rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err));
    unsetenv("STACK_FAKE_EXIT");
    unsetenv("STACK_FAKE_EXEC");
    unsetenv("STACK_FAKE_STATE");
    unsetenv("STACK_FAKE_DELAY_MS");
    unsetenv("STACK_FAKE_HYPERV");
    free(path);
}

Test(rt_fake, environment_exec_and_exit_scripts)
{
    struct stk_err err = STK_ERR_INIT;
    const char *const args[] = {"curl", "-f", "http://localhost", NULL};
    struct rt_ctx *c2;
    struct rt_container_info info = {0};
    int code = -1;

    setenv("STACK_FAKE_EXEC", "web:1", 1);
    setenv("STACK_FAKE_EXIT", "job:4:10", 1);
    c2 = rt_ctx_new(&rt_driver_fake, &loop, tmpdir, tmpdir, "/bin/true", NULL, &err);
    cr_assert_not_null(c2, "%s", err.msg);
    rt_ctx_free(ctx);
    ctx = c2;
    cr_assert_eq(do_create("w", "web"), 0);
    cr_assert_eq(do_simple(OP_START, "w", 0), 0);
    cr_assert_eq(do_exec("w", args, 0, NULL, &code), 0);
    cr_assert_eq(code, 1, "health check always fails");
    cr_assert_eq(do_create("j", "job"), 0);
    cr_assert_eq(do_simple(OP_START, "j", 0), 0);
    usleep(20 * 1000);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(ctr_state("j", &info), RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 4);
    rt_container_info_release(&info);
}
