/*
 * test-rt-hcs-emu.c - the HCS/HCN emulator (tests/support/hcsemu-*.c) against
 * the semantics reference/hcs-hns.md documents: operation and compute-system
 * state machines, id uniqueness, callbacks, schema checks, image mismatch,
 * HCN rules. These tests keep the emulator honest, since the driver's tests
 * rely on it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/win-error.h"
#include "runtime/hcs/hcs.h"
#include "tests/hcsemu/hcsemu.h"

#define BASE_DIGEST "sha256:b45e000000000000000000000000000000000000000000000000000000000001"
#define OLD_DIGEST "sha256:01d000000000000000000000000000000000000000000000000000000000003"

static const struct hcs_api *api;

static void setup(void)
{
    hcsemu_new("10.0.20348", "server");
    hcsemu_add_layer(BASE_DIGEST, "10.0.20348.1", 1);
    hcsemu_add_layer(OLD_DIGEST, "10.0.17763.1", 1);
    api = hcsemu_hcs_api();
}

static void teardown(void)
{
    hcsemu_free();
}

TestSuite(rt_hcs_emu, .init = setup, .fini = teardown);

/* A process-isolated document over the layer with DIGEST's folder. */
static char *silo_doc(const char *digest, const char *extra)
{
    return stk_xasprintf(
        "{\"Owner\":\"t\",\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Container\":{"
        "\"Storage\":{\"Layers\":[{\"Id\":\"6f1d3c2a-0000-5000-8000-00000000b002\","
        "\"Path\":\"C:\\\\ProgramData\\\\stack\\\\windowsfilter\\\\%.12s\"}],"
        "\"Path\":\"\\\\\\\\?\\\\Volume{3e0f6d4b-1111-4a2b-9c3d-0123456789ab}\\\\\"}%s}}",
        strchr(digest, ':') + 1, extra);
}

static int32_t create(const char *id, const char *doc, struct hcs_system **ret, char **ret_result)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    int32_t hr = api->create_compute_system(id, doc, op, ret);

    if (hr >= 0)
        hr = api->wait_for_operation_result(op, 1000, ret_result);
    api->close_operation(op);
    return hr;
}

static int32_t sys_call(int32_t (*fn)(struct hcs_system *, struct hcs_operation *, const char *),
                        struct hcs_system *sys)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    int32_t hr = fn(sys, op, NULL);

    if (hr >= 0)
        hr = api->wait_for_operation_result(op, 1000, NULL);
    api->close_operation(op);
    return hr;
}

Test(rt_hcs_emu, operation_state_machine)
{
    struct hcs_operation *op = api->create_operation(NULL, NULL);
    struct hcs_system *sys = NULL;
    char *doc = silo_doc(BASE_DIGEST, ""), *res = NULL;

    cr_assert_eq(api->wait_for_operation_result(op, 0, NULL), HCS_E_OPERATION_NOT_STARTED);
    hcsemu_inject("create_compute_system", HCSEMU_NEVER_COMPLETES);
    cr_assert_eq(api->create_compute_system("a", doc, op, &sys), 0, "S_OK only means started");
    cr_assert_eq(api->get_operation_result(op, &res), HCS_E_OPERATION_PENDING);
    cr_assert_eq(api->start_compute_system(sys, op, NULL), HCS_E_OPERATION_ALREADY_STARTED);
    cr_assert_eq(api->wait_for_operation_result(op, 20, NULL), HCS_E_OPERATION_TIMEOUT);
    api->close_compute_system(sys);
    api->close_operation(op);
    /* A completed operation can be reused (msdocs Tutorial). */
    op = api->create_operation(NULL, NULL);
    cr_assert_eq(api->create_compute_system("b", doc, op, &sys), 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), 0);
    cr_assert_eq(api->start_compute_system(sys, op, NULL), 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), 0);
    cr_assert_str_eq(hcsemu_system_state("b"), "Running");
    api->close_operation(op);
    cr_assert_eq(sys_call(api->terminate_compute_system, sys), 0);
    api->close_compute_system(sys);
    free(doc);
}

