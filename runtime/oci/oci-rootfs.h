/*
 * oci-rootfs.h - the root file system step of the OCI driver (DESIGN.md §2:
 * "turning layers into a root file system is a driver step: overlayfs for
 * oci/ and vm/"). Internal to runtime/oci/ (and runtime/vm/); the image store
 * itself never unpacks.
 *
 * Layers are unpacked once, with libarchive, into a cache shared by every
 * container: STATE_DIR/images/layers/<blob hex>/, keyed by the layer's blob
 * digest (the compressed bytes that the store verified on import). An unpack
 * goes to a temporary directory that is renamed into place once complete and
 * synced, under a per-layer flock(2), so a crash never leaves a half layer
 * under the final name and a stale temporary directory is removed by the next
 * unpack of that layer.
 *
 * OCI whiteouts (image-spec layer.md "Whiteouts") are turned into the
 * overlayfs representation (kernel Documentation/filesystems/overlayfs.rst):
 * ".wh.NAME" becomes a character device 0:0 named NAME, ".wh..wh..opq" sets
 * the xattr trusted.overlay.opaque="y" on its directory. A whiteout whose
 * target exists in the same layer is ignored (layer.md: whiteouts apply only to
 * lower layers). Modes, numeric ownership (when running as root), times,
 * symbolic links, hard links and extended attributes are preserved, except
 * xattrs in the "trusted." namespace, which a layer could use to forge
 * overlayfs metadata. Entries whose path or hard-link target is absolute or
 * has a ".." component, and entries that would be written through a symbolic
 * link, are refused (STK_EIMAGE), and nothing outside the layer directory is
 * ever written.
 *
 * Per container, CONTAINER_DIR/rootfs is an overlayfs mount whose lower
 * directories are the cached layers (read-only, shared), with upperdir and
 * workdir under CONTAINER_DIR/overlay/ (the layout of oci-internal.h).
 *
 * All functions block (file system work): the driver calls them from
 * uv_queue_work. Whiteouts, opaque directories and mounts need root
 * (CAP_MKNOD, CAP_SYS_ADMIN).
 */
#ifndef RT_OCI_ROOTFS_H
#define RT_OCI_ROOTFS_H

struct rt_image_store;
struct stk_err;

/*
 * Prepares the root file system of one container: unpacks every layer of
 * LAYER_DIGESTS (the manifest layer digests, base first, NULL-terminated;
 * may be empty) into the layer cache of STORE when not there yet, then mounts
 * the overlay at CONTAINER_DIR/rootfs (creating CONTAINER_DIR/rootfs and
 * CONTAINER_DIR/overlay/{upper,work}). Idempotent: when CONTAINER_DIR/rootfs
 * is already a mount point nothing is mounted again. On success stores the
 * absolute path of the rootfs in *RET_ROOTFS (new string, caller frees).
 * Errors: STK_EINVAL (bad arguments, a malformed digest, a path that overlayfs
 * cannot take because it holds ':' or ','); STK_ENOENT (a layer blob missing
 * from the store); STK_EIMAGE (a corrupt or malicious layer archive); STK_EIO
 * (file system errors, mount(2) failures, with errno in os_code).
 */
int rt_oci_rootfs_prepare(struct rt_image_store *store, char *const *layer_digests,
                          const char *container_dir, char **ret_rootfs, struct stk_err *err);

/*
 * Undoes rt_oci_rootfs_prepare(): unmounts CONTAINER_DIR/rootfs (falling back
 * to a lazy MNT_DETACH unmount when it is busy), then removes
 * CONTAINER_DIR/overlay (the container's writable layer) and the empty rootfs
 * directory. The cached layers stay. Idempotent: an unmounted or missing
 * rootfs is success. Errors: STK_EINVAL, STK_EIO (unmount or removal failed).
 */
int rt_oci_rootfs_release(const char *container_dir, struct stk_err *err);

/*
 * Unpacks the layer DIGEST of STORE into the layer cache (once) and stores the
 * absolute path of its directory in *RET_DIR (new string, caller frees).
 * Errors as rt_oci_rootfs_prepare().
 */
int rt_oci_rootfs_unpack_layer(struct rt_image_store *store, const char *digest, char **ret_dir,
                               struct stk_err *err);

/*
 * Unpacks the layer archive ARCHIVE_PATH (a tar, plain or compressed in any
 * format libarchive detects) into the existing directory DEST_DIR, which must
 * be an absolute path without symbolic links, applying the whiteout
 * conversion and the path checks described above. Exposed for the tests and
 * the VM driver. Errors: STK_EIMAGE (unreadable or refused archive entry, the
 * message names the entry), STK_EIO.
 */
int rt_oci_rootfs_unpack_tar(const char *archive_path, const char *dest_dir, struct stk_err *err);

/*
 * Mounts the overlay at CONTAINER_DIR/rootfs with LAYER_DIRS (absolute
 * directories, base first, NULL-terminated, may be empty) as lower
 * directories — overlayfs takes them topmost first, the reversal is done
 * here — and CONTAINER_DIR/overlay/{upper,work}. Uses mount(2) when the
 * option string fits in a page and the new mount API (fsopen/fsconfig with
 * "lowerdir+", Linux 6.8) otherwise. Idempotent like rt_oci_rootfs_prepare().
 * On success stores the rootfs path in *RET_ROOTFS (new string, may be NULL
 * to not receive it). Errors: STK_EINVAL, STK_EIO.
 */
int rt_oci_rootfs_mount(char *const *layer_dirs, const char *container_dir, char **ret_rootfs,
                        struct stk_err *err);

#endif
