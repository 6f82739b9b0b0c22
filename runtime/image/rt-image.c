/*
 * rt-image.c - the image store: content-addressed blobs, the reference
 * index, OCI image layout import (directory or tar archive) with digest
 * verification, and manifest/config parsing into struct rt_image.
 * See rt-image.h for the on-disk layout and the contracts.
 */
#include "runtime/image/rt-image.h"
#include "runtime/image/rt-image-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"

/* Manifests, indexes and configs larger than this are refused (not images we can run). */
#define SMALL_BLOB_MAX (8 * 1024 * 1024)

struct rt_image_store {
    char *dir;        /* STATE_DIR/images, absolute */
    char *blobs_dir;  /* dir/blobs/sha256 */
    char *tmp_dir;    /* dir/tmp */
    char *repos_path; /* dir/repositories.json */
    char *lock_path;  /* dir/.lock */
};

/* ---- digests and references ---------------------------------------------------------- */

int rt_image_digest_valid(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0)
        return 0;
    for (int i = 0; i < STK_SHA256_HEX_LEN; i++) {
        char c = digest[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return digest[7 + STK_SHA256_HEX_LEN] == '\0';
}

char *rt_image_ref_normalize(const char *ref, struct stk_err *err)
{
    const char *slash, *colon, *at;

    if (!ref || !*ref) {
        stk_err_set(err, STK_EINVAL, 0, "empty image reference");
        return NULL;
    }
    for (const char *p = ref; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            stk_err_set(err, STK_EINVAL, 0, "invalid image reference '%s'", ref);
            return NULL;
        }
    }
    at = strchr(ref, '@');
    if (at) {
        if (at == ref || !rt_image_digest_valid(at + 1)) {
            stk_err_set(err, STK_EINVAL, 0, "invalid image reference '%s'", ref);
            return NULL;
        }
        return stk_xstrdup(ref);
    }
    slash = strrchr(ref, '/');
    colon = strrchr(ref, ':');
    if (colon && (!slash || colon > slash)) {
        if (colon == ref || colon[1] == '\0' || colon[-1] == '/') {
            stk_err_set(err, STK_EINVAL, 0, "invalid image reference '%s'", ref);
            return NULL;
        }
        return stk_xstrdup(ref);
    }
    if (ref[strlen(ref) - 1] == '/') {
        stk_err_set(err, STK_EINVAL, 0, "invalid image reference '%s'", ref);
        return NULL;
    }
    return stk_xasprintf("%s:latest", ref);
}

/* ---- store ----------------------------------------------------------------------------- */

/*
 * Removes what a crashed import left in TMP_DIR: entries not modified for a
 * day. Younger ones may belong to an import running in another process.
 */
static void remove_stale_tmp(const char *tmp_dir)
{
    time_t now = time(NULL);
    DIR *d = opendir(tmp_dir);

    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        struct stk_err ignored = STK_ERR_INIT;
        struct stat st;
        char *p;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        p = stk_xasprintf("%s/%s", tmp_dir, de->d_name);
        if (lstat(p, &st) == 0 && now - st.st_mtime > 24 * 3600)
            stk_rm_rf(p, &ignored);
        stk_err_clear(&ignored);
        free(p);
    }
    closedir(d);
}

int rt_image_store_open(const char *state_dir, struct rt_image_store **ret_store,
                        struct stk_err *err)
{
    struct rt_image_store *s = NULL;
    char *dir = NULL, *real = NULL;
    int ret;

    if (!state_dir || !*state_dir || !ret_store)
        return stk_err_set(err, STK_EINVAL, 0, "open image store: no state directory");
    dir = stk_xasprintf("%s/images", state_dir);
    ret = stk_mkdir_p(dir, 0755, err);
    if (ret < 0)
        goto out;
    real = realpath(dir, NULL);
    if (!real) {
        ret = stk_err_set(err, STK_EIO, errno, "resolve '%s'", dir);
        goto out;
    }
    s = stk_new0(struct rt_image_store);
    s->dir = real;
    real = NULL;
    s->blobs_dir = stk_xasprintf("%s/blobs/sha256", s->dir);
    s->tmp_dir = stk_xasprintf("%s/tmp", s->dir);
    s->repos_path = stk_xasprintf("%s/repositories.json", s->dir);
    s->lock_path = stk_xasprintf("%s/.lock", s->dir);
    ret = stk_mkdir_p(s->blobs_dir, 0755, err);
    if (ret == 0)
        ret = stk_mkdir_p(s->tmp_dir, 0700, err);
    if (ret < 0)
        goto out;
    remove_stale_tmp(s->tmp_dir);
    *ret_store = s;
    s = NULL;
out:
    if (ret < 0)
        stk_err_wrap(err, "open image store in '%s'", state_dir);
    rt_image_store_close(s);
    free(real);
    free(dir);
    return ret;
}

void rt_image_store_close(struct rt_image_store *store)
{
    if (!store)
        return;
    free(store->dir);
    free(store->blobs_dir);
    free(store->tmp_dir);
    free(store->repos_path);
    free(store->lock_path);
    free(store);
}

const char *rt_image_store_dir(const struct rt_image_store *store)
{
    return store->dir;
}

char *rt_image_blob_path(const struct rt_image_store *store, const char *digest,
                         struct stk_err *err)
{
    if (!store || !rt_image_digest_valid(digest)) {
        stk_err_set(err, STK_EINVAL, 0, "invalid digest '%s'", digest ? digest : "(null)");
        return NULL;
    }
    return stk_xasprintf("%s/%s", store->blobs_dir, digest + 7);
}

const char *rt__image_tmp_dir(const struct rt_image_store *s)
{
    return s->tmp_dir;
}

/*
 * Streams the file SRC_PATH through SHA-256, copying it to the open file DST_FD
 * when DST_FD >= 0. Stores the digest string and the byte count.
 */
static int hash_copy(const char *src_path, int dst_fd, char digest[STK_DIGEST_STR_LEN],
                     int64_t *ret_size, struct stk_err *err)
{
    struct stk_sha256 *c = NULL;
    uint8_t md[STK_SHA256_LEN];
    const size_t bufsize = 1 << 17;
    char *buf = NULL;
    int64_t total = 0;
    int fd, ret = 0;

    fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return stk_err_set(err, errno == ENOENT ? STK_ENOENT : STK_EIO, errno, "open '%s'",
                           src_path);
    buf = stk_xmalloc(bufsize);
    c = stk_sha256_new();
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = stk_err_set(err, STK_EIO, errno, "read '%s'", src_path);
            goto out;
        }
        stk_sha256_update(c, buf, (size_t)n);
        total += n;
        for (ssize_t off = 0; dst_fd >= 0 && off < n;) {
            ssize_t w = write(dst_fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                ret = stk_err_set(err, STK_EIO, errno, "write blob copy of '%s'", src_path);
                goto out;
            }
            off += w;
        }
    }
