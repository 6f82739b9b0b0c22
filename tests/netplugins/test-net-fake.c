/*
 * test-net-fake.c - the fake network plug-in (netplugins/fake/net-fake.h): the
 * asynchronous contract of net-plugin.h, its network/sandbox/endpoint model
 * (copied from the CNI plug-in, with real hosts and resolv.conf files), and
 * its scripting API (failures, delays, counters, state file, environment).
 */
#include "netplugins/fake/net-fake.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"

static uv_loop_t loop;
static struct net_ctx *ctx;
static char tmpdir[] = "/tmp/stk-test-fakenet-XXXXXX";

/* Records one operation's completions. */
struct probe {
    int n;             /* DONE calls */
    int returned;      /* set by the test once the op has returned */
    int before_return; /* DONE ran before the op returned */
    struct net_sync s; /* the copied result */
};

static void probe_done(struct net_req *req, const struct net_result *res, const struct stk_err *err,
                       void *userdata)
{
    struct probe *p = userdata;

    p->n++;
    if (!p->returned)
        p->before_return = 1;
    if (p->n == 1)
        net_sync_done(req, res, err, &p->s);
}

/* Runs the loop until P completed, then a few more turns; asserts DONE ran exactly once. */
static int wait_probe(struct probe *p)
{
    while (p->n == 0)
        cr_assert_neq(uv_run(&loop, UV_RUN_ONCE) + p->n, 0, "loop ran dry before DONE");
    for (int i = 0; i < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(p->n, 1, "DONE called %d times", p->n);
    cr_assert_eq(p->before_return, 0, "DONE ran before the op returned");
    return p->s.err.code;
}

static struct net_ctx *ctx_open(struct stk_err *err)
{
    return net_ctx_new(net_plugin_find("fake", err), &loop, tmpdir, tmpdir, err);
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmpdir));
    ctx = ctx_open(&err);
    cr_assert_not_null(ctx, "net_ctx_new: %s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    net_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open on the loop");
    stk_rm_rf(tmpdir, &err);
}

TestSuite(net_fake, .init = setup, .fini = teardown);

/*
 * Each helper starts one op on C, asserts it returned 0 without calling back,
 * waits, and returns DONE's code; the result stays in P (release with
 * net_sync_release).
 */
enum op { OP_NET_CREATE, OP_NET_REMOVE, OP_SB_CREATE, OP_SB_REMOVE, OP_DETACH, OP_CHECK, OP_LIST };

static int start_op(struct net_ctx *c, enum op op, const char *a, const char *b, struct probe *p,
                    struct stk_err *err)
{
    struct net_network_spec ns = {
        .name = (char *)a, .subnet = (char *)b, .project = (char *)"proj"};
    struct net_sandbox_spec ss = {
        .id = (char *)a, .hostname = (char *)b, .project = (char *)"proj"};

    switch (op) {
    case OP_NET_CREATE:
        return net_network_create(c, &ns, probe_done, p, NULL, err);
    case OP_NET_REMOVE:
        return net_network_remove(c, a, probe_done, p, NULL, err);
    case OP_SB_CREATE:
        return net_sandbox_create(c, &ss, probe_done, p, NULL, err);
    case OP_SB_REMOVE:
        return net_sandbox_remove(c, a, probe_done, p, NULL, err);
    case OP_DETACH:
        return net_endpoint_detach(c, a, b, probe_done, p, NULL, err);
    case OP_CHECK:
        return net_endpoint_check(c, a, b, probe_done, p, NULL, err);
    case OP_LIST:
        return net_list(c, probe_done, p, NULL, err);
    }
    return -1;
}

static int run_op_on(struct net_ctx *c, enum op op, const char *a, const char *b, struct probe *p)
{
    struct stk_err err = STK_ERR_INIT;
    int r;

    memset(p, 0, sizeof(*p));
    r = start_op(c, op, a, b, p, &err);
    p->returned = 1;
    cr_assert_eq(r, 0, "op %d on '%s' failed at once: %s", op, a ? a : "", err.msg);
    cr_assert_eq(p->n, 0, "DONE ran inside the op");
    return wait_probe(p);
}

static int run_op(enum op op, const char *a, const char *b, struct probe *p)
{
    return run_op_on(ctx, op, a, b, p);
}

/* Runs OP, asserts success and releases the result. */
static void ok_op(enum op op, const char *a, const char *b)
{
    struct probe p;
    int r = run_op(op, a, b, &p);

    cr_assert_eq(r, 0, "op %d on '%s': %s", op, a ? a : "", p.s.err.msg);
    net_sync_release(&p.s);
}

static int attach_on(struct net_ctx *c, const char *net, const char *sb, const char *const *aliases,
                     const struct net_port *ports, size_t n_ports, const char *addr,
                     struct probe *p)
{
    struct net_attachment att = {.network = (char *)net,
                                 .sandbox = (char *)sb,
                                 .aliases = (char **)aliases,
                                 .ports = (struct net_port *)ports,
                                 .n_ports = n_ports,
                                 .ipv4_address = (char *)addr};
    struct stk_err err = STK_ERR_INIT;
    int r;

    memset(p, 0, sizeof(*p));
    r = net_endpoint_attach(c, &att, probe_done, p, NULL, &err);
    p->returned = 1;
    cr_assert_eq(r, 0, "attach '%s' to '%s' failed at once: %s", sb, net, err.msg);
    cr_assert_eq(p->n, 0);
    return wait_probe(p);
}

static int attach(const char *net, const char *sb, const char *const *aliases,
                  const struct net_port *ports, size_t n_ports, struct probe *p)
{
    return attach_on(ctx, net, sb, aliases, ports, n_ports, NULL, p);
}

/* Attaches and returns the address (a new string). */
static char *attach_ok(const char *net, const char *sb, const char *const *aliases)
{
    struct probe p;
    char *ip;
    int r = attach(net, sb, aliases, NULL, 0, &p);

    cr_assert_eq(r, 0, "attach '%s' to '%s': %s", sb, net, p.s.err.msg);
    cr_assert_eq(p.s.kind, NET_RESULT_ENDPOINT);
    ip = stk_xstrdup(p.s.endpoint.ipv4);
    net_sync_release(&p.s);
    return ip;
}

