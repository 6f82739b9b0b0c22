/*
 * test-rt-image.c - the image store (runtime/image/rt-image.h): layout import
 * from a directory and from archives, digest verification, references,
 * platform selection, listing.
 *
 * The busybox example image is built by examples/images/build-busybox.sh into
 * a temporary directory for each test; the expected digests are computed
 * here independently (sha256sum, gzip) rather than copied from the store.
 */
#include "runtime/image/rt-image.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/stk-alloc.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"

static char tmpdir[] = "/tmp/test-rt-image.XXXXXX";
static char *state_dir;
static char *layout_dir;
static struct rt_image_store *store;

static void run(const char *cmd)
{
    int st = system(cmd);
    cr_assert_eq(st, 0, "command failed (%d): %s", st, cmd);
}

/* Runs CMD and returns its first line of output (new string, newline stripped). */
static char *run_capture(const char *cmd)
{
    char line[512] = "";
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    cr_assert_not_null(fgets(line, sizeof(line), p), "no output from %s", cmd);
    cr_assert_eq(pclose(p), 0, "command failed: %s", cmd);
    line[strcspn(line, "\n")] = '\0';
    return stk_xstrdup(line);
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;
    char *cmd;

    cr_assert_not_null(mkdtemp(tmpdir));
    state_dir = stk_xasprintf("%s/state", tmpdir);
    layout_dir = stk_xasprintf("%s/busybox", tmpdir);
    cmd = stk_xasprintf("%s/examples/images/build-busybox.sh '%s' >/dev/null", STK_SOURCE_DIR,
                        layout_dir);
    run(cmd);
    free(cmd);
    cr_assert_eq(rt_image_store_open(state_dir, &store, &err), 0, "open: %s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    rt_image_store_close(store);
    store = NULL;
    stk_rm_rf(tmpdir, &err);
    free(state_dir);
    free(layout_dir);
}

/* The manifest digest index.json names, read independently of the store. */
static char *layout_manifest_digest(const char *dir)
{
    char *path = stk_xasprintf("%s/index.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j, "parse %s", path);
    const char *d = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "manifests"), 0), "digest"));
    char *r = stk_xstrdup(d);
    json_decref(j);
    free(path);
    return r;
}

TestSuite(rt_image, .init = setup, .fini = teardown, .timeout = 120);

