/*
 * test-rt-hcs-wclayer.c - the Windows metadata of layer tars
 * (runtime/hcs/hcs-wclayer.c) and its application by the layer storage
 * (runtime/hcs/hcs-storage.c) through the emulated apply_backup_stream
 * (tests/support/hcsemu-storage.c).
 *
 * The expected bytes are written out by hand from the Microsoft
 * documentation cited at each test, not produced by the code under test.
 * The crafted tars are written by Python's tarfile (arbitrary pax_headers,
 * a global header, long names) or by hand here (GNU 'L'/'K' names, base-256
 * sizes, ustar prefixes and the malformed cases).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs-storage-api.h"
#include "runtime/hcs/hcs-wclayer.h"
#include "runtime/hcs/hcs.h"
#include "runtime/image/rt-image.h"
#include "tests/hcsemu/hcsemu-images.h"
#include "tests/hcsemu/hcsemu.h"

/* A self-relative SECURITY_DESCRIPTOR with only an owner, BUILTIN\Administrators. */
static const unsigned char SD[36] = {
    /* [MS-DTYP] 2.4.6 SECURITY_DESCRIPTOR: Revision 1, Sbz1, Control SE_SELF_RELATIVE (0x8000) */
    0x01, 0x00, 0x00, 0x80,
    /* OffsetOwner 20, OffsetGroup 0, OffsetSacl 0, OffsetDacl 0 */
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* [MS-DTYP] 2.4.2.2 SID S-1-5-32-544: Revision 1, 2 sub-authorities, NT authority 5, 32, 544 */
    0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00};
#define SD_B64 "AQAAgBQAAAAAAAAAAAAAAAAAAAABAgAAAAAABSAAAAAgAgAA"
/* The index structs hold owned (mutable) strings; these tests lend them literals. */
#define S(x) ((char *)(x))

static void expect_bytes(const void *got, size_t got_len, const unsigned char *want,
                         size_t want_len, const char *what)
{
    cr_assert_eq(got_len, want_len, "%s: %zu bytes, want %zu", what, got_len, want_len);
    for (size_t i = 0; i < want_len; i++)
        cr_assert_eq(((const unsigned char *)got)[i], want[i],
                     "%s: byte %zu is 0x%02x, want 0x%02x", what, i,
                     ((const unsigned char *)got)[i], want[i]);
}

/* ---- golden byte layouts ------------------------------------------------------ */

/*
 * WIN32_STREAM_ID
 * (https://learn.microsoft.com/en-us/windows/win32/api/winbase/ns-winbase-win32_stream_id): DWORD
 * dwStreamId, DWORD dwStreamAttributes, LARGE_INTEGER Size, DWORD dwStreamNameSize (bytes), WCHAR
 * cStreamName[]; the data follows.
 */
Test(rt_hcs_wclayer, win32_stream_id_layout)
{
    struct stk_buf b = STK_BUF_INIT;
    static const unsigned char want[] = {
        0x03, 0x00, 0x00, 0x00,                         /* BACKUP_SECURITY_DATA */
        0x00, 0x00, 0x00, 0x00,                         /* attributes */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* Size 4 */
        0x00, 0x00, 0x00, 0x00,                         /* no name */
        'A',  'B',  'C',  'D',
    };

    rt_hcs_backup_put_stream(&b, RT_HCS_BACKUP_SECURITY_DATA, NULL, "ABCD", 4);
    expect_bytes(b.buf, b.len, want, sizeof(want), "security stream");
    stk_buf_reset(&b);
    rt_hcs_backup_put_stream(&b, RT_HCS_BACKUP_ALTERNATE_DATA, ":s:$DATA", "z", 1);
    {
        static const unsigned char w2[] = {
            0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, ':',  0x00, 's',  0x00, ':',  0x00,
            '$',  0x00, 'D',  0x00, 'A',  0x00, 'T',  0x00, 'A',  0x00, 'z'};

        expect_bytes(b.buf, b.len, w2, sizeof(w2), "alternate data stream");
    }
    stk_buf_reset(&b);
    /* UTF-8 é (C3 A9) is U+00E9; U+1F600 is the surrogate pair D83D DE00. */
    rt_hcs_backup_put_stream(&b, RT_HCS_BACKUP_DATA, "\xC3\xA9\xF0\x9F\x98\x80", NULL, 0);
    {
        static const unsigned char w3[] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                           0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
                                           0x00, 0x00, 0xE9, 0x00, 0x3D, 0xD8, 0x00, 0xDE};

        expect_bytes(b.buf, b.len, w3, sizeof(w3), "UTF-16LE stream name");
    }
    stk_buf_release(&b);
}

/*
 * FILE_FULL_EA_INFORMATION
 * (https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/ns-wdm-_file_full_ea_information):
 * ULONG NextEntryOffset, UCHAR Flags, UCHAR EaNameLength, USHORT
 * EaValueLength, CHAR EaName[] (NUL-terminated), then the value; entries
 * are aligned on 4 bytes (go-winio ea.go pads the last one too).
 */
Test(rt_hcs_wclayer, ea_chain_layout)
{
    struct stk_buf b = STK_BUF_INIT;
    static const unsigned char want[] = {
        0x0c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 'A', 0x00, 'x',  'y', /* 12 bytes */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 'B', 'C',  0x00, 0x00 /* 11 + 1 pad */
    };

    rt_hcs_ea_put(&b, "A", "xy", 2, 0);
    rt_hcs_ea_put(&b, "BC", NULL, 0, 1);
    expect_bytes(b.buf, b.len, want, sizeof(want), "EA chain");
    stk_buf_release(&b);
}

