/*
 * bridge-plugin.c - the native bridge plug-in (`net_plugin_bridge`): its
 * descriptor over the CNI plug-in's state machines, and the in-process
 * plugin types they run instead of plugin processes (net-bridge.h).
 */
#include "netplugins/bridge/net-bridge.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-sha256.h"
#include "netplugins/cni/net-cni.h"

const struct net_plugin net_plugin_bridge = {
    .name = "bridge",
    .abi_version = NET_PLUGIN_ABI_1,
    .caps = 0,
    .priv_size = sizeof(struct net__cni_priv),
    .ops = &net__cni_native_ops,
};

static void hash8(const char *s, char out[9])
{
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];

    stk_sha256(s, strlen(s), md);
    stk_sha256_hex(md, hex);
    memcpy(out, hex, 8);
    out[8] = 0;
}

void net__bridge_table_name(const char *state_dir, char out[16])
{
    char h[9];

    hash8(state_dir, h);
    snprintf(out, 16, "stk_%s", h);
}

static void veth_name(const char *state_dir, const char *containerid, const char *ifname,
                      char out[16])
{
    char *q = stk_xasprintf("%s\n%s\n%s", state_dir, containerid, ifname);
    char h[9];

    hash8(q, h);
    free(q);
    snprintf(out, 16, "stv%s", h);
}

int net__bridge_type_native(const char *type)
{
    return type && (strcmp(type, NET_BRIDGE_TYPE) == 0 || strcmp(type, "loopback") == 0);
}

