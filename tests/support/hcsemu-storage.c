/*
 * hcsemu-storage.c - the emulated computestorage.dll and virtdisk.dll: the
 * struct hcs_storage_calls table of runtime/hcs/hcs-storage-api.h on Linux
 * (hcsemu_storage_calls(), see hcsemu.h).
 *
 * Semantics implemented (msdocs Hcs*Layer*.md, hcsshim computestorage; where
 * they are silent, "emulator choice"):
 * - A layer exists once imported. HcsImportLayer copies the source folder
 *   into the layer folder and requires every parent of its LayerData to be an
 *   imported layer, listed topmost first with exactly the parents it was
 *   itself imported over (emulator choice: this is what checks the order).
 * - HcsSetupBaseOSLayer {"Type":"Container"} takes no handle, a layer with
 *   no parents and no Hives/Layout yet (hcsshim helpers.go), and creates
 *   them; {"Type":"Vm"} takes an attached VHD and a UtilityVM folder with
 *   Files/ in an imported layer.
 * - A VHD is a small JSON file (emulator choice) recording its parent, whether
 *   it was formatted (HcsFormatWritableLayerVhd) and the writable layer
 *   initialised on it. Attachments are host state: one per file; a permanent
 *   one outlives its handle, others end when the handle closes. The volume of
 *   an attached VHD is \\?\Volume{GUID}\ with a GUID derived from its path.
 * - HcsInitializeWritableLayer takes the volume of an attached, formatted VHD
 *   (itself or a parent) and NULL options; HcsAttachLayerStorageFilter needs
 *   an initialised writable layer and the same LayerData; a VHD whose volume
 *   carries the filter cannot be detached, and HcsDestroyLayer refuses a
 *   folder holding an attached VHD or a layer that another layer has as a
 *   parent (emulator choice).
 * - The emulated HCS sees an imported layer as built for the os.version
 *   written in its HCSEMU_BUILD_FILE (hcsemu-images.h), for the emulated
 *   host when it has none (emulator choice).
 * - An injected import_layer failure leaves the layer folder half written, as
 *   a crash would (emulator choice).
 * Every call is counted (hcsemu_calls()) and traced (hcsemu_storage_trace()).
 */
#include "tests/hcsemu/hcsemu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs-wclayer.h"
#include "tests/hcsemu/hcsemu-images.h"

struct st_layer {
    char *path;
    char **parents; /* topmost first */
};

struct st_attach {
    char *path; /* the VHD file */
    intptr_t owner;
    int permanent;
    int filter;
};

struct st_handle {
    intptr_t h;
    char *path;
};

struct st_backup {
    char *path;
    unsigned char *stream; /* NULL when len is 0 */
    size_t len;
    uint32_t attributes;
    int64_t creation_time;
};

static struct {
    struct st_layer layers[64];
    int n_layers;
    struct st_attach attached[64];
    int n_attached;
    struct st_handle handles[64];
    int n_handles;
    struct stk_strv granted;
    struct stk_buf trace;
    intptr_t next_handle;
    struct st_backup *backups; /* every successful apply_backup_stream, in order */
    size_t n_backups;
} st = {.granted = STK_STRV_INIT, .trace = STK_BUF_INIT};

/* ---- helpers (lock held) ------------------------------------------------- */

static void trace(const char *fmt, ...) STK_PRINTF(1, 2);
static void trace(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    stk_buf_vprintf(&st.trace, fmt, ap);
    va_end(ap);
    stk_buf_putc(&st.trace, '\n');
}

/* Counts and traces a call; returns 1 with *HR set when a failure was injected. */
static int enter(const char *call, int32_t *hr)
{
    hcsemu__count_call(call);
    return hcsemu__take_injection(call, hr);
}

static struct st_layer *find_layer(const char *path)
{
    for (int i = 0; i < st.n_layers; i++)
        if (strcmp(st.layers[i].path, path) == 0)
            return &st.layers[i];
    return NULL;
}

