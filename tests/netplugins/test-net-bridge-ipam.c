/*
 * test-net-bridge-ipam.c - the bridge plug-in's address allocator
 * (netplugins/bridge/bridge-ipam.c): files in a temporary folder only.
 */
#include <criterion/criterion.h>

#include "stk-config.h"

#if STK_HAVE_CNI

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netplugins/bridge/net-bridge.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/stk-ipam-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(net_bridge_ipam, hands_out_after_the_last_skipping_gateway_and_reuses_per_owner, .init = setup,
     .fini = teardown)
{
    struct stk_err err = STK_ERR_INIT;
    char a[16], b[16], again[16], c[16];

    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, "x/eth0", a, &err), 0,
        "%s", err.msg);
    cr_assert_str_eq(a, "10.1.0.2");
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, "y/eth0", b, &err), 0);
    cr_assert_str_eq(b, "10.1.0.3");
    /* The same owner gets its address again (an ADD retried after a crash). */
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, "x/eth0", again, &err),
        0);
    cr_assert_str_eq(again, a);
    /* A released address is not the next one handed out: a recreated peer gets a new one. */
    cr_assert_eq(net__bridge_ipam_release(dir, "n", "x/eth0", &err), 0);
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, "x/eth0", c, &err), 0);
    cr_assert_str_eq(c, "10.1.0.4");
    cr_assert_eq(net__bridge_ipam_lookup(dir, "n", "y/eth0", again, &err), 0);
    cr_assert_str_eq(again, "10.1.0.3");
    cr_assert_eq(net__bridge_ipam_lookup(dir, "n", "nobody/eth0", again, &err), STK_ENOENT);
    stk_err_clear(&err);
}

Test(net_bridge_ipam, static_addresses_and_a_full_subnet, .init = setup, .fini = teardown)
{
    struct stk_err err = STK_ERR_INIT;
    char a[16];
    const char *owners[] = {"a/eth0", "b/eth0", "c/eth0", "d/eth0", "e/eth0"};

    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", "10.1.0.5", "s/eth0", a, &err),
        0);
    cr_assert_str_eq(a, "10.1.0.5");
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", "10.1.0.5", "t/eth0", a, &err),
        STK_EEXIST);
    stk_err_clear(&err);
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", "10.1.0.7", "t/eth0", a, &err),
        STK_ENET, "the broadcast address is refused");
    stk_err_clear(&err);
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", "10.2.0.2", "t/eth0", a, &err),
        STK_ENET, "an address outside the subnet is refused");
    stk_err_clear(&err);
    /* 10.1.0.2..6 less the static .5: four more, then the subnet is full. */
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(
            net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, owners[i], a, &err),
            0, "%zu: %s", i, err.msg);
    cr_assert_eq(
        net__bridge_ipam_alloc(dir, "n", "10.1.0.0/29", "10.1.0.1", NULL, owners[4], a, &err),
        STK_ENET);
    cr_assert(strstr(err.msg, "no free address"), "%s", err.msg);
    stk_err_clear(&err);
}

struct job {
    int id;
    char addr[16];
    int ret;
};

static void *alloc_thread(void *arg)
{
    struct job *j = arg;
    struct stk_err err = STK_ERR_INIT;
    char owner[32];

    snprintf(owner, sizeof(owner), "c%d/eth0", j->id);
    j->ret =
        net__bridge_ipam_alloc(dir, "n", "10.3.0.0/24", "10.3.0.1", NULL, owner, j->addr, &err);
    stk_err_clear(&err);
    return NULL;
}

Test(net_bridge_ipam, parallel_allocations_never_share_an_address, .init = setup, .fini = teardown)
{
    struct job jobs[16];
    pthread_t t[16];

    for (int i = 0; i < 16; i++) {
        jobs[i].id = i;
        cr_assert_eq(pthread_create(&t[i], NULL, alloc_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(jobs[i].ret, 0);
        for (int k = 0; k < i; k++)
            cr_assert_str_neq(jobs[i].addr, jobs[k].addr, "%d and %d share %s", i, k, jobs[i].addr);
    }
}

#else

Test(net_bridge_ipam, not_built)
{
    cr_skip_test("the bridge plug-in is Linux only");
}

#endif
