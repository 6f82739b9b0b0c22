/*
 * bridge-link.c - bridges, veth pairs, addresses and routes over netlink
 * (libnl-3, libnl-route-3), for the native bridge plug-in (net-bridge.h).
 * A socket in a sandbox's namespace is opened by a short-lived thread that
 * enters the namespace (setns) and leaves with the thread, so no pool thread
 * ever changes namespace; the socket stays bound to the namespace it was
 * made in.
 */
#include "netplugins/bridge/net-bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"

static int nl_fail(struct stk_err *err, int nlerr, const char *what, const char *name)
{
    return stk_err_set(err, STK_ENET, 0, "netlink: %s '%s': %s", what, name, nl_geterror(nlerr));
}

static struct nl_sock *sock_host(struct stk_err *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    int r;

    if (!sk)
        abort();
    r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(sk);
        nl_fail(err, r, "connect", "route");
        return NULL;
    }
    return sk;
}

struct ns_job {
    int fd;
    struct nl_sock *sk;
    int nlerr;
    int os_err;
};

static void *ns_thread(void *arg)
{
    struct ns_job *j = arg;

    if (setns(j->fd, CLONE_NEWNET) < 0) {
        j->os_err = errno;
        return NULL;
    }
    j->sk = nl_socket_alloc();
    if (!j->sk)
        abort();
    j->nlerr = nl_connect(j->sk, NETLINK_ROUTE);
    if (j->nlerr < 0) {
        nl_socket_free(j->sk);
        j->sk = NULL;
    }
    return NULL;
}

/* Opens a route socket in the namespace pinned at NETNS; NULL with ERR. */
static struct nl_sock *sock_netns(const char *netns, struct stk_err *err)
{
    struct ns_job j = {-1, NULL, 0, 0};
    pthread_t t;
    int e;

    j.fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (j.fd < 0) {
        stk_err_set(err, STK_ENET, errno, "open namespace '%s'", netns);
        return NULL;
    }
    e = pthread_create(&t, NULL, ns_thread, &j);
    if (e == 0)
        pthread_join(t, NULL);
    close(j.fd);
    if (e) {
        stk_err_set(err, STK_ENET, e, "thread for namespace '%s'", netns);
        return NULL;
    }
    if (j.os_err) {
        stk_err_set(err, STK_ENET, j.os_err, "enter namespace '%s'", netns);
        return NULL;
    }
    if (!j.sk) {
        nl_fail(err, j.nlerr, "connect in", netns);
        return NULL;
    }
    return j.sk;
}

int net__bridge_link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

static int sysctl_set(const char *path, const char *value, struct stk_err *err)
{
    FILE *f = fopen(path, "we");

    if (!f)
        return stk_err_set(err, STK_ENET, errno, "open '%s'", path);
    if (fputs(value, f) < 0 || fclose(f) != 0) {
        int e = errno;
        return stk_err_set(err, STK_ENET, e, "write '%s'", path);
    }
    return 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, const char *addr, int prefix, const char *name,
                    struct stk_err *err)
{
    struct rtnl_addr *a = rtnl_addr_alloc();
    struct nl_addr *local = NULL;
    char *cidr = stk_xasprintf("%s/%d", addr, prefix);
    int r;

    r = nl_addr_parse(cidr, AF_INET, &local);
    if (r == 0) {
        rtnl_addr_set_ifindex(a, ifindex);
        rtnl_addr_set_local(a, local);
        r = rtnl_addr_add(sk, a, 0);
        if (r == -NLE_EXIST)
            r = 0;
    }
    if (r < 0)
        nl_fail(err, r, "add address to", name);
    nl_addr_put(local);
    rtnl_addr_put(a);
    free(cidr);
    return r < 0 ? STK_ENET : 0;
}

static int link_up(struct nl_sock *sk, const char *name, int *ret_index, struct stk_err *err)
{
    struct rtnl_link *l = NULL, *ch = NULL;
    int r;

    r = rtnl_link_get_kernel(sk, 0, name, &l);
    if (r < 0)
        return nl_fail(err, r, "find link", name);
    if (ret_index)
        *ret_index = rtnl_link_get_ifindex(l);
    if (!(rtnl_link_get_flags(l) & IFF_UP)) {
        ch = rtnl_link_alloc();
        rtnl_link_set_flags(ch, IFF_UP);
        r = rtnl_link_change(sk, l, ch, 0);
        rtnl_link_put(ch);
    }
    rtnl_link_put(l);
    return r < 0 ? nl_fail(err, r, "set up", name) : 0;
}

