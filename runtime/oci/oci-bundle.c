/*
 * oci-bundle.c - the OCI bundle's config.json, built with jansson from a
 * struct rt_container_spec (OCI runtime-spec 1.0.2: config.md,
 * config-linux.md). The defaults follow what Docker and Podman give a
 * container: the same namespaces, default capability set, masked and
 * read-only paths, and the standard /proc, /dev, /sys mounts.
 */
#include "runtime/oci/oci-internal.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"

/* Docker's default capability set (moby oci/caps/defaults.go). */
static const char *const default_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

/* Every capability (capabilities(7), Linux 5.9+), for privileged containers and cap_add: ALL. */
static const char *const all_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    NULL,
};

/* The path of the init binary bind-mounted as /sbin/docker-init for `init: true`. */
#define OCI_INIT_BINARY "/usr/bin/tini-static"

/* Appends "CAP_"-prefixed NAME (upper-cased) to V unless present. */
static void caps_add(struct stk_strv *v, const char *name)
{
    char *c = strncasecmp(name, "CAP_", 4) == 0 ? stk_xstrdup(name) : stk_xasprintf("CAP_%s", name);

    for (char *q = c; *q; q++)
        if (*q >= 'a' && *q <= 'z')
            *q = (char)(*q - 'a' + 'A');
    if (!stk_strv_contains(v, c))
        stk_strv_push_take(v, c);
    else
        free(c);
}

/* The capability set: the defaults (or all when privileged), minus cap_drop, plus cap_add. */
static json_t *caps_json(const struct rt_container_spec *spec)
{
    struct stk_strv v = STK_STRV_INIT, out = STK_STRV_INIT;
    json_t *a = json_array();

    stk_strv_init(&v);
    stk_strv_init(&out);
    for (size_t i = 0; (spec->privileged ? all_caps : default_caps)[i]; i++)
        stk_strv_push(&v, (spec->privileged ? all_caps : default_caps)[i]);
    for (size_t i = 0; spec->cap_drop && spec->cap_drop[i]; i++) {
        if (strcasecmp(spec->cap_drop[i], "ALL") == 0) {
            stk_strv_release(&v);
            stk_strv_init(&v);
            continue;
        }
        struct stk_strv one = STK_STRV_INIT;
        stk_strv_init(&one);
        caps_add(&one, spec->cap_drop[i]);
        for (size_t k = 0; k < v.n; k++)
            if (strcmp(v.v[k], one.v[0]) != 0)
                stk_strv_push(&out, v.v[k]);
        stk_strv_release(&v);
        v = out;
        stk_strv_init(&out);
        stk_strv_release(&one);
    }
    for (size_t i = 0; spec->cap_add && spec->cap_add[i]; i++) {
        if (strcasecmp(spec->cap_add[i], "ALL") == 0) {
            for (size_t k = 0; all_caps[k]; k++)
                caps_add(&v, all_caps[k]);
            continue;
        }
        caps_add(&v, spec->cap_add[i]);
    }
    for (size_t k = 0; k < v.n; k++)
        json_array_append_new(a, json_string(v.v[k]));
    stk_strv_release(&v);
    stk_strv_release(&out);
    return a;
}

static const char *const masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    NULL,
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static json_t *strv_json(const char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *mount_new(const char *dest, const char *type, const char *source,
                         const char *const *options)
{
    json_t *m = json_object();

    json_object_set_new(m, "destination", json_string(dest));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "source", json_string(source));
    json_object_set_new(m, "options", strv_json(options));
    return m;
}

/*
 * Looks NAME up in the image's FILE (ROOTFS/etc/passwd or /etc/group): returns
 * the numeric id in *RET_ID (and, for passwd, the primary group in *RET_GID).
 * Returns 0, or -1 when there is no such entry.
 */
