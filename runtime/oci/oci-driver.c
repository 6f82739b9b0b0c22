/*
 * oci-driver.c - the OCI runtime driver: runc or crun under conmon
 * (DESIGN.md §2, §3; issue "runs real containers on Linux").
 *
 * Each container gets a bundle under STATE_DIR/containers/ID/ (see
 * oci-internal.h), an overlayfs root built from the image store's layers
 * (oci-rootfs.c), and conmon as its detached monitor: conmon runs
 * `RUNTIME create`, reports the container PID over the OCI sync pipe, holds
 * the container's stdio, writes the k8s-file log and the exit file, and lives
 * on after the CLI exits. The low-level runtime keeps its state under a root
 * of our own (RUN_DIR/runc or RUN_DIR/crun), so `list` sees exactly the
 * product's containers; labels are OCI annotations and labels.json.
 *
 * crun is preferred where it works on this host; it fails on some hybrid
 * cgroup layouts ("cgroups in hybrid mode not supported"), so init runs one
 * trivial probe container and caches the verdict in STATE_DIR/runtime.json.
 */
#include "runtime/oci/oci-internal.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-proc.h"
#include "common/stk-strv.h"

#define OCI_CONMON_TIMEOUT_MS 120000
#define OCI_RUNTIME_TIMEOUT_MS 60000
#define OCI_POLL_MS 20
#define OCI_KILL_WAIT_MS 15000

/* ---- request plumbing ---------------------------------------------------------------------- */

enum oci_op {
    OP_HOST_INFO,
    OP_CREATE,
    OP_START,
    OP_KILL,
    OP_STOP,
    OP_DELETE,
    OP_STATE,
    OP_LIST,
    OP_EXEC,
    OP_LOGS,
    OP_TOP,
};

struct oci_req {
    struct rt_req base; /* first: rt_req_cancel() gets this */
    enum oci_op op;
    rt_done_fn *done;
    void *userdata;
    char *id;
    char *cdir;
    int step;
    int signal;
    uint64_t grace_ms;
    uint64_t waited_ms;
    int conmon_pid;
    int not_in_runtime;             /* delete: the runtime did not know the container */
    struct rt_container_spec *spec; /* deep copy for create (work thread) */
    json_t *config;
    struct rt__proc *proc;
    uv_timer_t timer;
    int timer_active;
    uv_work_t work;
    struct stk_err err;
    struct rt_container_info info;
    struct rt_container_list list;
    struct rt_host_info host;
    int exit_code;
    char *output;
};

static void oci_req_cancel(struct rt_req *base)
{
    struct oci_req *r = (struct oci_req *)base;

    if (r->proc)
        rt__proc_cancel(r->proc);
}

static struct oci_req *oci_req_new(struct rt_ctx *ctx, enum oci_op op, const char *id,
                                   rt_done_fn *done, void *userdata)
{
    struct oci_req *r = stk_new0(struct oci_req);

    r->base.ctx = ctx;
    r->base.cancel = oci_req_cancel;
    r->op = op;
    r->done = done;
    r->userdata = userdata;
    r->id = stk_xstrdup(id);
    r->cdir = id ? rt__oci_cdir(ctx, id, NULL) : NULL;
    uv_timer_init(ctx->loop, &r->timer);
    r->timer.data = r;
    return r;
}

static void oci_req_free_cb(uv_handle_t *h)
{
    struct oci_req *r = h->data;

    free(r->id);
    free(r->cdir);
    if (r->spec) {
        rt_container_spec_release(r->spec);
        free(r->spec);
    }
    json_decref(r->config);
    stk_err_clear(&r->err);
    rt_container_info_release(&r->info);
    rt_container_list_release(&r->list);
    free(r->output);
    free(r);
}

/* Delivers the result (or r->err) and frees the request once its timer is closed. */
static void oci_req_finish(struct oci_req *r)
{
    struct rt_result res;

    memset(&res, 0, sizeof(res));
    uv_timer_stop(&r->timer);
    if (r->base.canceled && !r->err.code)
        stk_err_set(&r->err, STK_ECANCELED, 0, "operation on '%s' canceled", r->id ? r->id : "");
    if (!r->err.code) {
        switch (r->op) {
        case OP_HOST_INFO:
            res.kind = RT_RESULT_HOST_INFO;
            res.host = &r->host;
            break;
        case OP_STATE:
            res.kind = RT_RESULT_INFO;
            res.info = &r->info;
            break;
        case OP_LIST:
            res.kind = RT_RESULT_LIST;
            res.list = &r->list;
            break;
        case OP_EXEC:
            res.kind = RT_RESULT_EXEC;
            res.exit_code = r->exit_code;
            res.output = r->output ? r->output : "";
            break;
        case OP_TOP:
            res.kind = RT_RESULT_TOP;
            res.output = r->output ? r->output : "";
            break;
        case OP_LOGS:
            res.kind = RT_RESULT_LOGS;
            res.log_path = r->output;
            break;
        default:
            res.kind = RT_RESULT_NONE;
            break;
        }
    }
    r->done(&r->base, r->err.code ? NULL : &res, r->err.code ? &r->err : NULL, r->userdata);
    uv_close((uv_handle_t *)&r->timer, oci_req_free_cb);
}

static void oci_finish_cb(uv_timer_t *t)
{
    oci_req_finish(t->data);
}

/* Finishes R on a later loop iteration (the contract: done runs after the op returned). */
static void oci_req_finish_later(struct oci_req *r)
{
    uv_timer_start(&r->timer, oci_finish_cb, 0, 0);
}

char *rt__oci_cdir(const struct rt_ctx *ctx, const char *id, const char *leaf)
{
    if (leaf)
        return stk_xasprintf("%s/containers/%s/%s", ctx->state_dir, id, leaf);
    return stk_xasprintf("%s/containers/%s", ctx->state_dir, id);
}

int64_t rt__oci_parse_time(const char *s)
{
    struct tm tm;
    const char *p;
    int64_t ns = 0;
    int digits = 0;

    if (!s)
        return 0;
    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 9)
                ns = ns * 10 + (*p - '0');
        for (; digits < 9; digits++)
            ns *= 10;
    }
    return (int64_t)timegm(&tm) * 1000000000LL + ns;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct rt__oci *oci_priv(struct rt_ctx *ctx)
{
    return ctx->priv;
}

/* argv for the low-level runtime: RUNTIME --root ROOT VERB ... */
static void runtime_argv(struct rt_ctx *ctx, struct stk_strv *v, const char *verb)
{
    struct rt__oci *o = oci_priv(ctx);

    stk_strv_init(v);
    stk_strv_push(v, o->runtime_path);
    stk_strv_push(v, "--root");
    stk_strv_push(v, o->root);
    stk_strv_push(v, verb);
}

/* The last line of a runtime's stderr, with runc's logrus prefix removed. */
static void runtime_msg(const struct stk_buf *errb, char *out, size_t size)
{
    const char *s = errb->buf;
    const char *last = s, *p, *msg;
    size_t len;

    for (p = s; *p; p++)
        if (*p == '\n' && p[1])
            last = p + 1;
    msg = strstr(last, "msg=\"");
    if (msg) {
        msg += 5;
        len = strcspn(msg, "\n");
        if (len && msg[len - 1] == '"')
            len--;
    } else {
        msg = last;
        len = strcspn(msg, "\n");
    }
    if (len >= size)
        len = size - 1;
    memcpy(out, msg, len);
    out[len] = '\0';
    /* Unescape \" from logrus quoting. */
    for (char *q = out; (q = strstr(q, "\\\"")); q++)
        memmove(q, q + 1, strlen(q));
}

