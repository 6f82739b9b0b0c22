/*
 * oci-rootfs.c - layer unpacking into a shared cache and the per-container
 * overlayfs root file system of the OCI driver. See oci-rootfs.h.
 */
#include "runtime/oci/oci-rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "runtime/image/rt-image.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"
#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

/* ---- path checks ------------------------------------------------------------------------- */

/*
 * Returns a new string with NAME cleaned of leading "./" and "/" duplicates and a
 * trailing "/", or NULL (with ERR set) when NAME is absolute or has a ".."
 * component. "" stands for the root itself.
 */
static char *clean_entry_path(const char *name, const char *what, struct stk_err *err)
{
    struct stk_buf b = STK_BUF_INIT;
    const char *p = name;

    if (name[0] == '/') {
        stk_err_set(err, STK_EIMAGE, 0, "layer %s '%s' is an absolute path", what, name);
        return NULL;
    }
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            stk_buf_release(&b);
            stk_err_set(err, STK_EIMAGE, 0, "layer %s '%s' escapes the root", what, name);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (b.len)
                stk_buf_putc(&b, '/');
            stk_buf_add(&b, p, len);
        }
        p += len;
        while (*p == '/')
            p++;
    }
    return stk_buf_detach(&b, NULL);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Opens the directory REL ("" for ROOTFD itself; components separated by '/')
 * below ROOTFD, one component at a time with O_NOFOLLOW, so a symbolic link
 * anywhere on the way is refused rather than followed out of the layer.
 * Missing components are created (mode 0755) when CREATE is non-zero.
 */
static int open_dir_beneath(int rootfd, const char *rel, int create, struct stk_err *err)
{
    char *copy = stk_xstrdup(rel);
    char *p = copy, *slash;
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);

    if (fd < 0) {
        free(copy);
        return stk_err_set(err, STK_EIO, errno, "dup");
    }
    while (*p) {
        int next;
        slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (create && mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            fd = stk_err_set(err, STK_EIO, e, "mkdir '%s' in layer", rel);
            break;
        }
        next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int e = errno;
            close(fd);
            fd = stk_err_set(err, e == ELOOP || e == ENOTDIR ? STK_EIMAGE : STK_EIO, e,
                             "layer path '%s' goes through a non-directory", rel);
            break;
        }
        close(fd);
        fd = next;
        if (!slash)
            break;
        p = slash + 1;
    }
    free(copy);
    return fd;
}

/* Splits REL into its parent ("" for top level) and a borrowed base name. */
static char *split_parent(const char *rel, const char **ret_base)
{
    const char *slash = strrchr(rel, '/');

    *ret_base = slash ? slash + 1 : rel;
    return slash ? stk_xstrndup(rel, (size_t)(slash - rel)) : stk_xstrdup("");
}

/* ---- unpacking ------------------------------------------------------------------------ */

/* Drops xattrs of the "trusted." namespace (overlayfs metadata) from ENT. */
static void filter_xattrs(struct archive_entry *ent)
{
    struct keep {
        char *name;
        void *value;
        size_t size;
    } *keep = NULL;
    size_t n = 0, dropped = 0;
    const char *name;
    const void *value;
    size_t size;

    if (archive_entry_xattr_reset(ent) == 0)
        return;
    while (archive_entry_xattr_next(ent, &name, &value, &size) == ARCHIVE_OK) {
        if (starts_with(name, "trusted.")) {
            dropped++;
            continue;
        }
        keep = stk_xrealloc(keep, (n + 1) * sizeof(*keep));
        keep[n].name = stk_xstrdup(name);
        keep[n].value = stk_xmalloc(size ? size : 1);
        memcpy(keep[n].value, value, size);
        keep[n].size = size;
        n++;
    }
    if (dropped) {
        archive_entry_xattr_clear(ent);
        for (size_t i = 0; i < n; i++)
            archive_entry_xattr_add_entry(ent, keep[i].name, keep[i].value, keep[i].size);
    }
    for (size_t i = 0; i < n; i++) {
        free(keep[i].name);
        free(keep[i].value);
    }
    free(keep);
}

static int copy_data(struct archive *in, struct archive *out, const char *entry,
                     struct stk_err *err)
{
    const void *buf;
    size_t size;
    la_int64_t off;
    int r;

    while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN)
            return stk_err_set(err, STK_EIO, archive_errno(out), "write '%s': %s", entry,
                               archive_error_string(out));
    }
    if (r != ARCHIVE_EOF)
        return stk_err_set(err, STK_EIMAGE, archive_errno(in), "read '%s': %s", entry,
                           archive_error_string(in));
    return 0;
}

