/*
 * hcsemu-netapi.c - the hcs driver's network table (struct
 * rt_hcs_network_api) over the emulated HCN: the product's own glue
 * (orchestrator/rec-hcs.c, net_hns_namespace_endpoints()) with the emulator's
 * HCN call layer in place of computenetwork.dll.
 */
#include "tests/hcsemu/hcsemu.h"

#include "orchestrator/rec/rec-hcs.h"

const struct rt_hcs_network_api *hcsemu_network_api(void)
{
    static struct rec_hcs_network glue;

    if (!glue.hcn)
        rec_hcs_network_init(&glue, hcsemu_hcn_api());
    return &glue.table;
}
