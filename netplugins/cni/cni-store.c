/*
 * cni-store.c - the plug-in's records under STATE/net (layout in net-cni.h),
 * the private subnet pool, and the per-sandbox hosts and resolv.conf files.
 * Everything here runs on the loop thread and touches only small files.
 * The hosts files are derived from the records through an in-memory view
 * (net-cni.h, "Hosts files"): an up of N services reads each record O(1)
 * times and writes O(N) hosts files, not O(N^2).
 */
#include "netplugins/cni/net-cni.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"

int net__cni_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 200)
        return 0;
    for (const char *c = name; *c; c++) {
        int alnum =
            (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        if (c == name ? !alnum : !(alnum || *c == '_' || *c == '.' || *c == '-'))
            return 0;
    }
    return 1;
}

int net__cni_hostname_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 253)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_'))
            return 0;
    return 1;
}

void net__cni_bridge_name(const char *name, char out[16])
{
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];

    stk_sha256(name, strlen(name), md);
    stk_sha256_hex(md, hex);
    snprintf(out, 16, "stk-%.8s", hex);
}

void net__cni_bridge_mac(const char *name, char out[18])
{
    uint8_t md[STK_SHA256_LEN];

    stk_sha256(name, strlen(name), md);
    /* 02: locally administered, unicast. */
    snprintf(out, 18, "02:%02x:%02x:%02x:%02x:%02x", md[4], md[5], md[6], md[7], md[8]);
}

int net__cni_json_load(const char *path, json_t **ret_json, struct stk_err *err)
{
    char *data = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *j;
    int r;

    r = stk_file_read(path, &data, &len, err);
    if (r < 0)
        return r;
    j = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!j)
        return stk_err_set(err, STK_ENET, 0, "parse '%s': %d:%d: %s", path, jerr.line, jerr.column,
                           jerr.text);
    *ret_json = j;
    return 0;
}

int net__cni_json_save(const char *path, const json_t *j, struct stk_err *err)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int r;

    if (!s)
        return stk_err_set(err, STK_ENOMEM, 0, "serialise '%s'", path);
    r = stk_file_write_atomic(path, s, strlen(s), 0644, 1, err);
    free(s);
    return r;
}

char *net__cni_network_path(const struct net__cni_priv *p, const char *name)
{
    return stk_xasprintf("%s/%s.json", p->networks_dir, name);
}

char *net__cni_conflist_path(const struct net__cni_priv *p, const char *name)
{
    return stk_xasprintf("%s/%s.conflist", p->conf_dir, name);
}

char *net__cni_sandbox_path(const struct net__cni_priv *p, const char *id)
{
    return stk_xasprintf("%s/%s.json", p->sandboxes_dir, id);
}

char *net__cni_endpoint_dir(const struct net__cni_priv *p, const char *sandbox)
{
    return stk_xasprintf("%s/%s", p->endpoints_dir, sandbox);
}

char *net__cni_endpoint_path(const struct net__cni_priv *p, const char *sandbox,
                             const char *network)
{
    return stk_xasprintf("%s/%s/%s.json", p->endpoints_dir, sandbox, network);
}

char *net__cni_pin_path(const struct net__cni_priv *p, const char *id)
{
    return stk_xasprintf("%s/%s", p->netns_dir, id);
}

int net__cni_list_dir(const char *dir, const char *suffix, char ***ret_names, struct stk_err *err)
{
    size_t sl = strlen(suffix);
    struct stk_strv names = STK_STRV_INIT;
    struct dirent *de;
    DIR *d;

    stk_strv_init(&names);
    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT) {
            stk_strv_release(&names);
            return stk_err_set(err, STK_EIO, errno, "open '%s'", dir);
        }
        *ret_names = names.v;
        return 0;
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);

        if (n > sl && strcmp(de->d_name + n - sl, suffix) == 0 && de->d_name[0] != '.')
            stk_strv_push_take(&names, stk_xstrndup(de->d_name, n - sl));
    }
    closedir(d);
    stk_strv_sort(&names);
    *ret_names = names.v;
    return 0;
}

