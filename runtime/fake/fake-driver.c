/*
 * fake-driver.c - the scriptable in-memory runtime driver; see rt-fake.h for
 * its model, its scripting API and its state file.
 *
 * Every started op is a struct fake_req holding a uv_timer. The op's effect
 * is applied in the timer callback (fake_req_fire), so an op that is canceled
 * or fails by script changes nothing, and DONE always runs after the op has
 * returned. Containers are heap objects with their own exit timer; both kinds
 * of handle are freed in their close callback (STYLE.md rule 22), which never
 * touches the context, so rt_ctx_free() may free the driver state at once.
 */
#include "runtime/fake/rt-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-strv.h"

#define FAKE_FIRST_PID 40000
#define FAKE_STATE_VERSION 1

struct fake;

/* One container. */
struct fake_ctr {
    uv_timer_t exit_timer; /* the scripted exit; initialised once linked */
    int timer_live;        /* exit_timer was initialised and must be closed */
    struct fake *f;        /* owning driver state */
    struct fake_ctr *next; /* creation order */
    char *id;              /* owned */
    char *name;            /* owned, may be NULL */
    char *command;         /* owned: process args joined by spaces, may be NULL */
    enum rt_state state;
    enum rt_isolation isolation;
    int pid; /* 0 when not running */
    int exit_code;
    int has_exit_code;
    int last_signal; /* last signal of kill/stop, 0 if none */
    int64_t created_ns, started_ns, finished_ns;
    struct rt_kv *labels; /* owned array of n_labels */
    size_t n_labels;
    int64_t exit_at_ns; /* deadline of a scripted exit (CLOCK_REALTIME), 0 if none */
    int exit_at_code;   /* its exit code */
};

struct fake_fail_rule {
    struct fake_fail_rule *next;
    enum rt_fake_op op;
    char *match; /* owned, NULL for all */
    unsigned nth, count, seen;
    int code;
    char *message; /* owned */
    int immediate;
};

struct fake_exit_rule {
    struct fake_exit_rule *next;
    char *match; /* owned, NULL for all */
    int code;
    uint64_t after_ms;
    unsigned left; /* uses left when !forever */
    int forever;
};

struct fake_exec_rule {
    struct fake_exec_rule *next;
    char *match;   /* owned, NULL for all */
    char *command; /* owned, NULL for all */
    char *output;  /* owned, never NULL */
    int code;
    uint64_t duration_ms;
    unsigned left;
    int forever;
};

/* A started operation. */
struct fake_req {
    struct rt_req base; /* first: rt_req_cancel() gets this pointer */
    uv_timer_t timer;   /* fires the completion; freed in its close callback */
    struct fake *f;
    struct fake_req *prev, *next; /* the pending list */
    enum rt_fake_op op;
    rt_done_fn *done;
    void *userdata;
    int completed;           /* DONE was called (or is being called) */
    char *id;                /* owned: container id or volume name */
    struct fake_ctr *create; /* owned until linked: the container create adds */
    int signal;
    int fail_code;  /* scripted failure, 0 for none */
    char *fail_msg; /* owned */
    int exec_code;
    char *exec_output; /* owned */
    int exec_timed_out;
};

/* The driver state, ctx->priv. */
struct fake {
    struct rt_ctx *ctx;
    struct fake_ctr *ctrs;
    struct stk_strv volumes;
    struct fake_fail_rule *fails;
    struct fake_exit_rule *exits;
    struct fake_exec_rule *execs;
    uint64_t delay_ms[_RT_FAKE_OP_MAX];
    int has_delay[_RT_FAKE_OP_MAX];
    uint64_t delay_any_ms;
    unsigned calls[_RT_FAKE_OP_MAX];
    struct fake_req *pending;
    unsigned n_pending;
    int next_pid;
    char *state_file; /* owned, NULL: memory only */
    int hyperv;
    enum rt_isolation default_isolation;
    int unavailable;
    char *reason; /* owned */
    rt_fake_exit_fn *exit_hook;
    void *exit_hook_data;
    int closing; /* fini is running */
};

static const char *const op_names[] = {
#define RT__FAKE_OP_NAME(n, s, m) s,
    RT_FAKE_OP_MAP(RT__FAKE_OP_NAME)
#undef RT__FAKE_OP_NAME
};

static const int op_mutating[] = {
#define RT__FAKE_OP_MUT(n, s, m) m,
    RT_FAKE_OP_MAP(RT__FAKE_OP_MUT)
#undef RT__FAKE_OP_MUT
};

const char *rt_fake_op_to_string(enum rt_fake_op op)
{
    if (op == RT_FAKE_OP_ANY)
        return "any";
    if (op == RT_FAKE_OP_MUTATING)
        return "mutating";
    if ((int)op < 0 || op >= _RT_FAKE_OP_MAX)
        return NULL;
    return op_names[op];
}

enum rt_fake_op rt_fake_op_from_string(const char *s)
{
    if (!s)
        return _RT_FAKE_OP_INVALID;
    if (strcmp(s, "any") == 0)
        return RT_FAKE_OP_ANY;
    if (strcmp(s, "mutating") == 0)
        return RT_FAKE_OP_MUTATING;
    for (int i = 0; i < _RT_FAKE_OP_MAX; i++)
        if (strcmp(s, op_names[i]) == 0)
            return (enum rt_fake_op)i;
    return _RT_FAKE_OP_INVALID;
}

static int op_valid(enum rt_fake_op op)
{
    return op == RT_FAKE_OP_ANY || op == RT_FAKE_OP_MUTATING ||
           ((int)op >= 0 && op < _RT_FAKE_OP_MAX);
}

