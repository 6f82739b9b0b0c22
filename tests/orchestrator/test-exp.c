/*
 * test-exp.c - `stack export kubernetes` (orchestrator/export/exp.h).
 *
 * The golden cases walk tests/data/export/CASE/: stack.yaml, optionally args
 * (option lines: platform=windows|linux, publish_as=nodeport|loadbalancer,
 * namespace=NS, volume_size=Q, images=1 to read os.version from a store
 * holding a generated Windows image), and the exact expected output:
 *   expected.yaml   the documents (the case directory written "<dir>");
 *   expected.warn   the warnings and notes, one formatted diagnostic a line,
 *                   file names relative to the case directory.
 * STK_EXP_REGEN=1 rewrites the expected files from the current output (review the diff!).
 *
 * The CLI tests run the built `stack` on bad input and check the exit status,
 * the message and that nothing was written.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "orchestrator/export/exp.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"
#include "tests/hcsemu/hcsemu-images.h"

#define EXP_DATA STK_TEST_DATA "/export"
#define STACK_BIN STK_BIN_DIR "/orchestrator/stack"

static char *read_text(const char *path)
{
    char *data = NULL;
    struct stk_err err = STK_ERR_INIT;

    if (stk_file_read(path, &data, NULL, &err) < 0) {
        stk_err_clear(&err);
        return NULL;
    }
    return data;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert(f, "cannot write '%s'", path);
    fputs(text, f);
    fclose(f);
}

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

/* The value of KEY in DIR/args ("key=value" lines), a new string, or NULL. */
static char *case_arg(const char *dir, const char *key)
{
    char *path = stk_xasprintf("%s/args", dir);
    char *text = read_text(path);
    char *ret = NULL, *save = NULL;
    size_t kl = strlen(key);

    free(path);
    if (!text)
        return NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !ret; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, key, kl) == 0 && line[kl] == '=')
            ret = stk_xstrdup(line + kl + 1);
    free(text);
    return ret;
}

static char *diag_text(const struct stk_diag *d, const char *dir, const char *label)
{
    struct stk_buf b = STK_BUF_INIT;
    char *prefix = stk_xasprintf("%s/", dir);

    for (size_t i = 0; i < d->n; i++) {
        char *line = stk_diag_format(d, i);
        char *rel = replace_all(line, prefix, "");
        char *lab = label ? replace_all(rel, ": warning: ", label) : stk_xstrdup(rel);
        stk_buf_printf(&b, "%s\n", lab);
        free(line);
        free(rel);
        free(lab);
    }
    free(prefix);
    return stk_buf_detach(&b, NULL);
}

static void rm_rf(const char *dir)
{
    struct stk_err err = STK_ERR_INIT;

    stk_rm_rf(dir, &err);
    stk_err_clear(&err);
}

/* Exports the case in DIR; returns the YAML and stores the diagnostics text in *RET_WARN. */
static char *export_case(const char *dir, char **ret_warn)
{
    char *file = stk_xasprintf("%s/stack.yaml", dir);
    const char *files[] = {file, NULL};
    const char *no_env[] = {NULL};
    const char *no_env_files[] = {NULL};
    struct spec_load_opts lo;
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct exp_opts eo;
    struct exp_result res;
    char *platform = case_arg(dir, "platform"), *publish = case_arg(dir, "publish_as");
    char *ns = case_arg(dir, "namespace"), *size = case_arg(dir, "volume_size");
    char *yaml, *raw, *w1, *w2;
    int r;

    memset(&lo, 0, sizeof(lo));
    memset(&eo, 0, sizeof(eo));
    memset(&res, 0, sizeof(res));
    lo.files = files;
    lo.env = no_env;
    lo.env_files = no_env_files;
    lo.platform =
        platform && strcmp(platform, "windows") == 0 ? SPEC_PLATFORM_WINDOWS : SPEC_PLATFORM_LINUX;
    r = spec_project_load(&lo, &p, &diag, &err);
    cr_assert_eq(r, 0, "%s: load: %s", dir, err.msg);
    eo.platform = lo.platform;
    eo.publish_as = publish && strcmp(publish, "loadbalancer") == 0 ? EXP_PUBLISH_LOADBALANCER
                                                                    : EXP_PUBLISH_NODEPORT;
    eo.namespace_ = ns;
    eo.volume_size = size;
    r = exp_kubernetes(p, &eo, &res, &err);
    cr_assert_eq(r, 0, "%s: export: %s", dir, err.msg);
    raw = exp_result_to_yaml(&res);
    yaml = replace_all(raw, dir, "<dir>");
    w1 = diag_text(&res.warnings, dir, NULL);
    w2 = diag_text(&res.notes, dir, ": note: ");
    *ret_warn = stk_xasprintf("%s%s", w1, w2);
    free(raw);
    free(w1);
    free(w2);
    exp_result_release(&res);
    spec_project_free(p);
    stk_diag_release(&diag);
    free(file);
    free(platform);
    free(publish);
    free(ns);
    free(size);
    return yaml;
}

