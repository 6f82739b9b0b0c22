/*
 * svc-queue.c - the work queue keyed by project (svc.h). Small: the daemon
 * holds tens of stacks, so keys live in one array scanned linearly.
 */
#include "orchestrator/serve/svc.h"

#include <stdint.h>

#include "stk-alloc.h"

struct queue_item {
    char *key;
    int queued;        /* waiting to be handed out */
    int in_flight;     /* handed out, not done */
    int dirty;         /* added while in flight */
    uint64_t ready_ms; /* when a queued key may be handed out */
    uint64_t seq;      /* order of queueing, FIFO among ready keys */
    unsigned failures; /* consecutive failures */
};

struct svc_queue {
    struct svc_queue_opts opts;
    struct queue_item *items;
    size_t n, alloc;
    uint64_t seq;
    double tokens;
    uint64_t tokens_ms; /* when tokens was last refilled */
};

struct svc_queue *svc_queue_new(const struct svc_queue_opts *opts, uint64_t now_ms)
{
    struct svc_queue *q = stk_new0(struct svc_queue);

    if (opts) {
        q->opts = *opts;
    } else {
        q->opts.backoff_base_ms = 1000;
        q->opts.backoff_max_ms = 300000;
        q->opts.rate_per_s = 10;
        q->opts.burst = 20;
    }
    if (q->opts.burst == 0)
        q->opts.burst = 1;
    q->tokens = q->opts.burst;
    q->tokens_ms = now_ms;
    return q;
}

void svc_queue_free(struct svc_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->items[i].key);
    free(q->items);
    free(q);
}

static struct queue_item *find(const struct svc_queue *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->items[i].key, key) == 0)
            return &q->items[i];
    return NULL;
}

static struct queue_item *find_or_add(struct svc_queue *q, const char *key)
{
    struct queue_item *it = find(q, key);

    if (it)
        return it;
    if (q->n == q->alloc) {
        q->alloc = q->alloc ? q->alloc * 2 : 8;
        q->items = stk_xrealloc(q->items, q->alloc * sizeof(*q->items));
    }
    it = &q->items[q->n++];
    memset(it, 0, sizeof(*it));
    it->key = stk_xstrdup(key);
    return it;
}

/* Drops a key that is neither queued, in flight nor failing (keeps the array small). */
static void maybe_forget(struct svc_queue *q, struct queue_item *it)
{
    size_t i = (size_t)(it - q->items);

    if (it->queued || it->in_flight || it->failures)
        return;
    free(it->key);
    q->items[i] = q->items[--q->n];
}

static void enqueue(struct svc_queue *q, struct queue_item *it, uint64_t ready_ms)
{
    if (it->queued) {
        if (ready_ms < it->ready_ms)
            it->ready_ms = ready_ms;
        return;
    }
    it->queued = 1;
    it->ready_ms = ready_ms;
    it->seq = q->seq++;
}

void svc_queue_add_after(struct svc_queue *q, const char *key, uint64_t now_ms, uint64_t delay_ms)
{
    struct queue_item *it = find_or_add(q, key);

    if (it->in_flight) {
        it->dirty = 1;
        return;
    }
    enqueue(q, it, now_ms + delay_ms);
}

void svc_queue_add(struct svc_queue *q, const char *key, uint64_t now_ms)
{
    svc_queue_add_after(q, key, now_ms, 0);
}

static void refill(struct svc_queue *q, uint64_t now_ms)
{
    if (now_ms > q->tokens_ms) {
        q->tokens += (double)(now_ms - q->tokens_ms) * q->opts.rate_per_s / 1000.0;
        if (q->tokens > q->opts.burst)
            q->tokens = q->opts.burst;
        q->tokens_ms = now_ms;
    }
}

static struct queue_item *first_ready(const struct svc_queue *q, uint64_t now_ms)
{
    struct queue_item *best = NULL;

    for (size_t i = 0; i < q->n; i++) {
        struct queue_item *it = &q->items[i];
        if (!it->queued || it->in_flight || it->ready_ms > now_ms)
            continue;
        if (!best || it->seq < best->seq)
            best = it;
    }
    return best;
}

const char *svc_queue_get(struct svc_queue *q, uint64_t now_ms)
{
    struct queue_item *it;

    refill(q, now_ms);
    it = first_ready(q, now_ms);
    if (!it || q->tokens < 1.0)
        return NULL;
    q->tokens -= 1.0;
    it->queued = 0;
    it->in_flight = 1;
    it->dirty = 0;
    return it->key;
}

static uint64_t backoff(const struct svc_queue *q, unsigned failures)
{
    uint64_t d = q->opts.backoff_base_ms;

    for (unsigned i = 1; i < failures && d < q->opts.backoff_max_ms; i++)
        d *= 2;
    return d < q->opts.backoff_max_ms ? d : q->opts.backoff_max_ms;
}

void svc_queue_done(struct svc_queue *q, const char *key, int ok, uint64_t now_ms)
{
    struct queue_item *it = find(q, key);

    if (!it || !it->in_flight)
        return;
    it->in_flight = 0;
    if (ok) {
        it->failures = 0;
        if (it->dirty)
            enqueue(q, it, now_ms);
    } else {
        it->failures++;
        enqueue(q, it, now_ms + backoff(q, it->failures));
    }
    it->dirty = 0;
    maybe_forget(q, it);
}

uint64_t svc_queue_next_ms(const struct svc_queue *q, uint64_t now_ms)
{
    uint64_t ready = UINT64_MAX, wait_tok = 0;
    double tokens = q->tokens;

    for (size_t i = 0; i < q->n; i++) {
        const struct queue_item *it = &q->items[i];
        if (it->queued && !it->in_flight && it->ready_ms < ready)
            ready = it->ready_ms;
    }
    if (ready == UINT64_MAX)
        return UINT64_MAX;
    ready = ready > now_ms ? ready - now_ms : 0;
    if (now_ms > q->tokens_ms)
        tokens += (double)(now_ms - q->tokens_ms) * q->opts.rate_per_s / 1000.0;
    if (tokens < 1.0 && q->opts.rate_per_s > 0)
        wait_tok = (uint64_t)((1.0 - tokens) * 1000.0 / q->opts.rate_per_s + 0.999);
    else if (tokens < 1.0)
        return UINT64_MAX;
    return ready > wait_tok ? ready : wait_tok;
}

size_t svc_queue_len(const struct svc_queue *q)
{
    size_t n = 0;

    for (size_t i = 0; i < q->n; i++)
        n += q->items[i].queued && !q->items[i].in_flight;
    return n;
}

unsigned svc_queue_failures(const struct svc_queue *q, const char *key)
{
    const struct queue_item *it = find(q, key);
    return it ? it->failures : 0;
}
