/*
 * rec-exec.c - running a plan on the libuv loop (DESIGN.md §2, §3).
 *
 * Actions whose dependencies are done start at once, up to the parallelism
 * limit; each is one asynchronous driver or plug-in call, written as an intent
 * before it is sent and marked done after it returns. A failure skips what
 * depends on it; independent branches go on; the pass reports the first failure.
 * It runs on the caller's loop and reports through a callback:
 * rec_apply_cancel() (the CLI calls it on SIGINT) cancels the running requests. Dependency
 * conditions are actions too: WAIT_HEALTHY runs the service's health check through the runtime's
 * exec (interval, timeout, retries, start_period as Docker does), WAIT_EXIT polls the runtime until
 * the containers exit and checks for status 0.
 */
#include "orchestrator/rec/rec-plan.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-strv.h"
#include "orchestrator/rec/rec-internal.h"
#include "orchestrator/store/store.h"
#include "runtime/image/rt-image.h"
#include "specs/spec.h"

#define EXEC_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)
#define EXEC_WAIT_EXIT_POLL_MS 100

struct exec;

/* Per action: what its callbacks need, and its timer. */
struct act_ref {
    struct exec *x;
    size_t i;
    uv_timer_t timer;
    int timer_init;
    int target; /* WAIT_*: index into targets */
};

struct exec {
    struct rec_env *env;
    struct rec_plan *plan;
    struct act_ref *refs;
    size_t **dependents; /* per action: actions that wait for it */
    size_t *n_dependents;
    unsigned parallel;
    uint64_t timeout_ms;
    unsigned running;
    int failed;
    int interrupted;
    unsigned open_timers; /* timers (and the closing handle) not yet closed */
    unsigned depth;       /* nesting of advance(): the pass completes at depth 0 */
    int completing;
    uv_timer_t closing; /* closed last: its close callback reports the end, asynchronously */
    rec_done_fn *done;
    void *userdata;
    int result;
    struct stk_err err;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int stop_signal(const struct spec_service *svc);

static const struct spec_service *svc_of(struct exec *x, const struct rec_action *a)
{
    return a->svc >= 0 && x->plan->spec ? &x->plan->spec->services[a->svc] : NULL;
}

static const char *display(struct exec *x, const struct rec_action *a)
{
    if (a->slot >= 0)
        return x->plan->slots[a->slot].name;
    return a->name ? a->name : a->object;
}

static void schedule(struct exec *x);
static void advance(struct exec *x);

/* A failed action's dependants never run; independent branches go on (move forward). */
static void skip_dependents(struct exec *x, size_t i)
{
    for (size_t k = 0; k < x->n_dependents[i]; k++) {
        struct rec_action *d = &x->plan->actions[x->dependents[i][k]];
        if (d->state != REC_AS_PENDING)
            continue;
        d->state = REC_AS_SKIPPED;
        skip_dependents(x, x->dependents[i][k]);
    }
}

/* Records the end of action I (ERR NULL: success), then schedules what it unblocks. */
static void finish(struct exec *x, size_t i, const struct stk_err *err)
{
    struct rec_action *a = &x->plan->actions[i];
    struct act_ref *ref = &x->refs[i];

    if (ref->timer_init)
        uv_timer_stop(&ref->timer);
    a->req = NULL;
    x->running--;
    if (a->kind != REC_A_WAIT_HEALTHY && a->kind != REC_A_WAIT_EXIT)
        rec_intent_end(x->env, a->intent, err, NULL);
    if (err && err->code) {
        a->state = REC_AS_FAILED;
        skip_dependents(x, i);
        if (!x->failed) {
            x->failed = 1;
            x->plan->failure = *err;
            x->plan->failure.detail = stk_xstrdup(err->detail);
            if (a->service)
                stk_err_wrap(&x->plan->failure, "service '%s'", a->service);
        }
        store_event_add(x->env->store, x->plan->project, "action.failed",
                        rec_action_kind_to_string(a->kind), err->msg, NULL);
    } else {
        a->state = REC_AS_DONE;
        for (size_t k = 0; k < x->n_dependents[i]; k++)
            x->plan->actions[x->dependents[i][k]].waiting--;
    }
    advance(x);
}

static void on_rt_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                       void *userdata);
static void on_net_done(struct net_req *req, const struct net_result *res,
                        const struct stk_err *err, void *userdata);

static void on_timeout(uv_timer_t *t)
{
    struct act_ref *ref = t->data;
    struct rec_action *a = &ref->x->plan->actions[ref->i];

    if (!a->req)
        return;
    if (a->is_net)
        net_req_cancel(a->req);
    else
        rt_req_cancel(a->req);
}

static void arm_timeout(struct exec *x, size_t i, uint64_t ms)
{
    struct act_ref *ref = &x->refs[i];

    if (!ref->timer_init) {
        uv_timer_init(x->env->loop, &ref->timer);
        ref->timer.data = ref;
        ref->timer_init = 1;
        x->open_timers++;
    }
    uv_timer_start(&ref->timer, on_timeout, ms, 0);
}

/* ---- building a container spec ----------------------------------------------------------- */

/* Merges the image config and the service into the process (Compose semantics). */
static void build_process(const struct spec_service *svc, const struct rt_image *img,
                          struct rt_process *proc)
{
    struct stk_strv args = STK_STRV_INIT, env = STK_STRV_INIT;
    char *const *ep = svc->has_entrypoint ? svc->entrypoint : img->entrypoint;
    /* Setting entrypoint in the service drops the image's Cmd (compose behaviour). */
    char *const *cmd = svc->has_command ? svc->command : (svc->has_entrypoint ? NULL : img->cmd);
    int has_path = 0;

