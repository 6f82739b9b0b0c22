/*
 * cli-os-posix.c - cli-os.h on Linux (selected by orchestrator/CMakeLists.txt).
 */
#include "orchestrator/cli/cli-os.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"

const char *cli_os_default_runtime(void)
{
    return "oci";
}

const char *cli_os_default_network(void)
{
    return "bridge";
}

const char *cli_os_default_state_dir(void)
{
    static char buf[PATH_MAX];
    const char *x;

    if (geteuid() == 0)
        return "/var/lib/stack";
    x = getenv("XDG_STATE_HOME");
    if (x && *x)
        snprintf(buf, sizeof(buf), "%s/stack", x);
    else
        snprintf(buf, sizeof(buf), "%s/.local/state/stack", getenv("HOME") ? getenv("HOME") : "");
    return buf;
}

const char *cli_os_default_run_dir(void)
{
    static char buf[PATH_MAX];
    const char *x;

    if (geteuid() == 0)
        return "/run/stack";
    x = getenv("XDG_RUNTIME_DIR");
    snprintf(buf, sizeof(buf), "%s/stack", x && *x ? x : "/tmp");
    return buf;
}

int cli_os_path_is_absolute(const char *path)
{
    return path[0] == '/';
}

char *cli_os_self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

    if (n <= 0)
        return stk_xstrdup("stack");
    buf[n] = '\0';
    return stk_xstrdup(buf);
}

void cli_os_init(void)
{
    sigset_t none;

    /*
     * A signal mask and ignored signals survive exec: conmon runs its exit
     * command with SIGCHLD blocked, and libuv then never learns that a child
     * (runc, a CNI plugin) exited, so the command waited for ever while
     * holding the store lock. Start from an empty mask and default SIGCHLD,
     * whoever started us.
     */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_os_on_sigint(void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_os_sleep_ms(unsigned long ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0)
        ;
}
