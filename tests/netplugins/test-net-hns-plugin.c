/*
 * test-net-hns-plugin.c - the "hns" network plug-in (netplugins/hns) through
 * its whole life cycle against the HCN emulator (tests/hcsemu), and the
 * public reports of reference/compose-and-orchestrators.md §3 about Windows
 * networking (NAT host IP, stale endpoints).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "netplugins/hns/hns.h"
#include "tests/hcsemu/hcsemu.h"

static uv_loop_t loop;
static char tmp[] = "/tmp/stk-hns-XXXXXX";
static struct net_ctx *ctx;

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmp));
    hcsemu_new("10.0.20348", "server");
    ctx = net_hns_ctx_new(&loop, tmp, tmp, hcsemu_hcn_api(), &err);
    cr_assert_not_null(ctx, "%s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    net_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    hcsemu_free();
    stk_rm_rf(tmp, &err);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
}

TestSuite(net_hns_plugin, .init = setup, .fini = teardown);

static int net_create(const char *name, const char *subnet, struct net_network_info *ret,
                      struct stk_err *err)
{
    struct net_network_spec spec = {(char *)name, (char *)subnet, NULL, 0, (char *)"shop", NULL};
    struct net_sync s = NET_SYNC_INIT;
    int r =
        net_sync_wait(&loop, &s, net_network_create(ctx, &spec, net_sync_done, &s, NULL, err), err);

    if (r == 0 && ret)
        net_network_info_copy(ret, &s.network);
    net_sync_release(&s);
    return r;
}

static int sb_create(const char *id, struct net_sandbox_info *ret, struct stk_err *err)
{
    struct net_sandbox_spec spec = {(char *)id, (char *)id, (char *)"shop", NULL, NULL, NULL};
    struct net_sync s = NET_SYNC_INIT;
    int r =
        net_sync_wait(&loop, &s, net_sandbox_create(ctx, &spec, net_sync_done, &s, NULL, err), err);

    if (r == 0 && ret)
        net_sandbox_info_copy(ret, &s.sandbox);
    net_sync_release(&s);
    return r;
}

static int attach(const char *net, const char *sb, struct net_port *ports, size_t n_ports,
                  const char *ipv4, const char *alias, struct net_endpoint_info *ret,
                  struct stk_err *err)
{
    char *aliases[] = {(char *)alias, NULL};
    struct net_attachment att = {(char *)net, (char *)sb, NULL,        aliases,
                                 ports,       n_ports,    (char *)ipv4};
    struct net_sync s = NET_SYNC_INIT;
    int r =
        net_sync_wait(&loop, &s, net_endpoint_attach(ctx, &att, net_sync_done, &s, NULL, err), err);

    if (r == 0 && ret)
        net_endpoint_info_copy(ret, &s.endpoint);
    net_sync_release(&s);
    return r;
}

#define SIMPLE2(name, call)                                                                        \
    static int name(const char *a, const char *b, struct stk_err *err)                             \
    {                                                                                              \
        struct net_sync s = NET_SYNC_INIT;                                                         \
        int r = net_sync_wait(&loop, &s, call(ctx, a, b, net_sync_done, &s, NULL, err), err);      \
        net_sync_release(&s);                                                                      \
        return r;                                                                                  \
    }
SIMPLE2(detach, net_endpoint_detach)
SIMPLE2(check, net_endpoint_check)

#define SIMPLE1(name, call)                                                                        \
    static int name(const char *a, struct stk_err *err)                                            \
    {                                                                                              \
        struct net_sync s = NET_SYNC_INIT;                                                         \
        int r = net_sync_wait(&loop, &s, call(ctx, a, net_sync_done, &s, NULL, err), err);         \
        net_sync_release(&s);                                                                      \
        return r;                                                                                  \
    }
SIMPLE1(net_remove, net_network_remove)
SIMPLE1(sb_remove, net_sandbox_remove)

/* Returns the ExternalPort of the first PortMapping of the only endpoint in HCN. */
static int published_port(void)
{
    const struct hcn_api *api = hcsemu_hcn_api();
    char *ids = NULL, *props = NULL;
    struct hcn_endpoint *h = NULL;
    json_t *a, *p;
    int port;

    cr_assert_eq(api->enumerate_endpoints(NULL, &ids, NULL), 0);
    a = json_loads(ids, 0, NULL);
    cr_assert_eq(json_array_size(a), 1);
    cr_assert_eq(api->open_endpoint(json_string_value(json_array_get(a, 0)), &h, NULL), 0);
    cr_assert_eq(api->query_endpoint_properties(h, NULL, &props, NULL), 0);
    p = json_loads(props, 0, NULL);
    port = (int)json_integer_value(json_object_get(
        json_object_get(json_array_get(json_object_get(p, "Policies"), 0), "Settings"),
        "ExternalPort"));
    json_decref(p);
    json_decref(a);
    api->close_endpoint(h);
    free(ids);
    free(props);
    return port;
}

