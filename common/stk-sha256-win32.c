/*
 * stk-sha256-win32.c - the stk-sha256.h API on Windows through BCrypt
 * (BCryptOpenAlgorithmProvider(BCRYPT_SHA256_ALGORITHM), BCryptCreateHash,
 * BCryptHashData, BCryptFinishHash; learn.microsoft.com, "Creating a Hash with
 * CNG"). Selected by common/CMakeLists.txt instead of stk-sha256.c (Nettle)
 * when WIN32 (STYLE.md rule 28); same results, same contract.
 */
#include "stk-sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <windows.h>

#include <bcrypt.h>

#include "stk-alloc.h"
#include "stk-err.h"

struct stk_sha256 {
    BCRYPT_HASH_HANDLE hash;
};

/* The algorithm provider, opened once per process and never closed. */
static BCRYPT_ALG_HANDLE sha256_alg(void)
{
    static BCRYPT_ALG_HANDLE alg;
    static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
    BOOL pending = FALSE;

    if (!InitOnceBeginInitialize(&once, 0, &pending, NULL))
        STK_BUG("InitOnceBeginInitialize failed");
    if (pending) {
        if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, 0) < 0)
            STK_BUG("BCryptOpenAlgorithmProvider(SHA256) failed");
        InitOnceComplete(&once, 0, NULL);
    }
    return alg;
}

struct stk_sha256 *stk_sha256_new(void)
{
    struct stk_sha256 *c = stk_new0(struct stk_sha256);

    /* Windows 7 and later allocate the hash object themselves (NULL, 0). */
    if (BCryptCreateHash(sha256_alg(), &c->hash, NULL, 0, NULL, 0, 0) < 0)
        STK_BUG("BCryptCreateHash(SHA256) failed");
    return c;
}

void stk_sha256_update(struct stk_sha256 *ctx, const void *data, size_t n)
{
    const UCHAR *p = data;

    /* BCryptHashData takes a ULONG length: feed at most 1 GiB at a time. */
    while (n) {
        ULONG chunk = n > (1u << 30) ? (1u << 30) : (ULONG)n;

        if (BCryptHashData(ctx->hash, (PUCHAR)p, chunk, 0) < 0)
            STK_BUG("BCryptHashData failed");
        p += chunk;
        n -= chunk;
    }
}

void stk_sha256_final(struct stk_sha256 *ctx, uint8_t out[STK_SHA256_LEN])
{
    if (BCryptFinishHash(ctx->hash, out, STK_SHA256_LEN, 0) < 0)
        STK_BUG("BCryptFinishHash failed");
    BCryptDestroyHash(ctx->hash);
    free(ctx);
}
