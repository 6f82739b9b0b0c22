/*
 * hcs-storage.c - the layer storage of the hcs driver: Windows image layers
 * imported into the windowsfilter layout and the writable scratch of each
 * container, through the computestorage.dll table of hcs-storage-api.h (see
 * rt_hcs_storage_new() in hcs.h for the layout and the sequence).
 *
 * Sources: msdocs virtualization/api/hcs/Reference (HcsImportLayer,
 * HcsSetupBaseOSLayer, HcsInitializeWritableLayer,
 * HcsAttachLayerStorageFilter, HcsGetLayerVhdMountPath ...); hcsshim
 * computestorage/storage.go (LayerData, OsLayerOptions), helpers.go
 * (SetupContainerBaseLayer, SetupUtilityVMBaseLayer: the order, the file
 * names, the 20 GB / 10 GB sizes and 1 MB blocks), internal/wclayer/legacy.go
 * (tombstones.txt); reference/hcs-hns.md §2.3 (UtilityVM files, the UVM
 * scratch copied from SystemTemplate.vhdx).
 *
 * Assumptions, none of them checked on a real host:
 * - HcsImportLayer is used for every layer, the base included (with an
 *   empty parent list). hcsshim writes a base layer's files itself (BackupWrite
 *   through its baseLayerWriter) and imports only the layers above it.
 * - The staging folder is filled by libarchive (file data, times,
 *   directories, hard links); the Windows metadata libarchive drops is read
 *   by a second pass over the blob (hcs-wclayer.h) and applied per entry
 *   through apply_backup_stream (hcs-storage-api.h): MSWINDOWS.rawsd as
 *   BACKUP_SECURITY_DATA, MSWINDOWS.xattr.* as BACKUP_EA_DATA, symbolic
 *   links and MSWINDOWS.mountpoint as BACKUP_REPARSE_DATA over an empty
 *   placeholder, MSWINDOWS.fileattr and LIBARCHIVE.creationtime through
 *   FILE_BASIC_INFO. It is applied after the whole layer is extracted, last
 *   entry first (unlike hcsshim, which writes each file through BackupWrite
 *   as it goes): libarchive writes without backup semantics, so a folder's
 *   descriptor must not be in place before its children are written. That
 *   the staged descriptors, attributes and reparse points survive
 *   HcsImportLayer as they do hcsshim's legacy writer (which also stages a
 *   folder and imports it) is assumed, never seen.
 * - Not handled: MSWINDOWS.sd (SDDL text from old writers) fails the import
 *   (STK_ENOTSUP); alternate data streams ("file:name" entries) are
 *   handed to libarchive as ordinary entries (what its Windows writer makes
 *   of the ':' was not checked; no BACKUP_ALTERNATE_DATA is written); GNU
 *   sparse entries are refused by the walker; hcsshim's special
 *   handling of directory reparse points (".$wcidirs$") and of the Hives and
 *   UtilityVM folders of a base layer (its baseLayerWriter) is not copied.
 * - The writable layer of a process-isolated container is the volume of its
 *   attached sandbox.vhdx (HcsInitializeWritableLayer and
 *   HcsAttachLayerStorageFilter take that volume path), and a Hyper-V
 *   container's scratch needs no host-side initialisation (the utility VM
 *   initialises it in the guest).
 * - Layer GUIDs come from rt_hcs_name_guid() of the folder name, not from
 *   vmcompute's NameToGuid.
 */
#include "runtime/hcs/hcs.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-macro.h"
#include "common/stk-strv.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs-storage-api.h"
#include "runtime/hcs/hcs-wclayer.h"
#include "runtime/image/rt-image.h"

#ifdef _WIN32
#define SEP "\\"
#else
#define SEP "/"
#endif

#define BLANK_BASE_VHD "blank-base.vhdx"       /* hcsshim containerBaseVhd */
#define BLANK_VHD "blank.vhdx"                 /* hcsshim containerScratchVhd */
#define UVM_DIR "UtilityVM"                    /* hcsshim UtilityVMPath */
#define UVM_BASE_VHD "SystemTemplateBase.vhdx" /* hcsshim UtilityVMBaseVhd */
#define UVM_DIFF_VHD "SystemTemplate.vhdx"     /* hcsshim UtilityVMScratchVhd */
#define SANDBOX_VHD "sandbox.vhdx"
#define GiB (1024ull * 1024 * 1024)
#define BLOCK_SIZE (1024u * 1024) /* hcsshim defaultVHDXBlockSizeInMB = 1 */
#define BASE_VHD_SIZE (20 * GiB)  /* hcsshim: SetupContainerBaseLayer(..., 20) */
#define UVM_VHD_SIZE (10 * GiB)   /* hcsshim: SetupUtilityVMBaseLayer(..., 10) */

