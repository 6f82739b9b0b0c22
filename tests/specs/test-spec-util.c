/*
 * test-spec-util.c - the small parsers of the specs module: interpolation
 * (compose-go template/template_test.go cases), shell splitting, Go
 * durations, byte sizes and path cleaning.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"

static struct spec__env test_env(void)
{
    struct spec__env env = {0};

    spec__env_set_default(&env, "FOO", "first");
    spec__env_set_default(&env, "BAR", "");
    spec__env_set_default(&env, "FOO", "ignored-second");
    return env;
}

static int n_unset;

static void count_unset(const char *name, void *userdata)
{
    (void)name;
    (void)userdata;
    n_unset++;
}

struct icase {
    const char *in;
    const char *out; /* NULL: error */
};

Test(spec_interp, substitutes_like_compose_go)
{
    static const struct icase cases[] = {
        {"$FOO", "first"},
        {"${FOO}", "first"},
        {"pre-${FOO}-post", "pre-first-post"},
        {"$$FOO", "$FOO"},
        {"$$$FOO", "$first"},
        {"${UNSET:-def}", "def"},
        {"${BAR:-def}", "def"},
        {"${BAR-def}", ""},
        {"${UNSET-def}", "def"},
        {"${FOO:+repl}", "repl"},
        {"${BAR:+repl}", ""},
        {"${BAR+repl}", "repl"},
        {"${UNSET+repl}", ""},
        {"${FOO:?msg}", "first"},
        {"${BAR?msg}", ""},
        {"${UNSET:-${FOO}}", "first"},
        {"${UNSET:-${UNSET2:-deep}}", "deep"},
        {"${UNSET-a:-b}", "a:-b"},
        {"ends with $", "ends with $"},
        {"$}", "$}"},
        {"${", NULL},
        {"${}", NULL},
        {"${1A}", NULL},
        {"${FOO/x/y}", NULL},
        {"${UNSET:?}", NULL},
        {"${BAR:?empty}", NULL},
        {"${UNSET?gone}", NULL},
        {"{{{ ${UNSET:-foo} }}}", "{{{ foo }}}"},
        {"${UNSET-baz} }}}", "baz }}}"},
    };
    struct spec__env env = test_env();

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL, *msg = NULL;
        int rc = spec__interpolate(cases[i].in, &env, NULL, NULL, &out, &msg);
        if (cases[i].out) {
            cr_expect_eq(rc, 0, "'%s' failed: %s", cases[i].in, msg ? msg : "");
            if (rc == 0)
                cr_expect_str_eq(out, cases[i].out, "'%s' gave '%s'", cases[i].in, out);
        } else {
            cr_expect_eq(rc, -1, "'%s' should fail, gave '%s'", cases[i].in, out ? out : "");
            cr_expect_not_null(msg);
        }
        free(out);
        free(msg);
    }
    spec__env_release(&env);
}

Test(spec_interp, required_message_names_the_variable)
{
    struct spec__env env = test_env();
    char *out = NULL, *msg = NULL;

    cr_assert_eq(spec__interpolate("${NEED:?please set ${FOO}}", &env, NULL, NULL, &out, &msg), -1);
    cr_assert_str_eq(msg, "required variable NEED is missing a value: please set first");
    free(msg);
    spec__env_release(&env);
}

Test(spec_interp, unset_variables_are_reported)
{
    struct spec__env env = test_env();
    char *out = NULL, *msg = NULL;

    n_unset = 0;
    cr_assert_eq(spec__interpolate("$A ${B} ${C:-x} $FOO", &env, count_unset, NULL, &out, &msg), 0);
    cr_assert_str_eq(out, "  x first");
    cr_assert_eq(n_unset, 2);
    free(out);
    spec__env_release(&env);
}

Test(spec_util, shlex_splits_like_a_shell)
{
    char *msg = NULL;
    char **v = spec__shlex_split("  a 'b c'  \"d \\\"e\\\"\" f\\ g #comment", &msg);

    cr_assert_not_null(v);
    cr_assert_eq(stk_strv_len(v), 4);
    cr_assert_str_eq(v[0], "a");
    cr_assert_str_eq(v[1], "b c");
    cr_assert_str_eq(v[2], "d \"e\"");
    cr_assert_str_eq(v[3], "f g");
    stk_strv_free(v);
    v = spec__shlex_split("x#notacomment", &msg);
    cr_assert_str_eq(v[0], "x#notacomment");
    stk_strv_free(v);
    cr_assert_null(spec__shlex_split("echo 'open", &msg));
    cr_assert_not_null(msg);
    free(msg);
}