static const char *jstr(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static int prefix_of(const char *cidr)
{
    const char *s = cidr ? strchr(cidr, '/') : NULL;

    return s ? atoi(s + 1) : 24;
}

/* ---- the table ---- */

static void nft_base(struct stk_buf *b, const char *t)
{
    stk_buf_printf(b,
                   "add table ip %s\n"
                   "add map ip %s port_tcp { type inet_service : ipv4_addr . inet_service; }\n"
                   "add map ip %s port_udp { type inet_service : ipv4_addr . inet_service; }\n"
                   "add map ip %s port_tcp_ip { type ipv4_addr . inet_service : "
                   "ipv4_addr . inet_service; }\n"
                   "add map ip %s port_udp_ip { type ipv4_addr . inet_service : "
                   "ipv4_addr . inet_service; }\n"
                   "add set ip %s bridges { type ifname; }\n"
                   "add map ip %s fwd_vmap { type ifname : verdict; }\n"
                   "add map ip %s nat_vmap { type ifname : verdict; }\n"
                   "add chain ip %s prerouting { type nat hook prerouting priority dstnat; "
                   "policy accept; }\n"
                   "add chain ip %s output { type nat hook output priority -100; "
                   "policy accept; }\n"
                   "add chain ip %s postrouting { type nat hook postrouting priority srcnat; "
                   "policy accept; }\n"
                   "add chain ip %s forward { type filter hook forward priority filter; "
                   "policy accept; }\n"
                   "add chain ip %s ports\n",
                   t, t, t, t, t, t, t, t, t, t, t, t, t);
    /* Flushed and refilled in the same batch: running it again changes nothing. */
    stk_buf_printf(b,
                   "flush chain ip %s prerouting\n"
                   "flush chain ip %s output\n"
                   "flush chain ip %s postrouting\n"
                   "flush chain ip %s forward\n"
                   "flush chain ip %s ports\n"
                   "add rule ip %s prerouting fib daddr type local jump ports\n"
                   "add rule ip %s output fib daddr type local jump ports\n"
                   "add rule ip %s ports dnat ip to ip daddr . tcp dport map @port_tcp_ip\n"
                   "add rule ip %s ports dnat ip to tcp dport map @port_tcp\n"
                   "add rule ip %s ports dnat ip to ip daddr . udp dport map @port_udp_ip\n"
                   "add rule ip %s ports dnat ip to udp dport map @port_udp\n"
                   "add rule ip %s postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade\n"
                   "add rule ip %s postrouting iifname vmap @nat_vmap\n"
                   "add rule ip %s forward iifname vmap @fwd_vmap\n",
                   t, t, t, t, t, t, t, t, t, t, t, t, t, t);
}

/*
 * Collects the handles of the rules `iifname BR accept` / `oifname BR accept`
 * of iptables' FORWARD chain into HANDLES (an array); returns -1 when the
 * chain does not exist.
 */
static int forward_rules(const char *br, json_t *handles)
{
    struct stk_err e = STK_ERR_INIT;
    json_t *j = NULL, *items, *it;
    size_t i;

    if (net__bridge_nft_query("list chain ip filter FORWARD", &j, &e) < 0) {
        stk_err_clear(&e);
        return -1;
    }
    items = json_object_get(j, "nftables");
    json_array_foreach(items, i, it)
    {
        json_t *rule = json_object_get(it, "rule"), *ex = json_object_get(rule, "expr");
        json_t *m = json_object_get(json_array_get(ex, 0), "match");
        const char *key = jstr(json_object_get(json_object_get(m, "left"), "meta"), "key");
        const char *right = json_string_value(json_object_get(m, "right"));

        if (!rule || json_array_size(ex) != 2 || !json_object_get(json_array_get(ex, 1), "accept"))
            continue;
        if (key && right && strcmp(right, br) == 0 &&
            (strcmp(key, "iifname") == 0 || strcmp(key, "oifname") == 0))
            json_array_append(handles, json_object_get(rule, "handle"));
    }
    json_decref(j);
    return 0;
}

static int forward_accept(const char *br, struct stk_err *err)
{
    json_t *h = json_array();
    int ret = 0;

    if (forward_rules(br, h) == 0 && json_array_size(h) < 2) {
        char *cmd = stk_xasprintf("insert rule ip filter FORWARD iifname \"%s\" accept\n"
                                  "insert rule ip filter FORWARD oifname \"%s\" accept\n",
                                  br, br);

        ret = net__bridge_nft_run(cmd, err);
        free(cmd);
    }
    json_decref(h);
    return ret < 0 ? stk_err_wrap(err, "accept rules in iptables' FORWARD") : 0;
}

static void forward_remove(const char *br)
{
    json_t *h = json_array(), *v;
    size_t i;

    if (forward_rules(br, h) == 0) {
        json_array_foreach(h, i, v)
        {
            char *cmd = stk_xasprintf("delete rule ip filter FORWARD handle %lld",
                                      (long long)json_integer_value(v));
            struct stk_err e = STK_ERR_INIT;

            net__bridge_nft_run(cmd, &e);
            stk_err_clear(&e);
            free(cmd);
        }
    }
    json_decref(h);
}

int net__bridge_network_setup(const char *state_dir, const json_t *rec, struct stk_err *err)
{
    const char *br = jstr(rec, "bridge"), *subnet = jstr(rec, "subnet");
    const char *gw = jstr(rec, "gateway"), *name = jstr(rec, "name");
    int internal = json_is_true(json_object_get(rec, "internal"));
    char t[16], mac[18];
    struct stk_buf b;
    char *q;
    int ret;

    if (!br || !subnet || !gw || !name)
        return stk_err_set(err, STK_EINVAL, 0, "network record lacks bridge, subnet or gateway");
    /*
     * The rules go first and the bridge last: a bridge that exists has its
     * rules (a crash in between leaves no bridge, which list reports and the
     * next create or attach makes again, rules first).
     */
    net__bridge_table_name(state_dir, t);
    stk_buf_init(&b, 4096);
    nft_base(&b, t);
    stk_buf_printf(&b,
                   "add chain ip %s f_%s\n"
                   "add chain ip %s n_%s\n"
                   "flush chain ip %s f_%s\n"
                   "flush chain ip %s n_%s\n"
                   "add rule ip %s f_%s oifname \"%s\" accept\n"
                   "add rule ip %s f_%s oifname @bridges drop\n",
                   t, br, t, br, t, br, t, br, t, br, br, t, br);
    if (internal)
        stk_buf_printf(&b, "add rule ip %s f_%s drop\n", t, br);
    else
        stk_buf_printf(&b, "add rule ip %s n_%s ip saddr %s ip daddr != %s masquerade\n", t, br,
                       subnet, subnet);
    stk_buf_printf(&b,
                   "add element ip %s bridges { \"%s\" }\n"
                   "add element ip %s fwd_vmap { \"%s\" : jump f_%s }\n"
                   "add element ip %s nat_vmap { \"%s\" : jump n_%s }\n",
                   t, br, t, br, br, t, br, br);
    ret = net__bridge_nft_run(b.buf, err);
    stk_buf_release(&b);
    if (ret < 0)
        return stk_err_wrap(err, "network '%s' rules", name);
    ret = forward_accept(br, err);
    if (ret < 0)
        return ret;
    q = stk_xasprintf("%s\n%s", state_dir, name);
    net__cni_bridge_mac(q, mac);
    free(q);
    ret = net__bridge_link_bridge(br, mac, gw, prefix_of(subnet), err);
    return ret < 0 ? stk_err_wrap(err, "create bridge '%s'", br) : 0;
}

/* Runs each line of CMDS on its own, ignoring failures (a removal of what may be gone). */
static void nft_each(const char *cmds)
{
    const char *p = cmds;

    while (*p) {
        size_t n = strcspn(p, "\n");
        char *line = stk_xstrndup(p, n);
        struct stk_err e = STK_ERR_INIT;

        if (*line)
            net__bridge_nft_run(line, &e);
        stk_err_clear(&e);
        free(line);
        p += n;
        if (*p)
            p++;
    }
}

static int table_exists(const char *t)
{
    char *cmd = stk_xasprintf("list table ip %s", t);
    struct stk_err e = STK_ERR_INIT;
    int r = net__bridge_nft_run(cmd, &e);

    stk_err_clear(&e);
    free(cmd);
    return r == 0;
}

int net__bridge_network_teardown(const char *state_dir, const json_t *rec, int last,
                                 struct stk_err *err)
{
    const char *br = jstr(rec, "bridge");
    char t[16];
    struct stk_buf b;
    int ret = 0;

    net__bridge_table_name(state_dir, t);
    if (br && table_exists(t)) {
        stk_buf_init(&b, 1024);
        stk_buf_printf(&b,
                       "delete element ip %s fwd_vmap { \"%s\" }\n"
                       "delete element ip %s nat_vmap { \"%s\" }\n"
                       "delete element ip %s bridges { \"%s\" }\n"
                       "delete chain ip %s f_%s\n"
                       "delete chain ip %s n_%s\n",
                       t, br, t, br, t, br, t, br, t, br);
        if (net__bridge_nft_run(b.buf, err) < 0) {
            /* Part of it is gone already: remove the rest piece by piece. */
            stk_err_clear(err);
            nft_each(b.buf);
        }
        stk_buf_release(&b);
    }
    if (last && table_exists(t)) {
        char *cmd = stk_xasprintf("delete table ip %s", t);

        ret = net__bridge_nft_run(cmd, err);
        free(cmd);
        if (ret < 0)
            return ret;
    }
    if (br) {
        forward_remove(br);
        ret = net__bridge_link_del(br, err);
    }
    return ret;
}

/* ---- ports ---- */

/* Appends VERB ("add", "delete", "get") element lines for every mapping of RUNTIME_CONFIG. */
static int ports_cmds(struct stk_buf *b, const char *verb, const char *t, const json_t *conf,
                      const char *ip)
{
    json_t *pm = json_object_get(json_object_get(conf, "runtimeConfig"), "portMappings"), *m;
    size_t i;
    int n = 0;

    json_array_foreach(pm, i, m)
    {
        const char *proto = jstr(m, "protocol") ?: "tcp";
        const char *hip = jstr(m, "hostIP");
        json_int_t hp = json_integer_value(json_object_get(m, "hostPort"));
        json_int_t cp = json_integer_value(json_object_get(m, "containerPort"));
        int any = !hip || !*hip || strcmp(hip, "0.0.0.0") == 0;
        struct in_addr a;

        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
            continue;
        if (!any && inet_pton(AF_INET, hip, &a) != 1)
            continue; /* an IPv6 host address: the table is IPv4 */
        if (any)
            stk_buf_printf(b, "%s element ip %s port_%s { %lld", verb, t, proto, (long long)hp);
        else
            stk_buf_printf(b, "%s element ip %s port_%s_ip { %s . %lld", verb, t, proto, hip,
                           (long long)hp);
        if (strcmp(verb, "add") == 0)
            stk_buf_printf(b, " : %s . %lld", ip, (long long)cp);
        stk_buf_puts(b, " }\n");
        n++;
    }
    return n;
}

int net__bridge_ports_batch(struct stk_buf *b, int on, const char *state_dir, const json_t *ports,
                            const char *ip)
{
    json_t *pm = json_array(), *v, *conf;
    char t[16];
    size_t i;
    int n;

    json_array_foreach(ports, i, v)
    {
        json_t *m = json_pack("{s:O, s:O, s:O}", "hostPort", json_object_get(v, "host_port"),
                              "containerPort", json_object_get(v, "container_port"), "protocol",
                              json_object_get(v, "protocol"));
        const char *hip = jstr(v, "host_ip");

        if (m && hip && *hip)
            json_object_set_new(m, "hostIP", json_string(hip));
        if (m)
            json_array_append_new(pm, m);
    }
    conf = json_pack("{s:{s:o}}", "runtimeConfig", "portMappings", pm);
    net__bridge_table_name(state_dir, t);
    n = ports_cmds(b, on ? "add" : "delete", t, conf, ip);
    json_decref(conf);
    return n;
}

/* ---- the in-process plugin ---- */

static const char *result_ip(const json_t *prev, char out[16])
{
    json_t *ips = json_object_get(prev, "ips"), *v;
    size_t i;

    json_array_foreach(ips, i, v)
    {
        const char *a = jstr(v, "address");

        if (a && strchr(a, '.') && strchr(a, '/')) {
            snprintf(out, 16, "%.*s", (int)(strchr(a, '/') - a), a);
            return out;
        }
    }
    return NULL;
}

static char *static_ip(const char *cni_args)
{
    const char *p = cni_args ? strstr(cni_args, "IP=") : NULL;

    if (!p || (p != cni_args && p[-1] != ';'))
        return NULL;
    p += 3;
    return stk_xstrndup(p, strcspn(p, ";"));
}

static int exec_add(const json_t *conf, const char *containerid, const char *netns,
                    const char *ifname, const char *cni_args, json_t **ret_result,
                    struct stk_err *err)
{
    const char *name = jstr(conf, "name"), *br = jstr(conf, "bridge");
    const char *subnet = jstr(conf, "subnet"), *gw = jstr(conf, "gateway");
    const char *dir = jstr(conf, "dataDir"), *state = jstr(conf, "stateDir");
    int internal = json_is_true(json_object_get(conf, "internal"));
    char ip[16], host[16], mac[18], t[16];
    char *owner = NULL, *want = static_ip(cni_args);
    struct stk_buf b;
    uint32_t a;
    int ret;

    stk_buf_init(&b, 256);
    if (!name || !br || !subnet || !gw || !dir || !state) {
        ret = stk_err_set(err, STK_EINVAL, 0, "%s: incomplete configuration", NET_BRIDGE_TYPE);
        goto out;
    }
    if (!*netns) {
        ret = stk_err_set(err, STK_ENET, 0, "no network namespace");
        goto out;
    }
    owner = stk_xasprintf("%s/%s", containerid, ifname);
    ret = net__bridge_ipam_alloc(dir, name, subnet, gw, want, owner, ip, err);
    if (ret < 0)
        goto out;
    if (!net__bridge_link_exists(br)) {
        /* Gone since network_create: made again as it makes it, rules first. */
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", name, "bridge", br, "subnet",
                                subnet, "gateway", gw, "internal", internal);

        ret = net__bridge_network_setup(state, rec, err);
        json_decref(rec);
        if (ret < 0)
            goto out;
    }
    inet_pton(AF_INET, ip, &a);
    a = ntohl(a);
    snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x", a >> 24, (a >> 16) & 255,
             (a >> 8) & 255, a & 255);
    veth_name(state, containerid, ifname, host);
    ret = net__bridge_link_veth(netns, host, br, ifname, mac, ip, prefix_of(subnet),
                                internal ? NULL : gw, err);
    if (ret < 0)
        goto out;
    net__bridge_table_name(state, t);
    if (ports_cmds(&b, "add", t, conf, ip) > 0) {
        ret = net__bridge_nft_run(b.buf, err);
        if (ret < 0) {
            stk_err_wrap(err, "publish ports");
            goto out;
        }
    }
    {
        char *cidr = stk_xasprintf("%s/%d", ip, prefix_of(subnet));

        *ret_result = json_pack("{s:s, s:[{s:s}, {s:s}, {s:s, s:s, s:s}], s:[{s:s, s:s, s:i}]}",
                                "cniVersion", NET_CNI_VERSION, "interfaces", "name", br, "name",
                                host, "name", ifname, "mac", mac, "sandbox", netns, "ips",
                                "address", cidr, "gateway", gw, "interface", 2);
        free(cidr);
    }
