/*
 * cli.h - the command line's front end over the reconciler library
 * (orchestrator/rec): the read-only views, which observe the runtime and
 * print what a person reads, and the monitor's exit command. The CLI owns
 * the loop (rt_sync_wait/net_sync_wait are for it and the tests), the
 * signal handlers and the terminal; the library stays silent.
 */
#ifndef CLI_H
#define CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "common/stk-err.h"
#include "orchestrator/rec/rec.h"

/*
 * Prints PROJECT's containers as observed from the runtime: NAME, SERVICE,
 * STATUS, ISOLATION, PID (host PID of the container's init), PORTS.
 */
int cli_ps(struct rec_env *env, const char *project, FILE *out, struct stk_err *err);

/*
 * Prints the logs of SERVICE's containers (every service when NULL) of
 * PROJECT: the container's stdout and stderr lines from the log the driver
 * names — the monitor's k8s-file log (its "TIMESTAMP STREAM TAG " prefix
 * removed) or, for the hcs driver, the output as the process wrote it —
 * prefixed with the container name when several are shown.
 * FOLLOW keeps printing new lines until interrupted.
 */
int cli_logs(struct rec_env *env, const char *project, const char *service, int follow, FILE *out,
             struct stk_err *err);

/*
 * Makes cli_logs() stop following once *FLAG is non-zero (set by a SIGINT
 * handler); FLAG is borrowed and must stay valid.
 */
void cli_logs_set_stop_flag(volatile sig_atomic_t *flag);

/*
 * Runs ARGS (NULL-terminated) in replica NUMBER of SERVICE through the
 * runtime's exec, prints its output to OUT and stores its exit status in
 * *RET_STATUS. STK_ENOENT when there is no such container.
 */
int cli_exec(struct rec_env *env, const char *project, const char *service, int number,
             char *const *args, FILE *out, int *ret_status, struct stk_err *err);

/*
 * Prints the host address ("IP:PORT") that PRIVATE_PORT/PROTOCOL ("tcp",
 * "udp") of replica NUMBER of SERVICE is published on, as `docker compose
 * port` does; an ephemeral host port shows the one chosen at attach.
 * STK_ENOENT when there is no such container or the port is not published.
 */
int cli_port(struct rec_env *env, const char *project, const char *service, int number,
             unsigned private_port, const char *protocol, FILE *out, struct stk_err *err);

/*
 * Prints the processes of SERVICE's running containers (every service when
 * NULL) with each container's isolation and host PID: the container's init
 * for process isolation; 0 for a hyperv container on HCS, whose process runs
 * in the utility VM (the host worker's PID is not known to the driver).
 */
int cli_top(struct rec_env *env, const char *project, const char *service, FILE *out,
            struct stk_err *err);

/* Prints SERVICE's containers (all when NULL) as observed, as JSON. */
int cli_inspect(struct rec_env *env, const char *project, const char *service, FILE *out,
                struct stk_err *err);

/*
 * Records that container ID exited (called by its monitor through `stack
 * internal container-exited ID`) and applies its restart policy: when it must
 * restart, stores the backoff delay in *RET_DELAY_MS (milliseconds), else -1.
 * A container stopped on purpose (down, recreate) is never restarted. The
 * caller waits the delay without holding the store's lock, then calls
 * cli_container_restart().
 */
int cli_container_exited(struct rec_env *env, const char *id, int64_t *ret_delay_ms,
                         struct stk_err *err);

/* Starts exited container ID again, unless its record changed meanwhile. */
int cli_container_restart(struct rec_env *env, const char *id, struct stk_err *err);

#endif
