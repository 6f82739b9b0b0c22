/*
 * rt-image-internal.h - what the image store's files share (STYLE.md rule 1):
 * the verified-blob writer, the reference index update and the JSON helpers
 * that rt-image.c (layout loads) and rt-image-pull.c (registry pulls) both
 * use, so that a blob enters the store one way whatever its source. Nothing
 * outside runtime/image/ includes this header.
 */
#ifndef RT_IMAGE_INTERNAL_H
#define RT_IMAGE_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "runtime/image/rt-image.h"

struct stk_err;

/*
 * Puts the blob at SRC_PATH into store S as DIGEST after verifying that its
 * SHA-256 is DIGEST and its length SIZE (-1: not checked) — the OCI
 * image-spec descriptor.md "Digests" rule. Already present: nothing is read
 * and 0 is returned. When MOVE is non-zero SRC_PATH is a staged file on the
 * store's file system (under rt__image_tmp_dir()) that is renamed into place;
 * it is left where it is on failure (the caller removes it). Otherwise it is
 * copied through a temporary file. Errors: STK_EINVAL (malformed DIGEST),
 * STK_EDIGEST naming the blob ("blob 'DIGEST': content has digest ..." or
 * "... size is N bytes, descriptor says M"), STK_ENOENT/STK_EIO.
 */
int rt__image_blob_import(struct rt_image_store *s, const char *src_path, const char *digest,
                          int64_t size, int move, struct stk_err *err);

/* The store's staging directory STATE_DIR/images/tmp (borrowed). */
const char *rt__image_tmp_dir(const struct rt_image_store *s);

/*
 * Records REF (a normalised "NAME:TAG") → DIGEST in repositories.json under
 * the store's lock; an existing REF is moved. Errors: STK_EIO, STK_EIMAGE.
 */
int rt__image_tag(struct rt_image_store *s, const char *ref, const char *digest,
                  struct stk_err *err);

/*
 * Classifies the parsed manifest-or-index J (stored as DIGEST): 1 for an image
 * index or Docker manifest list, 0 for an image manifest, else STK_EIMAGE. The
 * blob's own mediaType wins over DESC_MT (the descriptor's, or the HTTP
 * Content-Type of a registry answer; may be NULL).
 */
int rt__image_blob_classify(json_t *j, const char *desc_mt, const char *digest,
                            struct stk_err *err);

/*
 * Chooses, in the image index IDX stored as DIGEST, the manifest for WANT
 * with rt_image_platform_select() over the platforms of its manifest entries
 * (entries of other media types never match). Stores a new string with the
 * chosen digest in *RET_DIGEST. Errors: STK_EIMAGE ("index 'DIGEST': no
 * manifest for platform os/arch", or a malformed entry).
 */
int rt__image_index_select(json_t *idx, const char *digest, const struct rt_image_platform *want,
                           char **ret_digest, struct stk_err *err);

/*
 * How rt_image_pull() reaches REF: stores new strings with the API base URL
 * ("https://registry-1.docker.io", "http://127.0.0.1:5000"), the repository
 * ("library/busybox") and the manifest reference (the tag, or the digest).
 * Docker's normalisation and the http/https rule of rt_image_pull()
 * (STACK_INSECURE_REGISTRIES read now). Errors: STK_EINVAL.
 */
int rt__image_pull_endpoint(const char *ref, char **ret_base, char **ret_repo, char **ret_reference,
                            struct stk_err *err);

#endif
