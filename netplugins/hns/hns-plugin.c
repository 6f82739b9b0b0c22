/*
 * hns-plugin.c - the "hns" network plug-in: net-plugin.h's operations on HCN
 * networks, namespaces and endpoints through the call layer of hns.h.
 *
 * Every operation runs its blocking HCN calls in a uv_queue_work thread and
 * reports on the loop thread. HCN is the observed state; the plug-in's
 * records (STATE_DIR/net/hns/state.json) add what HCN has no field for:
 * which sandbox and network an endpoint belongs to under the product's
 * names, its aliases, and each sandbox's hosts and resolv.conf files.
 * Containers get no outside resolver (DESIGN.md §7): names resolve from the
 * hosts file, so endpoints carry no Dns server list.
 */
#include "netplugins/hns/hns.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "common/win-error.h"

#define HNS_UNAVAILABLE "HNS is not available on this host"
#define HNS_EPHEMERAL_FIRST 49152

struct hns_priv {
    const struct hcn_api *api;
    struct net_ctx *ctx;
    uv_mutex_t lock; /* the records file */
    char reason[256];
};

enum hns_kind {
    H_NET_CREATE,
    H_NET_REMOVE,
    H_SB_CREATE,
    H_SB_REMOVE,
    H_ATTACH,
    H_DETACH,
    H_CHECK,
    H_LIST
};

struct hns_work {
    struct net_req req; /* first */
    uv_work_t work;
    enum hns_kind kind;
    struct hns_priv *priv;
    char *name;    /* network name or sandbox id */
    char *sandbox; /* detach/check */
    json_t *args;  /* copied spec or attachment */
    net_done_fn *done;
    void *userdata;
    struct stk_err err;
    struct net_result res;
    struct net_network_info network;
    struct net_sandbox_info sb;
    struct net_endpoint_info endpoint;
    struct net_inventory inventory;
};

/* ---- records -------------------------------------------------------------- */

static char *records_path(struct hns_priv *p)
{
    return stk_xasprintf("%s/net/hns/state.json", p->ctx->state_dir);
}

/* Loads the records (a new reference, never NULL). Call with the lock held. */
static json_t *records_load(struct hns_priv *p)
{
    char *path = records_path(p);
    json_t *j = json_load_file(path, 0, NULL);

    free(path);
    if (!j)
        j = json_object();
    if (!json_is_object(json_object_get(j, "networks")))
        json_object_set_new(j, "networks", json_object());
    if (!json_is_object(json_object_get(j, "sandboxes")))
        json_object_set_new(j, "sandboxes", json_object());
    if (!json_is_object(json_object_get(j, "endpoints")))
        json_object_set_new(j, "endpoints", json_object());
    return j;
}

static int records_save(struct hns_priv *p, json_t *j, struct stk_err *err)
{
    char *dir = stk_xasprintf("%s/net/hns", p->ctx->state_dir);
    char *path = records_path(p);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int r = stk_mkdir_p(dir, 0755, err);

    if (r == 0)
        r = stk_file_write_atomic(path, s, strlen(s), 0644, 0, err);
    free(s);
    free(path);
    free(dir);
    return r;
}

static char *endpoint_key(const char *sandbox, const char *network)
{
    return stk_xasprintf("%s/%s", sandbox, network);
}

static char *endpoint_name(const char *sandbox, const char *network)
{
    return stk_xasprintf("%s_%s", sandbox, network);
}

static char *sandbox_dir(struct hns_priv *p, const char *id)
{
    return stk_xasprintf("%s/net/hns/sandboxes/%s", p->ctx->state_dir, id);
}

/* ---- HCN helpers ---------------------------------------------------------- */

static int hr_err(struct hns_priv *p, struct stk_err *err, int32_t hr, char *record,
                  const char *what, const char *name)
{
    int r = stk_err_set_hresult(err, hr, record, "%s '%s'", what, name);

    p->api->free_string(record);
    return r;
}

static json_t *ids_of(struct hns_priv *p, int32_t (*fn)(const char *, char **, char **),
                      struct stk_err *err, const char *what)
{
    char *ids = NULL, *rec = NULL;
    json_t *q = net_hns_doc_query(0), *a;
    char *qs = json_dumps(q, JSON_COMPACT);
    int32_t hr = fn(qs, &ids, &rec);

    free(qs);
    json_decref(q);
    if (hr < 0) {
        hr_err(p, err, hr, rec, "enumerate", what);
        return NULL;
    }
    p->api->free_string(rec);
    a = ids ? json_loads(ids, 0, NULL) : NULL;
    p->api->free_string(ids);
    return json_is_array(a) ? a : (json_decref(a), json_array());
}

/* Queries the properties of network ID; a new reference or NULL. */
static json_t *network_props(struct hns_priv *p, const char *id)
{
    struct hcn_network *h = NULL;
    char *props = NULL, *rec = NULL;
    json_t *q = net_hns_doc_query(1), *j = NULL;
    char *qs = json_dumps(q, JSON_COMPACT);

    if (p->api->open_network(id, &h, &rec) >= 0) {
        if (p->api->query_network_properties(h, qs, &props, NULL) >= 0 && props)
            j = json_loads(props, 0, NULL);
        p->api->close_network(h);
    }
    p->api->free_string(rec);
    p->api->free_string(props);
    free(qs);
    json_decref(q);
    return j;
}

