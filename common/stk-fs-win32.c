/*
 * stk-fs-win32.c - the stk-fs.h helpers on Windows (selected by
 * common/CMakeLists.txt instead of stk-fs.c when WIN32, STYLE.md rule 28).
 * Paths are UTF-8 and go through the wide-character Win32 and CRT calls, so
 * names outside the ANSI code page work. Files are opened in binary mode and
 * not inherited (O_NOINHERIT is Windows' O_CLOEXEC). The atomic write
 * replaces its target with MoveFileExW(MOVEFILE_REPLACE_EXISTING), since the
 * CRT's rename() refuses an existing target. stk_rm_rf never follows a
 * reparse point (symbolic link, junction, mount point): the link itself is
 * removed, not what it points to.
 */
#include "stk-fs.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>
#include <windows.h>

#include "stk-alloc.h"
#include "stk-buf.h"
#include "stk-err.h"

/* Returns PATH (UTF-8) as a new UTF-16 string (caller frees), or NULL when it is not UTF-8. */
static wchar_t *utf16(const char *path)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0)
        return NULL;
    w = stk_xmalloc((size_t)n * sizeof(*w));
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
    return w;
}

/* errno for a Win32 error code of the calls below. */
static int win_errno(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
        return EACCES;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
        return EEXIST;
    case ERROR_DIR_NOT_EMPTY:
        return ENOTEMPTY;
    default:
        return EIO;
    }
}

int stk_file_read(const char *path, char **ret_data, size_t *ret_len, struct stk_err *err)
{
    struct stk_buf b = STK_BUF_INIT;
    char chunk[65536];
    wchar_t *w = utf16(path);
    int n;
    int fd;

    if (!w)
        return stk_err_set(err, STK_EINVAL, 0, "'%s' is not a UTF-8 path", path);
    fd = _wopen(w, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    free(w);
    if (fd < 0)
        return stk_err_set(err, errno == ENOENT ? STK_ENOENT : STK_EIO, errno, "open '%s'", path);
    while ((n = _read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            int e = errno;
            _close(fd);
            stk_buf_release(&b);
            return stk_err_set(err, STK_EIO, e, "read '%s'", path);
        }
        stk_buf_add(&b, chunk, (size_t)n);
    }
    _close(fd);
    *ret_data = stk_buf_detach(&b, ret_len);
    return 0;
}

int stk_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int sync,
                          struct stk_err *err)
{
    char *tmp = stk_xasprintf("%s.tmp.%lu", path, (unsigned long)GetCurrentProcessId());
    wchar_t *wtmp = utf16(tmp), *wpath = utf16(path);
    const char *p = data;
    size_t left = len;
    int fd = -1, ret = 0;

