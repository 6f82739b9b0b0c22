/*
 * stk-strv.h - a growable, NULL-terminated vector of owned strings, used for
 * argv and environment vectors handed to uv_spawn (STYLE.md rule 23).
 */
#ifndef STK_STRV_H
#define STK_STRV_H

#include <stddef.h>
#include <stdint.h>

#include "stk-macro.h"

struct stk_strv {
    char **v;     /* NULL-terminated; never NULL after init */
    size_t n;     /* number of strings */
    size_t alloc; /* slots allocated */
};

#define STK_STRV_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Initialises V empty (V->v becomes a valid empty vector). */
void stk_strv_init(struct stk_strv *v);
/* Frees every string and the vector; re-initialises V. NULL-safe. */
void stk_strv_release(struct stk_strv *v);
/* Appends a copy of S. */
void stk_strv_push(struct stk_strv *v, const char *s);
/* Appends S, taking ownership of it (S must be heap-allocated). */
void stk_strv_push_take(struct stk_strv *v, char *s);
/* Appends a printf-formatted string. */
void stk_strv_pushf(struct stk_strv *v, const char *fmt, ...) STK_PRINTF(2, 3);
/* Returns 1 when V holds a string equal to S, else 0. */
int stk_strv_contains(const struct stk_strv *v, const char *s);
/* Sorts V in strcmp order. */
void stk_strv_sort(struct stk_strv *v);
/* Returns a deep copy of the NULL-terminated vector V (NULL for NULL); caller frees with
 * stk_strv_free(). */
char **stk_strv_dup(char *const *v);
/* Returns the number of strings in the NULL-terminated vector V (0 for NULL). */
size_t stk_strv_len(char *const *v);
/*
 * Cuts the next SEP-separated field off *P in place and returns it; *P moves
 * past the separator, or becomes NULL after the last field. Returns NULL once
 * *P is NULL. For parsing "a:b:c" settings (the fakes' environment).
 */
char *stk_field_next(char **p, char sep);
/* Parses a decimal unsigned 64-bit number S (no sign, no trailing text); 0 or -1. */
int stk_parse_u64(const char *s, uint64_t *ret);

/* Frees a NULL-terminated heap vector and its strings; NULL-safe. */
void stk_strv_free(char **v);

#endif