out:
    stk_sha256_final(c, md);
    free(buf);
    close(fd);
    if (ret == 0) {
        memcpy(digest, "sha256:", 7);
        stk_sha256_hex(md, digest + 7);
        *ret_size = total;
    }
    return ret;
}

/* Checks computed DIGEST/SIZE against the descriptor's WANT/WANT_SIZE (-1: unknown). */
static int verify(const char *want, int64_t want_size, const char *digest, int64_t size,
                  struct stk_err *err)
{
    if (strcmp(want, digest) != 0)
        return stk_err_set(err, STK_EDIGEST, 0, "blob '%s': content has digest '%s'", want, digest);
    if (want_size >= 0 && want_size != size)
        return stk_err_set(err, STK_EDIGEST, 0,
                           "blob '%s': size is %lld bytes, descriptor says %lld", want,
                           (long long)size, (long long)want_size);
    return 0;
}

/* The store's verified-blob writer, shared with the pull (rt-image-internal.h). */
int rt__image_blob_import(struct rt_image_store *s, const char *src_path, const char *digest,
                          int64_t size, int move, struct stk_err *err)
{
    char computed[STK_DIGEST_STR_LEN];
    char *dst = NULL, *tmp = NULL;
    int64_t got = 0;
    int fd = -1, ret;

    dst = rt_image_blob_path(s, digest, err);
    if (!dst)
        return STK_EINVAL;
    if (stk_path_exists(dst)) {
        ret = 0;
        goto out;
    }
    if (move) {
        ret = hash_copy(src_path, -1, computed, &got, err);
        if (ret == 0)
            ret = verify(digest, size, computed, got, err);
        if (ret == 0)
            (void)chmod(src_path, 0644);
        if (ret == 0 && rename(src_path, dst) < 0)
            ret = stk_err_set(err, STK_EIO, errno, "rename '%s'", dst);
        goto out;
    }
    tmp = stk_xasprintf("%s/blob-XXXXXX", s->tmp_dir);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "create '%s'", tmp);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    ret = hash_copy(src_path, fd, computed, &got, err);
    if (ret == 0)
        ret = verify(digest, size, computed, got, err);
    if (ret == 0 && fchmod(fd, 0644) < 0)
        ret = stk_err_set(err, STK_EIO, errno, "chmod '%s'", tmp);
    if (ret == 0 && fsync(fd) < 0)
        ret = stk_err_set(err, STK_EIO, errno, "fsync '%s'", tmp);
    if (ret == 0) {
        int c = close(fd);
        fd = -1;
        if (c < 0)
            ret = stk_err_set(err, STK_EIO, errno, "close '%s'", tmp);
    }
    if (ret == 0 && rename(tmp, dst) < 0)
        ret = stk_err_set(err, STK_EIO, errno, "rename '%s'", dst);
out:
    if (fd >= 0)
        close(fd);
    if (tmp && ret < 0)
        unlink(tmp);
    free(tmp);
    free(dst);
    return ret;
}

/*
 * Reads a small blob (manifest, index, config) from the store, re-hashing it
 * against DIGEST, and parses it as a JSON object. Returns a new reference.
 */
static int blob_read_json(struct rt_image_store *s, const char *digest, json_t **ret_json,
                          struct stk_err *err)
{
    char computed[STK_DIGEST_STR_LEN];
    char *path = NULL, *data = NULL;
    json_error_t jerr;
    json_t *j = NULL;
    size_t len = 0;
    int ret;

    path = rt_image_blob_path(s, digest, err);
    if (!path)
        return STK_EINVAL;
    ret = stk_file_read(path, &data, &len, err);
    if (ret == STK_ENOENT) {
        ret = stk_err_set(err, STK_ENOENT, 0, "blob '%s' not in the image store", digest);
        goto out;
    }
    if (ret < 0)
        goto out;
    if (len > SMALL_BLOB_MAX) {
        ret =
            stk_err_set(err, STK_EIMAGE, 0, "blob '%s' too large for a manifest or config", digest);
        goto out;
    }
    stk_sha256_digest(data, len, computed);
    ret = verify(digest, -1, computed, (int64_t)len, err);
    if (ret < 0)
        goto out;
    j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "blob '%s': %s", digest,
                          j ? "not a JSON object" : jerr.text);
        goto out;
    }
    *ret_json = j;
    j = NULL;
out:
    json_decref(j);
    free(data);
    free(path);
    return ret;
}

/* ---- reference index (repositories.json) ------------------------------------------------- */

static int repos_read(struct rt_image_store *s, json_t **ret_refs, struct stk_err *err)
{
    char *data = NULL;
    json_error_t jerr;
    json_t *root = NULL, *refs;
    size_t len;
    int ret;

    ret = stk_file_read(s->repos_path, &data, &len, err);
    if (ret == STK_ENOENT) {
        *ret_refs = json_object();
        return 0;
    }
    if (ret < 0)
        return ret;
    root = json_loadb(data, len, 0, &jerr);
    free(data);
    refs = root ? json_object_get(root, "refs") : NULL;
    if (!json_is_object(refs)) {
        json_decref(root);
        return stk_err_set(err, STK_EIMAGE, 0, "'%s': %s", s->repos_path,
                           root ? "no \"refs\" object" : jerr.text);
    }
    *ret_refs = json_incref(refs);
    json_decref(root);
    return 0;
}

static int store_lock(struct rt_image_store *s, struct stk_err *err)
{
    int fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return stk_err_set(err, STK_EIO, errno, "open '%s'", s->lock_path);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return stk_err_set(err, STK_EIO, e, "lock '%s'", s->lock_path);
        }
    }
    return fd;
}

/*
 * Applies the changes to the index under the lock: for each i, NAMES[i] is
 * set to DIGESTS[i], or removed when DIGESTS[i] is NULL (then it must exist).
 */