static char *read_text(const char *path)
{
    struct stk_err err = STK_ERR_INIT;
    char *text = NULL;

    cr_assert_eq(stk_file_read(path, &text, NULL, &err), 0, "read '%s': %s", path, err.msg);
    return text;
}

static char *hosts_of(const char *id)
{
    char *path = stk_xasprintf("%s/netns/%s.hosts", tmpdir, id);
    char *text = read_text(path);

    free(path);
    return text;
}

static void expect_hosts(const char *id, const char *want)
{
    char *have = hosts_of(id);

    cr_assert_str_eq(have, want, "hosts of '%s':\n%s\nwant:\n%s", id, have, want);
    free(have);
}

static void list_now(struct probe *p)
{
    int r = run_op(OP_LIST, NULL, NULL, p);

    cr_assert_eq(r, 0, "list: %s", p->s.err.msg);
    cr_assert_eq(p->s.kind, NET_RESULT_LIST);
}

Test(net_fake, is_registered)
{
    struct stk_err err = STK_ERR_INIT;
    const struct net_plugin *pl = net_plugin_find("fake", &err);

    cr_assert_eq(pl, &net_plugin_fake);
    cr_assert_str_eq(pl->name, "fake");
    cr_assert_eq(pl->abi_version, NET_PLUGIN_ABI_1);
    for (int i = 0; i < _NET_FAKE_OP_MAX; i++)
        cr_assert_eq(net_fake_op_from_string(net_fake_op_to_string((enum net_fake_op)i)), i);
    cr_assert_eq(net_fake_op_from_string("mutating"), NET_FAKE_OP_MUTATING);
    cr_assert_eq(net_fake_op_from_string("nope"), _NET_FAKE_OP_INVALID);
}

Test(net_fake, done_runs_once_after_the_op_returned)
{
    struct probe p;
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec ns = {.name = (char *)"n1"};
    int r;

    memset(&p, 0, sizeof(p));
    r = net_network_create(ctx, &ns, probe_done, &p, &req, &err);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_not_null(req, "RET_REQ was not set");
    cr_assert_eq(p.n, 0, "DONE ran inside the op");
    cr_assert_eq(net_fake_pending(ctx), 1);
    p.returned = 1;
    cr_assert_eq(wait_probe(&p), 0, "%s", p.s.err.msg);
    cr_assert_eq(net_fake_pending(ctx), 0);
    cr_assert_eq(p.s.kind, NET_RESULT_NETWORK);
    cr_assert_str_eq(p.s.network.name, "n1");
    net_sync_release(&p.s);

    /* A plug-in called directly (not through the wrapper) with a NULL RET_REQ. */
    memset(&p, 0, sizeof(p));
    r = ctx->plugin->ops->list(ctx, probe_done, &p, NULL, &err);
    p.returned = 1;
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(wait_probe(&p), 0);
    cr_assert_eq(p.s.inventory.n_networks, 1);
    net_sync_release(&p.s);
}

