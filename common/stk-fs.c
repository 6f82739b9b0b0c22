#include "stk-fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stk-alloc.h"
#include "stk-buf.h"
#include "stk-err.h"

int stk_file_read(const char *path, char **ret_data, size_t *ret_len, struct stk_err *err)
{
    struct stk_buf b = STK_BUF_INIT;
    char chunk[65536];
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return stk_err_set(err, errno == ENOENT ? STK_ENOENT : STK_EIO, errno, "open '%s'", path);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            stk_buf_release(&b);
            return stk_err_set(err, STK_EIO, e, "read '%s'", path);
        }
        stk_buf_add(&b, chunk, (size_t)n);
    }
    close(fd);
    *ret_data = stk_buf_detach(&b, ret_len);
    return 0;
}

int stk_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int sync,
                          struct stk_err *err)
{
    char *tmp = stk_xasprintf("%s.tmp.%ld", path, (long)getpid());
    const char *p = data;
    size_t left = len;
    int fd, ret = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "create '%s'", tmp);
        goto out;
    }
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = stk_err_set(err, STK_EIO, errno, "write '%s'", tmp);
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (sync && fsync(fd) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "fsync '%s'", tmp);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        ret = stk_err_set(err, STK_EIO, errno, "close '%s'", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        ret = stk_err_set(err, STK_EIO, errno, "rename '%s'", path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (ret < 0)
        unlink(tmp);
    free(tmp);
    return ret;
}

int stk_mkdir_p(const char *path, mode_t mode, struct stk_err *err)
{
    char *p = stk_xstrdup(path);
    int ret = 0;

    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            ret = stk_err_set(err, STK_EIO, errno, "mkdir '%s'", p);
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return ret;
}

static int rm_rf_at(int dirfd, const char *name, dev_t dev, struct stk_err *err)
{
    struct stat st;
    DIR *d;
    int fd, ret = 0;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : stk_err_set(err, STK_EIO, errno, "stat '%s'", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return stk_err_set(err, STK_EIO, errno, "unlink '%s'", name);
        return 0;
    }
    if (st.st_dev != dev)
        return stk_err_set(err, STK_EBUSY, 0, "'%s' is a mount point, not removing", name);
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return stk_err_set(err, STK_EIO, errno, "open '%s'", name);
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return stk_err_set(err, STK_EIO, errno, "opendir '%s'", name);
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        ret = rm_rf_at(fd, de->d_name, dev, err);
        if (ret < 0)
            break;
    }
    closedir(d);
    if (ret == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        ret = stk_err_set(err, STK_EIO, errno, "rmdir '%s'", name);
    return ret;
}

int stk_rm_rf(const char *path, struct stk_err *err)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : stk_err_set(err, STK_EIO, errno, "stat '%s'", path);
    return rm_rf_at(AT_FDCWD, path, st.st_dev, err);
}

int stk_path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int stk_path_is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
