/*
 * hcs-wclayer.c - the Windows metadata of a layer tar (hcs-wclayer.h): a
 * ustar/pax header walker and the Win32 backup stream builders.
 *
 * Why a home-made header walker: libarchive (kept for the data, the
 * decompression and the extraction in hcs-storage.c) reads pax records into
 * an archive_entry and drops the keys it does not know; libarchive 3.6.2's
 * pax_attribute() has no case for MSWINDOWS.*, and archive_entry has no
 * accessor for unknown records. So the blob is opened a second time with
 * libarchive's filters and its "raw" format, which yields the decompressed
 * tar bytes, and this file reads only the headers: 512-byte ustar blocks
 * (checksum, octal or base-256 size), pax 'x'/'X' and 'g' records
 * ("LEN key=value\n"), GNU 'L'/'K' long names. Member data is skipped, never
 * buffered. Every length is checked against the input and bounded
 * (EXT_MAX for an extended header or long name); anything malformed is an
 * error, never a guess.
 */
#include "runtime/hcs/hcs-wclayer.h"

#include <archive.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-macro.h"

#define BLOCK 512
#define EXT_MAX (1u << 20) /* an extended header or GNU long name */

/* ---- the walker ------------------------------------------------------------ */

struct scan {
    struct archive *a;
    uint64_t off; /* bytes of the tar stream consumed */
    struct stk_err *err;
};

/* Reads up to N bytes; stores the count in *GOT (short only at the end). */
static int scan_read(struct scan *s, void *buf, size_t n, size_t *got)
{
    size_t have = 0;

    *got = 0;
    while (have < n) {
        la_ssize_t r = archive_read_data(s->a, (char *)buf + have, n - have);

        if (r < 0)
            return stk_err_set(s->err, STK_EIMAGE, archive_errno(s->a),
                               "read the tar stream at byte %llu: %s",
                               (unsigned long long)(s->off + have), archive_error_string(s->a));
        if (r == 0)
            break;
        have += (size_t)r;
    }
    s->off += have;
    *got = have;
    return 0;
}

static int scan_need(struct scan *s, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    int r = scan_read(s, buf, n, &got);

    if (r < 0)
        return r;
    if (got != n)
        return stk_err_set(s->err, STK_EIMAGE, 0, "tar stream truncated in %s at byte %llu", what,
                           (unsigned long long)s->off);
    return 0;
}

static int scan_skip(struct scan *s, uint64_t n)
{
    char buf[8192];

    while (n) {
        size_t chunk = n < sizeof(buf) ? (size_t)n : sizeof(buf);
        int r = scan_need(s, buf, chunk, "member data");

        if (r < 0)
            return r;
        n -= chunk;
    }
    return 0;
}

static uint64_t padded(uint64_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/*
 * Parses a numeric header field of LEN bytes: octal digits (leading spaces,
 * ended by space or NUL; all-NUL is 0) or base-256 (first byte 0x80, big
 * endian). Returns 0 or -1.
 */
static int field_num(const unsigned char *f, size_t len, uint64_t *ret)
{
    uint64_t v = 0;
    size_t i = 0;

    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative (0xff) or reserved */
        for (i = 1; i < len; i++) {
            if (v >> 55)
                return -1;
            v = (v << 8) | f[i];
        }
        *ret = v;
        return 0;
    }
    while (i < len && f[i] == ' ')
        i++;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = (v << 3) | (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *ret = v;
    return 0;
}

static int checksum_ok(const unsigned char *h)
{
    uint64_t want;
    unsigned long us = 0;
    long ss = 0;

    if (field_num(h + 148, 8, &want) < 0)
        return 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];

        us += c;
        ss += (signed char)c;
    }
    return want == us || (ss >= 0 && want == (uint64_t)ss);
}

/* A bounded C string from a fixed field. */
static char *field_str(const unsigned char *f, size_t len)
{
    size_t n = 0;

    while (n < len && f[n])
        n++;
    return stk_xstrndup((const char *)f, n);
}

struct recs {
    struct rt_hcs_pax_record *v;
    size_t n, cap;
};

static void recs_clear(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    r->n = 0;
}