Test(net_fake, immediate_errors_never_call_back)
{
    struct probe p = {0};
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec bad = {.name = (char *)"-bad"};
    struct net_network_spec badnet = {.name = (char *)"ok", .subnet = (char *)"10.1.0.0/31"};
    struct net_network_spec badgw = {
        .name = (char *)"ok", .subnet = (char *)"10.1.0.0/24", .gateway = (char *)"10.2.0.1"};
    struct net_port port = {.host_port = 80, .container_port = 80, .protocol = "sctp"};
    struct net_attachment att = {
        .network = (char *)"n", .sandbox = (char *)"s", .ports = &port, .n_ports = 1};
    struct net_fake_fail rule = {
        .op = NET_FAKE_OP_LIST, .nth = 1, .code = STK_EBUSY, .message = "busy now", .immediate = 1};

    cr_assert_eq(net_network_create(ctx, &bad, probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_network_create(ctx, &badnet, probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_network_create(ctx, &badgw, probe_done, &p, NULL, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "not in the subnet"), "%s", err.msg);
    stk_err_clear(&err);
    cr_assert_eq(net_network_create(ctx, NULL, probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_network_remove(ctx, "a/b", probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_endpoint_attach(ctx, &att, probe_done, &p, NULL, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "invalid protocol"), "%s", err.msg);
    stk_err_clear(&err);
    cr_assert_eq(net_endpoint_detach(ctx, "n", NULL, probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_list(ctx, NULL, NULL, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_fake_fail_add(ctx, &rule, &err), 0);
    cr_assert_eq(net_list(ctx, probe_done, &p, NULL, &err), STK_EBUSY);
    cr_assert_str_eq(err.msg, "busy now");
    stk_err_clear(&err);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(p.n, 0, "an op that failed at once called DONE");
    cr_assert_eq(net_fake_pending(ctx), 0);
}

Test(net_fake, cancel_reports_ecanceled_once_and_has_no_effect)
{
    struct probe p = {0};
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec ns = {.name = (char *)"n1"};
    struct probe l;

    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_NETWORK_CREATE, 200, &err), 0);
    cr_assert_eq(net_network_create(ctx, &ns, probe_done, &p, &req, &err), 0, "%s", err.msg);
    p.returned = 1;
    net_req_cancel(req);
    cr_assert_eq(p.n, 0, "DONE ran inside net_req_cancel()");
    net_req_cancel(req); /* twice is harmless */
    uv_update_time(&loop);
    {
        uint64_t t0 = uv_now(&loop);

        cr_assert_eq(wait_probe(&p), STK_ECANCELED);
        cr_assert_lt(uv_now(&loop) - t0, 150, "cancel waited for the delay");
    }
    net_sync_release(&p.s);
    list_now(&l);
    cr_assert_eq(l.s.inventory.n_networks, 0, "a canceled create took effect");
    net_sync_release(&l.s);
}

Test(net_fake, fini_cancels_pending_requests)
{
    struct probe p = {0};
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_ANY, 5000, &err), 0);
    cr_assert_eq(start_op(ctx, OP_LIST, NULL, NULL, &p, &err), 0);
    p.returned = 1;
    net_ctx_free(ctx);
    ctx = NULL;
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.s.err.code, STK_ECANCELED);
    net_sync_release(&p.s);
}

Test(net_fake, network_sandbox_endpoint_life_cycle)
{
    struct probe p;
    struct stat st;
    char *path;
    const char *aliases[] = {"web", NULL};

    cr_assert_eq(run_op(OP_NET_CREATE, "n1", NULL, &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.network.subnet, "10.89.0.0/24");
    cr_assert_str_eq(p.s.network.gateway, "10.89.0.1");
    cr_assert_str_eq(p.s.network.project, "proj");
    cr_assert_not_null(p.s.network.bridge);
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_NET_CREATE, "n2", NULL, &p), 0);
    cr_assert_str_eq(p.s.network.subnet, "10.89.1.0/24");
    net_sync_release(&p.s);
    /* Creating an existing network returns it; another subnet or an overlap is EEXIST. */
    cr_assert_eq(run_op(OP_NET_CREATE, "n1", NULL, &p), 0);
    cr_assert_str_eq(p.s.network.subnet, "10.89.0.0/24");
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_NET_CREATE, "n1", "10.5.0.0/24", &p), STK_EEXIST);
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_NET_CREATE, "n3", "10.89.1.128/25", &p), STK_EEXIST);
    cr_assert(strstr(p.s.err.msg, "overlaps network 'n2'"), "%s", p.s.err.msg);
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_NET_CREATE, "n3", "172.30.4.0/22", &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.network.gateway, "172.30.4.1");
    net_sync_release(&p.s);

    cr_assert_eq(run_op(OP_SB_CREATE, "sb1", "web", &p), 0, "%s", p.s.err.msg);
    cr_assert_eq(p.s.kind, NET_RESULT_SANDBOX);
    path = stk_xasprintf("%s/netns/sb1", tmpdir);
    cr_assert_str_eq(p.s.sandbox.handle, path);
    free(path);
    cr_assert_eq(stat(p.s.sandbox.hosts_path, &st), 0, "no hosts file");
    cr_assert_eq(stat(p.s.sandbox.resolv_path, &st), 0, "no resolv.conf");
    {
        char *resolv = read_text(p.s.sandbox.resolv_path);

        cr_assert_null(strstr(resolv, "nameserver"), "resolv.conf names a server: %s", resolv);
        free(resolv);
    }
    net_sync_release(&p.s);
    expect_hosts("sb1", "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    /* sandbox_create of an existing sandbox returns it */
    ok_op(OP_SB_CREATE, "sb1", "web");

    cr_assert_eq(attach("n1", "sb1", aliases, NULL, 0, &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.endpoint.ipv4, "10.89.0.2");
    cr_assert_eq(p.s.endpoint.prefix_len, 24);
    cr_assert_str_eq(p.s.endpoint.ifname, "eth0");
    cr_assert_str_eq(p.s.endpoint.mac, "02:42:0a:59:00:02");
    cr_assert_str_eq(p.s.endpoint.aliases[0], "web");
    net_sync_release(&p.s);
    /* Attaching again returns the same endpoint. */
    cr_assert_eq(attach("n1", "sb1", NULL, NULL, 0, &p), 0);
    cr_assert_str_eq(p.s.endpoint.ipv4, "10.89.0.2");
    cr_assert_str_eq(p.s.endpoint.ifname, "eth0");
    net_sync_release(&p.s);
    cr_assert_eq(attach("n3", "sb1", NULL, NULL, 0, &p), 0);
    cr_assert_str_eq(p.s.endpoint.ipv4, "172.30.4.2");
    cr_assert_eq(p.s.endpoint.prefix_len, 22);
    cr_assert_str_eq(p.s.endpoint.ifname, "eth1");
    net_sync_release(&p.s);
    cr_assert_eq(attach("missing", "sb1", NULL, NULL, 0, &p), STK_ENOENT);
    net_sync_release(&p.s);
    cr_assert_eq(attach("n1", "missing", NULL, NULL, 0, &p), STK_ENOENT);
    net_sync_release(&p.s);

    cr_assert_eq(run_op(OP_CHECK, "n1", "sb1", &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.endpoint.ipv4, "10.89.0.2");
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_CHECK, "n2", "sb1", &p), STK_ENOENT);
    net_sync_release(&p.s);

    list_now(&p);
    cr_assert_eq(p.s.inventory.n_networks, 3);
    cr_assert_str_eq(p.s.inventory.networks[0].name, "n1");
    cr_assert_str_eq(p.s.inventory.networks[0].project, "proj");
    cr_assert_eq(p.s.inventory.n_sandboxes, 1);
    cr_assert_str_eq(p.s.inventory.sandboxes[0].project, "proj");
    cr_assert_eq(p.s.inventory.n_endpoints, 2);
    cr_assert_str_eq(p.s.inventory.endpoints[0].network, "n1");
    cr_assert_str_eq(p.s.inventory.endpoints[1].network, "n3");
    net_sync_release(&p.s);

    ok_op(OP_DETACH, "n1", "sb1");
    ok_op(OP_DETACH, "n1", "sb1"); /* missing succeeds */
    cr_assert_eq(run_op(OP_CHECK, "n1", "sb1", &p), STK_ENOENT);
    net_sync_release(&p.s);
    /* The freed address is handed out again. */
    {
        char *ip = attach_ok("n1", "sb1", NULL);

        cr_assert_str_eq(ip, "10.89.0.2");
        free(ip);
    }

    ok_op(OP_SB_REMOVE, "sb1", NULL);
    ok_op(OP_SB_REMOVE, "sb1", NULL); /* missing succeeds */
    path = stk_xasprintf("%s/netns/sb1.hosts", tmpdir);
    cr_assert_eq(stk_path_exists(path), 0, "hosts file left behind");
    free(path);
    path = stk_xasprintf("%s/netns/sb1.resolv.conf", tmpdir);
    cr_assert_eq(stk_path_exists(path), 0, "resolv.conf left behind");
    free(path);
    ok_op(OP_NET_REMOVE, "n1", NULL);
    ok_op(OP_NET_REMOVE, "n1", NULL); /* missing succeeds */
    list_now(&p);
    cr_assert_eq(p.s.inventory.n_networks, 2);
    cr_assert_eq(p.s.inventory.n_sandboxes, 0);
    cr_assert_eq(p.s.inventory.n_endpoints, 0, "sandbox_remove left endpoints");
    net_sync_release(&p.s);
    /* The pool's first /24 is free again. */
    cr_assert_eq(run_op(OP_NET_CREATE, "n4", NULL, &p), 0);
    cr_assert_str_eq(p.s.network.subnet, "10.89.0.0/24");
    net_sync_release(&p.s);
}