static int lookup_name(const char *rootfs, const char *file, const char *name, long *ret_id,
                       long *ret_gid)
{
    char *path = stk_xasprintf("%s/etc/%s", rootfs, file);
    FILE *f = fopen(path, "re");
    char line[1024];
    int found = -1;

    free(path);
    while (f && found < 0 && fgets(line, sizeof(line), f)) {
        char *save = NULL;
        char *n = strtok_r(line, ":", &save);
        char *pw = n ? strtok_r(NULL, ":", &save) : NULL;
        char *id = pw ? strtok_r(NULL, ":", &save) : NULL;
        char *gid = id ? strtok_r(NULL, ":", &save) : NULL;
        if (!n || !id || strcmp(n, name) != 0)
            continue;
        *ret_id = strtol(id, NULL, 10);
        if (ret_gid)
            *ret_gid = gid ? strtol(gid, NULL, 10) : *ret_id;
        found = 0;
    }
    if (f)
        fclose(f);
    return found;
}

/* Parses a decimal id; returns 0 and stores it, or -1 when S is not a number. */
static int parse_id(const char *s, long *ret)
{
    char *end;
    long v;

    if (!*s)
        return -1;
    v = strtol(s, &end, 10);
    if (*end || v < 0)
        return -1;
    *ret = v;
    return 0;
}

/*
 * Resolves "uid[:gid]" or "name[:group]" (Compose `user`, the image's User)
 * against ROOTFS/etc/passwd and /etc/group, as Docker does: a numeric uid
 * without a group gets the passwd entry's group when there is one, else 0.
 * An unknown name is an error, never root.
 */
static int resolve_user(const char *user, const char *rootfs, long *ret_uid, long *ret_gid,
                        struct stk_err *err)
{
    char *u = stk_xstrdup(user && *user ? user : "0");
    char *colon = strchr(u, ':');
    long uid = 0, gid = -1, pw_gid = -1;
    int ret = 0;

    if (colon)
        *colon = '\0';
    if (parse_id(u, &uid) < 0) {
        if (lookup_name(rootfs, "passwd", u, &uid, &pw_gid) < 0) {
            ret = stk_err_set(err, STK_EINVAL, 0, "user '%s' is not in the image's /etc/passwd", u);
            goto out;
        }
    }
    if (colon && colon[1]) {
        if (parse_id(colon + 1, &gid) < 0 &&
            lookup_name(rootfs, "group", colon + 1, &gid, NULL) < 0) {
            ret = stk_err_set(err, STK_EINVAL, 0, "group '%s' is not in the image's /etc/group",
                              colon + 1);
            goto out;
        }
    } else {
        gid = pw_gid >= 0 ? pw_gid : 0;
    }
    *ret_uid = uid;
    *ret_gid = gid;
out:
    free(u);
    return ret;
}

