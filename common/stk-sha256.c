#include "stk-sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stk-alloc.h"
#include "stk-err.h"

struct stk_sha256 {
    EVP_MD_CTX *md;
};

struct stk_sha256 *stk_sha256_new(void)
{
    struct stk_sha256 *c = stk_new0(struct stk_sha256);

    c->md = EVP_MD_CTX_new();
    if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
        STK_BUG("EVP_DigestInit_ex(sha256) failed");
    return c;
}

void stk_sha256_update(struct stk_sha256 *ctx, const void *data, size_t n)
{
    if (n && EVP_DigestUpdate(ctx->md, data, n) != 1)
        STK_BUG("EVP_DigestUpdate failed");
}

void stk_sha256_final(struct stk_sha256 *ctx, uint8_t out[STK_SHA256_LEN])
{
    unsigned int len = 0;

    if (EVP_DigestFinal_ex(ctx->md, out, &len) != 1 || len != STK_SHA256_LEN)
        STK_BUG("EVP_DigestFinal_ex failed");
    EVP_MD_CTX_free(ctx->md);
    free(ctx);
}
