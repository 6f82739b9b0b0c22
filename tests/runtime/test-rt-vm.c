/*
 * test-rt-vm.c - the VM driver (runtime/vm/) at driver level, with real QEMU
 * (TCG where KVM is not usable), real virtiofsd and the cloud kernel.
 * Label "integration": it needs root, qemu-system-x86 and
 * linux-image-cloud-amd64; without them it skips visibly, under CI=true it
 * fails.
 *
 * One VM is booted for the life-cycle test and checked from every side
 * (QEMU boots are CPU-heavy: one boot serves several assertions); the
 * network test gives it a sandbox the test makes: two network namespaces
 * joined by a veth pair, the VM in one, curl in the other. Every
 * namespace, mount and file the test made is removed on every path.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-proc.h"
#include "common/stk-strv.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"

static char base[] = "/tmp/test-rt-vm.XXXXXX";
static char ns_a[64], ns_b[64]; /* the sandbox and its peer */
static uv_loop_t loop;
static struct rt_image_store *store;
static struct rt_ctx *ctx;

static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
    va_list ap;
    char *cmd;
    FILE *p;
    struct stk_buf b = STK_BUF_INIT;
    char chunk[4096];
    size_t n;

    va_start(ap, fmt);
    cmd = stk_xvasprintf(fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return stk_xstrdup("");
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        stk_buf_add(&b, chunk, n);
    pclose(p);
    return stk_buf_detach(&b, NULL);
}

static void need_vm_host(void)
{
    const char *ci = getenv("CI");
    const char *why = NULL;

    if (geteuid() != 0)
        why = "needs root";
    else if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0)
        why = "needs qemu-system-x86";
    else if (system("ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1") != 0)
        why = "needs linux-image-cloud-amd64";
    if (!why)
        return;
    if (ci && strcmp(ci, "true") == 0)
        cr_assert_fail("the VM driver test %s, and CI=true", why);
    cr_skip_test("the VM driver test %s", why);
}

static void teardown(void)
{
    char *o;

    if (ctx) {
        /* Whatever failed: no VM, mount or namespace survives the test. */
        struct rt_sync s = RT_SYNC_INIT;
        struct stk_err err = STK_ERR_INIT;
        int r = rt_container_delete(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
        rt_sync_wait(&loop, &s, r, &err);
        rt_sync_release(&s);
        stk_err_clear(&err);
        rt_ctx_free(ctx);
        ctx = NULL;
    }
    rt_image_store_close(store);
    store = NULL;
    if (ns_a[0])
        free(sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b));
    o = sh("grep -c '%s' /proc/self/mountinfo", base);
    if (atoi(o) > 0)
        free(sh("grep '%s' /proc/self/mountinfo | awk '{print $5}' | sort -r | "
                "xargs -r -n1 umount -l",
                base));
    free(o);
    free(sh("rm -rf '%s'", base));
    uv_loop_close(&loop);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(base));
    uv_loop_init(&loop);
}

static struct rt_ctx *open_ctx(struct stk_err *err)
{
    char *state = stk_xasprintf("%s/state", base), *run = stk_xasprintf("%s/run", base);
    struct rt_ctx *c;
    const struct rt_driver *d = rt_driver_find("vm", err);

    cr_assert_not_null(d, "the vm driver is registered: %s", err->msg);
    stk_mkdir_p(state, 0700, NULL);
    if (!store)
        cr_assert_eq(rt_image_store_open(state, &store, err), 0, "%s", err->msg);
    c = rt_ctx_new(d, &loop, state, run, STK_BIN_DIR "/orchestrator/stack", store, err);
    free(state);
    free(run);
    return c;
}

static void host_info(struct rt_ctx *c, struct rt_host_info *ret)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    int r = rt_host_info(c, rt_sync_done, &s, NULL, &err);

    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0, "host_info: %s", err.msg);
    *ret = s.host;
    rt_sync_release(&s);
}

/* ---- bad input: no QEMU, no guest kernel ------------------------------------------------- */

