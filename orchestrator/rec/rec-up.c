/*
 * rec-up.c - `up` and `down` (DESIGN.md §3): each builds a plan (rec-plan.c)
 * from the observed state and runs it (rec-exec.c). Also the intents written
 * around every runtime call, with the fault-injection boundaries of the crash
 * tests, and the observation of a project's containers.
 */
#include "orchestrator/rec/rec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
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
    va_list ap;

    if (!env->progress)
        return;
    va_start(ap, fmt);
    vfprintf(env->progress, fmt, ap);
    va_end(ap);
    fputc('\n', env->progress);
    fflush(env->progress);
}

/* ---- observation ------------------------------------------------------------------------- */

int rec__observe(struct rec_env *env, const char *project, struct rt_container_list *ret,
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

/* ---- up and down -------------------------------------------------------------------------- */

int rec_up(struct rec_env *env, const struct spec_project *p, const struct rec_up_opts *opts,
           struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = rec_plan_build(env, p, opts, &plan, err)) < 0)
        return r;
    if (opts && opts->dry_run) {
        if (opts->json) {
            json_t *j = rec_plan_to_json(plan);
            char *s = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
            json_decref(j);
        } else {
            rec_plan_print(plan, stdout);
        }
        rec_plan_free(plan);
        return 0;
    }
    /* Nothing to do: no runtime call, and no write to the store either. */
    if (plan->n_actions == 0) {
        rec_plan_free(plan);
        return 0;
    }
    /* This pass has observed what an interrupted one left; its plan repairs it. */
    store_intents_settle(env->store, p->name, NULL);
    {
        char *files = stk_xstrdup(p->files && p->files[0] ? p->files[0] : "");
        store_stack_put(env->store, p->name, files, p->working_dir, "applying", NULL);
        memset(&ao, 0, sizeof(ao));
        ao.parallel = opts ? opts->parallel : 0;
        ao.timeout_ms = opts ? opts->timeout_ms : 0;
        r = rec_plan_apply(env, plan, &ao, err);
        store_stack_put(env->store, p->name, files, p->working_dir, r < 0 ? "failed" : "applied",
                        NULL);
        free(files);
    }
    rec_plan_free(plan);
    return r;
}

int rec_down(struct rec_env *env, const char *project, struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = rec_plan_build_down(env, project, &plan, err)) < 0)
        return r;
    store_intents_settle(env->store, project, NULL);
    memset(&ao, 0, sizeof(ao));
    r = rec_plan_apply(env, plan, &ao, err);
    if (r == 0)
        store_stack_delete(env->store, project, NULL);
    rec_plan_free(plan);
    return r;
}

int rec_stop_start(struct rec_env *env, const char *project, const char *const *services, int start,
                   uint64_t grace_ms, struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = rec_plan_build_stop_start(env, project, services, start, grace_ms, &plan, err)) < 0)
        return r;
    /*
     * A selected container that does not run may be waiting out its restart
     * policy's backoff (a detached `internal container-exited-now`): stopped on
     * purpose now, so that the restart finds the record changed and does nothing.
     */
    for (size_t i = 0; plan->idle && plan->idle[i]; i++)
        store_container_set_state(env->store, plan->idle[i], "stopping", NULL);
    memset(&ao, 0, sizeof(ao));
    r = rec_plan_apply(env, plan, &ao, err);
    rec_plan_free(plan);
    return r;
}

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

/* ---- pull ---------------------------------------------------------------------------------- */

struct pull_job {
    uv_work_t req;
    struct rt_image_store *images;
    const char *ref;
    const struct rt_image_platform *want;
    struct stk_err err;
    int ret;
    int done;
};

static void pull_work(uv_work_t *req)
{
    struct pull_job *j = req->data;

    j->ret = rt_image_pull(j->images, j->ref, j->want, NULL, NULL, &j->err);
}

static void pull_after(uv_work_t *req, int status)
{
    struct pull_job *j = req->data;

    if (status < 0 && j->ret == 0)
        j->ret = stk_err_set(&j->err, STK_ECANCELED, 0, "pull '%s': cancelled", j->ref);
    j->done = 1;
}

int rec__image_pull(struct rec_env *env, const char *ref, const struct rt_image_platform *want,
                    struct stk_err *err)
{
    struct pull_job j;
    int r;

    memset(&j, 0, sizeof(j));
    j.req.data = &j;
    j.images = env->images;
    j.ref = ref;
    j.want = want;
    j.err = (struct stk_err)STK_ERR_INIT;
    rec__progress(env, "Image %s  Pulling", ref);
    r = uv_queue_work(env->loop, &j.req, pull_work, pull_after);
    if (r < 0)
        return stk_err_set(err, STK_EIO, -r, "pull '%s': queue the transfer", ref);
    while (!j.done)
        uv_run(env->loop, UV_RUN_ONCE);
    if (j.ret < 0) {
        rec__progress(env, "Image %s  Error", ref);
        stk_err_move(err, &j.err);
        return j.ret;
    }
    rec__progress(env, "Image %s  Pulled", ref);
    return 0;
}

/* Fills WANT with the runtime's host platform (rec_plan_build()'s rule); strings borrowed from HS.
 */
static int host_platform(struct rec_env *env, struct rt_sync *hs, struct rt_image_platform *want,
                         struct stk_err *err)
{
    int r;

    rt_image_platform_host(want);
    if (!env->rt)
        return 0;
    r = rt_host_info(env->rt, rt_sync_done, hs, NULL, err);
    env->reads++;
    if ((r = rt_sync_wait(env->loop, hs, r, err)) < 0)
        return r;
    if (!hs->host.available)
        return stk_err_set(err, STK_EUNAVAIL, 0, "runtime '%s' is not available: %s",
                           env->rt->driver->name, hs->host.reason);
    want->os = hs->host.os;
    want->os_version = strcmp(hs->host.os, "windows") == 0 ? hs->host.os_build : NULL;
    return 0;
}

int rec_image_pull(struct rec_env *env, const char *ref, struct stk_err *err)
{
    struct rt_sync hs = RT_SYNC_INIT;
    struct rt_image_platform want;
    int r;

    r = host_platform(env, &hs, &want, err);
    if (r == 0)
        r = rec__image_pull(env, ref, &want, err);
    rt_sync_release(&hs);
    return r;
}

int rec_pull(struct rec_env *env, const struct spec_project *project, struct stk_err *err)
{
    struct rt_sync hs = RT_SYNC_INIT;
    struct rt_image_platform want;
    struct stk_strv done = STK_STRV_INIT;
    int r, first = 0;

    r = host_platform(env, &hs, &want, err);
    if (r < 0)
        goto out;
    stk_strv_init(&done);
    for (size_t i = 0; i < project->n_services; i++) {
        const struct spec_service *svc = &project->services[i];
        struct stk_err e = STK_ERR_INIT;
        if (!svc->image || svc->image[0] == '/' || svc->image[0] == '.' ||
            stk_strv_contains(&done, svc->image))
            continue;
        if (svc->pull_policy && strcmp(svc->pull_policy, "never") == 0) {
            rec__progress(env, "Image %s  Skipped (pull_policy: never)", svc->image);
            continue;
        }
        stk_strv_push(&done, svc->image);
        if (rec__image_pull(env, svc->image, &want, &e) < 0) {
            stk_err_wrap(&e, "service '%s'", svc->name);
            if (!first) {
                first = e.code;
                stk_err_move(err, &e);
            }
        }
        stk_err_clear(&e);
    }
    r = first;
out:
    stk_strv_release(&done);
    rt_sync_release(&hs);
    return r;
}