static int repos_update(struct rt_image_store *s, char *const *names, char *const *digests,
                        size_t n, struct stk_err *err)
{
    json_t *refs = NULL, *root = NULL;
    char *text = NULL;
    int lock, ret;

    lock = store_lock(s, err);
    if (lock < 0)
        return lock;
    ret = repos_read(s, &refs, err);
    if (ret < 0)
        goto out;
    {
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (digests[i]) {
                const char *old = json_string_value(json_object_get(refs, names[i]));
                if (old && strcmp(old, digests[i]) == 0)
                    continue;
                json_object_set_new(refs, names[i], json_string(digests[i]));
                changed = 1;
            } else if (json_object_del(refs, names[i]) < 0) {
                ret = stk_err_set(err, STK_ENOENT, 0, "image '%s' not found", names[i]);
                goto out;
            } else {
                changed = 1;
            }
        }
        /* A repeated import of the same layout rewrites (and syncs) nothing. */
        if (!changed)
            goto out;
    }
    root = json_pack("{s:i, s:O}", "version", 1, "refs", refs);
    text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
    if (!text) {
        ret = stk_err_set(err, STK_ENOMEM, 0, "encode '%s'", s->repos_path);
        goto out;
    }
    ret = stk_file_write_atomic(s->repos_path, text, strlen(text), 0644, 1, err);
out:
    free(text);
    json_decref(root);
    json_decref(refs);
    close(lock);
    return ret;
}

int rt__image_tag(struct rt_image_store *s, const char *ref, const char *digest,
                  struct stk_err *err)
{
    char *names[1] = {(char *)ref}, *digests[1] = {(char *)digest};

    return repos_update(s, names, digests, 1, err);
}

static int classify(json_t *j, const char *desc_mt, const char *digest, struct stk_err *err);

int rt__image_blob_classify(json_t *j, const char *desc_mt, const char *digest, struct stk_err *err)
{
    return classify(j, desc_mt, digest, err);
}

/* ---- JSON helpers --------------------------------------------------------------------- */

/* A descriptor (image-spec descriptor.md), strings borrowed from the JSON. */
struct desc {
    const char *media_type; /* may be NULL */
    const char *digest;
    int64_t size;
    json_t *platform;    /* borrowed, may be NULL */
    json_t *annotations; /* borrowed, may be NULL */
};

static int desc_parse(json_t *j, const char *what, struct desc *d, struct stk_err *err)
{
    json_t *size;

    memset(d, 0, sizeof(*d));
    if (!json_is_object(j))
        return stk_err_set(err, STK_EIMAGE, 0, "%s: descriptor is not an object", what);
    d->media_type = json_string_value(json_object_get(j, "mediaType"));
    d->digest = json_string_value(json_object_get(j, "digest"));
    size = json_object_get(j, "size");
    if (!d->digest)
        return stk_err_set(err, STK_EIMAGE, 0, "%s: descriptor without digest", what);
    if (!rt_image_digest_valid(d->digest))
        return stk_err_set(err, STK_EIMAGE, 0, "%s: unsupported digest '%s' (sha256 only)", what,
                           d->digest);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return stk_err_set(err, STK_EIMAGE, 0, "%s: descriptor '%s' without a valid size", what,
                           d->digest);
    d->size = json_integer_value(size);
    d->platform = json_object_get(j, "platform");
    d->annotations = json_object_get(j, "annotations");
    return 0;
}

static char *json_strdup_nonempty(json_t *j)
{
    const char *s = json_string_value(j);
    return s && *s ? stk_xstrdup(s) : NULL;
}

/* Copies a JSON array of strings; NULL for absent or null. Non-strings are an error. */
static int json_strv(json_t *j, const char *field, char ***ret, struct stk_err *err)
{
    struct stk_strv v = STK_STRV_INIT;
    size_t i;
    json_t *e;

    *ret = NULL;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_array(j))
        return stk_err_set(err, STK_EIMAGE, 0, "config field '%s' is not an array", field);
    stk_strv_init(&v);
    json_array_foreach(j, i, e)
    {
        if (!json_is_string(e)) {
            stk_strv_release(&v);
            return stk_err_set(err, STK_EIMAGE, 0, "config field '%s' has a non-string item",
                               field);
        }
        stk_strv_push(&v, json_string_value(e));
    }
    *ret = v.v;
    return 0;
}

static int is_index_type(const char *mt)
{
    return mt &&
           (strcmp(mt, RT_IMAGE_MT_OCI_INDEX) == 0 || strcmp(mt, RT_IMAGE_MT_DOCKER_LIST) == 0);
}

static int is_manifest_type(const char *mt)
{
    return mt && (strcmp(mt, RT_IMAGE_MT_OCI_MANIFEST) == 0 ||
                  strcmp(mt, RT_IMAGE_MT_DOCKER_MANIFEST) == 0);
}

static int is_layer_type(const char *mt)
{
    return mt && (strncmp(mt, "application/vnd.oci.image.layer.", 32) == 0 ||
                  strncmp(mt, "application/vnd.docker.image.rootfs.", 36) == 0);
}

static int is_config_type(const char *mt)
{
    return mt &&
           (strcmp(mt, RT_IMAGE_MT_OCI_CONFIG) == 0 || strcmp(mt, RT_IMAGE_MT_DOCKER_CONFIG) == 0);
}

/*
 * Classifies a parsed manifest-or-index blob: 1 for an index, 0 for a
 * manifest, STK_EIMAGE otherwise. The blob's own mediaType wins over the
 * descriptor's DESC_MT (older OCI manifests omit it).
 */
static int classify(json_t *j, const char *desc_mt, const char *digest, struct stk_err *err)
{
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    json_t *sv = json_object_get(j, "schemaVersion");

    if (!mt)
        mt = desc_mt;
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return stk_err_set(err, STK_EIMAGE, 0, "'%s': unsupported schemaVersion (want 2)", digest);
    if (is_index_type(mt) || (!mt && json_is_array(json_object_get(j, "manifests"))))
        return 1;
    if (is_manifest_type(mt) || (!mt && json_is_object(json_object_get(j, "config"))))
        return 0;
    return stk_err_set(err, STK_EIMAGE, 0, "'%s': unsupported media type '%s'", digest,
                       mt ? mt : "(none)");
}

/* ---- struct rt_image ------------------------------------------------------------------------ */

void rt_image_free(struct rt_image *img)
{
    if (!img)
        return;
    free(img->ref);
    free(img->manifest_digest);
    free(img->config_digest);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].digest);
        free(img->layers[i].media_type);
        free(img->layers[i].diff_id);
    }
    free(img->layers);
    stk_strv_free(img->layer_digests);
    stk_strv_free(img->diff_ids);
    stk_strv_free(img->entrypoint);
    stk_strv_free(img->cmd);
    stk_strv_free(img->env);
    free(img->working_dir);
    free(img->user);
    stk_strv_free(img->exposed_ports);
    free(img->os);
    free(img->architecture);
    free(img->variant);
    free(img->os_version);
    free(img->created);
    free(img);
}

