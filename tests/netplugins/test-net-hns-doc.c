/*
 * test-net-hns-doc.c - golden tests of the HCN documents
 * (netplugins/hns/hns-doc.c) against tests/data/hcs/hcn-*.json, written by
 * hand from reference/hcs-hns.md §4.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "netplugins/hns/hns.h"
#include "tests/hcsemu/hcsemu.h"

static void assert_golden(json_t *doc, const char *name)
{
    char *report = NULL;

    cr_assert(hcsemu_golden_check(STK_TEST_DATA, name, doc, &report), "%s", report);
}

Test(net_hns_doc, nat_network_matches_golden)
{
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(net_hns_doc_network("shop_default", "172.30.0.0/24", "172.30.0.1", 0, &doc, &err),
                 0, "%s", err.msg);
    assert_golden(doc, "hcn-network-nat.json");
    json_decref(doc);
    cr_assert_eq(net_hns_doc_network("shop_backend", "172.30.5.0/24", "172.30.5.1", 1, &doc, &err),
                 0, "%s", err.msg);
    assert_golden(doc, "hcn-network-internal.json");
    json_decref(doc);
    cr_assert_eq(net_hns_doc_network("x", NULL, "172.30.5.1", 0, &doc, &err), STK_EINVAL);
}

Test(net_hns_doc, endpoint_with_ports_matches_golden)
{
    struct net_port ports[] = {
        {8080, 80, "tcp", "", 0},
        {5353, 53, "udp", "", 0},
    };
    const char *dns[] = {"172.30.0.1", NULL};
    const char *search[] = {"shop", NULL};
    struct net_hns_endpoint_config cfg = {
        .name = "shop-web-1-aaaaaa_shop_default",
        .network_id = "a1b2c3d4-0000-4000-8000-000000000001",
        .ports = ports,
        .n_ports = 2,
        .ipv4_address = "172.30.0.10",
        .prefix_len = 24,
        .dns_servers = dns,
        .dns_search = search,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(net_hns_doc_endpoint(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "hcn-endpoint-ports.json");
    json_decref(doc);
}

Test(net_hns_doc, endpoint_without_address_lets_hns_allocate)
{
    struct net_hns_endpoint_config cfg = {
        .name = "shop-worker-1-cccccc_shop_default",
        .network_id = "a1b2c3d4-0000-4000-8000-000000000001",
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(net_hns_doc_endpoint(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "hcn-endpoint-dynamic.json");
    json_decref(doc);
}

/*
 * docker/for-win#10552 (reference/compose-and-orchestrators.md §3 item 8): a
 * host IP in a NAT port mapping is refused with the message Windows users know.
 */
Test(net_hns_doc, endpoint_refuses_host_ip_and_other_protocols)
{
    struct net_port with_ip = {3000, 3000, "tcp", "127.0.0.1", 0};
    struct net_port sctp = {3000, 3000, "sctp", "", 0};
    struct net_port zero = {0, 80, "tcp", "", 0};
    struct net_hns_endpoint_config cfg = {.name = "e", .network_id = "n", .n_ports = 1};
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cfg.ports = &with_ip;
    cr_assert_eq(net_hns_doc_endpoint(&cfg, &doc, &err), STK_ENOTSUP);
    cr_assert(strstr(err.msg, "Windows does not support host IP addresses in NAT settings"), "%s",
              err.msg);
    cfg.ports = &sctp;
    cr_assert_eq(net_hns_doc_endpoint(&cfg, &doc, &err), STK_EINVAL);
    cfg.ports = &zero;
    cr_assert_eq(net_hns_doc_endpoint(&cfg, &doc, &err), STK_EINVAL);
    cr_assert_null(doc);
    cr_assert_eq(net_hns_protocol_number("TCP"), 6);
    cr_assert_eq(net_hns_protocol_number("udp"), 17);
    cr_assert_eq(net_hns_protocol_number("icmp"), -1);
}

Test(net_hns_doc, namespace_documents_match_golden)
{
    json_t *all = json_object();

    json_object_set_new(all, "create", net_hns_doc_namespace());
    json_object_set_new(all, "add",
                        net_hns_doc_namespace_endpoint("e1e1e1e1-0000-4000-8000-000000000002", 1));
    json_object_set_new(all, "remove",
                        net_hns_doc_namespace_endpoint("e1e1e1e1-0000-4000-8000-000000000002", 0));
    json_object_set_new(all, "query", net_hns_doc_query(1));
    assert_golden(all, "hcn-namespace.json");
    json_decref(all);
}
