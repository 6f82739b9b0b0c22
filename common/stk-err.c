#include "stk-err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stk-alloc.h"

static const char *const err_names[] = {
#define STK__ERR_NAME(name, text) text,
    STK_ERRNO_MAP(STK__ERR_NAME)
#undef STK__ERR_NAME
};

static const struct {
    const char *name;
    const char *text;
    int code;
} err_codes[] = {
#define STK__ERR_CODE(name, text) {#name, text, -(STK__##name##_IDX + 1)},
    STK_ERRNO_MAP(STK__ERR_CODE)
#undef STK__ERR_CODE
};

int stk_err_code_from_string(const char *s)
{
    if (!s)
        return 0;
    if (strncasecmp(s, "STK_", 4) == 0)
        s += 4;
    for (size_t i = 0; i < STK_ARRAY_SIZE(err_codes); i++)
        if (strcasecmp(s, err_codes[i].name) == 0 || strcasecmp(s, err_codes[i].text) == 0)
            return err_codes[i].code;
    return 0;
}

const char *stk_strerror(int code)
{
    int idx = -code - 1;

    if (code == 0)
        return "success";
    if (idx < 0 || idx >= (int)STK_ARRAY_SIZE(err_names))
        return "unknown error";
    return err_names[idx];
}

STK_PRINTF(4, 0)
static void err_vset(struct stk_err *err, int code, int os_code, const char *fmt, va_list ap)
{
    size_t len;

    err->code = code;
    err->os_code = os_code;
    err->file[0] = '\0';
    err->line = 0;
    err->col = 0;
    free(err->detail);
    err->detail = NULL;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    len = strlen(err->msg);
#ifndef _WIN32
    if (os_code > 0 && len < sizeof(err->msg) - 3)
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(os_code));
#else
    (void)len; /* os_code may be a Win32 error or an HRESULT: not an errno */
#endif
}

int stk_err_set(struct stk_err *err, int code, int os_code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    err_vset(err, code, os_code, fmt, ap);
    va_end(ap);
    return code;
}

int stk_err_set_at(struct stk_err *err, int code, const char *file, int line, int col,
                   const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    va_start(ap, fmt);
    err_vset(err, code, 0, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
    return code;
}

int stk_err_wrap(struct stk_err *err, const char *fmt, ...)
{
    char outer[STK_ERR_MSG_MAX];
    char joined[STK_ERR_MSG_MAX];
    size_t olen, ilen, room;
    va_list ap;

    if (!err)
        return STK_EINVAL;
    va_start(ap, fmt);
    vsnprintf(outer, sizeof(outer), fmt, ap);
    va_end(ap);
    olen = strlen(outer);
    if (olen > sizeof(joined) - 16)
        olen = sizeof(joined) - 16;
    memcpy(joined, outer, olen);
    memcpy(joined + olen, ": ", 2);
    olen += 2;
    ilen = strlen(err->msg);
    room = sizeof(joined) - olen - 1;
    if (ilen > room) {
        /* Keep the outer context; truncate the innermost text with an ellipsis. */
        const char ell[] = "\xe2\x80\xa6";
        size_t keep = room - (sizeof(ell) - 1);
        memcpy(joined + olen, err->msg, keep);
        memcpy(joined + olen + keep, ell, sizeof(ell) - 1);
        joined[olen + keep + sizeof(ell) - 1] = '\0';
    } else {
        memcpy(joined + olen, err->msg, ilen + 1);
    }
    memcpy(err->msg, joined, sizeof(err->msg));
    if (err->code == 0)
        err->code = STK_EIO;
    return err->code;
}

void stk_err_set_detail(struct stk_err *err, const char *detail)
{
    if (!err)
        return;
    free(err->detail);
    err->detail = detail ? stk_xstrdup(detail) : NULL;
}

const char *stk_err_format(const struct stk_err *err, char *buf, size_t size)
{
    if (err->line > 0 && err->file[0])
        snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    else if (err->msg[0])
        snprintf(buf, size, "%s", err->msg);
    else
        snprintf(buf, size, "%s", stk_strerror(err->code));
    return buf;
}

void stk_err_clear(struct stk_err *err)
{
    if (!err)
        return;
    free(err->detail);
    *err = (struct stk_err)STK_ERR_INIT;
}

void stk_err_move(struct stk_err *dst, struct stk_err *src)
{
    if (dst == src)
        return;
    free(dst->detail);
    *dst = *src;
    *src = (struct stk_err)STK_ERR_INIT;
}