int rt__oci_config_new(const struct rt_container_spec *spec, const char *rootfs, json_t **ret,
                       struct stk_err *err)
{
    static const char *const proc_opts[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k",
                                           NULL};
    static const char *const pts_opts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
                                           "mode=0620", "gid=5",  NULL};
    static const char *const shm_opts[] = {"nosuid",    "noexec",      "nodev",
                                           "mode=1777", "size=65536k", NULL};
    static const char *const mq_opts[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro", NULL};
    static const char *const cg_opts[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
    json_t *cfg = json_object(), *process = json_object(), *user = json_object();
    json_t *caps = json_object(), *lnx = json_object(), *ns = json_array();
    json_t *mounts = json_array(), *ann = json_object(), *res = json_object();
    long uid = 0, gid = 0;

    if (spec->init && access(OCI_INIT_BINARY, X_OK) != 0) {
        json_decref(cfg);
        json_decref(process);
        json_decref(user);
        json_decref(caps);
        json_decref(lnx);
        json_decref(ns);
        json_decref(mounts);
        json_decref(ann);
        json_decref(res);
        return stk_err_set(err, STK_EUNAVAIL, errno, "init: true needs %s (Debian package tini)",
                           OCI_INIT_BINARY);
    }
    if (resolve_user(spec->process.user, rootfs, &uid, &gid, err) < 0) {
        json_decref(cfg);
        json_decref(process);
        json_decref(user);
        json_decref(caps);
        json_decref(lnx);
        json_decref(ns);
        json_decref(mounts);
        json_decref(ann);
        json_decref(res);
        return err->code;
    }
    json_object_set_new(cfg, "ociVersion", json_string("1.0.2"));

    json_object_set_new(user, "uid", json_integer(uid));
    json_object_set_new(user, "gid", json_integer(gid));
    json_object_set_new(process, "terminal", json_boolean(spec->process.terminal));
    json_object_set_new(process, "user", user);
    json_object_set_new(process, "args", strv_json((const char *const *)spec->process.args));
    json_object_set_new(process, "env", strv_json((const char *const *)spec->process.env));
    json_object_set_new(
        process, "cwd",
        json_string(spec->process.cwd && *spec->process.cwd ? spec->process.cwd : "/"));
    json_object_set_new(caps, "bounding", caps_json(spec));
    json_object_set_new(caps, "effective", caps_json(spec));
    json_object_set_new(caps, "permitted", caps_json(spec));
    json_object_set_new(process, "capabilities", caps);
    json_object_set_new(process, "noNewPrivileges", json_boolean(!spec->privileged));
    if (spec->init) {
        /* init: true — tini as PID 1, as Docker's docker-init (a bind of the static binary). */
        json_t *args = json_pack("[s, s]", "/sbin/docker-init", "--");
        for (size_t i = 0; spec->process.args && spec->process.args[i]; i++)
            json_array_append_new(args, json_string(spec->process.args[i]));
        json_object_set_new(process, "args", args);
    }
    json_object_set_new(cfg, "process", process);

    json_object_set_new(
        cfg, "root", json_pack("{s:s, s:b}", "path", rootfs, "readonly", spec->read_only_rootfs));
    json_object_set_new(cfg, "hostname", json_string(spec->hostname ? spec->hostname : spec->name));

    json_array_append_new(mounts, mount_new("/proc", "proc", "proc", proc_opts));
    json_array_append_new(mounts, mount_new("/dev", "tmpfs", "tmpfs", dev_opts));
    json_array_append_new(mounts, mount_new("/dev/pts", "devpts", "devpts", pts_opts));
    if (spec->shm_size > 0) {
        char size[48];
        const char *o[] = {"nosuid", "noexec", "nodev", "mode=1777", size, NULL};
        snprintf(size, sizeof(size), "size=%lldk", (long long)((spec->shm_size + 1023) / 1024));
        json_array_append_new(mounts, mount_new("/dev/shm", "tmpfs", "shm", o));
    } else {
        json_array_append_new(mounts, mount_new("/dev/shm", "tmpfs", "shm", shm_opts));
    }
    json_array_append_new(mounts, mount_new("/dev/mqueue", "mqueue", "mqueue", mq_opts));
    if (spec->privileged) {
        static const char *const rw_sys[] = {"nosuid", "noexec", "nodev", "rw", NULL};
        json_array_append_new(mounts, mount_new("/sys", "sysfs", "sysfs", rw_sys));
    } else {
        json_array_append_new(mounts, mount_new("/sys", "sysfs", "sysfs", sys_opts));
    }
    if (spec->init) {
        static const char *const ro[] = {"bind", "ro", NULL};
        json_array_append_new(mounts, mount_new("/sbin/docker-init", "bind", OCI_INIT_BINARY, ro));
    }
    json_array_append_new(mounts, mount_new("/sys/fs/cgroup", "cgroup", "cgroup", cg_opts));
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct rt_mount *m = &spec->mounts[i];
        if (strcmp(m->type, "tmpfs") == 0) {
            const char *o[] = {"nosuid", "nodev", m->read_only ? "ro" : "rw", NULL};
            json_array_append_new(mounts, mount_new(m->target, "tmpfs", "tmpfs", o));
        } else {
            const char *o[] = {"rbind", "rprivate", m->read_only ? "ro" : "rw", NULL};
            json_array_append_new(mounts, mount_new(m->target, "bind", m->source, o));
        }
    }
    json_object_set_new(cfg, "mounts", mounts);

    if (spec->pid_ns && spec->pid_ns[0] == '/')
        json_array_append_new(ns, json_pack("{s:s, s:s}", "type", "pid", "path", spec->pid_ns));
    else if (!spec->pid_ns || strcmp(spec->pid_ns, "host") != 0)
        json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
    if (spec->ipc && spec->ipc[0] == '/')
        json_array_append_new(ns, json_pack("{s:s, s:s}", "type", "ipc", "path", spec->ipc));
    else if (!spec->ipc || strcmp(spec->ipc, "host") != 0)
        json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
    if (spec->sandbox)
        json_array_append_new(ns,
                              json_pack("{s:s, s:s}", "type", "network", "path", spec->sandbox));
    else
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    json_object_set_new(lnx, "namespaces", ns);
    if (!spec->privileged) {
        json_object_set_new(lnx, "maskedPaths", strv_json(masked_paths));
        json_object_set_new(lnx, "readonlyPaths", strv_json(readonly_paths));
    }
    if (spec->n_sysctls) {
        json_t *sc = json_object();
        for (size_t i = 0; i < spec->n_sysctls; i++)
            json_object_set_new(sc, spec->sysctls[i].key, json_string(spec->sysctls[i].value));
        json_object_set_new(lnx, "sysctl", sc);
    }
    json_object_set_new(lnx, "cgroupsPath", json_sprintf("/stack/%s", spec->id));

    if (spec->resources.memory_bytes > 0)
        json_object_set_new(res, "memory",
                            json_pack("{s:I}", "limit", (json_int_t)spec->resources.memory_bytes));
    if (spec->resources.nano_cpus > 0)
        json_object_set_new(res, "cpu",
                            json_pack("{s:I, s:I}", "quota",
                                      (json_int_t)(spec->resources.nano_cpus / 10000), "period",
                                      (json_int_t)100000));
    if (spec->resources.pids_limit > 0)
        json_object_set_new(res, "pids",
                            json_pack("{s:I}", "limit", (json_int_t)spec->resources.pids_limit));
    json_object_set_new(
        res, "devices",
        json_pack("[{s:b, s:s}]", "allow", spec->privileged ? 1 : 0, "access", "rwm"));
    for (size_t i = 0; i < spec->n_devices; i++) {
        /* config-linux.md "Devices": type, major and minor are taken from the host node. */
        const struct rt_device *d = &spec->devices[i];
        const char *perm = d->permissions ? d->permissions : "rwm";
        json_t *devs = json_object_get(lnx, "devices");
        struct stat st;

        if (stat(d->host_path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        if (!devs) {
            devs = json_array();
            json_object_set_new(lnx, "devices", devs);
        }
        json_array_append_new(devs, json_pack("{s:s, s:s, s:I, s:I, s:i}", "path",
                                              d->container_path ? d->container_path : d->host_path,
                                              "type", S_ISCHR(st.st_mode) ? "c" : "b",
                                              (json_int_t)major(st.st_rdev),
                                              (json_int_t)minor(st.st_rdev), "fileMode", 0666));
        json_array_append_new(json_object_get(res, "devices"),
                              json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type",
                                        S_ISCHR(st.st_mode) ? "c" : "b",
                                        (json_int_t)major(st.st_rdev),
                                        (json_int_t)minor(st.st_rdev), "access", perm));
    }
    json_object_set_new(lnx, "resources", res);
    json_object_set_new(cfg, "linux", lnx);

    for (size_t i = 0; i < spec->n_labels; i++)
        json_object_set_new(ann, spec->labels[i].key, json_string(spec->labels[i].value));
    json_object_set_new(cfg, "annotations", ann);
    *ret = cfg;
    return 0;
}