static json_t *endpoint_props(struct hns_priv *p, const char *id)
{
    struct hcn_endpoint *h = NULL;
    char *props = NULL, *rec = NULL;
    json_t *q = net_hns_doc_query(1), *j = NULL;
    char *qs = json_dumps(q, JSON_COMPACT);

    if (p->api->open_endpoint(id, &h, &rec) >= 0) {
        if (p->api->query_endpoint_properties(h, qs, &props, NULL) >= 0 && props)
            j = json_loads(props, 0, NULL);
        p->api->close_endpoint(h);
    }
    p->api->free_string(rec);
    p->api->free_string(props);
    free(qs);
    json_decref(q);
    return j;
}

/* Finds the HCN network named NAME: its properties (new reference) or NULL. */
static json_t *network_by_name(struct hns_priv *p, const char *name, struct stk_err *err,
                               int *ret_failed)
{
    json_t *ids = ids_of(p, p->api->enumerate_networks, err, "networks");
    json_t *found = NULL, *x;
    size_t i;

    *ret_failed = !ids;
    json_array_foreach(ids, i, x)
    {
        json_t *props = network_props(p, json_string_value(x));

        if (props && strcmp(json_string_value(json_object_get(props, "Name")) ?: "", name) == 0) {
            found = props;
            break;
        }
        json_decref(props);
    }
    json_decref(ids);
    return found;
}

static const char *subnet_of(json_t *net)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(net, "Ipams"), 0), "Subnets"),
                       0),
        "IpAddressPrefix"));
}

static const char *gateway_of(json_t *net)
{
    return json_string_value(json_object_get(
        json_array_get(
            json_object_get(
                json_array_get(
                    json_object_get(json_array_get(json_object_get(net, "Ipams"), 0), "Subnets"),
                    0),
                "Routes"),
            0),
        "NextHop"));
}

/* ---- hosts files ---------------------------------------------------------- */

/* Rewrites the hosts file of every sandbox from the records. Call with the lock held. */
static void hosts_rewrite(struct hns_priv *p, json_t *recs)
{
    const char *sid;
    json_t *sb;

    json_object_foreach(json_object_get(recs, "sandboxes"), sid, sb)
    {
        struct stk_buf b = STK_BUF_INIT;
        char *dir = sandbox_dir(p, sid), *path = stk_xasprintf("%s/hosts", dir);
        struct stk_strv nets = STK_STRV_INIT;
        const char *k;
        json_t *ep;

        stk_strv_init(&nets);
        stk_buf_puts(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
        json_object_foreach(
            json_object_get(recs, "endpoints"), k,
            ep) if (strcmp(json_string_value(json_object_get(ep, "sandbox")) ?: "", sid) == 0)
            stk_strv_push(&nets, json_string_value(json_object_get(ep, "network")));
        json_object_foreach(json_object_get(recs, "endpoints"), k, ep)
        {
            size_t i;
            json_t *a;
            const char *own = json_string_value(json_object_get(ep, "sandbox"));

            if (!stk_strv_contains(&nets, json_string_value(json_object_get(ep, "network"))))
                continue;
            stk_buf_puts(&b, json_string_value(json_object_get(ep, "ipv4")));
            if (strcmp(own, sid) == 0 && json_string_value(json_object_get(sb, "hostname")))
                stk_buf_printf(&b, "\t%s", json_string_value(json_object_get(sb, "hostname")));
            json_array_foreach(json_object_get(ep, "aliases"), i, a)
                stk_buf_printf(&b, "\t%s", json_string_value(a));
            stk_buf_putc(&b, '\n');
        }
        if (stk_mkdir_p(dir, 0755, NULL) == 0)
            stk_file_write_atomic(path, b.buf, b.len, 0644, 0, NULL);
        stk_strv_release(&nets);
        stk_buf_release(&b);
        free(path);
        free(dir);
    }
}

/* ---- operations (work threads) ------------------------------------------- */

static void network_info_fill(struct net_network_info *n, const char *name, json_t *props,
                              const char *project)
{
    n->name = stk_xstrdup(name);
    n->subnet = stk_xstrdup(subnet_of(props));
    n->gateway = stk_xstrdup(gateway_of(props));
    n->bridge = stk_xstrdup(json_string_value(json_object_get(props, "ID")));
    n->project = stk_xstrdup(project);
}

static int subnet_used(json_t *used, const char *cidr)
{
    size_t i;
    json_t *x;

    json_array_foreach(used, i, x) if (strcmp(json_string_value(x), cidr) == 0) return 1;
    return 0;
}

static int do_network_create(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    json_t *a = w->args, *props, *doc = NULL, *used = NULL, *recs, *ids, *x;
    const char *name = json_string_value(json_object_get(a, "name"));
    const char *project = json_string_value(json_object_get(a, "project"));
    char *subnet = stk_xstrdup(json_string_value(json_object_get(a, "subnet")));
    char *gateway = stk_xstrdup(json_string_value(json_object_get(a, "gateway")));
    char *docs = NULL, *rec = NULL, *id_props = NULL;
    struct hcn_network *h = NULL;
    int failed, r = 0;
    int32_t hr;
    size_t i;

    props = network_by_name(p, name, err, &failed);
    if (failed) {
        r = err->code;
        goto out;
    }
    if (props) {
        if (subnet && strcmp(subnet, subnet_of(props) ?: "") != 0) {
            r = stk_err_set(err, STK_EEXIST, 0, "network '%s' exists with subnet '%s', not '%s'",
                            name, subnet_of(props) ?: "", subnet);
            goto out;
        }
        goto record;
    }
    if (!subnet) {
        /* A /24 from 172.30.0.0/16 that no HCN network uses. */
        used = json_array();
        ids = ids_of(p, p->api->enumerate_networks, err, "networks");
        json_array_foreach(ids, i, x)
        {
            json_t *np = network_props(p, json_string_value(x));

            if (subnet_of(np))
                json_array_append_new(used, json_string(subnet_of(np)));
            json_decref(np);
        }
        json_decref(ids);
        for (int k = 0; k < 256 && !subnet; k++) {
            char *c = stk_xasprintf("172.30.%d.0/24", k);

            if (!subnet_used(used, c))
                subnet = c;
            else
                free(c);
        }
        if (!subnet) {
            r = stk_err_set(err, STK_ENET, 0, "network '%s': no free subnet in 172.30.0.0/16",
                            name);
            goto out;
        }
    }
    if (!gateway) {
        struct in_addr ad;
        char buf[64];
        char *net = stk_xstrndup(subnet, strcspn(subnet, "/"));

        if (uv_inet_pton(AF_INET, net, &ad) != 0) {
            free(net);
            r = stk_err_set(err, STK_EINVAL, 0, "network '%s': bad subnet '%s'", name, subnet);
            goto out;
        }
        ad.s_addr = htonl(ntohl(ad.s_addr) + 1);
        uv_inet_ntop(AF_INET, &ad, buf, sizeof(buf));
        gateway = stk_xstrdup(buf);
        free(net);
    }
    r = net_hns_doc_network(name, subnet, gateway, json_is_true(json_object_get(a, "internal")),
                            &doc, err);
    if (r < 0)
        goto out;
    docs = json_dumps(doc, JSON_COMPACT);
    hr = p->api->create_network(NET_HNS_NULL_GUID, docs, &h, &rec);
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "create network", name);
        goto out;
    }
    p->api->free_string(rec);
    rec = NULL;
    hr = p->api->query_network_properties(h, NULL, &id_props, &rec);
    p->api->close_network(h);
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "query network", name);
        goto out;
    }
    p->api->free_string(rec);
    props = id_props ? json_loads(id_props, 0, NULL) : NULL;
    p->api->free_string(id_props);
    if (!props) {
        r = stk_err_set(err, STK_ENET, 0, "network '%s': unreadable properties", name);
        goto out;
    }
    /* Internal networks have no route; report the gateway the plug-in chose. */
    if (!gateway_of(props)) {
        json_t *sn0 = json_array_get(
            json_object_get(json_array_get(json_object_get(props, "Ipams"), 0), "Subnets"), 0);

        if (sn0)
            json_object_set_new(sn0, "Routes", json_pack("[{s:s}]", "NextHop", gateway));
    }
