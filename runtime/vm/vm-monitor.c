/*
 * vm-monitor.c - stack-vm-monitor, the detached monitor of one VM-isolated
 * container (DESIGN.md §3: what conmon is for a process-isolated one).
 *
 * Usage: stack-vm-monitor CONTAINER_DIR
 *
 * Reads CONTAINER_DIR/vm.json (written by the driver at create), forks and
 * returns in the parent once the guest reports that the container's process
 * runs (exit 0) or that it could not (a one-line reason on stderr, exit 1).
 * The child, in its own session, owns everything of the running VM:
 * - the network: in the sandbox's network namespace it reads the first
 *   interface's MAC, IPv4 address and default gateway, creates a tap
 *   (non-persistent: it goes with QEMU's descriptor) and joins the two with
 *   tc ingress qdiscs and "mirred egress redirect" in both directions (the
 *   model of Kata Containers' tcfilter); the guest gets the MAC and address;
 * - virtiofsd on CONTAINER_DIR/share, and QEMU, whose stderr go to
 *   monitor.log;
 * - the agent's port: stdout and stderr to ctr.log in the k8s-file format
 *   conmon writes ("TIME STREAM F|P TEXT"), the start time, the exit file;
 * - a Unix socket (RUN/vm/ID/api.sock) that multiplexes the driver's
 *   requests (exec, signal, top) onto the agent's port, one session each.
 * When QEMU exits (the agent powers off after the main process ended, or it
 * was killed) the monitor writes the exit file if the guest did not report a
 * status (137: killed), stops virtiofsd, removes the tc rules and its
 * sockets, and runs the exit command, detached. SIGTERM to the monitor ends
 * the VM at once (QEMU is killed) and then cleans up the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "runtime/vm/vm-internal.h"

#define MON_BOOT_TIMEOUT_MS 180000
#define MON_LINE_MAX 16384
#define MON_TAP "stktap0"

struct client {
    uv_pipe_t h;
    struct rt__vm_rbuf rb;
    uint32_t session; /* 0 until its request is forwarded */
    int closing;
};

struct stream {
    const char *name; /* "stdout", "stderr" */
    char *line;
    size_t len;
};

static struct {
    uv_loop_t *loop;
    json_t *cfg;
    const char *cdir;
    char *run;
    int ready_fd; /* the parent's pipe, -1 once answered */
    FILE *log;
    struct stream out, err;
    uv_process_t qemu, fsd;
    int qemu_alive, fsd_alive;
    int qemu_pid;
    uv_pipe_t ctl;
    int ctl_connected;
    struct rt__vm_rbuf ctl_rb;
    uv_pipe_t api;
    uv_timer_t timer;
    uv_timer_t retry; /* reconnects to the agent port */
    int ctl_closed;   /* M.ctl is closed (or closing) and not re-initialised */
    uv_signal_t sigterm;
    int tries;
    int exit_written;
    int started;
    uint32_t next_session;
    struct client *clients[64];
    char netns[512];
    char eth[IFNAMSIZ];
    int tap_fd;
    char fail[512];
} M;

static const char *cfg_str(const char *key)
{
    return json_string_value(json_object_get(M.cfg, key));
}

