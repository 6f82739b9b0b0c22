/*
 * rt-isolation.c - the driver-level helper of bench/isolation.sh: creates and
 * starts one busybox httpd container (port 8080) in a given network namespace
 * through a runtime driver ("oci" for process isolation, "vm" for hyperv),
 * or deletes it. It returns once the driver's start has returned; the script
 * measures until the port answers. Not a product command: the orchestrator
 * does not choose the vm driver yet (issue 13's orchestrator half).
 *
 * Usage: bench-rt-isolation STATE_DIR RUN_DIR up DRIVER ID NETNS_PATH
 *        bench-rt-isolation STATE_DIR RUN_DIR down DRIVER ID
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"

static int fail(const char *what, const struct stk_err *err)
{
    fprintf(stderr, "bench-rt-isolation: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_store *store = NULL;
    struct rt_image *img = NULL;
    struct rt_container_spec spec;
    struct rt_sync s = RT_SYNC_INIT;
    const struct rt_driver *d;
    struct rt_ctx *ctx;
    uv_loop_t loop;
    char *digest = NULL;
    char *args[] = {(char *)"httpd", (char *)"-f", (char *)"-p", (char *)"8080",
                    (char *)"-h",    (char *)"/",  NULL};
    char *env[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    int r;

    if (argc < 6 || (strcmp(argv[3], "up") == 0 && argc != 7)) {
        fprintf(stderr, "usage: %s STATE RUN up|down DRIVER ID [NETNS_PATH]\n", argv[0]);
        return 2;
    }
    uv_loop_init(&loop);
    d = rt_driver_find(argv[4], &err);
    if (!d)
        return fail("driver", &err);
    if (rt_image_store_open(argv[1], &store, &err) < 0)
        return fail("image store", &err);
    ctx = rt_ctx_new(d, &loop, argv[1], argv[2], STK_BIN_DIR "/orchestrator/stack", store, &err);
    if (!ctx)
        return fail("driver init", &err);
    if (strcmp(argv[3], "down") == 0) {
        r = rt_container_delete(ctx, argv[5], rt_sync_done, &s, NULL, &err);
        if (rt_sync_wait(&loop, &s, r, &err) < 0)
            return fail("delete", &err);
        return 0;
    }
    if (rt_image_load_layout(store, STK_SOURCE_DIR "/examples/images/out/busybox", NULL, &digest,
                             &err) < 0 ||
        rt_image_get(store, digest, NULL, &img, &err) < 0)
        return fail("image", &err);
    memset(&spec, 0, sizeof(spec));
    spec.id = argv[5];
    spec.name = argv[5];
    spec.isolation = strcmp(argv[4], "vm") == 0 ? RT_ISOLATION_HYPERV : RT_ISOLATION_PROCESS;
    spec.layer_digests = img->layer_digests;
    spec.process.args = args;
    spec.process.env = env;
    spec.sandbox = argv[6];
    r = rt_container_create(ctx, &spec, rt_sync_done, &s, NULL, &err);
    if (rt_sync_wait(&loop, &s, r, &err) < 0)
        return fail("create", &err);
    rt_sync_release(&s);
    r = rt_container_start(ctx, argv[5], rt_sync_done, &s, NULL, &err);
    if (rt_sync_wait(&loop, &s, r, &err) < 0)
        return fail("start", &err);
    rt_sync_release(&s);
    rt_image_free(img);
    free(digest);
    rt_ctx_free(ctx);
    rt_image_store_close(store);
    return 0;
}
