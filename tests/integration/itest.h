/*
 * itest.h - helpers for the integration tests: run the real `stack` binary
 * against a private state dir and run dir, write stack files, and snapshot
 * the host objects a stack may leave behind.
 *
 * Integration tests need root, runc, conmon and the CNI plugins. When they are
 * missing the tests skip with a visible message — except under CI=true, where
 * a skip is a failure (STYLE.md rule 34).
 */
#ifndef ITEST_H
#define ITEST_H

#include <stddef.h>

/* A private environment for one test. */
struct itest {
    char dir[256]; /* temporary folder holding everything below */
    char state_dir[300];
    char run_dir[300];
    char project[64]; /* a project name unique to this test run */
    int port;         /* a free TCP port on 127.0.0.1 for publishing */
};

/* Skips (or fails under CI=true) when the host cannot run the integration tests. */
void itest_require_host(void);
/* Creates a temporary environment; PREFIX names the project. */
void itest_init(struct itest *t, const char *prefix);
/* Removes the stack (down) and the temporary folder. */
void itest_fini(struct itest *t);
/* Path of the example busybox image layout (built if missing). */
const char *itest_image(void);
/* Writes TEXT to DIR/NAME and returns the path (static buffer, valid until the next call). */
const char *itest_write(struct itest *t, const char *name, const char *text);
/*
 * Runs `stack --state-dir … --run-dir … ARGS` through /bin/sh; stdout and
 * stderr are captured into *RET_OUT and *RET_ERR (new strings, may be NULL).
 * Returns the exit status (or -1).
 */
int itest_stack(struct itest *t, char **ret_out, char **ret_err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs a shell command, returns its stdout as a new string (NULL on failure). */
char *itest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A snapshot of what a stack can leave on the host: runtime containers,
 * conmon processes, QEMU, virtiofsd and VM monitor processes, tap devices
 * (also inside the namespaces), network namespaces and pins, links, IPAM allocations,
 * iptables and nft rules, mounts. Returns a new string.
 */
char *itest_host_snapshot(struct itest *t);
/* Prints the lines that differ between two snapshots to stderr. */
void itest_snapshot_diff(const char *a, const char *b);

#endif