/*
 * REPARSE_DATA_BUFFER
 * (https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_reparse_data_buffer):
 * ULONG ReparseTag, USHORT ReparseDataLength (bytes after the 8-byte
 * header), USHORT Reserved, then SymbolicLinkReparseBuffer {USHORT
 * SubstituteNameOffset, SubstituteNameLength, PrintNameOffset,
 * PrintNameLength, ULONG Flags (SYMLINK_FLAG_RELATIVE = 1), WCHAR
 * PathBuffer[]} or MountPointReparseBuffer (the same without Flags).
 * IO_REPARSE_TAG_SYMLINK 0xA000000C, IO_REPARSE_TAG_MOUNT_POINT 0xA0000003
 * (https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-fscc/c8e77b37-3909-4fe6-a4ea-2b9d423b1ee4).
 */
Test(rt_hcs_wclayer, reparse_buffer_layouts)
{
    struct stk_err err = STK_ERR_INIT;
    struct stk_buf b = STK_BUF_INIT;
    static const unsigned char rel[] = {
        0x0c, 0x00, 0x00, 0xa0, 0x1c, 0x00, 0x00, 0x00, /* tag, 28 bytes, reserved */
        0x00, 0x00, 0x06, 0x00, 0x08, 0x00, 0x06, 0x00, /* subst 0/6, print 8/6 */
        0x01, 0x00, 0x00, 0x00,                         /* SYMLINK_FLAG_RELATIVE */
        'a',  0x00, '\\', 0x00, 'b',  0x00, 0x00, 0x00, /* "a\b" NUL */
        'a',  0x00, '\\', 0x00, 'b',  0x00, 0x00, 0x00};
    static const unsigned char abs[] = {
        0x0c, 0x00, 0x00, 0xa0, 0x28, 0x00, 0x00, 0x00, /* 40 bytes */
        0x00, 0x00, 0x10, 0x00, 0x12, 0x00, 0x08, 0x00, /* subst 0/16, print 18/8 */
        0x00, 0x00, 0x00, 0x00,                         /* absolute */
        '\\', 0x00, '?',  0x00, '?',  0x00, '\\', 0x00, 'C',  0x00, ':', 0x00, '\\', 0x00,
        'x',  0x00, 0x00, 0x00, 'C',  0x00, ':',  0x00, '\\', 0x00, 'x', 0x00, 0x00, 0x00};
    /* A UNC target "\\h": substitute "\??\UNC\h", print "\\h" (go-winio EncodeReparsePoint). */
    static const unsigned char mnt[] = {
        0x03, 0x00, 0x00, 0xa0, 0x24, 0x00, 0x00, 0x00, /* 36 bytes */
        0x00, 0x00, 0x12, 0x00, 0x14, 0x00, 0x06, 0x00, /* subst 0/18, print 20/6; no Flags */
        '\\', 0x00, '?',  0x00, '?',  0x00, '\\', 0x00, 'U',  0x00, 'N', 0x00, 'C',  0x00,
        '\\', 0x00, 'h',  0x00, 0x00, 0x00, '\\', 0x00, '\\', 0x00, 'h', 0x00, 0x00, 0x00};

    cr_assert_eq(rt_hcs_reparse_put(&b, "a/b", 0, &err), 0, "%s", err.msg);
    expect_bytes(b.buf, b.len, rel, sizeof(rel), "relative symlink");
    stk_buf_reset(&b);
    cr_assert_eq(rt_hcs_reparse_put(&b, "C:/x", 0, &err), 0, "%s", err.msg);
    expect_bytes(b.buf, b.len, abs, sizeof(abs), "absolute symlink");
    stk_buf_reset(&b);
    cr_assert_eq(rt_hcs_reparse_put(&b, "\\\\h", 1, &err), 0, "%s", err.msg);
    expect_bytes(b.buf, b.len, mnt, sizeof(mnt), "mount point");
    stk_buf_release(&b);
}

/* SECURITY_DESCRIPTOR bytes from MSWINDOWS.rawsd, EAs, attributes and FILETIME. */
Test(rt_hcs_wclayer, backup_from_records)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_pax_record recs[] = {
        {S("MSWINDOWS.rawsd"), S(SD_B64), sizeof(SD_B64) - 1},
        {S("MSWINDOWS.fileattr"), S("32"), 2},
        {S("LIBARCHIVE.creationtime"), S("1700000000.5"), 12},
        {S("MSWINDOWS.xattr.k"), S("djE="), 4},
    };
    struct rt_hcs_pax_entry e = {S("Files/a.txt"), S(""), '0', recs, 4};
    struct rt_hcs_backup b = {0};
    struct stk_buf want = STK_BUF_INIT;
    static const unsigned char ea[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                                       0x02, 0x00, 'k',  0x00, 'v',  '1'};

    cr_assert_eq(rt_hcs_backup_build(&e, &b, &err), 0, "%s", err.msg);
    /* Security first, then EAs (go-winio WriteBackupStreamFromTarFile). */
    cr_assert_eq(b.len, 20 + 36 + 20 + 12);
    cr_assert_eq(b.stream[0], 3);
    cr_assert_eq(b.stream[8], 36);
    expect_bytes(b.stream + 20, 36, SD, 36, "security descriptor");
    cr_assert_eq(b.stream[56], 2);
    cr_assert_eq(b.stream[64], 12);
    expect_bytes(b.stream + 76, 12, ea, 12, "EA");
    cr_assert_eq(b.attributes, 32u);
    /* FILETIME: 100 ns since 1601-01-01; 1970 is 11644473600 s later. */
    cr_assert_eq(b.creation_time, (int64_t)133444736005000000LL, "%lld",
                 (long long)b.creation_time);
    cr_assert_eq(rt_hcs_backup_check(b.stream, b.len, NULL), 0);
    rt_hcs_backup_release(&b);
    stk_buf_release(&want);
}

