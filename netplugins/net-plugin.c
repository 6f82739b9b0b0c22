/*
 * net-plugin.c - the plug-in registry, context life cycle, release and copy
 * helpers, and the synchronous wrapper shared by every network plug-in.
 */
#include "netplugins/net-plugin.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"

#include "common/stk-alloc.h"
#include "stk-config.h"

#if STK_HAVE_CNI
extern const struct net_plugin net_plugin_bridge;
extern const struct net_plugin net_plugin_cni;
#endif
#if STK_HAVE_HCS
extern const struct net_plugin net_plugin_hns;
#endif
extern const struct net_plugin net_plugin_fake;

static const struct net_plugin *const plugins[] = {
#if STK_HAVE_CNI
    &net_plugin_bridge, &net_plugin_cni,
#endif
#if STK_HAVE_HCS
    &net_plugin_hns,
#endif
    &net_plugin_fake,   NULL,
};

const struct net_plugin *net_plugin_find(const char *name, struct stk_err *err)
{
    for (size_t i = 0; plugins[i]; i++)
        if (strcmp(plugins[i]->name, name) == 0)
            return plugins[i];
    stk_err_set(err, STK_ENOENT, 0, "unknown network plug-in '%s'", name);
    return NULL;
}

struct net_ctx *net_ctx_new(const struct net_plugin *plugin, uv_loop_t *loop, const char *state_dir,
                            const char *run_dir, struct stk_err *err)
{
    struct net_ctx *ctx;

    if (!plugin || plugin->abi_version != NET_PLUGIN_ABI_1) {
        stk_err_set(err, STK_EINVAL, 0, "network plug-in ABI mismatch");
        return NULL;
    }
    ctx = stk_new0(struct net_ctx);
    ctx->plugin = plugin;
    ctx->loop = loop;
    ctx->state_dir = stk_xstrdup(state_dir);
    ctx->run_dir = stk_xstrdup(run_dir);
    ctx->priv = plugin->priv_size ? stk_xcalloc(1, plugin->priv_size) : NULL;
    if (plugin->ops->init && plugin->ops->init(ctx, err) < 0) {
        free(ctx->priv);
        ctx->priv = NULL;
        ctx->plugin = NULL;
        net_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void net_ctx_free(struct net_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->plugin && ctx->plugin->ops->fini)
        ctx->plugin->ops->fini(ctx);
    free(ctx->priv);
    free(ctx->state_dir);
    free(ctx->run_dir);
    free(ctx);
}

void net_req_cancel(struct net_req *req)
{
    if (!req || req->canceled)
        return;
    req->canceled = 1;
    if (req->cancel)
        req->cancel(req);
}

void net_network_info_release(struct net_network_info *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->subnet);
    free(n->gateway);
    free(n->bridge);
    free(n->project);
    memset(n, 0, sizeof(*n));
}

void net_sandbox_info_release(struct net_sandbox_info *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->handle);
    free(s->hosts_path);
    free(s->resolv_path);
    free(s->project);
    memset(s, 0, sizeof(*s));
}

void net_endpoint_info_release(struct net_endpoint_info *e)
{
    if (!e)
        return;
    free(e->network);
    free(e->sandbox);
    free(e->ifname);
    free(e->ipv4);
    free(e->mac);
    stk_strv_free(e->aliases);
    free(e->ports);
    memset(e, 0, sizeof(*e));
}

void net_inventory_release(struct net_inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->n_networks; i++)
        net_network_info_release(&inv->networks[i]);
    for (size_t i = 0; i < inv->n_sandboxes; i++)
        net_sandbox_info_release(&inv->sandboxes[i]);
    for (size_t i = 0; i < inv->n_endpoints; i++)
        net_endpoint_info_release(&inv->endpoints[i]);
    free(inv->networks);
    free(inv->sandboxes);
    free(inv->endpoints);
    memset(inv, 0, sizeof(*inv));
}

void net_attachment_release(struct net_attachment *a)
{
    if (!a)
        return;
    free(a->network);
    free(a->sandbox);
    free(a->ifname);
    stk_strv_free(a->aliases);
    free(a->ports);
    free(a->ipv4_address);
    memset(a, 0, sizeof(*a));
}

void net_network_info_copy(struct net_network_info *dst, const struct net_network_info *src)
{
    dst->name = stk_xstrdup(src->name);
    dst->subnet = stk_xstrdup(src->subnet);
    dst->gateway = stk_xstrdup(src->gateway);
    dst->bridge = stk_xstrdup(src->bridge);
    dst->project = stk_xstrdup(src->project);
}