Test(net_fake, static_addresses)
{
    struct probe p;

    ok_op(OP_NET_CREATE, "n1", "10.7.0.0/29");
    ok_op(OP_SB_CREATE, "a", "a");
    ok_op(OP_SB_CREATE, "b", "b");
    ok_op(OP_SB_CREATE, "c", "c");
    cr_assert_eq(attach_on(ctx, "n1", "a", NULL, NULL, 0, "10.7.0.5", &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.endpoint.ipv4, "10.7.0.5");
    net_sync_release(&p.s);
    cr_assert_eq(attach_on(ctx, "n1", "b", NULL, NULL, 0, "10.7.0.5", &p), STK_ENET);
    cr_assert(strstr(p.s.err.msg, "already in use"), "%s", p.s.err.msg);
    net_sync_release(&p.s);
    cr_assert_eq(attach_on(ctx, "n1", "b", NULL, NULL, 0, "10.7.0.9", &p), STK_ENET);
    net_sync_release(&p.s);
    cr_assert_eq(attach_on(ctx, "n1", "b", NULL, NULL, 0, "10.7.0.1", &p), STK_ENET,
                 "the gateway was handed out");
    net_sync_release(&p.s);
    /* /29: hosts .2 to .6 besides the gateway; .5 is taken. */
    for (int i = 0; i < 4; i++) {
        char *sb = stk_xasprintf("x%d", i);

        ok_op(OP_SB_CREATE, sb, NULL);
        cr_assert_eq(attach("n1", sb, NULL, NULL, 0, &p), 0, "%s", p.s.err.msg);
        cr_assert_neq(strcmp(p.s.endpoint.ipv4, "10.7.0.5"), 0);
        net_sync_release(&p.s);
        free(sb);
    }
    cr_assert_eq(attach("n1", "c", NULL, NULL, 0, &p), STK_ENET, "a full subnet gave an address");
    cr_assert(strstr(p.s.err.msg, "no free address"), "%s", p.s.err.msg);
    net_sync_release(&p.s);
}

Test(net_fake, hosts_files_follow_attach_and_detach_on_a_shared_network)
{
    const char *web_aliases[] = {"web", "w1", "web", NULL};
    const char *db_aliases[] = {"db", NULL};
    const char *other_aliases[] = {"other", NULL};
    char *ip;
    struct stat before, after;
    char *path = stk_xasprintf("%s/netns/a.hosts", tmpdir);

    ok_op(OP_NET_CREATE, "front", NULL);
    ok_op(OP_NET_CREATE, "back", NULL);
    ok_op(OP_SB_CREATE, "a", "web-1");
    ok_op(OP_SB_CREATE, "b", "db-1");
    ok_op(OP_SB_CREATE, "c", NULL);
    cr_assert_eq(stat(path, &before), 0);

    ip = attach_ok("front", "a", web_aliases); /* front is 10.89.0.0/24 */
    cr_assert_str_eq(ip, "10.89.0.2");
    free(ip);
    ip = attach_ok("front", "b", db_aliases);
    cr_assert_str_eq(ip, "10.89.0.3");
    free(ip);
    ip = attach_ok("back", "b", db_aliases);
    cr_assert_str_eq(ip, "10.89.1.2");
    free(ip);
    ip = attach_ok("back", "c", other_aliases);
    free(ip);

    expect_hosts("a", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.0.2\tweb-1 web w1\n"
                      "10.89.0.3\tdb-1 db\n");
    /* b is on both networks: back (sorted first) lists b and c, front lists a and b. */
    expect_hosts("b", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.1.2\tdb-1 db\n"
                      "10.89.1.3\tother\n"
                      "10.89.0.2\tweb-1 web w1\n"
                      "10.89.0.3\tdb-1 db\n");
    /* c shares no network with a. */
    expect_hosts("c", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.1.2\tdb-1 db\n"
                      "10.89.1.3\tother\n");

    ok_op(OP_DETACH, "front", "b");
    expect_hosts("a", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.0.2\tweb-1 web w1\n");
    expect_hosts("b", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.1.2\tdb-1 db\n"
                      "10.89.1.3\tother\n");
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino, "hosts file was replaced, not rewritten in place");

    /* Removing a sandbox drops it from its peers' hosts files. */
    ok_op(OP_SB_REMOVE, "c", NULL);
    expect_hosts("b", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.1.2\tdb-1 db\n");

    /* Removing a network detaches what is still on it, like the CNI plug-in. */
    ok_op(OP_NET_REMOVE, "back", NULL);
    expect_hosts("b", "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    {
        struct probe p;

        list_now(&p);
        cr_assert_eq(p.s.inventory.n_endpoints, 1);
        cr_assert_str_eq(p.s.inventory.endpoints[0].sandbox, "a");
        net_sync_release(&p.s);
    }
    free(path);
}

Test(net_fake, published_port_conflicts)
{
    struct net_port web = {.host_port = 8080, .container_port = 80, .protocol = "tcp"};
    struct net_port udp = {.host_port = 8080, .container_port = 53, .protocol = "udp"};
    struct net_port other_ip = {
        .host_port = 9090, .container_port = 80, .protocol = "tcp", .host_ip = "127.0.0.1"};
    struct net_port other_ip2 = {
        .host_port = 9090, .container_port = 80, .protocol = "tcp", .host_ip = "127.0.0.2"};
    struct probe p;

    ok_op(OP_NET_CREATE, "n1", NULL);
    ok_op(OP_NET_CREATE, "n2", NULL);
    ok_op(OP_SB_CREATE, "a", NULL);
    ok_op(OP_SB_CREATE, "b", NULL);
    ok_op(OP_SB_CREATE, "c", NULL);
    cr_assert_eq(attach("n1", "a", NULL, &web, 1, &p), 0, "%s", p.s.err.msg);
    net_sync_release(&p.s);
    /* Another network does not help: the host port is the host's. */
    cr_assert_eq(attach("n2", "b", NULL, &web, 1, &p), STK_ENET);
    cr_assert(strstr(p.s.err.msg, "port 8080/tcp is already allocated"), "%s", p.s.err.msg);
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_CHECK, "n2", "b", &p), STK_ENOENT, "a refused attach was recorded");
    net_sync_release(&p.s);
    cr_assert_eq(attach("n1", "b", NULL, &udp, 1, &p), 0, "%s", p.s.err.msg);
    net_sync_release(&p.s);
    cr_assert_eq(attach("n1", "c", NULL, &other_ip, 1, &p), 0, "%s", p.s.err.msg);
    net_sync_release(&p.s);
    cr_assert_eq(attach("n2", "c", NULL, &other_ip2, 1, &p), 0, "distinct host addresses clash");
    net_sync_release(&p.s);
    /* The same sandbox publishing its port on a second network is no conflict. */
    cr_assert_eq(attach("n2", "a", NULL, &web, 1, &p), 0, "%s", p.s.err.msg);
    net_sync_release(&p.s);
    ok_op(OP_DETACH, "n1", "a");
    ok_op(OP_DETACH, "n2", "a");
    cr_assert_eq(attach("n2", "b", NULL, &web, 1, &p), 0, "a released port is still allocated");
    net_sync_release(&p.s);
}

