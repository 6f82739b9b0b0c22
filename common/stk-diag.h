/*
 * stk-diag.h - a list of diagnostics (errors and warnings with file:line:col)
 * that a loader collects so that several problems are reported together
 * (STYLE.md rule 10). The caller owns the list.
 */
#ifndef STK_DIAG_H
#define STK_DIAG_H

#include <stddef.h>

#include "stk-macro.h"

enum stk_diag_severity {
    STK_DIAG_ERROR,
    STK_DIAG_WARNING,
};

struct stk_diag_item {
    enum stk_diag_severity severity;
    char *file; /* owned; may be NULL */
    int line;   /* 1-based, 0 when unknown */
    int col;    /* 1-based, 0 when unknown */
    char *msg;  /* owned */
    size_t seq; /* insertion order, keeps the sort stable */
};

struct stk_diag {
    struct stk_diag_item *items; /* owned array */
    size_t n;
    size_t alloc;
    size_t n_errors;
};

#define STK_DIAG_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Frees every item and resets D; NULL-safe. */
void stk_diag_release(struct stk_diag *d);
/* Appends an item with a copy of FILE (may be NULL) and the formatted message. */
void stk_diag_add(struct stk_diag *d, enum stk_diag_severity sev, const char *file, int line,
                  int col, const char *fmt, ...) STK_PRINTF(6, 7);
/*
 * Formats item I as "file:line:col: error: msg" (or "warning:"), dropping the
 * position parts that are unknown. Returns a new string; caller frees.
 */
char *stk_diag_format(const struct stk_diag *d, size_t i);
/* Sorts items by file, line and column (stable for equal positions). */
void stk_diag_sort(struct stk_diag *d);

#endif
