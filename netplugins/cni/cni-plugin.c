/*
 * cni-plugin.c - the CNI 1.0 network plug-in (`net_plugin_cni`): the ops of
 * net-plugin.h as state machines on the libuv loop. Each request runs a
 * sequence of steps; a step that waits (a plugin process, a thread-pool job)
 * resumes the machine from its callback. Plugin chains follow the CNI 1.0
 * specification (SPEC.md "Execution of Network Configurations"): ADD runs the
 * plugins of the conflist in order, each receiving the previous plugin's result
 * as prevResult; DEL runs them in reverse order and CHECK in order, both with
 * the cached result of the ADD as prevResult.
 */
#include "netplugins/cni/net-cni.h"

#include "netplugins/bridge/net-bridge.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-proc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-strv.h"

struct cni_req;
typedef void cni_step_fn(struct cni_req *r);

/* One run of a conflist's plugin chain for one endpoint. */
struct cni_chain {
    const char *cmd;        /* "ADD", "DEL", "CHECK" */
    json_t *conflist;       /* owned */
    char *containerid;      /* owned */
    char *netns;            /* owned; "" when the namespace is gone (DEL) */
    char *ifname;           /* owned */
    char *cni_args;         /* owned, may be NULL */
    json_t *prev;           /* owned prevResult, may be NULL */
    json_t *runtime_config; /* owned, may be NULL */
    size_t idx;             /* plugins run so far */
    int best_effort;        /* DEL: run every plugin, keep the first error */
    struct stk_err err;     /* the first failure */
    cni_step_fn *cb;        /* resumes the request when the chain ends */
};

struct cni_req {
    struct net_req base;
    struct net__cni_priv *priv; /* borrowed */
    uv_loop_t *loop;
    net_done_fn *done;
    void *userdata;
    uv_timer_t defer; /* calls DONE on a later loop turn */
    uv_work_t work;   /* thread-pool job (namespace pin/unpin) */
    int work_pin;     /* 1: pin, 0: unpin */
    struct stk_err work_err;
    cni_step_fn *after; /* resumes after a thread-pool job or a helper process */
    int helper_failed;
    struct net__cni_proc *proc; /* running child, for cancellation */
    int proc_killable;          /* the child is an ADD or CHECK plugin */
    struct stk_err err;
    int state;

    enum net_result_kind kind;
    struct net_network_info network;
    struct net_sandbox_info sandbox;
    struct net_endpoint_info endpoint;
    struct net_inventory inventory;

    char *name;               /* network name or sandbox id */
    char *sb_id;              /* sandbox id of an endpoint op */
    char *pin;                /* namespace pin */
    char *bridge;             /* bridge name */
    json_t *rec;              /* record being built (endpoint or network) */
    struct stk_strv todo_net; /* endpoints still to delete: network[i] on sandbox[i] */
    struct stk_strv todo_sb;
    size_t todo_i;
    struct stk_strv touched; /* networks whose endpoints changed */
    struct cni_chain chain;
    cni_step_fn *detach_cb; /* resumes after detach_one() */

    /* A job of the native datapath (net-bridge.h) on the thread pool. */
    int nj_kind;       /* NJ_EXEC, NJ_NET_SETUP, NJ_NET_TEARDOWN */
    char *nj_type;     /* NJ_EXEC: the in-process plugin type */
    json_t *nj_conf;   /* owned: the plugin configuration or the network record */
    int nj_last;       /* NJ_NET_TEARDOWN: the table goes too */
    json_t *nj_result; /* owned: the ADD result */
    struct stk_err nj_err;
    cni_step_fn *nj_after;
};

enum { NJ_EXEC, NJ_NET_SETUP, NJ_NET_TEARDOWN, NJ_NFT };

static struct net__cni_priv *ctx_priv(struct net_ctx *ctx)
{
    return ctx->priv;
}

/* ---- request life cycle ---- */

static void req_free(uv_handle_t *h)
{
    struct cni_req *r = h->data;

    stk_err_clear(&r->err);
    stk_err_clear(&r->work_err);
    stk_err_clear(&r->chain.err);
    net_network_info_release(&r->network);
    net_sandbox_info_release(&r->sandbox);
    net_endpoint_info_release(&r->endpoint);
    net_inventory_release(&r->inventory);
    free(r->name);
    free(r->sb_id);
    free(r->pin);
    free(r->bridge);
    json_decref(r->rec);
    stk_strv_release(&r->todo_net);
    stk_strv_release(&r->todo_sb);
    stk_strv_release(&r->touched);
    json_decref(r->chain.conflist);
    json_decref(r->chain.prev);
    json_decref(r->chain.runtime_config);
    free(r->chain.containerid);
    free(r->chain.netns);
    free(r->chain.ifname);
    free(r->chain.cni_args);
    free(r->nj_type);
    json_decref(r->nj_conf);
    json_decref(r->nj_result);
    stk_err_clear(&r->nj_err);
    free(r);
}

static void req_cancel(struct net_req *base)
{
    struct cni_req *r = (struct cni_req *)base;

    /* Only ADD and CHECK stop early; a DEL or an `ip` helper is left to finish. */
    if (r->proc_killable)
        net__cni_proc_kill(r->proc);
}

static struct cni_req *req_new(struct net_ctx *ctx, net_done_fn *done, void *userdata)
{
    struct cni_req *r = stk_new0(struct cni_req);

    r->base.ctx = ctx;
    r->base.cancel = req_cancel;
    r->priv = ctx_priv(ctx);
    r->loop = ctx->loop;
    r->done = done;
    r->userdata = userdata;
    r->defer.data = r;
    r->work.data = r;
    uv_timer_init(ctx->loop, &r->defer);
    stk_strv_init(&r->todo_net);
    stk_strv_init(&r->todo_sb);
    stk_strv_init(&r->touched);
    return r;
}

/* Drops a request that failed before it started: DONE is never called. */
static int req_abort(struct cni_req *r, int ret)
{
    uv_close((uv_handle_t *)&r->defer, req_free);
    return ret;
}

static void req_on_defer(uv_timer_t *t)
{
    struct cni_req *r = t->data;
    struct net_result res = {r->kind, NULL, NULL, NULL, NULL};

    if (!r->err.code && r->base.canceled && r->kind == NET_RESULT_LIST)
        stk_err_set(&r->err, STK_ECANCELED, 0, "canceled");
    if (!r->err.code) {
        switch (r->kind) {
        case NET_RESULT_NETWORK:
            res.network = &r->network;
            break;
        case NET_RESULT_SANDBOX:
            res.sandbox = &r->sandbox;
            break;
        case NET_RESULT_ENDPOINT:
            res.endpoint = &r->endpoint;
            break;
        case NET_RESULT_LIST:
            res.inventory = &r->inventory;
            break;
        case NET_RESULT_NONE:
            break;
        }
    }
    r->done(&r->base, r->err.code ? NULL : &res, r->err.code ? &r->err : NULL, r->userdata);
    uv_close((uv_handle_t *)&r->defer, req_free);
}

/* Ends the request: DONE runs on a later loop turn, so never before the op returned. */
static void req_finish(struct cni_req *r)
{
    uv_timer_start(&r->defer, req_on_defer, 0, 0);
}

/* Records a failure for the request unless one is already recorded. */
static void req_fail_from(struct cni_req *r, struct stk_err *e)
{
    if (!r->err.code)
        stk_err_move(&r->err, e);
    else
        stk_err_clear(e);
}

/* ---- thread-pool jobs and helper processes ---- */

static void work_run(uv_work_t *w)
{
    struct cni_req *r = w->data;

    if (r->work_pin)
        net__cni_netns_pin(r->pin, &r->work_err);
    else
        net__cni_netns_unpin(r->pin, &r->work_err);
}

static void work_after(uv_work_t *w, int status)
{
    struct cni_req *r = w->data;

    if (status < 0 && !r->work_err.code)
        stk_err_set(&r->work_err, STK_ENET, 0, "namespace job: %s", uv_strerror(status));
    r->after(r);
}

static void req_queue_netns(struct cni_req *r, int pin, cni_step_fn *after)
{
    int e;

    r->work_pin = pin;
    r->after = after;
    e = uv_queue_work(r->loop, &r->work, work_run, work_after);
    if (e < 0) {
        stk_err_set(&r->work_err, STK_ENET, 0, "queue namespace job: %s", uv_strerror(e));
        after(r);
    }
}

/* ---- the DNS responder (net-bridge.h, "DNS") ---- */

static void dns_proc_closed(uv_handle_t *h)
{
    free(h);
}

/*
 * Starts the state dir's responder (stack-dns) unless one runs: detached,
 * stdio ignored, on the loop thread. A missing executable leaves names to
 * the hosts files.
 */
static void native_dns_ensure(struct cni_req *r)
{
    struct net_ctx *ctx = r->base.ctx;
    char *exe = net__bridge_dns_exe();
    const char *fw = getenv("STACK_DNS_FORWARD");
    char *args[5];
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t o;
    uv_process_t *proc;
    size_t n = 0;

    if (!exe || r->priv->dns_spawned || net__bridge_dns_running(ctx->run_dir)) {
        free(exe);
        return;
    }
    args[n++] = exe;
    args[n++] = ctx->state_dir;
    args[n++] = ctx->run_dir;
    if (fw && strcmp(fw, "0") == 0)
        args[n++] = (char *)"--no-forward";
    args[n] = NULL;
    memset(&o, 0, sizeof(o));
    o.file = exe;
    o.args = args;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED;
    proc = stk_new0(uv_process_t);
    if (uv_spawn(r->loop, proc, &o) == 0) {
        /* Once per context: a second create before the child holds its lock must not race. */
        r->priv->dns_spawned = 1;
        uv_unref((uv_handle_t *)proc);
    }
    uv_close((uv_handle_t *)proc, dns_proc_closed);
    free(exe);
}

/*
 * After an attach on a native network: tells the responder, and names it
 * (the network's gateway) in the sandbox's resolv.conf when the sandbox has
 * no nameserver yet and the service asked for no `dns:` of its own.
 */
static void native_dns_attached(struct cni_req *r)
{
    struct net__cni_priv *p = r->priv;
    char *spath = net__cni_sandbox_path(p, r->sb_id), *npath = net__cni_network_path(p, r->name);
    json_t *srec = NULL, *nrec = NULL;
    struct stk_err e = STK_ERR_INIT;
    char *have = NULL;

    net__bridge_dns_touch(p->state_dir);
    if (net__cni_json_load(spath, &srec, &e) == 0 && net__cni_json_load(npath, &nrec, &e) == 0 &&
        !json_object_get(srec, "dns") && !json_object_get(nrec, "conflist_src") &&
        json_string_value(json_object_get(nrec, "gateway")) &&
        json_string_value(json_object_get(srec, "resolv_path"))) {
        const char *rpath = json_string_value(json_object_get(srec, "resolv_path"));

        if (stk_file_read(rpath, &have, NULL, &e) == 0 && !strstr(have, "nameserver")) {
            json_t *copy = json_deep_copy(srec);

            json_object_set_new(copy, "dns", json_pack("[O]", json_object_get(nrec, "gateway")));
            net__cni_resolv_write(rpath, copy, &e);
            json_decref(copy);
        }
    }
    stk_err_clear(&e);
    free(have);
    json_decref(srec);
    json_decref(nrec);
    free(spath);
    free(npath);
}