Test(net_fake, fails_the_nth_call_with_the_chosen_error)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe p;
    char *ip;

    ok_op(OP_NET_CREATE, "n1", NULL);
    ok_op(OP_SB_CREATE, "a", NULL);
    ok_op(OP_SB_CREATE, "b", NULL);
    ok_op(OP_SB_CREATE, "c", NULL);
    cr_assert_eq(net_fake_fail_nth(ctx, NET_FAKE_OP_ATTACH, 2, STK_ENET, "no address", &err), 0);
    ip = attach_ok("n1", "a", NULL);
    free(ip);
    cr_assert_eq(attach("n1", "b", NULL, NULL, 0, &p), STK_ENET);
    cr_assert_str_eq(p.s.err.msg, "no address");
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_CHECK, "n1", "b", &p), STK_ENOENT, "a failed attach took effect");
    net_sync_release(&p.s);
    ip = attach_ok("n1", "b", NULL);
    cr_assert_str_eq(ip, "10.89.0.3");
    free(ip);

    /* "mutating" counts only mutating calls; a MATCH selects by sandbox id. */
    cr_assert_eq(net_fake_fail_clear(ctx, &err), 0);
    {
        struct net_fake_fail rule = {.op = NET_FAKE_OP_MUTATING, .nth = 2, .count = 1};

        cr_assert_eq(net_fake_fail_add(ctx, &rule, &err), 0);
    }
    list_now(&p); /* read-only: not counted */
    net_sync_release(&p.s);
    ok_op(OP_DETACH, "n1", "a");
    cr_assert_eq(run_op(OP_DETACH, "n1", "b", &p), STK_ENET, "default code is ENET");
    cr_assert_str_eq(p.s.err.msg, "injected failure");
    net_sync_release(&p.s);
    ok_op(OP_DETACH, "n1", "b");

    cr_assert_eq(net_fake_fail_clear(ctx, &err), 0);
    {
        struct net_fake_fail rule = {
            .op = NET_FAKE_OP_ANY, .match = "c", .nth = 1, .count = 0, .code = STK_EBUSY};

        cr_assert_eq(net_fake_fail_add(ctx, &rule, &err), 0);
    }
    ip = attach_ok("n1", "a", NULL);
    free(ip);
    cr_assert_eq(attach("n1", "c", NULL, NULL, 0, &p), STK_EBUSY);
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_SB_REMOVE, "c", NULL, &p), STK_EBUSY, "count 0 fails every call");
    net_sync_release(&p.s);
    list_now(&p); /* a MATCH never selects list */
    net_sync_release(&p.s);

    {
        struct net_fake_fail bad = {.op = NET_FAKE_OP_ATTACH, .nth = 0};

        cr_assert_eq(net_fake_fail_add(ctx, &bad, &err), STK_EINVAL);
        stk_err_clear(&err);
    }
}

Test(net_fake, delays_an_op_and_keeps_call_order_otherwise)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe slow = {0}, fast = {0};
    uint64_t t0;

    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_NETWORK_CREATE, 120, &err), 0);
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    cr_assert_eq(start_op(ctx, OP_NET_CREATE, "n1", NULL, &slow, &err), 0);
    slow.returned = 1;
    cr_assert_eq(start_op(ctx, OP_LIST, NULL, NULL, &fast, &err), 0);
    fast.returned = 1;
    cr_assert_eq(wait_probe(&fast), 0);
    cr_assert_eq(slow.n, 0, "the delayed op completed before the undelayed one");
    cr_assert_eq(fast.s.inventory.n_networks, 0, "the delayed create took effect early");
    cr_assert_eq(wait_probe(&slow), 0);
    cr_assert_geq(uv_now(&loop) - t0, 120, "completed after %" PRIu64 " ms", uv_now(&loop) - t0);
    net_sync_release(&slow.s);
    net_sync_release(&fast.s);

    /* Equal delays complete in call order; ANY covers ops without their own delay. */
    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_NETWORK_CREATE, 0, &err), 0);
    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_ANY, 30, &err), 0);
    memset(&slow, 0, sizeof(slow));
    memset(&fast, 0, sizeof(fast));
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    cr_assert_eq(start_op(ctx, OP_NET_CREATE, "n2", NULL, &slow, &err), 0);
    slow.returned = 1;
    cr_assert_eq(start_op(ctx, OP_LIST, NULL, NULL, &fast, &err), 0);
    fast.returned = 1;
    cr_assert_eq(wait_probe(&fast), 0);
    cr_assert_eq(slow.n, 1, "call order not kept");
    cr_assert_eq(fast.s.inventory.n_networks, 2);
    cr_assert_geq(uv_now(&loop) - t0, 30);
    net_sync_release(&slow.s);
    net_sync_release(&fast.s);
    cr_assert_eq(net_fake_set_delay(ctx, NET_FAKE_OP_MUTATING, 5, &err), STK_EINVAL);
    stk_err_clear(&err);
}

