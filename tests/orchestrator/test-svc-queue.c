/*
 * test-svc-queue.c - the daemon's work queue (orchestrator/serve/svc.h),
 * driven by a fake clock: each step is an operation at a time and what it
 * must give.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "orchestrator/serve/svc.h"

enum op { ADD, ADD_AFTER, GET, DONE_OK, DONE_FAIL, LEN, NEXT, FAILS };

struct step {
    uint64_t t; /* fake clock, ms */
    enum op op;
    const char *key; /* ADD*, DONE*, FAILS; GET: the key expected (NULL: none) */
    uint64_t arg;    /* ADD_AFTER delay; LEN, NEXT, FAILS: the value expected */
};

struct qcase {
    const char *name;
    struct svc_queue_opts opts;
    struct step steps[24];
};

#define END                                                                                        \
    {                                                                                              \
        0, LEN, "END", UINT64_MAX                                                                  \
    }
#define OPTS                                                                                       \
    {                                                                                              \
        1000, 8000, 1000, 1000                                                                     \
    }

static const struct qcase cases[] = {
    {"fifo",
     OPTS,
     {{0, ADD, "a", 0},
      {0, ADD, "b", 0},
      {0, LEN, NULL, 2},
      {0, GET, "a", 0},
      {0, GET, "b", 0},
      {0, GET, NULL, 0},
      {0, LEN, NULL, 0},
      END}},
    {"dedup while queued",
     OPTS,
     {{0, ADD, "a", 0},
      {0, ADD, "a", 0},
      {1, ADD, "a", 0},
      {1, LEN, NULL, 1},
      {1, GET, "a", 0},
      {1, GET, NULL, 0},
      END}},
    {"never two workers on a key",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {0, ADD, "a", 0},
      {0, GET, NULL, 0},
      {0, LEN, NULL, 0},
      END}},
    {"dirty re-queued after success",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {5, ADD, "a", 0},
      {5, ADD, "a", 0},
      {6, DONE_OK, "a", 0},
      {6, LEN, NULL, 1},
      {6, GET, "a", 0},
      {7, DONE_OK, "a", 0},
      {7, GET, NULL, 0},
      {7, NEXT, NULL, UINT64_MAX},
      END}},
    {"clean done is not re-queued",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {1, DONE_OK, "a", 0},
      {1, LEN, NULL, 0},
      {1, GET, NULL, 0},
      END}},
    {"exponential backoff capped", OPTS, {{0, ADD, "a", 0},           {0, GET, "a", 0},
                                          {0, DONE_FAIL, "a", 0},     {0, FAILS, "a", 1},
                                          {0, NEXT, NULL, 1000},      {999, GET, NULL, 0},
                                          {1000, GET, "a", 0},        {1000, DONE_FAIL, "a", 0},
                                          {1000, NEXT, NULL, 2000},   {3000, GET, "a", 0},
                                          {3000, DONE_FAIL, "a", 0},  {3000, NEXT, NULL, 4000},
                                          {7000, GET, "a", 0},        {7000, DONE_FAIL, "a", 0},
                                          {7000, NEXT, NULL, 8000},   {15000, GET, "a", 0},
                                          {15000, DONE_FAIL, "a", 0}, {15000, NEXT, NULL, 8000},
                                          {15000, FAILS, "a", 5},     END}},
    {"success forgets failures",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {0, DONE_FAIL, "a", 0},
      {1000, GET, "a", 0},
      {1000, DONE_FAIL, "a", 0},
      {3000, GET, "a", 0},
      {3000, DONE_OK, "a", 0},
      {3000, FAILS, "a", 0},
      {3000, ADD, "a", 0},
      {3000, GET, "a", 0},
      {3000, DONE_FAIL, "a", 0},
      {3000, NEXT, NULL, 1000},
      END}},
    {"backoff of one key does not hold another",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {0, DONE_FAIL, "a", 0},
      {1, ADD, "b", 0},
      {1, GET, "b", 0},
      {1, GET, NULL, 0},
      END}},
    {"add during backoff does not bypass it",
     OPTS,
     {{0, ADD, "a", 0},
      {0, GET, "a", 0},
      {0, DONE_FAIL, "a", 0},
      {10, ADD, "a", 0},
      {10, GET, "a", 0},
      END}},
    {"add_after and the earlier time wins",
     OPTS,
     {{0, ADD_AFTER, "a", 500},
      {0, NEXT, NULL, 500},
      {100, GET, NULL, 0},
      {100, ADD_AFTER, "a", 100},
      {199, GET, NULL, 0},
      {200, GET, "a", 0},
      END}},
    {"global rate limit",
     {1000, 8000, 2, 2},
     {{0, ADD, "a", 0},
      {0, ADD, "b", 0},
      {0, ADD, "c", 0},
      {0, GET, "a", 0},
      {0, GET, "b", 0},
      {0, GET, NULL, 0},
      {0, NEXT, NULL, 500},
      {499, GET, NULL, 0},
      {500, GET, "c", 0},
      {500, ADD, "d", 0},
      {500, GET, NULL, 0},
      {1000, GET, "d", 0},
      END}},
    {"done of an unknown key is ignored",
     OPTS,
     {{0, DONE_OK, "x", 0}, {0, DONE_FAIL, "x", 0}, {0, LEN, NULL, 0}, {0, FAILS, "x", 0}, END}},
    {"empty queue", OPTS, {{0, GET, NULL, 0}, {0, NEXT, NULL, UINT64_MAX}, END}},
};

Test(svc_queue, table)
{
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct qcase *qc = &cases[c];
        struct svc_queue *q = svc_queue_new(&qc->opts, 0);
        for (size_t i = 0; qc->steps[i].key == NULL || strcmp(qc->steps[i].key, "END"); i++) {
            const struct step *s = &qc->steps[i];
            const char *got;
            switch (s->op) {
            case ADD:
                svc_queue_add(q, s->key, s->t);
                break;
            case ADD_AFTER:
                svc_queue_add_after(q, s->key, s->t, s->arg);
                break;
            case GET:
                got = svc_queue_get(q, s->t);
                if (s->key)
                    cr_assert(got && strcmp(got, s->key) == 0, "%s step %zu: got %s want %s",
                              qc->name, i, got ? got : "(none)", s->key);
                else
                    cr_assert_null(got, "%s step %zu: got %s want none", qc->name, i, got);
                break;
            case DONE_OK:
                svc_queue_done(q, s->key, 1, s->t);
                break;
            case DONE_FAIL:
                svc_queue_done(q, s->key, 0, s->t);
                break;
            case LEN:
                cr_assert_eq(svc_queue_len(q), s->arg, "%s step %zu: len %zu want %llu", qc->name,
                             i, svc_queue_len(q), (unsigned long long)s->arg);
                break;
            case NEXT:
                cr_assert_eq(svc_queue_next_ms(q, s->t), s->arg, "%s step %zu: next %llu want %llu",
                             qc->name, i, (unsigned long long)svc_queue_next_ms(q, s->t),
                             (unsigned long long)s->arg);
                break;
            case FAILS:
                cr_assert_eq(svc_queue_failures(q, s->key), s->arg, "%s step %zu: failures %u",
                             qc->name, i, svc_queue_failures(q, s->key));
                break;
            }
        }
        svc_queue_free(q);
    }
}