static void recs_free(struct recs *r)
{
    recs_clear(r);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Sets KEY to VALUE (LEN bytes) in R, replacing an earlier value. */
static void recs_set(struct recs *r, const char *key, size_t klen, const char *value, size_t len)
{
    struct rt_hcs_pax_record *rec = NULL;

    for (size_t i = 0; i < r->n && !rec; i++)
        if (strlen(r->v[i].key) == klen && memcmp(r->v[i].key, key, klen) == 0)
            rec = &r->v[i];
    if (!rec) {
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 8;
            r->v = stk_xrealloc(r->v, r->cap * sizeof(*r->v));
        }
        rec = &r->v[r->n++];
        rec->key = stk_xstrndup(key, klen);
    } else {
        free(rec->value);
    }
    rec->value = stk_xmalloc(len + 1);
    memcpy(rec->value, value, len);
    rec->value[len] = '\0';
    rec->len = len;
}

static int kept_key(const char *key, size_t klen)
{
    static const char ct[] = "LIBARCHIVE.creationtime";

    return (klen > 10 && memcmp(key, "MSWINDOWS.", 10) == 0) ||
           (klen == sizeof(ct) - 1 && memcmp(key, ct, klen) == 0);
}

struct pending {
    char *path, *linkpath, *longname, *longlink;
    int has_size;
    uint64_t size;
    struct recs local;
};

static void pending_clear(struct pending *p)
{
    free(p->path);
    free(p->linkpath);
    free(p->longname);
    free(p->longlink);
    recs_free(&p->local);
    memset(p, 0, sizeof(*p));
}

/*
 * Parses the pax records in BUF (LEN bytes) into P (an 'x' header) or into
 * GLOBAL (a 'g' header, P NULL). Returns 0 or STK_EIMAGE.
 */
static int parse_records(struct scan *s, const char *buf, size_t len, struct pending *p,
                         struct recs *global)
{
    size_t pos = 0;

    while (pos < len) {
        size_t rlen = 0, i = pos, digits = 0;
        const char *key, *eq, *end;

        while (i < len && buf[i] >= '0' && buf[i] <= '9' && digits < 10) {
            rlen = rlen * 10 + (size_t)(buf[i] - '0');
            i++;
            digits++;
        }
        if (!digits || i >= len || buf[i] != ' ' || rlen < digits + 3 || rlen > len - pos ||
            buf[pos + rlen - 1] != '\n')
            return stk_err_set(s->err, STK_EIMAGE, 0,
                               "malformed pax record at byte %zu of the extended header before "
                               "byte %llu",
                               pos, (unsigned long long)s->off);
        key = buf + i + 1;
        end = buf + pos + rlen - 1;
        eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key)
            return stk_err_set(s->err, STK_EIMAGE, 0,
                               "pax record without a key at byte %zu of the extended header before "
                               "byte %llu",
                               pos, (unsigned long long)s->off);
        {
            size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
            const char *v = eq + 1;

            if (!p) {
                if (kept_key(key, klen))
                    recs_set(global, key, klen, v, vlen);
            } else if (klen == 4 && memcmp(key, "path", 4) == 0) {
                free(p->path);
                p->path = vlen ? stk_xstrndup(v, vlen) : NULL;
            } else if (klen == 8 && memcmp(key, "linkpath", 8) == 0) {
                free(p->linkpath);
                p->linkpath = vlen ? stk_xstrndup(v, vlen) : NULL;
            } else if (klen == 4 && memcmp(key, "size", 4) == 0) {
                uint64_t n = 0;

                p->has_size = vlen > 0;
                for (size_t k = 0; k < vlen; k++) {
                    if (v[k] < '0' || v[k] > '9' || n > (uint64_t)(INT64_MAX - 9) / 10)
                        return stk_err_set(s->err, STK_EIMAGE, 0,
                                           "bad pax size '%.*s' before byte %llu", (int)vlen, v,
                                           (unsigned long long)s->off);
                    n = n * 10 + (uint64_t)(v[k] - '0');
                }
                p->size = n;
            } else if (kept_key(key, klen)) {
                recs_set(&p->local, key, klen, v, vlen);
            }
        }
        pos += rlen;
    }
    return 0;
}