struct rt_hcs_storage {
    char *layers_root;
    char *scratch_root;
    struct rt_image_store *images; /* borrowed */
    const struct hcs_storage_calls *calls;
    struct rt_hcs_storage_api api;
    uv_mutex_t lock; /* serialises layer imports */
};

static char *join(const char *a, const char *b)
{
    return stk_xasprintf("%s" SEP "%s", a, b);
}

/* ---- LayerData ---------------------------------------------------------- */

/*
 * Returns the LayerData document (hcsshim computestorage.LayerData) of the N
 * layers PATHS/IDS, topmost first: SchemaVersion 2.1 and Layers [{Id, Path}],
 * the Layers member omitted when N is 0 (Go's omitempty). New string.
 */
static char *layer_data(char *const *paths, char *const *ids, size_t n)
{
    json_t *doc = json_pack("{s:{s:i,s:i}}", "SchemaVersion", "Major", 2, "Minor", 1);
    char *s;

    if (n) {
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_pack("{s:s,s:s}", "Id", ids[i], "Path", paths[i]));
        json_object_set_new(doc, "Layers", a);
    }
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s)
        STK_BUG("hcs-storage: json_dumps failed");
    return s;
}

/* ---- extraction --------------------------------------------------------- */

/*
 * Returns NAME with '\' turned into '/', "./" and empty components dropped,
 * or NULL (STK_EIMAGE) when absolute or holding "..". New string.
 */
static char *clean_name(const char *name, struct stk_err *err)
{
    struct stk_buf b = STK_BUF_INIT;
    const char *p = name;

    if (name[0] == '/' || name[0] == '\\' || (name[0] && name[1] == ':')) {
        stk_err_set(err, STK_EIMAGE, 0, "layer entry '%s' is an absolute path", name);
        return NULL;
    }
    while (*p) {
        size_t len = strcspn(p, "/\\");

        if (len == 2 && p[0] == '.' && p[1] == '.') {
            stk_buf_release(&b);
            stk_err_set(err, STK_EIMAGE, 0, "layer entry '%s' escapes the layer", name);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (b.len)
                stk_buf_putc(&b, '/');
            stk_buf_add(&b, p, len);
        }
        p += len;
        if (*p)
            p++;
    }
    return stk_buf_detach(&b, NULL);
}

/* Windows layer tars hold Files/, Hives/ and UtilityVM/ only (hcsshim internal/wclayer). */
static int windows_top(const char *rel)
{
    static const char *const tops[] = {"Files", "Hives", "UtilityVM"};
    size_t len = strcspn(rel, "/");

    for (size_t i = 0; i < STK_ARRAY_SIZE(tops); i++)
        if (len == strlen(tops[i]) && strncasecmp(rel, tops[i], len) == 0)
            return 1;
    return 0;
}

/* Writes tombstones.txt (hcsshim legacy.go: BOM, "Version 1.0", one \path per line). */
static int write_tombstones(const char *staging, const struct stk_strv *dead, struct stk_err *err)
{
    struct stk_buf b = STK_BUF_INIT;
    char *path;
    int r;

    if (!dead->v || !dead->v[0])
        return 0;
    stk_buf_puts(&b, "\xEF\xBB\xBFVersion 1.0\n");
    for (size_t i = 0; dead->v[i]; i++) {
        stk_buf_putc(&b, '\\');
        for (const char *p = dead->v[i]; *p; p++)
            stk_buf_putc(&b, *p == '/' ? '\\' : *p);
        stk_buf_putc(&b, '\n');
    }
    path = join(staging, "tombstones.txt");
    r = stk_file_write_atomic(path, b.buf, b.len, 0644, 0, err);
    free(path);
    stk_buf_release(&b);
    return r;
}

/*
 * Applies the Windows metadata of the entries in TODO (full staging paths)
 * whose index entries are AT, last extracted first: a folder's security
 * descriptor may deny the writes libarchive makes into it, and the calls
 * run with backup semantics, so children go before their parents.
 */
static int apply_metadata(const struct hcs_storage_calls *c, const struct rt_hcs_pax_index *idx,
                          const struct stk_strv *todo, const size_t *at, const char *staging,
                          struct stk_err *err)
{
    for (size_t i = stk_strv_len(todo->v); i-- > 0;) {
        struct rt_hcs_backup b = {0};
        int32_t hr;
        int r = rt_hcs_backup_build(&idx->entries[at[i]], &b, err);

        if (r < 0)
            return r;
        hr = c->apply_backup_stream(todo->v[i], b.stream, b.len, b.attributes, b.creation_time);
        rt_hcs_backup_release(&b);
        if (hr < 0)
            return stk_err_set_hresult(err, hr, NULL, "apply the Windows metadata of '%s'",
                                       todo->v[i] + strlen(staging) + 1);
    }
    return 0;
}

