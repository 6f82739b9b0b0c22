/*
 * hcs-driver.c - the "hcs" runtime driver: rt-driver.h's operations on HCS
 * compute systems, through the call layer of hcs-api.h.
 *
 * Every operation copies what it needs, runs its blocking HCS calls in a
 * uv_queue_work thread (each call with its own HCS operation, waited with a
 * generous timeout: starting a Windows container takes seconds, sometimes
 * minutes) and reports on the loop thread in the after-work callback.
 * Notifications (the container's init process exiting) arrive on HCS's
 * threads through HcsSetProcessCallback and come back to the loop through a
 * uv_async handle, which records the exit in containers/ID/hcs.json.
 *
 * Per container the driver keeps, under STATE_DIR/containers/ID/:
 * hcs.json (isolation, utility VM, namespace, process, times, exit code),
 * labels.json (DESIGN.md §3: the labels, since a compute system's only free
 * field is Owner), and ctr.log (the init process's stdout and stderr as
 * k8s-file lines).
 *
 * Who holds the init process (DESIGN.md §3, issue 5 item 5): with a monitor
 * launcher — on Windows by default the detached `stack internal hcs-monitor
 * ID` process of hcs-monitor.c, in the tests a thread running the same code
 * against the emulator — `start` starts the compute system and lets the
 * monitor create the init process, copy its output into ctr.log, record its
 * exit (ExitCode, Finished) and run the exit command; the driver waits for its
 * readiness and later only reads the records, so the container outlives the
 * CLI process that started it. Without a launcher (Linux against the
 * emulator, Windows without a self_exe) the driver creates the process itself
 * and two pump threads copy its output while this driver instance lives.
 */
#include "runtime/hcs/hcs.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs-monitor.h"

/* Five minutes, the wait moby uses for shutdown and terminate (reference §3.1 step 8). */
#define HCS_TIMEOUT_MS 300000u
#define HCS_UNAVAILABLE "HCS is not available on this host"

/* Append, and not inherited by child processes (STYLE.md rule 23): "e" in glibc, "N" in the CRT. */
#ifdef _WIN32
#define HCS_LOG_MODE "abN"
#else
#define HCS_LOG_MODE "abe"
#endif

struct hcs_ctr {
    char *id;
    enum rt_isolation isolation;
    struct hcs_system *sys; /* the container (silo or hosted) */
    struct hcs_system *uvm; /* Hyper-V: the utility VM */
    struct hcs_process *init;
    uint32_t init_pid;
    int exited; /* the init process exited (under priv->lock) */
    int exit_code;
    int64_t finished_ns;
    uv_thread_t pumps[2];
    int n_pumps;
    struct hcs_priv *priv;
    struct hcs_ctr *next;
};

struct hcs_note {
    char *id;
    struct hcs_note *next;
};

struct hcs_priv {
    const struct hcs_api *api;
    const struct rt_hcs_storage_api *storage;
    struct rt_hcs_storage *own_storage; /* the registry's (Windows), freed in fini */
    const struct rt_net_peer *net;
    char host_build[64];
    enum rt_hcs_edition edition;
    char reason[256];
    unsigned host_cpus;
    uv_mutex_t lock;
    uv_async_t *async; /* heap: freed in its close callback */
    struct hcs_note *notes;
    struct hcs_ctr *ctrs;
    struct rt_ctx *ctx;
    rt_hcs_monitor_launch_fn *launch; /* NULL: the in-process path */
    void *launch_self;
};

enum hcs_kind {
    K_HOST,
    K_CREATE,
    K_START,
    K_KILL,
    K_STOP,
    K_DELETE,
    K_STATE,
    K_LIST,
    K_EXEC,
    K_LOGS,
    K_TOP
};

struct hcs_work {
    struct rt_req req; /* first: the driver's requests embed rt_req */
    uv_work_t work;
    enum hcs_kind kind;
    struct hcs_priv *priv;
    char *id;
    int signal;
    uint64_t grace_ms;
    json_t *spec; /* K_CREATE: the copied container spec */
    struct stk_strv args, env;
    char *cwd;
    int capture;
    uint64_t timeout_ms;
    rt_done_fn *done;
    void *userdata;
    struct stk_err err;
    struct rt_result res;
    struct rt_container_info info;
    struct rt_container_list list;
    struct rt_host_info host;
    char *output;
    char *log_path;
};

static int64_t now_ns(void)
{
    uv_timeval64_t tv;

    if (uv_gettimeofday(&tv) < 0)
        return 0;
    return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

static struct hcs_priv *priv_of(struct rt_ctx *ctx)
{
    return ctx->priv;
}

static char *ctr_dir(struct hcs_priv *p, const char *id)
{
    return stk_xasprintf("%s/containers/%s", p->ctx->state_dir, id);
}

/* ---- the HCS call helpers (work threads) -------------------------------- */

/*
 * Runs one asynchronous HCS call: a fresh operation, the call, and a wait of
 * TIMEOUT_MS. Returns the HRESULT; *RET_RESULT (may be NULL) receives the
 * result document.
 */
#define HCS_CALL(api, timeout_ms, ret_result, fn, ...)                                             \
    ({                                                                                             \
        struct hcs_operation *op_ = (api)->create_operation(NULL, NULL);                           \
        int32_t hr_ = op_ ? (api)->fn(__VA_ARGS__, op_) : STK_WIN_E_OUTOFMEMORY;                   \
        if (op_ && hr_ >= 0)                                                                       \
            hr_ = (api)->wait_for_operation_result(op_, (timeout_ms), (ret_result));               \
        if (op_)                                                                                   \
            (api)->close_operation(op_);                                                           \
        hr_;                                                                                       \
    })

static int32_t call_create_system(const struct hcs_api *api, const char *id, const char *doc,
                                  struct hcs_system **ret, char **ret_result)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    int32_t hr;

    *ret = NULL;
    if (!op)
        return STK_WIN_E_OUTOFMEMORY;
    hr = api->create_compute_system(id, doc, op, ret);
    if (hr >= 0)
        hr = api->wait_for_operation_result(op, HCS_TIMEOUT_MS, ret_result);
    api->close_operation(op);
    if (hr < 0 && *ret) {
        api->close_compute_system(*ret);
        *ret = NULL;
    }
    return hr;
}

static int32_t sys_op(const struct hcs_api *api, struct hcs_system *sys, uint32_t timeout_ms,
                      char **ret_result,
                      int32_t (*fn)(struct hcs_system *, struct hcs_operation *, const char *),
                      const char *options)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    int32_t hr;

    if (ret_result)
        *ret_result = NULL;
    if (!op)
        return STK_WIN_E_OUTOFMEMORY;
    hr = fn(sys, op, options);
    if (hr >= 0)
        hr = api->wait_for_operation_result(op, timeout_ms, ret_result);
    api->close_operation(op);
    return hr;
}

static int hr_err(const struct hcs_api *api, struct stk_err *err, int32_t hr, char *result,
                  const char *what, const char *id)
{
    int r = stk_err_set_hresult(err, hr, result, "%s '%s'", what, id);

    api->free_string(result);
    return r;
}

/* ---- records ------------------------------------------------------------ */

static json_t *record_load(struct hcs_priv *p, const char *id)
{
    char *path = stk_xasprintf("%s/containers/%s/hcs.json", p->ctx->state_dir, id);
    json_t *j = json_load_file(path, 0, NULL);

    free(path);
    return j;
}

static int json_save(const char *path, json_t *j, struct stk_err *err)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int r = stk_file_write_atomic(path, s, strlen(s), 0644, 0, err);

    free(s);
    return r;
}

/* Sets KEY of ID's record to V (stolen); the caller holds P's lock. */
static int record_update_locked(struct hcs_priv *p, const char *id, const char *key, json_t *v,
                                struct stk_err *err)
{
    char *path = stk_xasprintf("%s/containers/%s/hcs.json", p->ctx->state_dir, id);
    json_t *j = json_load_file(path, 0, NULL);
    int r = 0;

    if (j) {
        json_object_set_new(j, key, v);
        r = json_save(path, j, err);
        json_decref(j);
    } else {
        json_decref(v);
    }
    free(path);
    return r;
}

/* Sets KEY of ID's record to V (stolen) under the lock. */
static int record_update(struct hcs_priv *p, const char *id, const char *key, json_t *v,
                         struct stk_err *err)
{
    int r;

    uv_mutex_lock(&p->lock);
    r = record_update_locked(p, id, key, v, err);
    uv_mutex_unlock(&p->lock);
    return r;
}

static void record_exit(struct hcs_priv *p, const char *id, int code, int64_t finished)
{
    record_update(p, id, "ExitCode", json_integer(code), NULL);
    record_update(p, id, "Finished", json_integer(finished), NULL);
}