/* Reads the body of an extended header or long name: SIZE bytes plus padding. */
static int read_ext(struct scan *s, uint64_t size, char **ret)
{
    char *buf;
    int r;

    if (size > EXT_MAX)
        return stk_err_set(s->err, STK_EIMAGE, 0,
                           "extended header of %llu bytes before byte %llu (limit %u)",
                           (unsigned long long)size, (unsigned long long)s->off, EXT_MAX);
    buf = stk_xmalloc((size_t)size + 1);
    r = scan_need(s, buf, (size_t)size, "an extended header");
    if (r == 0)
        r = scan_skip(s, padded(size) - size);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[size] = '\0';
    *ret = buf;
    return 0;
}

static void index_push(struct rt_hcs_pax_index *idx, size_t *cap, struct rt_hcs_pax_entry *e)
{
    if (idx->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        idx->entries = stk_xrealloc(idx->entries, *cap * sizeof(*e));
    }
    idx->entries[idx->n++] = *e;
}

/* The entry's records: the globals, overridden by its own; empty values remove a key. */
static void merge_records(const struct recs *global, struct recs *local, struct rt_hcs_pax_entry *e)
{
    struct recs out = {0};

    for (size_t i = 0; i < global->n; i++)
        recs_set(&out, global->v[i].key, strlen(global->v[i].key), global->v[i].value,
                 global->v[i].len);
    for (size_t i = 0; i < local->n; i++)
        recs_set(&out, local->v[i].key, strlen(local->v[i].key), local->v[i].value,
                 local->v[i].len);
    for (size_t i = 0; i < out.n;) {
        if (out.v[i].len == 0) {
            free(out.v[i].key);
            free(out.v[i].value);
            out.v[i] = out.v[--out.n];
        } else {
            i++;
        }
    }
    e->records = out.v;
    e->n_records = out.n;
}

static int walk(struct scan *s, struct rt_hcs_pax_index *ret)
{
    struct rt_hcs_pax_index idx = {0};
    struct pending p = {0};
    struct recs global = {0};
    size_t cap = 0;
    unsigned char h[BLOCK];
    int r = 0;

    for (;;) {
        uint64_t hsize, start = s->off;
        size_t got = 0;
        char t;
        int zero = 1;

        if ((r = scan_read(s, h, BLOCK, &got)) < 0)
            goto out;
        if (got == 0)
            break; /* no end-of-archive blocks: libarchive accepts it too */
        if (got != BLOCK) {
            r = stk_err_set(s->err, STK_EIMAGE, 0, "tar stream truncated in a header at byte %llu",
                            (unsigned long long)start);
            goto out;
        }
        for (int i = 0; i < BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero)
            break;
        if (!checksum_ok(h) || field_num(h + 124, 12, &hsize) < 0) {
            r = stk_err_set(s->err, STK_EIMAGE, 0, "bad tar header (checksum or size) at byte %llu",
                            (unsigned long long)start);
            goto out;
        }
        t = (char)h[156];
        if (t == 'x' || t == 'X' || t == 'g' || t == 'L' || t == 'K') {
            char *body = NULL;

            if ((r = read_ext(s, hsize, &body)) < 0)
                goto out;
            if (t == 'L' || t == 'K') {
                char **dst = t == 'L' ? &p.longname : &p.longlink;

                free(*dst);
                *dst = stk_xstrndup(body, strnlen(body, (size_t)hsize));
            } else {
                r = parse_records(s, body, (size_t)hsize, t == 'g' ? NULL : &p, &global);
            }
            free(body);
            if (r < 0)
                goto out;
            continue;
        }
        if (!strchr("01234567", t) && t != '\0') {
            r = stk_err_set(
                s->err, STK_EIMAGE, 0, "unsupported tar entry type '%c' (0x%02x) at byte %llu",
                t >= 0x20 && t < 0x7f ? t : '?', (unsigned char)t, (unsigned long long)start);
            goto out;
        }
        {
            struct rt_hcs_pax_entry e = {0};
            uint64_t size = p.has_size ? p.size : hsize;

            if (p.path) {
                e.name = TAKE_PTR(p.path);
            } else if (p.longname) {
                e.name = TAKE_PTR(p.longname);
            } else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {
                char *pre = field_str(h + 345, 155), *nm = field_str(h, 100);

                e.name = stk_xasprintf("%s/%s", pre, nm);
                free(pre);
                free(nm);
            } else {
                e.name = field_str(h, 100);
            }
            if (p.linkpath)
                e.linkname = TAKE_PTR(p.linkpath);
            else if (p.longlink)
                e.linkname = TAKE_PTR(p.longlink);
            else
                e.linkname = field_str(h + 157, 100);
            e.typeflag = t ? t : '0';
            merge_records(&global, &p.local, &e);
            index_push(&idx, &cap, &e);
            /* Header-only types (go archive/tar, libarchive); a hard link with data is refused. */
            if (strchr("23456", e.typeflag))
                size = 0;
            if (e.typeflag == '1' && size) {
                r = stk_err_set(s->err, STK_EIMAGE, 0,
                                "hard link '%s' with %llu bytes of data at byte %llu", e.name,
                                (unsigned long long)size, (unsigned long long)start);
                goto out;
            }
            pending_clear(&p);
            if ((r = scan_skip(s, padded(size))) < 0)
                goto out;
        }
    }
    *ret = idx;
    memset(&idx, 0, sizeof(idx));
out:
    rt_hcs_pax_index_release(&idx);
    pending_clear(&p);
    recs_free(&global);
    return r;
}

