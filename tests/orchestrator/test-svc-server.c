/*
 * test-svc-server.c - the API listener on a real Unix socket
 * (orchestrator/serve/svc.h): the socket's mode and owner, the peer check
 * (a client running as nobody is refused), the connection cap, the request
 * timeout against a client sending one byte at a time, malformed and
 * oversized requests. The server runs its loop in a thread; the test is the
 * client, with blocking sockets and deadlines.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "orchestrator/serve/svc.h"

static void h_ok(const struct svc_request *req, struct svc_response *resp, void *userdata)
{
    (void)req;
    (void)userdata;
    stk_buf_puts(&resp->body, "{\"ok\":true}\n");
}

static const struct svc_route routes[] = {
    {"GET", "/healthz", h_ok},
    {"POST", "/v1/echo", h_ok},
    {NULL, NULL, NULL},
};

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    struct svc_server *srv;
    pthread_t thread;
    char dir[64];
    char path[96];
    struct svc_server_stats stats;
};

static struct fixture fx;

static void on_stop(uv_async_t *a)
{
    svc_server_get_stats(fx.srv, &fx.stats);
    svc_server_close(fx.srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void start(const struct svc_limits *limits, int gid)
{
    struct stk_err err = STK_ERR_INIT;
    struct svc_listen_opts o = {.path = fx.path, .mode = 0660, .gid = gid};

    signal(SIGPIPE, SIG_IGN); /* a refused connection is closed under the writer */
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/stk-svc-XXXXXX");
    cr_assert(mkdtemp(fx.dir));
    chmod(fx.dir, 0755);
    snprintf(fx.path, sizeof(fx.path), "%s/stack.sock", fx.dir);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    fx.srv = svc_server_new(&fx.loop, routes, NULL, limits);
    cr_assert_eq(svc_server_listen(fx.srv, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(pthread_create(&fx.thread, NULL, server_main, NULL), 0);
}

static void stop(void)
{
    uv_async_send(&fx.stop);
    pthread_join(fx.thread, NULL);
    cr_assert_eq(uv_loop_close(&fx.loop), 0, "every handle closed");
    unlink(fx.path);
    rmdir(fx.dir);
}

static int client(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", fx.path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* a deadline, not a measure */
    return fd;
}

/* Reads until EOF or the 10 s deadline; returns the status or -1 when closed with nothing. */
static int read_status(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t r;
    int st = -1;

    while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0) {
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n") && strstr(buf, "Connection: keep-alive"))
            break;
    }
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &st) != 1)
        return -1;
    return st;
}

static int request(const char *req)
{
    char buf[4096];
    int fd = client(), st;

    cr_assert(fd >= 0, "connect: %s", strerror(errno));
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    st = read_status(fd, buf, sizeof(buf));
    close(fd);
    return st;
}

