/*
 * hcsemu-hcn.c - the emulated computenetwork.dll (struct hcn_api): networks,
 * endpoints and namespaces with the field rules of reference/hcs-hns.md §4
 * (numeric PortMapping protocols, read-only HostComputeNamespace, one
 * namespace per endpoint, port conflicts, reserved addresses).
 */
#include "tests/hcsemu/hcsemu.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/win-error.h"

struct emu_net {
    char id[37];
    char *name;
    json_t *doc;
    uint32_t subnet; /* host order */
    int prefix;
    int removed;
    struct emu_net *next;
};

struct emu_port {
    int proto, ext, in;
};

struct emu_ep {
    char id[37];
    char *name;
    char net_id[37];
    char ns_id[37]; /* "" when in no namespace */
    uint32_t ip;
    int prefix;
    char mac[18];
    json_t *policies;
    struct emu_port ports[16];
    int n_ports;
    int removed;
    struct emu_ep *next;
};

struct emu_ns {
    char id[37];
    int removed;
    struct emu_ns *next;
};

/* Handles copy the id and look the object up on each call. */
struct hcn_network {
    char id[37];
};
struct hcn_endpoint {
    char id[37];
};
struct hcn_namespace {
    char id[37];
};

static struct emu_net *nets;
static struct emu_ep *eps;
static struct emu_ns *nss;
static int open_handles;
static unsigned mac_counter;

static int32_t fail(int32_t hr, const char *msg, char **ret_error_record)
{
    if (ret_error_record) {
        json_t *j = json_pack("{s:i,s:s}", "Error", (int)hr, "ErrorMessage", msg);

        *ret_error_record = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    return hr;
}

/* Prologue of every call: error record reset, call counted, injection applied. */
static int begin(const char *call, char **ret_error_record, int32_t *ret_hr)
{
    int32_t hr;

    if (ret_error_record)
        *ret_error_record = NULL;
    hcsemu__lock();
    hcsemu__count_call(call);
    if (hcsemu__take_injection(call, &hr)) {
        *ret_hr = fail(hr, "injected failure", ret_error_record);
        hcsemu__unlock();
        return 1;
    }
    return 0;
}

static struct emu_net *find_net(const char *id)
{
    for (struct emu_net *n = nets; n; n = n->next)
        if (!n->removed && strcasecmp(n->id, id) == 0)
            return n;
    return NULL;
}

static struct emu_ep *find_ep(const char *id)
{
    for (struct emu_ep *e = eps; e; e = e->next)
        if (!e->removed && strcasecmp(e->id, id) == 0)
            return e;
    return NULL;
}

static struct emu_ns *find_ns(const char *id)
{
    for (struct emu_ns *n = nss; n; n = n->next)
        if (!n->removed && strcasecmp(n->id, id) == 0)
            return n;
    return NULL;
}

int hcsemu__endpoint_exists(const char *id)
{
    return find_ep(id) != NULL; /* called with the lock held */
}

int hcsemu__namespace_exists(const char *id)
{
    return find_ns(id) != NULL; /* called with the lock held */
}

static void pick_id(const char *requested, char out[37])
{
    if (!requested || strcmp(requested, NET_HNS_NULL_GUID) == 0)
        hcsemu__guid(out);
    else
        snprintf(out, 37, "%s", requested);
}

static int parse_cidr(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
    char buf[64];
    char *slash;
    struct in_addr a;
    int prefix;

    if (!s || strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    slash = strchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    prefix = atoi(slash + 1);
    if (inet_pton(AF_INET, buf, &a) != 1 || prefix < 8 || prefix > 30)
        return -1;
    *ret_addr = ntohl(a.s_addr) & (0xFFFFFFFFu << (32 - prefix));
    *ret_prefix = prefix;
    return 0;
}

static void ip_str(uint32_t ip, char out[16])
{
    struct in_addr a = {htonl(ip)};

    inet_ntop(AF_INET, &a, out, 16);
}

/* ---- networks ------------------------------------------------------------- */

static int32_t net_create(const char *id, const char *settings, struct hcn_network **ret,
                          char **ret_err)
{
    static const char *const types[] = {"NAT",      "ICS",        "Transparent",    "L2Bridge",
                                        "L2Tunnel", "Overlay",    "Private",        "Internal",
                                        "Mirrored", "Infiniband", "ConstrainedICS", NULL};
    json_t *doc = settings ? json_loads(settings, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(doc, "Type"));
    const char *prefix_s = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(doc, "Ipams"), 0), "Subnets"),
                       0),
        "IpAddressPrefix"));
    struct emu_net *n;
    int32_t hr = 0;
    int ok = 0;

    if (begin("create_network", ret_err, &hr)) {
        json_decref(doc);
        return hr;
    }
    for (size_t i = 0; type && types[i]; i++)
        if (strcmp(type, types[i]) == 0)
            ok = 1;
    if (!doc || !json_is_string(json_object_get(doc, "Name"))) {
        hr = fail(STK_WIN_E_INVALIDARG, "network settings need a Name", ret_err);
    } else if (!ok) {
        hr = fail(HCN_E_INVALID_NETWORK_TYPE, "invalid network type", ret_err);
    } else {
        n = stk_new0(struct emu_net);
        pick_id(id, n->id);
        if (find_net(n->id)) {
            free(n);
            hr = fail(STK_WIN_HRESULT_ERROR_ALREADY_EXISTS, "network exists", ret_err);
        } else if (parse_cidr(prefix_s, &n->subnet, &n->prefix) < 0) {
            free(n);
            hr = fail(STK_WIN_E_INVALIDARG, "Ipams[0].Subnets[0].IpAddressPrefix is invalid",
                      ret_err);
        } else {
            n->name = stk_xstrdup(json_string_value(json_object_get(doc, "Name")));
            json_object_set_new(doc, "ID", json_string(n->id));
            n->doc = json_incref(doc);
            n->next = nets;
            nets = n;
            *ret = stk_new0(struct hcn_network);
            snprintf((*ret)->id, 37, "%s", n->id);
            open_handles++;
        }
    }
    hcsemu__unlock();
    json_decref(doc);
    return hr;
}

