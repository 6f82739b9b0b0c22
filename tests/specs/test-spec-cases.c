/*
 * test-spec-cases.c - the table-driven loader test (STYLE.md rule 33): walks
 * tests/data/specs/{valid,invalid}/CASE/.
 *
 * Each case holds stack.yaml and optionally:
 *   env          KEY=VALUE lines: the interpolation environment (default: empty, so the
 *                test does not depend on the developer's environment);
 *   args         option lines: files=a.yaml b.yaml, project_name=x, platform=windows|linux,
 *                strict=1, working_dir=sub, profiles=a,b, services=x,y;
 *   expected.json   (valid) the project JSON; the case directory is written "<dir>";
 *   expected.warn   (valid) the warnings, one formatted diagnostic a line (default: none);
 *   expected.err    (invalid) every diagnostic, one a line, "FILE:LINE:COL: error: msg",
 *                   FILE relative to the case directory.
 * STK_SPEC_REGEN=1 rewrites the expected files from the current output (review the diff!).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "specs/spec.h"

static char *read_text(const char *path)
{
    char *data = NULL;
    struct stk_err err = STK_ERR_INIT;

    if (stk_file_read(path, &data, NULL, &err) < 0)
        return NULL;
    return data;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* Replaces every occurrence of FROM in S by TO; returns a new string. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    struct stk_buf b = STK_BUF_INIT;
    size_t fl = strlen(from);
    const char *p;

    while ((p = strstr(s, from)) != NULL) {
        stk_buf_add(&b, s, (size_t)(p - s));
        stk_buf_puts(&b, to);
        s = p + fl;
    }
    stk_buf_puts(&b, s);
    return stk_buf_detach(&b, NULL);
}

static void read_lines(const char *path, struct stk_strv *out)
{
    char *text = read_text(path);
    char *save = NULL;

    if (!text)
        return;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (line[0])
            stk_strv_push(out, line);
    free(text);
}

struct case_result {
    int ok;
    char *why;
};

static char *diag_text(const struct stk_diag *d, const char *dir, int errors_and_warnings,
                       int only_warnings)
{
    struct stk_buf b = STK_BUF_INIT;
    char *prefix = stk_xasprintf("%s/", dir);

    for (size_t i = 0; i < d->n; i++) {
        char *line, *rel;
        if (only_warnings && d->items[i].severity != STK_DIAG_WARNING)
            continue;
        if (!errors_and_warnings && !only_warnings && d->items[i].severity != STK_DIAG_ERROR)
            continue;
        line = stk_diag_format(d, i);
        rel = replace_all(line, prefix, "");
        stk_buf_printf(&b, "%s\n", rel);
        free(line);
        free(rel);
    }
    free(prefix);
    return stk_buf_detach(&b, NULL);
}

static int run_case(const char *dir, int valid, char **ret_why)
{
    struct stk_strv env = STK_STRV_INIT, args = STK_STRV_INIT, files = STK_STRV_INIT;
    struct stk_strv profiles = STK_STRV_INIT, services = STK_STRV_INIT;
    struct spec_load_opts opts = {0};
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct spec_project *p = NULL;
    char *path, *got = NULL, *want = NULL, *wd = NULL;
    int regen = getenv("STK_SPEC_REGEN") != NULL;
    int ok = 0, rc;

    stk_strv_init(&env);
    stk_strv_init(&args);
    stk_strv_init(&files);
    stk_strv_init(&profiles);
    stk_strv_init(&services);
    path = stk_xasprintf("%s/env", dir);
    read_lines(path, &env);
    free(path);
    path = stk_xasprintf("%s/args", dir);
    read_lines(path, &args);
    free(path);
    for (size_t i = 0; i < args.n; i++) {
        const char *a = args.v[i];
        if (strncmp(a, "files=", 6) == 0) {
            char *copy = stk_xstrdup(a + 6), *save = NULL;
            for (char *f = strtok_r(copy, " ", &save); f; f = strtok_r(NULL, " ", &save))
                stk_strv_pushf(&files, "%s/%s", dir, f);
            free(copy);
        } else if (strncmp(a, "project_name=", 13) == 0) {
            opts.project_name = a + 13;
        } else if (strcmp(a, "platform=windows") == 0) {
            opts.platform = SPEC_PLATFORM_WINDOWS;
        } else if (strcmp(a, "platform=linux") == 0) {
            opts.platform = SPEC_PLATFORM_LINUX;
        } else if (strncmp(a, "profiles=", 9) == 0 || strncmp(a, "services=", 9) == 0) {
            struct stk_strv *dst = a[0] == 'p' ? &profiles : &services;
            char *copy = stk_xstrdup(a + 9), *save = NULL;
            for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save))
                stk_strv_push(dst, f);
            free(copy);
        } else if (strcmp(a, "strict=1") == 0) {
            opts.strict = 1;
        } else if (strncmp(a, "working_dir=", 12) == 0) {
            wd = stk_xasprintf("%s/%s", dir, a + 12);
            opts.working_dir = wd;
        }
    }
    if (files.n == 0)
        stk_strv_pushf(&files, "%s/stack.yaml", dir);
    opts.files = (const char *const *)files.v;
    opts.env = (const char *const *)env.v;
    if (profiles.n)
        opts.profiles = (const char *const *)profiles.v;
    if (services.n)
        opts.services = (const char *const *)services.v;

    rc = spec_project_load(&opts, &p, &diag, &err);
    if (valid) {
        json_t *j, *wj;
        char *dumped, *rel;
        if (rc != 0) {
            char *all = diag_text(&diag, dir, 1, 0);
            *ret_why = stk_xasprintf("expected success, got %d: %s\n%s", rc, err.msg, all);
            free(all);
            goto out;
        }
        j = spec_project_to_json(p);
        dumped = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
        {
            char *parent = stk_xstrndup(dir, (size_t)(strrchr(dir, '/') - dir));
            char *tmp = replace_all(dumped, dir, "<dir>");
            rel = replace_all(tmp, parent, "<dir>/..");
            free(tmp);
            free(parent);
        }
        free(dumped);
        json_decref(j);
        path = stk_xasprintf("%s/expected.json", dir);
        if (regen) {
            char *withnl = stk_xasprintf("%s\n", rel);
            write_text(path, withnl);
            free(withnl);
        }
        want = read_text(path);
        free(path);
        wj = want ? json_loads(want, 0, NULL) : NULL;
        j = json_loads(rel, 0, NULL);
        if (!wj) {
            *ret_why = stk_xasprintf("missing or unreadable expected.json; got:\n%s", rel);
        } else if (!json_equal(j, wj)) {
            *ret_why = stk_xasprintf("JSON differs; got:\n%s\nwant:\n%s", rel, want);
        } else {
            char *warns = diag_text(&diag, dir, 0, 1);
            path = stk_xasprintf("%s/expected.warn", dir);
            if (regen && warns[0])
                write_text(path, warns);
            free(want);
            want = read_text(path);
            free(path);
            if (strcmp(warns, want ? want : "") != 0)
                *ret_why =
                    stk_xasprintf("warnings differ; got:\n%swant:\n%s", warns, want ? want : "");
            else
                ok = 1;
            free(warns);
        }
        json_decref(j);
        json_decref(wj);
        free(rel);
    } else {
        if (rc != STK_ESPEC) {
            *ret_why = stk_xasprintf("expected STK_ESPEC, got %d (%s)", rc, err.msg);
            goto out;
        }
        if (err.line <= 0 && strstr(err.msg, "project name") == NULL) {
            *ret_why = stk_xasprintf("first error has no position: %s", err.msg);
            goto out;
        }
        got = diag_text(&diag, dir, 1, 0);
        path = stk_xasprintf("%s/expected.err", dir);
        if (regen)
            write_text(path, got);
        want = read_text(path);
        free(path);
        if (!want || strcmp(got, want) != 0)
            *ret_why = stk_xasprintf("diagnostics differ; got:\n%swant:\n%s", got,
                                     want ? want : "(missing expected.err)");
        else
            ok = 1;
    }
out:
    spec_project_free(p);
    stk_diag_release(&diag);
    stk_err_clear(&err);
    stk_strv_release(&env);
    stk_strv_release(&args);
    stk_strv_release(&files);
    stk_strv_release(&profiles);
    stk_strv_release(&services);
    free(got);
    free(want);
    free(wd);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *kind, int valid, int *ret_total)
{
    char *root = stk_xasprintf("%s/specs/%s", STK_TEST_DATA, kind);
    struct stk_strv names = STK_STRV_INIT;
    DIR *d = opendir(root);
    struct dirent *de;
    int failed = 0;

    stk_strv_init(&names);
    cr_assert_not_null(d, "cannot open %s", root);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            stk_strv_push(&names, de->d_name);
    closedir(d);
    qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        char *dir = stk_xasprintf("%s/%s", root, names.v[i]);
        char *why = NULL;
        if (!run_case(dir, valid, &why)) {
            cr_log_error("%s/%s: %s", kind, names.v[i], why ? why : "failed");
            failed++;
        }
        free(why);
        free(dir);
    }
    *ret_total = (int)names.n;
    stk_strv_release(&names);
    free(root);
    cr_expect_eq(failed, 0, "%d %s case(s) failed", failed, kind);
}

Test(spec_cases, valid_cases_match_expected_json)
{
    int total = 0;

    run_dir("valid", 1, &total);
    cr_assert_gt(total, 10, "only %d valid cases found", total);
}

Test(spec_cases, invalid_cases_report_expected_errors)
{
    int total = 0;

    run_dir("invalid", 0, &total);
    cr_assert_gt(total, 10, "only %d invalid cases found", total);
}