Test(svc_server, socket_mode_owner_and_health)
{
    struct stat st;
    start(NULL, 4242);
    cr_assert_eq(stat(fx.path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
    cr_assert_eq(st.st_uid, 0);
    cr_assert_eq(st.st_gid, 4242);
    cr_assert_eq(request("GET /healthz HTTP/1.1\r\n\r\n"), 200);
    cr_assert_eq(request("GET /nope HTTP/1.1\r\n\r\n"), 404);
    cr_assert_eq(request("\x16\x03\x01 garbage\r\n\r\n"), 400);
    stop();
    cr_assert_eq(fx.stats.requests, 2, "two requests routed, got %llu",
                 (unsigned long long)fx.stats.requests);
}

Test(svc_server, unprivileged_client_refused)
{
    pid_t pid;
    int status;
    start(NULL, 4242);
    /* The socket is 0660 root:4242: open the directory entry to nobody so the peer check
     * is what refuses, not the file mode. */
    chmod(fx.path, 0666);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char buf[4096];
        int fd, st;
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(10);
        fd = client();
        if (fd < 0)
            _exit(11);
        /* The server may answer and close before this write lands: its failure is fine,
         * the 403 is already in the receive buffer. */
        if (write(fd, "GET /healthz HTTP/1.1\r\n\r\n", 25) < 0 && errno != EPIPE)
            _exit(12);
        st = read_status(fd, buf, sizeof(buf));
        _exit(st == 403 && strstr(buf, "\"EPERM\"") ? 0 : 13);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    stop();
    cr_assert_eq(fx.stats.refused_peer, 1);
}

Test(svc_server, socket_group_member_allowed)
{
    pid_t pid;
    int status;
    start(NULL, 4242);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char buf[4096];
        int fd;
        if (setgroups(0, NULL) < 0 || setgid(4242) < 0 || setuid(65534) < 0)
            _exit(10);
        fd = client();
        if (fd < 0)
            _exit(11);
        if (write(fd, "GET /healthz HTTP/1.1\r\n\r\n", 25) != 25)
            _exit(12);
        _exit(read_status(fd, buf, sizeof(buf)) == 200 ? 0 : 13);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    stop();
}

Test(svc_server, connection_cap)
{
    struct svc_limits l;
    int fds[200], ok = 0, refused = 0;
    svc_limits_default(&l);
    l.max_conns = 8;
    start(&l, -1);
    for (int i = 0; i < 200; i++) {
        fds[i] = client();
        cr_assert(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
    }
    for (int i = 0; i < 200; i++) {
        char buf[4096];
        int st;
        if (write(fds[i], "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 45) < 0) {
            refused++;
            close(fds[i]);
            continue;
        }
        st = read_status(fds[i], buf, sizeof(buf));
        cr_assert(st == 200 || st == 503 || st == -1, "conn %d: status %d", i, st);
        if (st == 200)
            ok++;
        else
            refused++;
        close(fds[i]);
    }
    stop();
    cr_assert_eq(ok + refused, 200);
    cr_assert(ok >= 1 && ok <= 8, "at most the cap answered: %d", ok);
    cr_assert(fx.stats.refused_cap >= 192, "refused at the cap: %llu",
              (unsigned long long)fx.stats.refused_cap);
}

Test(svc_server, slow_client_cut_by_request_timeout)
{
    struct svc_limits l;
    const char *req = "GET /healthz HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    char buf[4096];
    int fd, st;
    struct timespec ts = {0, 100 * 1000 * 1000};
    svc_limits_default(&l);
    l.request_timeout_ms = 300;
    signal(SIGPIPE, SIG_IGN);
    start(&l, -1);
    fd = client();
    cr_assert(fd >= 0);
    /* One byte every 100 ms: the request would take 12 s; the 300 ms timeout must cut it. */
    for (size_t i = 0; i < strlen(req); i++) {
        if (write(fd, req + i, 1) != 1)
            break;
        nanosleep(&ts, NULL);
        struct timeval tv0 = {0, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv0, sizeof(tv0));
        char peek;
        if (recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            break;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    st = read_status(fd, buf, sizeof(buf));
    close(fd);
    stop();
    cr_assert_eq(st, 408, "a slow client gets 408: %s", buf);
    cr_assert_eq(fx.stats.timeouts, 1);
}

Test(svc_server, oversized_header_and_body)
{
    struct svc_limits l;
    struct stk_buf big = STK_BUF_INIT;
    svc_limits_default(&l);
    l.max_header_bytes = 1024;
    l.max_body_bytes = 1024;
    signal(SIGPIPE, SIG_IGN);
    start(&l, -1);
    stk_buf_puts(&big, "GET /healthz HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < 4000; i++)
        stk_buf_putc(&big, 'x');
    stk_buf_puts(&big, "\r\n\r\n");
    cr_assert_eq(request(big.buf), 431);
    cr_assert_eq(request("POST /v1/echo HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"), 413);
    stk_buf_release(&big);
    stop();
}
