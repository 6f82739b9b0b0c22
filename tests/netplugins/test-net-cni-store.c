/*
 * test-net-cni-store.c - the CNI plug-in's pure parts, without root: names,
 * CIDRs, the CNI result parser, the subnet pool, and the hosts/resolv.conf
 * files built from records in a temporary state dir.
 */
#include <criterion/criterion.h>
#include <jansson.h>

#include "stk-config.h"

/* The CNI plug-in is Linux-only (STK_WITH_CNI); elsewhere this file holds no tests. */
#if STK_HAVE_CNI

#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "netplugins/cni/net-cni.h"

static char tmp_dir[64];
static struct net__cni_priv priv;

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;

    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/stk-cni-store-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    priv.net_dir = stk_xasprintf("%s/net", tmp_dir);
    priv.conf_dir = stk_xasprintf("%s/net/conf", tmp_dir);
    priv.ipam_dir = stk_xasprintf("%s/net/ipam", tmp_dir);
    priv.networks_dir = stk_xasprintf("%s/net/networks", tmp_dir);
    priv.sandboxes_dir = stk_xasprintf("%s/net/sandboxes", tmp_dir);
    priv.endpoints_dir = stk_xasprintf("%s/net/endpoints", tmp_dir);
    priv.netns_dir = stk_xasprintf("%s/run/netns", tmp_dir);
    cr_assert_eq(stk_mkdir_p(priv.networks_dir, 0755, &err), 0);
    cr_assert_eq(stk_mkdir_p(priv.sandboxes_dir, 0755, &err), 0);
    cr_assert_eq(stk_mkdir_p(priv.endpoints_dir, 0755, &err), 0);
    cr_assert_eq(stk_mkdir_p(priv.netns_dir, 0755, &err), 0);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    stk_rm_rf(tmp_dir, &err);
    stk_err_clear(&err);
    free(priv.net_dir);
    free(priv.conf_dir);
    free(priv.ipam_dir);
    free(priv.networks_dir);
    free(priv.sandboxes_dir);
    free(priv.endpoints_dir);
    free(priv.netns_dir);
    net__cni_hosts_release(&priv);
    memset(&priv, 0, sizeof(priv));
}

TestSuite(net_cni_store, .init = setup, .fini = teardown);

static void save(const char *path, const char *json)
{
    struct stk_err err = STK_ERR_INIT;
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    char *dir = stk_xstrdup(path);

    cr_assert_not_null(j, "bad test JSON: %s", jerr.text);
    *strrchr(dir, '/') = '\0';
    cr_assert_eq(stk_mkdir_p(dir, 0755, &err), 0, "%s", err.msg);
    cr_assert_eq(net__cni_json_save(path, j, &err), 0, "%s", err.msg);
    json_decref(j);
    free(dir);
}

static void add_network(const char *name, const char *subnet)
{
    char *path = net__cni_network_path(&priv, name);
    char *json = stk_xasprintf("{\"name\": \"%s\", \"subnet\": \"%s\"}", name, subnet);

    save(path, json);
    free(path);
    free(json);
}

static char *add_sandbox(const char *id, const char *hostname)
{
    char *path = net__cni_sandbox_path(&priv, id);
    char *hosts = stk_xasprintf("%s/%s.hosts", priv.netns_dir, id);
    char *json = stk_xasprintf("{\"id\": \"%s\", \"hostname\": \"%s\", \"hosts_path\": \"%s\"}", id,
                               hostname, hosts);

    save(path, json);
    free(path);
    free(json);
    return hosts;
}

static void add_endpoint(const char *sb, const char *net, const char *ip, const char *aliases)
{
    char *path = net__cni_endpoint_path(&priv, sb, net);
    char *json = stk_xasprintf("{\"network\": \"%s\", \"sandbox\": \"%s\", \"ipv4\": \"%s\", "
                               "\"aliases\": %s, \"state\": \"ready\"}",
                               net, sb, ip, aliases);

    save(path, json);
    free(path);
    free(json);
}

