/*
 * rt-fake.h - the scriptable in-memory runtime driver (STYLE.md rules 27, 34, 35).
 *
 * `rt_driver_fake` (name "fake") implements every operation of rt-driver.h
 * without running anything. It is what the reconciler's unit tests use, and
 * what `stack --runtime fake` uses for end-to-end tests without runc or HCS.
 *
 * Model. A container has an id, a name, labels, an isolation, a command line
 * (the spec's process.args joined by spaces), a state (created, running,
 * stopped), a fake but unique PID while running (0 otherwise), an exit code
 * once stopped, and creation/start/finish timestamps (CLOCK_REALTIME, ns).
 * Named volumes are a set of names. The rules follow runc, not Docker:
 *   create   STK_EEXIST for a known id; STK_EUNAVAIL for hyperv isolation when
 *            the fake host does not offer it (see rt_fake_set_hyperv()).
 *   start    created -> running, and stopped -> running again (the driver
 *            contract: an exited container starts again from its bundle, as
 *            `docker start` does); running is STK_EINVAL.
 *   kill     signal 0 only checks; any other signal stops a running container
 *            with exit code 128 + signal. Not running is STK_EINVAL.
 *   stop     running -> stopped with exit code 128 + signal, at once (the
 *            grace period is not waited); created -> stopped without an exit
 *            code; stopped succeeds (idempotent).
 *   delete   removes the container, running or not; a missing id succeeds.
 *   state    RT_RESULT_INFO, or STK_ENOENT.
 *   list     RT_RESULT_LIST of every container, in creation order.
 *   exec     running containers only (STK_EINVAL otherwise): RT_RESULT_EXEC
 *            with a scripted exit code and output (rt_fake_script_exec()),
 *            exit 0 and "" by default.
 *   logs     RT_RESULT_LOGS naming STATE_DIR/fake-logs/ID.log, created empty
 *            when missing (STK_ENOTSUP when the context has no state dir).
 *   top      RT_RESULT_TOP: "PID CMD\n<pid> <command>\n" for a running one.
 *   volume_* idempotent create/remove in the volume set.
 *   host_info available, os "linux", runtime "fake", isolations process (plus
 *            hyperv when enabled), default isolation process unless changed.
 * The fake does not run a spec's exit_command; in-process tests observe exits
 * through rt_fake_set_exit_hook().
 *
 * Asynchronous contract (rt-driver.h). Arguments are checked at the call
 * (NULL id, spec or done: STK_EINVAL returned at once, DONE never called);
 * the operation itself takes effect when it completes, on a uv_timer of the
 * context's loop that fires after the op has returned (after the scripted
 * delay, 0 ms by default; ops with equal delays complete in call order).
 * rt_req_cancel() before completion makes DONE report STK_ECANCELED, on the
 * next loop iteration, and the operation has no effect. rt_ctx_free() with
 * requests still pending calls their DONE with STK_ECANCELED from fini.
 *
 * Scripting. Every function below takes a context of the fake driver and
 * returns STK_EINVAL (with ERR filled) for any other context or bad
 * arguments. Rules are kept in the order they were added; for exec and exit
 * scripts the first matching rule with uses left wins. A MATCH string selects
 * containers: NULL or "*" matches every container; otherwise it matches a
 * container whose runtime id, user-facing name or RT_LABEL_SERVICE label
 * equals it (for volume ops, the volume name). A rule with a non-"*" MATCH
 * never matches host_info or list. Rules and counters live in memory only;
 * they are not saved in the state file.
 *
 * State file (crash tests, `stack --runtime fake` across invocations).
 * rt_fake_set_state_file() loads the file when it exists and from then on
 * rewrites it atomically (stk_file_write_atomic, no fsync: it survives
 * abort(), not a power cut) after every mutation. It holds the containers,
 * the volumes, the next PID, and the deadline of any scripted exit, so that a
 * container scheduled to exit while no process was running is found stopped
 * (with that exit code and finish time) at the next load. When the file
 * cannot be written, the op that mutated reports the STK_EIO error through
 * DONE although its in-memory effect has happened.
 *
 * Environment, read by init (so by every `stack --runtime fake` run):
 *   STACK_FAKE_STATE=PATH      as rt_fake_set_state_file(PATH).
 *   STACK_FAKE_FAIL=RULE[,RULE...] with RULE = OP:N[+][:CODE[:MESSAGE]]
 *                              fails the Nth call of OP (N+: the Nth and every
 *                              later one) asynchronously. OP is an op name
 *                              ("create", "volume_create"), "any" or
 *                              "mutating"; CODE is an STK_E* name with or
 *                              without "STK_" ("ERUNTIME") or its
 *                              stk_strerror() text ("runtime failure"),
 *                              default ERUNTIME; MESSAGE runs to the next ','
 *                              and may contain ':'. Example:
 *                              STACK_FAKE_FAIL="create:5:runtime failure".
 *   STACK_FAKE_DELAY_MS=D | OP:D[,OP:D...]   delay every op, or the named ops.
 *   STACK_FAKE_HYPERV=1        offer hyperv isolation.
 *   STACK_FAKE_DEFAULT_ISOLATION=process|hyperv
 *   STACK_FAKE_EXIT=MATCH:CODE:AFTER_MS[,...]  as rt_fake_script_exit(), forever.
 *   STACK_FAKE_EXEC=MATCH:CODE[,...]           as rt_fake_script_exec() for
 *                              every command, output "", forever ("health
 *                              check always fails": STACK_FAKE_EXEC="db:1").
 * A malformed variable makes init (so rt_ctx_new) fail with STK_EINVAL
 * naming it.
 */
