/*
 * rec-up.c - `up` and `down`: converge a project, or remove it (DESIGN.md §3).
 *
 * This first reconciler runs one action at a time in depends_on order through
 * the drivers' synchronous wrappers; the DAG executor with parallel branches
 * replaces the loop in rec_up() without changing what is recorded.
 */
#include "orchestrator/rec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/rec-internal.h"
#include "orchestrator/store.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

/* ---- intents ----------------------------------------------------------------------------- */

static int intent_counter;

int rec__intent_begin(struct rec_env *env, const char *project, const char *action,
                      const char *object, int64_t *ret_seq, struct stk_err *err)
{
    const char *fault = getenv("STACK_FAULT_INTENT");

    if (store_intent_begin(env->store, project, action, object, ret_seq, err) < 0)
        return err->code;
    intent_counter++;
    /* Fault injection (crash tests): abort right after intent N is recorded. */
    if (fault && atoi(fault) == 2 * intent_counter - 1)
        abort();
    return 0;
}

int rec__intent_end(struct rec_env *env, int64_t seq, const struct stk_err *failure,
                    struct stk_err *err)
{
    const char *fault = getenv("STACK_FAULT_INTENT");

    /* ... and right after the runtime call returned, before the intent is marked done. */
    if (fault && atoi(fault) == 2 * intent_counter)
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

/* ---- helpers ------------------------------------------------------------------------------ */

static char *random_suffix(void)
{
    unsigned char b[3];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
        unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL);
        memcpy(b, &v, sizeof(b));
    }
    if (fd >= 0)
        close(fd);
    return stk_xasprintf("%02x%02x%02x", b[0], b[1], b[2]);
}

/* Orders services so that every service comes after its dependencies (Kahn). */
static size_t *service_order(const struct spec_project *p)
{
    size_t n = p->n_services;
    size_t *order = stk_xcalloc(n + 1, sizeof(size_t));
    int *placed = stk_xcalloc(n + 1, sizeof(int));
    size_t k = 0;

    while (k < n) {
        int progress = 0;
        for (size_t i = 0; i < n; i++) {
            int ready = 1;
            if (placed[i])
                continue;
            for (size_t d = 0; d < p->services[i].n_depends_on; d++) {
                const struct spec_depends *dep = &p->services[i].depends_on[d];
                for (size_t j = 0; j < n; j++)
                    if (!placed[j] && strcmp(p->services[j].name, dep->service) == 0)
                        ready = 0;
            }
            if (ready) {
                order[k++] = i;
                placed[i] = 1;
                progress = 1;
            }
        }
        if (!progress) {
            /* A cycle: the loader rejects these; keep file order for the rest. */
            for (size_t i = 0; i < n; i++)
                if (!placed[i]) {
                    order[k++] = i;
                    placed[i] = 1;
                }
        }
    }
    free(placed);
    return order;
}

char *rec__network_name(const char *project)
{
    return stk_xasprintf("%s_default", project);
}

/* "PORTS" column text for a service. */
static char *ports_text(const struct spec_service *svc)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; i < svc->n_ports; i++) {
        const struct spec_port *p = &svc->ports[i];
        if (!p->published)
            continue;
        stk_buf_printf(&b, "%s%s:%u->%u/%s", b.len ? ", " : "",
                       p->host_ip ? p->host_ip : "0.0.0.0", p->published, p->target,
                       p->protocol ? p->protocol : "tcp");
    }
    return stk_buf_detach(&b, NULL);
}

/* Merges the image config and the service into the process to run (Compose semantics). */
static void build_process(const struct spec_service *svc, const struct rt_image *img,
                          struct rt_process *proc)
{
    struct stk_strv args = STK_STRV_INIT, env = STK_STRV_INIT;
    char *const *ep = svc->has_entrypoint ? svc->entrypoint : img->entrypoint;
    /* Setting entrypoint in the service resets the image's Cmd (compose behaviour). */
    char *const *cmd = svc->has_command ? svc->command : (svc->has_entrypoint ? NULL : img->cmd);

