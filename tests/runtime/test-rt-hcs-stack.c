/*
 * test-rt-hcs-stack.c - the services of examples/windows/app.yaml brought up
 * and down with the real hcs driver and hns plug-in against the HCS/HCN
 * emulator: the version check, network, sandboxes (web's shared by sidecar),
 * endpoints, containers over the real layer storage (rt_hcs_storage_new over
 * the emulated computestorage.dll, images built in the Windows layer layout
 * and loaded into an image store), ps, exec, logs, and a down that leaves no
 * compute system, endpoint, namespace, scratch, attached VHD or filter
 * behind. The translation from the
 * YAML is written out by hand here, at driver level; the product path (specs
 * loader, planner, executor) runs the file itself in
 * tests/orchestrator/test-rec-windows.c. The emulated host is Windows Server
 * 2022 (20348).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "netplugins/hns/hns.h"
#include "runtime/hcs/hcs.h"
#include "runtime/image/rt-image.h"
#include "tests/hcsemu/hcsemu-images.h"
#include "tests/hcsemu/hcsemu.h"

/* Indexes of images[]. */
#define LTSC2022 0
#define LTSC2019 1
#define HOST_BUILD "10.0.20348"

static uv_loop_t loop;
static char tmp[] = "/tmp/stk-stack-XXXXXX";
static struct rt_ctx *rt;
static struct net_ctx *net;
static struct rt_image_store *store;
static struct rt_hcs_storage *storage;
static char *wf_dir, *scratch_dir;

/* The images of app.yaml, built in the Windows layer layout and loaded into the store. */
static struct {
    const char *ref;
    const char *os_version;
    int with_uvm;
    char **layers; /* digests, base first */
} images[] = {
    {"mcr.microsoft.com/windows/nanoserver:ltsc2022", "10.0.20348.2700", 0, NULL},
    {"mcr.microsoft.com/windows/servercore:ltsc2019", "10.0.17763.5000", 1, NULL},
};

struct svc {
    const char *name;
    const char *isolation; /* as written in app.yaml */
    const char *image;
    int image_ix;           /* index of images[] */
    const char *os_version; /* the image config's os.version */
    const char *exe;
    const char *share; /* network_mode: service:X */
    struct net_port port;
    const char *pipe;
    const char *bind_src, *bind_dst;
    int64_t mem;
    char id[64];
    char *sandbox; /* the HCN namespace GUID */
};

static struct svc svcs[] = {
    {"web",
     "process",
     "mcr.microsoft.com/windows/nanoserver:ltsc2022",
     LTSC2022,
     "10.0.20348.2700",
     "C:\\app\\server.exe",
     NULL,
     {8080, 80, "tcp", "", 0},
     NULL,
     "C:\\shop\\data",
     "C:\\app\\data",
     0,
     "",
     NULL},
    {"agent",
     "process",
     "mcr.microsoft.com/windows/nanoserver:ltsc2022",
     LTSC2022,
     "10.0.20348.2700",
     "C:\\agent\\agent.exe",
     NULL,
     {0, 0, "", "", 0},
     "\\\\.\\pipe\\docker_engine",
     NULL,
     NULL,
     0,
     "",
     NULL},
    {"legacy",
     "hyperv",
     "mcr.microsoft.com/windows/servercore:ltsc2019",
     LTSC2019,
     "10.0.17763.5000",
     "C:\\legacy\\service.exe",
     NULL,
     {0, 0, "", "", 0},
     NULL,
     NULL,
     NULL,
     2LL << 30,
     "",
     NULL},
    {"sidecar",
     "process",
     "mcr.microsoft.com/windows/nanoserver:ltsc2022",
     LTSC2022,
     "10.0.20348.2700",
     "C:\\sidecar\\proxy.exe",
     "web",
     {0, 0, "", "", 0},
     NULL,
     NULL,
     NULL,
     0,
     "",
     NULL},
};