#ifndef RT_FAKE_H
#define RT_FAKE_H

#include <stdint.h>

#include "runtime/rt-driver.h"

/* The driver descriptor, registered in runtime/rt-driver.c as "fake". */
extern const struct rt_driver rt_driver_fake;

/*
 * The operations of the driver as the scripting API names them; the third
 * column says whether the op mutates runtime state (exec, like state and
 * list, does not change a container and counts as read-only).
 */
#define RT_FAKE_OP_MAP(X)                                                                          \
    X(HOST_INFO, "host_info", 0)                                                                   \
    X(CREATE, "create", 1)                                                                         \
    X(START, "start", 1)                                                                           \
    X(KILL, "kill", 1)                                                                             \
    X(STOP, "stop", 1)                                                                             \
    X(DELETE, "delete", 1)                                                                         \
    X(STATE, "state", 0)                                                                           \
    X(LIST, "list", 0)                                                                             \
    X(EXEC, "exec", 0)                                                                             \
    X(LOGS, "logs", 0)                                                                             \
    X(TOP, "top", 0)                                                                               \
    X(VOLUME_CREATE, "volume_create", 1)                                                           \
    X(VOLUME_REMOVE, "volume_remove", 1)

enum rt_fake_op {
#define RT__FAKE_OP_ENUM(n, s, m) RT_FAKE_OP_##n,
    RT_FAKE_OP_MAP(RT__FAKE_OP_ENUM)
#undef RT__FAKE_OP_ENUM
        _RT_FAKE_OP_MAX,
    RT_FAKE_OP_ANY = -1,      /* selector: every op */
    RT_FAKE_OP_MUTATING = -2, /* selector: every op whose third column is 1 */
    _RT_FAKE_OP_INVALID = -22,
};

/* Returns "create", "any", "mutating"...; NULL for an invalid value. */
const char *rt_fake_op_to_string(enum rt_fake_op op);
/* Parses an op name or "any"/"mutating"; _RT_FAKE_OP_INVALID when unknown. */
enum rt_fake_op rt_fake_op_from_string(const char *s);

/* A failure to inject (rt_fake_fail_add()). */
struct rt_fake_fail {
    enum rt_fake_op op;  /* the op, or RT_FAKE_OP_ANY / RT_FAKE_OP_MUTATING */
    const char *match;   /* container selector (see top); NULL: every call */
    unsigned nth;        /* 1-based: the Nth call selected by OP and MATCH since the rule was
                            added is the first to fail */
    unsigned count;      /* how many consecutive selected calls fail from the Nth; 0: all */
    int code;            /* the STK_E* code to report (negative); 0 means STK_ERUNTIME */
    const char *message; /* the error message; NULL: "injected failure" */
    int immediate;       /* non-zero: the op returns the error at once (DONE never called);
                            zero: the op starts and DONE reports the error */
};

/*
 * Adds a failure rule. RULE and its strings are copied. Every call of an op
 * advances every rule whose OP and MATCH select it; a call fails with the
 * first rule (in order of addition) whose window [nth, nth + count) contains
 * its counter. The failed call has no effect on the fake's state.
 * Returns 0, or STK_EINVAL for nth 0, a positive code or an invalid op.
 */
int rt_fake_fail_add(struct rt_ctx *ctx, const struct rt_fake_fail *rule, struct stk_err *err);

/* Shorthand: fail the Nth call of OP (any container) asynchronously with CODE and MESSAGE. */
int rt_fake_fail_nth(struct rt_ctx *ctx, enum rt_fake_op op, unsigned nth, int code,
                     const char *message, struct stk_err *err);

/* Removes every failure rule. */
int rt_fake_fail_clear(struct rt_ctx *ctx, struct stk_err *err);