static int32_t net_open(const char *id, struct hcn_network **ret, char **ret_err)
{
    int32_t hr = 0;

    if (begin("open_network", ret_err, &hr))
        return hr;
    if (!id || !find_net(id)) {
        hr = fail(HCN_E_NETWORK_NOT_FOUND, "network not found", ret_err);
    } else {
        *ret = stk_new0(struct hcn_network);
        snprintf((*ret)->id, 37, "%s", find_net(id)->id);
        open_handles++;
    }
    hcsemu__unlock();
    return hr;
}

static int32_t net_query(struct hcn_network *h, const char *query, char **ret_props, char **ret_err)
{
    struct emu_net *n;
    int32_t hr = 0;

    (void)query;
    *ret_props = NULL;
    if (begin("query_network_properties", ret_err, &hr))
        return hr;
    n = h ? find_net(h->id) : NULL;
    if (!n)
        hr = fail(HCN_E_NETWORK_NOT_FOUND, "network not found", ret_err);
    else
        *ret_props = json_dumps(n->doc, JSON_COMPACT);
    hcsemu__unlock();
    return hr;
}

static int32_t net_delete(const char *id, char **ret_err)
{
    struct emu_net *n;
    int32_t hr = 0;

    if (begin("delete_network", ret_err, &hr))
        return hr;
    n = id ? find_net(id) : NULL;
    if (!n)
        hr = fail(HCN_E_NETWORK_NOT_FOUND, "network not found", ret_err);
    else
        n->removed = 1;
    hcsemu__unlock();
    return hr;
}

static void net_close(struct hcn_network *h)
{
    if (!h)
        return;
    hcsemu__lock();
    open_handles--;
    hcsemu__unlock();
    free(h);
}

static int32_t enumerate(const char *call, int kind, char **ret_ids, char **ret_err)
{
    json_t *a = json_array();
    int32_t hr = 0;

    *ret_ids = NULL;
    if (begin(call, ret_err, &hr)) {
        json_decref(a);
        return hr;
    }
    if (kind == 0)
        for (struct emu_net *n = nets; n; n = n->next)
            if (!n->removed)
                json_array_append_new(a, json_string(n->id));
    if (kind == 1)
        for (struct emu_ep *e = eps; e; e = e->next)
            if (!e->removed)
                json_array_append_new(a, json_string(e->id));
    if (kind == 2)
        for (struct emu_ns *n = nss; n; n = n->next)
            if (!n->removed)
                json_array_append_new(a, json_string(n->id));
    *ret_ids = json_dumps(a, JSON_COMPACT);
    hcsemu__unlock();
    json_decref(a);
    return hr;
}