static char *cpath(const char *leaf)
{
    return stk_xasprintf("%s/%s", M.cdir, leaf);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ready(const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    int n;

    if (M.ready_fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 && write(M.ready_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
        n = 0;
    close(M.ready_fd);
    M.ready_fd = -1;
}

/* ---- log --------------------------------------------------------------------------------- */

static void log_line(const char *stream, const char *tag, const char *text, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char t[40];
    FILE *f;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    f = M.log;
    if (!f)
        return;
    fprintf(f, "%s.%09ldZ %s %s %.*s\n", t, ts.tv_nsec, stream, tag, (int)n, text);
    fflush(f);
}

static void stream_add(struct stream *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            log_line(s->name, "F", s->line, s->len);
            s->len = 0;
            continue;
        }
        if (s->len == MON_LINE_MAX) {
            log_line(s->name, "P", s->line, s->len);
            s->len = 0;
        }
        s->line[s->len++] = (char)p[i];
    }
}

static void stream_flush(struct stream *s)
{
    if (s->len)
        log_line(s->name, "P", s->line, s->len);
    s->len = 0;
}

static void write_exit(int status)
{
    char *dir = cpath("exit");
    char *path = stk_xasprintf("%s/%s", dir, cfg_str("id"));
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", status);

    if (M.exit_written)
        goto out;
    M.exit_written = 1;
    stream_flush(&M.out);
    stream_flush(&M.err);
    stk_mkdir_p(dir, 0700, NULL);
    stk_file_write_atomic(path, buf, (size_t)n, 0600, 0, NULL);
out:
    free(dir);
    free(path);
}

/* ---- the network ------------------------------------------------------------------------- */

static void run_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    int *ret = p->data;

    (void)sig;
    *ret = status == 0 ? 0 : -1;
    uv_close((uv_handle_t *)p, NULL);
}

/*
 * Runs ARGV (in the monitor's current network namespace) on a loop of its own
 * and waits for it; DETACHED: in its own session, not waited for (the exit
 * command, which re-invokes stack and must outlive the monitor).
 */
static int run_argv(char *const *argv, int detached)
{
    uv_loop_t l;
    uv_process_t p;
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    int ret = -1;

    memset(&o, 0, sizeof(o));
    memset(io, 0, sizeof(io));
    for (int i = 0; i < 3; i++)
        io[i].flags = UV_IGNORE;
    o.file = argv[0];
    o.args = (char **)argv;
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = run_exit_cb;
    if (detached)
        o.flags = UV_PROCESS_DETACHED;
    if (uv_loop_init(&l) < 0)
        return -1;
    p.data = &ret;
    if (uv_spawn(&l, &p, &o) < 0) {
        uv_loop_close(&l);
        return -1;
    }
    if (detached) {
        uv_unref((uv_handle_t *)&p);
        uv_close((uv_handle_t *)&p, NULL);
        ret = 0;
    }
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    return ret;
}

static int run_cmd(char *const *argv)
{
    return run_argv(argv, 0);
}

static const char *tc_path(void)
{
    return access("/usr/sbin/tc", X_OK) == 0 ? "/usr/sbin/tc" : "/sbin/tc";
}

/* Runs tc with ARGS (NULL-terminated, without argv[0]). */
static int tc(const char *const *args)
{
    const char *argv[24];
    size_t n = 0;

    argv[n++] = tc_path();
    while (*args && n < 23)
        argv[n++] = *args++;
    argv[n] = NULL;
    return run_cmd((char *const *)argv);
}

/* Redirects everything arriving on FROM to the egress of TO (ingress qdisc, u32 match-all). */
static int redirect_to(const char *from, const char *to)
{
    const char *del[] = {"qdisc", "del", "dev", from, "ingress", NULL};
    const char *add[] = {"qdisc", "add", "dev", from, "ingress", NULL};
    const char *filter[] = {"filter", "add",    "dev",      from,  "parent", "ffff:", "protocol",
                            "all",    "u32",    "match",    "u8",  "0",      "0",     "action",
                            "mirred", "egress", "redirect", "dev", to,       NULL};

    tc(del);
    if (tc(add) < 0)
        return -1;
    return tc(filter);
}

static int enter_ns(const char *path, int *ret_orig)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || orig < 0 || setns(fd, CLONE_NEWNET) < 0) {
        if (fd >= 0)
            close(fd);
        if (orig >= 0)
            close(orig);
        return -1;
    }
    close(fd);
    *ret_orig = orig;
    return 0;
}

static void leave_ns(int orig)
{
    if (setns(orig, CLONE_NEWNET) < 0)
        abort();
    close(orig);
}

