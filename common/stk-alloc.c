#include "stk-alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

STK_NORETURN static void oom(size_t size)
{
    fprintf(stderr, "stack: out of memory allocating %zu bytes\n", size);
    abort();
}

void stk__bug(const char *file, int line, const char *msg)
{
    fprintf(stderr, "stack: BUG at %s:%d: %s\n", file, line, msg);
    abort();
}

void *stk_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p)
        oom(size);
    return p;
}

void *stk_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        oom(n * size);
    return p;
}

void *stk_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (!q)
        oom(size);
    return q;
}

char *stk_xstrdup(const char *s)
{
    char *p;

    if (!s)
        return NULL;
    p = strdup(s);
    if (!p)
        oom(strlen(s) + 1);
    return p;
}

char *stk_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);

    if (!p)
        oom(n + 1);
    return p;
}

/*
 * Formats into a stack buffer first and copies the result: most strings are
 * short, and glibc's vasprintf() grows and then shrinks a heap buffer through
 * a FILE. A longer result is formatted a second time into its exact size.
 */
char *stk_xvasprintf(const char *fmt, va_list ap)
{
    char small[256];
    va_list cp;
    char *p;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        oom(strlen(fmt));
    p = stk_xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof(small))
        memcpy(p, small, (size_t)n + 1);
    else
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *stk_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = stk_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}
