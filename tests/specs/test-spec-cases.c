/*
 * test-spec-cases.c - the table-driven loader test (STYLE.md rule 33): walks
 * tests/data/specs/{valid,invalid}/CASE/.
 *
 * Each case holds stack.yaml and optionally:
 *   env          KEY=VALUE lines: the interpolation environment (default: empty, so the
 *                test does not depend on the developer's environment);
 *   args         option lines: files=a.yaml b.yaml, project_name=x, platform=windows|linux,
 *                platforms=linux windows (the case runs once per platform), strict=1,
 *                working_dir=sub (relative to the case), project_dir=C:\x (used as is: a
 *                Windows working directory on Linux), discover=1 (no -f: the files are
 *                found as `stack config` run in the case directory finds them, or run in
 *                cwd=sub/dir), env_files=a.env b.env,
 *                profiles=a,b, services=x,y;
 *   expected.json   (valid) the project JSON; the case directory is written "<dir>";
 *   expected.warn   (valid) the warnings, one formatted diagnostic a line (default: none);
 *   expected.err    (invalid) every diagnostic, one a line, "FILE:LINE:COL: error: msg",
 *                   FILE relative to the case directory.
 * With platforms=, expected-PLATFORM.json/.warn/.err take precedence over expected.*, and
 * decide the outcome for that platform: a case under invalid/ may load on one platform
 * (expected-linux.json) and be refused on the other (expected-windows.err).
 * STK_SPEC_REGEN=1 rewrites the expected files from the current output (review the diff!).
 */
#include <criterion/criterion.h>
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

/*
 * `stack config` output is a Compose file: loading spec_project_to_yaml() again
 * (same options and project directory) must give the same model.
 */