static void check_case(const char *name)
{
    char *dir = stk_xasprintf("%s/%s", EXP_DATA, name);
    char *ey = stk_xasprintf("%s/expected.yaml", dir), *ew = stk_xasprintf("%s/expected.warn", dir);
    char *warn = NULL, *yaml = export_case(dir, &warn);
    char *want_y, *want_w;

    if (getenv("STK_EXP_REGEN")) {
        write_text(ey, yaml);
        write_text(ew, warn);
    }
    want_y = read_text(ey);
    want_w = read_text(ew);
    cr_assert(want_y, "%s: no expected.yaml", name);
    cr_assert_str_eq(yaml, want_y, "%s: the YAML differs from expected.yaml", name);
    cr_assert_str_eq(warn, want_w ? want_w : "", "%s: the warnings differ from expected.warn",
                     name);
    free(want_y);
    free(want_w);
    free(yaml);
    free(warn);
    free(ey);
    free(ew);
    free(dir);
}

Test(exp_golden, every_case_matches_its_expected_output)
{
    DIR *d = opendir(EXP_DATA);
    struct dirent *e;
    struct stk_strv names = STK_STRV_INIT;

    cr_assert(d, "no %s", EXP_DATA);
    stk_strv_init(&names);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            stk_strv_push(&names, e->d_name);
    closedir(d);
    stk_strv_sort(&names);
    cr_assert_geq(names.n, 6, "the golden cases are missing");
    for (size_t i = 0; i < names.n; i++)
        check_case(names.v[i]);
    stk_strv_release(&names);
}

