/*
 * hcsemu-hcs.c - the emulated computecore.dll (struct hcs_api): compute
 * systems, operations, processes and their callbacks, and the schema checks
 * of reference/hcs-hns.md §1-§3. See hcsemu.h for what this is and is not.
 */
#include "tests/hcsemu/hcsemu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-strv.h"
#include "common/win-error.h"

enum sys_state { SYS_CREATED, SYS_RUNNING, SYS_STOPPED };
static const char *const state_names[] = {"Created", "Running", "Stopped"};

struct emu_sys;

struct emu_proc {
    uint32_t pid;
    struct emu_sys *sys;
    char *cmdline;
    char *image;
    int running;
    uint32_t exit_code;
    int out_w, err_w, in_r; /* the emulated process's ends of its pipes, -1 if none */
    struct emu_proc *next;  /* in all_procs */
};

struct emu_sys {
    char *id;
    char *owner;
    json_t *doc;
    int is_vm;
    char *hosting_id;
    enum sys_state state;
    int removed;
    const char *exit_type;
    int terminate_on_close;
    char runtime_id[37];
    int n_pipes_mapped;
    int n_nics;
    struct emu_sys *next;
};

struct hcs_system {
    struct emu_sys *s; /* NULL: the create failed */
    hcs_event_fn *cb;
    void *ctx;
    struct hcs_system *next;
};

struct hcs_process {
    struct emu_proc *p;
    hcs_event_fn *cb;
    void *ctx;
    struct hcs_process *next;
};

struct hcs_operation {
    int state; /* 0 never started, 1 pending, 2 completed */
    int32_t hr;
    char *result;
    struct hcs_process_information info;
    int has_info;
    void *ctx;
    hcs_operation_completion_fn *cb;
    struct hcs_operation *next;
};

static struct emu_sys *systems;
static struct emu_proc *all_procs;
static struct hcs_system *sys_handles;
static struct hcs_process *proc_handles;
static struct hcs_operation *ops;
static uint32_t next_pid = 1000;

/* Events are collected under the lock and delivered after it is released. */
struct pending {
    hcs_event_fn *cb;
    hcs_operation_completion_fn *op_cb;
    struct hcs_operation *op;
    void *ctx;
    uint32_t type;
    char *data;
};
static struct pending pend[256];
static int n_pend;

static void queue_event(hcs_event_fn *cb, void *ctx, uint32_t type, const char *data)
{
    if (!cb)
        return;
    if (n_pend >= (int)STK_ARRAY_SIZE(pend))
        STK_BUG("hcsemu: too many pending events");
    pend[n_pend++] = (struct pending){cb, NULL, NULL, ctx, type, stk_xstrdup(data)};
}

/* Releases the lock and delivers what was queued, on the calling thread (not the loop's). */
static void unlock_and_deliver(void)
{
    struct pending local[256];
    int n = n_pend;

    memcpy(local, pend, (size_t)n * sizeof(pend[0]));
    n_pend = 0;
    hcsemu__unlock();
    for (int i = 0; i < n; i++) {
        if (local[i].cb) {
            struct hcs_event ev = {local[i].type, local[i].data, NULL};

            local[i].cb(&ev, local[i].ctx);
        } else if (local[i].op_cb) {
            local[i].op_cb(local[i].op, local[i].ctx);
        }
        free(local[i].data);
    }
}

static char *result_error(int32_t hr, const char *message)
{
    json_t *doc = json_pack("{s:i,s:s,s:[{s:s}]}", "Error", (int)hr, "ErrorMessage",
                            stk_win_hresult_text(hr) ? stk_win_hresult_text(hr) : "failure",
                            "ErrorEvents", "Message", message ? message : "");
    char *s = json_dumps(doc, JSON_COMPACT);

    json_decref(doc);
    return s;
}

static int32_t op_begin(struct hcs_operation *op)
{
    if (!op)
        return STK_WIN_E_INVALIDARG;
    if (op->state == 1)
        return HCS_E_OPERATION_ALREADY_STARTED;
    op->state = 1;
    free(op->result);
    op->result = NULL;
    op->has_info = 0;
    op->hr = 0;
    return 0;
}

/* Completes OP with HR; RESULT is taken (may be NULL). */
static void op_complete_take(struct hcs_operation *op, int32_t hr, char *result)
{
    if (hr == HCSEMU_NEVER_COMPLETES) {
        free(result);
        return; /* stays pending */
    }
    op->state = 2;
    op->hr = hr;
    op->result = result;
    if (op->cb) {
        if (n_pend >= (int)STK_ARRAY_SIZE(pend))
            STK_BUG("hcsemu: too many pending events");
        pend[n_pend++] = (struct pending){NULL, op->cb, op, op->ctx, 0, NULL};
    }
}

static void op_fail(struct hcs_operation *op, int32_t hr, const char *message)
{
    op_complete_take(op, hr, hr == HCSEMU_NEVER_COMPLETES ? NULL : result_error(hr, message));
}

/* Common prologue: count the call, start OP, apply an injected failure. 1: handled. */
static int prologue(const char *call, struct hcs_operation *op, int32_t *ret_hr)
{
    int32_t hr;

    hcsemu__count_call(call);
    *ret_hr = op_begin(op);
    if (*ret_hr < 0)
        return 1;
    if (hcsemu__take_injection(call, &hr)) {
        op_fail(op, hr, "injected failure");
        return 1;
    }
    return 0;
}

/* ---- schema checks (reference §1.1, §1.2, §2.2, §2.4, §3.1) ------------ */

static int only_keys(json_t *obj, const char *const *allowed, const char *where, char **ret_msg)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        *ret_msg = stk_xasprintf("%s must be an object", where);
        return -1;
    }
    json_object_foreach(obj, key, v)
    {
        int ok = 0;

        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            *ret_msg = stk_xasprintf("%s: unknown field '%s'", where, key);
            return -1;
        }
    }
    return 0;
}

