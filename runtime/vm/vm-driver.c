/*
 * vm-driver.c - the VM runtime driver: `isolation: hyperv` on Linux, each
 * container in its own QEMU utility VM (DESIGN.md §1, §7 "runtime/vm";
 * issue 13).
 *
 * The measured choice (issue 13, Debian 12, qemu-system-x86 7.2,
 * linux-image-cloud-amd64 6.1, TCG): a q35 machine with SATA, SMBus, USB,
 * vmport, the i8042 and graphics off, -nodefaults, direct kernel boot of the
 * cloud kernel with an initramfs of our own (the static guest agent as /init
 * and the modules it loads), guest RAM in a shared memfd backend so that
 * vhost-user-fs works, virtiofs for the root and the mounts (the cloud kernel
 * has no 9p; microvm's vhost-user-fs-device failed with "vhost_set_mem_table
 * failed"), one virtio-serial port for stdio, exec, signals and the exit
 * status, virtio-net on a tap joined to the sandbox's veth by tc, and a
 * virtio-balloon with free page reporting only, so that what the guest frees
 * after boot (the decompressed kernel, the unpacked initramfs) goes back to
 * the host. Measured at driver level (bench/isolation.sh, TCG, 2 shared
 * cores): 3.6-3.9 s from create+start to a port answering in the guest, against
 * 0.06-0.09 s for the oci driver; an idle 256 MB VM is 198-199 MB PSS with its
 * virtiofsd (the guest keeps ~95 MB of its memory touched, TCG's translation
 * cache ~47 MB).
 * `-accel kvm -cpu host` is used only when a probe boot of that kernel with
 * KVM printed the agent's probe line within 20 s (cached in
 * STATE/vm/accel.json, keyed on QEMU's and the kernel's size and mtime):
 * here /dev/kvm opens, yet -cpu host aborts and the default CPU model hangs,
 * so the device node alone decides nothing. TCG otherwise.
 *
 * Each container has the oci driver's layout (vm-internal.h) and its overlay
 * root (runtime/oci/oci-rootfs.h, reused, not copied). `start` runs
 * stack-vm-monitor (vm-monitor.c), the detached monitor that owns QEMU and
 * virtiofsd, writes ctr.log in conmon's k8s-file format and the exit file,
 * and runs the exit command. kill, exec and top talk to the guest agent
 * through the monitor's socket.
 *
 * Resources: guest memory is the container's memory limit (at least
 * RT_VM_MIN_MEMORY_MB; RT_VM_DEFAULT_MEMORY_MB = 256 MiB when unset), vCPUs
 * are the CPU limit rounded up (1 when unset). The host PID of a running
 * container is QEMU's.
 *
 * Environment overrides (tests, benchmarks): STACK_VM_QEMU (the QEMU binary),
 * STACK_VM_KERNEL (a vmlinuz whose modules are in /lib/modules/RELEASE),
 * STACK_VM_ACCEL=tcg|kvm (skip the probe).
 */
#include "runtime/vm/vm-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-proc.h"
#include "common/stk-strv.h"
#include "runtime/oci/oci-internal.h"
#include "runtime/oci/oci-rootfs.h"
#include "runtime/rt-driver.h"

#define VM_POLL_MS 20
#define VM_KILL_WAIT_MS 15000
#define VM_START_TIMEOUT_MS 200000
#define VM_PROBE_TIMEOUT_MS 20000

/* The modules the agent loads, in dependency order (issue 13's measured order). */
static const char *const vm_modules[] = {
    "virtio_ring", "virtio",         "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
    "virtio_pci",  "virtio_balloon", "virtio_console",        "fuse",
    "virtiofs",    "failover",       "net_failover",          "virtio_net",
    NULL};

struct rt__vm {
    char qemu[PATH_MAX];
    char kernel[PATH_MAX];
    char kver[128];
    char virtiofsd[PATH_MAX];
    char agent[PATH_MAX];
    char monitor[PATH_MAX];
    char initrd[PATH_MAX];
    char accel[8]; /* "kvm" or "tcg" */
    char reason[256];
};

static struct rt__vm *vm_priv(struct rt_ctx *ctx)
{
    return ctx->priv;
}

/* ---- host discovery ------------------------------------------------------------------------ */

/* The newest /boot/vmlinuz-*-cloud-amd64 with its modules; fills KERNEL and KVER. */
static int find_kernel(struct rt__vm *v)
{
    const char *env = getenv("STACK_VM_KERNEL");
    DIR *d;
    struct dirent *de;
    const char *base;

    if (env) {
        if (access(env, R_OK) < 0)
            return -1;
        snprintf(v->kernel, sizeof(v->kernel), "%s", env);
        base = strrchr(env, '/') ? strrchr(env, '/') + 1 : env;
        if (strncmp(base, "vmlinuz-", 8) != 0)
            return -1;
        snprintf(v->kver, sizeof(v->kver), "%s", base + 8);
        return 0;
    }
    d = opendir("/boot");
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, "vmlinuz-", 8) != 0 || n < 19 ||
            strcmp(de->d_name + n - 11, "cloud-amd64") != 0)
            continue;
        if (v->kver[0] && strverscmp(de->d_name + 8, v->kver) <= 0)
            continue;
        snprintf(v->kver, sizeof(v->kver), "%s", de->d_name + 8);
        snprintf(v->kernel, sizeof(v->kernel), "/boot/%s", de->d_name);
    }
    if (d)
        closedir(d);
    return v->kver[0] ? 0 : -1;
}

/* Looks for NAME next to SELF_EXE, in ../lib/stack/ of it, then in the build tree. */
static int find_helper(const char *self_exe, const char *name, const char *build_path, char *out,
                       size_t size)
{
    char *dir = NULL, *cand;

    if (self_exe && strrchr(self_exe, '/')) {
        dir = stk_xstrndup(self_exe, (size_t)(strrchr(self_exe, '/') - self_exe));
        cand = stk_xasprintf("%s/%s", dir, name);
        if (access(cand, X_OK) == 0)
            goto found;
        free(cand);
        cand = stk_xasprintf("%s/../lib/stack/%s", dir, name);
        if (access(cand, X_OK) == 0)
            goto found;
        free(cand);
    }
    free(dir);
    if (access(build_path, X_OK) == 0) {
        snprintf(out, size, "%s", build_path);
        return 0;
    }
    return -1;
found:
    snprintf(out, size, "%s", cand);
    free(cand);
    free(dir);
    return 0;
}