Test(net_fake, counts_mutating_and_read_only_calls)
{
    struct stk_err err = STK_ERR_INIT;
    struct probe p = {0};
    char *ip;

    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_ANY), 0);
    ok_op(OP_NET_CREATE, "n1", NULL);
    ok_op(OP_SB_CREATE, "a", NULL);
    ip = attach_ok("n1", "a", NULL);
    free(ip);
    ok_op(OP_CHECK, "n1", "a");
    list_now(&p);
    net_sync_release(&p.s);
    list_now(&p);
    net_sync_release(&p.s);
    /* A call that fails at once still counts. */
    cr_assert_eq(net_network_remove(ctx, "bad/name", probe_done, &p, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_NETWORK_CREATE), 1);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_ATTACH), 1);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_LIST), 2);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_NETWORK_REMOVE), 1);
    cr_assert_eq(net_fake_mutations(ctx), 4);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_MUTATING), 4);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_ANY), 7);
    cr_assert_eq(net_fake_calls_reset(ctx, &err), 0);
    cr_assert_eq(net_fake_calls(ctx, NET_FAKE_OP_ANY), 0);
    cr_assert_eq(net_fake_mutations(NULL), 0);
}

Test(net_fake, state_file_survives_a_new_context)
{
    struct stk_err err = STK_ERR_INIT;
    char *state = stk_xasprintf("%s/net-state.json", tmpdir);
    const char *aliases[] = {"web", NULL};
    struct net_port port = {.host_port = 8080, .container_port = 80, .protocol = "tcp"};
    struct net_ctx *second;
    struct probe p;
    char *ip;

    cr_assert_eq(net_fake_set_state_file(ctx, state, &err), 0, "%s", err.msg);
    cr_assert_eq(stk_path_exists(state), 1, "state file not written at once");
    ok_op(OP_NET_CREATE, "n1", NULL);
    ok_op(OP_SB_CREATE, "a", "web-1");
    ok_op(OP_SB_CREATE, "b", "db-1");
    cr_assert_eq(attach("n1", "a", aliases, &port, 1, &p), 0, "%s", p.s.err.msg);
    net_sync_release(&p.s);

    /* A second context (another process after a crash) sees everything. */
    second = ctx_open(&err);
    cr_assert_not_null(second, "%s", err.msg);
    cr_assert_eq(net_fake_set_state_file(second, state, &err), 0, "%s", err.msg);
    cr_assert_eq(run_op_on(second, OP_LIST, NULL, NULL, &p), 0);
    cr_assert_eq(p.s.inventory.n_networks, 1);
    cr_assert_str_eq(p.s.inventory.networks[0].subnet, "10.89.0.0/24");
    cr_assert_str_eq(p.s.inventory.networks[0].project, "proj");
    cr_assert_eq(p.s.inventory.n_sandboxes, 2);
    cr_assert_eq(p.s.inventory.n_endpoints, 1);
    cr_assert_str_eq(p.s.inventory.endpoints[0].ipv4, "10.89.0.2");
    cr_assert_str_eq(p.s.inventory.endpoints[0].aliases[0], "web");
    net_sync_release(&p.s);
    /* Allocation and port bookkeeping continue from the file. */
    cr_assert_eq(attach_on(second, "n1", "b", NULL, &port, 1, NULL, &p), STK_ENET);
    net_sync_release(&p.s);
    cr_assert_eq(attach_on(second, "n1", "b", NULL, NULL, 0, NULL, &p), 0, "%s", p.s.err.msg);
    cr_assert_str_eq(p.s.endpoint.ipv4, "10.89.0.3");
    net_sync_release(&p.s);
    expect_hosts("a", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "10.89.0.2\tweb-1 web\n"
                      "10.89.0.3\tdb-1\n");
    net_ctx_free(second);

    /* And the first context, reloading, sees the second one's change. */
    cr_assert_eq(net_fake_set_state_file(ctx, state, &err), 0, "%s", err.msg);
    ip = attach_ok("n1", "b", NULL);
    cr_assert_str_eq(ip, "10.89.0.3");
    free(ip);

    /* A corrupt file is STK_EIO and leaves the state alone. */
    cr_assert_eq(stk_file_write_atomic(state, "{\"version\": 1", 13, 0644, 0, &err), 0);
    cr_assert_eq(net_fake_set_state_file(ctx, state, &err), STK_EIO);
    stk_err_clear(&err);
    list_now(&p);
    cr_assert_eq(p.s.inventory.n_endpoints, 2);
    net_sync_release(&p.s);
    free(state);
}