static int scan_open(struct archive *a, int r, const char *what, struct rt_hcs_pax_index *ret,
                     struct stk_err *err)
{
    struct archive_entry *ent;
    struct scan s = {a, 0, err};

    if (r != ARCHIVE_OK) {
        r = stk_err_set(err, STK_EIMAGE, archive_errno(a), "open %s: %s", what,
                        archive_error_string(a));
        goto out;
    }
    r = archive_read_next_header(a, &ent);
    if (r == ARCHIVE_EOF) {
        /* An empty blob: no entries, as libarchive's tar reader sees it. */
        memset(ret, 0, sizeof(*ret));
        r = 0;
        goto out;
    }
    if (r != ARCHIVE_OK) {
        r = stk_err_set(err, STK_EIMAGE, archive_errno(a), "read %s: %s", what,
                        archive_error_string(a));
        goto out;
    }
    r = walk(&s, ret);
    if (r < 0)
        stk_err_wrap(err, "read the Windows metadata of %s", what);
out:
    archive_read_free(a);
    return r;
}

static struct archive *raw_reader(void)
{
    struct archive *a = archive_read_new();

    if (!a)
        STK_BUG("archive_read_new failed");
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    return a;
}

int rt_hcs_pax_scan_file(const char *path, struct rt_hcs_pax_index *ret, struct stk_err *err)
{
    struct archive *a;
    char *what;
    int r;

    if (!path || !ret)
        return stk_err_set(err, STK_EINVAL, 0, "pax scan: no path");
    a = raw_reader();
    what = stk_xasprintf("'%s'", path);
    r = scan_open(a, archive_read_open_filename(a, path, 1 << 16), what, ret, err);
    free(what);
    return r;
}

int rt_hcs_pax_scan_memory(const void *data, size_t len, struct rt_hcs_pax_index *ret,
                           struct stk_err *err)
{
    struct archive *a;

    if (!data || !ret)
        return stk_err_set(err, STK_EINVAL, 0, "pax scan: no data");
    a = raw_reader();
    return scan_open(a, archive_read_open_memory(a, data, len), "the layer", ret, err);
}

void rt_hcs_pax_index_release(struct rt_hcs_pax_index *idx)
{
    if (!idx)
        return;
    for (size_t i = 0; i < idx->n; i++) {
        struct rt_hcs_pax_entry *e = &idx->entries[i];
        struct recs r = {e->records, e->n_records, e->n_records};

        free(e->name);
        free(e->linkname);
        recs_free(&r);
    }
    free(idx->entries);
    memset(idx, 0, sizeof(*idx));
}