Test(rt_hcs_wclayer, bad_records_are_errors)
{
    static const struct {
        const char *key, *value;
        int code;
        const char *msg;
    } cases[] = {
        {"MSWINDOWS.rawsd", "AQ=A", STK_EIMAGE, "MSWINDOWS.rawsd is not base64"},
        {"MSWINDOWS.rawsd", "AQA", STK_EIMAGE, "MSWINDOWS.rawsd is not base64"},
        /* 20 bytes: revision 1, Control 0 (not SE_SELF_RELATIVE). */
        {"MSWINDOWS.rawsd", "AQAAAAAAAAAAAAAAAAAAAAAAAAA=", STK_EIMAGE, "is not self-relative"},
        /* Self-relative, OffsetOwner 0x40 beyond its 20 bytes. */
        {"MSWINDOWS.rawsd", "AQAAgEAAAAAAAAAAAAAAAAAAAAA=", STK_EIMAGE, "offset outside"},
        {"MSWINDOWS.fileattr", "0x20", STK_EIMAGE, "is not decimal"},
        {"MSWINDOWS.fileattr", "4294967296", STK_EIMAGE, "is not decimal"},
        {"LIBARCHIVE.creationtime", "12.", STK_EIMAGE, "bad LIBARCHIVE.creationtime"},
        {"LIBARCHIVE.creationtime", "-99999999999", STK_EIMAGE, "bad LIBARCHIVE.creationtime"},
        {"MSWINDOWS.xattr.k", "!!!!", STK_EIMAGE, "bad extended attribute"},
        {"MSWINDOWS.sd", "O:BAG:BA", STK_ENOTSUP, "MSWINDOWS.sd"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stk_err err = STK_ERR_INIT;
        struct rt_hcs_pax_record rec = {(char *)cases[i].key, (char *)cases[i].value,
                                        strlen(cases[i].value)};
        struct rt_hcs_pax_entry e = {S("Files/x"), S(""), '0', &rec, 1};
        struct rt_hcs_backup b = {0};

        cr_assert_eq(rt_hcs_backup_build(&e, &b, &err), cases[i].code, "%s=%s: %s", cases[i].key,
                     cases[i].value, err.msg);
        cr_assert(strstr(err.msg, cases[i].msg) && strstr(err.msg, "'Files/x'"), "%s", err.msg);
        cr_assert_null(b.stream);
    }
}

Test(rt_hcs_wclayer, checker_rejects_broken_streams)
{
    struct stk_buf b = STK_BUF_INIT;
    const char *why = NULL;
    static const unsigned char not_relative[20] = {1, 0, 0, 0};

    rt_hcs_backup_put_stream(&b, RT_HCS_BACKUP_SECURITY_DATA, NULL, SD, sizeof(SD));
    cr_assert_eq(rt_hcs_backup_check(b.buf, b.len, &why), 0, "%s", why);
    cr_assert_eq(rt_hcs_backup_check(b.buf, b.len - 1, &why), -1);
    cr_assert(strstr(why, "outside"), "%s", why);
    cr_assert_eq(rt_hcs_backup_check(b.buf, 10, &why), -1);
    stk_buf_reset(&b);
    rt_hcs_backup_put_stream(&b, RT_HCS_BACKUP_SECURITY_DATA, NULL, not_relative, 20);
    cr_assert_eq(rt_hcs_backup_check(b.buf, b.len, &why), -1);
    cr_assert(strstr(why, "self-relative"), "%s", why);
    stk_buf_reset(&b);
    rt_hcs_backup_put_stream(&b, 77, NULL, "x", 1);
    cr_assert_eq(rt_hcs_backup_check(b.buf, b.len, &why), -1);
    cr_assert(strstr(why, "unknown"), "%s", why);
    stk_buf_release(&b);
}

/* ---- the header walker over hand-made tars ----------------------------------- */

/* Appends a 512-byte ustar header; SIZE in octal, or base-256 when BASE256. */
static void th(struct stk_buf *b, const char *name, char type, uint64_t size, int base256,
               const char *link, const char *prefix)
{
    unsigned char h[512];
    unsigned sum = 0;

    memset(h, 0, sizeof(h));
    memcpy(h, name, strnlen(name, 100));
    memcpy(h + 100, "0000644", 7);
    if (base256) {
        h[124] = 0x80;
        for (int i = 0; i < 8; i++)
            h[135 - i] = (unsigned char)(size >> (8 * i));
    } else {
        snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size & 077777777777ULL);
    }
    memcpy(h + 136, "14524543000", 11);
    h[156] = (unsigned char)type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    if (prefix)
        memcpy(h + 345, prefix, strnlen(prefix, 155));
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    stk_buf_add(b, h, 512);
}

