/*
 * test-rt-oci-bundle.c - the OCI driver's config.json builder: users and
 * groups resolved by name against the image's /etc/passwd and /etc/group (an
 * unknown one is an error, never root), capabilities, read-only root, sysctls
 * and shared namespaces.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "runtime/oci/oci-internal.h"

static char rootfs[] = "/tmp/stk-bundle-XXXXXX";

static void write_file(const char *path, const char *text)
{
    cr_assert_eq(stk_file_write_atomic(path, text, strlen(text), 0644, 0, NULL), 0, "%s", path);
}

static void setup(void)
{
    char *etc, *pw, *gr;

    cr_assert_not_null(mkdtemp(rootfs));
    etc = stk_xasprintf("%s/etc", rootfs);
    cr_assert_eq(stk_mkdir_p(etc, 0755, NULL), 0);
    pw = stk_xasprintf("%s/passwd", etc);
    gr = stk_xasprintf("%s/group", etc);
    write_file(pw, "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n");
    write_file(gr, "root:x:0:\nstaff:x:50:\n");
    free(etc);
    free(pw);
    free(gr);
}

static void teardown(void)
{
    stk_rm_rf(rootfs, NULL);
}

static json_t *build(struct rt_container_spec *spec, struct stk_err *err, int *ret)
{
    static char *args[] = {(char *)"sh", NULL};
    json_t *cfg = NULL;

    spec->id = (char *)"t-web-1-abcdef";
    spec->name = (char *)"t-web-1";
    spec->process.args = args;
    *ret = rt__oci_config_new(spec, rootfs, &cfg, err);
    return cfg;
}

static json_int_t user_field(json_t *cfg, const char *f)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(cfg, "process"), "user"), f));
}

Test(rt_oci_bundle, users_and_groups_by_name, .init = setup, .fini = teardown)
{
    struct rt_container_spec spec;
    struct stk_err err = STK_ERR_INIT;
    json_t *cfg;
    int r;

    memset(&spec, 0, sizeof(spec));
    spec.process.user = (char *)"web";
    cfg = build(&spec, &err, &r);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(user_field(cfg, "uid"), 1000);
    cr_assert_eq(user_field(cfg, "gid"), 1001, "the passwd entry's group");
    json_decref(cfg);

    spec.process.user = (char *)"web:staff";
    cfg = build(&spec, &err, &r);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(user_field(cfg, "gid"), 50, "a group by name");
    json_decref(cfg);

    spec.process.user = (char *)"65534:65534";
    cfg = build(&spec, &err, &r);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert_eq(user_field(cfg, "uid"), 65534);
    cr_assert_eq(user_field(cfg, "gid"), 65534);
    json_decref(cfg);
}

Test(rt_oci_bundle, unknown_user_or_group_is_an_error, .init = setup, .fini = teardown)
{
    struct rt_container_spec spec;
    struct stk_err err = STK_ERR_INIT;
    int r;

    memset(&spec, 0, sizeof(spec));
    spec.process.user = (char *)"nosuchuser";
    cr_assert_null(build(&spec, &err, &r));
    cr_assert_eq(r, STK_EINVAL);
    cr_assert_str_eq(err.msg, "user 'nosuchuser' is not in the image's /etc/passwd");
    spec.process.user = (char *)"web:nogroup";
    cr_assert_null(build(&spec, &err, &r));
    cr_assert_str_eq(err.msg, "group 'nogroup' is not in the image's /etc/group");
}

static int has_cap(json_t *cfg, const char *cap)
{
    json_t *caps = json_object_get(json_object_get(json_object_get(cfg, "process"), "capabilities"),
                                   "bounding");
    size_t i;
    json_t *v;

    json_array_foreach(caps, i, v) if (strcmp(json_string_value(v), cap) == 0) return 1;
    return 0;
}

Test(rt_oci_bundle, capabilities_root_sysctls_and_namespaces, .init = setup, .fini = teardown)
{
    char *add[] = {(char *)"net_admin", NULL}, *drop[] = {(char *)"CAP_CHOWN", NULL};
    struct rt_kv sysctl = {(char *)"net.core.somaxconn", (char *)"1024"};
    struct rt_container_spec spec;
    struct stk_err err = STK_ERR_INIT;
    json_t *cfg, *ns, *v;
    size_t i;
    int r, has_ipc = 0;

    memset(&spec, 0, sizeof(spec));
    spec.cap_add = add;
    spec.cap_drop = drop;
    spec.read_only_rootfs = 1;
    spec.sysctls = &sysctl;
    spec.n_sysctls = 1;
    spec.ipc = (char *)"host";
    cfg = build(&spec, &err, &r);
    cr_assert_eq(r, 0, "%s", err.msg);
    cr_assert(has_cap(cfg, "CAP_NET_ADMIN"), "cap_add is upper-cased and prefixed");
    cr_assert_not(has_cap(cfg, "CAP_CHOWN"), "cap_drop removes a default");
    cr_assert(has_cap(cfg, "CAP_KILL"), "the other defaults stay");
    cr_assert(json_is_true(json_object_get(json_object_get(cfg, "root"), "readonly")));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_object_get(cfg, "linux"), "sysctl"),
                                          "net.core.somaxconn")),
        "1024");
    ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");
    json_array_foreach(ns, i, v) has_ipc |=
        strcmp(json_string_value(json_object_get(v, "type")), "ipc") == 0;
    cr_assert_not(has_ipc, "ipc: host joins the host's IPC namespace (no new one)");
    json_decref(cfg);
}