static struct st_attach *find_attach(const char *path)
{
    for (int i = 0; i < st.n_attached; i++)
        if (strcmp(st.attached[i].path, path) == 0)
            return &st.attached[i];
    return NULL;
}

static void drop_attach(struct st_attach *a)
{
    free(a->path);
    *a = st.attached[--st.n_attached];
}

static struct st_handle *find_handle(intptr_t h)
{
    for (int i = 0; i < st.n_handles; i++)
        if (st.handles[i].h == h)
            return &st.handles[i];
    return NULL;
}

static intptr_t new_handle(const char *path)
{
    if (st.n_handles >= (int)STK_ARRAY_SIZE(st.handles))
        STK_BUG("hcsemu-storage: too many handles");
    st.handles[st.n_handles].h = 0x100 + ++st.next_handle;
    st.handles[st.n_handles].path = stk_xstrdup(path);
    return st.handles[st.n_handles++].h;
}

static void volume_of(const char *vhd_path, char out[64])
{
    char guid[37];

    hcsemu__name_guid(vhd_path, guid);
    snprintf(out, 64, "\\\\?\\Volume{%s}\\", guid);
}

/* The attachment whose volume is VOLUME, or NULL. */
static struct st_attach *attach_of_volume(const char *volume)
{
    char v[64];

    for (int i = 0; i < st.n_attached; i++) {
        volume_of(st.attached[i].path, v);
        if (strcmp(v, volume) == 0)
            return &st.attached[i];
    }
    return NULL;
}

static json_t *vhd_read(const char *path)
{
    json_t *j = json_load_file(path, 0, NULL);

    if (j && !json_is_true(json_object_get(j, "hcsemu-vhdx"))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void vhd_write(const char *path, json_t *j)
{
    if (json_dump_file(j, path, JSON_COMPACT) != 0)
        STK_BUG("hcsemu-storage: cannot write a VHD file");
}

/* Returns 1 when the VHD at PATH or one of its parents was formatted. */
static int vhd_formatted(const char *path)
{
    json_t *j = vhd_read(path);
    int r = 0;

    for (int depth = 0; j && depth < 8; depth++) {
        const char *parent = json_string_value(json_object_get(j, "parent"));
        json_t *next;

        if (json_is_true(json_object_get(j, "formatted"))) {
            r = 1;
            break;
        }
        next = parent ? vhd_read(parent) : NULL;
        json_decref(j);
        j = next;
    }
    json_decref(j);
    return r;
}

static int is_guid(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    }
    return 1;
}

/*
 * Parses a LayerData document into *RET_PATHS (topmost first, may be empty).
 * Returns 0, HCS_E_INVALID_JSON for a malformed document or
 * HCS_E_INVALID_LAYER when a layer is not imported or the chain is not the
 * one its layers were imported over.
 */
static int32_t layer_data_parse(const char *data, struct stk_strv *ret_paths)
{
    json_t *doc = data ? json_loads(data, 0, NULL) : NULL;
    json_t *sv = json_object_get(doc, "SchemaVersion"), *layers = json_object_get(doc, "Layers");
    int32_t hr = 0;
    size_t n = json_array_size(layers);

    stk_strv_init(ret_paths);
    if (!doc || !json_is_object(sv) || json_integer_value(json_object_get(sv, "Major")) != 2 ||
        (layers && !json_is_array(layers))) {
        hr = HCS_E_INVALID_JSON;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        const char *path = json_string_value(json_object_get(l, "Path"));

        if (!path || !is_guid(json_string_value(json_object_get(l, "Id")))) {
            hr = HCS_E_INVALID_JSON;
            goto out;
        }
        stk_strv_push(ret_paths, path);
    }
    for (size_t i = 0; i < n; i++) {
        struct st_layer *l = find_layer(ret_paths->v[i]);
        size_t k = 0;

        if (!l) {
            hr = HCS_E_INVALID_LAYER;
            goto out;
        }
        while (l->parents[k] && i + 1 + k < n &&
               strcmp(l->parents[k], ret_paths->v[i + 1 + k]) == 0)
            k++;
        if (l->parents[k] || i + 1 + k != n) {
            hr = HCS_E_INVALID_LAYER;
            goto out;
        }
    }
out:
    json_decref(doc);
    if (hr < 0)
        stk_strv_release(ret_paths);
    return hr;
}

static int copy_file_bytes(const char *src, const char *dst, mode_t mode)
{
    char buf[8192];
    ssize_t n;
    int in = open(src, O_RDONLY | O_CLOEXEC), out, r = 0;

    if (in < 0)
        return -1;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            r = -1;
            break;
        }
    if (n < 0)
        r = -1;
    close(in);
    close(out);
    return r;
}