static char *slurp(const char *path)
{
    struct stk_err err = STK_ERR_INIT;
    char *data = NULL;

    cr_assert_eq(stk_file_read(path, &data, NULL, &err), 0, "%s", err.msg);
    return data;
}

Test(net_cni_store, names_follow_the_cni_rule)
{
    const char *good[] = {"proj_default", "a", "A.b-c_9", "0net"};
    const char *bad[] = {"", "../x", "a/b", ".hidden", "-x", "_x", "a b", "x\n"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(net__cni_name_valid(good[i]), "'%s' rejected", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!net__cni_name_valid(bad[i]), "'%s' accepted", bad[i]);
    cr_assert(!net__cni_name_valid(NULL));
}

Test(net_cni_store, hosts_names_cannot_break_the_file)
{
    cr_assert(net__cni_hostname_valid("web"));
    cr_assert(net__cni_hostname_valid("shop-web-1.local"));
    cr_assert(net__cni_hostname_valid("my_db"));
    cr_assert(!net__cni_hostname_valid(""));
    cr_assert(!net__cni_hostname_valid(NULL));
    cr_assert(!net__cni_hostname_valid("a b"));
    cr_assert(!net__cni_hostname_valid("a\n10.0.0.1 evil"));
    cr_assert(!net__cni_hostname_valid("a#b"));
}

Test(net_cni_store, bridge_names_are_short_stable_and_distinct)
{
    char a[16], a2[16], b[16];

    net__cni_bridge_name("shop_default", a);
    net__cni_bridge_name("shop_default", a2);
    net__cni_bridge_name("shop_backend", b);
    cr_assert_str_eq(a, a2);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), 12);
    cr_assert(strncmp(a, "stk-", 4) == 0);
    for (size_t i = 4; i < 12; i++)
        cr_assert(strchr("0123456789abcdef", a[i]), "'%s' is not hex", a);
}

Test(net_cni_store, bridge_mac_is_fixed_and_locally_administered)
{
    char a[18], a2[18], b[18];

    net__cni_bridge_mac("shop_default", a);
    net__cni_bridge_mac("shop_default", a2);
    net__cni_bridge_mac("shop_backend", b);
    cr_assert_str_eq(a, a2);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), 17);
    cr_assert(strncmp(a, "02:", 3) == 0, "%s", a);
}

Test(net_cni_store, cidr_parsing)
{
    uint32_t addr = 0;
    int prefix = 0;

    cr_assert_eq(net__cni_cidr_parse("10.89.3.0/24", &addr, &prefix), 0);
    cr_assert_eq(addr, (10u << 24) | (89u << 16) | (3u << 8));
    cr_assert_eq(prefix, 24);
    cr_assert_eq(net__cni_cidr_parse("10.89.3.0", &addr, &prefix), STK_EINVAL);
    cr_assert_eq(net__cni_cidr_parse("10.89.3.0/33", &addr, &prefix), STK_EINVAL);
    cr_assert_eq(net__cni_cidr_parse("10.89.3.0/", &addr, &prefix), STK_EINVAL);
    cr_assert_eq(net__cni_cidr_parse("10.89.300.0/24", &addr, &prefix), STK_EINVAL);
    cr_assert_eq(net__cni_cidr_parse("fd00::/64", &addr, &prefix), STK_EINVAL);
    cr_assert_eq(net__cni_cidr_parse(NULL, &addr, &prefix), STK_EINVAL);
}