static void pad(struct stk_buf *b)
{
    while (b->len % 512)
        stk_buf_putc(b, 0);
}

/* A member with its data. */
static void tfile(struct stk_buf *b, const char *name, const char *data)
{
    th(b, name, '0', strlen(data), 0, NULL, NULL);
    stk_buf_puts(b, data);
    pad(b);
}

/* An extended header of TYPE holding RECORDS verbatim. */
static void text(struct stk_buf *b, char type, const char *records)
{
    th(b, "././@PaxHeader", type, strlen(records), 0, NULL, NULL);
    stk_buf_puts(b, records);
    pad(b);
}

/* An extended header of TYPE with the records KEY, VALUE, ... (NULL-terminated), lengths computed.
 */
static void textv(struct stk_buf *b, int type, ...)
{
    struct stk_buf r = STK_BUF_INIT;
    const char *k;
    va_list ap;

    va_start(ap, type);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        size_t n = strlen(k) + strlen(v) + 3, len = n + 1;

        while (len != n + (size_t)snprintf(NULL, 0, "%zu", len))
            len = n + (size_t)snprintf(NULL, 0, "%zu", len);
        stk_buf_printf(&r, "%zu %s=%s\n", len, k, v);
    }
    va_end(ap);
    text(b, (char)type, r.buf);
    stk_buf_release(&r);
}

static void tend(struct stk_buf *b)
{
    for (int i = 0; i < 1024; i++)
        stk_buf_putc(b, 0);
}

static int scan(const struct stk_buf *b, struct rt_hcs_pax_index *idx, struct stk_err *err)
{
    return rt_hcs_pax_scan_memory(b->buf, b->len, idx, err);
}

static const char *rec(const struct rt_hcs_pax_entry *e, const char *key)
{
    const struct rt_hcs_pax_record *r = rt_hcs_pax_entry_get(e, key);

    return r ? r->value : NULL;
}

Test(rt_hcs_wclayer, walker_reads_gnu_names_prefix_base256_and_globals)
{
    struct stk_err err = STK_ERR_INIT;
    struct stk_buf b = STK_BUF_INIT;
    struct rt_hcs_pax_index idx = {0};
    char longname[300];

    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memcpy(longname, "Files/", 6);
    /* A global default, then entries that keep, override and remove it. */
    textv(&b, 'g', "MSWINDOWS.fileattr", "128", "comment", "hello", NULL);
    tfile(&b, "Files/a", "A");
    textv(&b, 'x', "MSWINDOWS.fileattr", "32", "MSWINDOWS.xattr.user.k", "djE=", NULL);
    tfile(&b, "Files/b", "BB");
    textv(&b, 'x', "MSWINDOWS.fileattr", "", NULL);
    tfile(&b, "Files/c", "");
    /* GNU long name and long link name. */
    th(&b, "././@LongLink", 'L', strlen(longname) + 1, 0, NULL, NULL);
    stk_buf_add(&b, longname, strlen(longname) + 1);
    pad(&b);
    th(&b, "././@LongLink", 'K', 8, 0, NULL, NULL);
    stk_buf_add(&b, "far/away", 8);
    pad(&b);
    th(&b, "truncated-name", '2', 0, 0, "short", NULL);
    /* ustar prefix and a base-256 size. */
    th(&b, "deep.txt", '0', 3, 1, NULL, "Files/some/where");
    stk_buf_puts(&b, "xyz");
    pad(&b);
    /* pax path and size override the header. */
    textv(&b, 'x', "path", "Files/pax.txt", "size", "4", NULL);
    th(&b, "ignored", '0', 0, 0, NULL, NULL);
    stk_buf_puts(&b, "data");
    pad(&b);
    tend(&b);

    cr_assert_eq(scan(&b, &idx, &err), 0, "%s", err.msg);
    cr_assert_eq(idx.n, 6);
    cr_assert_str_eq(idx.entries[0].name, "Files/a");
    cr_assert_str_eq(rec(&idx.entries[0], "MSWINDOWS.fileattr"), "128");
    cr_assert_null(rec(&idx.entries[0], "comment"), "only Windows records are kept");
    cr_assert_str_eq(rec(&idx.entries[1], "MSWINDOWS.fileattr"), "32");
    cr_assert_str_eq(rec(&idx.entries[1], "MSWINDOWS.xattr.user.k"), "djE=");
    cr_assert_eq(idx.entries[2].n_records, 0, "an empty value removes the global record");
    cr_assert_str_eq(idx.entries[3].name, longname);
    cr_assert_str_eq(idx.entries[3].linkname, "far/away");
    cr_assert_eq(idx.entries[3].typeflag, '2');
    cr_assert_str_eq(rec(&idx.entries[3], "MSWINDOWS.fileattr"), "128");
    cr_assert_str_eq(idx.entries[4].name, "Files/some/where/deep.txt");
    cr_assert_str_eq(idx.entries[5].name, "Files/pax.txt");
    cr_assert_eq(idx.entries[5].n_records, 1);
    rt_hcs_pax_index_release(&idx);
    stk_buf_release(&b);
}

