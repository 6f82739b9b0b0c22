/*
 * svc-server.c - the API listener over libuv pipes (svc.h): connection cap,
 * peer check, idle and request timeouts, one svc_session per connection.
 */
#include "orchestrator/serve/svc.h"

#include "orchestrator/serve/svc-internal.h"
#include "stk-alloc.h"

struct svc_conn;

struct svc_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    int listening;
    const struct svc_route *routes;
    void *userdata;
    struct svc_limits limits;
    int sock_gid;
    struct svc_server_stats stats;
    struct svc_conn *conns; /* open connections, a doubly linked list */
    int closing;
    unsigned pending_closes; /* handles whose close callback has not run */
    void (*done)(void *userdata);
    void *done_userdata;
};

struct svc_conn {
    struct svc_server *srv;
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct svc_session *session;
    struct svc_conn *prev, *next;
    unsigned writes; /* writes in flight */
    int closing;
    int close_after_write;
    int req_timer; /* the request timeout is running */
    char rbuf[4096];
};

struct svc_write {
    uv_write_t req;
    struct svc_conn *conn;
    char *data;
};

static void maybe_done(struct svc_server *srv)
{
    if (srv->closing && srv->pending_closes == 0 && !srv->conns) {
        void (*done)(void *) = srv->done;
        void *ud = srv->done_userdata;
        free(srv);
        if (done)
            done(ud);
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct svc_conn *c = h->data;
    struct svc_server *srv = c->srv;

    if (h == (uv_handle_t *)&c->pipe) {
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        return;
    }
    svc_session_free(c->session);
    free(c);
    srv->pending_closes--;
    maybe_done(srv);
}

static void conn_close(struct svc_conn *c)
{
    struct svc_server *srv = c->srv;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->stats.open--;
    srv->pending_closes++;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
}

static void on_written(uv_write_t *req, int status)
{
    struct svc_write *w = (struct svc_write *)req;
    struct svc_conn *c = w->conn;

    free(w->data);
    free(w);
    c->writes--;
    if (status < 0 || (c->close_after_write && c->writes == 0))
        conn_close(c);
}

static void conn_write(struct svc_conn *c, struct stk_buf *out)
{
    struct svc_write *w;
    uv_buf_t b;
    size_t len;

    if (out->len == 0)
        return;
    w = stk_new0(struct svc_write);
    w->conn = c;
    w->data = stk_buf_detach(out, &len);
    b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
        free(w->data);
        free(w);
        conn_close(c);
        return;
    }
    c->writes++;
}

static void on_timer(uv_timer_t *t)
{
    struct svc_conn *c = t->data;
    struct stk_buf out = STK_BUF_INIT;

    c->srv->stats.timeouts++;
    if (svc_session_in_request(c->session)) {
        svc_session_timeout(c->session, &out);
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->close_after_write = 1;
        conn_write(c, &out);
        stk_buf_release(&out);
        if (c->writes == 0)
            conn_close(c);
        return;
    }
    conn_close(c);
}

/*
 * The request timeout runs from the read that starts a request and is not
 * reset by further bytes (a client sending one byte a second is cut at the
 * deadline); between requests the idle timeout runs.
 */
static void arm_timer(struct svc_conn *c)
{
    if (svc_session_in_request(c->session)) {
        if (c->req_timer)
            return;
        c->req_timer = 1;
        uv_timer_start(&c->timer, on_timer, c->srv->limits.request_timeout_ms, 0);
        return;
    }
    c->req_timer = 0;
    uv_timer_start(&c->timer, on_timer, c->srv->limits.idle_timeout_ms, 0);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct svc_conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct svc_conn *c = s->data;
    struct stk_buf out = STK_BUF_INIT;
    unsigned before;
    int close;

    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    before = svc_session_count(c->session);
    close = svc_session_feed(c->session, buf->base, (size_t)n, &out);
    c->srv->stats.requests += svc_session_count(c->session) - before;
    if (close) {
        uv_read_stop(s);
        c->close_after_write = 1;
    }
    conn_write(c, &out);
    stk_buf_release(&out);
    if (close && c->writes == 0) {
        conn_close(c);
        return;
    }
    if (!close)
        arm_timer(c);
}

