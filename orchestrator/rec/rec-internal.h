/*
 * rec-internal.h - private cross-file functions of the reconciler.
 */
#ifndef REC_INTERNAL_H
#define REC_INTERNAL_H

#include <stdint.h>

#include "netplugins/net-plugin.h"
#include "orchestrator/rec/rec.h"

struct rt_container_list;

/* Formats one progress line and hands it to env->sink (nothing is printed). */
void rec__progress(struct rec_env *env, const char *fmt, ...) STK_PRINTF(2, 3);

/*
 * The ps text of published ports, "0.0.0.0:8080->80/tcp, ..." (docker ps's
 * form; an empty host IP prints as 0.0.0.0); ports with host port 0 are left
 * out. Returns a new string ("" for none).
 */
char *rec__ports_text(const struct net_port *ports, size_t n);

#endif