int net__cni_list_records(const char *dir, char ***ret_names, struct stk_err *err)
{
    return net__cni_list_dir(dir, ".json", ret_names, err);
}

static char *jstr(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return s ? stk_xstrdup(s) : NULL;
}

void net__cni_network_from_json(const json_t *j, struct net_network_info *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->name = jstr(j, "name");
    ret->subnet = jstr(j, "subnet");
    ret->gateway = jstr(j, "gateway");
    ret->bridge = jstr(j, "bridge");
    ret->project = jstr(j, "project");
}

void net__cni_sandbox_from_json(const json_t *j, struct net_sandbox_info *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->id = jstr(j, "id");
    ret->handle = jstr(j, "handle");
    ret->hosts_path = jstr(j, "hosts_path");
    ret->resolv_path = jstr(j, "resolv_path");
    ret->project = jstr(j, "project");
}

void net__cni_endpoint_from_json(const json_t *j, struct net_endpoint_info *ret)
{
    struct stk_strv al = STK_STRV_INIT;
    json_t *v;
    size_t i;

    memset(ret, 0, sizeof(*ret));
    ret->network = jstr(j, "network");
    ret->sandbox = jstr(j, "sandbox");
    ret->ifname = jstr(j, "ifname");
    ret->ipv4 = jstr(j, "ipv4");
    ret->prefix_len = (int)json_integer_value(json_object_get(j, "prefix_len"));
    ret->mac = jstr(j, "mac");
    stk_strv_init(&al);
    json_array_foreach(json_object_get(j, "aliases"), i, v) if (json_is_string(v))
        stk_strv_push(&al, json_string_value(v));
    ret->aliases = al.v;
    ret->ports = net_ports_from_json(json_object_get(j, "ports"), &ret->n_ports);
}

int net__cni_cidr_parse(const char *cidr, uint32_t *ret_addr, int *ret_prefix)
{
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char host[INET_ADDRSTRLEN];
    struct in_addr a;
    char *end;
    long n;

    if (!slash || (size_t)(slash - cidr) >= sizeof(host))
        return STK_EINVAL;
    memcpy(host, cidr, (size_t)(slash - cidr));
    host[slash - cidr] = '\0';
    if (inet_pton(AF_INET, host, &a) != 1)
        return STK_EINVAL;
    errno = 0;
    n = strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || n < 0 || n > 32)
        return STK_EINVAL;
    *ret_addr = ntohl(a.s_addr);
    *ret_prefix = (int)n;
    return 0;
}