/* The paths of the modules of VM_MODULES from KVER's modules.dep, in order. */
static int module_paths(const char *kver, struct stk_strv *ret, struct stk_err *err)
{
    char *dep = stk_xasprintf("/lib/modules/%s/modules.dep", kver);
    char *builtin = stk_xasprintf("/lib/modules/%s/modules.builtin", kver);
    char *data = NULL, *bdata = NULL;
    int r = 0;

    if (stk_file_read(dep, &data, NULL, err) < 0) {
        r = stk_err_wrap(err, "modules of the guest kernel '%s'", kver);
        goto out;
    }
    stk_file_read(builtin, &bdata, NULL, NULL);
    for (size_t i = 0; vm_modules[i]; i++) {
        char *want = stk_xasprintf("/%s.ko", vm_modules[i]);
        char *found = NULL;
        for (char *line = data; line && *line;) {
            char *nl = strchr(line, '\n');
            char *colon = strchr(line, ':');
            if (colon && (!nl || colon < nl)) {
                size_t n = (size_t)(colon - line), w = strlen(want);
                if (n >= w && strncmp(colon - w, want, w) == 0) {
                    found = stk_xasprintf("/lib/modules/%s/%.*s", kver, (int)n, line);
                    break;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
        if (found) {
            stk_strv_push_take(ret, found);
        } else if (!bdata || !strstr(bdata, want)) {
            r = stk_err_set(err, STK_EUNAVAIL, 0,
                            "the guest kernel '%s' has no module '%s' (install "
                            "linux-image-cloud-amd64)",
                            kver, vm_modules[i]);
            free(want);
            goto out;
        }
        free(want);
    }
out:
    free(dep);
    free(builtin);
    free(data);
    free(bdata);
    return r;
}

static int ar_add_file(struct archive *a, const char *name, const char *path, mode_t mode,
                       struct stk_err *err)
{
    struct archive_entry *e = archive_entry_new();
    char *data = NULL;
    size_t len = 0;
    int r = 0;

    if (stk_file_read(path, &data, &len, err) < 0) {
        archive_entry_free(e);
        return err->code;
    }
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data, len) != (la_ssize_t)len)
        r = stk_err_set(err, STK_EIO, 0, "initramfs: write '%s': %s", name,
                        archive_error_string(a));
    archive_entry_free(e);
    free(data);
    return r;
}

static int ar_add_node(struct archive *a, const char *name, unsigned type, mode_t mode, dev_t rdev,
                       const char *data, struct stk_err *err)
{
    struct archive_entry *e = archive_entry_new();
    size_t len = data ? strlen(data) : 0;
    int r = 0;

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_rdev(e, rdev);
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (len && archive_write_data(a, data, len) != (la_ssize_t)len))
        r = stk_err_set(err, STK_EIO, 0, "initramfs: write '%s': %s", name,
                        archive_error_string(a));
    archive_entry_free(e);
    return r;
}

/*
 * Builds the initramfs (a newc cpio, libarchive) of the agent and the modules
 * into STATE/vm/initramfs-KVER.cpio, unless the one there was built from the
 * same agent (size and mtime) and module list (its key file says so).
 */
static int build_initrd(struct rt_ctx *ctx, struct rt__vm *v, struct stk_err *err)
{
    char *dir = stk_xasprintf("%s/vm", ctx->state_dir);
    char *tmp = NULL;
    struct stk_strv mods = STK_STRV_INIT;
    struct stk_buf order = STK_BUF_INIT;
    struct archive *a = NULL;
    struct stat st_agent, st_initrd;
    struct stk_buf key = STK_BUF_INIT;
    char *keyf = NULL, *old_key = NULL;
    static const char *const dirs[] = {"dev", "proc", "sys", "share", "newroot", "modules", NULL};
    int r = 0;

    snprintf(v->initrd, sizeof(v->initrd), "%s/initramfs-%s.cpio", dir, v->kver);
    keyf = stk_xasprintf("%s.key", v->initrd);
    if (stat(v->agent, &st_agent) < 0) {
        r = stk_err_set(err, STK_ENOENT, errno, "guest agent '%s'", v->agent);
        goto out;
    }
    stk_buf_printf(&key, "%lld-%lld.%09ld", (long long)st_agent.st_size,
                   (long long)st_agent.st_mtim.tv_sec, st_agent.st_mtim.tv_nsec);
    for (size_t i = 0; vm_modules[i]; i++)
        stk_buf_printf(&key, " %s", vm_modules[i]);
    if (stat(v->initrd, &st_initrd) == 0 && stk_file_read(keyf, &old_key, NULL, NULL) == 0 &&
        strcmp(old_key, key.buf) == 0)
        goto out;
    if ((r = stk_mkdir_p(dir, 0700, err)) < 0)
        goto out;
    stk_strv_init(&mods);
    if ((r = module_paths(v->kver, &mods, err)) < 0)
        goto out;
    tmp = stk_xasprintf("%s.tmp.%ld", v->initrd, (long)getpid());
    a = archive_write_new();
    archive_write_set_format_cpio_newc(a);
    archive_write_add_filter_none(a);
    if (archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
        r = stk_err_set(err, STK_EIO, 0, "initramfs: open '%s': %s", tmp, archive_error_string(a));
        goto out;
    }
    for (size_t i = 0; dirs[i]; i++)
        if ((r = ar_add_node(a, dirs[i], AE_IFDIR, 0755, 0, NULL, err)) < 0)
            goto out;
    if ((r = ar_add_node(a, "dev/console", AE_IFCHR, 0600, makedev(5, 1), NULL, err)) < 0 ||
        (r = ar_add_file(a, "init", v->agent, 0755, err)) < 0)
        goto out;
    for (size_t i = 0; i < mods.n; i++) {
        const char *base = strrchr(mods.v[i], '/') + 1;
        char *name = stk_xasprintf("modules/%s", base);
        r = ar_add_file(a, name, mods.v[i], 0644, err);
        free(name);
        if (r < 0)
            goto out;
        stk_buf_printf(&order, "%s\n", base);
    }
    if ((r = ar_add_node(a, "modules/order", AE_IFREG, 0644, 0, order.buf, err)) < 0)
        goto out;
    if (archive_write_close(a) != ARCHIVE_OK) {
        r = stk_err_set(err, STK_EIO, 0, "initramfs: close: %s", archive_error_string(a));
        goto out;
    }
    if (rename(tmp, v->initrd) < 0)
        r = stk_err_set(err, STK_EIO, errno, "initramfs: rename to '%s'", v->initrd);
    else
        r = stk_file_write_atomic(keyf, key.buf, key.len, 0600, 0, err);
out:
    free(keyf);
    free(old_key);
    stk_buf_release(&key);
    if (a)
        archive_write_free(a);
    if (tmp && r < 0)
        unlink(tmp);
    free(tmp);
    free(dir);
    stk_strv_release(&mods);
    stk_buf_release(&order);
    return r;
}

struct probe {
    int done;
    int ok;
};

static void probe_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                     const struct stk_buf *errb, const struct stk_buf *sync,
                     const struct stk_err *err, void *userdata)
{
    struct probe *p = userdata;

    (void)exit_status;
    (void)term_signal;
    (void)errb;
    (void)sync;
    p->done = 1;
    p->ok = !err && out->len && strstr(out->buf, "STACK-PROBE-OK") != NULL;
}

