/*
 * hcs-wclayer.h - the Windows metadata of a Windows image layer tar, which
 * libarchive does not expose, and the Win32 backup stream that applies it
 * (private to runtime/hcs: hcs-storage.c and the tests use it).
 *
 * A Windows layer tar (written by hcsshim/go-winio backuptar, Go's
 * archive/tar) carries per entry, in PAX extended records:
 * - MSWINDOWS.rawsd: the binary self-relative security descriptor, base64;
 * - MSWINDOWS.sd: the same as SDDL text (older writers; not supported here);
 * - MSWINDOWS.fileattr: the FILE_ATTRIBUTE_* bits, decimal;
 * - MSWINDOWS.mountpoint: present on a symlink entry that is a mount point;
 * - MSWINDOWS.xattr.NAME: an extended attribute's value, base64;
 * - LIBARCHIVE.creationtime: the creation time, "SECONDS[.FRACTION]".
 * Debian's libarchive 3.6.2 drops every MSWINDOWS.* key (pax_attribute() in
 * archive_read_support_format_tar.c has no case for 'M'), so
 * rt_hcs_pax_scan_*() re-reads the decompressed tar stream for them.
 *
 * Sources: go-winio backuptar/tar.go (the record names, the order
 * security, EA, reparse of WriteBackupStreamFromTarFile, FileInfoFromHeader),
 * go-winio backup.go (WIN32_STREAM_ID, the BACKUP_* stream ids), ea.go
 * (FILE_FULL_EA_INFORMATION, 4-byte aligned entries), reparse.go
 * (REPARSE_DATA_BUFFER for symlinks and mount points); msdocs
 * WIN32_STREAM_ID, FILE_FULL_EA_INFORMATION, REPARSE_DATA_BUFFER,
 * FILE_BASIC_INFO; POSIX pax (IEEE 1003.1 "pax Interchange Format").
 */
#ifndef RT_HCS_WCLAYER_H
#define RT_HCS_WCLAYER_H

#include <stddef.h>
#include <stdint.h>

#include "common/stk-err.h"

/* WIN32_STREAM_ID.dwStreamId values (msdocs WIN32_STREAM_ID; winbase.h). */
#define RT_HCS_BACKUP_DATA 1u
#define RT_HCS_BACKUP_EA_DATA 2u
#define RT_HCS_BACKUP_SECURITY_DATA 3u
#define RT_HCS_BACKUP_ALTERNATE_DATA 4u
#define RT_HCS_BACKUP_REPARSE_DATA 8u
/* The fixed part of WIN32_STREAM_ID: 4 + 4 + 8 + 4 bytes, before cStreamName. */
#define RT_HCS_STREAM_ID_SIZE 20u
/* Reparse tags (msdocs "Reparse Point Tags"; winnt.h). */
#define RT_HCS_IO_REPARSE_TAG_MOUNT_POINT 0xA0000003u
#define RT_HCS_IO_REPARSE_TAG_SYMLINK 0xA000000Cu
#define RT_HCS_SYMLINK_FLAG_RELATIVE 1u
#define RT_HCS_FILE_ATTRIBUTE_DIRECTORY 0x10u

/* One PAX record kept for an entry: KEY and its VALUE bytes (NUL-terminated too). */
struct rt_hcs_pax_record {
    char *key;
    char *value;
    size_t len; /* bytes of VALUE, not counting the NUL */
};

/* One tar entry as the walker saw it (every entry, with or without records). */
struct rt_hcs_pax_entry {
    char *name;                        /* pax path > GNU 'L' > ustar prefix/name */
    char *linkname;                    /* pax linkpath > GNU 'K' > ustar linkname; "" when none */
    char typeflag;                     /* the ustar typeflag ('0', '2', '5' ...) */
    struct rt_hcs_pax_record *records; /* MSWINDOWS.* and LIBARCHIVE.creationtime only */
    size_t n_records;
};

struct rt_hcs_pax_index {
    struct rt_hcs_pax_entry *entries; /* in tar order */
    size_t n;
};

/*
 * Walks the tar stream in the layer blob at PATH (any compression
 * libarchive's filters detect; libarchive's "raw" format hands out the
 * decompressed bytes) and stores in *RET one entry per tar member, in order,
 * with its MSWINDOWS.* and LIBARCHIVE.creationtime records (global 'g'
 * records first, overridden by the entry's 'x' records). Release *RET with
 * rt_hcs_pax_index_release(). Returns 0, or STK_EIMAGE for a malformed tar
 * (bad checksum or size, a truncated member, a bad record, an oversized
 * extended header) with ERR naming the byte offset; never reads outside
 * the input. Blocking.
 */