Test(net_fake, reads_its_configuration_from_the_environment)
{
    struct stk_err err = STK_ERR_INIT;
    char *state = stk_xasprintf("%s/env-state.json", tmpdir);
    struct net_ctx *c;
    struct probe p;
    uint64_t t0;

    net_ctx_free(ctx);
    setenv("STACK_FAKE_NET_FAIL", "attach:1:no address,network_create:2+:EBUSY:busy: really", 1);
    setenv("STACK_FAKE_NET_DELAY_MS", "list:60", 1);
    setenv("STACK_FAKE_NET_STATE", state, 1);
    ctx = ctx_open(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    cr_assert_eq(stk_path_exists(state), 1, "STACK_FAKE_NET_STATE ignored");
    ok_op(OP_NET_CREATE, "n1", NULL);
    cr_assert_eq(run_op(OP_NET_CREATE, "n2", NULL, &p), STK_EBUSY);
    cr_assert_str_eq(p.s.err.msg, "busy: really");
    net_sync_release(&p.s);
    cr_assert_eq(run_op(OP_NET_CREATE, "n3", NULL, &p), STK_EBUSY, "N+ fails later calls too");
    net_sync_release(&p.s);
    ok_op(OP_SB_CREATE, "a", NULL);
    cr_assert_eq(attach("n1", "a", NULL, NULL, 0, &p), STK_ENET);
    cr_assert_str_eq(p.s.err.msg, "no address");
    net_sync_release(&p.s);
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    list_now(&p);
    cr_assert_geq(uv_now(&loop) - t0, 60);
    net_sync_release(&p.s);

    /* Malformed variables make net_ctx_new fail with STK_EINVAL. */
    unsetenv("STACK_FAKE_NET_STATE");
    unsetenv("STACK_FAKE_NET_DELAY_MS");
    setenv("STACK_FAKE_NET_FAIL", "attach:zero", 1);
    c = ctx_open(&err);
    cr_assert_null(c);
    cr_assert_eq(err.code, STK_EINVAL);
    cr_assert(strstr(err.msg, "STACK_FAKE_NET_FAIL"), "%s", err.msg);
    stk_err_clear(&err);
    setenv("STACK_FAKE_NET_FAIL", "nosuchop:1", 1);
    cr_assert_null(ctx_open(&err));
    stk_err_clear(&err);
    unsetenv("STACK_FAKE_NET_FAIL");
    setenv("STACK_FAKE_NET_DELAY_MS", "attach:soon", 1);
    cr_assert_null(ctx_open(&err));
    stk_err_clear(&err);
    unsetenv("STACK_FAKE_NET_DELAY_MS");
    free(state);
}

Test(net_fake, scripting_rejects_other_contexts)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(net_fake_fail_nth(NULL, NET_FAKE_OP_ATTACH, 1, 0, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_fake_set_state_file(ctx, "", &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_fake_pending(NULL), 0);
}

/* The child of state_file_survives_abort: mutates through its own loop, then aborts. */
static void child_mutate_and_abort(const char *state)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec ns = {.name = (char *)"crash", .project = (char *)"p"};
    struct net_sandbox_spec ss = {.id = (char *)"sb", .hostname = (char *)"h"};
    struct net_attachment att = {.network = (char *)"crash", .sandbox = (char *)"sb"};
    struct net_sync s = NET_SYNC_INIT;
    struct net_ctx *c;
    struct rlimit no_core = {0, 0};
    uv_loop_t l;

    setrlimit(RLIMIT_CORE, &no_core); /* the abort is expected: leave no core file */
    if (uv_loop_init(&l) != 0)
        _exit(2);
    c = net_ctx_new(&net_plugin_fake, &l, tmpdir, tmpdir, &err);
    if (!c || net_fake_set_state_file(c, state, &err) < 0)
        _exit(3);
    if (net_sync_wait(&l, &s, net_network_create(c, &ns, net_sync_done, &s, NULL, &err), &err) < 0)
        _exit(4);
    net_sync_release(&s);
    if (net_sync_wait(&l, &s, net_sandbox_create(c, &ss, net_sync_done, &s, NULL, &err), &err) < 0)
        _exit(5);
    net_sync_release(&s);
    if (net_sync_wait(&l, &s, net_endpoint_attach(c, &att, net_sync_done, &s, NULL, &err), &err) <
        0)
        _exit(6);
    abort();
}

Test(net_fake, state_file_survives_abort)
{
    struct stk_err err = STK_ERR_INIT;
    char *state = stk_xasprintf("%s/crash-state.json", tmpdir);
    struct probe p;
    int status = 0;
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0)
        child_mutate_and_abort(state);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %#x", status);
    cr_assert_eq(net_fake_set_state_file(ctx, state, &err), 0, "%s", err.msg);
    list_now(&p);
    cr_assert_eq(p.s.inventory.n_networks, 1);
    cr_assert_str_eq(p.s.inventory.networks[0].name, "crash");
    cr_assert_str_eq(p.s.inventory.networks[0].project, "p");
    cr_assert_eq(p.s.inventory.n_sandboxes, 1);
    cr_assert_eq(p.s.inventory.n_endpoints, 1);
    cr_assert_str_eq(p.s.inventory.endpoints[0].ipv4, "10.89.0.2");
    net_sync_release(&p.s);
    expect_hosts("sb", "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.89.0.2\th\n");
    free(state);
}

/* ---- hosts files: O(N) writes per up (net-fake.h, "Hosts files") ---- */

#define HOSTS_N 50

static struct probe hosts_probes[HOSTS_N];

/* Creates network "n" (a /24) and sandboxes s0..s(N-1) with hostnames h0..h(N-1). */
static void hosts_setup(int n)
{
    ok_op(OP_NET_CREATE, "n", "10.77.0.0/24");
    for (int i = 0; i < n; i++) {
        char id[16], host[16];

        snprintf(id, sizeof(id), "s%d", i);
        snprintf(host, sizeof(host), "h%d", i);
        ok_op(OP_SB_CREATE, id, host);
    }
}

/* Asserts that sandbox ID's hosts file lists exactly the members FIRST..LAST-1 (by hostname). */
static void hosts_expect_members(const char *id, int first, int last)
{
    char *text = hosts_of(id);
    int lines = 0;

    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 2 + (last - first), "hosts of '%s' has %d lines, want %d:\n%s", id, lines,
                 2 + (last - first), text);
    for (int i = first; i < last; i++) {
        char want[32];

        snprintf(want, sizeof(want), "\th%d\n", i);
        cr_assert_not_null(strstr(text, want), "hosts of '%s' lacks h%d:\n%s", id, i, text);
    }
    free(text);
}

