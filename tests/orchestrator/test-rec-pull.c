/*
 * test-rec-pull.c - `up`, `plan` and `stack pull` with images that come from
 * a registry (cli_up(), cli_plan_build(), cli_pull(), cli_image_pull()): the
 * fake runtime driver and network plug-in, and a REAL registry on loopback
 * (tests/support/test-registry.h: Debian's docker-registry, filled with
 * skopeo from the example busybox layout). `plan` pulls nothing and shows the
 * pull; `up` pulls a missing image before anything is created, honouring
 * pull_policy never/always. The registry's access log counts the requests.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/cli/cli.h"
#include "rec-fixture.h"
#include "runtime/image/rt-image.h"
#include "specs/spec.h"
#include "tests/support/test-registry.h"

static struct rec_fixture F;
static struct stk_test_registry reg = {.pid = -1};
static char *progress_path;
static FILE *progress_file;

static void setup(void)
{
    stk_test_require_registry_tools();
    rec_fixture_init(&F, 0);
    stk_test_registry_start(&reg, F.dir);
    stk_test_registry_push(&reg, F.image, "test/busybox:v1", 0);
    progress_path = stk_xasprintf("%s/progress.txt", F.dir);
    progress_file = fopen(progress_path, "w");
    cr_assert_not_null(progress_file);
    F.env.sink.progress = cli_progress_print;
    F.env.sink.userdata = progress_file;
}

static void teardown(void)
{
    stk_test_registry_stop(&reg);
    if (progress_file)
        fclose(progress_file);
    progress_file = NULL;
    F.env.sink.progress = NULL;
    rec_fixture_fini(&F);
    free(progress_path);
    progress_path = NULL;
}

TestSuite(rec_pull, .init = setup, .fini = teardown, .timeout = 120);

/* How often NEEDLE occurs in the file PATH. */
static int count_in(const char *path, const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    struct stk_err err = STK_ERR_INIT;
    int n = 0;

    cr_assert_eq(stk_file_read(path, &data, &len, &err), 0, "%s", err.msg);
    for (char *p = data; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(data);
    return n;
}

static int manifest_gets(const char *tag)
{
    char *needle = stk_xasprintf("\"GET /v2/test/busybox/manifests/%s ", tag);
    int n = count_in(reg.log, needle);
    free(needle);
    return n;
}

static char *ref(const char *tag)
{
    return stk_xasprintf("127.0.0.1:%d/test/busybox:%s", reg.port, tag);
}

static struct spec_project *load(const char *tag, const char *policy, int two)
{
    char *r = ref(tag);
    char *yaml = stk_xasprintf(
        "services:\n  web:\n    image: %s\n    command: [\"sh\", \"-c\", \"sleep 1000\"]\n%s%s%s%s",
        r, policy ? "    pull_policy: " : "", policy ? policy : "", policy ? "\n" : "",
        two ? "  api:\n    image: @REF@\n    command: [\"sh\"]\n" : "");
    struct spec_project *p;
    char *full;

    /* "@REF@" → the same reference (rec_fixture_load only knows @IMAGE@). */
    {
        char *at = strstr(yaml, "@REF@");
        full =
            at ? stk_xasprintf("%.*s%s%s", (int)(at - yaml), yaml, r, at + 5) : stk_xstrdup(yaml);
    }
    p = rec_fixture_load(&F, full);
    free(full);
    free(yaml);
    free(r);
    return p;
}

static int in_store(const char *tag)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image *img = NULL;
    char *r = ref(tag);
    int ret = rt_image_resolve(F.images, r, NULL, &img, &err);

    rt_image_free(img);
    stk_err_clear(&err);
    free(r);
    return ret == 0;
}

Test(rec_pull, plan_shows_the_pull_and_up_pulls_before_creating)
{
    struct spec_project *p = load("v1", NULL, 0);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    struct rec_plan *pl = NULL;
    char *what, *r = ref("v1");
    int found = 0;

    /* plan: read-only, the pull is a line of the plan. */
    o.dry_run = 1;
    cr_assert_eq(cli_plan_build(&F.env, p, &o, &pl, &err), 0, "plan: %s", err.msg);
    what = stk_xasprintf("image %s", r);
    for (size_t i = 0; i < pl->n_changes; i++)
        if (strcmp(pl->changes[i].verb, "pull") == 0 && strcmp(pl->changes[i].what, what) == 0)
            found = 1;
    cr_assert(found, "the plan shows 'pull %s'", what);
    rec_plan_free(pl);
    cr_assert_not(in_store("v1"), "plan pulled nothing");
    cr_assert_eq(manifest_gets("v1"), 0);

    /* up: pulled, then the container created and started. */
    o.dry_run = 0;
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert(in_store("v1"));
    cr_assert_eq(manifest_gets("v1"), 1);
    cr_assert_eq(rec_fixture_count(&F, "web", "running"), 1);
    fflush(progress_file);
    {
        char *pulling = stk_xasprintf("Image %s  Pulling\n", r);
        char *pulled = stk_xasprintf("Image %s  Pulled\n", r);
        cr_assert_eq(count_in(progress_path, pulling), 1);
        cr_assert_eq(count_in(progress_path, pulled), 1);
        free(pulling);
        free(pulled);
    }
    /* A second up: present, nothing asked of the registry. */
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(manifest_gets("v1"), 1);
    free(what);
    free(r);
    spec_project_free(p);
}

Test(rec_pull, pull_policy_never_keeps_the_not_found_error)
{
    struct spec_project *p = load("v1", "never", 0);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;
    char *r = ref("v1"), *want;

    cr_assert_eq(cli_up(&F.env, p, &o, &err), STK_ENOENT);
    want = stk_xasprintf("service 'web': image '%s' not found", r);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    cr_assert_eq(manifest_gets("v1"), 0);
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 0);
    free(want);
    free(r);
    spec_project_free(p);
}

Test(rec_pull, pull_policy_always_asks_the_registry_every_time)
{
    struct spec_project *p = load("v1", "always", 0);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(manifest_gets("v1"), 1);
    cr_assert_eq(cli_up(&F.env, p, &o, &err), 0, "up: %s", err.msg);
    cr_assert_eq(manifest_gets("v1"), 2, "pulled again although present");
    spec_project_free(p);
}

Test(rec_pull, missing_in_the_registry_fails_naming_the_service)
{
    struct spec_project *p = load("nope", NULL, 0);
    struct rec_up_opts o = {0};
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(cli_up(&F.env, p, &o, &err), STK_ENOENT);
    {
        char *r = ref("nope");
        char *want = stk_xasprintf("service 'web': image '%s' not found: pull '%s': "
                                   "127.0.0.1:%d answered 404 for manifest 'nope'",
                                   r, r, reg.port);
        cr_assert(strstr(err.msg, want), "%s", err.msg);
        free(want);
        free(r);
    }
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 0, "nothing created");
    spec_project_free(p);
}

Test(rec_pull, stack_pull_fetches_each_distinct_image_once)
{
    struct spec_project *p = load("v1", NULL, 1);
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(cli_pull(&F.env, p, &err), 0, "pull: %s", err.msg);
    cr_assert(in_store("v1"));
    cr_assert_eq(manifest_gets("v1"), 1, "two services, one image, one pull");
    cr_assert_eq(rec_fixture_count(&F, NULL, NULL), 0, "pull creates nothing");
    spec_project_free(p);
}
