/*
 * rt-driver.h - the runtime driver interface (DESIGN.md §2, STYLE.md rules 24-27).
 *
 * A runtime driver turns a runtime-level container description (struct
 * rt_container_spec: isolation, image config and layer digests, mounts, pipes,
 * devices, resources, process, network sandbox) into a running container: runc
 * or crun under conmon on Linux (runtime/oci/), an HCS compute system on
 * Windows (runtime/hcs/), a QEMU utility VM (runtime/vm/), or the in-memory
 * scriptable fake (runtime/fake/). Drivers never see the Compose model.
 *
 * The asynchronous contract, one for every operation:
 *   int op(struct rt_ctx *ctx, ..., rt_done_fn *done, void *userdata,
 *          struct rt_req **ret_req, struct stk_err *err);
 * - A negative return means the operation failed at once: ERR is filled and
 *   DONE is never called.
 * - 0 means it started: *RET_REQ (when RET_REQ is non-NULL) is a request that
 *   rt_req_cancel() can cancel, and DONE(req, result, err, userdata) is called
 *   exactly once, on the loop thread, after the op has returned, with a typed
 *   result or with an error (err->code != 0). The request is freed by the
 *   driver after DONE returns; it must not be used afterwards.
 * - Child processes are started with uv_spawn on the loop thread; blocking
 *   library calls run through uv_queue_work.
 *
 * Callers use the static inline wrappers at the end of this file, never the
 * ops table directly (STYLE.md rule 25).
 */
#ifndef RT_DRIVER_H
#define RT_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/stk-err.h"

struct rt_image_store;

#define RT_DRIVER_ABI_1 1u

/* Isolation modes (DESIGN.md §1). Stored as the strings of rt_isolation_to_string(). */
#define RT_ISOLATION_MAP(X)                                                                        \
    X(PROCESS, "process")                                                                          \
    X(HYPERV, "hyperv")

enum rt_isolation {
#define RT__ISO_ENUM(n, s) RT_ISOLATION_##n,
    RT_ISOLATION_MAP(RT__ISO_ENUM)
#undef RT__ISO_ENUM
        _RT_ISOLATION_MAX,
    _RT_ISOLATION_INVALID = -22,
};

/* Container states as the OCI runtime spec names them (runtime.md "State"). */
#define RT_STATE_MAP(X)                                                                            \
    X(CREATING, "creating")                                                                        \
    X(CREATED, "created")                                                                          \
    X(RUNNING, "running")                                                                          \
    X(PAUSED, "paused")                                                                            \
    X(STOPPED, "stopped")                                                                          \
    X(UNKNOWN, "unknown")

enum rt_state {
#define RT__STATE_ENUM(n, s) RT_STATE_##n,
    RT_STATE_MAP(RT__STATE_ENUM)
#undef RT__STATE_ENUM
        _RT_STATE_MAX,
    _RT_STATE_INVALID = -22,
};

/* Returns the stable string of V ("process"); NULL for an invalid value. */
const char *rt_isolation_to_string(enum rt_isolation v);
/* Parses S case-insensitively; returns _RT_ISOLATION_INVALID when unknown. */
enum rt_isolation rt_isolation_from_string(const char *s);

/*
 * Non-zero when a Windows image whose os.version is IMAGE_OS_VERSION can run
 * with ISOLATION (process or hyperv) on a host of build HOST_OS_VERSION
 * ("10.0.20348"), by the rule the hcs driver checks at plan time (reference
 * hcs-hns.md §5.3 and its errata; the same-or-older Hyper-V policy, not
 * lifted). Returns 0 when it cannot, or for a malformed version. Portable:
 * for callers that must not include a backend header (the export's node
 * selection, orchestrator/export/).
 */
int rt_windows_image_compatible(const char *host_os_version, const char *image_os_version,
                                enum rt_isolation isolation);

/* Returns the stable string of V ("running"); NULL for an invalid value. */
const char *rt_state_to_string(enum rt_state v);
/* Parses S; returns _RT_STATE_INVALID when unknown. */
enum rt_state rt_state_from_string(const char *s);