    stk_strv_init(&args);
    for (size_t i = 0; ep && ep[i]; i++)
        stk_strv_push(&args, ep[i]);
    for (size_t i = 0; cmd && cmd[i]; i++)
        stk_strv_push(&args, cmd[i]);
    stk_strv_init(&env);
    for (size_t i = 0; img->env && img->env[i]; i++) {
        size_t klen = strcspn(img->env[i], "=");
        int overridden = 0;
        for (size_t j = 0; j < svc->n_environment; j++)
            if (strlen(svc->environment[j].key) == klen &&
                strncmp(svc->environment[j].key, img->env[i], klen) == 0)
                overridden = 1;
        if (!overridden)
            stk_strv_push(&env, img->env[i]);
    }
    for (size_t j = 0; j < svc->n_environment; j++) {
        const char *v = svc->environment[j].value;
        if (!v)
            v = getenv(svc->environment[j].key);
        if (v)
            stk_strv_pushf(&env, "%s=%s", svc->environment[j].key, v);
    }
    for (size_t i = 0; i < env.n; i++)
        if (strncmp(env.v[i], "PATH=", 5) == 0)
            has_path = 1;
    if (!has_path)
        stk_strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    proc->args = args.v;
    proc->env = env.v;
    proc->cwd = stk_xstrdup(svc->working_dir ? svc->working_dir : img->working_dir);
    proc->user = stk_xstrdup(svc->user ? svc->user : img->user);
}

static void add_label(struct rt_container_spec *spec, const char *k, const char *v)
{
    spec->labels[spec->n_labels].key = stk_xstrdup(k);
    spec->labels[spec->n_labels].value = stk_xstrdup(v);
    spec->n_labels++;
}

/*
 * The restart policy as a string: `restart:` when set, else deploy.restart_policy
 * (condition any → always, on-failure[:max_attempts], none → no). Returns a new string.
 */
static char *restart_policy(const struct spec_service *svc)
{
    const struct spec_restart_policy *rp = &svc->restart_policy;

    if (svc->restart)
        return stk_xstrdup(svc->restart);
    if (!rp->present)
        return stk_xstrdup("no");
    if (rp->condition && strcmp(rp->condition, "none") == 0)
        return stk_xstrdup("no");
    if (rp->condition && strcmp(rp->condition, "on-failure") == 0)
        return rp->max_attempts > 0 ? stk_xasprintf("on-failure:%d", rp->max_attempts)
                                    : stk_xstrdup("on-failure");
    return stk_xstrdup("always");
}

static int restart_wanted(const struct spec_service *svc)
{
    char *p = restart_policy(svc);
    int want = strcmp(p, "no") != 0;

    free(p);
    return want;
}

static int build_spec(struct exec *x, const struct rec_action *a, struct rt_container_spec *spec,
                      struct stk_err *err)
{
    const struct spec_service *svc = svc_of(x, a);
    struct rec_slot *sl = &x->plan->slots[a->slot];
    const struct rt_image *img = x->plan->images[a->svc];
    static const struct net_sandbox_info no_sandbox;
    const struct net_sandbox_info *sb = &no_sandbox;
    char numbuf[24];
    size_t nm = 0;