Test(net_fake, parallel_attaches_write_hosts_files_a_linear_number_of_times)
{
    struct stk_err err = STK_ERR_INIT;
    unsigned long before, during, after;
    int left = HOSTS_N;

    hosts_setup(HOSTS_N);
    before = net_fake_hosts_writes(ctx);
    /* A burst, as the executor starts independent services: every attach at once. */
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16];
        struct net_attachment att = {.network = (char *)"n", .sandbox = id};

        snprintf(id, sizeof(id), "s%d", i);
        memset(&hosts_probes[i], 0, sizeof(hosts_probes[i]));
        cr_assert_eq(net_endpoint_attach(ctx, &att, probe_done, &hosts_probes[i], NULL, &err), 0,
                     "%s", err.msg);
        hosts_probes[i].returned = 1;
    }
    while (left > 0) {
        uv_run(&loop, UV_RUN_ONCE);
        left = 0;
        for (int i = 0; i < HOSTS_N; i++)
            left += hosts_probes[i].n == 0;
    }
    for (int i = 0; i < HOSTS_N; i++) {
        cr_assert_eq(hosts_probes[i].s.err.code, 0, "%s", hosts_probes[i].s.err.msg);
        net_sync_release(&hosts_probes[i].s);
    }
    during = net_fake_hosts_writes(ctx) - before;
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    after = net_fake_hosts_writes(ctx) - before;
    cr_log_info("%d parallel attaches: %lu hosts writes during, %lu with the flush (was %d)",
                HOSTS_N, during, after, HOSTS_N * (HOSTS_N + 1) / 2);
    /* N own files + at most 2N amortised spreads, then at most N at the flush. */
    cr_assert_leq(during, 3 * HOSTS_N, "%lu writes during %d attaches", during, HOSTS_N);
    cr_assert_leq(after, 4 * HOSTS_N, "%lu writes for %d attaches", after, HOSTS_N);
    cr_assert_geq(after, HOSTS_N, "fewer writes than files: some file was never written");
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        hosts_expect_members(id, 0, HOSTS_N);
    }
}

Test(net_fake, an_attaching_sandbox_resolves_every_earlier_member_at_once)
{
    struct stk_err err = STK_ERR_INIT;
    unsigned long before;

    hosts_setup(HOSTS_N);
    before = net_fake_hosts_writes(ctx);
    /* One after another, as depends_on orders them: each sees all the earlier ones. */
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        free(attach_ok("n", id, NULL));
        hosts_expect_members(id, 0, i + 1);
    }
    /* s0's file was last spread when s32 attached (2 * pending >= members): it lags. */
    {
        char *text = hosts_of("s0");

        cr_assert_null(strstr(text, "\th49\n"), "s0 already lists h49: nothing was deferred");
        free(text);
    }
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    cr_assert_leq(net_fake_hosts_writes(ctx) - before, 4 * HOSTS_N);
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        hosts_expect_members(id, 0, HOSTS_N);
    }
    /* fini flushes too: a pending change is written when the context is freed. */
    ok_op(OP_DETACH, "n", "s49");
    net_ctx_free(ctx);
    ctx = ctx_open(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    hosts_expect_members("s0", 0, HOSTS_N - 1);
}

Test(net_fake, unchanged_hosts_files_are_not_rewritten)
{
    struct stk_err err = STK_ERR_INIT;
    char *path = stk_xasprintf("%s/netns/s0.hosts", tmpdir);
    struct stat st0, st1;
    unsigned long before;

    hosts_setup(3);
    for (int i = 0; i < 3; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        free(attach_ok("n", id, NULL));
    }
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    cr_assert_eq(stat(path, &st0), 0);
    before = net_fake_hosts_writes(ctx);
    usleep(20000); /* a rewrite would move the file's change time */
    /* A second flush, re-attaching an endpoint and re-creating a sandbox change nothing. */
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    free(attach_ok("n", "s0", NULL));
    ok_op(OP_SB_CREATE, "s0", "h0");
    cr_assert_eq(net_fake_hosts_writes(ctx), before, "an unchanged file was written");
    cr_assert_eq(stat(path, &st1), 0);
    cr_assert(st0.st_ctim.tv_sec == st1.st_ctim.tv_sec &&
                  st0.st_ctim.tv_nsec == st1.st_ctim.tv_nsec,
              "s0's hosts file was rewritten although unchanged");
    /* A real change is written, in place. */
    ok_op(OP_DETACH, "n", "s2");
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    cr_assert_eq(net_fake_hosts_writes(ctx), before + 3, "s0, s1 and s2 changed");
    cr_assert_eq(stat(path, &st1), 0);
    cr_assert_eq(st0.st_ino, st1.st_ino, "hosts file replaced, not rewritten in place");
    hosts_expect_members("s0", 0, 2);
    free(path);
}

Test(net_fake, removing_sandboxes_writes_hosts_files_a_linear_number_of_times)
{
    struct stk_err err = STK_ERR_INIT;
    unsigned long before;

    hosts_setup(HOSTS_N);
    for (int i = 0; i < HOSTS_N; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        free(attach_ok("n", id, NULL));
    }
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    before = net_fake_hosts_writes(ctx);
    for (int i = 0; i < HOSTS_N / 2; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        ok_op(OP_SB_REMOVE, id, NULL);
    }
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    cr_log_info("%d sandbox removals: %lu hosts writes", HOSTS_N / 2,
                net_fake_hosts_writes(ctx) - before);
    cr_assert_leq(net_fake_hosts_writes(ctx) - before, 3 * (HOSTS_N / 2));
    for (int i = HOSTS_N / 2; i < HOSTS_N; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        hosts_expect_members(id, HOSTS_N / 2, HOSTS_N);
    }
}

Test(net_fake, loading_the_state_file_repairs_only_stale_hosts_files)
{
    struct stk_err err = STK_ERR_INIT;
    char *state = stk_xasprintf("%s/state.json", tmpdir);
    char *path = stk_xasprintf("%s/netns/s3.hosts", tmpdir);
    struct net_ctx *second;

    cr_assert_eq(net_fake_set_state_file(ctx, state, &err), 0, "%s", err.msg);
    hosts_setup(10);
    for (int i = 0; i < 10; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%d", i);
        free(attach_ok("n", id, NULL));
    }
    cr_assert_eq(net_hosts_flush(ctx, &err), 0, "%s", err.msg);
    /* An aborted run left s3's file stale (say, before anything reached it). */
    cr_assert_eq(stk_file_write_atomic(path, "127.0.0.1\tlocalhost\n", 20, 0644, 0, &err), 0);
    second = ctx_open(&err);
    cr_assert_not_null(second, "%s", err.msg);
    cr_assert_eq(net_fake_set_state_file(second, state, &err), 0, "%s", err.msg);
    cr_assert_eq(net_fake_hosts_writes(second), 1, "only the stale file should be written");
    hosts_expect_members("s3", 0, 10);
    net_ctx_free(second);
    free(state);
    free(path);
}
