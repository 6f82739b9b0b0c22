/*
 * hcs-monitor.c - the detached monitor of a Windows container (DESIGN.md §3,
 * issue 5 item 5; see hcs-monitor.h), its process launcher and the pieces the
 * driver shares with it (the ProcessParameters of a recorded process, the
 * k8s-file log writer).
 */
#include "runtime/hcs/hcs-monitor.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs.h"

/* The wait for HcsCreateProcess (reference §3.1 step 5), as the driver's calls. */
#define MON_TIMEOUT_MS 300000u
/* A log line longer than this is written in "P" (partial) pieces. */
#define MON_LINE_MAX 16384

/* Append, and not inherited by child processes (STYLE.md rule 23): "e" in glibc, "N" in the CRT. */
#ifdef _WIN32
#define MON_LOG_MODE "abN"
#else
#define MON_LOG_MODE "abe"
#endif

/* ---- shared with the driver --------------------------------------------- */

static char **strv_of_json(json_t *a)
{
    struct stk_strv v = STK_STRV_INIT;
    size_t i;
    json_t *x;

    stk_strv_init(&v);
    json_array_foreach(a, i, x) stk_strv_push(&v, json_string_value(x) ? json_string_value(x) : "");
    return v.v;
}

int rt_hcs_process_params(json_t *proc, const char *const *extra_env, const char *cwd,
                          const char *const *args, int out, int errp, char **ret_doc,
                          struct stk_err *err)
{
    char **rargs = strv_of_json(json_object_get(proc, "Args"));
    char **renv = strv_of_json(json_object_get(proc, "Env"));
    struct rt_hcs_process_config pc = {0};
    json_t *doc = NULL;
    int r;

    pc.args = args ? args : (const char *const *)rargs;
    pc.env = (const char *const *)renv;
    pc.env_extra = extra_env;
    pc.cwd = cwd && *cwd ? cwd : json_string_value(json_object_get(proc, "Cwd"));
    pc.user = json_string_value(json_object_get(proc, "User"));
    pc.stdout_pipe = out;
    pc.stderr_pipe = errp;
    r = rt_hcs_doc_process(&pc, &doc, err);
    if (r == 0)
        *ret_doc = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    stk_strv_free(rargs);
    stk_strv_free(renv);
    return r;
}

/* Writes one k8s-file line: "2026-11-29T18:03:16.123456789Z stdout F text\n". */
static void log_line(FILE *f, const char *stream, const char *tag, const char *text, size_t n)
{
    uv_timeval64_t tv = {0, 0};
    struct tm tm;
    time_t t;
    char ts[40];

    uv_gettimeofday(&tv);
    t = (time_t)tv.tv_sec;
#ifdef _WIN32
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: the two streams append to the same file. */
    fprintf(f, "%s.%09ldZ %s %s %.*s\n", ts, (long)tv.tv_usec * 1000L, stream, tag, (int)n, text);
    fflush(f);
}

void rt_hcs_log_copy(const struct hcs_api *api, intptr_t h, FILE *f, const char *stream)
{
    char buf[4096];
    char *line = stk_xmalloc(MON_LINE_MAX);
    size_t len = 0;
    uint32_t n;

    while (api->read_handle(h, buf, sizeof(buf), &n) >= 0 && n > 0) {
        for (uint32_t i = 0; i < n && f; i++) {
            if (buf[i] == '\n') {
                log_line(f, stream, "F", line, len);
                len = 0;
                continue;
            }
            if (len == MON_LINE_MAX) {
                log_line(f, stream, "P", line, len);
                len = 0;
            }
            line[len++] = buf[i];
        }
    }
    if (f && len)
        log_line(f, stream, "P", line, len);
    if (f)
        fclose(f);
    api->close_handle(h);
    free(line);
}

/* ---- records ------------------------------------------------------------ */

static char *rec_path(const char *state_dir, const char *id)
{
    return stk_xasprintf("%s/containers/%s/hcs.json", state_dir, id);
}

/*
 * Merges SET (stolen) into ID's record and deletes the keys DEL (NULL-terminated,
 * may be NULL). A record that is gone (the container was deleted) is not
 * written again: STK_ENOENT.
 */
static int rec_update(const char *state_dir, const char *id, json_t *set, const char *const *del,
                      struct stk_err *err)
{
    char *path = rec_path(state_dir, id), *s = NULL;
    json_t *j = json_load_file(path, 0, NULL);
    int r;