static uint32_t prefix_mask(int prefix)
{
    return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* Two prefixes overlap when they agree on the bits of the shorter mask. */
static int prefixes_overlap(uint32_t a, uint32_t am, uint32_t b, uint32_t bm)
{
    uint32_t m = am & bm;

    return (a & m) == (b & m);
}

int net__cni_subnet_alloc(const struct net__cni_priv *p, char **ret_subnet, char **ret_gateway,
                          struct stk_err *err)
{
    uint32_t used[512], used_mask[512];
    size_t n_used = 0;
    char **names = NULL;
    char line[512];
    FILE *f;
    int r;

    r = net__cni_list_records(p->networks_dir, &names, err);
    if (r < 0)
        return r;
    for (size_t i = 0; names[i] && n_used < 256; i++) {
        char *path = net__cni_network_path(p, names[i]);
        struct stk_err ignored = STK_ERR_INIT;
        json_t *j = NULL;
        uint32_t a;
        int pl;

        if (net__cni_json_load(path, &j, &ignored) == 0 &&
            net__cni_cidr_parse(json_string_value(json_object_get(j, "subnet")), &a, &pl) == 0) {
            used[n_used] = a;
            used_mask[n_used++] = prefix_mask(pl);
        }
        stk_err_clear(&ignored);
        json_decref(j);
        free(path);
    }
    stk_strv_free(names);

    /* /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, LE). */
    f = fopen("/proc/net/route", "re");
    if (f) {
        while (fgets(line, sizeof(line), f) && n_used < STK_ARRAY_SIZE(used)) {
            char ifname[64];
            unsigned dst, gw, flags, refcnt, use, metric, mask;

            if (sscanf(line, "%63s %x %x %x %u %u %u %x", ifname, &dst, &gw, &flags, &refcnt, &use,
                       &metric, &mask) != 8 ||
                mask == 0)
                continue;
            used[n_used] = ntohl(dst);
            used_mask[n_used++] = ntohl(mask);
        }
        fclose(f);
    }

    for (unsigned n = 0; n < 256; n++) {
        uint32_t cand = (10u << 24) | (89u << 16) | (n << 8);
        int busy = 0;

        for (size_t i = 0; i < n_used && !busy; i++)
            busy = prefixes_overlap(cand, prefix_mask(24), used[i], used_mask[i]);
        if (busy)
            continue;
        *ret_subnet = stk_xasprintf(NET_CNI_POOL_PREFIX ".%u.0/24", n);
        *ret_gateway = stk_xasprintf(NET_CNI_POOL_PREFIX ".%u.1", n);
        return 0;
    }
    return stk_err_set(err, STK_ENET, 0, "no free subnet left in " NET_CNI_POOL_PREFIX ".0.0/16");
}

char *net__cni_subnet_conflict(const struct net__cni_priv *p, const char *subnet, const char *name)
{
    char **names = NULL;
    char *other = NULL;
    struct stk_err e = STK_ERR_INIT;
    uint32_t a;
    int pl;

    if (net__cni_cidr_parse(subnet, &a, &pl) < 0 ||
        net__cni_list_records(p->networks_dir, &names, &e) < 0) {
        stk_err_clear(&e);
        return NULL;
    }
    for (size_t i = 0; names[i] && !other; i++) {
        char *path = net__cni_network_path(p, names[i]);
        json_t *j = NULL;
        uint32_t b;
        int bl;

        if (strcmp(names[i], name) != 0 && net__cni_json_load(path, &j, &e) == 0 &&
            net__cni_cidr_parse(json_string_value(json_object_get(j, "subnet")), &b, &bl) == 0 &&
            prefixes_overlap(a, prefix_mask(pl), b, prefix_mask(bl)))
            other = stk_xstrdup(names[i]);
        stk_err_clear(&e);
        json_decref(j);
        free(path);
    }
    stk_strv_free(names);
    return other;
}

int net__cni_result_parse(const json_t *res, const char *ifname, struct net_endpoint_info *ep,
                          struct stk_err *err)
{
    json_t *ifs = json_object_get(res, "interfaces"), *ips = json_object_get(res, "ips"), *v;
    json_int_t want = -1;
    const char *addr = NULL;
    size_t i;
    uint32_t a;
    int prefix;

    json_array_foreach(ifs, i, v)
    {
        const char *sb = json_string_value(json_object_get(v, "sandbox"));

        if (sb && *sb && strcmp(json_string_value(json_object_get(v, "name")) ?: "", ifname) == 0)
            want = (json_int_t)i;
    }
    json_array_foreach(ips, i, v)
    {
        json_t *idx = json_object_get(v, "interface");
        const char *s = json_string_value(json_object_get(v, "address"));

        if (!s || !strchr(s, '.'))
            continue;
        if (want < 0 || (json_is_integer(idx) && json_integer_value(idx) == want)) {
            addr = s;
            break;
        }
    }
    if (!addr || net__cni_cidr_parse(addr, &a, &prefix) < 0)
        return stk_err_set(err, STK_ENET, 0, "cni result has no IPv4 address for '%s'", ifname);
    ep->ipv4 = stk_xstrndup(addr, (size_t)(strchr(addr, '/') - addr));
    ep->prefix_len = prefix;
    if (want >= 0)
        ep->mac = stk_xstrdup(
            json_string_value(json_object_get(json_array_get(ifs, (size_t)want), "mac")));
    return 0;
}

static int host_ip_any(const char *ip)
{
    return !ip || !*ip || strcmp(ip, "0.0.0.0") == 0;
}

char *net__cni_port_conflict(const struct net__cni_priv *p, const char *sandbox,
                             const char *network, unsigned host_port, const char *protocol,
                             const char *host_ip)
{
    struct stk_err e = STK_ERR_INIT;
    char **sbs = NULL;
    char *owner = NULL;

    if (net__cni_list_dir(p->endpoints_dir, "", &sbs, &e) < 0) {
        stk_err_clear(&e);
        return NULL;
    }
    for (size_t s = 0; sbs[s] && !owner; s++) {
        char *edir = net__cni_endpoint_dir(p, sbs[s]);
        char **nets = NULL;

        if (net__cni_list_records(edir, &nets, &e) == 0) {
            for (size_t n = 0; nets[n] && !owner; n++) {
                char *path = net__cni_endpoint_path(p, sbs[s], nets[n]);
                json_t *ep = NULL, *v;
                size_t i;

                if ((strcmp(sbs[s], sandbox) != 0 || strcmp(nets[n], network) != 0) &&
                    net__cni_json_load(path, &ep, &e) == 0 &&
                    !json_is_true(json_object_get(ep, "ports_off"))) {
                    /* A stopped container's ports (ports_off) are free until it starts. */
                    json_array_foreach(json_object_get(ep, "ports"), i, v)
                    {
                        const char *proto = json_string_value(json_object_get(v, "protocol"));
                        const char *hip = json_string_value(json_object_get(v, "host_ip"));

                        if (json_integer_value(json_object_get(v, "host_port")) ==
                                (json_int_t)host_port &&
                            proto && strcmp(proto, protocol) == 0 &&
                            (host_ip_any(hip) || host_ip_any(host_ip) ||
                             strcmp(hip, host_ip) == 0)) {
                            owner = stk_xstrdup(sbs[s]);
                            break;
                        }
                    }
                }
                stk_err_clear(&e);
                json_decref(ep);
                free(path);
            }
        }
        stk_err_clear(&e);
        stk_strv_free(nets);
        free(edir);
    }
    stk_strv_free(sbs);
    return owner;
}

static int write_in_place(const char *path, const char *data, size_t len, struct stk_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ret = 0;

    if (fd < 0)
        return stk_err_set(err, STK_EIO, errno, "open '%s'", path);
    while (len) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = stk_err_set(err, STK_EIO, errno, "write '%s'", path);
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && ret == 0)
        ret = stk_err_set(err, STK_EIO, errno, "close '%s'", path);
    return ret;
}