    /* The late-bound references: the result of the sandbox action the plan names. */
    if (sl->sandbox_from != SIZE_MAX && sl->sandbox_from < x->plan->n_actions)
        sb = &x->plan->actions[sl->sandbox_from].result_sb;
    memset(spec, 0, sizeof(*spec));
    spec->id = stk_xstrdup(sl->id);
    spec->name = stk_xstrdup(sl->name);
    spec->isolation = sl->isolation;
    spec->image_ref = stk_xstrdup(svc->image);
    spec->image_config_digest = stk_xstrdup(img->config_digest);
    spec->layer_digests = stk_strv_dup(img->layer_digests);
    spec->hostname = stk_xstrdup(svc->hostname ? svc->hostname : svc->name);
    build_process(svc, img, &spec->process);
    if (!spec->process.args || !spec->process.args[0])
        return stk_err_set(err, STK_EINVAL, 0,
                           "no command: the image has no entrypoint or cmd and the service "
                           "sets none");
    {
        /* Mounts from volumes, volumes_from, tmpfs, secrets and configs, plus hosts/resolv. */
        size_t cap =
            svc->n_volumes + svc->n_secrets + svc->n_configs + stk_strv_len(svc->tmpfs) + 3;
        for (size_t k = 0; svc->volumes_from && svc->volumes_from[k]; k++) {
            const char *vf = svc->volumes_from[k];
            if (strncmp(vf, "service:", 8) == 0) {
                char *name = stk_xstrndup(vf + 8, strcspn(vf + 8, ":"));
                const struct spec_service *o = spec_project_service(x->plan->spec, name);
                cap += o ? o->n_volumes : 0;
                free(name);
            }
        }
        spec->mounts = stk_xcalloc(cap + 1, sizeof(struct rt_mount));
    }
    spec->pipes = stk_xcalloc(svc->n_volumes + 1, sizeof(struct rt_pipe));
    for (size_t i = 0; i < svc->n_volumes; i++) {
        const struct spec_volume *v = &svc->volumes[i];
        char *src = NULL;
        if (strcmp(v->type, "npipe") == 0) {
            /* A named pipe (Windows: HCS MappedPipe); the loader refuses it on Linux. */
            spec->pipes[spec->n_pipes].host_path = stk_xstrdup(v->source);
            spec->pipes[spec->n_pipes].container_path = stk_xstrdup(v->target);
            spec->n_pipes++;
            continue;
        }
        if (strcmp(v->type, "bind") == 0 && strcmp(x->plan->host_os, "windows") == 0) {
            /* Host paths of a Windows host are checked by HCS itself (MappedDirectory). */
            src = stk_xstrdup(v->source);
        } else if (strcmp(v->type, "bind") == 0) {
            src = stk_xstrdup(v->source);
            if (!stk_path_exists(src)) {
                if (!v->create_host_path)
                    return stk_err_set(err, STK_ENOENT, 0,
                                       "volumes: bind source '%s' does not exist", src);
                if (stk_mkdir_p(src, 0755, err) < 0) {
                    free(src);
                    return err->code;
                }
            }
        } else if (strcmp(v->type, "volume") == 0) {
            char *vname = v->source ? stk_xasprintf("%s_%s", x->plan->project, v->source)
                                    : stk_xasprintf("%s-anon-%zu", sl->id, i);
            src = stk_xasprintf("%s/volumes/%s/_data", x->env->state_dir, vname);
            if (stk_mkdir_p(src, 0755, err) < 0) {
                free(vname);
                free(src);
                return err->code;
            }
            store_object_put(x->env->store, "volume", vname, x->plan->project, src, NULL);
            free(vname);
        } else if (strcmp(v->type, "tmpfs") == 0) {
            src = stk_xstrdup("tmpfs");
        } else {
            return stk_err_set(err, STK_ENOTSUP, 0, "volumes: type '%s' is not supported here",
                               v->type);
        }
        spec->mounts[nm].type = stk_xstrdup(strcmp(v->type, "tmpfs") == 0 ? "tmpfs" : "bind");
        spec->mounts[nm].source = src;
        spec->mounts[nm].target = stk_xstrdup(v->target);
        spec->mounts[nm].read_only = v->read_only;
        nm++;
    }
    /* volumes_from: service:X[:ro|rw] takes X's mounts (ro makes them read-only). */
    for (size_t k = 0; svc->volumes_from && svc->volumes_from[k]; k++) {
        const char *vf = svc->volumes_from[k];
        const char *mode;
        char *name;
        const struct spec_service *o;
        if (strncmp(vf, "service:", 8) != 0)
            continue;
        name = stk_xstrndup(vf + 8, strcspn(vf + 8, ":"));
        mode = strchr(vf + 8, ':');
        o = spec_project_service(x->plan->spec, name);
        free(name);
        for (size_t i = 0; o && i < o->n_volumes; i++) {
            const struct spec_volume *v = &o->volumes[i];
            if (strcmp(v->type, "bind") != 0 && strcmp(v->type, "volume") != 0)
                continue;
            spec->mounts[nm].type = stk_xstrdup("bind");
            spec->mounts[nm].source =
                strcmp(v->type, "bind") == 0
                    ? stk_xstrdup(v->source)
                    : stk_xasprintf("%s/volumes/%s_%s/_data", x->env->state_dir, x->plan->project,
                                    v->source ? v->source : "anon");
            spec->mounts[nm].target = stk_xstrdup(v->target);
            spec->mounts[nm].read_only = v->read_only || (mode && strcmp(mode, ":ro") == 0);
            nm++;
        }
    }
    /* Service-level tmpfs ("/run", "/tmp:size=64m": the options are the runtime's). */
    for (size_t k = 0; svc->tmpfs && svc->tmpfs[k]; k++) {
        spec->mounts[nm].type = stk_xstrdup("tmpfs");
        spec->mounts[nm].source = stk_xstrdup("tmpfs");
        spec->mounts[nm].target = stk_xstrndup(svc->tmpfs[k], strcspn(svc->tmpfs[k], ":"));
        nm++;
    }
    /* File-backed secrets and configs: read-only binds of the file (Compose secrets.md). */
    for (int kind = 0; kind < 2; kind++) {
        const struct spec_file_ref *refs = kind ? svc->configs : svc->secrets;
        size_t nrefs = kind ? svc->n_configs : svc->n_secrets;
        const struct spec_file_object *objs =
            kind ? x->plan->spec->configs : x->plan->spec->secrets;
        size_t nobjs = kind ? x->plan->spec->n_configs : x->plan->spec->n_secrets;
        for (size_t k = 0; k < nrefs; k++) {
            const struct spec_file_object *o = NULL;
            for (size_t q = 0; q < nobjs; q++)
                if (strcmp(objs[q].key, refs[k].source) == 0)
                    o = &objs[q];
            if (!o || !o->file)
                return stk_err_set(
                    err, STK_ENOTSUP, 0, "%s '%s': only file-backed %s are supported",
                    kind ? "config" : "secret", refs[k].source, kind ? "configs" : "secrets");
            spec->mounts[nm].type = stk_xstrdup("bind");
            spec->mounts[nm].source = stk_xstrdup(o->file);
            spec->mounts[nm].target =
                refs[k].target ? stk_xstrdup(refs[k].target)
                               : (kind ? stk_xasprintf("/%s", refs[k].source)
                                       : stk_xasprintf("/run/secrets/%s", refs[k].source));
            spec->mounts[nm].read_only = 1;
            nm++;
        }
    }
    /* Devices and resource limits (deploy.resources.limits, mem_limit, cpus, pids_limit). */
    spec->devices = stk_xcalloc(svc->n_devices + 1, sizeof(struct rt_device));
    for (size_t k = 0; k < svc->n_devices; k++) {
        spec->devices[k].host_path = stk_xstrdup(svc->devices[k].source);
        spec->devices[k].container_path = stk_xstrdup(svc->devices[k].target);
        spec->devices[k].permissions = stk_xstrdup(svc->devices[k].permissions);
    }
    spec->n_devices = svc->n_devices;
    spec->resources.memory_bytes = svc->limits.memory;
    spec->resources.nano_cpus = (int64_t)(svc->limits.cpus * 1e9);
    spec->resources.pids_limit = svc->limits.pids;
    /*
     * The sandbox's hosts and resolv.conf files are Linux paths. A Windows
     * container has neither /etc/hosts nor /etc/resolv.conf, and HCS maps
     * directories, not single files (MappedDirectories, reference hcs-hns.md
     * §6): they are not mapped there.
     */
    if (sb->hosts_path && strcmp(x->plan->host_os, "windows") != 0) {
        spec->mounts[nm].type = stk_xstrdup("bind");
        spec->mounts[nm].source = stk_xstrdup(sb->hosts_path);
        spec->mounts[nm].target = stk_xstrdup("/etc/hosts");
        nm++;
    }
    if (sb->resolv_path && strcmp(x->plan->host_os, "windows") != 0) {
        spec->mounts[nm].type = stk_xstrdup("bind");
        spec->mounts[nm].source = stk_xstrdup(sb->resolv_path);
        spec->mounts[nm].target = stk_xstrdup("/etc/resolv.conf");
        nm++;
    }
    spec->n_mounts = nm;
    spec->sandbox = stk_xstrdup(sb->handle);
    snprintf(numbuf, sizeof(numbuf), "%d", sl->number);
    spec->labels = stk_xcalloc(9 + svc->n_labels, sizeof(struct rt_kv));
    for (size_t k = 0; k < svc->n_labels; k++)
        if (strncmp(svc->labels[k].key, "stack.", 6) != 0)
            add_label(spec, svc->labels[k].key, svc->labels[k].value);
    add_label(spec, RT_LABEL_PROJECT, x->plan->project);
    add_label(spec, RT_LABEL_SERVICE, svc->name);
    add_label(spec, RT_LABEL_NUMBER, numbuf);
    add_label(spec, RT_LABEL_HASH, sl->hash);
    add_label(spec, RT_LABEL_ISOLATION, rt_isolation_to_string(sl->isolation));
    snprintf(numbuf, sizeof(numbuf), "%d", stop_signal(svc));
    add_label(spec, RT_LABEL_STOP_SIGNAL, numbuf);
    snprintf(
        numbuf, sizeof(numbuf), "%lld",
        (long long)(svc->stop_grace_period_ns > 0 ? svc->stop_grace_period_ns / 1000000 : 10000));
    add_label(spec, RT_LABEL_STOP_GRACE, numbuf);
    if (svc->n_depends_on) {
        struct stk_buf deps = STK_BUF_INIT;
        for (size_t d = 0; d < svc->n_depends_on; d++)
            stk_buf_printf(&deps, "%s%s:%s:%s", d ? "," : "", svc->depends_on[d].service,
                           svc->depends_on[d].condition ? svc->depends_on[d].condition
                                                        : "service_started",
                           svc->depends_on[d].restart ? "true" : "false");
        add_label(spec, RT_LABEL_DEPENDS_ON, deps.buf);
        stk_buf_release(&deps);
    }
    spec->stop_signal = stk_xstrdup(svc->stop_signal);
    spec->cap_add = stk_strv_dup(svc->cap_add);
    spec->cap_drop = stk_strv_dup(svc->cap_drop);
    spec->privileged = svc->privileged;
    spec->read_only_rootfs = svc->read_only;
    spec->init = svc->init == 1;
    spec->shm_size = svc->shm_size;
    spec->sysctls = stk_xcalloc(svc->n_sysctls + 1, sizeof(struct rt_kv));
    for (size_t k = 0; k < svc->n_sysctls; k++) {
        spec->sysctls[k].key = stk_xstrdup(svc->sysctls[k].key);
        spec->sysctls[k].value = stk_xstrdup(svc->sysctls[k].value ? svc->sysctls[k].value : "");
    }
    spec->n_sysctls = svc->n_sysctls;
    spec->ipc = stk_xstrdup(sl->ipc_ref ? sl->ipc_ref : svc->ipc);
    spec->pid_ns = stk_xstrdup(sl->pid_ref ? sl->pid_ref : svc->pid);
    if (restart_wanted(svc) && x->env->rt->self_exe) {
        /* The monitor re-invokes stack when the container exits (DESIGN.md §3). */
        struct stk_strv ec = STK_STRV_INIT;
        stk_strv_init(&ec);
        stk_strv_push(&ec, x->env->rt->self_exe);
        stk_strv_pushf(&ec, "--state-dir=%s", x->env->state_dir);
        stk_strv_pushf(&ec, "--run-dir=%s", x->env->run_dir);
        stk_strv_pushf(&ec, "--runtime=%s", x->env->rt->driver->name);
        stk_strv_pushf(&ec, "--network-plugin=%s", x->env->net->plugin->name);
        stk_strv_push(&ec, "internal");
        stk_strv_push(&ec, "container-exited");
        stk_strv_push(&ec, sl->id);
        spec->exit_command = ec.v;
    }
    return 0;
}