/* ---- the container table ------------------------------------------------ */

static struct hcs_ctr *ctr_find_locked(struct hcs_priv *p, const char *id)
{
    struct hcs_ctr *c;

    for (c = p->ctrs; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            break;
    return c;
}

static struct hcs_ctr *ctr_find(struct hcs_priv *p, const char *id)
{
    struct hcs_ctr *c;

    uv_mutex_lock(&p->lock);
    c = ctr_find_locked(p, id);
    uv_mutex_unlock(&p->lock);
    return c;
}

static struct hcs_ctr *ctr_add(struct hcs_priv *p, const char *id, enum rt_isolation iso)
{
    struct hcs_ctr *c = stk_new0(struct hcs_ctr);

    c->id = stk_xstrdup(id);
    c->isolation = iso;
    c->priv = p;
    uv_mutex_lock(&p->lock);
    c->next = p->ctrs;
    p->ctrs = c;
    uv_mutex_unlock(&p->lock);
    return c;
}

static void ctr_close_handles(const struct hcs_api *api, struct hcs_ctr *c)
{
    if (c->init)
        api->close_process(c->init);
    if (c->sys)
        api->close_compute_system(c->sys);
    if (c->uvm)
        api->close_compute_system(c->uvm);
    c->init = NULL;
    c->sys = c->uvm = NULL;
}

static void ctr_join_pumps(struct hcs_ctr *c)
{
    for (int i = 0; i < c->n_pumps; i++)
        uv_thread_join(&c->pumps[i]);
    c->n_pumps = 0;
}

static void ctr_remove(struct hcs_priv *p, struct hcs_ctr *c)
{
    uv_mutex_lock(&p->lock);
    for (struct hcs_ctr **pp = &p->ctrs; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    uv_mutex_unlock(&p->lock);
    ctr_close_handles(p->api, c);
    ctr_join_pumps(c);
    free(c->id);
    free(c);
}

/* ---- notifications ------------------------------------------------------ */

static void note_push(struct hcs_priv *p, const char *id)
{
    struct hcs_note *n = stk_new0(struct hcs_note);

    n->id = stk_xstrdup(id);
    uv_mutex_lock(&p->lock);
    n->next = p->notes;
    p->notes = n;
    uv_mutex_unlock(&p->lock);
    uv_async_send(p->async);
}

/* Loop thread: records the exits HCS reported. */
static void on_async(uv_async_t *h)
{
    struct hcs_priv *p = h->data;
    struct hcs_note *notes;

    uv_mutex_lock(&p->lock);
    notes = p->notes;
    p->notes = NULL;
    uv_mutex_unlock(&p->lock);
    while (notes) {
        struct hcs_note *n = notes;
        struct hcs_ctr *c;

        notes = n->next;
        /*
         * Look up and write under one hold of the lock: a delete running in a
         * worker thread takes the container out of the table (ctr_remove)
         * before it removes the directory, so the record is never rewritten
         * while, or after, the directory goes.
         */
        uv_mutex_lock(&p->lock);
        c = ctr_find_locked(p, n->id);
        if (c) {
            record_update_locked(p, n->id, "ExitCode", json_integer(c->exit_code), NULL);
            record_update_locked(p, n->id, "Finished", json_integer(c->finished_ns), NULL);
        }
        uv_mutex_unlock(&p->lock);
        free(n->id);
        free(n);
    }
}

/* Marks C's init process as exited with CODE; returns 1 the first time. */
static int ctr_mark_exited(struct hcs_ctr *c, int code)
{
    int first;

    uv_mutex_lock(&c->priv->lock);
    first = !c->exited;
    if (first) {
        c->exited = 1;
        c->exit_code = code;
        c->finished_ns = now_ns();
    }
    uv_mutex_unlock(&c->priv->lock);
    return first;
}

static int exit_code_of_status(const char *status, int *ret_code)
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

/* HCS thread: the init process exited. */
static void on_init_event(const struct hcs_event *ev, void *context)
{
    struct hcs_ctr *c = context;
    int code;

    if (ev->type != HCS_EVENT_PROCESS_EXITED || !exit_code_of_status(ev->event_data, &code))
        return;
    if (ctr_mark_exited(c, code))
        note_push(c->priv, c->id);
}

/* HCS thread: the compute system exited; the init process's own event carries the code. */
static void on_system_event(const struct hcs_event *ev, void *context)
{
    (void)ev;
    (void)context;
}

/* ---- stdio pumps -------------------------------------------------------- */

struct pump {
    const struct hcs_api *api;
    intptr_t h;
    FILE *f;            /* may be NULL: the output is read and dropped */
    const char *stream; /* "stdout" or "stderr" */
};

static void pump_run(void *arg)
{
    struct pump *pu = arg;

    rt_hcs_log_copy(pu->api, pu->h, pu->f, pu->stream);
    free(pu);
}

/*
 * Starts a thread copying handle H into the log at PATH. The log is opened
 * here, not in the thread: a thread that runs late must not create the file
 * again in a directory a delete is removing.
 */
static void pump_start(struct hcs_ctr *c, intptr_t h, const char *path, const char *stream)
{
    struct pump *pu;

    if (h <= 0 || c->n_pumps >= 2)
        return;
    pu = stk_new0(struct pump);
    pu->api = c->priv->api;
    pu->h = h;
    pu->stream = stream;
    pu->f = fopen(path, HCS_LOG_MODE);
    if (uv_thread_create(&c->pumps[c->n_pumps], pump_run, pu) == 0)
        c->n_pumps++;
    else {
        c->priv->api->close_handle(h);
        if (pu->f)
            fclose(pu->f);
        free(pu);
    }
}

static char *read_all(const struct hcs_api *api, intptr_t h)
{
    struct stk_buf b = STK_BUF_INIT;
    char buf[4096];
    uint32_t n;

    if (h <= 0)
        return stk_buf_detach(&b, NULL);
    while (api->read_handle(h, buf, sizeof(buf), &n) >= 0 && n > 0)
        stk_buf_add(&b, buf, n);
    api->close_handle(h);
    return stk_buf_detach(&b, NULL);
}

struct drain {
    const struct hcs_api *api;
    intptr_t h;
    char *out;
};

static void drain_run(void *arg)
{
    struct drain *d = arg;

    d->out = read_all(d->api, d->h);
}

/* ---- create ------------------------------------------------------------- */

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Copies the parts of SPEC the work thread needs into a JSON object (owned by the work). */
static json_t *spec_copy(const struct rt_container_spec *s)
{
    json_t *j = json_object(), *mounts = json_array(), *pipes = json_array(), *devs = json_array(),
           *labels = json_object();

    json_object_set_new(j, "Id", json_string(s->id));
    json_object_set_new(j, "Name", json_string(s->name ? s->name : s->id));
    json_object_set_new(j, "Isolation", json_string(rt_isolation_to_string(s->isolation)));
    json_object_set_new(j, "Image", json_string(s->image_ref ? s->image_ref : ""));
    json_object_set_new(j, "Layers", strv_json(s->layer_digests));
    json_object_set_new(j, "Hostname", json_string(s->hostname ? s->hostname : ""));
    if (s->sandbox)
        json_object_set_new(j, "Namespace", json_string(s->sandbox));
    for (size_t i = 0; i < s->n_mounts; i++)
        json_array_append_new(mounts,
                              json_pack("{s:s,s:s,s:s,s:b}", "type",
                                        s->mounts[i].type ? s->mounts[i].type : "", "source",
                                        s->mounts[i].source ? s->mounts[i].source : "", "target",
                                        s->mounts[i].target ? s->mounts[i].target : "", "ro",
                                        s->mounts[i].read_only));
    for (size_t i = 0; i < s->n_pipes; i++)
        json_array_append_new(pipes, json_pack("{s:s,s:s}", "host", s->pipes[i].host_path,
                                               "container", s->pipes[i].container_path));
    for (size_t i = 0; i < s->n_devices; i++)
        json_array_append_new(devs, json_string(s->devices[i].host_path));
    for (size_t i = 0; i < s->n_labels; i++)
        json_object_set_new(labels, s->labels[i].key, json_string(s->labels[i].value));
    json_object_set_new(j, "Mounts", mounts);
    json_object_set_new(j, "Pipes", pipes);
    json_object_set_new(j, "Devices", devs);
    json_object_set_new(j, "Labels", labels);
    json_object_set_new(j, "Memory", json_integer(s->resources.memory_bytes));
    json_object_set_new(j, "NanoCpus", json_integer(s->resources.nano_cpus));
    json_object_set_new(
        j, "Process",
        json_pack("{s:o,s:o,s:s,s:s,s:b}", "Args", strv_json(s->process.args), "Env",
                  strv_json(s->process.env), "Cwd", s->process.cwd ? s->process.cwd : "", "User",
                  s->process.user ? s->process.user : "", "Terminal", s->process.terminal));
    if (s->exit_command && s->exit_command[0])
        json_object_set_new(j, "ExitCommand", strv_json(s->exit_command));
    return j;
}

static char **json_strv(json_t *a)
{
    struct stk_strv v = STK_STRV_INIT;
    size_t i;
    json_t *x;

    stk_strv_init(&v);
    json_array_foreach(a, i, x) stk_strv_push(&v, json_string_value(x) ? json_string_value(x) : "");
    return v.v;
}

/* Refuses a shared namespace when either side is Hyper-V isolated (reference §6, errata). */
static int check_namespace_sharing(struct hcs_priv *p, const char *id, const char *ns,
                                   enum rt_isolation iso, struct stk_err *err)
{
    char *dir = stk_xasprintf("%s/containers", p->ctx->state_dir);
    uv_fs_t req;
    uv_dirent_t ent;
    int r = 0;

    if (uv_fs_scandir(NULL, &req, dir, 0, NULL) < 0) {
        free(dir);
        return 0;
    }
    /* Walk to the end even after a refusal: libuv frees the last entry on the next call. */
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        json_t *rec;
        const char *ons;

        if (r < 0 || strcmp(ent.name, id) == 0)
            continue;
        rec = record_load(p, ent.name);
        ons = json_string_value(json_object_get(rec, "Namespace"));
        if (ons && strcasecmp(ons, ns) == 0)
            r = rt_hcs_check_network_share(
                id, iso, ent.name,
                rt_isolation_from_string(json_string_value(json_object_get(rec, "Isolation"))),
                err);
        json_decref(rec);
    }
    uv_fs_req_cleanup(&req);
    free(dir);
    return r;
}

static int do_create(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    const struct hcs_api *api = p->api;
    json_t *s = w->spec;
    const char *id = json_string_value(json_object_get(s, "Id"));
    const char *ns = json_string_value(json_object_get(s, "Namespace"));
    enum rt_isolation iso =
        rt_isolation_from_string(json_string_value(json_object_get(s, "Isolation")));
    struct rt_hcs_storage_result st = {0};
    struct rt_hcs_container_config cfg = {0};
    struct rt_hcs_layer *layers = NULL;
    struct rt_mount *mounts = NULL;
    struct rt_pipe *pipes = NULL;
    struct rt_device *devs = NULL;
    char **digests = json_strv(json_object_get(s, "Layers"));
    char *dir = ctr_dir(p, id), *path = NULL, *docs = NULL, *result = NULL, *uvm_id = NULL;
    json_t *doc = NULL, *rec = NULL;
    struct hcs_system *sys = NULL, *uvm = NULL;
    struct hcs_ctr *c;
    size_t n, i;
    json_t *x;
    int32_t hr;
    int r, prepared = 0;

    if (ctr_find(p, id) || stk_path_exists(dir)) {
        r = stk_err_set(err, STK_EEXIST, 0, "container '%s' already exists", id);
        goto out;
    }
    if (ns && (r = check_namespace_sharing(p, id, ns, iso, err)) < 0)
        goto out;
    if (!p->storage) {
        r = stk_err_set(err, STK_ENOTSUP, 0,
                        "container '%s': Windows layer storage (computestorage.dll) is not "
                        "available on this host",
                        id);
        goto out;
    }
    r = p->storage->prepare(p->storage->self, id, (const char *const *)digests, iso, &st, err);
    if (r < 0) {
        r = stk_err_wrap(err, "prepare the layers of '%s'", id);
        goto out;
    }
    prepared = 1;
    if (st.os_version && *st.os_version) {
        /* Second line of defence: the planner runs the same check before anything exists. */
        r = rt_hcs_check_compat(p->host_build, p->edition, st.os_version, iso,
                                json_string_value(json_object_get(s, "Image")), 0, err);
        if (r < 0)
            goto out;
    }

    n = stk_strv_len(st.layer_paths);
    layers = stk_xcalloc(n + 1, sizeof(*layers));
    for (i = 0; i < n; i++)
        layers[i] = (struct rt_hcs_layer){st.layer_ids[i], st.layer_paths[i]};
    mounts = stk_xcalloc(json_array_size(json_object_get(s, "Mounts")) + 1, sizeof(*mounts));
    json_array_foreach(json_object_get(s, "Mounts"), i, x) mounts[i] =
        (struct rt_mount){(char *)json_string_value(json_object_get(x, "type")),
                          (char *)json_string_value(json_object_get(x, "source")),
                          (char *)json_string_value(json_object_get(x, "target")),
                          json_is_true(json_object_get(x, "ro"))};
    pipes = stk_xcalloc(json_array_size(json_object_get(s, "Pipes")) + 1, sizeof(*pipes));
    json_array_foreach(json_object_get(s, "Pipes"), i, x) pipes[i] =
        (struct rt_pipe){(char *)json_string_value(json_object_get(x, "host")),
                         (char *)json_string_value(json_object_get(x, "container"))};
    devs = stk_xcalloc(json_array_size(json_object_get(s, "Devices")) + 1, sizeof(*devs));
    json_array_foreach(json_object_get(s, "Devices"), i, x) devs[i] =
        (struct rt_device){(char *)json_string_value(x), NULL, NULL};

    cfg.id = id;
    cfg.owner = RT_HCS_OWNER;
    cfg.hostname = json_string_value(json_object_get(s, "Hostname"));
    cfg.isolation = iso;
    cfg.layers = layers;
    cfg.n_layers = n;
    cfg.scratch_volume = st.scratch_volume;
    cfg.scratch_dir = st.scratch_dir;
    cfg.uvm_image_path = st.uvm_image_path;
    cfg.mounts = mounts;
    cfg.n_mounts = json_array_size(json_object_get(s, "Mounts"));
    cfg.pipes = pipes;
    cfg.n_pipes = json_array_size(json_object_get(s, "Pipes"));
    cfg.devices = devs;
    cfg.n_devices = json_array_size(json_object_get(s, "Devices"));
    cfg.namespace_id = ns;
    cfg.memory_bytes = json_integer_value(json_object_get(s, "Memory"));
    cfg.nano_cpus = json_integer_value(json_object_get(s, "NanoCpus"));
    cfg.host_cpus = p->host_cpus;
    cfg.terminate_on_last_handle = 0;

    if (iso == RT_ISOLATION_HYPERV) {
        uvm_id = rt_hcs_uvm_id(id);
        r = rt_hcs_doc_uvm(&cfg, &doc, err);
        if (r < 0)
            goto out;
        docs = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        doc = NULL;
        hr = call_create_system(api, uvm_id, docs, &uvm, &result);
        free(docs);
        docs = NULL;
        if (hr < 0) {
            r = hr_err(api, err, hr, result, "create utility VM", uvm_id);
            goto out;
        }
        api->free_string(result);
        hr = sys_op(api, uvm, HCS_TIMEOUT_MS, &result, api->start_compute_system, NULL);
        if (hr < 0) {
            r = hr_err(api, err, hr, result, "start utility VM", uvm_id);
            goto out;
        }
        api->free_string(result);
        for (i = 0; i < cfg.n_pipes; i++) {
            json_t *mod = rt_hcs_doc_uvm_pipe_add(pipes[i].host_path);

            docs = json_dumps(mod, JSON_COMPACT);
            json_decref(mod);
            hr = sys_op(api, uvm, HCS_TIMEOUT_MS, &result, api->modify_compute_system, docs);
            free(docs);
            docs = NULL;
            if (hr < 0) {
                r = hr_err(api, err, hr, result, "map a pipe into utility VM", uvm_id);
                goto out;
            }
            api->free_string(result);
        }
        if (ns && p->net) {
            struct rt_nic *nics = NULL;
            size_t n_nics = 0;

            r = p->net->namespace_endpoints(p->net->self, ns, &nics, &n_nics, err);
            if (r < 0) {
                r = stk_err_wrap(err, "list the endpoints of '%s'", id);
                goto out;
            }
            for (i = 0; i < n_nics && r == 0; i++) {
                char nic[37];
                char *key = stk_xasprintf("%s/%s", uvm_id, nics[i].endpoint_id);
                json_t *mod;

                rt_hcs_name_guid(key, nic);
                free(key);
                mod = rt_hcs_doc_uvm_nic_add(nic, nics[i].endpoint_id, nics[i].mac);
                docs = json_dumps(mod, JSON_COMPACT);
                json_decref(mod);
                hr = sys_op(api, uvm, HCS_TIMEOUT_MS, &result, api->modify_compute_system, docs);
                free(docs);
                docs = NULL;
                if (hr < 0)
                    r = hr_err(api, err, hr, result, "add a network adapter to utility VM", uvm_id);
                else
                    api->free_string(result);
            }
            rt_nics_free(nics, n_nics);
            if (r < 0)
                goto out;
        }
        r = rt_hcs_doc_hosted_container(&cfg, &doc, err);
    } else {
        r = rt_hcs_doc_container(&cfg, &doc, err);
    }
    if (r < 0)
        goto out;
    docs = json_dumps(doc, JSON_COMPACT);
    hr = call_create_system(api, id, docs, &sys, &result);
    if (hr < 0) {
        r = hr_err(api, err, hr, result, "create compute system", id);
        goto out;
    }
    api->free_string(result);
    hr = api->set_compute_system_callback(sys, HCS_EVENT_OPTION_NONE, NULL, on_system_event);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "watch compute system '%s'", id);
        goto out;
    }

    r = stk_mkdir_p(dir, 0755, err);
    if (r < 0)
        goto out;
    rec = json_pack("{s:s,s:O,s:s,s:O,s:O,s:I,s:O,s:s}", "Id", id, "Name",
                    json_object_get(s, "Name"), "Isolation", rt_isolation_to_string(iso), "Image",
                    json_object_get(s, "Image"), "Process", json_object_get(s, "Process"),
                    "Created", (json_int_t)now_ns(), "Labels", json_object_get(s, "Labels"),
                    "OsVersion", st.os_version ? st.os_version : "");
    if (uvm_id)
        json_object_set_new(rec, "UtilityVm", json_string(uvm_id));
    if (ns)
        json_object_set_new(rec, "Namespace", json_string(ns));
    /* What the monitor runs when the init process exits (DESIGN.md §3). */
    if (json_object_get(s, "ExitCommand"))
        json_object_set(rec, "ExitCommand", json_object_get(s, "ExitCommand"));
    path = stk_xasprintf("%s/labels.json", dir);
    r = json_save(path, json_object_get(s, "Labels"), err);
    free(path);
    path = stk_xasprintf("%s/hcs.json", dir);
    if (r == 0)
        r = json_save(path, rec, err);
    if (r < 0)
        goto out;
    c = ctr_add(p, id, iso);
    c->sys = sys;
    c->uvm = uvm;
    sys = uvm = NULL;
    prepared = 0;
    r = 0;