record:
    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    json_object_set_new(json_object_get(recs, "networks"), name,
                        json_pack("{s:s,s:s}", "id",
                                  json_string_value(json_object_get(props, "ID")), "project",
                                  project ? project : ""));
    r = records_save(p, recs, err);
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    if (r == 0)
        network_info_fill(&w->network, name, props, project);
out:
    json_decref(props);
    json_decref(doc);
    json_decref(used);
    free(docs);
    free(subnet);
    free(gateway);
    return r;
}

/* Removes endpoint record KEY's HCN endpoint from its namespace and deletes it. */
static void endpoint_destroy(struct hns_priv *p, json_t *ep, const char *ns_id)
{
    const char *id = json_string_value(json_object_get(ep, "id"));
    struct hcn_namespace *ns = NULL;
    char *rec = NULL;

    if (!id)
        return;
    if (ns_id && p->api->open_namespace(ns_id, &ns, &rec) >= 0) {
        json_t *m = net_hns_doc_namespace_endpoint(id, 0);
        char *ms = json_dumps(m, JSON_COMPACT);

        p->api->free_string(rec);
        rec = NULL;
        p->api->modify_namespace(ns, ms, &rec);
        p->api->close_namespace(ns);
        free(ms);
        json_decref(m);
    }
    p->api->free_string(rec);
    rec = NULL;
    p->api->delete_endpoint(id, &rec);
    p->api->free_string(rec);
}

static const char *sandbox_ns(json_t *recs, const char *sandbox)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(recs, "sandboxes"), sandbox), "namespace"));
}

static int do_network_remove(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    json_t *recs, *props, *ep;
    const char *k;
    void *tmp;
    int failed, r;
    int32_t hr;
    char *rec = NULL;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    json_object_foreach_safe(json_object_get(recs, "endpoints"), tmp, k, ep)
    {
        if (strcmp(json_string_value(json_object_get(ep, "network")) ?: "", w->name) != 0)
            continue;
        endpoint_destroy(p, ep,
                         sandbox_ns(recs, json_string_value(json_object_get(ep, "sandbox"))));
        json_object_del(json_object_get(recs, "endpoints"), k);
    }
    props = network_by_name(p, w->name, err, &failed);
    r = failed ? err->code : 0;
    if (r == 0 && props) {
        hr = p->api->delete_network(json_string_value(json_object_get(props, "ID")), &rec);
        if (hr < 0 && !stk_win_hresult_is_not_found(hr))
            r = hr_err(p, err, hr, rec, "delete network", w->name);
        else
            p->api->free_string(rec);
    }
    if (r == 0) {
        json_object_del(json_object_get(recs, "networks"), w->name);
        hosts_rewrite(p, recs);
        r = records_save(p, recs, err);
    }
    json_decref(recs);
    json_decref(props);
    uv_mutex_unlock(&p->lock);
    return r;
}

