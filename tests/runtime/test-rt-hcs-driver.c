/*
 * test-rt-hcs-driver.c - the "hcs" runtime driver (runtime/hcs/hcs-driver.c)
 * through its whole life cycle against the HCS emulator (tests/hcsemu): the
 * real driver code, the emulated computecore.dll.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs.h"
#include "tests/hcsemu/hcsemu.h"

#define BASE "sha256:b45e000000000000000000000000000000000000000000000000000000000001"
#define APP "sha256:a99000000000000000000000000000000000000000000000000000000000002"
#define OLD "sha256:01d000000000000000000000000000000000000000000000000000000000003"

static uv_loop_t loop;
static char tmp[] = "/tmp/stk-hcs-XXXXXX";
static struct rt_ctx *ctx;

static struct rt_ctx *new_ctx(const struct hcs_api *api)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_ctx *c = rt_hcs_ctx_new(&loop, tmp, tmp, "/usr/bin/stack", api, hcsemu_storage_api(),
                                      "10.0.20348", RT_HCS_EDITION_SERVER, &err);

    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmp));
    hcsemu_new("10.0.20348", "server");
    hcsemu_add_layer(BASE, "10.0.20348.2700", 1);
    hcsemu_add_layer(APP, "10.0.20348.2700", 0);
    hcsemu_add_layer(OLD, "10.0.17763.5000", 1);
    ctx = new_ctx(hcsemu_hcs_api());
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    hcsemu_free();
    stk_rm_rf(tmp, &err);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
}

static struct rt_container_spec *spec_new(const char *id, enum rt_isolation iso, const char *base)
{
    struct rt_container_spec *s = stk_new0(struct rt_container_spec);
    struct stk_strv v = STK_STRV_INIT;

    s->id = stk_xstrdup(id);
    s->name = stk_xasprintf("shop-%s-1", id);
    s->isolation = iso;
    s->image_ref = stk_xstrdup("example/app:ltsc2022");
    stk_strv_push(&v, base);
    if (strcmp(base, BASE) == 0)
        stk_strv_push(&v, APP);
    s->layer_digests = v.v;
    s->hostname = stk_xstrdup(id);
    v = (struct stk_strv)STK_STRV_INIT;
    stk_strv_push(&v, "C:\\app\\server.exe");
    stk_strv_push(&v, "--port");
    stk_strv_push(&v, "80");
    s->process.args = v.v;
    v = (struct stk_strv)STK_STRV_INIT;
    stk_strv_push(&v, "MODE=prod");
    s->process.env = v.v;
    s->labels = stk_xcalloc(2, sizeof(struct rt_kv));
    s->labels[0] = (struct rt_kv){stk_xstrdup(RT_LABEL_PROJECT), stk_xstrdup("shop")};
    s->labels[1] = (struct rt_kv){stk_xstrdup(RT_LABEL_SERVICE), stk_xstrdup(id)};
    s->n_labels = 2;
    return s;
}

static void spec_free(struct rt_container_spec *s)
{
    rt_container_spec_release(s);
    free(s);
}

static int op_create(struct rt_container_spec *s, struct stk_err *err)
{
    struct rt_sync sy = RT_SYNC_INIT;
    int r =
        rt_sync_wait(&loop, &sy, rt_container_create(ctx, s, rt_sync_done, &sy, NULL, err), err);

    rt_sync_release(&sy);
    return r;
}

#define SIMPLE(name, call)                                                                         \
    static int name(const char *id, struct stk_err *err)                                           \
    {                                                                                              \
        struct rt_sync sy = RT_SYNC_INIT;                                                          \
        int r = rt_sync_wait(&loop, &sy, call(ctx, id, rt_sync_done, &sy, NULL, err), err);        \
        rt_sync_release(&sy);                                                                      \
        return r;                                                                                  \
    }
SIMPLE(op_start, rt_container_start)
SIMPLE(op_delete, rt_container_delete)

static int op_stop(const char *id, uint64_t grace, struct stk_err *err)
{
    struct rt_sync sy = RT_SYNC_INIT;
    int r = rt_sync_wait(
        &loop, &sy, rt_container_stop(ctx, id, SIGTERM, grace, rt_sync_done, &sy, NULL, err), err);

    rt_sync_release(&sy);
    return r;
}

static void op_state(const char *id, struct rt_container_info *ret)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;
    int r =
        rt_sync_wait(&loop, &sy, rt_container_state(ctx, id, rt_sync_done, &sy, NULL, &err), &err);

    cr_assert_eq(r, 0, "state '%s': %s", id, err.msg);
    rt_container_info_copy(ret, &sy.info);
    rt_sync_release(&sy);
}

static int op_exec(const char *id, const char *const *args, char **ret_out, int *ret_code,
                   struct stk_err *err)
{
    struct rt_exec_opts o = {.args = args, .capture = 1, .timeout_ms = 5000};
    struct rt_sync sy = RT_SYNC_INIT;
    int r =
        rt_sync_wait(&loop, &sy, rt_container_exec(ctx, id, &o, rt_sync_done, &sy, NULL, err), err);

    if (r == 0) {
        *ret_out = stk_xstrdup(sy.output);
        *ret_code = sy.exit_code;
    }
    rt_sync_release(&sy);
    return r;
}

/* Runs the loop until the log of ID contains NEEDLE (the pump threads write it). */
static int log_contains(const char *id, const char *needle)
{
    char *path = stk_xasprintf("%s/containers/%s/ctr.log", tmp, id);
    int found = 0;

    for (int i = 0; i < 500 && !found; i++) {
        char *data = NULL;

        if (stk_file_read(path, &data, NULL, NULL) == 0 && strstr(data, needle))
            found = 1;
        free(data);
        if (!found)
            usleep(10000);
    }
    free(path);
    return found;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* One loop iteration of at most 10 ms; the driver's uv_async handle is unreferenced. */
static void pump_loop(void)
{
    uv_timer_t t;

    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_tick, 10, 0);
    uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

TestSuite(rt_hcs_driver, .init = setup, .fini = teardown);

Test(rt_hcs_driver, process_isolated_full_life_cycle)
{
    struct rt_container_spec *s = spec_new("web", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};
    struct rt_sync sy = RT_SYNC_INIT;
    const char *echo[] = {"cmd", "/c", "echo", "hello", NULL};
    const char *fail3[] = {"cmd", "/c", "exit", "3", NULL};
    const char *bogus[] = {"cmd", "/c", "bogus", NULL};
    char *out = NULL, *path;
    json_t *doc;
    int code = -1;

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_str_eq(hcsemu_system_state("web"), "Created");
    doc = hcsemu_system_document("web");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "Owner")), "stack");
    cr_assert_not_null(json_object_get(doc, "Container"));
    json_decref(doc);
    path = stk_xasprintf("%s/containers/web/labels.json", tmp);
    cr_assert(stk_path_exists(path), "labels.json written (DESIGN.md §3)");
    free(path);
    op_state("web", &info);
    cr_assert_eq(info.state, RT_STATE_CREATED);
    rt_container_info_release(&info);

    cr_assert_eq(op_start("web", &err), 0, "%s", err.msg);
    op_state("web", &info);
    cr_assert_eq(info.state, RT_STATE_RUNNING);
    cr_assert_gt(info.pid, 0, "process isolation reports the host pid of the init process");
    cr_assert_str_eq(rt_container_info_label(&info, RT_LABEL_PROJECT), "shop");
    rt_container_info_release(&info);
    cr_assert_eq(op_start("web", &err), STK_EINVAL, "starting a running container is an error");

    cr_assert_eq(op_exec("web", echo, &out, &code, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out, "hello\r\n");
    cr_assert_eq(code, 0);
    free(out);
    cr_assert_eq(op_exec("web", fail3, &out, &code, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 3);
    free(out);
    cr_assert_eq(op_exec("web", bogus, &out, &code, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 1);
    cr_assert(strstr(out, "'bogus' is not recognized"), "stderr is captured too: %s", out);
    free(out);

    cr_assert_eq(
        rt_sync_wait(&loop, &sy, rt_container_top(ctx, "web", rt_sync_done, &sy, NULL, &err), &err),
        0, "%s", err.msg);
    cr_assert(strstr(sy.output, "server.exe"), "%s", sy.output);
    rt_sync_release(&sy);
    cr_assert(log_contains("web", "started C:\\app\\server.exe --port 80\r\n"),
              "the init process's stdout reaches ctr.log");
    cr_assert_eq(rt_sync_wait(&loop, &sy,
                              rt_container_logs(ctx, "web", rt_sync_done, &sy, NULL, &err), &err),
                 0, "%s", err.msg);
    cr_assert(strstr(sy.log_path, "containers/web/ctr.log"), "%s", sy.log_path);
    rt_sync_release(&sy);

    cr_assert_eq(op_stop("web", 1000, &err), 0, "%s", err.msg);
    op_state("web", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert(info.has_exit_code);
    cr_assert_eq(info.exit_code, 1067, "graceful shutdown (emulator's exit code)");
    rt_container_info_release(&info);
    cr_assert_eq(op_stop("web", 1000, &err), 0, "stopping a stopped container succeeds");
    cr_assert_eq(hcsemu_calls("terminate_compute_system"), 0, "graceful shutdown sufficed");

    cr_assert_eq(op_delete("web", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_scratches(), 0);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
    cr_assert_eq(op_delete("web", &err), 0, "deleting a missing container succeeds");
    spec_free(s);
}

/* MicrosoftDocs/Virtualization-Documentation#477: explicit UVM memory, the limit when set. */
Test(rt_hcs_driver, hyperv_life_cycle_with_explicit_uvm_memory)
{
    struct rt_container_spec *s = spec_new("legacy", RT_ISOLATION_HYPERV, OLD);
    struct rt_container_spec *s2 = spec_new("big", RT_ISOLATION_HYPERV, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};
    const char *echo[] = {"cmd", "/c", "echo", "in a VM", NULL};
    char *out = NULL;
    json_t *doc;
    int code = -1;

    s->pipes = stk_xcalloc(1, sizeof(struct rt_pipe));
    s->pipes[0] = (struct rt_pipe){stk_xstrdup("\\\\.\\pipe\\docker_engine"),
                                   stk_xstrdup("\\\\.\\pipe\\docker_engine")};
    s->n_pipes = 1;
    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 2, "the utility VM and the hosted container");
    doc = hcsemu_system_document("legacy@vm");
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(
                         json_object_get(json_object_get(doc, "VirtualMachine"), "ComputeTopology"),
                         "Memory"),
                     "SizeInMB")),
                 1024);
    json_decref(doc);
    doc = hcsemu_system_document("legacy");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "HostingSystemId")), "legacy@vm");
    json_decref(doc);
    cr_assert_eq(hcsemu_calls("modify_compute_system"), 1, "the pipe was mapped into the VM");

    s2->resources.memory_bytes = 2048LL * 1024 * 1024;
    cr_assert_eq(op_create(s2, &err), 0, "%s", err.msg);
    doc = hcsemu_system_document("big@vm");
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(
                         json_object_get(json_object_get(doc, "VirtualMachine"), "ComputeTopology"),
                         "Memory"),
                     "SizeInMB")),
                 2048);
    json_decref(doc);

    cr_assert_eq(op_start("legacy", &err), 0, "%s", err.msg);
    op_state("legacy", &info);
    cr_assert_eq(info.state, RT_STATE_RUNNING);
    cr_assert_eq(info.isolation, RT_ISOLATION_HYPERV);
    cr_assert_eq(info.pid, 0, "the host does not see the container's processes");
    rt_container_info_release(&info);
    cr_assert_eq(op_exec("legacy", echo, &out, &code, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out, "in a VM\r\n");
    free(out);
    cr_assert_eq(op_stop("legacy", 1000, &err), 0, "%s", err.msg);
    cr_assert_str_eq(hcsemu_system_state("legacy@vm"), "Stopped");
    cr_assert_eq(op_delete("legacy", &err), 0, "%s", err.msg);
    cr_assert_eq(op_delete("big", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
    cr_assert_eq(hcsemu_count_scratches(), 0);
    spec_free(s);
    spec_free(s2);
}

/*
 * moby/moby#35462 at run time: an ltsc2019 image under process isolation on a
 * 20348 host is refused by the driver before HCS is asked; the emulator,
 * asked directly, answers HCS_E_IMAGE_MISMATCH as HCS would.
 */
Test(rt_hcs_driver, os_mismatch_is_refused_before_create)
{
    struct rt_container_spec *s = spec_new("old", RT_ISOLATION_PROCESS, OLD);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(op_create(s, &err), STK_EIMAGE);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "20348"), "%s", err.msg);
    cr_assert(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
    cr_assert_eq(hcsemu_calls("create_compute_system"), 0);
    cr_assert_eq(hcsemu_count_scratches(), 0, "the prepared scratch was released");
    spec_free(s);
}

Test(rt_hcs_driver, shutdown_falls_back_to_terminate)
{
    struct rt_container_spec *s = spec_new("stuck", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("stuck", &err), 0, "%s", err.msg);
    hcsemu_inject("shutdown_compute_system", HCSEMU_NEVER_COMPLETES);
    cr_assert_eq(op_stop("stuck", 100, &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_calls("terminate_compute_system"), 1);
    op_state("stuck", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 1, "forced exit (emulator's exit code)");
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("stuck", &err), 0, "%s", err.msg);
    spec_free(s);
}

Test(rt_hcs_driver, init_exit_is_notified_through_uv_async)
{
    struct rt_container_spec *s = spec_new("job", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};
    char *path = stk_xasprintf("%s/containers/job/hcs.json", tmp);
    json_t *rec = NULL;

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("job", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_exit_first_process("job", 7), 0);
    /* The exit arrives on the emulator's thread; the loop records it. */
    for (int i = 0; i < 500 && !json_object_get(rec, "ExitCode"); i++) {
        json_decref(rec);
        pump_loop();
        rec = json_load_file(path, 0, NULL);
        if (!json_object_get(rec, "ExitCode"))
            usleep(10000);
    }
    cr_assert_eq(json_integer_value(json_object_get(rec, "ExitCode")), 7);
    json_decref(rec);
    op_state("job", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 7);
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("job", &err), 0, "%s", err.msg);
    free(path);
    spec_free(s);
}

