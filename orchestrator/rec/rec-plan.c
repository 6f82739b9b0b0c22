/*
 * rec-plan.c - building the plan (desired vs observed → DAG of actions), and
 * showing it. See rec-plan.h.
 */
#include "orchestrator/rec/rec-plan.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "orchestrator/rec/rec-internal.h"
#include "orchestrator/store/store.h"
#include "runtime/image/rt-image.h"
#include "specs/spec.h"

static const char *const action_names[] = {
#define REC__ACT_NAME(n, s) s,
    REC_ACTION_MAP(REC__ACT_NAME)
#undef REC__ACT_NAME
};

const char *rec_action_kind_to_string(enum rec_action_kind k)
{
    return (int)k >= 0 && k < _REC_A_MAX ? action_names[k] : "?";
}

/* ---- building blocks ------------------------------------------------------------------------ */

struct rec_plan *rec_plan_new(const struct spec_project *project)
{
    struct rec_plan *p = stk_new0(struct rec_plan);

    p->project = stk_xstrdup(project ? project->name : "");
    p->spec = project;
    return p;
}

static size_t plan_add(struct rec_plan *p, enum rec_action_kind kind, int svc, int number, int slot,
                       const char *object)
{
    struct rec_action *a;

    if (p->n_actions == p->alloc_actions) {
        p->alloc_actions = p->alloc_actions ? p->alloc_actions * 2 : 32;
        p->actions = stk_xrealloc(p->actions, p->alloc_actions * sizeof(*p->actions));
    }
    a = &p->actions[p->n_actions];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->svc = svc;
    a->number = number;
    a->slot = slot;
    a->object = stk_xstrdup(object);
    a->service = svc >= 0 && p->spec ? stk_xstrdup(p->spec->services[svc].name) : NULL;
    return p->n_actions++;
}

static void plan_dep(struct rec_plan *p, size_t a, size_t on)
{
    struct rec_action *x = &p->actions[a];

    for (size_t i = 0; i < x->n_deps; i++)
        if (x->deps[i] == on)
            return;
    if (x->n_deps == x->alloc_deps) {
        x->alloc_deps = x->alloc_deps ? x->alloc_deps * 2 : 4;
        x->deps = stk_xrealloc(x->deps, x->alloc_deps * sizeof(size_t));
    }
    x->deps[x->n_deps++] = on;
}

void rec_plan_add_change(struct rec_plan *p, const char *verb, const char *what, const char *reason)
{
    struct rec_change *c;

    if (p->n_changes == p->alloc_changes) {
        p->alloc_changes = p->alloc_changes ? p->alloc_changes * 2 : 16;
        p->changes = stk_xrealloc(p->changes, p->alloc_changes * sizeof(*p->changes));
    }
    c = &p->changes[p->n_changes++];
    c->verb = stk_xstrdup(verb);
    c->what = stk_xstrdup(what);
    c->reason = stk_xstrdup(reason);
}

static size_t plan_slot(struct rec_plan *p)
{
    if (p->n_slots == p->alloc_slots) {
        p->alloc_slots = p->alloc_slots ? p->alloc_slots * 2 : 16;
        p->slots = stk_xrealloc(p->slots, p->alloc_slots * sizeof(*p->slots));
    }
    memset(&p->slots[p->n_slots], 0, sizeof(p->slots[0]));
    p->slots[p->n_slots].owner_slot = -1;
    p->slots[p->n_slots].sandbox_from = SIZE_MAX;
    return p->n_slots++;
}

/*
 * A short random suffix that makes a runtime id unique per creation
 * (DESIGN.md §3). Uniqueness, not secrecy, is what matters: a xorshift64*
 * generator seeded once per process from the clock's nanoseconds and the pid
 * (no file is read: the diff does no I/O), instead of /dev/urandom per
 * container.
 */
static char *random_suffix(void)
{
    static uint64_t state;
    uint64_t x;

    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000007ull ^
                (uint64_t)ts.tv_nsec ^ (uint64_t)clock();
        if (!state)
            state = 0x9E3779B97F4A7C15ull;
    }
    x = state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state = x;
    x *= 0x2545F4914F6CDD1Dull;
    return stk_xasprintf("%06llx", (unsigned long long)(x >> 40));
}

/* Name → index of the project's services, for lookups in O(1) (jansson's hash table). */
static json_t *service_map(const struct spec_project *p)
{
    json_t *m = json_object();

    for (size_t i = 0; i < p->n_services; i++)
        json_object_set_new(m, p->services[i].name, json_integer((json_int_t)i));
    return m;
}

static int map_index(const json_t *map, const char *name)
{
    json_t *v = name ? json_object_get(map, name) : NULL;

    return v ? (int)json_integer_value(v) : -1;
}

/*
 * Orders services so that each comes after what it depends on: a depth-first
 * post-order over depends_on, in file order (cycles, which the loader rejects,
 * keep file order).
 */
static size_t *service_order(const struct spec_project *p, const json_t *map)
{
    size_t n = p->n_services, k = 0;
    size_t *order = stk_xcalloc(n + 1, sizeof(size_t));
    char *state = stk_xcalloc(n + 1, 1); /* 0 new, 1 on the stack, 2 placed */
    size_t *stack = stk_xcalloc(n + 1, sizeof(size_t));
    size_t *next = stk_xcalloc(n + 1, sizeof(size_t));

    for (size_t root = 0; root < n; root++) {
        size_t top = 0;
        if (state[root])
            continue;
        stack[top++] = root;
        state[root] = 1;
        next[root] = 0;
        while (top) {
            size_t i = stack[top - 1];
            const struct spec_service *svc = &p->services[i];
            if (next[i] < svc->n_depends_on) {
                int d = map_index(map, svc->depends_on[next[i]++].service);
                if (d >= 0 && state[d] == 0) {
                    state[d] = 1;
                    next[d] = 0;
                    stack[top++] = (size_t)d;
                }
                continue;
            }
            state[i] = 2;
            order[k++] = i;
            top--;
        }
    }
    free(state);
    free(stack);
    free(next);
    return order;
}

/* The service named by "service:X" in network_mode, or NULL. */
static const char *netns_owner(const struct spec_service *svc)
{
    if (svc->network_mode && strncmp(svc->network_mode, "service:", 8) == 0)
        return svc->network_mode + 8;
    return NULL;
}

char *rec__ports_text(const struct net_port *ports, size_t n)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; i < n; i++)
        if (ports[i].host_port)
            stk_buf_printf(&b, "%s%s:%u->%u/%s", b.len ? ", " : "",
                           *ports[i].host_ip ? ports[i].host_ip : "0.0.0.0", ports[i].host_port,
                           ports[i].container_port, ports[i].protocol);
    return stk_buf_detach(&b, NULL);
}