/*
 * Extracts the layer blob BLOB (tar, any compression libarchive detects)
 * into the existing folder STAGING: entries outside Files/, Hives/ and
 * UtilityVM/, absolute or escaping names are refused; whiteouts (".wh.NAME")
 * become tombstones.txt lines; opaque-directory markers are not part of
 * Windows layers and are refused. The Windows metadata libarchive drops
 * (hcs-wclayer.h) is read by a second pass over the same bytes, matched
 * entry by entry, and applied through C->apply_backup_stream once every
 * entry is written; a symbolic link becomes an empty file (a directory when
 * its attributes say so) that the reparse data then turns into the link, as
 * hcsshim's writer does.
 */
static int extract_layer(const struct hcs_storage_calls *c, const char *blob, const char *staging,
                         struct stk_err *err)
{
    struct stk_strv dead = STK_STRV_INIT, todo = STK_STRV_INIT;
    struct rt_hcs_pax_index idx = {0};
    size_t cursor = 0, *at = NULL, n_at = 0, cap_at = 0;
    struct archive *a = archive_read_new(), *ext = archive_write_disk_new();
    struct archive_entry *ent;
    char *rel = NULL, *full = NULL, *link = NULL;
    int flags =
        ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    int r, ret = 0;

    stk_strv_init(&dead);
    stk_strv_init(&todo);
    if ((ret = rt_hcs_pax_scan_file(blob, &idx, err)) < 0)
        goto out;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
#ifndef _WIN32
    flags |= ARCHIVE_EXTRACT_PERM;
#endif
    archive_write_disk_set_options(ext, flags);
    if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK) {
        ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "open '%s': %s", blob,
                          archive_error_string(a));
        goto out;
    }
    for (;;) {
        const char *name, *hl, *base;
        const struct rt_hcs_pax_entry *meta;
        char *mrel;

        r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read '%s': %s", blob,
                              archive_error_string(a));
            goto out;
        }
        name = archive_entry_pathname(ent);
        free(rel);
        rel = name ? clean_name(name, err) : NULL;
        if (!rel) {
            ret = name ? STK_EIMAGE : stk_err_set(err, STK_EIMAGE, 0, "entry without a name");
            goto out;
        }
        /* Both passes read the same bytes: the K-th entries must be the same member. */
        mrel = cursor < idx.n ? clean_name(idx.entries[cursor].name, NULL) : NULL;
        if (!mrel || strcmp(mrel, rel) != 0) {
            ret = stk_err_set(err, STK_EIMAGE, 0,
                              "entry '%s': the metadata pass read '%s' as entry %zu", name,
                              cursor < idx.n ? idx.entries[cursor].name : "(end)", cursor);
            free(mrel);
            goto out;
        }
        free(mrel);
        meta = &idx.entries[cursor++];
        if (!*rel)
            continue;
        if (!windows_top(rel)) {
            ret = stk_err_set(err, STK_EIMAGE, 0,
                              "entry '%s' is outside Files/, Hives/ and UtilityVM/: not a Windows "
                              "layer",
                              name);
            goto out;
        }
        base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        if (strncmp(base, ".wh.", 4) == 0) {
            if (strncmp(base, ".wh..wh.", 8) == 0 || !base[4]) {
                ret = stk_err_set(err, STK_EIMAGE, 0,
                                  "entry '%s': opaque or malformed whiteout in a Windows layer",
                                  name);
                goto out;
            }
            stk_strv_pushf(&dead, "%.*s%s", (int)(base - rel), rel, base + 4);
            continue;
        }
        hl = archive_entry_hardlink(ent);
        if (hl) {
            char *hrel = clean_name(hl, err);

            if (!hrel) {
                ret = STK_EIMAGE;
                goto out;
            }
            free(link);
            link = stk_xasprintf("%s/%s", staging, hrel);
            free(hrel);
            archive_entry_set_hardlink_utf8(ent, link);
        }
        free(full);
        full = stk_xasprintf("%s/%s", staging, rel);
        archive_entry_set_pathname_utf8(ent, full);
        if (meta->n_records || meta->typeflag == '2') {
            struct rt_hcs_backup b = {0};

            /* Checked now, so that a bad record fails before anything is applied. */
            if ((ret = rt_hcs_backup_build(meta, &b, err)) < 0)
                goto out;
            if (meta->typeflag == '2') {
                int dir = !!(b.attributes & RT_HCS_FILE_ATTRIBUTE_DIRECTORY);

                archive_entry_set_symlink(ent, NULL);
                archive_entry_set_filetype(ent, dir ? AE_IFDIR : AE_IFREG);
                archive_entry_set_perm(ent, dir ? 0755 : 0644);
                archive_entry_set_size(ent, 0);
            }
            if (b.len || b.attributes || b.creation_time) {
                if (n_at == cap_at) {
                    cap_at = cap_at ? 2 * cap_at : 64;
                    at = stk_xrealloc(at, cap_at * sizeof(*at));
                }
                at[n_at++] = (size_t)(meta - idx.entries);
                stk_strv_push(&todo, full);
            }
            rt_hcs_backup_release(&b);
        }
        if (archive_write_header(ext, ent) < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIMAGE, archive_errno(ext), "unpack entry '%s': %s", rel,
                              archive_error_string(ext));
            goto out;
        }
        if (archive_entry_size(ent) > 0) {
            const void *buf;
            size_t size;
            la_int64_t off;

            while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
                if (archive_write_data_block(ext, buf, size, off) < ARCHIVE_WARN) {
                    ret = stk_err_set(err, STK_EIO, archive_errno(ext), "write '%s': %s", rel,
                                      archive_error_string(ext));
                    goto out;
                }
            if (r != ARCHIVE_EOF) {
                ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read '%s': %s", rel,
                                  archive_error_string(a));
                goto out;
            }
        }
        if (archive_write_finish_entry(ext) < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIO, archive_errno(ext), "finish '%s': %s", rel,
                              archive_error_string(ext));
            goto out;
        }
    }
    if (archive_write_close(ext) < ARCHIVE_WARN) {
        ret = stk_err_set(err, STK_EIO, archive_errno(ext), "unpack '%s': %s", blob,
                          archive_error_string(ext));
        goto out;
    }
    if ((ret = apply_metadata(c, &idx, &todo, at, staging, err)) < 0)
        goto out;
    ret = write_tombstones(staging, &dead, err);
