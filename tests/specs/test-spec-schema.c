/*
 * test-spec-schema.c - the embedded schema tables against the Compose
 * Specification JSON schema (../shared/testdata/compose-spec-2026.schema.json,
 * compose-go's copy at the commit in ../shared/testdata/compose-go/SOURCE,
 * JSON Schema draft 2020-12; read at test time):
 *   1. specs/spec-schema.c is what tests/specs/gen-schema-tables.py generates
 *      from the schema (whitespace aside);
 *   2. the schema is an oracle: every data case file, parsed and interpolated
 *      as the loader does, is validated with Debian's python3-jsonschema, and
 *      every file the schema rejects must be rejected by spec_project_load().
 */
#include <criterion/criterion.h>

#include "tests/support/shared-data.h"
#include <criterion/logging.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"
#include "specs/spec.h"

#define SCHEMA STK_SHARED_DIR "/testdata/compose-spec-2026.schema.json"
#define PYTHON "/usr/bin/python3"

static char *run_capture(const char *cmd)
{
    struct stk_buf b = STK_BUF_INIT;
    char chunk[4096];
    size_t n;
    FILE *f = popen(cmd, "r");

    cr_assert_not_null(f, "cannot run %s", cmd);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        stk_buf_add(&b, chunk, n);
    cr_assert_eq(pclose(f), 0, "command failed: %s\n%s", cmd, b.buf);
    return stk_buf_detach(&b, NULL);
}

static char *strip_ws(const char *s)
{
    struct stk_buf b = STK_BUF_INIT;

    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t')
            stk_buf_putc(&b, *s);
    return stk_buf_detach(&b, NULL);
}

TestSuite(spec_schema, .init = stk_test_require_shared_data);

Test(spec_schema, embedded_tables_match_the_schema)
{
    char *cmd, *generated, *committed = NULL, *a, *b;
    struct stk_err err = STK_ERR_INIT;

    cr_assert(access(SCHEMA, R_OK) == 0, "missing %s", SCHEMA);
    cmd = stk_xasprintf(PYTHON " %s/../specs/gen-schema-tables.py %s", STK_TEST_DATA, SCHEMA);
    generated = run_capture(cmd);
    cr_assert_eq(stk_file_read(STK_TEST_DATA "/../../specs/spec-schema.c", &committed, NULL, &err),
                 0, "%s", err.msg);
    a = strip_ws(generated);
    b = strip_ws(committed);
    cr_assert_str_eq(a, b,
                     "specs/spec-schema.c is stale: regenerate it with "
                     "tests/specs/gen-schema-tables.py");
    free(a);
    free(b);
    free(cmd);
    free(generated);
    free(committed);
}

Test(spec_schema, service_and_top_level_keys_come_from_the_schema)
{
    const struct spec__shape *services = spec__shape_field(spec__schema_root, "services");
    const struct spec__shape *svc;

    cr_assert_not_null(services);
    svc = services->values;
    cr_assert_not_null(svc);
    cr_assert(svc->closed);
    cr_assert_not_null(spec__shape_field(svc, "isolation"));
    cr_assert_not_null(spec__shape_field(svc, "stop_grace_period"));
    /* Keys of the 2026 schema: pre_start hooks, and those of 2024-2025. */
    cr_assert_not_null(spec__shape_field(svc, "pre_start"));
    cr_assert_not_null(spec__shape_field(svc, "post_start"));
    cr_assert_not_null(spec__shape_field(svc, "provider"));
    cr_assert_not_null(spec__shape_field(svc, "models"));
    cr_assert_not_null(spec__shape_field(spec__schema_root, "models"));
    cr_assert_null(spec__shape_field(svc, "imagee"));
    cr_assert_not_null(spec__shape_field(spec__schema_root, "include"));
    cr_assert_null(spec__shape_field(spec__schema_root, "servics"));
}

struct oracle_file {
    char *case_dir;
    char *yaml; /* the case file */
    char *json; /* its interpolated JSON, or NULL when the YAML does not parse */
    int valid;  /* the case is under valid/ (stack accepts it) */
};

static void read_env(const char *dir, struct spec__env *env)
{
    char *path = stk_xasprintf("%s/env", dir), *data = NULL, *save = NULL;
    struct stk_err err = STK_ERR_INIT;

    if (stk_file_read(path, &data, NULL, &err) == 0) {
        for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(l, '=');
            if (!eq)
                continue;
            *eq = '\0';
            spec__env_set_default(env, l, eq + 1);
        }
    }
    free(data);
    free(path);
    path = stk_xasprintf("%s/.env", dir);
    data = NULL;
    if (stk_file_read(path, &data, NULL, &err) == 0) {
        struct stk_diag d = STK_DIAG_INIT;
        struct spec__env copy = {0};
        for (size_t i = 0; i < env->n; i++) {
            char *eq = strchr(env->kv[i], '=');
            char *k = stk_xstrndup(env->kv[i], (size_t)(eq - env->kv[i]));
            spec__env_set_default(&copy, k, eq + 1);
            free(k);
        }
        spec__dotenv_parse(path, data, &copy, env, &d);
        spec__env_release(&copy);
        stk_diag_release(&d);
    }
    free(data);
    free(path);
}