/* Turns the collected whiteouts and opaque markers into their overlayfs form. */
static int apply_whiteouts(const char *dest, const struct stk_strv *whiteouts,
                           const struct stk_strv *opaques, struct stk_err *err)
{
    int rootfd, ret = 0;

    rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return stk_err_set(err, STK_EIO, errno, "open '%s'", dest);
    for (size_t i = 0; i < whiteouts->n && ret == 0; i++) {
        const char *base;
        char *parent = split_parent(whiteouts->v[i], &base);
        struct stat st;
        int dfd = open_dir_beneath(rootfd, parent, 1, err);
        if (dfd < 0) {
            ret = dfd;
        } else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            /* The same layer has the path: a whiteout hides only lower layers. */
        } else if (mknodat(dfd, base, S_IFCHR | 0, makedev(0, 0)) < 0) {
            ret = stk_err_set(err, errno == EPERM ? STK_EPERM : STK_EIO, errno,
                              "create whiteout '%s'", whiteouts->v[i]);
        }
        if (dfd >= 0)
            close(dfd);
        free(parent);
    }
    for (size_t i = 0; i < opaques->n && ret == 0; i++) {
        int dfd = open_dir_beneath(rootfd, opaques->v[i], 1, err);
        if (dfd < 0) {
            ret = dfd;
        } else if (fsetxattr(dfd, OPAQUE_XATTR, "y", 1, 0) < 0) {
            ret = stk_err_set(err, errno == EPERM ? STK_EPERM : STK_EIO, errno, "mark '%s' opaque",
                              opaques->v[i][0] ? opaques->v[i] : "/");
        }
        if (dfd >= 0)
            close(dfd);
    }
    close(rootfd);
    return ret;
}

int rt_oci_rootfs_unpack_tar(const char *archive_path, const char *dest_dir, struct stk_err *err)
{
    struct stk_strv whiteouts = STK_STRV_INIT, opaques = STK_STRV_INIT;
    struct archive *a = NULL, *ext = NULL;
    struct archive_entry *ent;
    char *dest = NULL, *rel = NULL, *full = NULL, *link = NULL;
    int flags, r, ret = 0;

    if (!archive_path || !dest_dir)
        return stk_err_set(err, STK_EINVAL, 0, "unpack layer: no path");
    /* libarchive's symlink check walks the whole destination path: resolve it first. */
    dest = realpath(dest_dir, NULL);
    if (!dest)
        return stk_err_set(err, STK_EIO, errno, "resolve '%s'", dest_dir);
    stk_strv_init(&whiteouts);
    stk_strv_init(&opaques);

    a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, archive_path, 1 << 16) != ARCHIVE_OK) {
        ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "open layer '%s': %s", archive_path,
                          archive_error_string(a));
        goto out;
    }
    ext = archive_write_disk_new();
    flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
            ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    /* Numeric ids from the layer (no name lookup: host names mean nothing in an image). */
    if (geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(ext, flags);

    for (;;) {
        const char *name, *hl, *base;
        r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read layer '%s': %s",
                              archive_path, archive_error_string(a));
            goto out;
        }
        name = archive_entry_pathname(ent);
        if (!name) {
            ret = stk_err_set(err, STK_EIMAGE, 0, "layer '%s': entry without a name", archive_path);
            goto out;
        }
        free(rel);
        rel = clean_entry_path(name, "entry", err);
        if (!rel) {
            ret = STK_EIMAGE;
            goto out;
        }
        if (!*rel)
            continue; /* the root directory itself */
        {
            char *parent = split_parent(rel, &base);
            if (strcmp(base, WH_OPAQUE) == 0) {
                stk_strv_push_take(&opaques, parent);
                continue;
            }
            if (starts_with(base, WH_META_PREFIX)) {
                free(parent); /* other overlay/aufs metadata: not content */
                continue;
            }
            if (starts_with(base, WH_PREFIX)) {
                if (!base[strlen(WH_PREFIX)] || strcmp(base + 4, ".") == 0 ||
                    strcmp(base + 4, "..") == 0) {
                    free(parent);
                    ret =
                        stk_err_set(err, STK_EIMAGE, 0, "layer entry '%s': invalid whiteout", name);
                    goto out;
                }
                stk_strv_pushf(&whiteouts, "%s%s%s", parent, *parent ? "/" : "",
                               base + strlen(WH_PREFIX));
                free(parent);
                continue;
            }
            free(parent);
        }
        hl = archive_entry_hardlink(ent);
        if (hl) {
            char *hrel = clean_entry_path(hl, "hard link target", err);
            if (!hrel) {
                ret = STK_EIMAGE;
                goto out;
            }
            if (!*hrel) {
                free(hrel);
                ret = stk_err_set(err, STK_EIMAGE, 0, "layer entry '%s': empty link target", name);
                goto out;
            }
            free(link);
            link = stk_xasprintf("%s/%s", dest, hrel);
            free(hrel);
            archive_entry_set_hardlink(ent, link);
        }
        free(full);
        full = stk_xasprintf("%s/%s", dest, rel);
        archive_entry_set_pathname(ent, full);
        filter_xattrs(ent);
        r = archive_write_header(ext, ent);
        if (r < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIMAGE, archive_errno(ext), "unpack layer entry '%s': %s",
                              rel, archive_error_string(ext));
            goto out;
        }
        if (archive_entry_size(ent) > 0) {
            ret = copy_data(a, ext, rel, err);
            if (ret < 0)
                goto out;
        }
        if (archive_write_finish_entry(ext) < ARCHIVE_WARN) {
            ret = stk_err_set(err, STK_EIO, archive_errno(ext), "finish layer entry '%s': %s", rel,
                              archive_error_string(ext));
            goto out;
        }
    }
    /* Directory modes and times are applied at close. */
    if (archive_write_close(ext) < ARCHIVE_WARN) {
        ret = stk_err_set(err, STK_EIO, archive_errno(ext), "unpack layer '%s': %s", archive_path,
                          archive_error_string(ext));
        goto out;
    }
    ret = apply_whiteouts(dest, &whiteouts, &opaques, err);