    if (!wtmp || !wpath) {
        ret = stk_err_set(err, STK_EINVAL, 0, "'%s' is not a UTF-8 path", path);
        goto out;
    }
    /* Windows keeps only the owner-write bit of MODE (read-only or not). */
    fd = _wopen(wtmp, _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY | _O_NOINHERIT,
                (mode & 0200) ? (_S_IREAD | _S_IWRITE) : _S_IREAD);
    if (fd < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "create '%s'", tmp);
        goto out;
    }
    while (left) {
        unsigned int chunk = left > (1u << 30) ? (1u << 30) : (unsigned int)left;
        int n = _write(fd, p, chunk);

        if (n < 0) {
            ret = stk_err_set(err, STK_EIO, errno, "write '%s'", tmp);
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (sync && _commit(fd) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "fsync '%s'", tmp);
        goto out;
    }
    if (_close(fd) < 0) {
        fd = -1;
        ret = stk_err_set(err, STK_EIO, errno, "close '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (!MoveFileExW(wtmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        DWORD e = GetLastError();
        ret = stk_err_set(err, STK_EIO, win_errno(e), "rename '%s' (Win32 error %lu)", path,
                          (unsigned long)e);
        goto out;
    }
out:
    if (fd >= 0)
        _close(fd);
    if (ret < 0 && wtmp)
        _wunlink(wtmp);
    free(wtmp);
    free(wpath);
    free(tmp);
    return ret;
}

int stk_mkdir_p(const char *path, mode_t mode, struct stk_err *err)
{
    char *p = stk_xstrdup(path);
    int ret = 0;

    (void)mode; /* Windows directories take their ACL from the parent. */
    /* Skip a drive ("C:") or the first separator, then create each prefix. */
    char *s = p + 1;
    if (p[0] && p[1] == ':')
        s = p + 2;
    for (;; s++) {
        if (*s != '/' && *s != '\\' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (*p && !(p[1] == ':' && p[2] == '\0')) {
            wchar_t *w = utf16(p);

            if (!w) {
                ret = stk_err_set(err, STK_EINVAL, 0, "'%s' is not a UTF-8 path", path);
                break;
            }
            if (!CreateDirectoryW(w, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
                DWORD e = GetLastError();
                free(w);
                ret = stk_err_set(err, STK_EIO, win_errno(e), "mkdir '%s' (Win32 error %lu)", p,
                                  (unsigned long)e);
                break;
            }
            free(w);
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return ret;
}

/* Removes the file or directory W (UTF-16, for messages NAME) recursively. */
static int rm_rf_w(const wchar_t *w, const char *name, struct stk_err *err)
{
    DWORD attr = GetFileAttributesW(w);
    WIN32_FIND_DATAW fd;
    HANDLE h;
    size_t wl;
    wchar_t *pat;
    int ret = 0;

    if (attr == INVALID_FILE_ATTRIBUTES) {
        DWORD e = GetLastError();
        if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
            return 0;
        return stk_err_set(err, STK_EIO, win_errno(e), "stat '%s' (Win32 error %lu)", name,
                           (unsigned long)e);
    }
    if (attr & FILE_ATTRIBUTE_READONLY)
        SetFileAttributesW(w, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY);
    if (!(attr & FILE_ATTRIBUTE_DIRECTORY)) {
        if (!DeleteFileW(w) && GetLastError() != ERROR_FILE_NOT_FOUND)
            return stk_err_set(err, STK_EIO, win_errno(GetLastError()), "unlink '%s'", name);
        return 0;
    }
    if (!(attr & FILE_ATTRIBUTE_REPARSE_POINT)) {
        wl = wcslen(w);
        pat = stk_xmalloc((wl + 3) * sizeof(*pat));
        memcpy(pat, w, wl * sizeof(*pat));
        memcpy(pat + wl, L"\\*", 3 * sizeof(*pat));
        h = FindFirstFileW(pat, &fd);
        free(pat);
        if (h != INVALID_HANDLE_VALUE) {
            do {
                if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
                    continue;
                size_t cl = wcslen(fd.cFileName);
                wchar_t *child = stk_xmalloc((wl + cl + 2) * sizeof(*child));
                memcpy(child, w, wl * sizeof(*child));
                child[wl] = L'\\';
                memcpy(child + wl + 1, fd.cFileName, (cl + 1) * sizeof(*child));
                ret = rm_rf_w(child, name, err);
                free(child);
            } while (ret == 0 && FindNextFileW(h, &fd));
            FindClose(h);
        }
    }
    /* A directory, or a directory junction / symbolic link (removed, not followed). */
    if (ret == 0 && !RemoveDirectoryW(w) && GetLastError() != ERROR_FILE_NOT_FOUND)
        ret = stk_err_set(err, STK_EIO, win_errno(GetLastError()), "rmdir '%s' (Win32 error %lu)",
                          name, (unsigned long)GetLastError());
    return ret;
}

int stk_rm_rf(const char *path, struct stk_err *err)
{
    wchar_t *w = utf16(path);
    int ret;

    if (!w)
        return stk_err_set(err, STK_EINVAL, 0, "'%s' is not a UTF-8 path", path);
    ret = rm_rf_w(w, path, err);
    free(w);
    return ret;
}

int stk_path_exists(const char *path)
{
    wchar_t *w = utf16(path);
    DWORD attr = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;

    free(w);
    return attr != INVALID_FILE_ATTRIBUTES;
}

int stk_path_is_dir(const char *path)
{
    wchar_t *w = utf16(path);
    DWORD attr = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;

    free(w);
    return attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY);
}