    stk_strv_init(&args);
    for (size_t i = 0; ep && ep[i]; i++)
        stk_strv_push(&args, ep[i]);
    for (size_t i = 0; cmd && cmd[i]; i++)
        stk_strv_push(&args, cmd[i]);
    stk_strv_init(&env);
    for (size_t i = 0; img->env && img->env[i]; i++) {
        size_t klen = strcspn(img->env[i], "=");
        int overridden = 0;
        for (size_t j = 0; j < svc->n_environment; j++)
            if (strlen(svc->environment[j].key) == klen &&
                strncmp(svc->environment[j].key, img->env[i], klen) == 0)
                overridden = 1;
        if (!overridden)
            stk_strv_push(&env, img->env[i]);
    }
    for (size_t j = 0; j < svc->n_environment; j++) {
        const char *v = svc->environment[j].value;
        if (!v)
            v = getenv(svc->environment[j].key);
        if (v)
            stk_strv_pushf(&env, "%s=%s", svc->environment[j].key, v);
    }
    if (!stk_strv_contains(&env, "PATH") && !img->env)
        stk_strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    proc->args = args.v;
    proc->env = env.v;
    proc->cwd = stk_xstrdup(svc->working_dir ? svc->working_dir : img->working_dir);
    proc->user = stk_xstrdup(svc->user ? svc->user : img->user);
}

/* ---- one container slot ------------------------------------------------------------------ */

struct slot {
    const struct spec_service *svc;
    const struct rt_image *img;
    int number;
    const char *hash;
    enum rt_isolation isolation;
};

static int sync_net(struct rec_env *env, struct net_sync *s, int r, struct stk_err *err)
{
    return net_sync_wait(env->loop, s, r, err);
}

static int sync_rt(struct rec_env *env, struct rt_sync *s, int r, struct stk_err *err)
{
    return rt_sync_wait(env->loop, s, r, err);
}

/*
 * Removes one container and its sandbox: stop (grace period), delete, then the
 * sandbox (which detaches its endpoints). Each step is an intent.
 */
int rec__remove_container(struct rec_env *env, const char *project, const char *id,
                          uint64_t grace_ms, struct stk_err *err)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct net_sync ns = NET_SYNC_INIT;
    int64_t seq;
    int r;

    rec__progress(env, "Container %s  Removing", id);
    if ((r = rec__intent_begin(env, project, "container.stop", id, &seq, err)) < 0)
        return r;
    r = rt_container_stop(env->rt, id, SIGTERM, grace_ms, rt_sync_done, &s, NULL, err);
    r = sync_rt(env, &s, r, err);
    rt_sync_release(&s);
    if (r == STK_ENOENT) {
        stk_err_clear(err);
        r = 0;
    }
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0)
        return stk_err_wrap(err, "stop container '%s'", id);

    if ((r = rec__intent_begin(env, project, "container.delete", id, &seq, err)) < 0)
        return r;
    r = rt_container_delete(env->rt, id, rt_sync_done, &s, NULL, err);
    r = sync_rt(env, &s, r, err);
    rt_sync_release(&s);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0)
        return stk_err_wrap(err, "delete container '%s'", id);
    store_container_delete(env->store, id, NULL);

    if ((r = rec__intent_begin(env, project, "sandbox.remove", id, &seq, err)) < 0)
        return r;
    r = net_sandbox_remove(env->net, id, net_sync_done, &ns, NULL, err);
    r = sync_net(env, &ns, r, err);
    net_sync_release(&ns);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0)
        return stk_err_wrap(err, "remove sandbox '%s'", id);
    store_object_delete(env->store, "sandbox", id, NULL);
    rec__progress(env, "Container %s  Removed", id);
    return 0;
}

