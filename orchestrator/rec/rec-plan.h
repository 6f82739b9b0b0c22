/*
 * rec-plan.h - the plan: a DAG of atomic actions computed from the desired
 * project and the observed state (DESIGN.md §3), and its executor on the
 * libuv loop. Private to orchestrator/; the CLI reaches it through rec.h.
 *
 * Every action is one runtime or network plug-in call (or a wait on a
 * dependency condition), so that each mutation is exactly one intent.
 * Edges: network before endpoint; sandbox before endpoint before container;
 * create before start; depends_on conditions gate a dependant's start;
 * network_mode: service:X joins X's sandbox (and X's container identity is in
 * the joiner's runtime hash); a replaced container's removal comes before its
 * replacement's endpoint (stop-first) or after its replacement is ready
 * (start-first); a sandbox is removed after every container in it.
 */
#ifndef REC_PLAN_H
#define REC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "netplugins/net-plugin.h"
#include "orchestrator/rec/rec.h"
#include "orchestrator/store/store.h"
#include "runtime/rt-driver.h"

struct spec_project;
struct spec_service;
struct rt_image;
struct json_t;

#define REC_ACTION_MAP(X)                                                                          \
    X(NETWORK_CREATE, "network.create")                                                            \
    X(NETWORK_REMOVE, "network.remove")                                                            \
    X(SANDBOX_CREATE, "sandbox.create")                                                            \
    X(ENDPOINT_CONNECT, "endpoint.connect")                                                        \
    X(CONTAINER_CREATE, "container.create")                                                        \
    X(CONTAINER_START, "container.start")                                                          \
    X(WAIT_HEALTHY, "wait.healthy")                                                                \
    X(WAIT_EXIT, "wait.completed")                                                                 \
    X(CONTAINER_STOP, "container.stop")                                                            \
    X(CONTAINER_REMOVE, "container.remove")                                                        \
    X(SANDBOX_REMOVE, "sandbox.remove")

enum rec_action_kind {
#define REC__ACT_ENUM(n, s) REC_A_##n,
    REC_ACTION_MAP(REC__ACT_ENUM)
#undef REC__ACT_ENUM
        _REC_A_MAX,
};

/* Returns the stable name of K ("container.create"). */
const char *rec_action_kind_to_string(enum rec_action_kind k);

enum rec_action_state {
    REC_AS_PENDING,
    REC_AS_RUNNING,
    REC_AS_DONE,
    REC_AS_FAILED,
    REC_AS_SKIPPED, /* never started: a failure or an interrupt came first */
};

/* A container the plan creates. */
struct rec_slot {
    int svc;                     /* index in the project's services */
    int number;                  /* replica number, from 1 */
    char *id;                    /* runtime id: NAME-xxxxxx */
    char *name;                  /* PROJECT-SERVICE-N */
    char hash[65];               /* runtime hash (spec hash + service: targets) */
    char *spec_json;             /* canonical JSON, kept in the store for plan reasons */
    enum rt_isolation isolation; /* resolved */
    char *sandbox_id;            /* the sandbox it runs in: its own id, or its owner's */
    int owns_sandbox;            /* non-zero: SANDBOX_CREATE makes SANDBOX_ID */
    size_t sandbox_from; /* late binding: the SANDBOX_CREATE action (its own, or its owner's)
                            whose result gives the sandbox handle and the hosts and resolv.conf
                            paths of the container's spec; SIZE_MAX: none */
    int owner_slot;      /* slot whose sandbox this one joins, -1 */
    char *ports;         /* ps text */
    int hash_deferred;   /* HASH and SPEC_JSON are computed at create time: nothing of this
                            service was observed, so nothing compares them */
    char *hash_netns;    /* the ids the runtime hash pins (network_mode, ipc and pid */
    char *hash_ipc;      /* service:X references), kept for a deferred hash */
    char *hash_pid;
    char *ipc_ref; /* "container:ID" for ipc: service:X, else NULL */
    char *pid_ref; /* "container:ID" for pid: service:X, else NULL */
};

struct rec_action {
    enum rec_action_kind kind;
    int svc; /* service index, -1 */
    int number;
    int slot;      /* index in plan->slots, -1 */
    char *object;  /* container id, sandbox id or network name */
    char *service; /* service name for messages, may be NULL */
    size_t *deps;  /* indices of actions that must be done first */
    size_t n_deps;
    size_t alloc_deps;
    uint64_t grace_ms; /* CONTAINER_STOP */
    int signal;        /* CONTAINER_STOP: the stop signal, 0: the service's (SIGTERM without one) */
    char *name;        /* the container's name for progress lines when there is no slot, or NULL */
    char **targets;    /* WAIT_*: NULL-terminated container ids of the service's replicas */
    char *in_sandbox;  /* CONTAINER_REMOVE: the sandbox the container runs in */
    /* execution */
    enum rec_action_state state;
    size_t waiting; /* deps not yet done */
    int64_t intent;
    void *req; /* the in-flight rt_req or net_req */
    int is_net;
    int failures; /* WAIT_HEALTHY: consecutive failed checks */
    int64_t started_ns;
    struct net_sandbox_info result_sb; /* SANDBOX_CREATE: its result once done, which the
                                          references of later actions name (sandbox_from) */
};

/* What the human and JSON plan show: one line per service slot that changes. */
struct rec_change {
    char *verb;   /* "create", "recreate", "start", "remove" */
    char *what;   /* "web-1", "network example_default" */
    char *reason; /* "config hash changed (environment.FOO)" */
};

