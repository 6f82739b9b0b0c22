/*
 * oci-internal.h - private cross-file functions of the OCI driver
 * (runtime/oci/). Nothing outside this folder includes it.
 *
 * Layout of one container under the state dir (DESIGN.md §4):
 *   containers/ID/config.json   the OCI bundle's configuration
 *   containers/ID/rootfs/       overlayfs mount (oci-rootfs.c)
 *   containers/ID/overlay/      upper and work dirs
 *   containers/ID/labels.json   the stack.* labels and the user-facing name
 *   containers/ID/ctr.log       conmon's k8s-file log of stdout and stderr
 *   containers/ID/exit/ID       conmon's exit file: the exit status as text
 *   containers/ID/conmon.pid    the monitor's PID
 *   containers/ID/pidfile       the container init's host PID
 *   containers/ID/started       start time, nanoseconds since the epoch
 * The low-level runtime keeps its own state under RUN_DIR/<runtime>/ (runc
 * --root), separate from the host's other containers.
 */
#ifndef RT_OCI_INTERNAL_H
#define RT_OCI_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "runtime/rt-driver.h"

struct json_t;

/* The driver's private state (ctx->priv). */
struct rt__oci {
    char runtime_path[256]; /* absolute path of runc or crun */
    char runtime_name[16];  /* "runc" or "crun" */
    char runtime_version[64];
    char conmon_path[256]; /* absolute path of conmon; "" when missing */
    char root[512];        /* --root of the low-level runtime */
    char reason[256];      /* why the driver is unavailable, "" when available */
};

struct rt__proc;

/*
 * Called once when a spawned process has exited and its pipes are drained.
 * EXIT_STATUS is the exit code, TERM_SIGNAL the signal that killed it (0 for
 * none); OUT, ERRB and SYNC hold the captured stdout, stderr and sync-pipe
 * bytes (borrowed until the callback returns). ERR is set when the spawn was
 * canceled or timed out.
 */
typedef void rt__proc_fn(int64_t exit_status, int term_signal, const struct stk_buf *out,
                         const struct stk_buf *errb, const struct stk_buf *sync,
                         const struct stk_err *err, void *userdata);

/* Options of rt__oci_spawn(). */
struct rt__spawn_opts {
    char *const *argv;   /* NULL-terminated; argv[0] is an absolute path */
    char *const *env;    /* NULL-terminated; NULL: a minimal PATH-only environment */
    int capture;         /* non-zero: capture stdout and stderr */
    int sync_pipe;       /* non-zero: pass a pipe as fd 3 and set _OCI_SYNCPIPE=3 */
    uint64_t timeout_ms; /* 0: none; on expiry the process is killed with SIGKILL */
};

/*
 * Spawns a helper process on LOOP with uv_spawn (STYLE.md rule 23) and calls
 * CB on the loop thread when it has exited and its pipes are closed. Returns 0
 * when started (CB will be called exactly once), or a negative STK_E* code
 * with ERR filled (CB is never called). On success *RET_PROC (may be NULL) is
 * a handle for rt__proc_cancel(), valid until CB runs.
 */
int rt__oci_spawn(uv_loop_t *loop, const struct rt__spawn_opts *opts, rt__proc_fn *cb,
                  void *userdata, struct rt__proc **ret_proc, struct stk_err *err);

/* Kills the process with SIGKILL; CB then reports STK_ECANCELED. */
void rt__proc_cancel(struct rt__proc *p);

/*
 * Builds the OCI runtime-spec config.json for SPEC with the root file system
 * at ROOTFS (OCI runtime-spec 1.0.2 config.md and config-linux.md) into *RET
 * (a new reference; caller json_decref()s). STK_EINVAL when the user or group
 * is not in the image's /etc/passwd or /etc/group.
 */
int rt__oci_config_new(const struct rt_container_spec *spec, const char *rootfs,
                       struct json_t **ret, struct stk_err *err);

/* Returns a new string "STATE_DIR/containers/ID[/LEAF]" (LEAF may be NULL). */
char *rt__oci_cdir(const struct rt_ctx *ctx, const char *id, const char *leaf);

/* Parses an RFC 3339 timestamp with nanoseconds ("2026-11-29T15:04:16.40Z") to ns; 0 on error. */
int64_t rt__oci_parse_time(const char *s);

struct rt_image_store;

/*
 * Implemented in oci-rootfs.c (see oci-rootfs.h): unpack the layers once into
 * the layer cache and mount the container's overlayfs root at
 * CONTAINER_DIR/rootfs (*RET_ROOTFS, caller frees); and the reverse.
 */
int rt_oci_rootfs_prepare(struct rt_image_store *store, char *const *layer_digests,
                          const char *container_dir, char **ret_rootfs, struct stk_err *err);
int rt_oci_rootfs_release(const char *container_dir, struct stk_err *err);

#endif