Test(net_hns_plugin, full_life_cycle_with_a_shared_sandbox)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_network_info n1 = {0}, n2 = {0};
    struct net_sandbox_info web = {0}, web_again = {0}, db = {0};
    struct net_endpoint_info e1 = {0}, e2 = {0}, e1_again = {0};
    struct net_port http = {8080, 80, "tcp", "", 0};
    struct net_sync s = NET_SYNC_INIT;
    char *hosts = NULL;

    cr_assert_eq(net_create("shop_default", NULL, &n1, &err), 0, "%s", err.msg);
    cr_assert_str_eq(n1.subnet, "172.30.0.0/24");
    cr_assert_str_eq(n1.gateway, "172.30.0.1");
    cr_assert_eq(net_create("shop_default", NULL, &n2, &err), 0, "%s", err.msg);
    cr_assert_str_eq(n2.bridge, n1.bridge, "creating an existing network returns it");
    cr_assert_eq(hcsemu_count_networks(), 1);

    cr_assert_eq(sb_create("shop-web-1-aaaaaa", &web, &err), 0, "%s", err.msg);
    cr_assert_eq(strlen(web.handle), 36, "the handle is the HCN namespace GUID");
    /* A network_mode: service:web joiner reuses web's sandbox (one namespace). */
    cr_assert_eq(sb_create("shop-web-1-aaaaaa", &web_again, &err), 0, "%s", err.msg);
    cr_assert_str_eq(web_again.handle, web.handle);
    cr_assert_eq(hcsemu_count_namespaces(), 1);

    cr_assert_eq(attach("shop_default", "shop-web-1-aaaaaa", &http, 1, NULL, "web", &e1, &err), 0,
                 "%s", err.msg);
    cr_assert(strncmp(e1.ipv4, "172.30.0.", 9) == 0, "%s", e1.ipv4);
    cr_assert_eq(e1.prefix_len, 24);
    cr_assert_eq(published_port(), 8080);
    cr_assert_eq(
        attach("shop_default", "shop-web-1-aaaaaa", &http, 1, NULL, "web", &e1_again, &err), 0,
        "attaching again returns the endpoint: %s", err.msg);
    cr_assert_str_eq(e1_again.ipv4, e1.ipv4);
    cr_assert_eq(hcsemu_count_endpoints(), 1);

    cr_assert_eq(sb_create("shop-db-1-bbbbbb", &db, &err), 0, "%s", err.msg);
    cr_assert_eq(
        attach("shop_default", "shop-db-1-bbbbbb", NULL, 0, "172.30.0.50", "db", &e2, &err), 0,
        "%s", err.msg);
    cr_assert_str_eq(e2.ipv4, "172.30.0.50");
    cr_assert_eq(stk_file_read(web.hosts_path, &hosts, NULL, &err), 0, "%s", err.msg);
    cr_assert(strstr(hosts, "172.30.0.50\tdb"), "%s", hosts);
    cr_assert(strstr(hosts, "shop-web-1-aaaaaa\tweb"), "%s", hosts);
    free(hosts);

    cr_assert_eq(check("shop_default", "shop-web-1-aaaaaa", &err), 0, "%s", err.msg);
    cr_assert_eq(net_sync_wait(&loop, &s, net_list(ctx, net_sync_done, &s, NULL, &err), &err), 0);
    cr_assert_eq(s.inventory.n_networks, 1);
    cr_assert_eq(s.inventory.n_sandboxes, 2);
    cr_assert_eq(s.inventory.n_endpoints, 2);
    net_sync_release(&s);

    cr_assert_eq(detach("shop_default", "shop-db-1-bbbbbb", &err), 0, "%s", err.msg);
    cr_assert_eq(detach("shop_default", "shop-db-1-bbbbbb", &err), 0, "a missing one succeeds");
    cr_assert_eq(check("shop_default", "shop-db-1-bbbbbb", &err), STK_ENOENT);
    cr_assert_eq(hcsemu_count_endpoints(), 1);
    cr_assert_eq(sb_remove("shop-db-1-bbbbbb", &err), 0, "%s", err.msg);
    cr_assert_eq(sb_remove("shop-web-1-aaaaaa", &err), 0, "%s", err.msg);
    cr_assert_eq(net_remove("shop_default", &err), 0, "%s", err.msg);
    cr_assert_eq(net_remove("shop_default", &err), 0, "a missing network succeeds");
    cr_assert_eq(hcsemu_count_networks(), 0);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    cr_assert_eq(hcsemu_count_namespaces(), 0);
    cr_assert_eq(hcsemu_count_hcn_handles(), 0);
    cr_assert_not(stk_path_exists(web.hosts_path));

    net_network_info_release(&n1);
    net_network_info_release(&n2);
    net_sandbox_info_release(&web);
    net_sandbox_info_release(&web_again);
    net_sandbox_info_release(&db);
    net_endpoint_info_release(&e1);
    net_endpoint_info_release(&e2);
    net_endpoint_info_release(&e1_again);
}