/* Each malformed tar is an STK_EIMAGE naming the problem, never a crash. */
Test(rt_hcs_wclayer, walker_rejects_malformed_tars)
{
    static const struct {
        const char *what;
        const char *needle;
    } cases[] = {
        {"checksum", "bad tar header"},
        {"short header", "truncated in a header"},
        {"short data", "truncated in member data"},
        {"record length", "malformed pax record"},
        {"record newline", "malformed pax record"},
        {"record key", "without a key"},
        {"huge extended header", "extended header of"},
        {"negative base-256", "bad tar header"},
        {"sparse", "unsupported tar entry type 'S'"},
        {"hard link data", "hard link 'Files/h' with 3 bytes"},
        {"pax size", "bad pax size"},
        {"truncated extended header", "truncated in an extended header"},
        {"pax size over INT64_MAX", "bad pax size"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct stk_err err = STK_ERR_INIT;
        struct stk_buf b = STK_BUF_INIT;
        struct rt_hcs_pax_index idx = {0};

        switch (i) {
        case 0:
            tfile(&b, "Files/a", "A");
            b.buf[0] = 'G';
            break;
        case 1:
            tfile(&b, "Files/a", "A");
            tfile(&b, "Files/b", "B");
            b.len = 1024 + 300;
            break;
        case 2:
            th(&b, "Files/a", '0', 1000, 0, NULL, NULL);
            stk_buf_puts(&b, "only a little");
            pad(&b);
            break;
        case 3:
            text(&b, 'x', "99 MSWINDOWS.fileattr=1\n");
            tfile(&b, "Files/a", "A");
            break;
        case 4:
            text(&b, 'x', "24 MSWINDOWS.fileattr=1x");
            tfile(&b, "Files/a", "A");
            break;
        case 5:
            text(&b, 'x', "12 =nokey12\n");
            tfile(&b, "Files/a", "A");
            break;
        case 6:
            th(&b, "././@PaxHeader", 'x', 2u << 20, 0, NULL, NULL);
            break;
        case 7:
            th(&b, "Files/a", '0', 1, 1, NULL, NULL);
            b.buf[124] = (char)0xff;
            {
                unsigned sum = 0;

                memset(b.buf + 148, ' ', 8);
                for (int k = 0; k < 512; k++)
                    sum += (unsigned char)b.buf[k];
                snprintf(b.buf + 148, 8, "%06o", sum);
            }
            break;
        case 8:
            th(&b, "Files/s", 'S', 0, 0, NULL, NULL);
            break;
        case 9:
            th(&b, "Files/h", '1', 3, 0, "Files/a", NULL);
            stk_buf_puts(&b, "abc");
            pad(&b);
            break;
        case 10:
            textv(&b, 'x', "size", "-12", NULL);
            tfile(&b, "Files/a", "A");
            break;
        case 11:
            th(&b, "././@PaxHeader", 'x', 100, 0, NULL, NULL);
            stk_buf_puts(&b, "20 comment=trunc");
            break;
        case 12:
            textv(&b, 'x', "size", "10000000000000000000", NULL);
            tfile(&b, "Files/a", "A");
            break;
        }
        cr_assert_eq(scan(&b, &idx, &err), STK_EIMAGE, "%s: accepted (%s)", cases[i].what, err.msg);
        cr_assert(strstr(err.msg, cases[i].needle), "%s: '%s'", cases[i].what, err.msg);
        cr_assert_eq(idx.n, 0, "%s: *ret written on failure", cases[i].what);
        stk_buf_release(&b);
    }
}

/* Deterministic mutations of a valid tar: every outcome is success or STK_EIMAGE. */
Test(rt_hcs_wclayer, walker_survives_mutations)
{
    struct stk_buf b = STK_BUF_INIT;
    unsigned seed = 12345;
    int ok = 0, bad = 0;

    textv(&b, 'g', "MSWINDOWS.fileattr", "128", NULL);
    textv(&b, 'x', "MSWINDOWS.fileattr", "32", "path", "Files/pax.txt", NULL);
    tfile(&b, "Files/a", "AAAA");
    th(&b, "././@LongLink", 'L', 12, 0, NULL, NULL);
    stk_buf_add(&b, "Files/long1", 12);
    pad(&b);
    tfile(&b, "ignored", "B");
    tend(&b);
    for (int iter = 0; iter < 3000; iter++) {
        struct stk_err err = STK_ERR_INIT;
        struct rt_hcs_pax_index idx = {0};
        char *m = stk_xmalloc(b.len);
        size_t len = b.len;
        int r;

        memcpy(m, b.buf, b.len);
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % len] = (char)(seed >> 20);
        }
        if (iter % 7 == 0) {
            seed = seed * 1103515245u + 12345u;
            len = (seed >> 8) % len;
        }
        r = rt_hcs_pax_scan_memory(m, len, &idx, &err);
        cr_assert(r == 0 || r == STK_EIMAGE, "iteration %d: %d (%s)", iter, r, err.msg);
        if (r == 0)
            ok++;
        else
            bad++;
        rt_hcs_pax_index_release(&idx);
        free(m);
    }
    cr_assert(ok > 0 && bad > 0, "ok %d bad %d", ok, bad);
    stk_buf_release(&b);
}

/* ---- Python-crafted layers through the layer storage ----------------------- */

static char tmp[] = "/tmp/stk-wclayer-XXXXXX";

