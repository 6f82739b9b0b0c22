/*
 * test-rec-diff.c - the pure diff of the planner (rec_plan_diff(),
 * rec_plan_diff_down(), rec_plan_diff_stop_start()), table-driven: each case
 * is a desired Compose project, an observed state built in memory (the
 * runtime's containers with their labels, the store's rows, the plug-in's
 * inventory), and the plan expected — the count of each action kind, the
 * changes a person reads, orderings the DAG must hold, and what the plan's
 * JSON shows (late-bound sandbox references). No loop, no driver, no store:
 * the diff takes values and returns a value.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-strv.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/store/store.h"
#include "specs/spec.h"

#define HC "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 30s\n"
#define IMG "    image: busybox\n"

/* An observed container of project "t". */
struct octr {
    const char *svc;   /* stack.service; NULL ends the list */
    int n;             /* stack.number */
    const char *state; /* "running", "stopped", "created", "creating" */
    int stale;         /* non-zero: its hash is not the desired one */
    int healthy;       /* its row records health "healthy" */
    const char *deps;  /* stack.depends_on label, or NULL */
    const char *tag;   /* id suffix (a second container of one slot), NULL: "obs" */
};

enum mode { UP, DOWN, STOP, START };

struct diff_case {
    const char *name;
    enum mode mode;
    const char *yaml; /* desired project, services of project "t" (UP) */
    struct octr obs[8];
    int no_network;             /* the default network is not in the inventory */
    const char *orphan_sandbox; /* an inventory sandbox of project "t" without a container */
    int remove_orphans, wait;   /* rec_up_opts */
    const char *actions;        /* "kind=count ..." in enum order, "" for none */
    const char *changes;        /* "verb what; ..." in plan order, NULL: not checked */
    const char *order;          /* "kind:svc < kind:svc; ...": the second depends on the first */
    const char *json_has;       /* substrings of the compact plan JSON, separated by " && " */
    const char *same_sandbox;   /* "a b": a's create binds the same sandbox action as b's */
};

