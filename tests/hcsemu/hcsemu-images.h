/*
 * hcsemu-images.h - Windows images for the tests that run the real layer
 * storage (runtime/hcs/hcs-storage.c) over the emulated computestorage.dll
 * (hcsemu_storage_calls()): layer tars in the Windows layer layout (Files/,
 * Hives/, UtilityVM/, whiteouts), written in memory with libarchive into an
 * OCI image layout (oci-layout, index.json, blobs/sha256) that
 * rt_image_load_layout() or an `image: ./path` service loads.
 *
 * The emulated HCS reads the build of a layer imported through the emulated
 * storage from its HCSEMU_BUILD_FILE (emulator choice, standing for the
 * CurrentBuildNumber/UBR values of the image's SOFTWARE hive), so the
 * HCS_E_IMAGE_MISMATCH rule sees the image's os.version, not the host's.
 *
 * Failures are Criterion assertions: these functions run inside tests only.
 * Sources in tests/support/hcsemu-images.c.
 */
#ifndef HCSEMU_IMAGES_H
#define HCSEMU_IMAGES_H

#include <stddef.h>

#include "common/stk-sha256.h"

/* The file of a base layer the emulated HCS reads the layer's build from. */
#define HCSEMU_BUILD_FILE "Files/Windows/System32/config/SOFTWARE"

/* One tar entry: a regular file PATH with DATA, or a directory when DATA is NULL. */
struct hcsemu_entry {
    const char *path;
    const char *data;
};

/* One layer: entries up to one with a NULL path; gzip compressed when GZIP. */
struct hcsemu_layer {
    const struct hcsemu_entry *entries;
    int gzip;
};

/* A manifest written by hcsemu_layout_manifest(). */
struct hcsemu_manifest {
    char digest[STK_DIGEST_STR_LEN]; /* the manifest blob */
    size_t size;
    char **layers; /* layer blob digests, base first, NULL-terminated (owned) */
};

/*
 * Returns (caller frees) an in-memory tar of ENTRIES, each entry's missing
 * parent directories first as tar(1) writes them; gzip compressed when GZIP.
 * *RET_LEN gets its length and RET_DIFF_ID (may be NULL) the digest of the
 * uncompressed tar (the config's rootfs.diff_ids member).
 */
void *hcsemu_layer_tar(const struct hcsemu_entry *entries, int gzip, size_t *ret_len,
                       char *ret_diff_id);

/* Creates the OCI layout folder DIR: blobs/sha256 and oci-layout. */
void hcsemu_layout_init(const char *dir);

/* Writes DATA (LEN bytes) as a blob of layout DIR; RET_DIGEST gets "sha256:<hex>". */
void hcsemu_layout_blob(const char *dir, const void *data, size_t len, char *ret_digest);

/*
 * Writes into layout DIR the N LAYERS (base first), a config for OS/amd64
 * with OS_VERSION ("" for none) and Cmd [CMD], and their manifest (OCI media
 * types). Fills *RET (release with hcsemu_manifest_release()).
 */
void hcsemu_layout_manifest(const char *dir, const char *os, const char *os_version,
                            const char *cmd, const struct hcsemu_layer *layers, size_t n,
                            struct hcsemu_manifest *ret);
void hcsemu_manifest_release(struct hcsemu_manifest *m);

/*
 * Returns (new string) the index.json descriptor of M: with a platform member
 * when OS is not NULL (its os.version when OS_VERSION is not NULL or ""), and
 * the annotation ANNOTATION = REF when both are not NULL.
 */
char *hcsemu_layout_descriptor(const struct hcsemu_manifest *m, const char *os,
                               const char *os_version, const char *annotation, const char *ref);

/* Writes DIR/index.json listing the descriptors DESCRIPTORS (NULL-terminated). */
void hcsemu_layout_index(const char *dir, const char *const *descriptors);

/*
 * Writes into layout DIR a two-layer Windows image built for OS_VERSION: a
 * base layer (Files/Windows/System32/cmd.exe, HCSEMU_BUILD_FILE holding
 * OS_VERSION, Hives/, and a UtilityVM/Files tree when WITH_UVM) and an
 * application layer whose Files/TAG.txt names TAG, so that images of
 * different TAGs share the base layer when their OS_VERSION and WITH_UVM
 * agree. Fills *RET as hcsemu_layout_manifest() does.
 */
void hcsemu_layout_windows_image(const char *dir, const char *os_version, int with_uvm,
                                 const char *tag, struct hcsemu_manifest *ret);

#endif
