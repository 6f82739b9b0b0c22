/*
 * stk-buf.h - a growable byte buffer with git strbuf's invariants
 * (STYLE.md rule 21): `buf` is never NULL and always NUL-terminated, and
 * stk_buf_detach() is the only way to take the bytes out.
 */
#ifndef STK_BUF_H
#define STK_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "stk-macro.h"

struct stk_buf {
    char *buf;    /* the bytes, NUL-terminated; points to a static "" until first growth */
    size_t len;   /* bytes used, not counting the NUL */
    size_t alloc; /* bytes allocated, 0 while buf is the static "" */
};

extern char stk_buf_empty[];
#define STK_BUF_INIT                                                                               \
    {                                                                                              \
        stk_buf_empty, 0, 0                                                                        \
    }

/* Initialises B with room for HINT bytes (0 allocates nothing). */
void stk_buf_init(struct stk_buf *b, size_t hint);
/* Frees B's bytes and re-initialises it; NULL-safe. */
void stk_buf_release(struct stk_buf *b);
/* Ensures room for EXTRA more bytes plus the NUL. Aborts on out of memory. */
void stk_buf_grow(struct stk_buf *b, size_t extra);
/* Sets the length to 0, keeping the allocation. */
void stk_buf_reset(struct stk_buf *b);
/* Appends N bytes from DATA (may contain NULs). */
void stk_buf_add(struct stk_buf *b, const void *data, size_t n);
/* Appends the C string S. */
void stk_buf_puts(struct stk_buf *b, const char *s);
/* Appends one byte. */
void stk_buf_putc(struct stk_buf *b, char c);
/* Appends printf-formatted text. */
void stk_buf_printf(struct stk_buf *b, const char *fmt, ...) STK_PRINTF(2, 3);
/* As stk_buf_printf() with a va_list. */
void stk_buf_vprintf(struct stk_buf *b, const char *fmt, va_list ap) STK_PRINTF(2, 0);
/*
 * Returns B's bytes as a new heap string that the caller frees, and
 * re-initialises B. Never NULL. When RET_LEN is non-NULL the length is stored.
 */
char *stk_buf_detach(struct stk_buf *b, size_t *ret_len);

#endif