    if (!j) {
        r = stk_err_set(err, STK_ENOENT, 0, "the record of '%s' is gone", id);
        goto out;
    }
    json_object_update(j, set);
    for (size_t i = 0; del && del[i]; i++)
        json_object_del(j, del[i]);
    s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    r = stk_file_write_atomic(path, s, strlen(s), 0644, 0, err);
out:
    json_decref(set);
    json_decref(j);
    free(s);
    free(path);
    return r;
}

static int64_t now_ns(void)
{
    uv_timeval64_t tv;

    if (uv_gettimeofday(&tv) < 0)
        return 0;
    return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

/* ---- the exit ----------------------------------------------------------- */

static int exit_code_of(const char *status, int *ret_code)
{
    json_t *j = status ? json_loads(status, 0, NULL) : NULL;
    int ok = 0;

    /* ExitCode is valid only when Exited and LastWaitResult is S_OK (reference §3.1 step 6). */
    if (j && json_is_true(json_object_get(j, "Exited")) &&
        json_integer_value(json_object_get(j, "LastWaitResult")) == 0) {
        *ret_code = (int)(uint32_t)json_integer_value(json_object_get(j, "ExitCode"));
        ok = 1;
    }
    json_decref(j);
    return ok;
}

struct mon_wait {
    uv_mutex_t lock;
    uv_cond_t cond;
    int exited;
    int code;
};

/* HCS thread: the init process exited. */
static void on_exit_event(const struct hcs_event *ev, void *context)
{
    struct mon_wait *mw = context;
    int code = -1;

    if (ev->type != HCS_EVENT_PROCESS_EXITED)
        return;
    if (!exit_code_of(ev->event_data, &code))
        code = -1;
    uv_mutex_lock(&mw->lock);
    if (!mw->exited) {
        mw->exited = 1;
        mw->code = code;
    }
    uv_cond_signal(&mw->cond);
    uv_mutex_unlock(&mw->lock);
}

static int32_t process_status(const struct hcs_api *api, struct hcs_process *proc,
                              char **ret_result)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    int32_t hr = op ? api->get_process_properties(proc, op, NULL) : STK_WIN_E_OUTOFMEMORY;

    *ret_result = NULL;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result(op, MON_TIMEOUT_MS, ret_result);
    if (op)
        api->close_operation(op);
    return hr;
}

/*
 * Waits without a time limit for PROC's exit: HcsWaitForProcessExit where the
 * host has it, else the exit event MW was registered for. Returns the exit
 * code, -1 when HCS reported none.
 */
static int wait_exit(const struct hcs_api *api, struct hcs_process *proc, struct mon_wait *mw)
{
    char *result = NULL;
    int code = -1;

    if (api->wait_for_process_exit) {
        if (api->wait_for_process_exit(proc, HCS_INFINITE, &result) < 0 ||
            !exit_code_of(result, &code))
            code = -1;
        api->free_string(result);
        return code;
    }
    /* It may have exited before the callback was set. */
    if (process_status(api, proc, &result) >= 0 && exit_code_of(result, &code)) {
        uv_mutex_lock(&mw->lock);
        if (!mw->exited) {
            mw->exited = 1;
            mw->code = code;
        }
        uv_mutex_unlock(&mw->lock);
    }
    api->free_string(result);
    uv_mutex_lock(&mw->lock);
    while (!mw->exited)
        uv_cond_wait(&mw->cond, &mw->lock);
    code = mw->code;
    uv_mutex_unlock(&mw->lock);
    /* No more events into MW once the callback is cleared. */
    api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, NULL, NULL);
    return code;
}

static void on_cmd_exit(uv_process_t *h, int64_t status, int term_signal)
{
    int64_t *st = h->data;

    st[0] = 1;
    st[1] = term_signal ? 128 + term_signal : status;
    uv_close((uv_handle_t *)h, NULL);
}

/* Runs ARGV (the exit command) with stdio ignored and waits for it. */
static int run_exit_command(char *const *argv, struct stk_err *err)
{
    uv_loop_t loop;
    uv_process_t proc;
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    int64_t st[2] = {0, 0};
    int r;

    if (uv_loop_init(&loop) < 0)
        return stk_err_set(err, STK_ERUNTIME, 0, "exit command: no event loop");
    memset(&o, 0, sizeof(o));
    for (int i = 0; i < 3; i++)
        io[i].flags = UV_IGNORE;
    o.file = argv[0];
    o.args = (char **)argv;
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = on_cmd_exit;
    o.flags = UV_PROCESS_WINDOWS_HIDE;
    proc.data = st;
    r = uv_spawn(&loop, &proc, &o);
    if (r < 0) {
        uv_close((uv_handle_t *)&proc, NULL);
        r = stk_err_set(err, STK_ERUNTIME, 0, "exit command '%s': %s", argv[0], uv_strerror(r));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r == 0 && st[1] != 0)
        r = stk_err_set(err, STK_ERUNTIME, 0, "exit command '%s' exited with %lld", argv[0],
                        (long long)st[1]);
    return r;
}

