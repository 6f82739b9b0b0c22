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

static size_t fnv1a(const char *s)
{
    size_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct spec__strmap *spec__strmap_new(size_t n)
{
    struct spec__strmap *m = stk_new0(struct spec__strmap);

    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->keys = stk_xcalloc(m->cap, sizeof(*m->keys));
    m->vals = stk_xcalloc(m->cap, sizeof(*m->vals));
    return m;
}

void spec__strmap_put(struct spec__strmap *m, const char *key, size_t val)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap) {
        /* Grow to twice the size and re-insert (the new table is at most half full). */
        const char **old_keys = m->keys;
        size_t *old_vals = m->vals, old_cap = m->cap;
        m->cap *= 2;
        m->n = 0;
        m->keys = stk_xcalloc(m->cap, sizeof(*m->keys));
        m->vals = stk_xcalloc(m->cap, sizeof(*m->vals));
        for (size_t j = 0; j < old_cap; j++)
            if (old_keys[j]) {
                for (i = fnv1a(old_keys[j]) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
                    ;
                m->keys[i] = old_keys[j];
                m->vals[i] = old_vals[j];
                m->n++;
            }
        free(old_keys);
        free(old_vals);
    }
    for (i = fnv1a(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], key) == 0)
            return;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}

long spec__strmap_get(const struct spec__strmap *m, const char *key)
{
    for (size_t i = fnv1a(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], key) == 0)
            return (long)m->vals[i];
    return -1;
}

void spec__strmap_free(struct spec__strmap *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    free(m);
}

/* [a-z0-9]+ ((?:[._]|__|[-]+)[a-z0-9]+)*: one path component of a repository name. */
static int path_component_valid(const char *s, size_t n)
{
    size_t i = 0;

    for (;;) {
        size_t run = 0;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
            i++;
            run++;
        }
        if (!run)
            return 0;
        if (i == n)
            return 1;
        if (s[i] == '.' || (s[i] == '_' && (i + 1 >= n || s[i + 1] != '_')))
            i++;
        else if (s[i] == '_')
            i += 2;
        else if (s[i] == '-')
            while (i < n && s[i] == '-')
                i++;
        else
            return 0;
    }
}

/* host[:port]: DNS labels of [A-Za-z0-9-] (not starting or ending with '-'), an IPv6 in []. */
static int domain_valid(const char *s, size_t n)
{
    size_t host_end = n;
    const char *colon;

    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return 0;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return 0;
        host_end = (size_t)(close - s) + 1;
    } else {
        colon = memchr(s, ':', n);
        host_end = colon ? (size_t)(colon - s) : n;
        for (size_t i = 0, start = 0; i <= host_end; i++) {
            if (i == host_end || s[i] == '.') {
                if (i == start || s[start] == '-' || s[i - 1] == '-')
                    return 0;
                start = i + 1;
            } else if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
                return 0;
            }
        }
    }
    if (host_end == n)
        return 1;
    if (s[host_end] != ':' || host_end + 1 == n)
        return 0;
    for (size_t i = host_end + 1; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int spec__image_ref_valid(const char *ref, const char **ret_why)
{
    const char *at = strchr(ref, '@'), *end, *slash, *colon, *tag = NULL;
    size_t name_len;

    *ret_why = NULL;
    end = at ? at : ref + strlen(ref);
    /* A tag is the part after the last ':' that follows the last '/'. */
    slash = NULL;
    for (const char *p = ref; p < end; p++)
        if (*p == '/')
            slash = p;
    colon = NULL;
    for (const char *p = slash ? slash : ref; p < end; p++)
        if (*p == ':')
            colon = p;
    if (colon) {
        tag = colon + 1;
        name_len = (size_t)(colon - ref);
    } else {
        name_len = (size_t)(end - ref);
    }
    if (name_len == 0)
        return *ret_why = "no repository name", 0;
    if (name_len > 255)
        return *ret_why = "repository name longer than 255 characters", 0;
    {
        /* The first component is a registry host when it has '.' or ':' or is localhost. */
        const char *first_end = memchr(ref, '/', name_len);
        const char *p = ref;
        if (first_end) {
            size_t fl = (size_t)(first_end - ref);
            if (memchr(ref, '.', fl) || memchr(ref, ':', fl) ||
                (fl == 9 && strncmp(ref, "localhost", 9) == 0)) {
                if (!domain_valid(ref, fl))
                    return *ret_why = "invalid registry host", 0;
                p = first_end + 1;
            }
        }
        while (p < ref + name_len) {
            const char *q = memchr(p, '/', (size_t)(ref + name_len - p));
            size_t n = q ? (size_t)(q - p) : (size_t)(ref + name_len - p);
            for (size_t i = 0; i < n; i++)
                if (isupper((unsigned char)p[i]))
                    return *ret_why = "repository name must be lowercase", 0;
            if (!path_component_valid(p, n))
                return *ret_why = "invalid repository name", 0;
            p += n + (q ? 1 : 0);
            if (q && p == ref + name_len)
                return *ret_why = "invalid repository name", 0;
        }
    }
    if (tag) {
        /* [\w][\w.-]{0,127} */
        size_t n = (size_t)(end - tag);
        if (n == 0 || n > 128 || tag[0] == '.' || tag[0] == '-')
            return *ret_why = "invalid tag", 0;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
                return *ret_why = "invalid tag", 0;
    }
    if (at) {
        /*
         * algorithm:hex; the algorithms a registry verifies (opencontainers
         * go-digest: sha256, sha384, sha512) with their exact lowercase hex length.
         */
        static const struct {
            const char *alg;
            size_t hex;
        } algs[] = {{"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
        const char *c = strchr(at + 1, ':');
        size_t alg_len = c ? (size_t)(c - at - 1) : 0, want = 0;
        if (!c)
            return *ret_why = "invalid digest", 0;
        for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
            if (strlen(algs[i].alg) == alg_len && strncmp(at + 1, algs[i].alg, alg_len) == 0)
                want = algs[i].hex;
        if (!want)
            return *ret_why = "unsupported digest algorithm", 0;
        if (strlen(c + 1) != want)
            return *ret_why = "digest of the wrong length", 0;
        for (const char *p = c + 1; *p; p++)
            if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
                return *ret_why = "digest is not lowercase hex", 0;
    }
    return 1;
}