Test(rt_image, load_layout_verifies_and_records_reference)
{
    struct stk_err err = STK_ERR_INIT;
    char *digest = NULL, *want = layout_manifest_digest(layout_dir);
    char *blob, *cmd, *hex;

    cr_assert_eq(rt_image_load_layout(store, layout_dir, NULL, &digest, &err), 0, "load: %s",
                 err.msg);
    cr_assert_str_eq(digest, want);

    /* The stored manifest blob is content-addressed: its sha256sum is its name. */
    blob = rt_image_blob_path(store, digest, &err);
    cr_assert_not_null(blob);
    cmd = stk_xasprintf("sha256sum '%s' | cut -d' ' -f1", blob);
    hex = run_capture(cmd);
    cr_assert_str_eq(hex, digest + 7);

    struct rt_image *img = NULL;
    cr_assert_eq(rt_image_resolve(store, "busybox:latest", NULL, &img, &err), 0, "resolve: %s",
                 err.msg);
    cr_assert_str_eq(img->ref, "busybox:latest");
    cr_assert_str_eq(img->manifest_digest, want);
    cr_assert_str_eq(img->os, "linux");
    cr_assert_str_eq(img->architecture, "amd64");
    cr_assert_eq(img->n_layers, 1);
    cr_assert_str_eq(img->layers[0].media_type, RT_IMAGE_MT_OCI_LAYER_GZIP);
    cr_assert_str_eq(img->layer_digests[0], img->layers[0].digest);
    cr_assert_null(img->layer_digests[1]);
    cr_assert_not_null(img->cmd);
    cr_assert_str_eq(img->cmd[0], "sh");
    cr_assert_null(img->cmd[1]);
    cr_assert_null(img->entrypoint);
    cr_assert_not_null(img->env);
    cr_assert(strncmp(img->env[0], "PATH=", 5) == 0, "env[0] = %s", img->env[0]);

    /* diff_id is the digest of the uncompressed layer: check it with gzip + sha256sum. */
    char *layer = rt_image_blob_path(store, img->layer_digests[0], &err);
    char *cmd2 = stk_xasprintf("gzip -dc '%s' | sha256sum | cut -d' ' -f1", layer);
    char *diff_hex = run_capture(cmd2);
    cr_assert_str_eq(img->diff_ids[0] + 7, diff_hex);
    cr_assert_str_eq(img->layers[0].diff_id, img->diff_ids[0]);
    struct stat st;
    cr_assert_eq(stat(layer, &st), 0);
    cr_assert_eq(st.st_size, img->layers[0].size);

    /* "busybox" means "busybox:latest". */
    struct rt_image *img2 = NULL;
    cr_assert_eq(rt_image_resolve(store, "busybox", NULL, &img2, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img2->manifest_digest, want);

    rt_image_free(img);
    rt_image_free(img2);
    free(layer);
    free(cmd2);
    free(diff_hex);
    free(blob);
    free(cmd);
    free(hex);
    free(digest);
    free(want);
}

Test(rt_image, resolve_by_path_imports_idempotently)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image *a = NULL, *b = NULL, *c = NULL;
    char *want = layout_manifest_digest(layout_dir);

    cr_assert_eq(rt_image_resolve(store, layout_dir, NULL, &a, &err), 0, "%s", err.msg);
    cr_assert_str_eq(a->manifest_digest, want);
    cr_assert_str_eq(a->ref, "busybox:latest");
    /* A second resolve of the same path succeeds and names the same image. */
    cr_assert_eq(rt_image_resolve(store, layout_dir, NULL, &b, &err), 0, "%s", err.msg);
    cr_assert_str_eq(b->manifest_digest, want);
    cr_assert_str_eq(b->config_digest, a->config_digest);
    /* The import recorded the reference. */
    cr_assert_eq(rt_image_resolve(store, "busybox:latest", NULL, &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c->manifest_digest, want);
    /* By digest. */
    char *byd = stk_xasprintf("busybox@%s", want);
    struct rt_image *d = NULL;
    cr_assert_eq(rt_image_resolve(store, byd, NULL, &d, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d->config_digest, a->config_digest);
    rt_image_free(d);
    free(byd);
    rt_image_free(a);
    rt_image_free(b);
    rt_image_free(c);
    free(want);
}

Test(rt_image, load_from_tar_and_tar_gz_archives)
{
    struct stk_err err = STK_ERR_INIT;
    char *want = layout_manifest_digest(layout_dir);
    char *digest = NULL;
    char *cmd = stk_xasprintf("tar -C '%s' -cf '%s/img.tar' . && tar -C '%s' -czf '%s/img.tgz' "
                              "oci-layout index.json blobs",
                              layout_dir, tmpdir, layout_dir, tmpdir);
    run(cmd);
    char *tarpath = stk_xasprintf("%s/img.tar", tmpdir);
    cr_assert_eq(rt_image_load_layout(store, tarpath, NULL, &digest, &err), 0, "%s", err.msg);
    cr_assert_str_eq(digest, want);
    free(digest);
    digest = NULL;

    /* A second store, from the compressed archive. */
    struct rt_image_store *s2 = NULL;
    char *sd2 = stk_xasprintf("%s/state2", tmpdir);
    cr_assert_eq(rt_image_store_open(sd2, &s2, &err), 0, "%s", err.msg);
    char *tgz = stk_xasprintf("%s/img.tgz", tmpdir);
    struct rt_image *img = NULL;
    cr_assert_eq(rt_image_resolve(s2, tgz, NULL, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->manifest_digest, want);
    cr_assert_str_eq(img->ref, "busybox:latest");
    /* The staging copy is gone. */
    char *tmp = stk_xasprintf("%s/tmp", rt_image_store_dir(s2));
    char *ls = stk_xasprintf("ls -A '%s' | wc -l", tmp);
    char *count = run_capture(ls);
    cr_assert_str_eq(count, "0", "tmp/ not empty after an archive import");
    rt_image_free(img);
    rt_image_store_close(s2);
    free(tmp);
    free(ls);
    free(count);
    free(sd2);
    free(tgz);
    free(tarpath);
    free(cmd);
    free(want);
}

Test(rt_image, corrupt_blob_is_a_digest_error_naming_the_blob)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image *img = NULL;
    char *digest = NULL;

    /* Find the layer blob through the manifest and flip its last byte. */
    cr_assert_eq(rt_image_load_layout(store, layout_dir, NULL, &digest, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_resolve(store, "busybox", NULL, &img, &err), 0, "%s", err.msg);
    char *layer = stk_xasprintf("%s/blobs/sha256/%s", layout_dir, img->layer_digests[0] + 7);
    FILE *f = fopen(layer, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, -1, SEEK_END), 0);
    int ch = fgetc(f);
    cr_assert_eq(fseek(f, -1, SEEK_END), 0);
    fputc(ch ^ 0xff, f);
    fclose(f);

    /* A fresh store must refuse the layout. */
    struct rt_image_store *s2 = NULL;
    char *sd2 = stk_xasprintf("%s/state2", tmpdir);
    cr_assert_eq(rt_image_store_open(sd2, &s2, &err), 0, "%s", err.msg);
    char *d2 = NULL;
    int r = rt_image_load_layout(s2, layout_dir, NULL, &d2, &err);
    cr_assert_eq(r, STK_EDIGEST, "got %d (%s)", r, err.msg);
    cr_assert_eq(err.code, STK_EDIGEST);
    cr_assert_not_null(strstr(err.msg, img->layer_digests[0]), "message: %s", err.msg);
    cr_assert_null(d2);
    /* Nothing was recorded and the bad blob is not in the store. */
    stk_err_clear(&err);
    struct rt_image *none = NULL;
    cr_assert_eq(rt_image_resolve(s2, "busybox", NULL, &none, &err), STK_ENOENT);
    char *bp = rt_image_blob_path(s2, img->layer_digests[0], &err);
    cr_assert_not(stk_path_exists(bp), "corrupt blob was stored");

    free(bp);
    rt_image_store_close(s2);
    free(sd2);
    free(layer);
    rt_image_free(img);
    free(digest);
}

Test(rt_image, missing_image_is_enoent_with_message)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image *img = NULL;

    int r = rt_image_resolve(store, "nope", NULL, &img, &err);
    cr_assert_eq(r, STK_ENOENT);
    cr_assert_str_eq(err.msg, "image 'nope:latest' not found");
    cr_assert_null(img);
    stk_err_clear(&err);
    r = rt_image_resolve(store, "registry.local:5000/team/app:1.2", NULL, &img, &err);
    cr_assert_eq(r, STK_ENOENT);
    cr_assert_str_eq(err.msg, "image 'registry.local:5000/team/app:1.2' not found");
    stk_err_clear(&err);
    r = rt_image_resolve(store, "/nonexistent/layout", NULL, &img, &err);
    cr_assert_eq(r, STK_ENOENT, "%s", err.msg);
}

Test(rt_image, blob_path_rejects_malformed_digests)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_null(rt_image_blob_path(store, "sha256:../../etc/passwd", &err));
    cr_assert_eq(err.code, STK_EINVAL);
    cr_assert_null(rt_image_blob_path(store, "sha256:ABCDEF", NULL));
    cr_assert_null(rt_image_blob_path(store, "md5:0123", NULL));
    char d[STK_DIGEST_STR_LEN];
    stk_sha256_digest("x", 1, d);
    char *p = rt_image_blob_path(store, d, &err);
    cr_assert_not_null(p);
    char *want = stk_xasprintf("%s/blobs/sha256/%s", rt_image_store_dir(store), d + 7);
    cr_assert_str_eq(p, want);
    free(p);
    free(want);
}

