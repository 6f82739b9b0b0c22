/*
 * hcn-win32.c - the Win32 glue of the hns plug-in: fills struct hcn_api from
 * computenetwork.dll, loaded at run time (LoadLibraryExW + GetProcAddress) so
 * that a host without HNS gets a clear error instead of a loader failure.
 * GUID strings are parsed here; output strings are UTF-16 from HCN, released
 * with CoTaskMemFree (msdocs), which is resolved from ole32.dll at run time
 * too. Compiled on Windows only (netplugins/CMakeLists.txt).
 *
 * Not run on a real Windows host yet: compiled with Debian's mingw-w64
 * against its computenetwork.h, nothing more.
 */
#include "netplugins/hns/hns.h"

#include <windows.h>
#include <computenetwork.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/win-error.h"

#define HCN_FUNCS(X)                                                                               \
    X(HcnEnumerateNetworks)                                                                        \
    X(HcnCreateNetwork)                                                                            \
    X(HcnOpenNetwork)                                                                              \
    X(HcnQueryNetworkProperties)                                                                   \
    X(HcnDeleteNetwork)                                                                            \
    X(HcnCloseNetwork)                                                                             \
    X(HcnEnumerateEndpoints)                                                                       \
    X(HcnCreateEndpoint)                                                                           \
    X(HcnOpenEndpoint)                                                                             \
    X(HcnModifyEndpoint)                                                                           \
    X(HcnQueryEndpointProperties)                                                                  \
    X(HcnDeleteEndpoint)                                                                           \
    X(HcnCloseEndpoint)                                                                            \
    X(HcnEnumerateNamespaces)                                                                      \
    X(HcnCreateNamespace)                                                                          \
    X(HcnOpenNamespace)                                                                            \
    X(HcnModifyNamespace)                                                                          \
    X(HcnQueryNamespaceProperties)                                                                 \
    X(HcnDeleteNamespace)                                                                          \
    X(HcnCloseNamespace)

typedef void(WINAPI *co_task_mem_free_fn)(LPVOID);

static struct {
#define HCN__PTR(name) typeof(&name) name;
    HCN_FUNCS(HCN__PTR)
#undef HCN__PTR
    co_task_mem_free_fn free_mem;
} fn;

