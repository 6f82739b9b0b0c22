/*
 * test-rec-windows.c - examples/windows/app.yaml through the product path on
 * the HCS/HCN emulator: the specs loader reads the file from the source tree,
 * the reconciler (cli_up: planner, executor; cli_ps, cli_top, cli_exec,
 * cli_logs, cli_down) drives the real hcs driver (rt_hcs_ctx_new over the emulated
 * computecore table) with the real layer storage (rt_hcs_storage_new over the
 * emulated computestorage.dll and virtdisk.dll, reading the test's image
 * store) and the real hns plug-in (over the emulated HCN table), with the
 * orchestrator's own glue between the two for utility VM NICs (rec-hcs.h).
 * The Windows images are OCI layouts with a windows/amd64 platform and an
 * os.version whose layer tars have the Windows layer layout
 * (tests/hcsemu/hcsemu-images.h), loaded into the test's image store under
 * the references the file names, as `stack image load` would.
 *
 * Hosts: Windows Server 2022 (10.0.20348, server: process isolation runs the
 * ltsc2022 images, the ltsc2019 one needs Hyper-V) and Windows 10 22H2
 * (10.0.19045, client: the default isolation is hyperv).
 */
#include <dirent.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "netplugins/hns/hns.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/rec/rec.h"
#include "orchestrator/store/store.h"
#include "runtime/hcs/hcs.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"
#include "tests/hcsemu/hcsemu-images.h"
#include "tests/hcsemu/hcsemu.h"

#define APP_YAML STK_SOURCE_DIR "/examples/windows/app.yaml"
#define NANOSERVER "mcr.microsoft.com/windows/nanoserver:ltsc2022"
#define SERVERCORE "mcr.microsoft.com/windows/servercore:ltsc2019"

static struct {
    char dir[64];
    char state_dir[96];
    char run_dir[96];
    char wf_dir[128];      /* windowsfilter: the imported layers */
    char scratch_dir[128]; /* the containers' scratch folders */
    char **nano_layers;    /* NANOSERVER's layer digests, base first */
    char **core_layers;    /* SERVERCORE's */
    struct rt_hcs_storage *storage;
    uv_loop_t loop;
    struct store *store;
    struct rt_image_store *images;
    struct rt_ctx *rt;
    struct net_ctx *net;
    struct rec_net_peer netglue;
    struct rec_env env;
} T;

/* ---- images ------------------------------------------------------------------------------ */

/* A new layout directory T.dir/NAME with its blobs folder and oci-layout. */
static char *layout_dir(const char *name)
{
    char *dir = stk_xasprintf("%s/%s", T.dir, name);

    hcsemu_layout_init(dir);
    return dir;
}

/* A Linux image's one layer (not in the Windows layer layout). */
static void linux_manifest(const char *dir, struct hcsemu_manifest *ret)
{
    static const struct hcsemu_entry files[] = {{"bin/sh", "#!\n"}, {NULL, NULL}};
    const struct hcsemu_layer layer = {files, 0};

    hcsemu_layout_manifest(dir, "linux", "", "/bin/sh", &layer, 1, ret);
}

/*
 * Builds the OCI layout of image REF (windows/amd64, OS_VERSION; a base
 * layer with a UtilityVM folder when WITH_UVM and an application layer, in
 * the Windows layer layout) and loads it into the test's image store as
 * `stack image load` does. The real storage imports its layers at the first
 * create. Stores its layer digests (base first) in *RET_LAYERS when not NULL.
 */
static void windows_image(const char *ref, const char *os_version, int with_uvm, char ***ret_layers)
{
    struct stk_err err = STK_ERR_INIT;
    char *name = stk_xasprintf("layout-%s", os_version);
    char *dir = layout_dir(name);
    struct hcsemu_manifest m;
    char *entry;

    hcsemu_layout_windows_image(dir, os_version, with_uvm, ref, &m);
    entry =
        hcsemu_layout_descriptor(&m, "windows", os_version, RT_IMAGE_ANNOT_CONTAINERD_NAME, ref);
    hcsemu_layout_index(dir, (const char *const[]){entry, NULL});
    cr_assert_eq(rt_image_load_layout(T.images, dir, NULL, NULL, &err), 0, "load %s: %s", ref,
                 err.msg);
    if (ret_layers)
        *ret_layers = stk_strv_dup(m.layers);
    hcsemu_manifest_release(&m);
    free(entry);
    free(name);
    free(dir);
}