/* Appends NAME to NAMES unless it is already there or empty. */
static void push_unique(struct stk_strv *names, const char *name)
{
    if (name && *name && !stk_strv_contains(names, name))
        stk_strv_push(names, name);
}

/*
 * Everything the hosts files are made of, read once: {ID: {"rec": sandbox record,
 * "eps": {NETWORK: endpoint record}}} in directory order. This is the plug-in's
 * hosts view (net__cni_priv.hosts_snap): read once per process (and again by
 * each net__cni_hosts_flush()), then kept up to date by the plug-in's own
 * operations, so that an attach reads no other record.
 */
static int hosts_snapshot(const struct net__cni_priv *p, json_t **ret, struct stk_err *err)
{
    char **sandboxes = NULL;
    json_t *snap = json_object();
    int ret_code;

    ret_code = net__cni_list_records(p->sandboxes_dir, &sandboxes, err);
    if (ret_code < 0) {
        json_decref(snap);
        return ret_code;
    }
    for (size_t s = 0; sandboxes[s]; s++) {
        char *spath = net__cni_sandbox_path(p, sandboxes[s]);
        char *edir = net__cni_endpoint_dir(p, sandboxes[s]);
        struct stk_err ignored = STK_ERR_INIT;
        json_t *rec = NULL, *eps = json_object();
        char **nets = NULL;

        if (net__cni_json_load(spath, &rec, &ignored) < 0)
            rec = json_object();
        stk_err_clear(&ignored);
        if (net__cni_list_records(edir, &nets, &ignored) == 0) {
            for (size_t n = 0; nets[n]; n++) {
                char *epath = net__cni_endpoint_path(p, sandboxes[s], nets[n]);
                json_t *ep = NULL;
                if (net__cni_json_load(epath, &ep, &ignored) == 0)
                    json_object_set_new(eps, nets[n], ep);
                stk_err_clear(&ignored);
                free(epath);
            }
            stk_strv_free(nets);
        }
        stk_err_clear(&ignored);
        json_object_set_new(snap, sandboxes[s], json_pack("{s:o, s:o}", "rec", rec, "eps", eps));
        free(spath);
        free(edir);
    }
    stk_strv_free(sandboxes);
    *ret = snap;
    return 0;
}