/* One golden case per acceptance point; each output must hold the facts it is there for. */
static char *case_yaml(const char *name)
{
    char *dir = stk_xasprintf("%s/%s", EXP_DATA, name);
    char *warn = NULL, *yaml = export_case(dir, &warn);

    free(warn);
    free(dir);
    return yaml;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;

    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(exp_golden, windows_isolations_give_two_runtime_classes_and_build_selectors)
{
    char *y = case_yaml("windows-isolation");

    cr_expect_eq(count(y, "kind: RuntimeClass"), 2);
    cr_expect(strstr(y, "handler: runhcs-wcow-process"));
    cr_expect(strstr(y, "handler: runhcs-wcow-hypervisor"));
    /* old: a 2019 image in a silo; only a 2019 node can run it. */
    cr_expect(strstr(y, "        node.kubernetes.io/windows-build: \"10.0.17763\"\n"));
    /* api: a 2022 image in a silo runs on 2022 and 2025 nodes (the 2025 downward rule). */
    cr_expect(strstr(y, "- key: node.kubernetes.io/windows-build\n                operator: In\n"
                        "                values:\n                - \"10.0.20348\"\n"
                        "                - \"10.0.26100\"\n      terminationGrace"));
    /* legacy: a 2019 image in a utility VM runs on a node of its build or newer. */
    cr_expect(strstr(y, "- \"10.0.17763\"\n                - \"10.0.20348\"\n"
                        "                - \"10.0.26100\"\n"));
    cr_expect(strstr(y, "runAsUserName: ContainerUser"));
    free(y);
}

Test(exp_golden, sidecar_pair_is_one_pod_with_the_ports_on_the_pod)
{
    char *y = case_yaml("sidecar");

    cr_expect_eq(count(y, "kind: Deployment"), 1, "the joiner has no Deployment of its own");
    cr_expect(strstr(y, "- name: proxy"));
    cr_expect(strstr(y, "name: tcp-9090"), "the joiner's port is served by the pod's Service");
    free(y);
}

Test(exp_golden, health_gate_and_one_shot_give_probe_job_and_init_containers)
{
    char *y = case_yaml("health-migrate");

    cr_expect_eq(count(y, "kind: Job"), 1);
    cr_expect(strstr(y, "readinessProbe:"));
    cr_expect(strstr(y, "kubectl wait --for=condition=complete job/migrate"));
    cr_expect(strstr(y, "kubectl wait --for=condition=Ready pod -l "
                        "app.kubernetes.io/name=db,app.kubernetes.io/part-of=shop"));
    cr_expect(strstr(y, "kind: RoleBinding"));
    free(y);
}

Test(exp_golden, storage_gives_claim_host_paths_and_a_pipe)
{
    char *y = case_yaml("storage-windows");

    cr_expect(strstr(y, "kind: PersistentVolumeClaim"));
    cr_expect(strstr(y, "storage: 5Gi"));
    cr_expect(strstr(y, "path: \\\\.\\pipe\\docker_engine\n          type: \"\""));
    cr_expect(!strstr(y, "medium: Memory"), "Windows pods refuse memory emptyDir");
    free(y);
}

Test(exp_golden, published_ports_as_nodeport_and_loadbalancer)
{
    char *np = case_yaml("publish-nodeport"), *lb = case_yaml("publish-loadbalancer");

    cr_expect(strstr(np, "type: NodePort"));
    cr_expect(strstr(np, "nodePort: 30080"));
    cr_expect(strstr(lb, "type: LoadBalancer"));
    cr_expect(!strstr(lb, "nodePort:"));
    free(np);
    free(lb);
}

Test(exp_windows_build, label_of_an_os_version)
{
    char *a = exp_windows_build("10.0.20348.2340"), *b = exp_windows_build("10.0.17763");

    cr_assert_str_eq(a, "10.0.20348");
    cr_assert_str_eq(b, "10.0.17763");
    cr_assert_null(exp_windows_build("10.0"));
    cr_assert_null(exp_windows_build("10.0.x"));
    cr_assert_null(exp_windows_build(NULL));
    free(a);
    free(b);
}

/*
 * The windows-build comes from the image's os.version in the local store when
 * the image is there: a 2025 image (no LTSC tag) in a silo runs only on 2025
 * nodes; an image neither in the store nor tagged gets a warning and only the
 * OS selector.
 */
Test(exp_images, windows_build_is_read_from_the_local_store)
{
    char dir[] = "/tmp/stk-exp-img-XXXXXX";
    char *layout, *entry, *stack, *y;
    struct hcsemu_manifest m;
    struct rt_image_store *images = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct spec_load_opts lo;
    struct spec_project *p = NULL;
    struct exp_opts eo;
    struct exp_result res;
    const char *files[2] = {NULL, NULL};
    const char *no_env[] = {NULL};

    cr_assert(mkdtemp(dir));
    layout = stk_xasprintf("%s/layout", dir);
    stack = stk_xasprintf("%s/stack.yaml", dir);
    cr_assert_eq(rt_image_store_open(dir, &images, &err), 0, "%s", err.msg);
    hcsemu_layout_init(layout);
    hcsemu_layout_windows_image(layout, "10.0.26100.1742", 0, "app", &m);
    entry = hcsemu_layout_descriptor(&m, "windows", "10.0.26100.1742",
                                     RT_IMAGE_ANNOT_CONTAINERD_NAME, "registry.example/app:v2");
    hcsemu_layout_index(layout, (const char *const[]){entry, NULL});
    cr_assert_eq(rt_image_load_layout(images, layout, NULL, NULL, &err), 0, "%s", err.msg);
    write_text(stack, "name: st\nservices:\n  app:\n    image: registry.example/app:v2\n"
                      "    isolation: process\n  other:\n    image: registry.example/other:v1\n"
                      "    isolation: process\n");
    files[0] = stack;
    memset(&lo, 0, sizeof(lo));
    memset(&eo, 0, sizeof(eo));
    memset(&res, 0, sizeof(res));
    lo.files = files;
    lo.env = no_env;
    lo.env_files = no_env;
    lo.platform = SPEC_PLATFORM_WINDOWS;
    cr_assert_eq(spec_project_load(&lo, &p, NULL, &err), 0, "%s", err.msg);
    eo.platform = SPEC_PLATFORM_WINDOWS;
    eo.images = images;
    cr_assert_eq(exp_kubernetes(p, &eo, &res, &err), 0, "%s", err.msg);
    y = exp_result_to_yaml(&res);
    cr_expect(strstr(y, "      nodeSelector:\n        kubernetes.io/os: windows\n"
                        "        node.kubernetes.io/windows-build: \"10.0.26100\"\n"),
              "%s", y);
    cr_expect_eq(count(y, "windows-build"), 1, "the untagged image missing from the store: %s", y);
    cr_assert_eq(res.warnings.n, 1);
    cr_expect(strstr(res.warnings.items[0].msg,
                     "service 'other': image: the os.version of 'registry.example/other:v1' is "
                     "unknown"),
              "%s", res.warnings.items[0].msg);
    free(y);
    exp_result_release(&res);
    spec_project_free(p);
    rt_image_store_close(images);
    hcsemu_manifest_release(&m);
    free(entry);
    free(layout);
    free(stack);
    rm_rf(dir);
}

/* The rule node selection uses is the runtime's (reference hcs-hns.md §5.3 and errata). */
Test(exp_windows_build, node_rule_is_the_runtime_rule)
{
    /* Process isolation: equal builds below 20348; 2022 images run on 2025 hosts. */
    cr_expect(rt_windows_image_compatible("10.0.17763", "10.0.17763", RT_ISOLATION_PROCESS));
    cr_expect(!rt_windows_image_compatible("10.0.20348", "10.0.17763", RT_ISOLATION_PROCESS));
    cr_expect(rt_windows_image_compatible("10.0.26100", "10.0.20348", RT_ISOLATION_PROCESS));
    cr_expect(!rt_windows_image_compatible("10.0.20348", "10.0.26100", RT_ISOLATION_PROCESS));
    /* Hyper-V: the same or older build. */
    cr_expect(rt_windows_image_compatible("10.0.26100", "10.0.17763", RT_ISOLATION_HYPERV));
    cr_expect(!rt_windows_image_compatible("10.0.17763", "10.0.20348", RT_ISOLATION_HYPERV));
    cr_expect(!rt_windows_image_compatible("10.0.x", "10.0.17763", RT_ISOLATION_HYPERV));
}

/* ---- the command line ------------------------------------------------------------------------ */

/* Runs CMD with sh, stdout and stderr to OUT; returns the exit status. */
static int run(const char *cmd, char **out)
{
    char tmp[] = "/tmp/stk-exp-out-XXXXXX";
    int fd = mkstemp(tmp);
    char *full;
    int st;

    cr_assert(fd >= 0);
    close(fd);
    full = stk_xasprintf("%s >'%s' 2>&1", cmd, tmp);
    st = system(full);
    *out = read_text(tmp);
    unlink(tmp);
    free(full);
    cr_assert(WIFEXITED(st), "'%s' did not exit", cmd);
    return WEXITSTATUS(st);
}

static char *tmp_dir(void)
{
    char t[] = "/tmp/stk-exp-XXXXXX";

    cr_assert(mkdtemp(t));
    return stk_xstrdup(t);
}

Test(exp_cli, unknown_publish_as_is_a_usage_error_and_writes_nothing)
{
    char *d = tmp_dir(), *out = NULL;
    char *cmd = stk_xasprintf("%s export kubernetes -f %s/publish-nodeport/stack.yaml "
                              "--publish-as ingress -o %s/out",
                              STACK_BIN, EXP_DATA, d);
    char *sub = stk_xasprintf("%s/out", d);

    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "--publish-as: 'ingress' is not 'nodeport' or 'loadbalancer'"), "%s",
              out);
    cr_expect(!stk_path_exists(sub), "the output folder was created");
    rm_rf(d);
    free(sub);
    free(cmd);
    free(out);
    free(d);
}

