/*
 * test-spec-load.c - focused tests of spec_project_load(), the canonical
 * JSON and the spec hash (the data-driven cases live in test-spec-cases.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "specs/spec.h"

static char tmpdir[256];

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/stk-spec-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown_tmp(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static char *write_file(const char *name, const char *text)
{
    char *path = stk_xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(const char *text, const char *const *env, struct spec_project **ret_p,
                struct stk_diag *diag, struct stk_err *err)
{
    char *path = write_file("stack.yaml", text);
    const char *files[] = {path, NULL};
    static const char *const no_env[] = {NULL};
    struct spec_load_opts opts = {.files = files, .env = env ? env : no_env};
    int rc = spec_project_load(&opts, ret_p, diag, err);

    free(path);
    return rc;
}

static void hash_of(const char *text, const char *service, char out[65])
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(load(text, NULL, &p, NULL, &err), 0, "load: %s", err.msg);
    spec_service_hash(spec_project_service(p, service), out);
    spec_project_free(p);
}

TestSuite(spec_load, .init = setup_tmp, .fini = teardown_tmp);

Test(spec_load, first_error_sets_err_with_value_position)
{
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    int rc = load("services:\n  web:\n    image: x\n    isolation: hyper-v\n    ports: [\"x:1\"]\n",
                  NULL, &p, &diag, &err);

    cr_assert_eq(rc, STK_ESPEC);
    cr_assert_null(p);
    cr_assert_eq(err.code, STK_ESPEC);
    cr_assert_eq(err.line, 4, "line %d", err.line);
    cr_assert_eq(err.col, 16, "col %d", err.col);
    cr_assert(strstr(err.file, "/stack.yaml") != NULL, "file %s", err.file);
    cr_assert(strstr(err.msg, "hyper-v") != NULL, "msg %s", err.msg);
    cr_assert_eq(diag.n_errors, 2, "both errors are reported, got %zu", diag.n_errors);
    stk_diag_release(&diag);
}

Test(spec_load, yaml_syntax_error_uses_problem_mark)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    int rc = load("services:\n  web: [a, b\n", NULL, &p, NULL, &err);

    cr_assert_eq(rc, STK_ESPEC);
    cr_assert_eq(err.line, 3, "line %d", err.line);
    cr_assert(strncmp(err.msg, "yaml: ", 6) == 0, "msg %s", err.msg);
}

Test(spec_load, missing_file_is_eio)
{
    const char *files[] = {"/nonexistent/dir/stack.yaml", NULL};
    struct spec_load_opts opts = {.files = files};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_EIO);
    cr_assert_null(p);
}

Test(spec_load, no_options_is_einval)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(spec_project_load(NULL, &p, NULL, &err), STK_EINVAL);
}

/* Without -f the files are found from the working directory up, with the override. */
Test(spec_load, no_files_discovers_compose_file_and_override_in_a_parent)
{
    static const char *const no_env[] = {NULL};
    char *sub = stk_xasprintf("%s/a/b", tmpdir), *cmd = stk_xasprintf("mkdir -p '%s'", sub);
    struct spec_load_opts opts = {.env = no_env};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char cwd[4096];

    cr_assert_eq(system(cmd), 0);
    free(write_file("compose.yaml", "services:\n  web:\n    image: nginx\n"));
    free(write_file("compose.override.yml", "services:\n  web:\n    hostname: h\n"));
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(sub), 0);
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_str_eq(p->working_dir, tmpdir);
    cr_assert_str_eq(spec_project_service(p, "web")->hostname, "h");
    cr_assert_not_null(p->files[1]);
    cr_assert(strstr(p->files[1], "compose.override.yml") != NULL, "%s", p->files[1]);
    spec_project_free(p);
    free(sub);
    free(cmd);
}

Test(spec_load, no_files_and_none_found_is_an_error_naming_the_folder)
{
    static const char *const no_env[] = {NULL};
    struct spec_load_opts opts = {.env = no_env, .working_dir = tmpdir};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* /tmp and / hold no Compose file on the machines the tests run on. */
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_EIO);
    cr_assert(strstr(err.msg, "no Compose file in '") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, tmpdir) != NULL, "%s", err.msg);
}

Test(spec_load, compose_file_naming_a_missing_file_is_an_error)
{
    static const char *const env[] = {"COMPOSE_FILE=nope.yaml", NULL};
    struct spec_load_opts opts = {.env = env, .working_dir = tmpdir};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *want = stk_xasprintf("COMPOSE_FILE names '%s/nope.yaml', which does not exist", tmpdir);

    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_EIO);
    cr_assert_str_eq(err.msg, want);
    free(want);
}

