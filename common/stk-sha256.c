/*
 * stk-sha256.c - the SHA-256 primitives of stk-sha256.h on Nettle (Linux).
 *
 * Nettle rather than OpenSSL's EVP interface: the first EVP digest of a
 * process loads and initialises libcrypto's default provider (about five
 * million instructions, a tenth of a whole `stack plan` of 1000 services),
 * and Nettle is already in the process through libarchive. Nettle picks its
 * SHA-NI code at run time where the CPU has it.
 */
#include "stk-sha256.h"

#include <nettle/sha2.h>

#include "stk-alloc.h"

struct stk_sha256 {
    struct sha256_ctx md;
};

struct stk_sha256 *stk_sha256_new(void)
{
    struct stk_sha256 *c = stk_new0(struct stk_sha256);

    sha256_init(&c->md);
    return c;
}

void stk_sha256_update(struct stk_sha256 *ctx, const void *data, size_t n)
{
    if (n)
        sha256_update(&ctx->md, n, data);
}

void stk_sha256_final(struct stk_sha256 *ctx, uint8_t out[STK_SHA256_LEN])
{
    sha256_digest(&ctx->md, STK_SHA256_LEN, out);
    free(ctx);
}
