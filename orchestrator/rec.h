/*
 * rec.h - the reconciler: observed state from the runtime, plan (desired vs
 * observed), apply on the libuv loop, and the CLI verbs built on them
 * (DESIGN.md §3).
 */
#ifndef REC_H
#define REC_H

/* Returns the product version ("0.1.0"), static. */
const char *rec_version(void);

#endif
