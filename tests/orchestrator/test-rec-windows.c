/*
 * test-rec-windows.c - examples/windows/app.yaml through the product path on
 * the HCS/HCN emulator: the specs loader reads the file from the source tree,
 * the reconciler (rec_up: planner, executor; rec_ps, rec_top, rec_exec,
 * rec_logs, rec_down) drives the real hcs driver (rt_hcs_ctx_new over the emulated
 * computecore/computestorage tables) and the real hns plug-in (over the
 * emulated HCN table), with the orchestrator's own glue between the two for
 * utility VM NICs (rec-hcs.h). The Windows images are OCI layouts with a
 * windows/amd64 platform and an os.version, loaded into the test's image
 * store under the references the file names, as `stack image load` would.
 *
 * Hosts: Windows Server 2022 (10.0.20348, server: process isolation runs the
 * ltsc2022 images, the ltsc2019 one needs Hyper-V) and Windows 10 22H2
 * (10.0.19045, client: the default isolation is hyperv).
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "netplugins/hns/hns.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/rec-hcs.h"
#include "orchestrator/rec.h"
#include "orchestrator/store.h"
#include "runtime/hcs/hcs.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"
#include "tests/hcsemu/hcsemu.h"

#define APP_YAML STK_SOURCE_DIR "/examples/windows/app.yaml"
#define NANOSERVER "mcr.microsoft.com/windows/nanoserver:ltsc2022"
#define SERVERCORE "mcr.microsoft.com/windows/servercore:ltsc2019"

static struct {
    char dir[64];
    char state_dir[96];
    char run_dir[96];
    uv_loop_t loop;
    struct store *store;
    struct rt_image_store *images;
    struct rt_ctx *rt;
    struct net_ctx *net;
    struct rec_hcs_network netglue;
    struct rec_env env;
} T;

/* ---- images ------------------------------------------------------------------------------ */

/* Writes DATA (LEN bytes) as a blob of layout DIR; stores its digest in DIGEST. */
static void put_blob(const char *dir, const void *data, size_t len, char digest[STK_DIGEST_STR_LEN])
{
    struct stk_err err = STK_ERR_INIT;
    char *path;

    stk_sha256_digest(data, len, digest);
    path = stk_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
    cr_assert_eq(stk_file_write_atomic(path, data, len, 0644, 0, &err), 0, "%s", err.msg);
    free(path);
}

/*
 * A layer tar with the Windows layer layout (Files/ and Hives/) whose one
 * file names the image, so each image has its own layer digest. In memory.
 */
static void *layer_tar(const char *tag, size_t *ret_len)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e;
    size_t cap = 64 * 1024, used = 0;
    char *buf = stk_xmalloc(cap);
    const char *dirs[] = {"Files", "Hives"};
    char *text = stk_xasprintf("%s\r\n", tag);

    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_per_block(a, 0);
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < 2; i++) {
        e = archive_entry_new();
        archive_entry_set_pathname(e, dirs[i]);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
    }
    e = archive_entry_new();
    archive_entry_set_pathname(e, "Files/image.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(text));
    cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
    cr_assert_eq(archive_write_data(a, text, strlen(text)), (la_ssize_t)strlen(text));
    archive_entry_free(e);
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    free(text);
    *ret_len = used;
    return buf;
}

/* One manifest of a layout: its descriptor's digest and size, and its layer's digest. */
struct manifest {
    char digest[STK_DIGEST_STR_LEN];
    size_t size;
    char layer[STK_DIGEST_STR_LEN];
};

/* Writes into layout DIR a one-layer manifest for OS/amd64 with OS_VERSION ("" for none). */
static void make_manifest(const char *dir, const char *os, const char *os_version, const char *tag,
                          struct manifest *ret)
{
    char cfgd[STK_DIGEST_STR_LEN];
    size_t layer_len;
    void *tar = layer_tar(tag, &layer_len);
    char *vers =
        *os_version ? stk_xasprintf("\"os.version\":\"%s\",", os_version) : stk_xstrdup("");
    char *cfg, *man;