static void case_files(const char *dir, struct stk_strv *out)
{
    char *path = stk_xasprintf("%s/args", dir), *data = NULL, *save = NULL;
    struct stk_err err = STK_ERR_INIT;
    int found = 0, discover = 0;

    if (stk_file_read(path, &data, NULL, &err) == 0) {
        for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char *s2 = NULL;
            if (strcmp(l, "discover=1") == 0)
                discover = 1;
            if (strncmp(l, "files=", 6) != 0)
                continue;
            for (char *f = strtok_r(l + 6, " ", &s2); f; f = strtok_r(NULL, " ", &s2)) {
                stk_strv_pushf(out, "%s/%s", dir, f);
                found = 1;
            }
        }
    }
    if (!found && discover) {
        /* A case without -f: every Compose file of its folder (discovery picks among them). */
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (de->d_name[0] == '.' || n < 5 ||
                (strcmp(de->d_name + n - 5, ".yaml") != 0 &&
                 strcmp(de->d_name + n - 4, ".yml") != 0))
                continue;
            stk_strv_pushf(out, "%s/%s", dir, de->d_name);
            found = 1;
        }
        if (d)
            closedir(d);
    }
    if (!found)
        stk_strv_pushf(out, "%s/stack.yaml", dir);
    free(data);
    free(path);
}

Test(spec_schema, schema_rejections_are_rejected_by_the_loader)
{
    static const char *const kinds[] = {"valid", "invalid"};
    struct oracle_file *files = NULL;
    size_t n = 0;
    char tmp[] = "/tmp/stk-oracle-XXXXXX";
    struct stk_buf cmd = STK_BUF_INIT;
    char *out, *save = NULL;
    int agree_reject = 0, agree_accept = 0, stricter = 0, disagree = 0, unparsed = 0;

    cr_assert(access(SCHEMA, R_OK) == 0, "missing %s", SCHEMA);
    cr_assert_not_null(mkdtemp(tmp));
    for (size_t k = 0; k < 2; k++) {
        char *root = stk_xasprintf("%s/specs/%s", STK_TEST_DATA, kinds[k]);
        DIR *d = opendir(root);
        struct dirent *de;
        cr_assert_not_null(d);
        while ((de = readdir(d)) != NULL) {
            struct stk_strv cf = STK_STRV_INIT;
            struct spec__env env = {0};
            char *dir;
            if (de->d_name[0] == '.')
                continue;
            dir = stk_xasprintf("%s/%s", root, de->d_name);
            stk_strv_init(&cf);
            case_files(dir, &cf);
            read_env(dir, &env);
            for (size_t i = 0; i < cf.n; i++) {
                struct stk_diag diag = STK_DIAG_INIT;
                struct stk_err err = STK_ERR_INIT;
                char *data = NULL;
                size_t len = 0;
                struct spec__node *tree = NULL;
                struct oracle_file *f;
                files = stk_xrealloc(files, (n + 1) * sizeof(*files));
                f = &files[n++];
                memset(f, 0, sizeof(*f));
                f->case_dir = stk_xstrdup(dir);
                f->yaml = stk_xstrdup(cf.v[i]);
                f->valid = k == 0;
                if (stk_file_read(cf.v[i], &data, &len, &err) == 0)
                    tree = spec__yaml_parse(cf.v[i], data, len, &diag);
                if (tree) {
                    json_t *j;
                    spec__interpolate_tree(tree, &env, &diag);
                    spec__strip_reset(tree);
                    j = spec__node_to_json(tree);
                    f->json = stk_xasprintf("%s/%zu.json", tmp, n);
                    cr_assert_eq(json_dump_file(j, f->json, 0), 0);
                    json_decref(j);
                    stk_buf_printf(&cmd, " %s", f->json);
                }
                spec__node_free(tree);
                stk_diag_release(&diag);
                free(data);
            }
            spec__env_release(&env);
            stk_strv_release(&cf);
            free(dir);
        }
        closedir(d);
        free(root);
    }
    {
        char *full = stk_xasprintf(PYTHON " %s/../specs/schema-oracle.py %s%s", STK_TEST_DATA,
                                   SCHEMA, cmd.buf);
        out = run_capture(full);
        free(full);
    }
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int reject = strncmp(l, "REJECT ", 7) == 0;
        const char *path = l + 7;
        for (size_t i = 0; i < n; i++) {
            size_t plen;
            if (!files[i].json)
                continue;
            plen = strlen(files[i].json);
            if (strncmp(path, files[i].json, plen) != 0 || (path[plen] && path[plen] != ':'))
                continue;
            cr_log_info("%s: schema %s, stack %s", files[i].yaml, reject ? "rejects" : "accepts",
                        files[i].valid ? "accepts" : "rejects");
            if (reject && files[i].valid) {
                cr_log_error("schema rejects %s but stack accepts it:%s", files[i].yaml,
                             path + plen);
                disagree++;
            } else if (reject) {
                agree_reject++;
            } else if (files[i].valid) {
                agree_accept++;
            } else {
                stricter++; /* stack rejects what the schema allows (semantic checks) */
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!files[i].json)
            unparsed++;
        if (files[i].json)
            unlink(files[i].json);
        free(files[i].case_dir);
        free(files[i].yaml);
        free(files[i].json);
    }
    rmdir(tmp);
    cr_log_info("schema oracle over %zu files: both reject %d, both accept %d, only stack rejects "
                "%d, schema rejects but stack accepts %d, YAML errors (no document) %d",
                n, agree_reject, agree_accept, stricter, disagree, unparsed);
    cr_assert_eq(disagree, 0, "%d file(s) the schema rejects are accepted by stack", disagree);
    cr_assert_gt(agree_reject, 5, "the oracle rejected too few files (%d)", agree_reject);
    cr_assert_gt(agree_accept, 20, "the oracle accepted too few files (%d)", agree_accept);
    free(files);
    free(out);
    stk_buf_release(&cmd);
}