static int32_t net_enumerate(const char *query, char **ret_ids, char **ret_err)
{
    (void)query;
    return enumerate("enumerate_networks", 0, ret_ids, ret_err);
}

/* ---- endpoints ------------------------------------------------------------ */

static int32_t ep_check_policies(json_t *policies, struct emu_ep *ep, char **ret_err)
{
    size_t i;
    json_t *p;

    json_array_foreach(policies, i, p)
    {
        json_t *st = json_object_get(p, "Settings");
        json_t *proto = json_object_get(st, "Protocol");
        int ext = (int)json_integer_value(json_object_get(st, "ExternalPort"));
        int in = (int)json_integer_value(json_object_get(st, "InternalPort"));

        if (strcmp(json_string_value(json_object_get(p, "Type")) ?: "", "PortMapping") != 0)
            continue;
        /* The protocol is a number, TCP 6 / UDP 17 (reference §4.3 and errata). */
        if (!json_is_integer(proto) ||
            (json_integer_value(proto) != 6 && json_integer_value(proto) != 17))
            return fail(STK_WIN_E_INVALIDARG, "PortMapping.Protocol must be 6 (TCP) or 17 (UDP)",
                        ret_err);
        if (ext < 1 || ext > 65535 || in < 1 || in > 65535)
            return fail(STK_WIN_E_INVALIDARG, "PortMapping ports must be 1..65535", ret_err);
        for (struct emu_ep *o = eps; o; o = o->next) {
            if (o->removed)
                continue;
            for (int k = 0; k < o->n_ports; k++)
                if (o->ports[k].ext == ext && o->ports[k].proto == json_integer_value(proto))
                    return fail(HCN_E_PORT_ALREADY_EXISTS, "the port mapping already exists",
                                ret_err);
        }
        if (ep->n_ports < (int)STK_ARRAY_SIZE(ep->ports))
            ep->ports[ep->n_ports++] = (struct emu_port){(int)json_integer_value(proto), ext, in};
    }
    return 0;
}

static int ip_in_use(uint32_t ip)
{
    for (struct emu_ep *o = eps; o; o = o->next)
        if (!o->removed && o->ip == ip)
            return 1;
    return 0;
}

static int32_t ep_create(struct hcn_network *nh, const char *id, const char *settings,
                         struct hcn_endpoint **ret, char **ret_err)
{
    json_t *doc = settings ? json_loads(settings, 0, NULL) : NULL;
    struct emu_net *n;
    struct emu_ep *e = NULL;
    const char *netref, *ipstr;
    int32_t hr = 0;

