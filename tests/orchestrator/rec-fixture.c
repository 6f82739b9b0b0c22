/* rec-fixture.c - see rec-fixture.h. */
#include "rec-fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "netplugins/fake/net-fake.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/store/store.h"
#include "runtime/fake/rt-fake.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

static void image_path(char *out, size_t size)
{
    /* Built once per build tree and shared by the tests (the script is deterministic). */
    snprintf(out, size, "%s/test-image/busybox", STK_BIN_DIR);
    if (!stk_path_exists(out)) {
        /* Tests run in parallel: build aside, then rename into place (one wins). */
        char *tmp = stk_xasprintf("%s.%d", out, getpid());
        char *cmd = stk_xasprintf("sh '%s/examples/images/build-busybox.sh' '%s' >/dev/null",
                                  STK_SOURCE_DIR, tmp);
        cr_assert_eq(system(cmd), 0, "cannot build the test image");
        if (rename(tmp, out) < 0)
            stk_rm_rf(tmp, NULL);
        free(cmd);
        free(tmp);
    }
}

static void open_parts(struct rec_fixture *f, int file_backed)
{
    struct stk_err err = STK_ERR_INIT;
    char *db = stk_xasprintf("%s/state.db", f->state_dir);

    uv_loop_init(&f->loop);
    cr_assert_eq(store_open(db, &f->store, &err), 0, "%s", err.msg);
    free(db);
    cr_assert_eq(rt_image_store_open(f->state_dir, &f->images, &err), 0, "%s", err.msg);
    f->rt = rt_ctx_new(rt_driver_find("fake", &err), &f->loop, f->state_dir, f->run_dir,
                       "/nonexistent/stack", f->images, &err);
    cr_assert_not_null(f->rt, "%s", err.msg);
    f->net = net_ctx_new(net_plugin_find("fake", &err), &f->loop, f->state_dir, f->run_dir, &err);
    cr_assert_not_null(f->net, "%s", err.msg);
    if (file_backed) {
        char *a = stk_xasprintf("%s/fake-rt.json", f->state_dir);
        char *b = stk_xasprintf("%s/fake-net.json", f->state_dir);
        cr_assert_eq(rt_fake_set_state_file(f->rt, a, &err), 0, "%s", err.msg);
        cr_assert_eq(net_fake_set_state_file(f->net, b, &err), 0, "%s", err.msg);
        free(a);
        free(b);
    }
    memset(&f->env, 0, sizeof(f->env));
    f->env.loop = &f->loop;
    f->env.rt = f->rt;
    f->env.net = f->net;
    f->env.images = f->images;
    f->env.store = f->store;
    f->env.state_dir = f->state_dir;
    f->env.run_dir = f->run_dir;
}

static void close_parts(struct rec_fixture *f)
{
    net_ctx_free(f->net);
    rt_ctx_free(f->rt);
    rt_image_store_close(f->images);
    store_close(f->store);
    f->net = NULL;
    f->rt = NULL;
    f->images = NULL;
    f->store = NULL;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_loop_close(&f->loop);
}

void rec_fixture_init(struct rec_fixture *f, int file_backed)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/stk-rec-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
    snprintf(f->run_dir, sizeof(f->run_dir), "%s/run", f->dir);
    stk_mkdir_p(f->state_dir, 0700, NULL);
    stk_mkdir_p(f->run_dir, 0700, NULL);
    image_path(f->image, sizeof(f->image));
    open_parts(f, file_backed);
}

void rec_fixture_reopen(struct rec_fixture *f, int file_backed)
{
    close_parts(f);
    open_parts(f, file_backed);
}

void rec_fixture_fini(struct rec_fixture *f)
{
    if (!f->dir[0])
        return;
    close_parts(f);
    stk_rm_rf(f->dir, NULL);
}

struct spec_project *rec_fixture_load(struct rec_fixture *f, const char *yaml)
{
    struct spec_load_opts opts;
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = stk_xasprintf("%s/stack.yaml", f->dir);
    const char *files[] = {path, NULL};
    FILE *out = fopen(path, "w");

    cr_assert_not_null(out);
    for (const char *s = yaml; *s; s++) {
        if (strncmp(s, "@IMAGE@", 7) == 0) {
            fputs(f->image, out);
            s += 6;
        } else {
            fputc(*s, out);
        }
    }
    fclose(out);
    memset(&opts, 0, sizeof(opts));
    opts.files = files;
    opts.project_name = "t";
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "load: %s:%d:%d: %s", err.file,
                 err.line, err.col, err.msg);
    free(path);
    return p;
}

static int list_all(struct rec_fixture *f, struct rt_sync *s)
{
    struct stk_err err = STK_ERR_INIT;
    int r = rt_container_list(f->rt, rt_sync_done, s, NULL, &err);

    return rt_sync_wait(&f->loop, s, r, &err);
}

size_t rec_fixture_count(struct rec_fixture *f, const char *service, const char *state)
{
    struct rt_sync s = RT_SYNC_INIT;
    size_t n = 0;

    cr_assert_eq(list_all(f, &s), 0);
    for (size_t i = 0; i < s.list.n; i++) {
        const char *sv = rt_container_info_label(&s.list.items[i], RT_LABEL_SERVICE);
        if (service && (!sv || strcmp(sv, service) != 0))
            continue;
        if (state && strcmp(rt_state_to_string(s.list.items[i].state), state) != 0)
            continue;
        n++;
    }
    rt_sync_release(&s);
    return n;
}

char *rec_fixture_id(struct rec_fixture *f, const char *service, int number)
{
    struct rt_sync s = RT_SYNC_INIT;
    char num[16];
    char *id = NULL;

    snprintf(num, sizeof(num), "%d", number);
    cr_assert_eq(list_all(f, &s), 0);
    for (size_t i = 0; i < s.list.n; i++) {
        const char *sv = rt_container_info_label(&s.list.items[i], RT_LABEL_SERVICE);
        const char *nb = rt_container_info_label(&s.list.items[i], RT_LABEL_NUMBER);
        if (sv && nb && strcmp(sv, service) == 0 && strcmp(nb, num) == 0)
            id = stk_xstrdup(s.list.items[i].id);
    }
    rt_sync_release(&s);
    return id;
}