/* Does selector SEL (an op, ANY or MUTATING) select the concrete op OP? */
static int op_selects(enum rt_fake_op sel, enum rt_fake_op op)
{
    if (sel == RT_FAKE_OP_ANY)
        return 1;
    if (sel == RT_FAKE_OP_MUTATING)
        return op_mutating[op];
    return sel == op;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *match_dup(const char *match)
{
    return (match && strcmp(match, "*") != 0) ? stk_xstrdup(match) : NULL;
}

/* The driver state of CTX, or NULL with STK_EINVAL when CTX is not a fake context. */
static struct fake *fake_get(struct rt_ctx *ctx, struct stk_err *err)
{
    if (!ctx || ctx->driver != &rt_driver_fake || !ctx->priv) {
        stk_err_set(err, STK_EINVAL, 0, "fake: not a context of the fake runtime driver");
        return NULL;
    }
    return ctx->priv;
}

/* ---- containers ---- */

static const char *kv_get(const struct rt_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kv[i].key && strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static struct fake_ctr *ctr_find(struct fake *f, const char *id)
{
    for (struct fake_ctr *c = f->ctrs; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

static void ctr_free_mem(struct fake_ctr *c)
{
    free(c->id);
    free(c->name);
    free(c->command);
    for (size_t i = 0; i < c->n_labels; i++) {
        free(c->labels[i].key);
        free(c->labels[i].value);
    }
    free(c->labels);
    free(c);
}

static void ctr_close_cb(uv_handle_t *h)
{
    ctr_free_mem(h->data);
}

/* Frees C, through its timer's close callback when the timer is live. NULL-safe. */
static void ctr_destroy(struct fake_ctr *c)
{
    if (!c)
        return;
    if (!c->timer_live) {
        ctr_free_mem(c);
        return;
    }
    uv_timer_stop(&c->exit_timer);
    c->exit_timer.data = c;
    uv_close((uv_handle_t *)&c->exit_timer, ctr_close_cb);
}

/* Appends C (not yet linked) to F's containers and initialises its exit timer. */
static void ctr_link(struct fake *f, struct fake_ctr *c)
{
    struct fake_ctr **pp = &f->ctrs;

    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    c->next = NULL;
    c->f = f;
    uv_timer_init(f->ctx->loop, &c->exit_timer);
    c->exit_timer.data = c;
    c->timer_live = 1;
}

static void ctr_unlink(struct fake *f, struct fake_ctr *c)
{
    for (struct fake_ctr **pp = &f->ctrs; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

/* Records that running C stopped with CODE at FINISHED_NS (no save, no hook). */
static void ctr_set_stopped(struct fake_ctr *c, int code, int64_t finished_ns)
{
    c->state = RT_STATE_STOPPED;
    c->exit_code = code;
    c->has_exit_code = 1;
    c->pid = 0;
    c->finished_ns = finished_ns;
    c->exit_at_ns = 0;
    c->exit_at_code = 0;
    if (c->timer_live)
        uv_timer_stop(&c->exit_timer);
}

static void ctr_info(const struct fake_ctr *c, struct rt_container_info *i)
{
    memset(i, 0, sizeof(*i));
    i->id = c->id;
    i->name = c->name;
    i->state = c->state;
    i->isolation = c->isolation;
    i->pid = c->pid;
    i->exit_code = c->exit_code;
    i->has_exit_code = c->has_exit_code;
    i->created_ns = c->created_ns;
    i->started_ns = c->started_ns;
    i->finished_ns = c->finished_ns;
    i->labels = c->labels;
    i->n_labels = c->n_labels;
}

/* Does MATCH (NULL: all) select the object with ID, NAME and SERVICE (each may be NULL)? */
static int match_obj(const char *match, const char *id, const char *name, const char *service)
{
    if (!match)
        return 1;
    return (id && strcmp(match, id) == 0) || (name && strcmp(match, name) == 0) ||
           (service && strcmp(match, service) == 0);
}

static int match_ctr(const char *match, const struct fake_ctr *c)
{
    return match_obj(match, c->id, c->name, kv_get(c->labels, c->n_labels, RT_LABEL_SERVICE));
}

/* ---- state file ---- */

static int fake_save(struct fake *f, struct stk_err *err)
{
    json_t *root, *arr, *vols;
    char *text = NULL;
    int ret;

    if (!f->state_file)
        return 0;
    root = json_object();
    arr = json_array();
    vols = json_array();
    json_object_set_new(root, "version", json_integer(FAKE_STATE_VERSION));
    json_object_set_new(root, "next_pid", json_integer(f->next_pid));
    for (struct fake_ctr *c = f->ctrs; c; c = c->next) {
        json_t *o = json_object(), *labels = json_object();

        for (size_t i = 0; i < c->n_labels; i++)
            json_object_set_new(labels, c->labels[i].key, json_string(c->labels[i].value));
        json_object_set_new(o, "id", json_string(c->id));
        if (c->name)
            json_object_set_new(o, "name", json_string(c->name));
        if (c->command)
            json_object_set_new(o, "command", json_string(c->command));
        json_object_set_new(o, "state", json_string(rt_state_to_string(c->state)));
        json_object_set_new(o, "isolation", json_string(rt_isolation_to_string(c->isolation)));
        json_object_set_new(o, "pid", json_integer(c->pid));
        json_object_set_new(o, "exit_code", json_integer(c->exit_code));
        json_object_set_new(o, "has_exit_code", json_boolean(c->has_exit_code));
        json_object_set_new(o, "last_signal", json_integer(c->last_signal));
        json_object_set_new(o, "created_ns", json_integer(c->created_ns));
        json_object_set_new(o, "started_ns", json_integer(c->started_ns));
        json_object_set_new(o, "finished_ns", json_integer(c->finished_ns));
        json_object_set_new(o, "exit_at_ns", json_integer(c->exit_at_ns));
        json_object_set_new(o, "exit_at_code", json_integer(c->exit_at_code));
        json_object_set_new(o, "labels", labels);
        json_array_append_new(arr, o);
    }
    for (size_t i = 0; i < f->volumes.n; i++)
        json_array_append_new(vols, json_string(f->volumes.v[i]));
    json_object_set_new(root, "containers", arr);
    json_object_set_new(root, "volumes", vols);
    text = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text)
        return stk_err_set(err, STK_ENOMEM, 0, "fake: encode state '%s'", f->state_file);
    ret = stk_file_write_atomic(f->state_file, text, strlen(text), 0644, 0, err);
    free(text);
    if (ret < 0)
        return stk_err_wrap(err, "fake: save state");
    return 0;
}

static void ctr_exit_fire(uv_timer_t *t);

/* Arms C's exit timer for its exit_at_ns deadline. */
static void ctr_schedule(struct fake_ctr *c, int64_t now)
{
    int64_t left_ns = c->exit_at_ns - now;
    uint64_t ms = left_ns > 0 ? (uint64_t)((left_ns + 999999) / 1000000) : 0;

    uv_timer_start(&c->exit_timer, ctr_exit_fire, ms, 0);
}

static void fake_exit_notify(struct fake *f, struct fake_ctr *c)
{
    if (f->exit_hook)
        f->exit_hook(f->ctx, c->id, c->exit_code, f->exit_hook_data);
}

static void ctr_exit_fire(uv_timer_t *t)
{
    struct fake_ctr *c = t->data;
    struct fake *f = c->f;
    struct stk_err err = STK_ERR_INIT;

    if (c->state != RT_STATE_RUNNING || !c->exit_at_ns)
        return;
    ctr_set_stopped(c, c->exit_at_code, now_ns());
    if (fake_save(f, &err) < 0) {
        stk_log_debug("fake: scripted exit of '%s': %s, ignoring", c->id, err.msg);
        stk_err_clear(&err);
    }
    fake_exit_notify(f, c);
}

static char *json_strdup(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? stk_xstrdup(json_string_value(v)) : NULL;
}

static int64_t json_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Parses the state file text into a container list and volumes; nothing is linked. */
static int fake_parse_state(const char *path, const char *text, struct fake_ctr **ret_ctrs,
                            struct stk_strv *ret_vols, int *ret_next_pid, struct stk_err *err)
{
    json_error_t jerr;
    json_t *root = NULL, *arr, *vols, *o;
    struct fake_ctr *head = NULL, **tail = &head;
    size_t idx;
    int ret = 0;

    root = json_loads(text, 0, &jerr);
    if (!root) {
        ret = stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': %d:%d: %s", path, jerr.line,
                          jerr.column, jerr.text);
        goto out;
    }
    arr = json_object_get(root, "containers");
    vols = json_object_get(root, "volumes");
    if (!json_is_object(root) || json_int(root, "version") != FAKE_STATE_VERSION ||
        !json_is_array(arr) || !json_is_array(vols)) {
        ret = stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': not a version %d state file",
                          path, FAKE_STATE_VERSION);
        goto out;
    }
    json_array_foreach(arr, idx, o)
    {
        struct fake_ctr *c = stk_new0(struct fake_ctr);
        json_t *labels = json_object_get(o, "labels"), *v;
        const char *key;
        char *st = json_strdup(o, "state"), *iso = json_strdup(o, "isolation");

        *tail = c;
        tail = &c->next;
        c->id = json_strdup(o, "id");
        c->name = json_strdup(o, "name");
        c->command = json_strdup(o, "command");
        c->state = rt_state_from_string(st);
        c->isolation = rt_isolation_from_string(iso);
        free(st);
        free(iso);
        if (!c->id || (int)c->state < 0 || (int)c->isolation < 0 || !json_is_object(labels)) {
            ret = stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': bad container %zu", path,
                              idx);
            goto out;
        }
        c->pid = (int)json_int(o, "pid");
        c->exit_code = (int)json_int(o, "exit_code");
        c->has_exit_code = json_is_true(json_object_get(o, "has_exit_code"));
        c->last_signal = (int)json_int(o, "last_signal");
        c->created_ns = json_int(o, "created_ns");
        c->started_ns = json_int(o, "started_ns");
        c->finished_ns = json_int(o, "finished_ns");
        c->exit_at_ns = json_int(o, "exit_at_ns");
        c->exit_at_code = (int)json_int(o, "exit_at_code");
        c->labels = stk_xcalloc(json_object_size(labels) + 1, sizeof(struct rt_kv));
        json_object_foreach(labels, key, v)
        {
            c->labels[c->n_labels].key = stk_xstrdup(key);
            c->labels[c->n_labels].value =
                stk_xstrdup(json_is_string(v) ? json_string_value(v) : "");
            c->n_labels++;
        }
    }
    json_array_foreach(vols, idx, o) if (json_is_string(o))
        stk_strv_push(ret_vols, json_string_value(o));
    *ret_next_pid = (int)json_int(root, "next_pid");
    if (*ret_next_pid < FAKE_FIRST_PID)
        *ret_next_pid = FAKE_FIRST_PID;
    *ret_ctrs = head;
    head = NULL;
out:
    while (head) {
        struct fake_ctr *n = head->next;

        ctr_free_mem(head);
        head = n;
    }
    json_decref(root);
    return ret;
}

/* Loads F's state file when it exists (replacing the in-memory state), then saves. */
static int fake_load(struct fake *f, struct stk_err *err)
{
    struct fake_ctr *ctrs = NULL;
    struct stk_strv vols = STK_STRV_INIT;
    char *text = NULL;
    int next_pid = FAKE_FIRST_PID, ret;
    int64_t now = now_ns();

    ret = stk_file_read(f->state_file, &text, NULL, err);
    if (ret == STK_ENOENT) {
        stk_err_clear(err);
        return fake_save(f, err);
    }
    if (ret < 0)
        return stk_err_wrap(err, "fake: load state");
    stk_strv_init(&vols);
    ret = fake_parse_state(f->state_file, text, &ctrs, &vols, &next_pid, err);
    free(text);
    if (ret < 0) {
        stk_strv_release(&vols);
        return ret;
    }
    while (f->ctrs) {
        struct fake_ctr *c = f->ctrs;

        f->ctrs = c->next;
        ctr_destroy(c);
    }
    stk_strv_release(&f->volumes);
    f->volumes = vols;
    f->next_pid = next_pid;
    while (ctrs) {
        struct fake_ctr *c = ctrs;

        ctrs = c->next;
        ctr_link(f, c);
        if (c->state == RT_STATE_RUNNING && c->exit_at_ns) {
            if (c->exit_at_ns <= now)
                ctr_set_stopped(c, c->exit_at_code, c->exit_at_ns);
            else
                ctr_schedule(c, now);
        }
    }
    return fake_save(f, err);
}

/* ---- requests ---- */

static void req_close_cb(uv_handle_t *h)
{
    struct fake_req *r = h->data;

    free(r->id);
    ctr_destroy(r->create);
    free(r->fail_msg);
    free(r->exec_output);
    free(r);
}

/* Frees a request that was never launched. */
static void req_discard(struct fake_req *r)
{
    free(r->id);
    ctr_destroy(r->create);
    free(r->fail_msg);
    free(r);
}

/* Calls R's DONE once and frees R afterwards. RES and ERR are borrowed. */
static void req_finish(struct fake_req *r, const struct rt_result *res, const struct stk_err *err)
{
    struct fake *f = r->f;

    r->completed = 1;
    if (r->prev)
        r->prev->next = r->next;
    else
        f->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    f->n_pending--;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, req_close_cb);
    r->done(&r->base, res, err, r->userdata);
}

static void req_fire(uv_timer_t *t);

static void req_cancel_hook(struct rt_req *base)
{
    struct fake_req *r = (struct fake_req *)base;

    /* Complete on the next loop iteration, never inside rt_req_cancel(). */
    if (!r->completed)
        uv_timer_start(&r->timer, req_fire, 0, 0);
}

/* Applies the op of R to the fake's state; fills RES (whose pointers borrow the out args). */
static int req_run(struct fake_req *r, struct rt_result *res, struct rt_container_info *info,
                   struct rt_container_list *list, struct rt_host_info *host, char **out,
                   struct stk_err *err)
{
    struct fake *f = r->f;
    struct fake_ctr *c = r->id ? ctr_find(f, r->id) : NULL;
    int64_t now = now_ns();
    int ret;

    res->kind = RT_RESULT_NONE;
    if (!c && r->id && r->op != RT_FAKE_OP_DELETE && r->op != RT_FAKE_OP_CREATE &&
        r->op != RT_FAKE_OP_VOLUME_CREATE && r->op != RT_FAKE_OP_VOLUME_REMOVE)
        return stk_err_set(err, STK_ENOENT, 0, "fake: %s: no such container '%s'", op_names[r->op],
                           r->id);
    switch (r->op) {
    case RT_FAKE_OP_HOST_INFO:
        memset(host, 0, sizeof(*host));
        host->available = !f->unavailable;
        snprintf(host->reason, sizeof(host->reason), "%s",
                 f->unavailable && f->reason ? f->reason : "");
        host->isolations = 1u << RT_ISOLATION_PROCESS;
        if (f->hyperv)
            host->isolations |= 1u << RT_ISOLATION_HYPERV;
        host->default_isolation = f->default_isolation;
        snprintf(host->os, sizeof(host->os), "linux");
        snprintf(host->os_build, sizeof(host->os_build), "fake");
        snprintf(host->runtime, sizeof(host->runtime), "fake");
        snprintf(host->runtime_version, sizeof(host->runtime_version), "1");
        res->kind = RT_RESULT_HOST_INFO;
        res->host = host;
        return 0;
    case RT_FAKE_OP_CREATE:
        if (c)
            return stk_err_set(err, STK_EEXIST, 0, "fake: create: container '%s' exists", r->id);
        if (r->create->isolation == RT_ISOLATION_HYPERV && !f->hyperv)
            return stk_err_set(err, STK_EUNAVAIL, 0,
                               "fake: create '%s': isolation 'hyperv' is not available", r->id);
        c = r->create;
        r->create = NULL;
        c->created_ns = now;
        ctr_link(f, c);
        return fake_save(f, err);
    case RT_FAKE_OP_START:
        /* created -> running; stopped -> running again from its bundle (rt-driver.h). */
        if (c->state != RT_STATE_CREATED && c->state != RT_STATE_STOPPED)
            return stk_err_set(err, STK_EINVAL, 0, "fake: start '%s': container is %s", c->id,
                               rt_state_to_string(c->state));
        c->state = RT_STATE_RUNNING;
        c->has_exit_code = 0;
        c->exit_code = 0;
        c->finished_ns = 0;
        c->pid = f->next_pid++;
        c->started_ns = now;
        for (struct fake_exit_rule *e = f->exits; e; e = e->next) {
            if ((!e->forever && !e->left) || !match_ctr(e->match, c))
                continue;
            if (!e->forever)
                e->left--;
            c->exit_at_ns = now + (int64_t)e->after_ms * 1000000;
            c->exit_at_code = e->code;
            ctr_schedule(c, now);
            break;
        }
        return fake_save(f, err);
    case RT_FAKE_OP_KILL:
        if (c->state != RT_STATE_RUNNING)
            return stk_err_set(err, STK_EINVAL, 0, "fake: kill '%s': container is not running",
                               c->id);
        if (r->signal == 0)
            return 0;
        c->last_signal = r->signal;
        ctr_set_stopped(c, 128 + r->signal, now);
        ret = fake_save(f, err);
        fake_exit_notify(f, c);
        return ret;
    case RT_FAKE_OP_STOP:
        c->last_signal = r->signal;
        if (c->state == RT_STATE_RUNNING) {
            ctr_set_stopped(c, 128 + r->signal, now);
            ret = fake_save(f, err);
            fake_exit_notify(f, c);
            return ret;
        }
        if (c->state == RT_STATE_CREATED) {
            c->state = RT_STATE_STOPPED;
            c->finished_ns = now;
        }
        return fake_save(f, err);
    case RT_FAKE_OP_DELETE:
        if (!c)
            return 0;
        ctr_unlink(f, c);
        if (c->state == RT_STATE_RUNNING) {
            ctr_set_stopped(c, 128 + 9, now);
            fake_exit_notify(f, c);
        }
        ctr_destroy(c);
        return fake_save(f, err);
    case RT_FAKE_OP_STATE:
        ctr_info(c, info);
        res->kind = RT_RESULT_INFO;
        res->info = info;
        return 0;
    case RT_FAKE_OP_LIST: {
        size_t n = 0;

        for (struct fake_ctr *p = f->ctrs; p; p = p->next)
            n++;
        list->items = stk_xcalloc(n + 1, sizeof(struct rt_container_info));
        list->n = 0;
        for (struct fake_ctr *p = f->ctrs; p; p = p->next)
            ctr_info(p, &list->items[list->n++]);
        res->kind = RT_RESULT_LIST;
        res->list = list;
        return 0;
    }
    case RT_FAKE_OP_EXEC:
        if (c->state != RT_STATE_RUNNING)
            return stk_err_set(err, STK_EINVAL, 0, "fake: exec in '%s': container is not running",
                               c->id);
        if (r->exec_timed_out)
            return stk_err_set(err, STK_ETIMEDOUT, 0, "fake: exec in '%s': timed out", c->id);
        res->kind = RT_RESULT_EXEC;
        res->exit_code = r->exec_code;
        res->output = r->exec_output ? r->exec_output : "";
        return 0;
    case RT_FAKE_OP_LOGS: {
        char *dir;
        int fd;

        if (!f->ctx->state_dir)
            return stk_err_set(err, STK_ENOTSUP, 0, "fake: logs of '%s': no state directory",
                               c->id);
        dir = stk_xasprintf("%s/fake-logs", f->ctx->state_dir);
        ret = stk_mkdir_p(dir, 0755, err);
        free(dir);
        if (ret < 0)
            return stk_err_wrap(err, "fake: logs of '%s'", c->id);
        *out = stk_xasprintf("%s/fake-logs/%s.log", f->ctx->state_dir, c->id);
        fd = open(*out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return stk_err_set(err, STK_EIO, errno, "fake: create '%s'", *out);
        close(fd);
        res->kind = RT_RESULT_LOGS;
        res->log_path = *out;
        return 0;
    }
    case RT_FAKE_OP_TOP:
        if (c->state != RT_STATE_RUNNING)
            return stk_err_set(err, STK_EINVAL, 0, "fake: top of '%s': container is not running",
                               c->id);
        *out = stk_xasprintf("PID CMD\n%d %s\n", c->pid, c->command ? c->command : "");
        res->kind = RT_RESULT_TOP;
        res->output = *out;
        return 0;
    case RT_FAKE_OP_VOLUME_CREATE:
        if (stk_strv_contains(&f->volumes, r->id))
            return 0;
        stk_strv_push(&f->volumes, r->id);
        return fake_save(f, err);
    case RT_FAKE_OP_VOLUME_REMOVE:
        for (size_t i = 0; i < f->volumes.n; i++) {
            if (strcmp(f->volumes.v[i], r->id) != 0)
                continue;
            free(f->volumes.v[i]);
            memmove(&f->volumes.v[i], &f->volumes.v[i + 1],
                    (f->volumes.n - i) * sizeof(char *)); /* moves the NULL too */
            f->volumes.n--;
            return fake_save(f, err);
        }
        return 0;
    default:
        break;
    }
    STK_BUG("fake: unknown op");
}

static void req_fire(uv_timer_t *t)
{
    struct fake_req *r = t->data;
    struct stk_err err = STK_ERR_INIT;
    struct rt_result res = {0};
    struct rt_container_info info;
    struct rt_container_list list = {NULL, 0};
    struct rt_host_info host;
    char *out = NULL;
    int ret;

    if (r->completed)
        return;
    if (r->base.canceled)
        ret = stk_err_set(&err, STK_ECANCELED, 0, "fake: %s: canceled", op_names[r->op]);
    else if (r->fail_code)
        ret = stk_err_set(&err, r->fail_code, 0, "%s", r->fail_msg);
    else
        ret = req_run(r, &res, &info, &list, &host, &out, &err);
    req_finish(r, ret < 0 ? NULL : &res, ret < 0 ? &err : NULL);
    free(list.items);
    free(out);
    stk_err_clear(&err);
}

/*
 * The common start of every op: checks the context and DONE, counts the call,
 * applies the failure rules (MID, MNAME, MSVC identify the target for MATCH)
 * and returns a new request, not yet started, in *RET_R. An immediate
 * scripted failure or a bad argument returns a negative code.
 */
static int op_begin(struct rt_ctx *ctx, enum rt_fake_op op, rt_done_fn *done, void *userdata,
                    const char *mid, const char *mname, const char *msvc, struct fake_req **ret_r,
                    struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_fail_rule *fired = NULL;
    struct fake_req *r;

    if (!f)
        return STK_EINVAL;
    if (f->closing)
        return stk_err_set(err, STK_ECANCELED, 0, "fake: %s: runtime context is closing",
                           op_names[op]);
    f->calls[op]++;
    if (!done)
        return stk_err_set(err, STK_EINVAL, 0, "fake: %s: no completion callback", op_names[op]);
    for (struct fake_fail_rule *rule = f->fails; rule; rule = rule->next) {
        if (!op_selects(rule->op, op) || !match_obj(rule->match, mid, mname, msvc))
            continue;
        rule->seen++;
        if (!fired && rule->seen >= rule->nth &&
            (rule->count == 0 || rule->seen - rule->nth < rule->count))
            fired = rule;
    }
    if (fired && fired->immediate)
        return stk_err_set(err, fired->code, 0, "%s", fired->message);
    r = stk_new0(struct fake_req);
    r->base.ctx = ctx;
    r->base.cancel = req_cancel_hook;
    r->f = f;
    r->op = op;
    r->done = done;
    r->userdata = userdata;
    if (fired) {
        r->fail_code = fired->code;
        r->fail_msg = stk_xstrdup(fired->message);
    }
    *ret_r = r;
    return 0;
}

/* Starts R's timer after the op's delay plus EXTRA_MS, links it, and hands it out. */
static int op_launch(struct fake_req *r, uint64_t extra_ms, struct rt_req **ret_req)
{
    struct fake *f = r->f;
    uint64_t delay = f->has_delay[r->op] ? f->delay_ms[r->op] : f->delay_any_ms;

    uv_timer_init(f->ctx->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, req_fire, delay + extra_ms, 0);
    r->next = f->pending;
    if (f->pending)
        f->pending->prev = r;
    f->pending = r;
    f->n_pending++;
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* op_begin for an op on container ID (NULL is STK_EINVAL). */
static int op_begin_id(struct rt_ctx *ctx, enum rt_fake_op op, const char *id, rt_done_fn *done,
                       void *userdata, struct fake_req **ret_r, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_ctr *c;
    int ret;

    if (!f)
        return STK_EINVAL;
    c = id ? ctr_find(f, id) : NULL;
    ret = op_begin(ctx, op, done, userdata, id, c ? c->name : NULL,
                   c ? kv_get(c->labels, c->n_labels, RT_LABEL_SERVICE) : NULL, ret_r, err);
    if (ret < 0)
        return ret;
    if (!id) {
        req_discard(*ret_r);
        return stk_err_set(err, STK_EINVAL, 0, "fake: %s: no container id", op_names[op]);
    }
    (*ret_r)->id = stk_xstrdup(id);
    return 0;
}

/* ---- ops ---- */

static int fake_init(struct rt_ctx *ctx, struct stk_err *err);
static void fake_fini(struct rt_ctx *ctx);

static int fake_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                          struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin(ctx, RT_FAKE_OP_HOST_INFO, done, userdata, NULL, NULL, NULL, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_create(struct rt_ctx *ctx, const struct rt_container_spec *spec, rt_done_fn *done,
                       void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    struct fake_ctr *c;
    struct stk_buf cmd = STK_BUF_INIT;
    int ret;

    ret = op_begin(ctx, RT_FAKE_OP_CREATE, done, userdata, spec ? spec->id : NULL,
                   spec ? spec->name : NULL,
                   spec ? kv_get(spec->labels, spec->n_labels, RT_LABEL_SERVICE) : NULL, &r, err);
    if (ret < 0)
        return ret;
    if (!spec || !spec->id || !*spec->id || (int)spec->isolation < 0 ||
        spec->isolation >= _RT_ISOLATION_MAX) {
        req_discard(r);
        return stk_err_set(err, STK_EINVAL, 0, "fake: create: no container id or bad isolation");
    }
    c = stk_new0(struct fake_ctr);
    c->id = stk_xstrdup(spec->id);
    c->name = stk_xstrdup(spec->name);
    c->state = RT_STATE_CREATED;
    c->isolation = spec->isolation;
    for (size_t i = 0; spec->process.args && spec->process.args[i]; i++)
        stk_buf_printf(&cmd, "%s%s", i ? " " : "", spec->process.args[i]);
    c->command = stk_buf_detach(&cmd, NULL);
    c->labels = stk_xcalloc(spec->n_labels + 1, sizeof(struct rt_kv));
    for (size_t i = 0; i < spec->n_labels; i++) {
        c->labels[i].key = stk_xstrdup(spec->labels[i].key ? spec->labels[i].key : "");
        c->labels[i].value = stk_xstrdup(spec->labels[i].value ? spec->labels[i].value : "");
    }
    c->n_labels = spec->n_labels;
    r->id = stk_xstrdup(spec->id);
    r->create = c;
    return op_launch(r, 0, ret_req);
}

static int fake_start(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                      struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_START, id, done, userdata, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_kill(struct rt_ctx *ctx, const char *id, int signal, rt_done_fn *done,
                     void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_KILL, id, done, userdata, &r, err);

    if (ret < 0)
        return ret;
    r->signal = signal;
    return op_launch(r, 0, ret_req);
}

static int fake_stop(struct rt_ctx *ctx, const char *id, int signal, uint64_t grace_ms,
                     rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_STOP, id, done, userdata, &r, err);

    (void)grace_ms;
    if (ret < 0)
        return ret;
    r->signal = signal;
    return op_launch(r, 0, ret_req);
}

static int fake_delete(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                       struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_DELETE, id, done, userdata, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_state(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                      struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_STATE, id, done, userdata, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                     struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin(ctx, RT_FAKE_OP_LIST, done, userdata, NULL, NULL, NULL, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

/* Does COMMAND (NULL: all) prefix ARGS joined by spaces at a word boundary? */
static int exec_cmd_matches(const char *command, const char *joined)
{
    size_t n;

    if (!command)
        return 1;
    n = strlen(command);
    return strncmp(joined, command, n) == 0 && (joined[n] == '\0' || joined[n] == ' ');
}

static int fake_exec(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                     rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    struct fake_ctr *c;
    struct stk_buf joined = STK_BUF_INIT;
    uint64_t extra = 0;
    int ret = op_begin_id(ctx, RT_FAKE_OP_EXEC, id, done, userdata, &r, err);

    if (ret < 0)
        return ret;
    if (!opts || !opts->args || !opts->args[0]) {
        req_discard(r);
        return stk_err_set(err, STK_EINVAL, 0, "fake: exec in '%s': no command", id);
    }
    if (r->fail_code)
        return op_launch(r, 0, ret_req);
    c = ctr_find(r->f, id);
    for (size_t i = 0; opts->args[i]; i++)
        stk_buf_printf(&joined, "%s%s", i ? " " : "", opts->args[i]);
    for (struct fake_exec_rule *e = r->f->execs; e; e = e->next) {
        if ((!e->forever && !e->left) || !exec_cmd_matches(e->command, joined.buf))
            continue;
        if (c ? !match_ctr(e->match, c) : !match_obj(e->match, id, NULL, NULL))
            continue;
        if (!e->forever)
            e->left--;
        r->exec_code = e->code;
        r->exec_output = stk_xstrdup(e->output);
        extra = e->duration_ms;
        if (opts->timeout_ms && opts->timeout_ms < e->duration_ms) {
            extra = opts->timeout_ms;
            r->exec_timed_out = 1;
        }
        break;
    }
    stk_buf_release(&joined);
    return op_launch(r, extra, ret_req);
}

static int fake_logs(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                     struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_LOGS, id, done, userdata, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_top(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                    struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin_id(ctx, RT_FAKE_OP_TOP, id, done, userdata, &r, err);

    return ret < 0 ? ret : op_launch(r, 0, ret_req);
}

static int fake_volume(struct rt_ctx *ctx, enum rt_fake_op op, const char *name, rt_done_fn *done,
                       void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct fake_req *r;
    int ret = op_begin(ctx, op, done, userdata, name, NULL, NULL, &r, err);

    if (ret < 0)
        return ret;
    if (!name || !*name) {
        req_discard(r);
        return stk_err_set(err, STK_EINVAL, 0, "fake: %s: no volume name", op_names[op]);
    }
    r->id = stk_xstrdup(name);
    return op_launch(r, 0, ret_req);
}

static int fake_volume_create(struct rt_ctx *ctx, const char *name, rt_done_fn *done,
                              void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    return fake_volume(ctx, RT_FAKE_OP_VOLUME_CREATE, name, done, userdata, ret_req, err);
}

static int fake_volume_remove(struct rt_ctx *ctx, const char *name, rt_done_fn *done,
                              void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    return fake_volume(ctx, RT_FAKE_OP_VOLUME_REMOVE, name, done, userdata, ret_req, err);
}

static const struct rt_driver_ops fake_ops = {
    .init = fake_init,
    .fini = fake_fini,
    .host_info = fake_host_info,
    .create = fake_create,
    .start = fake_start,
    .kill = fake_kill,
    .stop = fake_stop,
    .delete = fake_delete,
    .state = fake_state,
    .list = fake_list,
    .exec = fake_exec,
    .logs = fake_logs,
    .top = fake_top,
    .volume_create = fake_volume_create,
    .volume_remove = fake_volume_remove,
};

const struct rt_driver rt_driver_fake = {
    .name = "fake",
    .abi_version = RT_DRIVER_ABI_1,
    .caps = RT_CAP_VOLUMES | RT_CAP_EXEC | RT_CAP_TOP | RT_CAP_LOGS,
    .priv_size = sizeof(struct fake),
    .ops = &fake_ops,
};

/* ---- scripting API ---- */

int rt_fake_fail_add(struct rt_ctx *ctx, const struct rt_fake_fail *rule, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_fail_rule *n, **pp;

    if (!f)
        return STK_EINVAL;
    if (!rule || !op_valid(rule->op) || rule->nth == 0 || rule->code > 0)
        return stk_err_set(err, STK_EINVAL, 0, "fake: bad failure rule");
    n = stk_new0(struct fake_fail_rule);
    n->op = rule->op;
    n->match = match_dup(rule->match);
    n->nth = rule->nth;
    n->count = rule->count;
    n->code = rule->code ? rule->code : STK_ERUNTIME;
    n->message = stk_xstrdup(rule->message ? rule->message : "injected failure");
    n->immediate = rule->immediate;
    for (pp = &f->fails; *pp; pp = &(*pp)->next)
        ;
    *pp = n;
    return 0;
}

int rt_fake_fail_nth(struct rt_ctx *ctx, enum rt_fake_op op, unsigned nth, int code,
                     const char *message, struct stk_err *err)
{
    struct rt_fake_fail rule = {.op = op, .nth = nth, .count = 1, .code = code, .message = message};

    return rt_fake_fail_add(ctx, &rule, err);
}

static void fails_free(struct fake *f)
{
    while (f->fails) {
        struct fake_fail_rule *n = f->fails->next;

        free(f->fails->match);
        free(f->fails->message);
        free(f->fails);
        f->fails = n;
    }
}

int rt_fake_fail_clear(struct rt_ctx *ctx, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    fails_free(f);
    return 0;
}

int rt_fake_set_delay(struct rt_ctx *ctx, enum rt_fake_op op, uint64_t delay_ms,
                      struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    if (op == RT_FAKE_OP_ANY) {
        f->delay_any_ms = delay_ms;
        return 0;
    }
    if ((int)op < 0 || op >= _RT_FAKE_OP_MAX)
        return stk_err_set(err, STK_EINVAL, 0, "fake: delay: bad op");
    f->delay_ms[op] = delay_ms;
    f->has_delay[op] = delay_ms != 0;
    return 0;
}

int rt_fake_script_exit(struct rt_ctx *ctx, const char *match, int exit_code, uint64_t after_ms,
                        unsigned count, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_exit_rule *n, **pp;

    if (!f)
        return STK_EINVAL;
    if (exit_code < 0 || exit_code > 255)
        return stk_err_set(err, STK_EINVAL, 0, "fake: exit code %d out of range", exit_code);
    n = stk_new0(struct fake_exit_rule);
    n->match = match_dup(match);
    n->code = exit_code;
    n->after_ms = after_ms;
    n->left = count;
    n->forever = count == 0;
    for (pp = &f->exits; *pp; pp = &(*pp)->next)
        ;
    *pp = n;
    return 0;
}

int rt_fake_script_exec(struct rt_ctx *ctx, const char *match, const char *command, int exit_code,
                        const char *output, uint64_t duration_ms, unsigned count,
                        struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_exec_rule *n, **pp;

    if (!f)
        return STK_EINVAL;
    n = stk_new0(struct fake_exec_rule);
    n->match = match_dup(match);
    n->command = stk_xstrdup(command);
    n->output = stk_xstrdup(output ? output : "");
    n->code = exit_code;
    n->duration_ms = duration_ms;
    n->left = count;
    n->forever = count == 0;
    for (pp = &f->execs; *pp; pp = &(*pp)->next)
        ;
    *pp = n;
    return 0;
}

int rt_fake_set_exit_hook(struct rt_ctx *ctx, rt_fake_exit_fn *fn, void *userdata,
                          struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    f->exit_hook = fn;
    f->exit_hook_data = userdata;
    return 0;
}

int rt_fake_container_exit(struct rt_ctx *ctx, const char *id, int exit_code, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);
    struct fake_ctr *c;
    int ret;

    if (!f)
        return STK_EINVAL;
    c = id ? ctr_find(f, id) : NULL;
    if (!c)
        return stk_err_set(err, STK_ENOENT, 0, "fake: no such container '%s'", id ? id : "");
    if (c->state != RT_STATE_RUNNING)
        return stk_err_set(err, STK_EINVAL, 0, "fake: container '%s' is not running", id);
    ctr_set_stopped(c, exit_code, now_ns());
    ret = fake_save(f, err);
    fake_exit_notify(f, c);
    return ret;
}

int rt_fake_last_signal(struct rt_ctx *ctx, const char *id)
{
    struct fake *f = fake_get(ctx, NULL);
    struct fake_ctr *c = f && id ? ctr_find(f, id) : NULL;

    return c ? c->last_signal : -1;
}

int rt_fake_volume_exists(struct rt_ctx *ctx, const char *name)
{
    struct fake *f = fake_get(ctx, NULL);

    return f && name && stk_strv_contains(&f->volumes, name);
}

unsigned rt_fake_calls(struct rt_ctx *ctx, enum rt_fake_op op)
{
    struct fake *f = fake_get(ctx, NULL);
    unsigned n = 0;

    if (!f || !op_valid(op))
        return 0;
    for (int i = 0; i < _RT_FAKE_OP_MAX; i++)
        if (op_selects(op, (enum rt_fake_op)i))
            n += f->calls[i];
    return n;
}

int rt_fake_calls_reset(struct rt_ctx *ctx, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    memset(f->calls, 0, sizeof(f->calls));
    return 0;
}

unsigned rt_fake_pending(struct rt_ctx *ctx)
{
    struct fake *f = fake_get(ctx, NULL);

    return f ? f->n_pending : 0;
}

int rt_fake_set_state_file(struct rt_ctx *ctx, const char *path, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    if (!path || !*path)
        return stk_err_set(err, STK_EINVAL, 0, "fake: empty state file path");
    free(f->state_file);
    f->state_file = stk_xstrdup(path);
    return fake_load(f, err);
}

int rt_fake_set_hyperv(struct rt_ctx *ctx, int enabled, struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    f->hyperv = !!enabled;
    return 0;
}

int rt_fake_set_default_isolation(struct rt_ctx *ctx, enum rt_isolation isolation,
                                  struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    if (!rt_isolation_to_string(isolation))
        return stk_err_set(err, STK_EINVAL, 0, "fake: bad default isolation");
    f->default_isolation = isolation;
    return 0;
}

int rt_fake_set_available(struct rt_ctx *ctx, int available, const char *reason,
                          struct stk_err *err)
{
    struct fake *f = fake_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    f->unavailable = !available;
    free(f->reason);
    f->reason = stk_xstrdup(reason);
    return 0;
}

/* ---- environment ---- */

/* Applies one item of variable VAR; ITEM is modified. */
static int env_item(struct rt_ctx *ctx, const char *var, char *item, struct stk_err *err)
{
    char *p = item, *a = stk_field_next(&p, ':'), *b = stk_field_next(&p, ':');
    uint64_t n = 0, m = 0;

    if (strcmp(var, "STACK_FAKE_FAIL") == 0) {
        struct rt_fake_fail rule = {0};
        char *code = stk_field_next(&p, ':');
        size_t blen = b ? strlen(b) : 0;

        rule.op = rt_fake_op_from_string(a);
        if (blen && b[blen - 1] == '+')
            b[blen - 1] = '\0';
        else
            rule.count = 1;
        if (rule.op == _RT_FAKE_OP_INVALID || stk_parse_u64(b, &n) < 0 || n == 0 || n > UINT32_MAX)
            return -1;
        rule.nth = (unsigned)n;
        if (code && !(rule.code = stk_err_code_from_string(code)))
            return -1;
        rule.message = p;
        return rt_fake_fail_add(ctx, &rule, err);
    }
    if (strcmp(var, "STACK_FAKE_DELAY_MS") == 0) {
        if (!b)
            return stk_parse_u64(a, &n) < 0 ? -1 : rt_fake_set_delay(ctx, RT_FAKE_OP_ANY, n, err);
        if (stk_parse_u64(b, &n) < 0 || rt_fake_op_from_string(a) == _RT_FAKE_OP_INVALID)
            return -1;
        return rt_fake_set_delay(ctx, rt_fake_op_from_string(a), n, err);
    }
    if (strcmp(var, "STACK_FAKE_EXIT") == 0) {
        char *after = stk_field_next(&p, ':');

        if (p || stk_parse_u64(b, &n) < 0 || n > 255 || stk_parse_u64(after, &m) < 0)
            return -1;
        return rt_fake_script_exit(ctx, a, (int)n, m, 0, err);
    }
    /* STACK_FAKE_EXEC */
    if (p || stk_parse_u64(b, &n) < 0 || n > 255)
        return -1;
    return rt_fake_script_exec(ctx, a, NULL, (int)n, NULL, 0, 0, err);
}

/* Applies the ','-separated list in variable VAR. */
static int env_list(struct rt_ctx *ctx, const char *var, struct stk_err *err)
{
    const char *value = getenv(var);
    char *copy, *item, *next;
    int ret = 0;

    if (!value || !*value)
        return 0;
    copy = stk_xstrdup(value);
    for (item = copy; item && ret == 0; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        ret = env_item(ctx, var, item, err);
    }
    free(copy);
    if (ret == -1)
        return stk_err_set(err, STK_EINVAL, 0, "fake: malformed %s='%s'", var, value);
    return ret;
}

static int fake_env(struct rt_ctx *ctx, struct fake *f, struct stk_err *err)
{
    static const char *const lists[] = {"STACK_FAKE_FAIL", "STACK_FAKE_DELAY_MS", "STACK_FAKE_EXIT",
                                        "STACK_FAKE_EXEC"};
    const char *v;
    int ret;

    for (size_t i = 0; i < STK_ARRAY_SIZE(lists); i++)
        if ((ret = env_list(ctx, lists[i], err)) < 0)
            return ret;
    v = getenv("STACK_FAKE_HYPERV");
    if (v && *v)
        f->hyperv = strcmp(v, "0") != 0;
    v = getenv("STACK_FAKE_DEFAULT_ISOLATION");
    if (v && *v) {
        f->default_isolation = rt_isolation_from_string(v);
        if ((int)f->default_isolation < 0)
            return stk_err_set(err, STK_EINVAL, 0,
                               "fake: malformed STACK_FAKE_DEFAULT_ISOLATION='%s'", v);
    }
    v = getenv("STACK_FAKE_STATE");
    if (v && *v)
        return rt_fake_set_state_file(ctx, v, err);
    return 0;
}

/* ---- init and fini ---- */

static void fake_release(struct fake *f)
{
    while (f->ctrs) {
        struct fake_ctr *c = f->ctrs;

        f->ctrs = c->next;
        ctr_destroy(c);
    }
    fails_free(f);
    while (f->exits) {
        struct fake_exit_rule *n = f->exits->next;

        free(f->exits->match);
        free(f->exits);
        f->exits = n;
    }
    while (f->execs) {
        struct fake_exec_rule *n = f->execs->next;

        free(f->execs->match);
        free(f->execs->command);
        free(f->execs->output);
        free(f->execs);
        f->execs = n;
    }
    stk_strv_release(&f->volumes);
    free(f->state_file);
    f->state_file = NULL;
    free(f->reason);
    f->reason = NULL;
}

static int fake_init(struct rt_ctx *ctx, struct stk_err *err)
{
    struct fake *f = ctx->priv;
    int ret;

    if (f->ctx)
        return 0;
    f->ctx = ctx;
    f->next_pid = FAKE_FIRST_PID;
    f->default_isolation = RT_ISOLATION_PROCESS;
    stk_strv_init(&f->volumes);
    ret = fake_env(ctx, f, err);
    if (ret < 0) {
        fake_release(f);
        return stk_err_wrap(err, "fake: init");
    }
    return 0;
}

static void fake_fini(struct rt_ctx *ctx)
{
    struct fake *f = ctx->priv;
    struct stk_err err = STK_ERR_INIT;

    if (!f || !f->ctx)
        return;
    f->closing = 1;
    stk_err_set(&err, STK_ECANCELED, 0, "fake: runtime context closed");
    while (f->pending)
        req_finish(f->pending, NULL, &err);
    fake_release(f);
}
