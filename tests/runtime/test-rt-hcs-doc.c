/*
 * test-rt-hcs-doc.c - golden tests of the HCS documents (runtime/hcs/hcs-doc.c)
 * and of the Windows command-line rules (hcs-cmdline.c). Golden files live in
 * tests/data/hcs/, written by hand from ../shared/reference/hcs-hns.md; each
 * names the section it follows in its "reference" member and is compared to
 * the generated document as parsed JSON.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"
#include "runtime/hcs/hcs.h"
#include "tests/hcsemu/hcsemu.h"

/* The runtime structs hold char *; the test data below are string literals. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wincompatible-pointer-types-discards-qualifiers"
#else
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#endif

static void assert_golden(json_t *doc, const char *name)
{
    char *report = NULL;

    cr_assert(hcsemu_golden_check(STK_TEST_DATA, name, doc, &report), "%s", report);
}

static const struct rt_hcs_layer base_layer = {"6f1d3c2a-0000-5000-8000-00000000b002",
                                               "C:\\ProgramData\\stack\\windowsfilter\\"
                                               "nanoserver-base"};
#define VOLUME "\\\\?\\Volume{3e0f6d4b-1111-4a2b-9c3d-0123456789ab}\\"

Test(rt_hcs_doc, process_basic_matches_golden)
{
    struct rt_hcs_layer layers[] = {
        {"6f1d3c2a-0000-5000-8000-00000000a001", "C:\\ProgramData\\stack\\windowsfilter\\app"},
        base_layer,
    };
    const char *search[] = {"corp.example", "example", NULL};
    struct rt_hcs_container_config cfg = {
        .id = "shop-web-1-aaaaaa",
        .hostname = "web1",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = layers,
        .n_layers = 2,
        .scratch_volume = VOLUME,
        .namespace_id = "9d0a7f52-2222-4c1e-8f00-abcdefabcdef",
        .dns_search = search,
        .host_cpus = 4,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-basic.json");
    json_decref(doc);
}

Test(rt_hcs_doc, process_mounts_and_pipes_match_golden)
{
    struct rt_mount mounts[] = {
        {"bind", "C:\\data", "C:\\app\\data", 0},
        {"bind", "C:\\config", "C:\\app\\config", 1},
    };
    struct rt_pipe pipes[] = {
        {"\\\\.\\pipe\\docker_engine\\", "\\\\.\\pipe\\docker_engine\\"},
        {"\\\\.\\pipe\\host_agent", "\\\\.\\PIPE\\agent_pipe"},
    };
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .hostname = "agent",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_volume = VOLUME,
        .mounts = mounts,
        .n_mounts = 2,
        .pipes = pipes,
        .n_pipes = 2,
        .host_cpus = 4,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-mounts-pipes.json");
    json_decref(doc);
}

Test(rt_hcs_doc, process_limits_and_devices_match_golden)
{
    struct rt_device devs[] = {
        {"class/5B45201D-F2F2-4F3B-85BB-30FF1F953599", NULL, NULL},
        {"vpci-location-path://PCIROOT(0)#PCI(0100)", NULL, NULL},
    };
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .hostname = "gpu",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_volume = VOLUME,
        .devices = devs,
        .n_devices = 2,
        .memory_bytes = 512LL * 1024 * 1024,
        .nano_cpus = 1500000000LL,
        .host_cpus = 4,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-limits-devices.json");
    json_decref(doc);
}

Test(rt_hcs_doc, shared_namespace_joiner_matches_golden)
{
    struct rt_hcs_container_config cfg = {
        .id = "shop-sidecar-1-bbbbbb",
        .hostname = "sidecar",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_volume = "\\\\?\\Volume{7a7a7a7a-3333-4a2b-9c3d-0123456789ab}\\",
        .namespace_id = "9d0a7f52-2222-4c1e-8f00-abcdefabcdef",
        .host_cpus = 4,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-shared-namespace.json");
    json_decref(doc);
}

Test(rt_hcs_doc, cpu_maximum_is_clamped_to_the_documented_range)
{
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_volume = VOLUME,
        .nano_cpus = 1000,
        .host_cpus = 64,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(doc, "Container"), "Processor"), "Maximum")),
                 1);
    json_decref(doc);
    cfg.nano_cpus = 16000000000LL;
    cfg.host_cpus = 4;
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), 0);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(doc, "Container"), "Processor"), "Maximum")),
                 10000);
    json_decref(doc);
}

Test(rt_hcs_doc, rejects_what_the_schema_cannot_express)
{
    struct rt_mount tmpfs = {"tmpfs", NULL, "C:\\tmp", 0};
    struct rt_pipe bad_pipe = {"C:\\not-a-pipe", "\\\\.\\pipe\\x"};
    struct rt_device bad_dev = {"/dev/sda", NULL, NULL};
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .isolation = RT_ISOLATION_PROCESS,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_volume = VOLUME,
        .host_cpus = 1,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cfg.mounts = &tmpfs;
    cfg.n_mounts = 1;
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "only bind mounts"), "%s", err.msg);
    cfg.n_mounts = 0;
    cfg.pipes = &bad_pipe;
    cfg.n_pipes = 1;
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "not a named pipe path"), "%s", err.msg);
    cfg.n_pipes = 0;
    cfg.devices = &bad_dev;
    cfg.n_devices = 1;
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), STK_EINVAL);
    cfg.n_devices = 0;
    cfg.scratch_volume = "C:\\scratch";
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "volume GUID path"), "%s", err.msg);
    cfg.scratch_volume = VOLUME;
    cfg.n_layers = 0;
    cr_assert_eq(rt_hcs_doc_container(&cfg, &doc, &err), STK_EINVAL);
    cr_assert_null(doc);
}

Test(rt_hcs_doc, hyperv_uvm_default_memory_is_explicit_1024)
{
    struct rt_hcs_layer layers[] = {
        {"6f1d3c2a-0000-5000-8000-00000000c003",
         "C:\\ProgramData\\stack\\windowsfilter\\servercore-base"},
    };
    struct rt_hcs_container_config cfg = {
        .id = "shop-legacy-1-abc123",
        .hostname = "legacy",
        .isolation = RT_ISOLATION_HYPERV,
        .layers = layers,
        .n_layers = 1,
        .scratch_dir = "C:\\ProgramData\\stack\\containers\\shop-legacy-1-abc123\\scratch",
        .uvm_image_path = "C:\\ProgramData\\stack\\windowsfilter\\servercore-base\\UtilityVM",
        .host_cpus = 8,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_uvm(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "hyperv-uvm-default.json");
    json_decref(doc);
}

Test(rt_hcs_doc, hyperv_uvm_takes_the_memory_limit_and_cpus)
{
    struct rt_hcs_layer layers[] = {
        {"6f1d3c2a-0000-5000-8000-00000000a001", "D:\\stack\\windowsfilter\\app"},
        {"6f1d3c2a-0000-5000-8000-00000000b002", "D:\\stack\\windowsfilter\\base"},
    };
    struct rt_mount mounts[] = {{"bind", "C:\\data", "C:\\data", 0}};
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .isolation = RT_ISOLATION_HYPERV,
        .layers = layers,
        .n_layers = 2,
        .scratch_dir = "D:\\stack\\containers\\x\\scratch",
        .uvm_image_path = "D:\\stack\\windowsfilter\\base\\UtilityVM",
        .mounts = mounts,
        .n_mounts = 1,
        .memory_bytes = 1536LL * 1024 * 1024 + 1,
        .nano_cpus = 2500000000LL,
        .host_cpus = 8,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_uvm(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "hyperv-uvm-limits-mounts.json");
    json_decref(doc);
    cr_assert_eq(rt_hcs_uvm_memory_mb(0), 1024);
    cr_assert_eq(rt_hcs_uvm_memory_mb(512LL * 1024 * 1024), 512);
    cr_assert_eq(rt_hcs_uvm_memory_mb(2048LL * 1024 * 1024), 2048);
}

Test(rt_hcs_doc, hyperv_hosted_container_matches_golden)
{
    struct rt_hcs_layer layers[] = {
        {"6f1d3c2a-0000-5000-8000-00000000a001", "D:\\stack\\windowsfilter\\app"},
        {"6f1d3c2a-0000-5000-8000-00000000b002", "D:\\stack\\windowsfilter\\base"},
    };
    struct rt_mount mounts[] = {{"bind", "C:\\data", "C:\\data", 0}};
    struct rt_pipe pipes[] = {{"\\\\.\\pipe\\docker_engine", "\\\\.\\pipe\\docker_engine"}};
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .hostname = "legacy",
        .isolation = RT_ISOLATION_HYPERV,
        .layers = layers,
        .n_layers = 2,
        .scratch_dir = "D:\\stack\\containers\\x\\scratch",
        .uvm_image_path = "D:\\stack\\windowsfilter\\base\\UtilityVM",
        .mounts = mounts,
        .n_mounts = 1,
        .pipes = pipes,
        .n_pipes = 1,
        .namespace_id = "11111111-2222-4333-8444-555555555555",
        .memory_bytes = 1LL << 30,
        .host_cpus = 8,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL, *mod;

    cr_assert_eq(rt_hcs_doc_hosted_container(&cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "hyperv-hosted.json");
    json_decref(doc);

    mod = rt_hcs_doc_uvm_pipe_add("\\\\.\\pipe\\docker_engine\\");
    cr_assert_str_eq(json_string_value(json_object_get(mod, "ResourcePath")),
                     "VirtualMachine/Devices/MappedPipes/\\\\.\\pipe\\docker_engine");
    cr_assert_str_eq(json_string_value(json_object_get(mod, "RequestType")), "Add");
    json_decref(mod);
}

Test(rt_hcs_doc, hyperv_nic_add_matches_golden)
{
    json_t *doc =
        rt_hcs_doc_uvm_nic_add("0b5e3d1a-1111-5222-8333-444455556666",
                               "e1e1e1e1-0000-4000-8000-000000000002", "00-15-5D-00-00-01");
    char a[37], b[37], c[37];

    assert_golden(doc, "hyperv-uvm-nic-add.json");
    json_decref(doc);
    rt_hcs_name_guid("x@vm/e1", a);
    rt_hcs_name_guid("x@vm/e1", b);
    rt_hcs_name_guid("x@vm/e2", c);
    cr_assert_str_eq(a, b, "name-based GUIDs are stable");
    cr_assert_str_neq(a, c);
    cr_assert_eq(a[14], '5', "version 5 layout: %s", a);
}

Test(rt_hcs_doc, hyperv_refuses_devices)
{
    struct rt_device dev = {"class/5B45201D-F2F2-4F3B-85BB-30FF1F953599", NULL, NULL};
    struct rt_hcs_container_config cfg = {
        .id = "x",
        .isolation = RT_ISOLATION_HYPERV,
        .layers = &base_layer,
        .n_layers = 1,
        .scratch_dir = "D:\\s",
        .uvm_image_path = "D:\\b\\UtilityVM",
        .devices = &dev,
        .n_devices = 1,
        .host_cpus = 1,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_uvm(&cfg, &doc, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "not supported for Hyper-V"), "%s", err.msg);
    cr_assert_eq(rt_hcs_doc_hosted_container(&cfg, &doc, &err), STK_EINVAL);
    cr_assert_null(doc);
}

Test(rt_hcs_doc, process_parameters_match_golden)
{
    const char *args[] = {"C:\\Program Files\\app\\server.exe", "--name", "a b", "say \"hi\"",
                          NULL};
    const char *env[] = {"PATH=C:\\Windows\\system32;C:\\Windows", "EMPTY=", "MODE=prod", NULL};
    struct rt_hcs_process_config main_cfg = {
        .args = args,
        .env = env,
        .stdout_pipe = 1,
        .stderr_pipe = 1,
    };
    const char *env2[] = {"FOO=baz", NULL};
    const char *extra[] = {"FOO=bar", NULL};
    struct rt_hcs_process_config exec_cfg = {
        .command_line = "cmd /S /C \"echo hi\"",
        .env = env2,
        .env_extra = extra,
        .cwd = "C:\\app",
        .user = "ContainerUser",
        .terminal = 1,
        .console_height = 30,
        .console_width = 120,
        .stdin_pipe = 1,
        .stdout_pipe = 1,
        .stderr_pipe = 1,
    };
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_process(&main_cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-params-main.json");
    json_decref(doc);
    cr_assert_eq(rt_hcs_doc_process(&exec_cfg, &doc, &err), 0, "%s", err.msg);
    assert_golden(doc, "process-params-exec-tty.json");
    json_decref(doc);
}

Test(rt_hcs_doc, process_parameters_reject_bad_input)
{
    const char *bad_env[] = {"NOEQUALS", NULL};
    const char *args[] = {"cmd", NULL};
    struct rt_hcs_process_config cfg = {0};
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    cr_assert_eq(rt_hcs_doc_process(&cfg, &doc, &err), STK_EINVAL);
    cfg.args = args;
    cfg.env = bad_env;
    cr_assert_eq(rt_hcs_doc_process(&cfg, &doc, &err), STK_EINVAL);
    cr_assert(strstr(err.msg, "NOEQUALS"), "%s", err.msg);
    cr_assert_null(doc);
}

/* ---- command lines ---------------------------------------------------- */

