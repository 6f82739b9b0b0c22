/*
 * test-rt-rootfs.c - layer unpacking and the overlayfs root file system of the
 * OCI driver (runtime/oci/oci-rootfs.h).
 *
 * Layer archives are written here with libarchive, so that the test controls
 * every entry (whiteouts, "../" names, links, xattrs). Tests that need root
 * (mknod of whiteouts, trusted xattrs, overlay mounts) skip visibly when not
 * root, and fail instead under CI=true (STYLE.md rule 34).
 */
#include "runtime/oci/oci-rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "runtime/image/rt-image.h"

static char tmpdir[] = "/tmp/test-rt-rootfs.XXXXXX";
static char *base; /* realpath of tmpdir */

static void setup(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
    base = realpath(tmpdir, NULL);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;
    char *p;

    /* Never leave a mount behind, whatever failed. */
    for (int i = 0; i < 4; i++) {
        p = stk_xasprintf("%s/c%d/rootfs", base, i);
        umount2(p, MNT_DETACH);
        free(p);
    }
    stk_rm_rf(base, &err);
    stk_err_clear(&err);
    free(base);
}

static void need_root(void)
{
    const char *ci = getenv("CI");

    if (geteuid() == 0)
        return;
    if (ci && strcmp(ci, "true") == 0)
        cr_assert_fail("this test needs root (mknod, trusted xattrs, overlay mounts) and CI=true");
    cr_skip_test("needs root for whiteouts, trusted xattrs and overlay mounts");
}

/* One entry of a test archive. */
struct ent {
    char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
    const char *name; /* path in the archive, as written */
    const char *data; /* file content, or link target */
    int mode;         /* permission bits; 0: 0644 / 0755 */
    int uid, gid;
    const char *xattr; /* optional "name=value" */
};

/* Writes a pax tar (gzip-compressed when GZ) with ENTS to PATH. */
static void write_tar(const char *path, const struct ent *ents, size_t n, int gz)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz)
        archive_write_add_filter_gzip(a);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK, "%s", archive_error_string(a));
    for (size_t i = 0; i < n; i++) {
        const struct ent *e = &ents[i];
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->name);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, 1000000, 0);
        switch (e->type) {
        case 'f':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e->mode ? e->mode : 0644);
            archive_entry_set_size(ae, (la_int64_t)strlen(e->data ? e->data : ""));
            break;
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e->mode ? e->mode : 0755);
            break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e->data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e->data);
            break;
        }
        if (e->xattr) {
            const char *eq = strchr(e->xattr, '=');
            char *k = stk_xstrndup(e->xattr, (size_t)(eq - e->xattr));
            archive_entry_xattr_add_entry(ae, k, eq + 1, strlen(eq + 1));
            free(k);
        }
        cr_assert_eq(archive_write_header(a, ae), ARCHIVE_OK, "%s", archive_error_string(a));
        if (e->type == 'f' && e->data && *e->data)
            archive_write_data(a, e->data, strlen(e->data));
        archive_entry_free(ae);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Writes the archive and unpacks it into a new directory NAME; returns the unpack status. */
static int unpack(const char *name, const struct ent *ents, size_t n, char **ret_dir,
                  struct stk_err *err)
{
    struct stk_err e2 = STK_ERR_INIT;
    char *tar = stk_xasprintf("%s/%s.tar.gz", base, name);
    char *dir = stk_xasprintf("%s/%s", base, name);
    int r;

    write_tar(tar, ents, n, 1);
    cr_assert_eq(stk_mkdir_p(dir, 0755, &e2), 0);
    r = rt_oci_rootfs_unpack_tar(tar, dir, err);
    free(tar);
    *ret_dir = dir;
    return r;
}