/* The ps text of SVC's fixed published ports; ephemeral ones are added once bound. */
static char *ports_text(const struct spec_service *svc)
{
    struct net_port *v = stk_xcalloc(svc->n_ports + 1, sizeof(*v));
    char *text;

    for (size_t i = 0; i < svc->n_ports; i++) {
        const struct spec_port *sp = &svc->ports[i];
        v[i].host_port = sp->published;
        v[i].container_port = sp->target;
        snprintf(v[i].protocol, sizeof(v[i].protocol), "%s", sp->protocol ? sp->protocol : "tcp");
        snprintf(v[i].host_ip, sizeof(v[i].host_ip), "%s", sp->host_ip ? sp->host_ip : "");
    }
    text = rec__ports_text(v, svc->n_ports);
    free(v);
    return text;
}

/*
 * Why two canonical service JSONs differ: the changed keys, one level into
 * objects ("environment.FOO"), at most a few. Returns a new string.
 */
static char *diff_reason(const char *old_json, const char *new_json)
{
    json_t *a = old_json ? json_loads(old_json, 0, NULL) : NULL;
    json_t *b = new_json ? json_loads(new_json, 0, NULL) : NULL;
    struct stk_strv keys = STK_STRV_INIT;
    struct stk_buf out = STK_BUF_INIT;
    const char *k;
    json_t *v;

    if (!a || !b) {
        json_decref(a);
        json_decref(b);
        return stk_xstrdup("config hash changed");
    }
    stk_strv_init(&keys);
    json_object_foreach(b, k, v)
    {
        json_t *ov = json_object_get(a, k);
        if (ov && json_equal(ov, v))
            continue;
        if (ov && json_is_object(ov) && json_is_object(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                json_t *o2 = json_object_get(ov, k2);
                if (!o2 || !json_equal(o2, v2))
                    stk_strv_pushf(&keys, "%s.%s", k, k2);
            }
            json_object_foreach(ov, k2, v2)
            {
                if (!json_object_get(v, k2))
                    stk_strv_pushf(&keys, "%s.%s", k, k2);
            }
        } else if (!ov && json_is_object(v) && json_object_size(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) stk_strv_pushf(&keys, "%s.%s", k, k2);
        } else {
            stk_strv_push(&keys, k);
        }
    }
    json_object_foreach(a, k, v)
    {
        if (json_object_get(b, k))
            continue;
        if (json_is_object(v) && json_object_size(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) stk_strv_pushf(&keys, "%s.%s", k, k2);
        } else {
            stk_strv_push(&keys, k);
        }
    }
    stk_strv_sort(&keys);
    stk_buf_puts(&out, "config hash changed");
    for (size_t i = 0; i < keys.n && i < 4; i++)
        stk_buf_printf(&out, "%s%s", i ? ", " : " (", keys.v[i]);
    if (keys.n > 4)
        stk_buf_printf(&out, ", +%zu more", keys.n - 4);
    if (keys.n)
        stk_buf_putc(&out, ')');
    stk_strv_release(&keys);
    json_decref(a);
    json_decref(b);
    return stk_buf_detach(&out, NULL);
}

/*
 * Everything the diff knows about the world: the observed state (borrowed
 * from a struct rec_observed, shallow copies of its arrays) and the indexes
 * and marks of one diff.
 */
struct world {
    struct rt_container_list obs; /* the project's containers, from the runtime (borrowed) */
    struct store_container *rows; /* the store's records of them (borrowed) */
    size_t n_rows;
    struct net_inventory inv; /* the plug-in's networks, sandboxes, endpoints (borrowed) */
    json_t *handled;          /* {container id: true}: what the plan already covers */
    json_t *row_index;        /* {container id: index in ROWS} */
    json_t *by_service;       /* {service label: [indices in OBS, in listing order]} */
    size_t *sandbox_remove;   /* per inventory sandbox: SANDBOX_REMOVE action + 1, 0 */
};

static void world_release(struct world *w)
{
    json_decref(w->handled);
    json_decref(w->row_index);
    json_decref(w->by_service);
    free(w->sandbox_remove);
    memset(w, 0, sizeof(*w));
}

void rec_observed_release(struct rec_observed *o)
{
    if (!o)
        return;
    rt_container_list_release(&o->containers);
    for (size_t i = 0; i < o->n_rows; i++)
        store_container_release(&o->rows[i]);
    free(o->rows);
    net_inventory_release(&o->inv);
    stk_strv_free(o->sandboxes_recorded);
    stk_strv_free(o->networks_recorded);
    memset(o, 0, sizeof(*o));
}

/* Indexes O into W (pure; W borrows O's arrays). */
static void world_index(struct world *w, const struct rec_observed *o)
{
    memset(w, 0, sizeof(*w));
    w->obs = o->containers;
    w->rows = o->rows;
    w->n_rows = o->n_rows;
    w->inv = o->inv;
    w->sandbox_remove = stk_xcalloc(w->inv.n_sandboxes + 1, sizeof(size_t));
    /* Hash indexes, so that a pass over an already-up stack stays linear in its size. */
    w->handled = json_object();
    w->row_index = json_object();
    for (size_t i = 0; i < w->n_rows; i++)
        json_object_set_new(w->row_index, w->rows[i].id, json_integer((json_int_t)i));
    w->by_service = json_object();
    for (size_t c = 0; c < w->obs.n; c++) {
        const char *svc = rt_container_info_label(&w->obs.items[c], RT_LABEL_SERVICE);
        json_t *a = json_object_get(w->by_service, svc ? svc : "");

        if (!a) {
            a = json_array();
            json_object_set_new(w->by_service, svc ? svc : "", a);
        }
        json_array_append_new(a, json_integer((json_int_t)c));
    }
}

static int world_handled(const struct world *w, const char *id)
{
    return json_object_get(w->handled, id) != NULL;
}

static void world_mark_handled(struct world *w, const char *id)
{
    json_object_set_new(w->handled, id, json_true());
}

/* The store's row of container ID, or NULL. */
static const struct store_container *row_of(const struct world *w, const char *id)
{
    json_t *v = json_object_get(w->row_index, id);

    return v ? &w->rows[json_integer_value(v)] : NULL;
}

/* The observed containers labelled with service NAME: indices into W->obs (may be NULL). */
static const json_t *world_service(const struct world *w, const char *name)
{
    return json_object_get(w->by_service, name);
}

/* The sandbox an observed container runs in: the store's record, else its own id. */
static const char *container_sandbox(const struct world *w, const struct rt_container_info *ci)
{
    const struct store_container *row = row_of(w, ci->id);

    return row && row->sandbox ? row->sandbox : ci->id;
}