static void native_work(uv_work_t *w)
{
    struct cni_req *r = w->data;
    struct cni_chain *c = &r->chain;

    switch (r->nj_kind) {
    case NJ_EXEC:
        net__bridge_exec(r->nj_type, c->cmd, r->nj_conf, c->containerid, c->netns, c->ifname,
                         c->cni_args, &r->nj_result, &r->nj_err);
        break;
    case NJ_NET_SETUP:
        net__bridge_network_setup(r->base.ctx->state_dir, r->nj_conf, &r->nj_err);
        break;
    case NJ_NFT:
        net__bridge_nft_run(json_string_value(json_object_get(r->nj_conf, "cmds")), &r->nj_err);
        break;
    case NJ_NET_TEARDOWN:
        net__bridge_network_teardown(r->base.ctx->state_dir, r->nj_conf, r->nj_last, &r->nj_err);
        if (r->nj_last)
            net__bridge_dns_stop(r->base.ctx->run_dir);
        break;
    }
}

static void native_after(uv_work_t *w, int status)
{
    struct cni_req *r = w->data;

    if (status < 0 && !r->nj_err.code)
        stk_err_set(&r->nj_err, STK_ENET, 0, "native job: %s", uv_strerror(status));
    r->nj_after(r);
}

/* Runs a native job KIND over CONF (stolen) on the thread pool, then AFTER on the loop. */
static void req_queue_native(struct cni_req *r, int kind, json_t *conf, cni_step_fn *after)
{
    int e;

    json_decref(r->nj_conf);
    json_decref(r->nj_result);
    r->nj_result = NULL;
    stk_err_clear(&r->nj_err);
    r->nj_kind = kind;
    r->nj_conf = conf;
    r->nj_after = after;
    e = uv_queue_work(r->loop, &r->work, native_work, native_after);
    if (e < 0) {
        stk_err_set(&r->nj_err, STK_ENET, 0, "queue native job: %s", uv_strerror(e));
        after(r);
    }
}

static void build_env(const struct net__cni_priv *p, struct stk_strv *env, const char *cmd,
                      const char *containerid, const char *netns, const char *ifname,
                      const char *cni_args)
{
    stk_strv_init(env);
    if (cmd) {
        stk_strv_pushf(env, "CNI_COMMAND=%s", cmd);
        stk_strv_pushf(env, "CNI_CONTAINERID=%s", containerid);
        stk_strv_pushf(env, "CNI_NETNS=%s", netns);
        stk_strv_pushf(env, "CNI_IFNAME=%s", ifname);
        stk_strv_pushf(env, "CNI_PATH=%s", p->plugin_dir);
        if (cni_args)
            stk_strv_pushf(env, "CNI_ARGS=%s", cni_args);
    }
    stk_strv_pushf(env, "PATH=%s", p->path_env);
    stk_strv_push(env, "LC_ALL=C");
}

static void helper_on_exit(struct net__cni_proc *proc, void *data)
{
    struct cni_req *r = data;
    const struct net__cni_proc_status *st = net__cni_proc_status(proc);

    r->proc = NULL;
    r->helper_failed = 0;
    if (st->spawn_error) {
        r->helper_failed = 1;
        stk_err_set(&r->work_err, STK_ENET, 0, "spawn '%s': %s", r->priv->ip_path,
                    uv_strerror(st->spawn_error));
    } else if (st->exit_status || st->term_signal) {
        size_t n = strlen(st->errout);

        while (n && (st->errout[n - 1] == '\n' || st->errout[n - 1] == ' '))
            n--;
        r->helper_failed = 1;
        stk_err_set(&r->work_err, STK_ENET, 0, "exit status %d: %.*s", (int)st->exit_status, (int)n,
                    st->errout);
    }
    r->after(r);
}

/*
 * Runs `ip ARGS...` (NULL-terminated) with INPUT (may be NULL) on its stdin and
 * resumes with AFTER; failures land in work_err and set helper_failed.
 */
static void req_run_ip(struct cni_req *r, cni_step_fn *after, const char *const *args,
                       const char *input)
{
    struct stk_strv argv = STK_STRV_INIT, env = STK_STRV_INIT;

    stk_strv_init(&argv);
    stk_strv_push(&argv, r->priv->ip_path);
    for (size_t i = 0; args[i]; i++)
        stk_strv_push(&argv, args[i]);
    build_env(r->priv, &env, NULL, NULL, NULL, NULL, NULL);
    r->after = after;
    r->proc_killable = 0;
    net__cni_proc_start(r->loop, r->priv->ip_path, argv.v, env.v, input, helper_on_exit, r,
                        &r->proc);
    stk_strv_release(&argv);
    stk_strv_release(&env);
}

static int link_exists(const char *ifname)
{
    char *path = stk_xasprintf("/sys/class/net/%s", ifname);
    int r = stk_path_exists(path);

    free(path);
    return r;
}

/* ---- CNI plugin chains ---- */

static void chain_next(struct cni_req *r);

/* Fills E from a failed plugin run: the CNI error document when stdout has one. */
static void chain_plugin_error(struct stk_err *e, const char *type, const char *cmd,
                               const struct net__cni_proc_status *st)
{
    json_t *j = st->out_len ? json_loads(st->out, 0, NULL) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "msg")) : NULL;
    const char *details = j ? json_string_value(json_object_get(j, "details")) : NULL;

    if (st->spawn_error)
        stk_err_set(e, STK_ENET, 0, "cni %s %s: spawn: %s", type, cmd,
                    uv_strerror(st->spawn_error));
    else if (st->timed_out)
        stk_err_set(e, STK_ENET, 0, "cni %s %s: timed out", type, cmd);
    else if (msg && details && *details)
        stk_err_set(e, STK_ENET, 0, "cni %s %s: %s: %s", type, cmd, msg, details);
    else if (msg)
        stk_err_set(e, STK_ENET, 0, "cni %s %s: %s", type, cmd, msg);
    else if (st->term_signal)
        stk_err_set(e, STK_ENET, 0, "cni %s %s: killed by signal %d", type, cmd, st->term_signal);
    else
        stk_err_set(e, STK_ENET, 0, "cni %s %s: exit status %d: %.200s", type, cmd,
                    (int)st->exit_status, st->errout);
    stk_err_set_detail(e, st->out_len ? st->out : (*st->errout ? st->errout : NULL));
    json_decref(j);
}

/*
 * portmap up to v1.2.0 fails CHECK for a container without IPv6 addresses
 * because it always looks for ip6tables rules it never created
 * (containernetworking/plugins#819). Our networks are IPv4-only, so that one
 * failure says nothing about the endpoint and is not reported.
 */
static int chain_error_is_benign(const char *type, const char *cmd,
                                 const struct net__cni_proc_status *st)
{
    json_t *j;
    const char *msg;
    int benign;

    if (strcmp(cmd, "CHECK") != 0 || !type || strcmp(type, "portmap") != 0 || !st->out_len)
        return 0;
    j = json_loads(st->out, 0, NULL);
    msg = json_string_value(json_object_get(j, "msg"));
    benign = msg && strncmp(msg, "could not check ipv6 dnat", 25) == 0;
    json_decref(j);
    return benign;
}

static void chain_on_exit(struct net__cni_proc *proc, void *data)
{
    struct cni_req *r = data;
    struct cni_chain *c = &r->chain;
    const struct net__cni_proc_status *st = net__cni_proc_status(proc);
    json_t *plugins = json_object_get(c->conflist, "plugins");
    size_t n = json_array_size(plugins);
    size_t pos = strcmp(c->cmd, "DEL") == 0 ? n - 1 - c->idx : c->idx;
    const char *type = json_string_value(json_object_get(json_array_get(plugins, pos), "type"));

    r->proc = NULL;
    if ((st->spawn_error || st->exit_status || st->term_signal) &&
        !chain_error_is_benign(type, c->cmd, st)) {
        struct stk_err e = STK_ERR_INIT;

        if (r->base.canceled && !c->best_effort)
            stk_err_set(&e, STK_ECANCELED, 0, "cni %s %s: canceled", type ? type : "?", c->cmd);
        else
            chain_plugin_error(&e, type ? type : "?", c->cmd, st);
        if (!c->err.code)
            stk_err_move(&c->err, &e);
        stk_err_clear(&e);
        if (!c->best_effort) {
            c->idx = n;
            c->cb(r);
            return;
        }
    } else if (strcmp(c->cmd, "ADD") == 0) {
        json_error_t jerr;
        json_t *res = json_loads(st->out, 0, &jerr);

        if (!json_is_object(res)) {
            stk_err_set(&c->err, STK_ENET, 0, "cni %s ADD: invalid result: %s", type, jerr.text);
            stk_err_set_detail(&c->err, st->out);
            json_decref(res);
            c->idx = n;
            c->cb(r);
            return;
        }
        json_decref(c->prev);
        c->prev = res;
    }
    c->idx++;
    chain_next(r);
}

/* An in-process plugin of the chain has run: as chain_on_exit() for a process. */
static void chain_native_done(struct cni_req *r)
{
    struct cni_chain *c = &r->chain;
    size_t n = json_array_size(json_object_get(c->conflist, "plugins"));

    if (r->nj_err.code) {
        if (!c->err.code) {
            stk_err_move(&c->err, &r->nj_err);
            stk_err_wrap(&c->err, "%s %s", r->nj_type, c->cmd);
        }
        stk_err_clear(&r->nj_err);
        if (!c->best_effort) {
            c->idx = n;
            c->cb(r);
            return;
        }
    } else if (strcmp(c->cmd, "ADD") == 0 && r->nj_result) {
        json_decref(c->prev);
        c->prev = r->nj_result;
        r->nj_result = NULL;
    }
    c->idx++;
    chain_next(r);
}

static void chain_next(struct cni_req *r)
{
    struct cni_chain *c = &r->chain;
    json_t *plugins = json_object_get(c->conflist, "plugins");
    size_t n = json_array_size(plugins);
    struct stk_strv argv = STK_STRV_INIT, env = STK_STRV_INIT;
    json_t *conf, *caps;
    const char *type;
    char *input, *file;

    if (c->idx >= n) {
        c->cb(r);
        return;
    }
    if (r->base.canceled && !c->best_effort) {
        stk_err_set(&c->err, STK_ECANCELED, 0, "cni %s: canceled", c->cmd);
        c->idx = n;
        c->cb(r);
        return;
    }
    conf = json_deep_copy(
        json_array_get(plugins, strcmp(c->cmd, "DEL") == 0 ? n - 1 - c->idx : c->idx));
    type = json_string_value(json_object_get(conf, "type"));
    json_object_set(conf, "cniVersion", json_object_get(c->conflist, "cniVersion"));
    json_object_set(conf, "name", json_object_get(c->conflist, "name"));
    if (c->prev)
        json_object_set(conf, "prevResult", c->prev);
    caps = json_object_get(conf, "capabilities");
    if (c->runtime_config && json_is_true(json_object_get(caps, "portMappings")) &&
        json_object_get(c->runtime_config, "portMappings")) {
        json_t *rc = json_object();

        json_object_set(rc, "portMappings", json_object_get(c->runtime_config, "portMappings"));
        json_object_set_new(conf, "runtimeConfig", rc);
    }
    if (net__bridge_type_native(type) && (r->priv->native || strcmp(type, NET_BRIDGE_TYPE) == 0)) {
        free(r->nj_type);
        r->nj_type = stk_xstrdup(type);
        r->proc_killable = 0;
        req_queue_native(r, NJ_EXEC, conf, chain_native_done);
        return;
    }
    input = json_dumps(conf, JSON_COMPACT);
    file = stk_xasprintf("%s/%s", r->priv->plugin_dir, type ? type : "missing-type");
    stk_strv_init(&argv);
    stk_strv_push(&argv, file);
    build_env(r->priv, &env, c->cmd, c->containerid, c->netns, c->ifname, c->cni_args);
    r->proc_killable = !c->best_effort;
    net__cni_proc_start(r->loop, file, argv.v, env.v, input, chain_on_exit, r, &r->proc);
    stk_strv_release(&argv);
    stk_strv_release(&env);
    free(file);
    free(input);
    json_decref(conf);
}

