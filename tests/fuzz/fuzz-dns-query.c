/*
 * fuzz-dns-query.c - libFuzzer target for the bridge plug-in's DNS query
 * handling (netplugins/bridge/bridge-dns.c, net__dns_answer()): any bytes
 * as a query from an endpoint of a small fixed view. Seed corpus:
 * tests/data/fuzz/dns (queries for a name, an alias, AAAA, an unknown name).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "netplugins/bridge/net-bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net__dns_view *v;
    uint8_t *reply = NULL;
    size_t len = 0;
    int known;

    if (!v) {
        const char *web[] = {"web", "p-web-1", "www", NULL};
        const char *client[] = {"client", NULL};

        v = net__dns_view_new();
        net__dns_view_add(v, "a", "front", "10.0.1.2", web);
        net__dns_view_add(v, "b", "front", "10.0.1.3", client);
    }
    if (net__dns_answer(v, 0x0a000103u, data, size, &known, &reply, &len) == 0 && (!reply || !len))
        abort();
    free(reply);
    return 0;
}