static int is_guid(const char *s)
{
    static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (!s || strlen(s) != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (pattern[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    }
    return 1;
}

static int check_schema_version(json_t *sv, const char *where, int *ret_minor, char **ret_msg)
{
    static const char *const keys[] = {"Major", "Minor", NULL};

    if (only_keys(sv, keys, where, ret_msg) < 0)
        return -1;
    if (json_integer_value(json_object_get(sv, "Major")) != 2 ||
        !json_is_integer(json_object_get(sv, "Minor"))) {
        *ret_msg = stk_xasprintf("%s: only schema 2.x is accepted by computecore", where);
        return -1;
    }
    *ret_minor = (int)json_integer_value(json_object_get(sv, "Minor"));
    return 0;
}

static int check_container(json_t *c, int hosted, int minor, char **ret_msg)
{
    static const char *const keys[] = {"GuestOs",
                                       "Storage",
                                       "MappedDirectories",
                                       "MappedPipes",
                                       "Memory",
                                       "Processor",
                                       "Networking",
                                       "HvSocket",
                                       "ContainerCredentialGuard",
                                       "RegistryChanges",
                                       "AssignedDevices",
                                       "AdditionalDeviceNamespace",
                                       NULL};
    static const char *const storage_keys[] = {"Layers", "Path", "QoS", NULL};
    static const char *const net_keys[] = {"Namespace",       "AllowUnqualifiedDnsQuery",
                                           "DnsSearchList",   "NetworkSharedContainerName",
                                           "NetworkAdapters", NULL};
    json_t *st, *layers, *v, *proc, *net;
    const char *path;
    size_t i;
    int n;

    if (only_keys(c, keys, "Container", ret_msg) < 0)
        return -1;
    st = json_object_get(c, "Storage");
    if (only_keys(st, storage_keys, "Container.Storage", ret_msg) < 0)
        return -1;
    layers = json_object_get(st, "Layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0) {
        *ret_msg = stk_xstrdup("Container.Storage.Layers must be a non-empty array");
        return -1;
    }
    json_array_foreach(layers, i, v)
    {
        if (!is_guid(json_string_value(json_object_get(v, "Id"))) ||
            !json_is_string(json_object_get(v, "Path"))) {
            *ret_msg = stk_xasprintf("Container.Storage.Layers[%zu] needs a GUID Id and a Path", i);
            return -1;
        }
    }
    path = json_string_value(json_object_get(st, "Path"));
    if (!path) {
        *ret_msg = stk_xstrdup("Container.Storage.Path is missing");
        return -1;
    }
    if (!hosted) {
        /* Root path must be a volume GUID path with a trailing backslash (hcsdoc_wcow.go). */
        size_t len = strlen(path);

        if (strncmp(path, "\\\\?\\Volume{", 11) != 0 || len != 11 + 36 + 2 ||
            path[len - 2] != '}' || path[len - 1] != '\\') {
            *ret_msg =
                stk_xasprintf("Container.Storage.Path '%s' must be a volume GUID path", path);
            return -1;
        }
    }
    json_array_foreach(json_object_get(c, "MappedDirectories"), i, v)
    {
        if (!json_is_string(json_object_get(v, "HostPath")) ||
            !json_is_string(json_object_get(v, "ContainerPath")) ||
            (json_object_get(v, "ReadOnly") && !json_is_boolean(json_object_get(v, "ReadOnly")))) {
            *ret_msg = stk_xasprintf("Container.MappedDirectories[%zu] is malformed", i);
            return -1;
        }
    }
    json_array_foreach(json_object_get(c, "MappedPipes"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "ContainerPipeName"));
        const char *type = json_string_value(json_object_get(v, "HostPathType"));

        if (!name || strchr(name, '\\') || !json_is_string(json_object_get(v, "HostPath")) ||
            (type && strcmp(type, "AbsolutePath") != 0 &&
             strcmp(type, "VirtualSmbPipeName") != 0)) {
            *ret_msg = stk_xasprintf("Container.MappedPipes[%zu]: ContainerPipeName must be the "
                                     "bare pipe name",
                                     i);
            return -1;
        }
    }
    proc = json_object_get(c, "Processor");
    if (proc) {
        n = !!json_object_get(proc, "Count") + !!json_object_get(proc, "Maximum") +
            !!json_object_get(proc, "Weight");
        if (n > 1) {
            *ret_msg = stk_xstrdup("Container.Processor: Count, Maximum and Weight are mutually "
                                   "exclusive");
            return -1;
        }
        v = json_object_get(proc, "Maximum");
        if (v && (json_integer_value(v) < 1 || json_integer_value(v) > 10000)) {
            *ret_msg = stk_xstrdup("Container.Processor.Maximum must be 1..10000");
            return -1;
        }
    }
    if (json_object_get(c, "Memory")) {
        if (minor < 1 ||
            json_integer_value(json_object_get(json_object_get(c, "Memory"), "SizeInMB")) <= 0) {
            *ret_msg = stk_xstrdup("Container.Memory needs schema 2.1 and a SizeInMB");
            return -1;
        }
    }
    net = json_object_get(c, "Networking");
    if (net) {
        const char *ns = json_string_value(json_object_get(net, "Namespace"));

        if (only_keys(net, net_keys, "Container.Networking", ret_msg) < 0)
            return -1;
        if (json_object_get(net, "DnsSearchList") &&
            !json_is_string(json_object_get(net, "DnsSearchList"))) {
            *ret_msg = stk_xstrdup("Container.Networking.DnsSearchList is one comma-separated "
                                   "string");
            return -1;
        }
        if (ns && !hcsemu__namespace_exists(ns)) {
            *ret_msg = stk_xasprintf("Container.Networking.Namespace '%s' does not exist", ns);
            return -1;
        }
    }
    if (json_object_get(c, "HvSocket") &&
        !json_is_object(json_object_get(json_object_get(c, "HvSocket"), "Config"))) {
        *ret_msg = stk_xstrdup("Container.HvSocket.Config (not HvSocketConfig) is expected");
        return -1;
    }
    json_array_foreach(json_object_get(c, "AssignedDevices"), i, v)
    {
        if (hosted ||
            (!json_object_get(v, "InterfaceClassGuid") && !json_object_get(v, "LocationPath"))) {
            *ret_msg = stk_xasprintf("Container.AssignedDevices[%zu] is not valid here", i);
            return -1;
        }
    }
    return 0;
}

static int check_vm(json_t *vm, char **ret_msg)
{
    static const char *const keys[] = {
        "StopOnReset",     "Chipset",         "ComputeTopology", "Devices",      "GuestState",
        "GuestConnection", "RegistryChanges", "StorageQoS",      "DebugOptions", NULL};
    json_t *mem = json_object_get(json_object_get(vm, "ComputeTopology"), "Memory");
    json_t *boot =
        json_object_get(json_object_get(json_object_get(vm, "Chipset"), "Uefi"), "BootThis");
    json_t *shares =
        json_object_get(json_object_get(json_object_get(vm, "Devices"), "VirtualSmb"), "Shares");
    json_t *v;
    size_t i;
    int has_os = 0;

    if (only_keys(vm, keys, "VirtualMachine", ret_msg) < 0)
        return -1;
    if (json_integer_value(json_object_get(mem, "SizeInMB")) <= 0) {
        *ret_msg = stk_xstrdup("VirtualMachine.ComputeTopology.Memory.SizeInMB is required");
        return -1;
    }
    json_array_foreach(shares, i, v) if (strcmp(json_string_value(json_object_get(v, "Name")) ?: "",
                                                "os") == 0) has_os = 1;
    if (strcmp(json_string_value(json_object_get(boot, "DeviceType")) ?: "", "VmbFs") != 0 ||
        !has_os) {
        *ret_msg = stk_xstrdup("VirtualMachine: UEFI boot from VmbFs needs the VSMB share 'os'");
        return -1;
    }
    if (json_object_get(json_object_get(vm, "Devices"), "HvSocket") &&
        !json_object_get(json_object_get(json_object_get(vm, "Devices"), "HvSocket"),
                         "HvSocketConfig")) {
        *ret_msg = stk_xstrdup("VirtualMachine.Devices.HvSocket.HvSocketConfig is expected");
        return -1;
    }
    return 0;
}

static struct emu_sys *find_sys(const char *id)
{
    for (struct emu_sys *s = systems; s; s = s->next)
        if (!s->removed && strcasecmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* ---- compute systems ------------------------------------------------------ */

static struct hcs_operation *emu_create_operation(void *context, hcs_operation_completion_fn *cb)
{
    struct hcs_operation *op = stk_new0(struct hcs_operation);

    op->ctx = context;
    op->cb = cb;
    hcsemu__lock();
    hcsemu__count_call("create_operation");
    op->next = ops;
    ops = op;
    hcsemu__unlock();
    return op;
}

static void emu_close_operation(struct hcs_operation *op)
{
    hcsemu__lock();
    for (struct hcs_operation **pp = &ops; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            free(op->result);
            free(op);
            break;
        }
    }
    hcsemu__unlock();
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int32_t wait_common(struct hcs_operation *op, uint32_t timeout_ms,
                           struct hcs_process_information *ret_info, char **ret_result)
{
    int32_t hr;

    hcsemu__lock();
    if (op->state == 0) {
        hcsemu__unlock();
        return HCS_E_OPERATION_NOT_STARTED;
    }
    if (op->state == 1) {
        hcsemu__unlock();
        /* Emulator choice: a never-completing operation times out, capped at 5 s. */
        sleep_ms(timeout_ms < 5000 ? timeout_ms : 5000);
        return HCS_E_OPERATION_TIMEOUT;
    }
    hr = op->hr;
    if (ret_result)
        *ret_result = stk_xstrdup(op->result);
    if (ret_info) {
        if (op->has_info)
            *ret_info = op->info;
        else
            memset(ret_info, 0, sizeof(*ret_info));
    }
    hcsemu__unlock();
    return hr;
}

static int32_t emu_wait(struct hcs_operation *op, uint32_t timeout_ms, char **ret_result)
{
    if (ret_result)
        *ret_result = NULL;
    return op ? wait_common(op, timeout_ms, NULL, ret_result) : STK_WIN_E_INVALIDARG;
}

static int32_t emu_get_result(struct hcs_operation *op, char **ret_result)
{
    int32_t hr;

    if (ret_result)
        *ret_result = NULL;
    if (!op)
        return STK_WIN_E_INVALIDARG;
    hcsemu__lock();
    if (op->state == 1) {
        hcsemu__unlock();
        return HCS_E_OPERATION_PENDING;
    }
    hcsemu__unlock();
    hr = wait_common(op, 0, NULL, ret_result);
    return hr;
}

static int32_t emu_wait_info(struct hcs_operation *op, uint32_t timeout_ms,
                             struct hcs_process_information *ret_info, char **ret_result)
{
    if (ret_result)
        *ret_result = NULL;
    return op ? wait_common(op, timeout_ms, ret_info, ret_result) : STK_WIN_E_INVALIDARG;
}

static struct hcs_system *new_handle(struct emu_sys *s)
{
    struct hcs_system *h = stk_new0(struct hcs_system);

    h->s = s;
    h->next = sys_handles;
    sys_handles = h;
    return h;
}

static int32_t image_check(json_t *c, char **ret_msg)
{
    json_t *layers = json_object_get(json_object_get(c, "Storage"), "Layers");
    const char *base = json_string_value(
        json_object_get(json_array_get(layers, json_array_size(layers) - 1), "Path"));
    struct rt_hcs_os_version host, img;
    char *osv = NULL;
    int32_t hr = 0;

    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *p = json_string_value(json_object_get(json_array_get(layers, i), "Path"));

        if (!hcsemu__layer_lookup(p, NULL, NULL)) {
            *ret_msg = stk_xasprintf("layer '%s' is not a windowsfilter layer", p);
            return HCS_E_INVALID_LAYER;
        }
    }
    hcsemu__layer_lookup(base, &osv, NULL);
    if (rt_hcs_os_version_parse(hcsemu__host_build(), &host, NULL) < 0 ||
        rt_hcs_os_version_parse(osv, &img, NULL) < 0 || !rt_hcs_process_compatible(&host, &img)) {
        *ret_msg = stk_xasprintf("The container operating system (%s) does not match the host "
                                 "operating system (%s)",
                                 osv, hcsemu__host_build());
        hr = HCS_E_IMAGE_MISMATCH;
    }
    free(osv);
    return hr;
}

static int32_t emu_create_system(const char *id, const char *configuration,
                                 struct hcs_operation *op, struct hcs_system **ret_system)
{
    json_t *doc = NULL, *sv;
    json_error_t jerr;
    char *msg = NULL;
    int32_t hr;
    int minor = 0;
    struct emu_sys *s, *host = NULL;
    static const char *const top_keys[] = {"Owner",
                                           "SchemaVersion",
                                           "HostingSystemId",
                                           "HostedSystem",
                                           "Container",
                                           "VirtualMachine",
                                           "ShouldTerminateOnLastHandleClosed",
                                           NULL};
    int n;

    hcsemu__lock();
    if (prologue("create_compute_system", op, &hr)) {
        if (hr == 0 && ret_system)
            *ret_system = new_handle(NULL);
        unlock_and_deliver();
        return hr;
    }
    if (!id || !*id || !ret_system) {
        op->state = 0;
        hcsemu__unlock();
        return STK_WIN_E_INVALIDARG;
    }
    *ret_system = new_handle(NULL);
    doc = json_loads(configuration ? configuration : "", 0, &jerr);
    if (!doc) {
        msg = stk_xasprintf("invalid JSON: %s", jerr.text);
        hr = HCS_E_INVALID_JSON;
        goto fail;
    }
    hr = HCS_E_INVALID_JSON;
    if (only_keys(doc, top_keys, "ComputeSystem", &msg) < 0)
        goto fail;
    if (check_schema_version(json_object_get(doc, "SchemaVersion"), "SchemaVersion", &minor, &msg) <
        0)
        goto fail;
    n = !!json_object_get(doc, "Container") + !!json_object_get(doc, "VirtualMachine") +
        !!json_object_get(doc, "HostedSystem");
    if (n != 1) {
        msg = stk_xstrdup("exactly one of Container, VirtualMachine and HostedSystem is needed");
        goto fail;
    }
    if (json_object_get(doc, "HostedSystem")) {
        json_t *hs = json_object_get(doc, "HostedSystem");
        const char *hid = json_string_value(json_object_get(doc, "HostingSystemId"));
        static const char *const hs_keys[] = {"SchemaVersion", "Container", NULL};

        if (only_keys(hs, hs_keys, "HostedSystem", &msg) < 0 ||
            check_schema_version(json_object_get(hs, "SchemaVersion"), "HostedSystem.SchemaVersion",
                                 &minor, &msg) < 0 ||
            check_container(json_object_get(hs, "Container"), 1, minor, &msg) < 0)
            goto fail;
        host = hid ? find_sys(hid) : NULL;
        if (!host || !host->is_vm) {
            msg = stk_xasprintf("hosting system '%s' does not exist", hid ? hid : "");
            hr = HCS_E_SYSTEM_NOT_FOUND;
            goto fail;
        }
        if (host->state != SYS_RUNNING) {
            msg = stk_xasprintf("hosting system '%s' is not running", hid);
            hr = HCS_E_INVALID_STATE;
            goto fail;
        }
    } else if (json_object_get(doc, "HostingSystemId")) {
        msg = stk_xstrdup("HostingSystemId needs HostedSystem");
        goto fail;
    } else if (json_object_get(doc, "Container")) {
        if (check_container(json_object_get(doc, "Container"), 0, minor, &msg) < 0)
            goto fail;
        hr = image_check(json_object_get(doc, "Container"), &msg);
        if (hr < 0)
            goto fail;
    } else if (check_vm(json_object_get(doc, "VirtualMachine"), &msg) < 0) {
        goto fail;
    }
    if (find_sys(id)) {
        msg = stk_xasprintf("compute system '%s' already exists", id);
        hr = HCS_E_SYSTEM_ALREADY_EXISTS;
        goto fail;
    }
    sv = json_object_get(doc, "Owner");
    s = stk_new0(struct emu_sys);
    s->id = stk_xstrdup(id);
    s->owner = stk_xstrdup(json_string_value(sv) ? json_string_value(sv) : "");
    s->doc = doc;
    s->is_vm = !!json_object_get(doc, "VirtualMachine");
    s->hosting_id = host ? stk_xstrdup(host->id) : NULL;
    s->state = SYS_CREATED;
    s->terminate_on_close = json_is_true(json_object_get(doc, "ShouldTerminateOnLastHandleClosed"));
    hcsemu__guid(s->runtime_id);
    s->next = systems;
    systems = s;
    (*ret_system)->s = s;
    op_complete_take(op, 0, NULL);
    unlock_and_deliver();
    return 0;
fail:
    op_fail(op, hr, msg);
    free(msg);
    json_decref(doc);
    unlock_and_deliver();
    return 0;
}

static int32_t emu_open_system(const char *id, uint32_t access, struct hcs_system **ret)
{
    struct emu_sys *s;

    (void)access;
    hcsemu__lock();
    hcsemu__count_call("open_compute_system");
    s = id ? find_sys(id) : NULL;
    if (!s) {
        hcsemu__unlock();
        return HCS_E_SYSTEM_NOT_FOUND;
    }
    *ret = new_handle(s);
    hcsemu__unlock();
    return 0;
}

static char *process_status(struct emu_proc *p)
{
    json_t *j = json_pack("{s:i,s:b,s:I,s:i}", "ProcessId", (int)p->pid, "Exited", !p->running,
                          "ExitCode", (json_int_t)p->exit_code, "LastWaitResult", 0);
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    return s;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Called with the lock held. */
static void proc_exit(struct emu_proc *p, uint32_t code)
{
    char *data;

    if (!p->running)
        return;
    p->running = 0;
    p->exit_code = code;
    close_fd(&p->out_w);
    close_fd(&p->err_w);
    close_fd(&p->in_r);
    data = process_status(p);
    for (struct hcs_process *h = proc_handles; h; h = h->next)
        if (h->p == p)
            queue_event(h->cb, h->ctx, HCS_EVENT_PROCESS_EXITED, data);
    free(data);
}

/* Called with the lock held. */
static void sys_stop(struct emu_sys *s, const char *exit_type)
{
    char *data;

    if (s->state == SYS_STOPPED)
        return;
    /* Emulator choice: processes of a stopped system exit with 1067 (graceful) or 1. */
    for (struct emu_proc *p = all_procs; p; p = p->next)
        if (p->sys == s)
            proc_exit(p, strcmp(exit_type, "GracefulExit") == 0 ? 1067 : 1);
    s->state = SYS_STOPPED;
    s->exit_type = exit_type;
    data = stk_xasprintf("{\"Status\":0,\"ExitType\":\"%s\"}", exit_type);
    for (struct hcs_system *h = sys_handles; h; h = h->next)
        if (h->s == s)
            queue_event(h->cb, h->ctx, HCS_EVENT_SYSTEM_EXITED, data);
    free(data);
    if (s->is_vm)
        for (struct emu_sys *c = systems; c; c = c->next)
            if (!c->removed && c->hosting_id && strcmp(c->hosting_id, s->id) == 0)
                sys_stop(c, "UnexpectedExit");
}

static int32_t sys_call(const char *call, struct hcs_system *h, struct hcs_operation *op,
                        const char *options)
{
    struct emu_sys *s;
    int32_t hr;

    (void)options;
    hcsemu__lock();
    if (prologue(call, op, &hr)) {
        unlock_and_deliver();
        return hr;
    }
    s = h ? h->s : NULL;
    if (!s || s->removed) {
        op_fail(op, HCS_E_SYSTEM_NOT_FOUND, "no such compute system");
        unlock_and_deliver();
        return 0;
    }
    if (strcmp(call, "start_compute_system") == 0) {
        struct emu_sys *host = s->hosting_id ? find_sys(s->hosting_id) : NULL;

        if (s->state != SYS_CREATED)
            op_fail(op, HCS_E_INVALID_STATE, "the compute system is not in the Created state");
        else if (s->hosting_id && (!host || host->state != SYS_RUNNING))
            op_fail(op, HCS_E_INVALID_STATE, "the hosting system is not running");
        else {
            s->state = SYS_RUNNING;
            op_complete_take(op, 0, NULL);
        }
    } else if (strcmp(call, "shutdown_compute_system") == 0) {
        if (s->state == SYS_STOPPED)
            op_fail(op, HCS_E_SYSTEM_ALREADY_STOPPED, "already stopped");
        else if (s->state == SYS_CREATED)
            op_fail(op, HCS_E_INVALID_STATE, "emulator choice: a created system cannot shut down");
        else {
            sys_stop(s, "GracefulExit");
            op_complete_take(op, 0, NULL);
        }
    } else { /* terminate */
        if (s->state == SYS_STOPPED)
            op_fail(op, HCS_E_SYSTEM_ALREADY_STOPPED, "already stopped");
        else {
            sys_stop(s, "ForcedExit");
            op_complete_take(op, 0, NULL);
        }
    }
    unlock_and_deliver();
    return 0;
}

static int32_t emu_start(struct hcs_system *h, struct hcs_operation *op, const char *o)
{
    return sys_call("start_compute_system", h, op, o);
}

static int32_t emu_shutdown(struct hcs_system *h, struct hcs_operation *op, const char *o)
{
    return sys_call("shutdown_compute_system", h, op, o);
}

static int32_t emu_terminate(struct hcs_system *h, struct hcs_operation *op, const char *o)
{
    return sys_call("terminate_compute_system", h, op, o);
}

static json_t *properties(struct emu_sys *s, int with_processes)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "Id", s->id, "SystemType",
                          s->is_vm ? "VirtualMachine" : "Container", "RuntimeOsType", "Windows",
                          "Owner", s->owner, "RuntimeId", s->runtime_id, "State",
                          state_names[s->state], "Stopped", s->state == SYS_STOPPED);

    if (s->hosting_id)
        json_object_set_new(j, "HostingSystemId", json_string(s->hosting_id));
    if (s->exit_type)
        json_object_set_new(j, "ExitType", json_string(s->exit_type));
    if (with_processes) {
        json_t *list = json_array();

        for (struct emu_proc *p = all_procs; p; p = p->next)
            if (p->sys == s && p->running)
                json_array_append_new(
                    list, json_pack("{s:i,s:s}", "ProcessId", (int)p->pid, "ImageName", p->image));
        json_object_set_new(j, "ProcessList", list);
    }
    return j;
}

static int32_t emu_get_properties(struct hcs_system *h, struct hcs_operation *op, const char *query)
{
    int32_t hr;
    json_t *q = query ? json_loads(query, 0, NULL) : NULL;
    int with_processes = 0;
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(q, "PropertyTypes"), i,
                       v) if (strcmp(json_string_value(v) ?: "", "ProcessList") == 0)
        with_processes = 1;
    json_decref(q);
    hcsemu__lock();
    if (prologue("get_compute_system_properties", op, &hr)) {
        unlock_and_deliver();
        return hr;
    }
    if (!h || !h->s || h->s->removed) {
        op_fail(op, HCS_E_SYSTEM_NOT_FOUND, "no such compute system");
    } else {
        json_t *p = properties(h->s, with_processes);

        op_complete_take(op, 0, json_dumps(p, JSON_COMPACT));
        json_decref(p);
    }
    unlock_and_deliver();
    return 0;
}