Test(exp_cli, output_folder_that_is_a_file_is_refused)
{
    char *d = tmp_dir(), *out = NULL, *file = stk_xasprintf("%s/file", d), *after;
    char *cmd = stk_xasprintf("%s export kubernetes -f %s/publish-nodeport/stack.yaml -o %s",
                              STACK_BIN, EXP_DATA, file);

    write_text(file, "keep\n");
    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "exists and is not a folder"), "%s", out);
    after = read_text(file);
    cr_expect_str_eq(after, "keep\n", "the file was changed");
    rm_rf(d);
    free(after);
    free(cmd);
    free(file);
    free(out);
    free(d);
}

Test(exp_cli, a_stack_the_loader_refuses_is_a_spec_error_and_writes_nothing)
{
    char *d = tmp_dir(), *out = NULL, *bad = stk_xasprintf("%s/bad.yaml", d);
    char *sub = stk_xasprintf("%s/out", d);
    char *cmd = stk_xasprintf("%s export kubernetes -f %s -o %s", STACK_BIN, bad, sub);

    write_text(bad, "services:\n  web:\n    image: busybox\n    imagee: typo\n");
    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "bad.yaml:4:5:"), "no file:line:col in: %s", out);
    cr_expect(!stk_path_exists(sub), "the output folder was created");
    rm_rf(d);
    free(cmd);
    free(sub);
    free(bad);
    free(out);
    free(d);
}

