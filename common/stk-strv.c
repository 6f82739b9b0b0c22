#include "stk-strv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "stk-alloc.h"

void stk_strv_init(struct stk_strv *v)
{
    v->alloc = 4;
    v->n = 0;
    v->v = stk_xcalloc(v->alloc, sizeof(char *));
}

void stk_strv_release(struct stk_strv *v)
{
    if (!v)
        return;
    if (v->v) {
        for (size_t i = 0; i < v->n; i++)
            free(v->v[i]);
        free(v->v);
    }
    v->v = NULL;
    v->n = 0;
    v->alloc = 0;
}

void stk_strv_push_take(struct stk_strv *v, char *s)
{
    if (!v->v)
        stk_strv_init(v);
    if (v->n + 2 > v->alloc) {
        v->alloc *= 2;
        v->v = stk_xrealloc(v->v, v->alloc * sizeof(char *));
    }
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

void stk_strv_push(struct stk_strv *v, const char *s)
{
    stk_strv_push_take(v, stk_xstrdup(s));
}

void stk_strv_pushf(struct stk_strv *v, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    stk_strv_push_take(v, stk_xvasprintf(fmt, ap));
    va_end(ap);
}

int stk_strv_contains(const struct stk_strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void stk_strv_sort(struct stk_strv *v)
{
    if (v->n > 1)
        qsort(v->v, v->n, sizeof(char *), cmp_str);
}

void stk_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t stk_strv_len(char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

char **stk_strv_dup(char *const *v)
{
    size_t n = stk_strv_len(v);
    char **r;

    if (!v)
        return NULL;
    r = stk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r[i] = stk_xstrdup(v[i]);
    return r;
}

char *stk_field_next(char **p, char sep)
{
    char *s = *p, *at;

    if (!s)
        return NULL;
    at = strchr(s, sep);
    if (at) {
        *at = '\0';
        *p = at + 1;
    } else {
        *p = NULL;
    }
    return s;
}

int stk_parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *ret = v;
    return 0;
}