/* Fills IMG's config fields from the parsed config blob CFG. */
static int image_parse_config(struct rt_image *img, json_t *cfg, struct stk_err *err)
{
    json_t *c = json_object_get(cfg, "config");
    json_t *rootfs = json_object_get(cfg, "rootfs");
    json_t *diff_ids = rootfs ? json_object_get(rootfs, "diff_ids") : NULL;
    int ret;

    img->os = json_strdup_nonempty(json_object_get(cfg, "os"));
    img->architecture = json_strdup_nonempty(json_object_get(cfg, "architecture"));
    img->variant = json_strdup_nonempty(json_object_get(cfg, "variant"));
    img->os_version = json_strdup_nonempty(json_object_get(cfg, "os.version"));
    img->created = json_strdup_nonempty(json_object_get(cfg, "created"));
    if (!img->os || !img->architecture)
        return stk_err_set(err, STK_EIMAGE, 0, "config '%s': missing os or architecture",
                           img->config_digest);
    ret = json_strv(diff_ids, "rootfs.diff_ids", &img->diff_ids, err);
    if (ret < 0)
        return ret;
    if (!img->diff_ids) {
        img->diff_ids = stk_xcalloc(1, sizeof(char *));
    }
    if (stk_strv_len(img->diff_ids) != img->n_layers)
        return stk_err_set(err, STK_EIMAGE, 0, "config '%s': %zu diff_ids for %zu manifest layers",
                           img->config_digest, stk_strv_len(img->diff_ids), img->n_layers);
    for (size_t i = 0; i < img->n_layers; i++)
        img->layers[i].diff_id = stk_xstrdup(img->diff_ids[i]);
    if (c && !json_is_null(c)) {
        json_t *ports = json_object_get(c, "ExposedPorts");
        if (!json_is_object(c))
            return stk_err_set(err, STK_EIMAGE, 0, "config '%s': 'config' is not an object",
                               img->config_digest);
        if ((ret = json_strv(json_object_get(c, "Entrypoint"), "Entrypoint", &img->entrypoint,
                             err)) < 0 ||
            (ret = json_strv(json_object_get(c, "Cmd"), "Cmd", &img->cmd, err)) < 0 ||
            (ret = json_strv(json_object_get(c, "Env"), "Env", &img->env, err)) < 0)
            return stk_err_wrap(err, "config '%s'", img->config_digest);
        img->working_dir = json_strdup_nonempty(json_object_get(c, "WorkingDir"));
        img->user = json_strdup_nonempty(json_object_get(c, "User"));
        if (json_is_object(ports)) {
            struct stk_strv v = STK_STRV_INIT;
            const char *key;
            json_t *val;
            stk_strv_init(&v);
            json_object_foreach(ports, key, val)
            {
                (void)val;
                stk_strv_push(&v, key);
            }
            stk_strv_sort(&v);
            img->exposed_ports = v.v;
        }
    }
    return 0;
}

/* Fills IMG's layers and config digest from the parsed manifest M (verified). */
static int image_parse_manifest(struct rt_image *img, json_t *m, struct stk_err *err)
{
    json_t *layers = json_object_get(m, "layers");
    struct desc d;
    size_t i;
    json_t *e;
    int ret;

    ret = desc_parse(json_object_get(m, "config"), "manifest config", &d, err);
    if (ret < 0)
        return stk_err_wrap(err, "manifest '%s'", img->manifest_digest);
    if (!is_config_type(d.media_type))
        return stk_err_set(err, STK_EIMAGE, 0, "manifest '%s': unsupported config media type '%s'",
                           img->manifest_digest, d.media_type ? d.media_type : "(none)");
    img->config_digest = stk_xstrdup(d.digest);
    if (layers && !json_is_array(layers))
        return stk_err_set(err, STK_EIMAGE, 0, "manifest '%s': 'layers' is not an array",
                           img->manifest_digest);
    img->n_layers = json_array_size(layers);
    img->layers = stk_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(*img->layers));
    img->layer_digests = stk_xcalloc(img->n_layers + 1, sizeof(char *));
    json_array_foreach(layers, i, e)
    {
        ret = desc_parse(e, "manifest layer", &d, err);
        if (ret < 0)
            return stk_err_wrap(err, "manifest '%s'", img->manifest_digest);
        if (!is_layer_type(d.media_type))
            return stk_err_set(err, STK_EIMAGE, 0,
                               "manifest '%s': unsupported layer media type '%s'",
                               img->manifest_digest, d.media_type ? d.media_type : "(none)");
        img->layers[i].digest = stk_xstrdup(d.digest);
        img->layers[i].media_type = stk_xstrdup(d.media_type);
        img->layers[i].size = d.size;
        img->layer_digests[i] = stk_xstrdup(d.digest);
    }
    return 0;
}

/* Platform of an image-index entry; strings borrowed from PLATFORM_JSON. */
static void platform_from_json(json_t *pj, struct rt_image_platform *p)
{
    memset(p, 0, sizeof(*p));
    if (!json_is_object(pj))
        return;
    p->os = json_string_value(json_object_get(pj, "os"));
    p->architecture = json_string_value(json_object_get(pj, "architecture"));
    p->variant = json_string_value(json_object_get(pj, "variant"));
    p->os_version = json_string_value(json_object_get(pj, "os.version"));
}

static void platform_string(const struct rt_image_platform *p, struct stk_buf *b)
{
    stk_buf_printf(b, "%s/%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?");
    if (p->variant && *p->variant)
        stk_buf_printf(b, "/%s", p->variant);
    if (p->os_version && *p->os_version)
        stk_buf_printf(b, " (os.version %s)", p->os_version);
}