static void sandbox_info_fill(struct hns_priv *p, struct net_sandbox_info *s, const char *id,
                              json_t *rec)
{
    char *dir = sandbox_dir(p, id);

    s->id = stk_xstrdup(id);
    s->handle = stk_xstrdup(json_string_value(json_object_get(rec, "namespace")));
    s->hosts_path = stk_xasprintf("%s/hosts", dir);
    s->resolv_path = stk_xasprintf("%s/resolv.conf", dir);
    s->project = stk_xstrdup(json_string_value(json_object_get(rec, "project")));
    free(dir);
}

static int do_sandbox_create(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    json_t *a = w->args, *recs, *sb, *doc = NULL, *props = NULL;
    struct hcn_namespace *ns = NULL;
    char *docs = NULL, *rec = NULL, *out = NULL, *dir = NULL, *path = NULL;
    const char *resolv = "# stack: no outside resolver; names come from the hosts file\n";
    int32_t hr;
    int r = 0;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    sb = json_object_get(json_object_get(recs, "sandboxes"), w->name);
    if (sb && p->api->open_namespace(json_string_value(json_object_get(sb, "namespace")), &ns,
                                     &rec) >= 0) {
        p->api->close_namespace(ns);
        sandbox_info_fill(p, &w->sb, w->name, sb);
        goto out;
    }
    p->api->free_string(rec);
    rec = NULL;
    doc = net_hns_doc_namespace();
    docs = json_dumps(doc, JSON_COMPACT);
    hr = p->api->create_namespace(NET_HNS_NULL_GUID, docs, &ns, &rec);
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "create namespace for sandbox", w->name);
        goto out;
    }
    p->api->free_string(rec);
    rec = NULL;
    hr = p->api->query_namespace_properties(ns, NULL, &out, &rec);
    p->api->close_namespace(ns);
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "query namespace of sandbox", w->name);
        goto out;
    }
    p->api->free_string(rec);
    props = out ? json_loads(out, 0, NULL) : NULL;
    p->api->free_string(out);
    sb = json_pack("{s:s,s:s,s:s}", "namespace",
                   json_string_value(json_object_get(props, "ID")) ?: "", "hostname",
                   json_string_value(json_object_get(a, "hostname")) ?: w->name, "project",
                   json_string_value(json_object_get(a, "project")) ?: "");
    json_object_set_new(json_object_get(recs, "sandboxes"), w->name, sb);
    dir = sandbox_dir(p, w->name);
    path = stk_xasprintf("%s/resolv.conf", dir);
    r = stk_mkdir_p(dir, 0755, err);
    if (r == 0)
        r = stk_file_write_atomic(path, resolv, strlen(resolv), 0644, 0, err);
    if (r == 0) {
        hosts_rewrite(p, recs);
        r = records_save(p, recs, err);
    }
    if (r == 0)
        sandbox_info_fill(p, &w->sb, w->name, sb);
out:
    json_decref(recs);
    json_decref(doc);
    json_decref(props);
    uv_mutex_unlock(&p->lock);
    free(docs);
    free(dir);
    free(path);
    return r;
}

static int do_sandbox_remove(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    json_t *recs, *ep;
    const char *k, *ns;
    void *tmp;
    char *rec = NULL, *dir;
    int r;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    ns = sandbox_ns(recs, w->name);
    json_object_foreach_safe(json_object_get(recs, "endpoints"), tmp, k, ep)
    {
        if (strcmp(json_string_value(json_object_get(ep, "sandbox")) ?: "", w->name) != 0)
            continue;
        endpoint_destroy(p, ep, ns);
        json_object_del(json_object_get(recs, "endpoints"), k);
    }
    if (ns) {
        int32_t hr = p->api->delete_namespace(ns, &rec);

        if (hr < 0 && !stk_win_hresult_is_not_found(hr)) {
            r = hr_err(p, err, hr, rec, "delete the namespace of sandbox", w->name);
            goto out;
        }
        p->api->free_string(rec);
    }
    json_object_del(json_object_get(recs, "sandboxes"), w->name);
    dir = sandbox_dir(p, w->name);
    r = stk_rm_rf(dir, err);
    free(dir);
    if (r == 0) {
        hosts_rewrite(p, recs);
        r = records_save(p, recs, err);
    }
out:
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    return r;
}

static void endpoint_info_fill(struct net_endpoint_info *e, json_t *ep)
{
    e->network = stk_xstrdup(json_string_value(json_object_get(ep, "network")));
    e->sandbox = stk_xstrdup(json_string_value(json_object_get(ep, "sandbox")));
    e->ifname = stk_xstrdup(json_string_value(json_object_get(ep, "ifname")));
    e->ipv4 = stk_xstrdup(json_string_value(json_object_get(ep, "ipv4")));
    e->prefix_len = (int)json_integer_value(json_object_get(ep, "prefix"));
    e->mac = stk_xstrdup(json_string_value(json_object_get(ep, "mac")));
    e->aliases =
        json_array_size(json_object_get(ep, "aliases")) + 1 > 0
            ? stk_xcalloc(json_array_size(json_object_get(ep, "aliases")) + 1, sizeof(char *))
            : NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(ep, "aliases")); i++)
        e->aliases[i] =
            stk_xstrdup(json_string_value(json_array_get(json_object_get(ep, "aliases"), i)));
    e->ports = net_ports_from_json(json_object_get(ep, "ports"), &e->n_ports);
}

/*
 * Removes HCN endpoints named NAME that are not in namespace NS: what an
 * unclean shutdown leaves behind, whose address HCN then refuses
 * (moby/moby#47576, reference/compose-and-orchestrators.md §3).
 */
