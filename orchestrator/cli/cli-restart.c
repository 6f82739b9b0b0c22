/*
 * cli-restart.c - what happens when a container exits without a daemon
 * (DESIGN.md §3): its monitor (conmon) runs `stack internal
 * container-exited ID`, which records the exit and applies the restart policy
 * with the Docker engine's backoff — 100 ms doubling per restart, capped at
 * one minute, reset once the container had run for 10 s (reference
 * reconcilers-gitops-sqlite.md §1.7).
 */
#include "orchestrator/cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orchestrator/rec/rec.h"
#include "orchestrator/store/store.h"
#include "runtime/rt-driver.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_container_exited(struct rec_env *env, const char *id, int64_t *ret_delay_ms,
                         struct stk_err *err)
{
    struct store_container row;
    struct rt_sync s = RT_SYNC_INIT;
    const char *base = getenv("STACK_RESTART_BASE_MS");
    int64_t delay = 0;
    int exit_code = -1, restarts = 0, r;

    *ret_delay_ms = -1;
    if (store_container_get(env->store, id, &row, err) < 0) {
        /* Removed by down, or never ours: nothing to do. */
        if (err->code == STK_ENOENT) {
            stk_err_clear(err);
            return 0;
        }
        return err->code;
    }
    r = rt_container_state(env->rt, id, rt_sync_done, &s, NULL, err);
    if ((r = rt_sync_wait(env->loop, &s, r, err)) == 0 && s.info.has_exit_code)
        exit_code = s.info.exit_code;
    rt_sync_release(&s);
    stk_err_clear(err);
    if (strcmp(row.state, "stopping") == 0 || strcmp(row.state, "creating") == 0) {
        /* Stopped on purpose (down, recreate): record, never restart. */
        store_container_exited(env->store, id, exit_code, NULL);
        store_event_add(env->store, row.project, "container.stop", id, row.service, NULL);
        store_container_release(&row);
        return 0;
    }
    store_container_exited(env->store, id, exit_code, NULL);
    {
        char msg[64];
        snprintf(msg, sizeof(msg), "exit status %d", exit_code);
        store_event_add(env->store, row.project, "container.die", id, msg, NULL);
    }
    if (rec_restart_decide(row.restart, exit_code, row.restarts,
                           row.started_ms ? (int)(now_ms() - row.started_ms) : 0,
                           base ? atoll(base) : 100, 60000, &delay, &restarts)) {
        store_container_set_restarts(env->store, id, restarts, NULL);
        *ret_delay_ms = delay;
    }
    store_container_release(&row);
    return 0;
}

int cli_container_restart(struct rec_env *env, const char *id, struct stk_err *err)
{
    struct store_container row;
    struct rt_sync s = RT_SYNC_INIT;
    int r;

    if (store_container_get(env->store, id, &row, err) < 0) {
        if (err->code == STK_ENOENT) {
            stk_err_clear(err);
            return 0;
        }
        return err->code;
    }
    /* Only if nothing changed while we waited (down, a recreate, a manual start). */
    if (strcmp(row.state, "exited") != 0) {
        store_container_release(&row);
        return 0;
    }
    if ((r = rec_intent_begin(env, row.project, "container.start", id, &(int64_t){0}, err)) < 0) {
        store_container_release(&row);
        return r;
    }
    r = rt_container_start(env->rt, id, rt_sync_done, &s, NULL, err);
    r = rt_sync_wait(env->loop, &s, r, err);
    rt_sync_release(&s);
    if (r == 0) {
        store_container_started(env->store, id, NULL);
        store_event_add(env->store, row.project, "container.restart", id, row.service, NULL);
    } else {
        stk_err_wrap(err, "restart container '%s'", row.name);
    }
    store_container_release(&row);
    return r;
}
