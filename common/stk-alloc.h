/*
 * stk-alloc.h - allocation that aborts on failure (STYLE.md rule 15, crun
 * xmalloc, git xmalloc). Out of memory is not a runtime error in this project.
 */
#ifndef STK_ALLOC_H
#define STK_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "stk-macro.h"

/* malloc(SIZE) that aborts with a message on failure; SIZE 0 returns a unique pointer. */
void *stk_xmalloc(size_t size);
/* calloc(N, SIZE) that aborts on failure or overflow; memory is zeroed. */
void *stk_xcalloc(size_t n, size_t size);
/* realloc(P, SIZE) that aborts on failure. */
void *stk_xrealloc(void *p, size_t size);
/* strdup(S) that aborts on failure; S may be NULL (returns NULL). */
char *stk_xstrdup(const char *s);
/* strndup(S, N) that aborts on failure. */
char *stk_xstrndup(const char *s, size_t n);
/* Returns a new string formatted like printf; caller frees. Aborts on failure. */
char *stk_xasprintf(const char *fmt, ...) STK_PRINTF(1, 2);
/* As stk_xasprintf() with a va_list. */
char *stk_xvasprintf(const char *fmt, va_list ap) STK_PRINTF(1, 0);

/* Allocates a zeroed object of TYPE. */
#define stk_new0(type) ((type *)stk_xcalloc(1, sizeof(type)))

#endif