const struct rt_hcs_pax_record *rt_hcs_pax_entry_get(const struct rt_hcs_pax_entry *e,
                                                     const char *key)
{
    for (size_t i = 0; e && i < e->n_records; i++)
        if (strcmp(e->records[i].key, key) == 0)
            return &e->records[i];
    return NULL;
}

/* ---- the builders ------------------------------------------------------------ */

static void put16(struct stk_buf *b, uint32_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

    stk_buf_add(b, x, 2);
}

static void put32(struct stk_buf *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

static void put64(struct stk_buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/*
 * Appends S as UTF-16LE (no terminator) and returns the number of bytes
 * written; invalid UTF-8 bytes become U+FFFD.
 */
static size_t put_utf16(struct stk_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p) {
        uint32_t c = 0xFFFD;
        int more = 0;

        if (p[0] < 0x80) {
            c = p[0];
        } else if ((p[0] & 0xE0) == 0xC0) {
            c = p[0] & 0x1F;
            more = 1;
        } else if ((p[0] & 0xF0) == 0xE0) {
            c = p[0] & 0x0F;
            more = 2;
        } else if ((p[0] & 0xF8) == 0xF0) {
            c = p[0] & 0x07;
            more = 3;
        }
        p++;
        for (int i = 0; i < more; i++) {
            if ((*p & 0xC0) != 0x80) {
                c = 0xFFFD;
                more = 0;
                break;
            }
            c = (c << 6) | (*p++ & 0x3F);
        }
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            c = 0xFFFD;
        if (c >= 0x10000) {
            c -= 0x10000;
            put16(b, 0xD800 | (c >> 10));
            put16(b, 0xDC00 | (c & 0x3FF));
            n += 4;
        } else {
            put16(b, c);
            n += 2;
        }
    }
    return n;
}

void rt_hcs_backup_put_stream(struct stk_buf *buf, uint32_t id, const char *name_utf8,
                              const void *data, size_t len)
{
    struct stk_buf name = STK_BUF_INIT;

    if (name_utf8)
        put_utf16(&name, name_utf8);
    put32(buf, id);
    put32(buf, 0); /* dwStreamAttributes */
    put64(buf, len);
    put32(buf, (uint32_t)name.len);
    stk_buf_add(buf, name.buf, name.len);
    if (len)
        stk_buf_add(buf, data, len);
    stk_buf_release(&name);
}

void rt_hcs_ea_put(struct stk_buf *buf, const char *name, const void *value, size_t len, int last)
{
    size_t nlen = strlen(name), size = 8 + nlen + 1 + len, padded_size = (size + 3) & ~(size_t)3;

    put32(buf, last ? 0 : (uint32_t)padded_size); /* NextEntryOffset */
    stk_buf_putc(buf, 0);                         /* Flags */
    stk_buf_putc(buf, (char)nlen);                /* EaNameLength */
    put16(buf, (uint32_t)len);                    /* EaValueLength */
    stk_buf_add(buf, name, nlen);
    stk_buf_putc(buf, 0);
    if (len)
        stk_buf_add(buf, value, len);
    /* go-winio pads every entry, the last one too. */
    for (size_t i = size; i < padded_size; i++)
        stk_buf_putc(buf, 0);
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int rt_hcs_reparse_put(struct stk_buf *buf, const char *target, int mount_point,
                       struct stk_err *err)
{
    struct stk_buf print = STK_BUF_INIT, subst = STK_BUF_INIT, t = STK_BUF_INIT;
    const char *nt_prefix = "";
    const char *rest;
    size_t data_len;
    int relative = 0;

    for (const char *p = target; *p; p++)
        stk_buf_putc(&t, *p == '/' ? '\\' : *p);
    rest = t.buf;
    /* The NT form of the target (go-winio EncodeReparsePoint). */
    if (strncmp(t.buf, "\\\\?\\", 4) == 0) {
        nt_prefix = "\\??\\";
        rest = t.buf + 4;
    } else if (strncmp(t.buf, "\\\\", 2) == 0) {
        nt_prefix = "\\??\\UNC\\";
        rest = t.buf + 2;
    } else if (t.len >= 2 && is_alpha(t.buf[0]) && t.buf[1] == ':') {
        nt_prefix = "\\??\\";
    } else {
        relative = 1;
    }
    put_utf16(&subst, nt_prefix);
    put_utf16(&subst, rest);
    put_utf16(&print, t.buf);
    /* Both names are stored NUL-terminated, their lengths exclude the NUL. */
    data_len = 8 + (mount_point ? 0 : 4) + subst.len + 2 + print.len + 2;
    if (data_len > 0xFFFF) {
        stk_buf_release(&print);
        stk_buf_release(&subst);
        stk_buf_release(&t);
        return stk_err_set(err, STK_EIMAGE, 0, "reparse target '%s' is too long", target);
    }
    put32(buf, mount_point ? RT_HCS_IO_REPARSE_TAG_MOUNT_POINT : RT_HCS_IO_REPARSE_TAG_SYMLINK);
    put16(buf, (uint32_t)data_len); /* ReparseDataLength */
    put16(buf, 0);                  /* Reserved */
    put16(buf, 0);                  /* SubstituteNameOffset */
    put16(buf, (uint32_t)subst.len);
    put16(buf, (uint32_t)(subst.len + 2)); /* PrintNameOffset */
    put16(buf, (uint32_t)print.len);
    if (!mount_point)
        put32(buf, relative ? RT_HCS_SYMLINK_FLAG_RELATIVE : 0);
    stk_buf_add(buf, subst.buf, subst.len);
    put16(buf, 0);
    stk_buf_add(buf, print.buf, print.len);
    put16(buf, 0);
    stk_buf_release(&print);
    stk_buf_release(&subst);
    stk_buf_release(&t);
    return 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* RFC 4648 base64 with padding (Go's StdEncoding); returns 0 or -1. */
static int b64_decode(const char *s, size_t len, struct stk_buf *out)
{
    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;

        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];

            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_val(c)) < 0) {
                return -1;
            }
        }
        {
            uint32_t n = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                         (uint32_t)v[3];
            char bytes[3] = {(char)(n >> 16), (char)(n >> 8), (char)n};

            stk_buf_add(out, bytes, (size_t)(3 - pad));
        }
    }
    return 0;
}