Test(rt_image, reference_normalisation)
{
    struct stk_err err = STK_ERR_INIT;
    char *s;

    s = rt_image_ref_normalize("busybox", &err);
    cr_assert_str_eq(s, "busybox:latest");
    free(s);
    s = rt_image_ref_normalize("localhost:5000/app", &err);
    cr_assert_str_eq(s, "localhost:5000/app:latest");
    free(s);
    s = rt_image_ref_normalize("a/b:v1", &err);
    cr_assert_str_eq(s, "a/b:v1");
    free(s);
    cr_assert_null(rt_image_ref_normalize("busybox:", &err));
    cr_assert_null(rt_image_ref_normalize("bad name", &err));
    cr_assert_null(rt_image_ref_normalize("x@sha256:123", &err));
    cr_assert_null(rt_image_ref_normalize("", &err));
}

Test(rt_image, list_and_untag)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_list l;

    cr_assert_eq(rt_image_list(store, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 0);
    rt_image_list_release(&l);
    cr_assert_eq(rt_image_load_layout(store, layout_dir, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_list(store, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.items[0].ref, "busybox:latest");
    cr_assert_str_eq(l.items[0].os, "linux");
    /* The size is at least the busybox binary (in a gzip layer). */
    cr_assert_gt(l.items[0].size, 500000);
    rt_image_list_release(&l);
    cr_assert_eq(rt_image_untag(store, "busybox", &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_untag(store, "busybox", &err), STK_ENOENT);
    cr_assert_eq(rt_image_list(store, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 0);
    rt_image_list_release(&l);
}

/* ---- platform selection --------------------------------------------------------------- */

Test(rt_image_platform, select_rules)
{
    struct rt_image_platform c[] = {
        {.os = "windows", .architecture = "amd64", .os_version = "10.0.17763.5458"},
        {.os = "linux", .architecture = "arm", .variant = "v7"},
        {.os = "linux", .architecture = "arm64", .variant = "v8"},
        {.os = "linux", .architecture = "amd64"},
        {.os = "windows", .architecture = "amd64", .os_version = "10.0.20348.2340"},
    };
    struct rt_image_platform w;

    w = (struct rt_image_platform){.os = "linux", .architecture = "x86_64"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 3);
    w = (struct rt_image_platform){.os = "linux", .architecture = "aarch64"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 2);
    w = (struct rt_image_platform){.os = "linux", .architecture = "arm64", .variant = "v8"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 2);
    w = (struct rt_image_platform){.os = "linux", .architecture = "arm", .variant = "v6"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), -1);
    w = (struct rt_image_platform){.os = "linux", .architecture = "armhf"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 1);
    /* Windows: the candidate with the host's build wins over an earlier one. */
    w = (struct rt_image_platform){
        .os = "windows", .architecture = "amd64", .os_version = "10.0.20348.1000"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 4);
    /* No build match: the first windows/amd64 one. */
    w = (struct rt_image_platform){
        .os = "windows", .architecture = "amd64", .os_version = "10.0.26100.1"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), 0);
    w = (struct rt_image_platform){.os = "darwin", .architecture = "arm64"};
    cr_assert_eq(rt_image_platform_select(c, 5, &w), -1);

    struct rt_image_platform host;
    rt_image_platform_host(&host);
    cr_assert_str_eq(host.os, "linux");
#if defined(__x86_64__)
    cr_assert_str_eq(host.architecture, "amd64");
#endif
}

/* Writes DATA as a blob of the layout DIR and returns its digest (static buffer ring). */
static const char *put_blob(const char *dir, const char *data)
{
    static char ring[8][STK_DIGEST_STR_LEN];
    static int k;
    char *d = ring[k++ % 8];
    struct stk_err err = STK_ERR_INIT;

    stk_sha256_digest(data, strlen(data), d);
    char *p = stk_xasprintf("%s/blobs/sha256/%s", dir, d + 7);
    cr_assert_eq(stk_file_write_atomic(p, data, strlen(data), 0644, 0, &err), 0, "%s", err.msg);
    free(p);
    return d;
}

/* A manifest (no layers) for OS/ARCH; returns "digest size" via RET_DIGEST/RET_SIZE. */
static void make_manifest(const char *dir, const char *os, const char *arch, const char *tag,
                          char *ret_digest, size_t *ret_size)
{
    char *cfg =
        stk_xasprintf("{\"architecture\":\"%s\",\"os\":\"%s\",\"config\":{\"Cmd\":[\"%s\"]},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
                      arch, os, tag);
    const char *cd = put_blob(dir, cfg);
    char *man = stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                              "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[]}",
                              RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cd, strlen(cfg));
    const char *md = put_blob(dir, man);
    memcpy(ret_digest, md, STK_DIGEST_STR_LEN);
    *ret_size = strlen(man);
    free(cfg);
    free(man);
}

static char *make_multi_layout(int nested)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/multi%d", tmpdir, nested);
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir);
    char d1[STK_DIGEST_STR_LEN], d2[STK_DIGEST_STR_LEN], d3[STK_DIGEST_STR_LEN];
    size_t s1, s2, s3;
    char *index, *path;

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0);
    make_manifest(dir, "windows", "amd64", "win", d1, &s1);
    make_manifest(dir, "linux", "arm64", "arm", d2, &s2);
    make_manifest(dir, "linux", "amd64", "x86", d3, &s3);
    char *entries = stk_xasprintf(
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"windows\","
        "\"architecture\":\"amd64\",\"os.version\":\"10.0.20348.1\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"amd64\"}}",
        RT_IMAGE_MT_OCI_MANIFEST, d1, s1, RT_IMAGE_MT_OCI_MANIFEST, d2, s2,
        RT_IMAGE_MT_OCI_MANIFEST, d3, s3);
    if (nested) {
        /* index.json -> (named) image index -> three platform manifests */
        char *inner = stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
                                    RT_IMAGE_MT_OCI_INDEX, entries);
        const char *id = put_blob(dir, inner);
        index = stk_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                              "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":"
                              "\"multi:1\"}}]}",
                              RT_IMAGE_MT_OCI_INDEX, id, strlen(inner), RT_IMAGE_ANNOT_REF_NAME);
        free(inner);
    } else {
        /* index.json lists the three manifests directly, without names or platforms. */
        index = stk_xasprintf("{\"schemaVersion\":2,\"manifests\":["
                              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
                              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
                              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                              RT_IMAGE_MT_OCI_MANIFEST, d1, s1, RT_IMAGE_MT_OCI_MANIFEST, d2, s2,
                              RT_IMAGE_MT_OCI_MANIFEST, d3, s3);
    }
    path = stk_xasprintf("%s/index.json", dir);
    cr_assert_eq(stk_file_write_atomic(path, index, strlen(index), 0644, 0, &err), 0);
    free(path);
    path = stk_xasprintf("%s/oci-layout", dir);
    cr_assert_eq(
        stk_file_write_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, 0, &err), 0);
    free(path);
    free(index);
    free(entries);
    free(blobs);
    return dir;
}