/*
 * Starts CMD over CONFLIST (stolen) for one endpoint; CB resumes the request
 * with the outcome in r->chain.err and, for ADD, the result in r->chain.prev.
 */
static void chain_start(struct cni_req *r, const char *cmd, json_t *conflist,
                        const char *containerid, const char *netns, const char *ifname,
                        const char *cni_args, json_t *prev, json_t *runtime_config, cni_step_fn *cb)
{
    struct cni_chain *c = &r->chain;
    /* Take the new values before releasing the old ones: callers may pass the chain's own. */
    char *n_containerid = stk_xstrdup(containerid), *n_netns = stk_xstrdup(netns ? netns : "");
    char *n_ifname = stk_xstrdup(ifname), *n_cni_args = stk_xstrdup(cni_args);
    json_t *n_prev = prev ? json_incref(prev) : NULL;
    json_t *n_rc = runtime_config ? json_incref(runtime_config) : NULL;

    json_decref(c->conflist);
    json_decref(c->prev);
    json_decref(c->runtime_config);
    free(c->containerid);
    free(c->netns);
    free(c->ifname);
    free(c->cni_args);
    stk_err_clear(&c->err);
    c->cmd = cmd;
    c->conflist = conflist;
    c->containerid = n_containerid;
    c->netns = n_netns;
    c->ifname = n_ifname;
    c->cni_args = n_cni_args;
    c->prev = n_prev;
    c->runtime_config = n_rc;
    c->idx = 0;
    c->best_effort = strcmp(cmd, "DEL") == 0;
    c->cb = cb;
    chain_next(r);
}

/* ---- conflists and records ---- */

/*
 * Whether network record REC runs the native datapath: made by the bridge
 * plug-in ("datapath": "native"). A record of the CNI plug-in keeps its CNI
 * plugins under the bridge plug-in (its endpoints were made by them), and
 * the other way round.
 */
static int rec_native(const json_t *rec)
{
    const char *d = json_string_value(json_object_get(rec, "datapath"));

    return d && strcmp(d, "native") == 0 && !json_object_get(rec, "conflist_src");
}

static json_t *conflist_build(const struct net__cni_priv *p, int native, const char *name,
                              const char *bridge, const char *subnet, const char *gateway,
                              int internal)
{
    json_t *ipam, *range, *bridge_conf, *portmap;

    if (native)
        /* One in-process plugin does what bridge, host-local and portmap do (net-bridge.h). */
        return json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:{s:b}}]}",
                         "cniVersion", NET_CNI_VERSION, "name", name, "plugins", "type",
                         NET_BRIDGE_TYPE, "bridge", bridge, "subnet", subnet, "gateway", gateway,
                         "internal", internal != 0, "dataDir", p->ipam_dir, "stateDir",
                         p->state_dir, "capabilities", "portMappings", 1);
    range = json_pack("{s:s, s:s}", "subnet", subnet, "gateway", gateway);
    ipam = json_pack("{s:s, s:s, s:[[o]]}", "type", "host-local", "dataDir", p->ipam_dir, "ranges",
                     range);
    if (!internal)
        json_object_set_new(ipam, "routes", json_pack("[{s:s}]", "dst", "0.0.0.0/0"));
    bridge_conf =
        json_pack("{s:s, s:s, s:b, s:b, s:b, s:o}", "type", "bridge", "bridge", bridge, "isGateway",
                  !internal, "ipMasq", !internal, "hairpinMode", 1, "ipam", ipam);
    portmap = json_pack("{s:s, s:{s:b}, s:b}", "type", "portmap", "capabilities", "portMappings", 1,
                        "snat", 1);
    return json_pack("{s:s, s:s, s:[o,o]}", "cniVersion", NET_CNI_VERSION, "name", name, "plugins",
                     bridge_conf, portmap);
}

static json_t *runtime_config_build(const json_t *ports)
{
    json_t *pm = json_array(), *v;
    size_t i;

    json_array_foreach(ports, i, v)
    {
        json_t *m = json_pack("{s:O, s:O, s:O}", "hostPort", json_object_get(v, "host_port"),
                              "containerPort", json_object_get(v, "container_port"), "protocol",
                              json_object_get(v, "protocol"));
        const char *hip = json_string_value(json_object_get(v, "host_ip"));

        if (hip && *hip)
            json_object_set_new(m, "hostIP", json_string(hip));
        json_array_append_new(pm, m);
    }
    return json_pack("{s:o}", "portMappings", pm);
}

/*
 * Loads the user's conflist at PATH (`driver: cni`) for network NAME: its
 * "name" is replaced by NAME, the rest is run as it is.
 */
static int user_conflist_load(const char *path, const char *name, json_t **ret, struct stk_err *err)
{
    json_t *j = NULL;
    int r = net__cni_json_load(path, &j, err);

    if (r < 0)
        return stk_err_wrap(err, "conflist of network '%s'", name);
    if (!json_is_array(json_object_get(j, "plugins")) ||
        !json_array_size(json_object_get(j, "plugins"))) {
        json_decref(j);
        return stk_err_set(err, STK_EINVAL, 0, "conflist '%s' has no plugins", path);
    }
    json_object_set_new(j, "name", json_string(name));
    if (!json_string_value(json_object_get(j, "cniVersion")))
        json_object_set_new(j, "cniVersion", json_string(NET_CNI_VERSION));
    *ret = j;
    return 0;
}

/* Loads network NAME's conflist, regenerating it from the record when the file is missing. */
static int conflist_load(const struct net__cni_priv *p, const char *name, json_t **ret,
                         struct stk_err *err)
{
    char *path = net__cni_conflist_path(p, name);
    int r = net__cni_json_load(path, ret, err);

    free(path);
    if (r == STK_ENOENT) {
        char *npath = net__cni_network_path(p, name);
        json_t *rec = NULL;

        stk_err_clear(err);
        r = net__cni_json_load(npath, &rec, err);
        free(npath);
        if (r == STK_ENOENT)
            return stk_err_set(err, STK_ENOENT, 0, "network '%s' not found", name);
        if (r < 0)
            return r;
        if (json_string_value(json_object_get(rec, "conflist_src"))) {
            r = user_conflist_load(json_string_value(json_object_get(rec, "conflist_src")), name,
                                   ret, err);
            json_decref(rec);
            return r;
        }
        *ret = conflist_build(p, rec_native(rec), name,
                              json_string_value(json_object_get(rec, "bridge")),
                              json_string_value(json_object_get(rec, "subnet")),
                              json_string_value(json_object_get(rec, "gateway")),
                              json_is_true(json_object_get(rec, "internal")));
        json_decref(rec);
    }
    return r;
}

/* ---- detaching one endpoint (detach, sandbox_remove, network_remove) ---- */

static void detach_one_done(struct cni_req *r)
{
    struct stk_err e = STK_ERR_INIT;
    char *epath =
        net__cni_endpoint_path(r->priv, r->todo_sb.v[r->todo_i], r->todo_net.v[r->todo_i]);
    char *edir = net__cni_endpoint_dir(r->priv, r->todo_sb.v[r->todo_i]);
    const char *net = r->todo_net.v[r->todo_i];

    if (r->chain.err.code) {
        /* The record stays so that the endpoint remains tracked and a retry runs DEL again. */
        req_fail_from(r, &r->chain.err);
        stk_err_wrap(&r->err, "detach '%s' from '%s'", r->todo_sb.v[r->todo_i],
                     r->todo_net.v[r->todo_i]);
    } else {
        if (unlink(epath) < 0 && errno != ENOENT) {
            stk_err_set(&e, STK_EIO, errno, "remove '%s'", epath);
            req_fail_from(r, &e);
        }
        rmdir(edir); /* only when empty */
        if (!stk_strv_contains(&r->touched, net))
            stk_strv_push(&r->touched, net);
        net__cni_hosts_endpoint_set(r->priv, r->todo_sb.v[r->todo_i], net, NULL);
        if (r->priv->native)
            net__bridge_dns_touch(r->priv->state_dir);
        if (net__cni_hosts_changed(r->priv, net, r->todo_sb.v[r->todo_i], &e) < 0)
            req_fail_from(r, &e);
    }
    free(epath);
    free(edir);
    r->todo_i++;
    r->detach_cb(r);
}

/*
 * Runs DEL for endpoint todo_net[todo_i] on todo_sb[todo_i], removes its record
 * and updates the hosts files (net__cni_hosts_changed: the sandbox's own at
 * once, its network's when enough changes are pending); then increments todo_i and
 * resumes with r->detach_cb. A missing endpoint is success.
 */
static void detach_one(struct cni_req *r)
{
    const char *net = r->todo_net.v[r->todo_i], *sb = r->todo_sb.v[r->todo_i];
    char *epath = net__cni_endpoint_path(r->priv, sb, net);
    char *pin = net__cni_pin_path(r->priv, sb);
    struct stk_err e = STK_ERR_INIT;
    json_t *ep = NULL, *conflist = NULL, *rc = NULL;
    int ret;

    ret = net__cni_json_load(epath, &ep, &e);
    if (ret == STK_ENOENT) {
        stk_err_clear(&e);
        stk_err_clear(&r->chain.err);
        detach_one_done(r);
        goto out;
    }
    if (ret == 0)
        ret = conflist_load(r->priv, net, &conflist, &e);
    if (ret == STK_ENOENT) {
        /* The network is gone, and its IPAM data with it: nothing is left to DEL. */
        stk_err_clear(&e);
        stk_err_clear(&r->chain.err);
        detach_one_done(r);
        goto out;
    }
    if (ret < 0) {
        stk_err_clear(&r->chain.err);
        stk_err_move(&r->chain.err, &e);
        detach_one_done(r);
        goto out;
    }
    /* Ports withdrawn at the container's stop (ports_set) have no rules left to delete. */
    rc = runtime_config_build(
        json_is_true(json_object_get(ep, "ports_off")) ? NULL : json_object_get(ep, "ports"));
    chain_start(r, "DEL", conflist, sb, net__cni_netns_alive(pin) ? pin : "",
                json_string_value(json_object_get(ep, "ifname")), NULL,
                json_object_get(ep, "result"), rc, detach_one_done);
out:
    stk_err_clear(&e);
    json_decref(ep);
    json_decref(rc);
    free(epath);
    free(pin);
}

/* Queues every endpoint of sandbox SB (NULL: every sandbox) on network NET (NULL: every one). */
static int todo_collect(struct cni_req *r, const char *net, const char *sb, struct stk_err *err)
{
    char **sbs = NULL;
    int ret;

    ret = net__cni_list_dir(r->priv->endpoints_dir, "", &sbs, err);
    if (ret < 0)
        return ret;
    for (size_t s = 0; sbs[s]; s++) {
        char *edir = net__cni_endpoint_dir(r->priv, sbs[s]);
        char **nets = NULL;

        if (sb && strcmp(sb, sbs[s]) != 0) {
            free(edir);
            continue;
        }
        ret = net__cni_list_records(edir, &nets, err);
        free(edir);
        if (ret < 0)
            break;
        for (size_t n = 0; nets[n]; n++) {
            if (net && strcmp(net, nets[n]) != 0)
                continue;
            stk_strv_push(&r->todo_net, nets[n]);
            stk_strv_push(&r->todo_sb, sbs[s]);
        }
        stk_strv_free(nets);
    }
    stk_strv_free(sbs);
    return ret;
}