/* ---- the bench -------------------------------------------------------------------------- */

static void bench_up(const char *host_build, const char *edition)
{
    struct stk_err err = STK_ERR_INIT;
    char *db;

    memset(&T, 0, sizeof(T));
    snprintf(T.dir, sizeof(T.dir), "/tmp/stk-recwin-XXXXXX");
    cr_assert_not_null(mkdtemp(T.dir));
    snprintf(T.state_dir, sizeof(T.state_dir), "%s/state", T.dir);
    snprintf(T.run_dir, sizeof(T.run_dir), "%s/run", T.dir);
    stk_mkdir_p(T.state_dir, 0700, NULL);
    stk_mkdir_p(T.run_dir, 0700, NULL);
    cr_assert_eq(uv_loop_init(&T.loop), 0);
    db = stk_xasprintf("%s/state.db", T.state_dir);
    cr_assert_eq(store_open(db, &T.store, &err), 0, "%s", err.msg);
    free(db);
    cr_assert_eq(rt_image_store_open(T.state_dir, &T.images, &err), 0, "%s", err.msg);
    hcsemu_new(host_build, edition);
    windows_image(NANOSERVER, "10.0.20348.2700", 0, &T.nano_layers);
    windows_image(SERVERCORE, "10.0.17763.5000", 1, &T.core_layers);
    /* The real layer storage over the emulated computestorage.dll, as on Windows. */
    snprintf(T.wf_dir, sizeof(T.wf_dir), "%s/windowsfilter", T.state_dir);
    snprintf(T.scratch_dir, sizeof(T.scratch_dir), "%s/scratch", T.state_dir);
    T.storage = rt_hcs_storage_new(T.wf_dir, T.scratch_dir, T.images, hcsemu_storage_calls(), &err);
    cr_assert_not_null(T.storage, "%s", err.msg);
    T.rt = rt_hcs_ctx_new(
        &T.loop, T.state_dir, T.run_dir, "/nonexistent/stack", hcsemu_hcs_api(),
        rt_hcs_storage_api_of(T.storage), host_build,
        strcmp(edition, "client") == 0 ? RT_HCS_EDITION_CLIENT : RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(T.rt, "%s", err.msg);
    T.net = net_hns_ctx_new(&T.loop, T.state_dir, T.run_dir, hcsemu_hcn_api(), &err);
    cr_assert_not_null(T.net, "%s", err.msg);
    /* The product's glue: utility VMs get their namespace's endpoints as NICs. */
    cr_assert_eq(rec_net_peer_connect(&T.netglue, T.rt, T.net), 1,
                 "the hcs driver takes the HNS peer");
    T.env.loop = &T.loop;
    T.env.rt = T.rt;
    T.env.net = T.net;
    T.env.images = T.images;
    T.env.store = T.store;
    T.env.state_dir = T.state_dir;
    T.env.run_dir = T.run_dir;
}

static void server_up(void)
{
    bench_up("10.0.20348", "server");
}

static void client_up(void)
{
    bench_up("10.0.19045", "client");
}

static void bench_down(void)
{
    net_ctx_free(T.net);
    rt_ctx_free(T.rt);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&T.loop), 0);
    rt_hcs_storage_free(T.storage);
    stk_strv_free(T.nano_layers);
    stk_strv_free(T.core_layers);
    rt_image_store_close(T.images);
    store_close(T.store);
    hcsemu_free();
    stk_rm_rf(T.dir, NULL);
}

/* Loads PATH with the Windows rules, as `stack -f PATH` does on a Windows host. */
static struct spec_project *load(const char *path)
{
    struct spec_load_opts opts;
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *files[] = {path, NULL};

    memset(&opts, 0, sizeof(opts));
    opts.files = files;
    opts.platform = SPEC_PLATFORM_WINDOWS;
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "load %s: %s:%d:%d: %s", path,
                 err.file, err.line, err.col, err.msg);
    return p;
}

