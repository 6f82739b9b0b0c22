/*
 * rt-driver.c - the driver registry, context life cycle, enum tables and the
 * synchronous wrapper shared by every runtime driver.
 */
#include "runtime/rt-driver.h"

#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"
#include <strings.h>

#include "common/stk-alloc.h"
#include "runtime/hcs/hcs.h"
#include "runtime/hcs/hcs-monitor.h"
#include "stk-config.h"

#if STK_HAVE_OCI
extern const struct rt_driver rt_driver_oci;
#endif
#if STK_HAVE_HCS
extern const struct rt_driver rt_driver_hcs;
#endif
#if STK_HAVE_VM
extern const struct rt_driver rt_driver_vm;
#endif
extern const struct rt_driver rt_driver_fake;

static const struct rt_driver *const drivers[] = {
#if STK_HAVE_OCI
    &rt_driver_oci,
#endif
#if STK_HAVE_HCS
    &rt_driver_hcs,
#endif
#if STK_HAVE_VM
    &rt_driver_vm,
#endif
    &rt_driver_fake, NULL,
};

static const char *const isolation_names[] = {
#define RT__ISO_NAME(n, s) s,
    RT_ISOLATION_MAP(RT__ISO_NAME)
#undef RT__ISO_NAME
};

static const char *const state_names[] = {
#define RT__STATE_NAME(n, s) s,
    RT_STATE_MAP(RT__STATE_NAME)
#undef RT__STATE_NAME
};

const char *rt_isolation_to_string(enum rt_isolation v)
{
    if ((int)v < 0 || v >= _RT_ISOLATION_MAX)
        return NULL;
    return isolation_names[v];
}

enum rt_isolation rt_isolation_from_string(const char *s)
{
    for (int i = 0; s && i < _RT_ISOLATION_MAX; i++)
        if (strcasecmp(s, isolation_names[i]) == 0)
            return (enum rt_isolation)i;
    return _RT_ISOLATION_INVALID;
}

const char *rt_state_to_string(enum rt_state v)
{
    if ((int)v < 0 || v >= _RT_STATE_MAX)
        return NULL;
    return state_names[v];
}

enum rt_state rt_state_from_string(const char *s)
{
    for (int i = 0; s && i < _RT_STATE_MAX; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (enum rt_state)i;
    return _RT_STATE_INVALID;
}

const struct rt_driver *rt_driver_find(const char *name, struct stk_err *err)
{
    char known[128] = "";
    size_t len = 0;

    for (size_t i = 0; drivers[i]; i++) {
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                drivers[i]->name);
        if (len >= sizeof(known))
            len = sizeof(known) - 1;
    }
    stk_err_set(err, STK_ENOENT, 0, "unknown runtime driver '%s' (known: %s)", name, known);
    return NULL;
}

struct rt_ctx *rt_ctx_new(const struct rt_driver *driver, uv_loop_t *loop, const char *state_dir,
                          const char *run_dir, const char *self_exe, struct rt_image_store *images,
                          struct stk_err *err)
{
    struct rt_ctx *ctx;