static int yaml_round_trips(const struct spec_project *p, const struct spec_load_opts *opts,
                            const char *dir, char **ret_why)
{
    char *yaml = spec_project_to_yaml(p);
    char tmp[] = "/tmp/stk-roundtrip-XXXXXX";
    int fd = mkstemp(tmp);
    const char *files[] = {tmp, NULL};
    struct spec_load_opts o = *opts;
    struct spec_project *q = NULL;
    struct stk_err err = STK_ERR_INIT;
    int ok = 0;

    if (fd < 0 || write(fd, yaml, strlen(yaml)) != (ssize_t)strlen(yaml)) {
        *ret_why = stk_xstrdup("cannot write the round-trip file");
        goto out;
    }
    o.files = files;
    o.working_dir = o.working_dir ? o.working_dir : dir;
    o.project_name = p->name;
    if (spec_project_load(&o, &q, NULL, &err) != 0) {
        *ret_why = stk_xasprintf("YAML output does not load back: %s\n%s", err.msg, yaml);
    } else {
        json_t *a = spec_project_to_json(p), *b = spec_project_to_json(q);
        if (!json_equal(a, b)) {
            char *ta = json_dumps(a, JSON_SORT_KEYS | JSON_INDENT(1));
            char *tb = json_dumps(b, JSON_SORT_KEYS | JSON_INDENT(1));
            *ret_why = stk_xasprintf("YAML output loads back differently:\n%s\nfirst:\n%s\n"
                                     "again:\n%s",
                                     yaml, ta, tb);
            free(ta);
            free(tb);
        } else {
            ok = 1;
        }
        json_decref(a);
        json_decref(b);
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    spec_project_free(q);
    free(yaml);
    return ok;
}

/* A case's options, read from its args and env files. */
struct case_opts {
    struct stk_strv env, args, files, profiles, services, platforms, env_files;
    struct spec_load_opts opts;
    char *wd;
    char *cwd; /* discover=1: the folder the load runs in */
};

static void case_opts_release(struct case_opts *c)
{
    stk_strv_release(&c->env);
    stk_strv_release(&c->args);
    stk_strv_release(&c->files);
    stk_strv_release(&c->profiles);
    stk_strv_release(&c->services);
    stk_strv_release(&c->platforms);
    stk_strv_release(&c->env_files);
    free(c->wd);
    free(c->cwd);
}

static void split_into(const char *list, const char *sep, const char *prefix, struct stk_strv *dst)
{
    char *copy = stk_xstrdup(list), *save = NULL;

    for (char *f = strtok_r(copy, sep, &save); f; f = strtok_r(NULL, sep, &save))
        if (prefix)
            stk_strv_pushf(dst, "%s/%s", prefix, f);
        else
            stk_strv_push(dst, f);
    free(copy);
}

static void case_opts_read(struct case_opts *c, const char *dir)
{
    int discover = 0;
    char *path;

    memset(c, 0, sizeof(*c));
    stk_strv_init(&c->env);
    stk_strv_init(&c->args);
    stk_strv_init(&c->files);
    stk_strv_init(&c->profiles);
    stk_strv_init(&c->services);
    stk_strv_init(&c->platforms);
    stk_strv_init(&c->env_files);
    path = stk_xasprintf("%s/env", dir);
    read_lines(path, &c->env);
    free(path);
    path = stk_xasprintf("%s/args", dir);
    read_lines(path, &c->args);
    free(path);
    for (size_t i = 0; i < c->args.n; i++) {
        const char *a = c->args.v[i];
        if (strncmp(a, "files=", 6) == 0) {
            split_into(a + 6, " ", dir, &c->files);
        } else if (strncmp(a, "env_files=", 10) == 0) {
            split_into(a + 10, " ", dir, &c->env_files);
        } else if (strncmp(a, "project_name=", 13) == 0) {
            c->opts.project_name = a + 13;
        } else if (strcmp(a, "platform=windows") == 0) {
            c->opts.platform = SPEC_PLATFORM_WINDOWS;
        } else if (strcmp(a, "platform=linux") == 0) {
            c->opts.platform = SPEC_PLATFORM_LINUX;
        } else if (strncmp(a, "platforms=", 10) == 0) {
            split_into(a + 10, " ", NULL, &c->platforms);
        } else if (strncmp(a, "profiles=", 9) == 0 || strncmp(a, "services=", 9) == 0) {
            split_into(a + 9, ",", NULL, a[0] == 'p' ? &c->profiles : &c->services);
        } else if (strcmp(a, "strict=1") == 0) {
            c->opts.strict = 1;
        } else if (strcmp(a, "discover=1") == 0) {
            discover = 1;
        } else if (strncmp(a, "working_dir=", 12) == 0) {
            free(c->wd);
            c->wd = stk_xasprintf("%s/%s", dir, a + 12);
        } else if (strncmp(a, "cwd=", 4) == 0) {
            free(c->cwd);
            c->cwd = stk_xasprintf("%s/%s", dir, a + 4);
        } else if (strncmp(a, "project_dir=", 12) == 0) {
            free(c->wd);
            c->wd = stk_xstrdup(a + 12);
        }
    }
    if (c->files.n == 0 && !discover)
        stk_strv_pushf(&c->files, "%s/stack.yaml", dir);
    if (discover && !c->cwd)
        c->cwd = stk_xstrdup(dir);
    c->opts.working_dir = c->wd;
    c->opts.files = c->files.n ? (const char *const *)c->files.v : NULL;
    c->opts.env = (const char *const *)c->env.v;
    if (c->env_files.n)
        c->opts.env_files = (const char *const *)c->env_files.v;
    if (c->profiles.n)
        c->opts.profiles = (const char *const *)c->profiles.v;
    if (c->services.n)
        c->opts.services = (const char *const *)c->services.v;
}

/* DIR/expected-PF.EXT when PF is set and that file exists, else DIR/expected.EXT (new string). */
static char *expected_path(const char *dir, const char *pf, const char *ext)
{
    if (pf) {
        char *p = stk_xasprintf("%s/expected-%s.%s", dir, pf, ext);
        if (access(p, F_OK) == 0)
            return p;
        free(p);
    }
    return stk_xasprintf("%s/expected.%s", dir, ext);
}

/* What one load gave, as the expected files say it: JSON and warnings, or the diagnostics. */
struct outcome {
    int loaded;
    char *json; /* loaded: the project JSON, "<dir>" for the case directory */
    char *warn; /* loaded: the warnings */
    char *err;  /* not loaded: every diagnostic */
};

static void outcome_release(struct outcome *o)
{
    free(o->json);
    free(o->warn);
    free(o->err);
}

/*
 * Loads the case with C's options on platform PF (NULL: as the args say). Stores what it
 * gave in *OUT. Returns 0, or -1 with a new reason in *RET_WHY when the loader failed in a
 * way no expected file can describe (a return code other than STK_ESPEC, an error without
 * position, a model whose YAML output does not load back the same).
 */
static int load_case(const char *dir, struct case_opts *c, const char *pf, struct outcome *out,
                     char **ret_why)
{
    struct spec_load_opts opts = c->opts;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct spec_project *p = NULL;
    int rc, ret = -1;

    char saved[4096];

    memset(out, 0, sizeof(*out));
    if (pf)
        opts.platform = strcmp(pf, "windows") == 0 ? SPEC_PLATFORM_WINDOWS : SPEC_PLATFORM_LINUX;
    if (c->cwd && (!getcwd(saved, sizeof(saved)) || chdir(c->cwd) < 0)) {
        *ret_why = stk_xasprintf("cannot run in '%s'", c->cwd);
        return -1;
    }
    rc = spec_project_load(&opts, &p, &diag, &err);
    if (rc == 0) {
        json_t *j = spec_project_to_json(p);
        char *dumped = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
        char *parent = stk_xstrndup(dir, (size_t)(strrchr(dir, '/') - dir));
        char *tmp = replace_all(dumped, dir, "<dir>");
        out->loaded = 1;
        out->json = replace_all(tmp, parent, "<dir>/..");
        out->warn = diag_text(&diag, dir, 0, 1);
        free(tmp);
        free(parent);
        free(dumped);
        json_decref(j);
        if (yaml_round_trips(p, &opts, dir, ret_why))
            ret = 0;
    } else if (rc != STK_ESPEC) {
        *ret_why = stk_xasprintf("expected STK_ESPEC, got %d (%s)", rc, err.msg);
    } else if (err.line <= 0 && strstr(err.msg, "project name") == NULL) {
        *ret_why = stk_xasprintf("first error has no position: %s", err.msg);
    } else {
        out->err = diag_text(&diag, dir, 1, 0);
        ret = 0;
    }
    if (c->cwd && chdir(saved) < 0)
        ret = -1;
    spec_project_free(p);
    stk_diag_release(&diag);
    stk_err_clear(&err);
    return ret;
}

/* Compares OUT with the expected files of platform PF (NULL: expected.*). */
static int check_outcome(const char *dir, int dir_valid, const char *pf, const struct outcome *out,
                         char **ret_why)
{
    char *pj = expected_path(dir, pf, "json"), *pe = expected_path(dir, pf, "err");
    char *pw = expected_path(dir, pf, "warn");
    int want_valid = dir_valid;
    char *want = NULL;
    int ok = 0;

    /* A platform's own expected file decides its outcome; else the directory does. */
    if (pf && strstr(pj, "/expected-") && access(pj, F_OK) == 0)
        want_valid = 1;
    else if (pf && strstr(pe, "/expected-") && access(pe, F_OK) == 0)
        want_valid = 0;
    if (want_valid && !out->loaded) {
        *ret_why = stk_xasprintf("expected success, got:\n%s", out->err);
    } else if (!want_valid && out->loaded) {
        *ret_why = stk_xasprintf("expected STK_ESPEC, got a project:\n%s", out->json);
    } else if (want_valid) {
        json_t *wj, *j;
        want = read_text(pj);
        wj = want ? json_loads(want, 0, NULL) : NULL;
        j = json_loads(out->json, 0, NULL);
        if (!wj) {
            *ret_why = stk_xasprintf("missing or unreadable %s; got:\n%s", pj, out->json);
        } else if (!json_equal(j, wj)) {
            *ret_why = stk_xasprintf("JSON differs; got:\n%s\nwant:\n%s", out->json, want);
        } else {
            free(want);
            want = read_text(pw);
            if (strcmp(out->warn, want ? want : "") != 0)
                *ret_why = stk_xasprintf("warnings differ; got:\n%swant:\n%s", out->warn,
                                         want ? want : "");
            else
                ok = 1;
        }
        json_decref(j);
        json_decref(wj);
    } else {
        want = read_text(pe);
        if (!want || strcmp(out->err, want) != 0)
            *ret_why = stk_xasprintf("diagnostics differ; got:\n%swant:\n%s", out->err,
                                     want ? want : "(missing expected.err)");
        else
            ok = 1;
    }
    free(want);
    free(pj);
    free(pe);
    free(pw);
    return ok;
}

/* Writes OUT as the expected files of platform PF (NULL: expected.*), removing stale ones. */
static void write_outcome(const char *dir, const char *pf, const struct outcome *out)
{
    char *pj =
        pf ? stk_xasprintf("%s/expected-%s.json", dir, pf) : stk_xasprintf("%s/expected.json", dir);
    char *pw =
        pf ? stk_xasprintf("%s/expected-%s.warn", dir, pf) : stk_xasprintf("%s/expected.warn", dir);
    char *pe =
        pf ? stk_xasprintf("%s/expected-%s.err", dir, pf) : stk_xasprintf("%s/expected.err", dir);

    unlink(pj);
    unlink(pw);
    unlink(pe);
    if (out->loaded) {
        char *withnl = stk_xasprintf("%s\n", out->json);
        write_text(pj, withnl);
        free(withnl);
        if (out->warn[0])
            write_text(pw, out->warn);
    } else {
        write_text(pe, out->err);
    }
    free(pj);
    free(pw);
    free(pe);
}

static int same_outcome(const struct outcome *a, const struct outcome *b)
{
    if (a->loaded != b->loaded)
        return 0;
    if (a->loaded)
        return strcmp(a->json, b->json) == 0 && strcmp(a->warn, b->warn) == 0;
    return strcmp(a->err, b->err) == 0;
}

static int run_case(const char *dir, int valid, char **ret_why)
{
    struct case_opts c;
    struct outcome outs[2];
    int regen = getenv("STK_SPEC_REGEN") != NULL;
    size_t n_pf;
    int ok = 1;

    case_opts_read(&c, dir);
    n_pf = c.platforms.n ? c.platforms.n : 1;
    if (n_pf > 2) {
        *ret_why = stk_xstrdup("platforms= names more than two platforms");
        case_opts_release(&c);
        return 0;
    }
    for (size_t i = 0; i < n_pf; i++) {
        const char *pf = c.platforms.n ? c.platforms.v[i] : NULL;
        if (load_case(dir, &c, pf, &outs[i], ret_why) < 0) {
            for (size_t j = 0; j <= i; j++)
                outcome_release(&outs[j]);
            case_opts_release(&c);
            return 0;
        }
    }
    if (regen) {
        /* One set of expected files when every platform gives the same, else one per platform. */
        int same = n_pf == 1 || same_outcome(&outs[0], &outs[1]);
        for (size_t i = 0; c.platforms.n && i < n_pf; i++)
            write_outcome(dir, c.platforms.v[i], &outs[i]);
        write_outcome(dir, NULL, &outs[0]);
        for (size_t i = 0; c.platforms.n && i < n_pf; i++) {
            static const char *const exts[] = {"json", "warn", "err"};
            for (size_t k = 0; k < 3; k++) {
                char *pp = stk_xasprintf("%s/expected%s%s.%s", dir, same ? "-" : "",
                                         same ? c.platforms.v[i] : "", exts[k]);
                if (same || i == 0)
                    unlink(pp);
                free(pp);
            }
        }
    }
    for (size_t i = 0; i < n_pf; i++) {
        const char *pf = c.platforms.n ? c.platforms.v[i] : NULL;
        char *why = NULL;
        if (!check_outcome(dir, valid, pf, &outs[i], &why)) {
            char *prev = *ret_why;
            *ret_why = stk_xasprintf("%s%s%s%s%s", prev ? prev : "", prev ? "\n" : "",
                                     pf ? "--platform " : "", pf ? pf : "", pf ? ": " : "");
            free(prev);
            prev = *ret_why;
            *ret_why = stk_xasprintf("%s%s", prev, why);
            free(prev);
            free(why);
            ok = 0;
        }
        outcome_release(&outs[i]);
    }
    case_opts_release(&c);
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
