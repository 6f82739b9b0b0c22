/*
 * stk-compat-win32.h - force-included in the Windows build only (top-level
 * CMakeLists.txt, `if(WIN32)`), before stk-prelude.h since mingw's headers
 * use names that banned.h poisons: the few POSIX names the portable sources
 * use that mingw-w64's C library lacks, mapped to their Windows equivalents.
 * It deliberately does not include <windows.h> (its macros clash with
 * ordinary identifiers); the functions that need Win32 are in
 * stk-compat-win32.c.
 */
#ifndef STK_COMPAT_WIN32_H
#define STK_COMPAT_WIN32_H

#ifdef _WIN32

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Every project open() passes O_CLOEXEC (STYLE.md rule 23): on Windows that
 * means not inherited, and binary (no CRLF translation of YAML, JSON, logs).
 */
#ifndef O_CLOEXEC
#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif

/* flock(2) over LockFileEx/UnlockFileEx on the descriptor's handle (whole file). */
#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8
int stk_win_flock(int fd, int op);
#define flock(fd, op) stk_win_flock((fd), (op))

/* strndup(3), missing from msvcrt/ucrt. */
static inline char *stk_win_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}
#define strndup(s, n) stk_win_strndup((s), (n))

/*
 * S (UTF-8) as a new UTF-16 string for the W functions of the Win32 API, and
 * W back as a new UTF-8 string; NULL stays NULL, the caller frees. The one
 * conversion the HCS, storage and HCN glue share.
 */
wchar_t *stk_win_utf16(const char *s);
char *stk_win_utf8(const wchar_t *w);

/* mkdir(2) takes no mode on Windows (directories inherit their parent's ACL). */
#define mkdir(path, mode) ((void)(mode), _mkdir(path))

/* No symbolic links through the CRT: lstat is stat. */
#define lstat(path, st) stat((path), (st))

/* fsync(2) is _commit. */
#define fsync(fd) _commit(fd)

/*
 * realpath(3) with a NULL buffer (the only form the project uses): the
 * absolute path of PATH (_fullpath) when it exists, else NULL with errno set.
 */
char *stk_win_realpath(const char *path, char *resolved);
#define realpath(p, r) stk_win_realpath((p), (r))

/* setenv(3) over _putenv_s (which has no "keep an existing value" flag). */
static inline int stk_win_setenv(const char *name, const char *value, int overwrite)
{
    if (!overwrite && getenv(name))
        return 0;
    return _putenv_s(name, value) == 0 ? 0 : -1;
}
#define setenv(n, v, o) stk_win_setenv((n), (v), (o))

/* mkostemp(3): mkstemp with open FLAGS (O_CLOEXEC), created exclusively. */
int stk_win_mkostemp(char *tmpl, int flags);
#define mkostemp(t, f) stk_win_mkostemp((t), (f))

/* mkdtemp(3): replaces the XXXXXX of TMPL and creates that directory. */
char *stk_win_mkdtemp(char *tmpl);
#define mkdtemp(t) stk_win_mkdtemp(t)

/* No POSIX permissions on a Windows handle: fchmod succeeds and does nothing. */
#define fchmod(fd, mode) ((void)(fd), (void)(mode), 0)

#endif /* _WIN32 */
#endif