/* ---- init / fini ---- */

static void cni_fini(struct net_ctx *ctx);

static int cni_init(struct net_ctx *ctx, struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    static const char *const needed[] = {"bridge", "host-local", "portmap", "loopback"};
    static const char *const ips[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
    const char *path = getenv("PATH");
    const char *dirs[6];
    int ret;

    p->state_dir = stk_xstrdup(ctx->state_dir);
    p->net_dir = stk_xasprintf("%s/net", ctx->state_dir);
    p->conf_dir = stk_xasprintf("%s/conf", p->net_dir);
    p->ipam_dir = stk_xasprintf("%s/ipam", p->net_dir);
    p->networks_dir = stk_xasprintf("%s/networks", p->net_dir);
    p->sandboxes_dir = stk_xasprintf("%s/sandboxes", p->net_dir);
    p->endpoints_dir = stk_xasprintf("%s/endpoints", p->net_dir);
    p->netns_dir = stk_xasprintf("%s/netns", ctx->run_dir);
    p->plugin_dir = stk_xstrdup(NET_CNI_PLUGIN_DIR);
    {
        /*
         * Plugins an interrupted pass started may still run (they carry our
         * namespace pins in CNI_NETNS): let them finish first, or a late ADD
         * would make again what this pass removes.
         */
        char *marker = stk_xasprintf("CNI_NETNS=%s/", p->netns_dir);
        stk_proc_wait_stragglers(marker, "bridge:host-local:portmap:loopback", 1, 30000);
        free(marker);
    }
    p->path_env = stk_xstrdup(path && *path ? path
                                            : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                              "/sbin:/bin");
    for (size_t i = 0; i < STK_ARRAY_SIZE(needed) && !p->native; i++) {
        char *f = stk_xasprintf("%s/%s", p->plugin_dir, needed[i]);
        int ok = access(f, X_OK) == 0;

        free(f);
        if (!ok) {
            ret = stk_err_set(err, STK_EUNAVAIL, 0, "CNI plugin '%s' not found in '%s'", needed[i],
                              p->plugin_dir);
            goto fail;
        }
    }
    for (size_t i = 0; i < STK_ARRAY_SIZE(ips) && !p->ip_path; i++)
        if (access(ips[i], X_OK) == 0)
            p->ip_path = stk_xstrdup(ips[i]);
    if (!p->ip_path && !p->native) {
        ret = stk_err_set(err, STK_EUNAVAIL, 0, "iproute2 'ip' not found");
        goto fail;
    }
    dirs[0] = p->conf_dir;
    dirs[1] = p->ipam_dir;
    dirs[2] = p->networks_dir;
    dirs[3] = p->sandboxes_dir;
    dirs[4] = p->endpoints_dir;
    dirs[5] = p->netns_dir;
    for (size_t i = 0; i < STK_ARRAY_SIZE(dirs); i++) {
        ret = stk_mkdir_p(dirs[i], 0755, err);
        if (ret < 0) {
            stk_err_wrap(err, "cni plug-in");
            goto fail;
        }
    }
    return 0;
fail:
    /* net_ctx_new() does not call fini after a failed init. */
    cni_fini(ctx);
    return ret;
}

static void cni_fini(struct net_ctx *ctx)
{
    struct net__cni_priv *p = ctx_priv(ctx);

    if (!p)
        return;
    if (p->hosts_dirty) {
        /* Bring the networks with pending changes up to date (net-cni.h, "Hosts files"). */
        struct stk_err e = STK_ERR_INIT;

        if (net__cni_hosts_flush(p, 0, &e) < 0)
            stk_log_warn("cni: hosts files: %s", e.msg);
        stk_err_clear(&e);
    }
    net__cni_hosts_release(p);
    free(p->state_dir);
    free(p->net_dir);
    free(p->conf_dir);
    free(p->ipam_dir);
    free(p->networks_dir);
    free(p->sandboxes_dir);
    free(p->endpoints_dir);
    free(p->netns_dir);
    free(p->plugin_dir);
    free(p->ip_path);
    free(p->path_env);
    memset(p, 0, sizeof(*p));
}

/* ---- network_create ---- */

/*
 * Creates network REC's bridge r->bridge with its fixed MAC, the gateway
 * address and the link up, in one `ip -batch`, then resumes with AFTER. The
 * gateway address goes on the bridge now rather than at the first ADD, so that
 * the subnet shows in the host's routes at once and no other allocator
 * (another state dir, another tool) takes it meanwhile.
 */
/*
 * The name the bridge's name and MAC are derived from: the state dir and the
 * network name, so that two state dirs on one host (two installations, a test
 * beside a user's stacks) never share or delete each other's bridges.
 */
static char *qualified(const struct net_ctx *ctx, const char *name)
{
    return stk_xasprintf("%s\n%s", ctx->state_dir, name ? name : "");
}

static void req_bridge_create(struct cni_req *r, const json_t *rec, cni_step_fn *after)
{
    const char *args[] = {"-batch", "-", NULL};
    const char *cidr = json_string_value(json_object_get(rec, "subnet"));
    const char *gateway = json_string_value(json_object_get(rec, "gateway"));
    char mac[18];
    char *batch;

    {
        char *q = qualified(r->base.ctx, json_string_value(json_object_get(rec, "name")));
        net__cni_bridge_mac(q, mac);
        free(q);
    }
    batch = stk_xasprintf("link add name %s address %s type bridge\n"
                          "addr add %s/%s dev %s\n"
                          "link set dev %s up\n",
                          r->bridge, mac, gateway, cidr ? strchr(cidr, '/') + 1 : "24", r->bridge,
                          r->bridge);
    req_run_ip(r, after, args, batch);
    free(batch);
}

static void netcreate_bridge_done(struct cni_req *r)
{
    if (r->helper_failed && !link_exists(r->bridge)) {
        req_fail_from(r, &r->work_err);
        stk_err_wrap(&r->err, "create bridge '%s' for network '%s'", r->bridge, r->name);
    }
    stk_err_clear(&r->work_err);
    req_finish(r);
}

static void netcreate_native_done(struct cni_req *r)
{
    if (r->nj_err.code) {
        req_fail_from(r, &r->nj_err);
        stk_err_wrap(&r->err, "create network '%s'", r->name);
    } else {
        /* The responder listens on the new gateway from its next reload. */
        net__bridge_dns_touch(r->priv->state_dir);
        native_dns_ensure(r);
    }
    req_finish(r);
}

static int cni_network_create(struct net_ctx *ctx, const struct net_network_spec *spec,
                              net_done_fn *done, void *userdata, struct net_req **ret_req,
                              struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    struct cni_req *r;
    char bridge[16];
    char *npath = NULL, *cpath = NULL, *subnet = NULL, *gateway = NULL;
    json_t *rec = NULL, *conflist = NULL;
    uint32_t addr = 0;
    int prefix = 0, ret;

    if (!spec || !net__cni_name_valid(spec->name))
        return stk_err_set(err, STK_EINVAL, 0, "invalid network name '%s'",
                           spec && spec->name ? spec->name : "");
    if (spec->subnet && (net__cni_cidr_parse(spec->subnet, &addr, &prefix) < 0 || prefix > 30))
        return stk_err_set(err, STK_EINVAL, 0, "network '%s': invalid subnet '%s'", spec->name,
                           spec->subnet);
    if (spec->gateway) {
        char *gw = stk_xasprintf("%s/32", spec->gateway);
        uint32_t g, mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
        int gl, bad = !spec->subnet || net__cni_cidr_parse(gw, &g, &gl) < 0 ||
                      (g & mask) != (addr & mask);

        free(gw);
        if (bad)
            return stk_err_set(err, STK_EINVAL, 0,
                               "network '%s': gateway '%s' is not in the subnet", spec->name,
                               spec->gateway);
    }
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_NETWORK;
    r->name = stk_xstrdup(spec->name);
    {
        char *q = qualified(ctx, spec->name);
        net__cni_bridge_name(q, bridge);
        free(q);
    }
    r->bridge = stk_xstrdup(bridge);
    npath = net__cni_network_path(p, spec->name);
    cpath = net__cni_conflist_path(p, spec->name);

    ret = net__cni_json_load(npath, &rec, err);
    if (ret == 0) {
        const char *have = json_string_value(json_object_get(rec, "subnet"));

        if (spec->subnet && (!have || strcmp(have, spec->subnet) != 0)) {
            ret = stk_err_set(err, STK_EEXIST, 0, "network '%s' exists with subnet '%s'",
                              spec->name, have ? have : "");
            goto out;
        }
    } else if (ret == STK_ENOENT && spec->conflist) {
        /* `driver: cni`: the user's conflist runs as it is; its first plugin names the bridge. */
        json_t *first, *ipam, *range;

        stk_err_clear(err);
        ret = user_conflist_load(spec->conflist, spec->name, &conflist, err);
        if (ret < 0)
            goto out;
        first = json_array_get(json_object_get(conflist, "plugins"), 0);
        ipam = json_object_get(first, "ipam");
        range = json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0);
        if (!range)
            range = ipam;
        rec = json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:s?, s:s, s:s}", "name", spec->name,
                        "subnet", json_string_value(json_object_get(range, "subnet")), "gateway",
                        json_string_value(json_object_get(range, "gateway")), "bridge",
                        json_string_value(json_object_get(first, "bridge")), "internal",
                        spec->internal != 0, "project", spec->project, "driver", "cni",
                        "conflist_src", spec->conflist);
        json_decref(conflist);
        conflist = NULL;
        ret = net__cni_json_save(npath, rec, err);
        if (ret < 0)
            goto out;
    } else if (ret == STK_ENOENT) {
        stk_err_clear(err);
        if (spec->subnet) {
            uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
            char *other = net__cni_subnet_conflict(p, spec->subnet, spec->name);

            if (other) {
                ret = stk_err_set(err, STK_EEXIST, 0, "subnet '%s' overlaps network '%s'",
                                  spec->subnet, other);
                free(other);
                goto out;
            }

            subnet = stk_xstrdup(spec->subnet);
            if (spec->gateway) {
                gateway = stk_xstrdup(spec->gateway);
            } else {
                uint32_t gw = (addr & mask) + 1;

                gateway = stk_xasprintf("%u.%u.%u.%u", gw >> 24, (gw >> 16) & 255, (gw >> 8) & 255,
                                        gw & 255);
            }
        } else {
            ret = net__cni_subnet_alloc(p, &subnet, &gateway, err);
            if (ret < 0)
                goto out;
        }
        rec =
            json_pack("{s:s, s:s, s:s, s:s, s:b, s:s?, s:s}", "name", spec->name, "subnet", subnet,
                      "gateway", gateway, "bridge", bridge, "internal", spec->internal != 0,
                      "project", spec->project, "datapath", p->native ? "native" : "cni");
        ret = net__cni_json_save(npath, rec, err);
        if (ret < 0)
            goto out;
    } else {
        goto out;
    }
    /* The conflist is rewritten every time: creating an existing network repairs it. */
    if (json_string_value(json_object_get(rec, "conflist_src")))
        ret = user_conflist_load(json_string_value(json_object_get(rec, "conflist_src")),
                                 spec->name, &conflist, err);
    else
        conflist = conflist_build(p, rec_native(rec), spec->name,
                                  json_string_value(json_object_get(rec, "bridge")),
                                  json_string_value(json_object_get(rec, "subnet")),
                                  json_string_value(json_object_get(rec, "gateway")),
                                  json_is_true(json_object_get(rec, "internal")));
    if (ret == 0)
        ret = net__cni_json_save(cpath, conflist, err);
    if (ret < 0)
        goto out;
    net__cni_network_from_json(rec, &r->network);
    *ret_req = &r->base;
    if (json_string_value(json_object_get(rec, "conflist_src"))) {
        /* The conflist's own plugins make (and own) whatever it needs, at the first ADD. */
        req_finish(r);
    } else if (rec_native(rec)) {
        /* Idempotent: creating an existing network repairs its bridge and rules. */
        req_queue_native(r, NJ_NET_SETUP, json_incref(rec), netcreate_native_done);
    } else if (link_exists(r->bridge) || !p->ip_path) {
        /* (Without `ip`, the CNI bridge plugin makes the bridge at the first ADD.) */
        req_finish(r);
    } else {
        req_bridge_create(r, rec, netcreate_bridge_done);
    }
    r = NULL;