    if (begin("create_endpoint", ret_err, &hr)) {
        json_decref(doc);
        return hr;
    }
    n = nh ? find_net(nh->id) : NULL;
    netref = json_string_value(json_object_get(doc, "HostComputeNetwork"));
    if (!n) {
        hr = fail(HCN_E_NETWORK_NOT_FOUND, "network not found", ret_err);
        goto out;
    }
    if (!doc || !json_is_string(json_object_get(doc, "Name"))) {
        hr = fail(STK_WIN_E_INVALIDARG, "endpoint settings need a Name", ret_err);
        goto out;
    }
    if (json_object_get(doc, "HostComputeNamespace")) {
        hr = fail(STK_WIN_E_INVALIDARG, "HostComputeNamespace is read-only", ret_err);
        goto out;
    }
    if (netref && strcasecmp(netref, n->id) != 0) {
        hr = fail(STK_WIN_E_INVALIDARG, "HostComputeNetwork is not the network's id", ret_err);
        goto out;
    }
    e = stk_new0(struct emu_ep);
    hr = ep_check_policies(json_object_get(doc, "Policies"), e, ret_err);
    if (hr < 0)
        goto out;
    ipstr = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "IpConfigurations"), 0), "IpAddress"));
    if (ipstr) {
        struct in_addr a;
        uint32_t mask = 0xFFFFFFFFu << (32 - n->prefix);

        if (inet_pton(AF_INET, ipstr, &a) != 1 || (ntohl(a.s_addr) & mask) != n->subnet ||
            ip_in_use(ntohl(a.s_addr)) || (ntohl(a.s_addr) & ~mask) < 2) {
            /* What an unclean shutdown leaves behind (moby/moby#47576). */
            hr = fail(HCN_E_ADDR_INVALID_OR_RESERVED, "an address provided is invalid or reserved",
                      ret_err);
            goto out;
        }
        e->ip = ntohl(a.s_addr);
    } else {
        uint32_t size = 1u << (32 - n->prefix);

        for (uint32_t k = 2; k < size - 1 && !e->ip; k++)
            if (!ip_in_use(n->subnet + k))
                e->ip = n->subnet + k;
    }
    pick_id(id, e->id);
    if (find_ep(e->id)) {
        hr = fail(STK_WIN_HRESULT_ERROR_ALREADY_EXISTS, "endpoint exists", ret_err);
        goto out;
    }
    e->name = stk_xstrdup(json_string_value(json_object_get(doc, "Name")));
    snprintf(e->net_id, sizeof(e->net_id), "%s", n->id);
    e->prefix = n->prefix;
    mac_counter++;
    snprintf(e->mac, sizeof(e->mac), "00-15-5D-%02X-%02X-%02X", (mac_counter >> 16) & 0xFF,
             (mac_counter >> 8) & 0xFF, mac_counter & 0xFF);
    e->policies = json_incref(json_object_get(doc, "Policies"));
    e->next = eps;
    eps = e;
    e = NULL;
    *ret = stk_new0(struct hcn_endpoint);
    snprintf((*ret)->id, 37, "%s", eps->id);
    open_handles++;
out:
    free(e);
    hcsemu__unlock();
    json_decref(doc);
    return hr;
}

static int32_t ep_open(const char *id, struct hcn_endpoint **ret, char **ret_err)
{
    int32_t hr = 0;

    if (begin("open_endpoint", ret_err, &hr))
        return hr;
    if (!id || !find_ep(id)) {
        hr = fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint not found", ret_err);
    } else {
        *ret = stk_new0(struct hcn_endpoint);
        snprintf((*ret)->id, 37, "%s", find_ep(id)->id);
        open_handles++;
    }
    hcsemu__unlock();
    return hr;
}

