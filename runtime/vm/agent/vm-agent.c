/*
 * vm-agent.c - the guest agent of runtime/vm/: PID 1 of the utility VM
 * (DESIGN.md §7 "runtime/vm"). A static program, packed by the driver into
 * the initramfs with the kernel modules it loads.
 *
 * It mounts /dev, /proc and /sys, loads the modules listed in /modules/order
 * (virtio transport, console, virtiofs, virtio-net), mounts the virtiofs share
 * "share" (the monitor's staging directory: root/ is the container's overlay
 * root, m/N the host side of mount N, agent.json this program's
 * configuration), builds the container's root under /newroot (binds, tmpfs,
 * /proc, /sys, /dev), configures lo and eth0 and the hostname, then runs the
 * main process chrooted into /newroot with the service's environment, user
 * and working directory. stdout and stderr go to the host as frames on the
 * virtio-serial port "stack.ctl" (vm-proto.h); the host's requests (exec,
 * signal, top) are served on the same port, one session each. When the main
 * process exits the agent reports its status, waits for the host's
 * acknowledgement (at most 2 s), kills what is left and powers the VM off.
 *
 * With "stack.probe" on the kernel command line it only prints
 * "STACK-PROBE-OK" on the console and powers off: the driver's probe of
 * whether an accelerator boots this kernel at all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/vm/vm-proto.h"

#define MAX_SESS 64

struct sess {
    int used;
    uint32_t id;
    pid_t pid;
    int out, err; /* read ends, -1 when closed */
    int exited;
    int status;
};

static int ctl = -1;
static struct sess sessions[MAX_SESS];
static json_t *cfg;
static char **base_env;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("stack-agent: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void send_frame(uint8_t type, uint32_t session, const void *payload, size_t n)
{
    size_t len;
    uint8_t *f = rt__vm_frame_encode(type, session, payload, n, &len);

    write_all(ctl, f, len);
    free(f);
}

static void send_json(uint8_t type, uint32_t session, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    send_frame(type, session, s, strlen(s));
    free(s);
    json_decref(j);
}

static void send_fail(uint32_t session, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_fail(uint32_t session, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_json(RT_VM_FAIL, session, json_pack("{s:s}", "error", msg));
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Creates TARGET as the kind of SOURCE (a directory or an empty file) for a bind mount. */
static int make_target(const char *source, const char *target)
{
    struct stat st;
    char parent[4096];
    char *slash;
    int fd;

    if (stat(source, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(parent, sizeof(parent), "%s", target);
        slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = '\0';
            mkdir_p(parent, 0755);
        }
        fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EISDIR)
            return -1;
        if (fd >= 0)
            close(fd);
        return 0;
    }
    return mkdir_p(target, 0755);
}

static void load_modules(void)
{
    FILE *f = fopen("/modules/order", "re");
    char line[256];

    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char path[300];
        int fd;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0])
            continue;
        snprintf(path, sizeof(path), "/modules/%s", line);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            logmsg("open module %s: %s", line, strerror(errno));
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            logmsg("load module %s: %s", line, strerror(errno));
        close(fd);
    }
    fclose(f);
}