out:
    if (ret < 0)
        stk_err_wrap(err, "unpack layer '%s'", archive_path);
    if (ext)
        archive_write_free(ext);
    if (a)
        archive_read_free(a);
    stk_strv_release(&whiteouts);
    stk_strv_release(&opaques);
    free(rel);
    free(full);
    free(link);
    free(dest);
    return ret;
}

/* Removes the temporary directories ".tmp-HEX-*" a crashed unpack left in LAYERS. */
static void remove_stale(const char *layers, const char *hex)
{
    char *prefix = stk_xasprintf(".tmp-%s-", hex);
    DIR *d = opendir(layers);

    if (d) {
        for (struct dirent *de; (de = readdir(d));) {
            if (starts_with(de->d_name, prefix)) {
                struct stk_err ignored = STK_ERR_INIT;
                char *p = stk_xasprintf("%s/%s", layers, de->d_name);
                stk_rm_rf(p, &ignored);
                stk_err_clear(&ignored);
                free(p);
            }
        }
        closedir(d);
    }
    free(prefix);
}

int rt_oci_rootfs_unpack_layer(struct rt_image_store *store, const char *digest, char **ret_dir,
                               struct stk_err *err)
{
    char *blob = NULL, *layers = NULL, *final = NULL, *tmp = NULL, *lock = NULL;
    const char *hex;
    int lockfd = -1, ret = 0;

    if (!store || !ret_dir)
        return stk_err_set(err, STK_EINVAL, 0, "unpack layer: no store");
    blob = rt_image_blob_path(store, digest, err);
    if (!blob)
        return STK_EINVAL;
    hex = digest + 7;
    layers = stk_xasprintf("%s/layers", rt_image_store_dir(store));
    final = stk_xasprintf("%s/%s", layers, hex);
    if (stk_path_is_dir(final))
        goto done;
    if (!stk_path_exists(blob)) {
        ret = stk_err_set(err, STK_ENOENT, 0, "layer blob '%s' not in the image store", digest);
        goto out;
    }
    ret = stk_mkdir_p(layers, 0700, err);
    if (ret < 0)
        goto out;
    /* One unpacker per layer: whoever holds the lock owns the .tmp-HEX-* names. */
    lock = stk_xasprintf("%s/.%s.lock", layers, hex);
    lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "open '%s'", lock);
        goto out;
    }
    while (flock(lockfd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            ret = stk_err_set(err, STK_EIO, errno, "lock '%s'", lock);
            goto out;
        }
    }
    if (stk_path_is_dir(final))
        goto done;
    remove_stale(layers, hex);
    tmp = stk_xasprintf("%s/.tmp-%s-XXXXXX", layers, hex);
    if (!mkdtemp(tmp)) {
        ret = stk_err_set(err, STK_EIO, errno, "create '%s'", tmp);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (chmod(tmp, 0755) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "chmod '%s'", tmp);
        goto out;
    }
    ret = rt_oci_rootfs_unpack_tar(blob, tmp, err);
    if (ret < 0)
        goto out;
    {
        /* Durable before it gets its final name: a crash then leaves no half layer. */
        int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)syncfs(fd);
            close(fd);
        }
    }
    if (rename(tmp, final) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "rename '%s'", final);
        goto out;
    }
    free(tmp);
    tmp = NULL;