/* Capability bits of a driver (struct rt_driver.caps). */
#define RT_CAP_VOLUMES (1u << 0) /* volume_create/volume_remove are implemented */
#define RT_CAP_EXEC (1u << 1)    /* exec is implemented */
#define RT_CAP_TOP (1u << 2)     /* top is implemented */
#define RT_CAP_LOGS (1u << 3)    /* logs is implemented */

/* The product's labels (DESIGN.md §3); OCI annotations on Linux, labels.json everywhere. */
#define RT_LABEL_PROJECT "stack.project"
#define RT_LABEL_SERVICE "stack.service"
#define RT_LABEL_NUMBER "stack.number"
#define RT_LABEL_HASH "stack.hash"
#define RT_LABEL_ISOLATION "stack.isolation"
/*
 * The services a container's service depends on, as docker compose's
 * com.docker.compose.depends_on label: "SERVICE:CONDITION:RESTART,..."
 * (implicit dependencies such as network_mode: service:X included), so that
 * down can stop dependants first without the Compose file.
 */
#define RT_LABEL_DEPENDS_ON "stack.depends_on"
/* The service's stop signal (a number) and stop_grace_period (milliseconds), for down and
 * stop, which act without the Compose file (docker keeps both in the container's config). */
#define RT_LABEL_STOP_SIGNAL "stack.stop_signal"
#define RT_LABEL_STOP_GRACE "stack.stop_grace_ms"

/* A key/value pair; both strings are owned by the containing object. */
struct rt_kv {
    char *key;
    char *value;
};

/* A file-system mount into the container (OCI config.json "mounts"; HCS MappedDirectory). */
struct rt_mount {
    char *type;    /* "bind" or "tmpfs" */
    char *source;  /* absolute host path for binds; ignored for tmpfs */
    char *target;  /* absolute path in the container */
    int read_only; /* non-zero: mounted read-only */
};

/* A named pipe mapped into a Windows container (HCS MappedPipe). */
struct rt_pipe {
    char *host_path;      /* \\.\pipe\NAME on the host */
    char *container_path; /* \\.\pipe\NAME in the container */
};

/* A device made visible to the container (OCI linux.devices; HCS AssignedDevices). */
struct rt_device {
    char *host_path;      /* /dev/... or a Windows device interface class */
    char *container_path; /* path in the container; may equal host_path */
    char *permissions;    /* "rwm" subset; NULL means "rwm" */
};

/* The process to run (OCI config.json "process"; HCS ProcessParameters). */
struct rt_process {
    char **args;  /* NULL-terminated argv; args[0] resolved in the container's PATH */
    char **env;   /* NULL-terminated "KEY=VALUE" list */
    char *cwd;    /* absolute working directory; NULL means "/" */
    char *user;   /* "uid[:gid]" or a name; NULL means the image default or root */
    int terminal; /* non-zero: allocate a pseudo-terminal */
};

/* Resource limits (OCI linux.resources; HCS Processor/Memory). 0 means unlimited. */
struct rt_resources {
    int64_t memory_bytes; /* memory limit in bytes */
    int64_t nano_cpus;    /* CPU limit in billionths of a CPU (docker --cpus) */
    int64_t pids_limit;   /* maximum number of processes */
};

/*
 * Everything a driver needs to create one container. Built by the
 * orchestrator from a service; carries digests, not file paths, for the image
 * (the driver resolves them through the image store it was given at init).
 * All pointers are owned by the spec and freed by rt_container_spec_release().
 */