static const char PY[] =
    "import base64, gzip, io, sys, tarfile\n"
    "sd = base64.b64decode('" SD_B64 "')\n"
    "bad = len(sys.argv) > 2\n"
    "buf = io.BytesIO()\n"
    "tf = tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT,\n"
    "                  pax_headers={'MSWINDOWS.fileattr': '128'})\n"
    "def add(name, kind=tarfile.REGTYPE, data=b'', pax=None, link=''):\n"
    "    ti = tarfile.TarInfo(name)\n"
    "    ti.type = kind\n"
    "    ti.mtime = 1700000000\n"
    "    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644\n"
    "    ti.linkname = link\n"
    "    ti.size = len(data)\n"
    "    ti.pax_headers = pax or {}\n"
    "    tf.addfile(ti, io.BytesIO(data) if data else None)\n"
    "add('Files', tarfile.DIRTYPE, pax={'MSWINDOWS.fileattr': '16'})\n"
    "add('Files/a.txt', data=b'hello\\r\\n', pax={\n"
    "    'MSWINDOWS.rawsd': 'AQ=A' if bad else base64.b64encode(sd).decode(),\n"
    "    'MSWINDOWS.fileattr': '32', 'LIBARCHIVE.creationtime': '1700000000.5',\n"
    "    'MSWINDOWS.xattr.k': base64.b64encode(b'v1').decode()})\n"
    "add('Files/plain.txt', data=b'x')\n"
    "add('Files/reset.txt', data=b'y', pax={'MSWINDOWS.fileattr': ''})\n"
    "add('Files/link', tarfile.SYMTYPE, link='a.txt', pax={'MSWINDOWS.fileattr': '1056'})\n"
    "add('Files/dirlink', tarfile.SYMTYPE, link='C:/target',\n"
    "    pax={'MSWINDOWS.fileattr': '1040'})\n"
    "add('Files/mnt', tarfile.SYMTYPE, link='C:\\\\m',\n"
    "    pax={'MSWINDOWS.fileattr': '1040', 'MSWINDOWS.mountpoint': '1'})\n"
    "add('Files/' + 'd' * 120 + '.txt', data=b'long', pax={'MSWINDOWS.fileattr': '2'})\n"
    "add('Hives/System_Delta', data=b'hive')\n"
    "tf.close()\n"
    "data = buf.getvalue()\n"
    "open(sys.argv[1] + '.tar', 'wb').write(data)\n"
    "open(sys.argv[1] + '.tar.gz', 'wb').write(gzip.compress(data, mtime=0))\n";