/* In the sandbox: reads the interface, makes the tap and the redirects; fills NET. */
static int net_setup(json_t **ret_net)
{
    struct ifaddrs *ifa = NULL, *i;
    struct ifreq ifr;
    int orig = -1, sock = -1, ret = -1;
    char addr[INET_ADDRSTRLEN] = "", gw[INET_ADDRSTRLEN] = "", mac[32] = "";
    int prefix = 0;
    FILE *route;
    char line[512];

    if (enter_ns(M.netns, &orig) < 0) {
        snprintf(M.fail, sizeof(M.fail), "enter network namespace '%.200s': %s", M.netns,
                 strerror(errno));
        return -1;
    }
    if (getifaddrs(&ifa) < 0)
        goto out;
    for (i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (strcmp(i->ifa_name, MON_TAP) == 0)
            continue;
        snprintf(M.eth, sizeof(M.eth), "%s", i->ifa_name);
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, sizeof(addr));
        prefix = __builtin_popcount(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
        break;
    }
    if (!M.eth[0]) {
        snprintf(M.fail, sizeof(M.fail), "no IPv4 interface in network namespace '%.200s'",
                 M.netns);
        goto out;
    }
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", M.eth);
    if (sock < 0 || ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
        goto out;
    {
        const unsigned char *h = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4],
                 h[5]);
    }
    route = fopen("/proc/net/route", "re");
    while (route && fgets(line, sizeof(line), route)) {
        char ifn[64];
        unsigned dst, gwa, flags;
        if (sscanf(line, "%63s %x %x %x", ifn, &dst, &gwa, &flags) == 4 && dst == 0 && gwa) {
            struct in_addr a = {.s_addr = gwa};
            inet_ntop(AF_INET, &a, gw, sizeof(gw));
            break;
        }
    }
    if (route)
        fclose(route);
    M.tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), MON_TAP);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (M.tap_fd < 0 || ioctl(M.tap_fd, TUNSETIFF, &ifr) < 0) {
        snprintf(M.fail, sizeof(M.fail), "create a tap device: %s", strerror(errno));
        goto out;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), MON_TAP);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(sock, SIOCSIFFLAGS, &ifr);
    }
    if (redirect_to(M.eth, MON_TAP) < 0 || redirect_to(MON_TAP, M.eth) < 0) {
        snprintf(M.fail, sizeof(M.fail), "tc redirect between '%s' and the tap failed", M.eth);
        goto out;
    }
    *ret_net = json_pack("{s:s, s:i, s:s, s:s}", "address", addr, "prefix", prefix, "gateway", gw,
                         "mac", mac);
    ret = 0;
out:
    if (ret < 0 && !M.fail[0])
        snprintf(M.fail, sizeof(M.fail), "network set-up in '%.200s': %s", M.netns,
                 strerror(errno));
    if (ifa)
        freeifaddrs(ifa);
    if (sock >= 0)
        close(sock);
    leave_ns(orig);
    return ret;
}

static void net_teardown(void)
{
    int orig;

    if (!M.eth[0] || enter_ns(M.netns, &orig) < 0)
        return;
    {
        const char *del[] = {"qdisc", "del", "dev", M.eth, "ingress", NULL};
        tc(del);
    }
    leave_ns(orig);
}

/* ---- the end ----------------------------------------------------------------------------- */

static void run_exit_command(void)
{
    json_t *ec = json_object_get(M.cfg, "exit_command"), *v;
    struct stk_strv argv = STK_STRV_INIT;
    size_t i;

    if (json_array_size(ec) == 0)
        return;
    stk_strv_init(&argv);
    json_array_foreach(ec, i, v) stk_strv_push(&argv, json_string_value(v));
    run_argv(argv.v, 1);
    stk_strv_release(&argv);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void client_free_cb(uv_handle_t *h)
{
    struct client *c = h->data;

    rt__vm_rbuf_release(&c->rb);
    free(c);
}

static void client_close(struct client *c)
{
    for (size_t i = 0; i < 64; i++)
        if (M.clients[i] == c)
            M.clients[i] = NULL;
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->h, client_free_cb);
    }
}

