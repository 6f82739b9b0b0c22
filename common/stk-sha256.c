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
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
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