out:
    stk_buf_release(&b);
    free(owner);
    free(want);
    return ret;
}

static int exec_del(const json_t *conf, const char *containerid, const char *ifname,
                    struct stk_err *err)
{
    const char *name = jstr(conf, "name"), *dir = jstr(conf, "dataDir");
    const char *state = jstr(conf, "stateDir");
    char ip[16], host[16], t[16];
    const char *have;
    char *owner;
    struct stk_buf b;
    int ret = 0;

    if (!name || !dir || !state)
        return stk_err_set(err, STK_EINVAL, 0, "%s: incomplete configuration", NET_BRIDGE_TYPE);
    owner = stk_xasprintf("%s/%s", containerid, ifname);
    have = result_ip(json_object_get(conf, "prevResult"), ip);
    if (!have && net__bridge_ipam_lookup(dir, name, owner, ip, err) == 0)
        have = ip;
    stk_err_clear(err);
    net__bridge_table_name(state, t);
    stk_buf_init(&b, 256);
    if (have && ports_cmds(&b, "delete", t, conf, ip) > 0 && table_exists(t) &&
        net__bridge_nft_run(b.buf, err) < 0) {
        stk_err_clear(err);
        nft_each(b.buf);
    }
    stk_buf_release(&b);
    veth_name(state, containerid, ifname, host);
    ret = net__bridge_link_del(host, err);
    if (ret == 0)
        ret = net__bridge_ipam_release(dir, name, owner, err);
    free(owner);
    return ret;
}

