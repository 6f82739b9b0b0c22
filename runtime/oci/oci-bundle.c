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

/* Resolves "uid[:gid]" or "name[:group]" against ROOTFS/etc/passwd; unknown names map to 0. */
static void resolve_user(const char *user, const char *rootfs, long *ret_uid, long *ret_gid)
{
    char *u = stk_xstrdup(user ? user : "0");
    char *colon = strchr(u, ':');
    char *end;
    long uid = 0, gid = -1;

    if (colon)
        *colon = '\0';
    uid = strtol(u, &end, 10);
    if (*end != '\0' || end == u) {
        /* A name: look it up in the image's /etc/passwd. */
        char *path = stk_xasprintf("%s/etc/passwd", rootfs);
        FILE *f = fopen(path, "re");
        char line[512];

        uid = 0;
        while (f && fgets(line, sizeof(line), f)) {
            char *save = NULL;
            char *name = strtok_r(line, ":", &save);
            strtok_r(NULL, ":", &save);
            char *fu = strtok_r(NULL, ":", &save);
            char *fg = strtok_r(NULL, ":", &save);
            if (name && fu && fg && strcmp(name, u) == 0) {
                uid = strtol(fu, NULL, 10);
                gid = strtol(fg, NULL, 10);
                break;
            }
        }
        if (f)
            fclose(f);
        free(path);
    }
    if (colon && colon[1])
        gid = strtol(colon + 1, NULL, 10);
    *ret_uid = uid;
    *ret_gid = gid < 0 ? (uid == 0 ? 0 : uid) : gid;
    free(u);
}

json_t *rt__oci_config_new(const struct rt_container_spec *spec, const char *rootfs)
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
    long uid, gid;

    json_object_set_new(cfg, "ociVersion", json_string("1.0.2"));

    resolve_user(spec->process.user, rootfs, &uid, &gid);
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
    return cfg;
}