Test(rt_hcs_emu, compute_system_state_machine_and_ids)
{
    struct hcs_system *sys = NULL, *dup = NULL, *opened = NULL;
    char *doc = silo_doc(BASE_DIGEST, ""), *res = NULL;

    cr_assert_eq(create("c1", doc, &sys, NULL), 0);
    cr_assert_eq(create("c1", doc, &dup, &res), HCS_E_SYSTEM_ALREADY_EXISTS);
    cr_assert(strstr(res, "\"Error\""), "a ResultError document: %s", res);
    free(res);
    /* The handle comes back with S_OK; the failure arrives through the operation. */
    api->close_compute_system(dup);
    cr_assert_eq(sys_call(api->shutdown_compute_system, sys), HCS_E_INVALID_STATE);
    cr_assert_eq(sys_call(api->start_compute_system, sys), 0);
    cr_assert_eq(sys_call(api->start_compute_system, sys), HCS_E_INVALID_STATE);
    cr_assert_eq(api->open_compute_system("c1", HCS_GENERIC_ALL, &opened), 0);
    cr_assert_eq(sys_call(api->shutdown_compute_system, sys), 0);
    cr_assert_eq(sys_call(api->shutdown_compute_system, opened), HCS_E_SYSTEM_ALREADY_STOPPED);
    cr_assert_eq(sys_call(api->terminate_compute_system, sys), HCS_E_SYSTEM_ALREADY_STOPPED);
    api->close_compute_system(sys);
    cr_assert_eq(hcsemu_count_systems(), 1, "still open through the second handle");
    api->close_compute_system(opened);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(api->open_compute_system("c1", HCS_GENERIC_ALL, &opened),
                 HCS_E_SYSTEM_NOT_FOUND);
    free(doc);
}

Test(rt_hcs_emu, terminate_on_last_handle_closed)
{
    struct hcs_system *sys = NULL;
    char *base = silo_doc(BASE_DIGEST, "");
    /* The flag at the top level. */
    char *doc = stk_xasprintf("{\"ShouldTerminateOnLastHandleClosed\":true,%s", base + 1);
    cr_assert_eq(create("t", doc, &sys, NULL), 0);
    cr_assert_eq(sys_call(api->start_compute_system, sys), 0);
    api->close_compute_system(sys);
    cr_assert_null(hcsemu_system_state("t"), "killed and gone with its last handle");
    free(doc);
    free(base);
}

Test(rt_hcs_emu, image_mismatch_under_process_isolation)
{
    struct hcs_system *sys = NULL;
    char *doc = silo_doc(OLD_DIGEST, ""), *res = NULL;
    struct stk_err err = STK_ERR_INIT;
    int32_t hr = create("old", doc, &sys, &res);

    cr_assert_eq(hr, HCS_E_IMAGE_MISMATCH);
    cr_assert_eq(stk_err_set_hresult(&err, hr, res, "create '%s'", "old"), STK_EIMAGE);
    cr_assert(strstr(err.detail, "10.0.17763.1"), "%s", err.detail);
    stk_err_clear(&err);
    free(res);
    api->close_compute_system(sys);
    free(doc);
}

Test(rt_hcs_emu, schema_checks_follow_the_reference_field_rules)
{
    static const char *const bad[] = {
        ",\"Processor\":{\"Count\":2,\"Maximum\":5000}",       /* mutually exclusive */
        ",\"Processor\":{\"Maximum\":20000}",                   /* per 10,000 */
        ",\"Networking\":{\"DnsSearchList\":[\"a\",\"b\"]}",    /* one comma string */
        ",\"MappedPipes\":[{\"ContainerPipeName\":\"\\\\\\\\.\\\\pipe\\\\x\",\"HostPath\":\"x\"}]",
        ",\"HvSocket\":{\"HvSocketConfig\":{}}",                /* container key is Config */
        ",\"Networking\":{\"Namespace\":\"11111111-2222-4333-8444-555555555555\"}",
        ",\"Bogus\":1",
    };
    struct hcs_system *sys = NULL;

    for (size_t i = 0; i < STK_ARRAY_SIZE(bad); i++) {
        char *doc = silo_doc(BASE_DIGEST, bad[i]), *res = NULL;

        cr_assert_eq(create("s", doc, &sys, &res), HCS_E_INVALID_JSON, "case %zu: %s", i, doc);
        api->close_compute_system(sys);
        free(res);
        free(doc);
    }
    cr_assert_eq(create("s", "{\"Owner\":\"t\"}", &sys, NULL), HCS_E_INVALID_JSON);
    api->close_compute_system(sys);
    cr_assert_eq(create("s", "not json", &sys, NULL), HCS_E_INVALID_JSON);
    api->close_compute_system(sys);
    cr_assert_eq(hcsemu_count_systems(), 0);
    cr_assert_eq(hcsemu_count_open_handles(), 0);
}

