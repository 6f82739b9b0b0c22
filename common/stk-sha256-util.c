/*
 * stk-sha256-util.c - the platform-independent half of stk-sha256.h: one-shot
 * hashing, hex and "sha256:" digests, and files, on top of the
 * stk_sha256_new/update/final primitives that stk-sha256.c (Nettle) or
 * stk-sha256-win32.c (BCrypt) provides.
 */
#include "stk-sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "stk-err.h"

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
