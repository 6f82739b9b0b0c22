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
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/stk-alloc.h"

/* Docker's default capability set (moby oci/caps/defaults.go). */
static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",  "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",   "CAP_AUDIT_WRITE",  NULL,
};

static const char *const masked_paths[] = {
    "/proc/asound",   "/proc/acpi",          "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",     "/sys/firmware",       NULL,
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
            ret = stk_err_set(err, STK_EINVAL, 0, "user '%s' is not in the image's /etc/passwd",
                              u);
            goto out;
        }
    }
    if (colon && colon[1]) {
        if (parse_id(colon + 1, &gid) < 0 && lookup_name(rootfs, "group", colon + 1, &gid, NULL) < 0) {
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
    static const char *const pts_opts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                           "mode=0620", "gid=5", NULL};
    static const char *const shm_opts[] = {"nosuid", "noexec", "nodev", "mode=1777",
                                           "size=65536k", NULL};
    static const char *const mq_opts[] = {"nosuid", "noexec", "nodev", NULL};
    static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro", NULL};
    static const char *const cg_opts[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
    json_t *cfg = json_object(), *process = json_object(), *user = json_object();
    json_t *caps = json_object(), *lnx = json_object(), *ns = json_array();
    json_t *mounts = json_array(), *ann = json_object(), *res = json_object();
    long uid = 0, gid = 0;

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
    json_object_set_new(process, "cwd",
                        json_string(spec->process.cwd && *spec->process.cwd ? spec->process.cwd
                                                                            : "/"));
    json_object_set_new(caps, "bounding", strv_json(default_caps));
    json_object_set_new(caps, "effective", strv_json(default_caps));
    json_object_set_new(caps, "permitted", strv_json(default_caps));
    json_object_set_new(process, "capabilities", caps);
    json_object_set_new(process, "noNewPrivileges", json_true());
    json_object_set_new(cfg, "process", process);

    json_object_set_new(cfg, "root", json_pack("{s:s, s:b}", "path", rootfs, "readonly", 0));
    json_object_set_new(cfg, "hostname",
                        json_string(spec->hostname ? spec->hostname : spec->name));

    json_array_append_new(mounts, mount_new("/proc", "proc", "proc", proc_opts));
    json_array_append_new(mounts, mount_new("/dev", "tmpfs", "tmpfs", dev_opts));
    json_array_append_new(mounts, mount_new("/dev/pts", "devpts", "devpts", pts_opts));
    json_array_append_new(mounts, mount_new("/dev/shm", "tmpfs", "shm", shm_opts));
    json_array_append_new(mounts, mount_new("/dev/mqueue", "mqueue", "mqueue", mq_opts));
    json_array_append_new(mounts, mount_new("/sys", "sysfs", "sysfs", sys_opts));
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

    json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
    if (spec->sandbox)
        json_array_append_new(ns, json_pack("{s:s, s:s}", "type", "network", "path",
                                            spec->sandbox));
    else
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    json_object_set_new(lnx, "namespaces", ns);
    json_object_set_new(lnx, "maskedPaths", strv_json(masked_paths));
    json_object_set_new(lnx, "readonlyPaths", strv_json(readonly_paths));
    json_object_set_new(lnx, "cgroupsPath", json_sprintf("/stack/%s", spec->id));

    if (spec->resources.memory_bytes > 0)
        json_object_set_new(res, "memory",
                            json_pack("{s:I}", "limit", (json_int_t)spec->resources.memory_bytes));
    if (spec->resources.nano_cpus > 0)
        json_object_set_new(res, "cpu",
                            json_pack("{s:I, s:I}", "quota",
                                      (json_int_t)(spec->resources.nano_cpus / 10000),
                                      "period", (json_int_t)100000));
    if (spec->resources.pids_limit > 0)
        json_object_set_new(res, "pids",
                            json_pack("{s:I}", "limit", (json_int_t)spec->resources.pids_limit));
    json_object_set_new(res, "devices",
                        json_pack("[{s:b, s:s}]", "allow", 0, "access", "rwm"));
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
        json_array_append_new(
            devs, json_pack("{s:s, s:s, s:I, s:I, s:i}", "path",
                            d->container_path ? d->container_path : d->host_path, "type",
                            S_ISCHR(st.st_mode) ? "c" : "b", (json_int_t)major(st.st_rdev),
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