static void remove_stale(struct hns_priv *p, const char *name, const char *ns,
                         json_t **ret_ports_in_use, struct stk_err *err)
{
    json_t *ids = ids_of(p, p->api->enumerate_endpoints, err, "endpoints"), *x;
    json_t *ports = json_array();
    size_t i;

    json_array_foreach(ids, i, x)
    {
        json_t *props = endpoint_props(p, json_string_value(x)), *pol;
        const char *ens = json_string_value(json_object_get(props, "HostComputeNamespace"));
        size_t k;

        if (props && strcmp(json_string_value(json_object_get(props, "Name")) ?: "", name) == 0 &&
            (!ens || strcasecmp(ens, ns) != 0)) {
            char *rec = NULL;

            p->api->delete_endpoint(json_string_value(x), &rec);
            p->api->free_string(rec);
        } else {
            json_array_foreach(json_object_get(props, "Policies"), k, pol) json_array_append(
                ports, json_object_get(json_object_get(pol, "Settings"), "ExternalPort"));
        }
        json_decref(props);
    }
    json_decref(ids);
    *ret_ports_in_use = ports;
}

static int port_in_use(json_t *ports, int port)
{
    size_t i;
    json_t *x;

    json_array_foreach(ports, i, x) if (json_integer_value(x) == port) return 1;
    return 0;
}

static int do_attach(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    json_t *a = w->args, *recs, *sb, *net = NULL, *doc = NULL, *used = NULL, *props = NULL;
    json_t *ep, *x;
    const char *network = json_string_value(json_object_get(a, "network"));
    const char *sandbox = json_string_value(json_object_get(a, "sandbox"));
    const char *ns_id;
    char *key = endpoint_key(sandbox, network), *name = endpoint_name(sandbox, network);
    char *docs = NULL, *rec = NULL, *out = NULL, *ms = NULL;
    struct net_port *ports = NULL;
    struct net_hns_endpoint_config cfg = {0};
    struct hcn_network *nh = NULL;
    struct hcn_endpoint *eh = NULL;
    struct hcn_namespace *nsh = NULL;
    char ipbuf[64] = "";
    int failed, r = 0, next_port = HNS_EPHEMERAL_FIRST;
    size_t i, n_ports = json_array_size(json_object_get(a, "ports"));
    int32_t hr;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    sb = json_object_get(json_object_get(recs, "sandboxes"), sandbox);
    ns_id = json_string_value(json_object_get(sb, "namespace"));
    if (!ns_id) {
        r = stk_err_set(err, STK_ENOENT, 0, "attach to '%s': no sandbox '%s'", network, sandbox);
        goto out;
    }
    ep = json_object_get(json_object_get(recs, "endpoints"), key);
    if (ep) {
        json_t *cur = endpoint_props(p, json_string_value(json_object_get(ep, "id")));
        const char *ens = json_string_value(json_object_get(cur, "HostComputeNamespace"));

        if (ens && strcasecmp(ens, ns_id) == 0) {
            endpoint_info_fill(&w->endpoint, ep);
            json_decref(cur);
            goto out;
        }
        json_decref(cur);
    }
    net = network_by_name(p, network, err, &failed);
    if (!net) {
        r = failed
                ? err->code
                : stk_err_set(err, STK_ENOENT, 0, "attach '%s': no network '%s'", sandbox, network);
        goto out;
    }
    remove_stale(p, name, ns_id, &used, err);

    ports = stk_xcalloc(n_ports + 1, sizeof(*ports));
    json_array_foreach(json_object_get(a, "ports"), i, x)
    {
        ports[i].host_port = (uint16_t)json_integer_value(json_object_get(x, "host_port"));
        ports[i].container_port =
            (uint16_t)json_integer_value(json_object_get(x, "container_port"));
        snprintf(ports[i].protocol, sizeof(ports[i].protocol), "%s",
                 json_string_value(json_object_get(x, "protocol")) ?: "tcp");
        snprintf(ports[i].host_ip, sizeof(ports[i].host_ip), "%s",
                 json_string_value(json_object_get(x, "host_ip")) ?: "");
        if (ports[i].host_port == 0) {
            /* An ephemeral host port chosen here, never a host IP (docker/for-win#10552). */
            while (port_in_use(used, next_port) && next_port < 65535)
                next_port++;
            ports[i].host_port = (uint16_t)next_port;
            json_array_append_new(used, json_integer(next_port++));
        }
    }
    cfg.name = name;
    cfg.network_id = json_string_value(json_object_get(net, "ID"));
    cfg.ports = ports;
    cfg.n_ports = n_ports;
    cfg.ipv4_address = json_string_value(json_object_get(a, "ipv4"));
    if (cfg.ipv4_address) {
        const char *sn = subnet_of(net);

        cfg.prefix_len = sn && strchr(sn, '/') ? atoi(strchr(sn, '/') + 1) : 24;
    }
    r = net_hns_doc_endpoint(&cfg, &doc, err);
    if (r < 0)
        goto out;
    docs = json_dumps(doc, JSON_COMPACT);
    hr = p->api->open_network(cfg.network_id, &nh, &rec);
    if (hr >= 0) {
        p->api->free_string(rec);
        rec = NULL;
        hr = p->api->create_endpoint(nh, NET_HNS_NULL_GUID, docs, &eh, &rec);
        p->api->close_network(nh);
    }
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "create endpoint", name);
        goto out;
    }
    p->api->free_string(rec);
    rec = NULL;
    hr = p->api->query_endpoint_properties(eh, NULL, &out, &rec);
    p->api->close_endpoint(eh);
    if (hr < 0) {
        r = hr_err(p, err, hr, rec, "query endpoint", name);
        goto out;
    }
    p->api->free_string(rec);
    rec = NULL;
    props = out ? json_loads(out, 0, NULL) : NULL;
    p->api->free_string(out);
    {
        json_t *m =
            net_hns_doc_namespace_endpoint(json_string_value(json_object_get(props, "ID")), 1);

        ms = json_dumps(m, JSON_COMPACT);
        json_decref(m);
    }
    hr = p->api->open_namespace(ns_id, &nsh, &rec);
    if (hr >= 0) {
        p->api->free_string(rec);
        rec = NULL;
        hr = p->api->modify_namespace(nsh, ms, &rec);
        p->api->close_namespace(nsh);
    }
    if (hr < 0) {
        char *drec = NULL;

        r = hr_err(p, err, hr, rec, "add endpoint to the namespace of", sandbox);
        p->api->delete_endpoint(json_string_value(json_object_get(props, "ID")), &drec);
        p->api->free_string(drec);
        goto out;
    }
    p->api->free_string(rec);
    snprintf(ipbuf, sizeof(ipbuf), "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(props, "IpConfigurations"), 0), "IpAddress"))
                 ?: "");
    ep = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:O}", "id", json_string_value(json_object_get(props, "ID")),
        "network", network, "sandbox", sandbox, "ifname",
        json_string_value(json_object_get(a, "ifname")) ?: "eth0", "ipv4", ipbuf, "prefix",
        json_integer_value(json_object_get(
            json_array_get(json_object_get(props, "IpConfigurations"), 0), "PrefixLength")),
        "mac", json_string_value(json_object_get(props, "MacAddress")) ?: "", "aliases",
        json_object_get(a, "aliases"));
    /* The ports as published, ephemeral host ports included. */
    json_object_set_new(ep, "ports", net_ports_to_json(ports, n_ports));
    json_object_set_new(json_object_get(recs, "endpoints"), key, ep);
    hosts_rewrite(p, recs);
    r = records_save(p, recs, err);
    if (r == 0)
        endpoint_info_fill(&w->endpoint, ep);
