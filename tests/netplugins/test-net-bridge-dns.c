/*
 * test-net-bridge-dns.c - the bridge plug-in's DNS query handling
 * (netplugins/bridge/bridge-dns.c): queries built with ldns, answers read
 * back with ldns. Pure: no socket, no host state.
 */
#include <criterion/criterion.h>

#include "stk-config.h"

#if STK_HAVE_CNI

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "netplugins/bridge/net-bridge.h"

static uint32_t ip(const char *s)
{
    struct in_addr a;

    cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
    return ntohl(a.s_addr);
}

/* web (2 replicas) and client on front; lonely on other; both on front and other. */
static struct net__dns_view *view(void)
{
    struct net__dns_view *v = net__dns_view_new();
    const char *web1[] = {"web", "p-web-1", "WWW", NULL};
    const char *web2[] = {"web", "p-web-2", "www", NULL};
    const char *client[] = {"client", "p-client-1", NULL};
    const char *lonely[] = {"lonely", NULL};
    const char *both[] = {"both", NULL};

    cr_assert_eq(net__dns_view_add(v, "sb-web1", "front", "10.0.1.2", web1), 0);
    cr_assert_eq(net__dns_view_add(v, "sb-web2", "front", "10.0.1.3", web2), 0);
    cr_assert_eq(net__dns_view_add(v, "sb-client", "front", "10.0.1.4", client), 0);
    cr_assert_eq(net__dns_view_add(v, "sb-lonely", "other", "10.0.2.2", lonely), 0);
    cr_assert_eq(net__dns_view_add(v, "sb-both", "front", "10.0.1.5", both), 0);
    cr_assert_eq(net__dns_view_add(v, "sb-both", "other", "10.0.2.3", both), 0);
    cr_assert_eq(net__dns_view_add(v, "x", "front", "not-an-address", both), STK_EINVAL);
    return v;
}

/* Asks V for NAME/TYPE from CLIENT; returns the parsed reply (caller frees) or NULL. */
static ldns_pkt *ask(struct net__dns_view *v, const char *client, const char *name,
                     ldns_rr_type type, int *ret_known)
{
    ldns_pkt *q = NULL, *a = NULL;
    uint8_t *wire = NULL, *reply = NULL;
    size_t len = 0, rlen = 0;
    int r;

    cr_assert_eq(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                 LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 4242);
    cr_assert_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    r = net__dns_answer(v, ip(client), wire, len, ret_known, &reply, &rlen);
    cr_assert_eq(r, 0, "no answer for %s", name);
    cr_assert_eq(ldns_wire2pkt(&a, reply, rlen), LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt_id(a), 4242, "the reply keeps the query's id");
    cr_assert(ldns_pkt_qr(a));
    free(wire);
    free(reply);
    ldns_pkt_free(q);
    return a;
}

static size_t addrs(ldns_pkt *a, char out[][16], size_t max)
{
    ldns_rr_list *ans = ldns_pkt_answer(a);
    size_t n = 0;

    for (size_t i = 0; i < ldns_rr_list_rr_count(ans) && n < max; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        char *s;

        cr_assert_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
        cr_assert_eq(ldns_rr_ttl(rr), 0, "answers are not cached");
        s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        snprintf(out[n++], 16, "%s", s);
        free(s);
    }
    return n;
}

Test(net_bridge_dns, service_name_answers_every_replica_in_rotation)
{
    struct net__dns_view *v = view();
    char a1[4][16], a2[4][16];
    int known;
    ldns_pkt *p = ask(v, "10.0.1.4", "web.", LDNS_RR_TYPE_A, &known);

    cr_assert(known);
    cr_assert_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    cr_assert_eq(addrs(p, a1, 4), 2);
    ldns_pkt_free(p);
    p = ask(v, "10.0.1.4", "web", LDNS_RR_TYPE_A, &known);
    cr_assert_eq(addrs(p, a2, 4), 2);
    ldns_pkt_free(p);
    cr_assert_str_neq(a1[0], a2[0], "round-robin: the first address rotates");
    cr_assert_str_eq(a1[0], a2[1]);
    net__dns_view_free(v);
}

Test(net_bridge_dns, aliases_and_replica_names_case_insensitive)
{
    struct net__dns_view *v = view();
    char a[4][16];
    int known;
    ldns_pkt *p = ask(v, "10.0.1.4", "wWw.", LDNS_RR_TYPE_A, &known);

    cr_assert_eq(addrs(p, a, 4), 2);
    ldns_pkt_free(p);
    p = ask(v, "10.0.1.4", "p-web-2.", LDNS_RR_TYPE_A, &known);
    cr_assert_eq(addrs(p, a, 4), 1);
    cr_assert_str_eq(a[0], "10.0.1.3");
    ldns_pkt_free(p);
    net__dns_view_free(v);
}

Test(net_bridge_dns, only_names_of_shared_networks)
{
    struct net__dns_view *v = view();
    char a[4][16];
    int known = 1;
    ldns_pkt *p = ask(v, "10.0.1.4", "lonely.", LDNS_RR_TYPE_A, &known);

    cr_assert_not(known, "a name of a network the client is not on is unknown");
    cr_assert_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    cr_assert_eq(addrs(p, a, 4), 0);
    ldns_pkt_free(p);
    /* The sandbox on both networks sees both, whichever address it asks from. */
    p = ask(v, "10.0.1.5", "lonely.", LDNS_RR_TYPE_A, &known);
    cr_assert(known);
    cr_assert_eq(addrs(p, a, 4), 1);
    cr_assert_str_eq(a[0], "10.0.2.2");
    ldns_pkt_free(p);
    /* An address that is no endpoint of ours is answered nothing. */
    p = ask(v, "192.0.2.1", "web.", LDNS_RR_TYPE_A, &known);
    cr_assert_not(known);
    ldns_pkt_free(p);
    net__dns_view_free(v);
}

Test(net_bridge_dns, other_types_of_a_known_name_are_nodata)
{
    struct net__dns_view *v = view();
    char a[4][16];
    int known;
    ldns_pkt *p = ask(v, "10.0.1.4", "web.", LDNS_RR_TYPE_AAAA, &known);

    cr_assert(known);
    cr_assert_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    cr_assert_eq(addrs(p, a, 4), 0);
    ldns_pkt_free(p);
    net__dns_view_free(v);
}

Test(net_bridge_dns, rejects_what_is_no_query)
{
    struct net__dns_view *v = view();
    static const uint8_t junk[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x05};
    uint8_t *reply = NULL, *wire = NULL;
    size_t rlen = 0, len = 0;
    int known;
    ldns_pkt *q = NULL;

    cr_assert_eq(net__dns_answer(v, ip("10.0.1.4"), junk, sizeof(junk), &known, &reply, &rlen),
                 STK_EINVAL);
    cr_assert_null(reply);
    /* A response (QR set) is not answered. */
    cr_assert_eq(ldns_pkt_query_new_frm_str(&q, "web.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0),
                 LDNS_STATUS_OK);
    ldns_pkt_set_qr(q, true);
    cr_assert_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    cr_assert_eq(net__dns_answer(v, ip("10.0.1.4"), wire, len, &known, &reply, &rlen), STK_EINVAL);
    free(wire);
    ldns_pkt_free(q);
    net__dns_view_free(v);
}

#else

Test(net_bridge_dns, not_built)
{
    cr_skip_test("the bridge plug-in is Linux only");
}

#endif
