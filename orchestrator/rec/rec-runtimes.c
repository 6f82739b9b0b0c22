/*
 * rec-runtimes.c - several runtime drivers at once, behind one context: a
 * small composite driver ("runtimes") that creates each container with the
 * member chosen by its resolved isolation (a table keyed by isolation: the
 * oci driver for process, the VM driver for hyperv), merges what every
 * member lists and reports, and routes the operations on an existing
 * container to the member that listed or created it. See rec.h.
 */
#include "orchestrator/rec/rec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "runtime/rt-driver.h"

struct runtimes_priv {
    struct rt_ctx *by_isolation[_RT_ISOLATION_MAX]; /* borrowed */
    struct rt_ctx *members[_RT_ISOLATION_MAX];      /* distinct members, borrowed */
    size_t n_members;
    json_t *owner;         /* {container id: member index} from create and list */
    struct rt_driver self; /* the composite, named after its first member (error texts) */
};

static struct runtimes_priv *priv_of(struct rt_ctx *ctx)
{
    return ctx->priv;
}

static int runtimes_init(struct rt_ctx *ctx, struct stk_err *err)
{
    (void)err;
    priv_of(ctx)->owner = json_object();
    return 0;
}

static void runtimes_fini(struct rt_ctx *ctx)
{
    json_decref(priv_of(ctx)->owner);
}

/* The member that owns container ID: the one that listed or created it, else the first. */
static struct rt_ctx *member_of(struct rt_ctx *ctx, const char *id)
{
    struct runtimes_priv *p = priv_of(ctx);
    json_t *v = id ? json_object_get(p->owner, id) : NULL;

    if (v && (size_t)json_integer_value(v) < p->n_members)
        return p->members[json_integer_value(v)];
    return p->members[0];
}

static size_t member_index(struct runtimes_priv *p, struct rt_ctx *m)
{
    for (size_t i = 0; i < p->n_members; i++)
        if (p->members[i] == m)
            return i;
    return 0;
}

/* ---- fan-out: list and host_info ------------------------------------------------------------ */

struct fan_req {
    struct rt_req base; /* first: what the caller holds */
    struct rt_ctx *ctx;
    rt_done_fn *done;
    void *userdata;
    struct rt_req *sub[_RT_ISOLATION_MAX];
    size_t pending;
    size_t from[_RT_ISOLATION_MAX]; /* member index of each answer */
    struct rt_container_list list;
    struct rt_host_info host;
    int have_host;
    struct stk_err err;
};

static void fan_cancel(struct rt_req *req)
{
    struct fan_req *f = (struct fan_req *)req;

    for (size_t i = 0; i < _RT_ISOLATION_MAX; i++)
        rt_req_cancel(f->sub[i]);
}

struct fan_part {
    struct fan_req *f;
    size_t member;
};

static void fan_finish(struct fan_req *f)
{
    struct rt_result res;

    memset(&res, 0, sizeof(res));
    if (f->err.code) {
        f->done(&f->base, NULL, &f->err, f->userdata);
    } else if (f->have_host) {
        res.kind = RT_RESULT_HOST_INFO;
        res.host = &f->host;
        f->done(&f->base, &res, NULL, f->userdata);
    } else {
        res.kind = RT_RESULT_LIST;
        res.list = &f->list;
        f->done(&f->base, &res, NULL, f->userdata);
    }
    rt_container_list_release(&f->list);
    stk_err_clear(&f->err);
    free(f);
}

static void fan_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                     void *userdata)
{
    struct fan_part *part = userdata;
    struct fan_req *f = part->f;
    struct runtimes_priv *p = priv_of(f->ctx);

    (void)req;
    f->sub[part->member] = NULL;
    if (err && err->code) {
        if (!f->err.code) {
            f->err = *err;
            f->err.detail = stk_xstrdup(err->detail);
        }
    } else if (res && res->kind == RT_RESULT_LIST && res->list) {
        size_t n = f->list.n + res->list->n;
        f->list.items = stk_xrealloc(f->list.items, (n + 1) * sizeof(*f->list.items));
        for (size_t i = 0; i < res->list->n; i++) {
            rt_container_info_copy(&f->list.items[f->list.n + i], &res->list->items[i]);
            json_object_set_new(p->owner, res->list->items[i].id,
                                json_integer((json_int_t)part->member));
        }
        f->list.n = n;
    } else if (res && res->kind == RT_RESULT_HOST_INFO && res->host) {
        /* The first member describes the host; every member adds its isolations. */
        if (!f->have_host) {
            f->host = *res->host;
            f->have_host = 1;
        } else {
            if (res->host->available)
                f->host.isolations |= res->host->isolations;
            if (!f->host.available && res->host->available) {
                f->host.available = 1;
                f->host.isolations = res->host->isolations;
            }
        }
    }
    free(part);
    if (--f->pending == 0)
        fan_finish(f);
}

