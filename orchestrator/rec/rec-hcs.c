/* rec-hcs.c - see rec-hcs.h. */
#include "orchestrator/rec/rec-hcs.h"

#include <stdlib.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "netplugins/hns/hns.h"

/* rt_hcs_network_api.namespace_endpoints over HCN (blocking; the driver calls it on a work thread).
 */
static int namespace_endpoints(void *self, const char *namespace_id, struct rt_hcs_nic **ret_nics,
                               size_t *ret_n, struct stk_err *err)
{
    const struct rec_hcs_network *glue = self;
    char **ids = NULL, **macs = NULL;
    size_t n;
    int r;

    r = net_hns_namespace_endpoints(glue->hcn, namespace_id, &ids, &macs, err);
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

void rec_hcs_network_init(struct rec_hcs_network *glue, const struct hcn_api *hcn)
{
    glue->hcn = hcn;
    glue->table.namespace_endpoints = namespace_endpoints;
    glue->table.self = glue;
}

void rec_hcs_network_connect(struct rec_hcs_network *glue, struct rt_ctx *rt,
                             const struct hcn_api *hcn)
{
    rec_hcs_network_init(glue, hcn);
    rt_hcs_ctx_set_network(rt, &glue->table);
}
