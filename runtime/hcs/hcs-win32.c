/*
 * hcs-win32.c - the Win32 glue of the hcs driver: fills struct hcs_api from
 * computecore.dll, loaded at run time with LoadLibraryExW + GetProcAddress so
 * that a host without HCS gets "HCS is not available on this host" instead of
 * a loader failure (DESIGN.md §6). Converts UTF-8 to UTF-16 on the way in
 * and back on the way out; result documents are released with LocalFree
 * (msdocs: "LocalFree"). Compiled on Windows only (runtime/CMakeLists.txt).
 *
 * Not run on a real Windows host yet: it has been compiled with Debian's
 * mingw-w64 against its computecore.h, nothing more.
 */
#include "runtime/hcs/hcs.h"

#include <windows.h>
#include <computecore.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/win-error.h"

/* Handles wrap HCS's own, with the trampoline state of their callbacks. */
struct hcs_operation {
    HCS_OPERATION h;
    hcs_operation_completion_fn *cb;
    void *ctx;
};

struct hcs_system {
    HCS_SYSTEM h;
    hcs_event_fn *cb;
    void *ctx;
};

struct hcs_process {
    HCS_PROCESS h;
    hcs_event_fn *cb;
    void *ctx;
};

#define HCS_FUNCS(X)                                                                               \
    X(1, HcsCreateOperation)                                                                       \
    X(1, HcsCloseOperation)                                                                        \
    X(1, HcsWaitForOperationResult)                                                                \
    X(1, HcsGetOperationResult)                                                                    \
    X(1, HcsWaitForOperationResultAndProcessInfo)                                                  \
    X(1, HcsCreateComputeSystem)                                                                   \
    X(1, HcsOpenComputeSystem)                                                                     \
    X(1, HcsStartComputeSystem)                                                                    \
    X(1, HcsShutDownComputeSystem)                                                                 \
    X(1, HcsTerminateComputeSystem)                                                                \
    X(1, HcsGetComputeSystemProperties)                                                            \
    X(1, HcsModifyComputeSystem)                                                                   \
    X(1, HcsEnumerateComputeSystems)                                                               \
    X(1, HcsSetComputeSystemCallback)                                                              \
    X(1, HcsCloseComputeSystem)                                                                    \
    X(1, HcsCreateProcess)                                                                         \
    X(1, HcsGetProcessProperties)                                                                  \
    X(1, HcsSignalProcess)                                                                         \
    X(1, HcsTerminateProcess)                                                                      \
    X(1, HcsModifyProcess)                                                                         \
    X(1, HcsSetProcessCallback)                                                                    \
    X(1, HcsCloseProcess)                                                                          \
    X(0, HcsWaitForProcessExit)                                                                    \
    X(0, HcsWaitForComputeSystemExit)                                                              \
    X(0, HcsGetServiceProperties)                                                                  \
    X(0, HcsGrantVmAccess)

static struct {
#define HCS__PTR(req, name) typeof(&name) name;
    HCS_FUNCS(HCS__PTR)
#undef HCS__PTR
} fn;

/* Moves an HCS-allocated UTF-16 result into a UTF-8 string for the caller. */
static void take_result(PWSTR w, char **ret)
{
    if (ret)
        *ret = stk_win_utf8(w);
    if (w)
        LocalFree(w);
}

static void CALLBACK op_trampoline(HCS_OPERATION h, void *context)
{
    struct hcs_operation *op = context;

    (void)h;
    if (op->cb)
        op->cb(op, op->ctx);
}

static struct hcs_operation *w_create_operation(void *context, hcs_operation_completion_fn *cb)
{
    struct hcs_operation *op = stk_new0(struct hcs_operation);

    op->cb = cb;
    op->ctx = context;
    op->h = fn.HcsCreateOperation(op, cb ? op_trampoline : NULL);
    if (!op->h) {
        free(op);
        return NULL;
    }
    return op;
}

static void w_close_operation(struct hcs_operation *op)
{
    if (!op)
        return;
    fn.HcsCloseOperation(op->h);
    free(op);
}

static int32_t w_wait(struct hcs_operation *op, uint32_t timeout_ms, char **ret)
{
    PWSTR doc = NULL;
    HRESULT hr = fn.HcsWaitForOperationResult(op->h, timeout_ms, ret ? &doc : NULL);

    take_result(doc, ret);
    return hr;
}