/* Hosts before Server 2022 lack HcsWaitForProcessExit: the exit event is used instead. */
Test(rt_hcs_driver, exec_without_the_optional_wait_function)
{
    static struct hcs_api old;
    struct rt_container_spec *s = spec_new("w", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    const char *args[] = {"cmd", "/S", "/C", "exit 42", NULL};
    char *out = NULL;
    int code = -1;

    old = *hcsemu_hcs_api();
    old.wait_for_process_exit = NULL;
    old.wait_for_compute_system_exit = NULL;
    rt_ctx_free(ctx);
    ctx = new_ctx(&old);
    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("w", &err), 0, "%s", err.msg);
    cr_assert_eq(op_exec("w", args, &out, &code, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 42);
    free(out);
    cr_assert_eq(op_delete("w", &err), 0, "%s", err.msg);
    spec_free(s);
}

Test(rt_hcs_driver, a_later_process_adopts_containers_from_the_records)
{
    struct rt_container_spec *s = spec_new("api", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("api", &err), 0, "%s", err.msg);
    /* The CLI exits: its handles close, the container keeps running. */
    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_str_eq(hcsemu_system_state("api"), "Running");
    ctx = new_ctx(hcsemu_hcs_api());
    cr_assert_eq(
        rt_sync_wait(&loop, &sy, rt_container_list(ctx, rt_sync_done, &sy, NULL, &err), &err), 0,
        "%s", err.msg);
    cr_assert_eq(sy.list.n, 1);
    cr_assert_str_eq(sy.list.items[0].id, "api");
    cr_assert_eq(sy.list.items[0].state, RT_STATE_RUNNING);
    cr_assert_str_eq(rt_container_info_label(&sy.list.items[0], RT_LABEL_SERVICE), "api");
    rt_sync_release(&sy);
    cr_assert_eq(op_stop("api", 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(op_delete("api", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    spec_free(s);
}

Test(rt_hcs_driver, duplicate_ids_and_bad_documents_are_refused)
{
    struct rt_container_spec *s = spec_new("dup", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_create(s, &err), STK_EEXIST);
    cr_assert_eq(op_delete("dup", &err), 0, "%s", err.msg);
    /* The emulator refuses a namespace that does not exist; the error keeps HCS's document. */
    free(s->sandbox);
    s->sandbox = stk_xstrdup("11111111-2222-4333-8444-555555555555");
    stk_err_clear(&err);
    cr_assert_eq(op_create(s, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "HCS_E_INVALID_JSON"), "%s", err.msg);
    cr_assert_not_null(err.detail);
    cr_assert(strstr(err.detail, "does not exist"), "%s", err.detail);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_scratches(), 0);
    stk_err_clear(&err);
    spec_free(s);
}

Test(rt_hcs_driver, sharing_a_namespace_with_hyperv_is_refused)
{
    const struct hcn_api *hcn = hcsemu_hcn_api();
    struct rt_container_spec *a = spec_new("web", RT_ISOLATION_PROCESS, BASE);
    struct rt_container_spec *b = spec_new("side", RT_ISOLATION_HYPERV, BASE);
    struct rt_container_spec *c = spec_new("side2", RT_ISOLATION_PROCESS, BASE);
    struct hcn_namespace *ns = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *props = NULL, *rec = NULL;
    json_t *j;

    cr_assert_eq(hcn->create_namespace(NET_HNS_NULL_GUID,
                                       "{\"SchemaVersion\":{\"Major\":2,"
                                       "\"Minor\":0}}",
                                       &ns, &rec),
                 0);
    cr_assert_eq(hcn->query_namespace_properties(ns, NULL, &props, &rec), 0);
    j = json_loads(props, 0, NULL);
    a->sandbox = stk_xstrdup(json_string_value(json_object_get(j, "ID")));
    b->sandbox = stk_xstrdup(a->sandbox);
    c->sandbox = stk_xstrdup(a->sandbox);
    json_decref(j);
    free(props);
    cr_assert_eq(op_create(a, &err), 0, "%s", err.msg);
    cr_assert_eq(op_create(b, &err), STK_ENOTSUP);
    cr_assert(strstr(err.msg, "Hyper-V"), "%s", err.msg);
    cr_assert_eq(op_create(c, &err), 0, "process-isolated joiners share it: %s", err.msg);
    cr_assert_eq(op_delete("web", &err), 0, "%s", err.msg);
    cr_assert_eq(op_delete("side2", &err), 0, "%s", err.msg);
    hcn->close_namespace(ns);
    spec_free(a);
    spec_free(b);
    spec_free(c);
}

Test(rt_hcs_driver, host_info_reports_build_edition_and_default)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;

    cr_assert_eq(rt_sync_wait(&loop, &sy, rt_host_info(ctx, rt_sync_done, &sy, NULL, &err), &err),
                 0, "%s", err.msg);
    cr_assert(sy.host.available);
    cr_assert_str_eq(sy.host.os_build, "10.0.20348");
    cr_assert_str_eq(sy.host.edition, "server");
    cr_assert_eq(sy.host.default_isolation, RT_ISOLATION_PROCESS);
    cr_assert(strstr(sy.host.runtime_version, "schema 2.1"), "%s", sy.host.runtime_version);
    rt_sync_release(&sy);
}

/* Without an HCS table the driver says so, and never touches anything. */
Test(rt_hcs_driver, without_hcs_the_driver_reports_unavailable)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_ctx *bare = rt_ctx_new(&rt_driver_hcs, &loop, tmp, tmp, "stack", NULL, &err);
    struct rt_container_spec *s = spec_new("x", RT_ISOLATION_PROCESS, BASE);
    struct rt_sync sy = RT_SYNC_INIT;

    cr_assert_not_null(bare, "%s", err.msg);
    cr_assert_eq(rt_sync_wait(&loop, &sy, rt_host_info(bare, rt_sync_done, &sy, NULL, &err), &err),
                 0);
    cr_assert_not(sy.host.available);
    cr_assert_str_eq(sy.host.reason, "HCS is not available on this host");
    rt_sync_release(&sy);
    cr_assert_eq(rt_container_create(bare, s, rt_sync_done, &sy, NULL, &err), STK_EUNAVAIL);
    cr_assert_str_eq(err.msg, "HCS is not available on this host");
    rt_ctx_free(bare);
    spec_free(s);
}

/* SIGKILL terminates (moby task.Kill); another signal shuts down gracefully. */
Test(rt_hcs_driver, kill_maps_sigkill_to_terminate)
{
    struct rt_container_spec *s = spec_new("k", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;
    struct rt_container_info info = {0};

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("k", &err), 0, "%s", err.msg);
    cr_assert_eq(rt_sync_wait(&loop, &sy,
                              rt_container_kill(ctx, "k", SIGKILL, rt_sync_done, &sy, NULL, &err),
                              &err),
                 0, "%s", err.msg);
    rt_sync_release(&sy);
    cr_assert_eq(hcsemu_calls("terminate_compute_system"), 1);
    cr_assert_eq(hcsemu_calls("shutdown_compute_system"), 0);
    op_state("k", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 1);
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("k", &err), 0, "%s", err.msg);
    spec_free(s);
}

/*
 * Observed state is rebuilt from HCS: a compute system owned by the product
 * whose records were lost is still listed (without labels), so that cleanup
 * can find it; one owned by someone else is not.
 */
Test(rt_hcs_driver, list_includes_owned_systems_without_records)
{
    const struct hcs_api *api = hcsemu_hcs_api();
    struct rt_container_spec *s = spec_new("lost", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;
    struct hcs_system *other = NULL;
    struct hcs_operation *op;
    char *path;
    json_t *doc;
    char *docs;

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    /* Someone else's container on the same host. */
    doc = hcsemu_system_document("lost");
    json_object_set_new(doc, "Owner", json_string("docker"));
    docs = json_dumps(doc, JSON_COMPACT);
    op = api->create_operation(NULL, NULL);
    cr_assert_eq(api->create_compute_system("theirs", docs, op, &other), 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), 0);
    api->close_operation(op);
    free(docs);
    json_decref(doc);
    /* The state directory is lost. */
    path = stk_xasprintf("%s/containers/lost", tmp);
    cr_assert_eq(stk_rm_rf(path, &err), 0);
    free(path);
    cr_assert_eq(
        rt_sync_wait(&loop, &sy, rt_container_list(ctx, rt_sync_done, &sy, NULL, &err), &err), 0,
        "%s", err.msg);
    cr_assert_eq(sy.list.n, 1);
    cr_assert_str_eq(sy.list.items[0].id, "lost");
    cr_assert_eq(sy.list.items[0].state, RT_STATE_CREATED);
    cr_assert_eq(sy.list.items[0].n_labels, 0);
    rt_sync_release(&sy);
    cr_assert_eq(op_delete("lost", &err), 0, "%s", err.msg);
    api->close_compute_system(other);
    spec_free(s);
}

/*
 * docker/compose#5181, #9403, #12757/#12778: a named-pipe volume
 * (\\.\pipe\docker_engine, with or without a trailing backslash) reaches the
 * silo as a MappedPipe, never as a directory mapping.
 */
Test(rt_hcs_driver, compose_npipe_volumes_become_mapped_pipes)
{
    struct rt_container_spec *s = spec_new("pipes", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    json_t *doc, *c, *p;

    s->pipes = stk_xcalloc(1, sizeof(struct rt_pipe));
    s->pipes[0] = (struct rt_pipe){stk_xstrdup("\\\\.\\pipe\\docker_engine\\"),
                                   stk_xstrdup("\\\\.\\pipe\\docker_engine\\")};
    s->n_pipes = 1;
    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    doc = hcsemu_system_document("pipes");
    c = json_object_get(doc, "Container");
    cr_assert_null(json_object_get(c, "MappedDirectories"));
    p = json_array_get(json_object_get(c, "MappedPipes"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "ContainerPipeName")), "docker_engine");
    cr_assert_str_eq(json_string_value(json_object_get(p, "HostPath")),
                     "\\\\.\\pipe\\docker_engine");
    json_decref(doc);
    cr_assert_eq(op_delete("pipes", &err), 0, "%s", err.msg);
    spec_free(s);
}

/* A start whose process cannot be created fails with HCS's error and leaves nothing running. */
Test(rt_hcs_driver, failed_process_start_is_reported_and_stopped)
{
    struct rt_container_spec *s = spec_new("nostart", RT_ISOLATION_PROCESS, BASE);
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info = {0};

    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    hcsemu_inject("create_process", (int32_t)0x80070002u); /* ERROR_FILE_NOT_FOUND */
    cr_assert_eq(op_start("nostart", &err), STK_ENOENT);
    cr_assert(strstr(err.msg, "start the process of 'nostart'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "0x80070002"), "%s", err.msg);
    cr_assert_str_eq(hcsemu_system_state("nostart"), "Stopped");
    op_state("nostart", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("nostart", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    stk_err_clear(&err);
    spec_free(s);
}

/*
 * microsoft/Windows-Containers#399 against the emulator: a Windows 10 22H2
 * client host (19045), nanoserver:1809 (17763). Under process isolation the
 * driver refuses it before HCS is asked and suggests hyperv; host_info says
 * the client default is hyperv, and under hyperv the container runs.
 */
Test(rt_hcs_driver, windows_containers_399_on_an_emulated_client_host)
{
    struct rt_container_spec *s = spec_new("nano", RT_ISOLATION_PROCESS, OLD);
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;
    struct rt_container_info info = {0};

    rt_ctx_free(ctx);
    hcsemu_free();
    hcsemu_new("10.0.19045", "client");
    hcsemu_add_layer(OLD, "10.0.17763.5122", 1);
    ctx = rt_hcs_ctx_new(&loop, tmp, tmp, "/usr/bin/stack", hcsemu_hcs_api(), hcsemu_storage_api(),
                         "10.0.19045", RT_HCS_EDITION_CLIENT, &err);
    cr_assert_not_null(ctx, "%s", err.msg);

    cr_assert_eq(rt_sync_wait(&loop, &sy, rt_host_info(ctx, rt_sync_done, &sy, NULL, &err), &err),
                 0);
    cr_assert_str_eq(sy.host.edition, "client");
    cr_assert_eq(sy.host.default_isolation, RT_ISOLATION_HYPERV);
    rt_sync_release(&sy);

    cr_assert_eq(op_create(s, &err), STK_EIMAGE);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "19045") &&
                  strstr(err.msg, "isolation: hyperv"),
              "%s", err.msg);
    cr_assert_eq(hcsemu_calls("create_compute_system"), 0);

    s->isolation = RT_ISOLATION_HYPERV;
    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("nano", &err), 0, "%s", err.msg);
    op_state("nano", &info);
    cr_assert_eq(info.state, RT_STATE_RUNNING);
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("nano", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    spec_free(s);
}

/*
 * The emulated HCS itself refuses a mismatched image when asked directly
 * (what moby/moby#35462 hit inside CreateContainer): 0x80370101 in the
 * driver's error, with HCS's result document kept as the detail.
 */
Test(rt_hcs_driver, emulated_hcs_reports_image_mismatch_with_its_document)
{
    const struct hcs_api *api = hcsemu_hcs_api();
    struct hcs_system *sys = NULL;
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    struct stk_err err = STK_ERR_INIT;
    char *result = NULL;
    char *doc = stk_xasprintf(
        "{\"Owner\":\"stack\",\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Container\":{"
        "\"Storage\":{\"Layers\":[{\"Id\":\"6f1d3c2a-0000-5000-8000-00000000b002\",\"Path\":"
        "\"C:\\\\ProgramData\\\\stack\\\\windowsfilter\\\\%.12s\"}],\"Path\":"
        "\"\\\\\\\\?\\\\Volume{3e0f6d4b-1111-4a2b-9c3d-0123456789ab}\\\\\"}}}",
        strchr(OLD, ':') + 1);
    int32_t hr = api->create_compute_system("nano1809", doc, op, &sys);

    if (hr >= 0)
        hr = api->wait_for_operation_result(op, 1000, &result);
    cr_assert_eq(stk_err_set_hresult(&err, hr, result, "create compute system '%s'", "nano1809"),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "HCS_E_IMAGE_MISMATCH, 0x80370101"), "%s", err.msg);
    cr_assert(strstr(err.detail, "does not match the host"), "%s", err.detail);
    stk_err_clear(&err);
    free(result);
    free(doc);
    api->close_operation(op);
    api->close_compute_system(sys);
}
