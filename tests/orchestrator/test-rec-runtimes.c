/*
 * test-rec-runtimes.c - several runtime drivers at once (rec_runtimes_new()):
 * two fake drivers, one for process isolation and one for hyperv, behind one
 * context; each service's containers go to the driver of its resolved
 * isolation, the listing merges both (so a second up is a no-op), and down
 * removes from each what it made.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "orchestrator/cli/cli.h"
#include "rec-fixture.h"
#include "runtime/fake/rt-fake.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

static struct rec_fixture F;
static struct rt_ctx *vm;   /* the second fake: hyperv */
static struct rt_ctx *both; /* the composite */

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_ctx *table[_RT_ISOLATION_MAX] = {0};
    char *dir;

    rec_fixture_init(&F, 0);
    dir = stk_xasprintf("%s/vm", F.dir);
    cr_assert_eq(stk_mkdir_p(dir, 0700, &err), 0, "%s", err.msg);
    vm = rt_ctx_new(rt_driver_find("fake", &err), &F.loop, dir, dir, "/nonexistent/stack", F.images,
                    &err);
    cr_assert_not_null(vm, "%s", err.msg);
    cr_assert_eq(rt_fake_set_hyperv(vm, 1, &err), 0, "%s", err.msg);
    free(dir);
    table[RT_ISOLATION_PROCESS] = F.rt;
    table[RT_ISOLATION_HYPERV] = vm;
    both = rec_runtimes_new(&F.loop, table, &err);
    cr_assert_not_null(both, "%s", err.msg);
    F.env.rt = both;
}

static void teardown(void)
{
    rt_ctx_free(both);
    rt_ctx_free(vm);
    rec_fixture_fini(&F);
}

/* Containers CTX lists for SERVICE. */
static size_t count(struct rt_ctx *ctx, const char *service)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    size_t n = 0;
    int r;

    r = rt_container_list(ctx, rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&F.loop, &s, r, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < s.list.n; i++) {
        const char *svc = rt_container_info_label(&s.list.items[i], RT_LABEL_SERVICE);
        if (svc && strcmp(svc, service) == 0)
            n++;
    }
    rt_sync_release(&s);
    return n;
}

static const char *mixed = "services:\n"
                           "  web:\n    image: @IMAGE@\n    command: [\"sleep\", \"1000\"]\n"
                           "    isolation: process\n"
                           "  vm:\n    image: @IMAGE@\n    command: [\"sleep\", \"1000\"]\n"
                           "    isolation: hyperv\n    deploy:\n      replicas: 2\n";

Test(rec_runtimes, each_service_goes_to_the_driver_of_its_isolation, .init = setup,
     .fini = teardown)
{
    struct spec_project *p = rec_fixture_load(&F, mixed);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(count(F.rt, "web"), 1, "web runs on the process driver");
    cr_assert_eq(count(F.rt, "vm"), 0, "no hyperv container on the process driver");
    cr_assert_eq(count(vm, "vm"), 2, "both vm replicas run on the hyperv driver");
    cr_assert_eq(count(vm, "web"), 0);
    cr_assert_eq(count(both, "vm") + count(both, "web"), 3, "the listing merges both drivers");

    /* The merged listing sees everything: a second up changes nothing. */
    cr_assert_eq(rt_fake_calls_reset(F.rt, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_fake_calls_reset(vm, &err), 0, "%s", err.msg);
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "second up: %s", err.msg);
    cr_assert_eq(rt_fake_calls(F.rt, RT_FAKE_OP_MUTATING), 0);
    cr_assert_eq(rt_fake_calls(vm, RT_FAKE_OP_MUTATING), 0);

    /* down routes every removal to the driver that made the container. */
    cr_assert_eq(cli_down(&F.env, p->name, &err), 0, "down: %s", err.msg);
    cr_assert_eq(count(F.rt, "web"), 0);
    cr_assert_eq(count(vm, "vm"), 0);
    spec_project_free(p);
}

Test(rec_runtimes, host_info_offers_the_isolations_of_every_member, .init = setup, .fini = teardown)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    int r;

    r = rt_host_info(both, rt_sync_done, &s, NULL, &err);
    cr_assert_eq(rt_sync_wait(&F.loop, &s, r, &err), 0, "%s", err.msg);
    cr_assert(s.host.available);
    cr_assert(s.host.isolations & (1u << RT_ISOLATION_PROCESS));
    cr_assert(s.host.isolations & (1u << RT_ISOLATION_HYPERV));
    cr_assert_eq(s.host.default_isolation, RT_ISOLATION_PROCESS);
    rt_sync_release(&s);
}

Test(rec_runtimes, an_isolation_without_a_driver_is_refused, .init = setup, .fini = teardown)
{
    struct rt_ctx *table[_RT_ISOLATION_MAX] = {0};
    struct rt_ctx *only;
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    struct spec_project *p = rec_fixture_load(&F, mixed);

    cr_assert_null(rec_runtimes_new(&F.loop, table, &err), "no member is an error");
    cr_assert_eq(err.code, STK_EINVAL);
    stk_err_clear(&err);
    table[RT_ISOLATION_PROCESS] = F.rt;
    only = rec_runtimes_new(&F.loop, table, &err);
    cr_assert_not_null(only, "%s", err.msg);
    F.env.rt = only;
    cr_assert_lt(cli_up(&F.env, p, &o, &err), 0, "hyperv has no driver here");
    cr_assert(strstr(err.msg, "hyperv"), "%s", err.msg);
    cr_assert_eq(count(vm, "vm"), 0);
    F.env.rt = both;
    rt_ctx_free(only);
    spec_project_free(p);
}
