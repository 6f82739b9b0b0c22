/*
 * oci-spawn.c - spawning helper processes (runc, crun, conmon) on the libuv
 * loop with captured output and an optional OCI sync pipe (conmon's
 * _OCI_SYNCPIPE protocol, as Podman uses it).
 */
#include "runtime/oci/oci-internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"

enum { PIPE_OUT, PIPE_ERR, PIPE_SYNC, N_PIPES };

struct rt__proc {
    uv_process_t proc;
    uv_pipe_t pipes[N_PIPES];
    int pipe_used[N_PIPES];
    struct stk_buf bufs[N_PIPES];
    uv_timer_t timer;
    int timer_used;
    int open_handles; /* handles not yet closed */
    int open_reads;   /* pipes not yet at EOF */
    int exited;
    int64_t exit_status;
    int term_signal;
    int timed_out;
    int canceled;
    int finishing;
    rt__proc_fn *cb;
    void *userdata;
};

static void proc_on_close(uv_handle_t *h)
{
    struct rt__proc *p = h->data;
    struct stk_err err = STK_ERR_INIT;

    if (--p->open_handles > 0)
        return;
    if (!p->cb)
        goto out;
    if (p->canceled)
        stk_err_set(&err, STK_ECANCELED, 0, "'%s' canceled", "process");
    else if (p->timed_out)
        stk_err_set(&err, STK_ETIMEDOUT, 0, "process timed out");
    p->cb(p->exit_status, p->term_signal, &p->bufs[PIPE_OUT], &p->bufs[PIPE_ERR],
          &p->bufs[PIPE_SYNC], err.code ? &err : NULL, p->userdata);
out:
    for (int i = 0; i < N_PIPES; i++)
        stk_buf_release(&p->bufs[i]);
    free(p);
}

static void proc_maybe_finish(struct rt__proc *p)
{
    if (!p->exited || p->open_reads > 0 || p->finishing)
        return;
    p->finishing = 1;
    for (int i = 0; i < N_PIPES; i++)
        if (p->pipe_used[i])
            uv_close((uv_handle_t *)&p->pipes[i], proc_on_close);
    if (p->timer_used)
        uv_close((uv_handle_t *)&p->timer, proc_on_close);
    uv_close((uv_handle_t *)&p->proc, proc_on_close);
}

static void proc_on_exit(uv_process_t *h, int64_t status, int sig)
{
    struct rt__proc *p = h->data;

    p->exited = 1;
    p->exit_status = status;
    p->term_signal = sig;
    if (p->timer_used)
        uv_timer_stop(&p->timer);
    proc_maybe_finish(p);
}

static void proc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = stk_xmalloc(65536);
    buf->len = 65536;
}

static void proc_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct rt__proc *p = s->data;
    int idx = (int)((uv_pipe_t *)s - p->pipes);

    if (n > 0)
        stk_buf_add(&p->bufs[idx], buf->base, (size_t)n);
    free(buf->base);
    if (n < 0) {
        uv_read_stop(s);
        p->open_reads--;
        proc_maybe_finish(p);
        return;
    }
    /*
     * conmon's daemonised child keeps the sync pipe open after it has reported
     * the container PID: treat one complete JSON line as the end.
     */
    if (idx == PIPE_SYNC && p->bufs[idx].len && strchr(p->bufs[idx].buf, '}')) {
        uv_read_stop(s);
        p->open_reads--;
        proc_maybe_finish(p);
    }
}

static void proc_on_timeout(uv_timer_t *t)
{
    struct rt__proc *p = t->data;

    p->timed_out = 1;
    if (!p->exited)
        uv_process_kill(&p->proc, SIGKILL);
}

void rt__proc_cancel(struct rt__proc *p)
{
    if (!p || p->exited)
        return;
    p->canceled = 1;
    uv_process_kill(&p->proc, SIGKILL);
}

int rt__oci_spawn(uv_loop_t *loop, const struct rt__spawn_opts *opts, rt__proc_fn *cb,
                  void *userdata, struct rt__proc **ret_proc, struct stk_err *err)
{
    static char *const default_env[] = {
        (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                "/sbin:/bin",
        NULL};
    uv_process_options_t po;
    uv_stdio_container_t stdio[4];
    struct rt__proc *p = stk_new0(struct rt__proc);
    int r;

    memset(&po, 0, sizeof(po));
    memset(stdio, 0, sizeof(stdio));
    p->cb = cb;
    p->userdata = userdata;
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < N_PIPES; i++)
        stk_buf_init(&p->bufs[i], 0);
    for (int i = 0; i < N_PIPES; i++) {
        int want = i == PIPE_SYNC ? opts->sync_pipe : opts->capture;
        if (!want) {
            stdio[i + 1].flags = UV_IGNORE;
            continue;
        }
        uv_pipe_init(loop, &p->pipes[i], 0);
        p->pipes[i].data = p;
        p->pipe_used[i] = 1;
        p->open_handles++;
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&p->pipes[i];
    }
    po.file = opts->argv[0];
    po.args = (char **)opts->argv;
    po.env = (char **)(opts->env ? opts->env : default_env);
    po.stdio = stdio;
    po.stdio_count = opts->sync_pipe ? 4 : 3;
    po.exit_cb = proc_on_exit;
    p->proc.data = p;
    r = uv_spawn(loop, &p->proc, &po);
    if (r < 0) {
        /* The process handle must still be closed; pipes too. Report synchronously. */
        stk_err_set(err, r == UV_ENOENT ? STK_ENOENT : STK_ERUNTIME, -r, "spawn '%s': %s",
                    opts->argv[0], uv_strerror(r));
        /* Close what was initialised; the close callbacks free P without calling CB. */
        p->cb = NULL;
        p->open_handles++;
        for (int i = 0; i < N_PIPES; i++)
            if (p->pipe_used[i])
                uv_close((uv_handle_t *)&p->pipes[i], proc_on_close);
        uv_close((uv_handle_t *)&p->proc, proc_on_close);
        return err->code;
    }
    p->open_handles++; /* the process handle */
    for (int i = 0; i < N_PIPES; i++) {
        if (!p->pipe_used[i])
            continue;
        p->open_reads++;
        uv_read_start((uv_stream_t *)&p->pipes[i], proc_alloc, proc_on_read);
    }
    if (opts->timeout_ms) {
        uv_timer_init(loop, &p->timer);
        p->timer.data = p;
        p->timer_used = 1;
        p->open_handles++;
        uv_timer_start(&p->timer, proc_on_timeout, opts->timeout_ms, 0);
    }
    if (ret_proc)
        *ret_proc = p;
    return 0;
}