out:
    if (r < 0) {
        if (sys) {
            sys_op(api, sys, HCS_TIMEOUT_MS, NULL, api->terminate_compute_system, NULL);
            api->close_compute_system(sys);
        }
        if (uvm) {
            sys_op(api, uvm, HCS_TIMEOUT_MS, NULL, api->terminate_compute_system, NULL);
            api->close_compute_system(uvm);
        }
        if (prepared)
            p->storage->release(p->storage->self, id, NULL);
        if (stk_path_exists(dir) && !ctr_find(p, id))
            stk_rm_rf(dir, NULL);
    }
    rt_hcs_storage_result_release(&st);
    stk_strv_free(digests);
    free(layers);
    free(mounts);
    free(pipes);
    free(devs);
    free(dir);
    free(path);
    free(docs);
    free(uvm_id);
    json_decref(doc);
    json_decref(rec);
    return r;
}

/* Finds or opens the handles of ID (a container created by an earlier process). */
static int ctr_get(struct hcs_priv *p, const char *id, struct hcs_ctr **ret, struct stk_err *err)
{
    struct hcs_ctr *c = ctr_find(p, id);
    json_t *rec;
    struct hcs_system *sys = NULL, *uvm = NULL;
    const char *uvm_id;
    int32_t hr;

    if (c) {
        *ret = c;
        return 0;
    }
    rec = record_load(p, id);
    if (!rec)
        return stk_err_set(err, STK_ENOENT, 0, "no such container '%s'", id);
    hr = p->api->open_compute_system(id, HCS_GENERIC_ALL, &sys);
    if (hr < 0) {
        json_decref(rec);
        return stk_err_set_hresult(err, hr, NULL, "open compute system '%s'", id);
    }
    uvm_id = json_string_value(json_object_get(rec, "UtilityVm"));
    if (uvm_id && p->api->open_compute_system(uvm_id, HCS_GENERIC_ALL, &uvm) < 0)
        uvm = NULL;
    c = ctr_add(p, id,
                rt_isolation_from_string(json_string_value(json_object_get(rec, "Isolation"))));
    c->sys = sys;
    c->uvm = uvm;
    if (json_object_get(rec, "ExitCode")) {
        c->exited = 1;
        c->exit_code = (int)json_integer_value(json_object_get(rec, "ExitCode"));
    }
    json_decref(rec);
    *ret = c;
    return 0;
}

