/* test-registry.c - see test-registry.h. */
#include "test-registry.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"

void stk_test_require_registry_tools(void)
{
    const char *bins[] = {STK_TEST_REGISTRY_BIN, STK_TEST_SKOPEO_BIN, STK_TEST_PYTHON_BIN};
    const char *ci = getenv("CI");

    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        if (access(bins[i], X_OK) == 0)
            continue;
        if (ci && strcmp(ci, "true") == 0)
            cr_assert_fail("%s is missing, and CI must have it (scripts/setup)", bins[i]);
        fprintf(stderr, "SKIP: %s is not installed (scripts/setup installs it)\n", bins[i]);
        cr_skip_test("%s is not installed", bins[i]);
    }
}

int stk_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    r = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return r;
}

pid_t stk_test_spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

void stk_test_stop_pid(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    waitpid(*pid, NULL, 0);
    *pid = -1;
}

void stk_test_wait_port(int port, pid_t pid, const char *log)
{
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        if (port_open(port))
            return;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            cr_assert_fail("server exited before listening; see %s", log);
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("nothing listens on 127.0.0.1:%d after 10 s; see %s", port, log);
}

void stk_test_registry_start(struct stk_test_registry *r, const char *workdir)
{
    struct stk_err err = STK_ERR_INIT;
    char *cfg, *cfg_path;

    r->pid = -1;
    snprintf(r->root, sizeof(r->root), "%s/registry", workdir);
    snprintf(r->log, sizeof(r->log), "%s/registry.log", workdir);
    cr_assert_eq(stk_mkdir_p(r->root, 0755, &err), 0, "%s", err.msg);
    r->port = stk_test_free_port();
    cfg = stk_xasprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                        "    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\n",
                        r->root, r->port);
    cfg_path = stk_xasprintf("%s/registry.yml", workdir);
    cr_assert_eq(stk_file_write_atomic(cfg_path, cfg, strlen(cfg), 0644, 0, &err), 0, "%s",
                 err.msg);
    {
        char *argv[] = {(char *)STK_TEST_REGISTRY_BIN, (char *)"serve", cfg_path, NULL};
        r->pid = stk_test_spawn(argv, r->log);
    }
    free(cfg);
    free(cfg_path);
    stk_test_wait_port(r->port, r->pid, r->log);
}

void stk_test_registry_stop(struct stk_test_registry *r)
{
    if (r)
        stk_test_stop_pid(&r->pid);
}

void stk_test_registry_push(const struct stk_test_registry *r, const char *src,
                            const char *repo_tag, int all)
{
    char *cmd = stk_xasprintf("%s copy -q %s--dest-tls-verify=false oci:%s "
                              "docker://127.0.0.1:%d/%s >/dev/null",
                              STK_TEST_SKOPEO_BIN, all ? "--all " : "", src, r->port, repo_tag);
    int st = system(cmd);

    cr_assert_eq(st, 0, "command failed (%d): %s", st, cmd);
    free(cmd);
}