static int fan_start(struct rt_ctx *ctx, int host, rt_done_fn *done, void *userdata,
                     struct rt_req **ret_req, struct stk_err *err)
{
    struct runtimes_priv *p = priv_of(ctx);
    struct fan_req *f = stk_new0(struct fan_req);
    int started = 0;

    f->base.ctx = ctx;
    f->base.cancel = fan_cancel;
    f->ctx = ctx;
    f->done = done;
    f->userdata = userdata;
    f->err = (struct stk_err)STK_ERR_INIT;
    f->pending = p->n_members + 1; /* one guard, dropped below: DONE never runs before return */
    for (size_t i = 0; i < p->n_members; i++) {
        struct fan_part *part = stk_new0(struct fan_part);
        int r;
        part->f = f;
        part->member = i;
        r = host ? rt_host_info(p->members[i], fan_done, part, &f->sub[i], err)
                 : rt_container_list(p->members[i], fan_done, part, &f->sub[i], err);
        if (r < 0) {
            free(part);
            f->pending--;
            if (!started) {
                /* Nothing is in flight yet: fail at once. */
                free(f);
                return r;
            }
            if (!f->err.code)
                stk_err_move(&f->err, err);
            continue;
        }
        started = 1;
    }
    *ret_req = &f->base;
    if (--f->pending == 0)
        fan_finish(f); /* not reached with a member in flight */
    return 0;
}

static int runtimes_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                              struct rt_req **ret_req, struct stk_err *err)
{
    return fan_start(ctx, 1, done, userdata, ret_req, err);
}

static int runtimes_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err)
{
    return fan_start(ctx, 0, done, userdata, ret_req, err);
}

/* ---- routed operations ------------------------------------------------------------------------
 */

static int runtimes_create(struct rt_ctx *ctx, const struct rt_container_spec *spec,
                           rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                           struct stk_err *err)
{
    struct runtimes_priv *p = priv_of(ctx);
    struct rt_ctx *m = (int)spec->isolation >= 0 && spec->isolation < _RT_ISOLATION_MAX
                           ? p->by_isolation[spec->isolation]
                           : NULL;

    if (!m)
        return stk_err_set(err, STK_EUNAVAIL, 0, "no runtime driver runs isolation '%s'",
                           rt_isolation_to_string(spec->isolation));
    json_object_set_new(p->owner, spec->id, json_integer((json_int_t)member_index(p, m)));
    return rt_container_create(m, spec, done, userdata, ret_req, err);
}

static int runtimes_start(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                          struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_start(member_of(ctx, id), id, done, userdata, ret_req, err);
}

static int runtimes_kill(struct rt_ctx *ctx, const char *id, int signal, rt_done_fn *done,
                         void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_kill(member_of(ctx, id), id, signal, done, userdata, ret_req, err);
}

static int runtimes_stop(struct rt_ctx *ctx, const char *id, int signal, uint64_t grace_ms,
                         rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                         struct stk_err *err)
{
    return rt_container_stop(member_of(ctx, id), id, signal, grace_ms, done, userdata, ret_req,
                             err);
}

static int runtimes_delete(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                           struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_delete(member_of(ctx, id), id, done, userdata, ret_req, err);
}

static int runtimes_state(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                          struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_state(member_of(ctx, id), id, done, userdata, ret_req, err);
}

static int runtimes_exec(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                         rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                         struct stk_err *err)
{
    return rt_container_exec(member_of(ctx, id), id, opts, done, userdata, ret_req, err);
}

static int runtimes_logs(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_logs(member_of(ctx, id), id, done, userdata, ret_req, err);
}

