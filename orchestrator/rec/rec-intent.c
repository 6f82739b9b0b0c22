/*
 * rec-intent.c - the intents written around every runtime call, with the
 * fault-injection boundaries of the crash tests; the progress sink; and the
 * removal of a project's volumes (`down -v`). `up` and `down` themselves are
 * the planner's diff (rec-plan.c) run by the executor (rec-exec.c).
 */
#include "orchestrator/rec/rec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/rec/rec-internal.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/store/store.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

/* ---- intents ----------------------------------------------------------------------------- */

int rec_intent_begin(struct rec_env *env, const char *project, const char *action,
                     const char *object, int64_t *ret_seq, struct stk_err *err)
{
    const char *fault = getenv("STACK_FAULT_INTENT");

    if (store_intent_begin(env->store, project, action, object, ret_seq, err) < 0)
        return err->code;
    if (env->intents++ == 0)
        env->first_intent = *ret_seq;
    /* Fault injection (crash tests): abort at boundary N = 2k-1, right after intent k is
     * recorded and before the runtime call is sent... */
    if (fault && atoi(fault) == 2 * (int)env->intents - 1)
        abort();
    return 0;
}

int rec_intent_end(struct rec_env *env, int64_t seq, const struct stk_err *failure,
                   struct stk_err *err)
{
    const char *fault = getenv("STACK_FAULT_INTENT");

    /* ... or N = 2k, after the call returned and before the intent is marked done. */
    if (fault && atoi(fault) == 2 * (int)(seq - env->first_intent + 1))
        abort();
    return store_intent_end(env->store, seq, failure && failure->code ? failure->msg : NULL, err);
}

void rec__progress(struct rec_env *env, const char *fmt, ...)
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

/* ---- up and down -------------------------------------------------------------------------- */

int rec_volumes_remove(struct rec_env *env, const char *project, struct stk_err *err)
{
    char **vols = NULL;
    int r = 0;

    if (store_object_list(env->store, "volume", project, &vols, err) < 0)
        return err->code;
    for (size_t i = 0; vols[i]; i++) {
        char *dir = stk_xasprintf("%s/volumes/%s", env->state_dir, vols[i]);
        struct stk_err e = STK_ERR_INIT;
        if (stk_rm_rf(dir, &e) < 0) {
            if (r == 0) {
                stk_err_move(err, &e);
                r = err->code;
            }
        } else {
            store_object_delete(env->store, "volume", vols[i], NULL);
            rec__progress(env, "Volume %s  Removed", vols[i]);
        }
        stk_err_clear(&e);
        free(dir);
    }
    stk_strv_free(vols);
    return r;
}