struct rec_plan {
    char *project;
    const struct spec_project *spec; /* borrowed, NULL for down */
    struct rec_action *actions;
    size_t n_actions;
    size_t alloc_actions;
    struct rec_slot *slots;
    size_t n_slots;
    size_t alloc_slots;
    struct rec_change *changes;
    size_t n_changes;
    size_t alloc_changes;
    struct rt_image **images; /* per service; services naming one image share it; NULL
                                 for an image a dry-run plan would pull */
    char *image_owned;        /* per service: non-zero where images[i] is owned */
    size_t n_images;
    struct stk_err failure; /* the first failed action's error */
    char host_os[16];       /* "linux" or "windows", from the runtime's host_info */
    char **idle; /* stop: selected containers that do not run (a restart policy's backoff may
                    be pending), NULL-terminated or NULL; cli_stop_start() marks them stopped */
};

/* Options of rec_plan_apply_start(). */
struct rec_apply_opts {
    unsigned parallel;   /* at most this many actions at once; 0: unlimited */
    uint64_t timeout_ms; /* per action (waits excluded); 0: the defaults */
};

/*
 * What one pass observed (the observe phase): the project's containers from
 * the runtime, the store's records, the network plug-in's inventory, and the
 * sandboxes and networks the store recorded. Everything is owned; release
 * with rec_observed_release().
 */
struct rec_observed {
    struct rt_container_list containers; /* the project's containers (label stack.project) */
    struct store_container *rows;        /* the store's container rows of the project */
    size_t n_rows;
    struct net_inventory inv;  /* every network, sandbox and endpoint the plug-in lists */
    char **sandboxes_recorded; /* NULL-terminated, or NULL */
    char **networks_recorded;  /* NULL-terminated, or NULL */
};

/* Frees what O owns and zeroes it; NULL-safe. */
void rec_observed_release(struct rec_observed *o);

/*
 * The pure diff of `up` (DESIGN.md §3): appends to PLAN (whose spec is the
 * desired project; rec_plan_new() or the prepare phase of cli_plan_build())
 * the changes and actions that converge the observed state OBS to it. ISO is
 * each service's resolved isolation (NULL: process for all). No I/O, no loop,
 * no driver: the same inputs give the same plan, but for the random suffix
 * of new container ids. OBS is borrowed and must outlive nothing: the plan
 * copies what it keeps. Returns 0; STK_EINVAL when PLAN has no project.
 */
int rec_plan_diff(struct rec_plan *plan, const enum rt_isolation *iso,
                  const struct rec_observed *obs, const struct rec_up_opts *opts,
                  struct stk_err *err);

/* The pure diff of `down`: the plan that removes everything of PROJECT in OBS. */
int rec_plan_diff_down(const char *project, const struct rec_observed *obs,
                       struct rec_plan **ret_plan, struct stk_err *err);

/* The pure diff of `stop` and `start`; see cli_plan_build_stop_start(). */
int rec_plan_diff_stop_start(const char *project, const struct rec_observed *obs,
                             const char *const *services, int start, uint64_t grace_ms,
                             struct rec_plan **ret_plan, struct stk_err *err);

/*
 * An empty plan for PROJECT (borrowed; must outlive the plan), to give to
 * rec_plan_diff(). Free with rec_plan_free().
 */
struct rec_plan *rec_plan_new(const struct spec_project *project);

#define REC_GRACE_OF_SERVICE UINT64_MAX

/* The end of an asynchronous run: R 0 or the failure's code, ERR (borrowed) on failure. */
typedef void rec_done_fn(int r, const struct stk_err *err, void *userdata);

/* A running apply (rec_plan_apply_start()). */
struct rec_apply;

/*
 * Starts executing PLAN on env->loop, the caller's: actions whose
 * dependencies are done run in parallel (at most OPTS->parallel), each as one
 * asynchronous driver or plug-in call recorded as an intent. A failed
 * action's dependants are skipped while independent branches go on (move
 * forward, never retry). Returns at once: 0 with *RET_APPLY (may be NULL;
 * valid until DONE runs) once the run has started, or STK_EINVAL. DONE is
 * called exactly once, on the loop, after this returns, with 0 or the first
 * failure's error (naming the action and the service), STK_ECANCELED after
 * rec_apply_cancel(). PLAN and ENV must outlive the run. No loop is run,
 * no signal handler installed and nothing printed: progress goes to
 * ENV->sink.
 */
int rec_plan_apply_start(struct rec_env *env, struct rec_plan *plan,
                         const struct rec_apply_opts *opts, rec_done_fn *done, void *userdata,
                         struct rec_apply **ret_apply, struct stk_err *err);

/*
 * Cancels APPLY: the running requests are cancelled and nothing new starts;
 * DONE then reports STK_ECANCELED ("interrupted: the next run resumes").
 * NULL-safe; a second call does nothing.
 */
void rec_apply_cancel(struct rec_apply *apply);

/* Appends the change VERB WHAT (REASON) to what PLAN shows a person; strings are copied. */
void rec_plan_add_change(struct rec_plan *plan, const char *verb, const char *what,
                         const char *reason);

/* Number of mutating actions (every kind but the waits). */
size_t rec_plan_mutations(const struct rec_plan *plan);

/* Returns the plan as JSON (a new reference): changes and the action DAG. */
struct json_t *rec_plan_to_json(const struct rec_plan *plan);

/*
 * The runtime hash (DESIGN.md §3) into OUT: the spec hash SPEC_HASH, or, when
 * the service shares a namespace with other containers, SHA-256 of it with
 * their runtime ids (NETNS, IPC, PID; each may be NULL).
 */
void rec_runtime_hash(const char *spec_hash, const char *netns, const char *ipc, const char *pid,
                      char out[65]);

/* Fills SLOT's deferred runtime hash and canonical JSON from SVC (see hash_deferred). */
void rec_slot_hash(struct rec_slot *slot, const struct spec_service *svc);

/* Frees PLAN; NULL-safe. */
void rec_plan_free(struct rec_plan *plan);

#endif