Test(exp_cli, strict_turns_the_list_into_exit_status_2)
{
    char *d = tmp_dir(), *out = NULL, *sub = stk_xasprintf("%s/out", d);
    char *cmd = stk_xasprintf("%s export kubernetes --platform windows -f %s/unmapped/stack.yaml "
                              "--strict -o %s",
                              STACK_BIN, EXP_DATA, sub);

    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "service 'tool': devices: a device needs a device plugin"), "%s", out);
    cr_expect(strstr(out, "cannot be carried (--strict); nothing written"), "%s", out);
    cr_expect(!stk_path_exists(sub), "the output folder was created");
    rm_rf(d);
    free(cmd);
    free(sub);
    free(out);
    free(d);
}

Test(exp_cli, output_folder_gets_one_file_per_object)
{
    char *d = tmp_dir(), *out = NULL, *sub = stk_xasprintf("%s/out", d);
    char *cmd = stk_xasprintf("%s export kubernetes -f %s/publish-nodeport/stack.yaml -o %s",
                              STACK_BIN, EXP_DATA, sub);
    char *f1 = stk_xasprintf("%s/deployment-web.yaml", sub);
    char *f2 = stk_xasprintf("%s/service-web-published.yaml", sub);
    char *t = NULL;

    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    t = read_text(f1);
    cr_assert(t, "no %s", f1);
    cr_expect(strncmp(t, "---\napiVersion: apps/v1\nkind: Deployment\n", 40) == 0, "%s", t);
    cr_expect(stk_path_exists(f2));
    rm_rf(d);
    free(t);
    free(f1);
    free(f2);
    free(cmd);
    free(sub);
    free(out);
    free(d);
}

Test(exp_cli, bad_volume_size_and_namespace_are_usage_errors)
{
    char *out = NULL;
    char *cmd = stk_xasprintf("%s export kubernetes -f %s/storage-linux/stack.yaml "
                              "--volume-size 5GB",
                              STACK_BIN, EXP_DATA);
    char *cmd2 = stk_xasprintf("%s export kubernetes -f %s/storage-linux/stack.yaml "
                               "--namespace Bad_NS",
                               STACK_BIN, EXP_DATA);

    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "--volume-size: '5GB' is not a Kubernetes quantity"), "%s", out);
    cr_expect(!strstr(out, "apiVersion"), "manifests were printed: %s", out);
    free(out);
    cr_assert_eq(run(cmd2, &out), 2, "%s", out);
    cr_expect(strstr(out, "--namespace: 'Bad_NS' is not a DNS label"), "%s", out);
    free(out);
    free(cmd);
    free(cmd2);
}