/* Boots the kernel once with KVM (init: nothing else runs on the loop yet). */
static int probe_kvm(struct rt_ctx *ctx, struct rt__vm *v)
{
    char *argv[] = {v->qemu,
                    (char *)"-nodefaults",
                    (char *)"-no-user-config",
                    (char *)"-nographic",
                    (char *)"-no-reboot",
                    (char *)"-M",
                    (char *)"q35,accel=kvm",
                    (char *)"-cpu",
                    (char *)"host",
                    (char *)"-m",
                    (char *)"128M",
                    (char *)"-kernel",
                    v->kernel,
                    (char *)"-initrd",
                    v->initrd,
                    (char *)"-append",
                    (char *)"console=ttyS0 quiet panic=-1 stack.probe",
                    (char *)"-serial",
                    (char *)"stdio",
                    NULL};
    struct rt__spawn_opts so = {.argv = argv, .capture = 1, .timeout_ms = VM_PROBE_TIMEOUT_MS};
    struct probe p = {0, 0};

    if (rt__oci_spawn(ctx->loop, &so, probe_cb, &p, NULL, NULL) < 0)
        return 0;
    while (!p.done)
        uv_run(ctx->loop, UV_RUN_ONCE);
    return p.ok;
}

static void choose_accel(struct rt_ctx *ctx, struct rt__vm *v)
{
    const char *force = getenv("STACK_VM_ACCEL");
    char *cache = stk_xasprintf("%s/vm/accel.json", ctx->state_dir);
    struct stat sq, sk;
    char key[160];
    json_t *j;
    int fd, kvm;

    snprintf(v->accel, sizeof(v->accel), "tcg");
    if (force && (strcmp(force, "tcg") == 0 || strcmp(force, "kvm") == 0)) {
        snprintf(v->accel, sizeof(v->accel), "%s", force);
        goto out;
    }
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        goto out;
    close(fd);
    if (stat(v->qemu, &sq) < 0 || stat(v->kernel, &sk) < 0)
        goto out;
    snprintf(key, sizeof(key), "%lld-%lld-%lld-%lld", (long long)sq.st_size,
             (long long)sq.st_mtim.tv_sec, (long long)sk.st_size, (long long)sk.st_mtim.tv_sec);
    j = json_load_file(cache, 0, NULL);
    if (j && json_is_string(json_object_get(j, "key")) &&
        strcmp(json_string_value(json_object_get(j, "key")), key) == 0) {
        kvm = json_is_true(json_object_get(j, "kvm_works"));
    } else {
        kvm = probe_kvm(ctx, v);
        json_decref(j);
        j = json_pack("{s:s, s:b}", "key", key, "kvm_works", kvm);
        json_dump_file(j, cache, JSON_INDENT(2));
    }
    json_decref(j);
    if (kvm)
        snprintf(v->accel, sizeof(v->accel), "kvm");
out:
    free(cache);
}

static int vm_init(struct rt_ctx *ctx, struct stk_err *err)
{
    struct rt__vm *v = vm_priv(ctx);
    const char *qemu = getenv("STACK_VM_QEMU");
    struct stk_err e = STK_ERR_INIT;

    if (stk_mkdir_p(ctx->state_dir, 0711, err) < 0 || stk_mkdir_p(ctx->run_dir, 0711, err) < 0)
        return err->code;
    snprintf(v->qemu, sizeof(v->qemu), "%s", qemu ? qemu : "/usr/bin/qemu-system-x86_64");
    snprintf(v->virtiofsd, sizeof(v->virtiofsd), "/usr/lib/qemu/virtiofsd");
    if (access(v->qemu, X_OK) < 0) {
        snprintf(v->reason, sizeof(v->reason),
                 "'%.120s' is not installed: hyperv isolation needs QEMU (apt-get install "
                 "qemu-system-x86)",
                 v->qemu);
        return 0;
    }
    if (access(v->virtiofsd, X_OK) < 0) {
        snprintf(v->reason, sizeof(v->reason),
                 "'%.120s' is not installed: hyperv isolation needs virtiofsd (apt-get install "
                 "qemu-system-common)",
                 v->virtiofsd);
        return 0;
    }
    if (find_kernel(v) < 0) {
        snprintf(v->reason, sizeof(v->reason),
                 "no guest kernel (%.120s): hyperv isolation needs one (apt-get install "
                 "linux-image-cloud-amd64)",
                 getenv("STACK_VM_KERNEL") ? getenv("STACK_VM_KERNEL")
                                           : "/boot/vmlinuz-*-cloud-amd64");
        return 0;
    }
    if (find_helper(ctx->self_exe, "stack-vm-agent", STK_VM_AGENT_BUILD_PATH, v->agent,
                    sizeof(v->agent)) < 0 ||
        find_helper(ctx->self_exe, "stack-vm-monitor", STK_VM_MONITOR_BUILD_PATH, v->monitor,
                    sizeof(v->monitor)) < 0) {
        snprintf(v->reason, sizeof(v->reason),
                 "stack-vm-agent or stack-vm-monitor is missing (install stack with its "
                 "helpers: scripts/setup)");
        return 0;
    }
    if (geteuid() != 0) {
        snprintf(v->reason, sizeof(v->reason), "the VM driver needs root");
        return 0;
    }
    if (build_initrd(ctx, v, &e) < 0) {
        snprintf(v->reason, sizeof(v->reason), "%.250s", e.msg);
        stk_err_clear(&e);
        return 0;
    }
    choose_accel(ctx, v);
    return 0;
}

static void vm_fini(struct rt_ctx *ctx)
{
    (void)ctx;
}

/* ---- requests ------------------------------------------------------------------------------- */

enum vm_op {
    OP_HOST_INFO,
    OP_CREATE,
    OP_START,
    OP_KILL,
    OP_STOP,
    OP_DELETE,
    OP_STATE,
    OP_LIST,
    OP_EXEC,
    OP_LOGS,
    OP_TOP,
};

struct vm_req {
    struct rt_req base; /* first */
    enum vm_op op;
    rt_done_fn *done;
    void *userdata;
    char *id;
    char *cdir;
    struct rt_container_spec *spec;
    struct rt__proc *proc;
    uv_timer_t timer;
    uv_work_t work;
    /* the monitor connection (kill, exec, top, stop) */
    struct vm_conn *conn;
    int answered;
    struct rt__vm_rbuf rb;
    json_t *request;
    int capture;
    struct stk_buf out;
    /* stop */
    int signal;
    int step;
    uint64_t grace_ms;
    uint64_t waited_ms;
    uint64_t timeout_ms;
    struct stk_err err;
    struct rt_container_info info;
    struct rt_container_list list;
    struct rt_host_info host;
    int exit_code;
    char *output;
    int refs; /* handles (the timer, connections) not yet closed */
};

/* One connection to the monitor's socket; freed in its close callback. */
struct vm_conn {
    uv_pipe_t pipe;
    struct vm_req *r;
};

static void vm_req_cancel(struct rt_req *base)
{
    struct vm_req *r = (struct vm_req *)base;

    if (r->proc)
        rt__proc_cancel(r->proc);
}

static struct vm_req *vm_req_new(struct rt_ctx *ctx, enum vm_op op, const char *id,
                                 rt_done_fn *done, void *userdata)
{
    struct vm_req *r = stk_new0(struct vm_req);

    r->base.ctx = ctx;
    r->base.cancel = vm_req_cancel;
    r->op = op;
    r->done = done;
    r->userdata = userdata;
    r->id = stk_xstrdup(id);
    r->cdir = id ? rt__oci_cdir(ctx, id, NULL) : NULL;
    stk_buf_init(&r->out, 0);
    uv_timer_init(ctx->loop, &r->timer);
    r->timer.data = r;
    r->refs = 1;
    return r;
}

