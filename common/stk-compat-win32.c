/*
 * stk-compat-win32.c - the Win32 halves of stk-compat-win32.h (Windows build
 * only, selected by common/CMakeLists.txt).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <io.h>
#include <stdlib.h>
#include <windows.h>

#include <bcrypt.h>

int stk_win_flock(int fd, int op)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    OVERLAPPED ov = {0};
    DWORD flags = 0;

    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    if (op & LOCK_UN) {
        if (!UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov)) {
            errno = EINVAL;
            return -1;
        }
        return 0;
    }
    if (op & LOCK_EX)
        flags |= LOCKFILE_EXCLUSIVE_LOCK;
    if (op & LOCK_NB)
        flags |= LOCKFILE_FAIL_IMMEDIATELY;
    if (!LockFileEx(h, flags, 0, MAXDWORD, MAXDWORD, &ov)) {
        errno = GetLastError() == ERROR_LOCK_VIOLATION ? EWOULDBLOCK : EINVAL;
        return -1;
    }
    return 0;
}

char *stk_win_realpath(const char *path, char *resolved)
{
    char *full = _fullpath(resolved, path, resolved ? _MAX_PATH : 0);

    if (!full) {
        errno = EINVAL;
        return NULL;
    }
    if (GetFileAttributesA(full) == INVALID_FILE_ATTRIBUTES) {
        if (!resolved)
            free(full);
        errno = ENOENT;
        return NULL;
    }
    return full;
}

/* Replaces the trailing XXXXXX of TMPL with random characters; -1 when it has none. */
static int fill_template(char *tmpl)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t len = strlen(tmpl);
    unsigned int r;

    if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX") != 0) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = len - 6; i < len; i++) {
        if (BCryptGenRandom(NULL, (PUCHAR)&r, sizeof(r), BCRYPT_USE_SYSTEM_PREFERRED_RNG) < 0)
            r = (unsigned int)GetTickCount() ^ (unsigned int)(i * 2654435761u);
        tmpl[i] = chars[r % (sizeof(chars) - 1)];
    }
    return 0;
}

int stk_win_mkostemp(char *tmpl, int flags)
{
    size_t len = strlen(tmpl);

    for (int tries = 0; tries < 100; tries++) {
        int fd;

        if (tries)
            memcpy(tmpl + len - 6, "XXXXXX", 6);
        if (fill_template(tmpl) < 0)
            return -1;
        fd = _open(tmpl, _O_RDWR | _O_CREAT | _O_EXCL | _O_BINARY | flags, _S_IREAD | _S_IWRITE);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

char *stk_win_mkdtemp(char *tmpl)
{
    size_t len = strlen(tmpl);

    for (int tries = 0; tries < 100; tries++) {
        if (tries)
            memcpy(tmpl + len - 6, "XXXXXX", 6);
        if (fill_template(tmpl) < 0)
            return NULL;
        if (_mkdir(tmpl) == 0)
            return tmpl;
        if (errno != EEXIST)
            return NULL;
    }
    errno = EEXIST;
    return NULL;
}

wchar_t *stk_win_utf16(const char *s)
{
    int n;
    wchar_t *w;

    if (!s)
        return NULL;
    n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    w = calloc((size_t)(n > 0 ? n : 1), sizeof(wchar_t));
    if (!w)
        abort();
    if (n > 0)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

char *stk_win_utf8(const wchar_t *w)
{
    int n;
    char *s;

    if (!w)
        return NULL;
    n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    s = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!s)
        abort();
    if (n > 0)
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}