static int exec_check(const json_t *conf, const char *containerid, const char *netns,
                      const char *ifname, struct stk_err *err)
{
    const char *br = jstr(conf, "bridge"), *state = jstr(conf, "stateDir");
    char ip[16], host[16], t[16];
    struct stk_buf b;
    int ret;

    if (!br || !state || !result_ip(json_object_get(conf, "prevResult"), ip))
        return stk_err_set(err, STK_EINVAL, 0, "%s CHECK: no prevResult", NET_BRIDGE_TYPE);
    if (!*netns)
        return stk_err_set(err, STK_ENET, 0, "network namespace is gone");
    veth_name(state, containerid, ifname, host);
    ret = net__bridge_link_check(netns, host, br, ifname, ip, err);
    if (ret < 0)
        return ret;
    net__bridge_table_name(state, t);
    stk_buf_init(&b, 256);
    if (ports_cmds(&b, "get", t, conf, ip) > 0 && net__bridge_nft_run(b.buf, err) < 0)
        ret = stk_err_wrap(err, "published port missing");
    stk_buf_release(&b);
    return ret;
}

int net__bridge_exec(const char *type, const char *cmd, const json_t *conf, const char *containerid,
                     const char *netns, const char *ifname, const char *cni_args,
                     json_t **ret_result, struct stk_err *err)
{
    if (strcmp(type, "loopback") == 0) {
        if (strcmp(cmd, "ADD") == 0) {
            int r = net__bridge_link_lo_up(netns, err);

            if (r == 0)
                *ret_result = json_pack("{s:s, s:[{s:s, s:s}]}", "cniVersion", NET_CNI_VERSION,
                                        "interfaces", "name", "lo", "sandbox", netns);
            return r;
        }
        return 0;
    }
    if (strcmp(cmd, "ADD") == 0)
        return exec_add(conf, containerid, netns, ifname, cni_args, ret_result, err);
    if (strcmp(cmd, "DEL") == 0)
        return exec_del(conf, containerid, ifname, err);
    if (strcmp(cmd, "CHECK") == 0)
        return exec_check(conf, containerid, netns, ifname, err);
    return stk_err_set(err, STK_EINVAL, 0, "%s: unknown command '%s'", NET_BRIDGE_TYPE, cmd);
}
