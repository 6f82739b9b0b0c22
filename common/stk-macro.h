/*
 * stk-macro.h - small language helpers shared by every module.
 *
 * Cleanup attributes in the style of systemd's macro-fundamental.h (STYLE.md
 * rule 18), printf format checking, and the defensive-check macros of rule 14.
 * GNU C (gnu11) only: GCC and Clang, including MinGW-w64.
 */
#ifndef STK_MACRO_H
#define STK_MACRO_H

#include <stdlib.h>
#include <unistd.h>

#ifdef _WIN32
#define STK_API __declspec(dllexport)
#define STK_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#else
#define STK_API __attribute__((visibility("default")))
#define STK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#endif

#define STK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STK_UNUSED __attribute__((unused))
#define STK_NORETURN __attribute__((noreturn))

/* Moves a pointer out of a cleanup variable: *ret = TAKE_PTR(p). */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        typeof(p) _tp_ = (p);                                                                      \
        (p) = NULL;                                                                                \
        _tp_;                                                                                      \
    })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
    static inline void func##p(type *p)                                                            \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

static inline void stk__freep(void *p)
{
    free(*(void **)p);
}

static inline void stk__closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(stk__freep)
#define _cleanup_close_ _cleanup_(stk__closep)

STK_NORETURN void stk__bug(const char *file, int line, const char *msg);

/* A broken invariant: abort with the location (git BUG(), redis serverAssert). */
#define STK_BUG(msg) stk__bug(__FILE__, __LINE__, (msg))

/*
 * Defensive checks that must not crash a release build (sqlite ALWAYS/NEVER):
 * they evaluate to the condition, and abort in debug builds when it is wrong.
 */
#ifdef NDEBUG
#define STK_ALWAYS(x) (x)
#define STK_NEVER(x) (x)
#else
#define STK_ALWAYS(x) ((x) ? 1 : (STK_BUG("STK_ALWAYS(" #x ") failed"), 0))
#define STK_NEVER(x) ((x) ? (STK_BUG("STK_NEVER(" #x ") failed"), 1) : 0)
#endif

#endif
