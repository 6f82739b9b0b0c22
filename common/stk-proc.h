/*
 * stk-proc.h - finding helper processes that an interrupted pass left running.
 *
 * When `stack` dies in the middle of a pass (a crash, kill -9, an injected
 * fault), the helpers it had started — CNI plugins, runc — go on and finish
 * on their own. A new pass must not race them: a late bridge ADD would create
 * again what the new pass has just removed. Drivers and plug-ins call
 * stk_proc_wait_stragglers() from their init with a marker only their own
 * helpers carry (a path under the product's run dir).
 */
#ifndef STK_PROC_H
#define STK_PROC_H

#include <stdint.h>

/*
 * Waits, polling every 20 ms for at most TIMEOUT_MS milliseconds, until no
 * process other than the caller whose argv[0] base name is one of
 * ARGV0_NAMES (':'-separated; NULL: any) has NEEDLE in its command line or,
 * when IN_ENVIRON is non-zero, in its environment. Returns the number of matching processes
 * still running when it gave up (0: none). Linux (/proc); elsewhere returns 0.
 */
int stk_proc_wait_stragglers(const char *needle, const char *argv0_names, int in_environ,
                             uint64_t timeout_ms);

/*
 * Returns 1 when process PID runs, 0 when it does not or is a zombie (a
 * monitor re-parented to PID 1 may wait a while to be reaped, and has exited
 * all the same). Linux (/proc); elsewhere returns 0 (its callers, the OCI
 * driver, are Linux-only).
 */
int stk_proc_alive(int pid);

/*
 * Returns the PID of a process (not the caller) whose argv[0] base name is one
 * of ARGV0_NAMES (':'-separated) and whose command line contains NEEDLE, or 0
 * when there is none. Linux (/proc); elsewhere returns 0.
 */
int stk_proc_find(const char *argv0_names, const char *needle);

#endif