/* Chooses the manifest for WANT in the index IDX (rt-image-internal.h). */
int rt__image_index_select(json_t *idx, const char *digest, const struct rt_image_platform *want,
                           char **ret_digest, struct stk_err *err)
{
    json_t *manifests = json_object_get(idx, "manifests");
    struct rt_image_platform *plats = NULL;
    const char **digests = NULL;
    struct stk_buf b = STK_BUF_INIT;
    size_t i, n;
    json_t *e;
    int ret = 0, pick;

    if (!json_is_array(manifests))
        return stk_err_set(err, STK_EIMAGE, 0, "index '%s': no 'manifests' array", digest);
    n = json_array_size(manifests);
    plats = stk_xcalloc(n ? n : 1, sizeof(*plats));
    digests = stk_xcalloc(n ? n : 1, sizeof(*digests));
    json_array_foreach(manifests, i, e)
    {
        struct desc d;
        ret = desc_parse(e, "index entry", &d, err);
        if (ret < 0)
            goto out;
        digests[i] = d.digest;
        if (is_manifest_type(d.media_type))
            platform_from_json(d.platform, &plats[i]);
    }
    pick = rt_image_platform_select(plats, n, want);
    if (pick < 0) {
        platform_string(want, &b);
        ret = stk_err_set(err, STK_EIMAGE, 0, "index '%s': no manifest for platform %s", digest,
                          b.buf);
        goto out;
    }
    *ret_digest = stk_xstrdup(digests[pick]);
out:
    stk_buf_release(&b);
    free(plats);
    free(digests);
    return ret;
}

static int image_get(struct rt_image_store *store, const char *manifest_digest, const char *ref,
                     const struct rt_image_platform *want, struct rt_image **ret_image,
                     struct stk_err *err)
{
    struct rt_image_platform host;
    struct rt_image *img = NULL;
    json_t *m = NULL, *cfg = NULL;
    char *chosen = NULL;
    int ret, kind;

    if (!store || !rt_image_digest_valid(manifest_digest) || !ret_image)
        return stk_err_set(err, STK_EINVAL, 0, "invalid manifest digest '%s'",
                           manifest_digest ? manifest_digest : "(null)");
    ret = blob_read_json(store, manifest_digest, &m, err);
    if (ret < 0)
        goto out;
    kind = classify(m, NULL, manifest_digest, err);
    if (kind < 0) {
        ret = kind;
        goto out;
    }
    if (kind == 1) {
        /* A digest reference to an index: choose for the platform. */
        rt_image_platform_host(&host);
        ret = rt__image_index_select(m, manifest_digest, want ? want : &host, &chosen, err);
        if (ret == 0)
            ret = image_get(store, chosen, ref, want, ret_image, err);
        goto out;
    }
    img = stk_new0(struct rt_image);
    img->ref = stk_xstrdup(ref);
    img->manifest_digest = stk_xstrdup(manifest_digest);
    ret = image_parse_manifest(img, m, err);
    if (ret < 0)
        goto out;
    ret = blob_read_json(store, img->config_digest, &cfg, err);
    if (ret < 0)
        goto out;
    ret = image_parse_config(img, cfg, err);
    if (ret < 0)
        goto out;
    *ret_image = img;
    img = NULL;
out:
    free(chosen);
    json_decref(m);
    json_decref(cfg);
    rt_image_free(img);
    return ret;
}

int rt_image_get(struct rt_image_store *store, const char *manifest_digest, const char *ref,
                 struct rt_image **ret_image, struct stk_err *err)
{
    return image_get(store, manifest_digest, ref, NULL, ret_image, err);
}

/* ---- layout import ------------------------------------------------------------------------ */

/* The import of one layout: where its files are, and what it chose. */
struct import {
    struct rt_image_store *s;
    const struct rt_image_platform *want;
    char *root; /* the layout directory (or the staging copy of an archive) */
    int staged; /* non-zero: ROOT is our staging copy; blobs may be moved */
};

/* Imports the blob of descriptor D from the layout into the store (verified). */
static int import_desc(struct import *im, const struct desc *d, struct stk_err *err)
{
    char *src = stk_xasprintf("%s/blobs/sha256/%s", im->root, d->digest + 7);
    char *dst = rt_image_blob_path(im->s, d->digest, NULL);
    int ret = 0;

    if (!stk_path_exists(dst)) {
        if (!stk_path_exists(src))
            ret = stk_err_set(err, STK_EIMAGE, 0, "blob '%s' missing from the layout", d->digest);
        else
            ret = rt__image_blob_import(im->s, src, d->digest, d->size, im->staged, err);
    }
    free(dst);
    free(src);
    return ret;
}

/* Imports the manifest D (already in the store) and all it references. */
static int import_manifest_tree(struct import *im, const char *digest, struct stk_err *err)
{
    json_t *m = NULL, *layers;
    struct desc d;
    size_t i;
    json_t *e;
    int ret;

    ret = blob_read_json(im->s, digest, &m, err);
    if (ret < 0)
        return ret;
    ret = desc_parse(json_object_get(m, "config"), "manifest config", &d, err);
    if (ret == 0)
        ret = import_desc(im, &d, err);
    layers = json_object_get(m, "layers");
    json_array_foreach(layers, i, e)
    {
        if (ret < 0)
            break;
        ret = desc_parse(e, "manifest layer", &d, err);
        if (ret == 0)
            ret = import_desc(im, &d, err);
    }
    json_decref(m);
    if (ret == 0) {
        /* Parse it as rt_image_resolve() will: a bad image fails at load, not at first use. */
        struct rt_image *img = NULL;
        ret = image_get(im->s, digest, NULL, NULL, &img, err);
        rt_image_free(img);
        return ret;
    }
    stk_err_wrap(err, "manifest '%s'", digest);
    return ret;
}

/* A candidate manifest for one group, with its platform (strings owned). */
struct cand {
    char *digest;
    char *os, *arch, *variant, *os_version;
};

static void cands_free(struct cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].digest);
        free(c[i].os);
        free(c[i].arch);
        free(c[i].variant);
        free(c[i].os_version);
    }
    free(c);
}

/*
 * Adds the candidates reachable from descriptor D: a manifest is one
 * candidate, an index is imported and flattened (bounded depth).
 */
