/*
 * test-health-noop.c - health gates judged from what is known, with real
 * containers: once a stack whose dependant waits for a 30 s health check is
 * up, a second `up` makes no mutating runtime call and observes no more than
 * `plan` does (no health check is run), and returns long before the 30 s
 * interval; a change of the dependant alone recreates it without waiting for
 * the unchanged dependency's gate again (its recorded health is "healthy").
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

static struct itest T;

static void setup(void)
{
    itest_require_host();
    itest_init(&T, "hn");
}

static void teardown(void)
{
    itest_fini(&T);
}

#define LOOP "[\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]"

/* Well below the 30 s interval; a no-op up takes a fraction of a second. */
#define DEADLINE_S 10.0

static const char *write_stack(const char *app_env)
{
    char text[2048];

    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  db:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    healthcheck:\n"
             "      test: [\"CMD\", \"true\"]\n"
             "      interval: 30s\n"
             "      timeout: 5s\n"
             "      retries: 3\n"
             "  app:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    environment:\n"
             "      VERSION: \"%s\"\n"
             "    depends_on:\n"
             "      db:\n"
             "        condition: service_healthy\n",
             T.project, itest_image(), itest_image(), app_env);
    return itest_write(&T, "stack.yaml", text);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The "N observing calls" of a STACK_STATS line, -1 without one. */
static long observing(const char *err)
{
    const char *s = err ? strstr(err, "mutating calls, ") : NULL;

    return s ? strtol(s + strlen("mutating calls, "), NULL, 10) : -1;
}

Test(integration, noop_up_with_30s_health_check_makes_no_call_and_does_not_wait, .init = setup,
     .fini = teardown, .timeout = 300)
{
    const char *file = write_stack("1");
    char *out = NULL, *err = NULL;
    long plan_reads;
    double t0, took;
    int rc;

    /* The first up waits for db's first check, one interval (30 s) after its start. */
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 0, "up failed (%d): %s", rc, err);
    cr_assert(strstr(err, "Healthy"), "the first up did not pass db's gate: %s", err);
    free(out);
    free(err);

    setenv("STACK_STATS", "1", 1);
    rc = itest_stack(&T, &out, &err, "plan -f '%s'", file);
    cr_assert_eq(rc, 0, "plan failed: %s", err);
    cr_assert(strstr(out, "nothing to do"), "plan: %s", out);
    plan_reads = observing(err);
    free(out);
    free(err);

    t0 = now_s();
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    took = now_s() - t0;
    cr_assert_eq(rc, 0, "second up failed: %s", err);
    cr_assert(strstr(err, "stats: 0 mutating calls"), "up made mutating calls: %s", err);
    cr_assert_geq(observing(err), 0, "no stats line: %s", err);
    if (plan_reads >= 0)
        cr_assert_leq(observing(err), plan_reads,
                      "a no-op up observes more than plan does (a health check ran): %s", err);
    cr_assert_null(strstr(err, "Waiting"), "the no-op up waited on a gate: %s", err);
    cr_assert_lt(took, DEADLINE_S, "the no-op up took %.1f s", took);
    free(out);
    free(err);

    /* Only app changes: recreated at once; db's gate is judged from its recorded health. */
    file = write_stack("2");
    t0 = now_s();
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    took = now_s() - t0;
    unsetenv("STACK_STATS");
    cr_assert_eq(rc, 0, "up after a change of app failed: %s", err);
    cr_assert(strstr(err, "app"), "app was not recreated: %s", err);
    cr_assert_null(strstr(err, "Waiting"), "up waited on db's unchanged gate: %s", err);
    cr_assert_lt(took, DEADLINE_S, "recreating app took %.1f s", took);
    free(out);
    free(err);
}