/* Builds images[I] as an OCI layout and loads it into the store (`stack image load`). */
static void load_image(size_t i)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/layout-%zu", tmp, i), *desc;
    struct hcsemu_manifest m;

    hcsemu_layout_init(dir);
    hcsemu_layout_windows_image(dir, images[i].os_version, images[i].with_uvm, images[i].ref, &m);
    desc = hcsemu_layout_descriptor(&m, "windows", images[i].os_version,
                                    RT_IMAGE_ANNOT_CONTAINERD_NAME, images[i].ref);
    hcsemu_layout_index(dir, (const char *const[]){desc, NULL});
    cr_assert_eq(rt_image_load_layout(store, dir, NULL, NULL, &err), 0, "%s", err.msg);
    images[i].layers = stk_strv_dup(m.layers);
    hcsemu_manifest_release(&m);
    free(desc);
    free(dir);
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(mkdtemp(tmp));
    hcsemu_new(HOST_BUILD, "server");
    cr_assert_eq(rt_image_store_open(tmp, &store, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < STK_ARRAY_SIZE(images); i++)
        load_image(i);
    /* The real layer storage over the emulated computestorage.dll. */
    wf_dir = stk_xasprintf("%s/windowsfilter", tmp);
    scratch_dir = stk_xasprintf("%s/scratch", tmp);
    storage = rt_hcs_storage_new(wf_dir, scratch_dir, store, hcsemu_storage_calls(), &err);
    cr_assert_not_null(storage, "%s", err.msg);
    rt = rt_hcs_ctx_new(&loop, tmp, tmp, "/usr/bin/stack", hcsemu_hcs_api(),
                        rt_hcs_storage_api_of(storage), HOST_BUILD, RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(rt, "%s", err.msg);
    rt_hcs_ctx_set_network(rt, hcsemu_network_api());
    net = net_hns_ctx_new(&loop, tmp, tmp, hcsemu_hcn_api(), &err);
    cr_assert_not_null(net, "%s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    rt_ctx_free(rt);
    net_ctx_free(net);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rt_hcs_storage_free(storage);
    rt_image_store_close(store);
    hcsemu_free();
    free(wf_dir);
    free(scratch_dir);
    for (size_t i = 0; i < STK_ARRAY_SIZE(images); i++) {
        stk_strv_free(images[i].layers);
        images[i].layers = NULL;
    }
    stk_rm_rf(tmp, &err);
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++) {
        free(svcs[i].sandbox);
        svcs[i].sandbox = NULL;
    }
}

/* The number of entries in folder DIR (0 when it does not exist). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* How many import_layer calls the storage trace holds for the folder of DIGEST. */
static int imports_of(const char *digest)
{
    char *trace = hcsemu_storage_trace();
    char *line = stk_xasprintf("import_layer %s/%s ", wf_dir, digest + strlen("sha256:"));
    int n = 0;

    for (const char *p = strstr(trace, line); p; p = strstr(p + 1, line))
        n++;
    free(line);
    free(trace);
    return n;
}

static struct svc *svc_find(const char *name)
{
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++)
        if (strcmp(svcs[i].name, name) == 0)
            return &svcs[i];
    return NULL;
}

static void spec_fill(struct svc *s, enum rt_isolation iso, struct rt_container_spec *c)
{
    struct stk_strv v;

    memset(c, 0, sizeof(*c));
    c->id = stk_xstrdup(s->id);
    c->name = stk_xasprintf("shop-%s-1", s->name);
    c->isolation = iso;
    c->image_ref = stk_xstrdup(s->image);
    c->layer_digests = stk_strv_dup(images[s->image_ix].layers);
    c->hostname = stk_xstrdup(s->name);
    v = (struct stk_strv)STK_STRV_INIT;
    stk_strv_push(&v, s->exe);
    c->process.args = v.v;
    c->resources.memory_bytes = s->mem;
    c->sandbox = stk_xstrdup(s->share ? svc_find(s->share)->sandbox : s->sandbox);
    if (s->pipe) {
        c->pipes = stk_xcalloc(1, sizeof(*c->pipes));
        c->pipes[0] = (struct rt_pipe){stk_xstrdup(s->pipe), stk_xstrdup(s->pipe)};
        c->n_pipes = 1;
    }
    if (s->bind_src) {
        c->mounts = stk_xcalloc(1, sizeof(*c->mounts));
        c->mounts[0] = (struct rt_mount){stk_xstrdup("bind"), stk_xstrdup(s->bind_src),
                                         stk_xstrdup(s->bind_dst), 0};
        c->n_mounts = 1;
    }
    c->labels = stk_xcalloc(3, sizeof(struct rt_kv));
    c->labels[0] = (struct rt_kv){stk_xstrdup(RT_LABEL_PROJECT), stk_xstrdup("shop")};
    c->labels[1] = (struct rt_kv){stk_xstrdup(RT_LABEL_SERVICE), stk_xstrdup(s->name)};
    c->labels[2] =
        (struct rt_kv){stk_xstrdup(RT_LABEL_ISOLATION), stk_xstrdup(rt_isolation_to_string(iso))};
    c->n_labels = 3;
}

#define RT_SYNC(call)                                                                              \
    ({                                                                                             \
        struct rt_sync sy_ = RT_SYNC_INIT;                                                         \
        int r_ = rt_sync_wait(&loop, &sy_, call, &err);                                            \
        rt_sync_release(&sy_);                                                                     \
        r_;                                                                                        \
    })
#define NET_SYNC(call)                                                                             \
    ({                                                                                             \
        struct net_sync ny_ = NET_SYNC_INIT;                                                       \
        int r_ = net_sync_wait(&loop, &ny_, call, &err);                                           \
        net_sync_release(&ny_);                                                                    \
        r_;                                                                                        \
    })