out:
    archive_write_free(ext);
    archive_read_free(a);
    stk_strv_release(&dead);
    stk_strv_release(&todo);
    rt_hcs_pax_index_release(&idx);
    free(at);
    free(rel);
    free(full);
    free(link);
    return ret;
}

/* ---- base layer set-up (hcsshim computestorage/helpers.go) --------------- */

static int remove_if_present(const char *path, struct stk_err *err)
{
    return stk_path_exists(path) ? stk_rm_rf(path, err) : 0;
}

/* SetupContainerBaseLayer(layer, blank-base.vhdx, blank.vhdx, 20 GB). */
static int setup_container_base(const struct hcs_storage_calls *c, const char *layer,
                                struct stk_err *err)
{
    char *hives = join(layer, "Hives"), *layout = join(layer, "Layout");
    char *base = join(layer, BLANK_BASE_VHD), *diff = join(layer, BLANK_VHD);
    intptr_t h = 0;
    int32_t hr;
    int r;

    /* SetupBaseOSLayer fails when these exist; it creates them itself (hcsshim). */
    if ((r = remove_if_present(hives, err)) < 0 || (r = remove_if_present(layout, err)) < 0 ||
        (r = remove_if_present(base, err)) < 0 || (r = remove_if_present(diff, err)) < 0)
        goto out;
    hr = c->create_virtual_disk(base, NULL, BASE_VHD_SIZE, BLOCK_SIZE, &h);
    if (hr < 0) {
        h = 0;
        r = stk_err_set_hresult(err, hr, NULL, "create '%s'", base);
        goto out;
    }
    hr = c->format_writable_layer_vhd(h);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "format '%s'", base);
        goto out;
    }
    /* The handle must be closed before SetupBaseOSLayer for a container layer (hcsshim). */
    c->close_handle(h);
    h = 0;
    hr = c->setup_base_os_layer(layer, 0, "{\"Type\":\"Container\"}");
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "set up the base layer '%s'", layer);
        goto out;
    }
    hr = c->create_virtual_disk(diff, base, 0, BLOCK_SIZE, &h);
    if (hr < 0) {
        h = 0;
        r = stk_err_set_hresult(err, hr, NULL, "create the differencing disk '%s'", diff);
        goto out;
    }
    c->close_handle(h);
    h = 0;
    if ((hr = c->grant_vm_group_access(base)) < 0 || (hr = c->grant_vm_group_access(diff)) < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "grant the Virtual Machines group access to '%s'",
                                layer);
        goto out;
    }
    r = 0;
out:
    if (h)
        c->close_handle(h);
    free(hives);
    free(layout);
    free(base);
    free(diff);
    return r;
}