/* Writes app.yaml with FROM replaced by TO (once, which must occur) next to the state. */
static char *app_yaml_with(const char *from, const char *to)
{
    char *text = NULL, *at, *out, *path;
    size_t len;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(stk_file_read(APP_YAML, &text, &len, &err), 0, "%s", err.msg);
    at = strstr(text, from);
    cr_assert_not_null(at, "app.yaml has no '%s'", from);
    out = stk_xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    path = stk_xasprintf("%s/app.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, out, strlen(out), 0644, 0, &err), 0, "%s", err.msg);
    free(text);
    free(out);
    return path;
}

/* The runtime id of SERVICE's container as the runtime lists it, a new string or NULL. */
static char *container_id(const char *service)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    char *id = NULL;
    int r = rt_container_list(T.rt, rt_sync_done, &s, NULL, &err);

    cr_assert_eq(rt_sync_wait(&T.loop, &s, r, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < s.list.n; i++) {
        const char *sv = rt_container_info_label(&s.list.items[i], RT_LABEL_SERVICE);
        if (sv && strcmp(sv, service) == 0)
            id = stk_xstrdup(s.list.items[i].id);
    }
    rt_sync_release(&s);
    return id;
}

static json_t *document(const char *service)
{
    char *id = container_id(service);
    json_t *doc;

    cr_assert_not_null(id, "no container for '%s'", service);
    doc = hcsemu_system_document(id);
    cr_assert_not_null(doc, "the emulator has no compute system '%s'", id);
    free(id);
    return doc;
}

/* cli_ps() of PROJECT into a new string (caller frees). */
static char *capture_ps(const char *project)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(cli_ps(&T.env, project, out, &err), 0, "ps: %s", err.msg);
    fclose(out);
    return buf;
}

/* The line of SERVICE in ps output PS, a new string. */
static char *ps_line(const char *ps, const char *service)
{
    char *key = stk_xasprintf("shop-%s-1 ", service);
    const char *at = strstr(ps, key);
    char *line;

    cr_assert_not_null(at, "no ps line for %s:\n%s", service, ps);
    line = stk_xstrndup(at, strcspn(at, "\n"));
    free(key);
    return line;
}

