/*
 * stk-fs.h - file-system helpers with the project's error contract. Every fd
 * they open is O_CLOEXEC (STYLE.md rule 23). stk-fs.c implements them on
 * POSIX, stk-fs-win32.c on Windows (UTF-8 paths through the wide-character
 * calls, non-inherited binary files; common/CMakeLists.txt selects one).
 */
#ifndef STK_FS_H
#define STK_FS_H

#include <stddef.h>
#include <sys/types.h>

struct stk_err;

/*
 * Reads the whole file at PATH. On success stores a new NUL-terminated heap
 * buffer in *RET_DATA (caller frees) and its length in *RET_LEN (may be NULL).
 * Returns STK_ENOENT when the file does not exist, STK_EIO otherwise.
 */
int stk_file_read(const char *path, char **ret_data, size_t *ret_len, struct stk_err *err);

/*
 * Writes LEN bytes of DATA to PATH atomically: a temporary file in the same
 * folder, fsync when SYNC is non-zero, then rename(2). MODE is the new file's
 * permission bits. Returns 0 or STK_EIO.
 */
int stk_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int sync,
                          struct stk_err *err);

/* Creates PATH and its missing parents with MODE (like mkdir -p). Returns 0 or STK_EIO. */
int stk_mkdir_p(const char *path, mode_t mode, struct stk_err *err);

/*
 * Removes PATH recursively (like rm -rf), not crossing mount points and never
 * following symbolic links. A missing PATH is success. Returns 0 or STK_EIO.
 */
int stk_rm_rf(const char *path, struct stk_err *err);

/* Returns 1 when PATH exists (lstat succeeds), else 0. */
int stk_path_exists(const char *path);

/* Returns 1 when PATH is a directory (stat follows links), else 0. */
int stk_path_is_dir(const char *path);

#endif
