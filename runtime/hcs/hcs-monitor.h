/*
 * hcs-monitor.h - the detached monitor of a Windows container (DESIGN.md §3,
 * issue 5 item 5): what conmon is on Linux, a small `stack internal
 * hcs-monitor ID` process per container on Windows.
 *
 * Started by the hcs driver's `start` once the compute system runs, the
 * monitor opens compute system ID, creates its init process from the
 * ProcessParameters the driver recorded in STATE_DIR/containers/ID/hcs.json
 * ("Process"), holds that process's stdio, records Pid/Started/MonitorPid,
 * reports readiness to its launcher, copies stdout and stderr into
 * containers/ID/ctr.log (k8s-file lines, the format `stack logs` reads, as
 * conmon writes them), waits for the process's exit, records ExitCode and
 * Finished in hcs.json (what the driver's `state` reports; the orchestrator
 * reads no separate exit file) and finally runs the recorded exit command
 * ("ExitCommand", the `stack internal container-exited ID` argv the
 * orchestrator puts in rt_container_spec.exit_command, as conmon's
 * --exit-command), so that `up -d` can return while logs and restart policies
 * keep working.
 *
 * The code is portable and runs on Linux against the HCS emulator. The
 * emulator lives inside the test process, so a separate monitor process could
 * not see its compute systems: the tests install a launcher
 * (rt_hcs_ctx_set_monitor_launcher()) that runs rt_hcs_monitor_run() in a
 * thread. On Windows the driver's default launcher is rt_hcs_monitor_spawn(),
 * which starts `stack.exe` detached; that path has never run on a real host.
 */
#ifndef RT_HCS_MONITOR_H
#define RT_HCS_MONITOR_H

#include <stdint.h>
#include <stdio.h>

#include "common/stk-err.h"
#include "runtime/hcs/hcs-api.h"
#include "runtime/rt-driver.h"

struct json_t;

/* How long the driver waits for a monitor's readiness, and for its exit record after a stop. */
#define RT_HCS_MONITOR_READY_MS 300000u
#define RT_HCS_MONITOR_EXIT_WAIT_MS 10000u

/*
 * Readiness: called exactly once by rt_hcs_monitor_run(), with R 0 once the
 * init process exists and is recorded, or with R < 0 and ERR describing why
 * the monitor gives up (before rt_hcs_monitor_run() returns that error).
 * ERR is valid only during the call. Runs on the monitor's thread.
 */
typedef void rt_hcs_monitor_ready_fn(void *self, int r, const struct stk_err *err);

/*
 * Runs the monitor of container ID whose records live under STATE_DIR
 * (see the header comment), calling through API (borrowed). Blocks until the
 * init process exited, its exit was recorded and the exit command (if any)
 * finished. READY (may be NULL) is told when the process started or why it
 * could not. Returns 0, or fills ERR: STK_ENOENT when ID has no record, the
 * mapped HRESULT of HcsOpenComputeSystem when the compute system does not
 * exist ("the monitor of 'ID': open compute system 'ID'"), of HcsCreateProcess
 * ("start the process of 'ID'"), STK_EINVAL for a bad process record.
 * A failing exit command is logged, not returned.
 */
int rt_hcs_monitor_run(const struct hcs_api *api, const char *state_dir, const char *id,
                       rt_hcs_monitor_ready_fn *ready, void *ready_self, struct stk_err *err);

/*
 * The driver's hook that starts a monitor for container ID and waits for its
 * readiness. Blocking: called on the driver's work thread once the compute
 * system runs. Returns 0 when the monitor reported the init process started,
 * otherwise fills ERR with the monitor's error (which names the container).
 */
typedef int rt_hcs_monitor_launch_fn(void *self, const char *state_dir, const char *run_dir,
                                     const char *id, struct stk_err *err);

/*
 * Makes CTX (an hcs driver context) start containers through FN with SELF
 * (borrowed) instead of its default: on Windows rt_hcs_monitor_spawn() over
 * the context's self_exe, elsewhere (and on Windows without a self_exe) the
 * in-process path, where the driver itself holds the init process's stdio
 * with two pump threads that live only as long as the context. FN NULL
 * restores the default.
 */
void rt_hcs_ctx_set_monitor_launcher(struct rt_ctx *ctx, rt_hcs_monitor_launch_fn *fn, void *self);

/*
 * The process launcher: spawns `SELF_EXE --state-dir=STATE_DIR
 * --run-dir=RUN_DIR --runtime=hcs internal hcs-monitor ID` detached
 * (UV_PROCESS_DETACHED, stdin and stderr ignored) and reads one line from
 * its stdout within TIMEOUT_MS: "ok" (ready) or "error CODE MESSAGE".
 * Blocking, runs its own loop. Returns 0, or fills ERR: the monitor's error
 * with its code, STK_ERUNTIME when the monitor could not be spawned or ended
 * without a word, STK_ETIMEDOUT (the monitor is then killed).
 */
int rt_hcs_monitor_spawn(const char *self_exe, const char *state_dir, const char *run_dir,
                         const char *id, uint64_t timeout_ms, struct stk_err *err);

/*
 * Writes the readiness line of rt_hcs_monitor_spawn()'s protocol for R/ERR
 * into OUT and flushes it (the `internal hcs-monitor` command's READY).
 */
void rt_hcs_monitor_ready_line(FILE *out, int r, const struct stk_err *err);

/*
 * `stack internal hcs-monitor ID` (reached through rt_driver_monitor_main()):
 * rt_hcs_monitor_run() over computecore.dll, its readiness written to READY
 * with rt_hcs_monitor_ready_line(), after which READY is pointed at the null
 * device. Outside Windows: STK_EUNAVAIL "the monitor of 'ID': HCS is not
 * available on this host", said on READY too.
 */
int rt_hcs_monitor_main(const char *state_dir, const char *id, FILE *ready, struct stk_err *err);

/*
 * Copies handle H (read through API, closed at the end) into F as k8s-file
 * log lines "TIMESTAMP STREAM F|P TEXT\n" (RFC 3339 UTC with nanoseconds;
 * "F" a full line, "P" a partial one: a line longer than 16 KiB or the last
 * one without a newline), flushing each line. STREAM is "stdout" or
 * "stderr". F may be NULL: the output is read and dropped. Closes F.
 */
void rt_hcs_log_copy(const struct hcs_api *api, intptr_t h, FILE *f, const char *stream);

/*
 * Builds the ProcessParameters document of a container's process from its
 * record PROC ({Args, Env, Cwd, User}, hcs.json's "Process"): ARGS (may be
 * NULL: PROC's), EXTRA_ENV appended, CWD overriding when non-empty, stdout
 * and stderr pipes when OUT/ERRP. Returns 0 and a new string in *RET_DOC, or
 * STK_EINVAL (rt_hcs_doc_process()).
 */
int rt_hcs_process_params(struct json_t *proc, const char *const *extra_env, const char *cwd,
                          const char *const *args, int out, int errp, char **ret_doc,
                          struct stk_err *err);

#endif