static int is_whiteout(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static char *slurp(const char *path)
{
    struct stk_err err = STK_ERR_INIT;
    char *d = NULL;
    if (stk_file_read(path, &d, NULL, &err) < 0)
        return NULL;
    return d;
}

TestSuite(rt_oci_rootfs, .init = setup, .fini = teardown, .timeout = 120);

/* ---- malicious archives (no root needed) ---------------------------------------------- */

Test(rt_oci_rootfs, rejects_dotdot_entry)
{
    struct stk_err err = STK_ERR_INIT;
    struct ent e[] = {
        {'f', "ok.txt", "fine", 0, 0, 0, NULL},
        {'f', "sub/../../escape.txt", "pwned", 0, 0, 0, NULL},
    };
    char *dir = NULL;

    int r = unpack("dotdot", e, 2, &dir, &err);
    cr_assert_eq(r, STK_EIMAGE, "got %d: %s", r, err.msg);
    cr_assert_not_null(strstr(err.msg, "../escape.txt"), "%s", err.msg);
    char *esc = stk_xasprintf("%s/escape.txt", base);
    cr_assert_not(stk_path_exists(esc), "an entry escaped the layer directory");
    free(esc);
    free(dir);
}

Test(rt_oci_rootfs, rejects_absolute_entry)
{
    struct stk_err err = STK_ERR_INIT;
    char *target = stk_xasprintf("%s/abs-target", base);
    struct ent e[] = {{'f', target, "pwned", 0, 0, 0, NULL}};
    char *dir = NULL;

    int r = unpack("abs", e, 1, &dir, &err);
    cr_assert_eq(r, STK_EIMAGE, "got %d: %s", r, err.msg);
    cr_assert_not(stk_path_exists(target));
    free(target);
    free(dir);
}

Test(rt_oci_rootfs, rejects_hardlink_escape)
{
    struct stk_err err = STK_ERR_INIT;
    struct ent e[] = {{'h', "h", "../../../../etc/passwd", 0, 0, 0, NULL}};
    char *dir = NULL;

    int r = unpack("hl", e, 1, &dir, &err);
    cr_assert_eq(r, STK_EIMAGE, "got %d: %s", r, err.msg);
    char *h = stk_xasprintf("%s/h", dir);
    cr_assert_not(stk_path_exists(h));
    free(h);
    free(dir);
}

Test(rt_oci_rootfs, refuses_writing_through_symlink)
{
    struct stk_err err = STK_ERR_INIT;
    char *outside = stk_xasprintf("%s/outside", base);
    cr_assert_eq(stk_mkdir_p(outside, 0755, &err), 0);
    struct ent e[] = {
        {'l', "lnk", outside, 0, 0, 0, NULL},
        {'f', "lnk/pwned", "x", 0, 0, 0, NULL},
    };
    struct ent w[] = {
        {'l', "lnk", outside, 0, 0, 0, NULL},
        {'f', "lnk/.wh..wh..opq", "", 0, 0, 0, NULL},
        {'f', "lnk/.wh.victim", "", 0, 0, 0, NULL},
    };
    char *dir = NULL, *dir2 = NULL;

    int r = unpack("sym", e, 2, &dir, &err);
    cr_assert_lt(r, 0, "writing through a symlink was accepted");
    char *p = stk_xasprintf("%s/pwned", outside);
    cr_assert_not(stk_path_exists(p), "file written through a symlink");
    free(p);

    stk_err_clear(&err);
    r = unpack("symwh", w, 3, &dir2, &err);
    cr_assert_eq(r, STK_EIMAGE, "got %d: %s", r, err.msg);
    p = stk_xasprintf("%s/victim", outside);
    cr_assert_not(stk_path_exists(p), "whiteout created through a symlink");
    char v[8];
    cr_assert_lt(getxattr(outside, "trusted.overlay.opaque", v, sizeof(v)), 0);
    free(p);
    free(outside);
    free(dir);
    free(dir2);
}

Test(rt_oci_rootfs, refuses_hardlink_through_symlink)
{
    struct stk_err err = STK_ERR_INIT;
    char *outside = stk_xasprintf("%s/outside", base);
    char *secret = stk_xasprintf("%s/secret", outside);
    cr_assert_eq(stk_mkdir_p(outside, 0755, &err), 0);
    cr_assert_eq(stk_file_write_atomic(secret, "s", 1, 0600, 0, &err), 0);
    struct ent e[] = {
        {'l', "lnk", outside, 0, 0, 0, NULL},
        {'h', "h", "lnk/secret", 0, 0, 0, NULL},
    };
    char *dir = NULL;
    struct stat st;

    int r = unpack("hlsym", e, 2, &dir, &err);
    cr_assert_lt(r, 0, "hard link through a symlink accepted");
    cr_assert_eq(stat(secret, &st), 0);
    cr_assert_eq(st.st_nlink, 1, "a file outside the layer got a hard link");
    free(dir);
    free(secret);
    free(outside);
}

/* ---- unpacking with whiteouts (root) --------------------------------------------------- */

Test(rt_oci_rootfs, unpack_preserves_metadata_and_converts_whiteouts)
{
    need_root();
    struct stk_err err = STK_ERR_INIT;
    struct ent e[] = {
        {'d', "a", NULL, 0750, 0, 0, NULL},
        {'f', "a/.wh.gone", "", 0, 0, 0, NULL},
        {'f', "a/.wh.same", "", 0, 0, 0, NULL},
        {'f', "a/same", "kept", 0, 0, 0, NULL},
        {'f', "a/owned", "data", 0640, 1000, 1001, NULL},
        {'f', "a/suid", "#!", 04755, 0, 0, NULL},
        {'h', "a/hard", "a/owned", 0, 1000, 1001, NULL},
        {'l', "a/sym", "/etc/../owned", 0, 0, 0, NULL},
        {'d', "b", NULL, 0, 0, 0, "trusted.overlay.redirect=/x"},
        {'f', "b/.wh..wh..opq", "", 0, 0, 0, NULL},
        {'f', "b/new", "n", 0, 0, 0, "user.stack.test=1"},
        {'f', ".wh.c", "", 0, 0, 0, NULL},
        {'f', "deep/er/.wh.x", "", 0, 0, 0, NULL},
        {'f', "d/.wh..wh.plnk", "", 0, 0, 0, NULL},
    };
    char *dir = NULL, *p;
    struct stat st, st2;
    char v[16];

    int r = unpack("wh", e, STK_ARRAY_SIZE(e), &dir, &err);
    cr_assert_eq(r, 0, "unpack: %s", err.msg);

    p = stk_xasprintf("%s/a/gone", dir);
    cr_assert(is_whiteout(p), "a/gone is not a 0:0 character device");
    free(p);
    p = stk_xasprintf("%s/a/same", dir);
    char *s = slurp(p);
    cr_assert_str_eq(s, "kept", "a same-layer file was whited out");
    free(s);
    free(p);
    p = stk_xasprintf("%s/c", dir);
    cr_assert(is_whiteout(p), "top-level whiteout of c missing");
    free(p);
    p = stk_xasprintf("%s/deep/er/x", dir);
    cr_assert(is_whiteout(p), "whiteout in implicit directories missing");
    free(p);
    /* No ".wh." names survive. */
    p = stk_xasprintf("%s/a/.wh.gone", dir);
    cr_assert_not(stk_path_exists(p));
    free(p);
    p = stk_xasprintf("%s/d/.wh..wh.plnk", dir);
    cr_assert_not(stk_path_exists(p));
    free(p);
    p = stk_xasprintf("%s/b/.wh..wh..opq", dir);
    cr_assert_not(stk_path_exists(p));
    free(p);

    /* Opaque dir: our xattr is set; the layer's own trusted.* xattr was dropped. */
    p = stk_xasprintf("%s/b", dir);
    ssize_t n = getxattr(p, "trusted.overlay.opaque", v, sizeof(v));
    cr_assert_eq(n, 1, "opaque xattr: %zd (%s)", n, strerror(errno));
    cr_assert_eq(v[0], 'y');
    cr_assert_lt(getxattr(p, "trusted.overlay.redirect", v, sizeof(v)), 0,
                 "a trusted.* xattr from the archive was applied");
    free(p);
    /* Other xattrs are carried (this also shows the archive holds xattrs at all). */
    p = stk_xasprintf("%s/b/new", dir);
    n = getxattr(p, "user.stack.test", v, sizeof(v));
    if (n < 0 && errno == ENOTSUP)
        cr_log_warn("user xattrs unsupported on %s", base);
    else
        cr_assert_eq(n, 1, "user xattr lost: %zd", n);
    free(p);

    /* Modes, ownership, links. */
    p = stk_xasprintf("%s/a/owned", dir);
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
    cr_assert_eq(st.st_uid, 1000);
    cr_assert_eq(st.st_gid, 1001);
    cr_assert_eq(st.st_nlink, 2);
    free(p);
    p = stk_xasprintf("%s/a/hard", dir);
    cr_assert_eq(lstat(p, &st2), 0);
    cr_assert_eq(st.st_ino, st2.st_ino, "hard link is a copy");
    free(p);
    p = stk_xasprintf("%s/a/suid", dir);
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 04755, "mode %o", st.st_mode & 07777);
    free(p);
    p = stk_xasprintf("%s/a", dir);
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0750, "dir mode %o", st.st_mode & 07777);
    free(p);
    p = stk_xasprintf("%s/a/sym", dir);
    char target[64] = "";
    cr_assert_gt(readlink(p, target, sizeof(target) - 1), 0);
    cr_assert_str_eq(target, "/etc/../owned");
    free(p);
    free(dir);
}