static int read_int_file(const char *path, long *ret)
{
    char *data = NULL;
    char *end;
    long v;

    if (stk_file_read(path, &data, NULL, NULL) < 0)
        return -1;
    v = strtol(data, &end, 10);
    if (end == data) {
        free(data);
        return -1;
    }
    free(data);
    *ret = v;
    return 0;
}

static int64_t read_i64_file(const char *path)
{
    char *data = NULL;
    int64_t v;

    if (stk_file_read(path, &data, NULL, NULL) < 0)
        return 0;
    v = strtoll(data, NULL, 10);
    free(data);
    return v;
}

/* Loads labels.json of ID into INFO (labels and name). Missing file: no labels. */
static void load_labels(struct rt_ctx *ctx, const char *id, struct rt_container_info *info)
{
    char *path = rt__oci_cdir(ctx, id, "labels.json");
    json_t *root = json_load_file(path, 0, NULL);
    json_t *labels, *v;
    const char *k;
    size_t i = 0;

    free(path);
    if (!root)
        return;
    info->name = stk_xstrdup(json_string_value(json_object_get(root, "name")));
    labels = json_object_get(root, "labels");
    info->labels = stk_xcalloc(json_object_size(labels) + 1, sizeof(struct rt_kv));
    json_object_foreach(labels, k, v)
    {
        if (!json_is_string(v))
            continue;
        info->labels[i].key = stk_xstrdup(k);
        info->labels[i].value = stk_xstrdup(json_string_value(v));
        i++;
    }
    info->n_labels = i;
    json_decref(root);
}

/* Fills the parts of INFO that come from the container dir: exit code, start time, isolation. */
static void load_dir_facts(struct rt_ctx *ctx, const char *id, struct rt_container_info *info)
{
    char *exitf = stk_xasprintf("%s/containers/%s/exit/%s", ctx->state_dir, id, id);
    char *startf = rt__oci_cdir(ctx, id, "started");
    struct stat st;
    long code;
    const char *iso;

    if (read_int_file(exitf, &code) == 0) {
        info->has_exit_code = 1;
        info->exit_code = (int)code;
        if (stat(exitf, &st) == 0)
            info->finished_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    }
    info->started_ns = read_i64_file(startf);
    iso = rt_container_info_label(info, RT_LABEL_ISOLATION);
    info->isolation = RT_ISOLATION_PROCESS;
    if (iso && rt_isolation_from_string(iso) >= 0)
        info->isolation = rt_isolation_from_string(iso);
    free(exitf);
    free(startf);
}

/* Fills INFO from one runc/crun state object (runtime.md "State"). */
static void info_from_state(struct rt_ctx *ctx, json_t *st, struct rt_container_info *info)
{
    const char *id = json_string_value(json_object_get(st, "id"));
    const char *status = json_string_value(json_object_get(st, "status"));
    enum rt_state s = rt_state_from_string(status ? status : "");

    memset(info, 0, sizeof(*info));
    info->id = stk_xstrdup(id);
    info->state = (int)s < 0 ? RT_STATE_UNKNOWN : s;
    info->pid = (int)json_integer_value(json_object_get(st, "pid"));
    if (info->state != RT_STATE_RUNNING && info->state != RT_STATE_PAUSED)
        info->pid = info->state == RT_STATE_CREATED ? info->pid : 0;
    info->created_ns = rt__oci_parse_time(json_string_value(json_object_get(st, "created")));
    load_labels(ctx, id, info);
    load_dir_facts(ctx, id, info);
}

/* ---- host_info and the crun probe ---------------------------------------------------------- */

static int find_exe(const char *name, char *out, size_t size)
{
    static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                       "/sbin",           "/bin",           NULL};

    for (size_t i = 0; dirs[i]; i++) {
        char *p = stk_xasprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0) {
            snprintf(out, size, "%s", p);
            free(p);
            return 0;
        }
        free(p);
    }
    return -1;
}

struct probe_state {
    int done;
    int64_t status;
    char msg[256];
};

static void probe_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                     const struct stk_buf *errb, const struct stk_buf *sync,
                     const struct stk_err *err, void *userdata)
{
    struct probe_state *ps = userdata;

    (void)out;
    (void)sync;
    ps->done = 1;
    ps->status = err ? -1 : (term_signal ? -term_signal : exit_status);
    runtime_msg(errb, ps->msg, sizeof(ps->msg));
}

/* Runs ARGV to completion on LOOP (init only: nothing else runs on the loop yet). */
static int64_t run_sync(uv_loop_t *loop, char *const *argv, char *msg, size_t msg_size)
{
    struct rt__spawn_opts so = {.argv = argv, .capture = 1, .timeout_ms = OCI_RUNTIME_TIMEOUT_MS};
    struct probe_state ps = {0};
    struct stk_err err = STK_ERR_INIT;

    if (rt__oci_spawn(loop, &so, probe_cb, &ps, NULL, &err) < 0) {
        snprintf(msg, msg_size, "%.200s", err.msg);
        return -1;
    }
    while (!ps.done)
        uv_run(loop, UV_RUN_ONCE);
    if (msg)
        snprintf(msg, msg_size, "%s", ps.msg);
    return ps.status;
}

/*
 * Runs /bin/true from a read-only view of the host's /usr in a container under
 * crun. Returns 1 when crun works on this host, 0 when it does not.
 */
