/*
 * test-spec-compose-go.c - loads every fixture of compose-go kept in
 * ../shared/testdata/compose-go/ (read from there at test time, never
 * copied) and checks the outcome compose-go's own tests expect
 * (loader/loader_test.go, loader/extends_test.go, loader/include_test.go,
 * dotenv/godotenv_test.go at the commit in ../shared/testdata/compose-go/SOURCE).
 * Where stack deliberately differs, the test says why.
 */
#include <criterion/criterion.h>

#include "tests/support/shared-data.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"
#include "specs/spec.h"

#define CG STK_SHARED_DIR "/testdata/compose-go"
#define LT CG "/loader/testdata"

static const char *const no_env[] = {NULL};

static int load_files(const char *const *files, const char *const *env, const char *workdir,
                      struct spec_project **ret, struct stk_diag *diag, struct stk_err *err)
{
    struct spec_load_opts opts = {
        .files = files, .env = env ? env : no_env, .working_dir = workdir};

    return spec_project_load(&opts, ret, diag, err);
}

static int load1(const char *file, const char *const *env, struct spec_project **ret,
                 struct stk_err *err)
{
    const char *files[] = {file, NULL};

    cr_assert(access(file, R_OK) == 0, "fixture missing: %s", file);
    return load_files(files, env, NULL, ret, NULL, err);
}

/* Writes TEXT into a temporary directory as compose.yaml; returns its path (caller frees). */
static char tmpdir[64];