out:
    if (r) {
        stk_err_wrap(err, "create network '%s'", spec->name);
        req_abort(r, ret);
    }
    json_decref(rec);
    json_decref(conflist);
    free(npath);
    free(cpath);
    free(subnet);
    free(gateway);
    return ret;
}

/* ---- network_remove ---- */

static void netremove_native_done(struct cni_req *r)
{
    if (r->nj_last)
        r->priv->dns_spawned = 0; /* the responder was stopped with the last network */
    if (r->nj_err.code) {
        req_fail_from(r, &r->nj_err);
        stk_err_wrap(&r->err, "remove network '%s'", r->name);
    }
    req_finish(r);
}

static void netremove_step(struct cni_req *r)
{
    struct stk_err e = STK_ERR_INIT;
    char *npath, *cpath, *ipam;

    if (r->todo_i < r->todo_net.n) {
        detach_one(r);
        return;
    }
    if (r->err.code) {
        /* An endpoint could not be detached: keep the network so it stays tracked. */
        stk_err_wrap(&r->err, "remove network '%s'", r->name);
        req_finish(r);
        return;
    }
    cpath = net__cni_conflist_path(r->priv, r->name);
    npath = net__cni_network_path(r->priv, r->name);
    ipam = stk_xasprintf("%s/%s", r->priv->ipam_dir, r->name);
    if (unlink(cpath) < 0 && errno != ENOENT) {
        stk_err_set(&e, STK_EIO, errno, "remove '%s'", cpath);
        req_fail_from(r, &e);
    }
    if (stk_rm_rf(ipam, &e) < 0)
        req_fail_from(r, &e);
    if (!r->err.code && unlink(npath) < 0 && errno != ENOENT) {
        stk_err_set(&e, STK_EIO, errno, "remove '%s'", npath);
        req_fail_from(r, &e);
    }
    free(cpath);
    free(npath);
    free(ipam);
    {
        /* Both datapaths: the bridge goes over netlink, and a native one's rules with it. */
        char **left = NULL;
        struct stk_err le = STK_ERR_INIT;
        int last = net__cni_list_records(r->priv->networks_dir, &left, &le) == 0 && !left[0];

        stk_err_clear(&le);
        stk_strv_free(left);
        r->nj_last = last;
        req_queue_native(r, NJ_NET_TEARDOWN,
                         json_pack("{s:s, s:s}", "name", r->name, "bridge", r->bridge),
                         netremove_native_done);
    }
}

static int cni_network_remove(struct net_ctx *ctx, const char *name, net_done_fn *done,
                              void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    char *npath;
    json_t *rec = NULL;
    struct cni_req *r;
    char bridge[16];
    int ret;

    if (!net__cni_name_valid(name))
        return stk_err_set(err, STK_EINVAL, 0, "invalid network name '%s'", name ? name : "");
    r = req_new(ctx, done, userdata);
    r->name = stk_xstrdup(name);
    npath = net__cni_network_path(p, name);
    ret = net__cni_json_load(npath, &rec, err);
    free(npath);
    if (ret == 0 && json_string_value(json_object_get(rec, "bridge"))) {
        r->bridge = stk_xstrdup(json_string_value(json_object_get(rec, "bridge")));
    } else {
        /* A missing record: clean up whatever the derived names still hold. */
        stk_err_clear(err);
        char *q = qualified(ctx, name);
        net__cni_bridge_name(q, bridge);
        free(q);
        r->bridge = stk_xstrdup(bridge);
    }
    json_decref(rec);
    ret = todo_collect(r, name, NULL, err);
    if (ret < 0) {
        stk_err_wrap(err, "remove network '%s'", name);
        return req_abort(r, ret);
    }
    r->detach_cb = netremove_step;
    *ret_req = &r->base;
    netremove_step(r);
    return 0;
}

/* ---- sandbox_create ---- */

static void sbcreate_fail_unpinned(struct cni_req *r)
{
    stk_err_clear(&r->work_err);
    req_finish(r);
}

static void sbcreate_loopback_done(struct cni_req *r)
{
    struct net__cni_priv *p = r->priv;
    struct stk_err e = STK_ERR_INIT;
    char *spath = NULL;
    int ret;

    if (r->chain.err.code) {
        req_fail_from(r, &r->chain.err);
        stk_err_wrap(&r->err, "create sandbox '%s'", r->name);
        req_queue_netns(r, 0, sbcreate_fail_unpinned);
        return;
    }
    spath = net__cni_sandbox_path(p, r->name);
    ret = net__cni_resolv_write(json_string_value(json_object_get(r->rec, "resolv_path")), r->rec,
                                &e);
    if (ret == 0)
        ret = net__cni_json_save(spath, r->rec, &e);
    if (ret == 0) {
        net__cni_hosts_sandbox_set(p, r->name, r->rec);
        ret = net__cni_hosts_write(p, r->name, &e);
    }
    if (ret < 0) {
        req_fail_from(r, &e);
        stk_err_wrap(&r->err, "create sandbox '%s'", r->name);
    } else {
        net__cni_sandbox_from_json(r->rec, &r->sandbox);
    }
    free(spath);
    req_finish(r);
}

static void sbcreate_pinned(struct cni_req *r)
{
    json_t *lo;

    if (r->work_err.code) {
        req_fail_from(r, &r->work_err);
        stk_err_wrap(&r->err, "create sandbox '%s'", r->name);
        req_finish(r);
        return;
    }
    /* Bring up lo in the new namespace with the CNI loopback plugin. */
    lo = json_pack("{s:s, s:s, s:[{s:s}]}", "cniVersion", NET_CNI_VERSION, "name", "stk-loopback",
                   "plugins", "type", "loopback");
    chain_start(r, "ADD", lo, r->name, r->pin, "lo", NULL, NULL, NULL, sbcreate_loopback_done);
}

static void sbcreate_step(struct cni_req *r)
{
    if (r->todo_i < r->todo_net.n) {
        detach_one(r);
        return;
    }
    if (r->err.code) {
        stk_err_wrap(&r->err, "create sandbox '%s'", r->name);
        req_finish(r);
        return;
    }
    req_queue_netns(r, 1, sbcreate_pinned);
}

static int cni_sandbox_create(struct net_ctx *ctx, const struct net_sandbox_spec *spec,
                              net_done_fn *done, void *userdata, struct net_req **ret_req,
                              struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    struct cni_req *r;
    char *spath, *hosts, *resolv;
    json_t *rec = NULL;
    int ret;

    if (!spec || !net__cni_name_valid(spec->id))
        return stk_err_set(err, STK_EINVAL, 0, "invalid sandbox id '%s'",
                           spec && spec->id ? spec->id : "");
    if (spec->hostname && !net__cni_hostname_valid(spec->hostname))
        return stk_err_set(err, STK_EINVAL, 0, "sandbox '%s': invalid hostname '%s'", spec->id,
                           spec->hostname);
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_SANDBOX;
    r->name = stk_xstrdup(spec->id);
    r->pin = net__cni_pin_path(p, spec->id);
    spath = net__cni_sandbox_path(p, spec->id);
    ret = net__cni_json_load(spath, &rec, err);
    free(spath);
    if (ret == 0 && net__cni_netns_alive(r->pin)) {
        net__cni_sandbox_from_json(rec, &r->sandbox);
        json_decref(rec);
        *ret_req = &r->base;
        req_finish(r);
        return 0;
    }
    json_decref(rec);
    if (ret < 0 && ret != STK_ENOENT) {
        stk_err_wrap(err, "create sandbox '%s'", spec->id);
        return req_abort(r, ret);
    }
    stk_err_clear(err);
    hosts = stk_xasprintf("%s.hosts", r->pin);
    resolv = stk_xasprintf("%s.resolv.conf", r->pin);
    r->rec = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s}", "id", spec->id, "hostname",
                       spec->hostname, "project", spec->project, "handle", r->pin, "hosts_path",
                       hosts, "resolv_path", resolv);
    {
        /* extra_hosts, dns and dns_search live in the record: the writers read them there. */
        char **const lists[] = {spec->extra_hosts, spec->dns, spec->dns_search};
        const char *const keys[] = {"extra_hosts", "dns", "dns_search"};
        for (size_t k = 0; k < 3; k++) {
            json_t *a;
            if (!lists[k] || !lists[k][0])
                continue;
            a = json_array();
            for (size_t q = 0; lists[k][q]; q++)
                json_array_append_new(a, json_string(lists[k][q]));
            json_object_set_new(r->rec, keys[k], a);
        }
    }
    free(hosts);
    free(resolv);
    /*
     * The record goes first, so that a crash while the namespace is being
     * pinned still leaves a sandbox that list reports and remove releases.
     */
    spath = net__cni_sandbox_path(p, spec->id);
    ret = net__cni_json_save(spath, r->rec, err);
    free(spath);
    if (ret < 0) {
        stk_err_wrap(err, "create sandbox '%s'", spec->id);
        return req_abort(r, ret);
    }
    /*
     * Endpoints recorded for a namespace that is gone (the run dir did not
     * survive a reboot) hold IPAM allocations in the state dir: DEL them first.
     */
    ret = todo_collect(r, NULL, spec->id, err);
    if (ret < 0) {
        stk_err_wrap(err, "create sandbox '%s'", spec->id);
        return req_abort(r, ret);
    }
    r->detach_cb = sbcreate_step;
    *ret_req = &r->base;
    sbcreate_step(r);
    return 0;
}

/* ---- sandbox_remove ---- */

/*
 * Removes the temporary files (NAME.tmp.PID, stk_file_write_atomic()) that a
 * writer killed before its rename left in DIR, so that the sandbox's endpoint
 * folder can go; records (*.json) are kept.
 */
static void remove_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);

    for (struct dirent *de; d && (de = readdir(d));) {
        char *path;
        if (!strstr(de->d_name, ".tmp."))
            continue;
        path = stk_xasprintf("%s/%s", dir, de->d_name);
        unlink(path);
        free(path);
    }
    if (d)
        closedir(d);
}

