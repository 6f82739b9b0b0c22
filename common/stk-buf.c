#include "stk-buf.h"

#include <stdio.h>
#include <string.h>

#include "stk-alloc.h"

char stk_buf_empty[1];

void stk_buf_init(struct stk_buf *b, size_t hint)
{
    b->buf = stk_buf_empty;
    b->len = 0;
    b->alloc = 0;
    if (hint)
        stk_buf_grow(b, hint);
}

void stk_buf_release(struct stk_buf *b)
{
    if (!b)
        return;
    if (b->alloc)
        free(b->buf);
    stk_buf_init(b, 0);
}

void stk_buf_grow(struct stk_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t n;

    if (need <= b->alloc)
        return;
    n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    if (b->alloc) {
        b->buf = stk_xrealloc(b->buf, n);
    } else {
        b->buf = stk_xmalloc(n);
        b->buf[0] = '\0';
    }
    b->alloc = n;
}

void stk_buf_reset(struct stk_buf *b)
{
    b->len = 0;
    if (b->alloc)
        b->buf[0] = '\0';
}

void stk_buf_add(struct stk_buf *b, const void *data, size_t n)
{
    if (!n)
        return;
    stk_buf_grow(b, n);
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void stk_buf_puts(struct stk_buf *b, const char *s)
{
    stk_buf_add(b, s, strlen(s));
}

void stk_buf_putc(struct stk_buf *b, char c)
{
    stk_buf_add(b, &c, 1);
}

void stk_buf_vprintf(struct stk_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    size_t room;
    int n;

    /*
     * One pass when it fits (the common case), a second after growing when
     * not. A buffer with no room yet gets its first 64 bytes before the
     * first pass, so that a short line is formatted once, not measured then
     * formatted.
     */
    if (!b->alloc || b->alloc - b->len < 2)
        stk_buf_grow(b, 1);
    room = b->alloc - b->len;
    va_copy(cp, ap);
    n = vsnprintf(b->buf + b->len, room, fmt, cp);
    va_end(cp);
    if (n <= 0) {
        b->buf[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        stk_buf_grow(b, (size_t)n);
        vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
}

void stk_buf_printf(struct stk_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    stk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *stk_buf_detach(struct stk_buf *b, size_t *ret_len)
{
    char *p;

    if (ret_len)
        *ret_len = b->len;
    p = b->alloc ? b->buf : stk_xstrdup("");
    stk_buf_init(b, 0);
    return p;
}
