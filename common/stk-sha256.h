/*
 * stk-sha256.h - SHA-256 behind one interface (DESIGN.md §6): Nettle on
 * Linux (DESIGN.md names OpenSSL's libcrypto; stk-sha256.c says why Nettle),
 * BCrypt on Windows. Digests are printed as OCI digest
 * strings ("sha256:" + 64 lower-case hex digits, OCI image-spec descriptor.md).
 */
#ifndef STK_SHA256_H
#define STK_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct stk_err;

#define STK_SHA256_LEN 32
#define STK_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define STK_DIGEST_STR_LEN (7 + STK_SHA256_HEX_LEN + 1)

struct stk_sha256;

/* Starts a new incremental hash; returns a new context freed by stk_sha256_final(). */
struct stk_sha256 *stk_sha256_new(void);
/* Feeds N bytes of DATA. */
void stk_sha256_update(struct stk_sha256 *ctx, const void *data, size_t n);
/* Finishes the hash into OUT (32 bytes) and frees CTX. */
void stk_sha256_final(struct stk_sha256 *ctx, uint8_t out[STK_SHA256_LEN]);
/* One-shot hash of N bytes of DATA into OUT. */
void stk_sha256(const void *data, size_t n, uint8_t out[STK_SHA256_LEN]);
/* Writes 64 lower-case hex digits and a NUL into HEX. */
void stk_sha256_hex(const uint8_t md[STK_SHA256_LEN], char hex[STK_SHA256_HEX_LEN + 1]);
/* One-shot: writes "sha256:<hex>" of DATA into OUT (STK_DIGEST_STR_LEN bytes). */
void stk_sha256_digest(const void *data, size_t n, char out[STK_DIGEST_STR_LEN]);
/*
 * Hashes the file at PATH into OUT as "sha256:<hex>". Returns 0, or STK_EIO
 * with ERR filled when the file cannot be read.
 */
int stk_sha256_file(const char *path, char out[STK_DIGEST_STR_LEN], struct stk_err *err);

#endif