/* Whether REC says a monitor holds the init process and has not recorded its exit. */
static int rec_monitor_running(json_t *rec)
{
    return json_object_get(rec, "MonitorPid") && json_object_get(rec, "Started") &&
           !json_object_get(rec, "Finished");
}

/*
 * Waits up to TIMEOUT_MS for the monitor of ID to record the exit (Finished),
 * its last write into the container's directory; returns at once when no
 * monitor runs or its process is gone.
 */
static void wait_monitor(struct hcs_priv *p, const char *id, uint64_t timeout_ms)
{
    for (uint64_t waited = 0;; waited += 10) {
        json_t *rec = record_load(p, id);
        int running = rec_monitor_running(rec);
        int pid = (int)json_integer_value(json_object_get(rec, "MonitorPid"));

        json_decref(rec);
        if (!running || uv_kill(pid, 0) != 0 || waited >= timeout_ms)
            return;
        uv_sleep(10);
    }
}

static void terminate_ctr(struct hcs_priv *p, struct hcs_ctr *c)
{
    sys_op(p->api, c->sys, HCS_TIMEOUT_MS, NULL, p->api->terminate_compute_system, NULL);
    if (c->uvm)
        sys_op(p->api, c->uvm, HCS_TIMEOUT_MS, NULL, p->api->terminate_compute_system, NULL);
}

static int do_start(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    const struct hcs_api *api = p->api;
    struct hcs_ctr *c;
    struct hcs_operation *op;
    struct hcs_process_information info = {0};
    json_t *rec = NULL;
    char *params = NULL, *result = NULL, *log = NULL;
    int32_t hr;
    int r, code;

    r = ctr_get(p, w->id, &c, err);
    if (r < 0)
        return r;
    rec = record_load(p, w->id);
    if (c->init || rec_monitor_running(rec)) {
        json_decref(rec);
        return stk_err_set(err, STK_EINVAL, 0, "container '%s' is already started", w->id);
    }
    hr = sys_op(api, c->sys, HCS_TIMEOUT_MS, &result, api->start_compute_system, NULL);
    if (hr < 0) {
        json_decref(rec);
        return hr_err(api, err, hr, result, "start compute system", w->id);
    }
    api->free_string(result);
    result = NULL;
    if (p->launch) {
        /* The monitor creates the init process and holds it (DESIGN.md §3). */
        r = p->launch(p->launch_self, p->ctx->state_dir, p->ctx->run_dir, w->id, err);
        if (r < 0) {
            /* A silo without its process is not left running. */
            terminate_ctr(p, c);
            goto out;
        }
        uv_mutex_lock(&p->lock);
        c->exited = 0; /* a new run: the monitor removed the last exit from the record */
        uv_mutex_unlock(&p->lock);
        goto out;
    }
    r = rt_hcs_process_params(json_object_get(rec, "Process"), NULL, NULL, NULL, 1, 1, &params,
                              err);
    if (r < 0)
        goto out;
    op = api->create_operation(NULL, NULL);
    hr = op ? api->create_process(c->sys, params, op, &c->init) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result_and_process_info(op, HCS_TIMEOUT_MS, &info, &result);
    if (op)
        api->close_operation(op);
    if (hr < 0) {
        if (c->init)
            api->close_process(c->init);
        c->init = NULL;
        r = hr_err(api, err, hr, result, "start the process of", w->id);
        /* A silo without its process is not left running. */
        terminate_ctr(p, c);
        goto out;
    }
    api->free_string(result);
    result = NULL;
    c->init_pid = info.process_id;
    log = stk_xasprintf("%s/containers/%s/ctr.log", p->ctx->state_dir, w->id);
    /* The log exists once start returns, whenever the pumps get to run. */
    {
        FILE *f = fopen(log, HCS_LOG_MODE);

        if (f)
            fclose(f);
    }
    pump_start(c, info.std_output, log, "stdout");
    pump_start(c, info.std_error, log, "stderr");
    if (info.std_input > 0)
        api->close_handle(info.std_input);
    hr = api->set_process_callback(c->init, HCS_EVENT_OPTION_NONE, c, on_init_event);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "watch the process of '%s'", w->id);
        goto out;
    }
    /* The process may have exited before the callback was set. */
    op = api->create_operation(NULL, NULL);
    hr = op ? api->get_process_properties(c->init, op, NULL) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result(op, HCS_TIMEOUT_MS, &result);
    if (op)
        api->close_operation(op);
    if (hr >= 0 && exit_code_of_status(result, &code) && ctr_mark_exited(c, code))
        note_push(p, w->id);
    api->free_string(result);
    r = record_update(p, w->id, "Started", json_integer(now_ns()), err);
    if (r == 0)
        r = record_update(p, w->id, "Pid", json_integer(info.process_id), err);
