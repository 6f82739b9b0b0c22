/*
 * cni-proc.c - one child process (a CNI plugin or iproute2) run with uv_spawn on
 * the loop thread: stdin is a pipe that carries the configuration, stdout and
 * stderr are pipes read to the end (STYLE.md rule 23). The completion callback
 * runs after the child has exited, both pipes have reached EOF, the input has
 * been written, and every handle is closed.
 */
#include "netplugins/cni/net-cni.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"

struct net__cni_proc {
    uv_process_t proc;
    uv_pipe_t in;
    uv_pipe_t out;
    uv_pipe_t errp;
    uv_timer_t timer;
    uv_write_t wreq;
    char *input;
    struct stk_buf out_buf;
    struct stk_buf err_buf;
    int events;  /* exit + EOFs + write still awaited */
    int handles; /* handles whose close callback has not run yet */
    int exited;
    int closing;
    struct net__cni_proc_status st;
    net__cni_proc_fn *cb;
    void *data;
};

static void proc_on_close(uv_handle_t *h)
{
    struct net__cni_proc *p = h->data;

    if (--p->handles > 0)
        return;
    p->st.out_len = p->out_buf.len;
    p->st.out = stk_buf_detach(&p->out_buf, NULL);
    p->st.errout = stk_buf_detach(&p->err_buf, NULL);
    p->cb(p, p->data);
    free(p->st.out);
    free(p->st.errout);
    free(p->input);
    free(p);
}

static void proc_close_all(struct net__cni_proc *p)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&p->proc, (uv_handle_t *)&p->in, (uv_handle_t *)&p->out,
                         (uv_handle_t *)&p->errp, (uv_handle_t *)&p->timer};

    if (p->closing)
        return;
    p->closing = 1;
    for (size_t i = 0; i < STK_ARRAY_SIZE(hs); i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], proc_on_close);
}

static void proc_event_done(struct net__cni_proc *p)
{
    if (--p->events == 0)
        proc_close_all(p);
}

static void proc_on_exit(uv_process_t *h, int64_t exit_status, int term_signal)
{
    struct net__cni_proc *p = h->data;

    p->exited = 1;
    p->st.exit_status = exit_status;
    p->st.term_signal = term_signal;
    uv_timer_stop(&p->timer);
    proc_event_done(p);
}

static void proc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct net__cni_proc *p = h->data;
    struct stk_buf *b = (uv_pipe_t *)h == &p->out ? &p->out_buf : &p->err_buf;

    (void)suggested;
    stk_buf_grow(b, 16384);
    buf->base = b->buf + b->len;
    buf->len = b->alloc - b->len - 1;
}

static void proc_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct net__cni_proc *p = s->data;
    struct stk_buf *b = (uv_pipe_t *)s == &p->out ? &p->out_buf : &p->err_buf;

    (void)buf;
    if (nread > 0) {
        b->len += (size_t)nread;
        b->buf[b->len] = '\0';
        return;
    }
    if (nread == 0)
        return;
    /* EOF or a read error: this stream is finished either way. */
    uv_read_stop(s);
    proc_event_done(p);
}

static void proc_on_write(uv_write_t *w, int status)
{
    struct net__cni_proc *p = w->data;

    (void)status;
    /* Closing stdin signals EOF to the plugin, which then parses its configuration. */
    uv_close((uv_handle_t *)&p->in, proc_on_close);
    proc_event_done(p);
}

static void proc_on_timeout(uv_timer_t *t)
{
    struct net__cni_proc *p = t->data;

    if (p->exited)
        return;
    p->st.timed_out = 1;
    uv_process_kill(&p->proc, SIGKILL);
}

void net__cni_proc_start(uv_loop_t *loop, const char *file, char *const *argv, char *const *env,
                         const char *input, net__cni_proc_fn *cb, void *data,
                         struct net__cni_proc **ret_proc)
{
    struct net__cni_proc *p = stk_new0(struct net__cni_proc);
    uv_process_options_t opts;
    uv_stdio_container_t stdio[3];
    int r;

    p->cb = cb;
    p->data = data;
    stk_buf_init(&p->out_buf, 0);
    stk_buf_init(&p->err_buf, 0);
    p->proc.data = p;
    p->in.data = p;
    p->out.data = p;
    p->errp.data = p;
    p->timer.data = p;
    p->wreq.data = p;
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->errp, 0);
    uv_timer_init(loop, &p->timer);
    p->handles = 5;

    memset(&opts, 0, sizeof(opts));
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->errp;
    opts.file = file;
    opts.args = (char **)argv;
    opts.env = (char **)env;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = proc_on_exit;

    if (ret_proc)
        *ret_proc = p;
    r = uv_spawn(loop, &p->proc, &opts);
    if (r < 0) {
        /* libuv requires closing the process handle even when uv_spawn fails. */
        p->st.spawn_error = r;
        p->exited = 1;
        proc_close_all(p);
        return;
    }
    p->events = 3; /* exit, stdout EOF, stderr EOF */
    uv_read_start((uv_stream_t *)&p->out, proc_alloc, proc_on_read);
    uv_read_start((uv_stream_t *)&p->errp, proc_alloc, proc_on_read);
    uv_timer_start(&p->timer, proc_on_timeout, NET_CNI_PROC_TIMEOUT_MS, 0);
    if (input && *input) {
        uv_buf_t b;

        p->input = stk_xstrdup(input);
        b = uv_buf_init(p->input, (unsigned)strlen(p->input));
        p->events++;
        if (uv_write(&p->wreq, (uv_stream_t *)&p->in, &b, 1, proc_on_write) < 0) {
            p->events--;
            uv_close((uv_handle_t *)&p->in, proc_on_close);
        }
    } else {
        uv_close((uv_handle_t *)&p->in, proc_on_close);
    }
}

const struct net__cni_proc_status *net__cni_proc_status(const struct net__cni_proc *p)
{
    return &p->st;
}

void net__cni_proc_kill(struct net__cni_proc *p)
{
    if (p && !p->exited && !p->closing)
        uv_process_kill(&p->proc, SIGTERM);
}