done:
    *ret_dir = final;
    final = NULL;
out:
    if (tmp) {
        struct stk_err ignored = STK_ERR_INIT;
        stk_rm_rf(tmp, &ignored);
        stk_err_clear(&ignored);
    }
    if (lockfd >= 0)
        close(lockfd);
    if (ret < 0)
        stk_err_wrap(err, "layer '%s'", digest);
    free(lock);
    free(tmp);
    free(final);
    free(layers);
    free(blob);
    return ret;
}

/* ---- overlay mount ---------------------------------------------------------------------- */

/* Returns 1 when PATH is the root of a mount, 0 when not (or missing). */
static int is_mount_point(const char *path)
{
    struct statx stx;
    struct stat st, parent;
    char *up;
    int r;

    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
        (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
        return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    if (lstat(path, &st) < 0)
        return 0;
    up = stk_xasprintf("%s/..", path);
    r = stat(up, &parent) == 0 && parent.st_dev != st.st_dev;
    free(up);
    return r;
}

static int overlay_path_ok(const char *p, struct stk_err *err)
{
    if (p[0] != '/' || strpbrk(p, ":,\\"))
        return stk_err_set(err, STK_EINVAL, 0,
                           "path '%s' cannot be an overlay directory (must be absolute, without "
                           "':', ',' or '\\')",
                           p);
    return 0;
}

/* Mounts with the new mount API, one "lowerdir+" per layer (Linux 6.8). */
static int mount_fsconfig(char *const *lowers, size_t n, const char *upper, const char *work,
                          int index_off, const char *target, struct stk_err *err)
{
    int fs, mnt = -1, ret = 0;

    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return stk_err_set(err, STK_EIO, errno, "fsopen overlay");
    for (size_t i = n; i-- > 0;) {
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0) {
            ret = stk_err_set(err, STK_EIO, errno, "overlay lowerdir+ '%s'", lowers[i]);
            goto out;
        }
    }
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
        (index_off && fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0) < 0) ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "configure overlay");
        goto out;
    }
    mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (mnt < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "fsmount overlay");
        goto out;
    }
    if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        ret = stk_err_set(err, STK_EIO, errno, "move_mount overlay to '%s'", target);
out:
    if (mnt >= 0)
        close(mnt);
    close(fs);
    return ret;
}

int rt_oci_rootfs_mount(char *const *layer_dirs, const char *container_dir, char **ret_rootfs,
                        struct stk_err *err)
{
    struct stk_strv lowers = STK_STRV_INIT;
    struct stk_buf opts = STK_BUF_INIT;
    char *cdir = NULL, *rootfs = NULL, *overlay = NULL, *upper = NULL, *work = NULL;
    int index_off, ret;
    size_t n;

    if (!container_dir || !*container_dir)
        return stk_err_set(err, STK_EINVAL, 0, "mount rootfs: no container directory");
    stk_strv_init(&lowers);
    ret = stk_mkdir_p(container_dir, 0700, err);
    if (ret < 0)
        goto out;
    cdir = realpath(container_dir, NULL);
    if (!cdir) {
        ret = stk_err_set(err, STK_EIO, errno, "resolve '%s'", container_dir);
        goto out;
    }
    rootfs = stk_xasprintf("%s/rootfs", cdir);
    overlay = stk_xasprintf("%s/overlay", cdir);
    upper = stk_xasprintf("%s/upper", overlay);
    work = stk_xasprintf("%s/work", overlay);
    if ((ret = stk_mkdir_p(rootfs, 0755, err)) < 0 || (ret = stk_mkdir_p(upper, 0755, err)) < 0 ||
        (ret = stk_mkdir_p(work, 0700, err)) < 0)
        goto out;
    /* The root of the merged tree takes the upper directory's attributes. */
    (void)chmod(upper, 0755);
    if (is_mount_point(rootfs))
        goto done;