/* Copies the tree SRC into the existing directory DST (files, folders, symbolic links). */
static int copy_tree(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;
    int r = 0;

    if (!d)
        return -1;
    while (r == 0 && (e = readdir(d))) {
        char *s, *t;
        struct stat sb;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        s = stk_xasprintf("%s/%s", src, e->d_name);
        t = stk_xasprintf("%s/%s", dst, e->d_name);
        if (lstat(s, &sb) < 0) {
            r = -1;
        } else if (S_ISDIR(sb.st_mode)) {
            r = (mkdir(t, 0755) < 0 && errno != EEXIST) ? -1 : copy_tree(s, t);
        } else if (S_ISLNK(sb.st_mode)) {
            char link[4096];
            ssize_t n = readlink(s, link, sizeof(link) - 1);

            if (n < 0) {
                r = -1;
            } else {
                link[n] = '\0';
                r = symlink(link, t);
            }
        } else {
            r = copy_file_bytes(s, t, sb.st_mode);
        }
        free(s);
        free(t);
    }
    closedir(d);
    return r;
}

static int strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* ---- computestorage.dll --------------------------------------------------- */

static int32_t emu_import_layer(const char *layer, const char *src, const char *data)
{
    struct stk_strv parents = STK_STRV_INIT;
    int32_t hr = 0;

    hcsemu__lock();
    trace("import_layer %s %s %s", layer, src, data ? data : "(null)");
    if (enter("import_layer", &hr)) {
        char *files = stk_xasprintf("%s/Files", layer);

        /* A half-written layer, as a crash in the middle of the copy leaves it. */
        mkdir(layer, 0755);
        mkdir(files, 0755);
        free(files);
        goto out;
    }
    if (!layer || !src) {
        hr = STK_WIN_E_INVALIDARG;
        goto out;
    }
    if ((hr = layer_data_parse(data, &parents)) < 0)
        goto out;
    if (find_layer(layer)) {
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
        goto out;
    }
    if (!stk_path_is_dir(src) || !stk_path_is_dir(layer)) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    if (copy_tree(src, layer) < 0) {
        hr = STK_WIN_E_FAIL;
        goto out;
    }
    if (st.n_layers >= (int)STK_ARRAY_SIZE(st.layers))
        STK_BUG("hcsemu-storage: too many layers");
    st.layers[st.n_layers].path = stk_xstrdup(layer);
    st.layers[st.n_layers++].parents = parents.v;
    parents.v = NULL;
out:
    stk_strv_release(&parents);
    hcsemu__unlock();
    return hr;
}

static int32_t emu_destroy_layer(const char *layer)
{
    int32_t hr = 0;

    hcsemu__lock();
    trace("destroy_layer %s", layer);
    if (enter("destroy_layer", &hr))
        goto out;
    if (!layer || !stk_path_exists(layer)) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    for (int i = 0; i < st.n_attached; i++)
        if (under(st.attached[i].path, layer)) {
            hr = HCS_E_INVALID_STATE;
            goto out;
        }
    for (int i = 0; i < st.n_layers; i++)
        if (strv_has(st.layers[i].parents, layer)) {
            hr = HCS_E_INVALID_STATE;
            goto out;
        }
    if (stk_rm_rf(layer, NULL) < 0) {
        hr = STK_WIN_E_ACCESSDENIED;
        goto out;
    }
    for (int i = 0; i < st.n_layers; i++)
        if (strcmp(st.layers[i].path, layer) == 0) {
            free(st.layers[i].path);
            stk_strv_free(st.layers[i].parents);
            st.layers[i] = st.layers[--st.n_layers];
            break;
        }
out:
    hcsemu__unlock();
    return hr;
}