static int collect(struct import *im, const struct desc *d, int depth, struct cand **cands,
                   size_t *n, struct stk_err *err)
{
    json_t *j = NULL, *manifests;
    size_t i;
    json_t *e;
    int ret, kind;

    if (depth > 4)
        return stk_err_set(err, STK_EIMAGE, 0, "index '%s': nested too deeply", d->digest);
    ret = import_desc(im, d, err);
    if (ret < 0)
        return ret;
    ret = blob_read_json(im->s, d->digest, &j, err);
    if (ret < 0)
        return ret;
    kind = classify(j, d->media_type, d->digest, err);
    if (kind < 0) {
        ret = kind;
        goto out;
    }
    if (kind == 0) {
        struct rt_image_platform p;
        struct cand *c;
        platform_from_json(d->platform, &p);
        *cands = stk_xrealloc(*cands, (*n + 1) * sizeof(**cands));
        c = &(*cands)[(*n)++];
        memset(c, 0, sizeof(*c));
        c->digest = stk_xstrdup(d->digest);
        c->os = p.os ? stk_xstrdup(p.os) : NULL;
        c->arch = p.architecture ? stk_xstrdup(p.architecture) : NULL;
        c->variant = p.variant ? stk_xstrdup(p.variant) : NULL;
        c->os_version = p.os_version ? stk_xstrdup(p.os_version) : NULL;
        goto out;
    }
    manifests = json_object_get(j, "manifests");
    if (!json_is_array(manifests)) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "index '%s': no 'manifests' array", d->digest);
        goto out;
    }
    json_array_foreach(manifests, i, e)
    {
        struct desc sub;
        ret = desc_parse(e, "index entry", &sub, err);
        if (ret < 0)
            goto out;
        /* Entries of other kinds (attestations as artifacts) are not images: skip them. */
        if (sub.media_type && !is_manifest_type(sub.media_type) && !is_index_type(sub.media_type))
            continue;
        ret = collect(im, &sub, depth + 1, cands, n, err);
        if (ret < 0)
            goto out;
    }
out:
    json_decref(j);
    return ret;
}

/* Fills the missing platform of candidate C from its config (already imported). */
static int cand_fill_platform(struct import *im, struct cand *c, struct stk_err *err)
{
    json_t *m = NULL, *cfg = NULL;
    struct desc d;
    int ret;

    if (c->os && c->arch)
        return 0;
    ret = blob_read_json(im->s, c->digest, &m, err);
    if (ret == 0)
        ret = desc_parse(json_object_get(m, "config"), "manifest config", &d, err);
    if (ret == 0)
        ret = import_desc(im, &d, err);
    if (ret == 0)
        ret = blob_read_json(im->s, d.digest, &cfg, err);
    if (ret == 0) {
        free(c->os);
        free(c->arch);
        free(c->variant);
        free(c->os_version);
        c->os = json_strdup_nonempty(json_object_get(cfg, "os"));
        c->arch = json_strdup_nonempty(json_object_get(cfg, "architecture"));
        c->variant = json_strdup_nonempty(json_object_get(cfg, "variant"));
        c->os_version = json_strdup_nonempty(json_object_get(cfg, "os.version"));
    }
    json_decref(m);
    json_decref(cfg);
    return ret;
}

/* The name an index.json entry carries, normalised; NULL when none. */
static char *entry_name(json_t *entry, struct stk_err *err, int *ret)
{
    json_t *annots = json_object_get(entry, "annotations");
    const char *name = json_string_value(json_object_get(annots, RT_IMAGE_ANNOT_CONTAINERD_NAME));

    *ret = 0;
    if (!name)
        name = json_string_value(json_object_get(annots, RT_IMAGE_ANNOT_REF_NAME));
    if (!name)
        return NULL;
    char *norm = rt_image_ref_normalize(name, err);
    if (!norm)
        *ret = stk_err_wrap(err, "index.json annotation");
    else if (strchr(norm, '@')) {
        free(norm);
        norm = NULL;
        *ret = stk_err_set(err, STK_EIMAGE, 0,
                           "index.json: image name '%s' must be NAME[:TAG], not a digest", name);
    }
    return norm;
}

/*
 * Copies the layout files of the tar archive PATH into the staging directory
 * DIR: only oci-layout, index.json and blobs/sha256/<hex> regular files are
 * taken, under paths built here (the entry names are never used as paths).
 */
static int stage_archive(const char *path, const char *dir, struct stk_err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    char *out = NULL;
    int ret = 0, r, fd = -1, saw_layout = 0;

    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "open archive '%s': %s", path,
                          archive_error_string(a));
        goto out;
    }
    ret = stk_mkdir_p(dir, 0700, err);
    if (ret == 0) {
        char *b = stk_xasprintf("%s/blobs/sha256", dir);
        ret = stk_mkdir_p(b, 0700, err);
        free(b);
    }
    if (ret < 0)
        goto out;
    while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ent);
        while (name && name[0] == '.' && name[1] == '/')
            name += 2;
        if (!name || archive_entry_filetype(ent) != AE_IFREG)
            continue;
        if (strcmp(name, "oci-layout") == 0 || strcmp(name, "index.json") == 0) {
            out = stk_xasprintf("%s/%s", dir, name);
            saw_layout |= name[0] == 'o';
        } else if (strncmp(name, "blobs/sha256/", 13) == 0) {
            char *dg = stk_xasprintf("sha256:%s", name + 13);
            if (rt_image_digest_valid(dg))
                out = stk_xasprintf("%s/blobs/sha256/%s", dir, name + 13);
            free(dg);
        }
        if (!out)
            continue;
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            ret = stk_err_set(err, STK_EIO, errno, "create '%s'", out);
            goto out;
        }
        if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
            ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read '%s' from '%s': %s", name,
                              path, archive_error_string(a));
            goto out;
        }
        if (close(fd) < 0) {
            fd = -1;
            ret = stk_err_set(err, STK_EIO, errno, "close '%s'", out);
            goto out;
        }
        fd = -1;
        free(out);
        out = NULL;
    }
    if (r != ARCHIVE_EOF) {
        ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read archive '%s': %s", path,
                          archive_error_string(a));
        goto out;
    }
    if (!saw_layout)
        ret = stk_err_set(err, STK_EIMAGE, 0,
                          "'%s' is not an OCI image layout archive (no oci-layout)", path);
out:
    if (fd >= 0)
        close(fd);
    free(out);
    archive_read_free(a);
    return ret;
}

/* A group of index.json entries sharing one name (NULL: unnamed). */
struct group {
    char *name;
    struct cand *cands;
    size_t n;
};

static int import_layout(struct import *im, char **ret_manifest_digest, char **ret_name,
                         struct stk_err *err)
{
    struct group *groups = NULL;
    size_t n_groups = 0, i;
    char *path = NULL, *data = NULL;
    char **names = NULL, **digests = NULL;
    struct stk_buf b = STK_BUF_INIT;
    json_t *layout = NULL, *index = NULL, *manifests, *e;
    json_error_t jerr;
    const char *ver;
    size_t n_named = 0;
    int ret;