Test(net_cni_store, result_parser_picks_the_sandbox_interface)
{
    /* The shape of a bridge plugin ADD result (CNI 1.0). */
    const char *doc =
        "{\"cniVersion\": \"1.0.0\", \"interfaces\": ["
        "{\"name\": \"stk-12345678\", \"mac\": \"aa:aa:aa:aa:aa:aa\"},"
        "{\"name\": \"veth1\", \"mac\": \"bb:bb:bb:bb:bb:bb\"},"
        "{\"name\": \"eth0\", \"mac\": \"cc:cc:cc:cc:cc:cc\", \"sandbox\": \"/run/x\"}],"
        "\"ips\": [{\"address\": \"fd00::5/64\", \"interface\": 2},"
        "{\"address\": \"10.89.0.9/24\", \"gateway\": \"10.89.0.1\", \"interface\": 2}]}";
    json_t *res = json_loads(doc, 0, NULL);
    struct net_endpoint_info ep = {0};
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(net__cni_result_parse(res, "eth0", &ep, &err), 0, "%s", err.msg);
    cr_assert_str_eq(ep.ipv4, "10.89.0.9");
    cr_assert_eq(ep.prefix_len, 24);
    cr_assert_str_eq(ep.mac, "cc:cc:cc:cc:cc:cc");
    net_endpoint_info_release(&ep);
    json_decref(res);

    res = json_loads("{\"ips\": [{\"address\": \"fd00::5/64\"}]}", 0, NULL);
    cr_assert_eq(net__cni_result_parse(res, "eth0", &ep, &err), STK_ENET);
    cr_assert_null(ep.ipv4, "output written on failure");
    stk_err_clear(&err);
    json_decref(res);
}

Test(net_cni_store, subnet_pool_skips_used_subnets)
{
    struct stk_err err = STK_ERR_INIT;
    char *subnet = NULL, *gateway = NULL, *other;
    uint32_t a;
    int pl;

    add_network("one", "10.89.0.0/24");
    add_network("two", "10.89.1.0/24");
    cr_assert_eq(net__cni_subnet_alloc(&priv, &subnet, &gateway, &err), 0, "%s", err.msg);
    cr_assert_eq(net__cni_cidr_parse(subnet, &a, &pl), 0);
    cr_assert_eq(pl, 24);
    cr_assert_eq(a >> 16, (10u << 8) | 89u, "%s is not in the pool", subnet);
    cr_assert(((a >> 8) & 255) >= 2, "%s is already used", subnet);
    cr_assert(strncmp(gateway, subnet, strlen(subnet) - 4) == 0 &&
                  strcmp(gateway + strlen(gateway) - 2, ".1") == 0,
              "gateway %s for %s", gateway, subnet);
    free(subnet);
    free(gateway);

    other = net__cni_subnet_conflict(&priv, "10.89.1.128/25", "three");
    cr_assert_str_eq(other, "two");
    free(other);
    cr_assert_null(net__cni_subnet_conflict(&priv, "10.89.1.0/24", "two"));
    cr_assert_null(net__cni_subnet_conflict(&priv, "10.90.0.0/24", "three"));

    /* A network covering the whole pool leaves nothing. */
    add_network("all", "10.89.0.0/16");
    subnet = gateway = NULL;
    cr_assert_eq(net__cni_subnet_alloc(&priv, &subnet, &gateway, &err), STK_ENET);
    cr_assert_null(subnet);
    stk_err_clear(&err);
}