static void assert_split(const char *cmdline, const char *const *want)
{
    char **got = rt_hcs_cmdline_split(cmdline);
    size_t i;

    for (i = 0; want[i]; i++) {
        cr_assert_not_null(got[i], "'%s': missing argument %zu ('%s')", cmdline, i, want[i]);
        cr_assert_str_eq(got[i], want[i], "'%s': argument %zu", cmdline, i);
    }
    cr_assert_null(got[i], "'%s': extra argument '%s'", cmdline, got[i] ? got[i] : "");
    stk_strv_free(got);
}

/*
 * The examples of Microsoft's "Parsing C command-line arguments" table
 * (argv[1..]), each behind a program name.
 */
Test(rt_hcs_cmdline, splits_like_commandlinetoargvw)
{
    assert_split("p \"a b c\" d e", (const char *[]){"p", "a b c", "d", "e", NULL});
    assert_split("p \"ab\\\"c\" \"\\\\\" d", (const char *[]){"p", "ab\"c", "\\", "d", NULL});
    assert_split("p a\\\\\\b d\"e f\"g h", (const char *[]){"p", "a\\\\\\b", "de fg", "h", NULL});
    assert_split("p a\\\\\\\"b c d", (const char *[]){"p", "a\\\"b", "c", "d", NULL});
    assert_split("p a\\\\\\\\\"b c\" d e", (const char *[]){"p", "a\\\\b c", "d", "e", NULL});
    /* The program name: no backslash processing, quotes only delimit. */
    assert_split("\"C:\\Program Files\\x.exe\" -v",
                 (const char *[]){"C:\\Program Files\\x.exe", "-v", NULL});
    assert_split("C:\\dir\\\"x -v", (const char *[]){"C:\\dir\\\"x", "-v", NULL});
    assert_split("p \"\" x", (const char *[]){"p", "", "x", NULL});
    assert_split("p\t  a\t", (const char *[]){"p", "a", NULL});
}