/* ---- overlay view (root) ---------------------------------------------------------------- */

Test(rt_oci_rootfs, overlay_merges_layers_with_whiteouts_and_opaque_dirs)
{
    need_root();
    struct stk_err err = STK_ERR_INIT;
    struct ent l1[] = {
        {'f', "a/keep", "k1", 0, 0, 0, NULL}, {'f', "a/gone", "g1", 0, 0, 0, NULL},
        {'f', "b/old1", "o1", 0, 0, 0, NULL}, {'f', "b/old2", "o2", 0, 0, 0, NULL},
        {'f', "c/file", "c1", 0, 0, 0, NULL}, {'f', "e/over", "base", 0, 0, 0, NULL},
    };
    struct ent l2[] = {
        {'f', "a/.wh.gone", "", 0, 0, 0, NULL}, {'f', "b/.wh..wh..opq", "", 0, 0, 0, NULL},
        {'f', "b/new", "n2", 0, 0, 0, NULL},    {'f', ".wh.c", "", 0, 0, 0, NULL},
        {'f', "d/new", "d2", 0, 0, 0, NULL},    {'f', "e/over", "top", 0, 0, 0, NULL},
    };
    char *d1 = NULL, *d2 = NULL, *rootfs = NULL, *p, *s;

    cr_assert_eq(unpack("l1", l1, STK_ARRAY_SIZE(l1), &d1, &err), 0, "%s", err.msg);
    cr_assert_eq(unpack("l2", l2, STK_ARRAY_SIZE(l2), &d2, &err), 0, "%s", err.msg);
    char *dirs[] = {d1, d2, NULL};
    char *cdir = stk_xasprintf("%s/c0", base);
    cr_assert_eq(rt_oci_rootfs_mount(dirs, cdir, &rootfs, &err), 0, "mount: %s", err.msg);
    char *want = stk_xasprintf("%s/rootfs", cdir);
    cr_assert_str_eq(rootfs, want);
    free(want);

#define AT(rel) (free(p), p = stk_xasprintf("%s/%s", rootfs, rel))
    p = NULL;
    cr_assert(stk_path_exists(AT("a/keep")), "a/keep hidden");
    cr_assert_not(stk_path_exists(AT("a/gone")), "whiteout did not hide a/gone");
    cr_assert(stk_path_exists(AT("b/new")));
    cr_assert_not(stk_path_exists(AT("b/old1")), "opaque dir shows lower content");
    cr_assert_not(stk_path_exists(AT("b/old2")), "opaque dir shows lower content");
    cr_assert_not(stk_path_exists(AT("c")), "whited-out dir c visible");
    cr_assert(stk_path_exists(AT("d/new")));
    s = slurp(AT("e/over"));
    cr_assert_str_eq(s, "top");
    free(s);

    /* Writes go to the upper dir; the shared lower layer is untouched. */
    FILE *f = fopen(AT("a/keep"), "w");
    cr_assert_not_null(f);
    fputs("changed", f);
    fclose(f);
    char *lower = stk_xasprintf("%s/a/keep", d1);
    s = slurp(lower);
    cr_assert_str_eq(s, "k1", "lower layer modified");
    free(s);
    free(lower);
    char *upper = stk_xasprintf("%s/overlay/upper/a/keep", cdir);
    cr_assert(stk_path_exists(upper));

    /* Idempotent prepare: a second mount call does not stack a mount. */
    char *again = NULL;
    cr_assert_eq(rt_oci_rootfs_mount(dirs, cdir, &again, &err), 0, "%s", err.msg);
    free(again);

    cr_assert_eq(rt_oci_rootfs_release(cdir, &err), 0, "release: %s", err.msg);
    cr_assert_not(stk_path_exists(AT("a/keep")), "still mounted after release");
    cr_assert_not(stk_path_exists(upper), "upper dir left behind");
    char *ov = stk_xasprintf("%s/overlay", cdir);
    cr_assert_not(stk_path_exists(ov));
    free(ov);
    /* Released twice: still fine. */
    cr_assert_eq(rt_oci_rootfs_release(cdir, &err), 0, "%s", err.msg);
    /* The layer cache stays. */
    lower = stk_xasprintf("%s/a/keep", d1);
    cr_assert(stk_path_exists(lower));
    free(lower);
#undef AT
    free(p);
    free(upper);
    free(rootfs);
    free(cdir);
    free(d1);
    free(d2);
}