static void vm_req_unref(struct vm_req *r)
{
    if (--r->refs > 0)
        return;
    free(r->id);
    free(r->cdir);
    if (r->spec) {
        rt_container_spec_release(r->spec);
        free(r->spec);
    }
    rt__vm_rbuf_release(&r->rb);
    json_decref(r->request);
    stk_buf_release(&r->out);
    stk_err_clear(&r->err);
    rt_container_info_release(&r->info);
    rt_container_list_release(&r->list);
    free(r->output);
    free(r);
}

static void timer_close_cb(uv_handle_t *h)
{
    vm_req_unref(h->data);
}

static void conn_close_cb(uv_handle_t *h)
{
    struct vm_conn *c = h->data;
    struct vm_req *r = c->r;

    free(c);
    vm_req_unref(r);
}

static void conn_close(struct vm_req *r)
{
    if (!r->conn)
        return;
    uv_close((uv_handle_t *)&r->conn->pipe, conn_close_cb);
    r->conn = NULL;
}

static void vm_req_close(struct vm_req *r)
{
    conn_close(r);
    uv_close((uv_handle_t *)&r->timer, timer_close_cb);
}

static void vm_req_finish(struct vm_req *r)
{
    struct rt_result res;

    memset(&res, 0, sizeof(res));
    uv_timer_stop(&r->timer);
    if (r->base.canceled && !r->err.code)
        stk_err_set(&r->err, STK_ECANCELED, 0, "operation on '%s' canceled", r->id ? r->id : "");
    if (!r->err.code) {
        switch (r->op) {
        case OP_HOST_INFO:
            res.kind = RT_RESULT_HOST_INFO;
            res.host = &r->host;
            break;
        case OP_STATE:
            res.kind = RT_RESULT_INFO;
            res.info = &r->info;
            break;
        case OP_LIST:
            res.kind = RT_RESULT_LIST;
            res.list = &r->list;
            break;
        case OP_EXEC:
            res.kind = RT_RESULT_EXEC;
            res.exit_code = r->exit_code;
            res.output = r->output ? r->output : "";
            break;
        case OP_TOP:
            res.kind = RT_RESULT_TOP;
            res.output = r->output ? r->output : "";
            break;
        case OP_LOGS:
            res.kind = RT_RESULT_LOGS;
            res.log_path = r->output;
            break;
        default:
            res.kind = RT_RESULT_NONE;
            break;
        }
    }
    r->done(&r->base, r->err.code ? NULL : &res, r->err.code ? &r->err : NULL, r->userdata);
    vm_req_close(r);
}

static void finish_cb(uv_timer_t *t)
{
    vm_req_finish(t->data);
}

static void vm_req_finish_later(struct vm_req *r)
{
    uv_timer_start(&r->timer, finish_cb, 0, 0);
}

static int abort_req(struct vm_req *r, int code)
{
    vm_req_close(r);
    return code;
}

static int start_req(struct rt_ctx *ctx, enum vm_op op, const char *id, struct vm_req **ret,
                     rt_done_fn *done, void *userdata, struct stk_err *err)
{
    if (vm_priv(ctx)->reason[0])
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", vm_priv(ctx)->reason);
    if (!id || !*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return stk_err_set(err, STK_EINVAL, 0, "bad container id");
    *ret = vm_req_new(ctx, op, id, done, userdata);
    return 0;
}

/* ---- container facts ------------------------------------------------------------------------ */

static char *cfile(struct rt_ctx *ctx, const char *id, const char *leaf)
{
    return rt__oci_cdir(ctx, id, leaf);
}

static long read_long(const char *path)
{
    char *data = NULL;
    long v;

    if (stk_file_read(path, &data, NULL, NULL) < 0)
        return -1;
    v = strtol(data, NULL, 10);
    free(data);
    return v;
}

static int monitor_pid(struct rt_ctx *ctx, const char *id)
{
    char *p = cfile(ctx, id, "monitor.pid");
    long pid = read_long(p);

    free(p);
    return pid > 0 && stk_proc_alive((int)pid) ? (int)pid : 0;
}

static int qemu_pid(struct rt_ctx *ctx, const char *id)
{
    char *p = cfile(ctx, id, "qemu.pid");
    long pid = read_long(p);

    free(p);
    return pid > 0 && stk_proc_alive((int)pid) ? (int)pid : 0;
}

static char *exit_path(struct rt_ctx *ctx, const char *id)
{
    return stk_xasprintf("%s/containers/%s/exit/%s", ctx->state_dir, id, id);
}

static void load_info(struct rt_ctx *ctx, const char *id, struct rt_container_info *info)
{
    char *lp = cfile(ctx, id, "labels.json"), *sp = cfile(ctx, id, "started");
    char *vp = cfile(ctx, id, "vm.json"), *ep = exit_path(ctx, id);
    json_t *root = json_load_file(lp, 0, NULL), *labels, *val;
    const char *k;
    struct stat st;
    size_t i = 0;
    long code;

    memset(info, 0, sizeof(*info));
    info->id = stk_xstrdup(id);
    info->isolation = RT_ISOLATION_HYPERV;
    if (root) {
        info->name = stk_xstrdup(json_string_value(json_object_get(root, "name")));
        labels = json_object_get(root, "labels");
        info->labels = stk_xcalloc(json_object_size(labels) + 1, sizeof(struct rt_kv));
        json_object_foreach(labels, k, val)
        {
            if (!json_is_string(val))
                continue;
            info->labels[i].key = stk_xstrdup(k);
            info->labels[i].value = stk_xstrdup(json_string_value(val));
            i++;
        }
        info->n_labels = i;
        json_decref(root);
    }
    if (stat(vp, &st) == 0)
        info->created_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    {
        char *data = NULL;
        if (stk_file_read(sp, &data, NULL, NULL) == 0)
            info->started_ns = strtoll(data, NULL, 10);
        free(data);
    }
    if (monitor_pid(ctx, id)) {
        info->state = RT_STATE_RUNNING;
        info->pid = qemu_pid(ctx, id);
    } else if ((code = read_long(ep)) >= 0) {
        info->state = RT_STATE_STOPPED;
        info->has_exit_code = 1;
        info->exit_code = (int)code;
        if (stat(ep, &st) == 0)
            info->finished_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    } else {
        char *ap = cfile(ctx, id, "agent.json");
        info->state = stk_path_exists(ap) ? RT_STATE_CREATED : RT_STATE_CREATING;
        free(ap);
    }
    free(lp);
    free(sp);
    free(vp);
    free(ep);
}

/* ---- host_info, state, list, logs ---------------------------------------------------------- */

static int vm_host_info(struct rt_ctx *ctx, rt_done_fn *done, void *userdata,
                        struct rt_req **ret_req, struct stk_err *err)
{
    struct rt__vm *v = vm_priv(ctx);
    struct vm_req *r = vm_req_new(ctx, OP_HOST_INFO, NULL, done, userdata);
    char *rel = NULL;

    (void)err;
    r->host.available = v->reason[0] == '\0';
    snprintf(r->host.reason, sizeof(r->host.reason), "%s", v->reason);
    r->host.isolations = r->host.available ? 1u << RT_ISOLATION_HYPERV : 0;
    r->host.default_isolation = RT_ISOLATION_HYPERV;
    snprintf(r->host.os, sizeof(r->host.os), "linux");
    if (stk_file_read("/proc/sys/kernel/osrelease", &rel, NULL, NULL) == 0) {
        rel[strcspn(rel, "\n")] = '\0';
        snprintf(r->host.os_build, sizeof(r->host.os_build), "%s", rel);
        free(rel);
    }
    snprintf(r->host.runtime, sizeof(r->host.runtime), "qemu");
    if (r->host.available)
        snprintf(r->host.runtime_version, sizeof(r->host.runtime_version), "accel=%s kernel=%.40s",
                 v->accel, v->kver);
    if (ret_req)
        *ret_req = &r->base;
    vm_req_finish_later(r);
    return 0;
}

static int is_vm_container(struct rt_ctx *ctx, const char *id)
{
    char *p = cfile(ctx, id, "vm.json");
    int yes = stk_path_exists(p);

    free(p);
    return yes;
}

static int vm_state(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                    struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_STATE, id, &r, done, userdata, err)) < 0)
        return ret;
    if (!is_vm_container(ctx, id))
        stk_err_set(&r->err, STK_ENOENT, 0, "container '%s' does not exist", id);
    else
        load_info(ctx, id, &r->info);
    if (ret_req)
        *ret_req = &r->base;
    vm_req_finish_later(r);
    return 0;
}