out:
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    json_decref(net);
    json_decref(doc);
    json_decref(used);
    json_decref(props);
    free(ports);
    free(docs);
    free(ms);
    free(key);
    free(name);
    return r;
}

static int do_detach(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    char *key = endpoint_key(w->sandbox, w->name);
    json_t *recs, *ep;
    int r = 0;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    ep = json_object_get(json_object_get(recs, "endpoints"), key);
    if (ep) {
        endpoint_destroy(p, ep, sandbox_ns(recs, w->sandbox));
        json_object_del(json_object_get(recs, "endpoints"), key);
        hosts_rewrite(p, recs);
        r = records_save(p, recs, err);
    }
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    free(key);
    return r;
}

static int do_check(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    char *key = endpoint_key(w->sandbox, w->name);
    json_t *recs, *ep, *props = NULL;
    const char *ns, *ens, *ip;
    int r = 0;

    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    ep = json_object_get(json_object_get(recs, "endpoints"), key);
    ns = sandbox_ns(recs, w->sandbox);
    if (!ep) {
        r = stk_err_set(err, STK_ENOENT, 0, "no endpoint of '%s' on '%s'", w->sandbox, w->name);
        goto out;
    }
    props = endpoint_props(p, json_string_value(json_object_get(ep, "id")));
    ens = json_string_value(json_object_get(props, "HostComputeNamespace"));
    ip = json_string_value(json_object_get(
        json_array_get(json_object_get(props, "IpConfigurations"), 0), "IpAddress"));
    if (!props)
        r = stk_err_set(err, STK_ENET, 0, "endpoint of '%s' on '%s' is gone from HNS", w->sandbox,
                        w->name);
    else if (!ens || !ns || strcasecmp(ens, ns) != 0)
        r = stk_err_set(err, STK_ENET, 0, "endpoint of '%s' on '%s' left its namespace", w->sandbox,
                        w->name);
    else if (!ip || strcmp(ip, json_string_value(json_object_get(ep, "ipv4")) ?: "") != 0)
        r = stk_err_set(err, STK_ENET, 0, "endpoint of '%s' on '%s' changed address", w->sandbox,
                        w->name);
    else
        endpoint_info_fill(&w->endpoint, ep);
out:
    json_decref(props);
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    free(key);
    return r;
}

static int do_list(struct hns_work *w, struct stk_err *err)
{
    struct hns_priv *p = w->priv;
    struct net_inventory *inv = &w->inventory;
    json_t *recs, *x;
    const char *k;
    size_t n;

    (void)err;
    uv_mutex_lock(&p->lock);
    recs = records_load(p);
    n = json_object_size(json_object_get(recs, "networks"));
    inv->networks = stk_xcalloc(n + 1, sizeof(*inv->networks));
    json_object_foreach(json_object_get(recs, "networks"), k, x)
    {
        json_t *props = network_props(p, json_string_value(json_object_get(x, "id")));

        if (props)
            network_info_fill(&inv->networks[inv->n_networks++], k, props,
                              json_string_value(json_object_get(x, "project")));
        json_decref(props);
    }
    n = json_object_size(json_object_get(recs, "sandboxes"));
    inv->sandboxes = stk_xcalloc(n + 1, sizeof(*inv->sandboxes));
    json_object_foreach(json_object_get(recs, "sandboxes"), k, x)
        sandbox_info_fill(p, &inv->sandboxes[inv->n_sandboxes++], k, x);
    n = json_object_size(json_object_get(recs, "endpoints"));
    inv->endpoints = stk_xcalloc(n + 1, sizeof(*inv->endpoints));
    json_object_foreach(json_object_get(recs, "endpoints"), k, x)
        endpoint_info_fill(&inv->endpoints[inv->n_endpoints++], x);
    json_decref(recs);
    uv_mutex_unlock(&p->lock);
    return 0;
}