/* SetupUtilityVMBaseLayer(uvm, SystemTemplateBase.vhdx, SystemTemplate.vhdx, 10 GB). */
static int setup_uvm_base(const struct hcs_storage_calls *c, const char *uvm, struct stk_err *err)
{
    char *base = join(uvm, UVM_BASE_VHD), *diff = join(uvm, UVM_DIFF_VHD);
    intptr_t h = 0;
    int attached = 0, r;
    int32_t hr;

    if ((r = remove_if_present(base, err)) < 0 || (r = remove_if_present(diff, err)) < 0)
        goto out;
    hr = c->create_virtual_disk(base, NULL, UVM_VHD_SIZE, BLOCK_SIZE, &h);
    if (hr < 0) {
        h = 0;
        r = stk_err_set_hresult(err, hr, NULL, "create '%s'", base);
        goto out;
    }
    /* A utility VM base VHD must be attached during SetupBaseOSLayer (hcsshim). */
    hr = c->attach_virtual_disk(h, HCS_VHD_ATTACH_NONE);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "attach '%s'", base);
        goto out;
    }
    attached = 1;
    hr = c->setup_base_os_layer(uvm, h, "{\"Type\":\"Vm\"}");
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "set up the utility VM image '%s'", uvm);
        goto out;
    }
    hr = c->detach_virtual_disk(h);
    attached = 0;
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "detach '%s'", base);
        goto out;
    }
    c->close_handle(h);
    h = 0;
    hr = c->create_virtual_disk(diff, base, 0, BLOCK_SIZE, &h);
    if (hr < 0) {
        h = 0;
        r = stk_err_set_hresult(err, hr, NULL, "create the differencing disk '%s'", diff);
        goto out;
    }
    c->close_handle(h);
    h = 0;
    if ((hr = c->grant_vm_group_access(base)) < 0 || (hr = c->grant_vm_group_access(diff)) < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "grant the Virtual Machines group access to '%s'",
                                uvm);
        goto out;
    }
    r = 0;
out:
    if (attached)
        c->detach_virtual_disk(h);
    if (h)
        c->close_handle(h);
    free(base);
    free(diff);
    return r;
}

/* ---- read-only layers ----------------------------------------------------- */

/* Destroys a layer folder that may be half made: HcsDestroyLayer, then whatever is left. */
static int discard_layer(const struct hcs_storage_calls *c, const char *path, struct stk_err *err)
{
    int32_t hr = 0;

    if (!stk_path_exists(path))
        return 0;
    hr = c->destroy_layer(path);
    if (stk_path_exists(path) && stk_rm_rf(path, NULL) < 0)
        return hr < 0 ? stk_err_set_hresult(err, hr, NULL, "destroy '%s'", path)
                      : stk_err_set(err, STK_EIO, 0, "remove '%s'", path);
    return 0;
}

/*
 * Imports layer K of DIGESTS (base first) into PATHS[K] unless its record
 * says it is there. PATHS and IDS are base first too.
 */
static int ensure_layer(struct rt_hcs_storage *s, const char *const *digests, size_t k,
                        char *const *paths, char *const *ids, struct stk_err *err)
{
    const struct hcs_storage_calls *c = s->calls;
    const char *hex = digests[k] + strlen("sha256:");
    char *record = stk_xasprintf("%s.layer", paths[k]), *staging = NULL, *blob = NULL;
    char *data = NULL, *uvm = NULL, *rec = NULL;
    char **top_paths = NULL, **top_ids = NULL;
    json_t *parents = NULL;
    int32_t hr;
    int r;

    if (stk_path_exists(record) && stk_path_is_dir(paths[k])) {
        r = 0;
        goto out;
    }
    /* A folder without a record is a half import (a crash, a failed step): never trusted. */
    stk_rm_rf(record, NULL); /* a record whose folder is gone */
    r = discard_layer(c, paths[k], err);
    if (r < 0)
        goto fail;
    blob = rt_image_blob_path(s->images, digests[k], err);
    if (!blob) {
        r = STK_EINVAL;
        goto fail;
    }
    if (!stk_path_exists(blob)) {
        r = stk_err_set(err, STK_ENOENT, 0, "the blob is not in the image store");
        goto fail;
    }
    staging = stk_xasprintf("%s" SEP ".staging-%s", s->layers_root, hex);
    if ((r = stk_rm_rf(staging, err)) < 0 || (r = stk_mkdir_p(staging, 0700, err)) < 0)
        goto fail;
    r = extract_layer(c, blob, staging, err);
    if (r < 0)
        goto fail;
    if ((r = stk_mkdir_p(paths[k], 0755, err)) < 0)
        goto fail;
    /* The parents, topmost first. */
    top_paths = stk_xcalloc(k + 1, sizeof(char *));
    top_ids = stk_xcalloc(k + 1, sizeof(char *));
    parents = json_array();
    for (size_t i = 0; i < k; i++) {
        top_paths[i] = paths[k - 1 - i];
        top_ids[i] = ids[k - 1 - i];
        json_array_append_new(parents, json_string(digests[k - 1 - i]));
    }
    data = layer_data(top_paths, top_ids, k);
    hr = c->import_layer(paths[k], staging, data);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "HcsImportLayer '%s'", paths[k]);
        goto fail;
    }
    if (k == 0) {
        r = setup_container_base(c, paths[k], err);
        if (r < 0)
            goto fail;
        uvm = join(paths[k], UVM_DIR);
        if (stk_path_is_dir(uvm) && (r = setup_uvm_base(c, uvm, err)) < 0)
            goto fail;
    }
    {
        json_t *j = json_pack("{s:s,s:o}", "digest", digests[k], "parents", parents);

        parents = NULL;
        rec = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    r = stk_file_write_atomic(record, rec, strlen(rec), 0644, 1, err);
    if (r < 0)
        goto fail;
    stk_rm_rf(staging, NULL);
    goto out;
fail:
    stk_err_wrap(err, "import layer '%s'", digests[k]);
    discard_layer(c, paths[k], NULL);
    if (staging)
        stk_rm_rf(staging, NULL);
out:
    json_decref(parents);
    free(top_paths);
    free(top_ids);
    free(record);
    free(staging);
    free(blob);
    free(data);
    free(uvm);
    free(rec);
    return r;
}

