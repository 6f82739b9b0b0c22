/*
 * test-registry.h - a real OCI registry on loopback for the pull tests:
 * Debian's docker-registry (the CNCF distribution registry) serving a
 * temporary directory on 127.0.0.1:<free port>, filled with Debian's skopeo.
 * It is a child of the test process (and dies with it), stopped by PID.
 */
#ifndef STK_TEST_REGISTRY_H
#define STK_TEST_REGISTRY_H

#include <sys/types.h>

#define STK_TEST_REGISTRY_BIN "/usr/bin/docker-registry"
#define STK_TEST_SKOPEO_BIN "/usr/bin/skopeo"
#define STK_TEST_PYTHON_BIN "/usr/bin/python3"

struct stk_test_registry {
    char root[256]; /* its storage rootdirectory */
    char log[256];  /* its stdout and stderr (the access log) */
    int port;
    pid_t pid; /* -1 when not running */
};

/*
 * Skips the current test when docker-registry, skopeo or python3 is missing;
 * under CI=true their absence is a failure (scripts/setup installs them).
 */
void stk_test_require_registry_tools(void);

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int stk_test_free_port(void);

/* Starts ARGV (argv[0] a path) with stdout and stderr appended to LOG; it dies with the test. */
pid_t stk_test_spawn(char *const argv[], const char *log);

/* Sends SIGTERM to *PID and reaps it; *PID becomes -1. Nothing when *PID <= 0. */
void stk_test_stop_pid(pid_t *pid);

/* Waits (10 s) until something accepts connections on 127.0.0.1:PORT; fails if PID exits. */
void stk_test_wait_port(int port, pid_t pid, const char *log);

/* Starts a registry storing under WORKDIR/registry, logging to WORKDIR/registry.log. */
void stk_test_registry_start(struct stk_test_registry *r, const char *workdir);

/* Stops R (NULL-safe, idempotent). */
void stk_test_registry_stop(struct stk_test_registry *r);

/*
 * Pushes the OCI layout image SRC ("DIR" or "DIR:REFNAME") to REPO_TAG
 * ("test/busybox:v1") of R with skopeo; ALL copies every manifest of an index.
 */
void stk_test_registry_push(const struct stk_test_registry *r, const char *src,
                            const char *repo_tag, int all);

#endif