out:
    json_decref(rec);
    free(params);
    free(log);
    return r;
}

/* Graceful shutdown waited GRACE_MS, then terminate (moby shutdownContainer/terminateContainer). */
static int stop_system(struct hcs_priv *p, struct hcs_system *sys, const char *id,
                       uint64_t grace_ms, int force, struct stk_err *err)
{
    const struct hcs_api *api = p->api;
    char *result = NULL;
    int32_t hr = STK_WIN_E_FAIL;

    if (!sys)
        return 0;
    if (!force) {
        hr = sys_op(api, sys, grace_ms ? (uint32_t)grace_ms : HCS_TIMEOUT_MS, &result,
                    api->shutdown_compute_system, NULL);
        api->free_string(result);
        result = NULL;
        if (hr >= 0 || stk_win_hresult_is_already_stopped(hr))
            return 0;
    }
    hr = sys_op(api, sys, HCS_TIMEOUT_MS, &result, api->terminate_compute_system, NULL);
    if (hr >= 0 || stk_win_hresult_is_already_stopped(hr)) {
        api->free_string(result);
        return 0;
    }
    return hr_err(api, err, hr, result, "terminate compute system", id);
}

static void collect_init_exit(struct hcs_priv *p, struct hcs_ctr *c)
{
    const struct hcs_api *api = p->api;
    struct hcs_operation *op;
    char *result = NULL;
    int code;
    int32_t hr;

    if (!c->init || c->exited)
        return;
    op = api->create_operation(NULL, NULL);
    hr = op ? api->get_process_properties(c->init, op, NULL) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result(op, HCS_TIMEOUT_MS, &result);
    if (op)
        api->close_operation(op);
    if (hr >= 0 && exit_code_of_status(result, &code) && ctr_mark_exited(c, code))
        record_exit(p, c->id, code, c->finished_ns);
    api->free_string(result);
}

static int do_stop(struct hcs_work *w, int force, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    struct hcs_ctr *c;
    int r;

    r = ctr_get(p, w->id, &c, err);
    if (r < 0) {
        /* A recorded container whose compute system is gone is already stopped. */
        if (stk_win_hresult_is_not_found(err->os_code)) {
            stk_err_clear(err);
            return 0;
        }
        return r;
    }
    r = stop_system(p, c->sys, w->id, w->grace_ms, force, err);
    if (r == 0 && c->uvm)
        r = stop_system(p, c->uvm, w->id, w->grace_ms, force, err);
    collect_init_exit(p, c);
    /* A monitor records the exit: state right after stop reports it. */
    if (r == 0)
        wait_monitor(p, w->id, RT_HCS_MONITOR_EXIT_WAIT_MS);
    return r;
}

static int do_delete(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    struct hcs_ctr *c = NULL;
    char *dir = ctr_dir(p, w->id);
    int r;

    r = ctr_get(p, w->id, &c, err);
    if (r < 0 && r != STK_ENOENT && !(err && stk_win_hresult_is_not_found(err->os_code)))
        goto out;
    stk_err_clear(err);
    if (c) {
        r = stop_system(p, c->sys, w->id, 0, 1, err);
        if (r == 0 && c->uvm)
            r = stop_system(p, c->uvm, w->id, 0, 1, err);
        if (r < 0)
            goto out;
        ctr_remove(p, c);
    }
    /* The monitor's last write (the exit record) lands before the directory goes. */
    wait_monitor(p, w->id, RT_HCS_MONITOR_EXIT_WAIT_MS);
    if (p->storage && stk_path_exists(dir))
        p->storage->release(p->storage->self, w->id, NULL);
    r = stk_rm_rf(dir, err);
out:
    free(dir);
    return r;
}

static enum rt_state state_of(const char *hcs_state)
{
    if (!hcs_state)
        return RT_STATE_STOPPED;
    if (strcmp(hcs_state, "Created") == 0)
        return RT_STATE_CREATED;
    if (strcmp(hcs_state, "Running") == 0)
        return RT_STATE_RUNNING;
    if (strcmp(hcs_state, "Paused") == 0)
        return RT_STATE_PAUSED;
    if (strcmp(hcs_state, "Stopped") == 0)
        return RT_STATE_STOPPED;
    return RT_STATE_UNKNOWN;
}

/* Fills INFO of ID from its record and HCS_STATE (NULL: the system is gone). */
static void info_fill(struct hcs_priv *p, const char *id, json_t *rec, const char *hcs_state,
                      struct rt_container_info *info)
{
    struct hcs_ctr *c = ctr_find(p, id);
    json_t *labels = json_object_get(rec, "Labels");
    const char *k;
    json_t *v;
    size_t i = 0;

    memset(info, 0, sizeof(*info));
    info->id = stk_xstrdup(id);
    info->name = stk_xstrdup(json_string_value(json_object_get(rec, "Name")));
    info->isolation =
        rt_isolation_from_string(json_string_value(json_object_get(rec, "Isolation")));
    if ((int)info->isolation < 0)
        info->isolation = RT_ISOLATION_PROCESS;
    info->state = state_of(hcs_state);
    info->created_ns = json_integer_value(json_object_get(rec, "Created"));
    info->started_ns = json_integer_value(json_object_get(rec, "Started"));
    info->finished_ns = json_integer_value(json_object_get(rec, "Finished"));
    if (json_object_get(rec, "ExitCode")) {
        info->has_exit_code = 1;
        info->exit_code = (int)json_integer_value(json_object_get(rec, "ExitCode"));
    }
    if (c) {
        uv_mutex_lock(&p->lock);
        if (c->exited) {
            info->has_exit_code = 1;
            info->exit_code = c->exit_code;
            info->finished_ns = c->finished_ns;
        }
        uv_mutex_unlock(&p->lock);
    }
    /* The init process exiting ends the container, whatever the silo's state. */
    if (info->has_exit_code && info->state == RT_STATE_RUNNING)
        info->state = RT_STATE_STOPPED;
    /* Process isolation: the init process is a host process; Hyper-V: the worker is not known. */
    if (info->state == RT_STATE_RUNNING && info->isolation == RT_ISOLATION_PROCESS)
        info->pid = (int)json_integer_value(json_object_get(rec, "Pid"));
    info->labels = stk_xcalloc(json_object_size(labels) + 1, sizeof(struct rt_kv));
    json_object_foreach(labels, k, v)
    {
        info->labels[i].key = stk_xstrdup(k);
        info->labels[i].value = stk_xstrdup(json_string_value(v) ? json_string_value(v) : "");
        i++;
    }
    info->n_labels = i;
}

/* Reads the Properties of every compute system owned by the product. */
static int enumerate_owned(struct hcs_priv *p, json_t **ret, struct stk_err *err)
{
    char *result = NULL;
    int32_t hr = HCS_CALL(p->api, HCS_TIMEOUT_MS, &result, enumerate_compute_systems,
                          "{\"Owners\":[\"" RT_HCS_OWNER "\"]}");

    if (hr < 0)
        return hr_err(p->api, err, hr, result, "enumerate compute systems of", RT_HCS_OWNER);
    *ret = result ? json_loads(result, 0, NULL) : json_array();
    p->api->free_string(result);
    if (!*ret)
        *ret = json_array();
    return 0;
}

static const char *hcs_state_in(json_t *systems, const char *id)
{
    size_t i;
    json_t *x;

    json_array_foreach(systems, i,
                       x) if (strcasecmp(json_string_value(json_object_get(x, "Id")) ?: "", id) ==
                              0) return json_string_value(json_object_get(x, "State"));
    return NULL;
}