static int32_t ep_query(struct hcn_endpoint *h, const char *query, char **ret_props, char **ret_err)
{
    struct emu_ep *e;
    int32_t hr = 0;

    (void)query;
    *ret_props = NULL;
    if (begin("query_endpoint_properties", ret_err, &hr))
        return hr;
    e = h ? find_ep(h->id) : NULL;
    if (!e) {
        hr = fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint not found", ret_err);
    } else {
        char ip[16];
        json_t *j;

        ip_str(e->ip, ip);
        j = json_pack("{s:s,s:s,s:s,s:{s:i,s:i},s:[{s:s,s:i}],s:s}", "ID", e->id, "Name", e->name,
                      "HostComputeNetwork", e->net_id, "SchemaVersion", "Major", 2, "Minor", 0,
                      "IpConfigurations", "IpAddress", ip, "PrefixLength", e->prefix, "MacAddress",
                      e->mac);
        if (e->ns_id[0])
            json_object_set_new(j, "HostComputeNamespace", json_string(e->ns_id));
        if (e->policies)
            json_object_set(j, "Policies", e->policies);
        *ret_props = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    hcsemu__unlock();
    return hr;
}

static int32_t ep_modify(struct hcn_endpoint *h, const char *settings, char **ret_err)
{
    int32_t hr = 0;

    (void)settings;
    if (begin("modify_endpoint", ret_err, &hr))
        return hr;
    if (!h || !find_ep(h->id))
        hr = fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint not found", ret_err);
    else
        hr = fail(STK_WIN_E_NOTIMPL, "emulator: endpoint modification is not emulated", ret_err);
    hcsemu__unlock();
    return hr;
}

static int32_t ep_delete(const char *id, char **ret_err)
{
    struct emu_ep *e;
    int32_t hr = 0;

    if (begin("delete_endpoint", ret_err, &hr))
        return hr;
    e = id ? find_ep(id) : NULL;
    if (!e)
        hr = fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint not found", ret_err);
    else
        e->removed = 1;
    hcsemu__unlock();
    return hr;
}

static void ep_close(struct hcn_endpoint *h)
{
    if (!h)
        return;
    hcsemu__lock();
    open_handles--;
    hcsemu__unlock();
    free(h);
}

static int32_t ep_enumerate(const char *query, char **ret_ids, char **ret_err)
{
    (void)query;
    return enumerate("enumerate_endpoints", 1, ret_ids, ret_err);
}

/* ---- namespaces ----------------------------------------------------------- */

static int32_t ns_create(const char *id, const char *settings, struct hcn_namespace **ret,
                         char **ret_err)
{
    json_t *doc = settings ? json_loads(settings, 0, NULL) : NULL;
    struct emu_ns *n;
    int32_t hr = 0;

    if (begin("create_namespace", ret_err, &hr)) {
        json_decref(doc);
        return hr;
    }
    if (!doc || !json_is_object(json_object_get(doc, "SchemaVersion"))) {
        hr = fail(STK_WIN_E_INVALIDARG, "namespace settings need a SchemaVersion", ret_err);
    } else {
        n = stk_new0(struct emu_ns);
        pick_id(id, n->id);
        n->next = nss;
        nss = n;
        *ret = stk_new0(struct hcn_namespace);
        snprintf((*ret)->id, 37, "%s", n->id);
        open_handles++;
    }
    hcsemu__unlock();
    json_decref(doc);
    return hr;
}

static int32_t ns_open(const char *id, struct hcn_namespace **ret, char **ret_err)
{
    int32_t hr = 0;

    if (begin("open_namespace", ret_err, &hr))
        return hr;
    if (!id || !find_ns(id)) {
        hr = fail(STK_WIN_HRESULT_ERROR_NOT_FOUND, "namespace not found", ret_err);
    } else {
        *ret = stk_new0(struct hcn_namespace);
        snprintf((*ret)->id, 37, "%s", find_ns(id)->id);
        open_handles++;
    }
    hcsemu__unlock();
    return hr;
}

static int32_t ns_query(struct hcn_namespace *h, const char *query, char **ret_props,
                        char **ret_err)
{
    struct emu_ns *n;
    int32_t hr = 0;

    (void)query;
    *ret_props = NULL;
    if (begin("query_namespace_properties", ret_err, &hr))
        return hr;
    n = h ? find_ns(h->id) : NULL;
    if (!n) {
        hr = fail(STK_WIN_HRESULT_ERROR_NOT_FOUND, "namespace not found", ret_err);
    } else {
        json_t *res = json_array();
        json_t *j;

        for (struct emu_ep *e = eps; e; e = e->next)
            if (!e->removed && strcasecmp(e->ns_id, n->id) == 0)
                json_array_append_new(
                    res, json_pack("{s:s,s:{s:s}}", "Type", "Endpoint", "Data", "ID", e->id));
        j = json_pack("{s:s,s:{s:i,s:i},s:o}", "ID", n->id, "SchemaVersion", "Major", 2, "Minor", 0,
                      "Resources", res);
        *ret_props = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    hcsemu__unlock();
    return hr;
}

static int32_t ns_modify(struct hcn_namespace *h, const char *settings, char **ret_err)
{
    json_t *doc = settings ? json_loads(settings, 0, NULL) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "RequestType"));
    const char *res = json_string_value(json_object_get(doc, "ResourceType"));
    const char *epid =
        json_string_value(json_object_get(json_object_get(doc, "Settings"), "EndpointId"));
    struct emu_ns *n;
    struct emu_ep *e;
    int32_t hr = 0;

    if (begin("modify_namespace", ret_err, &hr)) {
        json_decref(doc);
        return hr;
    }
    n = h ? find_ns(h->id) : NULL;
    e = epid ? find_ep(epid) : NULL;
    if (!n)
        hr = fail(STK_WIN_HRESULT_ERROR_NOT_FOUND, "namespace not found", ret_err);
    else if (!res || strcmp(res, "Endpoint") != 0 || !rt ||
             (strcmp(rt, "Add") != 0 && strcmp(rt, "Remove") != 0))
        hr = fail(STK_WIN_E_INVALIDARG, "expected ResourceType Endpoint, RequestType Add|Remove",
                  ret_err);
    else if (!e)
        hr = fail(HCN_E_ENDPOINT_NOT_FOUND, "endpoint not found", ret_err);
    else if (strcmp(rt, "Add") == 0) {
        if (e->ns_id[0] && strcasecmp(e->ns_id, n->id) != 0)
            hr = fail(HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS,
                      "the endpoint is already in another namespace", ret_err);
        else
            snprintf(e->ns_id, sizeof(e->ns_id), "%s", n->id);
    } else if (strcasecmp(e->ns_id, n->id) == 0) {
        e->ns_id[0] = '\0';
    }
    hcsemu__unlock();
    json_decref(doc);
    return hr;
}