/* A missing --env-file is an error said once; a dangling .env link is no .env. */
Test(spec_load, env_file_errors_are_said_once_and_a_dangling_dotenv_is_absent)
{
    static const char *const no_env[] = {NULL};
    char *path = write_file("stack.yaml", "services:\n  web:\n    image: \"nginx:${TAG:-x}\"\n");
    char *missing = stk_xasprintf("%s/missing.env", tmpdir);
    char *dotenv = stk_xasprintf("%s/.env", tmpdir);
    const char *files[] = {path, NULL};
    const char *env_files[] = {missing, NULL};
    struct spec_load_opts opts = {.files = files, .env = no_env, .env_files = env_files};
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    char *want = stk_xasprintf("env file '%s' does not exist", missing);

    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_EIO);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(symlink("/nonexistent/target.env", dotenv), 0);
    opts.env_files = NULL;
    stk_err_clear(&err);
    cr_assert_eq(spec_project_load(&opts, &p, &diag, &err), 0, "%s", err.msg);
    cr_assert_eq(diag.n, 0, "%zu diagnostics", diag.n);
    cr_assert_str_eq(spec_project_service(p, "web")->image, "nginx:x");
    spec_project_free(p);
    stk_diag_release(&diag);
    free(want);
    free(missing);
    free(dotenv);
    free(path);
}

Test(spec_load, process_environment_is_used_without_opts_env)
{
    char *path = write_file("stack.yaml", "services:\n  web:\n    image: \"${STK_TEST_IMG}\"\n");
    const char *files[] = {path, NULL};
    struct spec_load_opts opts = {.files = files};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    setenv("STK_TEST_IMG", "from-process:1", 1);
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(p->services[0].image, "from-process:1");
    unsetenv("STK_TEST_IMG");
    spec_project_free(p);
    free(path);
}

Test(spec_load, unset_variable_warns_and_defaults_to_blank)
{
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(load("services:\n  web:\n    image: \"nginx${NOPE}\"\n", NULL, &p, &diag, &err),
                 0);
    cr_assert_str_eq(p->services[0].image, "nginx");
    cr_assert_eq(diag.n, 1);
    cr_assert_eq(diag.items[0].severity, STK_DIAG_WARNING);
    cr_assert(strstr(diag.items[0].msg, "NOPE") != NULL, "%s", diag.items[0].msg);
    cr_assert_eq(diag.items[0].line, 3);
    spec_project_free(p);
    stk_diag_release(&diag);
}

Test(spec_load, compose_disable_env_file_is_a_go_boolean)
{
    static const char *const bad[] = {"COMPOSE_DISABLE_ENV_FILE=yes", NULL};
    static const char *const good[] = {"COMPOSE_DISABLE_ENV_FILE=True", NULL};
    const char *text = "services:\n  web:\n    image: nginx\n";
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_lt(load(text, bad, &p, &diag, &err), 0);
    cr_assert_null(p);
    cr_assert(strstr(err.msg, "COMPOSE_DISABLE_ENV_FILE: invalid boolean value 'yes'") != NULL,
              "%s", err.msg);
    stk_diag_release(&diag);
    stk_err_clear(&err);
    cr_assert_eq(load(text, good, &p, NULL, &err), 0, "%s", err.msg);
    spec_project_free(p);
}

Test(spec_load, model_fields_are_normalised)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const struct spec_service *s;

    cr_assert_eq(load("services:\n"
                      "  web:\n"
                      "    image: x\n"
                      "    isolation: HyperV\n"
                      "    ports: [\"127.0.0.1:8080-8081:80-81/udp\"]\n"
                      "    volumes: [\"./site:/www:ro\"]\n"
                      "    stop_grace_period: 2s\n",
                      NULL, &p, NULL, &err),
                 0, "%s", err.msg);
    s = spec_project_service(p, "web");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->isolation, "hyperv");
    cr_assert_eq(s->isolation_pos.line, 4);
    cr_assert_eq(s->n_ports, 2);
    cr_assert_eq(s->ports[1].target, 81);
    cr_assert_eq(s->ports[1].published, 8081);
    cr_assert_str_eq(s->ports[1].protocol, "udp");
    cr_assert_str_eq(s->ports[1].host_ip, "127.0.0.1");
    cr_assert_eq(s->n_volumes, 1);
    cr_assert_str_eq(s->volumes[0].type, "bind");
    cr_assert(s->volumes[0].read_only);
    cr_assert(s->volumes[0].create_host_path);
    {
        char *want = stk_xasprintf("%s/site", tmpdir);
        cr_assert_str_eq(s->volumes[0].source, want);
        free(want);
    }
    cr_assert_eq(s->stop_grace_period_ns, 2000000000LL);
    cr_assert_eq(s->replicas, 1);
    cr_assert_null(spec_project_service(p, "nope"));
    cr_assert_str_eq(p->working_dir, tmpdir);
    cr_assert_not_null(p->files);
    cr_assert_null(p->files[1]);
    spec_project_free(p);
}