static void sbremove_unpinned(struct cni_req *r)
{
    struct net__cni_priv *p = r->priv;
    struct stk_err e = STK_ERR_INIT;
    char *spath = net__cni_sandbox_path(p, r->name);
    char *hosts = stk_xasprintf("%s.hosts", r->pin);
    char *resolv = stk_xasprintf("%s.resolv.conf", r->pin);
    char *edir = net__cni_endpoint_dir(p, r->name);

    if (r->work_err.code) {
        req_fail_from(r, &r->work_err);
    } else {
        const char *files[] = {hosts, resolv, spath};

        for (size_t i = 0; i < STK_ARRAY_SIZE(files); i++)
            if (unlink(files[i]) < 0 && errno != ENOENT) {
                stk_err_set(&e, STK_EIO, errno, "remove '%s'", files[i]);
                req_fail_from(r, &e);
            }
        remove_stale_tmp(edir);
        rmdir(edir);
        net__cni_hosts_sandbox_set(p, r->name, NULL);
    }
    if (r->err.code)
        stk_err_wrap(&r->err, "remove sandbox '%s'", r->name);
    free(spath);
    free(hosts);
    free(resolv);
    free(edir);
    req_finish(r);
}

static void sbremove_step(struct cni_req *r)
{
    if (r->todo_i < r->todo_net.n) {
        detach_one(r);
        return;
    }
    if (r->err.code) {
        /* Keep the namespace: an endpoint that failed DEL is still in it. */
        stk_err_wrap(&r->err, "remove sandbox '%s'", r->name);
        req_finish(r);
        return;
    }
    req_queue_netns(r, 0, sbremove_unpinned);
}

static int cni_sandbox_remove(struct net_ctx *ctx, const char *id, net_done_fn *done,
                              void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct cni_req *r;
    int ret;

    if (!net__cni_name_valid(id))
        return stk_err_set(err, STK_EINVAL, 0, "invalid sandbox id '%s'", id ? id : "");
    r = req_new(ctx, done, userdata);
    r->name = stk_xstrdup(id);
    r->pin = net__cni_pin_path(ctx_priv(ctx), id);
    ret = todo_collect(r, NULL, id, err);
    if (ret < 0) {
        stk_err_wrap(err, "remove sandbox '%s'", id);
        return req_abort(r, ret);
    }
    r->detach_cb = sbremove_step;
    *ret_req = &r->base;
    sbremove_step(r);
    return 0;
}

/* ---- attach ---- */

static void attach_rolled_back(struct cni_req *r)
{
    /*
     * The ADD error is already in r->err. When the rollback DEL worked nothing
     * is left and the pending record goes; otherwise it stays, so that the
     * endpoint remains tracked and a later attach or detach runs DEL again.
     */
    if (!r->chain.err.code) {
        char *epath = net__cni_endpoint_path(r->priv, r->sb_id, r->name);
        char *edir = net__cni_endpoint_dir(r->priv, r->sb_id);

        unlink(epath);
        rmdir(edir);
        free(epath);
        free(edir);
        net__cni_hosts_endpoint_set(r->priv, r->sb_id, r->name, NULL);
    }
    stk_err_clear(&r->chain.err);
    req_finish(r);
}

static void attach_added(struct cni_req *r)
{
    struct net__cni_priv *p = r->priv;
    struct stk_err e = STK_ERR_INIT;
    char *epath = net__cni_endpoint_path(p, r->sb_id, r->name);
    const char *ifname = json_string_value(json_object_get(r->rec, "ifname"));
    json_t *rc;
    char *pin;
    int ret;

    if (!r->chain.err.code) {
        ret = net__cni_result_parse(r->chain.prev, ifname, &r->endpoint, &e);
        if (ret == 0) {
            json_object_set_new(r->rec, "ipv4", json_string(r->endpoint.ipv4));
            json_object_set_new(r->rec, "prefix_len", json_integer(r->endpoint.prefix_len));
            if (r->endpoint.mac)
                json_object_set_new(r->rec, "mac", json_string(r->endpoint.mac));
            json_object_set(r->rec, "result", r->chain.prev);
            json_object_set_new(r->rec, "state", json_string("ready"));
            ret = net__cni_json_save(epath, r->rec, &e);
        }
        if (ret == 0) {
            net_endpoint_info_release(&r->endpoint);
            net__cni_endpoint_from_json(r->rec, &r->endpoint);
            net__cni_hosts_endpoint_set(p, r->sb_id, r->name, r->rec);
            if (p->native)
                native_dns_attached(r);
            if (net__cni_hosts_changed(p, r->name, r->sb_id, &e) < 0) {
                req_fail_from(r, &e);
                stk_err_wrap(&r->err, "attach '%s' to '%s'", r->sb_id, r->name);
            }
            free(epath);
            req_finish(r);
            return;
        }
        stk_err_move(&r->chain.err, &e);
    }
    /* ADD failed: undo what the chain did (CNI spec: DEL after a failed ADD). */
    req_fail_from(r, &r->chain.err);
    stk_err_wrap(&r->err, "attach '%s' to '%s'", r->sb_id, r->name);
    pin = net__cni_pin_path(p, r->sb_id);
    rc = runtime_config_build(json_object_get(r->rec, "ports"));
    chain_start(r, "DEL", json_incref(r->chain.conflist), r->sb_id, pin, ifname,
                json_string_value(json_object_get(r->rec, "cni_args")), r->chain.prev, rc,
                attach_rolled_back);
    json_decref(rc);
    free(pin);
    free(epath);
}

static void attach_add(struct cni_req *r)
{
    struct stk_err e = STK_ERR_INIT;
    json_t *conflist = NULL, *rc;
    char *pin;

    if (!r->bridge) {
        /* A bridge that is gone (deleted by hand) is made again as network_create makes it. */
        char *npath = net__cni_network_path(r->priv, r->name);
        json_t *nrec = NULL;

        if (net__cni_json_load(npath, &nrec, &e) == 0 &&
            json_string_value(json_object_get(nrec, "bridge")) &&
            json_string_value(json_object_get(nrec, "subnet"))) {
            r->bridge = stk_xstrdup(json_string_value(json_object_get(nrec, "bridge")));
            if (!link_exists(r->bridge) && rec_native(nrec)) {
                /* The bridge and the network's rules, as network_create makes them. */
                req_queue_native(r, NJ_NET_SETUP, json_incref(nrec), attach_add);
                json_decref(nrec);
                free(npath);
                return;
            }
            if (!link_exists(r->bridge) && !rec_native(nrec) && r->priv->ip_path) {
                req_bridge_create(r, nrec, attach_add);
                json_decref(nrec);
                free(npath);
                return;
            }
        }
        stk_err_clear(&e);
        json_decref(nrec);
        free(npath);
    }
    /* A failed re-creation is not fatal: the bridge plugin then makes the bridge itself. */
    stk_err_clear(&r->work_err);
    stk_err_clear(&r->nj_err);
    pin = net__cni_pin_path(r->priv, r->sb_id);

    stk_err_clear(&r->chain.err); /* a failed cleanup DEL of a stale attempt is not fatal */
    if (conflist_load(r->priv, r->name, &conflist, &e) < 0) {
        req_fail_from(r, &e);
        stk_err_wrap(&r->err, "attach '%s' to '%s'", r->sb_id, r->name);
        req_finish(r);
        free(pin);
        return;
    }
    rc = runtime_config_build(json_object_get(r->rec, "ports"));
    chain_start(r, "ADD", conflist, r->sb_id, pin,
                json_string_value(json_object_get(r->rec, "ifname")),
                json_string_value(json_object_get(r->rec, "cni_args")), NULL, rc, attach_added);
    json_decref(rc);
    free(pin);
}

/* Picks IFNAME, or the lowest ethN no endpoint of the sandbox uses. */
static char *attach_ifname(const struct net__cni_priv *p, const char *sb, const char *want)
{
    char *edir = net__cni_endpoint_dir(p, sb);
    struct stk_strv used = STK_STRV_INIT;
    char **nets = NULL;
    struct stk_err e = STK_ERR_INIT;
    char *name = NULL;

    if (want && *want) {
        free(edir);
        return stk_xstrdup(want);
    }
    stk_strv_init(&used);
    if (net__cni_list_records(edir, &nets, &e) == 0) {
        for (size_t i = 0; nets[i]; i++) {
            char *path = net__cni_endpoint_path(p, sb, nets[i]);
            json_t *ep = NULL;

            if (net__cni_json_load(path, &ep, &e) == 0 &&
                json_string_value(json_object_get(ep, "ifname")))
                stk_strv_push(&used, json_string_value(json_object_get(ep, "ifname")));
            stk_err_clear(&e);
            json_decref(ep);
            free(path);
        }
    }
    stk_err_clear(&e);
    for (unsigned i = 0; !name; i++) {
        name = stk_xasprintf("eth%u", i);
        if (stk_strv_contains(&used, name)) {
            free(name);
            name = NULL;
        }
    }
    stk_strv_free(nets);
    stk_strv_release(&used);
    free(edir);
    return name;
}

/*
 * Binds a socket of M's protocol to M's host address (every address when it
 * has none) and PORT (0: one the kernel chooses from its ephemeral range,
 * net.ipv4.ip_local_port_range), with SO_REUSEADDR so that a port in
 * TIME_WAIT is free, and closes it at once. Returns the port bound, 0 when
 * the bind failed (errno says why: EADDRINUSE when the port is taken), or -1
 * for an address or protocol it cannot probe.
 */
static int probe_bind(const struct net_port *m, uint16_t port)
{
    int v6 = strchr(m->host_ip, ':') != NULL;
    int type = strcmp(m->protocol, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, bound = 0, saved;

    if (strcmp(m->protocol, "tcp") != 0 && strcmp(m->protocol, "udp") != 0)
        return -1;
    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, m->host_ip, &a->sin6_addr) != 1)
            return -1;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (*m->host_ip && inet_pton(AF_INET, m->host_ip, &a->sin_addr) != 1)
            return -1;
        len = sizeof(*a);
    }
    fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        bound = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                         : ((struct sockaddr_in *)&ss)->sin_port);
    saved = errno;
    close(fd);
    errno = saved;
    return bound;
}

/*
 * Is M's host port taken by a socket on the host (a server of the host's
 * own)? portmap only adds DNAT rules, which would silently shadow it; docker
 * refuses with "port is already allocated" because its proxy binds the port.
 */
static int host_port_in_use(const struct net_port *m)
{
    return probe_bind(m, m->host_port) == 0 && errno == EADDRINUSE;
}

/*
 * Chooses an ephemeral host port for PM[I] (its host_port is 0), as docker
 * does for `ports: ["80"]`: one the kernel picks (probe_bind() with port 0),
 * skipping a port another endpoint record of ours publishes or one chosen
 * earlier in PM.
 */
static int ephemeral_port(struct net__cni_priv *p, const struct net_attachment *att,
                          struct net_port *pm, size_t i, struct stk_err *err)
{
    struct net_port *m = &pm[i];

    for (int attempt = 0; attempt < 32; attempt++) {
        int port = probe_bind(m, 0), taken = 0;
        char *owner;

        if (port <= 0)
            break;
        for (size_t j = 0; j < i && !taken; j++)
            taken = pm[j].host_port == port && strcmp(pm[j].protocol, m->protocol) == 0;
        owner = taken ? NULL
                      : net__cni_port_conflict(p, att->sandbox, att->network, (unsigned)port,
                                               m->protocol, m->host_ip);
        if (!taken && !owner) {
            m->host_port = (uint16_t)port;
            return 0;
        }
        free(owner);
    }
    return stk_err_set(err, STK_EEXIST, errno, "no free host port for %u/%s%s%s", m->container_port,
                       m->protocol, *m->host_ip ? " on " : "", m->host_ip);
}

