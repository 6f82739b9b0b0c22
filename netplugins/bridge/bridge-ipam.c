/*
 * bridge-ipam.c - the native bridge plug-in's address allocator
 * (net-bridge.h): one JSON file per network, replaced atomically under an
 * flock, so that a crash leaves either the old or the new allocation and
 * parallel attaches (threads or processes) never hand out one address twice.
 */
#include "netplugins/bridge/net-bridge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"

struct ipam {
    int lock_fd;
    char *path;
    json_t *doc; /* {"last": ADDR, "ips": {ADDR: OWNER}} */
};

static int ipam_open(const char *dir, const char *network, struct ipam *ret, struct stk_err *err)
{
    char *ndir = stk_xasprintf("%s/%s", dir, network), *lock = NULL;
    char *data = NULL;
    size_t len = 0;
    int r;

    memset(ret, 0, sizeof(*ret));
    ret->lock_fd = -1;
    r = stk_mkdir_p(ndir, 0755, err);
    if (r < 0)
        goto out;
    lock = stk_xasprintf("%s/lock", ndir);
    ret->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ret->lock_fd < 0 || flock(ret->lock_fd, LOCK_EX) < 0) {
        r = stk_err_set(err, STK_EIO, errno, "lock '%s'", lock);
        goto out;
    }
    ret->path = stk_xasprintf("%s/alloc.json", ndir);
    r = stk_file_read(ret->path, &data, &len, err);
    if (r == STK_ENOENT) {
        stk_err_clear(err);
        ret->doc = json_pack("{s:n, s:{}}", "last", "ips");
        r = 0;
    } else if (r == 0) {
        ret->doc = json_loadb(data, len, 0, NULL);
        if (!json_is_object(ret->doc) || !json_is_object(json_object_get(ret->doc, "ips")))
            r = stk_err_set(err, STK_EIO, 0, "'%s' is not an allocation file", ret->path);
    }
out:
    free(data);
    free(ndir);
    free(lock);
    return r;
}

static int ipam_save(struct ipam *m, struct stk_err *err)
{
    char *s = json_dumps(m->doc, JSON_COMPACT | JSON_SORT_KEYS);
    int r;

    if (!s)
        abort();
    r = stk_file_write_atomic(m->path, s, strlen(s), 0644, 1, err);
    free(s);
    return r;
}

static void ipam_close(struct ipam *m)
{
    if (m->lock_fd >= 0)
        close(m->lock_fd); /* drops the flock */
    json_decref(m->doc);
    free(m->path);
}

static int cidr_parse(const char *cidr, uint32_t *ret_net, int *ret_prefix)
{
    char buf[32];
    const char *slash = strchr(cidr, '/');
    struct in_addr a;
    char *end;
    long p;

    if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
        return -1;
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = 0;
    p = strtol(slash + 1, &end, 10);
    if (*end || p < 1 || p > 30 || inet_pton(AF_INET, buf, &a) != 1)
        return -1;
    *ret_prefix = (int)p;
    *ret_net = ntohl(a.s_addr) & (0xffffffffu << (32 - p));
    return 0;
}

static uint32_t addr_u32(const char *s)
{
    struct in_addr a;

    return s && inet_pton(AF_INET, s, &a) == 1 ? ntohl(a.s_addr) : 0;
}

static void u32_addr(uint32_t v, char out[16])
{
    struct in_addr a = {htonl(v)};

    inet_ntop(AF_INET, &a, out, 16);
}

int net__bridge_ipam_alloc(const char *dir, const char *network, const char *subnet,
                           const char *gateway, const char *want, const char *owner, char out[16],
                           struct stk_err *err)
{
    struct ipam m;
    json_t *ips, *v;
    const char *k;
    uint32_t net, bcast, gw = addr_u32(gateway), last, cand = 0;
    int prefix, r;

    if (cidr_parse(subnet, &net, &prefix) < 0)
        return stk_err_set(err, STK_EINVAL, 0, "invalid subnet '%s'", subnet);
    bcast = net | (0xffffffffu >> prefix);
    r = ipam_open(dir, network, &m, err);
    if (r < 0)
        goto out;
    ips = json_object_get(m.doc, "ips");
    json_object_foreach(ips, k, v)
    {
        if (strcmp(json_string_value(v) ?: "", owner) == 0) {
            snprintf(out, 16, "%s", k);
            goto out;
        }
    }
    if (want) {
        uint32_t w = addr_u32(want);

        if (!w || (w & ~(0xffffffffu >> prefix)) != net || w == net || w == bcast || w == gw) {
            r = stk_err_set(err, STK_ENET, 0, "address %s is not usable in subnet %s", want,
                            subnet);
            goto out;
        }
        if (json_object_get(ips, want)) {
            r = stk_err_set(err, STK_EEXIST, 0, "address %s is already in use", want);
            goto out;
        }
        cand = w;
    } else {
        uint32_t size = bcast - net - 1;

        last = addr_u32(json_string_value(json_object_get(m.doc, "last")));
        if (last <= net || last >= bcast)
            last = gw > net && gw < bcast ? gw : net;
        for (uint32_t i = 1; i <= size; i++) {
            uint32_t c = net + 1 + ((last - net - 1 + i) % size);
            char s[16];

            if (c == gw)
                continue;
            u32_addr(c, s);
            if (!json_object_get(ips, s)) {
                cand = c;
                break;
            }
        }
        if (!cand) {
            r = stk_err_set(err, STK_ENET, 0, "no free address in subnet %s", subnet);
            goto out;
        }
    }
    u32_addr(cand, out);
    json_object_set_new(ips, out, json_string(owner));
    json_object_set_new(m.doc, "last", json_string(out));
    r = ipam_save(&m, err);
out:
    ipam_close(&m);
    return r;
}

int net__bridge_ipam_release(const char *dir, const char *network, const char *owner,
                             struct stk_err *err)
{
    struct ipam m;
    json_t *ips, *v, *tmp;
    const char *k;
    int r, changed = 0;
    char *ndir = stk_xasprintf("%s/%s", dir, network);

    if (!stk_path_is_dir(ndir)) {
        free(ndir);
        return 0;
    }
    free(ndir);
    r = ipam_open(dir, network, &m, err);
    if (r < 0)
        goto out;
    ips = json_object_get(m.doc, "ips");
    json_object_foreach_safe(ips, tmp, k, v)
    {
        if (strcmp(json_string_value(v) ?: "", owner) == 0) {
            json_object_del(ips, k);
            changed = 1;
        }
    }
    if (changed)
        r = ipam_save(&m, err);
out:
    ipam_close(&m);
    return r;
}

int net__bridge_ipam_lookup(const char *dir, const char *network, const char *owner, char out[16],
                            struct stk_err *err)
{
    struct ipam m;
    json_t *v;
    const char *k;
    int r;
    char *ndir = stk_xasprintf("%s/%s", dir, network);

    if (!stk_path_is_dir(ndir)) {
        free(ndir);
        return stk_err_set(err, STK_ENOENT, 0, "no address for '%s'", owner);
    }
    free(ndir);
    r = ipam_open(dir, network, &m, err);
    if (r < 0)
        goto out;
    r = STK_ENOENT;
    json_object_foreach(json_object_get(m.doc, "ips"), k, v)
    {
        if (strcmp(json_string_value(v) ?: "", owner) == 0) {
            snprintf(out, 16, "%s", k);
            r = 0;
            break;
        }
    }
    if (r < 0)
        stk_err_set(err, STK_ENOENT, 0, "no address for '%s'", owner);
out:
    ipam_close(&m);
    return r;
}