    put_blob(dir, tar, layer_len, ret->layer);
    cfg = stk_xasprintf("{\"architecture\":\"amd64\",\"os\":\"%s\",%s"
                        "\"config\":{\"Cmd\":[\"%s\"]},"
                        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                        os, vers, tag, ret->layer);
    put_blob(dir, cfg, strlen(cfg), cfgd);
    man =
        stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
                      "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
                      "\"digest\":\"%s\",\"size\":%zu}]}",
                      RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cfgd, strlen(cfg),
                      RT_IMAGE_MT_OCI_LAYER, ret->layer, layer_len);
    put_blob(dir, man, strlen(man), ret->digest);
    ret->size = strlen(man);
    free(tar);
    free(vers);
    free(cfg);
    free(man);
}

/* Writes DIR/index.json with the descriptors ENTRIES ("" separated by commas) and oci-layout. */
static void write_index(const char *dir, const char *entries)
{
    struct stk_err err = STK_ERR_INIT;
    char *index = stk_xasprintf("{\"schemaVersion\":2,\"manifests\":[%s]}", entries);
    char *path = stk_xasprintf("%s/index.json", dir);

    cr_assert_eq(stk_file_write_atomic(path, index, strlen(index), 0644, 0, &err), 0);
    free(path);
    path = stk_xasprintf("%s/oci-layout", dir);
    cr_assert_eq(
        stk_file_write_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, 0, &err), 0);
    free(path);
    free(index);
}

/* A new layout directory T.dir/NAME with its blobs folder. */
static char *layout_dir(const char *name)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/%s", T.dir, name);
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir);

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0, "%s", err.msg);
    free(blobs);
    return dir;
}

/*
 * Builds the OCI layout of image REF (one layer, windows/amd64, OS_VERSION),
 * loads it into the test's image store as `stack image load` does, and
 * registers its layer with the emulator's storage (the unpacked
 * windowsfilter folder, with a UtilityVM).
 */