static int32_t emu_setup_base_os_layer(const char *layer, intptr_t vhd, const char *options)
{
    json_t *o = options ? json_loads(options, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(o, "Type"));
    int32_t hr = 0;

    hcsemu__lock();
    trace("setup_base_os_layer %s %s %s", layer, vhd ? "vhd" : "0", options ? options : "(null)");
    if (enter("setup_base_os_layer", &hr))
        goto out;
    if (!layer || !type) {
        hr = STK_WIN_E_INVALIDARG;
        goto out;
    }
    if (strcmp(type, "Container") == 0) {
        struct st_layer *l = find_layer(layer);
        char *hives = stk_xasprintf("%s/Hives", layer), *layout = stk_xasprintf("%s/Layout", layer);

        if (vhd) {
            hr = STK_WIN_E_INVALIDARG; /* "expects an empty vhd handle" (hcsshim) */
        } else if (!l || l->parents[0]) {
            hr = HCS_E_INVALID_LAYER;
        } else if (stk_path_exists(hives) || stk_path_exists(layout)) {
            hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
        } else {
            mkdir(hives, 0755);
            stk_file_write_atomic(layout, "hcsemu\n", 7, 0644, 0, NULL);
        }
        free(hives);
        free(layout);
    } else if (strcmp(type, "Vm") == 0) {
        struct st_handle *h = find_handle(vhd);
        char *files = stk_xasprintf("%s/Files", layer);
        size_t n = strlen(layer);
        int in_layer = 0;

        for (int i = 0; i < st.n_layers; i++)
            if (under(layer, st.layers[i].path))
                in_layer = 1;
        if (!h || !find_attach(h->path)) {
            hr = HCS_E_INVALID_STATE;
        } else if (!in_layer || n < 9 || strcmp(layer + n - 9, "UtilityVM") != 0 ||
                   !stk_path_is_dir(files)) {
            hr = HCS_E_INVALID_LAYER;
        } else {
            json_t *j = vhd_read(h->path);

            json_object_set_new(j, "os_layer", json_string("Vm"));
            vhd_write(h->path, j);
            json_decref(j);
        }
        free(files);
    } else {
        hr = STK_WIN_E_INVALIDARG;
    }
out:
    hcsemu__unlock();
    json_decref(o);
    return hr;
}

static int32_t emu_initialize_writable_layer(const char *path, const char *data,
                                             const char *options)
{
    struct stk_strv parents = STK_STRV_INIT;
    struct st_attach *a;
    json_t *j = NULL;
    int32_t hr = 0;

    hcsemu__lock();
    trace("initialize_writable_layer %s %s", path, data ? data : "(null)");
    if (enter("initialize_writable_layer", &hr))
        goto out;
    if (!path || options) {
        hr = STK_WIN_E_INVALIDARG; /* options: "Reserved for future use. Must be NULL" */
        goto out;
    }
    a = attach_of_volume(path);
    if (!a) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    if (!vhd_formatted(a->path)) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    if ((hr = layer_data_parse(data, &parents)) < 0)
        goto out;
    if (!parents.v[0]) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    j = vhd_read(a->path);
    if (json_object_get(j, "writable")) {
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
        goto out;
    }
    {
        json_t *arr = json_array();

        for (size_t i = 0; parents.v[i]; i++)
            json_array_append_new(arr, json_string(parents.v[i]));
        json_object_set_new(j, "writable", arr);
        vhd_write(a->path, j);
    }
out:
    json_decref(j);
    stk_strv_release(&parents);
    hcsemu__unlock();
    return hr;
}