/*
 * Renders sandbox ID's hosts file from SNAP into OUT. Returns its path
 * (borrowed from SNAP), or NULL when the sandbox or its hosts_path is unknown.
 */
static const char *hosts_render(const json_t *snap, const char *id, struct stk_buf *out)
{
    json_t *me = json_object_get(snap, id), *rec = json_object_get(me, "rec");
    json_t *mine = json_object_get(me, "eps"), *v;
    const char *net, *other_id, *path = json_string_value(json_object_get(rec, "hosts_path"));
    json_t *other;
    size_t i;

    if (!me || !path)
        return NULL;
    stk_buf_puts(out, "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    json_object_foreach(mine, net, v)
    {
        json_object_foreach((json_t *)snap, other_id, other)
        {
            json_t *ep = json_object_get(json_object_get(other, "eps"), net);
            const char *ip = json_string_value(json_object_get(ep, "ipv4"));
            struct stk_strv names = STK_STRV_INIT;
            json_t *al;
            size_t k;

            if (!ip)
                continue;
            stk_strv_init(&names);
            /* The sandbox's hostname comes first (net_sandbox_spec.hostname). */
            push_unique(&names, json_string_value(
                                    json_object_get(json_object_get(other, "rec"), "hostname")));
            json_array_foreach(json_object_get(ep, "aliases"), k, al)
                push_unique(&names, json_string_value(al));
            if (names.n) {
                stk_buf_puts(out, ip);
                for (k = 0; k < names.n; k++)
                    stk_buf_printf(out, "%c%s", k ? ' ' : '\t', names.v[k]);
                stk_buf_putc(out, '\n');
            }
            stk_strv_release(&names);
        }
    }
    /* extra_hosts "HOST:IP" (an IPv6 address keeps its colons: split at the first one). */
    json_array_foreach(json_object_get(rec, "extra_hosts"), i, v)
    {
        const char *e = json_string_value(v), *colon = e ? strchr(e, ':') : NULL;
        char *host = colon ? stk_xstrndup(e, (size_t)(colon - e)) : NULL;
        int ok = host && net__cni_hostname_valid(host) && !strpbrk(colon + 1, " \t\n");
        free(host);
        if (ok)
            stk_buf_printf(out, "%s\t%.*s\n", colon + 1, (int)(colon - e), e);
    }
    return path;
}

/* Loads the hosts view when this process has none yet. */
static int hosts_view(struct net__cni_priv *p, struct stk_err *err)
{
    if (p->hosts_snap)
        return 0;
    return hosts_snapshot(p, &p->hosts_snap, err);
}

/*
 * Writes sandbox ID's hosts file from the view unless it already holds that
 * content: known from the digest of what this process last wrote there, or
 * else read back from the file (once per file and process).
 */
static int hosts_put(struct net__cni_priv *p, const char *id, struct stk_err *err)
{
    struct stk_buf out = STK_BUF_INIT;
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];
    const char *path = hosts_render(p->hosts_snap, id, &out), *known;
    int ret = 0;

    if (!path)
        goto out;
    stk_sha256(out.buf, out.len, md);
    stk_sha256_hex(md, hex);
    if (!p->hosts_sums)
        p->hosts_sums = json_object();
    known = json_string_value(json_object_get(p->hosts_sums, id));
    if (known) {
        if (strcmp(known, hex) == 0)
            goto out;
    } else {
        struct stk_err ignored = STK_ERR_INIT;
        char *have = NULL;
        size_t len = 0;
        int same = stk_file_read(path, &have, &len, &ignored) == 0 && len == out.len &&
                   memcmp(have, out.buf, len) == 0;

        stk_err_clear(&ignored);
        free(have);
        if (same) {
            json_object_set_new(p->hosts_sums, id, json_string(hex));
            goto out;
        }
    }
    p->hosts_writes++;
    ret = write_in_place(path, out.buf, out.len, err);
    if (ret == 0)
        json_object_set_new(p->hosts_sums, id, json_string(hex));
    else
        json_object_del(p->hosts_sums, id);
out:
    stk_buf_release(&out);
    return ret;
}

