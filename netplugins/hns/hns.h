/*
 * hns.h - the Windows network plug-in (HNS through HCN, computenetwork.dll):
 * its call layer, its documents and its plug-in descriptor.
 *
 * A stack network is an HCN NAT network (reference/hcs-hns.md §4.2), a
 * sandbox is an HCN namespace (§4.4) whose GUID is the opaque handle the
 * runtime puts into Container.Networking.Namespace, and an attachment is an
 * HCN endpoint created on the network with PortMapping policies (§4.3) and
 * added to the namespace. Every service that shares a network namespace
 * (`network_mode: service:X`) reuses X's sandbox: an endpoint cannot join a
 * second namespace (errata, HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS).
 *
 * Names: networks carry the product-level name, endpoints
 * "<sandbox id>_<network name>", so that objects can be found again after the
 * records are lost; the plug-in's records (aliases, hosts files) live under
 * STATE_DIR/net/hns.
 *
 * The call layer mirrors computenetwork.dll with UTF-8 strings and opaque
 * handles (netplugins/hns/hcn-win32.c fills it on Windows; the emulator of
 * tests/support/hcsemu-hcn.c on Linux). Conventions as in
 * runtime/hcs/hcs-api.h: int32_t HRESULTs, borrowed inputs, outputs released
 * with free_string(), every entry may block (called from work threads only).
 * ERROR_RECORD outputs receive HCN's error document (may be NULL).
 */
#ifndef NET_HNS_H
#define NET_HNS_H

#include <stdint.h>
#include <uv.h>

#include "common/stk-err.h"
#include "netplugins/net-plugin.h"
#include "stk-config.h"

struct json_t;

struct hcn_network;   /* HCN_NETWORK */
struct hcn_endpoint;  /* HCN_ENDPOINT */
struct hcn_namespace; /* HCN_NAMESPACE */

/* The all-zero GUID: "let HNS choose the id" (hcsshim, reference §4.1). */
#define NET_HNS_NULL_GUID "00000000-0000-0000-0000-000000000000"

struct hcn_api {
    const char *name; /* "computenetwork.dll" or "hcsemu" */

    int32_t (*create_network)(const char *id, const char *settings, struct hcn_network **ret,
                              char **ret_error_record);
    int32_t (*open_network)(const char *id, struct hcn_network **ret, char **ret_error_record);
    int32_t (*query_network_properties)(struct hcn_network *net, const char *query,
                                        char **ret_properties, char **ret_error_record);
    int32_t (*delete_network)(const char *id, char **ret_error_record);
    void (*close_network)(struct hcn_network *net);
    /* Stores a JSON array of GUID strings in *RET_IDS. */
    int32_t (*enumerate_networks)(const char *query, char **ret_ids, char **ret_error_record);

    /* The endpoint is created on an open network handle (§4.1). */
    int32_t (*create_endpoint)(struct hcn_network *net, const char *id, const char *settings,
                               struct hcn_endpoint **ret, char **ret_error_record);
    int32_t (*open_endpoint)(const char *id, struct hcn_endpoint **ret, char **ret_error_record);
    int32_t (*query_endpoint_properties)(struct hcn_endpoint *ep, const char *query,
                                         char **ret_properties, char **ret_error_record);
    int32_t (*modify_endpoint)(struct hcn_endpoint *ep, const char *settings,
                               char **ret_error_record);
    int32_t (*delete_endpoint)(const char *id, char **ret_error_record);
    void (*close_endpoint)(struct hcn_endpoint *ep);
    int32_t (*enumerate_endpoints)(const char *query, char **ret_ids, char **ret_error_record);

    int32_t (*create_namespace)(const char *id, const char *settings, struct hcn_namespace **ret,
                                char **ret_error_record);
    int32_t (*open_namespace)(const char *id, struct hcn_namespace **ret, char **ret_error_record);
    int32_t (*query_namespace_properties)(struct hcn_namespace *ns, const char *query,
                                          char **ret_properties, char **ret_error_record);
    int32_t (*modify_namespace)(struct hcn_namespace *ns, const char *settings,
                                char **ret_error_record);
    int32_t (*delete_namespace)(const char *id, char **ret_error_record);
    void (*close_namespace)(struct hcn_namespace *ns);
    int32_t (*enumerate_namespaces)(const char *query, char **ret_ids, char **ret_error_record);