/* ---- health checks and completion waits ------------------------------------------------- */

static void wait_next(struct exec *x, size_t i, uint64_t delay_ms);

static void on_wait_timer(uv_timer_t *t)
{
    struct act_ref *ref = t->data;

    wait_next(ref->x, ref->i, 0);
}

static void wait_done_target(struct exec *x, size_t i)
{
    struct rec_action *a = &x->plan->actions[i];
    struct act_ref *ref = &x->refs[i];

    /* What a later pass judges this container's gate from, while it keeps running. */
    if (a->kind == REC_A_WAIT_HEALTHY)
        store_container_set_health(x->env->store, a->targets[ref->target], "healthy", NULL);
    ref->target++;
    a->failures = 0;
    a->started_ns = now_ns();
    if (!a->targets || !a->targets[ref->target]) {
        rec__progress(x->env, "Service %s  %s", a->object,
                      a->kind == REC_A_WAIT_HEALTHY ? "Healthy" : "Exited (0)");
        finish(x, i, NULL);
        return;
    }
    wait_next(x, i, 0);
}

static void on_wait_rt(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                       void *userdata)
{
    struct act_ref *ref = userdata;
    struct exec *x = ref->x;
    size_t i = ref->i;
    struct rec_action *a = &x->plan->actions[i];
    const struct spec_service *svc = svc_of(x, a);
    struct stk_err e = STK_ERR_INIT;

    (void)req;
    a->req = NULL;
    if (x->interrupted) {
        stk_err_set(&e, STK_ECANCELED, 0, "interrupted");
        finish(x, i, &e);
        return;
    }
    if (a->kind == REC_A_WAIT_EXIT) {
        if (err && err->code) {
            finish(x, i, err);
            return;
        }
        if (res->info->state == RT_STATE_STOPPED) {
            if (res->info->has_exit_code && res->info->exit_code == 0) {
                wait_done_target(x, i);
                return;
            }
            stk_err_set(&e, STK_ERUNTIME, 0, "did not complete successfully: exit status %d",
                        res->info->has_exit_code ? res->info->exit_code : -1);
            finish(x, i, &e);
            return;
        }
        wait_next(x, i, EXEC_WAIT_EXIT_POLL_MS);
        return;
    }
    /* WAIT_HEALTHY: one check done. */
    if (!err && res && res->exit_code == 0) {
        wait_done_target(x, i);
        return;
    }
    if (now_ns() - a->started_ns >= svc->healthcheck.start_period_ns)
        a->failures++;
    if (a->failures >= (svc->healthcheck.retries > 0 ? svc->healthcheck.retries : 3)) {
        char out[200] = "";
        if (err && err->code)
            snprintf(out, sizeof(out), ": %.190s", err->msg);
        else if (res && res->output && *res->output)
            snprintf(out, sizeof(out), ": %.*s", (int)strcspn(res->output, "\n"), res->output);
        stk_err_set(&e, STK_ERUNTIME, 0,
                    "is unhealthy: the health check failed %d times in a row (exit status %d%s)",
                    a->failures, res ? res->exit_code : -1, out);
        finish(x, i, &e);
        return;
    }
    wait_next(x, i,
              (uint64_t)((svc->healthcheck.interval_ns > 0 ? svc->healthcheck.interval_ns
                                                           : 30000000000LL) /
                         1000000));
}