/* Whether the line has the whitespace-separated word W. */
static int has_word(const char *line, const char *w)
{
    size_t n = strlen(w);

    for (const char *p = strstr(line, w); p; p = strstr(p + 1, w))
        if ((p == line || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static int store_containers(const char *project)
{
    struct store_container *rows = NULL;
    size_t n = 0;

    store_container_list(T.store, project, &rows, &n, NULL);
    for (size_t k = 0; k < n; k++)
        store_container_release(&rows[k]);
    free(rows);
    return (int)n;
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

/* The windowsfilter folder of layer DIGEST, a new string. */
static char *layer_folder(const char *digest)
{
    return stk_xasprintf("%s/%s", T.wf_dir, digest + strlen("sha256:"));
}

/*
 * Asserts that the storage trace imported exactly the layers of A and B
 * (NULL-terminated vectors of digests; B may be NULL), each once.
 */
static void expect_imported_once(char *const *a, char *const *b)
{
    char *trace = hcsemu_storage_trace(), *p = trace, *nl;
    struct stk_strv seen = STK_STRV_INIT, want = STK_STRV_INIT;

    stk_strv_init(&seen);
    stk_strv_init(&want);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; (k ? b : a) && (k ? b : a)[i]; i++) {
            char *f = layer_folder((k ? b : a)[i]);

            if (stk_strv_contains(&want, f))
                free(f);
            else
                stk_strv_push_take(&want, f);
        }
    for (; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        *nl = '\0';
        if (strncmp(p, "import_layer ", 13) == 0) {
            char *path = stk_xstrndup(p + 13, strcspn(p + 13, " "));

            cr_assert(stk_strv_contains(&want, path), "imported a layer of no image: %s", path);
            cr_assert(!stk_strv_contains(&seen, path), "layer %s imported twice", path);
            stk_strv_push_take(&seen, path);
        }
    }
    cr_assert_eq(stk_strv_len(seen.v), stk_strv_len(want.v), "%zu of the %zu layers imported",
                 stk_strv_len(seen.v), stk_strv_len(want.v));
    cr_assert_eq(hcsemu_storage_count_layers(), (int)stk_strv_len(want.v));
    stk_strv_release(&seen);
    stk_strv_release(&want);
    free(trace);
}

/* The OsVersion the driver recorded for SERVICE's container (from the storage), a new string. */
static char *recorded_os_version(const char *service)
{
    char *id = container_id(service), *path;
    json_t *rec;
    char *v;

    cr_assert_not_null(id, "no container for '%s'", service);
    path = stk_xasprintf("%s/containers/%s/hcs.json", T.state_dir, id);
    rec = json_load_file(path, 0, NULL);
    cr_assert_not_null(rec, "no record %s", path);
    v = stk_xstrdup(json_string_value(json_object_get(rec, "OsVersion")) ?: "");
    json_decref(rec);
    free(path);
    free(id);
    return v;
}

/* SERVICE's scratch folder, a new string. */
static char *scratch_of(const char *service)
{
    char *id = container_id(service), *dir;

    cr_assert_not_null(id, "no container for '%s'", service);
    dir = stk_xasprintf("%s/%s", T.scratch_dir, id);
    free(id);
    return dir;
}

/* Asserts that FILE exists under DIR. */
static void expect_file(const char *dir, const char *file)
{
    char *path = stk_xasprintf("%s/%s", dir, file);

    cr_assert(stk_path_exists(path), "%s is missing", path);
    free(path);
}

static void assert_nothing_left(const char *project)
{
    cr_assert_eq(hcsemu_count_systems(), 0, "compute systems left");
    cr_assert_eq(hcsemu_count_endpoints(), 0, "endpoints left");
    cr_assert_eq(hcsemu_count_namespaces(), 0, "namespaces left");
    cr_assert_eq(hcsemu_count_networks(), 0, "networks left");
    cr_assert_eq(dir_entries(T.scratch_dir), 0, "scratch folders left in %s", T.scratch_dir);
    cr_assert_eq(hcsemu_storage_count_attached(), 0, "VHDs left attached");
    cr_assert_eq(hcsemu_storage_count_filters(), 0, "storage filters left attached");
    cr_assert_eq(hcsemu_storage_count_handles(), 0, "VHD handles left open");
    cr_assert_eq(hcsemu_count_open_handles(), 0, "HCS handles left open");
    cr_assert_eq(hcsemu_count_hcn_handles(), 0, "HCN handles left open");
    cr_assert_eq(hcsemu_count_processes_running(), 0, "processes left running");
    cr_assert_eq(store_containers(project), 0, "the store still records containers");
}

/* ---- the cycle on Windows Server 2022 ------------------------------------------------- */

TestSuite(rec_windows, .timeout = 120);

Test(rec_windows, app_yaml_up_ps_exec_logs_up_again_down, .init = server_up, .fini = bench_down)
{
    struct spec_project *p = load(APP_YAML);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    json_t *doc, *ns_web, *ns_side;
    char *ps, *line, *out = NULL, *logs = NULL;
    size_t len = 0;
    FILE *f;
    int status = -1;

    cr_assert_str_eq(p->name, "shop");
    cr_assert_eq(cli_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_gt(T.env.mutations, 0, "the first up counted no mutating call");

    /* Four containers and legacy's utility VM; three namespaces (sidecar joins web's). */
    cr_assert_eq(hcsemu_count_systems(), 5, "four containers and legacy's utility VM");
    cr_assert_eq(hcsemu_count_networks(), 1);
    cr_assert_eq(hcsemu_count_namespaces(), 3, "sidecar shares web's namespace");
    cr_assert_eq(hcsemu_count_endpoints(), 3);
    cr_assert_eq(hcsemu_count_processes_running(), 4);

    /*
     * The real storage sequence ran: three services share nanoserver, yet each
     * distinct layer (nanoserver's two, servercore's two) was imported once.
     */
    expect_imported_once(T.nano_layers, T.core_layers);
    cr_assert_eq(hcsemu_calls("import_layer"), 4);
    cr_assert_eq(hcsemu_calls("setup_base_os_layer"), 3,
                 "two container base layers and servercore's utility VM image");
    /* A scratch per container: the three process-isolated ones attached and filtered. */
    cr_assert_eq(dir_entries(T.scratch_dir), 4, "one scratch per container");
    cr_assert_eq(hcsemu_storage_count_attached(), 3,
                 "legacy's scratch is not attached on the host");
    cr_assert_eq(hcsemu_storage_count_filters(), 3);
    cr_assert_eq(hcsemu_calls("initialize_writable_layer"), 3);
    {
        static const char *const procs[] = {"web", "agent", "sidecar"};
        for (size_t i = 0; i < 3; i++) {
            char *dir = scratch_of(procs[i]), *osv = recorded_os_version(procs[i]);
            json_t *sdoc = document(procs[i]);
            json_t *st = json_object_get(json_object_get(sdoc, "Container"), "Storage");
            json_t *ls = json_object_get(st, "Layers");
            char *top = layer_folder(T.nano_layers[1]), *base = layer_folder(T.nano_layers[0]);

            expect_file(dir, "sandbox.vhdx");
            cr_assert(strncmp(json_string_value(json_object_get(st, "Path")) ?: "",
                              "\\\\?\\Volume{", 11) == 0,
                      "%s's writable layer is not the attached volume: %s", procs[i],
                      json_string_value(json_object_get(st, "Path")));
            cr_assert_eq(json_array_size(ls), 2);
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ls, 0), "Path")),
                             top);
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ls, 1), "Path")),
                             base);
            /* The os.version the storage reported is the image's (the store's config). */
            cr_assert_str_eq(osv, "10.0.20348.2700");
            json_decref(sdoc);
            free(top);
            free(base);
            free(dir);
            free(osv);
        }
    }
    {
        char *dir = scratch_of("legacy"), *osv = recorded_os_version("legacy");

        expect_file(dir, "sandbox.vhdx");
        expect_file(dir, "vm/sandbox.vhdx");
        cr_assert_str_eq(osv, "10.0.17763.5000");
        free(dir);
        free(osv);
    }

    /* web's endpoint publishes 8080 -> 80/tcp (PortMapping, protocol 6). */
    {
        char *ids = NULL, *rec = NULL, *props = NULL;
        const struct hcn_api *hcn = hcsemu_hcn_api();
        json_t *arr, *v;
        size_t i;
        int mapped = 0;

        cr_assert_geq(hcn->enumerate_endpoints("{}", &ids, &rec), 0);
        arr = json_loads(ids, 0, NULL);
        cr_assert_not_null(arr);
        json_array_foreach(arr, i, v)
        {
            struct hcn_endpoint *ep = NULL;
            json_t *pj, *pol, *q;
            size_t k;
            cr_assert_geq(hcn->open_endpoint(json_string_value(v), &ep, &rec), 0);
            cr_assert_geq(hcn->query_endpoint_properties(ep, "{}", &props, &rec), 0);
            hcn->close_endpoint(ep);
            pj = json_loads(props, 0, NULL);
            hcn->free_string(props);
            json_array_foreach(json_object_get(pj, "Policies"), k, pol)
            {
                if (strcmp(json_string_value(json_object_get(pol, "Type")) ?: "", "PortMapping"))
                    continue;
                q = json_object_get(pol, "Settings");
                cr_assert_eq(json_integer_value(json_object_get(q, "ExternalPort")), 8080);
                cr_assert_eq(json_integer_value(json_object_get(q, "InternalPort")), 80);
                cr_assert_eq(json_integer_value(json_object_get(q, "Protocol")), 6);
                cr_assert(strstr(json_string_value(json_object_get(pj, "Name")), "shop-web-1"),
                          "%s", json_string_value(json_object_get(pj, "Name")));
                mapped++;
            }
            json_decref(pj);
        }
        cr_assert_eq(mapped, 1, "exactly web's endpoint maps a port");
        json_decref(arr);
        hcn->free_string(ids);
    }

    /* sidecar's silo is in web's namespace. */
    doc = document("web");
    ns_web = json_object_get(json_object_get(json_object_get(doc, "Container"), "Networking"),
                             "Namespace");
    cr_assert(json_is_string(ns_web));
    {
        /* web's bind: the Windows host path as written, a MappedDirectory. */
        json_t *md = json_array_get(
            json_object_get(json_object_get(doc, "Container"), "MappedDirectories"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(md, "HostPath")), "C:\\shop\\data");
        cr_assert_str_eq(json_string_value(json_object_get(md, "ContainerPath")), "C:\\app\\data");
        cr_assert_eq(json_array_size(
                         json_object_get(json_object_get(doc, "Container"), "MappedDirectories")),
                     1, "no Linux /etc/hosts or /etc/resolv.conf binds on Windows");
    }
    {
        json_t *sdoc = document("sidecar");
        ns_side = json_object_get(json_object_get(json_object_get(sdoc, "Container"), "Networking"),
                                  "Namespace");
        cr_assert_str_eq(json_string_value(ns_side), json_string_value(ns_web));
        json_decref(sdoc);
    }
    json_decref(doc);

    /* agent maps the engine pipe. */
    doc = document("agent");
    {
        json_t *mp =
            json_array_get(json_object_get(json_object_get(doc, "Container"), "MappedPipes"), 0);
        cr_assert_not_null(mp, "agent has no MappedPipes");
        cr_assert_str_eq(json_string_value(json_object_get(mp, "HostPath")),
                         "\\\\.\\pipe\\docker_engine");
        cr_assert_str_eq(json_string_value(json_object_get(mp, "ContainerPipeName")),
                         "docker_engine");
    }
    json_decref(doc);

    /* legacy is hosted in its utility VM, which has 2 GiB (mem_limit: 2g) and legacy's NIC. */
    doc = document("legacy");
    cr_assert(json_is_string(json_object_get(doc, "HostingSystemId")), "legacy is not hosted");
    {
        const char *uvm = json_string_value(json_object_get(doc, "HostingSystemId"));
        json_t *vm = hcsemu_system_document(uvm);
        cr_assert_not_null(vm);
        json_t *mem = json_object_get(
            json_object_get(json_object_get(vm, "VirtualMachine"), "ComputeTopology"), "Memory");
        cr_assert_eq(json_integer_value(json_object_get(mem, "SizeInMB")), 2048);
        cr_assert_eq(hcsemu_system_nics(uvm), 1, "legacy's endpoint is a NIC of its utility VM");
        json_decref(vm);
    }
    json_decref(doc);

    /* ps: four services running, each with its isolation. */
    ps = capture_ps("shop");
    {
        static const char *const want[][2] = {
            {"web", "process"}, {"agent", "process"}, {"legacy", "hyperv"}, {"sidecar", "process"}};
        for (size_t i = 0; i < 4; i++) {
            line = ps_line(ps, want[i][0]);
            cr_assert(has_word(line, "running"), "%s", line);
            cr_assert(has_word(line, want[i][1]), "%s", line);
            free(line);
        }
        cr_assert(strstr(ps, ":8080->80/tcp"), "web's port is listed:\n%s", ps);
    }
    free(ps);

    /* top: each container with its isolation. */
    f = open_memstream(&out, &len);
    cr_assert_eq(cli_top(&T.env, "shop", NULL, f, &err), 0, "top: %s", err.msg);
    fclose(f);
    cr_assert(strstr(out, "shop-legacy-1 (isolation hyperv"), "%s", out);
    cr_assert(strstr(out, "shop-web-1 (isolation process"), "%s", out);
    free(out);
    out = NULL;

    /* exec in web: the emulated cmd's output and status. */
    f = open_memstream(&out, &len);
    {
        char *const args[] = {(char *)"cmd", (char *)"/c", (char *)"echo", (char *)"pong", NULL};
        cr_assert_eq(cli_exec(&T.env, "shop", "web", 1, args, f, &status, &err), 0, "exec: %s",
                     err.msg);
    }
    fclose(f);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "pong\r\n");
    free(out);
    f = open_memstream(&out, &len);
    {
        char *const args[] = {(char *)"cmd", (char *)"/c", (char *)"exit", (char *)"3", NULL};
        cr_assert_eq(cli_exec(&T.env, "shop", "web", 1, args, f, &status, &err), 0, "exec: %s",
                     err.msg);
    }
    fclose(f);
    free(out);
    cr_assert_eq(status, 3);

    /* logs: the init process of legacy (in its utility VM) wrote its start line. */
    for (int i = 0; i < 500; i++) {
        f = open_memstream(&logs, &len);
        cr_assert_eq(cli_logs(&T.env, "shop", "legacy", 0, f, &err), 0, "logs: %s", err.msg);
        fclose(f);
        if (strstr(logs, "started C:\\legacy\\service.exe"))
            break;
        free(logs);
        logs = NULL;
        usleep(10000);
    }
    cr_assert_not_null(logs, "legacy's output never reached its log");
    free(logs);
    logs = NULL;
    for (int i = 0; i < 500; i++) {
        f = open_memstream(&logs, &len);
        cr_assert_eq(cli_logs(&T.env, "shop", "web", 0, f, &err), 0, "logs: %s", err.msg);
        fclose(f);
        if (strstr(logs, "started C:\\app\\server.exe --port 80"))
            break;
        if (i == 499)
            cr_log_error("web's log: %s", logs);
        free(logs);
        logs = NULL;
        usleep(10000);
    }
    cr_assert_not_null(logs, "web's output never reached its log");
    free(logs);

    /* A second up with nothing changed mutates nothing. */
    {
        static const char *const creates[] = {
            "create_compute_system", "start_compute_system", "create_network",
            "create_namespace",      "create_endpoint",      "modify_namespace",
            "create_process",        "import_layer",         "copy_file"};
        int before[9];
        for (size_t i = 0; i < 9; i++) {
            before[i] = hcsemu_calls(creates[i]);
            cr_assert_gt(before[i], 0, "the first up never called %s", creates[i]);
        }
        T.env.mutations = 0;
        cr_assert_eq(cli_up(&T.env, p, &o, &err), 0, "second up: %s", err.msg);
        cr_assert_eq(T.env.mutations, 0, "the second up made %lu mutating calls", T.env.mutations);
        for (size_t i = 0; i < 9; i++)
            cr_assert_eq(hcsemu_calls(creates[i]), before[i], "the second up called %s",
                         creates[i]);
        cr_assert_eq(hcsemu_count_systems(), 5);
    }

    cr_assert_eq(cli_down(&T.env, "shop", &err), 0, "down: %s", err.msg);
    assert_nothing_left("shop");
    /* down released every scratch through the storage; the imported layers stay for reuse. */
    cr_assert_eq(hcsemu_calls("detach_layer_storage_filter"), 3);
    cr_assert_eq(hcsemu_storage_count_layers(), 4);
    spec_project_free(p);
}

