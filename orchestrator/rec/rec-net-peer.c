/*
 * rec-net-peer.c - the hand-off between a runtime driver and a network
 * plug-in, through their interfaces only (see rec_net_peer_connect() in
 * rec.h): a driver whose VM isolated containers need their namespace's
 * endpoints as NICs (hcs) gets them from the plug-in that made them (hns).
 */
#include "orchestrator/rec/rec.h"

#include <stdlib.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "netplugins/net-plugin.h"
#include "runtime/rt-driver.h"

/* rt_net_peer.namespace_endpoints over the plug-in (blocking; the driver calls it on a work
 * thread).
 */
static int namespace_endpoints(void *self, const char *namespace_id, struct rt_nic **ret_nics,
                               size_t *ret_n, struct stk_err *err)
{
    const struct rec_net_peer *peer = self;
    char **ids = NULL, **macs = NULL;
    size_t n;
    int r;

    r = net_namespace_endpoints(peer->net, namespace_id, &ids, &macs, err);
    if (r < 0)
        return r;
    n = stk_strv_len(ids);
    *ret_nics = stk_xcalloc(n + 1, sizeof(**ret_nics));
    for (size_t i = 0; i < n; i++) {
        (*ret_nics)[i].endpoint_id = stk_xstrdup(ids[i]);
        (*ret_nics)[i].mac = stk_xstrdup(macs[i] ? macs[i] : "");
    }
    *ret_n = n;
    stk_strv_free(ids);
    stk_strv_free(macs);
    return 0;
}

int rec_net_peer_connect(struct rec_net_peer *peer, struct rt_ctx *rt, struct net_ctx *net)
{
    if (!rt || !net || !net->plugin->ops->namespace_endpoints)
        return 0;
    peer->net = net;
    peer->table.namespace_endpoints = namespace_endpoints;
    peer->table.self = peer;
    return rt_ctx_set_net_peer(rt, &peer->table) == 0;
}
