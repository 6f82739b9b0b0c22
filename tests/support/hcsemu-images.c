/* hcsemu-images.c - Windows image layouts for the emulator's tests (tests/hcsemu/hcsemu-images.h).
 */
#include "tests/hcsemu/hcsemu-images.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "runtime/image/rt-image.h"

/* A fixed time for every entry, so that equal layers have equal digests. */
#define ENTRY_MTIME 1700000000

static void write_dir(struct archive *a, const char *path)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, ENTRY_MTIME, 0);
    cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
    archive_entry_free(e);
}

/* Writes the directories above PATH not yet in DONE, outermost first. */
static void write_parents(struct archive *a, const char *path, struct stk_strv *done)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        char *dir = stk_xstrndup(path, (size_t)(s - path));

        if (!stk_strv_contains(done, dir)) {
            write_dir(a, dir);
            stk_strv_push(done, dir);
        }
        free(dir);
    }
}

static void *tar_of(const struct hcsemu_entry *entries, int gzip, size_t *ret_len)
{
    struct archive *a = archive_write_new();
    struct stk_strv done = STK_STRV_INIT;
    size_t cap = 256 * 1024, used = 0;
    char *buf = stk_xmalloc(cap);

    stk_strv_init(&done);
    archive_write_set_format_pax_restricted(a);
    if (gzip) {
        cr_assert_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        /* No time stamp in the gzip header: the same layer, the same blob. */
        cr_assert_eq(archive_write_set_filter_option(a, "gzip", "timestamp", NULL), ARCHIVE_OK);
    }
    archive_write_set_bytes_per_block(a, 0);
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; entries[i].path; i++) {
        const struct hcsemu_entry *en = &entries[i];
        struct archive_entry *e;
        size_t len;

        write_parents(a, en->path, &done);
        if (!en->data) {
            if (!stk_strv_contains(&done, en->path)) {
                write_dir(a, en->path);
                stk_strv_push(&done, en->path);
            }
            continue;
        }
        len = strlen(en->data);
        e = archive_entry_new();
        archive_entry_set_pathname(e, en->path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_mtime(e, ENTRY_MTIME, 0);
        archive_entry_set_size(e, (la_int64_t)len);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        if (len)
            cr_assert_eq(archive_write_data(a, en->data, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK, "%s", archive_error_string(a));
    archive_write_free(a);
    stk_strv_release(&done);
    *ret_len = used;
    return buf;
}

void *hcsemu_layer_tar(const struct hcsemu_entry *entries, int gzip, size_t *ret_len,
                       char *ret_diff_id)
{
    if (ret_diff_id) {
        size_t plain_len;
        void *plain = tar_of(entries, 0, &plain_len);

        stk_sha256_digest(plain, plain_len, ret_diff_id);
        if (!gzip) {
            *ret_len = plain_len;
            return plain;
        }
        free(plain);
    }
    return tar_of(entries, gzip, ret_len);
}

void hcsemu_layout_init(const char *dir)
{
    struct stk_err err = STK_ERR_INIT;
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir),
         *path = stk_xasprintf("%s/oci-layout", dir);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0, "%s", err.msg);
    cr_assert_eq(stk_file_write_atomic(path, layout, strlen(layout), 0644, 0, &err), 0, "%s",
                 err.msg);
    free(blobs);
    free(path);
}

void hcsemu_layout_blob(const char *dir, const void *data, size_t len, char *ret_digest)
{
    struct stk_err err = STK_ERR_INIT;
    char *path;

    stk_sha256_digest(data, len, ret_digest);
    path = stk_xasprintf("%s/blobs/sha256/%s", dir, ret_digest + 7);
    cr_assert_eq(stk_file_write_atomic(path, data, len, 0644, 0, &err), 0, "%s", err.msg);
    free(path);
}

void hcsemu_layout_manifest(const char *dir, const char *os, const char *os_version,
                            const char *cmd, const struct hcsemu_layer *layers, size_t n,
                            struct hcsemu_manifest *ret)
{
    struct stk_buf descs = STK_BUF_INIT, diffs = STK_BUF_INIT;
    struct stk_strv digests = STK_STRV_INIT;
    char cfgd[STK_DIGEST_STR_LEN], *vers, *cfg, *man;