/* ---- the monitor -------------------------------------------------------- */

struct mon_pump {
    const struct hcs_api *api;
    intptr_t h;
    FILE *f;
    const char *stream;
};

static void mon_pump_run(void *arg)
{
    struct mon_pump *mp = arg;

    rt_hcs_log_copy(mp->api, mp->h, mp->f, mp->stream);
}

int rt_hcs_monitor_run(const struct hcs_api *api, const char *state_dir, const char *id,
                       rt_hcs_monitor_ready_fn *ready, void *ready_self, struct stk_err *err)
{
    static const char *const fresh[] = {"ExitCode", "Finished", NULL};
    struct hcs_process_information info = {0};
    struct hcs_system *sys = NULL;
    struct hcs_process *proc = NULL;
    struct hcs_operation *op;
    struct mon_wait mw = {.exited = 0};
    struct mon_pump pumps[2];
    uv_thread_t threads[2];
    int started[2] = {0, 0};
    char *path = rec_path(state_dir, id), *params = NULL, *result = NULL, *log = NULL;
    char **exit_cmd = NULL;
    json_t *rec = json_load_file(path, 0, NULL);
    int32_t hr;
    int r, code, watching = 0;

    uv_mutex_init(&mw.lock);
    uv_cond_init(&mw.cond);
    if (!rec) {
        r = stk_err_set(err, STK_ENOENT, 0, "the monitor of '%s': no such container", id);
        goto fail;
    }
    hr = api->open_compute_system(id, HCS_GENERIC_ALL, &sys);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "the monitor of '%s': open compute system '%s'", id,
                                id);
        goto fail;
    }
    r = rt_hcs_process_params(json_object_get(rec, "Process"), NULL, NULL, NULL, 1, 1, &params,
                              err);
    if (r < 0) {
        stk_err_wrap(err, "the monitor of '%s'", id);
        goto fail;
    }
    if (json_array_size(json_object_get(rec, "ExitCommand")))
        exit_cmd = strv_of_json(json_object_get(rec, "ExitCommand"));
    op = api->create_operation(NULL, NULL);
    hr = op ? api->create_process(sys, params, op, &proc) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result_and_process_info(op, MON_TIMEOUT_MS, &info, &result);
    if (op)
        api->close_operation(op);
    if (hr < 0) {
        if (proc)
            api->close_process(proc);
        proc = NULL;
        r = stk_err_set_hresult(err, hr, result, "start the process of '%s'", id);
        api->free_string(result);
        goto fail;
    }
    api->free_string(result);
    if (!api->wait_for_process_exit) {
        hr = api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, &mw, on_exit_event);
        if (hr < 0) {
            r = stk_err_set_hresult(err, hr, NULL, "the monitor of '%s': watch its process", id);
            goto kill;
        }
        watching = 1;
    }
    /* The log exists once start returns; both files are opened before the threads run. */
    log = stk_xasprintf("%s/containers/%s/ctr.log", state_dir, id);
    pumps[0] = (struct mon_pump){api, info.std_output, fopen(log, MON_LOG_MODE), "stdout"};
    pumps[1] = (struct mon_pump){api, info.std_error, fopen(log, MON_LOG_MODE), "stderr"};
    if (!pumps[0].f)
        stk_log_warn("the monitor of '%s': cannot open %s; its output is dropped", id, log);
    r = rec_update(state_dir, id,
                   json_pack("{s:I,s:I,s:I}", "Pid", (json_int_t)info.process_id, "Started",
                             (json_int_t)now_ns(), "MonitorPid", (json_int_t)uv_os_getpid()),
                   fresh, err);
    if (r < 0) {
        for (int i = 0; i < 2; i++)
            if (pumps[i].f)
                fclose(pumps[i].f);
        stk_err_wrap(err, "the monitor of '%s'", id);
        goto kill;
    }
    if (info.std_input > 0)
        api->close_handle(info.std_input);
    info.std_input = 0;
    if (ready)
        ready(ready_self, 0, NULL);
    for (int i = 0; i < 2; i++) {
        if (pumps[i].h <= 0) {
            if (pumps[i].f)
                fclose(pumps[i].f);
            continue;
        }
        if (uv_thread_create(&threads[i], mon_pump_run, &pumps[i]) == 0) {
            started[i] = 1;
        } else {
            api->close_handle(pumps[i].h);
            if (pumps[i].f)
                fclose(pumps[i].f);
        }
    }
    code = wait_exit(api, proc, &mw);
    watching = 0;
    /* HCS closes the pipes when the process exits: the copies end, the log is complete. */
    for (int i = 0; i < 2; i++)
        if (started[i])
            uv_thread_join(&threads[i]);
    /* The last write into the container's directory: a delete waits for Finished. */
    if (rec_update(state_dir, id,
                   json_pack("{s:i,s:I}", "ExitCode", code, "Finished", (json_int_t)now_ns()), NULL,
                   NULL) < 0)
        stk_log_debug("the monitor of '%s': the container was deleted", id);
    api->close_process(proc);
    proc = NULL;
    api->close_compute_system(sys);
    sys = NULL;
    if (exit_cmd) {
        struct stk_err e = STK_ERR_INIT;

        if (run_exit_command(exit_cmd, &e) < 0)
            stk_log_error("the monitor of '%s': %s", id, e.msg);
        stk_err_clear(&e);
    }
    r = 0;
    goto out;