/*
 * Chooses PM[I]'s host port from its pool [host_port, host_port_end]: the
 * first that no other endpoint record publishes, no earlier entry of PM
 * took and no host socket holds. The choice is made on the loop thread and
 * saved with the record before the op returns, so parallel attaches of one
 * process never take the same port.
 */
static int range_port(struct net__cni_priv *p, const struct net_attachment *att,
                      struct net_port *pm, size_t i, struct stk_err *err)
{
    struct net_port *m = &pm[i];
    unsigned first = m->host_port, last = m->host_port_end;

    for (unsigned port = first; port <= last; port++) {
        int taken = 0;
        char *owner;

        for (size_t j = 0; j < i && !taken; j++)
            taken = pm[j].host_port == port && strcmp(pm[j].protocol, m->protocol) == 0;
        if (taken)
            continue;
        owner =
            net__cni_port_conflict(p, att->sandbox, att->network, port, m->protocol, m->host_ip);
        if (owner) {
            free(owner);
            continue;
        }
        m->host_port = (uint16_t)port;
        if (host_port_in_use(m)) {
            m->host_port = (uint16_t)first;
            continue;
        }
        m->host_port_end = 0;
        return 0;
    }
    return stk_err_set(err, STK_EEXIST, 0, "no free host port in %u-%u for %u/%s", first, last,
                       m->container_port, m->protocol);
}

static int cni_attach(struct net_ctx *ctx, const struct net_attachment *att, net_done_fn *done,
                      void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    struct cni_req *r = NULL;
    char *npath = NULL, *spath = NULL, *epath = NULL, *pin = NULL, *ifname = NULL;
    json_t *ep = NULL, *ports = NULL, *aliases = NULL;
    struct net_port *pm = NULL; /* the ports to publish, ephemeral host ports chosen */
    int ret = 0, stale = 0;

    if (!att || !net__cni_name_valid(att->network) || !net__cni_name_valid(att->sandbox))
        return stk_err_set(err, STK_EINVAL, 0, "attach: invalid network or sandbox name");
    for (size_t i = 0; att->aliases && att->aliases[i]; i++)
        if (!net__cni_hostname_valid(att->aliases[i]))
            return stk_err_set(err, STK_EINVAL, 0, "attach '%s' to '%s': invalid alias '%s'",
                               att->sandbox, att->network, att->aliases[i]);
    for (size_t i = 0; i < att->n_ports; i++) {
        if (strcmp(att->ports[i].protocol, "tcp") != 0 &&
            strcmp(att->ports[i].protocol, "udp") != 0)
            return stk_err_set(err, STK_EINVAL, 0, "attach '%s' to '%s': invalid protocol '%s'",
                               att->sandbox, att->network, att->ports[i].protocol);
        if (strchr(att->ports[i].host_ip, ':'))
            /* The bridge network is IPv4 only: a DNAT from an IPv6 address reaches nothing. */
            return stk_err_set(err, STK_EINVAL, 0,
                               "attach '%s' to '%s': cannot publish on IPv6 address [%s]: the "
                               "network has no IPv6 (publish on an IPv4 address or all of them)",
                               att->sandbox, att->network, att->ports[i].host_ip);
        if (!att->ports[i].container_port)
            return stk_err_set(err, STK_EINVAL, 0, "attach '%s' to '%s': port 0 in %u:%u/%s",
                               att->sandbox, att->network, att->ports[i].host_port,
                               att->ports[i].container_port, att->ports[i].protocol);
    }
    if (att->ipv4_address) {
        uint32_t a;
        int pl;
        char *tmp = stk_xasprintf("%s/32", att->ipv4_address);

        ret = net__cni_cidr_parse(tmp, &a, &pl);
        free(tmp);
        if (ret < 0)
            return stk_err_set(err, STK_EINVAL, 0, "attach '%s' to '%s': invalid address '%s'",
                               att->sandbox, att->network, att->ipv4_address);
    }
    npath = net__cni_network_path(p, att->network);
    spath = net__cni_sandbox_path(p, att->sandbox);
    epath = net__cni_endpoint_path(p, att->sandbox, att->network);
    pin = net__cni_pin_path(p, att->sandbox);
    if (!stk_path_exists(npath)) {
        ret = stk_err_set(err, STK_ENOENT, 0, "network '%s' not found", att->network);
        goto out;
    }
    if (!stk_path_exists(spath) || !net__cni_netns_alive(pin)) {
        ret = stk_err_set(err, STK_ENOENT, 0, "sandbox '%s' not found", att->sandbox);
        goto out;
    }
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_ENDPOINT;
    r->name = stk_xstrdup(att->network);
    r->sb_id = stk_xstrdup(att->sandbox);

    ret = net__cni_json_load(epath, &ep, err);
    if (ret == 0 && strcmp(json_string_value(json_object_get(ep, "state")) ?: "", "ready") == 0) {
        /* Attaching an existing endpoint returns it. */
        net__cni_endpoint_from_json(ep, &r->endpoint);
        *ret_req = &r->base;
        req_finish(r);
        r = NULL;
        goto out;
    }
    if (ret < 0 && ret != STK_ENOENT)
        goto fail;
    stk_err_clear(err);
    stale = ret == 0; /* an interrupted ADD left a pending record: DEL it first */
    pm = stk_xcalloc(att->n_ports + 1, sizeof(*pm));
    if (att->n_ports)
        memcpy(pm, att->ports, att->n_ports * sizeof(*pm));
    if (stale) {
        /* The interrupted ADD's ephemeral choices are kept: its DNAT rules may name them. */
        size_t n_old = 0;
        struct net_port *old = net_ports_from_json(json_object_get(ep, "ports"), &n_old);
        for (size_t i = 0; i < att->n_ports && i < n_old; i++)
            if ((!pm[i].host_port || (pm[i].host_port_end && old[i].host_port >= pm[i].host_port &&
                                      old[i].host_port <= pm[i].host_port_end)) &&
                old[i].container_port == pm[i].container_port &&
                strcmp(old[i].protocol, pm[i].protocol) == 0) {
                pm[i].host_port = old[i].host_port;
                pm[i].host_port_end = 0;
            }
        free(old);
    }
    for (size_t i = 0; i < att->n_ports; i++) {
        char *owner;

        if (!pm[i].host_port && ephemeral_port(p, att, pm, i, err) < 0) {
            ret = err->code;
            goto fail;
        }
        if (pm[i].host_port_end > pm[i].host_port && range_port(p, att, pm, i, err) < 0) {
            ret = err->code;
            goto fail;
        }
        owner = net__cni_port_conflict(p, att->sandbox, att->network, pm[i].host_port,
                                       pm[i].protocol, pm[i].host_ip);

        if (owner) {
            ret = stk_err_set(err, STK_EEXIST, 0, "port %s%s%u/%s is already published by '%s'",
                              pm[i].host_ip, *pm[i].host_ip ? ":" : "", pm[i].host_port,
                              pm[i].protocol, owner);
            free(owner);
            goto fail;
        }
        if (!stale && host_port_in_use(&pm[i])) {
            ret = stk_err_set(err, STK_EEXIST, EADDRINUSE,
                              "port %s%s%u/%s is already in use on the host", pm[i].host_ip,
                              *pm[i].host_ip ? ":" : "", pm[i].host_port, pm[i].protocol);
            goto fail;
        }
    }

    ports = net_ports_to_json(pm, att->n_ports);
    aliases = json_array();
    for (size_t i = 0; att->aliases && att->aliases[i]; i++)
        json_array_append_new(aliases, json_string(att->aliases[i]));
    ifname = stale ? stk_xstrdup(json_string_value(json_object_get(ep, "ifname")))
                   : attach_ifname(p, att->sandbox, att->ifname);
    if (!ifname)
        ifname = attach_ifname(p, att->sandbox, att->ifname);
    r->rec = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "network", att->network, "sandbox",
                       att->sandbox, "ifname", ifname, "aliases", aliases, "ports", ports, "state",
                       "adding");
    aliases = ports = NULL;
    if (att->ipv4_address) {
        json_object_set_new(r->rec, "static_ipv4", json_string(att->ipv4_address));
        json_object_set_new(r->rec, "cni_args",
                            json_sprintf("IgnoreUnknown=1;IP=%s", att->ipv4_address));
    }
    {
        char *edir = net__cni_endpoint_dir(p, att->sandbox);

        ret = stk_mkdir_p(edir, 0755, err);
        free(edir);
    }
    if (ret == 0)
        ret = net__cni_json_save(epath, r->rec, err);
    if (ret < 0)
        goto fail;
    *ret_req = &r->base;
    if (stale) {
        json_t *conflist = NULL, *rc;
        struct stk_err e = STK_ERR_INIT;

        if (conflist_load(p, att->network, &conflist, &e) < 0) {
            stk_err_clear(&e);
            attach_add(r);
        } else {
            rc = runtime_config_build(json_object_get(ep, "ports"));
            chain_start(r, "DEL", conflist, att->sandbox, pin,
                        json_string_value(json_object_get(ep, "ifname")),
                        json_string_value(json_object_get(ep, "cni_args")), NULL, rc, attach_add);
            json_decref(rc);
        }
    } else {
        attach_add(r);
    }
    r = NULL;
    goto out;
fail:
    stk_err_wrap(err, "attach '%s' to '%s'", att->sandbox, att->network);
    req_abort(r, ret);
    r = NULL;
out:
    json_decref(ep);
    json_decref(ports);
    json_decref(aliases);
    free(npath);
    free(spath);
    free(epath);
    free(pin);
    free(ifname);
    free(pm);
    return ret;
}

/* ---- detach ---- */

static void detach_finished(struct cni_req *r)
{
    req_finish(r);
}

static int cni_detach(struct net_ctx *ctx, const char *network, const char *sandbox,
                      net_done_fn *done, void *userdata, struct net_req **ret_req,
                      struct stk_err *err)
{
    struct cni_req *r;

    if (!net__cni_name_valid(network) || !net__cni_name_valid(sandbox))
        return stk_err_set(err, STK_EINVAL, 0, "detach: invalid network or sandbox name");
    r = req_new(ctx, done, userdata);
    stk_strv_push(&r->todo_net, network);
    stk_strv_push(&r->todo_sb, sandbox);
    r->detach_cb = detach_finished;
    *ret_req = &r->base;
    detach_one(r);
    return 0;
}

/* ---- check ---- */

static void check_done(struct cni_req *r)
{
    if (r->chain.err.code) {
        req_fail_from(r, &r->chain.err);
        stk_err_wrap(&r->err, "check '%s' on '%s'", r->sb_id, r->name);
    }
    req_finish(r);
}