static void wait_next(struct exec *x, size_t i, uint64_t delay_ms)
{
    struct rec_action *a = &x->plan->actions[i];
    struct act_ref *ref = &x->refs[i];
    const struct spec_service *svc = svc_of(x, a);
    const char *id;
    struct stk_err err = STK_ERR_INIT;
    int r;

    if (delay_ms) {
        if (!ref->timer_init) {
            uv_timer_init(x->env->loop, &ref->timer);
            ref->timer.data = ref;
            ref->timer_init = 1;
            x->open_timers++;
        }
        uv_timer_start(&ref->timer, on_wait_timer, delay_ms, 0);
        return;
    }
    if (x->interrupted) {
        stk_err_set(&err, STK_ECANCELED, 0, "interrupted");
        finish(x, i, &err);
        return;
    }
    id = a->targets ? a->targets[ref->target] : NULL;
    if (!id) {
        finish(x, i, NULL);
        return;
    }
    x->env->reads++;
    if (a->kind == REC_A_WAIT_EXIT) {
        r = rt_container_state(x->env->rt, id, on_wait_rt, ref, (struct rt_req **)&a->req, &err);
    } else {
        const struct spec_healthcheck *hc = &svc->healthcheck;
        struct stk_strv argv = STK_STRV_INIT;
        struct rt_exec_opts eo;
        stk_strv_init(&argv);
        if (hc->test && hc->test[0] && strcmp(hc->test[0], "CMD-SHELL") == 0) {
            stk_strv_push(&argv, "/bin/sh");
            stk_strv_push(&argv, "-c");
            stk_strv_push(&argv, hc->test[1] ? hc->test[1] : "true");
        } else {
            for (size_t k = 1; hc->test && hc->test[0] && hc->test[k]; k++)
                stk_strv_push(&argv, hc->test[k]);
        }
        memset(&eo, 0, sizeof(eo));
        eo.args = (const char *const *)argv.v;
        eo.capture = 1;
        eo.timeout_ms = (uint64_t)((hc->timeout_ns > 0 ? hc->timeout_ns : 30000000000LL) / 1000000);
        r = rt_container_exec(x->env->rt, id, &eo, on_wait_rt, ref, (struct rt_req **)&a->req,
                              &err);
        stk_strv_release(&argv);
    }
    if (r < 0)
        finish(x, i, &err);
}

static void start_wait(struct exec *x, size_t i)
{
    struct rec_action *a = &x->plan->actions[i];
    const struct spec_service *svc = svc_of(x, a);
    struct stk_err err = STK_ERR_INIT;

    x->refs[i].target = 0;
    a->started_ns = now_ns();
    if (a->kind == REC_A_WAIT_HEALTHY) {
        const struct spec_healthcheck *hc = &svc->healthcheck;
        if (!hc->present || hc->disable || !hc->test || !hc->test[0] ||
            strcmp(hc->test[0], "NONE") == 0) {
            stk_err_set(&err, STK_EINVAL, 0,
                        "dependency '%s' has no health check (condition "
                        "service_healthy needs one)",
                        svc->name);
            finish(x, i, &err);
            return;
        }
        rec__progress(x->env, "Service %s  Waiting (healthy)", a->object);
        /* Docker runs the first check one interval after the start. */
        wait_next(x, i,
                  (uint64_t)((hc->interval_ns > 0 ? hc->interval_ns : 30000000000LL) / 1000000));
        return;
    }
    rec__progress(x->env, "Service %s  Waiting (completed)", a->object);
    wait_next(x, i, 0);
}

/* ---- runtime and plug-in actions ---------------------------------------------------------- */

static void on_rt_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                       void *userdata)
{
    struct act_ref *ref = userdata;
    struct exec *x = ref->x;
    size_t i = ref->i;
    struct rec_action *a = &x->plan->actions[i];
    struct stk_err e = STK_ERR_INIT;
    const char *name = display(x, a);

    (void)req;
    (void)res;
    if (err && err->code == STK_ENOENT &&
        (a->kind == REC_A_CONTAINER_STOP || a->kind == REC_A_CONTAINER_REMOVE))
        err = NULL; /* already gone */
    if (err && err->code) {
        stk_err_move(&e, &(struct stk_err){0});
        e = *err;
        e.detail = NULL;
        switch (a->kind) {
        case REC_A_CONTAINER_CREATE:
            stk_err_wrap(&e, "create container '%s'", name);
            break;
        case REC_A_CONTAINER_START:
            stk_err_wrap(&e, "start container '%s'", name);
            break;
        case REC_A_CONTAINER_STOP:
            stk_err_wrap(&e, "stop container '%s'", name);
            break;
        default:
            stk_err_wrap(&e, "remove container '%s'", name);
            break;
        }
        finish(x, i, &e);
        return;
    }
    switch (a->kind) {
    case REC_A_CONTAINER_CREATE:
        store_container_set_state(x->env->store, a->object, "created", NULL);
        rec__progress(x->env, "Container %s  Created", name);
        break;
    case REC_A_CONTAINER_START:
        store_container_started(x->env->store, a->object, NULL);
        store_event_add(x->env->store, x->plan->project, "container.start", a->object, a->service,
                        NULL);
        rec__progress(x->env, "Container %s  Started", name);
        break;
    case REC_A_CONTAINER_STOP:
        rec__progress(x->env, "Container %s  Stopped", name);
        break;
    case REC_A_CONTAINER_REMOVE:
        store_container_delete(x->env->store, a->object, NULL);
        store_event_add(x->env->store, x->plan->project, "container.remove", a->object, a->service,
                        NULL);
        rec__progress(x->env, "Container %s  Removed", name);
        break;
    default:
        break;
    }
    finish(x, i, NULL);
}

/*
 * Whether NETWORK is the one SVC publishes its ports on: the attachment with
 * the highest priority, the first listed among equals (docker publishes a
 * container's ports once, not once per network; two endpoints of one sandbox
 * cannot DNAT the same host port).
 */