static void maybe_finish(void)
{
    if (M.qemu_alive || M.fsd_alive)
        return;
    if (!M.exit_written)
        write_exit(M.fail[0] && !M.started ? 127 : 137);
    net_teardown();
    {
        char *p = cpath("qemu.pid");
        unlink(p);
        free(p);
    }
    stk_rm_rf(M.run, NULL);
    run_exit_command();
    for (size_t i = 0; i < 64; i++)
        if (M.clients[i])
            client_close(M.clients[i]);
    if (!uv_is_closing((uv_handle_t *)&M.timer))
        uv_close((uv_handle_t *)&M.timer, close_cb);
    if (!uv_is_closing((uv_handle_t *)&M.sigterm))
        uv_close((uv_handle_t *)&M.sigterm, close_cb);
    if (!uv_is_closing((uv_handle_t *)&M.api))
        uv_close((uv_handle_t *)&M.api, close_cb);
    if (!uv_is_closing((uv_handle_t *)&M.retry))
        uv_close((uv_handle_t *)&M.retry, close_cb);
    if (!M.ctl_closed && !uv_is_closing((uv_handle_t *)&M.ctl)) {
        M.ctl_closed = 1;
        uv_close((uv_handle_t *)&M.ctl, close_cb);
    }
}

static void qemu_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    (void)sig;
    M.qemu_alive = 0;
    uv_close((uv_handle_t *)p, close_cb);
    /* virtiofsd exits when QEMU's connection goes; make sure it does. */
    if (M.fsd_alive)
        uv_process_kill(&M.fsd, SIGTERM);
    maybe_finish();
}

static void fsd_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    (void)sig;
    M.fsd_alive = 0;
    uv_close((uv_handle_t *)p, close_cb);
    if (M.qemu_alive)
        uv_process_kill(&M.qemu, SIGKILL); /* the guest lost its root */
    maybe_finish();
}

static void kill_vm(const char *why)
{
    if (why && !M.fail[0])
        snprintf(M.fail, sizeof(M.fail), "%.500s", why);
    if (M.qemu_alive)
        uv_process_kill(&M.qemu, SIGKILL);
}

/* ---- frames ------------------------------------------------------------------------------ */

static void write_done_cb(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_raw(uv_stream_t *s, uint8_t type, uint32_t session, const void *p, size_t n)
{
    uv_write_t *w = stk_new0(uv_write_t);
    size_t len;
    uint8_t *f = rt__vm_frame_encode(type, session, p, n, &len);
    uv_buf_t b = uv_buf_init((char *)f, (unsigned)len);

    w->data = f;
    if (uv_write(w, s, &b, 1, write_done_cb) < 0) {
        free(f);
        free(w);
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = stk_xmalloc(65536);
    buf->len = 65536;
}

static void on_guest_frame(const struct rt__vm_frame *f)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt__vm_msg m;

    if (f->session != 0) {
        for (size_t i = 0; i < 64; i++) {
            struct client *c = M.clients[i];
            if (!c || c->session != f->session)
                continue;
            send_raw((uv_stream_t *)&c->h, f->type, 0, f->payload, f->len);
            if (f->type == RT_VM_EXIT || f->type == RT_VM_TOP || f->type == RT_VM_FAIL)
                c->session = UINT32_MAX; /* answered: closed when the client goes */
        }
        return;
    }
    if (rt__vm_msg_decode(f, &m, &err) < 0) {
        kill_vm(err.msg);
        return;
    }
    switch (m.type) {
    case RT_VM_OUT:
        stream_add(&M.out, f->payload, f->len);
        break;
    case RT_VM_ERR:
        stream_add(&M.err, f->payload, f->len);
        break;
    case RT_VM_STARTED: {
        char *p = cpath("started");
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld\n", (long long)now_ns());
        stk_file_write_atomic(p, buf, (size_t)n, 0600, 0, NULL);
        free(p);
        M.started = 1;
        uv_timer_stop(&M.timer);
        ready("ok %d\n", M.qemu_pid);
        break;
    }
    case RT_VM_EXIT:
        write_exit(m.status);
        send_raw((uv_stream_t *)&M.ctl, RT_VM_ACK, 0, "{}", 2);
        break;
    case RT_VM_FAIL:
        snprintf(M.fail, sizeof(M.fail), "guest agent: %.480s", m.error);
        break;
    default:
        break;
    }
    rt__vm_msg_release(&m);
}

static void ctl_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct rt__vm_frame f;
    int r;

    (void)s;
    if (n > 0) {
        rt__vm_rbuf_append(&M.ctl_rb, buf->base, (size_t)n);
        while ((r = rt__vm_frame_next(&M.ctl_rb, &f)) == 1)
            on_guest_frame(&f);
        if (r < 0)
            kill_vm("guest agent: malformed frame");
    }
    free(buf->base);
}