static int32_t emu_attach_filter(const char *path, const char *data)
{
    struct stk_strv parents = STK_STRV_INIT;
    struct st_attach *a;
    json_t *j = NULL, *w;
    int32_t hr = 0;

    hcsemu__lock();
    trace("attach_layer_storage_filter %s %s", path, data ? data : "(null)");
    if (enter("attach_layer_storage_filter", &hr))
        goto out;
    a = path ? attach_of_volume(path) : NULL;
    if (!a) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    j = vhd_read(a->path);
    w = json_object_get(j, "writable");
    if (!w) {
        hr = HCS_E_INVALID_LAYER; /* not an initialised writable layer */
        goto out;
    }
    if ((hr = layer_data_parse(data, &parents)) < 0)
        goto out;
    if (stk_strv_len(parents.v) != json_array_size(w)) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    for (size_t i = 0; parents.v[i]; i++)
        if (strcmp(parents.v[i], json_string_value(json_array_get(w, i))) != 0) {
            hr = HCS_E_INVALID_LAYER;
            goto out;
        }
    if (a->filter) {
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
        goto out;
    }
    a->filter = 1;
out:
    json_decref(j);
    stk_strv_release(&parents);
    hcsemu__unlock();
    return hr;
}

static int32_t emu_detach_filter(const char *path)
{
    struct st_attach *a;
    int32_t hr = 0;

    hcsemu__lock();
    trace("detach_layer_storage_filter %s", path);
    if (enter("detach_layer_storage_filter", &hr))
        goto out;
    a = path ? attach_of_volume(path) : NULL;
    if (!a || !a->filter)
        hr = STK_WIN_HRESULT_ERROR_NOT_FOUND;
    else
        a->filter = 0;
out:
    hcsemu__unlock();
    return hr;
}

static int32_t emu_format(intptr_t vhd)
{
    struct st_handle *h;
    int32_t hr = 0;

    hcsemu__lock();
    h = find_handle(vhd);
    trace("format_writable_layer_vhd %s", h ? h->path : "(bad handle)");
    if (enter("format_writable_layer_vhd", &hr))
        goto out;
    if (!h) {
        hr = STK_WIN_E_INVALIDARG;
    } else {
        json_t *j = vhd_read(h->path);

        json_object_set_new(j, "formatted", json_true());
        vhd_write(h->path, j);
        json_decref(j);
    }
out:
    hcsemu__unlock();
    return hr;
}

static int32_t emu_mount_path(intptr_t vhd, char **ret)
{
    struct st_handle *h;
    int32_t hr = 0;
    char v[64];

    *ret = NULL;
    hcsemu__lock();
    h = find_handle(vhd);
    trace("get_layer_vhd_mount_path %s", h ? h->path : "(bad handle)");
    if (enter("get_layer_vhd_mount_path", &hr))
        goto out;
    if (!h) {
        hr = STK_WIN_E_INVALIDARG;
    } else if (!find_attach(h->path)) {
        hr = STK_WIN_HRESULT_ERROR_NOT_FOUND; /* emulator choice: no volume without an attach */
    } else {
        volume_of(h->path, v);
        *ret = stk_xstrdup(v);
    }
out:
    hcsemu__unlock();
    return hr;
}

/* ---- virtdisk.dll ----------------------------------------------------------- */

static int32_t emu_create_vhd(const char *path, const char *parent, uint64_t max_size,
                              uint32_t block_size, intptr_t *ret)
{
    json_t *p = NULL;
    int32_t hr = 0;

    *ret = 0;
    hcsemu__lock();
    trace("create_virtual_disk %s %s", path, parent ? parent : "-");
    if (enter("create_virtual_disk", &hr))
        goto out;
    if (!path || !block_size || (!parent && !max_size)) {
        hr = STK_WIN_E_INVALIDARG;
        goto out;
    }
    if (stk_path_exists(path)) {
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
        goto out;
    }
    if (parent && !(p = vhd_read(parent))) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    {
        json_t *j = json_pack("{s:b,s:I,s:i}", "hcsemu-vhdx", 1, "max_size", (json_int_t)max_size,
                              "block_size", (int)block_size);

        if (parent)
            json_object_set_new(j, "parent", json_string(parent));
        vhd_write(path, j);
        json_decref(j);
    }
    *ret = new_handle(path);
out:
    json_decref(p);
    hcsemu__unlock();
    return hr;
}