static int probe_crun(struct rt_ctx *ctx, const char *crun, char *why, size_t why_size)
{
    static const char *const links[] = {"bin", "sbin", "lib", "lib64", "lib32", "libx32", NULL};
    char *dir = stk_xasprintf("%s/probe-%ld", ctx->state_dir, (long)getpid());
    char *rootfs = stk_xasprintf("%s/rootfs", dir);
    char *root = stk_xasprintf("%s/crun-probe", ctx->run_dir);
    char *id = stk_xasprintf("stack-probe-%ld", (long)getpid());
    struct rt_container_spec spec;
    struct stk_strv argv = STK_STRV_INIT;
    struct rt_mount usr = {(char *)"bind", (char *)"/usr", (char *)"/usr", 1};
    char *args[] = {(char *)"/bin/true", NULL};
    json_t *cfg = NULL;
    char *cfgpath = NULL;
    int works = 0;

    memset(&spec, 0, sizeof(spec));
    if (stk_mkdir_p(rootfs, 0755, NULL) < 0 || stk_mkdir_p(root, 0700, NULL) < 0)
        goto out;
    for (size_t i = 0; links[i]; i++) {
        char *host = stk_xasprintf("/%s", links[i]);
        char *in = stk_xasprintf("%s/%s", rootfs, links[i]);
        char target[256];
        ssize_t n = readlink(host, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (symlink(target, in) < 0 && errno != EEXIST)
                works = 0;
        }
        free(host);
        free(in);
    }
    spec.id = id;
    spec.name = id;
    spec.process.args = args;
    spec.mounts = &usr;
    spec.n_mounts = 1;
    stk_mkdir_p(rootfs, 0755, NULL);
    {
        char *usrdir = stk_xasprintf("%s/usr", rootfs);
        stk_mkdir_p(usrdir, 0755, NULL);
        free(usrdir);
    }
    if (rt__oci_config_new(&spec, rootfs, &cfg, NULL) < 0)
        goto out;
    json_object_del(json_object_get(cfg, "linux"), "cgroupsPath");
    cfgpath = stk_xasprintf("%s/config.json", dir);
    if (json_dump_file(cfg, cfgpath, 0) < 0)
        goto out;
    stk_strv_init(&argv);
    stk_strv_push(&argv, crun);
    stk_strv_push(&argv, "--root");
    stk_strv_push(&argv, root);
    stk_strv_push(&argv, "run");
    stk_strv_push(&argv, "-b");
    stk_strv_push(&argv, dir);
    stk_strv_push(&argv, id);
    works = run_sync(ctx->loop, argv.v, why, why_size) == 0;
    stk_strv_release(&argv);
    stk_strv_init(&argv);
    stk_strv_push(&argv, crun);
    stk_strv_push(&argv, "--root");
    stk_strv_push(&argv, root);
    stk_strv_push(&argv, "delete");
    stk_strv_push(&argv, "-f");
    stk_strv_push(&argv, id);
    run_sync(ctx->loop, argv.v, NULL, 0);
out:
    stk_strv_release(&argv);
    json_decref(cfg);
    free(cfgpath);
    stk_rm_rf(dir, NULL);
    stk_rm_rf(root, NULL);
    free(dir);
    free(rootfs);
    free(root);
    free(id);
    return works;
}

/* Whether "/" is a mount point in this mount namespace (runc needs it for pivot_root). */
static int root_is_mount_point(void)
{
    char *info = NULL;
    int found = 0;

    if (stk_file_read("/proc/self/mountinfo", &info, NULL, NULL) < 0)
        return 1; /* cannot tell: let the runtime decide */
    for (char *line = info; line && *line && !found;) {
        char *next = strchr(line, '\n');
        char *f = line;
        if (next)
            *next = '\0';
        /* Field 5 is the mount point. */
        for (int i = 0; i < 4 && f; i++) {
            f = strchr(f, ' ');
            if (f)
                f++;
        }
        if (f && strncmp(f, "/ ", 2) == 0)
            found = 1;
        line = next ? next + 1 : NULL;
    }
    free(info);
    return found;
}

static int oci_init(struct rt_ctx *ctx, struct stk_err *err)
{
    struct rt__oci *o = oci_priv(ctx);
    char *cache = stk_xasprintf("%s/runtime.json", ctx->state_dir);
    char crun[256] = "", runc[256] = "", why[256] = "";
    json_t *j = NULL;
    int use_crun = 0, ret = 0;
    struct stat st;

    if (stk_mkdir_p(ctx->state_dir, 0711, err) < 0 || stk_mkdir_p(ctx->run_dir, 0711, err) < 0) {
        ret = err->code;
        goto out;
    }
    if (find_exe("conmon", o->conmon_path, sizeof(o->conmon_path)) < 0)
        o->conmon_path[0] = '\0';
    find_exe("crun", crun, sizeof(crun));
    find_exe("runc", runc, sizeof(runc));
    if (getenv("STACK_OCI_RUNTIME")) {
        /* An explicit choice (tests, benchmarks): "runc" or "crun". */
        use_crun = strcmp(getenv("STACK_OCI_RUNTIME"), "crun") == 0 && crun[0];
    } else if (crun[0] && stat(crun, &st) == 0) {
        /* The cached verdict is keyed on crun's size and mtime, so an upgrade re-probes. */
        char key[64];
        snprintf(key, sizeof(key), "%lld-%lld", (long long)st.st_size,
                 (long long)st.st_mtim.tv_sec);
        j = json_load_file(cache, 0, NULL);
        if (j && json_is_string(json_object_get(j, "crun_key")) &&
            strcmp(json_string_value(json_object_get(j, "crun_key")), key) == 0) {
            use_crun = json_is_true(json_object_get(j, "crun_works"));
        } else {
            use_crun = probe_crun(ctx, crun, why, sizeof(why));
            json_decref(j);
            j = json_pack("{s:s, s:b, s:s}", "crun_key", key, "crun_works", use_crun, "crun_error",
                          why);
            json_dump_file(j, cache, JSON_INDENT(2));
        }
    }
    if (use_crun) {
        snprintf(o->runtime_path, sizeof(o->runtime_path), "%s", crun);
        snprintf(o->runtime_name, sizeof(o->runtime_name), "crun");
    } else if (runc[0]) {
        snprintf(o->runtime_path, sizeof(o->runtime_path), "%s", runc);
        snprintf(o->runtime_name, sizeof(o->runtime_name), "runc");
    } else if (crun[0]) {
        snprintf(o->reason, sizeof(o->reason),
                 "crun does not work on this host (%.150s) and runc is not installed", why);
    } else {
        snprintf(o->reason, sizeof(o->reason), "neither runc nor crun is installed");
    }
    if (!o->reason[0] && !o->conmon_path[0])
        snprintf(o->reason, sizeof(o->reason), "conmon is not installed");
    if (geteuid() != 0 && !o->reason[0])
        snprintf(o->reason, sizeof(o->reason), "the OCI runtime driver needs root");
    if (!o->reason[0] && !root_is_mount_point())
        snprintf(o->reason, sizeof(o->reason),
                 "the root directory is not a mount point (a chroot?): the OCI runtime cannot "
                 "pivot a container's root from here; bind-mount the root onto itself first");
    snprintf(o->root, sizeof(o->root), "%s/%s", ctx->run_dir,
             o->runtime_name[0] ? o->runtime_name : "runc");
    if (o->runtime_name[0]) {
        /* runc/crun calls an interrupted pass started under our root: let them finish. */
        char *marker = stk_xasprintf("%s", o->root);
        stk_proc_wait_stragglers(marker, o->runtime_name, 0, 30000);
        free(marker);
    }
out:
    json_decref(j);
    free(cache);
    return ret;
}

static void oci_fini(struct rt_ctx *ctx)
{
    (void)ctx;
}

static int oci_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err)
{
    struct rt__oci *o = oci_priv(ctx);
    struct oci_req *r = oci_req_new(ctx, OP_HOST_INFO, NULL, done, userdata);
    char release[64] = "";
    char *rel = NULL;

    (void)err;
    r->host.available = o->reason[0] == '\0';
    snprintf(r->host.reason, sizeof(r->host.reason), "%s", o->reason);
    r->host.isolations = 1u << RT_ISOLATION_PROCESS;
    r->host.default_isolation = RT_ISOLATION_PROCESS;
    snprintf(r->host.os, sizeof(r->host.os), "linux");
    if (stk_file_read("/proc/sys/kernel/osrelease", &rel, NULL, NULL) == 0) {
        rel[strcspn(rel, "\n")] = '\0';
        snprintf(release, sizeof(release), "%s", rel);
        free(rel);
    }
    snprintf(r->host.os_build, sizeof(r->host.os_build), "%s", release);
    snprintf(r->host.runtime, sizeof(r->host.runtime), "%s", o->runtime_name);
    if (ret_req)
        *ret_req = &r->base;
    oci_req_finish_later(r);
    return 0;
}