static int do_state(struct hcs_work *w, struct stk_err *err)
{
    json_t *rec = record_load(w->priv, w->id), *systems = NULL;
    int r;

    if (!rec)
        return stk_err_set(err, STK_ENOENT, 0, "no such container '%s'", w->id);
    r = enumerate_owned(w->priv, &systems, err);
    if (r == 0)
        info_fill(w->priv, w->id, rec, hcs_state_in(systems, w->id), &w->info);
    json_decref(rec);
    json_decref(systems);
    return r;
}

static int do_list(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    json_t *systems = NULL;
    char *dir = stk_xasprintf("%s/containers", p->ctx->state_dir);
    struct stk_strv seen = STK_STRV_INIT;
    size_t cap = 8, i;
    json_t *x;
    uv_fs_t req;
    uv_dirent_t ent;
    int r;

    r = enumerate_owned(p, &systems, err);
    if (r < 0)
        goto out;
    stk_strv_init(&seen);
    w->list.items = stk_xcalloc(cap, sizeof(struct rt_container_info));
    if (uv_fs_scandir(NULL, &req, dir, 0, NULL) >= 0) {
        while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
            json_t *rec = record_load(p, ent.name);

            if (!rec)
                continue;
            if (w->list.n + 1 >= cap)
                w->list.items = stk_xrealloc(w->list.items, (cap *= 2) * sizeof(*w->list.items));
            info_fill(p, ent.name, rec, hcs_state_in(systems, ent.name),
                      &w->list.items[w->list.n++]);
            stk_strv_push(&seen, ent.name);
            json_decref(rec);
        }
        uv_fs_req_cleanup(&req);
    }
    /* Containers owned by the product without a record (lost state): listed without labels. */
    json_array_foreach(systems, i, x)
    {
        const char *id = json_string_value(json_object_get(x, "Id"));

        if (!id || stk_strv_contains(&seen, id) ||
            strcmp(json_string_value(json_object_get(x, "SystemType")) ?: "", "Container") != 0)
            continue;
        if (w->list.n + 1 >= cap)
            w->list.items = stk_xrealloc(w->list.items, (cap *= 2) * sizeof(*w->list.items));
        memset(&w->list.items[w->list.n], 0, sizeof(w->list.items[0]));
        w->list.items[w->list.n].id = stk_xstrdup(id);
        w->list.items[w->list.n].state = state_of(json_string_value(json_object_get(x, "State")));
        w->list.items[w->list.n].isolation =
            json_object_get(x, "HostingSystemId") ? RT_ISOLATION_HYPERV : RT_ISOLATION_PROCESS;
        w->list.n++;
    }
out:
    stk_strv_release(&seen);
    json_decref(systems);
    free(dir);
    return r;
}

struct exit_wait {
    uv_mutex_t lock;
    uv_cond_t cond;
    int exited;
    int code;
};

static void on_exec_event(const struct hcs_event *ev, void *context)
{
    struct exit_wait *ew = context;
    int code;

    if (ev->type != HCS_EVENT_PROCESS_EXITED || !exit_code_of_status(ev->event_data, &code))
        return;
    uv_mutex_lock(&ew->lock);
    ew->exited = 1;
    ew->code = code;
    uv_cond_signal(&ew->cond);
    uv_mutex_unlock(&ew->lock);
}

/* Waits for PROC's exit: HcsWaitForProcessExit when the host has it, else the exit event. */
static int wait_exit(const struct hcs_api *api, struct hcs_process *proc, uint64_t timeout_ms,
                     int *ret_code, struct stk_err *err)
{
    uint32_t t = timeout_ms ? (uint32_t)timeout_ms : HCS_TIMEOUT_MS;
    struct exit_wait ew = {.exited = 0};
    struct hcs_operation *op;
    char *result = NULL;
    int32_t hr;
    int r = 0;

    if (api->wait_for_process_exit) {
        hr = api->wait_for_process_exit(proc, t, &result);
        if (hr < 0 || !exit_code_of_status(result, ret_code))
            r = stk_err_set_hresult(err, hr < 0 ? hr : STK_WIN_E_FAIL, result,
                                    "wait for the process");
        api->free_string(result);
        return r;
    }
    uv_mutex_init(&ew.lock);
    uv_cond_init(&ew.cond);
    hr = api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, &ew, on_exec_event);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "watch the process");
        goto out;
    }
    /* It may have exited before the callback was set. */
    op = api->create_operation(NULL, NULL);
    hr = op ? api->get_process_properties(proc, op, NULL) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result(op, HCS_TIMEOUT_MS, &result);
    if (op)
        api->close_operation(op);
    uv_mutex_lock(&ew.lock);
    if (!ew.exited && hr >= 0 && exit_code_of_status(result, &ew.code))
        ew.exited = 1;
    while (!ew.exited)
        if (uv_cond_timedwait(&ew.cond, &ew.lock, (uint64_t)t * 1000000u) == UV_ETIMEDOUT)
            break;
    if (ew.exited)
        *ret_code = ew.code;
    else
        r = stk_err_set(err, STK_ETIMEDOUT, 0, "the process did not exit within %u ms", t);
    uv_mutex_unlock(&ew.lock);
    api->free_string(result);
    /* No more events into EW once the callback is cleared. */
    api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, NULL, NULL);
out:
    uv_cond_destroy(&ew.cond);
    uv_mutex_destroy(&ew.lock);
    return r;
}

static int do_exec(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    const struct hcs_api *api = p->api;
    struct hcs_ctr *c;
    struct hcs_process *proc = NULL;
    struct hcs_process_information info = {0};
    struct hcs_operation *op;
    json_t *rec = NULL;
    char *params = NULL, *result = NULL, *out = NULL, *errs = NULL;
    int32_t hr;
    int r, code = 0;

    r = ctr_get(p, w->id, &c, err);
    if (r < 0)
        return r;
    rec = record_load(p, w->id);
    if (c->init ? c->exited : !rec_monitor_running(rec)) {
        r = stk_err_set(err, STK_EINVAL, 0, "container '%s' is not running", w->id);
        goto out;
    }
    r = rt_hcs_process_params(json_object_get(rec, "Process"), (const char *const *)w->env.v,
                              w->cwd, (const char *const *)w->args.v, w->capture, w->capture,
                              &params, err);
    if (r < 0)
        goto out;
    op = api->create_operation(NULL, NULL);
    hr = op ? api->create_process(c->sys, params, op, &proc) : STK_WIN_E_OUTOFMEMORY;
    if (op && hr >= 0)
        hr = api->wait_for_operation_result_and_process_info(op, HCS_TIMEOUT_MS, &info, &result);
    if (op)
        api->close_operation(op);
    if (hr < 0) {
        r = hr_err(api, err, hr, result, "exec in", w->id);
        goto out;
    }
    api->free_string(result);
    if (info.std_input > 0)
        api->close_handle(info.std_input);
    /* Both pipes are drained at once, so that neither can fill up and block the process. */
    {
        struct drain de = {api, info.std_error, NULL};
        uv_thread_t t;
        int threaded = info.std_error > 0 && uv_thread_create(&t, drain_run, &de) == 0;

        out = read_all(api, info.std_output);
        if (threaded) {
            uv_thread_join(&t);
            errs = de.out;
        } else {
            errs = read_all(api, info.std_error);
        }
    }
    r = wait_exit(api, proc, w->timeout_ms, &code, err);
    if (r < 0) {
        r = stk_err_wrap(err, "exec in '%s'", w->id);
        goto out;
    }
    w->res.exit_code = code;
    w->output = stk_xasprintf("%s%s", out, errs);
out:
    if (proc)
        api->close_process(proc);
    json_decref(rec);
    free(params);
    free(out);
    free(errs);
    return r;
}

static int do_top(struct hcs_work *w, struct stk_err *err)
{
    struct hcs_priv *p = w->priv;
    struct hcs_ctr *c;
    struct stk_buf b = STK_BUF_INIT;
    json_t *props;
    char *result = NULL;
    size_t i;
    json_t *x;
    int32_t hr;
    int r;

    r = ctr_get(p, w->id, &c, err);
    if (r < 0)
        return r;
    hr = sys_op(p->api, c->sys, HCS_TIMEOUT_MS, &result, p->api->get_compute_system_properties,
                "{\"PropertyTypes\":[\"ProcessList\"]}");
    if (hr < 0)
        return hr_err(p->api, err, hr, result, "list the processes of", w->id);
    props = result ? json_loads(result, 0, NULL) : NULL;
    p->api->free_string(result);
    stk_buf_puts(&b, "PID\tIMAGE\n");
    json_array_foreach(json_object_get(props, "ProcessList"), i, x) stk_buf_printf(
        &b, "%lld\t%s\n", (long long)json_integer_value(json_object_get(x, "ProcessId")),
        json_string_value(json_object_get(x, "ImageName")) ?: "");
    json_decref(props);
    w->output = stk_buf_detach(&b, NULL);
    return 0;
}