static void up(void)
{
    struct stk_err err = STK_ERR_INIT;
    struct net_network_spec nspec = {(char *)"shop_default", NULL, NULL, 0, (char *)"shop", NULL};

    /* Plan: isolation and version checks before anything is created. */
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++) {
        enum rt_isolation iso;

        cr_assert_eq(rt_hcs_resolve_isolation(svcs[i].isolation, RT_HCS_EDITION_SERVER, &iso, &err),
                     0);
        cr_assert_eq(rt_hcs_check_compat(HOST_BUILD, RT_HCS_EDITION_SERVER, svcs[i].os_version, iso,
                                         svcs[i].image, 0, &err),
                     0, "%s: %s", svcs[i].name, err.msg);
        if (svcs[i].share) {
            enum rt_isolation other;

            rt_hcs_resolve_isolation(svc_find(svcs[i].share)->isolation, RT_HCS_EDITION_SERVER,
                                     &other, &err);
            cr_assert_eq(rt_hcs_check_network_share(svcs[i].name, iso, svcs[i].share, other, &err),
                         0, "%s", err.msg);
        }
        snprintf(svcs[i].id, sizeof(svcs[i].id), "shop-%s-1-%06zu", svcs[i].name, 100 + i);
    }
    /* Apply: network, sandboxes and endpoints, then containers. */
    cr_assert_eq(NET_SYNC(net_network_create(net, &nspec, net_sync_done, &ny_, NULL, &err)), 0,
                 "%s", err.msg);
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++) {
        struct svc *s = &svcs[i];
        struct net_sandbox_spec sb = {s->id, (char *)s->name, (char *)"shop", NULL, NULL, NULL};
        char *aliases[] = {(char *)s->name, NULL};
        struct net_attachment att = {
            (char *)"shop_default",    s->id, NULL, aliases, s->port.host_port ? &s->port : NULL,
            s->port.host_port ? 1 : 0, NULL};
        struct net_sync ny = NET_SYNC_INIT;

        if (s->share)
            continue; /* joins web's sandbox */
        cr_assert_eq(net_sync_wait(&loop, &ny,
                                   net_sandbox_create(net, &sb, net_sync_done, &ny, NULL, &err),
                                   &err),
                     0, "%s", err.msg);
        s->sandbox = stk_xstrdup(ny.sandbox.handle);
        net_sync_release(&ny);
        cr_assert_eq(NET_SYNC(net_endpoint_attach(net, &att, net_sync_done, &ny_, NULL, &err)), 0,
                     "%s: %s", s->name, err.msg);
    }
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++) {
        struct rt_container_spec c;
        enum rt_isolation iso;

        rt_hcs_resolve_isolation(svcs[i].isolation, RT_HCS_EDITION_SERVER, &iso, &err);
        spec_fill(&svcs[i], iso, &c);
        cr_assert_eq(RT_SYNC(rt_container_create(rt, &c, rt_sync_done, &sy_, NULL, &err)), 0,
                     "create %s: %s", svcs[i].name, err.msg);
        cr_assert_eq(RT_SYNC(rt_container_start(rt, c.id, rt_sync_done, &sy_, NULL, &err)), 0,
                     "start %s: %s", svcs[i].name, err.msg);
        rt_container_spec_release(&c);
    }
}

static void down(void)
{
    struct stk_err err = STK_ERR_INIT;

    for (size_t i = STK_ARRAY_SIZE(svcs); i-- > 0;) {
        cr_assert_eq(
            RT_SYNC(rt_container_stop(rt, svcs[i].id, 15, 10000, rt_sync_done, &sy_, NULL, &err)),
            0, "%s", err.msg);
        cr_assert_eq(RT_SYNC(rt_container_delete(rt, svcs[i].id, rt_sync_done, &sy_, NULL, &err)),
                     0, "%s", err.msg);
    }
    for (size_t i = 0; i < STK_ARRAY_SIZE(svcs); i++)
        if (!svcs[i].share)
            cr_assert_eq(
                NET_SYNC(net_sandbox_remove(net, svcs[i].id, net_sync_done, &ny_, NULL, &err)), 0,
                "%s", err.msg);
    cr_assert_eq(NET_SYNC(net_network_remove(net, "shop_default", net_sync_done, &ny_, NULL, &err)),
                 0, "%s", err.msg);
}

TestSuite(rt_hcs_stack, .init = setup, .fini = teardown);