void net_sandbox_info_copy(struct net_sandbox_info *dst, const struct net_sandbox_info *src)
{
    dst->id = stk_xstrdup(src->id);
    dst->handle = stk_xstrdup(src->handle);
    dst->hosts_path = stk_xstrdup(src->hosts_path);
    dst->resolv_path = stk_xstrdup(src->resolv_path);
    dst->project = stk_xstrdup(src->project);
}

void net_endpoint_info_copy(struct net_endpoint_info *dst, const struct net_endpoint_info *src)
{
    dst->network = stk_xstrdup(src->network);
    dst->sandbox = stk_xstrdup(src->sandbox);
    dst->ifname = stk_xstrdup(src->ifname);
    dst->ipv4 = stk_xstrdup(src->ipv4);
    dst->prefix_len = src->prefix_len;
    dst->mac = stk_xstrdup(src->mac);
    dst->aliases = stk_strv_dup(src->aliases);
    dst->ports = NULL;
    dst->n_ports = src->n_ports;
    if (src->n_ports) {
        dst->ports = stk_xcalloc(src->n_ports, sizeof(*dst->ports));
        memcpy(dst->ports, src->ports, src->n_ports * sizeof(*dst->ports));
    }
}

void net_inventory_copy(struct net_inventory *dst, const struct net_inventory *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->networks = stk_xcalloc(src->n_networks + 1, sizeof(*dst->networks));
    dst->sandboxes = stk_xcalloc(src->n_sandboxes + 1, sizeof(*dst->sandboxes));
    dst->endpoints = stk_xcalloc(src->n_endpoints + 1, sizeof(*dst->endpoints));
    for (size_t i = 0; i < src->n_networks; i++)
        net_network_info_copy(&dst->networks[i], &src->networks[i]);
    for (size_t i = 0; i < src->n_sandboxes; i++)
        net_sandbox_info_copy(&dst->sandboxes[i], &src->sandboxes[i]);
    for (size_t i = 0; i < src->n_endpoints; i++)
        net_endpoint_info_copy(&dst->endpoints[i], &src->endpoints[i]);
    dst->n_networks = src->n_networks;
    dst->n_sandboxes = src->n_sandboxes;
    dst->n_endpoints = src->n_endpoints;
}

void net_sync_done(struct net_req *req, const struct net_result *res, const struct stk_err *err,
                   void *userdata)
{
    struct net_sync *s = userdata;

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
    if (res->network)
        net_network_info_copy(&s->network, res->network);
    if (res->sandbox)
        net_sandbox_info_copy(&s->sandbox, res->sandbox);
    if (res->endpoint)
        net_endpoint_info_copy(&s->endpoint, res->endpoint);
    if (res->inventory)
        net_inventory_copy(&s->inventory, res->inventory);
}

int net_sync_wait(uv_loop_t *loop, struct net_sync *s, int start_ret, struct stk_err *err)
{
    if (start_ret < 0)
        return start_ret;
    while (!s->done)
        if (uv_run(loop, UV_RUN_ONCE) == 0 && !s->done)
            STK_BUG("network operation finished without calling done");
    if (s->err.code) {
        stk_err_move(err, &s->err);
        return err->code;
    }
    return 0;
}

void net_sync_release(struct net_sync *s)
{
    if (!s)
        return;
    stk_err_clear(&s->err);
    net_network_info_release(&s->network);
    net_sandbox_info_release(&s->sandbox);
    net_endpoint_info_release(&s->endpoint);
    net_inventory_release(&s->inventory);
    memset(s, 0, sizeof(*s));
}

json_t *net_ports_to_json(const struct net_port *ports, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:i, s:s, s:s}", "host_port",
                                             (int)ports[i].host_port, "container_port",
                                             (int)ports[i].container_port, "protocol",
                                             ports[i].protocol, "host_ip", ports[i].host_ip));
    return arr;
}

struct net_port *net_ports_from_json(const json_t *arr, size_t *ret_n)
{
    struct net_port *v;
    size_t i, n = 0;
    json_t *x;

    *ret_n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return NULL;
    v = stk_xcalloc(json_array_size(arr), sizeof(*v));
    json_array_foreach(arr, i, x)
    {
        json_int_t hp = json_integer_value(json_object_get(x, "host_port"));
        json_int_t cp = json_integer_value(json_object_get(x, "container_port"));
        const char *proto = json_string_value(json_object_get(x, "protocol"));
        const char *ip = json_string_value(json_object_get(x, "host_ip"));
        if (cp <= 0 || cp > 65535 || hp < 0 || hp > 65535)
            continue;
        v[n].host_port = (uint16_t)hp;
        v[n].container_port = (uint16_t)cp;
        snprintf(v[n].protocol, sizeof(v[n].protocol), "%s", proto ? proto : "tcp");
        snprintf(v[n].host_ip, sizeof(v[n].host_ip), "%s", ip ? ip : "");
        n++;
    }
    *ret_n = n;
    return v;
}