static int create_slot(struct rec_env *env, const struct spec_project *p, const struct slot *sl,
                       const char *network, struct stk_err *err)
{
    const struct spec_service *svc = sl->svc;
    struct rt_container_spec spec;
    struct net_sandbox_spec sbs;
    struct net_attachment att;
    struct net_sync ns = NET_SYNC_INIT;
    struct rt_sync s = RT_SYNC_INIT;
    struct store_container row;
    struct stk_strv aliases = STK_STRV_INIT;
    char *suffix = random_suffix();
    char *name = stk_xasprintf("%s-%s-%d", p->name, svc->name, sl->number);
    char *id = stk_xasprintf("%s-%s", name, suffix);
    char *ports = ports_text(svc);
    char numbuf[16];
    int64_t seq;
    int r;
    size_t nl = 0, nm = 0;

    memset(&spec, 0, sizeof(spec));
    memset(&sbs, 0, sizeof(sbs));
    memset(&att, 0, sizeof(att));
    memset(&row, 0, sizeof(row));
    rec__progress(env, "Container %s  Creating", name);

    /* Sandbox (the network namespace). */
    sbs.id = id;
    sbs.hostname = svc->hostname ? svc->hostname : svc->name;
    sbs.project = p->name;
    if ((r = rec__intent_begin(env, p->name, "sandbox.create", id, &seq, err)) < 0)
        goto out;
    r = net_sandbox_create(env->net, &sbs, net_sync_done, &ns, NULL, err);
    r = sync_net(env, &ns, r, err);
    if (r == 0)
        store_object_put(env->store, "sandbox", id, p->name, ns.sandbox.handle, NULL);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0) {
        stk_err_wrap(err, "create sandbox");
        goto out;
    }

    /* Endpoint on the project network, with the published ports. */
    stk_strv_init(&aliases);
    stk_strv_push(&aliases, svc->name);
    stk_strv_push(&aliases, name);
    att.network = (char *)network;
    att.sandbox = id;
    att.aliases = aliases.v;
    att.ports = stk_xcalloc(svc->n_ports + 1, sizeof(struct net_port));
    for (size_t i = 0; i < svc->n_ports; i++) {
        const struct spec_port *sp = &svc->ports[i];
        if (!sp->published)
            continue;
        att.ports[att.n_ports].host_port = sp->published;
        att.ports[att.n_ports].container_port = sp->target;
        snprintf(att.ports[att.n_ports].protocol, sizeof(att.ports[0].protocol), "%s",
                 sp->protocol ? sp->protocol : "tcp");
        snprintf(att.ports[att.n_ports].host_ip, sizeof(att.ports[0].host_ip), "%s",
                 sp->host_ip ? sp->host_ip : "");
        att.n_ports++;
    }
    {
        struct net_sync es = NET_SYNC_INIT;
        char *obj = stk_xasprintf("%s/%s", network, id);
        if ((r = rec__intent_begin(env, p->name, "endpoint.attach", obj, &seq, err)) < 0) {
            free(obj);
            goto out;
        }
        r = net_endpoint_attach(env->net, &att, net_sync_done, &es, NULL, err);
        r = sync_net(env, &es, r, err);
        if (r == 0)
            store_object_put(env->store, "endpoint", obj, p->name, es.endpoint.ipv4, NULL);
        rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
        net_sync_release(&es);
        free(obj);
        if (r < 0) {
            stk_err_wrap(err, "attach to network '%s'", network);
            goto out;
        }
    }

    /* The container. */
    spec.id = stk_xstrdup(id);
    spec.name = stk_xstrdup(name);
    spec.isolation = sl->isolation;
    spec.image_ref = stk_xstrdup(svc->image);
    spec.image_config_digest = stk_xstrdup(sl->img->config_digest);
    spec.layer_digests = stk_strv_dup(sl->img->layer_digests);
    spec.hostname = stk_xstrdup(svc->hostname ? svc->hostname : svc->name);
    build_process(svc, sl->img, &spec.process);
    spec.mounts = stk_xcalloc(svc->n_volumes + 3, sizeof(struct rt_mount));
    for (size_t i = 0; i < svc->n_volumes; i++) {
        const struct spec_volume *v = &svc->volumes[i];
        char *src = NULL;
        if (strcmp(v->type, "bind") == 0) {
            src = stk_xstrdup(v->source);
            if (v->create_host_path && !stk_path_exists(src))
                stk_mkdir_p(src, 0755, NULL);
        } else if (strcmp(v->type, "volume") == 0) {
            char *vname = v->source ? stk_xasprintf("%s_%s", p->name, v->source)
                                    : stk_xasprintf("%s_anon_%s", id, suffix);
            src = stk_xasprintf("%s/volumes/%s/_data", env->state_dir, vname);
            stk_mkdir_p(src, 0755, NULL);
            store_object_put(env->store, "volume", vname, p->name, src, NULL);
            free(vname);
        } else if (strcmp(v->type, "tmpfs") == 0) {
            src = stk_xstrdup("tmpfs");
        } else {
            r = stk_err_set(err, STK_ENOTSUP, 0, "volume type '%s' is not supported on Linux",
                            v->type);
            goto out;
        }
        spec.mounts[nm].type = stk_xstrdup(strcmp(v->type, "tmpfs") == 0 ? "tmpfs" : "bind");
        spec.mounts[nm].source = src;
        spec.mounts[nm].target = stk_xstrdup(v->target);
        spec.mounts[nm].read_only = v->read_only;
        nm++;
    }
    spec.mounts[nm].type = stk_xstrdup("bind");
    spec.mounts[nm].source = stk_xstrdup(ns.sandbox.hosts_path);
    spec.mounts[nm].target = stk_xstrdup("/etc/hosts");
    nm++;
    spec.mounts[nm].type = stk_xstrdup("bind");
    spec.mounts[nm].source = stk_xstrdup(ns.sandbox.resolv_path);
    spec.mounts[nm].target = stk_xstrdup("/etc/resolv.conf");
    nm++;
    spec.n_mounts = nm;
    spec.sandbox = stk_xstrdup(ns.sandbox.handle);
    snprintf(numbuf, sizeof(numbuf), "%d", sl->number);
    spec.labels = stk_xcalloc(6, sizeof(struct rt_kv));
    spec.labels[nl].key = stk_xstrdup(RT_LABEL_PROJECT);
    spec.labels[nl++].value = stk_xstrdup(p->name);
    spec.labels[nl].key = stk_xstrdup(RT_LABEL_SERVICE);
    spec.labels[nl++].value = stk_xstrdup(svc->name);
    spec.labels[nl].key = stk_xstrdup(RT_LABEL_NUMBER);
    spec.labels[nl++].value = stk_xstrdup(numbuf);
    spec.labels[nl].key = stk_xstrdup(RT_LABEL_HASH);
    spec.labels[nl++].value = stk_xstrdup(sl->hash);
    spec.labels[nl].key = stk_xstrdup(RT_LABEL_ISOLATION);
    spec.labels[nl++].value = stk_xstrdup(rt_isolation_to_string(sl->isolation));
    spec.n_labels = nl;
    spec.stop_signal = stk_xstrdup(svc->stop_signal);

    row.id = id;
    row.project = p->name;
    row.service = svc->name;
    row.number = sl->number;
    row.name = name;
    row.isolation = (char *)rt_isolation_to_string(sl->isolation);
    row.hash = (char *)sl->hash;
    row.state = (char *)"creating";
    row.ports = ports;
    row.sandbox = id;
    if ((r = store_container_put(env->store, &row, err)) < 0)
        goto out;
    if ((r = rec__intent_begin(env, p->name, "container.create", id, &seq, err)) < 0)
        goto out;
    r = rt_container_create(env->rt, &spec, rt_sync_done, &s, NULL, err);
    r = sync_rt(env, &s, r, err);
    rt_sync_release(&s);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0) {
        stk_err_wrap(err, "create container '%s'", name);
        goto out;
    }
    store_container_set_state(env->store, id, "created", NULL);

    if ((r = rec__intent_begin(env, p->name, "container.start", id, &seq, err)) < 0)
        goto out;
    r = rt_container_start(env->rt, id, rt_sync_done, &s, NULL, err);
    r = sync_rt(env, &s, r, err);
    rt_sync_release(&s);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r < 0) {
        stk_err_wrap(err, "start container '%s'", name);
        goto out;
    }
    store_container_set_state(env->store, id, "running", NULL);
    store_event_add(env->store, p->name, "container.start", id, svc->name, NULL);
    rec__progress(env, "Container %s  Started", name);
