/*
 * rec.h - the reconciler (DESIGN.md §3): observe the runtime, compare with
 * the desired stack, and converge — plus the read-only views the CLI shows.
 *
 * Observed state always comes from the runtime's own listing (containers
 * carrying the stack.* labels) and the network plug-in's inventory, joined
 * with the store's records; the store alone is never trusted. Every runtime
 * mutation is written as an intent before it is sent and marked done after
 * (store_intent_begin/end), so that what a failed or interrupted `up` created
 * is always recorded and `down` removes it.
 */
#ifndef REC_H
#define REC_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/stk-err.h"
#include "runtime/rt-driver.h"

struct rt_ctx;
struct net_ctx;
struct rt_image_store;
struct store;
struct spec_project;
struct rec_env;

/*
 * The hand-off between a runtime driver and a network plug-in (DESIGN.md
 * layers: neither includes the other). Embedded by whoever holds both
 * contexts; it must outlive the runtime context it is given to.
 */
struct rec_net_peer {
    struct rt_net_peer table; /* what the driver's set_net_peer op receives */
    struct net_ctx *net;      /* borrowed */
};

/*
 * Connects RT and NET through PEER when the driver takes a network peer
 * (the set_net_peer op: hcs) and the plug-in lists a namespace's endpoints
 * (the namespace_endpoints op: hns); no backend is named. Returns 1 when
 * connected, 0 when either side needs or offers nothing.
 */
int rec_net_peer_connect(struct rec_net_peer *peer, struct rt_ctx *rt, struct net_ctx *net);

/*
 * Records the intent of one runtime or plug-in mutation (ACTION "container.start",
 * OBJECT its id) in the store before it is sent; stores its sequence number in
 * *RET_SEQ. The crash tests' first boundary: with STACK_FAULT_INTENT=N the
 * process aborts right after intent k is recorded, N = 2k-1. Errors: the store's.
 */
int rec_intent_begin(struct rec_env *env, const char *project, const char *action,
                     const char *object, int64_t *ret_seq, struct stk_err *err);
/*
 * Marks intent SEQ done (FAILURE NULL or code 0) or failed with FAILURE's
 * message. The second boundary: STACK_FAULT_INTENT=2k aborts before intent
 * k is marked.
 */
int rec_intent_end(struct rec_env *env, int64_t seq, const struct stk_err *failure,
                   struct stk_err *err);

/* Returns the product version ("0.1.0"), static. */
const char *rec_version(void);

/* What a pass works with; every pointer is borrowed. */
struct rec_env {
    uv_loop_t *loop;
    struct rt_ctx *rt;
    struct net_ctx *net;
    struct rt_image_store *images;
    struct store *store;
    const char *state_dir;
    const char *run_dir;
    FILE *progress;          /* where progress lines go (stderr), NULL for none */
    unsigned long mutations; /* runtime and plug-in calls that change something, counted */
    unsigned long reads;     /* calls that only observe */
    unsigned intents;        /* intents recorded by this process (fault injection counts them) */
    int64_t first_intent;    /* store sequence number of this process's first intent */
};

struct rec_up_opts {
    int remove_orphans;  /* remove containers of services no longer in the stack */
    int dry_run;         /* plan and print, mutate nothing */
    int json;            /* with dry_run: print the plan as JSON */
    unsigned parallel;   /* at most this many actions at once; 0: unlimited */
    uint64_t timeout_ms; /* per action; 0: the defaults */
    int wait;            /* --wait: also wait until every service with a health check is healthy */
    int allow_newer_hyperv; /* lift the same-or-older policy for Hyper-V images (Windows) */
};

/*
 * Converges the host to PROJECT: checks every service's isolation against the
 * runtime's host_info and resolves every image for that host's platform (its
 * os and, on Windows, its build selects among an image index's entries)
 * before anything is created (an image that does not exist, an image of
 * another OS, or an isolation or Windows build this host cannot run is
 * STK_ENOENT/STK_EUNAVAIL naming the service: exit status 1). An image
 * reference missing from the store is pulled first (rec_image_pull()) unless
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
int rec_up(struct rec_env *env, const struct spec_project *project, const struct rec_up_opts *opts,
           struct stk_err *err);

/*
 * Pulls the image REF into ENV->images from its registry (rt_image_pull()),
 * for the runtime's host platform (its os and, on Windows, its build; the
 * build's own platform when ENV->rt is NULL). The blocking transfer runs on a
 * uv_queue_work worker while ENV->loop turns; "Image REF  Pulling" and
 * "Image REF  Pulled" go to ENV->progress. Errors: rt_image_pull()'s, and the
 * runtime's host_info errors.
 */
int rec_image_pull(struct rec_env *env, const char *ref, struct stk_err *err);

/*
 * `stack pull`: pulls the image of every service of PROJECT, each distinct
 * reference once, as rec_image_pull(). Services whose image is an image
 * layout path, or whose pull_policy is "never", are skipped. Returns the
 * first error after trying every image.
 */
int rec_pull(struct rec_env *env, const struct spec_project *project, struct stk_err *err);

/*
 * Removes everything of PROJECT that the runtime lists with its labels, that
 * the network plug-in lists for it, or that the store recorded: containers
 * (stopped with their grace period, then deleted), sandboxes, endpoints and
 * networks. Idempotent. Returns the first error, after trying everything.
 */
int rec_down(struct rec_env *env, const char *project, struct stk_err *err);

/*
 * Removes PROJECT's volumes (named and anonymous) that the store recorded,
 * with their data (`down --volumes`). Run after rec_down(). Returns the first
 * error after trying every volume.
 */
int rec_volumes_remove(struct rec_env *env, const char *project, struct stk_err *err);

/*
 * `stack stop` (START 0) and `stack start` (START 1): stops the running
 * containers of SERVICES (NULL-terminated names; NULL or empty: every
 * service), dependants first, each given GRACE_MS milliseconds after its
 * stop signal before SIGKILL; or starts the stopped ones, dependencies first
 * (rec_plan_build_stop_start()). Containers stopped here are not restarted by
 * their restart policy; `up` starts them again. Returns 0 or the first
 * failure's code.
 */
int rec_stop_start(struct rec_env *env, const char *project, const char *const *services, int start,
                   uint64_t grace_ms, struct stk_err *err);

/*
 * The restart decision (Docker engine semantics): POLICY "no", "always",
 * "unless-stopped", "on-failure[:N]"; EXIT_CODE of the run that ended;
 * RESTARTS so far; RAN_MS how long it ran. Returns 1 with *RET_DELAY_MS =
 * BASE_MS doubled per restart, capped at MAX_MS, and *RET_RESTARTS the new
 * count — the count starts over after a run of 10 s or more — or 0 when the
 * container stays stopped.
 */
int rec_restart_decide(const char *policy, int exit_code, int restarts, int ran_ms, int64_t base_ms,
                       int64_t max_ms, int64_t *ret_delay_ms, int *ret_restarts);

#endif