static int32_t emu_open_vhd(const char *path, intptr_t *ret)
{
    json_t *j = NULL;
    int32_t hr = 0;

    *ret = 0;
    hcsemu__lock();
    trace("open_virtual_disk %s", path);
    if (enter("open_virtual_disk", &hr))
        goto out;
    if (!path || !stk_path_exists(path)) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
        goto out;
    }
    if (!(j = vhd_read(path))) {
        hr = STK_WIN_E_INVALIDARG;
        goto out;
    }
    *ret = new_handle(path);
out:
    json_decref(j);
    hcsemu__unlock();
    return hr;
}

static int32_t emu_attach_vhd(intptr_t vhd, uint32_t flags)
{
    struct st_handle *h;
    int32_t hr = 0;

    hcsemu__lock();
    h = find_handle(vhd);
    trace("attach_virtual_disk %s 0x%x", h ? h->path : "(bad handle)", flags);
    if (enter("attach_virtual_disk", &hr))
        goto out;
    if (!h) {
        hr = STK_WIN_E_INVALIDARG;
    } else if (find_attach(h->path)) {
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
    } else {
        if (st.n_attached >= (int)STK_ARRAY_SIZE(st.attached))
            STK_BUG("hcsemu-storage: too many attached disks");
        st.attached[st.n_attached++] = (struct st_attach){
            stk_xstrdup(h->path), vhd, !!(flags & HCS_VHD_ATTACH_PERMANENT_LIFETIME), 0};
    }
out:
    hcsemu__unlock();
    return hr;
}

static int32_t emu_detach_vhd(intptr_t vhd)
{
    struct st_handle *h;
    struct st_attach *a = NULL;
    int32_t hr = 0;

    hcsemu__lock();
    h = find_handle(vhd);
    trace("detach_virtual_disk %s", h ? h->path : "(bad handle)");
    if (enter("detach_virtual_disk", &hr))
        goto out;
    a = h ? find_attach(h->path) : NULL;
    if (!h)
        hr = STK_WIN_E_INVALIDARG;
    else if (!a)
        hr = STK_WIN_HRESULT_ERROR_NOT_FOUND;
    else if (a->filter)
        hr = HCS_E_INVALID_STATE; /* the storage filter still sits on its volume */
    else
        drop_attach(a);
out:
    hcsemu__unlock();
    return hr;
}

static void emu_close_handle(intptr_t vhd)
{
    struct st_handle *h;

    hcsemu__lock();
    h = find_handle(vhd);
    trace("close_handle %s", h ? h->path : "(bad handle)");
    hcsemu__count_call("close_handle");
    if (h) {
        struct st_attach *a = find_attach(h->path);

        /* Without PERMANENT_LIFETIME the attachment ends with the handle (msdocs). */
        if (a && a->owner == vhd && !a->permanent)
            drop_attach(a);
        free(h->path);
        *h = st.handles[--st.n_handles];
    }
    hcsemu__unlock();
}

/* ---- host file helpers ------------------------------------------------------ */

static int32_t emu_copy_file(const char *src, const char *dst)
{
    struct stat sb;
    int32_t hr = 0;

    hcsemu__lock();
    trace("copy_file %s %s", src, dst);
    if (enter("copy_file", &hr))
        goto out;
    if (!src || !dst || stat(src, &sb) < 0)
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
    else if (stk_path_exists(dst))
        hr = STK_WIN_HRESULT_ERROR_ALREADY_EXISTS;
    else if (copy_file_bytes(src, dst, sb.st_mode) < 0)
        hr = STK_WIN_E_FAIL;
out:
    hcsemu__unlock();
    return hr;
}