out:
    stk_strv_release(&aliases);
    free(att.ports);
    net_sync_release(&ns);
    rt_container_spec_release(&spec);
    free(suffix);
    free(name);
    free(id);
    free(ports);
    return r;
}

static int start_existing(struct rec_env *env, const char *project, const char *id,
                          struct stk_err *err)
{
    struct rt_sync s = RT_SYNC_INIT;
    int64_t seq;
    int r;

    if ((r = rec__intent_begin(env, project, "container.start", id, &seq, err)) < 0)
        return r;
    r = rt_container_start(env->rt, id, rt_sync_done, &s, NULL, err);
    r = sync_rt(env, &s, r, err);
    rt_sync_release(&s);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    if (r == 0)
        store_container_set_state(env->store, id, "running", NULL);
    return r;
}

/* ---- up ------------------------------------------------------------------------------------ */

static int ensure_network(struct rec_env *env, const char *project, const char *network,
                          struct stk_err *err)
{
    struct net_sync s = NET_SYNC_INIT;
    struct net_network_spec ns;
    int64_t seq;
    int r, exists = 0;

    r = net_list(env->net, net_sync_done, &s, NULL, err);
    if ((r = sync_net(env, &s, r, err)) < 0) {
        net_sync_release(&s);
        return stk_err_wrap(err, "list networks");
    }
    for (size_t i = 0; i < s.inventory.n_networks; i++)
        if (strcmp(s.inventory.networks[i].name, network) == 0)
            exists = 1;
    net_sync_release(&s);
    if (exists)
        return 0;
    memset(&ns, 0, sizeof(ns));
    ns.name = (char *)network;
    ns.project = (char *)project;
    rec__progress(env, "Network %s  Creating", network);
    if ((r = rec__intent_begin(env, project, "network.create", network, &seq, err)) < 0)
        return r;
    r = net_network_create(env->net, &ns, net_sync_done, &s, NULL, err);
    r = sync_net(env, &s, r, err);
    if (r == 0)
        store_object_put(env->store, "network", network, project, s.network.subnet, NULL);
    rec__intent_end(env, seq, r < 0 ? err : NULL, NULL);
    net_sync_release(&s);
    if (r < 0)
        return stk_err_wrap(err, "create network '%s'", network);
    rec__progress(env, "Network %s  Created", network);
    return 0;
}