/* ---- the driver's requests ---------------------------------------------------------------- */

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;
    struct rt__vm_frame f;

    if (n < 0) {
        free(buf->base);
        client_close(c);
        return;
    }
    if (n > 0)
        rt__vm_rbuf_append(&c->rb, buf->base, (size_t)n);
    free(buf->base);
    while (rt__vm_frame_next(&c->rb, &f) == 1) {
        if (f.type != RT_VM_REQ || c->session || !M.ctl_connected) {
            send_raw(s, RT_VM_FAIL, 0, "{\"error\":\"not ready\"}", 21);
            continue;
        }
        c->session = ++M.next_session;
        send_raw((uv_stream_t *)&M.ctl, RT_VM_REQ, c->session, f.payload, f.len);
    }
}

static void api_conn_cb(uv_stream_t *server, int status)
{
    struct client *c;
    size_t i;

    if (status < 0)
        return;
    c = stk_new0(struct client);
    uv_pipe_init(M.loop, &c->h, 0);
    c->h.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
        client_close(c);
        return;
    }
    for (i = 0; i < 64 && M.clients[i]; i++)
        ;
    if (i == 64) {
        uv_close((uv_handle_t *)&c->h, client_free_cb);
        return;
    }
    M.clients[i] = c;
    uv_read_start((uv_stream_t *)&c->h, alloc_cb, client_read_cb);
}

/* ---- start-up ----------------------------------------------------------------------------- */

static void connect_ctl(void);

static void retry_cb(uv_timer_t *t)
{
    (void)t;
    connect_ctl();
}

/* The failed connection's handle is closed: try again in 10 ms with a fresh one. */
static void ctl_closed_cb(uv_handle_t *h)
{
    (void)h;
    if (!M.qemu_alive)
        return;
    uv_timer_start(&M.retry, retry_cb, 10, 0);
}

static void ctl_connect_cb(uv_connect_t *req, int status)
{
    free(req);
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        if (++M.tries > 1000 || !M.qemu_alive) {
            M.ctl_closed = 1;
            uv_close((uv_handle_t *)&M.ctl, NULL);
            kill_vm("cannot connect to the VM's agent port");
            return;
        }
        uv_close((uv_handle_t *)&M.ctl, ctl_closed_cb);
        return;
    }
    M.ctl_connected = 1;
    uv_read_start((uv_stream_t *)&M.ctl, alloc_cb, ctl_read_cb);
}

static void connect_ctl(void)
{
    uv_connect_t *req = stk_new0(uv_connect_t);
    char *p = stk_xasprintf("%s/ctl.sock", M.run);

    uv_pipe_init(M.loop, &M.ctl, 0);
    M.ctl_closed = 0;
    uv_pipe_connect(req, &M.ctl, p, ctl_connect_cb);
    free(p);
}

/* SIGTERM (the driver's delete, or a stop whose guest does not answer): end the VM. */
static void sigterm_cb(uv_signal_t *h, int sig)
{
    (void)h;
    (void)sig;
    kill_vm("the VM was stopped");
}