int net__bridge_link_bridge(const char *name, const char *mac, const char *gateway, int prefix,
                            struct stk_err *err)
{
    struct nl_sock *sk = NULL;
    struct rtnl_link *l = NULL;
    struct nl_addr *ll = NULL;
    char *path = NULL;
    int ret = 0, r, idx = 0;

    ret = sysctl_set("/proc/sys/net/ipv4/ip_forward", "1", err);
    if (ret < 0)
        goto out;
    sk = sock_host(err);
    if (!sk) {
        ret = STK_ENET;
        goto out;
    }
    if (!net__bridge_link_exists(name)) {
        l = rtnl_link_bridge_alloc();
        rtnl_link_set_name(l, name);
        if (nl_addr_parse(mac, AF_LLC, &ll) == 0)
            rtnl_link_set_addr(l, ll);
        rtnl_link_set_flags(l, IFF_UP);
        r = rtnl_link_add(sk, l, NLM_F_CREATE);
        if (r < 0 && r != -NLE_EXIST) {
            ret = nl_fail(err, r, "create bridge", name);
            goto out;
        }
    }
    ret = link_up(sk, name, &idx, err);
    if (ret < 0)
        goto out;
    ret = addr_add(sk, idx, gateway, prefix, name, err);
    if (ret < 0)
        goto out;
    path = stk_xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", name);
    ret = sysctl_set(path, "1", err);
out:
    free(path);
    nl_addr_put(ll);
    rtnl_link_put(l);
    nl_socket_free(sk);
    return ret;
}

static int link_del_sk(struct nl_sock *sk, const char *name, struct stk_err *err)
{
    struct rtnl_link *l = rtnl_link_alloc();
    int r;

    rtnl_link_set_name(l, name);
    r = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV)
        return nl_fail(err, r, "delete link", name);
    return 0;
}

int net__bridge_link_del(const char *name, struct stk_err *err)
{
    struct nl_sock *sk;
    int ret;

    if (!net__bridge_link_exists(name))
        return 0;
    sk = sock_host(err);
    if (!sk)
        return STK_ENET;
    ret = link_del_sk(sk, name, err);
    nl_socket_free(sk);
    return ret;
}

int net__bridge_link_veth(const char *netns, const char *host, const char *bridge,
                          const char *ifname, const char *mac, const char *addr, int prefix,
                          const char *gateway, struct stk_err *err)
{
    struct nl_sock *sk = NULL, *nsk = NULL;
    struct rtnl_link *l = NULL, *peer = NULL;
    struct rtnl_route *rt = NULL;
    struct nl_addr *ll = NULL, *dst = NULL, *gw = NULL;
    int ret = 0, r, nsfd = -1, idx = 0;
    unsigned br;

    br = if_nametoindex(bridge);
    if (!br)
        return stk_err_set(err, STK_ENET, errno, "bridge '%s' is missing", bridge);
    sk = sock_host(err);
    if (!sk) {
        ret = STK_ENET;
        goto out;
    }
    nsk = sock_netns(netns, err);
    if (!nsk) {
        ret = STK_ENET;
        goto out;
    }
    /* A stale attempt (a crash between ADD and its record) left the pair: start over. */
    ret = link_del_sk(sk, host, err);
    if (ret < 0)
        goto out;
    ret = link_del_sk(nsk, ifname, err);
    if (ret < 0)
        goto out;
    nsfd = open(netns, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        ret = stk_err_set(err, STK_ENET, errno, "open namespace '%s'", netns);
        goto out;
    }
    l = rtnl_link_veth_alloc();
    rtnl_link_set_name(l, host);
    rtnl_link_set_master(l, (int)br);
    rtnl_link_set_flags(l, IFF_UP);
    peer = rtnl_link_veth_get_peer(l);
    rtnl_link_set_name(peer, ifname);
    if (nl_addr_parse(mac, AF_LLC, &ll) == 0)
        rtnl_link_set_addr(peer, ll);
    rtnl_link_set_ns_fd(peer, nsfd);
    r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    if (r < 0) {
        ret = nl_fail(err, r, "create veth", host);
        goto out;
    }
    ret = link_up(nsk, ifname, &idx, err);
    if (ret < 0)
        goto out;
    ret = addr_add(nsk, idx, addr, prefix, ifname, err);
    if (ret < 0)
        goto out;
    if (gateway) {
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();

        rt = rtnl_route_alloc();
        rtnl_route_set_family(rt, AF_INET);
        nl_addr_parse("0.0.0.0/0", AF_INET, &dst);
        nl_addr_parse(gateway, AF_INET, &gw);
        rtnl_route_set_dst(rt, dst);
        rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_nh_set_ifindex(nh, idx);
        rtnl_route_add_nexthop(rt, nh);
        r = rtnl_route_add(nsk, rt, NLM_F_CREATE);
        if (r < 0 && r != -NLE_EXIST) {
            ret = nl_fail(err, r, "add default route on", ifname);
            goto out;
        }
    }
out:
    if (ret < 0 && sk)
        link_del_sk(sk, host, &(struct stk_err)STK_ERR_INIT);
    if (nsfd >= 0)
        close(nsfd);
    nl_addr_put(ll);
    nl_addr_put(dst);
    nl_addr_put(gw);
    rtnl_route_put(rt);
    rtnl_link_put(peer);
    rtnl_link_put(l);
    nl_socket_free(nsk);
    nl_socket_free(sk);
    return ret;
}