/* ---- create ---------------------------------------------------------------------------------- */

static struct rt_container_spec *spec_copy(const struct rt_container_spec *s)
{
    struct rt_container_spec *c = stk_new0(struct rt_container_spec);

    c->id = stk_xstrdup(s->id);
    c->name = stk_xstrdup(s->name);
    c->isolation = s->isolation;
    c->image_ref = stk_xstrdup(s->image_ref);
    c->image_config_digest = stk_xstrdup(s->image_config_digest);
    c->layer_digests = stk_strv_dup(s->layer_digests);
    c->hostname = stk_xstrdup(s->hostname);
    c->process.args = stk_strv_dup(s->process.args);
    c->process.env = stk_strv_dup(s->process.env);
    c->process.cwd = stk_xstrdup(s->process.cwd);
    c->process.user = stk_xstrdup(s->process.user);
    c->process.terminal = s->process.terminal;
    c->n_mounts = s->n_mounts;
    c->mounts = stk_xcalloc(s->n_mounts + 1, sizeof(struct rt_mount));
    for (size_t i = 0; i < s->n_mounts; i++) {
        c->mounts[i].type = stk_xstrdup(s->mounts[i].type);
        c->mounts[i].source = stk_xstrdup(s->mounts[i].source);
        c->mounts[i].target = stk_xstrdup(s->mounts[i].target);
        c->mounts[i].read_only = s->mounts[i].read_only;
    }
    c->n_devices = s->n_devices;
    c->devices = stk_xcalloc(s->n_devices + 1, sizeof(struct rt_device));
    for (size_t i = 0; i < s->n_devices; i++) {
        c->devices[i].host_path = stk_xstrdup(s->devices[i].host_path);
        c->devices[i].container_path = stk_xstrdup(s->devices[i].container_path);
        c->devices[i].permissions = stk_xstrdup(s->devices[i].permissions);
    }
    c->resources = s->resources;
    c->sandbox = stk_xstrdup(s->sandbox);
    c->n_labels = s->n_labels;
    c->labels = stk_xcalloc(s->n_labels + 1, sizeof(struct rt_kv));
    for (size_t i = 0; i < s->n_labels; i++) {
        c->labels[i].key = stk_xstrdup(s->labels[i].key);
        c->labels[i].value = stk_xstrdup(s->labels[i].value);
    }
    c->stop_signal = stk_xstrdup(s->stop_signal);
    c->exit_command = stk_strv_dup(s->exit_command);
    c->cap_add = stk_strv_dup(s->cap_add);
    c->cap_drop = stk_strv_dup(s->cap_drop);
    c->privileged = s->privileged;
    c->read_only_rootfs = s->read_only_rootfs;
    c->n_sysctls = s->n_sysctls;
    c->sysctls = stk_xcalloc(s->n_sysctls + 1, sizeof(struct rt_kv));
    for (size_t i = 0; i < s->n_sysctls; i++) {
        c->sysctls[i].key = stk_xstrdup(s->sysctls[i].key);
        c->sysctls[i].value = stk_xstrdup(s->sysctls[i].value);
    }
    c->ipc = stk_xstrdup(s->ipc);
    c->pid_ns = stk_xstrdup(s->pid_ns);
    c->shm_size = s->shm_size;
    c->init = s->init;
    return c;
}

static int exit_file_present(struct oci_req *r)
{
    char *p = stk_xasprintf("%s/exit/%s", r->cdir, r->id);
    int present = stk_path_exists(p);

    free(p);
    return present;
}

/* Work thread: root file system, config.json and labels.json (blocking file work). */
static void create_work(uv_work_t *w)
{
    struct oci_req *r = w->data;
    struct rt_ctx *ctx = r->base.ctx;
    char *rootfs = NULL, *path = NULL, *exitdir = NULL;
    json_t *labels = NULL, *lj = NULL;

    if (stk_mkdir_p(r->cdir, 0700, &r->err) < 0)
        goto out;
    exitdir = rt__oci_cdir(ctx, r->id, "exit");
    if (stk_mkdir_p(exitdir, 0700, &r->err) < 0)
        goto out;
    /* labels.json first: a half-created container is then still recognisable and adoptable. */
    labels = json_object();
    for (size_t i = 0; i < r->spec->n_labels; i++)
        json_object_set_new(labels, r->spec->labels[i].key, json_string(r->spec->labels[i].value));
    lj = json_pack("{s:s, s:s?, s:o}", "id", r->id, "name", r->spec->name, "labels", labels);
    labels = NULL;
    path = rt__oci_cdir(ctx, r->id, "labels.json");
    {
        char *text = json_dumps(lj, JSON_INDENT(2) | JSON_SORT_KEYS);
        int rr = stk_file_write_atomic(path, text, strlen(text), 0600, 0, &r->err);
        free(text);
        if (rr < 0)
            goto out;
    }
    free(path);
    path = NULL;
    /* ipc/pid "container:ID": the other container's namespace, from its init PID. */
    for (int k = 0; k < 2; k++) {
        char **ref = k ? &r->spec->pid_ns : &r->spec->ipc;
        if (*ref && strncmp(*ref, "container:", 10) == 0) {
            char *pidf = rt__oci_cdir(ctx, *ref + 10, "pidfile");
            long pid = 0;
            if (read_int_file(pidf, &pid) < 0 || !stk_proc_alive((int)pid)) {
                stk_err_set(&r->err, STK_EINVAL, 0, "%s: container '%s' is not running",
                            k ? "pid" : "ipc", *ref + 10);
                free(pidf);
                goto out;
            }
            free(pidf);
            free(*ref);
            *ref = stk_xasprintf("/proc/%ld/ns/%s", pid, k ? "pid" : "ipc");
        }
    }
    if (rt_oci_rootfs_prepare(ctx->images, r->spec->layer_digests, r->cdir, &rootfs, &r->err) < 0) {
        stk_err_wrap(&r->err, "prepare root file system");
        goto out;
    }
    if (rt__oci_config_new(r->spec, rootfs, &r->config, &r->err) < 0)
        goto out;
    path = rt__oci_cdir(ctx, r->id, "config.json");
    {
        char *text = json_dumps(r->config, JSON_INDENT(2));
        stk_file_write_atomic(path, text, strlen(text), 0600, 0, &r->err);
        free(text);
    }
out:
    json_decref(labels);
    json_decref(lj);
    free(rootfs);
    free(path);
    free(exitdir);
}

static void restart_run_start(struct oci_req *r);

static void create_conmon_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                             const struct stk_buf *errb, const struct stk_buf *sync,
                             const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    json_t *j;
    json_int_t pid;

    (void)out;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "conmon: %s", err->msg);
        goto out;
    }
    j = sync->len ? json_loads(sync->buf, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (!j) {
        char msg[256];
        runtime_msg(errb, msg, sizeof(msg));
        stk_err_set(&r->err, STK_ERUNTIME, 0, "conmon exited with status %lld%s%s%s",
                    (long long)exit_status, term_signal ? " (signal)" : "", msg[0] ? ": " : "",
                    msg);
        goto out;
    }
    pid = json_integer_value(json_object_get(j, "data"));
    if (pid <= 0) {
        const char *m = json_string_value(json_object_get(j, "message"));
        char msg[400] = "";
        if (m) {
            struct stk_buf b = STK_BUF_INIT;
            stk_buf_puts(&b, m);
            runtime_msg(&b, msg, sizeof(msg));
            stk_buf_release(&b);
        }
        stk_err_set(&r->err, STK_ERUNTIME, 0, "%s create: %s", oci_priv(r->base.ctx)->runtime_name,
                    msg[0] ? msg : "failed");
        stk_err_set_detail(&r->err, sync->buf);
    }
    json_decref(j);
out:
    if (r->op == OP_START && !r->err.code) {
        restart_run_start(r);
        return;
    }
    oci_req_finish(r);
}