Test(net_hns_plugin, a_published_port_is_exclusive_per_protocol)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_port tcp = {8080, 80, "tcp", "", 0};
    struct net_port udp = {8080, 80, "udp", "", 0};

    cr_assert_eq(net_create("n", "172.31.0.0/24", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("a", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("b", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("c", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(attach("n", "a", &tcp, 1, NULL, "a", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(attach("n", "b", &tcp, 1, NULL, "b", NULL, &err), STK_EBUSY);
    cr_assert(strstr(err.msg, "HCN_E_PORT_ALREADY_EXISTS"), "%s", err.msg);
    cr_assert_eq(hcsemu_count_endpoints(), 1, "the refused endpoint left nothing behind");
    cr_assert_eq(attach("n", "c", &udp, 1, NULL, "c", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(net_remove("n", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    stk_err_clear(&err);
}

/*
 * docker/for-win#10552: `ports: ["80"]` gets an ephemeral host port without a
 * host IP; `127.0.0.1:3000:3000` is refused with the Windows message.
 */
Test(net_hns_plugin, for_win_10552_nat_host_ip)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_port ephemeral = {0, 80, "tcp", "", 0};
    struct net_port with_ip = {3000, 3000, "tcp", "127.0.0.1", 0};
    int port;

    cr_assert_eq(net_create("n", NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("a", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("b", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(attach("n", "a", &ephemeral, 1, NULL, "a", NULL, &err), 0, "%s", err.msg);
    port = published_port();
    cr_assert(port >= 49152 && port <= 65535, "ephemeral port %d", port);
    cr_assert_eq(attach("n", "b", &with_ip, 1, NULL, "b", NULL, &err), STK_ENOTSUP);
    cr_assert(strstr(err.msg, "Windows does not support host IP addresses in NAT settings"), "%s",
              err.msg);
    cr_assert_eq(hcsemu_count_endpoints(), 1);
    cr_assert_eq(sb_remove("a", &err), 0);
    cr_assert_eq(sb_remove("b", &err), 0);
    cr_assert_eq(net_remove("n", &err), 0);
    stk_err_clear(&err);
}

/*
 * moby/moby#47576: after an unclean shutdown the endpoint of a stopped
 * container survives and holds its address; HCN then refuses a new endpoint
 * with "An address provided is invalid or reserved (0x803b002f)". The plug-in
 * removes the stale endpoint (same name, not in the sandbox's namespace)
 * before creating the new one.
 */
Test(net_hns_plugin, moby_47576_stale_endpoint_is_removed_before_attach)
{
    const struct hcn_api *api = hcsemu_hcn_api();
    struct stk_err err = STK_ERR_INIT;
    struct net_network_info n = {0};
    struct net_endpoint_info e = {0};
    struct hcn_network *nh = NULL;
    struct hcn_endpoint *eh = NULL;
    char *doc, *rec = NULL;

    cr_assert_eq(net_create("shop_default", "172.30.0.0/24", &n, &err), 0, "%s", err.msg);
    cr_assert_eq(sb_create("web", NULL, &err), 0, "%s", err.msg);
    /* What the previous boot left: web's endpoint, in no namespace, holding .10. */
    cr_assert_eq(api->open_network(n.bridge, &nh, NULL), 0);
    doc =
        stk_xasprintf("{\"Name\":\"web_shop_default\",\"HostComputeNetwork\":\"%s\","
                      "\"SchemaVersion\":{\"Major\":2,\"Minor\":0},"
                      "\"IpConfigurations\":[{\"IpAddress\":\"172.30.0.10\",\"PrefixLength\":24}]}",
                      n.bridge);
    cr_assert_eq(api->create_endpoint(nh, NET_HNS_NULL_GUID, doc, &eh, &rec), 0, "%s", rec);
    api->close_endpoint(eh);
    free(doc);
    /* Without the cleanup HCN refuses the address, as in the report. */
    doc =
        stk_xasprintf("{\"Name\":\"other\",\"HostComputeNetwork\":\"%s\","
                      "\"SchemaVersion\":{\"Major\":2,\"Minor\":0},"
                      "\"IpConfigurations\":[{\"IpAddress\":\"172.30.0.10\",\"PrefixLength\":24}]}",
                      n.bridge);
    cr_assert_eq((uint32_t)api->create_endpoint(nh, NET_HNS_NULL_GUID, doc, &eh, &rec),
                 0x803B002Fu);
    free(rec);
    free(doc);
    api->close_network(nh);

    cr_assert_eq(attach("shop_default", "web", NULL, 0, "172.30.0.10", "web", &e, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(e.ipv4, "172.30.0.10");
    cr_assert_eq(hcsemu_count_endpoints(), 1, "the stale endpoint was removed");
    cr_assert_eq(sb_remove("web", &err), 0);
    cr_assert_eq(net_remove("shop_default", &err), 0);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    net_network_info_release(&n);
    net_endpoint_info_release(&e);
}

Test(net_hns_plugin, without_hns_the_plugin_reports_unavailable)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_ctx *bare = net_ctx_new(&net_plugin_hns, &loop, tmp, tmp, &err);
    struct net_network_spec spec = {(char *)"n", NULL, NULL, 0, NULL, NULL};
    struct net_sync s = NET_SYNC_INIT;

    cr_assert_not_null(bare, "%s", err.msg);
    cr_assert_eq(net_network_create(bare, &spec, net_sync_done, &s, NULL, &err), STK_EUNAVAIL);
    cr_assert_str_eq(err.msg, "HNS is not available on this host");
    net_ctx_free(bare);
}
