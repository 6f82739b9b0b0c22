/*
 * hns-namespace.c - the endpoints of an HCN namespace, for the hcs driver's
 * utility VM NICs (hns.h net_hns_namespace_endpoints()). Kept apart from the
 * plug-in so that using it pulls in no plug-in registry.
 */
#include "netplugins/hns/hns.h"

#include <jansson.h>
#include <string.h>

#include "common/stk-strv.h"
#include "common/win-error.h"

int net_hns_namespace_endpoints(const struct hcn_api *api, const char *namespace_id,
                                char ***ret_ids, char ***ret_macs, struct stk_err *err)
{
    struct stk_strv ids = STK_STRV_INIT, macs = STK_STRV_INIT;
    struct hcn_namespace *ns = NULL;
    char *props = NULL, *rec = NULL;
    json_t *j = NULL, *x;
    size_t i;
    int32_t hr;

    if (!api || !namespace_id || !ret_ids || !ret_macs)
        return stk_err_set(err, STK_EINVAL, 0, "hns: missing argument");
    hr = api->open_namespace(namespace_id, &ns, &rec);
    if (hr >= 0) {
        api->free_string(rec);
        rec = NULL;
        hr = api->query_namespace_properties(ns, NULL, &props, &rec);
        api->close_namespace(ns);
    }
    if (hr < 0) {
        int r = stk_err_set_hresult(err, hr, rec, "query namespace '%s'", namespace_id);

        api->free_string(rec);
        return r;
    }
    api->free_string(rec);
    j = props ? json_loads(props, 0, NULL) : NULL;
    api->free_string(props);
    stk_strv_init(&ids);
    stk_strv_init(&macs);
    json_array_foreach(json_object_get(j, "Resources"), i, x)
    {
        const char *id = json_string_value(json_object_get(json_object_get(x, "Data"), "ID"));
        struct hcn_endpoint *ep = NULL;
        char *eprops = NULL;
        json_t *e = NULL;

        if (strcmp(json_string_value(json_object_get(x, "Type")) ?: "", "Endpoint") != 0 || !id)
            continue;
        if (api->open_endpoint(id, &ep, &rec) >= 0) {
            if (api->query_endpoint_properties(ep, NULL, &eprops, NULL) >= 0 && eprops)
                e = json_loads(eprops, 0, NULL);
            api->close_endpoint(ep);
        }
        api->free_string(rec);
        rec = NULL;
        api->free_string(eprops);
        stk_strv_push(&ids, id);
        stk_strv_push(&macs, json_string_value(json_object_get(e, "MacAddress")) ?: "");
        json_decref(e);
    }
    json_decref(j);
    *ret_ids = ids.v;
    *ret_macs = macs.v;
    return 0;
}
