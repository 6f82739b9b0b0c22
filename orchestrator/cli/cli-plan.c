/*
 * cli-plan.c - the command line's synchronous phases around the reconciler
 * library's pure diff: prepare (the runtime's host information, each
 * service's isolation, its image resolved and pulled, the runtime's image
 * check) and observe (the runtime's listing, the store, the plug-in's
 * inventory), each running the loop until the runtime has answered; then
 * rec_plan_diff() and rec_plan_apply_start() on the same loop. Also `up`,
 * `down`, `stop`/`start` and `pull` as the CLI runs them, printing the plan.
 */
#include "orchestrator/cli/cli.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/cli/cli-internal.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/store/store.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

static int svc_index(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; name && i < p->n_services; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The service named by "service:X" in network_mode, or NULL. */
static const char *netns_owner(const struct spec_service *svc)
{
    if (svc->network_mode && strncmp(svc->network_mode, "service:", 8) == 0)
        return svc->network_mode + 8;
    return NULL;
}

/* ---- apply on the CLI's loop, Ctrl-C cancels ---------------------------------------------- */

struct apply_wait {
    int done;
    int r;
    struct stk_err err;
    struct rec_apply *apply;
};

static void apply_done(int r, const struct stk_err *err, void *userdata)
{
    struct apply_wait *w = userdata;

    w->done = 1;
    w->r = r;
    if (r < 0 && err) {
        w->err = *err;
        w->err.detail = stk_xstrdup(err->detail);
    }
}

static void apply_sigint(uv_signal_t *h, int sig)
{
    struct apply_wait *w = h->data;

    (void)sig;
    rec_apply_cancel(w->apply);
}

int cli_plan_apply(struct rec_env *env, struct rec_plan *plan, const struct rec_apply_opts *opts,
                   struct stk_err *err)
{
    struct apply_wait w;
    uv_signal_t sigint;
    int r;

    memset(&w, 0, sizeof(w));
    w.err = (struct stk_err)STK_ERR_INIT;
    uv_signal_init(env->loop, &sigint);
    sigint.data = &w;
    uv_signal_start(&sigint, apply_sigint, SIGINT);
    r = rec_plan_apply_start(env, plan, opts, apply_done, &w, &w.apply, err);
    while (r == 0 && !w.done)
        uv_run(env->loop, UV_RUN_ONCE);
    uv_signal_stop(&sigint);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_run(env->loop, UV_RUN_NOWAIT);
    if (r < 0)
        return r;
    if (w.r < 0) {
        stk_err_move(err, &w.err);
        return w.r;
    }
    return 0;
}

/*
 * When ISO is hyperv and a member of the composite runtime runs it (the vm
 * driver on Linux) but says it is unavailable: sets ERR to that driver's
 * reason (one line naming what to install) and returns its code; 0 otherwise.
 */
static int vm_unavailable(struct rec_env *env, const struct spec_service *svc,
                          enum rt_isolation iso, struct stk_err *err)
{
    struct rt_ctx *m = (int)iso >= 0 ? rec_runtimes_member(env->rt, iso) : NULL;
    struct rt_sync hs = RT_SYNC_INIT;
    int r;

    if (!m)
        return 0;
    r = rt_host_info(m, rt_sync_done, &hs, NULL, err);
    env->reads++;
    if ((r = rt_sync_wait(env->loop, &hs, r, err)) < 0) {
        stk_err_wrap(err, "service '%s': isolation '%s'", svc->name, svc->isolation);
    } else {
        r = stk_err_set(err, STK_EUNAVAIL, 0, "service '%s': isolation '%s' is not available: %s",
                        svc->name, svc->isolation,
                        hs.host.reason[0] ? hs.host.reason : "the runtime does not provide it");
    }
    rt_sync_release(&hs);
    return r;
}

/*
 * Warns once (on stderr) when a service resolves to hyperv and its driver
 * runs the VMs without hardware acceleration (runtime_version "accel=tcg").
 * Not for `plan`.
 */
static void vm_warn_tcg(struct rec_env *env, const struct spec_project *project,
                        const enum rt_isolation *iso, const struct rec_up_opts *opts)
{
    struct rt_ctx *m = rec_runtimes_member(env->rt, RT_ISOLATION_HYPERV);
    struct rt_sync hs = RT_SYNC_INIT;
    struct stk_err e = STK_ERR_INIT;
    int any = 0, r;

    if (!m || (opts && opts->dry_run))
        return;
    for (size_t i = 0; i < project->n_services; i++)
        any |= iso[i] == RT_ISOLATION_HYPERV;
    if (!any)
        return;
    r = rt_host_info(m, rt_sync_done, &hs, NULL, &e);
    env->reads++;
    if (rt_sync_wait(env->loop, &hs, r, &e) == 0 && strstr(hs.host.runtime_version, "accel=tcg"))
        fprintf(stderr,
                "warning: hyperv services run in QEMU without KVM (TCG, software emulation): "
                "expect slow start-up\n");
    stk_err_clear(&e);
    rt_sync_release(&hs);
}

/*
 * The prepare phase of `up`: the runtime's host information (read once), each
 * service's resolved isolation into a new array *RET_ISO (free()), its image
 * resolved (and pulled) into a new plan *RET_PLAN, and the runtime's image
 * check. Nothing is observed yet.
 */
static int cli__plan_prepare(struct rec_env *env, const struct spec_project *project,
                             const struct rec_up_opts *opts, struct rec_plan **ret_plan,
                             enum rt_isolation **ret_iso, struct stk_err *err)
{
    struct rec_plan *p = stk_new0(struct rec_plan);
    struct rt_sync hs = RT_SYNC_INIT;
    enum rt_isolation *iso = NULL;
    struct rt_image_platform want;
    int r;

    p->project = stk_xstrdup(project->name);
    p->spec = project;

    /* Networks and ports the plug-in would refuse, before anything is created. */
    if ((r = rec_net_validate(project, err)) < 0)
        goto out;

    /* 1. The runtime is available and provides each service's isolation. */
    r = rt_host_info(env->rt, rt_sync_done, &hs, NULL, err);
    env->reads++;
    if ((r = rt_sync_wait(env->loop, &hs, r, err)) < 0)
        goto out;
    if (!hs.host.available) {
        r = stk_err_set(err, STK_EUNAVAIL, 0, "runtime '%s' is not available: %s",
                        env->rt->driver->name, hs.host.reason);
        goto out;
    }
    snprintf(p->host_os, sizeof(p->host_os), "%s", hs.host.os);
    iso = stk_xcalloc(project->n_services + 1, sizeof(*iso));
    for (size_t i = 0; i < project->n_services; i++) {
        const struct spec_service *svc = &project->services[i];
        if (!svc->isolation || strcmp(svc->isolation, "default") == 0) {
            iso[i] = hs.host.default_isolation;
            continue;
        }
        iso[i] = rt_isolation_from_string(svc->isolation);
        if ((int)iso[i] < 0 || !(hs.host.isolations & (1u << iso[i]))) {
            r = vm_unavailable(env, svc, iso[i], err);
            if (r == 0)
                r = stk_err_set(err, STK_EUNAVAIL, 0,
                                "service '%s': isolation '%s' is not available on this %s host",
                                svc->name, svc->isolation, hs.host.os);
            goto out;
        }
    }
    vm_warn_tcg(env, project, iso, opts);
    /* Sharing a network namespace is refused when either side resolves to hyperv (§1). */
    for (size_t i = 0; i < project->n_services; i++) {
        const char *owner = netns_owner(&project->services[i]);
        int o = owner ? svc_index(project, owner) : -1;
        if (o < 0)
            continue;
        if (iso[i] == RT_ISOLATION_HYPERV || iso[o] == RT_ISOLATION_HYPERV) {
            r = stk_err_set(err, STK_EUNAVAIL, 0,
                            "service '%s': cannot share the network namespace of '%s': a "
                            "Hyper-V isolated container has its own kernel (both sides resolve "
                            "to %s and %s)",
                            project->services[i].name, owner, rt_isolation_to_string(iso[i]),
                            rt_isolation_to_string(iso[o]));
            goto out;
        }
    }

    /*
     * 2. Every image, before anything is created, for the runtime's host: its
     * os (a Linux build of stack drives a Windows host through the emulated
     * HCS in tests) and, on Windows, its build for picking an os.version
     * among the entries of an image index.
     */
    rt_image_platform_host(&want);
    want.os = hs.host.os;
    want.os_version = strcmp(hs.host.os, "windows") == 0 ? hs.host.os_build : NULL;
    p->n_images = project->n_services;
    p->images = stk_xcalloc(project->n_services + 1, sizeof(*p->images));
    p->image_owned = stk_xcalloc(project->n_services + 1, 1);
    for (size_t i = 0; i < project->n_services; i++) {
        const struct spec_service *svc = &project->services[i];
        int seen = 0;
        if (!svc->image) {
            r = stk_err_set(err, STK_EINVAL, 0, "service '%s': no image", svc->name);
            goto out;
        }
        /* Each distinct image is resolved (and its blobs verified) once per plan. */
        for (size_t j = 0; j < i && !seen; j++)
            if (strcmp(project->services[j].image, svc->image) == 0) {
                p->images[i] = p->images[j];
                seen = 1;
            }
        if (seen)
            continue;
        p->image_owned[i] = 1;
        if (strncmp(svc->image, "./", 2) == 0 || strncmp(svc->image, "../", 3) == 0) {
            char *abs = stk_xasprintf("%s/%s", project->working_dir, svc->image);
            r = rt_image_resolve(env->images, abs, &want, &p->images[i], err);
            free(abs);
        } else {
            /*
             * A reference (not a layout path) comes from its registry when the
             * store lacks it, or always with pull_policy "always"; never with
             * "never". `plan` pulls nothing: it shows the pull instead.
             */
            const char *policy = svc->pull_policy;
            int pullable = svc->image[0] != '/' && svc->image[0] != '.' &&
                           !(policy && strcmp(policy, "never") == 0);
            int always = pullable && policy && strcmp(policy, "always") == 0;
            int dry = opts && opts->dry_run;
            char *what = stk_xasprintf("image %s", svc->image);
            if (always && dry)
                rec_plan_add_change(p, "pull", what, "pull_policy: always");
            else if (always && (r = cli__image_pull(env, svc->image, &want, err)) < 0) {
                free(what);
                stk_err_wrap(err, "service '%s'", svc->name);
                goto out;
            }
            r = rt_image_resolve(env->images, svc->image, &want, &p->images[i], err);
            if (r == STK_ENOENT && pullable && dry) {
                stk_err_clear(err);
                if (!always)
                    rec_plan_add_change(p, "pull", what, "not in the image store");
                free(what);
                continue;
            }
            free(what);
            if (r == STK_ENOENT && pullable && !always) {
                /* A failed pull keeps "image 'NAME' not found" in front of its own reason. */
                char notfound[STK_ERR_MSG_MAX];
                snprintf(notfound, sizeof(notfound), "%s", err->msg);
                stk_err_clear(err);
                r = cli__image_pull(env, svc->image, &want, err);
                if (r < 0)
                    stk_err_wrap(err, "%s", notfound);
                if (r == 0)
                    r = rt_image_resolve(env->images, svc->image, &want, &p->images[i], err);
            }
        }
        if (r < 0) {
            stk_err_wrap(err, "service '%s'", svc->name);
            goto out;
        }
        /* A single-manifest image is stored whatever its platform: its os must be the host's. */
        if (p->images[i]->os && *p->images[i]->os &&
            strcasecmp(p->images[i]->os, hs.host.os) != 0) {
            r = stk_err_set(err, STK_EUNAVAIL, 0,
                            "service '%s': image '%s' is a %s image; this host runs %s containers",
                            svc->name, svc->image, p->images[i]->os, hs.host.os);
            goto out;
        }
    }

    /*
     * 2b. Each image's OS build against the host's, for the resolved isolation,
     * as the runtime answers it (the hcs driver: reference hcs-hns.md §5.3) —
     * refused here, never switched.
     */
    for (size_t i = 0; i < project->n_services; i++) {
        const struct rt_image *img = p->images[i];
        if (!img)
            continue; /* plan: to be pulled, checked by up */
        r = rt_image_check(env->rt, &hs.host, img->os_version, iso[i], project->services[i].image,
                           opts && opts->allow_newer_hyperv ? RT_IMAGE_CHECK_ALLOW_NEWER_HYPERV : 0,
                           err);
        if (r < 0) {
            stk_err_wrap(err, "service '%s'", project->services[i].name);
            if (r == STK_EIMAGE)
                r = err->code = STK_EUNAVAIL;
            goto out;
        }
    }

    *ret_plan = p;
    p = NULL;
    *ret_iso = iso;
    iso = NULL;
    r = 0;
out:
    free(iso);
    rt_sync_release(&hs);
    rec_plan_free(p);
    return r;
}

int cli_plan_build(struct rec_env *env, const struct spec_project *project,
                   const struct rec_up_opts *opts, struct rec_plan **ret_plan, struct stk_err *err)
{
    struct rec_plan *p = NULL;
    struct rec_observed obs;
    enum rt_isolation *iso = NULL;
    int r;

    memset(&obs, 0, sizeof(obs));
    if ((r = cli__plan_prepare(env, project, opts, &p, &iso, err)) < 0)
        goto out;
    if ((r = cli_observe(env, project->name, &obs, err)) < 0)
        goto out;
    if ((r = rec_plan_diff(p, iso, &obs, opts, err)) < 0)
        goto out;
    *ret_plan = p;
    p = NULL;
out:
    rec_observed_release(&obs);
    free(iso);
    rec_plan_free(p);
    return r;
}

int cli_observe(struct rec_env *env, const char *project, struct rec_observed *ret,
                struct stk_err *err)
{
    struct net_sync ns = NET_SYNC_INIT;
    struct rec_observed o;
    int r;

    memset(&o, 0, sizeof(o));
    if ((r = cli__observe(env, project, &o.containers, err)) < 0)
        goto out;
    if ((r = store_container_list(env->store, project, &o.rows, &o.n_rows, err)) < 0)
        goto out;
    env->reads++;
    r = net_list(env->net, net_sync_done, &ns, NULL, err);
    if ((r = net_sync_wait(env->loop, &ns, r, err)) < 0) {
        r = stk_err_wrap(err, "list networks");
        goto out;
    }
    o.inv = ns.inventory;
    memset(&ns.inventory, 0, sizeof(ns.inventory));
    if (store_object_list(env->store, "sandbox", project, &o.sandboxes_recorded, NULL) < 0)
        o.sandboxes_recorded = NULL;
    if (store_object_list(env->store, "network", project, &o.networks_recorded, NULL) < 0)
        o.networks_recorded = NULL;
    *ret = o;
    memset(&o, 0, sizeof(o));
out:
    net_sync_release(&ns);
    rec_observed_release(&o);
    return r;
}

int cli_plan_build_down(struct rec_env *env, const char *project, struct rec_plan **ret_plan,
                        struct stk_err *err)
{
    struct rec_observed obs;
    int r;

    memset(&obs, 0, sizeof(obs));
    r = cli_observe(env, project, &obs, err);
    if (r == 0)
        r = rec_plan_diff_down(project, &obs, ret_plan, err);
    rec_observed_release(&obs);
    return r;
}

int cli_plan_build_stop_start(struct rec_env *env, const char *project, const char *const *services,
                              int start, uint64_t grace_ms, struct rec_plan **ret_plan,
                              struct stk_err *err)
{
    struct rec_observed obs;
    int r;

    memset(&obs, 0, sizeof(obs));
    r = cli_observe(env, project, &obs, err);
    if (r == 0)
        r = rec_plan_diff_stop_start(project, &obs, services, start, grace_ms, ret_plan, err);
    rec_observed_release(&obs);
    return r;
}

void cli_plan_print(const struct rec_plan *plan, FILE *out)
{
    if (plan->n_changes == 0) {
        fprintf(out, "project '%s' is up to date: nothing to do\n", plan->project);
        return;
    }
    fprintf(out, "%-10s %-28s %s\n", "CHANGE", "WHAT", "WHY");
    for (size_t i = 0; i < plan->n_changes; i++)
        fprintf(out, "%-10s %-28s %s\n", plan->changes[i].verb, plan->changes[i].what,
                plan->changes[i].reason);
    fprintf(out, "\n%zu actions (%zu runtime or network calls) for project '%s'\n", plan->n_actions,
            rec_plan_mutations(plan), plan->project);
}

int cli_up(struct rec_env *env, const struct spec_project *p, const struct rec_up_opts *opts,
           struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = cli_plan_build(env, p, opts, &plan, err)) < 0)
        return r;
    if (opts && opts->dry_run) {
        if (opts->json) {
            json_t *j = rec_plan_to_json(plan);
            char *s = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
            json_decref(j);
        } else {
            cli_plan_print(plan, stdout);
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
        r = cli_plan_apply(env, plan, &ao, err);
        store_stack_put(env->store, p->name, files, p->working_dir, r < 0 ? "failed" : "applied",
                        NULL);
        free(files);
    }
    rec_plan_free(plan);
    return r;
}