static int parse_u32(const char *s, uint32_t *ret)
{
    uint64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *ret = (uint32_t)v;
    return 0;
}

/* "SECONDS[.FRACTION]" (go-winio parsePAXTime, possibly negative) as a FILETIME. */
static int parse_pax_time(const char *s, int64_t *ret)
{
    int neg = *s == '-';
    int64_t secs = 0, hundreds = 0; /* 100 ns units of the fraction */
    const char *p = s + neg;
    int digits = 0;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        secs = secs * 10 + (*p - '0');
        if (secs > 100000000000LL) /* year ~5000: beyond any FILETIME a layer holds */
            return -1;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 7)
                hundreds = hundreds * 10 + (*p - '0');
        for (; digits < 7; digits++)
            hundreds *= 10;
    }
    if (*p)
        return -1;
    {
        /* 1601-01-01 to 1970-01-01 is 11644473600 s (msdocs FILETIME). */
        int64_t t = (neg ? -secs : secs) * 10000000LL + (neg ? -hundreds : hundreds) +
                    11644473600LL * 10000000LL;

        if (t <= 0)
            return -1;
        *ret = t;
    }
    return 0;
}

static const char *check_sd(const unsigned char *p, size_t len);

int rt_hcs_backup_build(const struct rt_hcs_pax_entry *e, struct rt_hcs_backup *ret,
                        struct stk_err *err)
{
    struct stk_buf out = STK_BUF_INIT, tmp = STK_BUF_INIT;
    const struct rt_hcs_pax_record *rec;
    struct rt_hcs_backup b = {0};
    size_t n_ea = 0, seen = 0;
    int r = 0;