static const char *base_yaml = "services:\n"
                               "  web:\n"
                               "    image: nginx:1\n"
                               "    environment: {B: \"2\", A: \"1\"}\n"
                               "    ports: [\"8080:80\"]\n"
                               "    depends_on: [db]\n"
                               "  db:\n"
                               "    image: postgres\n";

Test(spec_load, hash_ignores_order_quoting_anchors_and_syntax_forms)
{
    char h1[65], h2[65];

    hash_of(base_yaml, "web", h1);
    hash_of("x-env: &env\n"
            "  A: '1'\n"
            "  B: \"2\"\n"
            "services:\n"
            "  db: {image: postgres}\n"
            "  web:\n"
            "    ports:\n"
            "      - target: 80\n"
            "        published: 8080\n"
            "    environment: *env\n"
            "    image: 'nginx:1'\n",
            "web", h2);
    cr_assert_str_eq(h1, h2);
    cr_assert_eq(strlen(h1), 64);
    cr_assert_eq(strspn(h1, "0123456789abcdef"), 64);
}

Test(spec_load, hash_changes_with_image_but_not_replicas_or_depends_on)
{
    char h1[65], h2[65], h3[65];

    hash_of("services:\n"
            "  web:\n"
            "    image: nginx:1\n"
            "    environment: {B: \"2\", A: \"1\"}\n"
            "    depends_on: [db]\n"
            "  db:\n"
            "    image: postgres\n",
            "web", h1);
    hash_of("services:\n"
            "  web:\n"
            "    image: nginx:2\n"
            "    environment: {B: \"2\", A: \"1\"}\n"
            "  db:\n"
            "    image: postgres\n",
            "web", h2);
    hash_of("services:\n"
            "  web:\n"
            "    image: nginx:1\n"
            "    environment: {B: \"2\", A: \"1\"}\n"
            "    deploy: {replicas: 4}\n"
            "  db:\n"
            "    image: postgres\n",
            "web", h3);
    cr_assert_str_neq(h1, h2);
    cr_assert_str_eq(h1, h3);
}

Test(spec_load, hash_is_sha256_of_compact_sorted_json)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char h[65], want[65];
    json_t *j;
    char *text;
    uint8_t md[STK_SHA256_LEN];

    cr_assert_eq(load(base_yaml, NULL, &p, NULL, &err), 0);
    spec_service_hash(&p->services[0], h);
    j = spec_service_to_json(&p->services[0], 1);
    cr_assert_null(json_object_get(j, "depends_on"));
    cr_assert_null(json_object_get(j, "deploy"));
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    stk_sha256(text, strlen(text), md);
    stk_sha256_hex(md, want);
    cr_assert_str_eq(h, want);
    /* The full JSON keeps what the hash leaves out. */
    json_decref(j);
    j = spec_service_to_json(&p->services[0], 0);
    cr_assert_not_null(json_object_get(j, "depends_on"));
    json_decref(j);
    free(text);
    spec_project_free(p);
}

Test(spec_load, caller_diag_receives_warnings_on_success)
{
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(load("services:\n  web:\n    image: x\n    tty: true\n", NULL, &p, &diag, &err),
                 0);
    cr_assert_eq(diag.n, 1);
    cr_assert_eq(diag.n_errors, 0);
    cr_assert(strstr(diag.items[0].msg, "tty") != NULL);
    spec_project_free(p);
    stk_diag_release(&diag);
}

Test(spec_load, alias_bomb_is_rejected)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n";

    cr_assert_eq(load(bomb, NULL, &p, NULL, &err), STK_ESPEC);
    cr_assert(strstr(err.msg, "too large") != NULL, "%s", err.msg);
}