static int exit_events;
static int exit_code_seen;

static void on_event(const struct hcs_event *ev, void *ctx)
{
    json_t *j = json_loads(ev->event_data, 0, NULL);

    (void)ctx;
    if (ev->type == HCS_EVENT_PROCESS_EXITED) {
        exit_events++;
        exit_code_seen = (int)json_integer_value(json_object_get(j, "ExitCode"));
    }
    json_decref(j);
}

Test(rt_hcs_emu, processes_callbacks_and_pipes)
{
    struct hcs_system *sys = NULL;
    struct hcs_process *proc = NULL;
    struct hcs_process_information info = {0};
    struct hcs_operation *op;
    char *doc = silo_doc(BASE_DIGEST, "");
    char buf[64] = "";
    uint32_t n = 0;

    cr_assert_eq(create("p", doc, &sys, NULL), 0);
    cr_assert_eq(sys_call(api->start_compute_system, sys), 0);
    cr_assert_eq(api->set_compute_system_callback(sys, 4, NULL, on_event), STK_WIN_E_INVALIDARG,
                 "option 4 is not copied from hcsshim (errata)");
    op = api->create_operation(NULL, NULL);
    cr_assert_eq(api->create_process(sys,
                                     "{\"CommandLine\":\"ping -t localhost\","
                                     "\"CreateStdOutPipe\":true,\"ConsoleSize\":[1,2,3]}",
                                     op, &proc),
                 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), HCS_E_INVALID_JSON,
                 "ConsoleSize is [height, width]");
    cr_assert_eq(api->create_process(sys,
                                     "{\"CommandLine\":\"ping -t localhost\","
                                     "\"CreateStdOutPipe\":true}",
                                     op, &proc),
                 0);
    cr_assert_eq(api->wait_for_operation_result_and_process_info(op, 1000, &info, NULL), 0);
    api->close_operation(op);
    cr_assert_gt(info.process_id, 0);
    cr_assert_gt(info.std_output, 0);
    cr_assert_leq(info.std_error, 0, "no stderr pipe was asked for");
    cr_assert_eq(api->read_handle(info.std_output, buf, sizeof(buf) - 1, &n), 0);
    cr_assert(strstr(buf, "started ping -t localhost"), "%s", buf);
    cr_assert_eq(api->set_process_callback(proc, HCS_EVENT_OPTION_NONE, NULL, on_event), 0);
    exit_events = 0;
    op = api->create_operation(NULL, NULL);
    cr_assert_eq(api->signal_process(proc, op, "{\"Signal\":\"CtrlC\"}"), 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), 0);
    cr_assert_eq(api->terminate_process(proc, op, NULL), 0);
    cr_assert_eq(api->wait_for_operation_result(op, 1000, NULL), HCS_E_PROCESS_ALREADY_STOPPED);
    api->close_operation(op);
    cr_assert_eq(exit_events, 1);
    cr_assert_eq((uint32_t)exit_code_seen, 0xC000013Au, "STATUS_CONTROL_C_EXIT");
    cr_assert_eq(api->read_handle(info.std_output, buf, sizeof(buf), &n), 0);
    cr_assert_eq(n, 0, "end of file once the process exited");
    api->close_handle(info.std_output);
    api->close_process(proc);
    cr_assert_eq(sys_call(api->terminate_compute_system, sys), 0);
    api->close_compute_system(sys);
    free(doc);
}