/* ---- scratch ---------------------------------------------------------------- */

/*
 * Undoes a (possibly half) prepared scratch folder DIR: storage filter off,
 * VHD detached, HcsDestroyLayer, the folder removed. Each step tolerates
 * what an earlier crash may have left undone.
 */
static int release_scratch(const struct hcs_storage_calls *c, const char *dir, struct stk_err *err)
{
    char *sandbox = join(dir, SANDBOX_VHD), *vol = NULL;
    intptr_t h = 0;
    int32_t hr = 0;
    int r = 0;

    if (!stk_path_exists(dir))
        goto out;
    if (stk_path_exists(sandbox) && c->open_virtual_disk(sandbox, &h) >= 0) {
        /* Only an attached VHD has a mount path; the filter, if any, sits on it. */
        if (c->get_layer_vhd_mount_path(h, &vol) >= 0 && vol && *vol) {
            hr = c->detach_layer_storage_filter(vol);
            if (hr < 0 && !stk_win_hresult_is_not_found(hr)) {
                r = stk_err_set_hresult(err, hr, NULL, "HcsDetachLayerStorageFilter '%s'", vol);
                goto out;
            }
        }
        /* A VHD that is not attached is the ordinary case: errors ignored. */
        c->detach_virtual_disk(h);
    }
    hr = c->destroy_layer(dir);
    if (stk_path_exists(dir))
        stk_rm_rf(dir, NULL);
    if (stk_path_exists(dir))
        r = hr < 0 ? stk_err_set_hresult(err, hr, NULL, "HcsDestroyLayer '%s'", dir)
                   : stk_err_set(err, STK_EIO, 0, "remove '%s'", dir);
out:
    if (h)
        c->close_handle(h);
    if (vol)
        c->free_string(vol);
    free(sandbox);
    return r;
}

static int copy_vhd(const struct hcs_storage_calls *c, const char *src, const char *dst,
                    struct stk_err *err)
{
    int32_t hr;

    if (!stk_path_exists(src))
        return stk_err_set(err, STK_EIMAGE, 0, "'%s' is missing: the layer is not set up", src);
    hr = c->copy_file(src, dst);
    if (hr < 0)
        return stk_err_set_hresult(err, hr, NULL, "copy '%s' to '%s'", src, dst);
    hr = c->grant_vm_group_access(dst);
    if (hr < 0)
        return stk_err_set_hresult(err, hr, NULL, "grant the Virtual Machines group access to '%s'",
                                   dst);
    return 0;
}

/*
 * Makes the scratch of a container in DIR over the base layer BASE (and the
 * utility VM image UVM for Hyper-V); LAYER_DATA lists every read-only layer.
 * Process isolation stores the volume in *RET_VOLUME (new string).
 */