Test(rt_oci_rootfs, many_layers_use_the_new_mount_api)
{
    need_root();
    struct stk_err err = STK_ERR_INIT;
    char *dirs[81] = {NULL};
    char *rootfs = NULL;
    size_t n = 80;

    /* 80 lower dirs of ~110 characters: far beyond one page of mount options. */
    for (size_t i = 0; i < n; i++) {
        dirs[i] = stk_xasprintf("%s/layers/layer-%03zu-%s", base, i,
                                "padding-padding-padding-padding-padding-padding-padding-padding");
        cr_assert_eq(stk_mkdir_p(dirs[i], 0755, &err), 0);
        char *f = stk_xasprintf("%s/f%03zu", dirs[i], i);
        char *top = stk_xasprintf("%s/which", dirs[i]);
        cr_assert_eq(stk_file_write_atomic(f, "x", 1, 0644, 0, &err), 0);
        char *txt = stk_xasprintf("%zu", i);
        cr_assert_eq(stk_file_write_atomic(top, txt, strlen(txt), 0644, 0, &err), 0);
        free(txt);
        free(f);
        free(top);
    }
    char *cdir = stk_xasprintf("%s/c1", base);
    int r = rt_oci_rootfs_mount(dirs, cdir, &rootfs, &err);
    cr_assert_eq(r, 0, "mount with %zu layers: %s", n, err.msg);
    char *p0 = stk_xasprintf("%s/f000", rootfs), *p79 = stk_xasprintf("%s/f079", rootfs);
    cr_assert(stk_path_exists(p0), "base layer not visible");
    cr_assert(stk_path_exists(p79));
    char *w = stk_xasprintf("%s/which", rootfs);
    char *s = slurp(w);
    cr_assert_str_eq(s, "79", "the last layer is not the topmost");
    free(s);
    cr_assert_eq(rt_oci_rootfs_release(cdir, &err), 0, "%s", err.msg);
    cr_assert_not(stk_path_exists(p0));
    free(w);
    free(p0);
    free(p79);
    free(cdir);
    free(rootfs);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
}