static int primary_network(const struct exec *x, const struct spec_service *svc,
                           const char *network)
{
    const struct spec_service_network *best = NULL;

    for (size_t k = 0; k < svc->n_network_attachments; k++)
        if (!best || svc->network_attachments[k].priority > best->priority)
            best = &svc->network_attachments[k];
    if (!best)
        return 1;
    for (size_t q = 0; q < x->plan->spec->n_networks; q++)
        if (strcmp(x->plan->spec->networks[q].key, best->key) == 0)
            return strcmp(x->plan->spec->networks[q].name, network) == 0;
    return 1;
}

static void on_net_done(struct net_req *req, const struct net_result *res,
                        const struct stk_err *err, void *userdata)
{
    struct act_ref *ref = userdata;
    struct exec *x = ref->x;
    size_t i = ref->i;
    struct rec_action *a = &x->plan->actions[i];
    struct stk_err e = STK_ERR_INIT;

    (void)req;
    if (err && err->code) {
        e = *err;
        e.detail = NULL;
        switch (a->kind) {
        case REC_A_NETWORK_CREATE:
            stk_err_wrap(&e, "create network '%s'", a->object);
            break;
        case REC_A_NETWORK_REMOVE:
            stk_err_wrap(&e, "remove network '%s'", a->object);
            break;
        case REC_A_SANDBOX_CREATE:
            stk_err_wrap(&e, "create network sandbox '%s'", a->object);
            break;
        case REC_A_ENDPOINT_CONNECT:
            stk_err_wrap(&e, "connect to network '%s'", a->object);
            break;
        default:
            stk_err_wrap(&e, "remove network sandbox '%s'", a->object);
            break;
        }
        finish(x, i, &e);
        return;
    }
    switch (a->kind) {
    case REC_A_NETWORK_CREATE:
        store_object_put(x->env->store, "network", a->object, x->plan->project,
                         res && res->network ? res->network->subnet : NULL, NULL);
        rec__progress(x->env, "Network %s  Created", a->object);
        break;
    case REC_A_NETWORK_REMOVE:
        store_object_delete(x->env->store, "network", a->object, NULL);
        rec__progress(x->env, "Network %s  Removed", a->object);
        break;
    case REC_A_SANDBOX_CREATE: {
        struct rec_slot *sl = &x->plan->slots[a->slot];
        net_sandbox_info_release(&a->result_sb);
        if (res && res->sandbox)
            net_sandbox_info_copy(&a->result_sb, res->sandbox);
        if (sl->owns_sandbox)
            store_object_put(x->env->store, "sandbox", a->object, x->plan->project,
                             a->result_sb.handle, NULL);
        break;
    }
    case REC_A_ENDPOINT_CONNECT: {
        struct rec_slot *sl = &x->plan->slots[a->slot];
        char *obj = stk_xasprintf("%s/%s", a->object, sl->sandbox_id);
        if (res && res->endpoint && res->endpoint->n_ports) {
            /* The ports as published: ephemeral host ports are known only now. */
            free(sl->ports);
            sl->ports = rec__ports_text(res->endpoint->ports, res->endpoint->n_ports);
            /* The row exists already when the create was sent first. */
            store_container_set_ports(x->env->store, sl->id, sl->ports, NULL);
        }
        store_object_put(x->env->store, "endpoint", obj, x->plan->project,
                         res && res->endpoint ? res->endpoint->ipv4 : NULL, NULL);
        free(obj);
        break;
    }
    case REC_A_SANDBOX_REMOVE: {
        char **eps = NULL;
        store_object_delete(x->env->store, "sandbox", a->object, NULL);
        if (store_object_list(x->env->store, "endpoint", x->plan->project, &eps, NULL) == 0) {
            size_t ln = strlen(a->object);
            for (size_t k = 0; eps[k]; k++) {
                const char *slash = strrchr(eps[k], '/');
                if (slash && strlen(slash + 1) == ln && strcmp(slash + 1, a->object) == 0)
                    store_object_delete(x->env->store, "endpoint", eps[k], NULL);
            }
            stk_strv_free(eps);
        }
        break;
    }
    default:
        break;
    }
    finish(x, i, NULL);
}

/*
 * The service's stop_signal ("SIGUSR1", "USR1", "10"), SIGTERM by default. The
 * numbers are those of the container's kernel (Linux x86-64 signal(7)), not of
 * the host building stack, so that a Windows build reads them the same way.
 */
static int stop_signal(const struct spec_service *svc)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"KILL", 9},   {"USR1", 10},
                 {"USR2", 12}, {"TERM", 15}, {"STOP", 19}, {"WINCH", 28}, {"PWR", 30}};
    const char *s = svc ? svc->stop_signal : NULL;

    if (!s || !*s)
        return 15;
    if (*s >= '0' && *s <= '9')
        return atoi(s);
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i].name, s) == 0)
            return names[i].sig;
    return 15;
}

static int intent_action(struct exec *x, struct rec_action *a, struct stk_err *err)
{
    const char *obj = a->object;
    char *joined = NULL;
    int r;

    if (a->kind == REC_A_ENDPOINT_CONNECT)
        obj = joined = stk_xasprintf("%s/%s", a->object, x->plan->slots[a->slot].sandbox_id);
    r = rec_intent_begin(x->env, x->plan->project, rec_action_kind_to_string(a->kind), obj,
                         &a->intent, err);
    free(joined);
    return r;
}