Test(rt_vm, host_without_qemu_says_what_to_install, .init = setup, .fini = teardown)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_host_info h;
    struct rt_container_spec spec;
    char *args[] = {(char *)"true", NULL};
    char *cdir;

    need_vm_host();
    setenv("STACK_VM_QEMU", "/nonexistent/qemu-system-x86_64", 1);
    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    host_info(ctx, &h);
    cr_assert_eq(h.available, 0);
    cr_assert_eq(h.isolations & (1u << RT_ISOLATION_HYPERV), 0u);
    cr_assert(strstr(h.reason, "apt-get install qemu-system-x86"), "reason: %s", h.reason);
    cr_assert_null(strchr(h.reason, '\n'), "one line: %s", h.reason);
    memset(&spec, 0, sizeof(spec));
    spec.id = (char *)"vmt-1";
    spec.isolation = RT_ISOLATION_HYPERV;
    spec.process.args = args;
    cr_assert_eq(rt_container_create(ctx, &spec, rt_sync_done, NULL, NULL, &err), STK_EUNAVAIL);
    cr_assert(strstr(err.msg, "qemu-system-x86"), "%s", err.msg);
    cdir = stk_xasprintf("%s/state/containers/vmt-1", base);
    cr_assert_eq(stk_path_exists(cdir), 0, "nothing created");
    free(cdir);
    stk_err_clear(&err);
}

Test(rt_vm, host_without_guest_kernel_says_what_to_install, .init = setup, .fini = teardown)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_host_info h;

    need_vm_host();
    setenv("STACK_VM_KERNEL", "/nonexistent/vmlinuz-6.1.0-0-cloud-amd64", 1);
    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    host_info(ctx, &h);
    cr_assert_eq(h.available, 0);
    cr_assert(strstr(h.reason, "apt-get install linux-image-cloud-amd64"), "reason: %s", h.reason);
    stk_err_clear(&err);
}

/* ---- one VM, every side of it ------------------------------------------------------------- */

struct exec_out {
    int code;
    char *out;
};

static struct exec_out do_exec(const char *const *args)
{
    struct rt_exec_opts o = {.args = args, .capture = 1, .timeout_ms = 60000};
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct exec_out x;
    int r = rt_container_exec(ctx, "vmt-1", &o, rt_sync_done, &s, NULL, &err);

    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0, "exec %s: %s", args[0], err.msg);
    x.code = s.exit_code;
    x.out = stk_xstrdup(s.output ? s.output : "");
    rt_sync_release(&s);
    return x;
}

static struct rt_container_info get_state(void)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_info info;
    int r = rt_container_state(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);

    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0, "state: %s", err.msg);
    rt_container_info_copy(&info, &s.info);
    rt_sync_release(&s);
    return info;
}

static void wait_stopped(struct rt_container_info *ret)
{
    for (int i = 0; i < 600; i++) {
        *ret = get_state();
        if (ret->state == RT_STATE_STOPPED)
            return;
        rt_container_info_release(ret);
        usleep(100000);
    }
    cr_assert_fail("the VM did not stop");
}

static void op_ok(int r, struct rt_sync *s, struct stk_err *err, const char *what)
{
    if (rt_sync_wait(&loop, s, r, err) != 0) {
        /* What the guest and the monitor said, for the failure message. */
        char *o = sh("tail -c 3000 %s/state/containers/vmt-1/console.log; "
                     "tail -c 2000 %s/state/containers/vmt-1/monitor.log",
                     base, base);
        cr_assert_fail("%s: %s\n%s", what, err->msg, o);
    }
    rt_sync_release(s);
}

/* Whether any host process has ARG0 and ARG1 as its first two arguments. */
static int host_has_process(const char *arg0, const char *arg1)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;

    while (d && (de = readdir(d)) && !found) {
        char *p, *data = NULL;
        size_t len = 0;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        p = stk_xasprintf("/proc/%s/cmdline", de->d_name);
        if (stk_file_read(p, &data, &len, NULL) == 0 && len > strlen(arg0) &&
            strcmp(data, arg0) == 0 && strcmp(data + strlen(arg0) + 1, arg1) == 0)
            found = 1;
        free(data);
        free(p);
    }
    if (d)
        closedir(d);
    return found;
}

/* Host processes (other than this one) whose command line mentions NEEDLE. */
static int host_processes_with(const char *needle)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d))) {
        char *p, *data = NULL;
        size_t len = 0;
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == (int)getpid())
            continue;
        p = stk_xasprintf("/proc/%s/cmdline", de->d_name);
        if (stk_file_read(p, &data, &len, NULL) == 0) {
            for (size_t i = 0; i < len; i++)
                if (data[i] == '\0')
                    data[i] = ' ';
            if (strstr(data, needle))
                n++;
        }
        free(data);
        free(p);
    }
    if (d)
        closedir(d);
    return n;
}

