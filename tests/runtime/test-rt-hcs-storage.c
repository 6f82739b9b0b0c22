/*
 * test-rt-hcs-storage.c - the layer storage of the hcs driver
 * (runtime/hcs/hcs-storage.c) against the emulated computestorage.dll and
 * virtdisk.dll (tests/support/hcsemu-storage.c): layer import into the
 * windowsfilter layout, base and utility VM set-up, the scratch of each
 * isolation, release, crash safety, errors, and the driver over it.
 *
 * The images are built here: Windows-style layer tars (Files/, Hives/,
 * UtilityVM/Files/, a whiteout) written into an OCI layout by the shared
 * fixture (tests/hcsemu/hcsemu-images.h) that the image store loads; digests
 * are computed by the store and read back.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs.h"
#include "runtime/image/rt-image.h"
#include "tests/hcsemu/hcsemu-images.h"
#include "tests/hcsemu/hcsemu.h"

static char tmp[] = "/tmp/stk-hcs-storage-XXXXXX";
static char *state, *wf, *scratch;
static struct rt_image_store *store;
static struct rt_hcs_storage *storage;
static const struct rt_hcs_storage_api *api;
static struct rt_image *win, *plain, *linux_img, *old;

static void put(const char *path, const char *data)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xstrdup(path);

    *strrchr(dir, '/') = '\0';
    cr_assert_eq(stk_mkdir_p(dir, 0755, &err), 0, "%s", err.msg);
    cr_assert_eq(stk_file_write_atomic(path, data, strlen(data), 0644, 0, &err), 0, "%s", err.msg);
    free(dir);
}

/* Writes DATA to the path formatted from FMT. */
static void putf(const char *data, const char *fmt, ...) STK_PRINTF(2, 3);
static void putf(const char *data, const char *fmt, ...)
{
    va_list ap;
    char *path;

    va_start(ap, fmt);
    path = stk_xvasprintf(fmt, ap);
    va_end(ap);
    put(path, data);
    free(path);
}

/*
 * Adds to LAYOUT an image named REF (windows/amd64, os.version
 * 10.0.20348.2700) whose layers are LAYERS (base first), returns its
 * index.json descriptor (new string).
 */
static char *add_image(const char *layout, const char *ref, const struct hcsemu_layer *layers,
                       size_t n)
{
    struct hcsemu_manifest m;
    char *desc;

    hcsemu_layout_manifest(layout, "windows", "10.0.20348.2700", "cmd", layers, n, &m);
    desc = hcsemu_layout_descriptor(&m, NULL, NULL, RT_IMAGE_ANNOT_REF_NAME, ref);
    hcsemu_manifest_release(&m);
    return desc;
}

static struct rt_image *resolve(const char *ref)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image *img = NULL;

    cr_assert_eq(rt_image_resolve(store, ref, NULL, &img, &err), 0, "%s", err.msg);
    return img;
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;
    char *layout, *d1, *d2, *d3, *d4;
    struct rt_image_platform platform = {.os = "windows", .architecture = "amd64"};

    cr_assert_not_null(mkdtemp(tmp));
    state = stk_xasprintf("%s/state", tmp);
    wf = stk_xasprintf("%s/windowsfilter", state);
    scratch = stk_xasprintf("%s/scratch", state);
    layout = stk_xasprintf("%s/layout", tmp);

    {
        /* base: the OS files, its build, hives and a utility VM image. */
        static const struct hcsemu_entry base[] = {
            {"Files/Windows/System32/cmd.exe", "base cmd\n"},
            {"Files/Windows/win.ini", "[fonts]\n"},
            {HCSEMU_BUILD_FILE, "10.0.20348.2700\n"},
            {"Hives/System_Delta", "hive\n"},
            {"UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi", "efi\n"},
            {NULL, NULL}};
        /* mid (gzip): a file and a whiteout of the base's win.ini. */
        static const struct hcsemu_entry mid[] = {
            {"Files/app/server.exe", "server\n"}, {"Files/Windows/.wh.win.ini", ""}, {NULL, NULL}};
        /* top: configuration. */
        static const struct hcsemu_entry top[] = {{"Files/app/config.txt", "port=80\n"},
                                                  {NULL, NULL}};
        /* plain: a base without UtilityVM; lin: a Linux layer. */
        static const struct hcsemu_entry plain_base[] = {
            {"Files/Windows/System32/cmd.exe", "plain cmd\n"},
            {HCSEMU_BUILD_FILE, "10.0.20348.2700\n"},
            {NULL, NULL}};
        static const struct hcsemu_entry lin[] = {{"bin/sh", "#!\n"}, {NULL, NULL}};
        const struct hcsemu_layer wl[] = {{base, 0}, {mid, 1}, {top, 0}}, pl[] = {{plain_base, 0}},
                                  ll[] = {{lin, 0}};

        hcsemu_layout_init(layout);
        d1 = add_image(layout, "example/win:1", wl, 3);
        d2 = add_image(layout, "example/plain:1", pl, 1);
        d3 = add_image(layout, "example/linux:1", ll, 1);
        {
            /* old: a Windows Server 2019 image (os.version 10.0.17763.5000, with a UtilityVM). */
            struct hcsemu_manifest m;

            hcsemu_layout_windows_image(layout, "10.0.17763.5000", 1, "old", &m);
            d4 = hcsemu_layout_descriptor(&m, NULL, NULL, RT_IMAGE_ANNOT_REF_NAME, "example/old:1");
            hcsemu_manifest_release(&m);
        }
        hcsemu_layout_index(layout, (const char *const[]){d1, d2, d3, d4, NULL});
    }
    cr_assert_eq(rt_image_store_open(state, &store, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_load_layout(store, layout, &platform, NULL, &err), 0, "%s", err.msg);
    win = resolve("example/win:1");
    plain = resolve("example/plain:1");
    linux_img = resolve("example/linux:1");
    old = resolve("example/old:1");
    cr_assert_eq(stk_strv_len(win->layer_digests), 3);

    hcsemu_new("10.0.20348", "server");
    storage = rt_hcs_storage_new(wf, scratch, store, hcsemu_storage_calls(), &err);
    cr_assert_not_null(storage, "%s", err.msg);
    api = rt_hcs_storage_api_of(storage);
    free(layout);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
}