static int vm_list(struct rt_ctx *ctx, rt_done_fn *done, void *userdata, struct rt_req **ret_req,
                   struct stk_err *err)
{
    struct vm_req *r;
    char *dir;
    DIR *d;
    struct dirent *de;
    size_t alloc = 16;

    if (vm_priv(ctx)->reason[0])
        return stk_err_set(err, STK_EUNAVAIL, 0, "%s", vm_priv(ctx)->reason);
    r = vm_req_new(ctx, OP_LIST, NULL, done, userdata);
    dir = stk_xasprintf("%s/containers", ctx->state_dir);
    r->list.items = stk_xcalloc(alloc, sizeof(struct rt_container_info));
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !is_vm_container(ctx, de->d_name))
            continue;
        if (r->list.n == alloc) {
            alloc *= 2;
            r->list.items = stk_xrealloc(r->list.items, alloc * sizeof(struct rt_container_info));
        }
        load_info(ctx, de->d_name, &r->list.items[r->list.n++]);
    }
    if (d)
        closedir(d);
    free(dir);
    if (ret_req)
        *ret_req = &r->base;
    vm_req_finish_later(r);
    return 0;
}

static int vm_logs(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                   struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if ((ret = start_req(ctx, OP_LOGS, id, &r, done, userdata, err)) < 0)
        return ret;
    r->output = cfile(ctx, id, "ctr.log");
    if (!is_vm_container(ctx, id))
        stk_err_set(&r->err, STK_ENOENT, 0, "container '%s' not found", id);
    if (ret_req)
        *ret_req = &r->base;
    vm_req_finish_later(r);
    return 0;
}

/* ---- create --------------------------------------------------------------------------------- */

static struct rt_container_spec *spec_copy(const struct rt_container_spec *s)
{
    struct rt_container_spec *c = stk_new0(struct rt_container_spec);

    c->id = stk_xstrdup(s->id);
    c->name = stk_xstrdup(s->name);
    c->isolation = s->isolation;
    c->layer_digests = stk_strv_dup(s->layer_digests);
    c->hostname = stk_xstrdup(s->hostname);
    c->process.args = stk_strv_dup(s->process.args);
    c->process.env = stk_strv_dup(s->process.env);
    c->process.cwd = stk_xstrdup(s->process.cwd);
    c->process.user = stk_xstrdup(s->process.user);
    c->n_mounts = s->n_mounts;
    c->mounts = stk_xcalloc(s->n_mounts + 1, sizeof(struct rt_mount));
    for (size_t i = 0; i < s->n_mounts; i++) {
        c->mounts[i].type = stk_xstrdup(s->mounts[i].type);
        c->mounts[i].source = stk_xstrdup(s->mounts[i].source);
        c->mounts[i].target = stk_xstrdup(s->mounts[i].target);
        c->mounts[i].read_only = s->mounts[i].read_only;
    }
    c->resources = s->resources;
    c->sandbox = stk_xstrdup(s->sandbox);
    c->n_labels = s->n_labels;
    c->labels = stk_xcalloc(s->n_labels + 1, sizeof(struct rt_kv));
    for (size_t i = 0; i < s->n_labels; i++) {
        c->labels[i].key = stk_xstrdup(s->labels[i].key);
        c->labels[i].value = stk_xstrdup(s->labels[i].value);
    }
    c->exit_command = stk_strv_dup(s->exit_command);
    c->read_only_rootfs = s->read_only_rootfs;
    return c;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int write_json(const char *path, json_t *j, struct stk_err *err)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int r = stk_file_write_atomic(path, text, strlen(text), 0600, 0, err);

    free(text);
    return r;
}

/* Unmounts what create mounted under CDIR/share (binds of the root and of mounts). */
static void share_release(const char *cdir)
{
    char *m = stk_xasprintf("%s/share/m", cdir), *root = stk_xasprintf("%s/share/root", cdir);
    DIR *d = opendir(m);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char *p;
        if (de->d_name[0] == '.')
            continue;
        p = stk_xasprintf("%s/%s", m, de->d_name);
        if (umount2(p, 0) < 0)
            umount2(p, MNT_DETACH);
        free(p);
    }
    if (d)
        closedir(d);
    if (umount2(root, 0) < 0)
        umount2(root, MNT_DETACH);
    free(m);
    free(root);
}