static void create_after_work(uv_work_t *w, int status)
{
    struct oci_req *r = w->data;
    struct rt_ctx *ctx = r->base.ctx;
    struct rt__oci *o = oci_priv(ctx);
    struct stk_strv argv = STK_STRV_INIT;
    struct rt__spawn_opts so;
    char *sockdir;

    if (status == UV_ECANCELED && !r->err.code)
        stk_err_set(&r->err, STK_ECANCELED, 0, "create '%s' canceled", r->id);
    if (r->err.code || r->base.canceled) {
        oci_req_finish(r);
        return;
    }
    sockdir = stk_xasprintf("%s/sock", ctx->run_dir);
    stk_mkdir_p(sockdir, 0700, NULL);
    stk_strv_init(&argv);
    stk_strv_push(&argv, o->conmon_path);
    stk_strv_push(&argv, "--api-version");
    stk_strv_push(&argv, "1");
    stk_strv_push(&argv, "-c");
    stk_strv_push(&argv, r->id);
    stk_strv_push(&argv, "-u");
    stk_strv_push(&argv, r->id);
    stk_strv_push(&argv, "-n");
    stk_strv_push(&argv, r->spec->name ? r->spec->name : r->id);
    stk_strv_push(&argv, "-r");
    stk_strv_push(&argv, o->runtime_path);
    stk_strv_push(&argv, "--runtime-arg");
    stk_strv_push(&argv, "--root");
    stk_strv_push(&argv, "--runtime-arg");
    stk_strv_push(&argv, o->root);
    stk_strv_push(&argv, "-b");
    stk_strv_push(&argv, r->cdir);
    stk_strv_pushf(&argv, "--container-pidfile=%s/pidfile", r->cdir);
    stk_strv_pushf(&argv, "--conmon-pidfile=%s/conmon.pid", r->cdir);
    stk_strv_pushf(&argv, "--log-path=k8s-file:%s/ctr.log", r->cdir);
    stk_strv_pushf(&argv, "--exit-dir=%s/exit", r->cdir);
    stk_strv_pushf(&argv, "--socket-dir-path=%s", sockdir);
    stk_strv_push(&argv, "--log-level=error");
    /* The log is not fsync()ed at exit: a sync there costs seconds on busy disks. */
    stk_strv_push(&argv, "--no-sync-log");
    for (size_t i = 0; r->spec->exit_command && r->spec->exit_command[i]; i++) {
        stk_strv_push(&argv, i == 0 ? "--exit-command" : "--exit-command-arg");
        stk_strv_push(&argv, r->spec->exit_command[i]);
    }
    {
        /* Kept so that a stopped container can be started again from its bundle. */
        json_t *mj = json_array();
        char *mpath = rt__oci_cdir(ctx, r->id, "monitor.json");
        for (size_t i = 0; i < argv.n; i++)
            json_array_append_new(mj, json_string(argv.v[i]));
        json_dump_file(mj, mpath, JSON_COMPACT);
        json_decref(mj);
        free(mpath);
    }
    memset(&so, 0, sizeof(so));
    so.argv = argv.v;
    so.capture = 1;
    so.sync_pipe = 1;
    so.timeout_ms = OCI_CONMON_TIMEOUT_MS;
    {
        static char *const env[] = {
            (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            (char *)"_OCI_SYNCPIPE=3", NULL};
        so.env = env;
        if (rt__oci_spawn(ctx->loop, &so, create_conmon_cb, r, &r->proc, &r->err) < 0)
            oci_req_finish(r);
    }
    stk_strv_release(&argv);
    free(sockdir);
}

static int oci_create(struct rt_ctx *ctx, const struct rt_container_spec *spec, rt_done_fn *done,
                      void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct rt__oci *o = oci_priv(ctx);
    struct oci_req *r;
    char *probe;
    int exists;

    if (o->reason[0])
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", o->reason);
    if (!spec || !spec->id || !spec->process.args || !spec->process.args[0])
        return stk_err_set(err, STK_EINVAL, 0, "create: the container needs an id and a command");
    if (spec->isolation != RT_ISOLATION_PROCESS)
        return stk_err_set(err, STK_EUNAVAIL, 0,
                           "isolation '%s' is not available on this host: the OCI driver runs "
                           "process-isolated containers only",
                           rt_isolation_to_string(spec->isolation));
    probe = rt__oci_cdir(ctx, spec->id, "config.json");
    exists = stk_path_exists(probe);
    free(probe);
    if (exists)
        return stk_err_set(err, STK_EEXIST, 0, "container '%s' already exists", spec->id);
    r = oci_req_new(ctx, OP_CREATE, spec->id, done, userdata);
    r->spec = spec_copy(spec);
    r->work.data = r;
    uv_queue_work(ctx->loop, &r->work, create_work, create_after_work);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- start, kill, exec, top: one runtime call each ------------------------------------------ */

static void simple_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                      const struct stk_buf *errb, const struct stk_buf *sync,
                      const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    const char *verb = r->op == OP_START  ? "start"
                       : r->op == OP_KILL ? "kill"
                       : r->op == OP_EXEC ? "exec"
                                          : "ps";

    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "%s %s: %s", oci_priv(r->base.ctx)->runtime_name, verb,
                    err->msg);
    } else if (r->op == OP_EXEC) {
        /* The exec'd process's status is the result, not an error; 255/126/127 from runc
         * itself (no such container) are reported with its message. */
        r->exit_code = term_signal ? 128 + term_signal : (int)exit_status;
        struct stk_buf all = STK_BUF_INIT;
        stk_buf_add(&all, out->buf, out->len);
        if (exit_status == 255 && errb->len && strstr(errb->buf, "exec failed")) {
            /*
             * The runtime could not start the command: docker's status for that
             * (moby daemon/start.go, translateContainerdStartErr) is 127 for a
             * command not found, 126 for one that cannot be invoked.
             */
            char msg[400];
            runtime_msg(errb, msg, sizeof(msg));
            r->exit_code =
                strstr(msg, "executable file not found") || strstr(msg, "no such file or directory")
                    ? 127
                    : 126;
            stk_buf_printf(&all, "%s\n", msg);
        } else {
            stk_buf_add(&all, errb->buf, errb->len);
        }
        r->output = stk_buf_detach(&all, NULL);
    } else if (exit_status != 0 || term_signal) {
        char msg[400];
        runtime_msg(errb, msg, sizeof(msg));
        stk_err_set(&r->err, STK_ERUNTIME, 0, "%s %s: %s", oci_priv(r->base.ctx)->runtime_name,
                    verb, msg[0] ? msg : "failed");
        if (strstr(msg, "does not exist") || strstr(msg, "not found"))
            r->err.code = STK_ENOENT;
    } else {
        if (r->op == OP_START) {
            char *path = rt__oci_cdir(r->base.ctx, r->id, "started");
            char buf[32];
            int n = snprintf(buf, sizeof(buf), "%lld\n", (long long)now_ns());
            stk_file_write_atomic(path, buf, (size_t)n, 0600, 0, NULL);
            free(path);
        }
        if (r->op == OP_TOP)
            r->output = stk_xstrdup(out->buf);
    }
    oci_req_finish(r);
}