static int make_scratch(const struct hcs_storage_calls *c, const char *dir, const char *base,
                        const char *uvm, enum rt_isolation iso, const char *layer_data,
                        char **ret_volume, struct stk_err *err)
{
    char *sandbox = join(dir, SANDBOX_VHD), *blank = join(base, BLANK_VHD);
    char *vmdir = NULL, *vmsrc = NULL, *vmdst = NULL, *vol = NULL, *volume = NULL;
    intptr_t h = 0;
    int32_t hr;
    int r;

    if ((r = stk_mkdir_p(dir, 0700, err)) < 0)
        goto out;
    if ((r = copy_vhd(c, blank, sandbox, err)) < 0)
        goto out;
    if (iso == RT_ISOLATION_HYPERV) {
        vmdir = join(dir, "vm");
        vmsrc = join(uvm, UVM_DIFF_VHD);
        vmdst = join(vmdir, SANDBOX_VHD);
        if ((r = stk_mkdir_p(vmdir, 0700, err)) < 0)
            goto out;
        r = copy_vhd(c, vmsrc, vmdst, err);
        goto out;
    }
    hr = c->open_virtual_disk(sandbox, &h);
    if (hr < 0) {
        h = 0;
        r = stk_err_set_hresult(err, hr, NULL, "OpenVirtualDisk '%s'", sandbox);
        goto out;
    }
    /* Permanent: the volume must outlive the process that made it (`up -d`). */
    hr = c->attach_virtual_disk(h,
                                HCS_VHD_ATTACH_PERMANENT_LIFETIME | HCS_VHD_ATTACH_NO_DRIVE_LETTER);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "AttachVirtualDisk '%s'", sandbox);
        goto out;
    }
    hr = c->get_layer_vhd_mount_path(h, &vol);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "HcsGetLayerVhdMountPath '%s'", sandbox);
        goto out;
    }
    if (!vol || !*vol) {
        r = stk_err_set(err, STK_EPERM, 0,
                        "'%s' was attached without a volume (process isolation needs an "
                        "elevated caller)",
                        sandbox);
        goto out;
    }
    volume = vol[strlen(vol) - 1] == '\\' ? stk_xstrdup(vol) : stk_xasprintf("%s\\", vol);
    hr = c->initialize_writable_layer(volume, layer_data, NULL);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "HcsInitializeWritableLayer '%s'", volume);
        goto out;
    }
    hr = c->attach_layer_storage_filter(volume, layer_data);
    if (hr < 0) {
        r = stk_err_set_hresult(err, hr, NULL, "HcsAttachLayerStorageFilter '%s'", volume);
        goto out;
    }
    *ret_volume = volume;
    volume = NULL;
    r = 0;
out:
    if (h)
        c->close_handle(h);
    if (vol)
        c->free_string(vol);
    free(volume);
    free(sandbox);
    free(blank);
    free(vmdir);
    free(vmsrc);
    free(vmdst);
    return r;
}

/* ---- the image's os.version --------------------------------------------- */

/* Returns the os.version of a stored image whose layers are exactly DIGESTS, or "". */
static char *find_os_version(struct rt_image_store *images, const char *const *digests)
{
    struct rt_image_list l = {0};
    char *found = NULL;

    if (rt_image_list(images, &l, NULL) < 0)
        return stk_xstrdup("");
    for (size_t i = 0; i < l.n && !found; i++) {
        struct rt_image *img = NULL;
        size_t k = 0;

        if (!l.items[i].manifest_digest ||
            rt_image_get(images, l.items[i].manifest_digest, NULL, &img, NULL) < 0)
            continue;
        while (digests[k] && img->layer_digests[k] &&
               strcmp(digests[k], img->layer_digests[k]) == 0)
            k++;
        if (!digests[k] && !img->layer_digests[k] && img->os_version && *img->os_version)
            found = stk_xstrdup(img->os_version);
        rt_image_free(img);
    }
    rt_image_list_release(&l);
    return found ? found : stk_xstrdup("");
}

/* ---- the driver's table ------------------------------------------------------ */

static int id_ok(const char *id)
{
    return id && *id && strcmp(id, ".") != 0 && strcmp(id, "..") != 0 && !strchr(id, '/') &&
           !strchr(id, '\\') && !strchr(id, ':');
}

static int storage_prepare(void *self, const char *id, const char *const *digests,
                           enum rt_isolation iso, struct rt_hcs_storage_result *ret,
                           struct stk_err *err)
{
    struct rt_hcs_storage *s = self;
    struct stk_strv paths = STK_STRV_INIT, ids = STK_STRV_INIT;
    struct rt_hcs_storage_result res = {0};
    char **top_paths = NULL, **top_ids = NULL;
    char *data = NULL, *dir = NULL;
    size_t n = digests ? stk_strv_len((char *const *)digests) : 0;
    int r = 0;

    if (!id_ok(id) || !ret || (iso != RT_ISOLATION_PROCESS && iso != RT_ISOLATION_HYPERV))
        return stk_err_set(err, STK_EINVAL, 0, "hcs storage: bad container id or isolation");
    if (n == 0)
        return stk_err_set(err, STK_EIMAGE, 0, "container '%s' has no layers", id);
    if (!s->images)
        return stk_err_set(err, STK_EIMAGE, 0, "container '%s': no image store to read layers from",
                           id);
    stk_strv_init(&paths);
    stk_strv_init(&ids);
    for (size_t k = 0; k < n; k++) {
        char guid[37];

        if (!rt_image_digest_valid(digests[k])) {
            r = stk_err_set(err, STK_EINVAL, 0, "container '%s': '%s' is not a layer digest", id,
                            digests[k]);
            goto out;
        }
        stk_strv_push_take(&paths, join(s->layers_root, digests[k] + strlen("sha256:")));
        rt_hcs_name_guid(digests[k] + strlen("sha256:"), guid);
        stk_strv_push(&ids, guid);
    }
    uv_mutex_lock(&s->lock);
    for (size_t k = 0; k < n && r == 0; k++)
        r = ensure_layer(s, digests, k, paths.v, ids.v, err);
    uv_mutex_unlock(&s->lock);
    if (r < 0) {
        stk_err_wrap(err, "container '%s'", id);
        goto out;
    }