Test(rt_image, platform_selection_from_nested_index)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = make_multi_layout(1);
    struct rt_image_platform arm = {.os = "linux", .architecture = "arm64"};
    struct rt_image *img = NULL;

    /* Host platform (linux/amd64 on the CI machine). */
    cr_assert_eq(rt_image_load_layout(store, dir, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_resolve(store, "multi:1", NULL, &img, &err), 0, "%s", err.msg);
#if defined(__x86_64__)
    cr_assert_str_eq(img->architecture, "amd64");
    cr_assert_str_eq(img->cmd[0], "x86");
#endif
    cr_assert_str_eq(img->os, "linux");
    rt_image_free(img);
    img = NULL;

    /* Explicit arm64: the reference moves to the arm64 manifest. */
    cr_assert_eq(rt_image_load_layout(store, dir, &arm, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_resolve(store, "multi:1", NULL, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->architecture, "arm64");
    cr_assert_str_eq(img->cmd[0], "arm");
    cr_assert_eq(img->n_layers, 0);
    cr_assert_not_null(img->layer_digests);
    cr_assert_null(img->layer_digests[0]);
    rt_image_free(img);

    /* No manifest for the platform. */
    struct rt_image_platform riscv = {.os = "linux", .architecture = "riscv64"};
    int r = rt_image_load_layout(store, dir, &riscv, NULL, &err);
    cr_assert_eq(r, STK_EIMAGE, "%d %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "linux/riscv64"), "%s", err.msg);
    free(dir);
}

Test(rt_image, platform_from_config_when_index_has_no_platform)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = make_multi_layout(0);
    struct rt_image_platform win = {.os = "windows", .architecture = "amd64"};
    struct rt_image_platform arm = {.os = "linux", .architecture = "arm64"};
    char *digest = NULL;
    struct rt_image *img = NULL;

    cr_assert_eq(rt_image_load_layout(store, dir, &win, &digest, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->os, "windows");
    cr_assert_str_eq(img->cmd[0], "win");
    rt_image_free(img);
    img = NULL;
    free(digest);
    digest = NULL;
    cr_assert_eq(rt_image_load_layout(store, dir, &arm, &digest, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_get(store, digest, NULL, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->architecture, "arm64");
    rt_image_free(img);
    free(digest);
    /* The layout names no image: nothing is recorded. */
    struct rt_image_list l;
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0);
    rt_image_list_release(&l);
    free(dir);
}

Test(rt_image, not_a_layout_is_eimage)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/empty", tmpdir);

    cr_assert_eq(stk_mkdir_p(dir, 0755, &err), 0);
    int r = rt_image_load_layout(store, dir, NULL, NULL, &err);
    cr_assert_eq(r, STK_EIMAGE, "%d %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "oci-layout"), "%s", err.msg);
    free(dir);
}

/* Writes index.json and oci-layout of DIR. */
static void write_layout_files(const char *dir, const char *index)
{
    struct stk_err err = STK_ERR_INIT;
    char *path = stk_xasprintf("%s/index.json", dir);
    cr_assert_eq(stk_file_write_atomic(path, index, strlen(index), 0644, 0, &err), 0);
    free(path);
    path = stk_xasprintf("%s/oci-layout", dir);
    cr_assert_eq(
        stk_file_write_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, 0, &err), 0);
    free(path);
}

/* A layout holding one Docker schema 2 image with one layer, named the containerd way. */
static char *make_docker_layout(void)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/docker", tmpdir);
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir);
    char *cmd, *diff_hex, layer_digest[STK_DIGEST_STR_LEN];
    struct stat st;

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0);
    cmd = stk_xasprintf("mkdir -p '%s/content/etc' && echo hi > '%s/content/etc/hello' && "
                        "tar -C '%s/content' -czf '%s/layer.tgz' etc",
                        tmpdir, tmpdir, tmpdir, tmpdir);
    run(cmd);
    free(cmd);
    char *layer = stk_xasprintf("%s/layer.tgz", tmpdir);
    cr_assert_eq(stk_sha256_file(layer, layer_digest, &err), 0);
    cr_assert_eq(stat(layer, &st), 0);
    cmd = stk_xasprintf("cp '%s' '%s/%s'", layer, blobs, layer_digest + 7);
    run(cmd);
    free(cmd);
    cmd = stk_xasprintf("gzip -dc '%s' | sha256sum | cut -d' ' -f1", layer);
    diff_hex = run_capture(cmd);
    free(cmd);
    char *cfg = stk_xasprintf(
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/app\"],"
        "\"Cmd\":[\"--serve\"],\"Env\":[\"A=1\",\"B=2\"],\"WorkingDir\":\"/srv\",\"User\":"
        "\"nobody\",\"ExposedPorts\":{\"8080/tcp\":{},\"53/udp\":{}}},\"rootfs\":{\"type\":"
        "\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
        diff_hex);
    const char *cd = put_blob(dir, cfg);
    char *man = stk_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":"
        "\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}]}",
        RT_IMAGE_MT_DOCKER_MANIFEST, RT_IMAGE_MT_DOCKER_CONFIG, cd, strlen(cfg),
        RT_IMAGE_MT_DOCKER_LAYER_GZIP, layer_digest, (long long)st.st_size);
    const char *md = put_blob(dir, man);
    char *index = stk_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\","
        "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":\"docker.io/library/dock:1\","
        "\"%s\":\"1\"}}]}",
        RT_IMAGE_MT_OCI_INDEX, RT_IMAGE_MT_DOCKER_MANIFEST, md, strlen(man),
        RT_IMAGE_ANNOT_CONTAINERD_NAME, RT_IMAGE_ANNOT_REF_NAME);
    write_layout_files(dir, index);
    free(index);
    free(man);
    free(cfg);
    free(diff_hex);
    free(layer);
    free(blobs);
    return dir;
}