static int sandbox_in_inventory(const struct world *w, const char *id)
{
    for (size_t i = 0; i < w->inv.n_sandboxes; i++)
        if (strcmp(w->inv.sandboxes[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* The SANDBOX_REMOVE action for sandbox SB (made on first use). */
static size_t plan_sandbox_remove(struct rec_plan *p, struct world *w, const char *sb)
{
    int k = sandbox_in_inventory(w, sb);

    if (k >= 0 && w->sandbox_remove[k])
        return w->sandbox_remove[k] - 1;
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].kind == REC_A_SANDBOX_REMOVE && strcmp(p->actions[i].object, sb) == 0)
            return i;
    size_t a = plan_add(p, REC_A_SANDBOX_REMOVE, -1, 0, -1, sb);
    if (k >= 0)
        w->sandbox_remove[k] = a + 1;
    return a;
}

/*
 * Plans the removal of observed container CI: stop, remove, then its sandbox
 * (after every container in it). Returns the CONTAINER_REMOVE action.
 */
static size_t plan_remove(struct rec_plan *p, struct world *w, const struct rt_container_info *ci,
                          int svc, uint64_t grace_ms, size_t *ret_sandbox_remove)
{
    const char *sb = container_sandbox(w, ci);
    size_t stop, rm, sbr;

    world_mark_handled(w, ci->id);
    stop = plan_add(p, REC_A_CONTAINER_STOP, svc, 0, -1, ci->id);
    p->actions[stop].grace_ms = grace_ms;
    rm = plan_add(p, REC_A_CONTAINER_REMOVE, svc, 0, -1, ci->id);
    p->actions[rm].in_sandbox = stk_xstrdup(sb);
    plan_dep(p, rm, stop);
    if (strcmp(sb, ci->id) != 0) {
        /*
         * A joiner (network_mode: service:X) runs in its owner's sandbox: removing
         * it never removes that sandbox; plan_sandbox_order() makes the owner's
         * removal, if any, wait for it.
         */
        if (ret_sandbox_remove)
            *ret_sandbox_remove = rm;
        return rm;
    }
    sbr = plan_sandbox_remove(p, w, sb);
    plan_dep(p, sbr, rm);
    if (ret_sandbox_remove)
        *ret_sandbox_remove = sbr;
    return rm;
}

/* Every sandbox removal waits for the removal of every container in that sandbox. */
static void plan_sandbox_order(struct rec_plan *p)
{
    for (size_t a = 0; a < p->n_actions; a++) {
        if (p->actions[a].kind != REC_A_SANDBOX_REMOVE)
            continue;
        for (size_t b = 0; b < p->n_actions; b++)
            if (p->actions[b].kind == REC_A_CONTAINER_REMOVE && p->actions[b].in_sandbox &&
                strcmp(p->actions[b].in_sandbox, p->actions[a].object) == 0)
                plan_dep(p, a, b);
    }
}

static const char *label(const struct rt_container_info *ci, const char *k)
{
    const char *v = rt_container_info_label(ci, k);

    return v ? v : "";
}

/* ---- up ----------------------------------------------------------------------------------------
 */

/* Per service while planning. */
struct svc_plan {
    size_t *ready; /* per replica: the action after which the slot is started, or SIZE_MAX */
    int n;
    char **ids;       /* per replica: the container id (kept or new), borrowed */
    int *slots;       /* per replica: plan slot, -1 when kept */
    size_t *sandbox;  /* per replica: the action that makes the sandbox usable, or SIZE_MAX */
    int replaced;     /* a container of this service is created or recreated in this plan */
    size_t healthy;   /* WAIT_HEALTHY gate (one per service), SIZE_MAX until made */
    size_t completed; /* WAIT_EXIT gate, SIZE_MAX until made */
    char hash[65];    /* spec hash */
    char *json;       /* the canonical JSON the hash was taken of */
};

struct hash_job {
    const struct spec_project *project;
    struct svc_plan *sp;
    const char *need; /* per service: non-zero when its hash is needed now; NULL: all */
    size_t first;     /* this worker hashes services first, first + 2, ... */
};

static void hash_some(void *arg)
{
    struct hash_job *job = arg;

    for (size_t i = job->first; i < job->project->n_services; i += 2)
        if (!job->need || job->need[i])
            spec_service_hash_json(&job->project->services[i], job->sp[i].hash, &job->sp[i].json);
}

/*
 * The spec hash and canonical JSON of every service, computed on two threads
 * for large stacks: the model is only read, and each thread writes its own
 * entries (jansson objects are not shared between them).
 */
static void hash_services(const struct spec_project *project, struct svc_plan *sp, const char *need)
{
    struct hash_job even = {project, sp, need, 0}, odd = {project, sp, need, 1};
    uv_thread_t t;

    if (project->n_services < 64 || uv_thread_create(&t, hash_some, &odd) != 0) {
        even.first = 0;
        for (size_t i = 0; i < project->n_services; i++)
            if (!need || need[i])
                spec_service_hash_json(&project->services[i], sp[i].hash, &sp[i].json);
        return;
    }
    hash_some(&even);
    uv_thread_join(&t);
}

/*
 * The containers of service DS a WAIT_HEALTHY gate has to check: those the
 * plan starts, and those it keeps whose recorded health is not "healthy"
 * (an unchanged container's gate is judged from what the store knows).
 * Returns a new NULL-terminated vector, or NULL when nothing is left to check.
 */
static char **gate_targets(const struct svc_plan *ds, const struct world *w)
{
    struct stk_strv v = STK_STRV_INIT;

    stk_strv_init(&v);
    for (int q = 0; q < ds->n; q++) {
        const struct store_container *row = ds->ids[q] ? row_of(w, ds->ids[q]) : NULL;
        if (!ds->ids[q])
            continue;
        if (ds->ready[q] == SIZE_MAX && row && row->health && strcmp(row->health, "healthy") == 0)
            continue;
        stk_strv_push(&v, ds->ids[q]);
    }
    if (v.n == 0) {
        stk_strv_release(&v);
        return NULL;
    }
    return v.v;
}

/* Adds service DS's WAIT_HEALTHY gate over TARGETS (taken), after its replicas' starts. */
static void plan_gate_healthy(struct rec_plan *p, struct svc_plan *ds, int di, const char *name,
                              char **targets)
{
    ds->healthy = plan_add(p, REC_A_WAIT_HEALTHY, di, 0, -1, name);
    p->actions[ds->healthy].targets = targets;
    for (int q = 0; q < ds->n; q++)
        if (ds->ready[q] != SIZE_MAX)
            plan_dep(p, ds->healthy, ds->ready[q]);
}

int rec_plan_diff(struct rec_plan *p, const enum rt_isolation *iso, const struct rec_observed *obs,
                  const struct rec_up_opts *opts, struct stk_err *err)
{
    const struct spec_project *project = p->spec;
    struct world w;
    struct svc_plan *sp = NULL;
    size_t *order = NULL, *net_create = NULL, first_repair = 0;
    json_t *smap = NULL, *used_sb = NULL;
    int r;

    (void)err; /* the diff cannot fail today; the contract keeps room for it */
    if (!project)
        return stk_err_set(err, STK_EINVAL, 0, "plan of '%s': no desired project", p->project);
    smap = service_map(project);
    /* 3. What is there, indexed. */
    world_index(&w, obs);

    /* 4. Networks the services use. */
    net_create = stk_xcalloc(project->n_networks + 1, sizeof(size_t));
    for (size_t k = 0; k < project->n_networks; k++) {
        const struct spec_network *nw = &project->networks[k];
        int exists = 0;
        net_create[k] = SIZE_MAX;
        for (size_t i = 0; i < w.inv.n_networks; i++)
            if (strcmp(w.inv.networks[i].name, nw->name) == 0 && w.inv.networks[i].bridge)
                exists = 1;
        if (exists || nw->external)
            continue;
        net_create[k] = plan_add(p, REC_A_NETWORK_CREATE, -1, 0, -1, nw->name);
        {
            char *what = stk_xasprintf("network %s", nw->name);
            rec_plan_add_change(p, "create", what, "not found");
            free(what);
        }
    }

    /* 5. Services in dependency order. */
    sp = stk_xcalloc(project->n_services + 1, sizeof(*sp));
    {
        /*
         * A service's hash is compared only with containers observed for it;
         * for the others it is computed when their containers are created.
         */
        char *need = stk_xcalloc(project->n_services + 1, 1);
        for (size_t c = 0; c < w.obs.n; c++) {
            int k = map_index(smap, label(&w.obs.items[c], RT_LABEL_SERVICE));
            if (k >= 0)
                need[k] = 1;
        }
        hash_services(project, sp, need);
        free(need);
    }
    order = service_order(project, smap);
    for (size_t oi = 0; oi < project->n_services; oi++) {
        size_t i = order[oi];
        const struct spec_service *svc = &project->services[i];
        struct svc_plan *me = &sp[i];
        const json_t *mine = world_service(&w, svc->name); /* its observed containers */
        const char *owner = netns_owner(svc);
        int oidx = owner ? map_index(smap, owner) : -1;
        uint64_t grace = (uint64_t)(svc->stop_grace_period_ns / 1000000);
        int replicas = svc->replicas < 0 ? 1 : svc->replicas;
        int start_first = svc->update_config.present && svc->update_config.order &&
                          strcmp(svc->update_config.order, "start-first") == 0;

        /* me->hash and me->json were computed by hash_services(). */
        me->n = replicas;
        me->ready = stk_xcalloc((size_t)replicas + 1, sizeof(size_t));
        me->ids = stk_xcalloc((size_t)replicas + 1, sizeof(char *));
        me->slots = stk_xcalloc((size_t)replicas + 1, sizeof(int));
        me->sandbox = stk_xcalloc((size_t)replicas + 1, sizeof(size_t));
        me->healthy = me->completed = SIZE_MAX;

        for (int n = 1; n <= replicas; n++) {
            char numbuf[16], rhash[65];
            const struct rt_container_info *keep = NULL;
            const char *owner_id = NULL;
            size_t last_removal_sb = SIZE_MAX;
            char *slotname = stk_xasprintf("%s-%d", svc->name, n);
            size_t late_stop = SIZE_MAX, ipc_ready = SIZE_MAX, pid_ready = SIZE_MAX;
            const char *ipc_id = NULL, *pid_id = NULL;

            snprintf(numbuf, sizeof(numbuf), "%d", n);
            me->ready[n - 1] = SIZE_MAX;
            me->sandbox[n - 1] = SIZE_MAX;
            me->slots[n - 1] = -1;
            /* Runtime hash: the spec hash plus the container the namespace is shared with. */
            if (oidx >= 0 && sp[oidx].n > 0)
                owner_id = sp[oidx].ids[0];
            {
                /* ipc/pid: service:X also pins X's container identity into the hash. */
                int ii = svc->ipc && strncmp(svc->ipc, "service:", 8) == 0
                             ? map_index(smap, svc->ipc + 8)
                             : -1;
                int pi = svc->pid && strncmp(svc->pid, "service:", 8) == 0
                             ? map_index(smap, svc->pid + 8)
                             : -1;
                ipc_id = ii >= 0 && sp[ii].n > 0 ? sp[ii].ids[0] : NULL;
                pid_id = pi >= 0 && sp[pi].n > 0 ? sp[pi].ids[0] : NULL;
                ipc_ready = ii >= 0 && sp[ii].n > 0 ? sp[ii].ready[0] : SIZE_MAX;
                pid_ready = pi >= 0 && sp[pi].n > 0 ? sp[pi].ready[0] : SIZE_MAX;
            }
            if (me->json)
                rec_runtime_hash(me->hash, owner_id, ipc_id, pid_id, rhash);
            else
                rhash[0] = '\0'; /* deferred: nothing observed to compare with */
            for (size_t q = 0; q < json_array_size(mine); q++) {
                const struct rt_container_info *ci =
                    &w.obs.items[json_integer_value(json_array_get(mine, q))];
                if (strcmp(label(ci, RT_LABEL_NUMBER), numbuf) != 0 ||
                    ci->state == RT_STATE_CREATING)
                    continue;
                if (!keep && strcmp(label(ci, RT_LABEL_HASH), rhash) == 0)
                    keep = ci;
            }
            /* Every other container of this slot goes (recreate, or duplicates after a crash). */
            for (size_t q = 0; q < json_array_size(mine); q++) {
                const struct rt_container_info *ci =
                    &w.obs.items[json_integer_value(json_array_get(mine, q))];
                const struct store_container *row;
                char *why;
                if (ci == keep || strcmp(label(ci, RT_LABEL_NUMBER), numbuf) != 0 ||
                    world_handled(&w, ci->id))
                    continue;
                row = row_of(&w, ci->id);
                if (ci->state == RT_STATE_CREATING)
                    why = stk_xstrdup("an interrupted create left it half made");
                else if (keep)
                    why = stk_xstrdup("a second container for the same slot");
                else if (strcmp(label(ci, RT_LABEL_HASH), me->hash) == 0 && owner_id)
                    why = stk_xasprintf("network namespace owner '%s' was replaced", owner);
                else
                    why = diff_reason(row ? row->spec_json : NULL, NULL);
                if (!keep && ci->state != RT_STATE_CREATING &&
                    !(strcmp(label(ci, RT_LABEL_HASH), me->hash) == 0 && owner_id)) {
                    free(why);
                    why = diff_reason(row ? row->spec_json : NULL, me->json);
                }
                rec_plan_add_change(p, keep ? "remove" : "recreate", slotname, why);
                free(why);
                if (!keep && start_first && ci->state == RT_STATE_RUNNING) {
                    /* start-first: the old container goes once its replacement runs. */
                    size_t stop_a = p->n_actions;
                    plan_remove(p, &w, ci, (int)i, grace, NULL);
                    late_stop = stop_a;
                } else {
                    plan_remove(p, &w, ci, (int)i, grace, &last_removal_sb);
                }
            }
            if (keep) {
                world_mark_handled(&w, keep->id);
                me->ids[n - 1] = keep->id;
                if (keep->state != RT_STATE_RUNNING) {
                    size_t st = plan_add(p, REC_A_CONTAINER_START, (int)i, n, -1, keep->id);
                    me->ready[n - 1] = st;
                    rec_plan_add_change(p, "start", slotname,
                                        keep->state == RT_STATE_STOPPED ? "exited" : "not running");
                }
                free(slotname);
                continue;
            }

            /* A new container for this slot. */
            size_t s = plan_slot(p), create, start;
            struct rec_slot *sl = &p->slots[s];
            char *suffix = random_suffix();
            sl->svc = (int)i;
            sl->number = n;
            sl->name = svc->container_name ? stk_xstrdup(svc->container_name)
                                           : stk_xasprintf("%s-%s-%d", project->name, svc->name, n);
            sl->id = stk_xasprintf("%s-%s", sl->name, suffix);
            free(suffix);
            memcpy(sl->hash, rhash, sizeof(sl->hash));
            if (!me->json) {
                sl->hash_deferred = 1;
                sl->hash_netns = stk_xstrdup(owner_id);
                sl->hash_ipc = stk_xstrdup(ipc_id);
                sl->hash_pid = stk_xstrdup(pid_id);
            }
            sl->isolation = iso ? iso[i] : RT_ISOLATION_PROCESS;
            sl->ports = ports_text(svc);
            sl->spec_json = stk_xstrdup(me->json); /* NULL when deferred */
            me->ids[n - 1] = sl->id;
            me->slots[n - 1] = (int)s;
            me->replaced = 1;
            if (!p->changes || p->n_changes == 0 ||
                strcmp(p->changes[p->n_changes - 1].what, slotname) != 0)
                rec_plan_add_change(p, "create", slotname, "not found");

            if (oidx >= 0 && sp[oidx].n > 0) {
                /* network_mode: service:X joins X's (first replica's) sandbox. */
                int os = sp[oidx].slots[0];
                sl->owns_sandbox = 0;
                sl->owner_slot = os;
                if (os >= 0) {
                    sl->sandbox_id = stk_xstrdup(p->slots[os].sandbox_id);
                    sl->sandbox_from = p->slots[os].sandbox_from;
                    me->sandbox[n - 1] = sp[oidx].sandbox[0];
                } else {
                    const struct rt_container_info *oc = NULL;
                    for (size_t c = 0; c < w.obs.n; c++)
                        if (strcmp(w.obs.items[c].id, sp[oidx].ids[0]) == 0)
                            oc = &w.obs.items[c];
                    sl->sandbox_id = stk_xstrdup(oc ? container_sandbox(&w, oc) : sp[oidx].ids[0]);
                    /* Fetch the existing sandbox's paths (sandbox_create is idempotent). */
                    me->sandbox[n - 1] =
                        plan_add(p, REC_A_SANDBOX_CREATE, (int)i, n, (int)s, sl->sandbox_id);
                    sl->sandbox_from = me->sandbox[n - 1];
                }
            } else {
                size_t sbc;
                sl->owns_sandbox = 1;
                sl->sandbox_id = stk_xstrdup(sl->id);
                sbc = plan_add(p, REC_A_SANDBOX_CREATE, (int)i, n, (int)s, sl->sandbox_id);
                me->sandbox[n - 1] = sbc;
                sl->sandbox_from = sbc;
                /* Endpoints on every network the service joins (network_mode none: none). */
                if (!(svc->network_mode && strcmp(svc->network_mode, "none") == 0)) {
                    for (size_t k = 0; k < project->n_networks; k++) {
                        const struct spec_network *nw = &project->networks[k];
                        int joins = 0;
                        if (!svc->networks)
                            joins = strcmp(nw->key, "default") == 0;
                        for (size_t q = 0; svc->networks && svc->networks[q]; q++)
                            if (strcmp(svc->networks[q], nw->key) == 0)
                                joins = 1;
                        if (!joins)
                            continue;
                        size_t ep =
                            plan_add(p, REC_A_ENDPOINT_CONNECT, (int)i, n, (int)s, nw->name);
                        plan_dep(p, ep, sbc);
                        if (net_create[k] != SIZE_MAX)
                            plan_dep(p, ep, net_create[k]);
                        /* stop-first: the old container's ports are free before ours. */
                        if (last_removal_sb != SIZE_MAX)
                            plan_dep(p, ep, last_removal_sb);
                        me->sandbox[n - 1] = ep;
                    }
                }
            }
            if (ipc_id)
                sl->ipc_ref = stk_xasprintf("container:%s", ipc_id);
            if (pid_id)
                sl->pid_ref = stk_xasprintf("container:%s", pid_id);
            create = plan_add(p, REC_A_CONTAINER_CREATE, (int)i, n, (int)s, sl->id);
            /* Joining a namespace needs the other container running. */
            if (ipc_ready != SIZE_MAX)
                plan_dep(p, create, ipc_ready);
            if (pid_ready != SIZE_MAX)
                plan_dep(p, create, pid_ready);
            if (me->sandbox[n - 1] != SIZE_MAX)
                plan_dep(p, create, me->sandbox[n - 1]);
            /* Joiners wait for every endpoint of the owner's sandbox too. */
            if (oidx >= 0 && sp[oidx].n > 0 && sp[oidx].sandbox[0] != SIZE_MAX)
                plan_dep(p, create, sp[oidx].sandbox[0]);
            if (last_removal_sb != SIZE_MAX)
                plan_dep(p, create, last_removal_sb);
            start = plan_add(p, REC_A_CONTAINER_START, (int)i, n, (int)s, sl->id);
            plan_dep(p, start, create);
            me->ready[n - 1] = start;
            if (late_stop != SIZE_MAX) {
                /* Keep the old one until the new one is healthy (or started, without a check). */
                size_t gate = start;
                if (svc->healthcheck.present && !svc->healthcheck.disable &&
                    svc->healthcheck.test && svc->healthcheck.test[0] &&
                    strcmp(svc->healthcheck.test[0], "NONE") != 0) {
                    gate = plan_add(p, REC_A_WAIT_HEALTHY, (int)i, n, -1, svc->name);
                    p->actions[gate].targets = stk_xcalloc(2, sizeof(char *));
                    p->actions[gate].targets[0] = stk_xstrdup(sl->id);
                    plan_dep(p, gate, start);
                }
                plan_dep(p, late_stop, gate);
            }
            free(slotname);
        }

        /* depends_on: a dependant's starts wait for its dependencies' conditions. */
        for (size_t d = 0; d < svc->n_depends_on; d++) {
            const struct spec_depends *dep = &svc->depends_on[d];
            int di = map_index(smap, dep->service);
            struct svc_plan *ds;
            size_t gate = SIZE_MAX;
            int starts = 0; /* some replica of this service is started by the plan */
            if (di < 0)
                continue;
            ds = &sp[di];
            for (int n = 0; n < me->n; n++)
                if (me->ready[n] != SIZE_MAX || (dep->restart && ds->replaced && me->ids[n]))
                    starts = 1;
            if (!starts) {
                /* Nothing waits for the condition: no gate (a no-op up waits for nothing). */
            } else if (dep->condition && strcmp(dep->condition, "service_healthy") == 0) {
                if (ds->healthy == SIZE_MAX) {
                    char **targets = gate_targets(ds, &w);
                    if (targets)
                        plan_gate_healthy(p, ds, di, dep->service, targets);
                }
                gate = ds->healthy;
            } else if (dep->condition &&
                       strcmp(dep->condition, "service_completed_successfully") == 0) {
                if (ds->completed == SIZE_MAX) {
                    ds->completed = plan_add(p, REC_A_WAIT_EXIT, di, 0, -1, dep->service);
                    p->actions[ds->completed].targets = stk_strv_dup(ds->ids);
                    for (int q = 0; q < ds->n; q++)
                        if (ds->ready[q] != SIZE_MAX)
                            plan_dep(p, ds->completed, ds->ready[q]);
                }
                gate = ds->completed;
            }
            for (int n = 0; n < me->n; n++) {
                if (me->ready[n] == SIZE_MAX && dep->restart && ds->replaced && me->ids[n]) {
                    /* depends_on restart: true — restart this one after its dependency changed. */
                    size_t stop = plan_add(p, REC_A_CONTAINER_STOP, (int)i, n + 1, -1, me->ids[n]);
                    char *what = stk_xasprintf("%s-%d", svc->name, n + 1);
                    p->actions[stop].grace_ms = grace;
                    me->ready[n] =
                        plan_add(p, REC_A_CONTAINER_START, (int)i, n + 1, -1, me->ids[n]);
                    plan_dep(p, me->ready[n], stop);
                    rec_plan_add_change(p, "restart", what,
                                        "its dependency was replaced (depends_on restart: true)");
                    free(what);
                }
                if (me->ready[n] == SIZE_MAX)
                    continue;
                if (gate != SIZE_MAX) {
                    plan_dep(p, me->ready[n], gate);
                } else {
                    for (int q = 0; q < ds->n; q++)
                        if (ds->ready[q] != SIZE_MAX)
                            plan_dep(p, me->ready[n], ds->ready[q]);
                }
            }
        }

        /* Scale down: replicas above the count, highest number first. */
        for (size_t q = json_array_size(mine); q-- > 0;) {
            const struct rt_container_info *ci =
                &w.obs.items[json_integer_value(json_array_get(mine, q))];
            char *what;
            if (atoi(label(ci, RT_LABEL_NUMBER)) <= replicas || world_handled(&w, ci->id))
                continue;
            what = stk_xasprintf("%s-%s", svc->name, label(ci, RT_LABEL_NUMBER));
            rec_plan_add_change(p, "remove", what, "scaled down");
            free(what);
            plan_remove(p, &w, ci, (int)i, grace, NULL);
        }
    }

    /* --wait: every service with a health check ends healthy. */
    for (size_t i = 0; opts && opts->wait && i < project->n_services; i++) {
        const struct spec_healthcheck *hc = &project->services[i].healthcheck;
        struct svc_plan *me = &sp[i];
        char **targets;
        if (!hc->present || hc->disable || !hc->test || !hc->test[0] ||
            strcmp(hc->test[0], "NONE") == 0 || me->healthy != SIZE_MAX || me->n == 0)
            continue;
        if ((targets = gate_targets(me, &w)))
            plan_gate_healthy(p, me, (int)i, project->services[i].name, targets);
    }

    /* 6. Orphans, and what an interrupted pass left. */
    first_repair = p->n_actions;
    for (size_t c = 0; c < w.obs.n; c++) {
        const struct rt_container_info *ci = &w.obs.items[c];
        const char *s = label(ci, RT_LABEL_SERVICE);
        char *what;
        if (world_handled(&w, ci->id))
            continue;
        if (ci->state == RT_STATE_CREATING) {
            what = stk_xasprintf("%s", ci->name ? ci->name : ci->id);
            rec_plan_add_change(p, "remove", what, "an interrupted create left it half made");
        } else if (map_index(smap, s) < 0 && opts && opts->remove_orphans) {
            what = stk_xasprintf("%s", ci->name ? ci->name : ci->id);
            rec_plan_add_change(p, "remove", what, "orphan: its service is not in the stack");
        } else {
            continue;
        }
        free(what);
        plan_remove(p, &w, ci, -1, 10000, NULL);
    }
    /* Sandboxes of the project that no container uses any more (a crash after sandbox_create). */
    used_sb = json_object();
    /*
     * Every observed container's sandbox is in use: a removed container's
     * sandbox has its removal planned already, and an orphan kept without
     * --remove-orphans keeps its network.
     */
    for (size_t c = 0; c < w.obs.n; c++)
        json_object_set_new(used_sb, container_sandbox(&w, &w.obs.items[c]), json_true());
    for (size_t s = 0; s < p->n_slots; s++)
        json_object_set_new(used_sb, p->slots[s].sandbox_id, json_true());
    for (size_t k = 0; k < w.inv.n_sandboxes; k++) {
        const struct net_sandbox_info *sb = &w.inv.sandboxes[k];
        if (!sb->project || strcmp(sb->project, project->name) != 0 || w.sandbox_remove[k] ||
            json_object_get(used_sb, sb->id))
            continue;
        rec_plan_add_change(p, "remove", sb->id, "a network sandbox without a container");
        plan_sandbox_remove(p, &w, sb->id);
    }
    plan_sandbox_order(p);
    /* Repairs come first: a leftover endpoint may hold a port the new ones publish. */
    for (size_t a = 0; a < first_repair; a++) {
        if (p->actions[a].kind != REC_A_ENDPOINT_CONNECT)
            continue;
        for (size_t b = first_repair; b < p->n_actions; b++)
            if (p->actions[b].kind == REC_A_SANDBOX_REMOVE)
                plan_dep(p, a, b);
    }
    r = 0;
    for (size_t i = 0; sp && i < project->n_services; i++) {
        free(sp[i].ready);
        free(sp[i].ids);
        free(sp[i].slots);
        free(sp[i].sandbox);
        free(sp[i].json);
    }
    free(sp);
    free(order);
    json_decref(smap);
    json_decref(used_sb);
    free(net_create);
    world_release(&w);
    return r;
}

/* ---- down --------------------------------------------------------------------------------------
 */

void rec_runtime_hash(const char *spec_hash, const char *netns, const char *ipc, const char *pid,
                      char out[65])
{
    char *h;
    uint8_t md[STK_SHA256_LEN];

    if (!netns && !ipc && !pid) {
        memcpy(out, spec_hash, 65);
        return;
    }
    h = stk_xasprintf("%s|netns=%s|ipc=%s|pid=%s", spec_hash, netns ? netns : "", ipc ? ipc : "",
                      pid ? pid : "");
    stk_sha256(h, strlen(h), md);
    stk_sha256_hex(md, out);
    free(h);
}

void rec_slot_hash(struct rec_slot *slot, const struct spec_service *svc)
{
    char base[65];

    if (!slot->hash_deferred)
        return;
    free(slot->spec_json);
    slot->spec_json = NULL;
    spec_service_hash_json(svc, base, &slot->spec_json);
    rec_runtime_hash(base, slot->hash_netns, slot->hash_ipc, slot->hash_pid, slot->hash);
    slot->hash_deferred = 0;
}

/*
 * A stop of container CI without its service at hand (down, stop): the stop
 * signal and grace period its labels keep (RT_LABEL_STOP_*), GRACE_MS when it
 * is not REC_GRACE_OF_SERVICE, and its name for progress lines.
 */
static void stop_from_labels(struct rec_action *a, const struct rt_container_info *ci,
                             uint64_t grace_ms)
{
    const char *sig = rt_container_info_label(ci, RT_LABEL_STOP_SIGNAL);
    const char *grace = rt_container_info_label(ci, RT_LABEL_STOP_GRACE);

    a->signal = sig ? atoi(sig) : 0;
    if (grace_ms != REC_GRACE_OF_SERVICE)
        a->grace_ms = grace_ms;
    else
        a->grace_ms = grace && atoll(grace) >= 0 ? (uint64_t)atoll(grace) : 10000;
    free(a->name);
    a->name = ci->name ? stk_xstrdup(ci->name) : NULL;
}

/* Depth-first search from SVC: 1 when it reaches a service on the current path. */
static int deps_visit(json_t *deps_of, const char *svc, json_t *state)
{
    json_t *st = json_object_get(state, svc);
    const char *d;
    json_t *v;

    if (st)
        return json_integer_value(st) == 1; /* 1: on the path, 2: done */
    json_object_set_new(state, svc, json_integer(1));
    json_object_foreach(json_object_get(deps_of, svc), d,
                        v) if (deps_visit(deps_of, d, state)) return 1;
    json_object_set_new(state, svc, json_integer(2));
    return 0;
}

/* Whether the dependency graph DEPS_OF ({service: {dependency: true}}) has a cycle. */
static int deps_cycle(json_t *deps_of)
{
    json_t *state = json_object(), *v;
    const char *svc;
    int cycle = 0;

    json_object_foreach(deps_of, svc, v) if (!cycle && deps_visit(deps_of, svc, state)) cycle = 1;
    json_decref(state);
    return cycle;
}

/*
 * docker compose down stops in reverse dependency order: a container's stop
 * waits for the stops of the containers whose services depend on its service.
 * STOPS maps each container id to its stop action and service; the
 * dependencies come from the containers' RT_LABEL_DEPENDS_ON labels (down has
 * no Compose file).
 */
static void down_stop_order(struct rec_plan *p, const struct world *w, json_t *stops)
{
    json_t *deps_of = json_object(); /* {service: {dependency: true}} */
    json_t *a, *b;
    const char *ida, *idb;

    for (size_t c = 0; c < w->obs.n; c++) {
        const char *svc = label(&w->obs.items[c], RT_LABEL_SERVICE);
        const char *l = rt_container_info_label(&w->obs.items[c], RT_LABEL_DEPENDS_ON);
        json_t *set;
        if (!*svc || !l)
            continue;
        if (!(set = json_object_get(deps_of, svc))) {
            set = json_object();
            json_object_set_new(deps_of, svc, set);
        }
        /* "db:service_started:false,web:service_healthy:true" */
        for (const char *q = l; *q;) {
            size_t n = strcspn(q, ",");
            size_t name_len = strcspn(q, ":,");
            if (name_len) {
                char *dep = stk_xstrndup(q, name_len);
                json_object_set(set, dep, json_true());
                free(dep);
            }
            q += n;
            if (*q == ',')
                q++;
        }
    }
    if (deps_cycle(deps_of)) {
        /* Rows made from different versions of the file can disagree: no order then. */
        json_decref(deps_of);
        return;
    }
    json_object_foreach(stops, ida, a)
    {
        /* A: a container of a dependant; every container of its dependencies stops after it. */
        json_t *deps = json_object_get(deps_of, json_string_value(json_object_get(a, "service")));
        if (!json_object_size(deps))
            continue;
        json_object_foreach(stops, idb, b)
        {
            const char *svc_b = json_string_value(json_object_get(b, "service"));
            if (strcmp(idb, ida) != 0 && svc_b && json_object_get(deps, svc_b))
                plan_dep(p, (size_t)json_integer_value(json_object_get(b, "stop")),
                         (size_t)json_integer_value(json_object_get(a, "stop")));
        }
    }
    json_decref(deps_of);
}

int rec_plan_diff_down(const char *project, const struct rec_observed *obs,
                       struct rec_plan **ret_plan, struct stk_err *err)
{
    struct rec_plan *p = stk_new0(struct rec_plan);
    struct world w;
    struct stk_strv nets = STK_STRV_INIT;
    char **recorded = NULL;
    json_t *stops; /* {container id: {"stop": action index, "service": name}} */
    size_t first_net;
    int r = 0;

    (void)err;
    p->project = stk_xstrdup(project);
    world_index(&w, obs);
    /* Containers the runtime lists, and those only the store remembers. */
    stops = json_object();
    for (size_t c = 0; c < w.obs.n; c++) {
        size_t stop = p->n_actions;
        json_object_set_new(stops, w.obs.items[c].id,
                            json_pack("{s:I, s:s}", "stop", (json_int_t)stop, "service",
                                      label(&w.obs.items[c], RT_LABEL_SERVICE)));
        plan_remove(p, &w, &w.obs.items[c], -1, 10000, NULL);
        stop_from_labels(&p->actions[stop], &w.obs.items[c], REC_GRACE_OF_SERVICE);
        if (p->actions[stop + 1].kind == REC_A_CONTAINER_REMOVE && w.obs.items[c].name)
            p->actions[stop + 1].name = stk_xstrdup(w.obs.items[c].name);
    }
    for (size_t i = 0; i < w.n_rows; i++) {
        struct rt_container_info ghost;
        if (world_handled(&w, w.rows[i].id))
            continue;
        memset(&ghost, 0, sizeof(ghost));
        ghost.id = w.rows[i].id;
        json_object_set_new(stops, ghost.id,
                            json_pack("{s:I, s:s}", "stop", (json_int_t)p->n_actions, "service",
                                      w.rows[i].service ? w.rows[i].service : ""));
        plan_remove(p, &w, &ghost, -1, 10000, NULL);
    }
    down_stop_order(p, &w, stops);
    json_decref(stops);
    for (size_t k = 0; k < w.inv.n_sandboxes; k++)
        if (w.inv.sandboxes[k].project && strcmp(w.inv.sandboxes[k].project, project) == 0)
            plan_sandbox_remove(p, &w, w.inv.sandboxes[k].id);
    recorded = obs->sandboxes_recorded;
    for (size_t i = 0; recorded && recorded[i]; i++)
        plan_sandbox_remove(p, &w, recorded[i]);
    stk_strv_init(&nets);
    for (size_t k = 0; k < w.inv.n_networks; k++)
        if (w.inv.networks[k].project && strcmp(w.inv.networks[k].project, project) == 0)
            stk_strv_push(&nets, w.inv.networks[k].name);
    recorded = obs->networks_recorded;
    for (size_t i = 0; recorded && recorded[i]; i++)
        if (!stk_strv_contains(&nets, recorded[i]))
            stk_strv_push(&nets, recorded[i]);
    plan_sandbox_order(p);
    first_net = p->n_actions;
    for (size_t i = 0; i < nets.n; i++)
        plan_add(p, REC_A_NETWORK_REMOVE, -1, 0, -1, nets.v[i]);
    for (size_t n = first_net; n < p->n_actions; n++)
        for (size_t a = 0; a < first_net; a++)
            if (p->actions[a].kind == REC_A_SANDBOX_REMOVE)
                plan_dep(p, n, a);
    for (size_t a = 0; a < p->n_actions; a++)
        if (p->actions[a].kind == REC_A_CONTAINER_REMOVE ||
            p->actions[a].kind == REC_A_NETWORK_REMOVE)
            rec_plan_add_change(p, "remove", p->actions[a].object, "down");
    *ret_plan = p;
    p = NULL;
    stk_strv_release(&nets);
    world_release(&w);
    rec_plan_free(p);
    return r;
}

int rec_plan_diff_stop_start(const char *project, const struct rec_observed *obs,
                             const char *const *services, int start, uint64_t grace_ms,
                             struct rec_plan **ret_plan, struct stk_err *err)
{
    struct rec_plan *p = stk_new0(struct rec_plan);
    struct world w;
    json_t *acts = json_object(); /* {container id: {"stop": action index, "service": name}} */
    struct stk_strv idle = STK_STRV_INIT;
    int r = 0;

    p->project = stk_xstrdup(project);
    stk_strv_init(&idle);
    world_index(&w, obs);
    for (size_t k = 0; services && services[k]; k++)
        if (!json_object_get(w.by_service, services[k])) {
            r = stk_err_set(err, STK_ENOENT, 0,
                            "no such service: %s (project '%s' has no container of it)",
                            services[k], project);
            goto out;
        }
    for (size_t c = 0; c < w.obs.n; c++) {
        const struct rt_container_info *ci = &w.obs.items[c];
        const char *svc = label(ci, RT_LABEL_SERVICE);
        int wanted = !services || !services[0];
        size_t a;
        for (size_t k = 0; !wanted && services[k]; k++)
            wanted = strcmp(services[k], svc) == 0;
        if (wanted && !start && ci->state != RT_STATE_RUNNING)
            stk_strv_push(&idle, ci->id);
        if (!wanted || (start ? ci->state == RT_STATE_RUNNING : ci->state != RT_STATE_RUNNING))
            continue;
        a = plan_add(p, start ? REC_A_CONTAINER_START : REC_A_CONTAINER_STOP, -1, 0, -1, ci->id);
        stop_from_labels(&p->actions[a], ci, grace_ms);
        p->actions[a].service = stk_xstrdup(svc);
        rec_plan_add_change(p, start ? "start" : "stop", ci->name ? ci->name : ci->id,
                            start ? "start" : "stop");
        json_object_set_new(acts, ci->id,
                            json_pack("{s:I, s:s}", "stop", (json_int_t)a, "service", svc));
    }
    p->idle = idle.v;
    idle.v = NULL;
    down_stop_order(p, &w, acts);
    if (start) {
        /* Starts go the other way: a dependency's start before its dependants'. */
        size_t *n_deps = stk_xcalloc(p->n_actions + 1, sizeof(size_t));
        size_t **deps = stk_xcalloc(p->n_actions + 1, sizeof(size_t *));
        for (size_t a = 0; a < p->n_actions; a++) {
            n_deps[a] = p->actions[a].n_deps;
            deps[a] = p->actions[a].deps;
            p->actions[a].deps = NULL;
            p->actions[a].n_deps = p->actions[a].alloc_deps = 0;
        }
        for (size_t a = 0; a < p->n_actions; a++) {
            for (size_t d = 0; d < n_deps[a]; d++)
                plan_dep(p, deps[a][d], a);
            free(deps[a]);
        }
        free(deps);
        free(n_deps);
    }
    *ret_plan = p;
    p = NULL;
out:
    stk_strv_release(&idle);
    json_decref(acts);
    world_release(&w);
    rec_plan_free(p);
    return r;
}

/* ---- output and life cycle ------------------------------------------------------------------- */

size_t rec_plan_mutations(const struct rec_plan *plan)
{
    size_t n = 0;

    for (size_t i = 0; i < plan->n_actions; i++)
        if (plan->actions[i].kind != REC_A_WAIT_HEALTHY && plan->actions[i].kind != REC_A_WAIT_EXIT)
            n++;
    return n;
}

json_t *rec_plan_to_json(const struct rec_plan *plan)
{
    json_t *root = json_object(), *changes = json_array(), *actions = json_array();

    json_object_set_new(root, "project", json_string(plan->project));
    for (size_t i = 0; i < plan->n_changes; i++)
        json_array_append_new(changes,
                              json_pack("{s:s, s:s, s:s}", "change", plan->changes[i].verb, "what",
                                        plan->changes[i].what, "reason", plan->changes[i].reason));
    for (size_t i = 0; i < plan->n_actions; i++) {
        const struct rec_action *a = &plan->actions[i];
        json_t *deps = json_array();
        for (size_t d = 0; d < a->n_deps; d++)
            json_array_append_new(deps, json_integer((json_int_t)a->deps[d]));
        json_t *act = json_pack("{s:I, s:s, s:s, s:s?, s:o}", "id", (json_int_t)i, "action",
                                rec_action_kind_to_string(a->kind), "object", a->object, "service",
                                a->service, "after", deps);
        if (a->kind == REC_A_CONTAINER_CREATE && a->slot >= 0 &&
            plan->slots[a->slot].sandbox_from != SIZE_MAX) {
            /* Late binding: what exists only once an earlier action has run, named. */
            size_t k = plan->slots[a->slot].sandbox_from;
            char *h = stk_xasprintf("actions[%zu].result.handle", k);
            char *hp = stk_xasprintf("actions[%zu].result.hosts_path", k);
            char *rp = stk_xasprintf("actions[%zu].result.resolv_path", k);
            json_object_set_new(
                act, "late", json_pack("{s:s, s:s, s:s}", "sandbox", h, "hosts", hp, "resolv", rp));
            free(h);
            free(hp);
            free(rp);
        }
        json_array_append_new(actions, act);
    }
    json_object_set_new(root, "changes", changes);
    json_object_set_new(root, "actions", actions);
    return root;
}

void rec_plan_free(struct rec_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n_actions; i++) {
        free(plan->actions[i].object);
        free(plan->actions[i].service);
        free(plan->actions[i].name);
        free(plan->actions[i].deps);
        stk_strv_free(plan->actions[i].targets);
        free(plan->actions[i].in_sandbox);
        net_sandbox_info_release(&plan->actions[i].result_sb);
    }
    free(plan->actions);
    stk_strv_free(plan->idle);
    for (size_t i = 0; i < plan->n_slots; i++) {
        struct rec_slot *s = &plan->slots[i];
        free(s->id);
        free(s->name);
        free(s->spec_json);
        free(s->sandbox_id);
        free(s->ports);
        free(s->ipc_ref);
        free(s->pid_ref);
        free(s->hash_netns);
        free(s->hash_ipc);
        free(s->hash_pid);
    }
    free(plan->slots);
    for (size_t i = 0; i < plan->n_changes; i++) {
        free(plan->changes[i].verb);
        free(plan->changes[i].what);
        free(plan->changes[i].reason);
    }
    free(plan->changes);
    for (size_t i = 0; i < plan->n_images; i++)
        if (plan->image_owned && plan->image_owned[i])
            rt_image_free(plan->images[i]);
    free(plan->images);
    free(plan->image_owned);
    free(plan->project);
    stk_err_clear(&plan->failure);
    free(plan);
}