static void start_action(struct exec *x, size_t i)
{
    struct rec_action *a = &x->plan->actions[i];
    struct act_ref *ref = &x->refs[i];
    struct stk_err err = STK_ERR_INIT;
    const struct spec_service *svc = svc_of(x, a);
    int r = 0;

    a->state = REC_AS_RUNNING;
    x->running++;
    if (a->kind == REC_A_WAIT_HEALTHY || a->kind == REC_A_WAIT_EXIT) {
        start_wait(x, i);
        return;
    }
    if ((r = intent_action(x, a, &err)) < 0) {
        a->intent = 0;
        finish(x, i, &err);
        return;
    }
    x->env->mutations++;
    a->is_net = 0;
    switch (a->kind) {
    case REC_A_NETWORK_CREATE: {
        struct net_network_spec ns;
        const struct spec_network *nw = NULL;
        for (size_t k = 0; x->plan->spec && k < x->plan->spec->n_networks; k++)
            if (strcmp(x->plan->spec->networks[k].name, a->object) == 0)
                nw = &x->plan->spec->networks[k];
        memset(&ns, 0, sizeof(ns));
        ns.name = a->object;
        ns.project = x->plan->project;
        ns.internal = nw ? nw->internal : 0;
        /* ipam.config: the first IPv4 subnet and its gateway (the plug-ins are IPv4). */
        for (size_t k = 0; nw && nw->subnets && nw->subnets[k]; k++)
            if (strchr(nw->subnets[k], '.')) {
                ns.subnet = nw->subnets[k];
                ns.gateway =
                    nw->gateways && nw->gateways[k] && *nw->gateways[k] ? nw->gateways[k] : NULL;
                break;
            }
        a->is_net = 1;
        rec__progress(x->env, "Network %s  Creating", a->object);
        r = net_network_create(x->env->net, &ns, on_net_done, ref, (struct net_req **)&a->req,
                               &err);
        break;
    }
    case REC_A_NETWORK_REMOVE:
        a->is_net = 1;
        rec__progress(x->env, "Network %s  Removing", a->object);
        r = net_network_remove(x->env->net, a->object, on_net_done, ref, (struct net_req **)&a->req,
                               &err);
        break;
    case REC_A_SANDBOX_CREATE: {
        struct net_sandbox_spec sbs;
        memset(&sbs, 0, sizeof(sbs));
        sbs.id = a->object;
        sbs.hostname = svc ? (svc->hostname ? svc->hostname : svc->name) : a->object;
        sbs.project = x->plan->project;
        if (svc) {
            sbs.extra_hosts = svc->extra_hosts;
            sbs.dns = svc->dns;
            sbs.dns_search = svc->dns_search;
        }
        a->is_net = 1;
        rec__progress(x->env, "Container %s  Creating", display(x, a));
        r = net_sandbox_create(x->env->net, &sbs, on_net_done, ref, (struct net_req **)&a->req,
                               &err);
        break;
    }
    case REC_A_ENDPOINT_CONNECT: {
        struct rec_slot *sl = &x->plan->slots[a->slot];
        struct net_attachment att;
        struct stk_strv aliases = STK_STRV_INIT;
        memset(&att, 0, sizeof(att));
        stk_strv_init(&aliases);
        stk_strv_push(&aliases, svc->name);
        stk_strv_push(&aliases, sl->name);
        for (size_t k = 0; k < svc->n_network_attachments; k++) {
            const struct spec_service_network *na = &svc->network_attachments[k];
            const struct spec_network *nw = NULL;
            for (size_t q = 0; q < x->plan->spec->n_networks; q++)
                if (strcmp(x->plan->spec->networks[q].key, na->key) == 0)
                    nw = &x->plan->spec->networks[q];
            if (!nw || strcmp(nw->name, a->object) != 0)
                continue;
            for (size_t q = 0; na->aliases && na->aliases[q]; q++)
                if (!stk_strv_contains(&aliases, na->aliases[q]))
                    stk_strv_push(&aliases, na->aliases[q]);
            att.ipv4_address = na->ipv4_address;
        }
        att.network = a->object;
        att.sandbox = sl->sandbox_id;
        att.aliases = aliases.v;
        att.ports = stk_xcalloc(svc->n_ports + 1, sizeof(struct net_port));
        for (size_t k = 0; k < svc->n_ports && primary_network(x, svc, a->object); k++) {
            const struct spec_port *sp = &svc->ports[k];
            struct net_port *np = &att.ports[att.n_ports];
            /* published 0 (`ports: ["80"]`): the plug-in chooses an ephemeral host port. */
            np->host_port = sp->published;
            np->container_port = sp->target;
            snprintf(np->protocol, sizeof(np->protocol), "%s", sp->protocol ? sp->protocol : "tcp");
            snprintf(np->host_ip, sizeof(np->host_ip), "%s", sp->host_ip ? sp->host_ip : "");
            att.n_ports++;
        }
        a->is_net = 1;
        r = net_endpoint_attach(x->env->net, &att, on_net_done, ref, (struct net_req **)&a->req,
                                &err);
        free(att.ports);
        stk_strv_release(&aliases);
        break;
    }
    case REC_A_CONTAINER_CREATE: {
        struct rec_slot *sl = &x->plan->slots[a->slot];
        struct rt_container_spec spec;
        struct store_container row;
        memset(&row, 0, sizeof(row));
        rec_slot_hash(sl, svc);
        if ((r = build_spec(x, a, &spec, &err)) == 0) {
            row.id = sl->id;
            row.project = x->plan->project;
            row.service = svc->name;
            row.number = sl->number;
            row.name = sl->name;
            row.isolation = (char *)rt_isolation_to_string(sl->isolation);
            row.hash = sl->hash;
            row.state = (char *)"creating";
            row.ports = sl->ports;
            row.sandbox = sl->sandbox_id;
            row.spec_json = sl->spec_json;
            row.restart = restart_policy(svc);
            r = store_container_put(x->env->store, &row, &err);
            free(row.restart);
        }
        if (r == 0)
            r = rt_container_create(x->env->rt, &spec, on_rt_done, ref, (struct rt_req **)&a->req,
                                    &err);
        rt_container_spec_release(&spec);
        if (r < 0)
            stk_err_wrap(&err, "create container '%s'", sl->name);
        break;
    }
    case REC_A_CONTAINER_START:
        rec__progress(x->env, "Container %s  Starting", display(x, a));
        r = rt_container_start(x->env->rt, a->object, on_rt_done, ref, (struct rt_req **)&a->req,
                               &err);
        break;
    case REC_A_CONTAINER_STOP:
        store_container_set_state(x->env->store, a->object, "stopping", NULL);
        rec__progress(x->env, "Container %s  Stopping", display(x, a));
        r = rt_container_stop(x->env->rt, a->object, a->signal ? a->signal : stop_signal(svc),
                              a->grace_ms, on_rt_done, ref, (struct rt_req **)&a->req, &err);
        if (r == 0)
            arm_timeout(x, i, a->grace_ms + 60000);
        break;
    case REC_A_CONTAINER_REMOVE:
        rec__progress(x->env, "Container %s  Removing", display(x, a));
        r = rt_container_delete(x->env->rt, a->object, on_rt_done, ref, (struct rt_req **)&a->req,
                                &err);
        break;
    case REC_A_SANDBOX_REMOVE:
        a->is_net = 1;
        r = net_sandbox_remove(x->env->net, a->object, on_net_done, ref, (struct net_req **)&a->req,
                               &err);
        break;
    default:
        r = stk_err_set(&err, STK_EINVAL, 0, "unknown action");
        break;
    }
    if (r < 0) {
        if (r == STK_ENOENT &&
            (a->kind == REC_A_CONTAINER_STOP || a->kind == REC_A_CONTAINER_REMOVE)) {
            finish(x, i, NULL);
            return;
        }
        finish(x, i, &err);
        return;
    }
    if (a->kind != REC_A_CONTAINER_STOP)
        arm_timeout(x, i, x->timeout_ms);
}