static int runtimes_top(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                        struct rt_req **ret_req, struct stk_err *err)
{
    return rt_container_top(member_of(ctx, id), id, done, userdata, ret_req, err);
}

static int runtimes_image_check(struct rt_ctx *ctx, const struct rt_host_info *host,
                                const char *image_os_version, enum rt_isolation isolation,
                                const char *image, unsigned flags, struct stk_err *err)
{
    struct runtimes_priv *p = priv_of(ctx);
    struct rt_ctx *m =
        (int)isolation >= 0 && isolation < _RT_ISOLATION_MAX ? p->by_isolation[isolation] : NULL;

    return m ? rt_image_check(m, host, image_os_version, isolation, image, flags, err) : 0;
}

static void runtimes_set_net_peer(struct rt_ctx *ctx, const struct rt_net_peer *peer)
{
    struct runtimes_priv *p = priv_of(ctx);

    for (size_t i = 0; i < p->n_members; i++)
        rt_ctx_set_net_peer(p->members[i], peer);
}

static const struct rt_driver_ops runtimes_ops = {
    .init = runtimes_init,
    .fini = runtimes_fini,
    .host_info = runtimes_host_info,
    .create = runtimes_create,
    .start = runtimes_start,
    .kill = runtimes_kill,
    .stop = runtimes_stop,
    .delete = runtimes_delete,
    .state = runtimes_state,
    .list = runtimes_list,
    .exec = runtimes_exec,
    .logs = runtimes_logs,
    .top = runtimes_top,
    .image_check = runtimes_image_check,
    .set_net_peer = runtimes_set_net_peer,
};

static const struct rt_driver rec_runtimes_driver = {
    .name = "runtimes",
    .abi_version = RT_DRIVER_ABI_1,
    .caps = RT_CAP_EXEC | RT_CAP_LOGS | RT_CAP_TOP,
    .priv_size = sizeof(struct runtimes_priv),
    .ops = &runtimes_ops,
};

struct rt_ctx *rec_runtimes_member(struct rt_ctx *ctx, enum rt_isolation isolation)
{
    if (!ctx || ctx->driver->ops != &runtimes_ops || (int)isolation < 0 ||
        isolation >= _RT_ISOLATION_MAX)
        return NULL;
    return priv_of(ctx)->by_isolation[isolation];
}

struct rt_ctx *rec_runtimes_new(uv_loop_t *loop, struct rt_ctx *const by_isolation[],
                                struct stk_err *err)
{
    struct rt_ctx *ctx, *first = NULL;
    struct runtimes_priv *p;

    for (int i = 0; i < _RT_ISOLATION_MAX; i++)
        if (by_isolation[i] && by_isolation[i]->loop != loop) {
            stk_err_set(err, STK_EINVAL, 0, "runtimes: every member runs on the same loop");
            return NULL;
        }
    for (int i = 0; i < _RT_ISOLATION_MAX && !first; i++)
        first = by_isolation[i];
    /* The first member's directories, executable and image store (exit commands use them). */
    ctx = rt_ctx_new(&rec_runtimes_driver, loop, first ? first->state_dir : "",
                     first ? first->run_dir : "", first ? first->self_exe : NULL,
                     first ? first->images : NULL, err);
    if (!ctx)
        return NULL;
    p = priv_of(ctx);
    for (int i = 0; i < _RT_ISOLATION_MAX; i++) {
        struct rt_ctx *m = by_isolation[i];
        int seen = 0;
        p->by_isolation[i] = m;
        for (size_t k = 0; m && k < p->n_members; k++)
            seen |= p->members[k] == m;
        if (m && !seen)
            p->members[p->n_members++] = m;
    }
    if (p->n_members == 0) {
        rt_ctx_free(ctx);
        stk_err_set(err, STK_EINVAL, 0, "runtimes: no member driver");
        return NULL;
    }
    /*
     * What names the runtime to the user ("runtime 'oci' is not available")
     * and to the exit command (--runtime=oci, which opens the same members
     * again) is the first member's name.
     */
    p->self = rec_runtimes_driver;
    p->self.name = p->members[0]->driver->name;
    ctx->driver = &p->self;
    return ctx;
}