struct rt_container_spec {
    char *id;                    /* runtime id, unique per creation: PROJECT-SERVICE-N-xxxxxx */
    char *name;                  /* user-facing name: PROJECT-SERVICE-N */
    enum rt_isolation isolation; /* resolved isolation (never "default" here) */
    char *image_ref;             /* the image as the user named it, for display */
    char *image_config_digest;   /* "sha256:..." of the image config blob */
    char **layer_digests;        /* NULL-terminated manifest layer digests, base first */
    char *hostname;              /* NULL: the service name */
    struct rt_process process;   /* the main process */
    struct rt_mount *mounts;     /* owned array of n_mounts */
    size_t n_mounts;
    struct rt_pipe *pipes; /* owned array of n_pipes (Windows only) */
    size_t n_pipes;
    struct rt_device *devices; /* owned array of n_devices */
    size_t n_devices;
    struct rt_resources resources;
    char *sandbox;        /* opaque network sandbox handle from the net plug-in
                             (netns path on Linux, HCN namespace GUID on Windows);
                             NULL: the runtime's own empty network namespace */
    struct rt_kv *labels; /* owned array of n_labels: the stack.* labels and user labels */
    size_t n_labels;
    char *stop_signal;   /* "SIGTERM" when NULL */
    char **exit_command; /* NULL-terminated argv the monitor runs when the container
                            exits (DESIGN.md §3); NULL for none */
    /* Fields below came with the Compose service keys of issue 3; zero means default. */
    char **cap_add;        /* NULL-terminated capability names ("NET_ADMIN" or "CAP_NET_ADMIN",
                              "ALL"), added to the default set */
    char **cap_drop;       /* likewise removed; "ALL" drops every default one */
    int privileged;        /* every capability and device, no masked or read-only paths */
    int read_only_rootfs;  /* the root file system is mounted read-only */
    struct rt_kv *sysctls; /* owned array of n_sysctls namespaced kernel parameters */
    size_t n_sysctls;
    char *ipc;        /* NULL, "private" or "shareable": its own IPC namespace; "host";
                         or "container:ID" to join another container's */
    char *pid_ns;     /* NULL: its own PID namespace; "host"; or "container:ID" */
    int64_t shm_size; /* bytes of /dev/shm; 0: 64 MiB */
    int init;         /* run an init (tini) as PID 1: reaps zombies, forwards signals */
};

/* Frees everything SPEC owns and zeroes it; NULL-safe. */
void rt_container_spec_release(struct rt_container_spec *spec);

/* One container as observed from the runtime (not from the store). */
struct rt_container_info {
    char *id;   /* runtime id */
    char *name; /* user-facing name (from labels.json), may be NULL */
    enum rt_state state;
    enum rt_isolation isolation;
    int pid;       /* host PID of the init process (process isolation) or of the
                      VM worker (hyperv); 0 when not running */
    int exit_code; /* valid when state is STOPPED and has_exit_code */
    int has_exit_code;
    int64_t created_ns;   /* creation time, nanoseconds since the epoch */
    int64_t started_ns;   /* start time, nanoseconds since the epoch, 0 if never */
    int64_t finished_ns;  /* exit time, 0 if still running or unknown */
    struct rt_kv *labels; /* owned array */
    size_t n_labels;
};

/* Returns the value of label KEY in INFO, borrowed; NULL when absent. */
const char *rt_container_info_label(const struct rt_container_info *info, const char *key);
/* Frees what INFO owns; NULL-safe. */
void rt_container_info_release(struct rt_container_info *info);

/* A list of observed containers. */
struct rt_container_list {
    struct rt_container_info *items; /* owned array */
    size_t n;
};

/* Frees the list's items; NULL-safe. */
void rt_container_list_release(struct rt_container_list *l);

/* What a host can do (the `host_info` op; DESIGN.md §2). */
struct rt_host_info {
    int available;                       /* non-zero when the runtime can run containers here */
    char reason[256];                    /* why not, when !available */
    uint32_t isolations;                 /* bit (1u << RT_ISOLATION_x) per isolation it provides */
    enum rt_isolation default_isolation; /* what "default" resolves to on this host */
    char os[16];                         /* "linux" or "windows" */
    char os_build[64];                   /* kernel release or Windows build "10.0.20348" */
    char edition[32];                    /* "server", "client" on Windows; "" on Linux */
    char runtime[32]; /* the low-level runtime used: "runc", "crun", "hcs", "fake" */
    char runtime_version[64];
};

/* Flags of the image_check op. */
#define RT_IMAGE_CHECK_ALLOW_NEWER_HYPERV (1u << 0) /* lift the same-or-older Hyper-V policy */

/* An endpoint of a network sandbox, as a VM isolated container needs it: a NIC of its VM. */
struct rt_nic {
    char *endpoint_id; /* the plug-in's endpoint id (an HCN endpoint GUID) */
    char *mac;         /* "00-15-5D-.." */
};

