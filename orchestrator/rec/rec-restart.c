/*
 * rec-restart.c - the restart decision (pure): when a container exits
 * without a daemon (DESIGN.md §3) its monitor runs `stack internal
 * container-exited ID` (orchestrator/cli/cli-restart.c), which records the
 * exit and applies the restart policy decided here with the Docker engine's backoff — 100 ms
 * doubling per restart, capped at one minute, reset once the container had run for 10 s (reference
 * reconcilers-gitops-sqlite.md §1.7).
 */
#include "orchestrator/rec/rec.h"

#include <stdlib.h>
#include <string.h>

#define RESTART_RESET_MS 10000

int rec_restart_decide(const char *policy, int exit_code, int restarts, int ran_ms, int64_t base_ms,
                       int64_t max_ms, int64_t *ret_delay_ms, int *ret_restarts)
{
    int n = restarts;
    int64_t delay;

    if (!policy || !*policy || strcmp(policy, "no") == 0)
        return 0;
    if (strncmp(policy, "on-failure", 10) == 0) {
        if (exit_code == 0)
            return 0;
        if (policy[10] == ':' && restarts >= atoi(policy + 11))
            return 0;
    } else if (strcmp(policy, "always") != 0 && strcmp(policy, "unless-stopped") != 0) {
        return 0;
    }
    /* A container that ran for a while starts the backoff again (Docker). */
    if (ran_ms >= RESTART_RESET_MS)
        n = 0;
    delay = base_ms;
    for (int i = 0; i < n && delay < max_ms; i++)
        delay *= 2;
    if (delay > max_ms)
        delay = max_ms;
    *ret_delay_ms = delay;
    *ret_restarts = n + 1;
    return 1;
}