static int bind_mount(const char *source, const char *target, int read_only, struct stk_err *err)
{
    struct stat st;

    if (stat(source, &st) < 0)
        return stk_err_set(err, STK_ENOENT, errno, "mount source '%s'", source);
    if (S_ISDIR(st.st_mode)) {
        if (stk_mkdir_p(target, 0755, err) < 0)
            return err->code;
    } else {
        /* A file (the orchestrator's /etc/hosts, resolv.conf) may come first: its folder too. */
        char *dir = stk_xstrndup(target, (size_t)(strrchr(target, '/') - target));
        int fd = stk_mkdir_p(dir, 0755, err) < 0
                     ? -1
                     : open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        free(dir);
        if (fd < 0 && err->code)
            return err->code;
        if (fd < 0)
            return stk_err_set(err, STK_EIO, errno, "create '%s'", target);
        close(fd);
    }
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        return stk_err_set(err, STK_EIO, errno, "bind '%s'", source);
    if (read_only && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return stk_err_set(err, STK_EIO, errno, "read-only bind '%s'", source);
    return 0;
}

static void create_work(uv_work_t *w)
{
    struct vm_req *r = w->data;
    struct rt_ctx *ctx = r->base.ctx;
    struct rt__vm *v = vm_priv(ctx);
    struct rt_container_spec *s = r->spec;
    char *rootfs = NULL, *path = NULL, *share = NULL, *tmp = NULL;
    json_t *j = NULL, *labels, *mounts;
    int64_t mem_mb = RT_VM_DEFAULT_MEMORY_MB, cpus = 1;

    if (stk_mkdir_p(r->cdir, 0700, &r->err) < 0)
        goto out;
    path = cfile(ctx, r->id, "exit");
    if (stk_mkdir_p(path, 0700, &r->err) < 0)
        goto out;
    free(path);
    if (s->resources.memory_bytes > 0) {
        mem_mb = (s->resources.memory_bytes + (1 << 20) - 1) >> 20;
        if (mem_mb < RT_VM_MIN_MEMORY_MB)
            mem_mb = RT_VM_MIN_MEMORY_MB;
    }
    if (s->resources.nano_cpus > 0)
        cpus = (s->resources.nano_cpus + 999999999) / 1000000000;
    /* vm.json first: it marks the directory as this driver's (list, and the oci driver). */
    tmp = stk_xasprintf("%s/vm/%s", ctx->run_dir, r->id);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s?, s:o}", "id", r->id, "run",
                  tmp, "qemu", v->qemu, "kernel", v->kernel, "initrd", v->initrd, "virtiofsd",
                  v->virtiofsd, "accel", v->accel, "memory_mb", (json_int_t)mem_mb, "cpus",
                  (json_int_t)cpus, "sandbox", s->sandbox, "exit_command",
                  strv_json(s->exit_command));
    path = cfile(ctx, r->id, "vm.json");
    if (write_json(path, j, &r->err) < 0)
        goto out;
    json_decref(j);
    free(path);
    labels = json_object();
    for (size_t i = 0; i < s->n_labels; i++)
        json_object_set_new(labels, s->labels[i].key, json_string(s->labels[i].value));
    j = json_pack("{s:s, s:s?, s:o}", "id", r->id, "name", s->name, "labels", labels);
    path = cfile(ctx, r->id, "labels.json");
    if (write_json(path, j, &r->err) < 0)
        goto out;
    json_decref(j);
    j = NULL;
    if (rt_oci_rootfs_prepare(ctx->images, s->layer_digests, r->cdir, &rootfs, &r->err) < 0) {
        stk_err_wrap(&r->err, "prepare root file system");
        goto out;
    }
    share = cfile(ctx, r->id, "share");
    free(path);
    path = stk_xasprintf("%s/root", share);
    if (bind_mount(rootfs, path, 0, &r->err) < 0)
        goto out;
    mounts = json_array();
    for (size_t i = 0; i < s->n_mounts; i++) {
        struct rt_mount *m = &s->mounts[i];
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "type", m->type, "target",
                                                m->target, "read_only", m->read_only));
        if (strcmp(m->type, "tmpfs") == 0)
            continue;
        free(path);
        path = stk_xasprintf("%s/m/%zu", share, i);
        if (!m->source || bind_mount(m->source, path, m->read_only, &r->err) < 0) {
            if (!r->err.code)
                stk_err_set(&r->err, STK_EINVAL, 0, "mount '%s' has no source", m->target);
            json_decref(mounts);
            goto out;
        }
    }
    j = json_pack("{s:o, s:o, s:s?, s:s?, s:s, s:o, s:b}", "args", strv_json(s->process.args),
                  "env", strv_json(s->process.env), "cwd", s->process.cwd, "user", s->process.user,
                  "hostname",
                  s->hostname ? s->hostname
                  : s->name   ? s->name
                              : r->id,
                  "mounts", mounts, "read_only_rootfs", s->read_only_rootfs);
    free(path);
    path = cfile(ctx, r->id, "agent.json");
    write_json(path, j, &r->err);
out:
    json_decref(j);
    free(rootfs);
    free(path);
    free(share);
    free(tmp);
}

static void create_after_work(uv_work_t *w, int status)
{
    struct vm_req *r = w->data;

    if (status == UV_ECANCELED && !r->err.code)
        stk_err_set(&r->err, STK_ECANCELED, 0, "create '%s' canceled", r->id);
    vm_req_finish(r);
}

