/*
 * spec-path.c - host paths by the rules of the folder they are relative to:
 * a folder with a Windows volume (C:\x, \\server\share, \\?\C:\x) follows
 * Go's path/filepath on Windows (both separators, the volume kept, '\'
 * written), any other folder POSIX rules (Go's path). So stack.exe resolves
 * `-f sub\compose.yaml` and `.\data` against its Windows working directory,
 * and the Linux build resolves them the same way when given a Windows working
 * directory (the unit tests do), without looking at the machine it runs on.
 *
 * Sources: Go's internal/filepathlite/path_windows.go (volumeNameLen,
 * IsAbs), path/filepath Clean, Join, Dir and Base, as compose-go copies them
 * into paths/windows_path.go.
 */
#include "specs/spec-internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"

static int is_sep(char c)
{
    return c == '\\' || c == '/';
}

/* Whether S starts with PREFIX, ignoring case and treating '\' and '/' alike, the prefix
 * ending at a separator or at the end of S. */
static int has_prefix_fold(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strlen(s) < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (is_sep(prefix[i])) {
            if (!is_sep(s[i]))
                return 0;
        } else if (toupper((unsigned char)prefix[i]) != toupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return !s[n] || is_sep(s[n]);
}

/* Length of the volume of a UNC path whose host starts at PREFIX: through "host\share". */
static size_t unc_len(const char *p, size_t prefix)
{
    size_t count = 0, i;

    for (i = prefix; p[i]; i++)
        if (is_sep(p[i]) && ++count == 2)
            return i;
    return i;
}

size_t spec__win_volume_len(const char *p)
{
    size_t n = strlen(p);

    if (n >= 2 && p[1] == ':')
        return 2;
    if (n == 0 || !is_sep(p[0]))
        return 0;
    if (has_prefix_fold(p, "\\\\.\\UNC"))
        return unc_len(p, strlen("\\\\.\\UNC\\"));
    if (has_prefix_fold(p, "\\\\.") || has_prefix_fold(p, "\\\\?") || has_prefix_fold(p, "\\??")) {
        /* A device path: the component after \\.\ is part of the volume (Clean keeps it). */
        const char *rest;
        if (n == 3)
            return 3;
        for (rest = p + 4; *rest && !is_sep(*rest); rest++)
            ;
        return (size_t)(rest - p);
    }
    if (n >= 2 && is_sep(p[1]))
        return unc_len(p, 2);
    return 0;
}

int spec__is_windows_abs(const char *s)
{
    size_t l = spec__win_volume_len(s);

    if (l == 0)
        return 0;
    if (is_sep(s[0]) && is_sep(s[1]))
        return 1;
    return is_sep(s[l]);
}

int spec__path_is_windows(const char *p)
{
    return spec__win_volume_len(p) > 0;
}

char *spec__win_path_clean(const char *p)
{
    size_t vol = spec__win_volume_len(p), n, r = 0, dotdot = 0, start;
    const char *path = p + vol;
    struct stk_buf out = STK_BUF_INIT;
    int rooted;
    char *res;

    stk_buf_add(&out, p, vol);
    if (!*path) {
        if (!(vol > 1 && is_sep(p[0]) && is_sep(p[1])))
            stk_buf_putc(&out, '.');
        goto out;
    }
    start = out.len;
    n = strlen(path);
    rooted = is_sep(path[0]);
    if (rooted) {
        stk_buf_putc(&out, '\\');
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (is_sep(path[r])) {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || is_sep(path[r + 1]))) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || is_sep(path[r + 2]))) {
            r += 2;
            if (out.len - start > dotdot) {
                size_t w = out.len - 1;
                while (w > start + dotdot && out.buf[w] != '\\')
                    w--;
                out.len = w;
                out.buf[w] = '\0';
            } else if (!rooted) {
                if (out.len > start)
                    stk_buf_putc(&out, '\\');
                stk_buf_puts(&out, "..");
                dotdot = out.len - start;
            }
        } else {
            if ((rooted && out.len - start != 1) || (!rooted && out.len != start))
                stk_buf_putc(&out, '\\');
            for (; r < n && !is_sep(path[r]); r++)
                stk_buf_putc(&out, path[r]);
        }
    }
    if (out.len == start)
        stk_buf_putc(&out, '.');
    if (vol == 0 && strncmp(out.buf, path, out.len) != 0) {
        /*
         * postClean, when cleaning changed the path: a ':' in the first element would read
         * as a drive ("a/../c:" is ".\c:"; "foo:bar" is left alone).
         */
        for (size_t i = 0; i < out.len && out.buf[i] != '\\'; i++)
            if (out.buf[i] == ':') {
                char *tmp = stk_xasprintf(".\\%s", out.buf);
                stk_buf_reset(&out);
                stk_buf_puts(&out, tmp);
                free(tmp);
                break;
            }
    }
out:
    res = stk_buf_detach(&out, NULL);
    for (char *c = res; *c; c++)
        if (*c == '/')
            *c = '\\';
    return res;
}

char *spec__path_resolve(const char *dir, const char *p, int backslash_sep)
{
    if (spec__path_is_windows(dir)) {
        _cleanup_free_ char *j = NULL;
        if (spec__is_windows_abs(p))
            return spec__win_path_clean(p);
        if (is_sep(p[0]))
            /* Rooted without a volume: on the folder's drive (filepath.Abs). */
            j = stk_xasprintf("%.*s%s", (int)spec__win_volume_len(dir), dir, p);
        else
            j = stk_xasprintf("%s\\%s", dir, p);
        return spec__win_path_clean(j);
    }
    if (spec__is_windows_abs(p) || (isalpha((unsigned char)p[0]) && p[1] == ':'))
        return stk_xstrdup(p);
    {
        _cleanup_free_ char *q = stk_xstrdup(p);
        _cleanup_free_ char *j = NULL;
        if (backslash_sep)
            for (char *c = q; *c; c++)
                if (*c == '\\')
                    *c = '/';
        if (q[0] == '/')
            return spec__path_clean(q);
        j = stk_xasprintf("%s/%s", dir, q);
        return spec__path_clean(j);
    }
}

char *spec__path_dir(const char *p)
{
    size_t vol = spec__win_volume_len(p);
    const char *last = NULL;

    if (vol == 0) {
        const char *slash = strrchr(p, '/');
        if (!slash)
            return stk_xstrdup(".");
        if (slash == p)
            return stk_xstrdup("/");
        return stk_xstrndup(p, (size_t)(slash - p));
    }
    for (const char *c = p + vol; *c; c++)
        if (is_sep(*c))
            last = c;
    {
        _cleanup_free_ char *d =
            last ? stk_xstrndup(p, (size_t)(last - p) + (last == p + vol ? 1 : 0))
                 : stk_xstrndup(p, vol);
        return spec__win_path_clean(d);
    }
}

const char *spec__path_base(const char *p)
{
    size_t vol = spec__win_volume_len(p);
    const char *base = p + vol;

    for (const char *c = p + vol; *c; c++)
        if (*c == '/' || (vol && *c == '\\'))
            base = c + 1;
    return base;
}
