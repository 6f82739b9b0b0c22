/*
 * test-rt-hcs-monitor.c - the detached monitor of Windows containers
 * (runtime/hcs/hcs-monitor.c) with the hcs driver against the HCS emulator.
 *
 * The emulator lives in this process, so the monitor runs in a thread: the
 * driver's launcher hook (rt_hcs_ctx_set_monitor_launcher) starts
 * rt_hcs_monitor_run() — the code `stack internal hcs-monitor ID` runs on
 * Windows — and waits for its readiness. The process launcher
 * (rt_hcs_monitor_spawn) is tested separately with small scripts and with the
 * real `stack` binary, which on Linux reports HCS unavailable.
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
#include "runtime/hcs/hcs-monitor.h"
#include "runtime/hcs/hcs.h"
#include "tests/hcsemu/hcsemu.h"

#define BASE "sha256:b45e000000000000000000000000000000000000000000000000000000000001"
#define APP "sha256:a99000000000000000000000000000000000000000000000000000000000002"

static uv_loop_t loop;
static char tmp[] = "/tmp/stk-hcsmon-XXXXXX";
static struct rt_ctx *ctx;
static const struct hcs_api *mon_api; /* the table the monitors call through */

/* ---- the thread launcher ------------------------------------------------ */

struct mon {
    uv_thread_t thread;
    char *state_dir;
    char *id;
    uv_mutex_t lock;
    uv_cond_t cond;
    int ready_calls;
    int ready_r;
    struct stk_err ready_err;
    int finished;
    int run_r;
    struct stk_err run_err;
};

static struct mon *mons[16];
static int n_mons;

static void mon_ready(void *self, int r, const struct stk_err *err)
{
    struct mon *m = self;

    uv_mutex_lock(&m->lock);
    m->ready_calls++;
    m->ready_r = r;
    if (err)
        stk_err_set(&m->ready_err, err->code, err->os_code, "%s", err->msg);
    uv_cond_broadcast(&m->cond);
    uv_mutex_unlock(&m->lock);
}

static void mon_main(void *arg)
{
    struct mon *m = arg;
    int r = rt_hcs_monitor_run(mon_api, m->state_dir, m->id, mon_ready, m, &m->run_err);

    uv_mutex_lock(&m->lock);
    m->run_r = r;
    m->finished = 1;
    uv_cond_broadcast(&m->cond);
    uv_mutex_unlock(&m->lock);
}

static int thread_launcher(void *self, const char *state_dir, const char *run_dir, const char *id,
                           struct stk_err *err)
{
    struct mon *m = stk_new0(struct mon);
    int r = 0;

    (void)run_dir;
    cr_assert_eq(self, &loop, "the launcher gets its SELF back");
    cr_assert_lt(n_mons, 16);
    m->state_dir = stk_xstrdup(state_dir);
    m->id = stk_xstrdup(id);
    uv_mutex_init(&m->lock);
    uv_cond_init(&m->cond);
    mons[n_mons++] = m;
    cr_assert_eq(uv_thread_create(&m->thread, mon_main, m), 0);
    uv_mutex_lock(&m->lock);
    while (!m->ready_calls)
        if (uv_cond_timedwait(&m->cond, &m->lock, 10000000000ull) == UV_ETIMEDOUT)
            break;
    if (!m->ready_calls)
        r = stk_err_set(err, STK_ETIMEDOUT, 0, "the monitor of '%s' is not ready", id);
    else if (m->ready_r < 0)
        r = stk_err_set(err, m->ready_err.code, m->ready_err.os_code, "%s", m->ready_err.msg);
    uv_mutex_unlock(&m->lock);
    return r;
}

static struct mon *mon_of(const char *id)
{
    for (int i = n_mons - 1; i >= 0; i--)
        if (strcmp(mons[i]->id, id) == 0)
            return mons[i];
    return NULL;
}

/* Waits up to 10 s for the monitor of ID to return, then joins it. */
static struct mon *mon_join(const char *id)
{
    struct mon *m = mon_of(id);