static int vm_create(struct rt_ctx *ctx, const struct rt_container_spec *spec, rt_done_fn *done,
                     void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if (!spec || !spec->process.args || !spec->process.args[0])
        return stk_err_set(err, STK_EINVAL, 0, "create: the container needs an id and a command");
    if (spec->isolation != RT_ISOLATION_HYPERV)
        return stk_err_set(err, STK_EINVAL, 0,
                           "isolation '%s': the VM driver runs hyperv-isolated containers only",
                           rt_isolation_to_string(spec->isolation));
    if ((ret = start_req(ctx, OP_CREATE, spec->id, &r, done, userdata, err)) < 0)
        return ret;
    if (stk_path_exists(r->cdir)) {
        stk_err_set(err, STK_EEXIST, 0, "container '%s' already exists", spec->id);
        return abort_req(r, STK_EEXIST);
    }
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (!spec->mounts[i].type || !spec->mounts[i].target || spec->mounts[i].target[0] != '/' ||
            (strcmp(spec->mounts[i].type, "bind") != 0 &&
             strcmp(spec->mounts[i].type, "tmpfs") != 0)) {
            stk_err_set(err, STK_EINVAL, 0, "mount %zu: bind or tmpfs with an absolute target", i);
            return abort_req(r, STK_EINVAL);
        }
    r->spec = spec_copy(spec);
    r->work.data = r;
    uv_queue_work(ctx->loop, &r->work, create_work, create_after_work);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- start ---------------------------------------------------------------------------------- */

static void start_cb(int64_t exit_status, int term_signal, const struct stk_buf *out,
                     const struct stk_buf *errb, const struct stk_buf *sync,
                     const struct stk_err *err, void *userdata)
{
    struct vm_req *r = userdata;

    (void)out;
    (void)sync;
    r->proc = NULL;
    if (err) {
        stk_err_set(&r->err, err->code, 0, "start '%s': %s", r->id, err->msg);
    } else if (exit_status != 0 || term_signal) {
        stk_err_set(&r->err, STK_ERUNTIME, 0, "start '%s': %.*s", r->id,
                    (int)strcspn(errb->buf, "\n"), errb->len ? errb->buf : "the monitor failed");
    }
    vm_req_finish(r);
}

static int vm_start(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                    struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    struct rt__spawn_opts so;
    char *argv[3];
    char *ep;
    int ret;

    if ((ret = start_req(ctx, OP_START, id, &r, done, userdata, err)) < 0)
        return ret;
    if (!is_vm_container(ctx, id)) {
        stk_err_set(err, STK_ENOENT, 0, "container '%s' does not exist", id);
        return abort_req(r, STK_ENOENT);
    }
    if (monitor_pid(ctx, id)) {
        stk_err_set(err, STK_EINVAL, 0, "container '%s' is already running", id);
        return abort_req(r, STK_EINVAL);
    }
    ep = exit_path(ctx, id);
    unlink(ep);
    free(ep);
    argv[0] = vm_priv(ctx)->monitor;
    argv[1] = r->cdir;
    argv[2] = NULL;
    memset(&so, 0, sizeof(so));
    so.argv = argv;
    so.capture = 1;
    so.timeout_ms = VM_START_TIMEOUT_MS;
    if ((ret = rt__oci_spawn(ctx->loop, &so, start_cb, r, &r->proc, err)) < 0)
        return abort_req(r, ret);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- talking to the agent through the monitor ---------------------------------------------- */

static void api_write_cb(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void api_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = stk_xmalloc(65536);
    buf->len = 65536;
}

static void api_done(struct vm_req *r);

static void api_answer(struct vm_req *r, const struct rt__vm_frame *f)
{
    struct rt__vm_msg m;
    struct stk_err e = STK_ERR_INIT;

    if (rt__vm_msg_decode(f, &m, &e) < 0) {
        stk_err_move(&r->err, &e);
        r->answered = 1;
        return;
    }
    switch (m.type) {
    case RT_VM_OUT:
    case RT_VM_ERR:
        if (r->capture)
            stk_buf_add(&r->out, f->payload, f->len);
        break;
    case RT_VM_EXIT:
        r->exit_code = m.status;
        r->answered = 1;
        break;
    case RT_VM_TOP:
        stk_buf_printf(&r->out, "%-10s %-6s %s\n", "GUEST-PID", "UID", "CMD");
        for (size_t i = 0; i < m.n_procs; i++)
            stk_buf_printf(&r->out, "%-10d %-6u %s\n", m.procs[i].pid, m.procs[i].uid,
                           m.procs[i].cmd);
        r->answered = 1;
        break;
    case RT_VM_FAIL:
        stk_err_set(&r->err, r->op == OP_KILL || r->op == OP_STOP ? STK_EINVAL : STK_ERUNTIME, 0,
                    "'%s': %s", r->id, m.error);
        r->answered = 1;
        break;
    default:
        stk_err_set(&r->err, STK_ERUNTIME, 0, "'%s': unexpected answer", r->id);
        r->answered = 1;
        break;
    }
    rt__vm_msg_release(&m);
}

static void api_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct vm_req *r = ((struct vm_conn *)s->data)->r;
    struct rt__vm_frame f;
    int k = 0;

    if (n > 0) {
        rt__vm_rbuf_append(&r->rb, buf->base, (size_t)n);
        while (!r->answered && (k = rt__vm_frame_next(&r->rb, &f)) == 1)
            api_answer(r, &f);
        if (k < 0) {
            stk_err_set(&r->err, STK_ERUNTIME, 0, "'%s': malformed answer", r->id);
            r->answered = 1;
        }
    }
    free(buf->base);
    if (n < 0 && !r->answered) {
        stk_err_set(&r->err, STK_ERUNTIME, 0, "'%s': the VM went away before answering", r->id);
        r->answered = 1;
    }
    if (r->answered) {
        uv_read_stop(s);
        api_done(r);
    }
}

static void api_connect_cb(uv_connect_t *c, int status)
{
    struct vm_conn *conn = c->data;
    struct vm_req *r = conn->r;
    char *text;
    size_t len;
    uv_write_t *w;
    uv_buf_t b;

    free(c);
    if (status == UV_ECANCELED || r->conn != conn || r->answered)
        return;
    if (status < 0) {
        stk_err_set(&r->err, STK_EINVAL, 0, "container '%s' is not running", r->id);
        r->answered = 1;
        api_done(r);
        return;
    }
    text = json_dumps(r->request, JSON_COMPACT);
    w = stk_new0(uv_write_t);
    w->data = rt__vm_frame_encode(RT_VM_REQ, 0, text, strlen(text), &len);
    free(text);
    b = uv_buf_init(w->data, (unsigned)len);
    uv_write(w, (uv_stream_t *)&conn->pipe, &b, 1, api_write_cb);
    uv_read_start((uv_stream_t *)&conn->pipe, api_alloc_cb, api_read_cb);
}

static void api_timeout_cb(uv_timer_t *t)
{
    struct vm_req *r = t->data;

    if (r->answered)
        return;
    stk_err_set(&r->err, STK_ETIMEDOUT, 0, "'%s': no answer in time", r->id);
    r->answered = 1;
    api_done(r);
}

/* Sends REQUEST (stolen) to the agent of R's container; api_done() runs with the answer. */
static void api_call(struct vm_req *r, json_t *request, uint64_t timeout_ms)
{
    uv_connect_t *c = stk_new0(uv_connect_t);
    char *sock = stk_xasprintf("%s/vm/%s/api.sock", r->base.ctx->run_dir, r->id);

    struct vm_conn *conn = stk_new0(struct vm_conn);

    conn_close(r);
    json_decref(r->request);
    r->request = request;
    r->answered = 0;
    rt__vm_rbuf_release(&r->rb);
    stk_buf_reset(&r->out);
    conn->r = r;
    uv_pipe_init(r->base.ctx->loop, &conn->pipe, 0);
    conn->pipe.data = conn;
    r->conn = conn;
    r->refs++;
    c->data = conn;
    uv_pipe_connect(c, &conn->pipe, sock, api_connect_cb);
    if (timeout_ms)
        uv_timer_start(&r->timer, api_timeout_cb, timeout_ms, 0);
    free(sock);
}

static void stop_poll_cb(uv_timer_t *t);

static void api_done(struct vm_req *r)
{
    uv_timer_stop(&r->timer);
    conn_close(r);
    switch (r->op) {
    case OP_EXEC:
        r->output = stk_buf_detach(&r->out, NULL);
        break;
    case OP_TOP:
        r->output = stk_buf_detach(&r->out, NULL);
        break;
    case OP_STOP:
        /* An agent that did not take the signal: the poll escalates to killing QEMU. */
        stk_err_clear(&r->err);
        uv_timer_start(&r->timer, stop_poll_cb, VM_POLL_MS, 0);
        return;
    default:
        break;
    }
    vm_req_finish(r);
}

static int running_req(struct rt_ctx *ctx, enum vm_op op, const char *id, struct vm_req **ret_r,
                       rt_done_fn *done, void *userdata, struct stk_err *err)
{
    int ret;

    if ((ret = start_req(ctx, op, id, ret_r, done, userdata, err)) < 0)
        return ret;
    if (!is_vm_container(ctx, id)) {
        stk_err_set(err, STK_ENOENT, 0, "container '%s' does not exist", id);
        return abort_req(*ret_r, STK_ENOENT);
    }
    return 0;
}

static int vm_kill(struct rt_ctx *ctx, const char *id, int sig, rt_done_fn *done, void *userdata,
                   struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if ((ret = running_req(ctx, OP_KILL, id, &r, done, userdata, err)) < 0)
        return ret;
    api_call(r, json_pack("{s:s, s:i}", "op", "signal", "signal", sig), 30000);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int vm_exec(struct rt_ctx *ctx, const char *id, const struct rt_exec_opts *opts,
                   rt_done_fn *done, void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    json_t *env;
    int ret;

    if (!opts || !opts->args || !opts->args[0])
        return stk_err_set(err, STK_EINVAL, 0, "exec: no command");
    if ((ret = running_req(ctx, OP_EXEC, id, &r, done, userdata, err)) < 0)
        return ret;
    env = json_array();
    for (size_t i = 0; opts->env && opts->env[i]; i++)
        json_array_append_new(env, json_string(opts->env[i]));
    r->capture = opts->capture;
    api_call(r,
             json_pack("{s:s, s:o, s:o, s:s?}", "op", "exec", "args",
                       strv_json((char *const *)opts->args), "env", env, "cwd", opts->cwd),
             opts->timeout_ms);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static int vm_top(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                  struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if ((ret = running_req(ctx, OP_TOP, id, &r, done, userdata, err)) < 0)
        return ret;
    api_call(r, json_pack("{s:s}", "op", "top"), 30000);
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* ---- stop and delete ------------------------------------------------------------------------- */

static void stop_poll_cb(uv_timer_t *t)
{
    struct vm_req *r = t->data;
    int mpid;

    if (!monitor_pid(r->base.ctx, r->id) || r->base.canceled) {
        vm_req_finish(r);
        return;
    }
    r->waited_ms += VM_POLL_MS;
    if (r->step == 1 && r->waited_ms >= r->grace_ms) {
        /* Grace period over: the agent kills the process (docker stop's SIGKILL). */
        r->step = 2;
        r->waited_ms = 0;
        api_call(r, json_pack("{s:s, s:i}", "op", "signal", "signal", SIGKILL), 5000);
        return;
    }
    if (r->step == 2 && r->waited_ms >= 5000) {
        /* The guest does not answer: end the VM. */
        r->step = 3;
        r->waited_ms = 0;
        mpid = monitor_pid(r->base.ctx, r->id);
        if (mpid)
            kill(mpid, SIGTERM);
    }
    if (r->step == 3 && r->waited_ms >= VM_KILL_WAIT_MS) {
        stk_err_set(&r->err, STK_ETIMEDOUT, 0, "the VM of '%s' did not stop", r->id);
        vm_req_finish(r);
        return;
    }
    uv_timer_start(&r->timer, stop_poll_cb, VM_POLL_MS, 0);
}

static int vm_stop(struct rt_ctx *ctx, const char *id, int sig, uint64_t grace_ms, rt_done_fn *done,
                   void *userdata, struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret;

    if ((ret = running_req(ctx, OP_STOP, id, &r, done, userdata, err)) < 0)
        return ret;
    if (!monitor_pid(ctx, id)) {
        vm_req_finish_later(r);
    } else {
        r->step = 1;
        r->grace_ms = grace_ms;
        api_call(r, json_pack("{s:s, s:i}", "op", "signal", "signal", sig ? sig : SIGTERM), 5000);
    }
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static void delete_work(uv_work_t *w)
{
    struct vm_req *r = w->data;
    char *run = stk_xasprintf("%s/vm/%s", r->base.ctx->run_dir, r->id);

    if (stk_path_exists(r->cdir)) {
        share_release(r->cdir);
        if (rt_oci_rootfs_release(r->cdir, &r->err) < 0)
            stk_err_wrap(&r->err, "release root file system of '%s'", r->id);
        else if (stk_rm_rf(r->cdir, &r->err) < 0)
            stk_err_wrap(&r->err, "remove '%s'", r->id);
    }
    stk_rm_rf(run, NULL);
    free(run);
}

static void delete_after_work(uv_work_t *w, int status)
{
    (void)status;
    vm_req_finish(w->data);
}

/*
 * Kills, by the PIDs the monitor recorded, a QEMU or virtiofsd of ID that
 * outlived its monitor (a monitor that crashed or was killed), checking first
 * that the process's command line names the container's directory.
 */
static void kill_orphans(struct rt_ctx *ctx, const char *id, const char *cdir)
{
    static const char *const files[] = {"qemu.pid", "virtiofsd.pid", NULL};

    for (size_t i = 0; files[i]; i++) {
        char *pf = cfile(ctx, id, files[i]), *cl, *data = NULL;
        long pid = read_long(pf);
        size_t len = 0;
        free(pf);
        if (pid <= 0 || !stk_proc_alive((int)pid))
            continue;
        cl = stk_xasprintf("/proc/%ld/cmdline", pid);
        if (stk_file_read(cl, &data, &len, NULL) == 0) {
            for (size_t k = 0; k < len; k++)
                if (data[k] == '\0')
                    data[k] = ' ';
            if (strstr(data, cdir))
                kill((pid_t)pid, SIGKILL);
        }
        free(data);
        free(cl);
    }
}

static void delete_poll_cb(uv_timer_t *t)
{
    struct vm_req *r = t->data;

    int mpid = monitor_pid(r->base.ctx, r->id);

    if (mpid && r->waited_ms >= VM_KILL_WAIT_MS) {
        /* A monitor that did not end its VM: QEMU, virtiofsd and it, by their PIDs. */
        int qpid = qemu_pid(r->base.ctx, r->id);
        if (qpid)
            kill(qpid, SIGKILL);
        kill(mpid, SIGKILL);
        mpid = 0;
    }
    if (!mpid) {
        kill_orphans(r->base.ctx, r->id, r->cdir);
        uv_queue_work(r->base.ctx->loop, &r->work, delete_work, delete_after_work);
        return;
    }
    r->waited_ms += VM_POLL_MS;
    uv_timer_start(&r->timer, delete_poll_cb, VM_POLL_MS, 0);
}

static int vm_delete(struct rt_ctx *ctx, const char *id, rt_done_fn *done, void *userdata,
                     struct rt_req **ret_req, struct stk_err *err)
{
    struct vm_req *r;
    int ret, mpid;

    if ((ret = start_req(ctx, OP_DELETE, id, &r, done, userdata, err)) < 0)
        return ret;
    r->work.data = r;
    if (!stk_path_exists(r->cdir)) {
        vm_req_finish_later(r);
    } else {
        /* A running VM is ended first: SIGTERM to its monitor (by PID) kills QEMU, then the
         * monitor cleans up; one that does not go in 15 s is killed. */
        mpid = monitor_pid(ctx, id);
        if (mpid)
            kill(mpid, SIGTERM);
        uv_timer_start(&r->timer, delete_poll_cb, 0, 0);
    }
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

static const struct rt_driver_ops vm_ops = {
    .init = vm_init,
    .fini = vm_fini,
    .host_info = vm_host_info,
    .create = vm_create,
    .start = vm_start,
    .kill = vm_kill,
    .stop = vm_stop,
    .delete = vm_delete,
    .state = vm_state,
    .list = vm_list,
    .exec = vm_exec,
    .logs = vm_logs,
    .top = vm_top,
};

const struct rt_driver rt_driver_vm = {
    .name = "vm",
    .abi_version = RT_DRIVER_ABI_1,
    .caps = RT_CAP_EXEC | RT_CAP_TOP | RT_CAP_LOGS,
    .priv_size = sizeof(struct rt__vm),
    .ops = &vm_ops,
};