Test(rt_hcs_emu, hosted_system_needs_a_running_utility_vm)
{
    struct hcs_system *sys = NULL;
    const char *doc =
        "{\"Owner\":\"t\",\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"HostingSystemId\":"
        "\"nope@vm\",\"HostedSystem\":{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Container\":{"
        "\"Storage\":{\"Layers\":[{\"Id\":\"6f1d3c2a-0000-5000-8000-00000000b002\",\"Path\":"
        "\"x\"}],\"Path\":\"C:\\\\c\\\\x\"}}}}";

    cr_assert_eq(create("h", doc, &sys, NULL), HCS_E_SYSTEM_NOT_FOUND);
    api->close_compute_system(sys);
    cr_assert_eq(create("h", "{\"Owner\":\"t\",\"SchemaVersion\":{\"Major\":2,\"Minor\":1},"
                             "\"Container\":{},\"VirtualMachine\":{}}",
                        &sys, NULL),
                 HCS_E_INVALID_JSON, "Container and VirtualMachine are exclusive");
    api->close_compute_system(sys);
}

Test(rt_hcs_emu, hcn_rules)
{
    const struct hcn_api *h = hcsemu_hcn_api();
    struct hcn_network *net = NULL;
    struct hcn_endpoint *ep = NULL;
    struct hcn_namespace *ns1 = NULL, *ns2 = NULL;
    char *props = NULL, *rec = NULL, *id, *m;
    json_t *j;

    cr_assert_eq(h->create_network(NET_HNS_NULL_GUID, "{\"Name\":\"n\",\"Type\":\"Bridge\"}", &net,
                                   &rec),
                 HCN_E_INVALID_NETWORK_TYPE);
    free(rec);
    cr_assert_eq(h->create_network(NET_HNS_NULL_GUID,
                                   "{\"Name\":\"n\",\"Type\":\"NAT\",\"Ipams\":[{\"Type\":"
                                   "\"Static\",\"Subnets\":[{\"IpAddressPrefix\":"
                                   "\"10.9.0.0/24\"}]}]}",
                                   &net, NULL),
                 0);
    cr_assert_eq(h->create_endpoint(net, NET_HNS_NULL_GUID,
                                    "{\"Name\":\"e\",\"Policies\":[{\"Type\":\"PortMapping\","
                                    "\"Settings\":{\"Protocol\":\"TCP\",\"InternalPort\":80,"
                                    "\"ExternalPort\":80}}]}",
                                    &ep, &rec),
                 STK_WIN_E_INVALIDARG, "the protocol is numeric");
    free(rec);
    cr_assert_eq(h->create_endpoint(net, NET_HNS_NULL_GUID,
                                    "{\"Name\":\"e\",\"HostComputeNamespace\":\"x\"}", &ep, NULL),
                 STK_WIN_E_INVALIDARG, "HostComputeNamespace is read-only");
    cr_assert_eq(h->create_endpoint(net, NET_HNS_NULL_GUID, "{\"Name\":\"e\"}", &ep, NULL), 0);
    cr_assert_eq(h->query_endpoint_properties(ep, NULL, &props, NULL), 0);
    j = json_loads(props, 0, NULL);
    id = stk_xstrdup(json_string_value(json_object_get(j, "ID")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "IpConfigurations"), 0), "IpAddress")),
                     "10.9.0.2");
    json_decref(j);
    free(props);
    cr_assert_eq(h->create_namespace(NET_HNS_NULL_GUID, "{\"SchemaVersion\":{\"Major\":2,"
                                                        "\"Minor\":0}}",
                                     &ns1, NULL),
                 0);
    cr_assert_eq(h->create_namespace(NET_HNS_NULL_GUID, "{\"SchemaVersion\":{\"Major\":2,"
                                                        "\"Minor\":0}}",
                                     &ns2, NULL),
                 0);
    m = stk_xasprintf("{\"ResourceType\":\"Endpoint\",\"RequestType\":\"Add\",\"Settings\":"
                      "{\"EndpointId\":\"%s\"}}",
                      id);
    cr_assert_eq(h->modify_namespace(ns1, m, NULL), 0);
    cr_assert_eq(h->modify_namespace(ns2, m, &rec), HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS,
                 "an endpoint cannot join a second namespace (errata)");
    free(rec);
    free(m);
    free(id);
    h->close_endpoint(ep);
    h->close_namespace(ns1);
    h->close_namespace(ns2);
    h->close_network(net);
    cr_assert_eq(hcsemu_count_hcn_handles(), 0);
}