    path = stk_xasprintf("%s/oci-layout", im->root);
    ret = stk_file_read(path, &data, NULL, err);
    if (ret < 0) {
        if (ret == STK_ENOENT)
            ret = stk_err_set(err, STK_EIMAGE, 0, "'%s' is not an OCI image layout (no oci-layout)",
                              im->root);
        goto out;
    }
    layout = json_loads(data, 0, &jerr);
    ver = json_string_value(json_object_get(layout, "imageLayoutVersion"));
    if (!ver || strncmp(ver, "1.", 2) != 0) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "'%s': unsupported imageLayoutVersion '%s'", path,
                          ver ? ver : "(none)");
        goto out;
    }
    free(path);
    free(data);
    data = NULL;
    path = stk_xasprintf("%s/index.json", im->root);
    ret = stk_file_read(path, &data, NULL, err);
    if (ret < 0)
        goto out;
    index = json_loads(data, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(index)) {
        ret =
            stk_err_set(err, STK_EIMAGE, 0, "'%s': %s", path, index ? "not an object" : jerr.text);
        goto out;
    }
    manifests = json_object_get(index, "manifests");
    if (!json_is_array(manifests) || json_array_size(manifests) == 0) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "'%s': no manifests", path);
        goto out;
    }

    /* Group the entries by name, in index order. */
    json_array_foreach(manifests, i, e)
    {
        struct group *g = NULL;
        struct desc d;
        char *name = entry_name(e, err, &ret);
        if (ret < 0)
            goto out;
        ret = desc_parse(e, "index.json entry", &d, err);
        if (ret < 0) {
            free(name);
            goto out;
        }
        if (d.media_type && !is_manifest_type(d.media_type) && !is_index_type(d.media_type)) {
            free(name);
            continue;
        }
        for (size_t k = 0; k < n_groups; k++) {
            if ((!name && !groups[k].name) ||
                (name && groups[k].name && strcmp(name, groups[k].name) == 0))
                g = &groups[k];
        }
        if (!g) {
            groups = stk_xrealloc(groups, (n_groups + 1) * sizeof(*groups));
            g = &groups[n_groups++];
            memset(g, 0, sizeof(*g));
            g->name = name;
            name = NULL;
        }
        free(name);
        ret = collect(im, &d, 0, &g->cands, &g->n, err);
        if (ret < 0)
            goto out;
    }
    if (n_groups == 0) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "'%s': no image manifests", path);
        goto out;
    }

    /* Choose one manifest per group and import what it references. */
    names = stk_xcalloc(n_groups + 1, sizeof(char *));
    digests = stk_xcalloc(n_groups + 1, sizeof(char *));
    for (i = 0; i < n_groups; i++) {
        struct group *g = &groups[i];
        int pick = 0;
        if (g->n == 0) {
            ret = stk_err_set(err, STK_EIMAGE, 0, "image '%s': no manifests",
                              g->name ? g->name : "(unnamed)");
            goto out;
        }
        if (g->n > 1) {
            struct rt_image_platform *plats = stk_xcalloc(g->n, sizeof(*plats));
            for (size_t k = 0; k < g->n && ret == 0; k++) {
                ret = cand_fill_platform(im, &g->cands[k], err);
                plats[k].os = g->cands[k].os;
                plats[k].architecture = g->cands[k].arch;
                plats[k].variant = g->cands[k].variant;
                plats[k].os_version = g->cands[k].os_version;
            }
            pick = ret < 0 ? -1 : rt_image_platform_select(plats, g->n, im->want);
            free(plats);
            if (ret < 0)
                goto out;
            if (pick < 0) {
                platform_string(im->want, &b);
                ret = stk_err_set(err, STK_EIMAGE, 0, "image '%s': no manifest for platform %s",
                                  g->name ? g->name : "(unnamed)", b.buf);
                goto out;
            }
        }
        ret = import_manifest_tree(im, g->cands[pick].digest, err);
        if (ret < 0)
            goto out;
        if (g->name) {
            names[n_named] = g->name;
            digests[n_named++] = g->cands[pick].digest;
        }
        if (i == 0) {
            *ret_manifest_digest = stk_xstrdup(g->cands[pick].digest);
            *ret_name = g->name ? stk_xstrdup(g->name) : NULL;
        }
    }
    if (n_named)
        ret = repos_update(im->s, names, digests, n_named, err);
out:
    for (i = 0; i < n_groups; i++) {
        free(groups[i].name);
        cands_free(groups[i].cands, groups[i].n);
    }
    free(groups);
    free(names);
    free(digests);
    stk_buf_release(&b);
    json_decref(layout);
    json_decref(index);
    free(path);
    free(data);
    return ret;
}

/* rt_image_load_layout() that also returns the name of the first group (new string or NULL). */
static int load_layout(struct rt_image_store *store, const char *path,
                       const struct rt_image_platform *platform, char **ret_manifest_digest,
                       char **ret_name, struct stk_err *err)
{
    struct rt_image_platform host;
    struct import im = {0};
    struct stat st;
    char *digest = NULL, *name = NULL;
    int ret;

    if (!store || !path || !*path)
        return stk_err_set(err, STK_EINVAL, 0, "load image layout: no path");
    rt_image_platform_host(&host);
    im.s = store;
    im.want = platform ? platform : &host;
    if (stat(path, &st) < 0) {
        return stk_err_set(err, errno == ENOENT ? STK_ENOENT : STK_EIO, errno,
                           "load image layout '%s'", path);
    }
    if (S_ISDIR(st.st_mode)) {
        im.root = stk_xstrdup(path);
    } else if (S_ISREG(st.st_mode)) {
        im.root = stk_xasprintf("%s/load-XXXXXX", store->tmp_dir);
        if (!mkdtemp(im.root)) {
            ret = stk_err_set(err, STK_EIO, errno, "create '%s'", im.root);
            free(im.root);
            return stk_err_wrap(err, "load image layout '%s'", path);
        }
        im.staged = 1;
        ret = stage_archive(path, im.root, err);
        if (ret < 0)
            goto out;
    } else {
        return stk_err_set(err, STK_EIMAGE, 0, "load image layout '%s': not a directory or archive",
                           path);
    }
    ret = import_layout(&im, &digest, &name, err);
    if (ret < 0)
        goto out;
    if (ret_manifest_digest) {
        *ret_manifest_digest = digest;
        digest = NULL;
    }
    if (ret_name) {
        *ret_name = name;
        name = NULL;
    }
out:
    if (im.staged) {
        struct stk_err ignored = STK_ERR_INIT;
        stk_rm_rf(im.root, &ignored);
        stk_err_clear(&ignored);
    }
    free(im.root);
    free(digest);
    free(name);
    if (ret < 0)
        stk_err_wrap(err, "load image layout '%s'", path);
    return ret;
}

int rt_image_load_layout(struct rt_image_store *store, const char *path,
                         const struct rt_image_platform *platform, char **ret_manifest_digest,
                         struct stk_err *err)
{
    return load_layout(store, path, platform, ret_manifest_digest, NULL, err);
}