static void teardown(void)
{
    rt_hcs_storage_free(storage);
    hcsemu_free();
    rt_image_free(win);
    rt_image_free(plain);
    rt_image_free(linux_img);
    rt_image_free(old);
    rt_image_store_close(store);
    stk_rm_rf(tmp, NULL);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
    free(state);
    free(wf);
    free(scratch);
}

/* ---- helpers ------------------------------------------------------------- */

static char *layer_path(const char *digest)
{
    return stk_xasprintf("%s/%s", wf, digest + 7);
}

static int prepare(const char *id, char *const *digests, enum rt_isolation iso,
                   struct rt_hcs_storage_result *ret, struct stk_err *err)
{
    return api->prepare(api->self, id, (const char *const *)digests, iso, ret, err);
}

/* The trace lines of CALL, in order (new vector). */
static char **trace_lines(const char *call)
{
    struct stk_strv v = STK_STRV_INIT;
    char *t = hcsemu_storage_trace(), *p = t, *nl;
    size_t n = strlen(call);

    stk_strv_init(&v);
    for (; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        *nl = '\0';
        if (strncmp(p, call, n) == 0 && p[n] == ' ')
            stk_strv_push(&v, p + n + 1);
    }
    free(t);
    return v.v;
}

/*
 * Asserts that the trace holds lines starting with each of PREFIXES, in this
 * order (other lines may come between).
 */
static void expect_order(const char *const *prefixes)
{
    char *t = hcsemu_storage_trace(), *p = t;

    for (size_t i = 0; prefixes[i]; i++) {
        char *hit = NULL;

        for (char *q = p; *q;) {
            char *nl = strchr(q, '\n');

            if (strncmp(q, prefixes[i], strlen(prefixes[i])) == 0) {
                hit = q;
                p = nl + 1;
                break;
            }
            q = nl + 1;
        }
        cr_assert_not_null(hit, "'%s' missing or out of order in the trace:\n%s", prefixes[i], t);
    }
    free(t);
}

/* Asserts that the LayerData document DOC lists exactly the layers DIGESTS (topmost first). */
static void expect_layer_data(const char *doc, const char *const *digests)
{
    json_t *j = json_loads(doc, 0, NULL);
    json_t *layers = json_object_get(j, "Layers");
    size_t n = stk_strv_len((char *const *)digests);

    cr_assert_not_null(j, "not JSON: %s", doc);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "SchemaVersion"), "Major")),
                 2);
    cr_assert_eq(json_array_size(layers), n, "%s", doc);
    for (size_t i = 0; i < n; i++) {
        char *path = layer_path(digests[i]), guid[37];

        rt_hcs_name_guid(digests[i] + 7, guid);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, i), "Path")),
                         path);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, i), "Id")), guid);
        free(path);
    }
    json_decref(j);
}

/* The last space-separated field of LINE (the LayerData of import/initialize/attach lines). */
static const char *last_field(const char *line)
{
    return strrchr(line, ' ') + 1;
}

