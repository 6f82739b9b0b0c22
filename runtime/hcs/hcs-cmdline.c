/*
 * hcs-cmdline.c - Windows command lines: quoting argv into the single
 * CommandLine string of ProcessParameters (reference §3.1 step 5, §6 "Process
 * start": moby passes escaped args), and splitting with CommandLineToArgvW's
 * rules so that tests can check the round trip.
 */
#include "runtime/hcs/hcs.h"

#include <stdlib.h>
#include <string.h>

#include "common/stk-buf.h"
#include "common/stk-strv.h"

/* Go syscall.EscapeArg / appendEscapeArg, which moby uses for CommandLine. */
static void quote_arg(struct stk_buf *b, const char *s)
{
    int needs_backslash = 0, has_space = 0;
    size_t slashes = 0;

    if (!*s) {
        stk_buf_puts(b, "\"\"");
        return;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            needs_backslash = 1;
        else if (*p == ' ' || *p == '\t')
            has_space = 1;
    }
    if (!needs_backslash && !has_space) {
        stk_buf_puts(b, s);
        return;
    }
    if (!needs_backslash) {
        stk_buf_printf(b, "\"%s\"", s);
        return;
    }
    if (has_space)
        stk_buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            slashes++;
        } else if (*p == '"') {
            /* 2n+1 backslashes before a quote give n backslashes and a literal quote. */
            for (; slashes > 0; slashes--)
                stk_buf_putc(b, '\\');
            stk_buf_putc(b, '\\');
        } else {
            slashes = 0;
        }
        stk_buf_putc(b, *p);
    }
    if (has_space) {
        /* Backslashes before the closing quote are doubled. */
        for (; slashes > 0; slashes--)
            stk_buf_putc(b, '\\');
        stk_buf_putc(b, '"');
    }
}

char *rt_hcs_cmdline_quote(const char *const *argv)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; argv && argv[i]; i++) {
        if (i)
            stk_buf_putc(&b, ' ');
        quote_arg(&b, argv[i]);
    }
    return stk_buf_detach(&b, NULL);
}

char **rt_hcs_cmdline_split(const char *cmdline)
{
    struct stk_strv v = STK_STRV_INIT;
    struct stk_buf arg = STK_BUF_INIT;
    const char *p = cmdline ? cmdline : "";

    stk_strv_init(&v);
    /*
     * The program name: up to the first space or tab, or between quotes;
     * backslashes are taken literally (CommandLineToArgvW remarks).
     */
    if (*p == '"') {
        p++;
        while (*p && *p != '"')
            stk_buf_putc(&arg, *p++);
        if (*p == '"')
            p++;
    } else {
        while (*p && *p != ' ' && *p != '\t')
            stk_buf_putc(&arg, *p++);
    }
    if (*p || arg.len || (cmdline && *cmdline))
        stk_strv_push_take(&v, stk_buf_detach(&arg, NULL));

    for (;;) {
        int in_quotes = 0;

        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        while (*p) {
            if (!in_quotes && (*p == ' ' || *p == '\t'))
                break;
            if (*p == '\\') {
                size_t n = 0;

                while (*p == '\\') {
                    n++;
                    p++;
                }
                if (*p == '"') {
                    for (size_t k = 0; k < n / 2; k++)
                        stk_buf_putc(&arg, '\\');
                    if (n % 2) {
                        stk_buf_putc(&arg, '"');
                        p++;
                    }
                } else {
                    for (size_t k = 0; k < n; k++)
                        stk_buf_putc(&arg, '\\');
                }
                continue;
            }
            if (*p == '"') {
                if (in_quotes && p[1] == '"') {
                    stk_buf_putc(&arg, '"'); /* "" inside quotes is a literal quote */
                    p += 2;
                    continue;
                }
                in_quotes = !in_quotes;
                p++;
                continue;
            }
            stk_buf_putc(&arg, *p++);
        }
        stk_strv_push_take(&v, stk_buf_detach(&arg, NULL));
    }
    stk_buf_release(&arg);
    return v.v;
}