Test(rt_image, docker_media_types_and_containerd_names)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = make_docker_layout();
    struct rt_image *img = NULL;

    cr_assert_eq(rt_image_load_layout(store, dir, NULL, NULL, &err), 0, "%s", err.msg);
    /* Recorded under the full name; found by the short one. */
    cr_assert_eq(rt_image_resolve(store, "dock:1", NULL, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->ref, "docker.io/library/dock:1");
    cr_assert_str_eq(img->layers[0].media_type, RT_IMAGE_MT_DOCKER_LAYER_GZIP);
    cr_assert_str_eq(img->entrypoint[0], "/bin/app");
    cr_assert_str_eq(img->cmd[0], "--serve");
    cr_assert_str_eq(img->env[1], "B=2");
    cr_assert_str_eq(img->working_dir, "/srv");
    cr_assert_str_eq(img->user, "nobody");
    cr_assert_str_eq(img->exposed_ports[0], "53/udp");
    cr_assert_str_eq(img->exposed_ports[1], "8080/tcp");
    cr_assert_null(img->exposed_ports[2]);
    rt_image_free(img);
    img = NULL;
    cr_assert_eq(rt_image_resolve(store, "docker.io/library/dock:1", NULL, &img, &err), 0, "%s",
                 err.msg);
    rt_image_free(img);
    img = NULL;
    /* The bare tag from ref.name is not a name of its own. */
    cr_assert_eq(rt_image_resolve(store, "1", NULL, &img, &err), STK_ENOENT);
    free(dir);
}