/* Frees N nics and the array; NULL-safe. */
void rt_nics_free(struct rt_nic *nics, size_t n);

/*
 * What a runtime driver may need from the network side, handed over through
 * the set_net_peer op by whoever holds both contexts (the orchestrator); the
 * runtime never includes a network plug-in (DESIGN.md layers).
 */
struct rt_net_peer {
    /*
     * Lists the endpoints of network namespace NAMESPACE_ID into a new array
     * *RET_NICS of *RET_N entries (caller frees with rt_nics_free()).
     * Blocking; may run on a work thread.
     */
    int (*namespace_endpoints)(void *self, const char *namespace_id, struct rt_nic **ret_nics,
                               size_t *ret_n, struct stk_err *err);
    void *self;
};

/* Kinds of a result delivered to rt_done_fn. */
enum rt_result_kind {
    RT_RESULT_NONE,      /* create, start, kill, stop, delete, volume ops */
    RT_RESULT_INFO,      /* state */
    RT_RESULT_LIST,      /* list */
    RT_RESULT_EXEC,      /* exec */
    RT_RESULT_HOST_INFO, /* host_info */
    RT_RESULT_TOP,       /* top */
    RT_RESULT_LOGS,      /* logs */
};

/* The typed result of an operation. Borrowed by DONE: copy what must outlive it. */
struct rt_result {
    enum rt_result_kind kind;
    const struct rt_container_info *info; /* RT_RESULT_INFO */
    const struct rt_container_list *list; /* RT_RESULT_LIST */
    int exit_code;                        /* RT_RESULT_EXEC: the exec'd process status */
    const char *output;                   /* RT_RESULT_EXEC, RT_RESULT_TOP: captured stdout */
    const struct rt_host_info *host;      /* RT_RESULT_HOST_INFO */
    const char *log_path;                 /* RT_RESULT_LOGS: path of the log file to read */
};

struct rt_req;
struct rt_ctx;

/*
 * Completion callback. ERR is NULL or has code 0 on success; RES is non-NULL on
 * success. Runs on the loop thread. Both pointers are borrowed.
 */
typedef void rt_done_fn(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                        void *userdata);

/* Options of an exec (OCI runtime exec; HCS CreateProcess in the container). */
struct rt_exec_opts {
    const char *const *args; /* NULL-terminated argv */
    const char *const *env;  /* extra "KEY=VALUE", NULL-terminated, may be NULL */
    const char *cwd;         /* NULL: the container's */
    int capture;             /* non-zero: capture stdout+stderr into the result's output */
    uint64_t timeout_ms;     /* 0: no timeout */
};

/*
 * The operations table. Every op follows the contract at the top of this file.
 * Ops on one container id are not called concurrently by the orchestrator.
 */