/* ---- plumbing ------------------------------------------------------------- */

static void hwork_run(uv_work_t *uw)
{
    struct hns_work *w = uw->data;
    struct stk_err *err = &w->err;
    int r = 0;

    if (w->req.canceled) {
        stk_err_set(err, STK_ECANCELED, 0, "operation canceled");
        return;
    }
    switch (w->kind) {
    case H_NET_CREATE:
        r = do_network_create(w, err);
        break;
    case H_NET_REMOVE:
        r = do_network_remove(w, err);
        break;
    case H_SB_CREATE:
        r = do_sandbox_create(w, err);
        break;
    case H_SB_REMOVE:
        r = do_sandbox_remove(w, err);
        break;
    case H_ATTACH:
        r = do_attach(w, err);
        break;
    case H_DETACH:
        r = do_detach(w, err);
        break;
    case H_CHECK:
        r = do_check(w, err);
        break;
    case H_LIST:
        r = do_list(w, err);
        break;
    }
    if (r < 0 && !err->code)
        stk_err_set(err, r, 0, "hns operation failed");
}

static void hwork_free(struct hns_work *w)
{
    free(w->name);
    free(w->sandbox);
    json_decref(w->args);
    stk_err_clear(&w->err);
    net_network_info_release(&w->network);
    net_sandbox_info_release(&w->sb);
    net_endpoint_info_release(&w->endpoint);
    net_inventory_release(&w->inventory);
    free(w);
}

static void hwork_after(uv_work_t *uw, int status)
{
    struct hns_work *w = uw->data;

    if (status == UV_ECANCELED)
        stk_err_set(&w->err, STK_ECANCELED, 0, "operation canceled");
    if (w->err.code) {
        w->done(&w->req, NULL, &w->err, w->userdata);
    } else {
        switch (w->kind) {
        case H_NET_CREATE:
            w->res.kind = NET_RESULT_NETWORK;
            w->res.network = &w->network;
            break;
        case H_SB_CREATE:
            w->res.kind = NET_RESULT_SANDBOX;
            w->res.sandbox = &w->sb;
            break;
        case H_ATTACH:
        case H_CHECK:
            w->res.kind = NET_RESULT_ENDPOINT;
            w->res.endpoint = &w->endpoint;
            break;
        case H_LIST:
            w->res.kind = NET_RESULT_LIST;
            w->res.inventory = &w->inventory;
            break;
        default:
            w->res.kind = NET_RESULT_NONE;
        }
        w->done(&w->req, &w->res, NULL, w->userdata);
    }
    hwork_free(w);
}

static void hwork_cancel(struct net_req *req)
{
    struct hns_work *w = (struct hns_work *)req;

    uv_cancel((uv_req_t *)&w->work);
}

static int hwork_start(struct net_ctx *ctx, enum hns_kind kind, const char *name,
                       const char *sandbox, json_t *args, net_done_fn *done, void *userdata,
                       struct net_req **ret_req, struct stk_err *err)
{
    struct hns_priv *p = ctx->priv;
    struct hns_work *w;
    int r;

    if (!done || !name) {
        json_decref(args);
        return stk_err_set(err, STK_EINVAL, 0, "hns: missing argument");
    }
    if (!p->api) {
        json_decref(args);
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", p->reason[0] ? p->reason : HNS_UNAVAILABLE);
    }
    w = stk_new0(struct hns_work);
    w->req.ctx = ctx;
    w->req.cancel = hwork_cancel;
    w->kind = kind;
    w->priv = p;
    w->name = stk_xstrdup(name);
    w->sandbox = stk_xstrdup(sandbox);
    w->args = args;
    w->done = done;
    w->userdata = userdata;
    w->work.data = w;
    r = uv_queue_work(ctx->loop, &w->work, hwork_run, hwork_after);
    if (r < 0) {
        hwork_free(w);
        return stk_err_set(err, STK_ENET, 0, "queue hns work: %s", uv_strerror(r));
    }
    if (ret_req)
        *ret_req = &w->req;
    return 0;
}

static int hns_init(struct net_ctx *ctx, struct stk_err *err)
{
    struct hns_priv *p = ctx->priv;

    (void)err;
    p->ctx = ctx;
    uv_mutex_init(&p->lock);
#if STK_HAVE_HCS
    {
        struct stk_err e = STK_ERR_INIT;

        p->api = net_hns_api_win32(&e);
        if (!p->api)
            snprintf(p->reason, sizeof(p->reason), "%s", e.msg);
        stk_err_clear(&e);
    }
#else
    snprintf(p->reason, sizeof(p->reason), "%s", HNS_UNAVAILABLE);
#endif
    return 0;
}

static void hns_fini(struct net_ctx *ctx)
{
    struct hns_priv *p = ctx->priv;

    uv_mutex_destroy(&p->lock);
}

static int hns_network_create(struct net_ctx *ctx, const struct net_network_spec *spec,
                              net_done_fn *done, void *userdata, struct net_req **ret_req,
                              struct stk_err *err)
{
    json_t *a;

    if (!spec || !spec->name)
        return stk_err_set(err, STK_EINVAL, 0, "hns: network without a name");
    a = json_pack("{s:s,s:b}", "name", spec->name, "internal", spec->internal);
    if (spec->subnet)
        json_object_set_new(a, "subnet", json_string(spec->subnet));
    if (spec->gateway)
        json_object_set_new(a, "gateway", json_string(spec->gateway));
    if (spec->project)
        json_object_set_new(a, "project", json_string(spec->project));
    return hwork_start(ctx, H_NET_CREATE, spec->name, NULL, a, done, userdata, ret_req, err);
}