    n = stk_strv_len(layer_dirs);
    for (size_t i = 0; i < n; i++)
        stk_strv_push(&lowers, layer_dirs[i]);
    if (n == 0) {
        /* An image without layers: overlayfs still needs one lower directory. */
        char *empty = stk_xasprintf("%s/empty", overlay);
        ret = stk_mkdir_p(empty, 0755, err);
        stk_strv_push_take(&lowers, empty);
        if (ret < 0)
            goto out;
    }
    for (size_t i = 0; i < lowers.n; i++) {
        if ((ret = overlay_path_ok(lowers.v[i], err)) < 0)
            goto out;
    }
    if ((ret = overlay_path_ok(upper, err)) < 0 || (ret = overlay_path_ok(work, err)) < 0 ||
        (ret = overlay_path_ok(rootfs, err)) < 0)
        goto out;

    /* Lower layers may be shared by many mounts; the inode index would tie them to one. */
    index_off = access("/sys/module/overlay/parameters/index", F_OK) == 0;
    stk_buf_puts(&opts, "lowerdir=");
    for (size_t i = lowers.n; i-- > 0;) {
        stk_buf_puts(&opts, lowers.v[i]);
        if (i)
            stk_buf_putc(&opts, ':');
    }
    stk_buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
    if (index_off)
        stk_buf_puts(&opts, ",index=off");
    if (opts.len < (size_t)sysconf(_SC_PAGESIZE)) {
        if (mount("overlay", rootfs, "overlay", 0, opts.buf) < 0) {
            ret = stk_err_set(err, errno == EPERM ? STK_EPERM : STK_EIO, errno,
                              "mount overlay on '%s'", rootfs);
            goto out;
        }
    } else {
        ret = mount_fsconfig(lowers.v, lowers.n, upper, work, index_off, rootfs, err);
        if (ret < 0)
            goto out;
    }
done:
    if (ret_rootfs) {
        *ret_rootfs = rootfs;
        rootfs = NULL;
    }
out:
    if (ret < 0)
        stk_err_wrap(err, "prepare root file system in '%s'", container_dir);
    stk_buf_release(&opts);
    stk_strv_release(&lowers);
    free(cdir);
    free(rootfs);
    free(overlay);
    free(upper);
    free(work);
    return ret;
}

int rt_oci_rootfs_prepare(struct rt_image_store *store, char *const *layer_digests,
                          const char *container_dir, char **ret_rootfs, struct stk_err *err)
{
    struct stk_strv dirs = STK_STRV_INIT;
    int ret = 0;

    if (!store || !container_dir || !ret_rootfs)
        return stk_err_set(err, STK_EINVAL, 0, "prepare rootfs: missing argument");
    stk_strv_init(&dirs);
    for (size_t i = 0; layer_digests && layer_digests[i]; i++) {
        char *dir = NULL;
        ret = rt_oci_rootfs_unpack_layer(store, layer_digests[i], &dir, err);
        if (ret < 0)
            goto out;
        stk_strv_push_take(&dirs, dir);
    }
    ret = rt_oci_rootfs_mount(dirs.v, container_dir, ret_rootfs, err);
out:
    stk_strv_release(&dirs);
    return ret;
}

int rt_oci_rootfs_release(const char *container_dir, struct stk_err *err)
{
    char *rootfs = NULL, *overlay = NULL;
    int ret = 0;

    if (!container_dir || !*container_dir)
        return stk_err_set(err, STK_EINVAL, 0, "release rootfs: no container directory");
    rootfs = stk_xasprintf("%s/rootfs", container_dir);
    overlay = stk_xasprintf("%s/overlay", container_dir);
    /* Unmount every stacked mount; a busy one is detached lazily. */
    for (int i = 0; i < 16 && is_mount_point(rootfs); i++) {
        if (umount2(rootfs, 0) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            break;
        if (errno == EBUSY && umount2(rootfs, MNT_DETACH) == 0)
            continue;
        ret = stk_err_set(err, STK_EIO, errno, "unmount '%s'", rootfs);
        goto out;
    }
    if (is_mount_point(rootfs)) {
        ret = stk_err_set(err, STK_EBUSY, 0, "'%s' is still mounted", rootfs);
        goto out;
    }
    ret = stk_rm_rf(overlay, err);
    if (ret < 0)
        goto out;
    if (rmdir(rootfs) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
        ret = stk_err_set(err, STK_EIO, errno, "remove '%s'", rootfs);
        goto out;
    }
out:
    if (ret < 0)
        stk_err_wrap(err, "release root file system of '%s'", container_dir);
    free(rootfs);
    free(overlay);
    return ret;
}
