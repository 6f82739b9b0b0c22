/*
 * rec-hcs.h - the orchestrator's glue between the Windows runtime driver
 * (runtime/hcs) and the Windows network plug-in (netplugins/hns). The two
 * never include each other (DESIGN.md layers); a Hyper-V isolated container's
 * utility VM needs the endpoints of its HCN namespace as NICs (reference
 * hcs-hns.md §4.4), so the code that builds both contexts connects them here.
 */
#ifndef REC_HCS_H
#define REC_HCS_H

#include "runtime/hcs/hcs.h"

struct hcn_api;
struct rt_ctx;

/* The network table handed to the hcs driver, over an HCN call layer. */
struct rec_hcs_network {
    struct rt_hcs_network_api table; /* what rt_hcs_ctx_set_network() receives */
    const struct hcn_api *hcn;       /* borrowed: computenetwork.dll or the emulator */
};

/*
 * Fills GLUE with the table (its namespace_endpoints lists the endpoints of a
 * namespace through HCN with net_hns_namespace_endpoints()); GLUE and HCN are
 * borrowed by the table.
 */
void rec_hcs_network_init(struct rec_hcs_network *glue, const struct hcn_api *hcn);

/*
 * rec_hcs_network_init(), then gives the table to the hcs driver of RT
 * (rt_hcs_ctx_set_network()). GLUE and HCN must outlive RT; RT must be an hcs
 * driver context.
 */
void rec_hcs_network_connect(struct rec_hcs_network *glue, struct rt_ctx *rt,
                             const struct hcn_api *hcn);

#endif