/* Finds the virtio-serial port named NAME: /dev/vportNpM. Waits up to 10 s. */
static int open_port(const char *name)
{
    for (int tries = 0; tries < 1000; tries++) {
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char p[512], n[128] = "";
            FILE *f;
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
            f = fopen(p, "re");
            if (!f)
                continue;
            if (fgets(n, sizeof(n), f))
                n[strcspn(n, "\n")] = '\0';
            fclose(f);
            if (strcmp(n, name) == 0) {
                int fd;
                snprintf(p, sizeof(p), "/dev/%s", de->d_name);
                fd = open(p, O_RDWR | O_CLOEXEC);
                if (fd >= 0) {
                    closedir(d);
                    return fd;
                }
            }
        }
        if (d)
            closedir(d);
        usleep(10000);
    }
    return -1;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int setup_root(void)
{
    json_t *mounts = json_object_get(cfg, "mounts"), *m;
    size_t i;
    char t[4096], s[4096];

    mkdir_p("/newroot", 0755);
    if (mount("/share/root", "/newroot", NULL, MS_BIND, NULL) < 0) {
        logmsg("bind root: %s", strerror(errno));
        return -1;
    }
    json_array_foreach(mounts, i, m)
    {
        const char *type = jstr(m, "type");
        const char *target = jstr(m, "target");
        int ro = json_is_true(json_object_get(m, "read_only"));
        if (!type || !target || target[0] != '/' || strstr(target, ".."))
            continue;
        snprintf(t, sizeof(t), "/newroot%s", target);
        if (strcmp(type, "tmpfs") == 0) {
            mkdir_p(t, 0755);
            if (mount("tmpfs", t, "tmpfs", ro ? MS_RDONLY : 0, "mode=1777") < 0) {
                logmsg("tmpfs %s: %s", target, strerror(errno));
                return -1;
            }
            continue;
        }
        snprintf(s, sizeof(s), "/share/m/%zu", i);
        if (make_target(s, t) < 0 || mount(s, t, NULL, MS_BIND, NULL) < 0) {
            logmsg("bind %s: %s", target, strerror(errno));
            return -1;
        }
        if (ro && mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
            logmsg("read-only %s: %s", target, strerror(errno));
    }
    mkdir_p("/newroot/proc", 0555);
    mkdir_p("/newroot/sys", 0555);
    mkdir_p("/newroot/dev", 0755);
    mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/newroot/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("devtmpfs", "/newroot/dev", "devtmpfs", MS_NOSUID, NULL);
    mkdir_p("/newroot/dev/pts", 0755);
    mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666");
    mkdir_p("/newroot/dev/shm", 01777);
    mount("shm", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k");
    if (json_is_true(json_object_get(cfg, "read_only_rootfs")))
        mount(NULL, "/newroot", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
    return 0;
}

static int if_up(int sock, const char *name)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

static void set_sin(struct sockaddr *sa, in_addr_t a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;

    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = a;
}

static int setup_net(void)
{
    json_t *net = json_object_get(cfg, "net");
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    struct in_addr addr, gw;
    int prefix;
    int ret = 0;

    if (sock < 0)
        return -1;
    if_up(sock, "lo");
    if (!json_is_object(net))
        goto out;
    prefix = (int)json_integer_value(json_object_get(net, "prefix"));
    if (!jstr(net, "address") || inet_pton(AF_INET, jstr(net, "address"), &addr) != 1 ||
        prefix < 0 || prefix > 32) {
        ret = -1;
        goto out;
    }
    /* virtio_net probes asynchronously: wait for eth0 to appear. */
    for (int i = 0; i < 500 && if_nametoindex("eth0") == 0; i++)
        usleep(10000);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
    set_sin(&ifr.ifr_addr, addr.s_addr);
    if (ioctl(sock, SIOCSIFADDR, &ifr) < 0) {
        logmsg("address of eth0: %s", strerror(errno));
        ret = -1;
        goto out;
    }
    set_sin(&ifr.ifr_netmask, prefix ? htonl(~0u << (32 - prefix)) : 0);
    if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0)
        logmsg("netmask of eth0: %s", strerror(errno));
    if (if_up(sock, "eth0") < 0)
        logmsg("eth0 up: %s", strerror(errno));
    if (jstr(net, "gateway") && inet_pton(AF_INET, jstr(net, "gateway"), &gw) == 1) {
        struct rtentry rt;
        memset(&rt, 0, sizeof(rt));
        set_sin(&rt.rt_dst, 0);
        set_sin(&rt.rt_genmask, 0);
        set_sin(&rt.rt_gateway, gw.s_addr);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        rt.rt_dev = (char *)"eth0";
        if (ioctl(sock, SIOCADDRT, &rt) < 0)
            logmsg("default route: %s", strerror(errno));
    }
out:
    close(sock);
    return ret;
}

/* USER is "uid[:gid]" or "name[:group]", resolved in the container's /etc files. */
static int resolve_user(const char *user, uid_t *uid, gid_t *gid)
{
    char name[256], group[256] = "";
    char *colon, *end;
    FILE *f;
    struct passwd *pw;
    struct group *gr;
    int have_gid = 0;

    *uid = 0;
    *gid = 0;
    if (!user || !*user)
        return 0;
    snprintf(name, sizeof(name), "%s", user);
    colon = strchr(name, ':');
    if (colon) {
        *colon = '\0';
        snprintf(group, sizeof(group), "%s", colon + 1);
    }
    errno = 0;
    *uid = (uid_t)strtoul(name, &end, 10);
    if (*end || end == name) {
        int found = 0;
        f = fopen("/etc/passwd", "re");
        while (f && (pw = fgetpwent(f))) {
            if (strcmp(pw->pw_name, name) == 0) {
                *uid = pw->pw_uid;
                *gid = pw->pw_gid;
                have_gid = 1;
                found = 1;
                break;
            }
        }
        if (f)
            fclose(f);
        if (!found) {
            fprintf(stderr, "unable to find user %s: no matching entries in passwd file\n", name);
            return -1;
        }
    } else {
        f = fopen("/etc/passwd", "re");
        while (f && (pw = fgetpwent(f)))
            if (pw->pw_uid == *uid) {
                *gid = pw->pw_gid;
                have_gid = 1;
                break;
            }
        if (f)
            fclose(f);
    }
    if (group[0]) {
        *gid = (gid_t)strtoul(group, &end, 10);
        if (*end || end == group) {
            int found = 0;
            f = fopen("/etc/group", "re");
            while (f && (gr = fgetgrent(f)))
                if (strcmp(gr->gr_name, group) == 0) {
                    *gid = gr->gr_gid;
                    found = 1;
                    break;
                }
            if (f)
                fclose(f);
            if (!found) {
                fprintf(stderr, "unable to find group %s\n", group);
                return -1;
            }
        }
    } else if (!have_gid) {
        *gid = 0;
    }
    return 0;
}

static char **strv_from_json(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    char **v = calloc(n + 1, sizeof(char *));
    json_t *x;
    size_t k = 0;

    if (!v)
        abort();
    json_array_foreach(arr, i, x) if (json_is_string(x)) v[k++] = strdup(json_string_value(x));
    return v;
}

/* ENV with the entries of EXTRA added (replacing same keys). New vector. */
static char **env_merge(char **env, json_t *extra)
{
    size_t n = 0, i;
    char **v;
    json_t *x;

    while (env && env[n])
        n++;
    v = calloc(n + json_array_size(extra) + 1, sizeof(char *));
    if (!v)
        abort();
    for (i = 0; i < n; i++)
        v[i] = env[i];
    json_array_foreach(extra, i, x)
    {
        const char *s = json_string_value(x);
        const char *eq = s ? strchr(s, '=') : NULL;
        size_t k;
        if (!eq)
            continue;
        for (k = 0; k < n; k++)
            if (strncmp(v[k], s, (size_t)(eq - s) + 1) == 0)
                break;
        v[k] = (char *)s;
        if (k == n)
            n++;
    }
    return v;
}

/* In the child: reports why the process cannot run on stderr and on EFD, then exits CODE. */
static void child_fail(int efd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void child_fail(int efd, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    fprintf(stderr, "%s\n", msg);
    write_all(efd, (const uint8_t *)msg, (size_t)n);
    _exit(code);
}

/*
 * In the child: enters the container's root, user and directory and runs
 * ARGS. EFD (close-on-exec) stays silent when the exec succeeds.
 */
static void child_exec(char **args, char **env, const char *cwd, const char *user, int efd)
{
    uid_t uid;
    gid_t gid;
    sigset_t all;

    setsid();
    if (chroot("/newroot") < 0 || chdir("/") < 0)
        child_fail(efd, 126, "chroot: %s", strerror(errno));
    if (resolve_user(user, &uid, &gid) < 0)
        child_fail(efd, 126, "unable to find user '%s' in the image", user);
    if (cwd && *cwd && chdir(cwd) < 0)
        child_fail(efd, 126, "chdir to cwd (\"%s\") failed: %s", cwd, strerror(errno));
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
        child_fail(efd, 126, "set user: %s", strerror(errno));
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    environ = env;
    execvp(args[0], args);
    child_fail(efd, errno == ENOENT ? 127 : 126, "exec: \"%s\": %s", args[0], strerror(errno));
}

static struct sess *sess_new(uint32_t id)
{
    for (int i = 0; i < MAX_SESS; i++)
        if (!sessions[i].used) {
            memset(&sessions[i], 0, sizeof(sessions[i]));
            sessions[i].used = 1;
            sessions[i].id = id;
            sessions[i].out = sessions[i].err = -1;
            return &sessions[i];
        }
    return NULL;
}

/*
 * Starts ARGS as session ID. Returns the PID, or -1. When the process could
 * not be started (no such command, user or directory) and RET_WHY is
 * non-NULL, the reason is stored there (the process has then exited).
 */
static int spawn(uint32_t id, char **args, char **env, const char *cwd, const char *user,
                 char *ret_why, size_t why_size)
{
    struct sess *s = sess_new(id);
    int po[2], pe[2], ef[2] = {-1, -1};
    pid_t pid;
    ssize_t n, len = 0;

    if (!s)
        return -1;
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
        (ret_why && pipe2(ef, O_CLOEXEC) < 0)) {
        s->used = 0;
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (ef[0] >= 0)
            close(ef[0]);
        child_exec(args, env, cwd, user, ef[1]);
    }
    close(po[1]);
    close(pe[1]);
    if (ef[1] >= 0)
        close(ef[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        if (ef[0] >= 0)
            close(ef[0]);
        s->used = 0;
        return -1;
    }
    /* EOF without a word: the exec happened. */
    if (ret_why) {
        ret_why[0] = '\0';
        while (len < (ssize_t)why_size - 1 &&
               (n = read(ef[0], ret_why + len, why_size - 1 - (size_t)len)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            len += n;
        }
        ret_why[len] = '\0';
        close(ef[0]);
    }
    s->pid = pid;
    s->out = po[0];
    s->err = pe[0];
    return pid;
}

static void top(uint32_t session)
{
    json_t *arr = json_array();
    DIR *d = opendir("/proc");
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char p[300], cmd[1024];
        long pid = strtol(de->d_name, NULL, 10);
        struct stat st;
        ssize_t n;
        int fd;
        if (pid <= 1)
            continue;
        snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, cmd, sizeof(cmd) - 1);
        close(fd);
        if (n <= 0)
            continue; /* kernel threads */
        cmd[n] = '\0';
        for (ssize_t i = 0; i < n - 1; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        snprintf(p, sizeof(p), "/proc/%ld", pid);
        if (stat(p, &st) < 0)
            continue;
        json_array_append_new(arr, json_pack("{s:I, s:I, s:s}", "pid", (json_int_t)pid, "uid",
                                             (json_int_t)st.st_uid, "cmd", cmd));
    }
    if (d)
        closedir(d);
    send_json(RT_VM_TOP, session, json_pack("{s:o}", "processes", arr));
}

static void handle_request(const struct rt__vm_frame *f)
{
    json_t *j = json_loadb((const char *)f->payload, f->len, 0, NULL);
    const char *op = jstr(j, "op");

    if (!op) {
        send_fail(f->session, "malformed request");
    } else if (strcmp(op, "signal") == 0) {
        int sig = (int)json_integer_value(json_object_get(j, "signal"));
        if (sessions[0].used && !sessions[0].exited && sessions[0].pid > 0 &&
            kill(sessions[0].pid, sig) == 0)
            send_json(RT_VM_EXIT, f->session, json_pack("{s:i}", "status", 0));
        else
            send_fail(f->session, "signal %d: the container's process is not running", sig);
    } else if (strcmp(op, "top") == 0) {
        top(f->session);
    } else if (strcmp(op, "exec") == 0) {
        json_t *args = json_object_get(j, "args");
        char **argv = strv_from_json(args);
        char **env = env_merge(base_env, json_object_get(j, "env"));
        const char *cwd = jstr(j, "cwd") ? jstr(j, "cwd") : jstr(cfg, "cwd");
        if (!argv[0] || spawn(f->session, argv, env, cwd, jstr(cfg, "user"), NULL, 0) < 0)
            send_fail(f->session, "exec: cannot start the process");
        for (size_t i = 0; argv[i]; i++)
            free(argv[i]);
        free(argv);
        free(env);
    } else {
        send_fail(f->session, "unknown request '%s'", op);
    }
    json_decref(j);
}

/* Sends the EXIT of S once its pipes are drained and it has been reaped. */
static int sess_finish(struct sess *s)
{
    if (!s->used || !s->exited || s->out >= 0 || s->err >= 0)
        return 0;
    send_json(RT_VM_EXIT, s->id, json_pack("{s:i}", "status", s->status));
    s->used = s == &sessions[0] ? 1 : 0;
    return s == &sessions[0];
}

static void wait_ack(struct rt__vm_rbuf *rb)
{
    struct timespec t0, t;
    uint8_t buf[4096];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd p = {.fd = ctl, .events = POLLIN};
        struct rt__vm_frame f;
        ssize_t n;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= 2000 || poll(&p, 1, (int)(2000 - ms)) <= 0)
            return;
        n = read(ctl, buf, sizeof(buf));
        if (n <= 0)
            return;
        rt__vm_rbuf_append(rb, buf, (size_t)n);
        while (rt__vm_frame_next(rb, &f) == 1)
            if (f.type == RT_VM_ACK)
                return;
    }
}

static void serve(int sfd)
{
    struct rt__vm_rbuf rb = {0};
    uint8_t buf[65536];

    for (;;) {
        struct pollfd p[2 + 2 * MAX_SESS];
        struct sess *who[2 + 2 * MAX_SESS];
        int n = 0;

        p[n].fd = ctl;
        p[n].events = POLLIN;
        who[n++] = NULL;
        p[n].fd = sfd;
        p[n].events = POLLIN;
        who[n++] = NULL;
        for (int i = 0; i < MAX_SESS; i++) {
            if (!sessions[i].used)
                continue;
            if (sessions[i].out >= 0) {
                p[n].fd = sessions[i].out;
                p[n].events = POLLIN;
                who[n++] = &sessions[i];
            }
            if (sessions[i].err >= 0) {
                p[n].fd = sessions[i].err;
                p[n].events = POLLIN;
                who[n++] = &sessions[i];
            }
        }
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[0].revents & POLLIN) {
            ssize_t r = read(ctl, buf, sizeof(buf));
            struct rt__vm_frame f;
            if (r > 0) {
                rt__vm_rbuf_append(&rb, buf, (size_t)r);
                while (rt__vm_frame_next(&rb, &f) == 1)
                    if (f.type == RT_VM_REQ)
                        handle_request(&f);
            } else if (r == 0) {
                usleep(20000); /* the host side is not connected (yet) */
            }
        } else if (p[0].revents & POLLHUP) {
            usleep(20000);
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            int status;
            pid_t pid;
            if (read(sfd, &si, sizeof(si)) < 0)
                continue;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (int i = 0; i < MAX_SESS; i++) {
                    if (!sessions[i].used || sessions[i].pid != pid || sessions[i].exited)
                        continue;
                    sessions[i].exited = 1;
                    sessions[i].status =
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
            }
        }
        for (int k = 2; k < n; k++) {
            struct sess *s = who[k];
            ssize_t r;
            if (!(p[k].revents & (POLLIN | POLLHUP)))
                continue;
            r = read(p[k].fd, buf, sizeof(buf));
            if (r > 0) {
                send_frame(p[k].fd == s->out ? RT_VM_OUT : RT_VM_ERR, s->id, buf, (size_t)r);
                continue;
            }
            close(p[k].fd);
            if (p[k].fd == s->out)
                s->out = -1;
            else
                s->err = -1;
        }
        for (int i = 0; i < MAX_SESS; i++) {
            if (sess_finish(&sessions[i])) {
                /* The main process is gone: the container is. */
                wait_ack(&rb);
                kill(-1, SIGKILL);
                power_off();
            }
        }
    }
}