int rec_up(struct rec_env *env, const struct spec_project *p, const struct rec_up_opts *opts,
           struct stk_err *err)
{
    struct rt_sync hs = RT_SYNC_INIT;
    struct rt_container_list obs = {NULL, 0};
    struct rt_image **imgs = NULL;
    enum rt_isolation *iso = NULL;
    char (*hashes)[65] = NULL;
    size_t *order = NULL;
    char *network = rec__network_name(p->name);
    char *files = NULL;
    int r;

    /* 1. The runtime must be available and provide every service's isolation. */
    r = rt_host_info(env->rt, rt_sync_done, &hs, NULL, err);
    if ((r = sync_rt(env, &hs, r, err)) < 0)
        goto out;
    if (!hs.host.available) {
        r = stk_err_set(err, STK_EUNAVAIL, 0, "runtime '%s' is not available: %s",
                        env->rt->driver->name, hs.host.reason);
        goto out;
    }
    iso = stk_xcalloc(p->n_services + 1, sizeof(*iso));
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *svc = &p->services[i];
        if (!svc->isolation || strcmp(svc->isolation, "default") == 0) {
            iso[i] = hs.host.default_isolation;
        } else {
            iso[i] = rt_isolation_from_string(svc->isolation);
            if ((int)iso[i] < 0 || !(hs.host.isolations & (1u << iso[i]))) {
                r = stk_err_set(err, STK_EUNAVAIL, 0,
                                "service '%s': isolation '%s' is not available on this %s host%s",
                                svc->name, svc->isolation, hs.host.os,
                                strcmp(svc->isolation, "hyperv") == 0 &&
                                        strcmp(hs.host.os, "linux") == 0
                                    ? " (VM isolation on Linux, a QEMU utility VM, is not "
                                      "implemented yet)"
                                    : "");
                goto out;
            }
        }
    }

    /* 2. Every image, before anything is created. */
    imgs = stk_xcalloc(p->n_services + 1, sizeof(*imgs));
    hashes = stk_xcalloc(p->n_services + 1, sizeof(*hashes));
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *svc = &p->services[i];
        if (!svc->image) {
            r = stk_err_set(err, STK_EINVAL, 0, "service '%s': no image", svc->name);
            goto out;
        }
        /* An image that names a layout directory relative to the project (./x, ../x). */
        if (strncmp(svc->image, "./", 2) == 0 || strncmp(svc->image, "../", 3) == 0) {
            char *abs = stk_xasprintf("%s/%s", p->working_dir, svc->image);
            r = rt_image_resolve(env->images, abs, NULL, &imgs[i], err);
            free(abs);
        } else {
            r = rt_image_resolve(env->images, svc->image, NULL, &imgs[i], err);
        }
        if (r < 0) {
            stk_err_wrap(err, "service '%s'", svc->name);
            goto out;
        }
        spec_service_hash(svc, hashes[i]);
    }

    /* 3. Observe, then converge in depends_on order. */
    if ((r = rec__observe(env, p->name, &obs, err)) < 0)
        goto out;
    files = stk_xstrdup(p->files && p->files[0] ? p->files[0] : "");
    store_stack_put(env->store, p->name, files, p->working_dir, "applying", NULL);
    if ((r = ensure_network(env, p->name, network, err)) < 0)
        goto out;
    order = service_order(p);
    for (size_t k = 0; k < p->n_services; k++) {
        size_t i = order[k];
        const struct spec_service *svc = &p->services[i];
        int replicas = svc->replicas > 0 ? svc->replicas : (svc->replicas == 0 ? 0 : 1);

        for (int n = 1; n <= replicas; n++) {
            struct slot sl = {svc, imgs[i], n, hashes[i], iso[i]};
            const struct rt_container_info *keep = NULL;
            char numbuf[16];

            snprintf(numbuf, sizeof(numbuf), "%d", n);
            /* Keep one container with the desired hash; remove the others of this slot. */
            for (size_t c = 0; c < obs.n; c++) {
                const struct rt_container_info *ci = &obs.items[c];
                const char *s = rt_container_info_label(ci, RT_LABEL_SERVICE);
                const char *num = rt_container_info_label(ci, RT_LABEL_NUMBER);
                const char *h = rt_container_info_label(ci, RT_LABEL_HASH);
                if (!s || !num || strcmp(s, svc->name) != 0 || strcmp(num, numbuf) != 0)
                    continue;
                if (!keep && h && strcmp(h, hashes[i]) == 0 && ci->state != RT_STATE_CREATING)
                    keep = ci;
            }
            for (size_t c = 0; c < obs.n; c++) {
                const struct rt_container_info *ci = &obs.items[c];
                const char *s = rt_container_info_label(ci, RT_LABEL_SERVICE);
                const char *num = rt_container_info_label(ci, RT_LABEL_NUMBER);
                if (ci == keep || !s || !num || strcmp(s, svc->name) != 0 ||
                    strcmp(num, numbuf) != 0)
                    continue;
                rec__progress(env, "Container %s  Recreate", ci->name ? ci->name : ci->id);
                if ((r = rec__remove_container(env, p->name, ci->id,
                                               (uint64_t)(svc->stop_grace_period_ns / 1000000),
                                               err)) < 0) {
                    stk_err_wrap(err, "service '%s'", svc->name);
                    goto out;
                }
            }
            if (keep && keep->state == RT_STATE_RUNNING)
                continue;
            if (keep) {
                r = start_existing(env, p->name, keep->id, err);
                if (r < 0) {
                    stk_err_wrap(err, "service '%s': start container '%s'", svc->name,
                                 keep->name ? keep->name : keep->id);
                    goto out;
                }
                continue;
            }
            if ((r = create_slot(env, p, &sl, network, err)) < 0) {
                stk_err_wrap(err, "service '%s'", svc->name);
                goto out;
            }
        }
        /* Scale down: numbers above the replica count, highest first. */
        for (size_t c = obs.n; c-- > 0;) {
            const struct rt_container_info *ci = &obs.items[c];
            const char *s = rt_container_info_label(ci, RT_LABEL_SERVICE);
            const char *num = rt_container_info_label(ci, RT_LABEL_NUMBER);
            if (!s || !num || strcmp(s, svc->name) != 0 || atoi(num) <= replicas)
                continue;
            if ((r = rec__remove_container(env, p->name, ci->id,
                                           (uint64_t)(svc->stop_grace_period_ns / 1000000),
                                           err)) < 0)
                goto out;
        }
    }
    if (opts && opts->remove_orphans) {
        for (size_t c = 0; c < obs.n; c++) {
            const char *s = rt_container_info_label(&obs.items[c], RT_LABEL_SERVICE);
            if (s && spec_project_service(p, s))
                continue;
            if ((r = rec__remove_container(env, p->name, obs.items[c].id, 10000, err)) < 0)
                goto out;
        }
    }
    store_stack_put(env->store, p->name, files, p->working_dir, "applied", NULL);
    r = 0;