struct rt_driver_ops {
    /*
     * Sets up the driver's private state (ctx->priv, priv_size bytes, zeroed).
     * Synchronous; may probe the host (runc vs crun). Idempotent per ctx.
     */
    int (*init)(struct rt_ctx *ctx, struct stk_err *err);
    /* Releases the private state. Synchronous. Must not stop containers. */
    void (*fini)(struct rt_ctx *ctx);
    /* Reports availability, isolations and host identity. */
    int (*host_info)(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                     struct stk_err *err);
    /*
     * Creates the container (root file system, bundle, monitor) without starting
     * its process. Fails with STK_EEXIST when the id exists. Records labels.
     */
    int (*create)(struct rt_ctx *ctx, const struct rt_container_spec *spec, rt_done_fn *done,
                  void *userdata, struct rt_req **ret_req, struct stk_err *err);
    /*
     * Starts a created container, or an exited one again from its bundle (as
     * `docker start` does: same id, labels and root file system). Starting a
     * running one is an error (STK_EINVAL).
     */
    int (*start)(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                 struct rt_req **ret_req, struct stk_err *err);
    /* Sends SIGNAL (a number) to the container's init process. */
    int (*kill)(struct rt_ctx *ctx, const char *id, int signal, rt_done_fn *done, void *userdata,
                struct rt_req **ret_req, struct stk_err *err);
    /*
     * Sends SIGNAL, waits up to GRACE_MS milliseconds for exit, then kills.
     * Stopping a stopped container succeeds (idempotent).
     */
    int (*stop)(struct rt_ctx *ctx, const char *id, int signal, uint64_t grace_ms, rt_done_fn *done,
                void *userdata, struct rt_req **ret_req, struct stk_err *err);
    /*
     * Removes the container and everything the driver made for it (bundle, root
     * file system mounts, monitor). A running container is killed first.
     * Deleting a missing id succeeds (idempotent).
     */
    int (*delete)(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                  struct rt_req **ret_req, struct stk_err *err);
    /* Observes one container: RT_RESULT_INFO, or STK_ENOENT in the error. */
    int (*state)(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                 struct rt_req **ret_req, struct stk_err *err);
    /* Lists every container carrying the product's labels: RT_RESULT_LIST. */
    int (*list)(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                struct stk_err *err);
    /* Runs a process in a running container: RT_RESULT_EXEC. Optional (RT_CAP_EXEC). */
    int (*exec)(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err);
    /* Locates the container's log: RT_RESULT_LOGS. Optional (RT_CAP_LOGS). */
    int (*logs)(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                struct rt_req **ret_req, struct stk_err *err);
    /* Lists the container's processes as text: RT_RESULT_TOP. Optional (RT_CAP_TOP). */
    int (*top)(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
               struct rt_req **ret_req, struct stk_err *err);
    /* Creates a named volume, idempotent. Optional (RT_CAP_VOLUMES). */
    int (*volume_create)(struct rt_ctx *ctx, const char *name, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err);
    /* Removes a named volume; a missing one succeeds. Optional (RT_CAP_VOLUMES). */
    int (*volume_remove)(struct rt_ctx *ctx, const char *name, rt_done_fn *done, void *userdata,
                         struct rt_req **ret_req, struct stk_err *err);
    /* Methods above are valid for ABI 1 */

    /*
     * Optional, synchronous and pure (no I/O, any thread): whether this host
     * (HOST, as host_info reported it) can run an image whose config names
     * os.version IMAGE_OS_VERSION (may be NULL) with ISOLATION. IMAGE is the
     * reference used in messages. FLAGS: RT_IMAGE_CHECK_*. Returns 0, or
     * STK_EIMAGE with a message naming both builds (the Windows rule of the
     * HCS reference §5.3 in the hcs driver). NULL: every image can run.
     */
    int (*image_check)(struct rt_ctx *ctx, const struct rt_host_info *host,
                       const char *image_os_version, enum rt_isolation isolation, const char *image,
                       unsigned flags, struct stk_err *err);
    /*
     * Optional, synchronous: gives the driver the network side PEER
     * (borrowed, may be NULL; it must outlive CTX), for drivers whose VM
     * isolated containers take their sandbox's endpoints as NICs (hcs).
     * Idempotent: a second call replaces the first.
     */
    void (*set_net_peer)(struct rt_ctx *ctx, const struct rt_net_peer *peer);
};

/* A driver: a const descriptor plus a const operations table (STYLE.md rule 24). */
struct rt_driver {
    const char *name;     /* "oci", "hcs", "fake" */
    unsigned abi_version; /* RT_DRIVER_ABI_1 */
    uint32_t caps;        /* RT_CAP_* bits */
    size_t priv_size;     /* bytes of driver state allocated in the context */
    const struct rt_driver_ops *ops;
};

/* A driver instance bound to a loop and to the product's directories. */
struct rt_ctx {
    const struct rt_driver *driver; /* borrowed, static */
    uv_loop_t *loop;                /* borrowed */
    char *state_dir;                /* owned: containers/ID/ and images/ live below it */
    char *run_dir;                  /* owned: run-time objects (/run/stack) */
    char *self_exe;                 /* owned: path of the stack executable (exit commands) */
    struct rt_image_store *images;  /* borrowed: the image store layers are read from */
    void *priv;                     /* owned: driver state, priv_size bytes */
};

/* A started operation. Drivers embed it first in their own request structs. */
struct rt_req {
    struct rt_ctx *ctx;
    int canceled;                       /* set by rt_req_cancel() */
    void (*cancel)(struct rt_req *req); /* driver hook, may be NULL */
};