static int exists_under(const char *dir, const char *rel)
{
    char *p = stk_xasprintf("%s/%s", dir, rel);
    int r = stk_path_exists(p);

    free(p);
    return r;
}

TestSuite(rt_hcs_storage, .init = setup, .fini = teardown, .timeout = 60);

/* ---- tests ---------------------------------------------------------------- */

Test(rt_hcs_storage, process_prepare_imports_layers_and_mounts_the_scratch)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    char **d = win->layer_digests;
    char *base = layer_path(d[0]), *mid = layer_path(d[1]), *top = layer_path(d[2]);
    char **imports, **inits, **filters, *dir, *uvm, *tomb = NULL, guid[37];

    cr_assert_eq(prepare("web", d, RT_ISOLATION_PROCESS, &r, &err), 0, "%s", err.msg);

    /* Three imports, each over exactly its parents, topmost first. */
    imports = trace_lines("import_layer");
    cr_assert_eq(stk_strv_len(imports), 3);
    cr_assert(strncmp(imports[0], base, strlen(base)) == 0, "%s", imports[0]);
    cr_assert(strncmp(imports[1], mid, strlen(mid)) == 0, "%s", imports[1]);
    cr_assert(strncmp(imports[2], top, strlen(top)) == 0, "%s", imports[2]);
    {
        const char *none[] = {NULL}, *one[] = {d[0], NULL}, *two[] = {d[1], d[0], NULL};

        expect_layer_data(last_field(imports[0]), none);
        expect_layer_data(last_field(imports[1]), one);
        expect_layer_data(last_field(imports[2]), two);
    }
    /* The base layer's set-up, in hcsshim's order, then the scratch. */
    {
        char *l[20];
        int k = 0;

        l[k++] = stk_xasprintf("import_layer %s ", base);
        l[k++] = stk_xasprintf("create_virtual_disk %s/blank-base.vhdx -", base);
        l[k++] = stk_xasprintf("format_writable_layer_vhd %s/blank-base.vhdx", base);
        l[k++] = stk_xasprintf("close_handle %s/blank-base.vhdx", base);
        l[k++] = stk_xasprintf("setup_base_os_layer %s 0 {\"Type\":\"Container\"}", base);
        l[k++] = stk_xasprintf("create_virtual_disk %s/blank.vhdx %s/blank-base.vhdx", base, base);
        l[k++] = stk_xasprintf("create_virtual_disk %s/UtilityVM/SystemTemplateBase.vhdx -", base);
        l[k++] =
            stk_xasprintf("attach_virtual_disk %s/UtilityVM/SystemTemplateBase.vhdx 0x0", base);
        l[k++] = stk_xasprintf("setup_base_os_layer %s/UtilityVM vhd {\"Type\":\"Vm\"}", base);
        l[k++] = stk_xasprintf("detach_virtual_disk %s/UtilityVM/SystemTemplateBase.vhdx", base);
        l[k++] = stk_xasprintf("create_virtual_disk %s/UtilityVM/SystemTemplate.vhdx", base);
        l[k++] = stk_xasprintf("import_layer %s ", mid);
        l[k++] = stk_xasprintf("import_layer %s ", top);
        l[k++] = stk_xasprintf("copy_file %s/blank.vhdx %s/web/sandbox.vhdx", base, scratch);
        l[k++] = stk_xasprintf("open_virtual_disk %s/web/sandbox.vhdx", scratch);
        l[k++] = stk_xasprintf("attach_virtual_disk %s/web/sandbox.vhdx 0x6", scratch);
        l[k++] = stk_xasprintf("get_layer_vhd_mount_path %s/web/sandbox.vhdx", scratch);
        l[k++] = stk_xasprintf("initialize_writable_layer %s ", r.scratch_volume);
        l[k++] = stk_xasprintf("attach_layer_storage_filter %s ", r.scratch_volume);
        l[k] = NULL;
        expect_order((const char *const *)l);
        for (int i = 0; i < k; i++)
            free(l[i]);
    }
    inits = trace_lines("initialize_writable_layer");
    filters = trace_lines("attach_layer_storage_filter");
    cr_assert_eq(stk_strv_len(inits), 1);
    cr_assert_eq(stk_strv_len(filters), 1);
    {
        const char *all[] = {d[2], d[1], d[0], NULL};

        expect_layer_data(last_field(inits[0]), all);
        expect_layer_data(last_field(filters[0]), all);
    }

    /* The result, topmost first. */
    cr_assert_eq(stk_strv_len(r.layer_paths), 3);
    cr_assert_str_eq(r.layer_paths[0], top);
    cr_assert_str_eq(r.layer_paths[1], mid);
    cr_assert_str_eq(r.layer_paths[2], base);
    rt_hcs_name_guid(d[2] + 7, guid);
    cr_assert_str_eq(r.layer_ids[0], guid);
    rt_hcs_name_guid(d[0] + 7, guid);
    cr_assert_str_eq(r.layer_ids[2], guid);
    dir = stk_xasprintf("%s/web", scratch);
    uvm = stk_xasprintf("%s/UtilityVM", base);
    cr_assert_str_eq(r.scratch_dir, dir);
    cr_assert_str_eq(r.uvm_image_path, uvm);
    cr_assert(strncmp(r.scratch_volume, "\\\\?\\Volume{", 11) == 0, "%s", r.scratch_volume);
    cr_assert_str_eq(r.os_version, "10.0.20348.2700");

    /* On disk: the imported files, the tombstone, records, no staging left. */
    cr_assert(exists_under(top, "Files/app/config.txt"));
    cr_assert(exists_under(mid, "Files/app/server.exe"));
    cr_assert(!exists_under(mid, "Files/Windows/.wh.win.ini"));
    cr_assert(exists_under(base, "UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi"));
    cr_assert(exists_under(base, "Hives") && exists_under(base, "Layout"));
    {
        char *p = stk_xasprintf("%s/tombstones.txt", mid);

        cr_assert_eq(stk_file_read(p, &tomb, NULL, NULL), 0);
        cr_assert_str_eq(tomb, "\xEF\xBB\xBFVersion 1.0\n\\Files\\Windows\\win.ini\n");
        free(p);
    }
    for (int i = 0; i < 3; i++) {
        char *rec = stk_xasprintf("%s/%s.layer", wf, d[i] + 7);
        char *stg = stk_xasprintf("%s/.staging-%s", wf, d[i] + 7);

        cr_assert(stk_path_exists(rec), "no record %s", rec);
        cr_assert(!stk_path_exists(stg), "staging left: %s", stg);
        free(rec);
        free(stg);
    }
    {
        char *b = stk_xasprintf("%s/blank-base.vhdx", base),
             *s = stk_xasprintf("%s/sandbox.vhdx", dir);

        cr_assert(hcsemu_storage_granted(b));
        cr_assert(hcsemu_storage_granted(s));
        free(b);
        free(s);
    }
    cr_assert_eq(hcsemu_storage_count_layers(), 3);
    cr_assert_eq(hcsemu_storage_count_attached(), 1);
    cr_assert_eq(hcsemu_storage_count_filters(), 1);
    cr_assert_eq(hcsemu_storage_count_handles(), 0, "a VHD handle leaked");

    /* Release undoes the scratch and leaves the layers; a second release is a no-op. */
    hcsemu_storage_trace_clear();
    cr_assert_eq(api->release(api->self, "web", &err), 0, "%s", err.msg);
    {
        char *l[5];

        l[0] = stk_xasprintf("detach_layer_storage_filter %s", r.scratch_volume);
        l[1] = stk_xasprintf("detach_virtual_disk %s/sandbox.vhdx", dir);
        l[2] = stk_xasprintf("destroy_layer %s", dir);
        l[3] = NULL;
        expect_order((const char *const *)l);
        for (int i = 0; i < 3; i++)
            free(l[i]);
    }
    cr_assert(!stk_path_exists(dir));
    cr_assert_eq(hcsemu_storage_count_filters(), 0);
    cr_assert_eq(hcsemu_storage_count_attached(), 0);
    cr_assert_eq(hcsemu_storage_count_handles(), 0);
    cr_assert_eq(hcsemu_storage_count_layers(), 3);
    cr_assert_eq(api->release(api->self, "web", &err), 0, "%s", err.msg);

    rt_hcs_storage_result_release(&r);
    stk_strv_free(imports);
    stk_strv_free(inits);
    stk_strv_free(filters);
    free(base);
    free(mid);
    free(top);
    free(dir);
    free(uvm);
    free(tomb);
}