Test(net_cni_store, hosts_files_list_shared_networks_and_keep_their_inode)
{
    struct stk_err err = STK_ERR_INIT;
    char *ha = add_sandbox("sa", "alpha");
    char *hb = add_sandbox("sb", "beta");
    char *hc = add_sandbox("sc", "gamma");
    char *nets[] = {(char *)"n1", NULL};
    char *text, *path;
    struct stat st0, st1;

    add_endpoint("sa", "n1", "10.0.0.2", "[\"web\", \"www\"]");
    add_endpoint("sb", "n1", "10.0.0.3", "[\"db\"]");
    add_endpoint("sc", "n2", "10.1.0.2", "[\"other\"]");

    cr_assert_eq(net__cni_hosts_write(&priv, "sa", &err), 0, "%s", err.msg);
    text = slurp(ha);
    cr_assert_str_eq(text, "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                           "10.0.0.2\talpha web www\n"
                           "10.0.0.3\tbeta db\n");
    free(text);
    cr_assert_eq(stat(ha, &st0), 0);

    /* B leaves n1: refreshing n1 rewrites A in place and leaves C alone. */
    path = net__cni_endpoint_path(&priv, "sb", "n1");
    cr_assert_eq(unlink(path), 0);
    free(path);
    cr_assert_eq(net__cni_hosts_refresh(&priv, nets, "sb", &err), 0, "%s", err.msg);
    text = slurp(ha);
    cr_assert_str_eq(text, "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.0.2\talpha web www\n");
    free(text);
    cr_assert_eq(stat(ha, &st1), 0);
    cr_assert_eq(st0.st_ino, st1.st_ino, "hosts file replaced, not rewritten in place");
    text = slurp(hb);
    cr_assert_str_eq(text, "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    free(text);
    cr_assert(!stk_path_exists(hc), "hosts file of a sandbox on another network was written");

    /* A missing sandbox is a no-op. */
    cr_assert_eq(net__cni_hosts_write(&priv, "nobody", &err), 0);
    free(ha);
    free(hb);
    free(hc);
}

/* ---- hosts files: O(N) writes and reads per up (net-cni.h, "Hosts files") ---- */

#define HOSTS_N 50

/* What attach_added does once the endpoint record of SB on NET is saved. */
static void attached(const char *sb, const char *net, const char *ip)
{
    struct stk_err err = STK_ERR_INIT;
    char *path = net__cni_endpoint_path(&priv, sb, net);
    json_t *ep = NULL;

    add_endpoint(sb, net, ip, "[]");
    cr_assert_eq(net__cni_json_load(path, &ep, &err), 0, "%s", err.msg);
    net__cni_hosts_endpoint_set(&priv, sb, net, ep);
    cr_assert_eq(net__cni_hosts_changed(&priv, net, sb, &err), 0, "%s", err.msg);
    json_decref(ep);
    free(path);
}

/* What sbcreate_loopback_done does: saves the record of sandbox ID, updates the view. */
static char *created(const char *id, const char *hostname)
{
    struct stk_err err = STK_ERR_INIT;
    char *hosts = add_sandbox(id, hostname);
    char *path = net__cni_sandbox_path(&priv, id);
    json_t *rec = NULL;

    cr_assert_eq(net__cni_json_load(path, &rec, &err), 0, "%s", err.msg);
    net__cni_hosts_sandbox_set(&priv, id, rec);
    json_decref(rec);
    free(path);
    return hosts;
}

/* Asserts that HOSTS lists exactly the members h<FIRST>..h<LAST-1>. */
static void expect_members(const char *hosts, int first, int last)
{
    char *text = slurp(hosts);
    int lines = 0;

    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 2 + (last - first), "%s has %d lines, want %d:\n%s", hosts, lines,
                 2 + (last - first), text);
    for (int i = first; i < last; i++) {
        char want[48];

        snprintf(want, sizeof(want), "10.0.%d.%d\th%d\n", i / 200, 2 + i % 200, i);
        cr_assert_not_null(strstr(text, want), "%s lacks h%d:\n%s", hosts, i, text);
    }
    free(text);
}