Test(rt_vm, one_vm_from_every_side, .init = setup, .fini = teardown, .timeout = 900)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync s = RT_SYNC_INIT;
    struct rt_host_info h;
    struct rt_image *img = NULL;
    struct rt_container_spec spec;
    struct rt_container_info info;
    struct rt_mount mounts[3];
    struct rt_kv labels[] = {{(char *)"stack.project", (char *)"vmt"},
                             {(char *)"stack.isolation", (char *)"hyperv"}};
    char *digest = NULL, *data, *exitcmd_file, *o, *sandbox, *state, *datadir, *voldir;
    char *args[] = {(char *)"sh", (char *)"-c",
                    (char *)"echo hello-out; echo hello-err >&2; httpd -p 8080 -h /data; exec "
                            "sleep 77777",
                    NULL};
    char *env[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"FOO=bar from service",
                   NULL};
    char *exit_command[4];
    struct utsname un;
    struct exec_out x;
    int r, qpid;

    need_vm_host();
    snprintf(ns_a, sizeof(ns_a), "stkvmt%da", (int)getpid());
    snprintf(ns_b, sizeof(ns_b), "stkvmt%db", (int)getpid());
    free(sh("ip netns add %s && ip netns add %s && "
            "ip link add va netns %s type veth peer name vb netns %s && "
            "ip -n %s addr add 10.213.7.2/24 dev va && ip -n %s link set va up && "
            "ip -n %s link set lo up && ip -n %s route add default via 10.213.7.1 && "
            "ip -n %s addr add 10.213.7.1/24 dev vb && ip -n %s link set vb up && "
            "ip -n %s link set lo up",
            ns_a, ns_b, ns_a, ns_b, ns_a, ns_a, ns_a, ns_a, ns_b, ns_b, ns_b));
    sandbox = stk_xasprintf("/run/netns/%s", ns_a);
    cr_assert(stk_path_exists(sandbox), "the test's sandbox exists");

    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    host_info(ctx, &h);
    cr_assert_eq(h.available, 1, "available: %s", h.reason);
    cr_assert_neq(h.isolations & (1u << RT_ISOLATION_HYPERV), 0u);
    cr_assert(strstr(h.runtime_version, "accel=tcg") || strstr(h.runtime_version, "accel=kvm"),
              "%s", h.runtime_version);
    /* The accelerator was decided by a probe boot, cached beside the state. */
    state = stk_xasprintf("%s/state/vm/accel.json", base);
    if (!getenv("STACK_VM_ACCEL") && access("/dev/kvm", R_OK) == 0)
        cr_assert(stk_path_exists(state), "the KVM probe's verdict is cached");
    free(state);

    {
        const char *layout = STK_SOURCE_DIR "/examples/images/out/busybox";
        if (access(layout, F_OK) != 0)
            free(sh("sh '%s/examples/images/build-busybox.sh' 2>&1", STK_SOURCE_DIR));
        cr_assert_eq(rt_image_load_layout(store, layout, NULL, &digest, &err), 0, "%s", err.msg);
        cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    }
    datadir = stk_xasprintf("%s/data", base);
    stk_mkdir_p(datadir, 0777, NULL);
    chmod(datadir, 0777);
    data = stk_xasprintf("%s/in.txt", datadir);
    cr_assert_eq(stk_file_write_atomic(data, "from-host\n", 10, 0644, 0, &err), 0);
    free(data);
    exitcmd_file = stk_xasprintf("%s/exit-command-ran", base);
    exit_command[0] = (char *)"/bin/sh";
    exit_command[1] = (char *)"-c";
    exit_command[2] = stk_xasprintf("echo ran >> '%s'", exitcmd_file);
    exit_command[3] = NULL;

    memset(&spec, 0, sizeof(spec));
    memset(mounts, 0, sizeof(mounts));
    mounts[0].type = (char *)"bind";
    mounts[0].source = datadir;
    mounts[0].target = (char *)"/data";
    mounts[1].type = (char *)"tmpfs";
    mounts[1].target = (char *)"/scratch";
    /* A named volume, as the orchestrator hands it over: a bind of STATE/volumes/NAME/_data. */
    voldir = stk_xasprintf("%s/state/volumes/vmt_cache/_data", base);
    stk_mkdir_p(voldir, 0777, NULL);
    chmod(voldir, 0777);
    mounts[2].type = (char *)"bind";
    mounts[2].source = voldir;
    mounts[2].target = (char *)"/var/cache/app";
    spec.id = (char *)"vmt-1";
    spec.name = (char *)"vmt-web-1";
    spec.isolation = RT_ISOLATION_HYPERV;
    spec.layer_digests = img->layer_digests;
    spec.process.args = args;
    spec.process.env = env;
    spec.process.cwd = (char *)"/tmp";
    spec.process.user = (char *)"nobody";
    spec.mounts = mounts;
    spec.n_mounts = 3;
    spec.labels = labels;
    spec.n_labels = 2;
    spec.sandbox = sandbox;
    spec.exit_command = exit_command;
    spec.resources.memory_bytes = 200LL << 20;

    r = rt_container_create(ctx, &spec, rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "create");
    info = get_state();
    cr_assert_eq(info.state, RT_STATE_CREATED);
    cr_assert_eq(info.isolation, RT_ISOLATION_HYPERV);
    cr_assert_str_eq(rt_container_info_label(&info, "stack.project"), "vmt");
    rt_container_info_release(&info);

    r = rt_container_start(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "start");
    info = get_state();
    cr_assert_eq(info.state, RT_STATE_RUNNING);
    qpid = info.pid;
    cr_assert_gt(qpid, 0, "the host PID is QEMU's");
    rt_container_info_release(&info);
    o = stk_xasprintf("/proc/%d/exe", qpid);
    {
        char target[512] = "";
        ssize_t n = readlink(o, target, sizeof(target) - 1);
        cr_assert_gt(n, 0);
        target[n] = '\0';
        cr_assert(strstr(target, "qemu-system-x86_64"), "host PID %d is %s", qpid, target);
    }
    free(o);

    /* The guest kernel, not the host's. */
    x = do_exec((const char *const[]){"uname", "-r", NULL});
    cr_assert_eq(x.code, 0, "%s", x.out);
    uname(&un);
    cr_assert(strstr(x.out, "cloud-amd64"), "guest kernel: %s", x.out);
    cr_assert(strncmp(x.out, un.release, strlen(un.release)) != 0 ||
                  strstr(un.release, "cloud-amd64"),
              "guest %s vs host %s", x.out, un.release);
    free(x.out);

    /* Guest memory is the container's limit (200 MiB, less what the kernel reserves). */
    x = do_exec(
        (const char *const[]){"sh", "-c", "awk '/^MemTotal:/ {print $2}' /proc/meminfo", NULL});
    cr_assert_eq(x.code, 0, "%s", x.out);
    cr_assert(atol(x.out) > 150 * 1024 && atol(x.out) <= 200 * 1024, "MemTotal %s kB", x.out);
    free(x.out);

    /* The guest's sleep is not a host process; the agent sees it. */
    cr_assert_eq(host_has_process("sleep", "77777"), 0, "no host process 'sleep 77777'");
    {
        struct rt_sync t = RT_SYNC_INIT;
        r = rt_container_top(ctx, "vmt-1", rt_sync_done, &t, NULL, &err);
        cr_assert_eq(rt_sync_wait(&loop, &t, r, &err), 0, "top: %s", err.msg);
        cr_assert(strstr(t.output, "GUEST-PID"), "%s", t.output);
        cr_assert(strstr(t.output, "sleep 77777"), "%s", t.output);
        rt_sync_release(&t);
    }

    /* Environment, user and working directory; exit codes through exec. */
    x = do_exec((const char *const[]){"sh", "-c", "echo \"$FOO\"; id -u; pwd; hostname", NULL});
    cr_assert_eq(x.code, 0);
    cr_assert_str_eq(x.out, "bar from service\n65534\n/tmp\nvmt-web-1\n");
    free(x.out);
    x = do_exec((const char *const[]){"sh", "-c", "exit 3", NULL});
    cr_assert_eq(x.code, 3);
    free(x.out);
    x = do_exec((const char *const[]){"no-such-command", NULL});
    cr_assert_eq(x.code, 127, "%s", x.out);
    free(x.out);

    /* The bind mount is read and written; the tmpfs is there. */
    x = do_exec((const char *const[]){
        "sh", "-c",
        "cat /data/in.txt && echo from-guest > /data/out.txt && grep -c ' /scratch "
        "tmpfs' /proc/mounts",
        NULL});
    cr_assert_eq(x.code, 0, "%s", x.out);
    cr_assert_str_eq(x.out, "from-host\n1\n");
    free(x.out);
    o = stk_xasprintf("%s/data/out.txt", base);
    data = NULL;
    cr_assert_eq(stk_file_read(o, &data, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(data, "from-guest\n");
    free(data);
    free(o);
    x = do_exec((const char *const[]){"sh", "-c", "echo kept > /var/cache/app/v.txt", NULL});
    cr_assert_eq(x.code, 0, "%s", x.out);
    free(x.out);
    o = stk_xasprintf("%s/v.txt", voldir);
    data = NULL;
    cr_assert_eq(stk_file_read(o, &data, NULL, &err), 0, "the volume written from the guest: %s",
                 err.msg);
    cr_assert_str_eq(data, "kept\n");
    free(data);
    free(o);

    /* The network: from the peer namespace (curl, as in the example smoke test) to a port in the
     * guest, at the veth's address. */
    o = sh("ip netns exec %s curl -s -S -m 30 http://10.213.7.2:8080/in.txt 2>&1", ns_b);
    cr_assert_str_eq(o, "from-host\n", "wget from the peer namespace: %s", o);
    free(o);
    o = sh("ip -n %s -br link show stktap0 2>&1", ns_a);
    cr_assert(strstr(o, "stktap0"), "the tap lives in the sandbox: %s", o);
    free(o);

    /* Logs: conmon's k8s-file format, where the oci driver puts them. */
    r = rt_container_logs(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0);
    data = NULL;
    cr_assert_eq(stk_file_read(s.log_path, &data, NULL, &err), 0, "%s", err.msg);
    cr_assert(strstr(data, "Z stdout F hello-out\n"), "%s", data);
    cr_assert(strstr(data, "Z stderr F hello-err\n"), "%s", data);
    free(data);
    rt_sync_release(&s);

    /* Stop with the grace period: the exit status and the exit command. */
    r = rt_container_stop(ctx, "vmt-1", SIGTERM, 10000, rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "stop");
    wait_stopped(&info);
    cr_assert_eq(info.has_exit_code, 1);
    cr_assert_eq(info.exit_code, 143, "sleep killed by SIGTERM");
    cr_assert_eq(info.pid, 0);
    rt_container_info_release(&info);
    for (int i = 0; i < 100 && !stk_path_exists(exitcmd_file); i++)
        usleep(50000);
    cr_assert(stk_path_exists(exitcmd_file), "the monitor ran the exit command");
    cr_assert_eq(stk_proc_alive(qpid), 0, "QEMU is gone after stop");

    /* Started again from the same container (what a restart policy does). */
    r = rt_container_start(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "start again");
    x = do_exec((const char *const[]){"cat", "/data/out.txt", "/var/cache/app/v.txt", NULL});
    cr_assert_str_eq(x.out, "from-guest\nkept\n");
    free(x.out);
    r = rt_container_kill(ctx, "vmt-1", SIGKILL, rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "kill");
    wait_stopped(&info);
    cr_assert_eq(info.exit_code, 137);
    rt_container_info_release(&info);

    /* Delete leaves nothing: no QEMU or virtiofsd, tap, tc rule, socket, mount or file. */
    r = rt_container_delete(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "delete");
    o = stk_xasprintf("%s/state/containers/vmt-1", base);
    cr_assert_eq(stk_path_exists(o), 0, "container dir removed");
    cr_assert_eq(host_processes_with(o), 0, "no process mentions %s", o);
    free(o);
    o = stk_xasprintf("%s/run/vm/vmt-1", base);
    cr_assert_eq(stk_path_exists(o), 0, "no socket dir");
    free(o);
    o = sh("grep -c '%s' /proc/self/mountinfo", base);
    cr_assert_eq(atoi(o), 0, "no mount under %s", base);
    free(o);
    o = sh("ip -n %s -br link show 2>&1; tc -n %s qdisc show dev va 2>&1", ns_a, ns_a);
    cr_assert_null(strstr(o, "stktap0"), "%s", o);
    cr_assert_null(strstr(o, "ingress"), "%s", o);
    free(o);

    rt_image_free(img);
    free(digest);
    free(exit_command[2]);
    free(exitcmd_file);
    free(sandbox);
    free(datadir);
    free(voldir);
    stk_err_clear(&err);
}

/* A main process that ends by itself: its status, the exit command, the listing. */
Test(rt_vm, main_process_exit_status_reaches_the_host, .init = setup, .fini = teardown,
     .timeout = 600)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync s = RT_SYNC_INIT;
    struct rt_image *img = NULL;
    struct rt_container_spec spec;
    struct rt_container_info info;
    char *digest = NULL, *marker, *cmd, *data = NULL;
    char *args[] = {(char *)"sh", (char *)"-c", (char *)"echo bye; exit 7", NULL};
    char *exit_command[4];
    int r, found = 0;

    need_vm_host();
    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    {
        const char *layout = STK_SOURCE_DIR "/examples/images/out/busybox";
        if (access(layout, F_OK) != 0)
            free(sh("sh '%s/examples/images/build-busybox.sh' 2>&1", STK_SOURCE_DIR));
        cr_assert_eq(rt_image_load_layout(store, layout, NULL, &digest, &err), 0, "%s", err.msg);
        cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    }
    marker = stk_xasprintf("%s/exited", base);
    cmd = stk_xasprintf("echo \"$0 $1\" > '%s'", marker);
    exit_command[0] = (char *)"/bin/sh";
    exit_command[1] = (char *)"-c";
    exit_command[2] = cmd;
    exit_command[3] = NULL;
    memset(&spec, 0, sizeof(spec));
    spec.id = (char *)"vmt-1";
    spec.isolation = RT_ISOLATION_HYPERV;
    spec.layer_digests = img->layer_digests;
    spec.process.args = args;
    spec.exit_command = exit_command;
    r = rt_container_create(ctx, &spec, rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "create");
    r = rt_container_start(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "start");
    wait_stopped(&info);
    cr_assert_eq(info.exit_code, 7, "the guest's exit status");
    cr_assert_gt(info.finished_ns, 0);
    rt_container_info_release(&info);
    for (int i = 0; i < 100 && !stk_path_exists(marker); i++)
        usleep(50000);
    cr_assert(stk_path_exists(marker), "the exit command ran");
    r = rt_container_list(ctx, rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0, "list: %s", err.msg);
    for (size_t i = 0; i < s.list.n; i++)
        if (strcmp(s.list.items[i].id, "vmt-1") == 0 && s.list.items[i].state == RT_STATE_STOPPED)
            found = 1;
    cr_assert(found, "list shows the stopped VM");
    rt_sync_release(&s);
    r = rt_container_logs(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), 0);
    cr_assert_eq(stk_file_read(s.log_path, &data, NULL, &err), 0, "%s", err.msg);
    cr_assert(strstr(data, " stdout F bye\n"), "%s", data);
    free(data);
    rt_sync_release(&s);
    rt_image_free(img);
    free(digest);
    free(marker);
    free(cmd);
}

