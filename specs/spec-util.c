/*
 * spec-util.c - small parsers the normaliser shares: shell-like word
 * splitting (google/shlex, which compose-go uses for string commands), Go
 * durations (time.ParseDuration / Duration.String), byte sizes (docker
 * go-units RAMInBytes), POSIX path cleaning (Go path.Clean) and schema
 * lookups.
 */
#include "specs/spec-internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-strv.h"

const struct spec__shape *spec__shape_field(const struct spec__shape *shape, const char *key)
{
    size_t lo = 0, hi = shape->n_fields;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(key, shape->fields[mid].name);
        if (c == 0)
            return shape->fields[mid].shape;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

char **spec__shlex_split(const char *s, char **ret_msg)
{
    struct stk_strv v = STK_STRV_INIT;
    struct stk_buf word = STK_BUF_INIT;
    int in_word = 0;

    stk_strv_init(&v);
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!in_word && c == '#') {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_word) {
                stk_strv_push(&v, word.buf);
                stk_buf_reset(&word);
                in_word = 0;
            }
            continue;
        }
        in_word = 1;
        if (c == '\\') {
            if (!p[1]) {
                *ret_msg = stk_xstrdup("EOF found after escape character");
                goto fail;
            }
            stk_buf_putc(&word, *++p);
        } else if (c == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e) {
                *ret_msg = stk_xstrdup("EOF found when expecting closing quote");
                goto fail;
            }
            stk_buf_add(&word, p + 1, (size_t)(e - p - 1));
            p = e;
        } else if (c == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    if (!p[1])
                        break;
                    p++;
                }
                stk_buf_putc(&word, *p++);
            }
            if (*p != '"') {
                *ret_msg = stk_xstrdup("EOF found when expecting closing quote");
                goto fail;
            }
        } else {
            stk_buf_putc(&word, c);
        }
    }
    if (in_word)
        stk_strv_push(&v, word.buf);
    stk_buf_release(&word);
    return v.v;
fail:
    stk_buf_release(&word);
    stk_strv_release(&v);
    return NULL;
}

int spec__parse_duration(const char *s, int64_t *ret_ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {
        {"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
    };
    const char *p = s;
    double total = 0;
    int neg = 0;

    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ret_ns = 0;
        return 0;
    }
    if (!*p)
        return -1;
    while (*p) {
        char *end;
        double v;
        size_t best = 0;
        int found = -1;
        if (!(isdigit((unsigned char)*p) || *p == '.'))
            return -1;
        v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        for (size_t i = 0; i < STK_ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best) {
                /* "m" must not shadow "ms". */
                best = l;
                found = (int)i;
            }
        }
        if (found < 0)
            return -1;
        total += v * units[found].ns;
        p += best;
    }
    if (total > 9.2e18)
        return -1;
    *ret_ns = (int64_t)(total + 0.5) * (neg ? -1 : 1);
    return 0;
}

static void frac(struct stk_buf *b, uint64_t v, uint64_t unit, int width)
{
    uint64_t whole = v / unit, rest = v % unit;

    stk_buf_printf(b, "%" PRIu64, whole);
    if (rest) {
        char digits[32];
        int len = snprintf(digits, sizeof(digits), "%0*" PRIu64, width, rest);
        while (len > 0 && digits[len - 1] == '0')
            digits[--len] = '\0';
        stk_buf_printf(b, ".%s", digits);
    }
}

char *spec__format_duration(int64_t ns)
{
    struct stk_buf b = STK_BUF_INIT;
    uint64_t u;

    if (ns == 0)
        return stk_xstrdup("0s");
    if (ns < 0) {
        stk_buf_putc(&b, '-');
        u = (uint64_t)(-(ns + 1)) + 1;
    } else {
        u = (uint64_t)ns;
    }
    if (u < 1000) {
        stk_buf_printf(&b, "%" PRIu64 "ns", u);
    } else if (u < 1000000) {
        frac(&b, u, 1000, 3);
        stk_buf_puts(&b, "\xc2\xb5s");
    } else if (u < 1000000000) {
        frac(&b, u, 1000000, 6);
        stk_buf_puts(&b, "ms");
    } else {
        uint64_t h = u / 3600000000000ULL, m = (u / 60000000000ULL) % 60;
        uint64_t sec = u % 60000000000ULL;
        if (h)
            stk_buf_printf(&b, "%" PRIu64 "h%" PRIu64 "m", h, m);
        else if (m)
            stk_buf_printf(&b, "%" PRIu64 "m", m);
        frac(&b, sec, 1000000000ULL, 9);
        stk_buf_putc(&b, 's');
    }
    return stk_buf_detach(&b, NULL);
}

int spec__parse_bytes(const char *s, int64_t *ret_bytes)
{
    const char *p = s;
    char *end;
    double v, mul = 1;

    if (!isdigit((unsigned char)*p))
        return -1;
    v = strtod(p, &end);
    p = end;
    if (*p == ' ')
        p++;
    switch (tolower((unsigned char)*p)) {
    case 'k':
        mul = 1024.0;
        p++;
        break;
    case 'm':
        mul = 1024.0 * 1024;
        p++;
        break;
    case 'g':
        mul = 1024.0 * 1024 * 1024;
        p++;
        break;
    case 't':
        mul = 1024.0 * 1024 * 1024 * 1024;
        p++;
        break;
    case 'p':
        mul = 1024.0 * 1024 * 1024 * 1024 * 1024;
        p++;
        break;
    default:
        break;
    }
    if (mul > 1 && (*p == 'i' || *p == 'I'))
        p++;
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p)
        return -1;
    if (v * mul > 9.2e18)
        return -1;
    *ret_bytes = (int64_t)(v * mul);
    return 0;
}

int spec__is_windows_abs(const char *s)
{
    if (isalpha((unsigned char)s[0]) && s[1] == ':' && (s[2] == '\\' || s[2] == '/'))
        return 1;
    return (s[0] == '\\' && s[1] == '\\');
}

char *spec__path_clean(const char *p)
{
    struct stk_buf out = STK_BUF_INIT;
    int rooted = p[0] == '/';
    size_t n = strlen(p), r = 0, dotdot = 0;

    if (n == 0)
        return stk_xstrdup(".");
    if (rooted) {
        stk_buf_putc(&out, '/');
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            if (out.len > dotdot) {
                size_t w = out.len - 1;
                while (w > dotdot && out.buf[w] != '/')
                    w--;
                out.len = w;
                out.buf[w] = '\0';
            } else if (!rooted) {
                if (out.len > 0)
                    stk_buf_putc(&out, '/');
                stk_buf_puts(&out, "..");
                dotdot = out.len;
            }
        } else {
            if ((rooted && out.len != 1) || (!rooted && out.len != 0))
                stk_buf_putc(&out, '/');
            while (r < n && p[r] != '/')
                stk_buf_putc(&out, p[r++]);
        }
    }
    if (out.len == 0)
        stk_buf_putc(&out, '.');
    return stk_buf_detach(&out, NULL);
}
