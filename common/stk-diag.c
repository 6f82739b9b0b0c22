#include "stk-diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "stk-alloc.h"
#include "stk-buf.h"

void stk_diag_release(struct stk_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].msg);
    }
    free(d->items);
    *d = (struct stk_diag)STK_DIAG_INIT;
}

void stk_diag_add(struct stk_diag *d, enum stk_diag_severity sev, const char *file, int line,
                  int col, const char *fmt, ...)
{
    struct stk_diag_item *it;
    va_list ap;

    if (d->n == d->alloc) {
        d->alloc = d->alloc ? d->alloc * 2 : 8;
        d->items = stk_xrealloc(d->items, d->alloc * sizeof(*d->items));
    }
    it = &d->items[d->n++];
    it->severity = sev;
    it->file = stk_xstrdup(file);
    it->line = line;
    it->col = col;
    it->seq = d->n - 1;
    va_start(ap, fmt);
    it->msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    if (sev == STK_DIAG_ERROR)
        d->n_errors++;
}

char *stk_diag_format(const struct stk_diag *d, size_t i)
{
    const struct stk_diag_item *it = &d->items[i];
    struct stk_buf b = STK_BUF_INIT;

    if (it->file)
        stk_buf_printf(&b, "%s:", it->file);
    if (it->line > 0)
        stk_buf_printf(&b, "%d:%d:", it->line, it->col);
    if (b.len)
        stk_buf_putc(&b, ' ');
    stk_buf_printf(&b, "%s: %s", it->severity == STK_DIAG_ERROR ? "error" : "warning", it->msg);
    return stk_buf_detach(&b, NULL);
}

static int cmp_item(const void *a, const void *b)
{
    const struct stk_diag_item *x = a, *y = b;
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

void stk_diag_sort(struct stk_diag *d)
{
    if (d->n > 1)
        qsort(d->items, d->n, sizeof(*d->items), cmp_item);
}