/*
 * Asks the driver to cancel REQ. DONE is still called exactly once, with
 * STK_ECANCELED unless the operation had already finished. NULL-safe.
 */
void rt_req_cancel(struct rt_req *req);

/*
 * Finds a driver by NAME ("oci", "fake", "hcs"). Returns the static
 * descriptor, or NULL with STK_ENOENT in ERR naming the known drivers.
 */
const struct rt_driver *rt_driver_find(const char *name, struct stk_err *err);

/*
 * Creates a context for DRIVER on LOOP with the given directories (copied) and
 * runs the driver's init. IMAGES is borrowed and may be NULL for drivers that
 * need no images. Returns a new context freed by rt_ctx_free(), or NULL with
 * ERR filled.
 */
struct rt_ctx *rt_ctx_new(const struct rt_driver *driver, uv_loop_t *loop, const char *state_dir,
                          const char *run_dir, const char *self_exe, struct rt_image_store *images,
                          struct stk_err *err);
/* Runs the driver's fini and frees CTX; NULL-safe. */
void rt_ctx_free(struct rt_ctx *ctx);

#define RT__CALL(ctx, op, cap, ...)                                                                \
    do {                                                                                           \
        struct rt_req *rt__unused_req;                                                             \
        if (!ret_req)                                                                              \
            ret_req = &rt__unused_req;                                                             \
        if (!(ctx) || !(ctx)->driver->ops->op)                                                     \
            return stk_err_set(err, STK_ENOTSUP, 0, "%s: '%s' is not supported",                   \
                               (ctx) ? (ctx)->driver->name : "runtime", #op);                      \
        if ((cap) != 0 && !((ctx)->driver->caps & (cap)))                                          \
            return stk_err_set(err, STK_ENOTSUP, 0, "%s: '%s' is not supported",                   \
                               (ctx)->driver->name, #op);                                          \
        return (ctx)->driver->ops->op((ctx), __VA_ARGS__);                                         \
    } while (0)

/* Wrapper of ops->host_info; see struct rt_driver_ops. */
static inline int rt_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                               struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, host_info, 0, done, userdata, ret_req, err);
}

/* Wrapper of ops->create. */
static inline int rt_container_create(struct rt_ctx *ctx, const struct rt_container_spec *spec,
                                      rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                                      struct stk_err *err)
{
    RT__CALL(ctx, create, 0, spec, done, userdata, ret_req, err);
}

/* Wrapper of ops->start. */
static inline int rt_container_start(struct rt_ctx *ctx, const char *id, rt_done_fn *done,
                                     void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, start, 0, id, done, userdata, ret_req, err);
}

/* Wrapper of ops->kill. */
static inline int rt_container_kill(struct rt_ctx *ctx, const char *id, int signal,
                                    rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                                    struct stk_err *err)
{
    RT__CALL(ctx, kill, 0, id, signal, done, userdata, ret_req, err);
}

/* Wrapper of ops->stop. */
static inline int rt_container_stop(struct rt_ctx *ctx, const char *id, int signal,
                                    uint64_t grace_ms, rt_done_fn *done, void *userdata,
                                    struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, stop, 0, id, signal, grace_ms, done, userdata, ret_req, err);
}

/* Wrapper of ops->delete. */
static inline int rt_container_delete(struct rt_ctx *ctx, const char *id, rt_done_fn *done,
                                      void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, delete, 0, id, done, userdata, ret_req, err);
}

/* Wrapper of ops->state. */
static inline int rt_container_state(struct rt_ctx *ctx, const char *id, rt_done_fn *done,
                                     void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, state, 0, id, done, userdata, ret_req, err);
}

/* Wrapper of ops->list. */
static inline int rt_container_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                                    struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, list, 0, done, userdata, ret_req, err);
}

/* Wrapper of ops->exec (RT_CAP_EXEC). */
static inline int rt_container_exec(struct rt_ctx *ctx, const char *id,
                                    const struct rt_exec_opts *opts, rt_done_fn *done,
                                    void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, exec, RT_CAP_EXEC, id, opts, done, userdata, ret_req, err);
}