static void do_host(struct hcs_work *w)
{
    struct hcs_priv *p = w->priv;
    struct rt_host_info *h = &w->host;

    memset(h, 0, sizeof(*h));
    snprintf(h->os, sizeof(h->os), "windows");
    snprintf(h->os_build, sizeof(h->os_build), "%s", p->host_build);
    snprintf(h->edition, sizeof(h->edition), "%s",
             p->edition == RT_HCS_EDITION_CLIENT ? "client" : "server");
    snprintf(h->runtime, sizeof(h->runtime), "hcs");
    h->default_isolation =
        p->edition == RT_HCS_EDITION_CLIENT ? RT_ISOLATION_HYPERV : RT_ISOLATION_PROCESS;
    if (!p->api) {
        snprintf(h->reason, sizeof(h->reason), "%s", p->reason[0] ? p->reason : HCS_UNAVAILABLE);
        return;
    }
    h->available = 1;
    h->isolations = (1u << RT_ISOLATION_PROCESS) | (1u << RT_ISOLATION_HYPERV);
    snprintf(h->runtime_version, sizeof(h->runtime_version), "%s", p->api->name);
    if (p->api->get_service_properties) {
        char *result = NULL;

        if (p->api->get_service_properties("{\"PropertyTypes\":[\"Basic\"]}", &result) >= 0) {
            json_t *j = result ? json_loads(result, 0, NULL) : NULL;
            json_t *v = json_object_get(j, "SupportedSchemaVersions");
            json_t *last = json_array_get(v, json_array_size(v) - 1);

            if (last)
                snprintf(h->runtime_version, sizeof(h->runtime_version), "%s, schema %lld.%lld",
                         p->api->name,
                         (long long)json_integer_value(json_object_get(last, "Major")),
                         (long long)json_integer_value(json_object_get(last, "Minor")));
            json_decref(j);
        }
        p->api->free_string(result);
    }
}

/* ---- the work plumbing -------------------------------------------------- */

static void work_run(uv_work_t *uw)
{
    struct hcs_work *w = uw->data;
    struct stk_err *err = &w->err;
    int r = 0;

    if (w->req.canceled) {
        stk_err_set(err, STK_ECANCELED, 0, "operation canceled");
        return;
    }
    switch (w->kind) {
    case K_HOST:
        do_host(w);
        break;
    case K_CREATE:
        r = do_create(w, err);
        break;
    case K_START:
        r = do_start(w, err);
        break;
    case K_KILL:
        r = do_stop(w, w->signal == SIGKILL, err);
        break;
    case K_STOP:
        r = do_stop(w, 0, err);
        break;
    case K_DELETE:
        r = do_delete(w, err);
        break;
    case K_STATE:
        r = do_state(w, err);
        break;
    case K_LIST:
        r = do_list(w, err);
        break;
    case K_EXEC:
        r = do_exec(w, err);
        break;
    case K_TOP:
        r = do_top(w, err);
        break;
    case K_LOGS:
        w->log_path = stk_xasprintf("%s/containers/%s/ctr.log", w->priv->ctx->state_dir, w->id);
        if (!stk_path_exists(w->log_path))
            r = stk_err_set(err, STK_ENOENT, 0, "container '%s' has no log", w->id);
        break;
    }
    if (r < 0 && !err->code)
        stk_err_set(err, r, 0, "hcs operation failed");
}

static void work_free(struct hcs_work *w)
{
    free(w->id);
    json_decref(w->spec);
    stk_strv_release(&w->args);
    stk_strv_release(&w->env);
    free(w->cwd);
    stk_err_clear(&w->err);
    rt_container_info_release(&w->info);
    rt_container_list_release(&w->list);
    free(w->output);
    free(w->log_path);
    free(w);
}

static void work_after(uv_work_t *uw, int status)
{
    struct hcs_work *w = uw->data;

    if (status == UV_ECANCELED)
        stk_err_set(&w->err, STK_ECANCELED, 0, "operation canceled");
    if (w->err.code) {
        w->done(&w->req, NULL, &w->err, w->userdata);
    } else {
        switch (w->kind) {
        case K_HOST:
            w->res.kind = RT_RESULT_HOST_INFO;
            w->res.host = &w->host;
            break;
        case K_STATE:
            w->res.kind = RT_RESULT_INFO;
            w->res.info = &w->info;
            break;
        case K_LIST:
            w->res.kind = RT_RESULT_LIST;
            w->res.list = &w->list;
            break;
        case K_EXEC:
            w->res.kind = RT_RESULT_EXEC;
            w->res.output = w->output;
            break;
        case K_TOP:
            w->res.kind = RT_RESULT_TOP;
            w->res.output = w->output;
            break;
        case K_LOGS:
            w->res.kind = RT_RESULT_LOGS;
            w->res.log_path = w->log_path;
            break;
        default:
            w->res.kind = RT_RESULT_NONE;
        }
        w->done(&w->req, &w->res, NULL, w->userdata);
    }
    work_free(w);
}

static void work_cancel(struct rt_req *req)
{
    struct hcs_work *w = (struct hcs_work *)req;

    uv_cancel((uv_req_t *)&w->work); /* fails harmlessly once running; the flag is checked */
}

static struct hcs_work *work_new(struct rt_ctx *ctx, enum hcs_kind kind, const char *id,
                                 rt_done_fn *done, void *userdata)
{
    struct hcs_work *w = stk_new0(struct hcs_work);

    w->req.ctx = ctx;
    w->req.cancel = work_cancel;
    w->kind = kind;
    w->priv = priv_of(ctx);
    w->id = stk_xstrdup(id);
    w->done = done;
    w->userdata = userdata;
    w->work.data = w;
    return w;
}

static int work_queue(struct rt_ctx *ctx, struct hcs_work *w, struct rt_req **ret_req,
                      struct stk_err *err)
{
    int r = uv_queue_work(ctx->loop, &w->work, work_run, work_after);

    if (r < 0) {
        work_free(w);
        return stk_err_set(err, STK_ERUNTIME, 0, "queue hcs work: %s", uv_strerror(r));
    }
    if (ret_req)
        *ret_req = &w->req;
    return 0;
}

static int check_ready(struct rt_ctx *ctx, const char *id, rt_done_fn *done, int need_id,
                       struct stk_err *err)
{
    struct hcs_priv *p = priv_of(ctx);

    if (!done || (need_id && (!id || !*id)))
        return stk_err_set(err, STK_EINVAL, 0, "hcs: missing argument");
    if (!p->api)
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", p->reason[0] ? p->reason : HCS_UNAVAILABLE);
    return 0;
}

/* ---- the ops ------------------------------------------------------------ */

#if STK_HAVE_HCS
/* The default launcher on Windows: `stack internal hcs-monitor ID`, detached. */
static int spawn_monitor(void *self, const char *state_dir, const char *run_dir, const char *id,
                         struct stk_err *err)
{
    struct rt_ctx *ctx = self;

    return rt_hcs_monitor_spawn(ctx->self_exe, state_dir, run_dir, id, RT_HCS_MONITOR_READY_MS,
                                err);
}
#endif

static int hcs_init(struct rt_ctx *ctx, struct stk_err *err)
{
    struct hcs_priv *p = priv_of(ctx);

    p->ctx = ctx;
    p->host_cpus = uv_available_parallelism();
    snprintf(p->host_build, sizeof(p->host_build), "10.0.0");
    uv_mutex_init(&p->lock);
    p->async = stk_new0(uv_async_t);
    if (uv_async_init(ctx->loop, p->async, on_async) < 0) {
        free(p->async);
        uv_mutex_destroy(&p->lock);
        return stk_err_set(err, STK_ERUNTIME, 0, "hcs: uv_async_init failed");
    }
    p->async->data = p;
    uv_unref((uv_handle_t *)p->async);
#if STK_HAVE_HCS
    {
        struct stk_err e = STK_ERR_INIT;

        p->api = rt_hcs_api_win32(&e);
        if (!p->api)
            snprintf(p->reason, sizeof(p->reason), "%s", e.msg);
        else
            rt_hcs_win32_host_version(p->host_build, sizeof(p->host_build), &p->edition);
        stk_err_clear(&e);
        /* Layer storage: STATE\windowsfilter and STATE\scratch (hcs-storage.c). */
        if (p->api) {
            const struct hcs_storage_calls *calls = rt_hcs_storage_calls_win32(&e);

            if (calls) {
                char *root = stk_xasprintf("%s\\windowsfilter", ctx->state_dir);
                char *scratch = stk_xasprintf("%s\\scratch", ctx->state_dir);

                for (char *q = root; *q; q++)
                    *q = *q == '/' ? '\\' : *q;
                for (char *q = scratch; *q; q++)
                    *q = *q == '/' ? '\\' : *q;
                p->own_storage = rt_hcs_storage_new(root, scratch, ctx->images, calls, &e);
                p->storage = rt_hcs_storage_api_of(p->own_storage);
                free(root);
                free(scratch);
            }
            stk_err_clear(&e);
        }
        /* The detached monitor process holds every container's init process (DESIGN.md §3). */
        if (ctx->self_exe) {
            p->launch = spawn_monitor;
            p->launch_self = ctx;
        }
    }
#else
    snprintf(p->reason, sizeof(p->reason), "%s", HCS_UNAVAILABLE);
#endif
    return 0;
}

