/*
 * stk-log.h - logging for the top level only (STYLE.md rule 13): the CLI and
 * the daemon log; library layers return errors and log at debug level at most.
 * Lines go to stderr as "stack: LEVEL: message" (no prefix for errors on a TTY
 * is needed: the level word is always present for grep).
 */
#ifndef STK_LOG_H
#define STK_LOG_H

#include "stk-macro.h"

struct stk_err;

enum stk_log_level {
    STK_LOG_ERROR,
    STK_LOG_WARN,
    STK_LOG_INFO,
    STK_LOG_DEBUG,
    _STK_LOG_MAX,
};

/* Sets the most verbose level printed (default STK_LOG_INFO; STACK_DEBUG=1 selects debug). */
void stk_log_set_level(enum stk_log_level level);
/* Returns the current level. */
enum stk_log_level stk_log_get_level(void);
/* Prints one line at LEVEL when it is enabled. */
void stk_log(enum stk_log_level level, const char *fmt, ...) STK_PRINTF(2, 3);
/*
 * Logs ERR once at error level as "CONTEXT: file:line:col: message" (the
 * position only when set); CONTEXT may be NULL.
 */
void stk_log_err(const struct stk_err *err, const char *context);

#define stk_log_error(...) stk_log(STK_LOG_ERROR, __VA_ARGS__)
#define stk_log_warn(...) stk_log(STK_LOG_WARN, __VA_ARGS__)
#define stk_log_info(...) stk_log(STK_LOG_INFO, __VA_ARGS__)
#define stk_log_debug(...) stk_log(STK_LOG_DEBUG, __VA_ARGS__)

#endif
