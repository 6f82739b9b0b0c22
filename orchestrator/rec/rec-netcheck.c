/*
 * rec-netcheck.c - the checks of a project's networks and ports that the
 * network plug-in would only make when it creates them (issue 12, "Bad
 * input"), made before the plan creates anything, each a spec error at the
 * position the file shows: two networks whose IPv4 subnets overlap, a static
 * ipv4_address outside its network's subnet (or its network or broadcast
 * address), a host port pool smaller than the service's replicas.
 */
#include "orchestrator/rec/rec-internal.h"
#include "orchestrator/rec/rec-plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "specs/spec.h"

/* Parses a dotted IPv4 address (portable: this file builds for Windows too); 0 on success. */
static int ipv4(const char *s, uint32_t *ret)
{
    unsigned a, b, c, d;
    char tail;

    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 ||
        d > 255)
        return -1;
    *ret = a << 24 | b << 16 | c << 8 | d;
    return 0;
}

/* Parses an IPv4 CIDR; 0 on success. */
static int cidr(const char *s, uint32_t *ret_net, uint32_t *ret_mask)
{
    char buf[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    uint32_t a;
    long p;
    char *end;

    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    p = strtol(slash + 1, &end, 10);
    if (*end || p < 0 || p > 32 || ipv4(buf, &a) < 0)
        return -1;
    *ret_mask = p ? 0xffffffffu << (32 - p) : 0;
    *ret_net = a & *ret_mask;
    return 0;
}

/* The first IPv4 subnet of NW's ipam.config, or NULL. */
static const char *subnet4(const struct spec_network *nw)
{
    for (size_t k = 0; nw->subnets && nw->subnets[k]; k++)
        if (strchr(nw->subnets[k], '.'))
            return nw->subnets[k];
    return NULL;
}

static int spec_error(struct stk_err *err, const struct spec_pos *pos, const char *fmt, ...)
    STK_PRINTF(3, 4);

static int spec_error(struct stk_err *err, const struct spec_pos *pos, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    int r;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    if (pos && pos->file && pos->line)
        r = stk_err_set_at(err, STK_ESPEC, pos->file, pos->line, pos->col, "%s", msg);
    else
        r = stk_err_set(err, STK_ESPEC, 0, "%s", msg);
    free(msg);
    return r;
}

int rec_net_validate(const struct spec_project *p, struct stk_err *err)
{
    for (size_t i = 0; i < p->n_networks; i++) {
        const struct spec_network *a = &p->networks[i];
        uint32_t an, am;

        if (a->external || !subnet4(a) || cidr(subnet4(a), &an, &am) < 0)
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct spec_network *b = &p->networks[j];
            uint32_t bn, bm, m;

            if (b->external || !subnet4(b) || cidr(subnet4(b), &bn, &bm) < 0)
                continue;
            m = am & bm;
            if ((an & m) == (bn & m))
                return spec_error(err, &a->pos,
                                  "network '%s': ipam.config subnet '%s' overlaps network '%s'",
                                  a->key, subnet4(a), b->key);
        }
    }
    for (size_t s = 0; s < p->n_services; s++) {
        const struct spec_service *svc = &p->services[s];
        int replicas = svc->replicas > 0 ? svc->replicas : 1;

        for (size_t k = 0; k < svc->n_network_attachments; k++) {
            const struct spec_service_network *na = &svc->network_attachments[k];
            const struct spec_network *nw = NULL;
            uint32_t n, m, ip;

            for (size_t q = 0; q < p->n_networks && !nw; q++)
                if (strcmp(p->networks[q].key, na->key) == 0)
                    nw = &p->networks[q];
            if (!na->ipv4_address || !nw || !subnet4(nw) || cidr(subnet4(nw), &n, &m) < 0)
                continue;
            if (ipv4(na->ipv4_address, &ip) < 0)
                continue; /* the loader reports a malformed address */
            if ((ip & m) != n || ip == n || ip == (n | ~m))
                return spec_error(err, &na->pos,
                                  "service '%s': networks.%s.ipv4_address is not a host "
                                  "address of subnet '%s'",
                                  svc->name, na->key, subnet4(nw));
        }
        for (size_t k = 0; k < svc->n_ports; k++) {
            const struct spec_port *sp = &svc->ports[k];
            if (!sp->published_end || sp->published_end < sp->published ||
                sp->published_end - sp->published + 1 >= replicas)
                continue;
            return spec_error(err, &sp->pos,
                              "service '%s': ports: the host port range %u-%u is smaller than "
                              "its %d replicas",
                              svc->name, sp->published, sp->published_end, replicas);
        }
    }
    return 0;
}