static void async_closed(uv_handle_t *h)
{
    free(h);
}

static void hcs_fini(struct rt_ctx *ctx)
{
    struct hcs_priv *p = priv_of(ctx);

    while (p->ctrs) {
        struct hcs_ctr *c = p->ctrs;

        p->ctrs = c->next;
        /* Closing handles does not stop containers (ShouldTerminateOnLastHandleClosed false). */
        ctr_close_handles(p->api, c);
        if (c->exited)
            ctr_join_pumps(c);
        free(c->id);
        free(c);
    }
    while (p->notes) {
        struct hcs_note *n = p->notes;

        p->notes = n->next;
        free(n->id);
        free(n);
    }
    uv_close((uv_handle_t *)p->async, async_closed);
    uv_mutex_destroy(&p->lock);
    rt_hcs_storage_free(p->own_storage);
}

static int hcs_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err)
{
    if (!done)
        return stk_err_set(err, STK_EINVAL, 0, "hcs: missing argument");
    return work_queue(ctx, work_new(ctx, K_HOST, "", done, userdata), ret_req, err);
}

static int hcs_create(struct rt_ctx *ctx, const struct rt_container_spec *spec, rt_done_fn *done,
                      void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct hcs_work *w;
    int r = check_ready(ctx, spec ? spec->id : NULL, done, 1, err);

    if (r < 0)
        return r;
    if (spec->isolation != RT_ISOLATION_PROCESS && spec->isolation != RT_ISOLATION_HYPERV)
        return stk_err_set(err, STK_EINVAL, 0, "container '%s': unresolved isolation", spec->id);
    w = work_new(ctx, K_CREATE, spec->id, done, userdata);
    w->spec = spec_copy(spec);
    return work_queue(ctx, w, ret_req, err);
}

#define SIMPLE_OP(fn, kind)                                                                        \
    static int fn(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,            \
                  struct rt_req **ret_req, struct stk_err *err)                                    \
    {                                                                                              \
        int r = check_ready(ctx, id, done, 1, err);                                                \
        if (r < 0)                                                                                 \
            return r;                                                                              \
        return work_queue(ctx, work_new(ctx, kind, id, done, userdata), ret_req, err);             \
    }

SIMPLE_OP(hcs_start, K_START)
SIMPLE_OP(hcs_delete, K_DELETE)
SIMPLE_OP(hcs_state, K_STATE)
SIMPLE_OP(hcs_logs, K_LOGS)
SIMPLE_OP(hcs_top, K_TOP)

static int hcs_kill(struct rt_ctx *ctx, const char *id, int signal, rt_done_fn *done,
                    void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct hcs_work *w;
    int r = check_ready(ctx, id, done, 1, err);

    if (r < 0)
        return r;
    w = work_new(ctx, K_KILL, id, done, userdata);
    w->signal = signal;
    return work_queue(ctx, w, ret_req, err);
}

static int hcs_stop(struct rt_ctx *ctx, const char *id, int signal, uint64_t grace_ms,
                    rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct hcs_work *w;
    int r = check_ready(ctx, id, done, 1, err);

    if (r < 0)
        return r;
    w = work_new(ctx, K_STOP, id, done, userdata);
    w->signal = signal;
    w->grace_ms = grace_ms;
    return work_queue(ctx, w, ret_req, err);
}

static int hcs_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                    struct stk_err *err)
{
    int r = check_ready(ctx, NULL, done, 0, err);

    if (r < 0)
        return r;
    return work_queue(ctx, work_new(ctx, K_LIST, "", done, userdata), ret_req, err);
}

static int hcs_exec(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                    rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct hcs_work *w;
    int r = check_ready(ctx, id, done, 1, err);

    if (r < 0)
        return r;
    if (!opts || !opts->args || !opts->args[0])
        return stk_err_set(err, STK_EINVAL, 0, "exec in '%s': no command", id);
    w = work_new(ctx, K_EXEC, id, done, userdata);
    stk_strv_init(&w->args);
    stk_strv_init(&w->env);
    for (size_t i = 0; opts->args[i]; i++)
        stk_strv_push(&w->args, opts->args[i]);
    for (size_t i = 0; opts->env && opts->env[i]; i++)
        stk_strv_push(&w->env, opts->env[i]);
    w->cwd = stk_xstrdup(opts->cwd);
    w->capture = opts->capture;
    w->timeout_ms = opts->timeout_ms;
    return work_queue(ctx, w, ret_req, err);
}

/* ops->image_check: the version rule of reference §5.3 for the host HOST reported. */
static int hcs_image_check(struct rt_ctx *ctx, const struct rt_host_info *host,
                           const char *image_os_version, enum rt_isolation isolation,
                           const char *image, unsigned flags, struct stk_err *err)
{
    const struct hcs_priv *p = priv_of(ctx);
    const char *build = host && *host->os_build ? host->os_build : p->host_build;
    int edition =
        host && *host->edition ? rt_hcs_edition_from_string(host->edition) : (int)p->edition;

    return rt_hcs_check_compat(
        build, edition < 0 ? RT_HCS_EDITION_SERVER : (enum rt_hcs_edition)edition, image_os_version,
        isolation, image,
        flags & RT_IMAGE_CHECK_ALLOW_NEWER_HYPERV ? RT_HCS_COMPAT_ALLOW_NEWER_HYPERV : 0, err);
}

static const struct rt_driver_ops hcs_ops = {
    .init = hcs_init,
    .fini = hcs_fini,
    .host_info = hcs_host_info,
    .create = hcs_create,
    .start = hcs_start,
    .kill = hcs_kill,
    .stop = hcs_stop,
    .delete = hcs_delete,
    .state = hcs_state,
    .list = hcs_list,
    .exec = hcs_exec,
    .logs = hcs_logs,
    .top = hcs_top,
    .image_check = hcs_image_check,
    .set_net_peer = rt_hcs_ctx_set_network,
};

const struct rt_driver rt_driver_hcs = {
    .name = "hcs",
    .abi_version = RT_DRIVER_ABI_1,
    .caps = RT_CAP_EXEC | RT_CAP_TOP | RT_CAP_LOGS,
    .priv_size = sizeof(struct hcs_priv),
    .ops = &hcs_ops,
};

void rt_hcs_ctx_set_network(struct rt_ctx *ctx, const struct rt_net_peer *net)
{
    if (ctx && ctx->driver == &rt_driver_hcs)
        priv_of(ctx)->net = net;
}

void rt_hcs_ctx_set_monitor_launcher(struct rt_ctx *ctx, rt_hcs_monitor_launch_fn *fn, void *self)
{
    struct hcs_priv *p;

    if (!ctx || ctx->driver != &rt_driver_hcs)
        return;
    p = priv_of(ctx);
    p->launch = fn;
    p->launch_self = fn ? self : NULL;
#if STK_HAVE_HCS
    if (!fn && ctx->self_exe) {
        p->launch = spawn_monitor;
        p->launch_self = ctx;
    }
#endif
}

struct rt_ctx *rt_hcs_ctx_new(uv_loop_t *loop, const char *state_dir, const char *run_dir,
                              const char *self_exe, const struct hcs_api *api,
                              const struct rt_hcs_storage_api *storage, const char *host_build,
                              enum rt_hcs_edition host_edition, struct stk_err *err)
{
    struct rt_ctx *ctx;
    struct hcs_priv *p;

    if (!api || !host_build) {
        stk_err_set(err, STK_EINVAL, 0, "hcs: an api table and a host build are needed");
        return NULL;
    }
    ctx = rt_ctx_new(&rt_driver_hcs, loop, state_dir, run_dir, self_exe, NULL, err);
    if (!ctx)
        return NULL;
    p = priv_of(ctx);
    p->api = api;
    p->storage = storage;
    p->reason[0] = '\0';
    p->edition = host_edition;
    snprintf(p->host_build, sizeof(p->host_build), "%s", host_build);
    return ctx;
}