Test(spec_util, durations_parse_and_print_like_go)
{
    static const struct {
        const char *in;
        int64_t ns;
        const char *printed;
    } cases[] = {
        {"0", 0, "0s"},
        {"10s", 10000000000LL, "10s"},
        {"1m30s", 90000000000LL, "1m30s"},
        {"1.5h", 5400000000000LL, "1h30m0s"},
        {"250ms", 250000000LL, "250ms"},
        {"1500ms", 1500000000LL, "1.5s"},
        {"10us", 10000LL, "10\xc2\xb5s"},
        {"3ns", 3LL, "3ns"},
        {"2h", 7200000000000LL, "2h0m0s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ns = -1;
        char *p;
        cr_expect_eq(spec__parse_duration(cases[i].in, &ns), 0, "%s", cases[i].in);
        cr_expect_eq(ns, cases[i].ns, "%s: %lld", cases[i].in, (long long)ns);
        p = spec__format_duration(cases[i].ns);
        cr_expect_str_eq(p, cases[i].printed);
        free(p);
    }
    {
        int64_t ns;
        cr_expect_eq(spec__parse_duration("10", &ns), -1);
        cr_expect_eq(spec__parse_duration("10 s", &ns), -1);
        cr_expect_eq(spec__parse_duration("s", &ns), -1);
        cr_expect_eq(spec__parse_duration("", &ns), -1);
        cr_expect_eq(spec__parse_duration("5d", &ns), -1);
    }
}

Test(spec_util, byte_sizes_use_binary_units)
{
    int64_t b;

    cr_assert_eq(spec__parse_bytes("512", &b), 0);
    cr_assert_eq(b, 512);
    cr_assert_eq(spec__parse_bytes("1k", &b), 0);
    cr_assert_eq(b, 1024);
    cr_assert_eq(spec__parse_bytes("64m", &b), 0);
    cr_assert_eq(b, 64 * 1024 * 1024);
    cr_assert_eq(spec__parse_bytes("2GB", &b), 0);
    cr_assert_eq(b, 2LL * 1024 * 1024 * 1024);
    cr_assert_eq(spec__parse_bytes("1.5MiB", &b), 0);
    cr_assert_eq(b, 1572864);
    cr_assert_eq(spec__parse_bytes("lots", &b), -1);
    cr_assert_eq(spec__parse_bytes("1x", &b), -1);
}

Test(spec_util, path_clean_matches_go)
{
    static const char *const cases[][2] = {
        {"/a/b/../c/./d/", "/a/c/d"},
        {"a//b", "a/b"},
        {"../../x", "../../x"},
        {"/../x", "/x"},
        {"", "."},
        {"a/..", "."},
        {"C:/data/", "C:/data"},
        {"/", "/"},
        {"./a/../../b", "../b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *c = spec__path_clean(cases[i][0]);
        cr_expect_str_eq(c, cases[i][1], "clean('%s') = '%s'", cases[i][0], c);
        free(c);
    }
}

Test(spec_util, yaml_scalars_are_typed_with_the_core_schema)
{
    struct stk_diag diag = STK_DIAG_INIT;
    const char *y = "a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 8080:80\ng: 0x1F\nh: yes\n";
    struct spec__node *root = spec__yaml_parse("t.yaml", y, strlen(y), &diag);

    cr_assert_not_null(root);
    cr_assert_eq(spec__node_get(root, "a")->kind, SPEC__K_INT);
    cr_assert_eq(spec__node_get(root, "b")->kind, SPEC__K_STR);
    cr_assert_eq(spec__node_get(root, "c")->kind, SPEC__K_BOOL);
    cr_assert_eq(spec__node_get(root, "d")->kind, SPEC__K_NULL);
    cr_assert_eq(spec__node_get(root, "e")->kind, SPEC__K_FLOAT);
    cr_assert_eq(spec__node_get(root, "f")->kind, SPEC__K_STR);
    cr_assert_eq(spec__node_get(root, "g")->kind, SPEC__K_INT);
    cr_assert_eq(spec__node_get(root, "h")->kind, SPEC__K_STR);
    cr_assert_eq(spec__node_get(root, "f")->line, 6);
    cr_assert_eq(spec__node_get(root, "f")->col, 4);
    spec__node_free(root);
    stk_diag_release(&diag);
}
