/* stk-proc.c - see stk-proc.h. */
#include "stk-proc.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
/* Reads /proc/PID/NAME (NUL-separated) into BUF; returns the length, or -1. */
static ssize_t read_proc(const char *pid, const char *name, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/%s", pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Whether /proc/PID/stat says zombie or dead. */
static int proc_is_zombie(const char *pid)
{
    char state[512];
    const char *p;

    return read_proc(pid, "stat", state, sizeof(state)) > 0 && (p = strrchr(state, ')')) &&
           (p[2] == 'Z' || p[2] == 'X');
}

int stk_proc_alive(int pid)
{
    char id[24];

    if (pid <= 0 || kill(pid, 0) < 0)
        return 0;
    snprintf(id, sizeof(id), "%d", pid);
    return !proc_is_zombie(id);
}

/* Whether the NUL-separated BUF of length N contains NEEDLE in one of its strings. */
static int contains(const char *buf, ssize_t n, const char *needle)
{
    for (const char *p = buf; p < buf + n; p += strlen(p) + 1)
        if (strstr(p, needle))
            return 1;
    return 0;
}

/* Whether NAME is one of the ':'-separated NAMES. */
static int name_in(const char *name, const char *names)
{
    size_t len = strlen(name);

    for (const char *p = names; *p;) {
        size_t n = strcspn(p, ":");
        if (n == len && strncmp(p, name, n) == 0)
            return 1;
        p += n;
        if (*p == ':')
            p++;
    }
    return 0;
}

static int count_matching(const char *needle, const char *argv0_names, int in_environ,
                          int *ret_first)
{
    static char buf[65536];
    char self[32];
    DIR *d = opendir("/proc");
    int count = 0;

    snprintf(self, sizeof(self), "%ld", (long)getpid());
    for (struct dirent *de; d && (de = readdir(d));) {
        ssize_t n;
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, self) == 0)
            continue;
        n = read_proc(de->d_name, "cmdline", buf, sizeof(buf));
        if (n <= 0)
            continue;
        if (argv0_names) {
            const char *base = strrchr(buf, '/');
            if (!name_in(base ? base + 1 : buf, argv0_names))
                continue;
        }
        if (in_environ) {
            n = read_proc(de->d_name, "environ", buf, sizeof(buf));
            if (n <= 0)
                continue;
        }
        if (!contains(buf, n, needle))
            continue;
        /* Zombies have exited already. */
        if (proc_is_zombie(de->d_name))
            continue;
        if (ret_first && count == 0)
            *ret_first = atoi(de->d_name);
        count++;
    }
    if (d)
        closedir(d);
    return count;
}

int stk_proc_wait_stragglers(const char *needle, const char *argv0_names, int in_environ,
                             uint64_t timeout_ms)
{
    struct timespec pause = {0, 20 * 1000000L};
    uint64_t waited = 0;
    int n;

    while ((n = count_matching(needle, argv0_names, in_environ, NULL)) > 0 && waited < timeout_ms) {
        nanosleep(&pause, NULL);
        waited += 20;
    }
    return n;
}
int stk_proc_find(const char *argv0_names, const char *needle)
{
    int pid = 0;

    count_matching(needle, argv0_names, 0, &pid);
    return pid;
}
#else
int stk_proc_alive(int pid)
{
    (void)pid;
    return 0;
}

int stk_proc_find(const char *argv0_names, const char *needle)
{
    (void)argv0_names;
    (void)needle;
    return 0;
}

int stk_proc_wait_stragglers(const char *needle, const char *argv0_names, int in_environ,
                             uint64_t timeout_ms)
{
    (void)needle;
    (void)argv0_names;
    (void)in_environ;
    (void)timeout_ms;
    return 0;
}
#endif