static int hns_network_remove(struct net_ctx *ctx, const char *name, net_done_fn *done,
                              void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    return hwork_start(ctx, H_NET_REMOVE, name, NULL, NULL, done, userdata, ret_req, err);
}

static int hns_sandbox_create(struct net_ctx *ctx, const struct net_sandbox_spec *spec,
                              net_done_fn *done, void *userdata, struct net_req **ret_req,
                              struct stk_err *err)
{
    json_t *a;

    if (!spec || !spec->id)
        return stk_err_set(err, STK_EINVAL, 0, "hns: sandbox without an id");
    a = json_object();
    if (spec->hostname)
        json_object_set_new(a, "hostname", json_string(spec->hostname));
    if (spec->project)
        json_object_set_new(a, "project", json_string(spec->project));
    return hwork_start(ctx, H_SB_CREATE, spec->id, NULL, a, done, userdata, ret_req, err);
}

static int hns_sandbox_remove(struct net_ctx *ctx, const char *id, net_done_fn *done,
                              void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    return hwork_start(ctx, H_SB_REMOVE, id, NULL, NULL, done, userdata, ret_req, err);
}

static int hns_attach(struct net_ctx *ctx, const struct net_attachment *att, net_done_fn *done,
                      void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    json_t *a, *ports, *aliases;

    if (!att || !att->network || !att->sandbox)
        return stk_err_set(err, STK_EINVAL, 0, "hns: attachment without network or sandbox");
    ports = json_array();
    aliases = json_array();
    for (size_t i = 0; i < att->n_ports; i++)
        json_array_append_new(ports,
                              json_pack("{s:i,s:i,s:s,s:s}", "host_port", att->ports[i].host_port,
                                        "container_port", att->ports[i].container_port, "protocol",
                                        att->ports[i].protocol, "host_ip", att->ports[i].host_ip));
    for (size_t i = 0; att->aliases && att->aliases[i]; i++)
        json_array_append_new(aliases, json_string(att->aliases[i]));
    a = json_pack("{s:s,s:s,s:o,s:o}", "network", att->network, "sandbox", att->sandbox, "ports",
                  ports, "aliases", aliases);
    if (att->ifname)
        json_object_set_new(a, "ifname", json_string(att->ifname));
    if (att->ipv4_address)
        json_object_set_new(a, "ipv4", json_string(att->ipv4_address));
    return hwork_start(ctx, H_ATTACH, att->network, att->sandbox, a, done, userdata, ret_req, err);
}

static int hns_detach(struct net_ctx *ctx, const char *network, const char *sandbox,
                      net_done_fn *done, void *userdata, struct net_req **ret_req,
                      struct stk_err *err)
{
    if (!sandbox)
        return stk_err_set(err, STK_EINVAL, 0, "hns: detach without a sandbox");
    return hwork_start(ctx, H_DETACH, network, sandbox, NULL, done, userdata, ret_req, err);
}

static int hns_check(struct net_ctx *ctx, const char *network, const char *sandbox,
                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                     struct stk_err *err)
{
    if (!sandbox)
        return stk_err_set(err, STK_EINVAL, 0, "hns: check without a sandbox");
    return hwork_start(ctx, H_CHECK, network, sandbox, NULL, done, userdata, ret_req, err);
}

static int hns_list(struct net_ctx *ctx, net_done_fn *done, void *userdata,
                    struct net_req **ret_req, struct stk_err *err)
{
    return hwork_start(ctx, H_LIST, "", NULL, NULL, done, userdata, ret_req, err);
}

/* ops->namespace_endpoints: HCN's own listing (blocking, no state of ours is touched). */
static int hns_namespace_endpoints(struct net_ctx *ctx, const char *namespace_id, char ***ret_ids,
                                   char ***ret_macs, struct stk_err *err)
{
    struct hns_priv *p = ctx->priv;

    if (!p->api)
        return stk_err_set(err, STK_EUNAVAIL, 0, "HNS is not available on this host");
    return net_hns_namespace_endpoints(p->api, namespace_id, ret_ids, ret_macs, err);
}

static const struct net_plugin_ops hns_ops = {
    .init = hns_init,
    .fini = hns_fini,
    .network_create = hns_network_create,
    .network_remove = hns_network_remove,
    .sandbox_create = hns_sandbox_create,
    .sandbox_remove = hns_sandbox_remove,
    .attach = hns_attach,
    .detach = hns_detach,
    .check = hns_check,
    .list = hns_list,
    .namespace_endpoints = hns_namespace_endpoints,
};

const struct net_plugin net_plugin_hns = {
    .name = "hns",
    .abi_version = NET_PLUGIN_ABI_1,
    .caps = 0,
    .priv_size = sizeof(struct hns_priv),
    .ops = &hns_ops,
};

struct net_ctx *net_hns_ctx_new(uv_loop_t *loop, const char *state_dir, const char *run_dir,
                                const struct hcn_api *api, struct stk_err *err)
{
    struct net_ctx *ctx;
    struct hns_priv *p;

    if (!api) {
        stk_err_set(err, STK_EINVAL, 0, "hns: an api table is needed");
        return NULL;
    }
    ctx = net_ctx_new(&net_plugin_hns, loop, state_dir, run_dir, err);
    if (!ctx)
        return NULL;
    p = ctx->priv;
    p->api = api;
    p->reason[0] = '\0';
    return ctx;
}