static int32_t w_get_result(struct hcs_operation *op, char **ret)
{
    PWSTR doc = NULL;
    HRESULT hr = fn.HcsGetOperationResult(op->h, ret ? &doc : NULL);

    take_result(doc, ret);
    return hr;
}

static int32_t w_wait_info(struct hcs_operation *op, uint32_t timeout_ms,
                           struct hcs_process_information *ret_info, char **ret)
{
    HCS_PROCESS_INFORMATION pi;
    PWSTR doc = NULL;
    HRESULT hr;

    memset(&pi, 0, sizeof(pi));
    hr = fn.HcsWaitForOperationResultAndProcessInfo(op->h, timeout_ms, &pi, ret ? &doc : NULL);
    take_result(doc, ret);
    if (ret_info) {
        ret_info->process_id = pi.ProcessId;
        ret_info->std_input = (intptr_t)pi.StdInput;
        ret_info->std_output = (intptr_t)pi.StdOutput;
        ret_info->std_error = (intptr_t)pi.StdError;
    }
    return hr;
}

static int32_t w_create_system(const char *id, const char *configuration, struct hcs_operation *op,
                               struct hcs_system **ret)
{
    WCHAR *wid = stk_win_utf16(id), *wcfg = stk_win_utf16(configuration);
    struct hcs_system *s = stk_new0(struct hcs_system);
    HRESULT hr = fn.HcsCreateComputeSystem(wid, wcfg, op->h, NULL, &s->h);

    free(wid);
    free(wcfg);
    if (FAILED(hr)) {
        free(s);
        *ret = NULL;
        return hr;
    }
    *ret = s;
    return hr;
}

static int32_t w_open_system(const char *id, uint32_t access, struct hcs_system **ret)
{
    WCHAR *wid = stk_win_utf16(id);
    struct hcs_system *s = stk_new0(struct hcs_system);
    HRESULT hr = fn.HcsOpenComputeSystem(wid, access, &s->h);

    free(wid);
    if (FAILED(hr)) {
        free(s);
        *ret = NULL;
        return hr;
    }
    *ret = s;
    return hr;
}

#define SYS_CALL(name, api_fn)                                                                     \
    static int32_t name(struct hcs_system *s, struct hcs_operation *op, const char *options)       \
    {                                                                                              \
        WCHAR *w = stk_win_utf16(options);                                                         \
        HRESULT hr = fn.api_fn(s->h, op->h, w);                                                    \
        free(w);                                                                                   \
        return hr;                                                                                 \
    }
SYS_CALL(w_start, HcsStartComputeSystem)
SYS_CALL(w_shutdown, HcsShutDownComputeSystem)
SYS_CALL(w_terminate, HcsTerminateComputeSystem)
SYS_CALL(w_properties, HcsGetComputeSystemProperties)

static int32_t w_modify(struct hcs_system *s, struct hcs_operation *op, const char *cfg)
{
    WCHAR *w = stk_win_utf16(cfg);
    HRESULT hr = fn.HcsModifyComputeSystem(s->h, op->h, w, NULL);

    free(w);
    return hr;
}

static int32_t w_enumerate(const char *query, struct hcs_operation *op)
{
    WCHAR *w = stk_win_utf16(query);
    HRESULT hr = fn.HcsEnumerateComputeSystems(w, op->h);

    free(w);
    return hr;
}

static void deliver(hcs_event_fn *cb, void *ctx, HCS_EVENT *ev)
{
    struct hcs_event e;
    char *data;

    if (!cb)
        return;
    data = stk_win_utf8(ev->EventData);
    e.type = (uint32_t)ev->Type;
    e.event_data = data;
    e.operation = NULL;
    cb(&e, ctx);
    free(data);
}

static void CALLBACK sys_trampoline(HCS_EVENT *ev, void *context)
{
    struct hcs_system *s = context;

    deliver(s->cb, s->ctx, ev);
}

static void CALLBACK proc_trampoline(HCS_EVENT *ev, void *context)
{
    struct hcs_process *p = context;

    deliver(p->cb, p->ctx, ev);
}