/* Keeps the first error in ERR; later ones are dropped. */
static void first_error(int r, int *ret, struct stk_err *err, struct stk_err *more)
{
    if (r < 0 && *ret == 0) {
        *ret = r;
        stk_err_move(err, more);
    }
    stk_err_clear(more);
}

/* hosts_put() for every sandbox of the view on NET (NULL: every sandbox). */
static int hosts_spread(struct net__cni_priv *p, const char *net, struct stk_err *err)
{
    const char *id;
    json_t *sb;
    int ret = 0;

    json_object_foreach(p->hosts_snap, id, sb)
    {
        struct stk_err more = STK_ERR_INIT;

        if (net && !json_object_get(json_object_get(sb, "eps"), net))
            continue;
        first_error(hosts_put(p, id, &more), &ret, err, &more);
    }
    return ret;
}

int net__cni_hosts_write(struct net__cni_priv *p, const char *id, struct stk_err *err)
{
    int ret = hosts_view(p, err);

    return ret < 0 ? ret : hosts_put(p, id, err);
}

void net__cni_hosts_sandbox_set(struct net__cni_priv *p, const char *id, const json_t *rec)
{
    json_t *me;

    if (p->hosts_sums)
        json_object_del(p->hosts_sums, id);
    if (!p->hosts_snap)
        return; /* loaded from the records when first needed */
    if (!rec) {
        json_object_del(p->hosts_snap, id);
        return;
    }
    me = json_object_get(p->hosts_snap, id);
    if (me)
        json_object_set_new(me, "rec", json_deep_copy(rec));
    else
        json_object_set_new(p->hosts_snap, id,
                            json_pack("{s:o, s:{}}", "rec", json_deep_copy(rec), "eps"));
}

void net__cni_hosts_endpoint_set(struct net__cni_priv *p, const char *sandbox, const char *network,
                                 const json_t *ep)
{
    json_t *me;

    if (!p->hosts_snap)
        return;
    me = json_object_get(p->hosts_snap, sandbox);
    if (!me) {
        if (!ep)
            return;
        me = json_pack("{s:{}, s:{}}", "rec", "eps");
        json_object_set_new(p->hosts_snap, sandbox, me);
    }
    if (ep)
        json_object_set_new(json_object_get(me, "eps"), network, json_deep_copy(ep));
    else
        json_object_del(json_object_get(me, "eps"), network);
}