static int32_t emu_grant(const char *path)
{
    int32_t hr = 0;

    hcsemu__lock();
    trace("grant_vm_group_access %s", path);
    if (enter("grant_vm_group_access", &hr))
        goto out;
    if (!path || !stk_path_exists(path))
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
    else if (!stk_strv_contains(&st.granted, path))
        stk_strv_push(&st.granted, path);
out:
    hcsemu__unlock();
    return hr;
}

static void emu_free_string(char *s)
{
    free(s);
}

/*
 * Records what it is given, after checking it as BackupWrite and
 * SetFileInformationByHandle would reject it: the path must exist (lstat:
 * a placeholder, not followed), the stream must be a well-formed
 * WIN32_STREAM_ID chain (rt_hcs_backup_check), and a call with nothing to
 * apply is refused (emulator choice: it shows the storage never makes one).
 */
static int32_t emu_apply_backup(const char *path, const void *stream, size_t len,
                                uint32_t attributes, int64_t creation_time)
{
    struct stat sb;
    const char *why = "";
    int32_t hr = 0;

    hcsemu__lock();
    trace("apply_backup_stream %s %zu 0x%x %lld", path ? path : "(null)", len, attributes,
          (long long)creation_time);
    if (enter("apply_backup_stream", &hr))
        goto out;
    if (!path || lstat(path, &sb) < 0) {
        hr = STK_WIN_HRESULT_ERROR_FILE_NOT_FOUND;
    } else if ((!len && !attributes && !creation_time) || (len && !stream) ||
               (len && rt_hcs_backup_check(stream, len, &why) < 0)) {
        trace("apply_backup_stream refused: %s", why);
        hr = STK_WIN_E_INVALIDARG;
    } else {
        struct st_backup *b;

        st.backups = stk_xrealloc(st.backups, (st.n_backups + 1) * sizeof(*st.backups));
        b = &st.backups[st.n_backups++];
        b->path = stk_xstrdup(path);
        b->stream = len ? stk_xmalloc(len) : NULL;
        if (len)
            memcpy(b->stream, stream, len);
        b->len = len;
        b->attributes = attributes;
        b->creation_time = creation_time;
    }
out:
    hcsemu__unlock();
    return hr;
}

static const struct hcs_storage_calls calls = {
    .name = "hcsemu",
    .import_layer = emu_import_layer,
    .destroy_layer = emu_destroy_layer,
    .setup_base_os_layer = emu_setup_base_os_layer,
    .initialize_writable_layer = emu_initialize_writable_layer,
    .attach_layer_storage_filter = emu_attach_filter,
    .detach_layer_storage_filter = emu_detach_filter,
    .format_writable_layer_vhd = emu_format,
    .get_layer_vhd_mount_path = emu_mount_path,
    .create_virtual_disk = emu_create_vhd,
    .open_virtual_disk = emu_open_vhd,
    .attach_virtual_disk = emu_attach_vhd,
    .detach_virtual_disk = emu_detach_vhd,
    .close_handle = emu_close_handle,
    .copy_file = emu_copy_file,
    .grant_vm_group_access = emu_grant,
    .free_string = emu_free_string,
    .apply_backup_stream = emu_apply_backup,
};

const struct hcs_storage_calls *hcsemu_storage_calls(void)
{
    return &calls;
}

/* ---- queries ------------------------------------------------------------------ */

#define COUNTER(name, expr)                                                                        \
    int name(void)                                                                                 \
    {                                                                                              \
        int n = 0;                                                                                 \
        hcsemu__lock();                                                                            \
        expr;                                                                                      \
        hcsemu__unlock();                                                                          \
        return n;                                                                                  \
    }
COUNTER(hcsemu_storage_count_layers, n = st.n_layers)
COUNTER(hcsemu_storage_count_attached, n = st.n_attached)
COUNTER(hcsemu_storage_count_handles, n = st.n_handles)
COUNTER(hcsemu_storage_count_filters,
        for (int i = 0; i < st.n_attached; i++) n += st.attached[i].filter)