static void refuse(struct svc_conn *c, int status, const char *code, const char *msg)
{
    struct svc_response resp = {.status = status, .content_type = NULL, .body = STK_BUF_INIT};
    struct stk_buf out = STK_BUF_INIT;

    svc_response_errorf(&resp, status, code, "%s", msg);
    stk_buf_printf(&out,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, svc_status_text(status), resp.body.len);
    stk_buf_add(&out, resp.body.buf, resp.body.len);
    c->close_after_write = 1;
    conn_write(c, &out);
    stk_buf_release(&out);
    stk_buf_release(&resp.body);
    if (c->writes == 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct svc_server *srv = server->data;
    struct svc_conn *c;
    struct stk_err err = STK_ERR_INIT;
    uint32_t uid = 0, gid = 0;

    if (status < 0 || srv->closing)
        return;
    c = stk_new0(struct svc_conn);
    c->srv = srv;
    uv_pipe_init(srv->loop, &c->pipe, 0);
    uv_timer_init(srv->loop, &c->timer);
    c->pipe.data = c;
    c->timer.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.open++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        conn_close(c);
        return;
    }
    srv->stats.accepted++;
    if (srv->stats.open > srv->limits.max_conns) {
        srv->stats.refused_cap++;
        refuse(c, 503, "EBUSY", "too many connections");
        return;
    }
    if (svc__os_peer(&c->pipe, &uid, &gid, &err) < 0 ||
        !svc__os_peer_allowed(uid, gid, srv->sock_gid)) {
        srv->stats.refused_peer++;
        refuse(c, 403, "EPERM", "client not allowed");
        return;
    }
    c->session = svc_session_new(srv->routes, srv->userdata, &srv->limits, uid);
    uv_timer_start(&c->timer, on_timer, srv->limits.idle_timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, on_read) < 0)
        conn_close(c);
}

struct svc_server *svc_server_new(uv_loop_t *loop, const struct svc_route *routes, void *userdata,
                                  const struct svc_limits *limits)
{
    struct svc_server *srv = stk_new0(struct svc_server);

    srv->loop = loop;
    srv->routes = routes;
    srv->userdata = userdata;
    srv->sock_gid = -1;
    if (limits)
        srv->limits = *limits;
    else
        svc_limits_default(&srv->limits);
    return srv;
}

int svc_server_listen(struct svc_server *srv, const struct svc_listen_opts *opts,
                      struct stk_err *err)
{
    int r;

    uv_pipe_init(srv->loop, &srv->listener, 0);
    srv->listener.data = srv;
    srv->listening = 1;
    srv->sock_gid = opts->gid;
    r = svc__os_bind(&srv->listener, opts, err);
    if (r < 0)
        return r;
    r = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (r < 0)
        return stk_err_set(err, STK_EIO, -r, "listen on '%s'", opts->path);
    return 0;
}

void svc_server_get_stats(const struct svc_server *srv, struct svc_server_stats *ret)
{
    *ret = srv->stats;
}

static void listener_closed(uv_handle_t *h)
{
    struct svc_server *srv = h->data;
    srv->pending_closes--;
    maybe_done(srv);
}

void svc_server_close(struct svc_server *srv, void (*done)(void *userdata), void *userdata)
{
    if (!srv)
        return;
    srv->closing = 1;
    srv->done = done;
    srv->done_userdata = userdata;
    while (srv->conns)
        conn_close(srv->conns);
    if (srv->listening) {
        srv->pending_closes++;
        uv_close((uv_handle_t *)&srv->listener, listener_closed);
        return;
    }
    maybe_done(srv);
}
