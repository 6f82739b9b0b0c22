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
#include "orchestrator/rec/rec-plan.h"
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

/*
 * Converges the host to PROJECT: checks every service's isolation against the
 * runtime's host_info and resolves every image for that host's platform (its
 * os and, on Windows, its build selects among an image index's entries)
 * before anything is created (an image that does not exist, an image of
 * another OS, or an isolation or Windows build this host cannot run is
 * STK_ENOENT/STK_EUNAVAIL naming the service: exit status 1). An image
 * reference missing from the store is pulled first (cli_image_pull()) unless
 * the service's pull_policy is "never"; "always" pulls it even when present;
 * with OPTS->dry_run nothing is pulled and the plan shows "pull image NAME"
 * instead. Then it plans
 * the actions (rec-plan.h) and runs them on the loop, independent branches in
 * parallel and starts in depends_on order with its conditions. Containers
 * whose stack.hash label equals the desired hash and that run are left
 * untouched, so a second `up` with nothing changed makes no mutating runtime
 * call. With OPTS->dry_run the plan is printed and nothing runs. On failure
 * returns the error of the first failed action, naming the service; what was
 * created stays recorded.
 */
int cli_up(struct rec_env *env, const struct spec_project *project, const struct rec_up_opts *opts,
           struct stk_err *err);

/*
 * Pulls the image REF into ENV->images from its registry (rt_image_pull()),
 * for the runtime's host platform (its os and, on Windows, its build; the
 * build's own platform when ENV->rt is NULL). The blocking transfer runs on a
 * uv_queue_work worker while ENV->loop turns; "Image REF  Pulling" and
 * "Image REF  Pulled" go to ENV->sink. Errors: rt_image_pull()'s, and the
 * runtime's host_info errors.
 */
int cli_image_pull(struct rec_env *env, const char *ref, struct stk_err *err);

/*
 * `stack pull`: pulls the image of every service of PROJECT, each distinct
 * reference once, as cli_image_pull(). Services whose image is an image
 * layout path, or whose pull_policy is "never", are skipped. Returns the
 * first error after trying every image.
 */
int cli_pull(struct rec_env *env, const struct spec_project *project, struct stk_err *err);

/*
 * Removes everything of PROJECT that the runtime lists with its labels, that
 * the network plug-in lists for it, or that the store recorded: containers
 * (stopped with their grace period, then deleted), sandboxes, endpoints and
 * networks. Idempotent. Returns the first error, after trying everything.
 */
int cli_down(struct rec_env *env, const char *project, struct stk_err *err);

/*
 * `stack stop` (START 0) and `stack start` (START 1): stops the running
 * containers of SERVICES (NULL-terminated names; NULL or empty: every
 * service), dependants first, each given GRACE_MS milliseconds after its
 * stop signal before SIGKILL; or starts the stopped ones, dependencies first
 * (cli_plan_build_stop_start()). Containers stopped here are not restarted by
 * their restart policy; `up` starts them again. Returns 0 or the first
 * failure's code.
 */
int cli_stop_start(struct rec_env *env, const char *project, const char *const *services, int start,
                   uint64_t grace_ms, struct stk_err *err);

/*
 * The observe phase: fills *RET with PROJECT's observed state (the runtime's
 * listing, the store, the plug-in's inventory). Release with
 * rec_observed_release(). Errors: the runtime's and the plug-in's list
 * errors ("list containers: ...", "list networks: ...").
 */
int cli_observe(struct rec_env *env, const char *project, struct rec_observed *ret,
                struct stk_err *err);

/*
 * Builds the plan that converges PROJECT from the observed state (the
 * runtime's listing and the plug-in's inventory, joined with the store).
 * Checks isolation and images first (STK_EUNAVAIL / STK_ENOENT naming the
 * service; nothing created). An image reference missing from the store is
 * pulled (cli_image_pull()) unless its service's pull_policy is "never"
 * ("always": pulled even when present); with OPTS->dry_run nothing is pulled,
 * the change "pull image NAME" is listed and images[i] stays NULL for it. On
 * success stores a new plan in *RET_PLAN (free with rec_plan_free()).
 */
int cli_plan_build(struct rec_env *env, const struct spec_project *project,
                   const struct rec_up_opts *opts, struct rec_plan **ret_plan, struct stk_err *err);

/* Builds the plan that removes everything of PROJECT (down). */
int cli_plan_build_down(struct rec_env *env, const char *project, struct rec_plan **ret_plan,
                        struct stk_err *err);

/*
 * Builds the plan of `stack stop` (START 0: stop the running containers of
 * SERVICES, every service when NULL or empty, dependants first, each with
 * its service's stop signal and GRACE_MS milliseconds before SIGKILL, or its
 * service's stop_grace_period (labels RT_LABEL_STOP_*; 10 s without one) when
 * GRACE_MS is REC_GRACE_OF_SERVICE) or `stack start` (START 1:
 * start the stopped ones, dependencies first). The order comes from the
 * containers' RT_LABEL_DEPENDS_ON labels. Stopped containers stay, and a
 * later `up` starts them again (docker compose's stop/start).
 */
int cli_plan_build_stop_start(struct rec_env *env, const char *project, const char *const *services,
                              int start, uint64_t grace_ms, struct rec_plan **ret_plan,
                              struct stk_err *err);

/* Prints the plan for a person: what changes and why, then the action count. */
void cli_plan_print(const struct rec_plan *plan, FILE *out);

/*
 * Runs PLAN on ENV's loop (rec_plan_apply_start()) until it is done, with
 * SIGINT cancelling it (rec_apply_cancel()) meanwhile. Returns 0 or the
 * failure's code.
 */
int cli_plan_apply(struct rec_env *env, struct rec_plan *plan, const struct rec_apply_opts *opts,
                   struct stk_err *err);

/* A rec_progress_fn that prints LINE and a newline on USERDATA (a FILE *) and flushes it. */
void cli_progress_print(void *userdata, const char *line);

#endif