Test(spec_load, yaml_output_round_trips_to_the_same_model)
{
    struct spec_project *p = NULL, *q = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *yaml, *path;
    const char *files[2] = {NULL, NULL};
    static const char *const no_env[] = {NULL};
    struct spec_load_opts opts = {.files = files, .env = no_env};
    json_t *a, *b;

    cr_assert_eq(load("name: rt\n"
                      "services:\n"
                      "  web:\n"
                      "    image: nginx:1\n"
                      "    command: [\"echo\", \"true\", \"1\", \"null\", \"a: b\", \"\"]\n"
                      "    environment: {A: \"true\", B: \"007\", C: \"\", D: \"x # y\"}\n"
                      "    ports: [\"127.0.0.1::80/udp\", \"9000-9001\"]\n"
                      "    volumes: [\"./site:/www:ro\", \"data:/data\"]\n"
                      "    labels: {\"com.example\": \"yes\"}\n"
                      "    healthcheck: {test: \"curl -f http://x/\", interval: 1m30s}\n"
                      "    deploy: {replicas: 2, resources: {limits: {cpus: \"0.5\", memory: "
                      "1g}}}\n"
                      "    depends_on: {db: {condition: service_healthy}}\n"
                      "  db:\n"
                      "    image: postgres\n"
                      "    healthcheck: {test: [\"CMD\", \"true\"]}\n"
                      "volumes:\n"
                      "  data:\n",
                      NULL, &p, NULL, &err),
                 0, "%s", err.msg);
    yaml = spec_project_to_yaml(p);
    cr_assert_not_null(yaml);
    cr_assert(strstr(yaml, "name: rt") != NULL, "%s", yaml);
    cr_assert(strstr(yaml, "\"true\"") != NULL, "strings that read as booleans are quoted:\n%s",
              yaml);
    path = write_file("roundtrip.yaml", yaml);
    files[0] = path;
    cr_assert_eq(spec_project_load(&opts, &q, NULL, &err), 0, "reload: %s\n%s", err.msg, yaml);
    a = spec_project_to_json(p);
    b = spec_project_to_json(q);
    cr_assert(json_equal(a, b), "round trip changed the model:\n%s", yaml);
    json_decref(a);
    json_decref(b);
    free(yaml);
    free(path);
    spec_project_free(p);
    spec_project_free(q);
}

Test(spec_load, service_order_puts_dependencies_first_and_keeps_file_order)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char **order;

    cr_assert_eq(load("services:\n"
                      "  web: {image: x, depends_on: [api]}\n"
                      "  api: {image: x, depends_on: [db, cache]}\n"
                      "  other: {image: x}\n"
                      "  cache: {image: x}\n"
                      "  db: {image: x}\n",
                      NULL, &p, NULL, &err),
                 0, "%s", err.msg);
    order = spec_project_service_order(p);
    cr_assert_eq(stk_strv_len(order), 5);
    cr_assert_str_eq(order[0], "other");
    cr_assert_str_eq(order[1], "cache");
    cr_assert_str_eq(order[2], "db");
    cr_assert_str_eq(order[3], "api");
    cr_assert_str_eq(order[4], "web");
    stk_strv_free(order);
    spec_project_free(p);
}

Test(spec_load, profiles_lists_every_declared_profile)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char **profiles;

    cr_assert_eq(load("services:\n"
                      "  web: {image: x}\n"
                      "  debug: {image: x, profiles: [debug, tools]}\n"
                      "  lint: {image: x, profiles: [tools, ci]}\n",
                      NULL, &p, NULL, &err),
                 0, "%s", err.msg);
    cr_assert_eq(p->n_services, 1, "services with inactive profiles are disabled");
    cr_assert_eq(p->n_disabled_services, 2);
    profiles = spec_project_profiles(p);
    cr_assert_eq(stk_strv_len(profiles), 3);
    cr_assert_str_eq(profiles[0], "ci");
    cr_assert_str_eq(profiles[1], "debug");
    cr_assert_str_eq(profiles[2], "tools");
    stk_strv_free(profiles);
    spec_project_free(p);
}

Test(spec_load, thousand_services_with_a_dependency_chain)
{
    struct stk_buf b = STK_BUF_INIT;
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char **order;

    stk_buf_puts(&b, "services:\n");
    for (int i = 999; i >= 0; i--) {
        stk_buf_printf(&b, "  s%d:\n    image: \"${IMG:-busybox}\"\n    ports: [\"%d:80\"]\n", i,
                       10000 + i);
        if (i > 0)
            stk_buf_printf(&b, "    depends_on: [s%d]\n", i - 1);
    }
    cr_assert_eq(load(b.buf, NULL, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(p->n_services, 1000);
    order = spec_project_service_order(p);
    cr_assert_str_eq(order[0], "s0");
    cr_assert_str_eq(order[999], "s999");
    stk_strv_free(order);
    spec_project_free(p);
    stk_buf_release(&b);
}

Test(spec_load, unknown_service_named_on_the_command_line_is_an_error)
{
    char *path = write_file("stack.yaml", "services:\n  web: {image: x}\n");
    const char *files[] = {path, NULL};
    const char *services[] = {"web", "nope", NULL};
    static const char *const no_env[] = {NULL};
    struct spec_load_opts opts = {.files = files, .env = no_env, .services = services};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_ESPEC);
    cr_assert_str_eq(err.msg, "no such service: 'nope'");
    free(path);
}