Test(rt_oci_rootfs, prepare_busybox_image_and_share_layer_cache)
{
    need_root();
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_store *store = NULL;
    struct rt_image *img = NULL;
    char *layout = stk_xasprintf("%s/busybox", base);
    char *state = stk_xasprintf("%s/state", base);
    char *cmd = stk_xasprintf("%s/examples/images/build-busybox.sh '%s' >/dev/null", STK_SOURCE_DIR,
                              layout);
    char *r1 = NULL, *r2 = NULL;
    struct stat st, st2;

    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(rt_image_store_open(state, &store, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_resolve(store, layout, NULL, &img, &err), 0, "%s", err.msg);

    /* A stale half-unpacked layer from a "crash" is cleaned up, never used. */
    char *stale = stk_xasprintf("%s/layers/.tmp-%s-crash1", rt_image_store_dir(store),
                                img->layer_digests[0] + 7);
    cr_assert_eq(stk_mkdir_p(stale, 0755, &err), 0);

    char *c0 = stk_xasprintf("%s/c2", base), *c1 = stk_xasprintf("%s/c3", base);
    cr_assert_eq(rt_oci_rootfs_prepare(store, img->layer_digests, c0, &r1, &err), 0, "%s", err.msg);
    cr_assert_not(stk_path_exists(stale), "stale temporary layer left");
    char *layer_dir = NULL;
    cr_assert_eq(rt_oci_rootfs_unpack_layer(store, img->layer_digests[0], &layer_dir, &err), 0);
    cr_assert_eq(stat(layer_dir, &st), 0);
    cr_assert_eq(rt_oci_rootfs_prepare(store, img->layer_digests, c1, &r2, &err), 0, "%s", err.msg);
    cr_assert_eq(stat(layer_dir, &st2), 0);
    cr_assert_eq(st.st_ino, st2.st_ino, "layer unpacked twice");

    char *bb = stk_xasprintf("%s/bin/busybox", r1);
    cr_assert_eq(stat(bb, &st), 0);
    cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 0111), "bin/busybox not executable");
    char *sh = stk_xasprintf("%s/bin/sh", r2);
    char target[32] = "";
    cr_assert_gt(readlink(sh, target, sizeof(target) - 1), 0);
    cr_assert_str_eq(target, "busybox");
    char *tmp = stk_xasprintf("%s/tmp", r1);
    cr_assert_eq(stat(tmp, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 01777, "tmp mode %o", st.st_mode & 07777);
    /* The content runs: chroot into the merged tree. */
    char *run = stk_xasprintf("chroot '%s' /bin/sh -c 'echo hello > /tmp/out'", r1);
    cr_assert_eq(system(run), 0, "%s", run);
    char *out = stk_xasprintf("%s/tmp/out", r1);
    char *s = slurp(out);
    cr_assert_str_eq(s, "hello\n");
    free(s);
    /* ... and the other container does not see it. */
    char *out2 = stk_xasprintf("%s/tmp/out", r2);
    cr_assert_not(stk_path_exists(out2), "containers share a writable layer");

    cr_assert_eq(rt_oci_rootfs_release(c0, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_oci_rootfs_release(c1, &err), 0, "%s", err.msg);
    cr_assert(stk_path_is_dir(layer_dir), "layer cache removed by release");

    /* A layer that is not in the store. */
    char d[STK_DIGEST_STR_LEN];
    stk_sha256_digest("nope", 4, d);
    char *missing[] = {d, NULL};
    char *r3 = NULL;
    int r = rt_oci_rootfs_prepare(store, missing, c0, &r3, &err);
    cr_assert_eq(r, STK_ENOENT, "%d %s", r, err.msg);

    free(out);
    free(out2);
    free(run);
    free(tmp);
    free(sh);
    free(bb);
    free(layer_dir);
    free(stale);
    free(c0);
    free(c1);
    free(r1);
    free(r2);
    rt_image_free(img);
    rt_image_store_close(store);
    free(cmd);
    free(state);
    free(layout);
}