    if (!e || !ret)
        return stk_err_set(err, STK_EINVAL, 0, "backup build: no entry");
    if ((rec = rt_hcs_pax_entry_get(e, "MSWINDOWS.rawsd"))) {
        if (b64_decode(rec->value, rec->len, &tmp) < 0 || tmp.len == 0) {
            r = stk_err_set(err, STK_EIMAGE, 0, "entry '%s': MSWINDOWS.rawsd is not base64",
                            e->name);
            goto out;
        }
        {
            const char *why = check_sd((const unsigned char *)tmp.buf, tmp.len);

            if (why) {
                r = stk_err_set(err, STK_EIMAGE, 0, "entry '%s': MSWINDOWS.rawsd: %s", e->name,
                                why);
                goto out;
            }
        }
        rt_hcs_backup_put_stream(&out, RT_HCS_BACKUP_SECURITY_DATA, NULL, tmp.buf, tmp.len);
        stk_buf_reset(&tmp);
    } else if (rt_hcs_pax_entry_get(e, "MSWINDOWS.sd")) {
        r = stk_err_set(err, STK_ENOTSUP, 0,
                        "entry '%s': SDDL security descriptors (MSWINDOWS.sd) are not supported",
                        e->name);
        goto out;
    }
    for (size_t i = 0; i < e->n_records; i++)
        if (strncmp(e->records[i].key, "MSWINDOWS.xattr.", 16) == 0)
            n_ea++;
    if (n_ea) {
        struct stk_buf eas = STK_BUF_INIT;

        for (size_t i = 0; i < e->n_records && r == 0; i++) {
            const struct rt_hcs_pax_record *x = &e->records[i];
            const char *name = x->key + 16;

            if (strncmp(x->key, "MSWINDOWS.xattr.", 16) != 0)
                continue;
            stk_buf_reset(&tmp);
            if (!*name || strlen(name) > 255 || b64_decode(x->value, x->len, &tmp) < 0 ||
                tmp.len > 0xFFFF)
                r = stk_err_set(err, STK_EIMAGE, 0, "entry '%s': bad extended attribute '%s'",
                                e->name, x->key);
            else
                rt_hcs_ea_put(&eas, name, tmp.buf, tmp.len, ++seen == n_ea);
        }
        if (r == 0)
            rt_hcs_backup_put_stream(&out, RT_HCS_BACKUP_EA_DATA, NULL, eas.buf, eas.len);
        stk_buf_release(&eas);
        if (r < 0)
            goto out;
    }
    if (e->typeflag == '2') {
        stk_buf_reset(&tmp);
        if (!e->linkname || !*e->linkname) {
            r = stk_err_set(err, STK_EIMAGE, 0, "symbolic link '%s' without a target", e->name);
            goto out;
        }
        r = rt_hcs_reparse_put(&tmp, e->linkname,
                               rt_hcs_pax_entry_get(e, "MSWINDOWS.mountpoint") != NULL, err);
        if (r < 0)
            goto out;
        rt_hcs_backup_put_stream(&out, RT_HCS_BACKUP_REPARSE_DATA, NULL, tmp.buf, tmp.len);
    }
    if ((rec = rt_hcs_pax_entry_get(e, "MSWINDOWS.fileattr")) &&
        parse_u32(rec->value, &b.attributes) < 0) {
        r = stk_err_set(err, STK_EIMAGE, 0, "entry '%s': MSWINDOWS.fileattr '%s' is not decimal",
                        e->name, rec->value);
        goto out;
    }
    if ((rec = rt_hcs_pax_entry_get(e, "LIBARCHIVE.creationtime")) &&
        parse_pax_time(rec->value, &b.creation_time) < 0) {
        r = stk_err_set(err, STK_EIMAGE, 0, "entry '%s': bad LIBARCHIVE.creationtime '%s'", e->name,
                        rec->value);
        goto out;
    }
    if (out.len)
        b.stream = (unsigned char *)stk_buf_detach(&out, &b.len);
    *ret = b;
out:
    stk_buf_release(&out);
    stk_buf_release(&tmp);
    return r;
}

void rt_hcs_backup_release(struct rt_hcs_backup *b)
{
    if (!b)
        return;
    free(b->stream);
    memset(b, 0, sizeof(*b));
}

/* ---- the checker --------------------------------------------------------------- */