static int32_t emu_modify(struct hcs_system *h, struct hcs_operation *op, const char *config)
{
    int32_t hr;
    json_t *doc = config ? json_loads(config, 0, NULL) : NULL;
    const char *rp = json_string_value(json_object_get(doc, "ResourcePath"));
    const char *rt = json_string_value(json_object_get(doc, "RequestType"));

    hcsemu__lock();
    if (prologue("modify_compute_system", op, &hr)) {
        unlock_and_deliver();
        json_decref(doc);
        return hr;
    }
    if (!h || !h->s || h->s->removed)
        op_fail(op, HCS_E_SYSTEM_NOT_FOUND, "no such compute system");
    else if (!doc)
        op_fail(op, HCS_E_INVALID_JSON, "invalid JSON");
    else if (!h->s->is_vm || !rp || !rt || strcmp(rt, "Add") != 0)
        op_fail(op, STK_WIN_E_INVALIDARG, "emulator: only Add requests on a VM are emulated");
    else if (strncmp(rp, "VirtualMachine/Devices/MappedPipes/", 35) == 0) {
        h->s->n_pipes_mapped++;
        op_complete_take(op, 0, NULL);
    } else if (strncmp(rp, "VirtualMachine/Devices/NetworkAdapters/", 39) == 0) {
        /* Reference §4.4: Settings {EndpointId, MacAddress} and the guest's Network request. */
        json_t *st = json_object_get(doc, "Settings");
        json_t *gr = json_object_get(doc, "GuestRequest");
        const char *ep = json_string_value(json_object_get(st, "EndpointId"));
        const char *adapter =
            json_string_value(json_object_get(json_object_get(gr, "Settings"), "AdapterId"));

        if (!ep || !hcsemu__endpoint_exists(ep))
            op_fail(op, HCN_E_ENDPOINT_NOT_FOUND, "EndpointId does not name an HCN endpoint");
        else if (strcmp(json_string_value(json_object_get(gr, "ResourceType")) ?: "", "Network") !=
                     0 ||
                 !adapter || strcmp(adapter, rp + 39) != 0)
            op_fail(op, HCS_E_INVALID_JSON, "GuestRequest must add the same adapter");
        else {
            h->s->n_nics++;
            op_complete_take(op, 0, NULL);
        }
    } else {
        op_fail(op, STK_WIN_E_INVALIDARG, "emulator: unknown ResourcePath");
    }
    unlock_and_deliver();
    json_decref(doc);
    return 0;
}