int main(void)
{
    char *cmdline = NULL;
    char buf[4096];
    int fd, sfd;
    ssize_t n;
    sigset_t set;
    json_error_t jerr;
    char **args;
    char why[512];

    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        cmdline = buf;
    }
    if (cmdline && strstr(cmdline, "stack.probe")) {
        fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            write_all(fd, (const uint8_t *)"STACK-PROBE-OK\n", 15);
            close(fd);
        }
        power_off();
    }
    load_modules();
    mkdir_p("/share", 0755);
    if (mount("share", "/share", "virtiofs", 0, NULL) < 0) {
        logmsg("mount the virtiofs share: %s", strerror(errno));
        power_off();
    }
    ctl = open_port("stack.ctl");
    if (ctl < 0) {
        logmsg("no virtio-serial port 'stack.ctl'");
        power_off();
    }
    cfg = json_load_file("/share/agent.json", 0, &jerr);
    if (!cfg) {
        send_fail(0, "agent configuration: %s", jerr.text);
        power_off();
    }
    if (jstr(cfg, "hostname"))
        sethostname(jstr(cfg, "hostname"), strlen(jstr(cfg, "hostname")));
    if (setup_root() < 0) {
        send_fail(0, "cannot set up the container's file systems");
        wait_ack(&(struct rt__vm_rbuf){0});
        power_off();
    }
    if (setup_net() < 0) {
        send_fail(0, "cannot configure the network");
        power_off();
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    base_env = strv_from_json(json_object_get(cfg, "env"));
    args = strv_from_json(json_object_get(cfg, "args"));
    if (!args[0] ||
        spawn(0, args, base_env, jstr(cfg, "cwd"), jstr(cfg, "user"), why, sizeof(why)) < 0) {
        send_fail(0, "cannot start the container's process");
        power_off();
    }
    if (why[0]) {
        /* The process could not run: say why, then its status (126/127), as docker start. */
        int status = 0;
        waitpid(sessions[0].pid, &status, 0);
        send_fail(0, "%s", why);
        send_json(RT_VM_EXIT, 0,
                  json_pack("{s:i}", "status", WIFEXITED(status) ? WEXITSTATUS(status) : 127));
        wait_ack(&(struct rt__vm_rbuf){0});
        power_off();
    }
    send_json(RT_VM_STARTED, 0, json_pack("{s:i}", "pid", (int)sessions[0].pid));
    serve(sfd);
    power_off();
    return 0;
}