Test(net_cni_store, attaches_write_hosts_files_a_linear_number_of_times)
{
    struct stk_err err = STK_ERR_INIT;
    char *hosts[HOSTS_N];
    unsigned long before, during;

    for (int i = 0; i < HOSTS_N; i++) {
        char id[16], host[16];

        snprintf(id, sizeof(id), "s%d", i);
        snprintf(host, sizeof(host), "h%d", i);
        hosts[i] = add_sandbox(id, host);
    }
    before = priv.hosts_writes;
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16], ip[32];

        snprintf(id, sizeof(id), "s%d", i);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 200, 2 + i % 200);
        attached(id, "n1", ip);
        /* The attaching sandbox resolves every member attached before it, at once. */
        expect_members(hosts[i], 0, i + 1);
    }
    during = priv.hosts_writes - before;
    {
        /* s0 was last spread to when s32 attached (2 * pending >= members). */
        char *text = slurp(hosts[0]);

        cr_assert_null(strstr(text, "\th49\n"), "s0 already lists h49: nothing was deferred");
        free(text);
    }
    cr_assert_eq(net__cni_hosts_flush(&priv, 1, &err), 0, "%s", err.msg);
    cr_log_info("%d attaches: %lu hosts writes, %lu with the flush (was %d)", HOSTS_N, during,
                priv.hosts_writes - before, HOSTS_N * (HOSTS_N + 1) / 2);
    cr_assert_leq(during, 3 * HOSTS_N);
    cr_assert_leq(priv.hosts_writes - before, 4 * HOSTS_N);
    for (int i = 0; i < HOSTS_N; i++)
        expect_members(hosts[i], 0, HOSTS_N);

    /* Nothing changed: a second flush writes nothing. */
    before = priv.hosts_writes;
    cr_assert_eq(net__cni_hosts_flush(&priv, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(priv.hosts_writes, before, "unchanged files were rewritten");
    for (int i = 0; i < HOSTS_N; i++)
        free(hosts[i]);
}

Test(net_cni_store, attach_reads_no_other_record_once_the_view_is_loaded)
{
    char *ha = add_sandbox("sa", "alpha");
    char *hb = add_sandbox("sb", "beta");
    char *hc = add_sandbox("sc", "gamma");
    char *path = net__cni_endpoint_path(&priv, "sa", "n1");
    char *text;

    attached("sa", "n1", "10.0.0.2");
    /* Another record made unreadable on disk: the view still holds what the plug-in wrote. */
    cr_assert_eq(stk_file_write_atomic(path, "not json", 8, 0644, 0, NULL), 0);
    attached("sb", "n1", "10.0.0.3");
    text = slurp(hb);
    cr_assert_str_eq(text, "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                           "10.0.0.2\talpha\n10.0.0.3\tbeta\n");
    free(text);
    /* A removed endpoint leaves the view with its own file rewritten at once. */
    net__cni_hosts_endpoint_set(&priv, "sa", "n1", NULL);
    cr_assert_eq(net__cni_hosts_changed(&priv, "n1", "sa", NULL), 0);
    text = slurp(ha);
    cr_assert_str_eq(text, "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    free(text);
    cr_assert(!stk_path_exists(hc), "a sandbox on no network got a hosts file");
    free(path);
    free(ha);
    free(hb);
    free(hc);
}

Test(net_cni_store, flush_repairs_only_stale_hosts_files_after_an_aborted_pass)
{
    struct stk_err err = STK_ERR_INIT;
    char *hosts[10];
    struct stat st0, st1;
    unsigned long before;

    for (int i = 0; i < 10; i++) {
        char id[16], host[16], ip[32];

        snprintf(id, sizeof(id), "s%d", i);
        snprintf(host, sizeof(host), "h%d", i);
        hosts[i] = created(id, host);
        snprintf(ip, sizeof(ip), "10.0.0.%d", 2 + i);
        attached(id, "n1", ip);
    }
    /* The pass is aborted here (no flush): early members miss the late ones. */
    {
        char *text = slurp(hosts[0]);

        cr_assert_null(strstr(text, "\th9\n"), "s0 lists h9: nothing was deferred");
        free(text);
    }
    net__cni_hosts_release(&priv); /* a new process */
    cr_assert_eq(stat(hosts[9], &st0), 0);
    before = priv.hosts_writes;
    cr_assert_eq(net__cni_hosts_flush(&priv, 1, &err), 0, "%s", err.msg);
    for (int i = 0; i < 10; i++)
        expect_members(hosts[i], 0, 10);
    /* s9 attached last and was complete: it was read, not rewritten. */
    cr_assert_eq(stat(hosts[9], &st1), 0);
    cr_assert(st0.st_ctim.tv_sec == st1.st_ctim.tv_sec &&
                  st0.st_ctim.tv_nsec == st1.st_ctim.tv_nsec,
              "a complete file was rewritten");
    cr_assert_lt(priv.hosts_writes - before, 10);
    for (int i = 0; i < 10; i++)
        free(hosts[i]);
}

Test(net_cni_store, resolv_conf_has_no_nameserver)
{
    struct stk_err err = STK_ERR_INIT;
    char *path = stk_xasprintf("%s/resolv.conf", tmp_dir);
    char *text;

    json_t *rec = json_object();

    cr_assert_eq(net__cni_resolv_write(path, rec, &err), 0, "%s", err.msg);
    text = slurp(path);
    cr_assert_null(strstr(text, "nameserver"), "%s", text);
    free(text);
    /* A service that asks for resolvers (Compose dns, dns_search) gets exactly those. */
    json_object_set_new(rec, "dns", json_pack("[s, s]", "127.0.0.53", "10.0.0.2"));
    json_object_set_new(rec, "dns_search", json_pack("[s]", "example.test"));
    cr_assert_eq(net__cni_resolv_write(path, rec, &err), 0, "%s", err.msg);
    text = slurp(path);
    cr_assert(strstr(text, "nameserver 127.0.0.53\nnameserver 10.0.0.2\n"), "%s", text);
    cr_assert(strstr(text, "search example.test\n"), "%s", text);
    free(text);
    json_decref(rec);
    free(path);
}

Test(net_cni_store, port_conflicts_follow_protocol_and_host_address)
{
    char *path = net__cni_endpoint_path(&priv, "sa", "n1");
    char *owner;

    save(path, "{\"ports\": [{\"host_port\": 8080, \"container_port\": 80, \"protocol\": \"tcp\","
               " \"host_ip\": \"127.0.0.1\"}]}");
    free(path);

    owner = net__cni_port_conflict(&priv, "sb", "n1", 8080, "tcp", "");
    cr_assert_str_eq(owner, "sa");
    free(owner);
    owner = net__cni_port_conflict(&priv, "sb", "n2", 8080, "tcp", "127.0.0.1");
    cr_assert_str_eq(owner, "sa");
    free(owner);
    cr_assert_null(net__cni_port_conflict(&priv, "sb", "n1", 8080, "udp", ""));
    cr_assert_null(net__cni_port_conflict(&priv, "sb", "n1", 8081, "tcp", ""));
    cr_assert_null(net__cni_port_conflict(&priv, "sb", "n1", 8080, "tcp", "192.0.2.9"));
    /* The endpoint itself (re-attach) is no conflict. */
    cr_assert_null(net__cni_port_conflict(&priv, "sa", "n1", 8080, "tcp", ""));
}

Test(net_cni_store, init_fails_cleanly_on_an_unusable_state_dir)
{
    struct stk_err err = STK_ERR_INIT;
    const struct net_plugin *plugin = net_plugin_find("cni", &err);
    uv_loop_t loop;
    struct net_ctx *ctx;

    cr_assert_not_null(plugin, "%s", err.msg);
    cr_assert_eq(uv_loop_init(&loop), 0);
    ctx = net_ctx_new(plugin, &loop, "/dev/null/state", "/dev/null/run", &err);
    cr_assert_null(ctx);
    /* Without the plugins the error says so; with them, the state dir cannot be made. */
    cr_assert(err.code == STK_EIO || err.code == STK_EUNAVAIL, "%d %s", err.code, err.msg);
    stk_err_clear(&err);
    uv_loop_close(&loop);
}

#endif /* STK_HAVE_CNI */