static const struct diff_case cases[] = {
    /* ---- create ---- */
    {"create_one_service",
     UP,
     "services:\n  web:\n" IMG,
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1",
     "create network t_default; create web-1",
     "network.create:- < endpoint.connect:web; "
     "sandbox.create:web < endpoint.connect:web; endpoint.connect:web < container.create:web; "
     "container.create:web < container.start:web",
     NULL,
     NULL},
    {"create_two_in_depends_on_order",
     UP,
     "services:\n  web:\n" IMG "    depends_on: [db]\n  db:\n" IMG,
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2",
     "create network t_default; create db-1; create web-1",
     "container.start:db < container.start:web",
     NULL,
     NULL},
    {"create_service_healthy_gate",
     UP,
     "services:\n  db:\n" IMG HC "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_healthy\n",
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2 "
     "wait.healthy=1",
     NULL,
     "container.start:db < wait.healthy:db; wait.healthy:db < container.start:web",
     NULL,
     NULL},
    {"create_completed_successfully_gate",
     UP,
     "services:\n  migrate:\n" IMG "  app:\n" IMG
     "    depends_on:\n      migrate:\n        condition: service_completed_successfully\n",
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2 "
     "wait.completed=1",
     NULL,
     "container.start:migrate < wait.completed:migrate; "
     "wait.completed:migrate < container.start:app",
     NULL,
     NULL},
    {"create_network_mode_none_has_no_endpoint",
     UP,
     "services:\n  web:\n" IMG "    network_mode: none\n",
     {},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 container.create=1 container.start=1",
     "create web-1",
     NULL,
     NULL,
     NULL},
    {"create_external_network_is_not_created",
     UP,
     "services:\n  web:\n" IMG "networks:\n  default:\n    external: true\n    name: ext\n",
     {},
     1,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 "
     "container.start=1",
     "create web-1",
     NULL,
     NULL,
     NULL},
    {"create_missing_network_only",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     1,
     NULL,
     0,
     0,
     "network.create=1",
     "create network t_default",
     NULL,
     NULL,
     NULL},

    /* ---- no-op ---- */
    {"noop_one_service",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"noop_with_joiner",
     UP,
     "services:\n  web:\n" IMG "  sidecar:\n" IMG "    network_mode: service:web\n",
     {{"web", 1, "running", 0, 0, NULL, NULL}, {"sidecar", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"noop_health_gate_recorded_healthy",
     UP,
     "services:\n  db:\n" IMG HC "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_healthy\n",
     {{"db", 1, "running", 0, 1, NULL, NULL}, {"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"noop_health_gate_unknown_health_nothing_starts",
     UP,
     "services:\n  db:\n" IMG HC "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_healthy\n",
     {{"db", 1, "running", 0, 0, NULL, NULL}, {"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"noop_wait_recorded_healthy",
     UP,
     "services:\n  db:\n" IMG HC,
     {{"db", 1, "running", 0, 1, NULL, NULL}},
     0,
     NULL,
     0,
     1,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"wait_unknown_health_checks_without_mutation",
     UP,
     "services:\n  db:\n" IMG HC,
     {{"db", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     1,
     "wait.healthy=1",
     "",
     NULL,
     NULL,
     NULL},
    {"noop_completed_dependency_nothing_starts",
     UP,
     "services:\n  migrate:\n" IMG "  app:\n" IMG
     "    depends_on:\n      migrate:\n        condition: service_completed_successfully\n",
     {{"migrate", 1, "running", 0, 0, NULL, NULL}, {"app", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},

    /* ---- hash change ---- */
    {"hash_change_recreates",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 1, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1 container.stop=1 "
     "container.remove=1 sandbox.remove=1",
     "recreate web-1",
     "container.stop:web < container.remove:web; "
     "sandbox.remove:- < endpoint.connect:web; "
     "container.remove:web < container.create:web",
     NULL,
     NULL},
    {"hash_change_touches_only_that_service",
     UP,
     "services:\n  db:\n" IMG "  web:\n" IMG,
     {{"db", 1, "running", 0, 0, NULL, NULL}, {"web", 1, "running", 1, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1 container.stop=1 "
     "container.remove=1 sandbox.remove=1",
     "recreate web-1",
     NULL,
     NULL,
     NULL},
    {"hash_change_start_first_keeps_the_old_until_started",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      update_config:\n        order: start-first\n",
     {{"web", 1, "running", 1, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1 container.stop=1 "
     "container.remove=1 sandbox.remove=1",
     "recreate web-1",
     "container.start:web < container.stop:web",
     NULL,
     NULL},
    {"hash_change_of_dependency_restarts_with_restart_true",
     UP,
     "services:\n  db:\n" IMG "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_started\n        restart: true\n",
     {{"db", 1, "running", 1, 0, NULL, NULL}, {"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 container.start=2 container.stop=2 "
     "container.remove=1 sandbox.remove=1",
     "recreate db-1; restart web-1",
     "container.create:db < container.start:web",
     NULL,
     NULL},

    /* ---- service: joiners ---- */
    {"joiner_cascade_owner_changed",
     UP,
     "services:\n  web:\n" IMG "  sidecar:\n" IMG "    network_mode: service:web\n",
     {{"web", 1, "running", 1, 0, NULL, NULL}, {"sidecar", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=2 container.start=2 container.stop=2 "
     "container.remove=2 sandbox.remove=1",
     "recreate web-1; recreate sidecar-1",
     "container.remove:sidecar < sandbox.remove:-; endpoint.connect:web < container.create:sidecar",
     NULL,
     "sidecar web"},
    {"joiner_changed_alone_joins_existing_sandbox",
     UP,
     "services:\n  web:\n" IMG "  sidecar:\n" IMG "    network_mode: service:web\n",
     {{"web", 1, "running", 0, 0, NULL, NULL}, {"sidecar", 1, "running", 1, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 container.create=1 container.start=1 container.stop=1 container.remove=1",
     "recreate sidecar-1",
     "sandbox.create:sidecar < container.create:sidecar",
     "\"late\":{\"sandbox\":\"actions[",
     NULL},
    {"joiner_created_with_owner_shares_one_sandbox",
     UP,
     "services:\n  web:\n" IMG "  sidecar:\n" IMG "    network_mode: service:web\n",
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=1 endpoint.connect=1 container.create=2 container.start=2",
     "create network t_default; create web-1; create sidecar-1",
     "endpoint.connect:web < container.create:sidecar",
     NULL,
     "sidecar web"},

    /* ---- late-bound sandbox references ---- */
    {"late_bound_refs_name_the_sandbox_action",
     UP,
     "services:\n  web:\n" IMG,
     {},
     1,
     NULL,
     0,
     0,
     "network.create=1 sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1",
     NULL,
     NULL,
     "\"action\":\"sandbox.create\" && \"sandbox\":\"actions[1].result.handle\" && "
     "\"hosts\":\"actions[1].result.hosts_path\" && "
     "\"resolv\":\"actions[1].result.resolv_path\"",
     NULL},
    {"late_bound_refs_per_replica",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      replicas: 2\n",
     {},
     0,
     NULL,
     0,
     0,
     "sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2",
     NULL,
     NULL,
     "\"sandbox\":\"actions[0].result.handle\" && \"sandbox\":\"actions[4].result.handle\"",
     NULL},
    {"late_bound_joiner_of_kept_owner_names_its_fetch",
     UP,
     "services:\n  web:\n" IMG "  sidecar:\n" IMG "    network_mode: service:web\n",
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 container.create=1 container.start=1",
     "create sidecar-1",
     NULL,
     "\"sandbox\":\"actions[0].result.handle\"",
     NULL},

    /* ---- scale ---- */
    {"scale_up_adds_replicas",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      replicas: 3\n",
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2",
     "create web-2; create web-3",
     NULL,
     NULL,
     NULL},
    {"scale_down_removes_highest_first",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      replicas: 1\n",
     {{"web", 1, "running", 0, 0, NULL, NULL},
      {"web", 2, "running", 0, 0, NULL, NULL},
      {"web", 3, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.stop=2 container.remove=2 sandbox.remove=2",
     "remove web-3; remove web-2",
     NULL,
     NULL,
     NULL},
    {"scale_to_zero",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      replicas: 0\n",
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.stop=1 container.remove=1 sandbox.remove=1",
     "remove web-1",
     NULL,
     NULL,
     NULL},
    {"scale_up_and_hash_change",
     UP,
     "services:\n  web:\n" IMG "    deploy:\n      replicas: 2\n",
     {{"web", 1, "running", 1, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=2 endpoint.connect=2 container.create=2 container.start=2 container.stop=1 "
     "container.remove=1 sandbox.remove=1",
     "recreate web-1; create web-2",
     NULL,
     NULL,
     NULL},

    /* ---- orphans and leftovers ---- */
    {"orphan_stays_without_remove_orphans",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}, {"gone", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "",
     "",
     NULL,
     NULL,
     NULL},
    {"orphan_removed_with_remove_orphans",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}, {"gone", 1, "running", 0, 0, NULL, NULL}},
     0,
     NULL,
     1,
     0,
     "container.stop=1 container.remove=1 sandbox.remove=1",
     "remove t-gone-1",
     "container.stop:gone < container.remove:gone",
     NULL,
     NULL},
    {"orphan_sandbox_without_container_removed",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}},
     0,
     "t-old-1-abc",
     0,
     0,
     "sandbox.remove=1",
     "remove t-old-1-abc",
     NULL,
     NULL,
     NULL},
    {"interrupted_create_is_replaced",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "creating", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "sandbox.create=1 endpoint.connect=1 container.create=1 container.start=1 container.stop=1 "
     "container.remove=1 sandbox.remove=1",
     "recreate web-1",
     "container.remove:web < container.create:web",
     NULL,
     NULL},
    {"second_container_of_a_slot_removed",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "running", 0, 0, NULL, NULL}, {"web", 1, "running", 0, 0, NULL, "dup"}},
     0,
     NULL,
     0,
     0,
     "container.stop=1 container.remove=1 sandbox.remove=1",
     "remove web-1",
     NULL,
     NULL,
     NULL},

    /* ---- stopped on purpose, not running ---- */
    {"stopped_container_is_started_not_recreated",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "stopped", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=1",
     "start web-1",
     NULL,
     NULL,
     NULL},
    {"created_container_is_started",
     UP,
     "services:\n  web:\n" IMG,
     {{"web", 1, "created", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=1",
     "start web-1",
     NULL,
     NULL,
     NULL},
    {"stopped_pair_starts_in_depends_on_order",
     UP,
     "services:\n  web:\n" IMG "    depends_on: [db]\n  db:\n" IMG,
     {{"db", 1, "stopped", 0, 0, NULL, NULL}, {"web", 1, "stopped", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=2",
     "start db-1; start web-1",
     "container.start:db < container.start:web",
     NULL,
     NULL},
    {"stopped_dependant_waits_for_unknown_health",
     UP,
     "services:\n  db:\n" IMG HC "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_healthy\n",
     {{"db", 1, "running", 0, 0, NULL, NULL}, {"web", 1, "stopped", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=1 wait.healthy=1",
     "start web-1",
     "wait.healthy:db < container.start:web",
     NULL,
     NULL},
    {"stopped_dependant_trusts_recorded_health",
     UP,
     "services:\n  db:\n" IMG HC "  web:\n" IMG
     "    depends_on:\n      db:\n        condition: service_healthy\n",
     {{"db", 1, "running", 0, 1, NULL, NULL}, {"web", 1, "stopped", 0, 0, NULL, NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=1",
     "start web-1",
     NULL,
     NULL,
     NULL},

    /* ---- depends_on order ---- */
    {"depends_on_chain_of_three",
     UP,
     "services:\n  a:\n" IMG "    depends_on: [b]\n  b:\n" IMG "    depends_on: [c]\n  c:\n" IMG,
     {},
     0,
     NULL,
     0,
     0,
     "sandbox.create=3 endpoint.connect=3 container.create=3 container.start=3",
     "create c-1; create b-1; create a-1",
     "container.start:c < container.start:b; container.start:b < container.start:a",
     NULL,
     NULL},
    {"depends_on_diamond",
     UP,
     "services:\n  app:\n" IMG "    depends_on: [left, right]\n  left:\n" IMG
     "    depends_on: [base]\n  right:\n" IMG "    depends_on: [base]\n  base:\n" IMG,
     {},
     0,
     NULL,
     0,
     0,
     "sandbox.create=4 endpoint.connect=4 container.create=4 container.start=4",
     NULL,
     "container.start:base < container.start:left; container.start:base < container.start:right; "
     "container.start:left < container.start:app; container.start:right < container.start:app",
     NULL,
     NULL},

    /* ---- down, stop, start ---- */
    {"down_removes_in_reverse_dependency_order",
     DOWN,
     NULL,
     {{"db", 1, "running", 0, 0, NULL, NULL},
      {"web", 1, "running", 0, 0, "db:service_started:false", NULL}},
     0,
     NULL,
     0,
     0,
     "network.remove=1 container.stop=2 container.remove=2 sandbox.remove=2",
     NULL,
     "container.stop:web < container.stop:db; sandbox.remove:- < network.remove:-",
     NULL,
     NULL},
    {"stop_stops_dependants_first",
     STOP,
     NULL,
     {{"db", 1, "running", 0, 0, NULL, NULL},
      {"web", 1, "running", 0, 0, "db:service_started:false", NULL}},
     0,
     NULL,
     0,
     0,
     "container.stop=2",
     "stop t-db-1; stop t-web-1",
     "container.stop:web < container.stop:db",
     NULL,
     NULL},
    {"start_starts_dependencies_first",
     START,
     NULL,
     {{"db", 1, "stopped", 0, 0, NULL, NULL},
      {"web", 1, "stopped", 0, 0, "db:service_started:false", NULL}},
     0,
     NULL,
     0,
     0,
     "container.start=2",
     "start t-db-1; start t-web-1",
     "container.start:db < container.start:web",
     NULL,
     NULL},
};

/* ---- building the inputs ---------------------------------------------------------------- */

static struct spec_project *load(const char *yaml)
{
    char dir[] = "/tmp/stk-diff-XXXXXX";
    struct spec_load_opts opts;
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path;
    const char *files[2];
    const char *no_env_files[] = {NULL};
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    path = stk_xasprintf("%s/compose.yaml", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(yaml, f);
    fclose(f);
    files[0] = path;
    files[1] = NULL;
    memset(&opts, 0, sizeof(opts));
    opts.files = files;
    opts.project_name = "t";
    opts.env_files = no_env_files;
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "load: %d:%d: %s", err.line, err.col,
                 err.msg);
    unlink(path);
    rmdir(dir);
    free(path);
    return p;
}

static char *obs_id(const struct octr *o)
{
    return stk_xasprintf("t-%s-%d-%s", o->svc, o->n, o->tag ? o->tag : "obs");
}

static void add_label(struct rt_container_info *ci, const char *k, const char *v)
{
    ci->labels = stk_xrealloc(ci->labels, (ci->n_labels + 1) * sizeof(*ci->labels));
    ci->labels[ci->n_labels].key = stk_xstrdup(k);
    ci->labels[ci->n_labels].value = stk_xstrdup(v);
    ci->n_labels++;
}

/* The observed state of case C against desired project P (NULL for down/stop/start). */
static void observe(const struct diff_case *c, const struct spec_project *p,
                    struct rec_observed *obs)
{
    size_t n = 0, nsb = 0;

    memset(obs, 0, sizeof(*obs));
    while (n < 8 && c->obs[n].svc)
        n++;
    obs->containers.items = stk_xcalloc(n + 1, sizeof(struct rt_container_info));
    obs->rows = stk_xcalloc(n + 1, sizeof(struct store_container));
    obs->inv.sandboxes = stk_xcalloc(n + 2, sizeof(struct net_sandbox_info));
    for (size_t i = 0; i < n; i++) {
        const struct octr *o = &c->obs[i];
        const struct spec_service *svc = p ? spec_project_service(p, o->svc) : NULL;
        struct rt_container_info *ci = &obs->containers.items[i];
        struct store_container *row = &obs->rows[i];
        char hash[65] = "stale", rhash[65], num[16];
        char *json = NULL, *owner_id = NULL;
        const char *owner =
            svc && svc->network_mode && strncmp(svc->network_mode, "service:", 8) == 0
                ? svc->network_mode + 8
                : NULL;

        if (owner) {
            struct octr ow = {owner, 1, NULL, 0, 0, NULL, NULL};
            owner_id = obs_id(&ow);
        }
        if (svc)
            spec_service_hash_json(svc, hash, &json);
        rec_runtime_hash(hash, owner_id, NULL, NULL, rhash);
        if (o->stale || !svc)
            snprintf(rhash, sizeof(rhash), "%s", "0000stale");
        snprintf(num, sizeof(num), "%d", o->n);
        ci->id = obs_id(o);
        ci->name = stk_xasprintf("t-%s-%d", o->svc, o->n);
        ci->state = rt_state_from_string(o->state);
        add_label(ci, RT_LABEL_PROJECT, "t");
        add_label(ci, RT_LABEL_SERVICE, o->svc);
        add_label(ci, RT_LABEL_NUMBER, num);
        add_label(ci, RT_LABEL_HASH, rhash);
        if (o->deps)
            add_label(ci, RT_LABEL_DEPENDS_ON, o->deps);
        row->id = stk_xstrdup(ci->id);
        row->project = stk_xstrdup("t");
        row->service = stk_xstrdup(o->svc);
        row->number = o->n;
        row->hash = stk_xstrdup(rhash);
        row->state = stk_xstrdup(o->state);
        row->spec_json = o->stale ? stk_xstrdup("{\"image\":\"old\"}") : stk_xstrdup(json);
        row->sandbox = stk_xstrdup(owner_id ? owner_id : ci->id);
        row->health = o->healthy ? stk_xstrdup("healthy") : NULL;
        row->exit_code = -1;
        if (!owner_id) {
            obs->inv.sandboxes[nsb].id = stk_xstrdup(ci->id);
            obs->inv.sandboxes[nsb].project = stk_xstrdup("t");
            nsb++;
        }
        free(json);
        free(owner_id);
    }
    if (c->orphan_sandbox) {
        obs->inv.sandboxes[nsb].id = stk_xstrdup(c->orphan_sandbox);
        obs->inv.sandboxes[nsb].project = stk_xstrdup("t");
        nsb++;
    }
    obs->containers.n = n;
    obs->n_rows = n;
    obs->inv.n_sandboxes = nsb;
    if (!c->no_network) {
        obs->inv.networks = stk_xcalloc(2, sizeof(struct net_network_info));
        obs->inv.networks[0].name = stk_xstrdup("t_default");
        obs->inv.networks[0].bridge = stk_xstrdup("stk-br0");
        obs->inv.networks[0].project = stk_xstrdup("t");
        obs->inv.n_networks = 1;
    }
}

/* ---- reading the plan ---------------------------------------------------------------------- */

static char *histogram(const struct rec_plan *pl)
{
    struct stk_buf b = STK_BUF_INIT;
    size_t count[_REC_A_MAX] = {0};

    for (size_t i = 0; i < pl->n_actions; i++)
        count[pl->actions[i].kind]++;
    for (int k = 0; k < _REC_A_MAX; k++)
        if (count[k])
            stk_buf_printf(&b, "%s%s=%zu", b.len ? " " : "",
                           rec_action_kind_to_string((enum rec_action_kind)k), count[k]);
    return stk_buf_detach(&b, NULL);
}

static char *changes(const struct rec_plan *pl)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; i < pl->n_changes; i++)
        stk_buf_printf(&b, "%s%s %s", i ? "; " : "", pl->changes[i].verb, pl->changes[i].what);
    return stk_buf_detach(&b, NULL);
}

/* The first action of KIND for service SVC ("-": of no service), or -1. */
static long find(const struct rec_plan *pl, const char *kind, const char *svc)
{
    char *mark = stk_xasprintf("-%s-", svc);
    long found = -1;

    for (size_t i = 0; i < pl->n_actions && found < 0; i++) {
        const struct rec_action *a = &pl->actions[i];
        if (strcmp(rec_action_kind_to_string(a->kind), kind) != 0)
            continue;
        if (strcmp(svc, "-") == 0 || (a->service && strcmp(a->service, svc) == 0) ||
            (!a->service && a->object && strstr(a->object, mark)))
            found = (long)i;
    }
    free(mark);
    return found;
}

/* Whether action B depends on action A, directly or not. */
static int depends(const struct rec_plan *pl, size_t b, size_t a, int depth)
{
    if (depth > 64)
        return 0;
    for (size_t d = 0; d < pl->actions[b].n_deps; d++)
        if (pl->actions[b].deps[d] == a || depends(pl, pl->actions[b].deps[d], a, depth + 1))
            return 1;
    return 0;
}

static void check_order(const struct diff_case *c, const struct rec_plan *pl)
{
    char *spec = stk_xstrdup(c->order), *save = NULL;

    for (char *pair = strtok_r(spec, ";", &save); pair; pair = strtok_r(NULL, ";", &save)) {
        char ka[40], sa[40], kb[40], sb[40];
        long a, b;
        cr_assert_eq(sscanf(pair, " %39[^:]:%39s < %39[^:]:%39s", ka, sa, kb, sb), 4,
                     "%s: bad order '%s'", c->name, pair);
        a = find(pl, ka, sa);
        b = find(pl, kb, sb);
        cr_assert_geq(a, 0, "%s: no %s of '%s'", c->name, ka, sa);
        cr_assert_geq(b, 0, "%s: no %s of '%s'", c->name, kb, sb);
        cr_assert(depends(pl, (size_t)b, (size_t)a, 0), "%s: %s:%s does not wait for %s:%s",
                  c->name, kb, sb, ka, sa);
    }
    free(spec);
}

static void check_json(const struct diff_case *c, const struct rec_plan *pl)
{
    json_t *j = rec_plan_to_json(pl);
    char *text = json_dumps(j, JSON_COMPACT);
    char *want = stk_xstrdup(c->json_has);
    char *p = want;

    cr_assert_not_null(text);
    while (p) {
        char *next = strstr(p, " && ");
        if (next)
            *next = '\0';
        cr_assert(strstr(text, p), "%s: the plan JSON lacks %s:\n%s", c->name, p, text);
        p = next ? next + 4 : NULL;
    }
    free(want);
    free(text);
    json_decref(j);
}

static void check_same_sandbox(const struct diff_case *c, const struct rec_plan *pl)
{
    char a[40], b[40];
    size_t fa = SIZE_MAX, fb = SIZE_MAX;

    cr_assert_eq(sscanf(c->same_sandbox, "%39s %39s", a, b), 2);
    for (size_t s = 0; s < pl->n_slots; s++) {
        const char *name = pl->spec->services[pl->slots[s].svc].name;
        if (strcmp(name, a) == 0)
            fa = pl->slots[s].sandbox_from;
        if (strcmp(name, b) == 0)
            fb = pl->slots[s].sandbox_from;
    }
    cr_assert_neq(fa, SIZE_MAX, "%s: '%s' binds no sandbox", c->name, a);
    cr_assert_eq(fa, fb, "%s: '%s' binds action %zu, '%s' action %zu", c->name, a, fa, b, fb);
    cr_assert_eq(pl->actions[fa].kind, REC_A_SANDBOX_CREATE);
}

/* ---- the table ------------------------------------------------------------------------------- */

static void run_case(const struct diff_case *c)
{
    struct spec_project *p = c->mode == UP ? load(c->yaml) : NULL;
    struct rec_observed obs;
    struct rec_plan *pl = NULL;
    struct rec_up_opts opts = {0};
    struct stk_err err = STK_ERR_INIT;
    char *got;
    int r;

    observe(c, p, &obs);
    opts.remove_orphans = c->remove_orphans;
    opts.wait = c->wait;
    if (c->mode == UP) {
        pl = rec_plan_new(p);
        r = rec_plan_diff(pl, NULL, &obs, &opts, &err);
    } else if (c->mode == DOWN) {
        r = rec_plan_diff_down("t", &obs, &pl, &err);
    } else {
        r = rec_plan_diff_stop_start("t", &obs, NULL, c->mode == START, REC_GRACE_OF_SERVICE, &pl,
                                     &err);
    }
    cr_assert_eq(r, 0, "%s: %s", c->name, err.msg);
    got = histogram(pl);
    cr_expect(strcmp(got, c->actions) == 0, "%s: actions '%s', want '%s'", c->name, got,
              c->actions);
    free(got);
    if (c->changes) {
        got = changes(pl);
        cr_expect(strcmp(got, c->changes) == 0, "%s: changes '%s', want '%s'", c->name, got,
                  c->changes);
        free(got);
    }
    if (c->order)
        check_order(c, pl);
    if (c->json_has)
        check_json(c, pl);
    if (c->same_sandbox)
        check_same_sandbox(c, pl);
    if (c->mode == UP) {
        /* A mutation-free plan is what lets up return without touching anything. */
        int noop = strcmp(c->actions, "") == 0;
        cr_expect_eq(pl->n_actions == 0, noop, "%s: n_actions %zu", c->name, pl->n_actions);
    }
    rec_plan_free(pl);
    rec_observed_release(&obs);
    spec_project_free(p);
}

/* One Criterion test per row, named as the row. */
static void run_named(const char *name)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(cases[i].name, name) == 0) {
            run_case(&cases[i]);
            return;
        }
    cr_assert_fail("no case '%s' in the table", name);
}

#define DIFF_CASE(n)                                                                               \
    Test(rec_diff, n)                                                                              \
    {                                                                                              \
        run_named(#n);                                                                             \
    }

DIFF_CASE(create_one_service)
DIFF_CASE(create_two_in_depends_on_order)
DIFF_CASE(create_service_healthy_gate)
DIFF_CASE(create_completed_successfully_gate)
DIFF_CASE(create_network_mode_none_has_no_endpoint)
DIFF_CASE(create_external_network_is_not_created)
DIFF_CASE(create_missing_network_only)
DIFF_CASE(noop_one_service)
DIFF_CASE(noop_with_joiner)
DIFF_CASE(noop_health_gate_recorded_healthy)
DIFF_CASE(noop_health_gate_unknown_health_nothing_starts)
DIFF_CASE(noop_wait_recorded_healthy)
DIFF_CASE(wait_unknown_health_checks_without_mutation)
DIFF_CASE(noop_completed_dependency_nothing_starts)
DIFF_CASE(hash_change_recreates)
DIFF_CASE(hash_change_touches_only_that_service)
DIFF_CASE(hash_change_start_first_keeps_the_old_until_started)
DIFF_CASE(hash_change_of_dependency_restarts_with_restart_true)
DIFF_CASE(joiner_cascade_owner_changed)
DIFF_CASE(joiner_changed_alone_joins_existing_sandbox)
DIFF_CASE(joiner_created_with_owner_shares_one_sandbox)
DIFF_CASE(late_bound_refs_name_the_sandbox_action)
DIFF_CASE(late_bound_refs_per_replica)
DIFF_CASE(late_bound_joiner_of_kept_owner_names_its_fetch)
DIFF_CASE(scale_up_adds_replicas)
DIFF_CASE(scale_down_removes_highest_first)
DIFF_CASE(scale_to_zero)
DIFF_CASE(scale_up_and_hash_change)
DIFF_CASE(orphan_stays_without_remove_orphans)
DIFF_CASE(orphan_removed_with_remove_orphans)
DIFF_CASE(orphan_sandbox_without_container_removed)
DIFF_CASE(interrupted_create_is_replaced)
DIFF_CASE(second_container_of_a_slot_removed)
DIFF_CASE(stopped_container_is_started_not_recreated)
DIFF_CASE(created_container_is_started)
DIFF_CASE(stopped_pair_starts_in_depends_on_order)
DIFF_CASE(stopped_dependant_waits_for_unknown_health)
DIFF_CASE(stopped_dependant_trusts_recorded_health)
DIFF_CASE(depends_on_chain_of_three)
DIFF_CASE(depends_on_diamond)
DIFF_CASE(down_removes_in_reverse_dependency_order)
DIFF_CASE(stop_stops_dependants_first)
DIFF_CASE(start_starts_dependencies_first)

Test(rec_diff, every_row_has_its_test)
{
    /* The DIFF_CASE list above names every row once: the count is the table's. */
    static const char *const listed[] = {
        "create_one_service",
        "create_two_in_depends_on_order",
        "create_service_healthy_gate",
        "create_completed_successfully_gate",
        "create_network_mode_none_has_no_endpoint",
        "create_external_network_is_not_created",
        "create_missing_network_only",
        "noop_one_service",
        "noop_with_joiner",
        "noop_health_gate_recorded_healthy",
        "noop_health_gate_unknown_health_nothing_starts",
        "noop_wait_recorded_healthy",
        "wait_unknown_health_checks_without_mutation",
        "noop_completed_dependency_nothing_starts",
        "hash_change_recreates",
        "hash_change_touches_only_that_service",
        "hash_change_start_first_keeps_the_old_until_started",
        "hash_change_of_dependency_restarts_with_restart_true",
        "joiner_cascade_owner_changed",
        "joiner_changed_alone_joins_existing_sandbox",
        "joiner_created_with_owner_shares_one_sandbox",
        "late_bound_refs_name_the_sandbox_action",
        "late_bound_refs_per_replica",
        "late_bound_joiner_of_kept_owner_names_its_fetch",
        "scale_up_adds_replicas",
        "scale_down_removes_highest_first",
        "scale_to_zero",
        "scale_up_and_hash_change",
        "orphan_stays_without_remove_orphans",
        "orphan_removed_with_remove_orphans",
        "orphan_sandbox_without_container_removed",
        "interrupted_create_is_replaced",
        "second_container_of_a_slot_removed",
        "stopped_container_is_started_not_recreated",
        "created_container_is_started",
        "stopped_pair_starts_in_depends_on_order",
        "stopped_dependant_waits_for_unknown_health",
        "stopped_dependant_trusts_recorded_health",
        "depends_on_chain_of_three",
        "depends_on_diamond",
        "down_removes_in_reverse_dependency_order",
        "stop_stops_dependants_first",
        "start_starts_dependencies_first",
    };

    cr_assert_eq(sizeof(listed) / sizeof(listed[0]), sizeof(cases) / sizeof(cases[0]));
}

Test(rec_diff, has_at_least_thirty_cases)
{
    cr_assert_geq(sizeof(cases) / sizeof(cases[0]), 30);
}

Test(rec_diff, observed_state_is_not_modified)
{
    /* The diff borrows the observed state: two diffs of one state give the same plan. */
    const struct diff_case *c = NULL;
    struct spec_project *p;
    struct rec_observed obs;
    struct rec_plan *a, *b;
    struct rec_up_opts opts = {0};
    struct stk_err err = STK_ERR_INIT;
    char *ha, *hb, *ca, *cb;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(cases[i].name, "hash_change_touches_only_that_service") == 0)
            c = &cases[i];
    cr_assert_not_null(c);
    p = load(c->yaml);
    a = rec_plan_new(p);
    b = rec_plan_new(p);
    observe(c, p, &obs);
    cr_assert_eq(rec_plan_diff(a, NULL, &obs, &opts, &err), 0, "%s", err.msg);
    cr_assert_eq(rec_plan_diff(b, NULL, &obs, &opts, &err), 0, "%s", err.msg);
    ha = histogram(a);
    hb = histogram(b);
    ca = changes(a);
    cb = changes(b);
    cr_assert_str_eq(ha, hb);
    cr_assert_str_eq(ca, cb);
    cr_assert_str_eq(ca, "recreate web-1");
    free(ha);
    free(hb);
    free(ca);
    free(cb);
    rec_plan_free(a);
    rec_plan_free(b);
    rec_observed_release(&obs);
    spec_project_free(p);
}
