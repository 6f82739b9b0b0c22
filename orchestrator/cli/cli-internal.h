/*
 * cli-internal.h - private cross-file functions of the command line.
 */
#ifndef CLI_INTERNAL_H
#define CLI_INTERNAL_H

#include "orchestrator/rec/rec.h"

struct rt_container_list;

/*
 * Lists PROJECT's containers from the runtime into *RET (release with
 * rt_container_list_release()), running ENV's loop until the listing is done.
 */
int cli__observe(struct rec_env *env, const char *project, struct rt_container_list *ret,
                 struct stk_err *err);

/* Formats one progress line and hands it to ENV's sink, as the library does. */
void cli__progress(struct rec_env *env, const char *fmt, ...) STK_PRINTF(2, 3);

struct rt_image_platform;
/* cli_image_pull() for the platform WANT (the prepare phase has it already). */
int cli__image_pull(struct rec_env *env, const char *ref, const struct rt_image_platform *want,
                    struct stk_err *err);

#endif