    cr_assert_not_null(m, "a monitor was launched for '%s'", id);
    uv_mutex_lock(&m->lock);
    while (!m->finished)
        if (uv_cond_timedwait(&m->cond, &m->lock, 10000000000ull) == UV_ETIMEDOUT)
            break;
    uv_mutex_unlock(&m->lock);
    cr_assert(m->finished, "the monitor of '%s' returned", id);
    uv_thread_join(&m->thread);
    m->finished = 2; /* joined */
    return m;
}

/* ---- fixture ------------------------------------------------------------ */

static struct rt_ctx *new_ctx(const struct hcs_api *api)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_ctx *c = rt_hcs_ctx_new(&loop, tmp, tmp, "/usr/bin/stack", api, hcsemu_storage_api(),
                                      "10.0.20348", RT_HCS_EDITION_SERVER, &err);

    cr_assert_not_null(c, "%s", err.msg);
    rt_hcs_ctx_set_monitor_launcher(c, thread_launcher, &loop);
    return c;
}

static void free_ctx(void)
{
    rt_ctx_free(ctx);
    ctx = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmp));
    hcsemu_new("10.0.20348", "server");
    hcsemu_add_layer(BASE, "10.0.20348.2700", 1);
    hcsemu_add_layer(APP, "10.0.20348.2700", 0);
    mon_api = hcsemu_hcs_api();
    ctx = new_ctx(mon_api);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    if (ctx)
        free_ctx();
    /* A monitor still waiting (a failed test) is released by its process's exit. */
    for (int i = 0; i < n_mons; i++) {
        struct mon *m = mons[i];

        if (m->finished != 2) {
            hcsemu_exit_first_process(m->id, 255);
            uv_thread_join(&m->thread);
        }
        stk_err_clear(&m->ready_err);
        stk_err_clear(&m->run_err);
        uv_cond_destroy(&m->cond);
        uv_mutex_destroy(&m->lock);
        free(m->state_dir);
        free(m->id);
        free(m);
    }
    n_mons = 0;
    cr_expect_eq(uv_loop_close(&loop), 0);
    hcsemu_free();
    stk_rm_rf(tmp, &err);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
}