static uint32_t get16(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return get16(p) | (get16(p + 2) << 16);
}

/* SECURITY_DESCRIPTOR_RELATIVE (msdocs): Revision, Sbz1, Control, 4 offsets. */
static const char *check_sd(const unsigned char *p, size_t len)
{
    if (len < 20)
        return "security descriptor shorter than its header";
    if (p[0] != 1)
        return "security descriptor revision is not 1";
    if (!(get16(p + 2) & 0x8000))
        return "security descriptor is not self-relative";
    for (int i = 0; i < 4; i++) {
        uint32_t off = get32(p + 4 + 4 * i);

        if (off && (off < 20 || off >= len))
            return "security descriptor offset outside the descriptor";
    }
    return NULL;
}

static const char *check_ea(const unsigned char *p, size_t len)
{
    size_t pos = 0;

    if (len == 0)
        return "empty EA stream";
    for (;;) {
        uint32_t next;

        if (len - pos < 8)
            return "EA entry shorter than its header";
        next = get32(p + pos);
        if (8 + (size_t)p[pos + 5] + 1 + get16(p + pos + 6) > len - pos)
            return "EA entry outside the stream";
        if (p[pos + 8 + p[pos + 5]] != 0)
            return "EA name not NUL-terminated";
        if (!next)
            return NULL;
        if (next % 4 || next > len - pos)
            return "EA NextEntryOffset misaligned or outside the stream";
        pos += next;
    }
}

static const char *check_reparse(const unsigned char *p, size_t len)
{
    uint32_t tag, body, so, sl, po, pl;

    if (len < 16)
        return "reparse buffer shorter than its header";
    tag = get32(p);
    if (get16(p + 4) != len - 8)
        return "ReparseDataLength is not the buffer size less 8";
    if (tag != RT_HCS_IO_REPARSE_TAG_SYMLINK && tag != RT_HCS_IO_REPARSE_TAG_MOUNT_POINT)
        return "reparse tag is neither a symlink nor a mount point";
    body = tag == RT_HCS_IO_REPARSE_TAG_SYMLINK ? 20 : 16;
    if (len < body)
        return "symlink reparse buffer without its flags";
    so = get16(p + 8);
    sl = get16(p + 10);
    po = get16(p + 12);
    pl = get16(p + 14);
    if ((so | sl | po | pl) & 1)
        return "reparse name offset or length is odd";
    if (body + so + sl > len || body + po + pl > len)
        return "reparse name outside the buffer";
    return NULL;
}

int rt_hcs_backup_check(const void *stream, size_t len, const char **ret_why)
{
    const unsigned char *p = stream;
    size_t pos = 0;
    const char *why = NULL;

    if (!stream || !len)
        why = "empty stream";
    while (!why && pos < len) {
        uint32_t id, nsize;
        uint64_t size;

        if (len - pos < RT_HCS_STREAM_ID_SIZE) {
            why = "WIN32_STREAM_ID header truncated";
            break;
        }
        id = get32(p + pos);
        size = (uint64_t)get32(p + pos + 8) | ((uint64_t)get32(p + pos + 12) << 32);
        nsize = get32(p + pos + 16);
        pos += RT_HCS_STREAM_ID_SIZE;
        if (nsize % 2 || nsize > len - pos) {
            why = "stream name size odd or outside the stream";
            break;
        }
        pos += nsize;
        if (size > len - pos) {
            why = "stream body outside the stream";
            break;
        }
        switch (id) {
        case RT_HCS_BACKUP_SECURITY_DATA:
            why = check_sd(p + pos, (size_t)size);
            break;
        case RT_HCS_BACKUP_EA_DATA:
            why = check_ea(p + pos, (size_t)size);
            break;
        case RT_HCS_BACKUP_REPARSE_DATA:
            why = check_reparse(p + pos, (size_t)size);
            break;
        case RT_HCS_BACKUP_DATA:
        case RT_HCS_BACKUP_ALTERNATE_DATA:
            break;
        default:
            why = "unknown stream id";
        }
        pos += (size_t)size;
    }
    if (why) {
        if (ret_why)
            *ret_why = why;
        return -1;
    }
    return 0;
}