int hcsemu_storage_granted(const char *path)
{
    int r;

    hcsemu__lock();
    r = stk_strv_contains(&st.granted, path);
    hcsemu__unlock();
    return r;
}

int hcsemu_storage_backup_get(const char *path, void **ret_stream, size_t *ret_len,
                              uint32_t *ret_attributes, int64_t *ret_creation_time)
{
    const struct st_backup *last = NULL;
    int n = 0;

    hcsemu__lock();
    for (size_t i = 0; i < st.n_backups; i++)
        if (strcmp(st.backups[i].path, path) == 0) {
            last = &st.backups[i];
            n++;
        }
    if (last) {
        if (ret_stream) {
            *ret_stream = last->len ? stk_xmalloc(last->len) : NULL;
            if (last->len)
                memcpy(*ret_stream, last->stream, last->len);
        }
        if (ret_len)
            *ret_len = last->len;
        if (ret_attributes)
            *ret_attributes = last->attributes;
        if (ret_creation_time)
            *ret_creation_time = last->creation_time;
    }
    hcsemu__unlock();
    return n;
}

int hcsemu_storage_count_backups(void)
{
    int n;

    hcsemu__lock();
    n = (int)st.n_backups;
    hcsemu__unlock();
    return n;
}

char *hcsemu_storage_trace(void)
{
    char *s;

    hcsemu__lock();
    s = stk_xstrdup(st.trace.buf);
    hcsemu__unlock();
    return s;
}

void hcsemu_storage_trace_clear(void)
{
    hcsemu__lock();
    stk_buf_reset(&st.trace);
    hcsemu__unlock();
}

/*
 * Returns (new string) the build of the imported layer LAYER. Emulator
 * choice: a real layer carries it in its SOFTWARE hive (CurrentBuildNumber,
 * UBR); an emulated one holds the os.version as the text of its
 * HCSEMU_BUILD_FILE (tests/hcsemu/hcsemu-images.h writes it from the image's
 * os.version). A layer without that file is built for the emulated host.
 */
static char *layer_build(const char *layer)
{
    char *path = stk_xasprintf("%s/" HCSEMU_BUILD_FILE, layer), *data = NULL;
    size_t len = 0;

    if (stk_file_read(path, &data, &len, NULL) < 0 || !data) {
        free(path);
        free(data);
        return stk_xstrdup(hcsemu__host_build());
    }
    free(path);
    data[strcspn(data, "\r\n \t")] = '\0';
    return data;
}

/* Called with the lock held, from hcsemu__layer_lookup(). */
int hcsemu__storage_layer_lookup(const char *path, char **ret_os_version, int *ret_has_uvm)
{
    char *files;

    if (!find_layer(path))
        return 0;
    if (ret_os_version)
        *ret_os_version = layer_build(path);
    files = stk_xasprintf("%s/UtilityVM/Files", path);
    if (ret_has_uvm)
        *ret_has_uvm = stk_path_is_dir(files);
    free(files);
    return 1;
}

void hcsemu__storage_calls_free_all(void)
{
    for (int i = 0; i < st.n_layers; i++) {
        free(st.layers[i].path);
        stk_strv_free(st.layers[i].parents);
    }
    for (int i = 0; i < st.n_attached; i++)
        free(st.attached[i].path);
    for (int i = 0; i < st.n_handles; i++)
        free(st.handles[i].path);
    for (size_t i = 0; i < st.n_backups; i++) {
        free(st.backups[i].path);
        free(st.backups[i].stream);
    }
    free(st.backups);
    stk_strv_release(&st.granted);
    stk_buf_release(&st.trace);
    memset(&st, 0, sizeof(st));
    st.granted = (struct stk_strv)STK_STRV_INIT;
    st.trace = (struct stk_buf)STK_BUF_INIT;
}