static void schedule(struct exec *x)
{
    if (x->interrupted)
        return;
    for (size_t i = 0; i < x->plan->n_actions; i++) {
        struct rec_action *a = &x->plan->actions[i];
        if (x->parallel && x->running >= x->parallel)
            return;
        if (a->state != REC_AS_PENDING || a->waiting)
            continue;
        start_action(x, i);
        if (x->interrupted)
            return;
    }
}

void rec_apply_cancel(struct rec_apply *apply)
{
    struct exec *x = (struct exec *)apply;

    if (!x || x->interrupted || x->completing)
        return;
    x->interrupted = 1;
    rec__progress(x->env, "Interrupted: canceling %u running action%s", x->running,
                  x->running == 1 ? "" : "s");
    x->depth++;
    for (size_t i = 0; i < x->plan->n_actions; i++) {
        struct rec_action *a = &x->plan->actions[i];
        if (a->state != REC_AS_RUNNING)
            continue;
        if (a->req) {
            if (a->is_net)
                net_req_cancel(a->req);
            else
                rt_req_cancel(a->req);
        }
        if (x->refs[i].timer_init && uv_is_active((uv_handle_t *)&x->refs[i].timer) &&
            (a->kind == REC_A_WAIT_HEALTHY || a->kind == REC_A_WAIT_EXIT)) {
            uv_timer_stop(&x->refs[i].timer);
            wait_next(x, i, 0);
        }
    }
    x->depth--;
    advance(x);
}

static void exec_free(struct exec *x)
{
    for (size_t i = 0; i < x->plan->n_actions; i++)
        free(x->dependents[i]);
    free(x->dependents);
    free(x->n_dependents);
    free(x->refs);
    stk_err_clear(&x->err);
    free(x);
}

/* The last handle closed: the pass is over; tell the caller, then free. */
static void handle_closed(struct exec *x)
{
    if (--x->open_timers > 0)
        return;
    x->done(x->result, x->result < 0 ? &x->err : NULL, x->userdata);
    exec_free(x);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct act_ref *ref = h->data;

    handle_closed(ref->x);
}

static void on_closing_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* Nothing runs any more: settle the plan, close the timers, and report once they are closed. */
static void complete(struct exec *x)
{
    struct rec_plan *plan = x->plan;
    int r = 0;

    x->completing = 1;
    {
        /* The network plug-in may have deferred hosts files of other members (net-plugin.h). */
        struct stk_err ferr = STK_ERR_INIT;

        if (net_hosts_flush(x->env->net, &ferr) < 0)
            stk_log_debug("hosts files: %s (the next pass rewrites them)", ferr.msg);
        stk_err_clear(&ferr);
    }
    for (size_t i = 0; i < plan->n_actions; i++) {
        if (x->refs[i].timer_init)
            uv_close((uv_handle_t *)&x->refs[i].timer, on_timer_closed);
        if (plan->actions[i].state == REC_AS_PENDING)
            plan->actions[i].state = REC_AS_SKIPPED;
    }
    if (x->failed) {
        x->err = plan->failure;
        x->err.detail = stk_xstrdup(plan->failure.detail);
        r = x->err.code;
    } else if (x->interrupted) {
        r = stk_err_set(&x->err, STK_ECANCELED, 0, "interrupted: the next run resumes");
    } else {
        for (size_t i = 0; i < plan->n_actions; i++)
            if (plan->actions[i].state != REC_AS_DONE)
                r = stk_err_set(&x->err, STK_EINVAL, 0, "plan has a dependency cycle at '%s %s'",
                                rec_action_kind_to_string(plan->actions[i].kind),
                                plan->actions[i].object);
    }
    x->result = r;
    uv_close((uv_handle_t *)&x->closing, on_closing_closed);
}

static void advance(struct exec *x)
{
    x->depth++;
    schedule(x);
    x->depth--;
    if (x->depth == 0 && x->running == 0 && !x->completing)
        complete(x);
}

int rec_plan_apply_start(struct rec_env *env, struct rec_plan *plan,
                         const struct rec_apply_opts *opts, rec_done_fn *done, void *userdata,
                         struct rec_apply **ret_apply, struct stk_err *err)
{
    struct exec *x;

    if (!env || !plan || !done)
        return stk_err_set(err, STK_EINVAL, 0, "apply: no environment, plan or callback");
    x = stk_new0(struct exec);
    x->env = env;
    x->plan = plan;
    x->done = done;
    x->userdata = userdata;
    x->err = (struct stk_err)STK_ERR_INIT;
    x->parallel = opts ? opts->parallel : 0;
    x->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : EXEC_DEFAULT_TIMEOUT_MS;
    x->refs = stk_xcalloc(plan->n_actions + 1, sizeof(*x->refs));
    x->dependents = stk_xcalloc(plan->n_actions + 1, sizeof(size_t *));
    x->n_dependents = stk_xcalloc(plan->n_actions + 1, sizeof(size_t));
    for (size_t i = 0; i < plan->n_actions; i++) {
        struct rec_action *a = &plan->actions[i];
        x->refs[i].x = x;
        x->refs[i].i = i;
        a->state = REC_AS_PENDING;
        a->waiting = a->n_deps;
        for (size_t d = 0; d < a->n_deps; d++) {
            size_t on = a->deps[d];
            x->dependents[on] =
                stk_xrealloc(x->dependents[on], (x->n_dependents[on] + 1) * sizeof(size_t));
            x->dependents[on][x->n_dependents[on]++] = i;
        }
    }
    uv_timer_init(env->loop, &x->closing);
    x->closing.data = x;
    x->open_timers++;
    if (ret_apply)
        *ret_apply = (struct rec_apply *)x;
    advance(x);
    return 0;
}
