/*
 * hns-doc.c - HCN documents: query, NAT network, endpoint with PortMapping
 * policies, namespace and namespace modification (reference/hcs-hns.md §4).
 */
#include "netplugins/hns/hns.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

static json_t *schema_v20(void)
{
    return json_pack("{s:i,s:i}", "Major", 2, "Minor", 0);
}

json_t *net_hns_doc_query(int detailed)
{
    return json_pack("{s:o,s:i}", "SchemaVersion", schema_v20(), "Flags", detailed ? 1 : 0);
}

int net_hns_doc_network(const char *name, const char *subnet, const char *gateway, int internal,
                        json_t **ret_doc, struct stk_err *err)
{
    json_t *sn;

    if (!name || !*name || !subnet || !*subnet || !gateway || !*gateway || !ret_doc)
        return stk_err_set(err, STK_EINVAL, 0, "network '%s': name, subnet and gateway are needed",
                           name ? name : "");
    sn = json_pack("{s:s}", "IpAddressPrefix", subnet);
    if (!internal)
        json_object_set_new(
            sn, "Routes",
            json_pack("[{s:s,s:s}]", "NextHop", gateway, "DestinationPrefix", "0.0.0.0/0"));
    *ret_doc = json_pack("{s:s,s:s,s:o,s:[{s:s,s:[o]}]}", "Name", name, "Type", "NAT",
                         "SchemaVersion", schema_v20(), "Ipams", "Type", "Static", "Subnets", sn);
    return 0;
}

int net_hns_protocol_number(const char *protocol)
{
    if (protocol && strcasecmp(protocol, "tcp") == 0)
        return 6;
    if (protocol && strcasecmp(protocol, "udp") == 0)
        return 17;
    return -1;
}

static json_t *strv_array(const char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int net_hns_doc_endpoint(const struct net_hns_endpoint_config *cfg, json_t **ret_doc,
                         struct stk_err *err)
{
    json_t *doc, *policies;

    if (!cfg || !cfg->name || !cfg->network_id || !ret_doc)
        return stk_err_set(err, STK_EINVAL, 0, "endpoint: name and network are needed");
    policies = json_array();
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const struct net_port *p = &cfg->ports[i];
        int proto = net_hns_protocol_number(p->protocol);

        if (p->host_ip[0]) {
            json_decref(policies);
            return stk_err_set(err, STK_ENOTSUP, 0,
                               "port %s:%u:%u: Windows does not support host IP addresses in NAT "
                               "settings",
                               p->host_ip, p->host_port, p->container_port);
        }
        if (proto < 0 || p->host_port == 0 || p->container_port == 0) {
            json_decref(policies);
            return stk_err_set(err, STK_EINVAL, 0,
                               "port %u:%u/%s: only tcp and udp with both ports set can be mapped",
                               p->host_port, p->container_port, p->protocol);
        }
        json_array_append_new(policies, json_pack("{s:s,s:{s:i,s:i,s:i}}", "Type", "PortMapping",
                                                  "Settings", "Protocol", proto, "InternalPort",
                                                  p->container_port, "ExternalPort", p->host_port));
    }
    doc = json_pack("{s:s,s:s,s:o}", "Name", cfg->name, "HostComputeNetwork", cfg->network_id,
                    "SchemaVersion", schema_v20());
    if (json_array_size(policies))
        json_object_set_new(doc, "Policies", policies);
    else
        json_decref(policies);
    if (cfg->ipv4_address && *cfg->ipv4_address)
        json_object_set_new(doc, "IpConfigurations",
                            json_pack("[{s:s,s:i}]", "IpAddress", cfg->ipv4_address, "PrefixLength",
                                      cfg->prefix_len));
    if (cfg->dns_servers && cfg->dns_servers[0]) {
        json_t *dns = json_pack("{s:o}", "ServerList", strv_array(cfg->dns_servers));

        if (cfg->dns_search && cfg->dns_search[0])
            json_object_set_new(dns, "Search", strv_array(cfg->dns_search));
        json_object_set_new(doc, "Dns", dns);
    }
    *ret_doc = doc;
    return 0;
}

json_t *net_hns_doc_namespace(void)
{
    return json_pack("{s:o}", "SchemaVersion", schema_v20());
}

json_t *net_hns_doc_namespace_endpoint(const char *endpoint_id, int add)
{
    return json_pack("{s:s,s:s,s:{s:s}}", "ResourceType", "Endpoint", "RequestType",
                     add ? "Add" : "Remove", "Settings", "EndpointId", endpoint_id);
}