static int32_t w_set_system_callback(struct hcs_system *s, uint32_t options, void *ctx,
                                     hcs_event_fn *cb)
{
    s->cb = cb;
    s->ctx = ctx;
    return fn.HcsSetComputeSystemCallback(s->h, (HCS_EVENT_OPTIONS)options, s, sys_trampoline);
}

static void w_close_system(struct hcs_system *s)
{
    if (!s)
        return;
    fn.HcsCloseComputeSystem(s->h);
    free(s);
}

static int32_t w_create_process(struct hcs_system *s, const char *params, struct hcs_operation *op,
                                struct hcs_process **ret)
{
    WCHAR *w = stk_win_utf16(params);
    struct hcs_process *p = stk_new0(struct hcs_process);
    HRESULT hr = fn.HcsCreateProcess(s->h, w, op->h, NULL, &p->h);

    free(w);
    if (FAILED(hr)) {
        free(p);
        *ret = NULL;
        return hr;
    }
    *ret = p;
    return hr;
}

#define PROC_CALL(name, api_fn)                                                                    \
    static int32_t name(struct hcs_process *p, struct hcs_operation *op, const char *options)      \
    {                                                                                              \
        WCHAR *w = stk_win_utf16(options);                                                         \
        HRESULT hr = fn.api_fn(p->h, op->h, w);                                                    \
        free(w);                                                                                   \
        return hr;                                                                                 \
    }
PROC_CALL(w_process_properties, HcsGetProcessProperties)
PROC_CALL(w_signal, HcsSignalProcess)
PROC_CALL(w_terminate_process, HcsTerminateProcess)
PROC_CALL(w_modify_process, HcsModifyProcess)

static int32_t w_set_process_callback(struct hcs_process *p, uint32_t options, void *ctx,
                                      hcs_event_fn *cb)
{
    p->cb = cb;
    p->ctx = ctx;
    return fn.HcsSetProcessCallback(p->h, (HCS_EVENT_OPTIONS)options, p, proc_trampoline);
}

static void w_close_process(struct hcs_process *p)
{
    if (!p)
        return;
    fn.HcsCloseProcess(p->h);
    free(p);
}

static int32_t w_wait_process_exit(struct hcs_process *p, uint32_t timeout_ms, char **ret)
{
    PWSTR doc = NULL;
    HRESULT hr = fn.HcsWaitForProcessExit(p->h, timeout_ms, ret ? &doc : NULL);

    take_result(doc, ret);
    return hr;
}

static int32_t w_wait_system_exit(struct hcs_system *s, uint32_t timeout_ms, char **ret)
{
    PWSTR doc = NULL;
    HRESULT hr = fn.HcsWaitForComputeSystemExit(s->h, timeout_ms, ret ? &doc : NULL);

    take_result(doc, ret);
    return hr;
}

static int32_t w_service_properties(const char *query, char **ret)
{
    WCHAR *w = stk_win_utf16(query);
    PWSTR doc = NULL;
    HRESULT hr = fn.HcsGetServiceProperties(w, &doc);

    free(w);
    take_result(doc, ret);
    return hr;
}

static int32_t w_grant_vm_access(const char *vm_id, const char *path)
{
    WCHAR *a = stk_win_utf16(vm_id), *b = stk_win_utf16(path);
    HRESULT hr = fn.HcsGrantVmAccess(a, b);

    free(a);
    free(b);
    return hr;
}

static int32_t w_read_handle(intptr_t h, void *buf, uint32_t size, uint32_t *ret_read)
{
    DWORD n = 0;

    if (!ReadFile((HANDLE)h, buf, size, &n, NULL)) {
        DWORD e = GetLastError();

        if (e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF) {
            *ret_read = 0;
            return S_OK;
        }
        return HRESULT_FROM_WIN32(e);
    }
    *ret_read = n;
    return S_OK;
}

static int32_t w_write_handle(intptr_t h, const void *buf, uint32_t size)
{
    DWORD n = 0;

    if (!WriteFile((HANDLE)h, buf, size, &n, NULL) || n != size)
        return HRESULT_FROM_WIN32(GetLastError());
    return S_OK;
}

static void w_close_handle(intptr_t h)
{
    if (h && (HANDLE)h != INVALID_HANDLE_VALUE)
        CloseHandle((HANDLE)h);
}