int rt_hcs_pax_scan_file(const char *path, struct rt_hcs_pax_index *ret, struct stk_err *err);
/* The same over LEN bytes at DATA (borrowed; tar, possibly compressed). */
int rt_hcs_pax_scan_memory(const void *data, size_t len, struct rt_hcs_pax_index *ret,
                           struct stk_err *err);
/* Frees what the index holds and zeroes it; NULL-safe. */
void rt_hcs_pax_index_release(struct rt_hcs_pax_index *idx);

/* Returns the record KEY of E (borrowed), or NULL. */
const struct rt_hcs_pax_record *rt_hcs_pax_entry_get(const struct rt_hcs_pax_entry *e,
                                                     const char *key);

/* What applying an entry's metadata means: the arguments of apply_backup_stream. */
struct rt_hcs_backup {
    unsigned char *stream; /* WIN32_STREAM_ID chain for BackupWrite; NULL when LEN is 0 */
    size_t len;
    uint32_t attributes;   /* FILE_BASIC_INFO.FileAttributes; 0 = leave unchanged */
    int64_t creation_time; /* FILE_BASIC_INFO.CreationTime (FILETIME); 0 = unchanged */
};

/*
 * Builds from entry E the backup stream (BACKUP_SECURITY_DATA from
 * MSWINDOWS.rawsd, BACKUP_EA_DATA from MSWINDOWS.xattr.*, BACKUP_REPARSE_DATA
 * for a symlink entry, in go-winio's order; no data streams: libarchive has
 * written the file data), the attributes and the creation time. *RET's
 * stream is new (free()); on failure *RET is untouched. Returns 0 (with an
 * empty *RET when E has nothing to apply), STK_EIMAGE for a bad record (bad
 * base64, a descriptor that is not self-relative revision 1 with its
 * offsets inside (the check rt_hcs_backup_check makes), a non-decimal fileattr, a bad time, an EA
 * name over 255 bytes or a value over 65535) and STK_ENOTSUP for MSWINDOWS.sd (SDDL text).
 */
int rt_hcs_backup_build(const struct rt_hcs_pax_entry *e, struct rt_hcs_backup *ret,
                        struct stk_err *err);
void rt_hcs_backup_release(struct rt_hcs_backup *b);

/*
 * The single builders, exposed for the golden tests. Each appends to *BUF
 * (a struct stk_buf). rt_hcs_backup_put_stream: one WIN32_STREAM_ID
 * (little-endian dwStreamId, dwStreamAttributes 0, Size, dwStreamNameSize,
 * the UTF-16LE name) and its LEN bytes. rt_hcs_reparse_put: the
 * REPARSE_DATA_BUFFER for TARGET ('/' turned into '\'), a mount point when
 * MOUNT_POINT, else a symlink, SYMLINK_FLAG_RELATIVE unless TARGET is
 * X:..., \\?\... or \\...; returns STK_EIMAGE when the buffer would not fit
 * its 16-bit lengths. rt_hcs_ea_put: one FILE_FULL_EA_INFORMATION entry.
 */
struct stk_buf;
void rt_hcs_backup_put_stream(struct stk_buf *buf, uint32_t id, const char *name_utf8,
                              const void *data, size_t len);
int rt_hcs_reparse_put(struct stk_buf *buf, const char *target, int mount_point,
                       struct stk_err *err);
void rt_hcs_ea_put(struct stk_buf *buf, const char *name, const void *value, size_t len, int last);

/*
 * Checks that STREAM (LEN bytes) is a well-formed chain of WIN32_STREAM_ID
 * records: every header and body within LEN, an even name size, known ids;
 * a security descriptor in self-relative form (revision 1, SE_SELF_RELATIVE,
 * offsets inside); an EA chain whose entries stay inside; a reparse buffer
 * whose ReparseDataLength is its size less 8 and whose names are inside.
 * Returns 0 or -1 with a static reason in *RET_WHY. Used by the emulator.
 */
int rt_hcs_backup_check(const void *stream, size_t len, const char **ret_why);

#endif
