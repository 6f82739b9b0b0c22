/*
 * cli-run.c - the command line's synchronous runs over the asynchronous
 * reconciler library: each starts an operation on the loop and turns the
 * loop until it is done.
 */
#include "orchestrator/cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "orchestrator/cli/cli-internal.h"
#include "runtime/rt-driver.h"

void cli__progress(struct rec_env *env, const char *fmt, ...)
{
    struct stk_buf line = STK_BUF_INIT;
    va_list ap;

    if (!env->sink.progress)
        return;
    va_start(ap, fmt);
    stk_buf_vprintf(&line, fmt, ap);
    va_end(ap);
    env->sink.progress(env->sink.userdata, line.buf);
    stk_buf_release(&line);
}

void cli_progress_print(void *userdata, const char *line)
{
    FILE *out = userdata;

    if (!out)
        return;
    fputs(line, out);
    fputc('\n', out);
    fflush(out);
}

int cli__observe(struct rec_env *env, const char *project, struct rt_container_list *ret,
                 struct stk_err *err)
{
    struct rt_sync s = RT_SYNC_INIT;
    int r;
    size_t n = 0;

    r = rt_container_list(env->rt, rt_sync_done, &s, NULL, err);
    r = rt_sync_wait(env->loop, &s, r, err);
    if (r < 0) {
        rt_sync_release(&s);
        return stk_err_wrap(err, "list containers");
    }
    ret->items = stk_xcalloc(s.list.n + 1, sizeof(struct rt_container_info));
    for (size_t i = 0; i < s.list.n; i++) {
        const char *p = rt_container_info_label(&s.list.items[i], RT_LABEL_PROJECT);
        if (!p || strcmp(p, project) != 0)
            continue;
        ret->items[n] = s.list.items[i];
        memset(&s.list.items[i], 0, sizeof(s.list.items[i]));
        n++;
    }
    ret->n = n;
    rt_sync_release(&s);
    return 0;
}
