/*
 * test-net-cni.c - the CNI network plug-in against the host's real CNI plugins.
 *
 * Needs root, /usr/lib/cni/{bridge,host-local,portmap,loopback}, nsenter,
 * /bin/busybox, curl and iptables-save; without them the tests skip with a
 * message, except under CI=true where a skip is a failure (STYLE.md rule 34).
 * Everything lives below a temporary state/run dir and a network name unique to
 * this process, and is removed on every path by the fixture's fini. Traffic only
 * goes to 127.0.0.1 and to addresses inside the namespaces the test made.
 */
#include <criterion/criterion.h>

#include "stk-config.h"

/* The CNI plug-in is Linux-only (STK_WITH_CNI); elsewhere this file holds no tests. */
#if STK_HAVE_CNI

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <nettle/sha2.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "netplugins/cni/net-cni.h"
#include "netplugins/net-plugin.h"

extern char **environ;

static char tmp_dir[64];
static char *state_dir, *run_dir, *www_dir;
static char net_name[64], sb_a[64], sb_b[64];
static uv_loop_t loop;
static int loop_ready;
static struct net_ctx *ctx;
static pid_t httpd_pid = -1;
static int lock_fd = -1;

/* ---- helpers ---- */

/* Runs ARGV, waits, and returns its exit status (-1 if it could not run); stdout into *OUT. */
static int run_cmd(char *const argv[], char **out)
{
    posix_spawn_file_actions_t fa;
    struct stk_buf b = STK_BUF_INIT;
    int pipefd[2], status = 0;
    pid_t pid;
    char chunk[4096];
    ssize_t n;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            stk_buf_add(&b, chunk, (size_t)n);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = stk_buf_detach(&b, NULL);
    stk_buf_release(&b);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int have_exe(const char *path)
{
    return access(path, X_OK) == 0;
}

static int have_prereqs(const char **why)
{
    static const char *const exes[] = {
        "/usr/lib/cni/bridge",   "/usr/lib/cni/host-local", "/usr/lib/cni/portmap",
        "/usr/lib/cni/loopback", "/usr/bin/nsenter",        "/bin/busybox",
        "/usr/bin/curl",
    };

    if (geteuid() != 0) {
        *why = "not root";
        return 0;
    }
    for (size_t i = 0; i < sizeof(exes) / sizeof(exes[0]); i++)
        if (!have_exe(exes[i])) {
            static char msg[128];

            snprintf(msg, sizeof(msg), "%s is missing", exes[i]);
            *why = msg;
            return 0;
        }
    return 1;
}

#define REQUIRE_PREREQS()                                                                          \
    do {                                                                                           \
        const char *why_ = NULL;                                                                   \
        const char *ci_ = getenv("CI");                                                            \
        if (!have_prereqs(&why_)) {                                                                \
            if (ci_ && strcmp(ci_, "true") == 0)                                                   \
                cr_assert_fail("CNI test prerequisites missing under CI=true: %s", why_);          \
            cr_skip_test("CNI test skipped: %s", why_);                                            \
        }                                                                                          \
    } while (0)

/*
 * CNI names its per-container chains from SHA-512(network name + container id)
 * (plugins pkg/utils FormatChainName): "CNI-" + 24 hex digits for the bridge
 * plugin's masquerade chain, "CNI-DN-" + 21 for portmap's DNAT chain.
 */
static void chain_names(const char *net, const char *id, char masq[32], char dnat[32])
{
    unsigned char md[SHA512_DIGEST_SIZE];
    char hex[2 * SHA512_DIGEST_SIZE + 1];
    char *in = stk_xasprintf("%s%s", net, id);
    struct sha512_ctx c;

    sha512_init(&c);
    sha512_update(&c, strlen(in), (const uint8_t *)in);
    sha512_digest(&c, sizeof(md), md);
    for (unsigned int i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(masq, 32, "CNI-%.24s", hex);
    snprintf(dnat, 32, "CNI-DN-%.21s", hex);
    free(in);
}

/*
 * The lines of `iptables-save` and `nft list ruleset` that belong to this
 * test: they name its network or sandboxes, or are in their per-container
 * chains; counters are dropped. Other users of the host (other CNI networks)
 * may change the rest of the ruleset while the test runs, so the comparison is
 * limited to what this test could have left behind; the shared CNI-HOSTPORT-*
 * chains that portmap creates once are not ours.
 */
static char *firewall_snapshot(void)
{
    char *const ipt[] = {(char *)"iptables-save", NULL};
    char *const nft[] = {(char *)"nft", (char *)"list", (char *)"ruleset", NULL};
    struct stk_buf b = STK_BUF_INIT;
    char *outs[2] = {NULL, NULL};
    char ids[6][80];
    const char *sbs[2] = {sb_a, sb_b};

    for (int i = 0; i < 2; i++)
        chain_names(net_name, sbs[i], ids[2 * i], ids[2 * i + 1]);
    snprintf(ids[4], sizeof(ids[4]), "\"%s\"", net_name);
    snprintf(ids[5], sizeof(ids[5]), "%s", sb_a);
    run_cmd(ipt, &outs[0]);
    run_cmd(nft, &outs[1]);
    for (int k = 0; k < 2; k++) {
        char *line = outs[k] ? outs[k] : (char *)"";

        while (*line) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            char *l = stk_xstrndup(line, len);
            int ours = 0;

            for (int i = 0; i < 6 && !ours; i++)
                ours = strstr(l, ids[i]) != NULL;
            ours = ours || strstr(l, sb_b) != NULL;
            if (ours && l[0] != '#') {
                for (size_t i = 0; i < len; i++) {
                    /* Drop "[pkts:bytes]" and the numbers of "packets N bytes M". */
                    if (l[i] == '[' && strchr("0123456789", l[i + 1])) {
                        while (i < len && l[i] != ']')
                            i++;
                        continue;
                    }
                    if (len - i > 8 && strncmp(l + i, "packets ", 8) == 0) {
                        size_t j = i + 8;

                        while (j < len && l[j] != ' ')
                            j++;
                        if (len - j > 7 && strncmp(l + j, " bytes ", 7) == 0) {
                            j += 7;
                            while (j < len && l[j] != ' ')
                                j++;
                        }
                        i = j - 1;
                        continue;
                    }
                    stk_buf_putc(&b, l[i]);
                }
                stk_buf_putc(&b, '\n');
            }
            free(l);
            line += len + (nl ? 1 : 0);
        }
    }
    free(outs[0]);
    free(outs[1]);
    return stk_buf_detach(&b, NULL);
}

static int link_exists(const char *name)
{
    char *p = stk_xasprintf("/sys/class/net/%s", name);
    int r = stk_path_exists(p);

    free(p);
    return r;
}

static char *read_text(const char *path)
{
    char *data = NULL;
    struct stk_err err = STK_ERR_INIT;

    if (stk_file_read(path, &data, NULL, &err) < 0) {
        stk_err_clear(&err);
        return stk_xstrdup("");
    }
    return data;
}

/* Returns 1 when TEXT has a line whose first field is IP and that contains the word NAME. */
static int hosts_has(const char *text, const char *ip, const char *name)
{
    const char *line = text;

    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *l = stk_xstrndup(line, len);
        size_t iplen = strlen(ip);
        int hit = 0;

        if (strncmp(l, ip, iplen) == 0 && (l[iplen] == '\t' || l[iplen] == ' ')) {
            char *save = NULL;

            for (char *w = strtok_r(l + iplen, " \t", &save); w && !hit;
                 w = strtok_r(NULL, " \t", &save))
                hit = strcmp(w, name) == 0;
        }
        free(l);
        if (hit)
            return 1;
        line += len + (nl ? 1 : 0);
    }
    return 0;
}