int net__cni_hosts_changed(struct net__cni_priv *p, const char *network, const char *own,
                           struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    json_int_t pending, members = 0;
    const char *id;
    json_t *sb;
    int ret;

    ret = hosts_view(p, err);
    if (ret < 0)
        return ret;
    if (own)
        first_error(hosts_put(p, own, &more), &ret, err, &more);
    if (!p->hosts_dirty)
        p->hosts_dirty = json_object();
    pending = json_integer_value(json_object_get(p->hosts_dirty, network)) + 1;
    json_object_foreach(p->hosts_snap, id, sb) members +=
        json_object_get(json_object_get(sb, "eps"), network) != NULL;
    if (2 * pending < members) {
        json_object_set_new(p->hosts_dirty, network, json_integer(pending));
        return ret;
    }
    json_object_del(p->hosts_dirty, network);
    first_error(hosts_spread(p, network, &more), &ret, err, &more);
    return ret;
}

int net__cni_hosts_flush(struct net__cni_priv *p, int reload, struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    const char *net;
    json_t *v, *dirty = p->hosts_dirty;
    int ret = 0;

    p->hosts_dirty = NULL;
    if (reload) {
        json_decref(p->hosts_snap);
        p->hosts_snap = NULL;
        ret = hosts_view(p, err);
        if (ret == 0)
            ret = hosts_spread(p, NULL, err);
    } else if (p->hosts_snap) {
        json_object_foreach(dirty, net, v)
            first_error(hosts_spread(p, net, &more), &ret, err, &more);
    }
    json_decref(dirty);
    return ret;
}

int net__cni_hosts_refresh(struct net__cni_priv *p, char *const *networks, const char *extra,
                           struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    const char *id;
    json_t *sb;
    int ret;

    json_decref(p->hosts_snap);
    p->hosts_snap = NULL;
    ret = hosts_view(p, err);
    if (ret < 0)
        return ret;
    json_object_foreach(p->hosts_snap, id, sb)
    {
        int hit = extra && strcmp(extra, id) == 0;

        for (size_t n = 0; !hit && networks && networks[n]; n++)
            hit = json_object_get(json_object_get(sb, "eps"), networks[n]) != NULL;
        if (hit)
            first_error(hosts_put(p, id, &more), &ret, err, &more);
    }
    return ret;
}

void net__cni_hosts_release(struct net__cni_priv *p)
{
    json_decref(p->hosts_snap);
    json_decref(p->hosts_dirty);
    json_decref(p->hosts_sums);
    p->hosts_snap = p->hosts_dirty = p->hosts_sums = NULL;
}

int net__cni_resolv_write(const char *path, const json_t *rec, struct stk_err *err)
{
    static const char text[] = "# written by stack: no outside resolver (DESIGN.md section 7);\n"
                               "# names resolve from /etc/hosts\n";
    struct stk_buf b = STK_BUF_INIT;
    json_t *v;
    size_t i;
    int ret;

    if (!json_array_size(json_object_get(rec, "dns")) &&
        !json_array_size(json_object_get(rec, "dns_search")))
        return write_in_place(path, text, sizeof(text) - 1, err);
    /* The service asked for resolvers (Compose dns, dns_search): exactly those. */
    stk_buf_puts(&b, "# written by stack from the service's dns and dns_search\n");
    json_array_foreach(json_object_get(rec, "dns"), i,
                       v) if (json_string_value(v) && !strpbrk(json_string_value(v), " \t\n"))
        stk_buf_printf(&b, "nameserver %s\n", json_string_value(v));
    if (json_array_size(json_object_get(rec, "dns_search"))) {
        stk_buf_puts(&b, "search");
        json_array_foreach(json_object_get(rec, "dns_search"), i,
                           v) if (json_string_value(v) && !strpbrk(json_string_value(v), " \t\n"))
            stk_buf_printf(&b, " %s", json_string_value(v));
        stk_buf_putc(&b, '\n');
    }
    ret = write_in_place(path, b.buf, b.len, err);
    stk_buf_release(&b);
    return ret;
}