static void boot_timeout_cb(uv_timer_t *t)
{
    (void)t;
    kill_vm("the guest did not start the container's process in time");
}

static int spawn(uv_process_t *p, char **argv, uv_exit_cb cb, int extra_fd, int errfd)
{
    uv_process_options_t o;
    uv_stdio_container_t io[4];

    memset(&o, 0, sizeof(o));
    memset(io, 0, sizeof(io));
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_INHERIT_FD;
    io[1].data.fd = errfd;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = errfd;
    io[3].flags = extra_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE;
    io[3].data.fd = extra_fd;
    o.file = argv[0];
    o.args = argv;
    o.exit_cb = cb;
    o.stdio = io;
    o.stdio_count = extra_fd >= 0 ? 4 : 3;
    return uv_spawn(M.loop, p, &o);
}

static int wait_for_path(const char *path, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (access(path, F_OK) == 0)
            return 0;
        uv_sleep(10);
    }
    return -1;
}

static int start_vm(int errfd)
{
    struct stk_strv a = STK_STRV_INIT;
    char *fs_sock = stk_xasprintf("%s/fs.sock", M.run);
    char *share = cpath("share");
    json_int_t mem = json_integer_value(json_object_get(M.cfg, "memory_mb"));
    json_t *net = NULL, *agent = NULL;
    char *agent_src = cpath("agent.json"), *agent_dst = stk_xasprintf("%s/agent.json", share);
    int r = -1;

    if (cfg_str("sandbox") && *cfg_str("sandbox")) {
        snprintf(M.netns, sizeof(M.netns), "%s", cfg_str("sandbox"));
        if (net_setup(&net) < 0)
            goto out;
    }
    agent = json_load_file(agent_src, 0, NULL);
    if (!agent) {
        snprintf(M.fail, sizeof(M.fail), "cannot read '%.300s'", agent_src);
        goto out;
    }
    if (net)
        json_object_set(agent, "net", net);
    if (json_dump_file(agent, agent_dst, JSON_COMPACT) < 0) {
        snprintf(M.fail, sizeof(M.fail), "cannot write '%.300s'", agent_dst);
        goto out;
    }
    stk_strv_init(&a);
    stk_strv_push(&a, cfg_str("virtiofsd"));
    stk_strv_pushf(&a, "--socket-path=%s", fs_sock);
    stk_strv_push(&a, "-o");
    stk_strv_pushf(&a, "source=%s", share);
    stk_strv_push(&a, "-o");
    stk_strv_push(&a, "cache=auto");
    stk_strv_push(&a, "-o");
    stk_strv_push(&a, "log_level=err");
    if (spawn(&M.fsd, a.v, fsd_exit_cb, -1, errfd) < 0) {
        snprintf(M.fail, sizeof(M.fail), "cannot run '%.300s'", cfg_str("virtiofsd"));
        goto out;
    }
    M.fsd_alive = 1;
    {
        char *p = cpath("virtiofsd.pid");
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d\n", M.fsd.pid);
        stk_file_write_atomic(p, buf, (size_t)n, 0600, 0, NULL);
        free(p);
    }
    stk_strv_release(&a);
    if (wait_for_path(fs_sock, 10000) < 0) {
        snprintf(M.fail, sizeof(M.fail), "virtiofsd did not create its socket");
        goto out;
    }
    stk_strv_init(&a);
    stk_strv_push(&a, cfg_str("qemu"));
    stk_strv_push(&a, "-nodefaults");
    stk_strv_push(&a, "-no-user-config");
    stk_strv_push(&a, "-nographic");
    stk_strv_push(&a, "-no-reboot");
    stk_strv_push(&a, "-M");
    stk_strv_push(&a, "q35,memory-backend=mem,sata=off,smbus=off,usb=off,vmport=off,i8042=off,"
                      "graphics=off");
    stk_strv_push(&a, "-accel");
    /*
     * TCG's translation cache defaults to 1 GiB and is touched as it fills. Measured with
     * bench/isolation.sh: 64 MiB boots to a port answering in 3.9 s with 198 MB PSS idle,
     * 16 MiB in 4.5 s with 159 MB (the cache is flushed during boot); the boot time wins.
     */
    stk_strv_push(&a, strcmp(cfg_str("accel"), "kvm") == 0 ? "kvm" : "tcg,tb-size=64");
    if (strcmp(cfg_str("accel"), "kvm") == 0) {
        stk_strv_push(&a, "-cpu");
        stk_strv_push(&a, "host");
    }
    stk_strv_push(&a, "-m");
    stk_strv_pushf(&a, "%lldM", (long long)mem);
    stk_strv_push(&a, "-object");
    stk_strv_pushf(&a, "memory-backend-memfd,id=mem,size=%lldM,share=on", (long long)mem);
    stk_strv_push(&a, "-smp");
    stk_strv_pushf(&a, "%lld", (long long)json_integer_value(json_object_get(M.cfg, "cpus")));
    stk_strv_push(&a, "-kernel");
    stk_strv_push(&a, cfg_str("kernel"));
    stk_strv_push(&a, "-initrd");
    stk_strv_push(&a, cfg_str("initrd"));
    stk_strv_push(&a, "-append");
    stk_strv_push(&a, "console=ttyS0 quiet loglevel=3 page_reporting.page_reporting_order=0 "
                      "panic=-1 reboot=t tsc=reliable "
                      "no_timer_check noreplace-smp rcupdate.rcu_expedited=1 i8042.noaux "
                      "i8042.nomux i8042.nopnp i8042.dumbkbd");
    stk_strv_push(&a, "-serial");
    stk_strv_pushf(&a, "file:%s/console.log", M.cdir);
    stk_strv_push(&a, "-chardev");
    stk_strv_pushf(&a, "socket,id=fs,path=%s", fs_sock);
    stk_strv_push(&a, "-device");
    stk_strv_push(&a, "vhost-user-fs-pci,chardev=fs,tag=share");
    /* Free page reporting: what the guest freed after boot (the decompressed kernel, the
     * unpacked initramfs) goes back to the host. */
    stk_strv_push(&a, "-device");
    stk_strv_push(&a, "virtio-balloon-pci,free-page-reporting=on");
    stk_strv_push(&a, "-device");
    stk_strv_push(&a, "virtio-serial-pci,id=vs");
    stk_strv_push(&a, "-chardev");
    stk_strv_pushf(&a, "socket,id=ctl,path=%s/ctl.sock,server=on,wait=off", M.run);
    stk_strv_push(&a, "-device");
    stk_strv_push(&a, "virtserialport,bus=vs.0,chardev=ctl,name=stack.ctl");
    if (net) {
        stk_strv_push(&a, "-netdev");
        stk_strv_push(&a, "tap,id=n0,fd=3");
        stk_strv_push(&a, "-device");
        stk_strv_pushf(&a, "virtio-net-pci,netdev=n0,romfile=,mac=%s",
                       json_string_value(json_object_get(net, "mac")));
    }
    if (spawn(&M.qemu, a.v, qemu_exit_cb, net ? M.tap_fd : -1, errfd) < 0) {
        snprintf(M.fail, sizeof(M.fail), "cannot run '%.300s'", cfg_str("qemu"));
        goto out;
    }
    M.qemu_alive = 1;
    M.qemu_pid = M.qemu.pid;
    if (M.tap_fd >= 0) {
        close(M.tap_fd);
        M.tap_fd = -1;
    }
    {
        char *p = cpath("qemu.pid");
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d\n", M.qemu_pid);
        stk_file_write_atomic(p, buf, (size_t)n, 0600, 0, NULL);
        free(p);
    }
    {
        char *p = stk_xasprintf("%s/ctl.sock", M.run);
        if (wait_for_path(p, 10000) < 0) {
            free(p);
            snprintf(M.fail, sizeof(M.fail), "QEMU did not create the agent port's socket");
            kill_vm(NULL);
            r = 0;
            goto out;
        }
        free(p);
    }
    connect_ctl();
    r = 0;
out:
    stk_strv_release(&a);
    json_decref(net);
    json_decref(agent);
    free(fs_sock);
    free(share);
    free(agent_src);
    free(agent_dst);
    if (r < 0 && M.fsd_alive)
        uv_process_kill(&M.fsd, SIGKILL);
    return r;
}