Test(rt_image, missing_blob_and_wrong_size_are_refused)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = make_docker_layout();
    char *idx = stk_xasprintf("%s/index.json", dir), *data = NULL;
    json_t *j;
    struct rt_image *img = NULL;

    /* Wrong size for the manifest (digest right). */
    cr_assert_eq(stk_file_read(idx, &data, NULL, &err), 0);
    j = json_loads(data, 0, NULL);
    json_t *m0 = json_array_get(json_object_get(j, "manifests"), 0);
    json_int_t size = json_integer_value(json_object_get(m0, "size"));
    json_object_set_new(m0, "size", json_integer(size + 1));
    char *text = json_dumps(j, 0);
    write_layout_files(dir, text);
    int r = rt_image_load_layout(store, dir, NULL, NULL, &err);
    cr_assert_eq(r, STK_EDIGEST, "%d %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "size"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, json_string_value(json_object_get(m0, "digest"))), "%s",
                       err.msg);
    free(text);

    /* Size right again, but the layer blob is gone. */
    json_object_set_new(m0, "size", json_integer(size));
    text = json_dumps(j, 0);
    write_layout_files(dir, text);
    char ld[STK_DIGEST_STR_LEN];
    char *layer = stk_xasprintf("%s/layer.tgz", tmpdir);
    cr_assert_eq(stk_sha256_file(layer, ld, &err), 0);
    char *cmd = stk_xasprintf("rm '%s/blobs/sha256/%s'", dir, ld + 7);
    run(cmd);
    free(layer);
    stk_err_clear(&err);
    r = rt_image_load_layout(store, dir, NULL, NULL, &err);
    cr_assert_eq(r, STK_EIMAGE, "%d %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "missing from the layout"), "%s", err.msg);
    cr_assert_eq(rt_image_resolve(store, "dock:1", NULL, &img, &err), STK_ENOENT);
    free(cmd);
    free(text);
    json_decref(j);
    free(data);
    free(idx);
    free(dir);
}

