/*
 * win-error.c - the one HRESULT → STK_E* table (STYLE.md rule 16); portable,
 * built on every platform. See win-error.h.
 */
#include "win-error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct win_error_entry {
    int32_t hr;
    int code;
    const char *name;
    const char *text;
};

static const struct win_error_entry table[] = {
#define STK__WIN_ENTRY(name, value, code, text) {STK_HR(value), code, #name, text},
    STK_WIN_ERROR_MAP(STK__WIN_ENTRY)
#undef STK__WIN_ENTRY
};

static const struct win_error_entry *lookup(int32_t hr)
{
    for (size_t i = 0; i < STK_ARRAY_SIZE(table); i++)
        if (table[i].hr == hr)
            return &table[i];
    return NULL;
}

int stk_win_err_code(int32_t hr)
{
    const struct win_error_entry *e = lookup(hr);

    if (e)
        return e->code;
    if (hr >= 0)
        return 0;
    if (((uint32_t)hr & 0xFFFF0000u) == 0x803B0000u)
        return STK_ENET;
    return STK_ERUNTIME;
}

const char *stk_win_hresult_name(int32_t hr)
{
    const struct win_error_entry *e = lookup(hr);

    return e ? e->name : NULL;
}

const char *stk_win_hresult_text(int32_t hr)
{
    const struct win_error_entry *e = lookup(hr);

    return e ? e->text : NULL;
}

int stk_win_hresult_is_not_found(int32_t hr)
{
    return hr == STK_WIN_HCS_E_SYSTEM_NOT_FOUND || hr == STK_WIN_VMCOMPUTE_E_SYSTEM_NOT_FOUND ||
           hr == STK_WIN_ERROR_NOT_FOUND || hr == STK_WIN_HRESULT_ERROR_NOT_FOUND ||
           hr == STK_WIN_HCN_E_NETWORK_NOT_FOUND || hr == STK_WIN_HCN_E_ENDPOINT_NOT_FOUND;
}

int stk_win_hresult_is_already_stopped(int32_t hr)
{
    return hr == STK_WIN_HCS_E_SYSTEM_ALREADY_STOPPED ||
           hr == STK_WIN_VMCOMPUTE_E_SYSTEM_ALREADY_STOPPED ||
           hr == STK_WIN_HCS_E_PROCESS_ALREADY_STOPPED || hr == STK_WIN_ERROR_NOT_FOUND;
}

int stk_err_set_hresult(struct stk_err *err, int32_t hr, const char *detail, const char *fmt, ...)
{
    const struct win_error_entry *e = lookup(hr);
    int code = stk_win_err_code(hr);
    char ctx[STK_ERR_MSG_MAX];
    va_list ap;

    if (code == 0)
        code = STK_ERUNTIME; /* a caller reporting a success code as an error */
    if (!err)
        return code;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    if (e)
        stk_err_set(err, code, 0, "%s: %s (%s, 0x%08X)", ctx, e->text, e->name, (uint32_t)hr);
    else
        stk_err_set(err, code, 0, "%s: HRESULT 0x%08X", ctx, (uint32_t)hr);
    err->os_code = hr;
    if (detail && *detail)
        stk_err_set_detail(err, detail);
    return code;
}
