/*
 * stk-err.h - the error contract (STYLE.md rules 9-16).
 *
 * Every function that can fail takes a caller-owned `struct stk_err *err` as
 * its last argument, returns 0 (or a non-NULL pointer) on success without
 * touching it, and on failure returns a negative STK_E* code (or NULL) after
 * filling it. The struct lives on the caller's stack; setting an error never
 * allocates except for the optional machine-readable `detail`.
 *
 * Messages chain from the outside in: "start container 'web': runc create:
 * exit status 1". stk_err_wrap() prepends context and keeps the code.
 */
#ifndef STK_ERR_H
#define STK_ERR_H

#include <stdarg.h>
#include <stddef.h>

#include "stk-macro.h"

/*
 * Error codes. The X-macro generates the enum and the name table
 * (libuv UV_ERRNO_MAP). The values are negative; 0 is success.
 */
#define STK_ERRNO_MAP(X)                                                                           \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(EIO, "input/output error")                                                                   \
    X(ENOENT, "not found")                                                                         \
    X(EEXIST, "already exists")                                                                    \
    X(ESPEC, "invalid stack specification")                                                        \
    X(ENOTSUP, "not supported")                                                                    \
    X(EUNAVAIL, "not available on this host")                                                      \
    X(ERUNTIME, "runtime failure")                                                                 \
    X(ENET, "network plug-in failure")                                                             \
    X(EIMAGE, "image error")                                                                       \
    X(EDIGEST, "digest mismatch")                                                                  \
    X(ESTORE, "state store error")                                                                 \
    X(EBUSY, "busy")                                                                               \
    X(ECANCELED, "operation canceled")                                                             \
    X(ETIMEDOUT, "timed out")                                                                      \
    X(EPERM, "permission denied")                                                                  \
    X(EUSAGE, "usage error")

enum stk__errno_idx {
#define STK__ERR_ENUM(name, text) STK__##name##_IDX,
    STK_ERRNO_MAP(STK__ERR_ENUM) _STK_E_MAX
#undef STK__ERR_ENUM
};

#define STK_OK 0

#define STK__ERR_NEG(name) (-(STK__##name##_IDX + 1))
#define STK_EINVAL STK__ERR_NEG(EINVAL)
#define STK_ENOMEM STK__ERR_NEG(ENOMEM)
#define STK_EIO STK__ERR_NEG(EIO)
#define STK_ENOENT STK__ERR_NEG(ENOENT)
#define STK_EEXIST STK__ERR_NEG(EEXIST)
#define STK_ESPEC STK__ERR_NEG(ESPEC)
#define STK_ENOTSUP STK__ERR_NEG(ENOTSUP)
#define STK_EUNAVAIL STK__ERR_NEG(EUNAVAIL)
#define STK_ERUNTIME STK__ERR_NEG(ERUNTIME)
#define STK_ENET STK__ERR_NEG(ENET)
#define STK_EIMAGE STK__ERR_NEG(EIMAGE)
#define STK_EDIGEST STK__ERR_NEG(EDIGEST)
#define STK_ESTORE STK__ERR_NEG(ESTORE)
#define STK_EBUSY STK__ERR_NEG(EBUSY)
#define STK_ECANCELED STK__ERR_NEG(ECANCELED)
#define STK_ETIMEDOUT STK__ERR_NEG(ETIMEDOUT)
#define STK_EPERM STK__ERR_NEG(EPERM)
#define STK_EUSAGE STK__ERR_NEG(EUSAGE)

#define STK_ERR_MSG_MAX 512

/* A caller-owned error (STYLE.md rule 10). Initialise with STK_ERR_INIT. */
struct stk_err {
    int code;                  /* a negative STK_E* value, 0 when unset */
    int os_code;               /* errno on POSIX, HRESULT/Win32 code on Windows, 0 if none */
    char msg[STK_ERR_MSG_MAX]; /* the chained, human-readable message */
    char file[256];            /* source file of a spec error, "" when none */
    int line;                  /* 1-based line of a spec error, 0 when none */
    int col;                   /* 1-based column of a spec error, 0 when none */
    char *detail;              /* optional heap detail (HCS error document, CNI error JSON) */
};

#define STK_ERR_INIT                                                                               \
    {                                                                                              \
        0, 0, {0}, {0}, 0, 0, NULL                                                                 \
    }

/*
 * Parses an STK_E* name ("ENET", "STK_ENET", any case) or its text ("network
 * plug-in failure"); returns the code, or 0 when S names none.
 */
int stk_err_code_from_string(const char *s);

/* Returns the static name of an STK_E* code ("invalid argument"); never NULL. */
const char *stk_strerror(int code);

/*
 * Fills ERR with CODE, OS_CODE (errno or HRESULT, 0 for none) and a formatted
 * message; when OS_CODE is a non-zero errno its text is appended (": No such
 * file or directory"). Returns CODE so that callers write
 * `return stk_err_set(err, STK_EIO, errno, "open '%s'", path);`.
 * ERR may be NULL (the error is then dropped). An earlier detail is freed.
 */
int stk_err_set(struct stk_err *err, int code, int os_code, const char *fmt, ...) STK_PRINTF(4, 5);

/* As stk_err_set() with a source position (1-based LINE and COL) for spec errors. */
int stk_err_set_at(struct stk_err *err, int code, const char *file, int line, int col,
                   const char *fmt, ...) STK_PRINTF(6, 7);

/*
 * Prepends "context: " to ERR's message, keeping its code; returns the code.
 * When the result would overflow, the innermost text is truncated with "…".
 */
int stk_err_wrap(struct stk_err *err, const char *fmt, ...) STK_PRINTF(2, 3);

/* Sets ERR's detail to a copy of DETAIL (may be NULL), freeing an earlier one. */
void stk_err_set_detail(struct stk_err *err, const char *detail);

/*
 * Formats ERR for a user: "file:line:col: message" when a position is set,
 * otherwise the message. Writes at most SIZE bytes into BUF; returns BUF.
 */
const char *stk_err_format(const struct stk_err *err, char *buf, size_t size);

/* Frees the detail and resets ERR to STK_ERR_INIT; NULL-safe. */
void stk_err_clear(struct stk_err *err);

/* Moves SRC into DST (DST's detail is freed first); SRC is reset. */
void stk_err_move(struct stk_err *dst, struct stk_err *src);

#endif