/*
 * Runs the low-level runtime with ARGV (released here) for request R, output
 * captured, the runtime timeout armed; CB gets the result. Returns 0 or the
 * spawn error (CB is then never called).
 */
static int spawn_runtime(struct oci_req *r, struct stk_strv *argv, rt__proc_fn *cb,
                         struct stk_err *err)
{
    struct rt__spawn_opts so;
    int ret;

    memset(&so, 0, sizeof(so));
    so.argv = argv->v;
    so.capture = 1;
    so.timeout_ms = OCI_RUNTIME_TIMEOUT_MS;
    ret = rt__oci_spawn(r->base.ctx->loop, &so, cb, r, &r->proc, err);
    stk_strv_release(argv);
    return ret;
}

static int spawn_simple(struct oci_req *r, struct stk_strv *argv, struct stk_err *err)
{
    return spawn_runtime(r, argv, simple_cb, err);
}

static void restart_run_start(struct oci_req *r)
{
    struct stk_strv argv;
    struct stk_err err = STK_ERR_INIT;

    runtime_argv(r->base.ctx, &argv, "start");
    stk_strv_push(&argv, r->id);
    if (spawn_simple(r, &argv, &err) < 0) {
        stk_err_move(&r->err, &err);
        oci_req_finish(r);
    }
}

static int start_req(struct rt_ctx *ctx, enum oci_op op, const char *id, struct oci_req **ret,
                     rt_done_fn *done, void *userdata, struct stk_err *err)
{
    if (oci_priv(ctx)->reason[0])
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", oci_priv(ctx)->reason);
    if (!id || !*id)
        return stk_err_set(err, STK_EINVAL, 0, "no container id");
    *ret = oci_req_new(ctx, op, id, done, userdata);
    return 0;
}

/* Frees a request that never started (its timer handle must still be closed). */
static int abort_req(struct oci_req *r, int code)
{
    r->done = NULL;
    uv_close((uv_handle_t *)&r->timer, oci_req_free_cb);
    return code;
}

/*
 * Starting a container that has exited starts it again from its bundle, as
 * `docker start` does: the runtime's stopped container is deleted, the
 * monitor is run again with the argv recorded at create (monitor.json), and
 * the new init process is started. The root file system stays mounted.
 */
static void restart_delete_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                              const struct stk_buf *errb, const struct stk_buf *sync,
                              const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    char *mpath = rt__oci_cdir(r->base.ctx, r->id, "monitor.json");
    char *exitf = stk_xasprintf("%s/exit/%s", r->cdir, r->id);
    json_t *mj = json_load_file(mpath, 0, NULL), *v;
    struct stk_strv argv = STK_STRV_INIT;
    struct rt__spawn_opts so;
    size_t i;
    static char *const env[] = {
        (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        (char *)"_OCI_SYNCPIPE=3", NULL};

    (void)exit_status;
    (void)term_signal;
    (void)out;
    (void)errb;
    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "restart '%s': %s", r->id, err->msg);
        goto fail;
    }
    if (!json_is_array(mj) || json_array_size(mj) == 0) {
        stk_err_set(&r->err, STK_ERUNTIME, 0, "restart '%s': no monitor record", r->id);
        goto fail;
    }
    unlink(exitf);
    stk_strv_init(&argv);
    json_array_foreach(mj, i, v) stk_strv_push(&argv, json_string_value(v));
    memset(&so, 0, sizeof(so));
    so.argv = argv.v;
    so.capture = 1;
    so.sync_pipe = 1;
    so.timeout_ms = OCI_CONMON_TIMEOUT_MS;
    so.env = env;
    if (rt__oci_spawn(r->base.ctx->loop, &so, create_conmon_cb, r, &r->proc, &r->err) < 0) {
        stk_strv_release(&argv);
        goto fail;
    }
    stk_strv_release(&argv);
    json_decref(mj);
    free(mpath);
    free(exitf);
    return;
fail:
    json_decref(mj);
    free(mpath);
    free(exitf);
    oci_req_finish(r);
}

static int oci_start(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                     struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    char *exitf;
    int ret;

    if ((ret = start_req(ctx, OP_START, id, &r, done, userdata, err)) < 0)
        return ret;
    exitf = stk_xasprintf("%s/exit/%s", r->cdir, id);
    if (stk_path_exists(exitf)) {
        free(exitf);
        runtime_argv(ctx, &argv, "delete");
        stk_strv_push(&argv, "--force");
        stk_strv_push(&argv, id);
        ret = spawn_runtime(r, &argv, restart_delete_cb, err);
        if (ret < 0)
            return abort_req(r, ret);
        if (ret_req)
            *ret_req = &r->base;
        return 0;
    }
    free(exitf);
    runtime_argv(ctx, &argv, "start");
    stk_strv_push(&argv, id);
    if ((ret = spawn_simple(r, &argv, err)) < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int oci_kill(struct rt_ctx *ctx, const char *id, int sig, rt_done_fn *done, void *userdata,
                    struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_KILL, id, &r, done, userdata, err)) < 0)
        return ret;
    runtime_argv(ctx, &argv, "kill");
    stk_strv_push(&argv, id);
    stk_strv_pushf(&argv, "%d", sig);
    if ((ret = spawn_simple(r, &argv, err)) < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int oci_exec(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                    rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    struct rt__spawn_opts so;
    int ret;

    if (!opts || !opts->args || !opts->args[0])
        return stk_err_set(err, STK_EINVAL, 0, "exec: no command");
    if ((ret = start_req(ctx, OP_EXEC, id, &r, done, userdata, err)) < 0)
        return ret;
    runtime_argv(ctx, &argv, "exec");
    for (size_t i = 0; opts->env && opts->env[i]; i++) {
        stk_strv_push(&argv, "--env");
        stk_strv_push(&argv, opts->env[i]);
    }
    if (opts->cwd) {
        stk_strv_push(&argv, "--cwd");
        stk_strv_push(&argv, opts->cwd);
    }
    stk_strv_push(&argv, id);
    for (size_t i = 0; opts->args[i]; i++)
        stk_strv_push(&argv, opts->args[i]);
    memset(&so, 0, sizeof(so));
    so.argv = argv.v;
    so.capture = 1;
    so.timeout_ms = opts->timeout_ms;
    ret = rt__oci_spawn(ctx->loop, &so, simple_cb, r, &r->proc, err);
    stk_strv_release(&argv);
    if (ret < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int oci_top(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                   struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_TOP, id, &r, done, userdata, err)) < 0)
        return ret;
    runtime_argv(ctx, &argv, "ps");
    stk_strv_push(&argv, id);
    if ((ret = spawn_simple(r, &argv, err)) < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int oci_logs(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                    struct rt_req **ret_req, struct stk_err *err)
{
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_LOGS, id, &r, done, userdata, err)) < 0)
        return ret;
    r->output = rt__oci_cdir(ctx, id, "ctr.log");
    if (!stk_path_exists(r->cdir))
        stk_err_set(&r->err, STK_ENOENT, 0, "container '%s' not found", id);
    if (ret_req)
        *ret_req = &r->base;
    oci_req_finish_later(r);
    return 0;
}