static char *write_tmp(const char *text)
{
    char *path;
    FILE *f;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/stk-cg-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    path = stk_xasprintf("%s/compose.yaml", tmpdir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void rm_tmp(char *path)
{
    unlink(path);
    rmdir(tmpdir);
    free(path);
}

static const char *env_of(const struct spec_service *s, const char *key)
{
    for (size_t i = 0; i < s->n_environment; i++)
        if (strcmp(s->environment[i].key, key) == 0)
            return s->environment[i].value ? s->environment[i].value : "(null)";
    return NULL;
}

TestSuite(spec_compose_go, .init = stk_test_require_shared_data);

Test(spec_compose_go, depends_on_cycle_is_rejected)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* TestLoadDependsOnCycle */
    cr_assert_eq(load1(LT "/compose-depends-on-cycle.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert_str_eq(err.msg,
                     "dependency cycle detected: service1 -> service2 -> service3 -> service1");
    cr_assert_gt(err.line, 0);
}

Test(spec_compose_go, depends_on_self_is_rejected)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* TestLoadDependsOnSelf */
    cr_assert_eq(load1(LT "/compose-depends-on-self.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert_str_eq(err.msg, "dependency cycle detected: service1 -> service1");
}

Test(spec_compose_go, depends_on_profile_fixture_is_a_cycle_too)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /*
     * compose-depends-on-profile-no-cycle.yaml has no profiles in this snapshot and the
     * same content as the cycle fixture, so it is rejected the same way.
     */
    cr_assert_eq(load1(LT "/compose-depends-on-profile-no-cycle.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert(strstr(err.msg, "dependency cycle detected") != NULL, "%s", err.msg);
}

Test(spec_compose_go, include_cycle_is_rejected)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* TestLoadWithIncludeCycle: the error starts with "include cycle detected". */
    cr_assert_eq(load1(LT "/compose-include-cycle.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert(strncmp(err.msg, "include cycle detected", 22) == 0, "%s", err.msg);
}

Test(spec_compose_go, empty_file_is_rejected)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* TestLoadEmptyFile (loader_test.go): "empty compose file" */
    cr_assert_eq(load1(LT "/empty.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert_str_eq(err.msg, "empty compose file");
}

Test(spec_compose_go, extends_from_subdir_resolves_env_file_against_the_extended_file)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const struct spec_service *s;

    /* TestLoadWithExtends */
    cr_assert_eq(load1(LT "/compose-test-extends.yaml", NULL, &p, &err), 0, "%s", err.msg);
    s = spec_project_service(p, "importer");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->image, "nginx");
    cr_assert_str_eq(s->container_name, "imported");
    cr_assert_str_eq(env_of(s, "SOURCE"), "extends");
    cr_assert_eq(s->n_volumes, 1);
    cr_assert_str_eq(s->volumes[0].type, "bind");
    cr_assert_str_eq(s->volumes[0].source, "/opt/data");
    cr_assert_str_eq(s->volumes[0].target, "/var/lib/mysql");
    cr_assert(s->volumes[0].create_host_path);
    cr_assert_null(s->networks, "no networks key: the default network (NULL)");
    spec_project_free(p);
}

Test(spec_compose_go, include_imports_services_with_their_env_files)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const struct spec_service *s;

    /* compose-include.yaml (TestLoadWithMultipleInclude, TestLoadWithIncludeOverride) */
    cr_assert_eq(load1(LT "/compose-include.yaml", NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p->n_services, 2);
    s = spec_project_service(p, "imported");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->image, "nginx");
    cr_assert_str_eq(env_of(s, "SOURCE"), "extends");
    s = spec_project_service(p, "bar");
    cr_assert_not_null(s);
    cr_assert_str_eq(env_of(s, "FOO"), "BAR");
    spec_project_free(p);
}

Test(spec_compose_go, include_override_from_a_second_file)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *a = write_tmp("name: test-include-override\n"
                        "include:\n"
                        "  - " LT "/subdir/compose-test-extends-imported.yaml\n");
    char *b = stk_xasprintf("%s/override.yaml", tmpdir);
    const char *files[] = {a, b, NULL};
    FILE *f = fopen(b, "w");

    /* TestLoadWithIncludeOverride: the second -f file overrides the included service. */
    fputs("services:\n  imported:\n    image: overridden\n", f);
    fclose(f);
    cr_assert_eq(load_files(files, NULL, NULL, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(spec_project_service(p, "imported")->image, "overridden");
    spec_project_free(p);
    unlink(b);
    free(b);
    rm_tmp(a);
}

Test(spec_compose_go, include_relative_volume_resolves_in_the_included_dir)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct stk_diag diag = STK_DIAG_INIT;
    const char *files[] = {LT "/include/compose.yaml", NULL};
    const struct spec_service *s;

    /*
     * include/compose.yaml includes included.yaml whose service has only `build` (a
     * warning in stack: build is not supported yet) and the volume ./:/mnt.
     */
    cr_assert_eq(load_files(files, NULL, NULL, &p, &diag, &err), 0, "%s", err.msg);
    s = spec_project_service(p, "included");
    cr_assert_not_null(s);
    {
        char *want = spec__path_clean(LT "/include");
        cr_assert_str_eq(s->volumes[0].source, want);
        free(want);
    }
    cr_assert_eq(diag.n_errors, 0);
    spec_project_free(p);
    stk_diag_release(&diag);
}

Test(spec_compose_go, include_project_directory_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const struct spec_service *s;
    char *want;

    /*
     * TestLoadWithIncludeProjectDirectory: ./dir/compose.yaml is included with
     * project_directory ../subdir, so its relative paths resolve there.
     */
    cr_assert_eq(load1(LT "/include/project-directory.yaml", NULL, &p, &err), 0, "%s", err.msg);
    s = spec_project_service(p, "service");
    cr_assert_not_null(s);
    want = spec__path_clean(LT "/subdir/compose-test-extends-imported.yaml");
    cr_assert_str_eq(s->volumes[0].source, want);
    free(want);
    cr_assert_str_eq(s->environment[0].key, "SOURCE", "extra.env read from ../subdir");
    cr_assert_str_eq(s->environment[0].value, "extends");
    spec_project_free(p);
}

Test(spec_compose_go, combined_include_and_extends_loads)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* TestLoadIncludeExtendsCombined: NilError. */
    cr_assert_eq(load1(LT "/combined/compose.yaml", NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_not_null(spec_project_service(p, "service"));
    spec_project_free(p);
}

Test(spec_compose_go, with_version_fixture_loads)
{
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    const char *env[] = {"HOME=/home/tester", "QUX=qux_from_environment", NULL};
    const char *files[] = {LT "/compose-test-with-version.yaml", NULL};
    const struct spec_service *web, *other;

    /* TestLoadWithVersion (with-version-struct_test.go) */
    cr_assert_eq(load_files(files, env, NULL, &p, &diag, &err), 0, "%s", err.msg);
    web = spec_project_service(p, "web");
    other = spec_project_service(p, "other");
    cr_assert_not_null(web);
    cr_assert_not_null(other);
    cr_assert_str_eq(web->networks[0], "front");
    cr_assert_str_eq(web->networks[1], "default");
    cr_assert_str_eq(web->volumes_from[0], "service:other");
    cr_assert_str_eq(other->command[0], "top");
    cr_assert_str_eq(other->volumes[0].target, "/data");
    cr_assert_null(other->volumes[0].source);
    /* stack differs: `version` is reported obsolete and `build` unsupported (warnings). */
    cr_assert_eq(diag.n_errors, 0);
    cr_assert_geq(diag.n, 2);
    spec_project_free(p);
    stk_diag_release(&diag);
}

Test(spec_compose_go, extends_base_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = write_tmp("name: test-extends\n"
                           "services:\n"
                           "  test1:\n"
                           "    extends:\n"
                           "      file: " LT "/extends/base.yaml\n"
                           "      service: base\n"
                           "    hostname: test1\n"
                           "  test3:\n"
                           "    extends:\n"
                           "      file: " LT "/extends/base.yaml\n"
                           "      service: another\n"
                           "    hostname: test3\n"
                           "  port:\n"
                           "    image: x\n"
                           "    extends:\n"
                           "      file: " LT "/extends/base.yaml\n"
                           "      service: with-port\n");

    /* TestExtendsPort and the base/another cases of extends_test.go */
    cr_assert_eq(load1(path, NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(spec_project_service(p, "test1")->image, "base");
    cr_assert_str_eq(spec_project_service(p, "test1")->hostname, "test1");
    cr_assert_str_eq(spec_project_service(p, "test3")->image, "base");
    cr_assert_eq(spec_project_service(p, "port")->n_ports, 1);
    cr_assert_eq(spec_project_service(p, "port")->ports[0].published, 8000);
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_nil_service_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = write_tmp("services:\n"
                           "  test:\n"
                           "    image: busybox\n"
                           "    extends:\n"
                           "      file: " LT "/extends/base.yaml\n"
                           "      service: nil\n");

    /* TestExtendsNil: a service written "nil:" with no body can be extended. */
    cr_assert_eq(load1(path, NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(spec_project_service(p, "test")->image, "busybox");
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_nested_build_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = write_tmp("include:\n  - " LT "/extends/nested.yaml\n");

    /* TestIncludeWithExtends: nested.yaml extends sibling.yaml (build only). */
    cr_assert_eq(load1(path, NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_not_null(spec_project_service(p, "with-build"));
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_reset_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = write_tmp("services:\n"
                           "  test:\n"
                           "    extends:\n"
                           "      file: " LT "/extends/reset.yaml\n"
                           "      service: base\n");

    /* TestExtendsReset: p.Services["test"].Command == nil */
    cr_assert_eq(load1(path, NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(spec_project_service(p, "test")->has_command, 0);
    cr_assert_str_eq(spec_project_service(p, "test")->image, "alpine:latest");
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_interpolated_fixture)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path =
        write_tmp("services:\n"
                  "  test:\n"
                  "    extends: { file: " LT "/extends/interpolated.yaml, service: foo }\n");

    /* TestExtendsWithInterpolation: Volumes[0].Source == "/dev/null" */
    cr_assert_eq(load1(path, NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(spec_project_service(p, "test")->volumes[0].source, "/dev/null");
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_ports_merge_without_duplicates)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char *path = write_tmp("services:\n"
                           "  test:\n"
                           "    extends:\n"
                           "      file: " LT "/extends/ports.yaml\n"
                           "      service: test\n");
    const char *files[] = {LT "/extends/ports.yaml", path, NULL};

    /* TestExtendsPortsMerge (extends_test.go:245): len(Ports) == 1 */
    cr_assert_eq(load_files(files, NULL, NULL, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(spec_project_service(p, "test")->n_ports, 1);
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, extends_does_not_import_dependencies)
{
    static const char *const which[] = {"with_depends_on", "with_volumes_from", "with_ipc",
                                        "with_network_mode"};

    /*
     * extends_test.go: each wants `service "bar" depends on undefined service "zot"`.
     * stack words the three namespace/volumes_from cases "refers to undefined service".
     */
    for (size_t i = 0; i < 4; i++) {
        struct spec_project *p = NULL;
        struct stk_err err = STK_ERR_INIT;
        char *text = stk_xasprintf("services:\n"
                                   "  bar:\n"
                                   "    extends:\n"
                                   "      file: " LT "/extends/depends_on.yaml\n"
                                   "      service: %s\n",
                                   which[i]);
        char *path = write_tmp(text);
        cr_expect_eq(load1(path, NULL, &p, &err), STK_ESPEC, "%s", which[i]);
        cr_expect(strstr(err.msg, "service 'bar'") && strstr(err.msg, "undefined service 'zot'"),
                  "%s: %s", which[i], err.msg);
        spec_project_free(p);
        rm_tmp(path);
        free(text);
    }
}

Test(spec_compose_go, cli_simple_fixtures_load)
{
    static const char *const names[] = {"compose.yaml", "compose-name.yaml",
                                        "compose-with-variables.yaml",
                                        "compose-with-overrides.yaml"};

    for (size_t i = 0; i < STK_ARRAY_SIZE(names); i++) {
        struct spec_project *p = NULL;
        struct stk_err err = STK_ERR_INIT;
        char *path = stk_xasprintf(CG "/cli/testdata/simple/%s", names[i]);
        int rc = load1(path, NULL, &p, &err);
        /* cli/options_test.go loads each of these without error. */
        cr_expect_eq(rc, 0, "%s: %s", names[i], err.msg);
        spec_project_free(p);
        free(path);
    }
}

static const char *volume_source(const struct spec_project *p, const char *svc, size_t i)
{
    const struct spec_service *s = spec_project_service(p, svc);

    cr_assert(s && i < s->n_volumes);
    return s->volumes[i].source;
}

Test(spec_compose_go, windows_paths_with_a_windows_working_directory)
{
    static const char *const convert[] = {"COMPOSE_CONVERT_WINDOWS_PATHS=1", NULL};
    const char *files[] = {CG "/cli/testdata/simple/compose-with-paths.yaml", NULL};
    struct spec_load_opts opts = {
        .files = files, .env = convert, .working_dir = "C:\\project-dir\\"};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /*
     * cli/options_windows_test.go TestConvertWithEnvVar (run by compose-go on Windows):
     * the Windows working directory resolves the relative sources, and
     * COMPOSE_CONVERT_WINDOWS_PATHS turns drive paths into /c/... for Linux containers.
     */
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(volume_source(p, "test", 0), "/c/docker/project");
    cr_expect_str_eq(volume_source(p, "test", 1), "/c/project-dir/relative");
    cr_expect_str_eq(volume_source(p, "test", 2), "/c/project-dir/relative2");
    cr_expect_str_eq(p->name, "project-dir");
    spec_project_free(p);
    /* --platform windows keeps Windows paths, resolved by the folder's rules. */
    opts.platform = SPEC_PLATFORM_WINDOWS;
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "%s", err.msg);
    cr_expect_str_eq(volume_source(p, "test", 0), "C:\\docker\\project");
    cr_expect_str_eq(volume_source(p, "test", 1), "C:\\project-dir\\relative");
    cr_expect_str_eq(volume_source(p, "test", 2), "C:\\project-dir\\relative2");
    spec_project_free(p);
    /*
     * Without the conversion a drive path is no Linux host path: stack refuses it on
     * --platform linux (issue 8 item 10), where compose-go on Linux passes it through.
     */
    opts.platform = SPEC_PLATFORM_LINUX;
    opts.env = no_env;
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), STK_ESPEC);
    cr_expect_str_eq(err.msg, "services.test.volumes: the source 'C:\\docker\\project' is a "
                              "Windows path: a Linux host has no drive letters or UNC shares");
}

Test(spec_compose_go, env_file_fixtures)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *f1[] = {CG "/cli/testdata/env-file/compose-with-env-file.yaml", NULL};
    const char *f2[] = {CG "/cli/testdata/env-file/compose-with-env-files.yaml", NULL};
    const char *env_files[] = {CG "/cli/testdata/env-file/override.env", NULL};
    struct spec_load_opts opts = {.files = f2, .env = no_env, .env_files = env_files};
    const struct spec_service *s;

    /*
     * cli/options_test.go "by .env": stack always reads the project directory's .env
     * (compose-go only WithDotEnv), whose COMPOSE_PROJECT_NAME names the project.
     */
    cr_assert_eq(load_files(f1, NULL, NULL, &p, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(p->name, "my_project_from_dot_env");
    spec_project_free(p);
    /* TestProjectNameFromWorkingDir, TestProjectWithDiscardEnvFile: no env file at all. */
    p = NULL;
    {
        const char *none[] = {NULL};
        struct spec_load_opts o1 = {.files = f1, .env = no_env, .env_files = none};
        cr_assert_eq(spec_project_load(&o1, &p, NULL, &err), 0, "%s", err.msg);
    }
    cr_assert_str_eq(p->name, "env-file");
    s = spec_project_service(p, "simple");
    cr_assert_str_eq(env_of(s, "DEFAULT_PORT"), "8080");
    cr_assert_eq(s->ports[0].published, 8000);
    spec_project_free(p);
    /* TestProjectWithMultipleEnvFile: --env-file override.env sets PORT=9000. */
    p = NULL;
    cr_assert_eq(spec_project_load(&opts, &p, NULL, &err), 0, "%s", err.msg);
    s = spec_project_service(p, "simple");
    cr_assert_str_eq(env_of(s, "DEFAULT_PORT"), "9090");
    cr_assert_eq(s->ports[0].published, 9000);
    spec_project_free(p);
}

Test(spec_compose_go, project_name_from_name_with_variable)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *env[] = {"TEST=expected", NULL};

    /* cli/options_test.go "by name in compose.yaml with variable" */
    cr_assert_eq(load1(CG "/cli/testdata/simple/compose-name.yaml", env, &p, &err), 0, "%s",
                 err.msg);
    cr_assert_str_eq(p->name, "test-expected-test");
    spec_project_free(p);
}

Test(spec_compose_go, env_file_interpolation_precedence)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *env[] = {"FOO=FOO_from_os.env", "QIX=QIX_from_os.env", NULL};
    char *path = write_tmp("services:\n"
                           "  base:\n"
                           "    image: x\n"
                           "    environment:\n"
                           "      FOO: foo_from_environment\n"
                           "      BAR: bar_from_environment\n"
                           "      QIX:\n"
                           "    env_file: [" CG "/types/fixtures/base.env]\n"
                           "  override:\n"
                           "    image: x\n"
                           "    environment:\n"
                           "      FOO: foo_from_environment\n"
                           "    env_file:\n"
                           "      - " CG "/types/fixtures/base.env\n"
                           "      - " CG "/types/fixtures/override.env\n");
    const struct spec_service *s;

    /* types/project_test.go TestWithServicesEnvironmentResolved */
    cr_assert_eq(load1(path, env, &p, &err), 0, "%s", err.msg);
    s = spec_project_service(p, "base");
    cr_assert_str_eq(env_of(s, "FOO"), "foo_from_environment");
    cr_assert_str_eq(env_of(s, "BAR"), "bar_from_environment");
    cr_assert_str_eq(env_of(s, "QIX"), "QIX_from_os.env");
    cr_assert_str_eq(env_of(s, "ZOT"), "zot_from_base.env");
    cr_assert_str_eq(env_of(s, "INTERPOLATED_FOO"), "FOO_from_os.env");
    cr_assert_str_eq(env_of(s, "INTERPOLATED_BAR"), "bar_from_environment");
    cr_assert_str_eq(env_of(s, "INTERPOLATED_ZOT"), "zot_from_base.env");
    s = spec_project_service(p, "override");
    cr_assert_str_eq(env_of(s, "FOO"), "foo_from_environment");
    cr_assert_str_eq(env_of(s, "BAR"), "bar_from_override.env");
    spec_project_free(p);
    rm_tmp(path);
}

Test(spec_compose_go, remote_fixtures_are_local_files_or_errors)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* remote/compose.yaml read as a local file: env_file ./env and the volume "." */
    cr_assert_eq(load1(LT "/remote/compose.yaml", NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(env_of(spec_project_service(p, "foo"), "FOO"), "BAR");
    spec_project_free(p);
    /*
     * remote/cycle uses compose-go's test-only "remote:" resource loader
     * (TestLoadWithResourcesCycle: "Circular reference"). stack has no pluggable
     * loaders: "remote:cycle/..." is a local path that does not exist, an error.
     */
    p = NULL;
    cr_assert_eq(load1(LT "/remote/cycle/compose.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert(strstr(err.msg, "remote:cycle/compose-cycle.yaml") != NULL, "%s", err.msg);
}

Test(spec_compose_go, extends_with_context_url_loads)
{
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    const char *files[] = {LT "/compose-test-extends-with-context-url.yaml", NULL};

    /* TestLoadWithExtendsWithContextUrl: NilError (build is a warning in stack). */
    cr_assert_eq(load_files(files, NULL, NULL, &p, &diag, &err), 0, "%s", err.msg);
    cr_assert_not_null(spec_project_service(p, "importer-with-https-url"));
    cr_assert_eq(diag.n_errors, 0);
    spec_project_free(p);
    stk_diag_release(&diag);
}

struct kv {
    const char *k, *v;
};

static void check_dotenv(const char *name, const char *const *lookup, const struct kv *want,
                         size_t n_want, long n_total)
{
    char *path = stk_xasprintf(CG "/dotenv/fixtures/%s", name);
    char *data = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct spec__env env = {0}, look = {0};
    struct stk_diag diag = STK_DIAG_INIT;

    cr_assert_eq(stk_file_read(path, &data, NULL, &err), 0, "%s", err.msg);
    for (size_t i = 0; lookup && lookup[i]; i += 2)
        spec__env_set_default(&look, lookup[i], lookup[i + 1]);
    cr_expect_eq(spec__dotenv_parse(path, data, &look, &env, &diag), 0, "%s", name);
    for (size_t i = 0; i < n_want; i++) {
        const char *got = spec__env_get(&env, want[i].k);
        cr_expect_not_null(got, "%s: %s missing", name, want[i].k);
        if (got)
            cr_expect_str_eq(got, want[i].v, "%s: %s", name, want[i].k);
    }
    if (n_total >= 0)
        cr_expect_eq((long)env.n, n_total, "%s: %zu variables", name, env.n);
    spec__env_release(&env);
    spec__env_release(&look);
    stk_diag_release(&diag);
    free(data);
    free(path);
}

Test(spec_compose_go, dotenv_fixtures)
{
    static const struct kv plain[] = {{"OPTION_A", "1"}, {"OPTION_B", "2"},
                                      {"OPTION_C", "3"}, {"OPTION_D", "4"},
                                      {"OPTION_E", "5"}, {"OPTION_H", "my string"}};
    static const struct kv exported[] = {{"OPTION_A", "2"}, {"OPTION_B", "\\n"}};
    static const struct kv equals[] = {
        {"OPTION_A", "postgres://localhost:5432/database?sslmode=disable"}};
    static const struct kv quoted[] = {
        {"OPTION_A", "1"},          {"OPTION_B", "2"},
        {"OPTION_C", ""},           {"OPTION_D", "\\n"},
        {"OPTION_E", "1"},          {"OPTION_F", "2"},
        {"OPTION_G", ""},           {"OPTION_H", "\n"},
        {"OPTION_I", "echo 'asd'"}, {"OPTION_J", "first line\nsecond line\nthird line\nand so on"},
        {"OPTION_K", "Let's go!"},  {"OPTION_Z", "last value"}};
    static const struct kv unquoted[] = {
        {"OPTION_A", "some quoted phrase"},
        {"OPTION_B", "first one with an unquoted phrase"},
        {"OPTION_C", "then another one with an unquoted phrase"},
        {"OPTION_D", "then another one with an unquoted phrase special \xc3\xa8 char"},
        {"OPTION_E", "then another one quoted phrase"}};
    static const struct kv subst[] = {{"OPTION_A", "1"},
                                      {"OPTION_B", "1"},
                                      {"OPTION_C", "1"},
                                      {"OPTION_D", "1_1"},
                                      {"OPTION_E", ""}};
    static const struct kv subst5[] = {{"OPTION_A", "5"},
                                       {"OPTION_B", "5"},
                                       {"OPTION_C", "5"},
                                       {"OPTION_D", "5_5"},
                                       {"OPTION_E", ""}};
    static const struct kv special[] = {{"VAR-WITH-DASHES", "dashes"},
                                        {"VAR.WITH.DOTS", "dots"},
                                        {"VAR_WITH_UNDERSCORES", "underscores"}};
    static const struct kv inherited[] = {
        {"VAR_TO_BE_LOADED_FROM_OS_ENV", "SOME_RANDOM_VALUE"}, {"foo", "bar"}, {"bar", "baz"}};
    static const char *const os_env[] = {"VAR_TO_BE_LOADED_FROM_OS_ENV", "SOME_RANDOM_VALUE", NULL};
    static const char *const opt_a5[] = {"OPTION_A", "5", NULL};

    check_dotenv("plain.env", NULL, plain, STK_ARRAY_SIZE(plain), -1);
    check_dotenv("utf8-bom.env", NULL, plain, 5, -1);
    check_dotenv("exported.env", NULL, exported, STK_ARRAY_SIZE(exported), 2);
    check_dotenv("equals.env", NULL, equals, 1, 1);
    check_dotenv("quoted.env", NULL, quoted, STK_ARRAY_SIZE(quoted), -1);
    check_dotenv("unquoted.env", NULL, unquoted, STK_ARRAY_SIZE(unquoted), 5);
    check_dotenv("substitutions.env", NULL, subst, STK_ARRAY_SIZE(subst), 5);
    check_dotenv("substitutions-default.env", NULL, subst, STK_ARRAY_SIZE(subst), 5);
    check_dotenv("substitutions-default.env", opt_a5, subst5, STK_ARRAY_SIZE(subst5), 5);
    check_dotenv("special.env", NULL, special, STK_ARRAY_SIZE(special), 3);
    check_dotenv("inherited-multi-var.env", os_env, inherited, STK_ARRAY_SIZE(inherited), 3);
    check_dotenv("inherited-single-var.env", os_env, inherited, 1, 1);
    check_dotenv("inherited-not-found.env", NULL, NULL, 0, 0);
    {
        static const struct kv ex1[] = {
            {"FOO", "foo_from_env_file"}, {"ENV.WITH.DOT", "ok"}, {"BAR", "bar_from_env_file"}};
        char *data = NULL;
        struct stk_err err = STK_ERR_INIT;
        struct spec__env env = {0};
        struct stk_diag diag = STK_DIAG_INIT;
        /* loader/example1.env (full-example.yml's env_file) */
        cr_assert_eq(stk_file_read(CG "/loader/example1.env", &data, NULL, &err), 0);
        cr_expect_eq(spec__dotenv_parse("example1.env", data, NULL, &env, &diag), 0);
        for (size_t i = 0; i < STK_ARRAY_SIZE(ex1); i++)
            cr_expect_str_eq(spec__env_get(&env, ex1[i].k), ex1[i].v);
        free(data);
        spec__env_release(&env);
        stk_diag_release(&diag);
    }
}

Test(spec_compose_go, dotenv_invalid_line_is_reported)
{
    char *data = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct spec__env env = {0};
    struct stk_diag diag = STK_DIAG_INIT;
    const char *path = CG "/dotenv/fixtures/invalid1.env";

    /* TestErrorParsing: "line 7: key cannot contain a space" */
    cr_assert_eq(stk_file_read(path, &data, NULL, &err), 0);
    cr_assert_eq(spec__dotenv_parse(path, data, NULL, &env, &diag), -1);
    cr_assert_eq(diag.n_errors, 1);
    cr_assert(strstr(diag.items[0].msg, "line 7: key cannot contain a space") != NULL, "%s",
              diag.items[0].msg);
    cr_assert_eq(diag.items[0].line, 7);
    spec__env_release(&env);
    stk_diag_release(&diag);
    free(data);
}

Test(spec_compose_go, extends_chain_across_directories)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* extends/withdir: compose.yaml -> dir/compose.yaml -> dir/base.yaml (relative to dir/) */
    cr_assert_eq(load1(LT "/extends/withdir/compose.yaml", NULL, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(spec_project_service(p, "test")->image, "hello-world");
    spec_project_free(p);
}

Test(spec_compose_go, remote_nested_fixture_is_a_missing_local_file)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;

    /* "remote:" is compose-go's test-only resource loader; stack reads local files only. */
    cr_assert_eq(load1(LT "/remote/nested/compose.yaml", NULL, &p, &err), STK_ESPEC);
    cr_assert(strstr(err.msg, "remote:nested/compose-nested.yaml") != NULL, "%s", err.msg);
}

Test(spec_compose_go, other_env_and_label_fixtures)
{
    static const char *const files[] = {"dotenv/fixtures/custom.format", "loader/example2.env",
                                        "loader/example1.label", "loader/example2.label"};
    static const char *const want[][2] = {{"FOO", "BAR"},
                                          {"BAR", "bar_from_env_file_2"},
                                          {"LABEL.WITH.DOT", "ok"},
                                          {"BAR", "bar_from_label_file_2"}};

    /*
     * custom.format is read by a format registered in TestLoadWithFormat ("KEY:VALUE");
     * the dotenv parser accepts ':' as a separator, so it reads the same. The example
     * files feed full-example.yml's env_file/label_file.
     */
    for (size_t i = 0; i < STK_ARRAY_SIZE(files); i++) {
        char *path = stk_xasprintf(CG "/%s", files[i]);
        char *data = NULL;
        struct stk_err err = STK_ERR_INIT;
        struct spec__env env = {0};
        struct stk_diag diag = STK_DIAG_INIT;
        cr_assert_eq(stk_file_read(path, &data, NULL, &err), 0, "%s", err.msg);
        cr_expect_eq(spec__dotenv_parse(path, data, NULL, &env, &diag), 0, "%s", files[i]);
        cr_expect_str_eq(spec__env_get(&env, want[i][0]) ? spec__env_get(&env, want[i][0]) : "",
                         want[i][1], "%s", files[i]);
        spec__env_release(&env);
        stk_diag_release(&diag);
        free(data);
        free(path);
    }
}