int cli_down(struct rec_env *env, const char *project, struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = cli_plan_build_down(env, project, &plan, err)) < 0)
        return r;
    store_intents_settle(env->store, project, NULL);
    memset(&ao, 0, sizeof(ao));
    r = cli_plan_apply(env, plan, &ao, err);
    if (r == 0)
        store_stack_delete(env->store, project, NULL);
    rec_plan_free(plan);
    return r;
}

int cli_stop_start(struct rec_env *env, const char *project, const char *const *services, int start,
                   uint64_t grace_ms, struct stk_err *err)
{
    struct rec_plan *plan = NULL;
    struct rec_apply_opts ao;
    int r;

    if ((r = cli_plan_build_stop_start(env, project, services, start, grace_ms, &plan, err)) < 0)
        return r;
    /*
     * A selected container that does not run may be waiting out its restart
     * policy's backoff (a detached `internal container-exited-now`): stopped on
     * purpose now, so that the restart finds the record changed and does nothing.
     */
    for (size_t i = 0; plan->idle && plan->idle[i]; i++)
        store_container_set_state(env->store, plan->idle[i], "stopping", NULL);
    memset(&ao, 0, sizeof(ao));
    r = cli_plan_apply(env, plan, &ao, err);
    rec_plan_free(plan);
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

int cli__image_pull(struct rec_env *env, const char *ref, const struct rt_image_platform *want,
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
    cli__progress(env, "Image %s  Pulling", ref);
    r = uv_queue_work(env->loop, &j.req, pull_work, pull_after);
    if (r < 0)
        return stk_err_set(err, STK_EIO, -r, "pull '%s': queue the transfer", ref);
    while (!j.done)
        uv_run(env->loop, UV_RUN_ONCE);
    if (j.ret < 0) {
        cli__progress(env, "Image %s  Error", ref);
        stk_err_move(err, &j.err);
        return j.ret;
    }
    cli__progress(env, "Image %s  Pulled", ref);
    return 0;
}

/* Fills WANT with the runtime's host platform (cli_plan_build()'s rule); strings borrowed from HS.
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

int cli_image_pull(struct rec_env *env, const char *ref, struct stk_err *err)
{
    struct rt_sync hs = RT_SYNC_INIT;
    struct rt_image_platform want;
    int r;

    r = host_platform(env, &hs, &want, err);
    if (r == 0)
        r = cli__image_pull(env, ref, &want, err);
    rt_sync_release(&hs);
    return r;
}

int cli_pull(struct rec_env *env, const struct spec_project *project, struct stk_err *err)
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
            cli__progress(env, "Image %s  Skipped (pull_policy: never)", svc->image);
            continue;
        }
        stk_strv_push(&done, svc->image);
        if (cli__image_pull(env, svc->image, &want, &e) < 0) {
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