Test(rt_hcs_cmdline, quotes_only_what_needs_quoting)
{
    char *s;

    s = rt_hcs_cmdline_quote((const char *[]){"cmd", "/c", "echo", NULL});
    cr_assert_str_eq(s, "cmd /c echo");
    free(s);
    s = rt_hcs_cmdline_quote((const char *[]){"x", "", "a b", "a\\b", "a\\ b\\", NULL});
    cr_assert_str_eq(s, "x \"\" \"a b\" a\\b \"a\\ b\\\\\"");
    free(s);
    s = rt_hcs_cmdline_quote((const char *[]){"x", "say \"hi\"", "q\\\"", NULL});
    cr_assert_str_eq(s, "x \"say \\\"hi\\\"\" q\\\\\\\"");
    free(s);
}

Test(rt_hcs_cmdline, quote_then_split_is_the_identity)
{
    static const char *const cases[][6] = {
        {"C:\\Program Files\\app.exe", "a b", "", "\"", NULL},
        {"prog", "\\", "\\\\", "\\\"", "a\\\\\"b", NULL},
        {"prog", "trailing\\", "trailing space\\", "two\\\\ ", "\t", NULL},
        {"prog", "\"quoted\"", "mid\"dle", "back\\slash", "sp ace\\\"", NULL},
        {"cmd", "/S", "/C", "echo \"hello world\" & exit 3", NULL},
    };

    for (size_t c = 0; c < STK_ARRAY_SIZE(cases); c++) {
        char *line = rt_hcs_cmdline_quote(cases[c]);

        assert_split(line, cases[c]);
        free(line);
    }
}