/* ---- resolve, list, untag ----------------------------------------------------------------------
 */

static int looks_like_path(const char *s)
{
    char *marker;
    int r;

    if (s[0] == '/' || s[0] == '.')
        return 1;
    marker = stk_xasprintf("%s/oci-layout", s);
    r = stk_path_exists(marker);
    free(marker);
    return r;
}

/*
 * The names under which REF (normalised NAME:TAG) may have been recorded: as
 * written, then with Docker Hub's implicit prefixes ("busybox" is
 * "docker.io/library/busybox", "team/app" is "docker.io/team/app"), or
 * without them. This lets `image: busybox` find an image that containerd or
 * Docker exported as "docker.io/library/busybox:latest".
 */
static void ref_aliases(const char *ref, struct stk_strv *out)
{
    const char *slash = strchr(ref, '/');

    stk_strv_push(out, ref);
    if (!slash) {
        stk_strv_pushf(out, "docker.io/library/%s", ref);
    } else if (strncmp(ref, "docker.io/library/", 18) == 0 && !strchr(ref + 18, '/')) {
        stk_strv_push(out, ref + 18);
    } else if (strncmp(ref, "docker.io/", 10) == 0) {
        stk_strv_push(out, ref + 10);
    } else {
        /* "team/app": the first component is not a registry host (no '.' or ':'). */
        size_t n = (size_t)(slash - ref);
        if (!memchr(ref, '.', n) && !memchr(ref, ':', n) && strncmp(ref, "localhost", n) != 0)
            stk_strv_pushf(out, "docker.io/%s", ref);
    }
}

int rt_image_resolve(struct rt_image_store *store, const char *ref_or_path,
                     const struct rt_image_platform *platform, struct rt_image **ret_image,
                     struct stk_err *err)
{
    struct stk_strv aliases = STK_STRV_INIT;
    char *norm = NULL, *digest = NULL, *ref = NULL;
    json_t *refs = NULL;
    int ret;

    if (!store || !ref_or_path || !*ref_or_path || !ret_image)
        return stk_err_set(err, STK_EINVAL, 0, "resolve image: no reference");
    if (looks_like_path(ref_or_path)) {
        ret = load_layout(store, ref_or_path, platform, &digest, &ref, err);
        if (ret < 0)
            goto out;
        ret = rt_image_get(store, digest, ref, ret_image, err);
        goto out;
    }
    norm = rt_image_ref_normalize(ref_or_path, err);
    if (!norm) {
        ret = STK_EINVAL;
        goto out;
    }
    if (strchr(norm, '@')) {
        const char *d = strchr(norm, '@') + 1;
        char *p = rt_image_blob_path(store, d, err);
        int present = p && stk_path_exists(p);
        free(p);
        if (!present) {
            ret = stk_err_set(err, STK_ENOENT, 0, "image '%s' not found", norm);
            goto out;
        }
        ret = image_get(store, d, norm, platform, ret_image, err);
        goto out;
    }
    ret = repos_read(store, &refs, err);
    if (ret < 0)
        goto out;
    stk_strv_init(&aliases);
    ref_aliases(norm, &aliases);
    const char *d = NULL, *key = NULL;
    for (size_t i = 0; i < aliases.n && !d; i++) {
        key = aliases.v[i];
        d = json_string_value(json_object_get(refs, key));
    }
    if (!d) {
        ret = stk_err_set(err, STK_ENOENT, 0, "image '%s' not found", norm);
        goto out;
    }
    ret = rt_image_get(store, d, key, ret_image, err);
    if (ret < 0)
        stk_err_wrap(err, "image '%s'", norm);
out:
    stk_strv_release(&aliases);
    json_decref(refs);
    free(norm);
    free(digest);
    free(ref);
    return ret;
}

void rt_image_list_release(struct rt_image_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++) {
        struct rt_image_entry *e = &list->items[i];
        free(e->ref);
        free(e->manifest_digest);
        free(e->config_digest);
        free(e->os);
        free(e->architecture);
        free(e->created);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rt_image_entry *)a)->ref, ((const struct rt_image_entry *)b)->ref);
}

int rt_image_list(struct rt_image_store *store, struct rt_image_list *ret_list, struct stk_err *err)
{
    json_t *refs = NULL, *v;
    const char *key;
    size_t n = 0;
    int ret;

    if (!store || !ret_list)
        return stk_err_set(err, STK_EINVAL, 0, "list images: no store");
    ret_list->items = NULL;
    ret_list->n = 0;
    ret = repos_read(store, &refs, err);
    if (ret < 0)
        return ret;
    ret_list->items = stk_xcalloc(json_object_size(refs) + 1, sizeof(*ret_list->items));
    json_object_foreach(refs, key, v)
    {
        struct rt_image_entry *e = &ret_list->items[n];
        struct stk_err ignored = STK_ERR_INIT;
        struct rt_image *img = NULL;
        if (!json_is_string(v))
            continue;
        n++;
        e->ref = stk_xstrdup(key);
        e->manifest_digest = stk_xstrdup(json_string_value(v));
        e->size = -1;
        if (rt_image_get(store, e->manifest_digest, key, &img, &ignored) == 0) {
            char *mpath = rt_image_blob_path(store, img->config_digest, NULL);
            struct stat st;
            e->config_digest = stk_xstrdup(img->config_digest);
            e->os = stk_xstrdup(img->os);
            e->architecture = stk_xstrdup(img->architecture);
            e->created = stk_xstrdup(img->created);
            e->size = (mpath && stat(mpath, &st) == 0) ? (int64_t)st.st_size : 0;
            for (size_t k = 0; k < img->n_layers; k++)
                e->size += img->layers[k].size;
            free(mpath);
        }
        stk_err_clear(&ignored);
        rt_image_free(img);
    }
    ret_list->n = n;
    if (n > 1)
        qsort(ret_list->items, n, sizeof(*ret_list->items), entry_cmp);
    json_decref(refs);
    return 0;
}

int rt_image_untag(struct rt_image_store *store, const char *ref, struct stk_err *err)
{
    char *norm;
    int ret;

    if (!store)
        return stk_err_set(err, STK_EINVAL, 0, "untag image: no store");
    norm = rt_image_ref_normalize(ref, err);
    if (!norm)
        return STK_EINVAL;
    char *digests[1] = {NULL};
    ret = repos_update(store, &norm, digests, 1, err);
    free(norm);
    return ret;
}