out:
    if (r < 0 && files)
        store_stack_put(env->store, p->name, files, p->working_dir, "failed", NULL);
    rt_sync_release(&hs);
    rt_container_list_release(&obs);
    for (size_t i = 0; imgs && i < p->n_services; i++)
        rt_image_free(imgs[i]);
    free(imgs);
    free(iso);
    free(hashes);
    free(order);
    free(network);
    free(files);
    return r;
}

/* ---- down ---------------------------------------------------------------------------------- */

int rec_down(struct rec_env *env, const char *project, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    struct store_container *rows = NULL;
    struct net_sync ls = NET_SYNC_INIT;
    struct stk_strv ids = STK_STRV_INIT, sandboxes = STK_STRV_INIT, networks = STK_STRV_INIT;
    struct stk_err first = STK_ERR_INIT;
    char **recorded = NULL;
    size_t nrows = 0;
    int r;

    if ((r = rec__observe(env, project, &obs, err)) < 0)
        return r;
    stk_strv_init(&ids);
    stk_strv_init(&sandboxes);
    stk_strv_init(&networks);
    for (size_t i = 0; i < obs.n; i++)
        stk_strv_push(&ids, obs.items[i].id);
    if (store_container_list(env->store, project, &rows, &nrows, NULL) == 0) {
        for (size_t i = 0; i < nrows; i++) {
            if (!stk_strv_contains(&ids, rows[i].id))
                stk_strv_push(&ids, rows[i].id);
            store_container_release(&rows[i]);
        }
        free(rows);
    }
    for (size_t i = 0; i < ids.n; i++) {
        struct stk_err e = STK_ERR_INIT;
        if (rec__remove_container(env, project, ids.v[i], 10000, &e) < 0 && !first.code)
            stk_err_move(&first, &e);
        stk_err_clear(&e);
    }
    /* Sandboxes and networks: the plug-in's inventory and the store's records. */
    r = net_list(env->net, net_sync_done, &ls, NULL, err);
    if ((r = net_sync_wait(env->loop, &ls, r, err)) == 0) {
        for (size_t i = 0; i < ls.inventory.n_sandboxes; i++)
            if (ls.inventory.sandboxes[i].project &&
                strcmp(ls.inventory.sandboxes[i].project, project) == 0)
                stk_strv_push(&sandboxes, ls.inventory.sandboxes[i].id);
        for (size_t i = 0; i < ls.inventory.n_networks; i++)
            if (ls.inventory.networks[i].project &&
                strcmp(ls.inventory.networks[i].project, project) == 0)
                stk_strv_push(&networks, ls.inventory.networks[i].name);
    } else if (!first.code) {
        stk_err_move(&first, err);
    }
    net_sync_release(&ls);
    if (store_object_list(env->store, "sandbox", project, &recorded, NULL) == 0) {
        for (size_t i = 0; recorded[i]; i++)
            if (!stk_strv_contains(&sandboxes, recorded[i]))
                stk_strv_push(&sandboxes, recorded[i]);
        stk_strv_free(recorded);
    }
    if (store_object_list(env->store, "network", project, &recorded, NULL) == 0) {
        for (size_t i = 0; recorded[i]; i++)
            if (!stk_strv_contains(&networks, recorded[i]))
                stk_strv_push(&networks, recorded[i]);
        stk_strv_free(recorded);
    }
    for (size_t i = 0; i < sandboxes.n; i++) {
        struct net_sync s = NET_SYNC_INIT;
        struct stk_err e = STK_ERR_INIT;
        int64_t seq = 0;
        rec__intent_begin(env, project, "sandbox.remove", sandboxes.v[i], &seq, NULL);
        r = net_sandbox_remove(env->net, sandboxes.v[i], net_sync_done, &s, NULL, &e);
        r = net_sync_wait(env->loop, &s, r, &e);
        rec__intent_end(env, seq, r < 0 ? &e : NULL, NULL);
        if (r == 0)
            store_object_delete(env->store, "sandbox", sandboxes.v[i], NULL);
        else if (!first.code)
            stk_err_move(&first, &e);
        stk_err_clear(&e);
        net_sync_release(&s);
    }
    for (size_t i = 0; i < networks.n; i++) {
        struct net_sync s = NET_SYNC_INIT;
        struct stk_err e = STK_ERR_INIT;
        int64_t seq = 0;
        rec__progress(env, "Network %s  Removing", networks.v[i]);
        rec__intent_begin(env, project, "network.remove", networks.v[i], &seq, NULL);
        r = net_network_remove(env->net, networks.v[i], net_sync_done, &s, NULL, &e);
        r = net_sync_wait(env->loop, &s, r, &e);
        rec__intent_end(env, seq, r < 0 ? &e : NULL, NULL);
        if (r == 0) {
            store_object_delete(env->store, "network", networks.v[i], NULL);
            rec__progress(env, "Network %s  Removed", networks.v[i]);
        } else if (!first.code) {
            stk_err_move(&first, &e);
        }
        stk_err_clear(&e);
        net_sync_release(&s);
    }
    if (store_object_list(env->store, "endpoint", project, &recorded, NULL) == 0) {
        for (size_t i = 0; recorded[i]; i++)
            store_object_delete(env->store, "endpoint", recorded[i], NULL);
        stk_strv_free(recorded);
    }
    if (!first.code)
        store_stack_delete(env->store, project, NULL);
    rt_container_list_release(&obs);
    stk_strv_release(&ids);
    stk_strv_release(&sandboxes);
    stk_strv_release(&networks);
    if (first.code) {
        stk_err_move(err, &first);
        return err->code;
    }
    return 0;
}