/* ---- state and list ------------------------------------------------------------------------ */

static void state_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                     const struct stk_buf *errb, const struct stk_buf *sync,
                     const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    json_t *j;

    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "state '%s': %s", r->id, err->msg);
    } else if (exit_status != 0 || term_signal) {
        char msg[300];
        runtime_msg(errb, msg, sizeof(msg));
        if (stk_path_exists(r->cdir) && strstr(msg, "does not exist")) {
            /* A bundle without a runtime container: an interrupted create. */
            memset(&r->info, 0, sizeof(r->info));
            r->info.id = stk_xstrdup(r->id);
            r->info.state = RT_STATE_CREATING;
            load_labels(r->base.ctx, r->id, &r->info);
            load_dir_facts(r->base.ctx, r->id, &r->info);
        } else {
            stk_err_set(&r->err, strstr(msg, "does not exist") ? STK_ENOENT : STK_ERUNTIME, 0,
                        "state '%s': %s", r->id, msg);
        }
    } else if ((j = json_loads(out->buf, 0, NULL))) {
        info_from_state(r->base.ctx, j, &r->info);
        json_decref(j);
    } else {
        stk_err_set(&r->err, STK_ERUNTIME, 0, "state '%s': unreadable runtime output", r->id);
    }
    if (r->op == OP_STATE) {
        oci_req_finish(r);
        return;
    }
}

static int oci_state(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                     struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_STATE, id, &r, done, userdata, err)) < 0)
        return ret;
    runtime_argv(ctx, &argv, "state");
    stk_strv_push(&argv, id);
    ret = spawn_runtime(r, &argv, state_cb, err);
    if (ret < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static void list_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                    const struct stk_buf *errb, const struct stk_buf *sync,
                    const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    struct rt_ctx *ctx = r->base.ctx;
    json_t *arr = NULL, *st;
    size_t i, n = 0, alloc;
    char *cdirs = stk_xasprintf("%s/containers", ctx->state_dir);
    DIR *d;

    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "list: %s", err->msg);
        goto out;
    }
    if (exit_status != 0 || term_signal) {
        char msg[300];
        runtime_msg(errb, msg, sizeof(msg));
        stk_err_set(&r->err, STK_ERUNTIME, 0, "%s list: %s", oci_priv(ctx)->runtime_name, msg);
        goto out;
    }
    arr = json_loads(out->buf, 0, NULL);
    alloc = json_array_size(arr) + 16;
    r->list.items = stk_xcalloc(alloc, sizeof(struct rt_container_info));
    json_array_foreach(arr, i, st)
    {
        json_t *ann = json_object_get(st, "annotations");
        if (!json_object_get(ann, RT_LABEL_PROJECT))
            continue;
        info_from_state(ctx, st, &r->list.items[n++]);
    }
    /* Bundles the runtime does not know: interrupted creates, listed so they can be removed. */
    d = opendir(cdirs);
    for (struct dirent *de; d && (de = readdir(d));) {
        int known = 0;
        if (de->d_name[0] == '.')
            continue;
        {
            /* A VM-isolated container's directory belongs to the vm driver (vm-internal.h). */
            char *vmj = rt__oci_cdir(ctx, de->d_name, "vm.json");
            int is_vm = stk_path_exists(vmj);
            free(vmj);
            if (is_vm)
                continue;
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(r->list.items[k].id, de->d_name) == 0)
                known = 1;
        if (known)
            continue;
        if (n == alloc) {
            alloc *= 2;
            r->list.items = stk_xrealloc(r->list.items, alloc * sizeof(struct rt_container_info));
        }
        memset(&r->list.items[n], 0, sizeof(struct rt_container_info));
        r->list.items[n].id = stk_xstrdup(de->d_name);
        r->list.items[n].state = RT_STATE_CREATING;
        load_labels(ctx, de->d_name, &r->list.items[n]);
        load_dir_facts(ctx, de->d_name, &r->list.items[n]);
        n++;
    }
    if (d)
        closedir(d);
    r->list.n = n;
out:
    json_decref(arr);
    free(cdirs);
    oci_req_finish(r);
}

static int oci_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                    struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if (oci_priv(ctx)->reason[0])
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", oci_priv(ctx)->reason);
    r = oci_req_new(ctx, OP_LIST, NULL, done, userdata);
    runtime_argv(ctx, &argv, "list");
    stk_strv_push(&argv, "--format");
    stk_strv_push(&argv, "json");
    ret = spawn_runtime(r, &argv, list_cb, err);
    if (ret < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- stop ------------------------------------------------------------------------------------ */

static void stop_kill(struct oci_req *r, int sig);

/*
 * Whether the container's init process has gone: the monitor writes the exit
 * file, but a monitor that was killed never will, so the init PID is checked
 * too.
 */
static int init_gone(struct oci_req *r)
{
    char *pidf = rt__oci_cdir(r->base.ctx, r->id, "pidfile");
    long pid = 0;
    int gone;

    gone = read_int_file(pidf, &pid) == 0 && !stk_proc_alive((int)pid);
    free(pidf);
    return gone;
}

static void stop_poll_cb(uv_timer_t *t)
{
    struct oci_req *r = t->data;

    if (exit_file_present(r) || init_gone(r) || r->base.canceled) {
        oci_req_finish(r);
        return;
    }
    r->waited_ms += OCI_POLL_MS;
    if (r->step == 1 && r->waited_ms >= r->grace_ms) {
        /* Grace period over: SIGKILL, as docker stop does. */
        r->step = 2;
        r->waited_ms = 0;
        stop_kill(r, SIGKILL);
        return;
    }
    if (r->step == 2 && r->waited_ms >= OCI_KILL_WAIT_MS) {
        stk_err_set(&r->err, STK_ETIMEDOUT, 0, "container '%s' did not exit after SIGKILL", r->id);
        oci_req_finish(r);
        return;
    }
    uv_timer_start(&r->timer, stop_poll_cb, OCI_POLL_MS, 0);
}

static void stop_kill_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                         const struct stk_buf *errb, const struct stk_buf *sync,
                         const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;

    (void)out;
    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "kill '%s': %s", r->id, err->msg);
        oci_req_finish(r);
        return;
    }
    if ((exit_status != 0 || term_signal) && !exit_file_present(r)) {
        char msg[300];
        runtime_msg(errb, msg, sizeof(msg));
        /* "container not running": it exited between state and kill; the poll sees it. */
        if (!strstr(msg, "not running") && !strstr(msg, "process already finished")) {
            stk_err_set(&r->err, STK_ERUNTIME, 0, "%s kill '%s': %s",
                        oci_priv(r->base.ctx)->runtime_name, r->id, msg);
            oci_req_finish(r);
            return;
        }
    }
    uv_timer_start(&r->timer, stop_poll_cb, OCI_POLL_MS, 0);
}