    if (!driver || driver->abi_version != RT_DRIVER_ABI_1) {
        stk_err_set(err, STK_EINVAL, 0, "runtime driver ABI mismatch");
        return NULL;
    }
    ctx = stk_new0(struct rt_ctx);
    ctx->driver = driver;
    ctx->loop = loop;
    ctx->state_dir = stk_xstrdup(state_dir);
    ctx->run_dir = stk_xstrdup(run_dir);
    ctx->self_exe = stk_xstrdup(self_exe);
    ctx->images = images;
    ctx->priv = driver->priv_size ? stk_xcalloc(1, driver->priv_size) : NULL;
    if (driver->ops->init && driver->ops->init(ctx, err) < 0) {
        free(ctx->priv);
        ctx->priv = NULL;
        ctx->driver = NULL;
        rt_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void rt_ctx_free(struct rt_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->driver && ctx->driver->ops->fini)
        ctx->driver->ops->fini(ctx);
    free(ctx->priv);
    free(ctx->state_dir);
    free(ctx->run_dir);
    free(ctx->self_exe);
    free(ctx);
}

void rt_req_cancel(struct rt_req *req)
{
    if (!req || req->canceled)
        return;
    req->canceled = 1;
    if (req->cancel)
        req->cancel(req);
}

static void kv_free(struct rt_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void rt_container_spec_release(struct rt_container_spec *spec)
{
    if (!spec)
        return;
    free(spec->id);
    free(spec->name);
    free(spec->image_ref);
    free(spec->image_config_digest);
    stk_strv_free(spec->layer_digests);
    free(spec->hostname);
    stk_strv_free(spec->process.args);
    stk_strv_free(spec->process.env);
    free(spec->process.cwd);
    free(spec->process.user);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        free(spec->mounts[i].type);
        free(spec->mounts[i].source);
        free(spec->mounts[i].target);
    }
    free(spec->mounts);
    for (size_t i = 0; i < spec->n_pipes; i++) {
        free(spec->pipes[i].host_path);
        free(spec->pipes[i].container_path);
    }
    free(spec->pipes);
    for (size_t i = 0; i < spec->n_devices; i++) {
        free(spec->devices[i].host_path);
        free(spec->devices[i].container_path);
        free(spec->devices[i].permissions);
    }
    free(spec->devices);
    free(spec->sandbox);
    kv_free(spec->labels, spec->n_labels);
    free(spec->stop_signal);
    stk_strv_free(spec->exit_command);
    stk_strv_free(spec->cap_add);
    stk_strv_free(spec->cap_drop);
    kv_free(spec->sysctls, spec->n_sysctls);
    free(spec->ipc);
    free(spec->pid_ns);
    memset(spec, 0, sizeof(*spec));
}

const char *rt_container_info_label(const struct rt_container_info *info, const char *key)
{
    for (size_t i = 0; i < info->n_labels; i++)
        if (strcmp(info->labels[i].key, key) == 0)
            return info->labels[i].value;
    return NULL;
}

void rt_container_info_release(struct rt_container_info *info)
{
    if (!info)
        return;
    free(info->id);
    free(info->name);
    kv_free(info->labels, info->n_labels);
    memset(info, 0, sizeof(*info));
}

void rt_container_info_copy(struct rt_container_info *dst, const struct rt_container_info *src)
{
    *dst = *src;
    dst->id = stk_xstrdup(src->id);
    dst->name = stk_xstrdup(src->name);
    dst->labels = src->n_labels ? stk_xcalloc(src->n_labels, sizeof(struct rt_kv)) : NULL;
    for (size_t i = 0; i < src->n_labels; i++) {
        dst->labels[i].key = stk_xstrdup(src->labels[i].key);
        dst->labels[i].value = stk_xstrdup(src->labels[i].value);
    }
}

void rt_container_list_release(struct rt_container_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        rt_container_info_release(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void rt_sync_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                  void *userdata)
{
    struct rt_sync *s = userdata;

    (void)req;
    s->done = 1;
    if (err && err->code) {
        s->err = *err;
        s->err.detail = stk_xstrdup(err->detail);
        return;
    }
    if (!res)
        return;
    s->kind = res->kind;
    s->exit_code = res->exit_code;
    if (res->info)
        rt_container_info_copy(&s->info, res->info);
    if (res->list) {
        s->list.n = res->list->n;
        s->list.items = stk_xcalloc(res->list->n + 1, sizeof(struct rt_container_info));
        for (size_t i = 0; i < res->list->n; i++)
            rt_container_info_copy(&s->list.items[i], &res->list->items[i]);
    }
    if (res->host)
        s->host = *res->host;
    s->output = stk_xstrdup(res->output);
    s->log_path = stk_xstrdup(res->log_path);
}

int rt_sync_wait(uv_loop_t *loop, struct rt_sync *s, int start_ret, struct stk_err *err)
{
    if (start_ret < 0)
        return start_ret;
    while (!s->done)
        if (uv_run(loop, UV_RUN_ONCE) == 0 && !s->done)
            STK_BUG("runtime operation finished without calling done");
    if (s->err.code) {
        stk_err_move(err, &s->err);
        return err->code;
    }
    return 0;
}

void rt_sync_release(struct rt_sync *s)
{
    if (!s)
        return;
    stk_err_clear(&s->err);
    rt_container_info_release(&s->info);
    rt_container_list_release(&s->list);
    free(s->output);
    free(s->log_path);
    memset(s, 0, sizeof(*s));
}

int rt_windows_image_compatible(const char *host_os_version, const char *image_os_version,
                                enum rt_isolation isolation)
{
    struct stk_err err = STK_ERR_INIT;
    int r = rt_hcs_check_compat(host_os_version, RT_HCS_EDITION_SERVER, image_os_version, isolation,
                                NULL, 0, &err);

    stk_err_clear(&err);
    return r == 0;
}

void rt_nics_free(struct rt_nic *nics, size_t n)
{
    for (size_t i = 0; nics && i < n; i++) {
        free(nics[i].endpoint_id);
        free(nics[i].mac);
    }
    free(nics);
}

int rt_driver_monitor_main(const char *driver, const char *state_dir, const char *id, FILE *ready,
                           struct stk_err *err)
{
    /* The hcs monitor's portable half builds everywhere; it says itself when HCS is missing. */
    if (driver && strcmp(driver, "hcs") == 0)
        return rt_hcs_monitor_main(state_dir, id, ready, err);
    return stk_err_set(err, STK_ENOENT, 0, "runtime '%s' has no monitor", driver ? driver : "");
}
