/*
 * stk-sha256-win32.c - the stk-sha256.h API on Windows through BCrypt
 * (BCryptOpenAlgorithmProvider(BCRYPT_SHA256_ALGORITHM), BCryptCreateHash,
 * BCryptHashData, BCryptFinishHash; learn.microsoft.com, "Creating a Hash with
 * CNG"). Selected by common/CMakeLists.txt instead of stk-sha256.c (OpenSSL)
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

void stk_sha256(const void *data, size_t n, uint8_t out[STK_SHA256_LEN])
{
    struct stk_sha256 *c = stk_sha256_new();

    stk_sha256_update(c, data, n);
    stk_sha256_final(c, out);
}

void stk_sha256_hex(const uint8_t md[STK_SHA256_LEN], char hex[STK_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < STK_SHA256_LEN; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[STK_SHA256_HEX_LEN] = '\0';
}

void stk_sha256_digest(const void *data, size_t n, char out[STK_DIGEST_STR_LEN])
{
    uint8_t md[STK_SHA256_LEN];

    stk_sha256(data, n, md);
    memcpy(out, "sha256:", 7);
    stk_sha256_hex(md, out + 7);
}

int stk_sha256_file(const char *path, char out[STK_DIGEST_STR_LEN], struct stk_err *err)
{
    struct stk_sha256 *c;
    uint8_t md[STK_SHA256_LEN];
    char buf[65536];
    int n;
    int fd;

    fd = open(path, O_RDONLY | O_BINARY);
    if (fd < 0)
        return stk_err_set(err, STK_EIO, errno, "open '%s'", path);
    c = stk_sha256_new();
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            stk_sha256_final(c, md);
            close(fd);
            return stk_err_set(err, STK_EIO, e, "read '%s'", path);
        }
        stk_sha256_update(c, buf, (size_t)n);
    }
    close(fd);
    stk_sha256_final(c, md);
    memcpy(out, "sha256:", 7);
    stk_sha256_hex(md, out + 7);
    return 0;
}