static void w_free_string(char *s)
{
    free(s);
}

static struct hcs_api table = {
    .name = "computecore.dll",
    .create_operation = w_create_operation,
    .close_operation = w_close_operation,
    .wait_for_operation_result = w_wait,
    .get_operation_result = w_get_result,
    .wait_for_operation_result_and_process_info = w_wait_info,
    .create_compute_system = w_create_system,
    .open_compute_system = w_open_system,
    .start_compute_system = w_start,
    .shutdown_compute_system = w_shutdown,
    .terminate_compute_system = w_terminate,
    .get_compute_system_properties = w_properties,
    .modify_compute_system = w_modify,
    .enumerate_compute_systems = w_enumerate,
    .set_compute_system_callback = w_set_system_callback,
    .close_compute_system = w_close_system,
    .create_process = w_create_process,
    .get_process_properties = w_process_properties,
    .signal_process = w_signal,
    .terminate_process = w_terminate_process,
    .modify_process = w_modify_process,
    .set_process_callback = w_set_process_callback,
    .close_process = w_close_process,
    .read_handle = w_read_handle,
    .write_handle = w_write_handle,
    .close_handle = w_close_handle,
    .free_string = w_free_string,
};

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static const struct hcs_api *loaded;
static char load_error[256];

static BOOL CALLBACK load_once(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
    HMODULE dll = LoadLibraryExW(L"computecore.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

    (void)o;
    (void)param;
    (void)ctx;
    if (!dll) {
        snprintf(load_error, sizeof(load_error),
                 "HCS is not available on this host (computecore.dll: error %lu)",
                 (unsigned long)GetLastError());
        return TRUE;
    }
#define HCS__LOAD(req, name)                                                                       \
    fn.name = (typeof(&name))(void (*)(void))GetProcAddress(dll, #name);                           \
    if (!fn.name && req) {                                                                         \
        snprintf(load_error, sizeof(load_error),                                                   \
                 "HCS is not available on this host (computecore.dll has no %s)", #name);          \
        return TRUE;                                                                               \
    }
    HCS_FUNCS(HCS__LOAD)
#undef HCS__LOAD
    /* Optional entries: exported only by newer hosts (Windows Server 2022+). */
    table.wait_for_process_exit = fn.HcsWaitForProcessExit ? w_wait_process_exit : NULL;
    table.wait_for_compute_system_exit = fn.HcsWaitForComputeSystemExit ? w_wait_system_exit : NULL;
    table.get_service_properties = fn.HcsGetServiceProperties ? w_service_properties : NULL;
    table.grant_vm_access = fn.HcsGrantVmAccess ? w_grant_vm_access : NULL;
    loaded = &table;
    return TRUE;
}

const struct hcs_api *rt_hcs_api_win32(struct stk_err *err)
{
    InitOnceExecuteOnce(&once, load_once, NULL, NULL);
    if (!loaded)
        stk_err_set(err, STK_EUNAVAIL, 0, "%s", load_error);
    return loaded;
}

typedef LONG(WINAPI *rtl_get_version_fn)(OSVERSIONINFOEXW *);

void rt_hcs_win32_host_version(char *buf, size_t size, enum rt_hcs_edition *ret_edition)
{
    OSVERSIONINFOEXW v;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    rtl_get_version_fn get =
        ntdll ? (rtl_get_version_fn)(void (*)(void))GetProcAddress(ntdll, "RtlGetVersion") : NULL;

    memset(&v, 0, sizeof(v));
    v.dwOSVersionInfoSize = sizeof(v);
    /* RtlGetVersion is not subject to the manifest-based version lie of GetVersionEx. */
    if (!get || get(&v) != 0) {
        snprintf(buf, size, "10.0.0");
        *ret_edition = RT_HCS_EDITION_SERVER;
        return;
    }
    snprintf(buf, size, "%lu.%lu.%lu", (unsigned long)v.dwMajorVersion,
             (unsigned long)v.dwMinorVersion, (unsigned long)v.dwBuildNumber);
    *ret_edition =
        v.wProductType == VER_NT_WORKSTATION ? RT_HCS_EDITION_CLIENT : RT_HCS_EDITION_SERVER;
}