int net__bridge_link_check(const char *netns, const char *host, const char *bridge,
                           const char *ifname, const char *addr, struct stk_err *err)
{
    struct nl_sock *sk = NULL, *nsk = NULL;
    struct rtnl_link *l = NULL;
    struct nl_cache *addrs = NULL;
    struct nl_object *o;
    int ret = 0, found = 0, idx;
    unsigned br = if_nametoindex(bridge);

    if (!br)
        return stk_err_set(err, STK_ENET, 0, "bridge '%s' is missing", bridge);
    sk = sock_host(err);
    if (!sk)
        return STK_ENET;
    if (rtnl_link_get_kernel(sk, 0, host, &l) < 0 || rtnl_link_get_master(l) != (int)br) {
        ret = stk_err_set(err, STK_ENET, 0, "veth '%s' is missing or not on '%s'", host, bridge);
        goto out;
    }
    rtnl_link_put(l);
    l = NULL;
    nsk = sock_netns(netns, err);
    if (!nsk) {
        ret = STK_ENET;
        goto out;
    }
    if (rtnl_link_get_kernel(nsk, 0, ifname, &l) < 0) {
        ret = stk_err_set(err, STK_ENET, 0, "interface '%s' is missing in '%s'", ifname, netns);
        goto out;
    }
    idx = rtnl_link_get_ifindex(l);
    if (rtnl_addr_alloc_cache(nsk, &addrs) < 0) {
        ret = stk_err_set(err, STK_ENET, 0, "list addresses in '%s'", netns);
        goto out;
    }
    for (o = nl_cache_get_first(addrs); o && !found; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        char buf[64];

        if (rtnl_addr_get_ifindex(a) != idx || rtnl_addr_get_family(a) != AF_INET)
            continue;
        nl_addr2str(rtnl_addr_get_local(a), buf, sizeof(buf));
        if (strchr(buf, '/'))
            *strchr(buf, '/') = 0;
        found = strcmp(buf, addr) == 0;
    }
    if (!found)
        ret = stk_err_set(err, STK_ENET, 0, "interface '%s' lacks address %s", ifname, addr);
out:
    nl_cache_free(addrs);
    rtnl_link_put(l);
    nl_socket_free(nsk);
    nl_socket_free(sk);
    return ret;
}

int net__bridge_link_lo_up(const char *netns, struct stk_err *err)
{
    struct nl_sock *nsk = sock_netns(netns, err);
    int ret;

    if (!nsk)
        return STK_ENET;
    ret = link_up(nsk, "lo", NULL, err);
    nl_socket_free(nsk);
    return ret;
}