TestSuite(rt_hcs_monitor, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------ */

static struct rt_container_spec *spec_new(const char *id, const char *const *args)
{
    struct rt_container_spec *s = stk_new0(struct rt_container_spec);
    struct stk_strv v = STK_STRV_INIT;

    s->id = stk_xstrdup(id);
    s->name = stk_xasprintf("shop-%s-1", id);
    s->isolation = RT_ISOLATION_PROCESS;
    s->image_ref = stk_xstrdup("example/app:ltsc2022");
    stk_strv_push(&v, BASE);
    stk_strv_push(&v, APP);
    s->layer_digests = v.v;
    v = (struct stk_strv)STK_STRV_INIT;
    for (size_t i = 0; args[i]; i++)
        stk_strv_push(&v, args[i]);
    s->process.args = v.v;
    return s;
}

/* An exit command that writes its arguments into TMP/exited-ID. */
static void spec_set_exit_command(struct rt_container_spec *s)
{
    struct stk_strv v = STK_STRV_INIT;

    stk_strv_push(&v, "/bin/sh");
    stk_strv_push(&v, "-c");
    stk_strv_pushf(&v, "echo \"$@\" > %s/exited-%s", tmp, s->id);
    stk_strv_push(&v, "sh");
    stk_strv_push(&v, "internal");
    stk_strv_push(&v, "container-exited");
    stk_strv_push(&v, s->id);
    s->exit_command = v.v;
}

static int op_create(struct rt_container_spec *s, struct stk_err *err)
{
    struct rt_sync sy = RT_SYNC_INIT;
    int r =
        rt_sync_wait(&loop, &sy, rt_container_create(ctx, s, rt_sync_done, &sy, NULL, err), err);

    rt_sync_release(&sy);
    rt_container_spec_release(s);
    free(s);
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

static int op_stop(const char *id, struct stk_err *err)
{
    struct rt_sync sy = RT_SYNC_INIT;
    int r = rt_sync_wait(
        &loop, &sy, rt_container_stop(ctx, id, SIGTERM, 1000, rt_sync_done, &sy, NULL, err), err);

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

static json_t *record(const char *id)
{
    char *path = stk_xasprintf("%s/containers/%s/hcs.json", tmp, id);
    json_t *j = json_load_file(path, 0, NULL);

    free(path);
    return j;
}

/* Reads TMP/REL/ID (REL "" for a file directly in TMP); NULL when missing. */
static char *read_file(const char *rel, const char *id)
{
    char *path = stk_xasprintf("%s/%s%s", tmp, rel, id);
    char *data = NULL;

    if (stk_file_read(path, &data, NULL, NULL) < 0)
        data = NULL;
    free(path);
    return data;
}

/* Waits up to 5 s for the log of ID to contain NEEDLE; returns the log (caller frees) or NULL. */
static char *log_with(const char *id, const char *needle)
{
    for (int i = 0; i < 500; i++) {
        char *rel = stk_xasprintf("%s/ctr.log", id);
        char *data = read_file("containers/", rel);

        free(rel);

        if (data && strstr(data, needle))
            return data;
        free(data);
        usleep(10000);
    }
    return NULL;
}

/* Checks that every line of LOG is a k8s-file line "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ STREAM F|P ". */
static void assert_k8s_lines(const char *log)
{
    const char *p = log;

    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *sp = strchr(p, ' ');

        cr_assert_not_null(nl, "every line ends with a newline: %s", p);
        cr_assert_not_null(sp);
        cr_assert_eq(sp - p, 30, "an RFC 3339 timestamp with nanoseconds: %.*s", (int)(nl - p), p);
        cr_assert(p[4] == '-' && p[10] == 'T' && p[19] == '.' && p[29] == 'Z', "%.30s", p);
        cr_assert(strncmp(sp + 1, "stdout ", 7) == 0 || strncmp(sp + 1, "stderr ", 7) == 0, "%.*s",
                  (int)(nl - p), p);
        cr_assert(sp[8] == 'F' || sp[8] == 'P', "%.*s", (int)(nl - p), p);
        p = nl + 1;
    }
}

static const char *const server[] = {"C:\\app\\server.exe", "--port", "80", NULL};

/* ---- the tests ---------------------------------------------------------- */

Test(rt_hcs_monitor, output_logs_and_exit_outlive_the_cli)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_spec *s = spec_new("web", server);
    struct rt_container_info info;
    struct rt_sync sy = RT_SYNC_INIT;
    struct mon *m;
    char *log, *exited;
    json_t *rec;

    spec_set_exit_command(s);
    cr_assert_eq(op_create(s, &err), 0, "%s", err.msg);
    rec = record("web");
    cr_assert_eq(json_array_size(json_object_get(rec, "ExitCommand")), 7,
                 "the exit command is recorded for the monitor");
    json_decref(rec);
    cr_assert_eq(op_start("web", &err), 0, "%s", err.msg);
    cr_assert_eq(n_mons, 1, "start launched one monitor");
    cr_assert_eq(hcsemu_calls("create_process"), 1, "the monitor created the init process");
    rec = record("web");
    cr_assert_gt(json_integer_value(json_object_get(rec, "Pid")), 0);
    cr_assert_eq(json_integer_value(json_object_get(rec, "MonitorPid")), (json_int_t)getpid());
    cr_assert(json_object_get(rec, "Started"));
    json_decref(rec);
    cr_assert_eq(op_start("web", &err), STK_EINVAL, "a monitored container is already started");
    stk_err_clear(&err);

    log = log_with("web", " stdout F started C:\\app\\server.exe --port 80\r\n");
    cr_assert_not_null(log, "the init process's stdout reaches ctr.log as a k8s-file line");
    assert_k8s_lines(log);
    free(log);
    cr_assert_eq(rt_sync_wait(&loop, &sy,
                              rt_container_logs(ctx, "web", rt_sync_done, &sy, NULL, &err), &err),
                 0, "%s", err.msg);
    cr_assert(strstr(sy.log_path, "containers/web/ctr.log"), "%s", sy.log_path);
    rt_sync_release(&sy);
    op_state("web", &info);
    cr_assert_eq(info.state, RT_STATE_RUNNING);
    cr_assert_not(info.has_exit_code);
    cr_assert_gt(info.pid, 0);
    rt_container_info_release(&info);
    {
        static const char *const echo[] = {"cmd", "/c", "echo", "hi", NULL};
        struct rt_exec_opts o = {.args = echo, .capture = 1, .timeout_ms = 5000};

        cr_assert_eq(rt_sync_wait(&loop, &sy,
                                  rt_container_exec(ctx, "web", &o, rt_sync_done, &sy, NULL, &err),
                                  &err),
                     0, "exec into a monitored container: %s", err.msg);
        cr_assert_str_eq(sy.output, "hi\r\n");
        rt_sync_release(&sy);
    }

    /* The CLI that started it exits; the container and its monitor go on. */
    free_ctx();
    cr_assert_eq(hcsemu_count_processes_running(), 1);
    m = mon_of("web");
    uv_mutex_lock(&m->lock);
    cr_assert_not(m->finished, "the monitor waits for the process, not for the CLI");
    uv_mutex_unlock(&m->lock);
    cr_assert_eq(hcsemu_exit_first_process("web", 7), 0);
    m = mon_join("web");
    cr_assert_eq(m->run_r, 0, "%s", m->run_err.msg);
    cr_assert_eq(m->ready_calls, 1, "readiness is reported once");

    rec = record("web");
    cr_assert_eq(json_integer_value(json_object_get(rec, "ExitCode")), 7);
    cr_assert_gt(json_integer_value(json_object_get(rec, "Finished")),
                 json_integer_value(json_object_get(rec, "Started")));
    json_decref(rec);
    exited = read_file("exited-", "web");
    cr_assert_not_null(exited, "the monitor ran the exit command");
    cr_assert_str_eq(exited, "internal container-exited web\n");
    free(exited);

    /* A later CLI sees the exit the monitor recorded. */
    ctx = new_ctx(hcsemu_hcs_api());
    op_state("web", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert(info.has_exit_code);
    cr_assert_eq(info.exit_code, 7);
    cr_assert_gt(info.finished_ns, 0);
    cr_assert_eq(info.pid, 0);
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("web", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_open_handles(), 0, "the monitor closed its handles");
    cr_assert_eq(hcsemu_count_processes_running(), 0);
}

Test(rt_hcs_monitor, stop_reports_the_exit_the_monitor_recorded)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info;
    struct mon *m;
    char *log;

    cr_assert_eq(op_create(spec_new("api", server), &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("api", &err), 0, "%s", err.msg);
    cr_assert_eq(op_stop("api", &err), 0, "%s", err.msg);
    op_state("api", &info);
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert(info.has_exit_code, "stop returns once the monitor recorded the exit");
    cr_assert_eq(info.exit_code, 1067, "graceful shutdown (emulator's exit code)");
    rt_container_info_release(&info);
    m = mon_join("api");
    cr_assert_eq(m->run_r, 0, "%s", m->run_err.msg);
    cr_assert_null(read_file("exited-", "api"), "no exit command, none run");
    log = read_file("containers/", "api"
                                   "/ctr.log");
    cr_assert_not_null(log);
    cr_assert(strstr(log, " stdout F started C:\\app\\server.exe"), "%s", log);
    free(log);
    cr_assert_eq(op_delete("api", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
}

Test(rt_hcs_monitor, delete_of_a_running_container_waits_for_the_monitor)
{
    struct stk_err err = STK_ERR_INIT;
    struct mon *m;
    char *dir = stk_xasprintf("%s/containers/busy", tmp);

    cr_assert_eq(op_create(spec_new("busy", server), &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("busy", &err), 0, "%s", err.msg);
    /* Terminate, then remove the directory the monitor writes its exit into. */
    cr_assert_eq(op_delete("busy", &err), 0, "%s", err.msg);
    cr_assert_not(stk_path_exists(dir), "the directory is gone");
    m = mon_join("busy");
    cr_assert_eq(m->run_r, 0, "%s", m->run_err.msg);
    cr_assert_not(stk_path_exists(dir), "the monitor did not create it again");
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
    free(dir);
}

Test(rt_hcs_monitor, stderr_and_an_early_exit_without_the_wait_function)
{
    static const char *const bogus[] = {"cmd", "/c", "bogus", NULL};
    struct stk_err err = STK_ERR_INIT;
    struct hcs_api old = *hcsemu_hcs_api();
    struct rt_container_info info;
    struct mon *m;
    char *log;

    /* A host before Windows Server 2022: the monitor waits for the exit event. */
    old.wait_for_process_exit = NULL;
    mon_api = &old;
    free_ctx();
    ctx = new_ctx(&old);
    cr_assert_eq(op_create(spec_new("job", bogus), &err), 0, "%s", err.msg);
    cr_assert_eq(op_start("job", &err), 0, "%s", err.msg);
    m = mon_join("job");
    cr_assert_eq(m->run_r, 0, "%s", m->run_err.msg);
    cr_assert_gt(hcsemu_calls("set_process_callback"), 0, "the exit event was used");
    log = read_file("containers/", "job"
                                   "/ctr.log");
    cr_assert_not_null(log);
    cr_assert(strstr(log, " stderr F 'bogus' is not recognized as an internal or external "
                          "command\r\n"),
              "%s", log);
    assert_k8s_lines(log);
    free(log);
    op_state("job", &info);
    cr_assert(info.has_exit_code);
    cr_assert_eq(info.exit_code, 1, "the exit that happened before the callback was set");
    rt_container_info_release(&info);
    cr_assert_eq(op_delete("job", &err), 0, "%s", err.msg);
    free_ctx(); /* before OLD goes out of scope */
}

Test(rt_hcs_monitor, process_creation_failure_reaches_start)
{
    struct stk_err err = STK_ERR_INIT;
    struct mon *m;
    json_t *rec;

    cr_assert_eq(op_create(spec_new("nostart", server), &err), 0, "%s", err.msg);
    hcsemu_inject("create_process", (int32_t)0x80070002u); /* ERROR_FILE_NOT_FOUND */
    cr_assert_lt(op_start("nostart", &err), 0);
    cr_assert(strstr(err.msg, "start the process of 'nostart'"), "%s", err.msg);
    cr_assert_eq(err.os_code, (int)0x80070002u, "the HRESULT travels with readiness");
    stk_err_clear(&err);
    cr_assert_str_eq(hcsemu_system_state("nostart"), "Stopped",
                     "a silo without its process is not left running");
    m = mon_join("nostart");
    cr_assert_lt(m->run_r, 0);
    cr_assert_eq(m->ready_calls, 1);
    cr_assert_str_eq(m->run_err.msg, m->ready_err.msg);
    rec = record("nostart");
    cr_assert_null(json_object_get(rec, "Pid"), "nothing was recorded as started");
    cr_assert_null(json_object_get(rec, "MonitorPid"));
    json_decref(rec);
    cr_assert_eq(op_delete("nostart", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
}

Test(rt_hcs_monitor, a_monitor_without_its_compute_system_fails_clearly)
{
    struct stk_err err = STK_ERR_INIT;
    struct mon m0 = {.ready_calls = 0};
    char *dir = stk_xasprintf("%s/containers/ghost", tmp);
    char *path = stk_xasprintf("%s/hcs.json", dir);
    static const char rec[] = "{\"Id\":\"ghost\",\"Process\":{\"Args\":[\"C:\\\\app.exe\"],"
                              "\"Env\":[],\"Cwd\":\"\",\"User\":\"\"}}";

    uv_mutex_init(&m0.lock);
    uv_cond_init(&m0.cond);
    /* No record at all. */
    cr_assert_eq(rt_hcs_monitor_run(mon_api, tmp, "ghost", mon_ready, &m0, &err), STK_ENOENT);
    cr_assert_str_eq(err.msg, "the monitor of 'ghost': no such container");
    cr_assert_eq(m0.ready_calls, 1, "the launcher hears of it");
    cr_assert_eq(m0.ready_r, STK_ENOENT);
    stk_err_clear(&err);
    /* A record whose compute system is gone. */
    cr_assert_eq(stk_mkdir_p(dir, 0755, &err), 0, "%s", err.msg);
    cr_assert_eq(stk_file_write_atomic(path, rec, strlen(rec), 0644, 0, &err), 0, "%s", err.msg);
    cr_assert_lt(rt_hcs_monitor_run(mon_api, tmp, "ghost", mon_ready, &m0, &err), 0);
    cr_assert(strstr(err.msg, "the monitor of 'ghost': open compute system 'ghost'"), "%s",
              err.msg);
    cr_assert(stk_win_hresult_is_not_found(err.os_code), "0x%08x", (unsigned)err.os_code);
    cr_assert_eq(m0.ready_calls, 2);
    cr_assert_str_eq(m0.ready_err.msg, err.msg);
    cr_assert_eq(hcsemu_calls("create_process"), 0);
    cr_assert_null(read_file("containers/", "ghost"
                                            "/ctr.log"),
                   "no log was started");
    stk_err_clear(&err);
    stk_err_clear(&m0.ready_err);
    uv_cond_destroy(&m0.cond);
    uv_mutex_destroy(&m0.lock);
    free(dir);
    free(path);
}

/* ---- the process launcher ----------------------------------------------- */

static char *script(const char *name, const char *body)
{
    char *path = stk_xasprintf("%s/%s", tmp, name);
    char *text = stk_xasprintf("#!/bin/sh\n%s\n", body);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(stk_file_write_atomic(path, text, strlen(text), 0755, 0, &err), 0, "%s", err.msg);
    free(text);
    return path;
}

Test(rt_hcs_monitor, spawn_passes_the_arguments_and_reads_readiness)
{
    struct stk_err err = STK_ERR_INIT;
    char *body = stk_xasprintf("echo \"$@\" > %s/argv; echo ok; sleep 0.2", tmp);
    char *exe = script("ok.sh", body);
    char *argv = NULL, *want;

    cr_assert_eq(rt_hcs_monitor_spawn(exe, tmp, "/run/x", "web", 5000, &err), 0, "%s", err.msg);
    for (int i = 0; i < 200 && !(argv = read_file("", "argv")); i++)
        usleep(10000);
    want = stk_xasprintf("--state-dir=%s --run-dir=/run/x --runtime=hcs internal hcs-monitor web\n",
                         tmp);
    cr_assert_not_null(argv);
    cr_assert_str_eq(argv, want);
    free(argv);
    free(want);
    free(exe);
    free(body);
}

Test(rt_hcs_monitor, spawn_reports_the_monitors_error_silence_and_timeout)
{
    struct stk_err err = STK_ERR_INIT;
    char *exe = script("err.sh", "echo 'error -8 -2143878903 the monitor of '\\''x'\\'': gone'");

    cr_assert_eq(rt_hcs_monitor_spawn(exe, tmp, tmp, "x", 5000, &err), STK_EUNAVAIL);
    cr_assert_str_eq(err.msg, "the monitor of 'x': gone");
    cr_assert_eq(err.os_code, -2143878903);
    stk_err_clear(&err);
    free(exe);

    exe = script("mute.sh", "exit 3");
    cr_assert_eq(rt_hcs_monitor_spawn(exe, tmp, tmp, "x", 5000, &err), STK_ERUNTIME);
    cr_assert_str_eq(err.msg, "the monitor of 'x' ended without reporting readiness");
    stk_err_clear(&err);
    free(exe);

    /* exec: the PID the launcher kills on the timeout is the sleep itself, none is left. */
    exe = script("slow.sh", "exec sleep 30");
    cr_assert_eq(rt_hcs_monitor_spawn(exe, tmp, tmp, "x", 200, &err), STK_ETIMEDOUT);
    cr_assert_str_eq(err.msg, "the monitor of 'x' did not report readiness within 200 ms");
    stk_err_clear(&err);
    free(exe);

    cr_assert_eq(rt_hcs_monitor_spawn("/nonexistent/stack", tmp, tmp, "x", 5000, &err),
                 STK_ERUNTIME);
    cr_assert(strstr(err.msg, "the monitor of 'x': spawn /nonexistent/stack"), "%s", err.msg);
    stk_err_clear(&err);
}

Test(rt_hcs_monitor, the_real_stack_binary_reports_hcs_unavailable_to_start)
{
    struct stk_err err = STK_ERR_INIT;
    char *exe = stk_xasprintf("%s/orchestrator/stack", STK_BIN_DIR);

    cr_assert(stk_path_exists(exe), "%s is built", exe);
    /* `stack internal hcs-monitor ID` on Linux: no HCS, said over the readiness pipe. */
    cr_assert_eq(rt_hcs_monitor_spawn(exe, tmp, tmp, "web", 10000, &err), STK_EUNAVAIL, "%s",
                 err.msg);
    cr_assert_str_eq(err.msg, "the monitor of 'web': HCS is not available on this host");
    stk_err_clear(&err);
    free(exe);
}