/* legacy under process isolation on 20348: refused at plan time, nothing created. */
Test(rec_windows, legacy_process_isolation_is_refused_before_anything_exists, .init = server_up,
     .fini = bench_down)
{
    char *path = app_yaml_with("isolation: hyperv", "isolation: process");
    struct spec_project *p = load(path);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    int r = cli_up(&T.env, p, &o, &err);

    cr_assert_eq(r, STK_EUNAVAIL, "up returned %d: %s", r, err.msg);
    cr_assert_eq(err.code, STK_EUNAVAIL);
    cr_assert(strstr(err.msg, "'legacy'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "20348"), "%s", err.msg);
    cr_assert(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    cr_assert_eq(hcsemu_count_namespaces(), 0);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    cr_assert_eq(hcsemu_calls("import_layer"), 0, "a layer was imported");
    cr_assert_eq(dir_entries(T.scratch_dir), 0, "a scratch was made");
    cr_assert_eq(hcsemu_calls("create_compute_system"), 0);
    cr_assert_eq(hcsemu_calls("create_network"), 0);
    cr_assert_eq(store_containers("shop"), 0);
    spec_project_free(p);
    free(path);
}

/*
 * A Windows 10 client (19045): legacy without `isolation` gets the client's
 * default, hyperv (the ltsc2019 image is older than the host); the ltsc2022
 * services under process isolation are refused there (20348 != 19045).
 */
Test(rec_windows, client_host_defaults_to_hyperv, .init = client_up, .fini = bench_down)
{
    static const char *legacy_only = "name: shop\n"
                                     "services:\n"
                                     "  legacy:\n"
                                     "    image: " SERVERCORE "\n"
                                     "    command: [\"C:\\\\legacy\\\\service.exe\"]\n"
                                     "    mem_limit: 2g\n";
    struct spec_project *p;
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    char *path, *ps, *line;
    json_t *doc;

    /* The whole app.yaml: web is process-isolated with a 20348 image. */
    p = load(APP_YAML);
    cr_assert_eq(cli_up(&T.env, p, &o, &err), STK_EUNAVAIL, "%s", err.msg);
    cr_assert(strstr(err.msg, "20348") && strstr(err.msg, "19045"), "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    spec_project_free(p);

    path = stk_xasprintf("%s/legacy.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, legacy_only, strlen(legacy_only), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_null(p->services[0].isolation, "isolation was not removed");
    cr_assert_eq(cli_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 2, "legacy and its utility VM");
    doc = document("legacy");
    cr_assert(json_is_string(json_object_get(doc, "HostingSystemId")), "legacy is not hosted");
    json_decref(doc);
    ps = capture_ps("shop");
    line = ps_line(ps, "legacy");
    cr_assert(has_word(line, "running") && has_word(line, "hyperv"), "%s", line);
    free(line);
    free(ps);
    cr_assert_eq(cli_down(&T.env, "shop", &err), 0, "down: %s", err.msg);
    assert_nothing_left("shop");
    spec_project_free(p);
    free(path);
}

/*
 * An image given as a path to a multi-platform layout (linux/amd64 first,
 * then windows ltsc2019 and ltsc2022, no names): the planner resolves it for
 * the runtime's host — windows, build 20348 — not for the platform this
 * binary was built for, so the ltsc2022 manifest is the one that runs.
 */
Test(rec_windows, path_image_selects_the_manifest_of_the_windows_host, .init = server_up,
     .fini = bench_down)
{
    static const char *yaml = "name: multi\n"
                              "services:\n"
                              "  app:\n"
                              "    image: ./multi\n"
                              "    isolation: process\n"
                              "    command: [\"C:\\\\app.exe\"]\n";
    char *dir = layout_dir("multi"), *path, *top, *base, *d[4];
    struct hcsemu_manifest lin, w19, w22;
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};
    struct spec_project *p;
    json_t *doc, *layers;

    linux_manifest(dir, &lin);
    hcsemu_layout_windows_image(dir, "10.0.17763.5000", 0, "w19", &w19);
    hcsemu_layout_windows_image(dir, "10.0.20348.2700", 0, "w22", &w22);
    d[0] = hcsemu_layout_descriptor(&lin, "linux", NULL, NULL, NULL);
    d[1] = hcsemu_layout_descriptor(&w19, "windows", "10.0.17763.5000", NULL, NULL);
    d[2] = hcsemu_layout_descriptor(&w22, "windows", "10.0.20348.2700", NULL, NULL);
    d[3] = NULL;
    hcsemu_layout_index(dir, (const char *const *)d);
    path = stk_xasprintf("%s/multi.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, yaml, strlen(yaml), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_eq(cli_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    doc = document("app");
    layers =
        json_object_get(json_object_get(json_object_get(doc, "Container"), "Storage"), "Layers");
    cr_assert_eq(json_array_size(layers), 2);
    top = layer_folder(w22.layers[1]);
    base = layer_folder(w22.layers[0]);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, 0), "Path")), top,
                     "the top layer is not the ltsc2022 one");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, 1), "Path")), base);
    json_decref(doc);
    /* Only the selected manifest's layers were imported. */
    expect_imported_once(w22.layers, NULL);
    cr_assert_eq(cli_down(&T.env, "multi", &err), 0, "down: %s", err.msg);
    assert_nothing_left("multi");
    for (size_t i = 0; i < 3; i++)
        free(d[i]);
    hcsemu_manifest_release(&lin);
    hcsemu_manifest_release(&w19);
    hcsemu_manifest_release(&w22);
    free(top);
    free(base);
    free(path);
    free(dir);
    spec_project_free(p);
}

/* A Linux image on the Windows host is refused at plan time, naming both. */
Test(rec_windows, linux_image_on_windows_host_is_refused, .init = server_up, .fini = bench_down)
{
    static const char *yaml = "name: lin\n"
                              "services:\n"
                              "  app:\n"
                              "    image: ./lin\n"
                              "    command: [\"/bin/sh\"]\n";
    char *dir = layout_dir("lin"), *entry, *path;
    struct hcsemu_manifest lin;
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};
    struct spec_project *p;

    linux_manifest(dir, &lin);
    entry = hcsemu_layout_descriptor(&lin, NULL, NULL, NULL, NULL);
    hcsemu_layout_index(dir, (const char *const[]){entry, NULL});
    hcsemu_manifest_release(&lin);
    path = stk_xasprintf("%s/lin.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, yaml, strlen(yaml), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_eq(cli_up(&T.env, p, &o, &err), STK_EUNAVAIL, "%s", err.msg);
    cr_assert(strstr(err.msg, "'app'") && strstr(err.msg, "linux image") &&
                  strstr(err.msg, "windows"),
              "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    free(entry);
    free(path);
    free(dir);
    spec_project_free(p);
}