    /* Releases a string the table handed out (CoTaskMemFree on Windows); NULL-safe. */
    void (*free_string)(char *s);
};

/* ---- documents (reference §4) ----------------------------------------- */

/*
 * The HostComputeQuery every query sends: SchemaVersion 2.0, Flags 1 (detailed)
 * or 0 (reference §4.1). Returns a new reference.
 */
struct json_t *net_hns_doc_query(int detailed);

/*
 * A NAT network (reference §4.2, hcsshim HcnGenerateNATNetwork): Name, Type
 * "NAT", SchemaVersion 2.0, one static Ipam with SUBNET and, unless INTERNAL,
 * a default route through GATEWAY. Returns a new reference in *RET_DOC;
 * STK_EINVAL for a missing name, subnet or gateway.
 */
int net_hns_doc_network(const char *name, const char *subnet, const char *gateway, int internal,
                        struct json_t **ret_doc, struct stk_err *err);

/* What an endpoint document needs; all borrowed. */
struct net_hns_endpoint_config {
    const char *name;       /* "<sandbox>_<network>" */
    const char *network_id; /* HostComputeNetwork GUID */
    const struct net_port *ports;
    size_t n_ports;
    const char *ipv4_address;       /* static address, NULL: HNS allocates */
    int prefix_len;                 /* of the static address */
    const char *const *dns_servers; /* NULL-terminated, NULL: no Dns */
    const char *const *dns_search;  /* NULL-terminated, may be NULL */
};

/*
 * An endpoint (reference §4.3): Name, HostComputeNetwork, SchemaVersion 2.0,
 * one PortMapping policy per port with a numeric protocol (TCP 6, UDP 17;
 * errata), IpConfigurations for a static address, Dns. Never sets
 * HostComputeNamespace (read-only). Errors: STK_ENOTSUP for a host IP
 * ("Windows does not support host IP addresses in NAT settings",
 * docker/for-win#10552), STK_EINVAL for another protocol or a zero port (the
 * plug-in allocates ephemeral host ports before building the document).
 */
int net_hns_doc_endpoint(const struct net_hns_endpoint_config *cfg, struct json_t **ret_doc,
                         struct stk_err *err);

/* A namespace: {"SchemaVersion": {2, 0}} (reference §4.4). Returns a new reference. */
struct json_t *net_hns_doc_namespace(void);

/*
 * The HcnModifyNamespace request that adds (ADD non-zero) or removes endpoint
 * ENDPOINT_ID (reference §4.4). Returns a new reference.
 */
struct json_t *net_hns_doc_namespace_endpoint(const char *endpoint_id, int add);

/* Returns the numeric PortMapping protocol of "tcp"/"udp" (6, 17), or -1. */
int net_hns_protocol_number(const char *protocol);

/*
 * Lists the endpoints of HCN namespace NAMESPACE_ID through API (blocking):
 * two new NULL-terminated vectors of the same length, endpoint GUIDs in
 * *RET_IDS and their MAC addresses in *RET_MACS (free with stk_strv_free()).
 * This is what the hcs driver needs to give a utility VM its NICs; the code
 * that builds both connects them (runtime/hcs/hcs.h struct
 * rt_net_peer). Errors: the HRESULT mapped by common/win-error.h.
 */
int net_hns_namespace_endpoints(const struct hcn_api *api, const char *namespace_id,
                                char ***ret_ids, char ***ret_macs, struct stk_err *err);

/* ---- the plug-in --------------------------------------------------------- */

/* The plug-in descriptor ("hns"). The lead registers it under STK_HAVE_HCS. */
extern const struct net_plugin net_plugin_hns;

/*
 * Creates an hns plug-in context on LOOP calling through API (borrowed; must
 * outlive the context). Returns a new context freed with net_ctx_free(), or
 * NULL with ERR filled.
 */
struct net_ctx *net_hns_ctx_new(uv_loop_t *loop, const char *state_dir, const char *run_dir,
                                const struct hcn_api *api, struct stk_err *err);

#if STK_HAVE_HCS
/*
 * Windows only (hcn-win32.c): loads computenetwork.dll. NULL with
 * STK_EUNAVAIL "HNS is not available on this host" when it is missing.
 */
const struct hcn_api *net_hns_api_win32(struct stk_err *err);
#endif

#endif