/* Writes the crafted layer as DIR/layer.tar and DIR/layer.tar.gz (BAD: a broken rawsd). */
static void craft(const char *dir, int bad)
{
    struct stk_err err = STK_ERR_INIT;
    char *py = stk_xasprintf("%s/craft.py", dir);
    char *cmd = stk_xasprintf("python3 %s %s/layer%s", py, dir, bad ? " bad" : "");

    cr_assert_eq(stk_file_write_atomic(py, PY, strlen(PY), 0644, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(system(cmd), 0, "python3 could not write the crafted tar: %s", cmd);
    free(py);
    free(cmd);
}

static char *slurp(const char *path, size_t *ret_len)
{
    struct stk_err err = STK_ERR_INIT;
    char *data = NULL;

    cr_assert_eq(stk_file_read(path, &data, ret_len, &err), 0, "%s", err.msg);
    return data;
}

Test(rt_hcs_wclayer, python_tar_records_are_read)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_pax_index plain = {0}, gz = {0};
    char *dir, *p, *pg;

    cr_assert_not_null(mkdtemp(tmp));
    dir = tmp;
    craft(dir, 0);
    p = stk_xasprintf("%s/layer.tar", dir);
    pg = stk_xasprintf("%s/layer.tar.gz", dir);
    cr_assert_eq(rt_hcs_pax_scan_file(p, &plain, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_hcs_pax_scan_file(pg, &gz, &err), 0, "%s", err.msg);
    cr_assert_eq(plain.n, 9);
    cr_assert_eq(gz.n, plain.n, "the gzip pass sees the same entries");
    cr_assert_str_eq(plain.entries[1].name, "Files/a.txt");
    cr_assert_str_eq(rec(&plain.entries[1], "MSWINDOWS.rawsd"), SD_B64);
    cr_assert_str_eq(rec(&plain.entries[1], "LIBARCHIVE.creationtime"), "1700000000.5");
    cr_assert_str_eq(rec(&gz.entries[1], "MSWINDOWS.xattr.k"), "djE=");
    cr_assert_str_eq(rec(&plain.entries[2], "MSWINDOWS.fileattr"), "128", "the global record");
    cr_assert_eq(plain.entries[3].n_records, 0);
    cr_assert_eq(plain.entries[4].typeflag, '2');
    cr_assert_str_eq(plain.entries[4].linkname, "a.txt");
    cr_assert_str_eq(rec(&plain.entries[6], "MSWINDOWS.mountpoint"), "1");
    cr_assert_eq(strlen(plain.entries[7].name), 6 + 120 + 4, "%s", plain.entries[7].name);
    rt_hcs_pax_index_release(&plain);
    rt_hcs_pax_index_release(&gz);
    free(p);
    free(pg);
    stk_rm_rf(tmp, NULL);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
}

/* An image store holding one Windows image whose only layer is the crafted tar. */
struct world {
    char *state, *wf, *scratch;
    struct rt_image_store *store;
    struct rt_hcs_storage *storage;
    const struct rt_hcs_storage_api *api;
    struct rt_image *img;
};

static void world_new(struct world *w, int bad)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_platform platform = {.os = "windows", .architecture = "amd64"};
    char *layout, *plain_path, *gz_path, *plain, *gz, *cfg, *man, *desc;
    char diff[STK_DIGEST_STR_LEN], ld[STK_DIGEST_STR_LEN], cd[STK_DIGEST_STR_LEN];
    struct hcsemu_manifest m;
    size_t plain_len, gz_len;

    cr_assert_not_null(mkdtemp(tmp));
    w->state = stk_xasprintf("%s/state", tmp);
    w->wf = stk_xasprintf("%s/windowsfilter", w->state);
    w->scratch = stk_xasprintf("%s/scratch", w->state);
    layout = stk_xasprintf("%s/layout", tmp);
    craft(tmp, bad);
    plain_path = stk_xasprintf("%s/layer.tar", tmp);
    gz_path = stk_xasprintf("%s/layer.tar.gz", tmp);
    plain = slurp(plain_path, &plain_len);
    gz = slurp(gz_path, &gz_len);
    stk_sha256_digest(plain, plain_len, diff);
    hcsemu_layout_init(layout);
    hcsemu_layout_blob(layout, gz, gz_len, ld);
    cfg = stk_xasprintf("{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":"
                        "\"10.0.20348.2700\",\"config\":{\"Cmd\":[\"cmd\"]},\"rootfs\":{\"type\":"
                        "\"layers\",\"diff_ids\":[\"%s\"]}}",
                        diff);
    hcsemu_layout_blob(layout, cfg, strlen(cfg), cd);
    man = stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                        "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
                        "\"digest\":\"%s\",\"size\":%zu}]}",
                        RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cd, strlen(cfg),
                        RT_IMAGE_MT_OCI_LAYER_GZIP, ld, gz_len);
    hcsemu_layout_blob(layout, man, strlen(man), m.digest);
    m.size = strlen(man);
    m.layers = NULL;
    desc = hcsemu_layout_descriptor(&m, NULL, NULL, RT_IMAGE_ANNOT_REF_NAME, "example/meta:1");
    hcsemu_layout_index(layout, (const char *const[]){desc, NULL});
    cr_assert_eq(rt_image_store_open(w->state, &w->store, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_load_layout(w->store, layout, &platform, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_resolve(w->store, "example/meta:1", NULL, &w->img, &err), 0, "%s",
                 err.msg);
    hcsemu_new("10.0.20348", "server");
    w->storage = rt_hcs_storage_new(w->wf, w->scratch, w->store, hcsemu_storage_calls(), &err);
    cr_assert_not_null(w->storage, "%s", err.msg);
    w->api = rt_hcs_storage_api_of(w->storage);
    free(layout);
    free(plain_path);
    free(gz_path);
    free(plain);
    free(gz);
    free(cfg);
    free(man);
    free(desc);
}

static void world_free(struct world *w)
{
    rt_hcs_storage_free(w->storage);
    hcsemu_free();
    rt_image_free(w->img);
    rt_image_store_close(w->store);
    stk_rm_rf(tmp, NULL);
    memcpy(tmp + strlen(tmp) - 6, "XXXXXX", 6);
    free(w->state);
    free(w->wf);
    free(w->scratch);
}

/* What apply_backup_stream got for REL in the layer's staging folder; asserts it was called once.
 */
static void got(const struct world *w, const char *rel, void **stream, size_t *len, uint32_t *attr,
                int64_t *ctime)
{
    const char *d = w->img->layer_digests[0];
    char *path = stk_xasprintf("%s/.staging-%s/%s", w->wf, d + 7, rel);

    cr_assert_eq(hcsemu_storage_backup_get(path, stream, len, attr, ctime), 1,
                 "apply_backup_stream calls for %s", path);
    free(path);
}

Test(rt_hcs_wclayer, storage_applies_the_metadata_of_each_entry)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    struct world w = {0};
    void *s = NULL;
    size_t len = 0;
    uint32_t attr = 0;
    int64_t ct = 0;
    char *layer, *p;
    struct stat sb;

    world_new(&w, 0);
    cr_assert_eq(w.api->prepare(w.api->self, "web", (const char *const *)w.img->layer_digests,
                                RT_ISOLATION_PROCESS, &r, &err),
                 0, "%s", err.msg);
    /*
     * Files, a.txt, plain.txt, link, dirlink, mnt, the long name and the hive
     * (the global header's attributes reach it too); not reset.txt, whose empty
     * record removes the global one.
     */
    cr_assert_eq(hcsemu_storage_count_backups(), 8);

    got(&w, "Files", &s, &len, &attr, &ct);
    cr_assert_null(s);
    cr_assert_eq(len, 0);
    cr_assert_eq(attr, 16u);
    cr_assert_eq(ct, 0);

    got(&w, "Files/a.txt", &s, &len, &attr, &ct);
    {
        /* WIN32_STREAM_ID(BACKUP_SECURITY_DATA, 36) + SD, WIN32_STREAM_ID(BACKUP_EA_DATA, 12) + EA.
         */
        unsigned char want[20 + 36 + 20 + 12] = {3, 0, 0, 0, 0, 0, 0, 0, 36};
        static const unsigned char ea[] = {0, 0, 0, 0, 0, 1, 2, 0, 'k', 0, 'v', '1'};

        memcpy(want + 20, SD, 36);
        want[56] = 2;
        want[64] = 12;
        memcpy(want + 76, ea, 12);
        expect_bytes(s, len, want, sizeof(want), "a.txt stream");
    }
    cr_assert_eq(attr, 32u);
    cr_assert_eq(ct, (int64_t)133444736005000000LL);
    free(s);

    got(&w, "Files/plain.txt", &s, &len, &attr, NULL);
    cr_assert_null(s);
    cr_assert_eq(attr, 128u, "the global header's attributes");

    got(&w, "Files/link", &s, &len, &attr, NULL);
    {
        /* BACKUP_REPARSE_DATA around the relative symlink "a.txt" (5 WCHARs). */
        cr_assert_eq(len, 20 + 8 + 12 + 12 + 12);
        cr_assert_eq(((unsigned char *)s)[0], 8);
        cr_assert_eq(((unsigned char *)s)[8], 44);
        cr_assert_eq(((unsigned char *)s)[20], 0x0c);
        cr_assert_eq(((unsigned char *)s)[23], 0xa0);
        cr_assert_eq(((unsigned char *)s)[36], 1, "SYMLINK_FLAG_RELATIVE");
        cr_assert_eq(((unsigned char *)s)[40], 'a');
    }
    cr_assert_eq(attr, 1056u);
    free(s);

    got(&w, "Files/mnt", &s, &len, &attr, NULL);
    cr_assert_eq(((unsigned char *)s)[20], 0x03, "IO_REPARSE_TAG_MOUNT_POINT");
    cr_assert_eq(((unsigned char *)s)[36], '\\', "the path buffer follows without flags");
    free(s);
    got(&w, "Files/dirlink", &s, &len, &attr, NULL);
    cr_assert_eq(((unsigned char *)s)[36], 0, "absolute: no SYMLINK_FLAG_RELATIVE");
    free(s);

    /* The links arrive as placeholders (a directory for a directory link), then imported. */
    layer = stk_xasprintf("%s/%s", w.wf, w.img->layer_digests[0] + 7);
    p = stk_xasprintf("%s/Files/link", layer);
    cr_assert_eq(lstat(p, &sb), 0);
    cr_assert(S_ISREG(sb.st_mode) && sb.st_size == 0, "Files/link is not an empty file");
    free(p);
    p = stk_xasprintf("%s/Files/dirlink", layer);
    cr_assert_eq(lstat(p, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode), "Files/dirlink is not a directory");
    free(p);
    p = stk_xasprintf("%s/Files/a.txt", layer);
    {
        size_t n;
        char *data = slurp(p, &n);

        cr_assert_str_eq(data, "hello\r\n", "the data still comes from libarchive");
        free(data);
    }
    free(p);
    /* Every apply comes before HcsImportLayer, children before their folder. */
    {
        char *t = hcsemu_storage_trace();
        char *imp = strstr(t, "import_layer ");
        char *last = NULL, *files = NULL, *a = NULL;

        for (char *q = strstr(t, "apply_backup_stream "); q;
             q = strstr(q + 1, "apply_backup_stream "))
            last = q;
        files = strstr(t, "/Files 0 0x10 ");
        a = strstr(t, "/Files/a.txt ");
        cr_assert(imp && last && last < imp, "%s", t);
        cr_assert(files && a && a < files, "%s", t);
        free(t);
    }
    cr_assert_eq(w.api->release(w.api->self, "web", &err), 0, "%s", err.msg);
    rt_hcs_storage_result_release(&r);
    free(layer);
    world_free(&w);
}

Test(rt_hcs_wclayer, a_bad_record_fails_the_import_before_anything_is_applied)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    struct world w = {0};

    world_new(&w, 1);
    cr_assert_eq(w.api->prepare(w.api->self, "web", (const char *const *)w.img->layer_digests,
                                RT_ISOLATION_PROCESS, &r, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "'Files/a.txt': MSWINDOWS.rawsd is not base64"), "%s", err.msg);
    cr_assert(strstr(err.msg, "container 'web': import layer"), "%s", err.msg);
    cr_assert_eq(hcsemu_storage_count_backups(), 0);
    cr_assert_eq(hcsemu_calls("import_layer"), 0);
    world_free(&w);
}

Test(rt_hcs_wclayer, a_failed_apply_fails_the_import)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_hcs_storage_result r = {0};
    struct world w = {0};
    char *layer;

    world_new(&w, 0);
    hcsemu_inject("apply_backup_stream", STK_WIN_E_ACCESSDENIED);
    cr_assert_eq(w.api->prepare(w.api->self, "web", (const char *const *)w.img->layer_digests,
                                RT_ISOLATION_PROCESS, &r, &err),
                 STK_EPERM);
    /* The last entry is applied first. */
    cr_assert(strstr(err.msg, "apply the Windows metadata of 'Hives/System_Delta'"), "%s", err.msg);
    cr_assert_eq(err.os_code, STK_WIN_E_ACCESSDENIED);
    cr_assert_eq(hcsemu_calls("import_layer"), 0);
    layer = stk_xasprintf("%s/%s", w.wf, w.img->layer_digests[0] + 7);
    cr_assert(!stk_path_exists(layer), "a layer was left");
    free(layer);
    world_free(&w);
}