static int matches(json_t *list, const char *value)
{
    size_t i;
    json_t *v;

    if (!json_is_array(list) || json_array_size(list) == 0)
        return 1;
    json_array_foreach(list, i, v) if (strcasecmp(json_string_value(v) ?: "", value) == 0) return 1;
    return 0;
}

static int32_t emu_enumerate(const char *query, struct hcs_operation *op)
{
    int32_t hr;
    json_t *q = query ? json_loads(query, 0, NULL) : NULL;
    json_t *out = json_array();

    hcsemu__lock();
    if (prologue("enumerate_compute_systems", op, &hr)) {
        unlock_and_deliver();
        json_decref(q);
        json_decref(out);
        return hr;
    }
    for (struct emu_sys *s = systems; s; s = s->next) {
        if (s->removed || !matches(json_object_get(q, "Ids"), s->id) ||
            !matches(json_object_get(q, "Owners"), s->owner) ||
            !matches(json_object_get(q, "Types"), s->is_vm ? "VirtualMachine" : "Container"))
            continue;
        json_array_append_new(out, properties(s, 0));
    }
    op_complete_take(op, 0, json_dumps(out, JSON_COMPACT));
    unlock_and_deliver();
    json_decref(q);
    json_decref(out);
    return 0;
}

static int32_t emu_set_system_callback(struct hcs_system *h, uint32_t options, void *ctx,
                                       hcs_event_fn *cb)
{
    if (!h || (options != HCS_EVENT_OPTION_NONE &&
               options != HCS_EVENT_OPTION_ENABLE_OPERATION_CALLBACKS))
        return STK_WIN_E_INVALIDARG;
    hcsemu__lock();
    hcsemu__count_call("set_compute_system_callback");
    h->cb = cb;
    h->ctx = ctx;
    hcsemu__unlock();
    return 0;
}