static void take(PWSTR w, char **ret)
{
    if (ret)
        *ret = stk_win_utf8(w);
    if (w && fn.free_mem)
        fn.free_mem(w);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (braces optional) into *G. */
static int parse_guid(const char *s, GUID *g)
{
    uint8_t b[16];
    int k = 0;

    if (!s)
        return -1;
    if (*s == '{')
        s++;
    for (; *s && *s != '}' && k < 32; s++) {
        int v;

        if (*s == '-')
            continue;
        v = hexval(*s);
        if (v < 0)
            return -1;
        if (k % 2 == 0)
            b[k / 2] = (uint8_t)(v << 4);
        else
            b[k / 2] |= (uint8_t)v;
        k++;
    }
    if (k != 32)
        return -1;
    g->Data1 = (DWORD)b[0] << 24 | (DWORD)b[1] << 16 | (DWORD)b[2] << 8 | b[3];
    g->Data2 = (WORD)(b[4] << 8 | b[5]);
    g->Data3 = (WORD)(b[6] << 8 | b[7]);
    memcpy(g->Data4, b + 8, 8);
    return 0;
}

#define GUID_OR_FAIL(var, str)                                                                     \
    GUID var;                                                                                      \
    if (parse_guid((str), &var) < 0)                                                               \
    return E_INVALIDARG

static int32_t w_enumerate(typeof(&HcnEnumerateNetworks) f, const char *query, char **ret_ids,
                           char **ret_err)
{
    WCHAR *q = stk_win_utf16(query);
    PWSTR ids = NULL, er = NULL;
    HRESULT hr = f(q, &ids, &er);

    free(q);
    take(ids, ret_ids);
    take(er, ret_err);
    return hr;
}

static int32_t w_enum_networks(const char *q, char **ids, char **e)
{
    return w_enumerate(fn.HcnEnumerateNetworks, q, ids, e);
}

static int32_t w_enum_endpoints(const char *q, char **ids, char **e)
{
    return w_enumerate(fn.HcnEnumerateEndpoints, q, ids, e);
}

static int32_t w_enum_namespaces(const char *q, char **ids, char **e)
{
    return w_enumerate(fn.HcnEnumerateNamespaces, q, ids, e);
}

static int32_t w_create_network(const char *id, const char *settings, struct hcn_network **ret,
                                char **ret_err)
{
    WCHAR *s = stk_win_utf16(settings);
    PWSTR er = NULL;
    HCN_NETWORK h = NULL;
    HRESULT hr;
    GUID g;

    if (parse_guid(id, &g) < 0) {
        free(s);
        return E_INVALIDARG;
    }
    hr = fn.HcnCreateNetwork(&g, s, &h, &er);
    free(s);
    take(er, ret_err);
    *ret = (struct hcn_network *)h;
    return hr;
}

static int32_t w_open_network(const char *id, struct hcn_network **ret, char **ret_err)
{
    PWSTR er = NULL;
    HCN_NETWORK h = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnOpenNetwork(&g, &h, &er);
    take(er, ret_err);
    *ret = (struct hcn_network *)h;
    return hr;
}

static int32_t w_query_network(struct hcn_network *n, const char *query, char **ret_props,
                               char **ret_err)
{
    WCHAR *q = stk_win_utf16(query);
    PWSTR props = NULL, er = NULL;
    HRESULT hr = fn.HcnQueryNetworkProperties((HCN_NETWORK)n, q, &props, &er);

    free(q);
    take(props, ret_props);
    take(er, ret_err);
    return hr;
}

static int32_t w_delete_network(const char *id, char **ret_err)
{
    PWSTR er = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnDeleteNetwork(&g, &er);
    take(er, ret_err);
    return hr;
}

static void w_close_network(struct hcn_network *n)
{
    if (n)
        fn.HcnCloseNetwork((HCN_NETWORK)n);
}

static int32_t w_create_endpoint(struct hcn_network *n, const char *id, const char *settings,
                                 struct hcn_endpoint **ret, char **ret_err)
{
    WCHAR *s = stk_win_utf16(settings);
    PWSTR er = NULL;
    HCN_ENDPOINT h = NULL;
    HRESULT hr;
    GUID g;

    if (parse_guid(id, &g) < 0) {
        free(s);
        return E_INVALIDARG;
    }
    hr = fn.HcnCreateEndpoint((HCN_NETWORK)n, &g, s, &h, &er);
    free(s);
    take(er, ret_err);
    *ret = (struct hcn_endpoint *)h;
    return hr;
}

static int32_t w_open_endpoint(const char *id, struct hcn_endpoint **ret, char **ret_err)
{
    PWSTR er = NULL;
    HCN_ENDPOINT h = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnOpenEndpoint(&g, &h, &er);
    take(er, ret_err);
    *ret = (struct hcn_endpoint *)h;
    return hr;
}

static int32_t w_query_endpoint(struct hcn_endpoint *e, const char *query, char **ret_props,
                                char **ret_err)
{
    WCHAR *q = stk_win_utf16(query);
    PWSTR props = NULL, er = NULL;
    HRESULT hr = fn.HcnQueryEndpointProperties((HCN_ENDPOINT)e, q, &props, &er);

    free(q);
    take(props, ret_props);
    take(er, ret_err);
    return hr;
}

static int32_t w_modify_endpoint(struct hcn_endpoint *e, const char *settings, char **ret_err)
{
    WCHAR *s = stk_win_utf16(settings);
    PWSTR er = NULL;
    HRESULT hr = fn.HcnModifyEndpoint((HCN_ENDPOINT)e, s, &er);

    free(s);
    take(er, ret_err);
    return hr;
}

static int32_t w_delete_endpoint(const char *id, char **ret_err)
{
    PWSTR er = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnDeleteEndpoint(&g, &er);
    take(er, ret_err);
    return hr;
}

static void w_close_endpoint(struct hcn_endpoint *e)
{
    if (e)
        fn.HcnCloseEndpoint((HCN_ENDPOINT)e);
}

static int32_t w_create_namespace(const char *id, const char *settings, struct hcn_namespace **ret,
                                  char **ret_err)
{
    WCHAR *s = stk_win_utf16(settings);
    PWSTR er = NULL;
    HCN_NAMESPACE h = NULL;
    HRESULT hr;
    GUID g;

    if (parse_guid(id, &g) < 0) {
        free(s);
        return E_INVALIDARG;
    }
    hr = fn.HcnCreateNamespace(&g, s, &h, &er);
    free(s);
    take(er, ret_err);
    *ret = (struct hcn_namespace *)h;
    return hr;
}

static int32_t w_open_namespace(const char *id, struct hcn_namespace **ret, char **ret_err)
{
    PWSTR er = NULL;
    HCN_NAMESPACE h = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnOpenNamespace(&g, &h, &er);
    take(er, ret_err);
    *ret = (struct hcn_namespace *)h;
    return hr;
}

static int32_t w_query_namespace(struct hcn_namespace *ns, const char *query, char **ret_props,
                                 char **ret_err)
{
    WCHAR *q = stk_win_utf16(query);
    PWSTR props = NULL, er = NULL;
    HRESULT hr = fn.HcnQueryNamespaceProperties((HCN_NAMESPACE)ns, q, &props, &er);

    free(q);
    take(props, ret_props);
    take(er, ret_err);
    return hr;
}

static int32_t w_modify_namespace(struct hcn_namespace *ns, const char *settings, char **ret_err)
{
    WCHAR *s = stk_win_utf16(settings);
    PWSTR er = NULL;
    HRESULT hr = fn.HcnModifyNamespace((HCN_NAMESPACE)ns, s, &er);

    free(s);
    take(er, ret_err);
    return hr;
}

static int32_t w_delete_namespace(const char *id, char **ret_err)
{
    PWSTR er = NULL;
    HRESULT hr;
    GUID_OR_FAIL(g, id);

    hr = fn.HcnDeleteNamespace(&g, &er);
    take(er, ret_err);
    return hr;
}

static void w_close_namespace(struct hcn_namespace *ns)
{
    if (ns)
        fn.HcnCloseNamespace((HCN_NAMESPACE)ns);
}

static void w_free_string(char *s)
{
    free(s);
}

static const struct hcn_api table = {
    .name = "computenetwork.dll",
    .create_network = w_create_network,
    .open_network = w_open_network,
    .query_network_properties = w_query_network,
    .delete_network = w_delete_network,
    .close_network = w_close_network,
    .enumerate_networks = w_enum_networks,
    .create_endpoint = w_create_endpoint,
    .open_endpoint = w_open_endpoint,
    .query_endpoint_properties = w_query_endpoint,
    .modify_endpoint = w_modify_endpoint,
    .delete_endpoint = w_delete_endpoint,
    .close_endpoint = w_close_endpoint,
    .enumerate_endpoints = w_enum_endpoints,
    .create_namespace = w_create_namespace,
    .open_namespace = w_open_namespace,
    .query_namespace_properties = w_query_namespace,
    .modify_namespace = w_modify_namespace,
    .delete_namespace = w_delete_namespace,
    .close_namespace = w_close_namespace,
    .enumerate_namespaces = w_enum_namespaces,
    .free_string = w_free_string,
};

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static const struct hcn_api *loaded;
static char load_error[256];

static BOOL CALLBACK load_once(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
    HMODULE dll = LoadLibraryExW(L"computenetwork.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    HMODULE ole = LoadLibraryExW(L"ole32.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

    (void)o;
    (void)param;
    (void)ctx;
    if (!dll || !ole) {
        snprintf(load_error, sizeof(load_error),
                 "HNS is not available on this host (computenetwork.dll: error %lu)",
                 (unsigned long)GetLastError());
        return TRUE;
    }
    fn.free_mem = (co_task_mem_free_fn)(void (*)(void))GetProcAddress(ole, "CoTaskMemFree");
#define HCN__LOAD(name)                                                                            \
    fn.name = (typeof(&name))(void (*)(void))GetProcAddress(dll, #name);                           \
    if (!fn.name) {                                                                                \
        snprintf(load_error, sizeof(load_error),                                                   \
                 "HNS is not available on this host (computenetwork.dll has no %s)", #name);       \
        return TRUE;                                                                               \
    }
    HCN_FUNCS(HCN__LOAD)
#undef HCN__LOAD
    if (!fn.free_mem) {
        snprintf(load_error, sizeof(load_error),
                 "HNS is not available on this host (no "
                 "CoTaskMemFree)");
        return TRUE;
    }
    loaded = &table;
    return TRUE;
}

const struct hcn_api *net_hns_api_win32(struct stk_err *err)
{
    InitOnceExecuteOnce(&once, load_once, NULL, NULL);
    if (!loaded)
        stk_err_set(err, STK_EUNAVAIL, 0, "%s", load_error);
    return loaded;
}
