/*
 * rec-internal.h - private cross-file functions of the reconciler.
 */
#ifndef REC_INTERNAL_H
#define REC_INTERNAL_H

#include <stdint.h>

#include "netplugins/net-plugin.h"
#include "orchestrator/rec/rec.h"

struct rt_container_list;

/* Lists PROJECT's containers from the runtime into *RET (release with rt_container_list_release).
 */
int rec__observe(struct rec_env *env, const char *project, struct rt_container_list *ret,
                 struct stk_err *err);
/* Prints one progress line to env->progress. */
void rec__progress(struct rec_env *env, const char *fmt, ...) STK_PRINTF(2, 3);

/*
 * The ps text of published ports, "0.0.0.0:8080->80/tcp, ..." (docker ps's
 * form; an empty host IP prints as 0.0.0.0); ports with host port 0 are left
 * out. Returns a new string ("" for none).
 */
char *rec__ports_text(const struct net_port *ports, size_t n);

struct rt_image_platform;
/* rec_image_pull() for the platform WANT (the planner has it already). */
int rec__image_pull(struct rec_env *env, const char *ref, const struct rt_image_platform *want,
                    struct stk_err *err);

#endif