static void emu_close_system(struct hcs_system *h)
{
    struct emu_sys *s;
    int left = 0;

    if (!h)
        return;
    hcsemu__lock();
    hcsemu__count_call("close_compute_system");
    for (struct hcs_system **pp = &sys_handles; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    s = h->s;
    free(h);
    if (s && !s->removed) {
        for (struct hcs_system *o = sys_handles; o; o = o->next)
            if (o->s == s)
                left++;
        if (!left) {
            if (s->terminate_on_close && s->state != SYS_STOPPED)
                sys_stop(s, "ForcedExit");
            /* Emulator choice: a stopped system disappears with its last handle. */
            if (s->state == SYS_STOPPED)
                s->removed = 1;
        }
    }
    unlock_and_deliver();
}

/* ---- processes ------------------------------------------------------------ */

static int make_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);

    while (fd >= 0 && n > 0) {
        ssize_t w = write(fd, s, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Runs the emulated program of P (see hcsemu.h). Called with the lock held. */
static void proc_run(struct emu_proc *p)
{
    char **argv = rt_hcs_cmdline_split(p->cmdline);
    const char *prog = argv[0] ? argv[0] : "";
    const char *base = strrchr(prog, '\\') ? strrchr(prog, '\\') + 1 : prog;
    size_t i = 1;

    p->image = stk_xstrdup(base);
    if (strcasecmp(base, "cmd") == 0 || strcasecmp(base, "cmd.exe") == 0) {
        struct stk_buf rest = STK_BUF_INIT;
        char **words;

        while (argv[i] && (strcasecmp(argv[i], "/S") == 0 || strcasecmp(argv[i], "/C") == 0))
            i++;
        for (; argv[i]; i++)
            stk_buf_printf(&rest, "%s%s", rest.len ? " " : "", argv[i]);
        words = rt_hcs_cmdline_split(rest.buf);
        if (words[0] && strcasecmp(words[0], "echo") == 0) {
            const char *text = rest.buf + 4 + strspn(rest.buf + 4, " ");

            write_all(p->out_w, text);
            write_all(p->out_w, "\r\n");
            proc_exit(p, 0);
        } else if (words[0] && strcasecmp(words[0], "exit") == 0) {
            proc_exit(p, words[1] ? (uint32_t)strtoul(words[1], NULL, 10) : 0);
        } else if (words[0]) {
            char *msg = stk_xasprintf("'%s' is not recognized as an internal or external "
                                      "command\r\n",
                                      words[0]);

            write_all(p->err_w, msg);
            free(msg);
            proc_exit(p, 1);
        }
        stk_strv_free(words);
        stk_buf_release(&rest);
    }
    if (p->running) {
        char *line = stk_xasprintf("started %s\r\n", p->cmdline);

        write_all(p->out_w, line);
        free(line);
    }
    stk_strv_free(argv);
}

static int check_process_parameters(json_t *doc, char **ret_msg)
{
    static const char *const keys[] = {"ApplicationName",
                                       "CommandLine",
                                       "CommandArgs",
                                       "User",
                                       "WorkingDirectory",
                                       "Environment",
                                       "RestrictedToken",
                                       "EmulateConsole",
                                       "CreateStdInPipe",
                                       "CreateStdOutPipe",
                                       "CreateStdErrPipe",
                                       "ConsoleSize",
                                       "UseExistingLogin",
                                       "UseLegacyConsole",
                                       NULL};
    json_t *cs = json_object_get(doc, "ConsoleSize");
    const char *k;
    json_t *v;

    if (only_keys(doc, keys, "ProcessParameters", ret_msg) < 0)
        return -1;
    if (!json_is_string(json_object_get(doc, "CommandLine"))) {
        *ret_msg = stk_xstrdup("ProcessParameters.CommandLine is required");
        return -1;
    }
    if (cs && (!json_is_array(cs) || json_array_size(cs) != 2)) {
        *ret_msg = stk_xstrdup("ProcessParameters.ConsoleSize is an array [height, width]");
        return -1;
    }
    json_object_foreach(json_object_get(doc, "Environment"), k, v)
    {
        if (!json_is_string(v)) {
            *ret_msg = stk_xasprintf("ProcessParameters.Environment['%s'] must be a string", k);
            return -1;
        }
    }
    return 0;
}

static int32_t emu_create_process(struct hcs_system *h, const char *params,
                                  struct hcs_operation *op, struct hcs_process **ret)
{
    json_t *doc = NULL;
    char *msg = NULL;
    int32_t hr;
    struct emu_proc *p;
    struct hcs_process *ph;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};

    hcsemu__lock();
    if (prologue("create_process", op, &hr)) {
        unlock_and_deliver();
        return hr;
    }
    if (!h || !h->s || h->s->removed) {
        op_fail(op, HCS_E_SYSTEM_NOT_FOUND, "no such compute system");
        goto out;
    }
    if (h->s->state != SYS_RUNNING || h->s->is_vm) {
        op_fail(op, HCS_E_INVALID_STATE, "the compute system is not a running container");
        goto out;
    }
    doc = params ? json_loads(params, 0, NULL) : NULL;
    if (!doc || check_process_parameters(doc, &msg) < 0) {
        op_fail(op, HCS_E_INVALID_JSON, msg ? msg : "invalid JSON");
        goto out;
    }
    if ((json_is_true(json_object_get(doc, "CreateStdInPipe")) && make_pipe(in) < 0) ||
        (json_is_true(json_object_get(doc, "CreateStdOutPipe")) && make_pipe(out) < 0) ||
        (json_is_true(json_object_get(doc, "CreateStdErrPipe")) &&
         !json_is_true(json_object_get(doc, "EmulateConsole")) && make_pipe(errp) < 0))
        STK_BUG("hcsemu: pipe");
    p = stk_new0(struct emu_proc);
    p->pid = (next_pid += 4);
    p->sys = h->s;
    p->cmdline = stk_xstrdup(json_string_value(json_object_get(doc, "CommandLine")));
    p->running = 1;
    p->in_r = in[0];
    p->out_w = out[1];
    p->err_w = errp[1];
    p->next = all_procs;
    all_procs = p;
    ph = stk_new0(struct hcs_process);
    ph->p = p;
    ph->next = proc_handles;
    proc_handles = ph;
    *ret = ph;
    op->info.process_id = p->pid;
    op->info.std_input = in[1];
    op->info.std_output = out[0];
    op->info.std_error = errp[0];
    op->has_info = 1;
    proc_run(p);
    op_complete_take(op, 0, NULL);
out:
    free(msg);
    json_decref(doc);
    unlock_and_deliver();
    return 0;
}

static int32_t emu_get_process_properties(struct hcs_process *h, struct hcs_operation *op,
                                          const char *query)
{
    int32_t hr;

    (void)query;
    hcsemu__lock();
    if (prologue("get_process_properties", op, &hr)) {
        unlock_and_deliver();
        return hr;
    }
    if (!h)
        op_fail(op, STK_WIN_E_INVALIDARG, "no process");
    else
        op_complete_take(op, 0, process_status(h->p));
    unlock_and_deliver();
    return 0;
}

static int32_t emu_signal_process(struct hcs_process *h, struct hcs_operation *op,
                                  const char *options)
{
    static const char *const signals[] = {"CtrlC",      "CtrlBreak",    "CtrlClose",
                                          "CtrlLogOff", "CtrlShutdown", NULL};
    json_t *doc = options ? json_loads(options, 0, NULL) : NULL;
    const char *sig = json_string_value(json_object_get(doc, "Signal"));
    int32_t hr;
    int known = 0;

    for (size_t i = 0; sig && signals[i]; i++)
        if (strcmp(sig, signals[i]) == 0)
            known = 1;
    hcsemu__lock();
    if (prologue("signal_process", op, &hr)) {
        unlock_and_deliver();
        json_decref(doc);
        return hr;
    }
    if (!h || !known)
        op_fail(op, STK_WIN_E_INVALIDARG, "unknown signal");
    else if (!h->p->running)
        op_fail(op, HCS_E_PROCESS_ALREADY_STOPPED, "the process has exited");
    else {
        proc_exit(h->p, 0xC000013Au); /* STATUS_CONTROL_C_EXIT */
        op_complete_take(op, 0, NULL);
    }
    unlock_and_deliver();
    json_decref(doc);
    return 0;
}

static int32_t emu_terminate_process(struct hcs_process *h, struct hcs_operation *op,
                                     const char *options)
{
    int32_t hr;

    (void)options;
    hcsemu__lock();
    if (prologue("terminate_process", op, &hr)) {
        unlock_and_deliver();
        return hr;
    }
    if (!h)
        op_fail(op, STK_WIN_E_INVALIDARG, "no process");
    else if (!h->p->running)
        op_fail(op, HCS_E_PROCESS_ALREADY_STOPPED, "the process has exited");
    else {
        proc_exit(h->p, 1);
        op_complete_take(op, 0, NULL);
    }
    unlock_and_deliver();
    return 0;
}

static int32_t emu_modify_process(struct hcs_process *h, struct hcs_operation *op,
                                  const char *settings)
{
    json_t *doc = settings ? json_loads(settings, 0, NULL) : NULL;
    const char *what = json_string_value(json_object_get(doc, "Operation"));
    int32_t hr;

    hcsemu__lock();
    if (prologue("modify_process", op, &hr)) {
        unlock_and_deliver();
        json_decref(doc);
        return hr;
    }
    if (!h || !what || (strcmp(what, "ConsoleSize") != 0 && strcmp(what, "CloseHandle") != 0)) {
        op_fail(op, STK_WIN_E_INVALIDARG, "unknown modification");
    } else {
        if (strcmp(what, "CloseHandle") == 0)
            close_fd(&h->p->in_r);
        op_complete_take(op, 0, NULL);
    }
    unlock_and_deliver();
    json_decref(doc);
    return 0;
}

static int32_t emu_set_process_callback(struct hcs_process *h, uint32_t options, void *ctx,
                                        hcs_event_fn *cb)
{
    if (!h || options != HCS_EVENT_OPTION_NONE)
        return STK_WIN_E_INVALIDARG;
    hcsemu__lock();
    hcsemu__count_call("set_process_callback");
    h->cb = cb;
    h->ctx = ctx;
    hcsemu__unlock();
    return 0;
}

static void emu_close_process(struct hcs_process *h)
{
    if (!h)
        return;
    hcsemu__lock();
    for (struct hcs_process **pp = &proc_handles; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    }
    free(h);
    hcsemu__unlock();
}

static int32_t emu_wait_process_exit(struct hcs_process *h, uint32_t timeout_ms, char **ret)
{
    uint64_t waited = 0;

    if (ret)
        *ret = NULL;
    for (;;) {
        hcsemu__lock();
        if (!h->p->running) {
            if (ret)
                *ret = process_status(h->p);
            hcsemu__unlock();
            return 0;
        }
        hcsemu__unlock();
        if (timeout_ms != HCS_INFINITE && waited >= timeout_ms)
            return HCS_E_OPERATION_TIMEOUT;
        sleep_ms(5);
        waited += 5;
    }
}

static int32_t emu_wait_system_exit(struct hcs_system *h, uint32_t timeout_ms, char **ret)
{
    uint64_t waited = 0;

    if (ret)
        *ret = NULL;
    for (;;) {
        hcsemu__lock();
        if (!h->s || h->s->state == SYS_STOPPED) {
            hcsemu__unlock();
            return 0;
        }
        hcsemu__unlock();
        if (timeout_ms != HCS_INFINITE && waited >= timeout_ms)
            return HCS_E_OPERATION_TIMEOUT;
        sleep_ms(5);
        waited += 5;
    }
}

static int32_t emu_service_properties(const char *query, char **ret)
{
    (void)query;
    *ret = stk_xstrdup("{\"SupportedSchemaVersions\":[{\"Major\":2,\"Minor\":0},"
                       "{\"Major\":2,\"Minor\":1}]}");
    return 0;
}

static int32_t emu_grant_vm_access(const char *vm_id, const char *path)
{
    (void)vm_id;
    (void)path;
    return 0;
}

static int32_t emu_read_handle(intptr_t h, void *buf, uint32_t size, uint32_t *ret_read)
{
    ssize_t n;

    do {
        n = read((int)h, buf, size);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return STK_WIN_E_FAIL;
    *ret_read = (uint32_t)n;
    return 0;
}

static int32_t emu_write_handle(intptr_t h, const void *buf, uint32_t size)
{
    return write((int)h, buf, size) == (ssize_t)size ? 0 : STK_WIN_E_FAIL;
}

static void emu_close_handle(intptr_t h)
{
    if (h > 0)
        close((int)h);
}

static void emu_free_string(char *s)
{
    free(s);
}

static const struct hcs_api hcs_table = {
    .name = "hcsemu",
    .create_operation = emu_create_operation,
    .close_operation = emu_close_operation,
    .wait_for_operation_result = emu_wait,
    .get_operation_result = emu_get_result,
    .wait_for_operation_result_and_process_info = emu_wait_info,
    .create_compute_system = emu_create_system,
    .open_compute_system = emu_open_system,
    .start_compute_system = emu_start,
    .shutdown_compute_system = emu_shutdown,
    .terminate_compute_system = emu_terminate,
    .get_compute_system_properties = emu_get_properties,
    .modify_compute_system = emu_modify,
    .enumerate_compute_systems = emu_enumerate,
    .set_compute_system_callback = emu_set_system_callback,
    .close_compute_system = emu_close_system,
    .create_process = emu_create_process,
    .get_process_properties = emu_get_process_properties,
    .signal_process = emu_signal_process,
    .terminate_process = emu_terminate_process,
    .modify_process = emu_modify_process,
    .set_process_callback = emu_set_process_callback,
    .close_process = emu_close_process,
    .wait_for_process_exit = emu_wait_process_exit,
    .wait_for_compute_system_exit = emu_wait_system_exit,
    .get_service_properties = emu_service_properties,
    .grant_vm_access = emu_grant_vm_access,
    .read_handle = emu_read_handle,
    .write_handle = emu_write_handle,
    .close_handle = emu_close_handle,
    .free_string = emu_free_string,
};

const struct hcs_api *hcsemu_hcs_api(void)
{
    return &hcs_table;
}

void hcsemu__hcs_free_all(void)
{
    while (systems) {
        struct emu_sys *s = systems;

        systems = s->next;
        free(s->id);
        free(s->owner);
        free(s->hosting_id);
        json_decref(s->doc);
        free(s);
    }
    while (all_procs) {
        struct emu_proc *p = all_procs;

        all_procs = p->next;
        close_fd(&p->out_w);
        close_fd(&p->err_w);
        close_fd(&p->in_r);
        free(p->cmdline);
        free(p->image);
        free(p);
    }
    while (sys_handles) {
        struct hcs_system *h = sys_handles;

        sys_handles = h->next;
        free(h);
    }
    while (proc_handles) {
        struct hcs_process *h = proc_handles;

        proc_handles = h->next;
        free(h);
    }
    while (ops) {
        struct hcs_operation *op = ops;

        ops = op->next;
        free(op->result);
        free(op);
    }
    next_pid = 1000;
}

int hcsemu_count_systems(void)
{
    int n = 0;

    hcsemu__lock();
    for (struct emu_sys *s = systems; s; s = s->next)
        n += !s->removed;
    hcsemu__unlock();
    return n;
}

int hcsemu_count_processes_running(void)
{
    int n = 0;

    hcsemu__lock();
    for (struct emu_proc *p = all_procs; p; p = p->next)
        n += p->running;
    hcsemu__unlock();
    return n;
}

int hcsemu_count_open_handles(void)
{
    int n = 0;

    hcsemu__lock();
    for (struct hcs_system *h = sys_handles; h; h = h->next)
        n++;
    for (struct hcs_process *h = proc_handles; h; h = h->next)
        n++;
    for (struct hcs_operation *o = ops; o; o = o->next)
        n++;
    hcsemu__unlock();
    return n;
}

json_t *hcsemu_system_document(const char *id)
{
    struct emu_sys *s;
    json_t *doc = NULL;

    hcsemu__lock();
    s = find_sys(id);
    if (s)
        doc = json_incref(s->doc);
    hcsemu__unlock();
    return doc;
}

const char *hcsemu_system_state(const char *id)
{
    struct emu_sys *s;
    const char *st = NULL;

    hcsemu__lock();
    s = find_sys(id);
    if (s)
        st = state_names[s->state];
    hcsemu__unlock();
    return st;
}

int hcsemu_exit_first_process(const char *id, uint32_t code)
{
    struct emu_proc *first = NULL;

    hcsemu__lock();
    for (struct emu_proc *p = all_procs; p; p = p->next)
        if (p->sys && !p->sys->removed && strcasecmp(p->sys->id, id) == 0 &&
            (!first || p->pid < first->pid))
            first = p;
    if (!first || !first->running) {
        hcsemu__unlock();
        return -1;
    }
    proc_exit(first, code);
    unlock_and_deliver();
    return 0;
}

int hcsemu_system_nics(const char *id)
{
    struct emu_sys *s;
    int n = -1;

    hcsemu__lock();
    s = find_sys(id);
    if (s)
        n = s->n_nics;
    hcsemu__unlock();
    return n;
}