    stk_strv_init(&digests);
    for (size_t i = 0; i < n; i++) {
        char diff[STK_DIGEST_STR_LEN], digest[STK_DIGEST_STR_LEN];
        size_t len;
        void *tar = hcsemu_layer_tar(layers[i].entries, layers[i].gzip, &len, diff);

        hcsemu_layout_blob(dir, tar, len, digest);
        stk_buf_printf(
            &descs, "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", i ? "," : "",
            layers[i].gzip ? RT_IMAGE_MT_OCI_LAYER_GZIP : RT_IMAGE_MT_OCI_LAYER, digest, len);
        stk_buf_printf(&diffs, "%s\"%s\"", i ? "," : "", diff);
        stk_strv_push(&digests, digest);
        free(tar);
    }
    vers = os_version && *os_version ? stk_xasprintf("\"os.version\":\"%s\",", os_version)
                                     : stk_xstrdup("");
    cfg = stk_xasprintf("{\"architecture\":\"amd64\",\"os\":\"%s\",%s\"config\":{\"Cmd\":[\"%s\"]},"
                        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
                        os, vers, cmd, diffs.buf ? diffs.buf : "");
    hcsemu_layout_blob(dir, cfg, strlen(cfg), cfgd);
    man = stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                        "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[%s]}",
                        RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cfgd, strlen(cfg),
                        descs.buf ? descs.buf : "");
    hcsemu_layout_blob(dir, man, strlen(man), ret->digest);
    ret->size = strlen(man);
    ret->layers = digests.v;
    stk_buf_release(&descs);
    stk_buf_release(&diffs);
    free(vers);
    free(cfg);
    free(man);
}

void hcsemu_manifest_release(struct hcsemu_manifest *m)
{
    if (!m)
        return;
    stk_strv_free(m->layers);
    m->layers = NULL;
}

char *hcsemu_layout_descriptor(const struct hcsemu_manifest *m, const char *os,
                               const char *os_version, const char *annotation, const char *ref)
{
    struct stk_buf b = STK_BUF_INIT;
    char *s;

    stk_buf_printf(&b, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu",
                   RT_IMAGE_MT_OCI_MANIFEST, m->digest, m->size);
    if (os) {
        stk_buf_printf(&b, ",\"platform\":{\"architecture\":\"amd64\",\"os\":\"%s\"", os);
        if (os_version && *os_version)
            stk_buf_printf(&b, ",\"os.version\":\"%s\"", os_version);
        stk_buf_putc(&b, '}');
    }
    if (annotation && ref)
        stk_buf_printf(&b, ",\"annotations\":{\"%s\":\"%s\"}", annotation, ref);
    stk_buf_putc(&b, '}');
    s = stk_xstrdup(b.buf);
    stk_buf_release(&b);
    return s;
}

void hcsemu_layout_index(const char *dir, const char *const *descriptors)
{
    struct stk_err err = STK_ERR_INIT;
    struct stk_buf b = STK_BUF_INIT;
    char *path = stk_xasprintf("%s/index.json", dir);

    stk_buf_printf(&b, "{\"schemaVersion\":2,\"manifests\":[");
    for (size_t i = 0; descriptors[i]; i++)
        stk_buf_printf(&b, "%s%s", i ? "," : "", descriptors[i]);
    stk_buf_printf(&b, "]}");
    cr_assert_eq(stk_file_write_atomic(path, b.buf, b.len, 0644, 0, &err), 0, "%s", err.msg);
    stk_buf_release(&b);
    free(path);
}

void hcsemu_layout_windows_image(const char *dir, const char *os_version, int with_uvm,
                                 const char *tag, struct hcsemu_manifest *ret)
{
    char *build = stk_xasprintf("%s\n", os_version);
    char *app_path = stk_xasprintf("Files/%s.txt", tag), *app_text = stk_xasprintf("%s\r\n", tag);
    const struct hcsemu_entry base[] = {
        {"Files/Windows/System32/cmd.exe", "cmd\r\n"},
        {HCSEMU_BUILD_FILE, build},
        {"Hives/Software_Delta", "hive\r\n"},
        {"Hives/System_Delta", "hive\r\n"},
        {with_uvm ? "UtilityVM/Files/EFI/Microsoft/Boot/bootmgfw.efi" : NULL, "efi\r\n"},
        {NULL, NULL},
    };
    const struct hcsemu_entry app[] = {{app_path, app_text}, {NULL, NULL}};
    const struct hcsemu_layer layers[] = {{base, 0}, {app, 1}};

    hcsemu_layout_manifest(dir, "windows", os_version, tag, layers, 2, ret);
    free(build);
    free(app_path);
    free(app_text);
}
