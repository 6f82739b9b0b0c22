/*
 * hcsemu-netapi.c - the hcs driver's network table (struct
 * rt_hcs_network_api) over the emulated HCN, built the way the product's
 * glue builds it over computenetwork.dll: with net_hns_namespace_endpoints().
 */
#include "tests/hcsemu/hcsemu.h"

#include <stdlib.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"

static int emu_namespace_endpoints(void *self, const char *namespace_id,
                                   struct rt_hcs_nic **ret_nics, size_t *ret_n, struct stk_err *err)
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

static const struct rt_hcs_network_api netapi = {
    .namespace_endpoints = emu_namespace_endpoints,
    .self = NULL,
};

const struct rt_hcs_network_api *hcsemu_network_api(void)
{
    return &netapi;
}