/* Wrapper of ops->logs (RT_CAP_LOGS). */
static inline int rt_container_logs(struct rt_ctx *ctx, const char *id, rt_done_fn *done,
                                    void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, logs, RT_CAP_LOGS, id, done, userdata, ret_req, err);
}

/* Wrapper of ops->top (RT_CAP_TOP). */
static inline int rt_container_top(struct rt_ctx *ctx, const char *id, rt_done_fn *done,
                                   void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, top, RT_CAP_TOP, id, done, userdata, ret_req, err);
}

/* Wrapper of ops->volume_create (RT_CAP_VOLUMES). */
static inline int rt_volume_create(struct rt_ctx *ctx, const char *name, rt_done_fn *done,
                                   void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, volume_create, RT_CAP_VOLUMES, name, done, userdata, ret_req, err);
}

/* Wrapper of ops->volume_remove (RT_CAP_VOLUMES). */
static inline int rt_volume_remove(struct rt_ctx *ctx, const char *name, rt_done_fn *done,
                                   void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    RT__CALL(ctx, volume_remove, RT_CAP_VOLUMES, name, done, userdata, ret_req, err);
}

/*
 * Wrapper of the optional ops->image_check: 0 when the driver has no rule.
 * See struct rt_driver_ops.
 */
static inline int rt_image_check(struct rt_ctx *ctx, const struct rt_host_info *host,
                                 const char *image_os_version, enum rt_isolation isolation,
                                 const char *image, unsigned flags, struct stk_err *err)
{
    if (!ctx || !ctx->driver->ops->image_check)
        return 0;
    return ctx->driver->ops->image_check(ctx, host, image_os_version, isolation, image, flags, err);
}

/*
 * Wrapper of the optional ops->set_net_peer. Returns 0 when the driver took
 * PEER, STK_ENOTSUP (ERR untouched) when it needs none.
 */
static inline int rt_ctx_set_net_peer(struct rt_ctx *ctx, const struct rt_net_peer *peer)
{
    if (!ctx || !ctx->driver->ops->set_net_peer)
        return STK_ENOTSUP;
    ctx->driver->ops->set_net_peer(ctx, peer);
    return 0;
}

/*
 * `stack internal DRIVER-monitor ID` (DRIVER "hcs"): runs, in this process,
 * the detached monitor that DRIVER's start spawned for container ID whose
 * records live under STATE_DIR, and blocks until it is done. Readiness goes
 * to READY as one line of the driver's protocol, and READY is then closed
 * (pointed at the null device). Returns 0, or fills ERR: STK_EUNAVAIL when
 * DRIVER has no monitor on this host (HCS outside Windows), the monitor's
 * errors otherwise.
 */
int rt_driver_monitor_main(const char *driver, const char *state_dir, const char *id, FILE *ready,
                           struct stk_err *err);

/*
 * The synchronous wrapper for the CLI's simple paths and tests: runs the loop
 * until the started operation completes. Use as
 *   struct rt_sync s = RT_SYNC_INIT;
 *   r = rt_container_start(ctx, id, rt_sync_done, &s, NULL, err);
 *   r = rt_sync_wait(ctx->loop, &s, r, err);
 * It returns the operation's result code and copies its error into ERR; the
 * typed result's info/list/host/output are deep-copied into S and released by
 * rt_sync_release().
 */
struct rt_sync {
    int done;
    struct stk_err err;
    enum rt_result_kind kind;
    struct rt_container_info info;
    struct rt_container_list list;
    struct rt_host_info host;
    int exit_code;
    char *output;
    char *log_path;
};

#define RT_SYNC_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* An rt_done_fn that records the result into the struct rt_sync given as USERDATA. */
void rt_sync_done(struct rt_req *req, const struct rt_result *res, const struct stk_err *err,
                  void *userdata);
/* Runs LOOP until S is done when START_RET is 0; see struct rt_sync. */
int rt_sync_wait(uv_loop_t *loop, struct rt_sync *s, int start_ret, struct stk_err *err);
/* Frees what S holds; NULL-safe. */
void rt_sync_release(struct rt_sync *s);

/* Deep copy helpers for drivers and the sync wrapper. */
void rt_container_info_copy(struct rt_container_info *dst, const struct rt_container_info *src);

#endif