static void windows_image(const char *ref, const char *os_version)
{
    struct stk_err err = STK_ERR_INIT;
    char *name = stk_xasprintf("layout-%s", os_version);
    char *dir = layout_dir(name);
    struct manifest m;
    char *entry;

    make_manifest(dir, "windows", os_version, ref, &m);
    entry = stk_xasprintf("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
                          "{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"%s\"},"
                          "\"annotations\":{\"%s\":\"%s\"}}",
                          RT_IMAGE_MT_OCI_MANIFEST, m.digest, m.size, os_version,
                          RT_IMAGE_ANNOT_CONTAINERD_NAME, ref);
    write_index(dir, entry);
    cr_assert_eq(rt_image_load_layout(T.images, dir, NULL, NULL, &err), 0, "load %s: %s", ref,
                 err.msg);
    hcsemu_add_layer(m.layer, os_version, 1);
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
    windows_image(NANOSERVER, "10.0.20348.2700");
    windows_image(SERVERCORE, "10.0.17763.5000");
    T.rt = rt_hcs_ctx_new(
        &T.loop, T.state_dir, T.run_dir, "/nonexistent/stack", hcsemu_hcs_api(),
        hcsemu_storage_api(), host_build,
        strcmp(edition, "client") == 0 ? RT_HCS_EDITION_CLIENT : RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(T.rt, "%s", err.msg);
    T.net = net_hns_ctx_new(&T.loop, T.state_dir, T.run_dir, hcsemu_hcn_api(), &err);
    cr_assert_not_null(T.net, "%s", err.msg);
    /* The product's glue: utility VMs get their namespace's endpoints as NICs. */
    rec_hcs_network_connect(&T.netglue, T.rt, hcsemu_hcn_api());
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

/* rec_ps() of PROJECT into a new string (caller frees). */
static char *capture_ps(const char *project)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rec_ps(&T.env, project, out, &err), 0, "ps: %s", err.msg);
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

static void assert_nothing_left(const char *project)
{
    cr_assert_eq(hcsemu_count_systems(), 0, "compute systems left");
    cr_assert_eq(hcsemu_count_endpoints(), 0, "endpoints left");
    cr_assert_eq(hcsemu_count_namespaces(), 0, "namespaces left");
    cr_assert_eq(hcsemu_count_networks(), 0, "networks left");
    cr_assert_eq(hcsemu_count_scratches(), 0, "scratches left");
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
    cr_assert_eq(rec_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_gt(T.env.mutations, 0, "the first up counted no mutating call");

    /* Four containers and legacy's utility VM; three namespaces (sidecar joins web's). */
    cr_assert_eq(hcsemu_count_systems(), 5, "four containers and legacy's utility VM");
    cr_assert_eq(hcsemu_count_networks(), 1);
    cr_assert_eq(hcsemu_count_namespaces(), 3, "sidecar shares web's namespace");
    cr_assert_eq(hcsemu_count_endpoints(), 3);
    cr_assert_eq(hcsemu_count_processes_running(), 4);

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
    cr_assert_eq(rec_top(&T.env, "shop", NULL, f, &err), 0, "top: %s", err.msg);
    fclose(f);
    cr_assert(strstr(out, "shop-legacy-1 (isolation hyperv"), "%s", out);
    cr_assert(strstr(out, "shop-web-1 (isolation process"), "%s", out);
    free(out);
    out = NULL;

    /* exec in web: the emulated cmd's output and status. */
    f = open_memstream(&out, &len);
    {
        char *const args[] = {(char *)"cmd", (char *)"/c", (char *)"echo", (char *)"pong", NULL};
        cr_assert_eq(rec_exec(&T.env, "shop", "web", 1, args, f, &status, &err), 0, "exec: %s",
                     err.msg);
    }
    fclose(f);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "pong\r\n");
    free(out);
    f = open_memstream(&out, &len);
    {
        char *const args[] = {(char *)"cmd", (char *)"/c", (char *)"exit", (char *)"3", NULL};
        cr_assert_eq(rec_exec(&T.env, "shop", "web", 1, args, f, &status, &err), 0, "exec: %s",
                     err.msg);
    }
    fclose(f);
    free(out);
    cr_assert_eq(status, 3);

    /* logs: the init process of legacy (in its utility VM) wrote its start line. */
    for (int i = 0; i < 500; i++) {
        f = open_memstream(&logs, &len);
        cr_assert_eq(rec_logs(&T.env, "shop", "legacy", 0, f, &err), 0, "logs: %s", err.msg);
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
        cr_assert_eq(rec_logs(&T.env, "shop", "web", 0, f, &err), 0, "logs: %s", err.msg);
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
            "create_compute_system", "start_compute_system", "create_network", "create_namespace",
            "create_endpoint",       "modify_namespace",     "create_process", "storage_prepare"};
        int before[8];
        for (size_t i = 0; i < 8; i++) {
            before[i] = hcsemu_calls(creates[i]);
            cr_assert_gt(before[i], 0, "the first up never called %s", creates[i]);
        }
        T.env.mutations = 0;
        cr_assert_eq(rec_up(&T.env, p, &o, &err), 0, "second up: %s", err.msg);
        cr_assert_eq(T.env.mutations, 0, "the second up made %lu mutating calls", T.env.mutations);
        for (size_t i = 0; i < 8; i++)
            cr_assert_eq(hcsemu_calls(creates[i]), before[i], "the second up called %s",
                         creates[i]);
        cr_assert_eq(hcsemu_count_systems(), 5);
    }

    cr_assert_eq(rec_down(&T.env, "shop", &err), 0, "down: %s", err.msg);
    assert_nothing_left("shop");
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
    int r = rec_up(&T.env, p, &o, &err);

    cr_assert_eq(r, STK_EUNAVAIL, "up returned %d: %s", r, err.msg);
    cr_assert_eq(err.code, STK_EUNAVAIL);
    cr_assert(strstr(err.msg, "'legacy'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "20348"), "%s", err.msg);
    cr_assert(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    cr_assert_eq(hcsemu_count_namespaces(), 0);
    cr_assert_eq(hcsemu_count_endpoints(), 0);
    cr_assert_eq(hcsemu_count_scratches(), 0);
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
    cr_assert_eq(rec_up(&T.env, p, &o, &err), STK_EUNAVAIL, "%s", err.msg);
    cr_assert(strstr(err.msg, "20348") && strstr(err.msg, "19045"), "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_networks(), 0);
    spec_project_free(p);

    path = stk_xasprintf("%s/legacy.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, legacy_only, strlen(legacy_only), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_null(p->services[0].isolation, "isolation was not removed");
    cr_assert_eq(rec_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 2, "legacy and its utility VM");
    doc = document("legacy");
    cr_assert(json_is_string(json_object_get(doc, "HostingSystemId")), "legacy is not hosted");
    json_decref(doc);
    ps = capture_ps("shop");
    line = ps_line(ps, "legacy");
    cr_assert(has_word(line, "running") && has_word(line, "hyperv"), "%s", line);
    free(line);
    free(ps);
    cr_assert_eq(rec_down(&T.env, "shop", &err), 0, "down: %s", err.msg);
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
    char *dir = layout_dir("multi"), *entries, *path, *folder;
    struct manifest lin, w19, w22;
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};
    struct spec_project *p;
    json_t *doc, *layers;

    make_manifest(dir, "linux", "", "linux", &lin);
    make_manifest(dir, "windows", "10.0.17763.5000", "w19", &w19);
    make_manifest(dir, "windows", "10.0.20348.2700", "w22", &w22);
    hcsemu_add_layer(w19.layer, "10.0.17763.5000", 1);
    hcsemu_add_layer(w22.layer, "10.0.20348.2700", 1);
    entries = stk_xasprintf(
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":"
        "\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":"
        "\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763.5000\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":"
        "\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.20348.2700\"}}",
        RT_IMAGE_MT_OCI_MANIFEST, lin.digest, lin.size, RT_IMAGE_MT_OCI_MANIFEST, w19.digest,
        w19.size, RT_IMAGE_MT_OCI_MANIFEST, w22.digest, w22.size);
    write_index(dir, entries);
    path = stk_xasprintf("%s/multi.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, yaml, strlen(yaml), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_eq(rec_up(&T.env, p, &o, &err), 0, "up: %s", err.msg);
    doc = document("app");
    layers =
        json_object_get(json_object_get(json_object_get(doc, "Container"), "Storage"), "Layers");
    cr_assert_eq(json_array_size(layers), 1);
    folder = stk_xasprintf("windowsfilter\\%.12s", w22.layer + 7);
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(layers, 0), "Path")), folder),
              "layer %s is not the ltsc2022 one (%s)",
              json_string_value(json_object_get(json_array_get(layers, 0), "Path")), folder);
    json_decref(doc);
    cr_assert_eq(rec_down(&T.env, "multi", &err), 0, "down: %s", err.msg);
    assert_nothing_left("multi");
    free(folder);
    free(path);
    free(entries);
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
    struct manifest lin;
    struct stk_err err = STK_ERR_INIT;
    struct rec_up_opts o = {0};
    struct spec_project *p;

    make_manifest(dir, "linux", "", "linux", &lin);
    entry = stk_xasprintf("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
                          RT_IMAGE_MT_OCI_MANIFEST, lin.digest, lin.size);
    write_index(dir, entry);
    path = stk_xasprintf("%s/lin.yaml", T.dir);
    cr_assert_eq(stk_file_write_atomic(path, yaml, strlen(yaml), 0644, 0, &err), 0);
    p = load(path);
    cr_assert_eq(rec_up(&T.env, p, &o, &err), STK_EUNAVAIL, "%s", err.msg);
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