/*
 * Completes every later call of OP (or of every op for RT_FAKE_OP_ANY) DELAY_MS
 * milliseconds after it was made instead of on the next loop iteration. A
 * specific op's delay overrides the RT_FAKE_OP_ANY one; 0 resets it.
 */
int rt_fake_set_delay(struct rt_ctx *ctx, enum rt_fake_op op, uint64_t delay_ms,
                      struct stk_err *err);

/*
 * Makes a container selected by MATCH exit with EXIT_CODE AFTER_MS milliseconds
 * after it starts (after a successful start completes). COUNT is how many
 * starts the rule applies to, 0 for all ("crashes on every start", for
 * restart policies; exit code 0 for service_completed_successfully).
 */
int rt_fake_script_exit(struct rt_ctx *ctx, const char *match, int exit_code, uint64_t after_ms,
                        unsigned count, struct stk_err *err);

/*
 * Scripts the result of exec in containers selected by MATCH when the exec'd
 * argv, joined by single spaces, starts with COMMAND at a word boundary
 * (COMMAND NULL: every command). The exec completes after DURATION_MS (plus
 * any op delay) with EXIT_CODE and OUTPUT (copied; NULL is ""); when the
 * caller's timeout_ms is non-zero and below DURATION_MS it completes after the
 * timeout with STK_ETIMEDOUT instead. COUNT is how many execs the rule
 * answers, 0 for all: a count-3 rule exiting 1 followed by a count-0 rule
 * exiting 0 is "fails three health checks, then passes".
 */
int rt_fake_script_exec(struct rt_ctx *ctx, const char *match, const char *command, int exit_code,
                        const char *output, uint64_t duration_ms, unsigned count,
                        struct stk_err *err);

/*
 * Called on the loop thread each time a running container stops (a scripted
 * exit, kill, stop, delete of a running one, or rt_fake_container_exit()),
 * after the fake's state (and state file) are updated. ID is borrowed.
 */
typedef void rt_fake_exit_fn(struct rt_ctx *ctx, const char *id, int exit_code, void *userdata);

/* Sets (or with FN NULL clears) the exit hook. */
int rt_fake_set_exit_hook(struct rt_ctx *ctx, rt_fake_exit_fn *fn, void *userdata,
                          struct stk_err *err);

/*
 * Makes the running container ID exit now with EXIT_CODE, synchronously (the
 * exit hook runs before this returns): a crash behind the orchestrator's
 * back. STK_ENOENT for an unknown id, STK_EINVAL when it is not running.
 */
int rt_fake_container_exit(struct rt_ctx *ctx, const char *id, int exit_code, struct stk_err *err);

/* Returns the last signal sent to ID by kill or stop, 0 if none, -1 for an unknown id. */
int rt_fake_last_signal(struct rt_ctx *ctx, const char *id);

/* Returns 1 when the volume NAME exists, else 0. */
int rt_fake_volume_exists(struct rt_ctx *ctx, const char *name);

/*
 * Returns the number of calls made so far of OP (or of every op for
 * RT_FAKE_OP_ANY, of every mutating op for RT_FAKE_OP_MUTATING), counting
 * every call that reached the driver, including calls that failed or were
 * canceled. 0 for a context of another driver.
 */
unsigned rt_fake_calls(struct rt_ctx *ctx, enum rt_fake_op op);

/* Resets every call counter to 0 (failure rules keep their own counters). */
int rt_fake_calls_reset(struct rt_ctx *ctx, struct stk_err *err);

/* Returns the number of started requests whose DONE has not been called yet. */
unsigned rt_fake_pending(struct rt_ctx *ctx);

/*
 * Keeps the fake's state in the file PATH (copied). When PATH exists, its
 * containers, volumes and next PID replace the in-memory ones (overdue
 * scripted exits are applied; pending ones are re-armed); otherwise the
 * current state is written to it. Returns STK_EIO when the file cannot be
 * read, parsed or written.
 */
int rt_fake_set_state_file(struct rt_ctx *ctx, const char *path, struct stk_err *err);

/* Offers (non-zero) or withdraws hyperv isolation in host_info and create. */
int rt_fake_set_hyperv(struct rt_ctx *ctx, int enabled, struct stk_err *err);

/* Sets the default isolation host_info reports. */
int rt_fake_set_default_isolation(struct rt_ctx *ctx, enum rt_isolation isolation,
                                  struct stk_err *err);

/* Makes host_info report AVAILABLE, with REASON (copied, may be NULL) when it is 0. */
int rt_fake_set_available(struct rt_ctx *ctx, int available, const char *reason,
                          struct stk_err *err);

#endif