/*
 * The caller killed with SIGKILL while its VM boots (kill -9 of `up`): the
 * detached monitor goes on and the VM comes up; a delete then leaves nothing.
 */
Test(rt_vm, caller_killed_while_the_vm_boots, .init = setup, .fini = teardown, .timeout = 600)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync s = RT_SYNC_INIT;
    struct rt_image *img = NULL;
    struct rt_container_info info;
    char *digest = NULL, *qpidf, *cdir, *o;
    pid_t child;
    int status, r, running = 0;

    need_vm_host();
    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    {
        const char *layout = STK_SOURCE_DIR "/examples/images/out/busybox";
        if (access(layout, F_OK) != 0)
            free(sh("sh '%s/examples/images/build-busybox.sh' 2>&1", STK_SOURCE_DIR));
        cr_assert_eq(rt_image_load_layout(store, layout, NULL, &digest, &err), 0, "%s", err.msg);
        cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    }
    cdir = stk_xasprintf("%s/state/containers/vmt-1", base);
    qpidf = stk_xasprintf("%s/qemu.pid", cdir);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* The caller: create and start, on a loop and a context of its own. */
        char *args[] = {(char *)"sleep", (char *)"77778", NULL};
        struct rt_container_spec spec;
        uv_loop_t l;
        struct rt_ctx *c;
        char *state = stk_xasprintf("%s/state", base), *run = stk_xasprintf("%s/run", base);
        uv_loop_init(&l);
        c = rt_ctx_new(ctx->driver, &l, state, run, STK_BIN_DIR "/orchestrator/stack", store, &err);
        if (!c)
            _exit(3);
        memset(&spec, 0, sizeof(spec));
        spec.id = (char *)"vmt-1";
        spec.isolation = RT_ISOLATION_HYPERV;
        spec.layer_digests = img->layer_digests;
        spec.process.args = args;
        r = rt_container_create(c, &spec, rt_sync_done, &s, NULL, &err);
        if (rt_sync_wait(&l, &s, r, &err) < 0)
            _exit(4);
        rt_sync_release(&s);
        r = rt_container_start(c, "vmt-1", rt_sync_done, &s, NULL, &err);
        rt_sync_wait(&l, &s, r, &err);
        _exit(5);
    }
    /* QEMU runs: the guest is booting. Kill the caller now. */
    for (int i = 0; i < 600 && !stk_path_exists(qpidf); i++)
        usleep(20000);
    cr_assert(stk_path_exists(qpidf), "the VM was started");
    kill(child, SIGKILL);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the caller was killed before its start returned (status %d)", status);
    for (int i = 0; i < 1200 && !running; i++) {
        info = get_state();
        running = info.state == RT_STATE_RUNNING && info.started_ns > 0;
        rt_container_info_release(&info);
        if (!running)
            usleep(50000);
    }
    cr_assert(running, "the VM came up without its caller");
    cr_assert_eq(host_has_process("sleep", "77778"), 0);
    r = rt_container_delete(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "delete");
    cr_assert_eq(stk_path_exists(cdir), 0);
    cr_assert_eq(host_processes_with(cdir), 0, "no QEMU, virtiofsd or monitor of %s", cdir);
    o = sh("grep -c '%s' /proc/self/mountinfo", base);
    cr_assert_eq(atoi(o), 0, "no mount left");
    free(o);
    o = stk_xasprintf("%s/run/vm/vmt-1", base);
    cr_assert_eq(stk_path_exists(o), 0, "no socket left");
    free(o);
    rt_image_free(img);
    free(digest);
    free(qpidf);
    free(cdir);
}