static int cni_check(struct net_ctx *ctx, const char *network, const char *sandbox,
                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                     struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    char *epath, *pin;
    json_t *ep = NULL, *conflist = NULL, *rc;
    struct cni_req *r;
    int ret;

    if (!net__cni_name_valid(network) || !net__cni_name_valid(sandbox))
        return stk_err_set(err, STK_EINVAL, 0, "check: invalid network or sandbox name");
    epath = net__cni_endpoint_path(p, sandbox, network);
    pin = net__cni_pin_path(p, sandbox);
    ret = net__cni_json_load(epath, &ep, err);
    if (ret == 0 && strcmp(json_string_value(json_object_get(ep, "state")) ?: "", "ready") != 0)
        ret = stk_err_set(err, STK_ENOENT, 0, "endpoint is not attached");
    if (ret == STK_ENOENT)
        stk_err_set(err, STK_ENOENT, 0, "no endpoint of sandbox '%s' on network '%s'", sandbox,
                    network);
    if (ret == 0 && !net__cni_netns_alive(pin))
        ret = stk_err_set(err, STK_ENET, 0, "namespace '%s' is gone", pin);
    if (ret == 0)
        ret = conflist_load(p, network, &conflist, err);
    if (ret < 0) {
        stk_err_wrap(err, "check '%s' on '%s'", sandbox, network);
        goto out;
    }
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_ENDPOINT;
    r->name = stk_xstrdup(network);
    r->sb_id = stk_xstrdup(sandbox);
    net__cni_endpoint_from_json(ep, &r->endpoint);
    rc = runtime_config_build(json_object_get(ep, "ports"));
    *ret_req = &r->base;
    chain_start(r, "CHECK", conflist, sandbox, pin,
                json_string_value(json_object_get(ep, "ifname")),
                json_string_value(json_object_get(ep, "cni_args")), json_object_get(ep, "result"),
                rc, check_done);
    json_decref(rc);
out:
    json_decref(ep);
    free(epath);
    free(pin);
    return ret;
}

/* ---- list ---- */

static int cni_list(struct net_ctx *ctx, net_done_fn *done, void *userdata,
                    struct net_req **ret_req, struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    struct cni_req *r;
    struct net_inventory *inv;
    char **nets = NULL, **sbs = NULL, **epdirs = NULL;
    struct stk_err e = STK_ERR_INIT;
    int ret;

    ret = net__cni_list_records(p->networks_dir, &nets, err);
    if (ret == 0)
        ret = net__cni_list_records(p->sandboxes_dir, &sbs, err);
    if (ret == 0)
        ret = net__cni_list_dir(p->endpoints_dir, "", &epdirs, err);
    if (ret < 0) {
        stk_strv_free(nets);
        stk_strv_free(sbs);
        return stk_err_wrap(err, "list networks");
    }
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_LIST;
    inv = &r->inventory;
    inv->networks = stk_xcalloc(stk_strv_len(nets) + 1, sizeof(*inv->networks));
    inv->sandboxes = stk_xcalloc(stk_strv_len(sbs) + 1, sizeof(*inv->sandboxes));
    for (size_t i = 0; nets[i]; i++) {
        char *path = net__cni_network_path(p, nets[i]);
        json_t *j = NULL;

        if (net__cni_json_load(path, &j, &e) == 0) {
            struct net_network_info *n = &inv->networks[inv->n_networks++];

            net__cni_network_from_json(j, n);
            /* Cross-check with the host: a bridge that is gone is reported as NULL. */
            if (n->bridge && !link_exists(n->bridge)) {
                free(n->bridge);
                n->bridge = NULL;
            }
        }
        stk_err_clear(&e);
        json_decref(j);
        free(path);
    }
    for (size_t i = 0; sbs[i]; i++) {
        char *path = net__cni_sandbox_path(p, sbs[i]);
        json_t *j = NULL;

        if (net__cni_json_load(path, &j, &e) == 0) {
            struct net_sandbox_info *s = &inv->sandboxes[inv->n_sandboxes++];

            net__cni_sandbox_from_json(j, s);
            /* A pin that is no longer a namespace (after a reboot) has no handle. */
            if (s->handle && !net__cni_netns_alive(s->handle)) {
                free(s->handle);
                s->handle = NULL;
            }
        }
        stk_err_clear(&e);
        json_decref(j);
        free(path);
    }
    for (size_t s = 0; epdirs[s]; s++) {
        char *edir = net__cni_endpoint_dir(p, epdirs[s]);
        char **eps = NULL;

        if (net__cni_list_records(edir, &eps, &e) == 0) {
            for (size_t i = 0; eps[i]; i++) {
                char *path = net__cni_endpoint_path(p, epdirs[s], eps[i]);
                json_t *j = NULL;

                if (net__cni_json_load(path, &j, &e) == 0) {
                    inv->endpoints = stk_xrealloc(inv->endpoints,
                                                  (inv->n_endpoints + 2) * sizeof(*inv->endpoints));
                    memset(&inv->endpoints[inv->n_endpoints], 0, 2 * sizeof(*inv->endpoints));
                    net__cni_endpoint_from_json(j, &inv->endpoints[inv->n_endpoints++]);
                }
                stk_err_clear(&e);
                json_decref(j);
                free(path);
            }
        }
        stk_err_clear(&e);
        stk_strv_free(eps);
        free(edir);
    }
    if (!inv->endpoints)
        inv->endpoints = stk_xcalloc(1, sizeof(*inv->endpoints));
    stk_strv_free(nets);
    stk_strv_free(sbs);
    stk_strv_free(epdirs);
    *ret_req = &r->base;
    req_finish(r);
    return 0;
}

/* ---- ports_set ---- */

static void ports_set_done(struct cni_req *r)
{
    json_t *eps = json_object_get(r->nj_conf, "eps"), *v;
    const char *k;
    struct stk_err e = STK_ERR_INIT;

    if (r->nj_err.code) {
        req_fail_from(r, &r->nj_err);
        stk_err_wrap(&r->err, "%s the ports of '%s'", r->state ? "publish" : "withdraw", r->sb_id);
        req_finish(r);
        return;
    }
    /* The rules changed: the records say so (a crash before this is repaired by the next set). */
    json_object_foreach(eps, k, v)
    {
        char *path = net__cni_endpoint_path(r->priv, r->sb_id, k);
        json_t *rec = NULL;

        if (net__cni_json_load(path, &rec, &e) == 0) {
            if (r->state)
                json_object_del(rec, "ports_off");
            else
                json_object_set_new(rec, "ports_off", json_true());
            if (net__cni_json_save(path, rec, &e) < 0)
                req_fail_from(r, &e);
        }
        stk_err_clear(&e);
        json_decref(rec);
        free(path);
    }
    req_finish(r);
}

static int cni_ports_set(struct net_ctx *ctx, const char *sandbox, int on, net_done_fn *done,
                         void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct net__cni_priv *p = ctx_priv(ctx);
    char *edir = NULL;
    char **nets = NULL;
    struct cni_req *r;
    struct stk_buf b;
    json_t *eps = json_object();
    int ret;

    if (!p->native)
        return stk_err_set(err, STK_ENOTSUP, 0, "cni: ports stay published while stopped");
    if (!net__cni_name_valid(sandbox))
        return stk_err_set(err, STK_EINVAL, 0, "invalid sandbox id '%s'", sandbox ? sandbox : "");
    edir = net__cni_endpoint_dir(p, sandbox);
    ret = net__cni_list_records(edir, &nets, err);
    free(edir);
    if (ret < 0) {
        json_decref(eps);
        return ret;
    }
    stk_buf_init(&b, 256);
    for (size_t n = 0; nets[n] && ret == 0; n++) {
        char *path = net__cni_endpoint_path(p, sandbox, nets[n]);
        json_t *rec = NULL, *ports, *v;
        const char *ip;
        int off;
        size_t i;

        if (net__cni_json_load(path, &rec, err) < 0) {
            stk_err_clear(err);
            free(path);
            continue;
        }
        free(path);
        ports = json_object_get(rec, "ports");
        ip = json_string_value(json_object_get(rec, "ipv4"));
        off = json_is_true(json_object_get(rec, "ports_off"));
        if (!json_array_size(ports) || !ip || (on ? !off : off) ||
            strcmp(json_string_value(json_object_get(rec, "state")) ?: "", "ready") != 0) {
            json_decref(rec);
            continue;
        }
        /* Publishing again is checked as the first attach is. */
        json_array_foreach(on ? ports : NULL, i, v)
        {
            struct net_port m;
            char *owner;

            memset(&m, 0, sizeof(m));
            m.host_port = (uint16_t)json_integer_value(json_object_get(v, "host_port"));
            snprintf(m.protocol, sizeof(m.protocol), "%s",
                     json_string_value(json_object_get(v, "protocol")) ?: "tcp");
            snprintf(m.host_ip, sizeof(m.host_ip), "%s",
                     json_string_value(json_object_get(v, "host_ip")) ?: "");
            owner = net__cni_port_conflict(p, sandbox, nets[n], m.host_port, m.protocol, m.host_ip);
            if (owner) {
                ret = stk_err_set(err, STK_EEXIST, 0, "port %s%s%u/%s is already published by '%s'",
                                  m.host_ip, *m.host_ip ? ":" : "", m.host_port, m.protocol, owner);
                free(owner);
                break;
            }
            if (host_port_in_use(&m)) {
                ret = stk_err_set(err, STK_EEXIST, EADDRINUSE,
                                  "port %s%s%u/%s is already in use on the host", m.host_ip,
                                  *m.host_ip ? ":" : "", m.host_port, m.protocol);
                break;
            }
        }
        if (ret == 0 && net__bridge_ports_batch(&b, on, p->state_dir, ports, ip) > 0)
            json_object_set_new(eps, nets[n], json_true());
        json_decref(rec);
    }
    stk_strv_free(nets);
    if (ret < 0) {
        stk_buf_release(&b);
        json_decref(eps);
        return ret;
    }
    r = req_new(ctx, done, userdata);
    r->kind = NET_RESULT_NONE;
    r->sb_id = stk_xstrdup(sandbox);
    r->state = on;
    *ret_req = &r->base;
    if (!json_object_size(eps)) {
        stk_buf_release(&b);
        json_decref(eps);
        req_finish(r);
        return 0;
    }
    req_queue_native(r, NJ_NFT, json_pack("{s:s, s:o}", "cmds", b.buf, "eps", eps), ports_set_done);
    stk_buf_release(&b);
    return 0;
}

static int cni_hosts_flush(struct net_ctx *ctx, struct stk_err *err)
{
    return net__cni_hosts_flush(ctx_priv(ctx), 1, err);
}

static const struct net_plugin_ops cni_ops = {
    .init = cni_init,
    .fini = cni_fini,
    .network_create = cni_network_create,
    .network_remove = cni_network_remove,
    .sandbox_create = cni_sandbox_create,
    .sandbox_remove = cni_sandbox_remove,
    .attach = cni_attach,
    .detach = cni_detach,
    .check = cni_check,
    .list = cni_list,
    .hosts_flush = cni_hosts_flush,
};

static int native_init(struct net_ctx *ctx, struct stk_err *err)
{
    ctx_priv(ctx)->native = 1;
    return cni_init(ctx, err);
}

const struct net_plugin_ops net__cni_native_ops = {
    .init = native_init,
    .fini = cni_fini,
    .network_create = cni_network_create,
    .network_remove = cni_network_remove,
    .sandbox_create = cni_sandbox_create,
    .sandbox_remove = cni_sandbox_remove,
    .attach = cni_attach,
    .detach = cni_detach,
    .check = cni_check,
    .list = cni_list,
    .hosts_flush = cni_hosts_flush,
    .ports_set = cni_ports_set,
};

const struct net_plugin net_plugin_cni = {
    .name = "cni",
    .abi_version = NET_PLUGIN_ABI_1,
    .caps = 0,
    .priv_size = sizeof(struct net__cni_priv),
    .ops = &cni_ops,
};