static int child_main(void)
{
    char *api = stk_xasprintf("%s/api.sock", M.run);
    char *logp = cpath("ctr.log"), *mlog = cpath("monitor.log"), *pidp = cpath("monitor.pid");
    char buf[32];
    int n, errfd;

    M.loop = uv_default_loop();
    M.tap_fd = -1;
    M.out.name = "stdout";
    M.err.name = "stderr";
    M.out.line = stk_xmalloc(MON_LINE_MAX);
    M.err.line = stk_xmalloc(MON_LINE_MAX);
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    stk_file_write_atomic(pidp, buf, (size_t)n, 0600, 0, NULL);
    M.log = fopen(logp, "ae");
    errfd = open(mlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    stk_rm_rf(M.run, NULL);
    stk_mkdir_p(M.run, 0700, NULL);
    uv_timer_init(M.loop, &M.timer);
    uv_timer_init(M.loop, &M.retry);
    uv_signal_init(M.loop, &M.sigterm);
    uv_signal_start(&M.sigterm, sigterm_cb, SIGTERM);
    uv_pipe_init(M.loop, &M.api, 0);
    M.ctl_closed = 1;
    if (uv_pipe_bind(&M.api, api) < 0 || uv_listen((uv_stream_t *)&M.api, 16, api_conn_cb) < 0) {
        snprintf(M.fail, sizeof(M.fail), "cannot listen on '%.300s'", api);
    } else if (start_vm(errfd) == 0) {
        uv_timer_start(&M.timer, boot_timeout_cb, MON_BOOT_TIMEOUT_MS, 0);
    }
    if (!M.qemu_alive)
        maybe_finish();
    uv_run(M.loop, UV_RUN_DEFAULT);
    if (M.log)
        fclose(M.log);
    if (errfd >= 0)
        close(errfd);
    unlink(pidp);
    /* A failed start is reported last: the caller then sees the container stopped. */
    if (M.ready_fd >= 0)
        ready("error: %s\n", M.fail[0] ? M.fail : "the VM stopped before the container started");
    free(api);
    free(logp);
    free(mlog);
    free(pidp);
    return 0;
}

int main(int argc, char **argv)
{
    char *cfgp;
    json_error_t jerr;
    int pfd[2];
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: stack-vm-monitor CONTAINER_DIR\n");
        return 2;
    }
    M.cdir = argv[1];
    cfgp = cpath("vm.json");
    M.cfg = json_load_file(cfgp, 0, &jerr);
    free(cfgp);
    if (!M.cfg || !cfg_str("id") || !cfg_str("run") || !cfg_str("qemu") || !cfg_str("kernel") ||
        !cfg_str("initrd") || !cfg_str("virtiofsd") || !cfg_str("accel")) {
        fprintf(stderr, "stack-vm-monitor: unreadable '%s/vm.json'\n", M.cdir);
        return 1;
    }
    M.run = stk_xstrdup(cfg_str("run"));
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return 1;
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid > 0) {
        char buf[600];
        ssize_t n, len = 0;
        close(pfd[1]);
        while ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
            len += n;
        buf[len] = '\0';
        if (strncmp(buf, "ok ", 3) == 0) {
            fputs(buf + 3, stdout);
            return 0;
        }
        buf[strcspn(buf, "\n")] = '\0';
        fprintf(stderr, "%s\n",
                strncmp(buf, "error: ", 7) == 0 ? buf + 7
                : len                           ? buf
                                                : "the monitor died");
        return 1;
    }
    close(pfd[0]);
    M.ready_fd = pfd[1];
    setsid();
    {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    return child_main();
}
