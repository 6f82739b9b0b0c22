/*
 * hcsemu-netapi.c - the hcs driver's network peer (struct rt_net_peer)
 * over the emulated HCN: the HNS plug-in's own namespace listing
 * (net_hns_namespace_endpoints()) with the emulator's HCN call layer in
 * place of computenetwork.dll, for driver-level tests that hold no plug-in
 * context. The product's hand-off through the interfaces
 * (orchestrator/rec/rec-net-peer.c) is what tests/orchestrator/test-rec-windows.c uses.
 */
#include "tests/hcsemu/hcsemu.h"

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "netplugins/hns/hns.h"
#include "runtime/rt-driver.h"

static int namespace_endpoints(void *self, const char *namespace_id, struct rt_nic **ret_nics,
                               size_t *ret_n, struct stk_err *err)
{
    char **ids = NULL, **macs = NULL;
    size_t n;
    int r;

    (void)self;
    r = net_hns_namespace_endpoints(hcsemu_hcn_api(), namespace_id, &ids, &macs, err);
    if (r < 0)
        return r;
    n = stk_strv_len(ids);
    *ret_nics = stk_xcalloc(n + 1, sizeof(**ret_nics));
    for (size_t i = 0; i < n; i++) {
        (*ret_nics)[i].endpoint_id = stk_xstrdup(ids[i]);
        (*ret_nics)[i].mac = stk_xstrdup(macs[i]);
    }
    *ret_n = n;
    stk_strv_free(ids);
    stk_strv_free(macs);
    return 0;
}

const struct rt_net_peer *hcsemu_network_api(void)
{
    static const struct rt_net_peer peer = {namespace_endpoints, NULL};

    return &peer;
}
