/*
 * rec-fixture.h - a reconciler test bench: a temporary state dir, the fake
 * runtime driver and the fake network plug-in (optionally file-backed), the
 * image store with the example busybox image, and an on-disk store.
 */
#ifndef REC_FIXTURE_H
#define REC_FIXTURE_H

#include <uv.h>

#include "orchestrator/rec/rec.h"

struct spec_project;

struct rec_fixture {
    char dir[128];
    char state_dir[160];
    char run_dir[160];
    char image[512];
    uv_loop_t loop;
    struct rt_image_store *images;
    struct rt_ctx *rt;
    struct net_ctx *net;
    struct store *store;
    struct rec_env env;
};

/* Sets up F; FILE_BACKED makes both fakes keep their state in files (crash tests). */
void rec_fixture_init(struct rec_fixture *f, int file_backed);
/* Reopens the fakes and the store (as a new process would). */
void rec_fixture_reopen(struct rec_fixture *f, int file_backed);
void rec_fixture_fini(struct rec_fixture *f);
/* Writes YAML (with "@IMAGE@" replaced by the image path) and loads it; asserts success. */
struct spec_project *rec_fixture_load(struct rec_fixture *f, const char *yaml);
/* Number of containers of the fake runtime in STATE ("running", "created", "stopped", NULL: all).
 */
size_t rec_fixture_count(struct rec_fixture *f, const char *service, const char *state);
/* The runtime id of SERVICE replica NUMBER, a new string, NULL if none. */
char *rec_fixture_id(struct rec_fixture *f, const char *service, int number);

#endif