Test(rt_hcs_stack, examples_windows_up_ps_exec_logs_down)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_sync sy = RT_SYNC_INIT;
    struct rt_exec_opts ex = {.args = (const char *const[]){"cmd", "/c", "echo", "pong", NULL},
                              .capture = 1,
                              .timeout_ms = 5000};
    json_t *doc;
    char *log = NULL;
    int found = 0;

    up();
    cr_assert_eq(hcsemu_count_systems(), 5, "four containers and legacy's utility VM");
    cr_assert_eq(hcsemu_count_namespaces(), 3, "sidecar shares web's namespace");
    cr_assert_eq(hcsemu_count_endpoints(), 3);

    /* The storage sequence: each distinct layer imported once (three services share ltsc2022). */
    for (size_t i = 0; i < STK_ARRAY_SIZE(images); i++)
        for (size_t k = 0; images[i].layers[k]; k++)
            cr_assert_eq(imports_of(images[i].layers[k]), 1, "layer %zu of %s", k, images[i].ref);
    cr_assert_eq(hcsemu_calls("import_layer"), 4);
    cr_assert_eq(hcsemu_storage_count_layers(), 4);
    cr_assert_eq(dir_entries(scratch_dir), 4, "one scratch per container");
    cr_assert_eq(hcsemu_storage_count_attached(), 3, "the process-isolated scratches only");
    cr_assert_eq(hcsemu_storage_count_filters(), 3);
    {
        char *vm = stk_xasprintf("%s/%s/vm/sandbox.vhdx", scratch_dir, svc_find("legacy")->id);

        cr_assert(stk_path_exists(vm), "legacy's utility VM scratch %s is missing", vm);
        free(vm);
    }
    {
        char *uvm = rt_hcs_uvm_id(svc_find("legacy")->id);

        cr_assert_eq(hcsemu_system_nics(uvm), 1, "legacy's endpoint is a NIC of its utility VM");
        free(uvm);
    }

    /* The sidecar's silo names web's namespace. */
    doc = hcsemu_system_document(svc_find("sidecar")->id);
    cr_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(doc, "Container"), "Networking"), "Namespace")),
        svc_find("web")->sandbox);
    json_decref(doc);

    /* ps */
    cr_assert_eq(
        rt_sync_wait(&loop, &sy, rt_container_list(rt, rt_sync_done, &sy, NULL, &err), &err), 0,
        "%s", err.msg);
    cr_assert_eq(sy.list.n, 4);
    for (size_t i = 0; i < sy.list.n; i++) {
        cr_assert_eq(sy.list.items[i].state, RT_STATE_RUNNING, "%s", sy.list.items[i].id);
        cr_assert_str_eq(rt_container_info_label(&sy.list.items[i], RT_LABEL_PROJECT), "shop");
    }
    rt_sync_release(&sy);

    /* exec */
    cr_assert_eq(
        rt_sync_wait(&loop, &sy,
                     rt_container_exec(rt, svc_find("web")->id, &ex, rt_sync_done, &sy, NULL, &err),
                     &err),
        0, "%s", err.msg);
    cr_assert_eq(sy.exit_code, 0);
    cr_assert_str_eq(sy.output, "pong\r\n");
    rt_sync_release(&sy);

    /* logs */
    cr_assert_eq(
        rt_sync_wait(&loop, &sy,
                     rt_container_logs(rt, svc_find("legacy")->id, rt_sync_done, &sy, NULL, &err),
                     &err),
        0, "%s", err.msg);
    for (int i = 0; i < 500 && !found; i++) {
        if (stk_file_read(sy.log_path, &log, NULL, NULL) == 0)
            found = strstr(log, "started C:\\legacy\\service.exe") != NULL;
        free(log);
        log = NULL;
        if (!found)
            usleep(10000);
    }
    cr_assert(found, "legacy's output reached its log");
    rt_sync_release(&sy);

    down();
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    cr_assert_eq(hcsemu_count_namespaces(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    cr_assert_eq(dir_entries(scratch_dir), 0, "scratch folders left");
    cr_assert_eq(hcsemu_storage_count_attached(), 0, "VHDs left attached");
    cr_assert_eq(hcsemu_storage_count_filters(), 0, "storage filters left");
    cr_assert_eq(hcsemu_storage_count_handles(), 0, "VHD handles left open");
    cr_assert_eq(hcsemu_count_open_handles(), 0);
    cr_assert_eq(hcsemu_count_hcn_handles(), 0);
    cr_assert_eq(hcsemu_count_processes_running(), 0);
}

/* The same stack with legacy switched to process isolation is refused at plan time. */
Test(rt_hcs_stack, legacy_under_process_isolation_is_refused_before_anything_exists)
{
    struct stk_err err = STK_ERR_INIT;
    struct svc *legacy = svc_find("legacy");

    cr_assert_eq(rt_hcs_check_compat(HOST_BUILD, RT_HCS_EDITION_SERVER, legacy->os_version,
                                     RT_ISOLATION_PROCESS, legacy->image, 0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "20348") &&
                  strstr(err.msg, "isolation: hyperv"),
              "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
}