kill:
    /* Not left running without anyone holding its output. */
    op = api->create_operation(NULL, NULL);
    hr = op ? api->terminate_process(proc, op, NULL) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        api->wait_for_operation_result(op, MON_TIMEOUT_MS, NULL);
    if (op)
        api->close_operation(op);
    if (info.std_input > 0)
        api->close_handle(info.std_input);
    if (info.std_output > 0)
        api->close_handle(info.std_output);
    if (info.std_error > 0)
        api->close_handle(info.std_error);
fail:
    if (ready)
        ready(ready_self, r, err);
out:
    if (watching)
        api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, NULL, NULL);
    if (proc)
        api->close_process(proc);
    if (sys)
        api->close_compute_system(sys);
    uv_cond_destroy(&mw.cond);
    uv_mutex_destroy(&mw.lock);
    stk_strv_free(exit_cmd);
    json_decref(rec);
    free(params);
    free(log);
    free(path);
    return r;
}

/* ---- readiness over a pipe ---------------------------------------------- */

void rt_hcs_monitor_ready_line(FILE *out, int r, const struct stk_err *err)
{
    if (r == 0) {
        fputs("ok\n", out);
    } else {
        char msg[sizeof(err->msg)];

        snprintf(msg, sizeof(msg), "%s", err && err->msg[0] ? err->msg : "the monitor failed");
        msg[strcspn(msg, "\r\n")] = '\0';
        fprintf(out, "error %d %d %s\n", err && err->code ? err->code : r, err ? err->os_code : 0,
                msg);
    }
    fflush(out);
}

struct spawn_state {
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct stk_buf line;
    int finished;
    int timed_out;
    int exited;
    int64_t status;
};

static void spawn_finish(struct spawn_state *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    uv_read_stop((uv_stream_t *)&s->pipe);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->pipe, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
    /* The monitor outlives this loop: the handle is closed, the process is left alone. */
    if (!uv_is_closing((uv_handle_t *)&s->proc))
        uv_close((uv_handle_t *)&s->proc, NULL);
}

static void spawn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = stk_xmalloc(suggested);
    buf->len = suggested;
}

static void spawn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct spawn_state *s = st->data;

    if (n > 0)
        stk_buf_add(&s->line, buf->base, (size_t)n);
    free(buf->base);
    if (n < 0 || (s->line.len && memchr(s->line.buf, '\n', s->line.len)))
        spawn_finish(s);
}

static void spawn_timeout(uv_timer_t *t)
{
    struct spawn_state *s = t->data;

    s->timed_out = 1;
    if (!s->exited)
        uv_process_kill(&s->proc, SIGKILL);
    spawn_finish(s);
}

static void spawn_exit(uv_process_t *p, int64_t status, int term_signal)
{
    struct spawn_state *s = p->data;

    s->exited = 1;
    s->status = term_signal ? 128 + term_signal : status;
}

