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

/*
 * Several runtime drivers at once, behind one context (the VM driver runs
 * hyperv services next to the oci driver's process ones): returns a new
 * context (free with rt_ctx_free(), before its members) whose create picks
 * the member BY_ISOLATION[spec->isolation] (an array of _RT_ISOLATION_MAX
 * borrowed contexts, NULL where no driver runs that isolation; one context
 * may serve several), whose list and host_info merge every member's answers
 * (the first member describes the host, each adds its isolations), and whose
 * other operations go to the member that listed or created the container
 * (the first member for an id none of them reported yet). Every member must
 * run on LOOP. NULL with STK_EINVAL when no member is given.
 */
struct rt_ctx *rec_runtimes_new(uv_loop_t *loop, struct rt_ctx *const by_isolation[],
                                struct stk_err *err);

/*
 * The member of the composite CTX (rec_runtimes_new()) that runs ISOLATION,
 * borrowed; NULL when none does or CTX is a single driver's context.
 */
struct rt_ctx *rec_runtimes_member(struct rt_ctx *ctx, enum rt_isolation isolation);

/* Returns the product version ("0.1.0"), static. */
const char *rec_version(void);

/*
 * Where the library reports (it never prints): PROGRESS receives one
 * progress line at a time ("Container t-web-1  Started", no newline),
 * borrowed for the call, on the loop thread. NULL: nothing is reported.
 */
typedef void rec_progress_fn(void *userdata, const char *line);

struct rec_sink {
    rec_progress_fn *progress;
    void *userdata; /* borrowed, given back to every callback */
};

/* What a pass works with; every pointer is borrowed. */
struct rec_env {
    uv_loop_t *loop;
    struct rt_ctx *rt;
    struct net_ctx *net;
    struct rt_image_store *images;
    struct store *store;
    const char *state_dir;
    const char *run_dir;
    struct rec_sink sink;    /* where progress goes; the CLI prints it on stderr */
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
 * Removes PROJECT's volumes (named and anonymous) that the store recorded,
 * with their data (`down --volumes`). Run after cli_down(). Returns the first
 * error after trying every volume.
 */
int rec_volumes_remove(struct rec_env *env, const char *project, struct stk_err *err);

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