Test(rt_hcs_storage, hyperv_prepare_copies_the_vhds_and_attaches_nothing)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    char *base = layer_path(win->layer_digests[0]);
    char *dir = stk_xasprintf("%s/vm1", scratch);
    char *uvm = stk_xasprintf("%s/UtilityVM", base);
    char *sb = stk_xasprintf("%s/sandbox.vhdx", dir),
         *vsb = stk_xasprintf("%s/vm/sandbox.vhdx", dir);
    char *tpl = stk_xasprintf("%s/UtilityVM/SystemTemplate.vhdx", base);
    char *cp = stk_xasprintf("copy_file %s %s", tpl, vsb);
    const char *order[] = {cp, NULL};

    cr_assert_eq(prepare("vm1", win->layer_digests, RT_ISOLATION_HYPERV, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(r.uvm_image_path, uvm);
    cr_assert_str_eq(r.scratch_dir, dir);
    cr_assert_null(r.scratch_volume);
    cr_assert(stk_path_exists(sb) && stk_path_exists(vsb));
    cr_assert(hcsemu_storage_granted(sb) && hcsemu_storage_granted(vsb));
    expect_order(order);
    cr_assert_eq(hcsemu_calls("initialize_writable_layer"), 0);
    cr_assert_eq(hcsemu_calls("attach_layer_storage_filter"), 0);
    cr_assert_eq(hcsemu_storage_count_attached(), 0);
    cr_assert_eq(hcsemu_storage_count_handles(), 0);

    cr_assert_eq(api->release(api->self, "vm1", &err), 0, "%s", err.msg);
    cr_assert(!stk_path_exists(dir));
    rt_hcs_storage_result_release(&r);
    free(base);
    free(dir);
    free(uvm);
    free(sb);
    free(vsb);
    free(tpl);
    free(cp);
}

Test(rt_hcs_storage, a_second_container_reuses_the_imported_layers)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result a = {0}, b = {0};

    cr_assert_eq(prepare("a", win->layer_digests, RT_ISOLATION_PROCESS, &a, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(hcsemu_calls("import_layer"), 3);
    cr_assert_eq(hcsemu_calls("setup_base_os_layer"), 2);
    cr_assert_eq(prepare("b", win->layer_digests, RT_ISOLATION_PROCESS, &b, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(hcsemu_calls("import_layer"), 3, "layers imported again");
    cr_assert_eq(hcsemu_calls("setup_base_os_layer"), 2);
    cr_assert_str_neq(a.scratch_volume, b.scratch_volume);
    cr_assert_eq(hcsemu_storage_count_filters(), 2);

    /* Releasing one leaves the other mounted. */
    cr_assert_eq(api->release(api->self, "a", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_storage_count_filters(), 1);
    cr_assert(stk_path_exists(b.scratch_dir));
    cr_assert_eq(api->release(api->self, "b", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_storage_count_filters(), 0);
    cr_assert_eq(hcsemu_storage_count_attached(), 0);
    rt_hcs_storage_result_release(&a);
    rt_hcs_storage_result_release(&b);
}

Test(rt_hcs_storage, a_failed_import_leaves_no_layer_a_later_prepare_trusts)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    char **d = win->layer_digests;
    char *base_only[] = {d[0], NULL};
    char *mid = layer_path(d[1]), *top = layer_path(d[2]);
    char *mid_rec = stk_xasprintf("%s.layer", mid), *msg;

    /* The base first, so that the injected failure hits layer 2. */
    cr_assert_eq(prepare("one", base_only, RT_ISOLATION_PROCESS, &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.os_version, "", "no stored image has exactly these layers");
    rt_hcs_storage_result_release(&r);
    cr_assert_eq(api->release(api->self, "one", &err), 0, "%s", err.msg);

    hcsemu_inject("import_layer", HCS_E_INVALID_LAYER);
    cr_assert_eq(prepare("web", d, RT_ISOLATION_PROCESS, &r, &err), STK_EIMAGE);
    msg = stk_xasprintf("container 'web': import layer '%s'", d[1]);
    cr_assert(strstr(err.msg, msg), "%s", err.msg);
    cr_assert(strstr(err.msg, "HCS_E_INVALID_LAYER"), "%s", err.msg);
    cr_assert_eq(err.os_code, HCS_E_INVALID_LAYER);
    cr_assert(!stk_path_exists(mid), "the half layer was left");
    cr_assert(!stk_path_exists(mid_rec));
    cr_assert(!stk_path_exists(top), "a layer above the failed one was imported");
    cr_assert(!exists_under(scratch, "web"), "a scratch was made");
    stk_err_clear(&err);

    /* A crash in the middle of an import: the folder is there, its record is not. */
    {
        char *junk = stk_xasprintf("%s/Files/half-written", mid);

        put(junk, "x");
        free(junk);
    }
    hcsemu_storage_trace_clear();
    cr_assert_eq(prepare("web", d, RT_ISOLATION_PROCESS, &r, &err), 0, "%s", err.msg);
    {
        char *l0 = stk_xasprintf("destroy_layer %s", mid),
             *l1 = stk_xasprintf("import_layer %s ", mid);
        const char *order[] = {l0, l1, NULL};

        expect_order(order);
        free(l0);
        free(l1);
    }
    cr_assert(!exists_under(mid, "Files/half-written"));
    cr_assert(exists_under(mid, "Files/app/server.exe"));
    cr_assert(stk_path_exists(mid_rec));
    cr_assert_eq(hcsemu_storage_count_layers(), 3);
    cr_assert_eq(api->release(api->self, "web", &err), 0, "%s", err.msg);
    rt_hcs_storage_result_release(&r);
    free(mid);
    free(top);
    free(mid_rec);
    free(msg);
}

Test(rt_hcs_storage, a_failed_scratch_step_undoes_the_scratch)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    char *dir = stk_xasprintf("%s/web", scratch);

    hcsemu_inject("attach_layer_storage_filter", STK_WIN_E_ACCESSDENIED);
    cr_assert_eq(prepare("web", win->layer_digests, RT_ISOLATION_PROCESS, &r, &err), STK_EPERM);
    cr_assert(strstr(err.msg, "container 'web': prepare the scratch"), "%s", err.msg);
    cr_assert(strstr(err.msg, "HcsAttachLayerStorageFilter"), "%s", err.msg);
    cr_assert(!stk_path_exists(dir));
    cr_assert_eq(hcsemu_storage_count_attached(), 0, "the VHD stayed attached");
    cr_assert_eq(hcsemu_storage_count_handles(), 0);
    cr_assert_eq(hcsemu_storage_count_layers(), 3, "the layers were imported and stay");
    stk_err_clear(&err);

    /* A scratch left attached by a crash is released before the next prepare. */
    cr_assert_eq(prepare("web", win->layer_digests, RT_ISOLATION_PROCESS, &r, &err), 0, "%s",
                 err.msg);
    rt_hcs_storage_result_release(&r);
    hcsemu_storage_trace_clear();
    cr_assert_eq(prepare("web", win->layer_digests, RT_ISOLATION_PROCESS, &r, &err), 0, "%s",
                 err.msg);
    {
        char *l0 = stk_xasprintf("detach_layer_storage_filter "),
             *l1 = stk_xasprintf("destroy_layer %s", dir),
             *l2 = stk_xasprintf("attach_layer_storage_filter ");
        const char *order[] = {l0, l1, l2, NULL};

        expect_order(order);
        free(l0);
        free(l1);
        free(l2);
    }
    cr_assert_eq(hcsemu_storage_count_filters(), 1);
    cr_assert_eq(api->release(api->self, "web", &err), 0, "%s", err.msg);
    rt_hcs_storage_result_release(&r);

    /* Release of a folder that holds nothing of the sequence (a crash before the copy). */
    putf("x", "%s/ghost/partial", scratch);
    cr_assert_eq(api->release(api->self, "ghost", &err), 0, "%s", err.msg);
    cr_assert(!exists_under(scratch, "ghost"));
    free(dir);
}

Test(rt_hcs_storage, errors_name_the_container_and_the_layer)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    char *none[] = {NULL};
    char missing0[] = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    char *missing[] = {missing0, NULL};
    char *lin_path = layer_path(linux_img->layer_digests[0]);

    cr_assert_eq(prepare("e1", none, RT_ISOLATION_PROCESS, &r, &err), STK_EIMAGE);
    cr_assert_str_eq(err.msg, "container 'e1' has no layers");
    stk_err_clear(&err);

    cr_assert_eq(prepare("e2", missing, RT_ISOLATION_PROCESS, &r, &err), STK_ENOENT);
    cr_assert(strstr(err.msg, "container 'e2': import layer 'sha256:000000"), "%s", err.msg);
    stk_err_clear(&err);

    cr_assert_eq(prepare("e3", linux_img->layer_digests, RT_ISOLATION_PROCESS, &r, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "container 'e3': import layer"), "%s", err.msg);
    cr_assert(
        strstr(err.msg, "'bin/' is outside Files/, Hives/ and UtilityVM/: not a Windows layer"),
        "%s", err.msg);
    cr_assert(!stk_path_exists(lin_path));
    cr_assert_eq(hcsemu_calls("import_layer"), 0);
    stk_err_clear(&err);

    cr_assert_eq(prepare("e4", plain->layer_digests, RT_ISOLATION_HYPERV, &r, &err), STK_EIMAGE);
    cr_assert_str_eq(err.msg,
                     "container 'e4': no layer has a UtilityVM folder (Hyper-V isolation needs "
                     "one)");
    cr_assert(!exists_under(scratch, "e4"));
    stk_err_clear(&err);

    cr_assert_eq(prepare("../x", win->layer_digests, RT_ISOLATION_PROCESS, &r, &err), STK_EINVAL);
    stk_err_clear(&err);
    free(lin_path);
}

/* ---- the driver over the real storage ---------------------------------------- */

static uv_loop_t loop;

static int op_create(struct rt_ctx *ctx, struct rt_container_spec *s, struct stk_err *err)
{
    struct rt_sync sy = RT_SYNC_INIT;
    int r =
        rt_sync_wait(&loop, &sy, rt_container_create(ctx, s, rt_sync_done, &sy, NULL, err), err);

    rt_sync_release(&sy);
    return r;
}

#define SIMPLE(name, call)                                                                         \
    static int name(struct rt_ctx *ctx, const char *id, struct stk_err *err)                       \
    {                                                                                              \
        struct rt_sync sy = RT_SYNC_INIT;                                                          \
        int r = rt_sync_wait(&loop, &sy, call(ctx, id, rt_sync_done, &sy, NULL, err), err);        \
        rt_sync_release(&sy);                                                                      \
        return r;                                                                                  \
    }
SIMPLE(op_start, rt_container_start)
SIMPLE(op_delete, rt_container_delete)

static void driver_life_cycle(enum rt_isolation iso)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_spec s = {0};
    struct rt_ctx *ctx;
    const char *id = iso == RT_ISOLATION_PROCESS ? "web" : "xvm";
    char *dir = stk_xasprintf("%s/%s", scratch, id);
    struct stk_strv args = STK_STRV_INIT;

    cr_assert_eq(uv_loop_init(&loop), 0);
    ctx = rt_hcs_ctx_new(&loop, state, state, "/usr/bin/stack", hcsemu_hcs_api(), api, "10.0.20348",
                         RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(ctx, "%s", err.msg);
    s.id = stk_xstrdup(id);
    s.name = stk_xstrdup(id);
    s.isolation = iso;
    s.image_ref = stk_xstrdup("example/win:1");
    s.layer_digests = stk_strv_dup(win->layer_digests);
    stk_strv_push(&args, "C:\\app\\server.exe");
    s.process.args = args.v;

    cr_assert_eq(op_create(ctx, &s, &err), 0, "%s", err.msg);
    cr_assert(stk_path_exists(dir));
    if (iso == RT_ISOLATION_PROCESS) {
        json_t *doc = hcsemu_system_document(id);
        const char *path = json_string_value(
            json_object_get(json_object_get(json_object_get(doc, "Container"), "Storage"), "Path"));
        char *top = layer_path(win->layer_digests[2]);
        json_t *l0 = json_array_get(
            json_object_get(json_object_get(json_object_get(doc, "Container"), "Storage"),
                            "Layers"),
            0);

        cr_assert(path && strncmp(path, "\\\\?\\Volume{", 11) == 0, "%s", path ? path : "(none)");
        cr_assert_str_eq(json_string_value(json_object_get(l0, "Path")), top);
        cr_assert_eq(hcsemu_storage_count_filters(), 1);
        json_decref(doc);
        free(top);
    } else {
        char *vm = rt_hcs_uvm_id(id);

        cr_assert_not_null(hcsemu_system_state(vm));
        free(vm);
    }
    cr_assert_eq(op_start(ctx, id, &err), 0, "%s", err.msg);
    cr_assert_str_eq(hcsemu_system_state(id), "Running");
    cr_assert_eq(op_delete(ctx, id, &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert(!stk_path_exists(dir), "the scratch is left");
    cr_assert_eq(hcsemu_storage_count_filters(), 0);
    cr_assert_eq(hcsemu_storage_count_attached(), 0);
    cr_assert_eq(hcsemu_storage_count_handles(), 0);
    cr_assert_eq(hcsemu_storage_count_layers(), 3);

    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rt_container_spec_release(&s);
    free(dir);
}

Test(rt_hcs_storage, the_driver_creates_starts_and_deletes_over_it_process)
{
    driver_life_cycle(RT_ISOLATION_PROCESS);
}

Test(rt_hcs_storage, the_driver_creates_starts_and_deletes_over_it_hyperv)
{
    driver_life_cycle(RT_ISOLATION_HYPERV);
}

/*
 * The storage reports the image's os.version (from the store's config), and
 * the driver's own check refuses a 17763 image under process isolation on a
 * 20348 host: no compute system is created and the scratch is released.
 */
Test(rt_hcs_storage, the_driver_refuses_the_image_build_the_storage_reports)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_container_spec s = {0};
    struct rt_hcs_storage_result r = {0};
    struct stk_strv args = STK_STRV_INIT;
    struct rt_ctx *ctx;
    int ret;

    cr_assert_eq(prepare("probe", old->layer_digests, RT_ISOLATION_HYPERV, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(r.os_version, "10.0.17763.5000");
    rt_hcs_storage_result_release(&r);
    cr_assert_eq(api->release(api->self, "probe", &err), 0, "%s", err.msg);

    cr_assert_eq(uv_loop_init(&loop), 0);
    ctx = rt_hcs_ctx_new(&loop, state, state, "/usr/bin/stack", hcsemu_hcs_api(), api, "10.0.20348",
                         RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(ctx, "%s", err.msg);
    s.id = stk_xstrdup("old");
    s.name = stk_xstrdup("old");
    s.isolation = RT_ISOLATION_PROCESS;
    s.image_ref = stk_xstrdup("example/old:1");
    s.layer_digests = stk_strv_dup(old->layer_digests);
    stk_strv_push(&args, "C:\\app.exe");
    s.process.args = args.v;
    ret = op_create(ctx, &s, &err);
    cr_assert_lt(ret, 0, "the driver created a 17763 image under process isolation");
    cr_assert_eq(err.code, STK_EIMAGE, "%s", err.msg);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "20348"), "%s", err.msg);
    cr_assert_eq(hcsemu_calls("create_compute_system"), 0);
    cr_assert(!exists_under(scratch, "old"), "the scratch is left");
    cr_assert_eq(hcsemu_storage_count_attached(), 0);
    cr_assert_eq(hcsemu_storage_count_filters(), 0);
    stk_err_clear(&err);
    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rt_container_spec_release(&s);
}

/* The real storage's table with the os.version it reports blanked out. */
static int blind_prepare(void *self, const char *id, const char *const *digests,
                         enum rt_isolation iso, struct rt_hcs_storage_result *ret,
                         struct stk_err *err)
{
    int r = api->prepare(self, id, digests, iso, ret, err);

    if (r == 0) {
        free(ret->os_version);
        ret->os_version = stk_xstrdup("");
    }
    return r;
}

/*
 * The emulated HCS sees the build of the layers the storage imported (the
 * image's, not the host's): with the driver's check blinded, creating the
 * 17763 image under process isolation on 20348 fails in HCS with
 * HCS_E_IMAGE_MISMATCH, and the 20348 image is accepted.
 */
Test(rt_hcs_storage, the_emulated_hcs_sees_the_build_of_imported_layers)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_api blind = *api;
    struct rt_container_spec s = {0};
    struct stk_strv args = STK_STRV_INIT;
    struct rt_ctx *ctx;
    int ret;

    blind.prepare = blind_prepare;
    cr_assert_eq(uv_loop_init(&loop), 0);
    ctx = rt_hcs_ctx_new(&loop, state, state, "/usr/bin/stack", hcsemu_hcs_api(), &blind,
                         "10.0.20348", RT_HCS_EDITION_SERVER, &err);
    cr_assert_not_null(ctx, "%s", err.msg);
    s.id = stk_xstrdup("old");
    s.name = stk_xstrdup("old");
    s.isolation = RT_ISOLATION_PROCESS;
    s.image_ref = stk_xstrdup("example/old:1");
    s.layer_digests = stk_strv_dup(old->layer_digests);
    stk_strv_push(&args, "C:\\app.exe");
    s.process.args = args.v;
    ret = op_create(ctx, &s, &err);
    cr_assert_lt(ret, 0, "HCS accepted a 17763 image on a 20348 host");
    cr_assert(strstr(err.msg, "HCS_E_IMAGE_MISMATCH"), "%s", err.msg);
    cr_assert_eq(hcsemu_calls("create_compute_system"), 1);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert(!exists_under(scratch, "old"), "the scratch is left");
    stk_err_clear(&err);
    rt_container_spec_release(&s);

    memset(&s, 0, sizeof(s));
    stk_strv_init(&args);
    s.id = stk_xstrdup("new");
    s.name = stk_xstrdup("new");
    s.isolation = RT_ISOLATION_PROCESS;
    s.image_ref = stk_xstrdup("example/win:1");
    s.layer_digests = stk_strv_dup(win->layer_digests);
    stk_strv_push(&args, "C:\\app.exe");
    s.process.args = args.v;
    cr_assert_eq(op_create(ctx, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(op_delete(ctx, "new", &err), 0, "%s", err.msg);
    cr_assert_eq(hcsemu_count_systems(), 0);
    rt_ctx_free(ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rt_container_spec_release(&s);
}