    /* HCS takes the topmost layer first (reference §1.2). */
    top_paths = stk_xcalloc(n + 1, sizeof(char *));
    top_ids = stk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        top_paths[i] = stk_xstrdup(paths.v[n - 1 - i]);
        top_ids[i] = stk_xstrdup(ids.v[n - 1 - i]);
    }
    res.layer_paths = top_paths;
    res.layer_ids = top_ids;
    /* The topmost layer with a UtilityVM folder (reference §2.3, hcsshim uvmfolder). */
    for (size_t i = 0; i < n && !res.uvm_image_path; i++) {
        char *uvm = join(top_paths[i], UVM_DIR);

        if (stk_path_is_dir(uvm))
            res.uvm_image_path = uvm;
        else
            free(uvm);
    }
    if (iso == RT_ISOLATION_HYPERV && !res.uvm_image_path) {
        r = stk_err_set(err, STK_EIMAGE, 0,
                        "container '%s': no layer has a UtilityVM folder (Hyper-V isolation "
                        "needs one)",
                        id);
        goto out;
    }
    data = layer_data(top_paths, top_ids, n);
    dir = join(s->scratch_root, id);
    /* A scratch left by a crashed or failed earlier attempt is removed first. */
    r = release_scratch(s->calls, dir, err);
    if (r == 0)
        r = make_scratch(s->calls, dir, top_paths[n - 1], res.uvm_image_path, iso, data,
                         &res.scratch_volume, err);
    if (r < 0) {
        release_scratch(s->calls, dir, NULL);
        stk_err_wrap(err, "container '%s': prepare the scratch '%s'", id, dir);
        goto out;
    }
    res.scratch_dir = dir;
    dir = NULL;
    res.os_version = find_os_version(s->images, digests);
    *ret = res;
    memset(&res, 0, sizeof(res));
out:
    rt_hcs_storage_result_release(&res);
    stk_strv_release(&paths);
    stk_strv_release(&ids);
    free(data);
    free(dir);
    return r;
}

static int storage_release(void *self, const char *id, struct stk_err *err)
{
    struct rt_hcs_storage *s = self;
    char *dir;
    int r;

    if (!id_ok(id))
        return stk_err_set(err, STK_EINVAL, 0, "hcs storage: bad container id");
    dir = join(s->scratch_root, id);
    r = release_scratch(s->calls, dir, err);
    if (r < 0)
        stk_err_wrap(err, "container '%s': release the scratch", id);
    free(dir);
    return r;
}

struct rt_hcs_storage *rt_hcs_storage_new(const char *layers_root, const char *scratch_root,
                                          struct rt_image_store *images,
                                          const struct hcs_storage_calls *calls,
                                          struct stk_err *err)
{
    struct rt_hcs_storage *s;

    if (!layers_root || !*layers_root || !scratch_root || !*scratch_root || !calls ||
        !calls->import_layer || !calls->destroy_layer || !calls->setup_base_os_layer ||
        !calls->initialize_writable_layer || !calls->attach_layer_storage_filter ||
        !calls->detach_layer_storage_filter || !calls->format_writable_layer_vhd ||
        !calls->get_layer_vhd_mount_path || !calls->create_virtual_disk ||
        !calls->open_virtual_disk || !calls->attach_virtual_disk || !calls->detach_virtual_disk ||
        !calls->close_handle || !calls->copy_file || !calls->grant_vm_group_access ||
        !calls->free_string || !calls->apply_backup_stream) {
        stk_err_set(err, STK_EINVAL, 0,
                    "hcs storage: folders and a complete call table are needed");
        return NULL;
    }
    s = stk_new0(struct rt_hcs_storage);
    s->layers_root = stk_xstrdup(layers_root);
    s->scratch_root = stk_xstrdup(scratch_root);
    s->images = images;
    s->calls = calls;
    s->api.prepare = storage_prepare;
    s->api.release = storage_release;
    s->api.self = s;
    uv_mutex_init(&s->lock);
    return s;
}

const struct rt_hcs_storage_api *rt_hcs_storage_api_of(struct rt_hcs_storage *s)
{
    return s ? &s->api : NULL;
}

void rt_hcs_storage_free(struct rt_hcs_storage *s)
{
    if (!s)
        return;
    uv_mutex_destroy(&s->lock);
    free(s->layers_root);
    free(s->scratch_root);
    free(s);
}

void rt_hcs_storage_result_release(struct rt_hcs_storage_result *r)
{
    if (!r)
        return;
    stk_strv_free(r->layer_paths);
    stk_strv_free(r->layer_ids);
    free(r->scratch_dir);
    free(r->scratch_volume);
    free(r->uvm_image_path);
    free(r->os_version);
    memset(r, 0, sizeof(*r));
}