int rt_hcs_monitor_spawn(const char *self_exe, const char *state_dir, const char *run_dir,
                         const char *id, uint64_t timeout_ms, struct stk_err *err)
{
    struct spawn_state *s = stk_new0(struct spawn_state);
    uv_loop_t loop;
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    struct stk_strv argv = STK_STRV_INIT;
    int r;

    if (!self_exe) {
        free(s);
        return stk_err_set(err, STK_EINVAL, 0, "the monitor of '%s': no executable", id);
    }
    if (uv_loop_init(&loop) < 0) {
        free(s);
        return stk_err_set(err, STK_ERUNTIME, 0, "the monitor of '%s': no event loop", id);
    }
    stk_buf_init(&s->line, 64);
    stk_strv_init(&argv);
    stk_strv_push(&argv, self_exe);
    stk_strv_pushf(&argv, "--state-dir=%s", state_dir);
    stk_strv_pushf(&argv, "--run-dir=%s", run_dir);
    stk_strv_push(&argv, "--runtime=hcs");
    stk_strv_push(&argv, "internal");
    stk_strv_push(&argv, "hcs-monitor");
    stk_strv_push(&argv, id);
    uv_pipe_init(&loop, &s->pipe, 0);
    uv_timer_init(&loop, &s->timer);
    s->pipe.data = s->timer.data = s->proc.data = s;
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&s->pipe;
    io[2].flags = UV_IGNORE;
    memset(&o, 0, sizeof(o));
    o.file = argv.v[0];
    o.args = argv.v;
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = spawn_exit;
    o.flags = UV_PROCESS_DETACHED | UV_PROCESS_WINDOWS_HIDE;
    r = uv_spawn(&loop, &s->proc, &o);
    if (r < 0) {
        stk_err_set(err, STK_ERUNTIME, 0, "the monitor of '%s': spawn %s: %s", id, self_exe,
                    uv_strerror(r));
        spawn_finish(s);
        uv_run(&loop, UV_RUN_DEFAULT);
        r = STK_ERUNTIME;
        goto out;
    }
    uv_read_start((uv_stream_t *)&s->pipe, spawn_alloc, spawn_read);
    uv_timer_start(&s->timer, spawn_timeout, timeout_ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (s->line.buf && strncmp(s->line.buf, "ok\n", 3) == 0) {
        r = 0;
    } else if (s->line.buf && strncmp(s->line.buf, "error ", 6) == 0) {
        char *p = s->line.buf + 6, *end;
        long code = strtol(p, &end, 10);
        long os = strtol(end, &end, 10);

        end += strspn(end, " ");
        end[strcspn(end, "\r\n")] = '\0';
        if (code >= 0 || code < -10000)
            code = STK_ERUNTIME;
        r = stk_err_set(err, (int)code, (int)os, "%s", end);
    } else if (s->timed_out) {
        r = stk_err_set(err, STK_ETIMEDOUT, 0,
                        "the monitor of '%s' did not report readiness within %llu ms", id,
                        (unsigned long long)timeout_ms);
    } else {
        r = stk_err_set(err, STK_ERUNTIME, 0,
                        "the monitor of '%s' ended without reporting readiness", id);
    }
out:
    uv_loop_close(&loop);
    stk_strv_release(&argv);
    stk_buf_release(&s->line);
    free(s);
    return r;
}

/* Readiness of rt_hcs_monitor_main(): one line on READY, which is then let go. */
static void monitor_main_ready(void *self, int r, const struct stk_err *err)
{
    FILE *ready = self;

    rt_hcs_monitor_ready_line(ready, r, err);
#ifdef _WIN32
    if (!freopen("NUL", "w", ready))
        fclose(ready);
#else
    if (!freopen("/dev/null", "w", ready))
        fclose(ready);
#endif
}

int rt_hcs_monitor_main(const char *state_dir, const char *id, FILE *ready, struct stk_err *err)
{
#if STK_HAVE_HCS
    const struct hcs_api *api = rt_hcs_api_win32(err);

    if (!api) {
        monitor_main_ready(ready, err->code ? err->code : STK_EUNAVAIL, err);
        return err->code ? err->code : STK_EUNAVAIL;
    }
    return rt_hcs_monitor_run(api, state_dir, id, monitor_main_ready, ready, err);
#else
    (void)state_dir;
    stk_err_set(err, STK_EUNAVAIL, 0, "the monitor of '%s': HCS is not available on this host", id);
    monitor_main_ready(ready, err->code, err);
    return err->code;
#endif
}