/* A command the image does not have: start fails with one line naming it; the status is 127. */
Test(rt_vm, start_of_a_missing_command_fails_naming_it, .init = setup, .fini = teardown,
     .timeout = 600)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync s = RT_SYNC_INIT;
    struct rt_image *img = NULL;
    struct rt_container_spec spec;
    struct rt_container_info info;
    char *digest = NULL;
    char *args[] = {(char *)"no-such-program", (char *)"x", NULL};
    int r;

    need_vm_host();
    ctx = open_ctx(&err);
    cr_assert_not_null(ctx, "%s", err.msg);
    {
        const char *layout = STK_SOURCE_DIR "/examples/images/out/busybox";
        if (access(layout, F_OK) != 0)
            free(sh("sh '%s/examples/images/build-busybox.sh' 2>&1", STK_SOURCE_DIR));
        cr_assert_eq(rt_image_load_layout(store, layout, NULL, &digest, &err), 0, "%s", err.msg);
        cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    }
    memset(&spec, 0, sizeof(spec));
    spec.id = (char *)"vmt-1";
    spec.isolation = RT_ISOLATION_HYPERV;
    spec.layer_digests = img->layer_digests;
    spec.process.args = args;
    r = rt_container_create(ctx, &spec, rt_sync_done, &s, NULL, &err);
    op_ok(r, &s, &err, "create");
    r = rt_container_start(ctx, "vmt-1", rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&loop, &s, r, &err), STK_ERUNTIME, "start fails: %s", err.msg);
    cr_assert(strstr(err.msg, "\"no-such-program\": No such file or directory"), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
    rt_sync_release(&s);
    stk_err_clear(&err);
    info = get_state();
    cr_assert_eq(info.state, RT_STATE_STOPPED);
    cr_assert_eq(info.exit_code, 127);
    rt_container_info_release(&info);
    rt_image_free(img);
    free(digest);
}