Test(rt_image, unsupported_layer_media_type_fails_at_load)
{
    struct stk_err err = STK_ERR_INIT;
    char *dir = stk_xasprintf("%s/helm", tmpdir);
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir);

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0);
    const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                      "\"layers\",\"diff_ids\":[\"sha256:00\"]}}";
    char cd[STK_DIGEST_STR_LEN], ld[STK_DIGEST_STR_LEN];
    memcpy(cd, put_blob(dir, cfg), sizeof(cd));
    memcpy(ld, put_blob(dir, "chart"), sizeof(ld));
    char *man = stk_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":"
        "\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"application/"
        "vnd.cncf.helm.chart.content.v1.tar+gzip\",\"digest\":\"%s\",\"size\":5}]}",
        RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cd, strlen(cfg), ld);
    const char *md = put_blob(dir, man);
    char *index = stk_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                                "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":"
                                "\"chart:1\"}}]}",
                                RT_IMAGE_MT_OCI_MANIFEST, md, strlen(man), RT_IMAGE_ANNOT_REF_NAME);
    write_layout_files(dir, index);
    int r = rt_image_load_layout(store, dir, NULL, NULL, &err);
    cr_assert_eq(r, STK_EIMAGE, "%d %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "helm"), "%s", err.msg);
    struct rt_image_list l;
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0, "a refused image was recorded");
    rt_image_list_release(&l);
    free(index);
    free(man);
    free(blobs);
    free(dir);
}

Test(rt_image, open_removes_stale_staging_only)
{
    struct stk_err err = STK_ERR_INIT;
    char *old = stk_xasprintf("%s/tmp/load-old", rt_image_store_dir(store));
    char *young = stk_xasprintf("%s/tmp/blob-young", rt_image_store_dir(store));

    cr_assert_eq(stk_mkdir_p(old, 0700, &err), 0);
    cr_assert_eq(stk_file_write_atomic(young, "x", 1, 0600, 0, &err), 0);
    char *cmd = stk_xasprintf("touch -d '3 days ago' '%s'", old);
    run(cmd);
    rt_image_store_close(store);
    store = NULL;
    cr_assert_eq(rt_image_store_open(state_dir, &store, &err), 0, "%s", err.msg);
    cr_assert_not(stk_path_exists(old), "stale staging directory kept");
    cr_assert(stk_path_exists(young), "a young staging file (maybe in use) was removed");
    free(cmd);
    free(old);
    free(young);
}