/* ---- synchronous wrappers over the async ops ---- */

static int do_network_create(const char *name, const char *subnet, struct net_network_info *ret,
                             struct stk_err *err)
{
    struct net_network_spec spec = {(char *)name, (char *)subnet, NULL, 0, (char *)"test", NULL};
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r =
        net_sync_wait(&loop, &s, net_network_create(ctx, &spec, net_sync_done, &s, &req, err), err);

    if (r == 0 && ret)
        net_network_info_copy(ret, &s.network);
    net_sync_release(&s);
    return r;
}

static int do_network_remove(const char *name, struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r =
        net_sync_wait(&loop, &s, net_network_remove(ctx, name, net_sync_done, &s, &req, err), err);

    net_sync_release(&s);
    return r;
}

static int do_sandbox_create(const char *id, const char *hostname, struct net_sandbox_info *ret,
                             struct stk_err *err)
{
    struct net_sandbox_spec spec = {(char *)id, (char *)hostname, (char *)"test", NULL, NULL, NULL};
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r =
        net_sync_wait(&loop, &s, net_sandbox_create(ctx, &spec, net_sync_done, &s, &req, err), err);

    if (r == 0 && ret)
        net_sandbox_info_copy(ret, &s.sandbox);
    net_sync_release(&s);
    return r;
}

static int do_sandbox_remove(const char *id, struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r =
        net_sync_wait(&loop, &s, net_sandbox_remove(ctx, id, net_sync_done, &s, &req, err), err);

    net_sync_release(&s);
    return r;
}

static int do_attach(const char *net, const char *sb, const char *const *aliases,
                     const struct net_port *ports, size_t n_ports, const char *ip,
                     struct net_endpoint_info *ret, struct stk_err *err)
{
    struct net_attachment att = {
        (char *)net, (char *)sb, NULL, (char **)aliases, (struct net_port *)ports,
        n_ports,     (char *)ip};
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r =
        net_sync_wait(&loop, &s, net_endpoint_attach(ctx, &att, net_sync_done, &s, &req, err), err);

    if (r == 0 && ret)
        net_endpoint_info_copy(ret, &s.endpoint);
    net_sync_release(&s);
    return r;
}

static int do_detach(const char *net, const char *sb, struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r = net_sync_wait(&loop, &s,
                          net_endpoint_detach(ctx, net, sb, net_sync_done, &s, &req, err), err);

    net_sync_release(&s);
    return r;
}

static int do_check(const char *net, const char *sb, struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r = net_sync_wait(&loop, &s, net_endpoint_check(ctx, net, sb, net_sync_done, &s, &req, err),
                          err);

    net_sync_release(&s);
    return r;
}