Test(exp_cli, zero_volume_size_is_refused_by_flag_and_by_label)
{
    char *d = tmp_dir(), *out = NULL, *st = stk_xasprintf("%s/stack.yaml", d);
    char *sub = stk_xasprintf("%s/out", d);
    char *cmd = stk_xasprintf("%s export kubernetes -f %s/storage-linux/stack.yaml "
                              "--volume-size 0",
                              STACK_BIN, EXP_DATA);
    char *cmd2 = stk_xasprintf("%s export kubernetes -f %s -o %s", STACK_BIN, st, sub);

    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "--volume-size: '0' is zero (a PersistentVolumeClaim needs more "
                          "than 0 bytes)"),
              "%s", out);
    cr_expect(!strstr(out, "apiVersion"), "manifests were printed: %s", out);
    free(out);
    write_text(st, "services:\n  web:\n    image: busybox\n    volumes: [data:/data]\n"
                   "volumes:\n  data:\n    labels:\n      stack.export.size: \"0.0Gi\"\n");
    cr_assert_eq(run(cmd2, &out), 2, "%s", out);
    cr_expect(strstr(out, "stack.yaml:6:3: volume 'data': size '0.0Gi' is zero (a "
                          "PersistentVolumeClaim needs more than 0 bytes)"),
              "%s", out);
    cr_expect(!stk_path_exists(sub), "the output folder was created");
    rm_rf(d);
    free(out);
    free(cmd);
    free(cmd2);
    free(sub);
    free(st);
    free(d);
}

Test(exp_cli, name_collisions_are_refused_on_a_stream_too)
{
    char *d = tmp_dir(), *out = NULL, *st = stk_xasprintf("%s/stack.yaml", d);
    char *cmd = stk_xasprintf("%s export kubernetes -f %s -o -", STACK_BIN, st);

    write_text(st, "services:\n  web_app:\n    image: busybox\n  web-app:\n    image: busybox\n");
    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "stack.yaml:4:3: service 'web-app': its Kubernetes name 'web-app' is "
                          "also another service's; rename one"),
              "%s", out);
    cr_expect(!strstr(out, "apiVersion"), "manifests were printed: %s", out);
    free(out);
    write_text(st, "services:\n  c:\n    image: busybox\n    ports: [\"8080:80\"]\n"
                   "  d:\n    image: busybox\n    networks:\n      default:\n"
                   "        aliases: [c-published]\n");
    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "two objects are both Service 'c-published' (a service, alias, volume, "
                          "secret or config name and a derived name meet); rename one"),
              "%s", out);
    cr_expect(!strstr(out, "apiVersion"), "manifests were printed: %s", out);
    rm_rf(d);
    free(out);
    free(cmd);
    free(st);
    free(d);
}

Test(exp_cli, windows_sidecar_on_no_common_build_is_refused)
{
    char *d = tmp_dir(), *out = NULL, *st = stk_xasprintf("%s/stack.yaml", d);
    char *cmd = stk_xasprintf("%s export kubernetes --platform windows -f %s -o -", STACK_BIN, st);

    /* In a silo a 2019 image runs on 2019 nodes only, a 2022 one on 2022 and 2025 nodes. */
    write_text(st, "services:\n  app:\n    image: mcr.microsoft.com/windows/servercore:ltsc2019\n"
                   "    isolation: process\n    ports: [\"30080:80\"]\n"
                   "  agent:\n    image: mcr.microsoft.com/windows/nanoserver:ltsc2022\n"
                   "    isolation: process\n    network_mode: service:app\n");
    cr_assert_eq(run(cmd, &out), 2, "%s", out);
    cr_expect(strstr(out, "stack.yaml:6:3: service 'agent': image: no Windows node build runs both "
                          "its build 10.0.20348 and the images of 'app', whose pod it joins"),
              "%s", out);
    cr_expect(!strstr(out, "apiVersion"), "manifests were printed: %s", out);
    rm_rf(d);
    free(out);
    free(cmd);
    free(st);
    free(d);
}