static void stop_kill(struct oci_req *r, int sig)
{
    struct stk_strv argv;

    runtime_argv(r->base.ctx, &argv, "kill");
    stk_strv_push(&argv, r->id);
    stk_strv_pushf(&argv, "%d", sig);
    if (spawn_runtime(r, &argv, stop_kill_cb, &r->err) < 0)
        oci_req_finish(r);
}

static void stop_state_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                          const struct stk_buf *errb, const struct stk_buf *sync,
                          const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;

    state_cb(exit_status, term_signal, out, errb, sync, err, userdata);
    if (r->err.code) {
        oci_req_finish(r);
        return;
    }
    switch (r->info.state) {
    case RT_STATE_RUNNING:
    case RT_STATE_PAUSED:
        r->step = 1;
        stop_kill(r, r->signal);
        break;
    case RT_STATE_CREATED:
        /* A created container's init ignores SIGTERM (PID 1 without handlers): kill it. */
        r->step = 2;
        stop_kill(r, SIGKILL);
        break;
    default:
        oci_req_finish(r);
        break;
    }
}

static int oci_stop(struct rt_ctx *ctx, const char *id, int sig, uint64_t grace_ms,
                    rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_STOP, id, &r, done, userdata, err)) < 0)
        return ret;
    r->signal = sig ? sig : SIGTERM;
    r->grace_ms = grace_ms;
    runtime_argv(ctx, &argv, "state");
    stk_strv_push(&argv, id);
    ret = spawn_runtime(r, &argv, stop_state_cb, err);
    if (ret < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- delete ---------------------------------------------------------------------------------- */

static void delete_work(uv_work_t *w)
{
    struct oci_req *r = w->data;
    char *sock = stk_xasprintf("%s/sock/%s", r->base.ctx->run_dir, r->id);

    if (stk_path_exists(r->cdir)) {
        if (rt_oci_rootfs_release(r->cdir, &r->err) < 0) {
            stk_err_wrap(&r->err, "release root file system of '%s'", r->id);
        } else if (stk_rm_rf(r->cdir, &r->err) < 0) {
            stk_err_wrap(&r->err, "remove bundle of '%s'", r->id);
        }
    }
    stk_rm_rf(sock, NULL);
    free(sock);
}

static void delete_after_work(uv_work_t *w, int status)
{
    (void)status;
    oci_req_finish(w->data);
}

static void delete_cleanup(struct oci_req *r)
{
    r->work.data = r;
    uv_queue_work(r->base.ctx->loop, &r->work, delete_work, delete_after_work);
}

static void delete_runtime(struct oci_req *r);

static void delete_poll_cb(uv_timer_t *t)
{
    struct oci_req *r = t->data;

    if (r->conmon_pid <= 0) {
        char *pidf = rt__oci_cdir(r->base.ctx, r->id, "conmon.pid");
        long pid;
        if (read_int_file(pidf, &pid) == 0)
            r->conmon_pid = (int)pid;
        free(pidf);
        if (r->conmon_pid <= 0) {
            /* A monitor that has not written its PID yet: its command line names the bundle. */
            char *needle = stk_xasprintf("%s", r->cdir);
            r->conmon_pid = stk_proc_find("conmon", needle);
            free(needle);
        }
        if (r->conmon_pid <= 0 && r->waited_ms < 1000 && !exit_file_present(r)) {
            /* An interrupted create's monitor may not have written its PID yet. */
            r->waited_ms += OCI_POLL_MS;
            uv_timer_start(&r->timer, delete_poll_cb, OCI_POLL_MS, 0);
            return;
        }
    }
    /* Wait for the monitor to write the exit file and go, so that nothing is left behind. */
    if (!stk_proc_alive(r->conmon_pid) || r->waited_ms >= OCI_KILL_WAIT_MS) {
        delete_cleanup(r);
        return;
    }
    r->waited_ms += OCI_POLL_MS;
    /*
     * A monitor that outlives the delete is still creating the container (an
     * interrupted create whose monitor went on): delete again once it has.
     */
    if (r->waited_ms % 500 == 0) {
        /*
         * After 2 s the monitor of a container the runtime never got is a
         * leftover of an interrupted create: stop it (by its PID), then delete
         * once more in case its create landed meanwhile.
         */
        if (r->waited_ms >= 2000 && r->not_in_runtime)
            kill(r->conmon_pid, SIGKILL);
        delete_runtime(r);
        return;
    }
    uv_timer_start(&r->timer, delete_poll_cb, OCI_POLL_MS, 0);
}

static void delete_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                      const struct stk_buf *errb, const struct stk_buf *sync,
                      const struct stk_err *err, void *userdata)
{
    struct oci_req *r = userdata;
    char *pidf = rt__oci_cdir(r->base.ctx, r->id, "conmon.pid");
    long pid = 0;

    (void)out;
    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "delete '%s': %s", r->id, err->msg);
        free(pidf);
        oci_req_finish(r);
        return;
    }
    r->not_in_runtime = 0;
    if (exit_status != 0 || term_signal) {
        char msg[300];
        runtime_msg(errb, msg, sizeof(msg));
        r->not_in_runtime = strstr(msg, "does not exist") || strstr(msg, "not found");
        if (!strstr(msg, "does not exist") && !strstr(msg, "not found")) {
            stk_err_set(&r->err, STK_ERUNTIME, 0, "%s delete '%s': %s",
                        oci_priv(r->base.ctx)->runtime_name, r->id, msg);
            free(pidf);
            oci_req_finish(r);
            return;
        }
    }
    if (r->conmon_pid <= 0 && read_int_file(pidf, &pid) == 0)
        r->conmon_pid = (int)pid;
    free(pidf);
    if (!stk_path_exists(r->cdir)) {
        delete_cleanup(r);
        return;
    }
    delete_poll_cb(&r->timer);
}

static void delete_runtime(struct oci_req *r)
{
    struct stk_strv argv;

    runtime_argv(r->base.ctx, &argv, "delete");
    stk_strv_push(&argv, "--force");
    stk_strv_push(&argv, r->id);
    if (spawn_runtime(r, &argv, delete_cb, &r->err) < 0)
        oci_req_finish(r);
}

static int oci_delete(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                      struct rt_req **ret_req, struct stk_err *err)
{
    struct stk_strv argv;
    struct oci_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_DELETE, id, &r, done, userdata, err)) < 0)
        return ret;
    runtime_argv(ctx, &argv, "delete");
    stk_strv_push(&argv, "--force");
    stk_strv_push(&argv, id);
    ret = spawn_runtime(r, &argv, delete_cb, err);
    if (ret < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static const struct rt_driver_ops oci_ops = {
    .init = oci_init,
    .fini = oci_fini,
    .host_info = oci_host_info,
    .create = oci_create,
    .start = oci_start,
    .kill = oci_kill,
    .stop = oci_stop,
    .delete = oci_delete,
    .state = oci_state,
    .list = oci_list,
    .exec = oci_exec,
    .logs = oci_logs,
    .top = oci_top,
};

const struct rt_driver rt_driver_oci = {
    .name = "oci",
    .abi_version = RT_DRIVER_ABI_1,
    .caps = RT_CAP_EXEC | RT_CAP_TOP | RT_CAP_LOGS,
    .priv_size = sizeof(struct rt__oci),
    .ops = &oci_ops,
};