static int do_list(struct net_inventory *ret, struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    int r = net_sync_wait(&loop, &s, net_list(ctx, net_sync_done, &s, &req, err), err);

    if (r == 0)
        net_inventory_copy(ret, &s.inventory);
    net_sync_release(&s);
    return r;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        struct stk_err e_ = STK_ERR_INIT;                                                          \
        int r_ = (call);                                                                           \
        cr_assert_eq(r_, 0, "%s failed: %s (%s)", #call, e_.msg, e_.detail ? e_.detail : "");      \
        stk_err_clear(&e_);                                                                        \
    } while (0)
#define ERRV (&e_)

/* ---- fixture ---- */

static void setup(void)
{
    const char *why = NULL;
    struct stk_err err = STK_ERR_INIT;
    const struct net_plugin *plugin;

    if (!have_prereqs(&why))
        return; /* the test body skips or fails */
    /* As the CLI does: a plugin that exits before reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    /*
     * Criterion runs tests in parallel and they share the host's firewall and
     * port space: serialise them with a lock on the plugin directory, which
     * always exists, so that no lock file is left behind.
     */
    lock_fd = open("/usr/lib/cni", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(lock_fd, 0);
    cr_assert_eq(flock(lock_fd, LOCK_EX), 0);
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/stk-cni-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    state_dir = stk_xasprintf("%s/state", tmp_dir);
    run_dir = stk_xasprintf("%s/run", tmp_dir);
    www_dir = stk_xasprintf("%s/www", tmp_dir);
    cr_assert_eq(stk_mkdir_p(www_dir, 0755, &err), 0);
    snprintf(net_name, sizeof(net_name), "stktest_%ld", (long)getpid());
    snprintf(sb_a, sizeof(sb_a), "stktest-a-%ld", (long)getpid());
    snprintf(sb_b, sizeof(sb_b), "stktest-b-%ld", (long)getpid());
    cr_assert_eq(uv_loop_init(&loop), 0);
    loop_ready = 1;
    plugin = net_plugin_find("cni", &err);
    cr_assert_not_null(plugin, "%s", err.msg);
    ctx = net_ctx_new(plugin, &loop, state_dir, run_dir, &err);
    cr_assert_not_null(ctx, "%s", err.msg);
}

static void kill_httpd(void)
{
    if (httpd_pid > 0) {
        kill(httpd_pid, SIGTERM);
        waitpid(httpd_pid, NULL, 0);
        httpd_pid = -1;
    }
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;
    const char *ids[] = {sb_a, sb_b};

    kill_httpd();
    if (ctx) {
        /* Best effort through the plug-in first, then by hand for what it may have left. */
        for (size_t i = 0; i < 2; i++) {
            do_sandbox_remove(ids[i], &err);
            stk_err_clear(&err);
        }
        do_network_remove(net_name, &err);
        stk_err_clear(&err);
        net_ctx_free(ctx);
        ctx = NULL;
    }
    if (net_name[0]) {
        /* The bridge, if the plug-in could not remove it. */
        char bridge[16];
        char *q = stk_xasprintf("%s\n%s", state_dir, net_name);

        net__cni_bridge_name(q, bridge);
        free(q);
        if (link_exists(bridge)) {
            char *const del[] = {(char *)"ip", (char *)"link", (char *)"del", bridge, NULL};

            run_cmd(del, NULL);
        }
    }
    if (run_dir) {
        for (size_t i = 0; i < 2; i++) {
            char *pin = stk_xasprintf("%s/netns/%s", run_dir, ids[i]);

            umount2(pin, MNT_DETACH);
            free(pin);
        }
    }
    if (loop_ready) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_loop_close(&loop);
        loop_ready = 0;
    }
    if (tmp_dir[0]) {
        stk_rm_rf(tmp_dir, &err);
        stk_err_clear(&err);
        tmp_dir[0] = '\0';
    }
    free(state_dir);
    free(run_dir);
    free(www_dir);
    state_dir = run_dir = www_dir = NULL;
    if (lock_fd >= 0) {
        close(lock_fd);
        lock_fd = -1;
    }
}

TestSuite(net_cni, .init = setup, .fini = teardown);

/* One full create/attach/detach/remove cycle; used to warm up portmap's shared chains. */
static void warm_up_cycle(void)
{
    struct net_port port = {18099, 80, "tcp", "", 0};
    const char *aliases[] = {"warm", NULL};

    OK(do_network_create(net_name, NULL, NULL, ERRV));
    OK(do_sandbox_create(sb_a, "warm", NULL, ERRV));
    OK(do_attach(net_name, sb_a, aliases, &port, 1, NULL, NULL, ERRV));
    OK(do_sandbox_remove(sb_a, ERRV));
    OK(do_network_remove(net_name, ERRV));
}

static pid_t start_httpd(const char *pin, int port)
{
    char *netarg = stk_xasprintf("--net=%s", pin);
    char *portarg = stk_xasprintf("%d", port);
    char *const argv[] = {
        (char *)"nsenter", netarg,  (char *)"/bin/busybox", (char *)"httpd", (char *)"-f",
        (char *)"-p",      portarg, (char *)"-h",           www_dir,         NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, "nsenter", &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    free(netarg);
    free(portarg);
    return pid;
}

/* Fetches URL from the namespace pinned at PIN (NULL: the host), retrying while httpd starts. */
static char *fetch(const char *pin, const char *url)
{
    for (int tries = 0; tries < 50; tries++) {
        char *netarg = pin ? stk_xasprintf("--net=%s", pin) : NULL;
        /* curl rather than busybox wget, which crashes in the static build. */
        char *const in_ns[] = {(char *)"nsenter",    netarg,      (char *)"curl", (char *)"-s",
                               (char *)"--max-time", (char *)"2", (char *)url,    NULL};
        char *const host[] = {(char *)"curl", (char *)"-s", (char *)"--max-time",
                              (char *)"2",    (char *)url,  NULL};
        char *out = NULL;
        int r = run_cmd(pin ? in_ns : host, &out);

        free(netarg);
        if (r == 0 && out && *out)
            return out;
        free(out);
        usleep(100 * 1000);
    }
    return NULL;
}

Test(net_cni, two_sandboxes_talk_publish_and_clean_up)
{
    struct net_network_info net = {0}, net2 = {0};
    struct net_sandbox_info sa = {0}, sbi = {0};
    struct net_endpoint_info ea = {0}, eb = {0}, ea2 = {0};
    struct net_inventory inv = {0};
    struct net_port port[2];
    const char *aliases_a[] = {"web", "www", NULL};
    const char *aliases_b[] = {"db", NULL};
    char *before, *after, *hosts_a, *hosts_b, *resolv, *got, *pin_a, *pin_b, *ipam;
    char url[128], token[64];
    struct stat st0, st1;
    int host_port = 18080 + (int)(getpid() % 1000);

    REQUIRE_PREREQS();
    warm_up_cycle();
    before = firewall_snapshot();

    OK(do_network_create(net_name, NULL, &net, ERRV));
    cr_assert_str_eq(net.name, net_name);
    cr_assert(strncmp(net.subnet, "10.89.", 6) == 0, "subnet %s not from the pool", net.subnet);
    cr_assert(strncmp(net.bridge, "stk-", 4) == 0 && strlen(net.bridge) == 12, "bridge '%s'",
              net.bridge);
    cr_assert(link_exists(net.bridge), "bridge %s missing after network_create", net.bridge);
    {
        /* The gateway is on the bridge at once, so the subnet is visible in the host's routes. */
        char *const show[] = {
            (char *)"ip", (char *)"-4", (char *)"addr", (char *)"show", (char *)"dev",
            net.bridge,   NULL};
        char *out = NULL;
        char *want = stk_xasprintf("inet %s/24", net.gateway);

        cr_assert_eq(run_cmd(show, &out), 0);
        cr_assert_not_null(strstr(out, want), "no %s on %s:\n%s", want, net.bridge, out);
        free(out);
        free(want);
    }
    /* Creating it again with the same spec succeeds and returns the same network. */
    OK(do_network_create(net_name, NULL, &net2, ERRV));
    cr_assert_str_eq(net2.subnet, net.subnet);
    cr_assert_str_eq(net2.bridge, net.bridge);

    OK(do_sandbox_create(sb_a, "alpha", &sa, ERRV));
    OK(do_sandbox_create(sb_b, "beta", &sbi, ERRV));
    pin_a = stk_xasprintf("%s/netns/%s", run_dir, sb_a);
    pin_b = stk_xasprintf("%s/netns/%s", run_dir, sb_b);
    cr_assert_str_eq(sa.handle, pin_a);
    cr_assert_str_eq(sbi.handle, pin_b);
    cr_assert_eq(stat(sa.hosts_path, &st0), 0);
    resolv = read_text(sa.resolv_path);
    cr_assert_null(strstr(resolv, "nameserver"), "resolv.conf has a nameserver: %s", resolv);
    free(resolv);

    /* A fixed host port and an ephemeral one (host port 0: the plug-in chooses). */
    memset(port, 0, sizeof(port));
    port[0].host_port = (uint16_t)host_port;
    port[0].container_port = 8080;
    memcpy(port[0].protocol, "tcp", 4);
    port[1].container_port = 8080;
    memcpy(port[1].protocol, "tcp", 4);
    OK(do_attach(net_name, sb_a, aliases_a, port, 2, NULL, &ea, ERRV));
    cr_assert_eq(ea.n_ports, 2);
    cr_assert_eq(ea.ports[0].host_port, host_port);
    cr_assert(ea.ports[1].host_port != 0 && ea.ports[1].host_port != host_port,
              "ephemeral host port %u", ea.ports[1].host_port);
    OK(do_attach(net_name, sb_b, aliases_b, NULL, 0, NULL, &eb, ERRV));
    cr_assert_not_null(ea.ipv4);
    cr_assert_not_null(eb.ipv4);
    cr_assert_str_neq(ea.ipv4, eb.ipv4);
    cr_assert_eq(ea.prefix_len, 24);
    cr_assert(ea.mac && strlen(ea.mac) == 17, "mac '%s'", ea.mac ? ea.mac : "(null)");
    cr_assert_str_eq(ea.ifname, "eth0");
    /* Attaching an existing endpoint returns it. */
    OK(do_attach(net_name, sb_a, aliases_a, port, 2, NULL, &ea2, ERRV));
    cr_assert_str_eq(ea2.ipv4, ea.ipv4);
    cr_assert_eq(ea2.n_ports, 2);
    cr_assert_eq(ea2.ports[1].host_port, ea.ports[1].host_port, "the ephemeral port changed");

    /* Hosts files: both sandboxes list both endpoints; the file kept its inode. */
    hosts_a = read_text(sa.hosts_path);
    hosts_b = read_text(sbi.hosts_path);
    cr_assert(hosts_has(hosts_a, "127.0.0.1", "localhost"), "%s", hosts_a);
    cr_assert(hosts_has(hosts_a, "::1", "localhost"), "%s", hosts_a);
    cr_assert(hosts_has(hosts_a, ea.ipv4, "alpha") && hosts_has(hosts_a, ea.ipv4, "web") &&
                  hosts_has(hosts_a, ea.ipv4, "www"),
              "%s", hosts_a);
    cr_assert(hosts_has(hosts_a, eb.ipv4, "db"), "%s", hosts_a);
    cr_assert(hosts_has(hosts_b, ea.ipv4, "web") && hosts_has(hosts_b, eb.ipv4, "db"), "%s",
              hosts_b);
    cr_assert_eq(stat(sa.hosts_path, &st1), 0);
    cr_assert_eq(st0.st_ino, st1.st_ino, "hosts file replaced instead of rewritten in place");
    free(hosts_a);
    free(hosts_b);

    /* The namespaces reach each other: ICMP and TCP. */
    {
        char *netarg = stk_xasprintf("--net=%s", pin_b);
        char *const ping[] = {
            (char *)"nsenter", netarg,      (char *)"/bin/busybox", (char *)"ping",
            (char *)"-c",      (char *)"1", (char *)"-W",           (char *)"2",
            ea.ipv4,           NULL};

        cr_assert_eq(run_cmd(ping, NULL), 0, "ping from %s to %s failed", sb_b, ea.ipv4);
        free(netarg);
    }
    snprintf(token, sizeof(token), "stack-cni-%ld-%ld", (long)getpid(), (long)time(NULL));
    {
        char *index = stk_xasprintf("%s/index.html", www_dir);
        struct stk_err err = STK_ERR_INIT;

        cr_assert_eq(stk_file_write_atomic(index, token, strlen(token), 0644, 0, &err), 0);
        free(index);
    }
    httpd_pid = start_httpd(pin_a, 8080);
    cr_assert_gt(httpd_pid, 0);
    snprintf(url, sizeof(url), "http://%s:8080/index.html", ea.ipv4);
    got = fetch(pin_b, url);
    cr_assert(got && strstr(got, token), "TCP from %s to %s failed", sb_b, url);
    free(got);
    /* The published port answers on the host's loopback (portmap DNAT + SNAT). */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/index.html", host_port);
    got = fetch(NULL, url);
    cr_assert(got && strstr(got, token), "published port %s not reachable from the host", url);
    free(got);
    /* By name too, as a user types it (curl falls back from ::1 to 127.0.0.1). */
    snprintf(url, sizeof(url), "http://localhost:%d/index.html", host_port);
    got = fetch(NULL, url);
    cr_assert(got && strstr(got, token), "published port %s not reachable from the host", url);
    free(got);
    /* And on the ephemeral host port. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/index.html", ea.ports[1].host_port);
    got = fetch(NULL, url);
    cr_assert(got && strstr(got, token), "ephemeral port %s not reachable from the host", url);
    free(got);
    {
        /* The snapshot sees this test's rules while they exist (so its emptiness means something).
         */
        char *mid = firewall_snapshot();
        char masq[32], dnat[32];

        chain_names(net_name, sb_a, masq, dnat);
        cr_assert(strstr(mid, masq) && strstr(mid, dnat), "no %s / %s in:\n%s", masq, dnat, mid);
        free(mid);
    }
    kill_httpd();

    /* Both endpoints pass CHECK, also the one attached first (the bridge MAC is fixed). */
    OK(do_check(net_name, sb_a, ERRV));
    OK(do_check(net_name, sb_b, ERRV));
    OK(do_list(&inv, ERRV));
    {
        int nets = 0, sbs = 0, eps = 0;

        for (size_t i = 0; i < inv.n_networks; i++)
            nets += strcmp(inv.networks[i].name, net_name) == 0 && inv.networks[i].bridge;
        for (size_t i = 0; i < inv.n_sandboxes; i++)
            sbs += (strcmp(inv.sandboxes[i].id, sb_a) == 0 ||
                    strcmp(inv.sandboxes[i].id, sb_b) == 0) &&
                   inv.sandboxes[i].handle;
        for (size_t i = 0; i < inv.n_endpoints; i++)
            eps += strcmp(inv.endpoints[i].network, net_name) == 0;
        cr_assert_eq(nets, 1);
        cr_assert_eq(sbs, 2);
        cr_assert_eq(eps, 2);
    }

    /* Detaching B rewrites A's hosts file without B. */
    OK(do_detach(net_name, sb_b, ERRV));
    hosts_a = read_text(sa.hosts_path);
    cr_assert(!hosts_has(hosts_a, eb.ipv4, "db"), "%s", hosts_a);
    cr_assert(hosts_has(hosts_a, ea.ipv4, "web"), "%s", hosts_a);
    free(hosts_a);
    OK(do_detach(net_name, sb_b, ERRV)); /* a missing endpoint succeeds */

    /* sandbox_remove detaches A itself; then everything goes. */
    OK(do_sandbox_remove(sb_a, ERRV));
    OK(do_sandbox_remove(sb_b, ERRV));
    OK(do_network_remove(net_name, ERRV));
    OK(do_network_remove(net_name, ERRV)); /* missing succeeds */

    cr_assert(!link_exists(net.bridge), "bridge %s left behind", net.bridge);
    cr_assert(!stk_path_exists(pin_a) && !stk_path_exists(pin_b), "namespace pin left behind");
    cr_assert(!stk_path_exists(sa.hosts_path), "hosts file left behind");
    ipam = stk_xasprintf("%s/net/ipam/%s", state_dir, net_name);
    cr_assert(!stk_path_exists(ipam), "IPAM allocations left in %s", ipam);
    after = firewall_snapshot();
    cr_assert_str_eq(after, before, "firewall rules differ after the cycle");
    cr_assert_str_eq(after, "", "rules of this test left behind");

    free(ipam);
    free(before);
    free(after);
    free(pin_a);
    free(pin_b);
    net_network_info_release(&net);
    net_network_info_release(&net2);
    net_sandbox_info_release(&sa);
    net_sandbox_info_release(&sbi);
    net_endpoint_info_release(&ea);
    net_endpoint_info_release(&ea2);
    net_endpoint_info_release(&eb);
    net_inventory_release(&inv);
}

Test(net_cni, plugin_error_is_reported_and_nothing_is_left)
{
    struct net_network_info net = {0};
    struct stk_err err = STK_ERR_INIT;
    char *epath, *before, *after;
    int r;

    REQUIRE_PREREQS();
    before = firewall_snapshot();
    OK(do_network_create(net_name, "10.89.250.0/24", &net, ERRV));
    cr_assert_str_eq(net.gateway, "10.89.250.1");
    OK(do_sandbox_create(sb_a, "alpha", NULL, ERRV));

    /* A static address outside the subnet makes host-local (run by bridge) fail. */
    r = do_attach(net_name, sb_a, NULL, NULL, 0, "192.0.2.7", NULL, &err);
    cr_assert_eq(r, STK_ENET, "attach returned %d: %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "cni bridge ADD: "), "message: %s", err.msg);
    cr_assert_not_null(err.detail, "no plugin error document in detail");
    cr_assert_not_null(strstr(err.detail, "\"code\""), "detail: %s", err.detail);
    stk_err_clear(&err);
    epath = stk_xasprintf("%s/net/endpoints/%s/%s.json", state_dir, sb_a, net_name);
    cr_assert(!stk_path_exists(epath), "endpoint record %s left after a failed attach", epath);
    free(epath);

    /* Unknown names fail at once with STK_ENOENT; invalid ones with STK_EINVAL. */
    r = do_attach("stktest_missing", sb_a, NULL, NULL, 0, NULL, NULL, &err);
    cr_assert_eq(r, STK_ENOENT, "%s", err.msg);
    stk_err_clear(&err);
    r = do_network_create("../escape", NULL, NULL, &err);
    cr_assert_eq(r, STK_EINVAL, "%s", err.msg);
    stk_err_clear(&err);
    /* An existing network with another subnet is refused. */
    r = do_network_create(net_name, "10.89.251.0/24", NULL, &err);
    cr_assert_eq(r, STK_EEXIST, "%s", err.msg);
    stk_err_clear(&err);

    /* A host port is published once per protocol and address. */
    {
        struct net_port tcp = {18601, 80, "tcp", "", 0}, udp = {18601, 80, "udp", "", 0};
        struct net_port zero = {18602, 0, "tcp", "", 0}; /* no container port */

        OK(do_sandbox_create(sb_b, "beta", NULL, ERRV));
        OK(do_attach(net_name, sb_a, NULL, &tcp, 1, NULL, NULL, ERRV));
        r = do_attach(net_name, sb_b, NULL, &tcp, 1, NULL, NULL, &err);
        cr_assert_eq(r, STK_EEXIST, "second publisher of 18601/tcp: %d %s", r, err.msg);
        cr_assert_not_null(strstr(err.msg, sb_a), "%s", err.msg);
        stk_err_clear(&err);
        r = do_attach(net_name, sb_b, NULL, &zero, 1, NULL, NULL, &err);
        cr_assert_eq(r, STK_EINVAL, "%s", err.msg);
        stk_err_clear(&err);
        {
            /* The network is IPv4 only: an IPv6 host address is refused, not silently dead. */
            struct net_port v6 = {18603, 80, "tcp", "::1", 0};
            r = do_attach(net_name, sb_b, NULL, &v6, 1, NULL, NULL, &err);
            cr_assert_eq(r, STK_EINVAL, "%s", err.msg);
            char want[512];
            snprintf(want, sizeof(want),
                     "attach '%s' to '%s': cannot publish on IPv6 address [::1]: the network has "
                     "no IPv6 (publish on an IPv4 address or all of them)",
                     sb_b, net_name);
            cr_assert_str_eq(err.msg, want);
            stk_err_clear(&err);
        }
        OK(do_attach(net_name, sb_b, NULL, &udp, 1, NULL, NULL, ERRV));
    }

    {
        /* A writer killed before its rename left a temporary record: it goes with the sandbox. */
        char *tmp =
            stk_xasprintf("%s/net/endpoints/%s/%s.json.tmp.99999", state_dir, sb_a, net_name);
        char *edir = stk_xasprintf("%s/net/endpoints/%s", state_dir, sb_a);
        FILE *f = fopen(tmp, "w");
        cr_assert_not_null(f, "%s", tmp);
        fclose(f);
        OK(do_sandbox_remove(sb_a, ERRV));
        cr_assert(!stk_path_exists(edir), "%s left behind", edir);
        free(tmp);
        free(edir);
    }
    OK(do_sandbox_remove(sb_b, ERRV));
    OK(do_network_remove(net_name, ERRV));
    cr_assert(!link_exists(net.bridge));
    after = firewall_snapshot();
    cr_assert_str_eq(after, before, "firewall rules differ after a failed attach");
    free(before);
    free(after);
    net_network_info_release(&net);
}

/* Counts DONE calls and keeps the first result of an async op. */
struct done_rec {
    int calls;
    struct net_sync s;
};

static void count_done(struct net_req *req, const struct net_result *res, const struct stk_err *err,
                       void *userdata)
{
    struct done_rec *d = userdata;

    if (d->calls++ == 0)
        net_sync_done(req, res, err, &d->s);
}

static void run_until(struct done_rec *recs, size_t n)
{
    for (;;) {
        size_t pending = 0;

        for (size_t i = 0; i < n; i++)
            pending += recs[i].calls == 0;
        if (!pending)
            break;
        if (uv_run(&loop, UV_RUN_ONCE) == 0) {
            pending = 0;
            for (size_t i = 0; i < n; i++)
                pending += recs[i].calls == 0;
            cr_assert_eq(pending, 0, "the loop ran dry with %zu ops unfinished", pending);
        }
    }
    /* Let any stray second callback show up. */
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int ns_run(const char *pin, const char *const *cmd)
{
    struct stk_strv argv = STK_STRV_INIT;
    int r;

    stk_strv_init(&argv);
    stk_strv_push(&argv, "nsenter");
    stk_strv_pushf(&argv, "--net=%s", pin);
    for (size_t i = 0; cmd[i]; i++)
        stk_strv_push(&argv, cmd[i]);
    r = run_cmd(argv.v, NULL);
    stk_strv_release(&argv);
    return r;
}

Test(net_cni, concurrent_ops_check_cancel_and_network_remove)
{
    struct net_network_info net = {0};
    struct net_network_spec nspec = {net_name, NULL, NULL, 0, (char *)"test", NULL};
    struct net_sandbox_spec sspec[2] = {{sb_a, (char *)"alpha", (char *)"test", NULL, NULL, NULL},
                                        {sb_b, (char *)"beta", (char *)"test", NULL, NULL, NULL}};
    const char *aliases_a[] = {"web", NULL}, *aliases_b[] = {"db", NULL};
    struct net_attachment att[2] = {{net_name, sb_a, NULL, (char **)aliases_a, NULL, 0, NULL},
                                    {net_name, sb_b, NULL, (char **)aliases_b, NULL, 0, NULL}};
    struct done_rec d[2], dn;
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_inventory inv = {0};
    char *before, *after, *hosts, *static_ip, *cidr, *epath, *pin_a;
    char *hosts_path[2];

    REQUIRE_PREREQS();
    warm_up_cycle();
    before = firewall_snapshot();

    /* DONE is never called before the op returns. */
    memset(&dn, 0, sizeof(dn));
    cr_assert_eq(net_network_create(ctx, &nspec, count_done, &dn, &req, &err), 0, "%s", err.msg);
    cr_assert_eq(dn.calls, 0, "done called before network_create returned");
    run_until(&dn, 1);
    cr_assert_eq(dn.calls, 1);
    cr_assert_eq(dn.s.err.code, 0, "%s", dn.s.err.msg);
    net_network_info_copy(&net, &dn.s.network);
    net_sync_release(&dn.s);

    /* Two sandboxes, created concurrently. */
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(net_sandbox_create(ctx, &sspec[i], count_done, &d[i], &req, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(d[i].calls, 0);
    }
    run_until(d, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(d[i].calls, 1);
        cr_assert_eq(d[i].s.err.code, 0, "%s", d[i].s.err.msg);
        hosts_path[i] = stk_xstrdup(d[i].s.sandbox.hosts_path);
        net_sync_release(&d[i].s);
    }

    /* A canceled attach calls DONE once with STK_ECANCELED and leaves nothing behind. */
    memset(&dn, 0, sizeof(dn));
    cr_assert_eq(net_endpoint_attach(ctx, &att[0], count_done, &dn, &req, &err), 0, "%s", err.msg);
    net_req_cancel(req);
    run_until(&dn, 1);
    cr_assert_eq(dn.calls, 1);
    cr_assert_eq(dn.s.err.code, STK_ECANCELED, "canceled attach: %d %s", dn.s.err.code,
                 dn.s.err.msg);
    net_sync_release(&dn.s);
    epath = stk_xasprintf("%s/net/endpoints/%s/%s.json", state_dir, sb_a, net_name);
    cr_assert(!stk_path_exists(epath), "record of a canceled attach left behind");

    /* Two attaches at once; B asks for a static address. */
    cidr = stk_xstrdup(net.subnet);
    *strrchr(cidr, '.') = '\0';
    static_ip = stk_xasprintf("%s.77", cidr);
    att[1].ipv4_address = static_ip;
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(net_endpoint_attach(ctx, &att[i], count_done, &d[i], &req, &err), 0, "%s",
                     err.msg);
    run_until(d, 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(d[i].s.err.code, 0, "attach %d: %s", i, d[i].s.err.msg);
    cr_assert_str_eq(d[1].s.endpoint.ipv4, static_ip);
    for (int i = 0; i < 2; i++) {
        hosts = read_text(hosts_path[i]);
        cr_assert(hosts_has(hosts, d[0].s.endpoint.ipv4, "web") &&
                      hosts_has(hosts, static_ip, "db") && hosts_has(hosts, static_ip, "beta"),
                  "hosts of %d after concurrent attaches:\n%s", i, hosts);
        free(hosts);
    }

    /* CHECK notices a missing address, and passes again once it is back. */
    pin_a = stk_xasprintf("%s/netns/%s", run_dir, sb_a);
    {
        const char *flush[] = {"ip", "addr", "flush", "dev", "eth0", NULL};
        char *addr = stk_xasprintf("%s/%d", d[0].s.endpoint.ipv4, d[0].s.endpoint.prefix_len);
        const char *add[] = {"ip", "addr", "add", addr, "dev", "eth0", NULL};
        const char *route[] = {"ip", "route", "add", "default", "via", net.gateway, NULL};
        int r;

        cr_assert_eq(ns_run(pin_a, flush), 0);
        r = do_check(net_name, sb_a, &err);
        cr_assert_eq(r, STK_ENET, "check after flush returned %d: %s", r, err.msg);
        cr_assert_not_null(strstr(err.msg, "cni bridge CHECK: "), "%s", err.msg);
        stk_err_clear(&err);
        cr_assert_eq(ns_run(pin_a, add), 0);
        cr_assert_eq(ns_run(pin_a, route), 0);
        OK(do_check(net_name, sb_a, ERRV));
        free(addr);
    }

    /* network_remove detaches what is still attached and rewrites the hosts files. */
    OK(do_network_remove(net_name, ERRV));
    cr_assert(!link_exists(net.bridge), "bridge %s left behind", net.bridge);
    OK(do_list(&inv, ERRV));
    cr_assert_eq(inv.n_endpoints, 0, "endpoints left after network_remove");
    cr_assert_eq(inv.n_networks, 0);
    cr_assert_eq(inv.n_sandboxes, 2);
    for (int i = 0; i < 2; i++) {
        hosts = read_text(hosts_path[i]);
        cr_assert(!hosts_has(hosts, static_ip, "db") && hosts_has(hosts, "127.0.0.1", "localhost"),
                  "%s", hosts);
        free(hosts);
    }
    OK(do_sandbox_remove(sb_a, ERRV));
    OK(do_sandbox_remove(sb_b, ERRV));
    after = firewall_snapshot();
    cr_assert_str_eq(after, before, "firewall rules differ after the cycle");
    cr_assert_str_eq(after, "", "rules of this test left behind");

    for (int i = 0; i < 2; i++) {
        net_sync_release(&d[i].s);
        free(hosts_path[i]);
    }
    free(pin_a);
    free(epath);
    free(cidr);
    free(static_ip);
    free(before);
    free(after);
    net_inventory_release(&inv);
    net_network_info_release(&net);
}

Test(net_cni, done_comes_after_return_and_names_are_validated)
{
    struct done_rec dn;
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec bad = {(char *)"a/b", NULL, NULL, 0, NULL, NULL};
    struct net_network_spec badgw = {
        (char *)"ok", (char *)"10.89.9.0/24", (char *)"10.1.1.1", 0, NULL, NULL};

    REQUIRE_PREREQS();
    memset(&dn, 0, sizeof(dn));
    cr_assert_eq(net_list(ctx, count_done, &dn, &req, &err), 0, "%s", err.msg);
    cr_assert_eq(dn.calls, 0, "done called before list returned");
    run_until(&dn, 1);
    cr_assert_eq(dn.calls, 1);
    cr_assert_eq(dn.s.inventory.n_networks, 0);
    net_sync_release(&dn.s);

    cr_assert_eq(net_network_create(ctx, &bad, count_done, &dn, &req, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_network_create(ctx, &badgw, count_done, &dn, &req, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(net_sandbox_remove(ctx, "..", count_done, &dn, &req, &err), STK_EINVAL);
    stk_err_clear(&err);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(dn.calls, 1, "done called for an op that failed at once");
}

Test(net_cni, internal_network_has_no_route_out)
{
    struct net_network_spec spec = {net_name, NULL, NULL, 1, (char *)"test", NULL};
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_endpoint_info ea = {0}, eb = {0};
    char *pin_a, *route = NULL, *before, *after, *bridge;

    REQUIRE_PREREQS();
    before = firewall_snapshot();
    cr_assert_eq(net_sync_wait(&loop, &s,
                               net_network_create(ctx, &spec, net_sync_done, &s, &req, &err), &err),
                 0, "%s", err.msg);
    bridge = stk_xstrdup(s.network.bridge);
    net_sync_release(&s);
    OK(do_sandbox_create(sb_a, "alpha", NULL, ERRV));
    OK(do_sandbox_create(sb_b, "beta", NULL, ERRV));
    OK(do_attach(net_name, sb_a, NULL, NULL, 0, NULL, &ea, ERRV));
    OK(do_attach(net_name, sb_b, NULL, NULL, 0, NULL, &eb, ERRV));
    pin_a = stk_xasprintf("%s/netns/%s", run_dir, sb_a);
    {
        char *netarg = stk_xasprintf("--net=%s", pin_a);
        char *const ip_route[] = {(char *)"nsenter", netarg,         (char *)"ip",
                                  (char *)"route",   (char *)"show", NULL};
        char *const ping[] = {
            (char *)"nsenter", netarg,      (char *)"/bin/busybox", (char *)"ping",
            (char *)"-c",      (char *)"1", (char *)"-W",           (char *)"2",
            eb.ipv4,           NULL};

        cr_assert_eq(run_cmd(ip_route, &route), 0);
        cr_assert_null(strstr(route, "default"), "internal network has a default route:\n%s",
                       route);
        cr_assert_eq(run_cmd(ping, NULL), 0, "ping %s on the internal network failed", eb.ipv4);
        free(netarg);
    }
    /* No masquerade rule while attached: the firewall is as before. */
    after = firewall_snapshot();
    cr_assert_str_eq(after, before, "an internal network changed the firewall");
    OK(do_sandbox_remove(sb_a, ERRV));
    OK(do_sandbox_remove(sb_b, ERRV));
    OK(do_network_remove(net_name, ERRV));
    cr_assert(!link_exists(bridge));
    free(route);
    free(pin_a);
    free(before);
    free(after);
    free(bridge);
    net_endpoint_info_release(&ea);
    net_endpoint_info_release(&eb);
}

/* Counts the files in DIR whose name starts with a digit (host-local's address files). */
static int ipam_allocations(const char *dir)
{
    char *const ls[] = {(char *)"ls", (char *)"-1", (char *)dir, NULL};
    char *out = NULL;
    int n = 0;

    if (run_cmd(ls, &out) == 0)
        for (char *l = out; l && *l;) {
            char *nl = strchr(l, '\n');

            n += *l >= '0' && *l <= '9';
            l = nl ? nl + 1 : l + strlen(l);
        }
    free(out);
    return n;
}

Test(net_cni, lost_namespace_releases_its_endpoints_on_sandbox_create)
{
    struct net_network_spec spec = {net_name, NULL, NULL, 1, (char *)"test", NULL};
    struct net_sync s = NET_SYNC_INIT;
    struct net_req *req = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct net_endpoint_info ea = {0}, ea2 = {0};
    struct net_inventory inv = {0};
    char *pin_a, *ipam, *before, *after, *bridge;

    REQUIRE_PREREQS();
    before = firewall_snapshot();
    /* Internal: no masquerade, whose rules a namespace that vanished could not take down. */
    cr_assert_eq(net_sync_wait(&loop, &s,
                               net_network_create(ctx, &spec, net_sync_done, &s, &req, &err), &err),
                 0, "%s", err.msg);
    bridge = stk_xstrdup(s.network.bridge);
    net_sync_release(&s);
    OK(do_sandbox_create(sb_a, "alpha", NULL, ERRV));
    OK(do_attach(net_name, sb_a, NULL, NULL, 0, NULL, &ea, ERRV));
    ipam = stk_xasprintf("%s/net/ipam/%s", state_dir, net_name);
    cr_assert_eq(ipam_allocations(ipam), 1);

    /* The pin goes away behind the plug-in's back, as /run does across a reboot. */
    pin_a = stk_xasprintf("%s/netns/%s", run_dir, sb_a);
    cr_assert_eq(umount2(pin_a, MNT_DETACH), 0);
    /* And so does the bridge. */
    {
        char *const del[] = {(char *)"ip", (char *)"link", (char *)"del", bridge, NULL};

        cr_assert_eq(run_cmd(del, NULL), 0);
    }
    OK(do_list(&inv, ERRV));
    cr_assert_eq(inv.n_sandboxes, 1);
    cr_assert_null(inv.sandboxes[0].handle, "a dead namespace listed with a handle");
    cr_assert_eq(inv.n_networks, 1);
    cr_assert_null(inv.networks[0].bridge, "a missing bridge listed");
    net_inventory_release(&inv);

    /* Creating the sandbox again releases the dead endpoint and pins a new namespace. */
    OK(do_sandbox_create(sb_a, "alpha", NULL, ERRV));
    cr_assert_eq(ipam_allocations(ipam), 0, "the dead endpoint's address is still allocated");
    OK(do_list(&inv, ERRV));
    cr_assert_eq(inv.n_endpoints, 0);
    cr_assert_not_null(inv.sandboxes[0].handle);
    net_inventory_release(&inv);
    OK(do_attach(net_name, sb_a, NULL, NULL, 0, NULL, &ea2, ERRV));
    cr_assert(link_exists(bridge), "attach did not make the bridge again");
    OK(do_check(net_name, sb_a, ERRV));

    OK(do_sandbox_remove(sb_a, ERRV));
    OK(do_network_remove(net_name, ERRV));
    after = firewall_snapshot();
    cr_assert_str_eq(after, before);
    cr_assert(!link_exists(bridge));
    free(bridge);
    free(before);
    free(after);
    free(pin_a);
    free(ipam);
    net_endpoint_info_release(&ea);
    net_endpoint_info_release(&ea2);
}

#endif /* STK_HAVE_CNI */