static int32_t ns_delete(const char *id, char **ret_err)
{
    struct emu_ns *n;
    int32_t hr = 0;

    if (begin("delete_namespace", ret_err, &hr))
        return hr;
    n = id ? find_ns(id) : NULL;
    if (!n) {
        hr = fail(STK_WIN_HRESULT_ERROR_NOT_FOUND, "namespace not found", ret_err);
    } else {
        n->removed = 1;
        /* Emulator choice: endpoints of a deleted namespace are detached, not deleted. */
        for (struct emu_ep *e = eps; e; e = e->next)
            if (strcasecmp(e->ns_id, n->id) == 0)
                e->ns_id[0] = '\0';
    }
    hcsemu__unlock();
    return hr;
}

static void ns_close(struct hcn_namespace *h)
{
    if (!h)
        return;
    hcsemu__lock();
    open_handles--;
    hcsemu__unlock();
    free(h);
}

static int32_t ns_enumerate(const char *query, char **ret_ids, char **ret_err)
{
    (void)query;
    return enumerate("enumerate_namespaces", 2, ret_ids, ret_err);
}

static void hcn_free_string(char *s)
{
    free(s);
}

static const struct hcn_api hcn_table = {
    .name = "hcsemu",
    .create_network = net_create,
    .open_network = net_open,
    .query_network_properties = net_query,
    .delete_network = net_delete,
    .close_network = net_close,
    .enumerate_networks = net_enumerate,
    .create_endpoint = ep_create,
    .open_endpoint = ep_open,
    .query_endpoint_properties = ep_query,
    .modify_endpoint = ep_modify,
    .delete_endpoint = ep_delete,
    .close_endpoint = ep_close,
    .enumerate_endpoints = ep_enumerate,
    .create_namespace = ns_create,
    .open_namespace = ns_open,
    .query_namespace_properties = ns_query,
    .modify_namespace = ns_modify,
    .delete_namespace = ns_delete,
    .close_namespace = ns_close,
    .enumerate_namespaces = ns_enumerate,
    .free_string = hcn_free_string,
};

const struct hcn_api *hcsemu_hcn_api(void)
{
    return &hcn_table;
}

void hcsemu__hcn_free_all(void)
{
    while (nets) {
        struct emu_net *n = nets;

        nets = n->next;
        free(n->name);
        json_decref(n->doc);
        free(n);
    }
    while (eps) {
        struct emu_ep *e = eps;

        eps = e->next;
        free(e->name);
        json_decref(e->policies);
        free(e);
    }
    while (nss) {
        struct emu_ns *n = nss;

        nss = n->next;
        free(n);
    }
    open_handles = 0;
    mac_counter = 0;
}

static int count(int kind)
{
    int c = 0;

    hcsemu__lock();
    if (kind == 0)
        for (struct emu_net *n = nets; n; n = n->next)
            c += !n->removed;
    if (kind == 1)
        for (struct emu_ep *e = eps; e; e = e->next)
            c += !e->removed;
    if (kind == 2)
        for (struct emu_ns *n = nss; n; n = n->next)
            c += !n->removed;
    if (kind == 3)
        c = open_handles;
    hcsemu__unlock();
    return c;
}

int hcsemu_count_networks(void)
{
    return count(0);
}

int hcsemu_count_endpoints(void)
{
    return count(1);
}

int hcsemu_count_namespaces(void)
{
    return count(2);
}

int hcsemu_count_hcn_handles(void)
{
    return count(3);
}
