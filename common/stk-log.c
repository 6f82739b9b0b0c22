#include "stk-log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "stk-err.h"

static int log_level = -1;

static const char *const level_names[_STK_LOG_MAX] = {"error", "warning", "info", "debug"};

enum stk_log_level stk_log_get_level(void)
{
    if (log_level < 0) {
        const char *e = getenv("STACK_DEBUG");
        log_level = (e && *e && *e != '0') ? STK_LOG_DEBUG : STK_LOG_INFO;
    }
    return (enum stk_log_level)log_level;
}

void stk_log_set_level(enum stk_log_level level)
{
    log_level = level;
}

void stk_log(enum stk_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > stk_log_get_level())
        return;
    fprintf(stderr, "stack: %s: ", level_names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void stk_log_err(const struct stk_err *err, const char *context)
{
    char buf[STK_ERR_MSG_MAX + 300];

    stk_err_format(err, buf, sizeof(buf));
    if (context && *context)
        stk_log(STK_LOG_ERROR, "%s: %s", context, buf);
    else
        stk_log(STK_LOG_ERROR, "%s", buf);
}
