/*
 * hcs-storage-win32.c - the Win32 glue of the layer storage: fills struct
 * hcs_storage_calls (hcs-storage-api.h) from computestorage.dll and
 * virtdisk.dll, loaded at run time with LoadLibraryExW + GetProcAddress so
 * that a host without them gets "Windows layer storage (computestorage.dll)
 * is not available on this host" instead of a loader failure. Strings are
 * converted from UTF-8 to UTF-16 on the way in; the mount path
 * HcsGetLayerVhdMountPath returns is freed with CoTaskMemFree (hcsshim
 * computestorage/mount.go, interop.ConvertAndFreeCoTaskMemString).
 * Compiled on Windows only (runtime/CMakeLists.txt).
 *
 * apply_backup_stream is kernel32/advapi32 (CreateFileW, BackupWrite,
 * SetFileInformationByHandle, AdjustTokenPrivileges), linked directly.
 *
 * Not run on a real Windows host: compiled with Debian's mingw-w64 against
 * its computestorage.h and virtdisk.h, nothing more.
 */
#include "runtime/hcs/hcs.h"

#include <windows.h>
#include <aclapi.h>
#include <computestorage.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <virtdisk.h>

#include "common/stk-alloc.h"
#include "common/win-error.h"

/* VIRTUAL_STORAGE_TYPE_VENDOR_MICROSOFT (virtdisk.h; defined here to avoid the GUID linkage). */
static const GUID vendor_microsoft = {
    0xec984aec, 0xa0f9, 0x47e9, {0x90, 0x1f, 0x71, 0x41, 0x5a, 0x66, 0x34, 0x5b}};

#define CS_FUNCS(X)                                                                                \
    X(1, HcsImportLayer)                                                                           \
    X(0, HcsExportLayer)                                                                           \
    X(1, HcsDestroyLayer)                                                                          \
    X(1, HcsSetupBaseOSLayer)                                                                      \
    X(1, HcsInitializeWritableLayer)                                                               \
    X(1, HcsAttachLayerStorageFilter)                                                              \
    X(1, HcsDetachLayerStorageFilter)                                                              \
    X(1, HcsFormatWritableLayerVhd)                                                                \
    X(1, HcsGetLayerVhdMountPath)                                                                  \
    X(0, HcsSetupBaseOSVolume)

#define VD_FUNCS(X)                                                                                \
    X(1, CreateVirtualDisk)                                                                        \
    X(1, OpenVirtualDisk)                                                                          \
    X(1, AttachVirtualDisk)                                                                        \
    X(1, DetachVirtualDisk)

typedef void(WINAPI *co_task_mem_free_fn)(LPVOID);
/* ole32!CoTaskMemFree, resolved at load time like the rest (no import library needed). */
static co_task_mem_free_fn co_task_mem_free;

static struct {
#define CS__PTR(req, name) typeof(&name) name;
    CS_FUNCS(CS__PTR) VD_FUNCS(CS__PTR)
#undef CS__PTR
} fn;

/* Calls F on up to three converted strings; the NULL ones stay NULL. */
#define WIDE3(a, b, c, expr)                                                                       \
    ({                                                                                             \
        WCHAR *wa_ = stk_win_utf16(a), *wb_ = stk_win_utf16(b), *wc_ = stk_win_utf16(c);           \
        HRESULT hr_ = (expr);                                                                      \
        free(wa_);                                                                                 \
        free(wb_);                                                                                 \
        free(wc_);                                                                                 \
        (int32_t) hr_;                                                                             \
    })

static int32_t w_import(const char *layer, const char *src, const char *data)
{
    return WIDE3(layer, src, data, fn.HcsImportLayer(wa_, wb_, wc_));
}

static int32_t w_export(const char *layer, const char *dst, const char *data, const char *opt)
{
    WCHAR *wo = stk_win_utf16(opt);
    int32_t hr = WIDE3(layer, dst, data, fn.HcsExportLayer(wa_, wb_, wc_, wo));

    free(wo);
    return hr;
}

static int32_t w_destroy(const char *layer)
{
    return WIDE3(layer, NULL, NULL, fn.HcsDestroyLayer(wa_));
}

static int32_t w_setup_base(const char *layer, intptr_t vhd, const char *options)
{
    return WIDE3(layer, options, NULL, fn.HcsSetupBaseOSLayer(wa_, (HANDLE)vhd, wb_));
}

static int32_t w_init_writable(const char *layer, const char *data, const char *options)
{
    return WIDE3(layer, data, options, fn.HcsInitializeWritableLayer(wa_, wb_, wc_));
}

static int32_t w_attach_filter(const char *layer, const char *data)
{
    return WIDE3(layer, data, NULL, fn.HcsAttachLayerStorageFilter(wa_, wb_));
}

static int32_t w_detach_filter(const char *layer)
{
    return WIDE3(layer, NULL, NULL, fn.HcsDetachLayerStorageFilter(wa_));
}

static int32_t w_format(intptr_t vhd)
{
    return fn.HcsFormatWritableLayerVhd((HANDLE)vhd);
}

static int32_t w_mount_path(intptr_t vhd, char **ret)
{
    PWSTR w = NULL;
    HRESULT hr = fn.HcsGetLayerVhdMountPath((HANDLE)vhd, &w);

    *ret = NULL;
    if (SUCCEEDED(hr))
        *ret = stk_win_utf8(w ? w : L"");
    if (w && co_task_mem_free)
        co_task_mem_free(w);
    return hr;
}

static int32_t w_setup_volume(const char *layer, const char *volume, const char *options)
{
    return WIDE3(layer, volume, options, fn.HcsSetupBaseOSVolume(wa_, wb_, wc_));
}

static int32_t w_create_vhd(const char *path, const char *parent, uint64_t max_size,
                            uint32_t block_size, intptr_t *ret)
{
    VIRTUAL_STORAGE_TYPE type = {VIRTUAL_STORAGE_TYPE_DEVICE_VHDX, vendor_microsoft};
    CREATE_VIRTUAL_DISK_PARAMETERS p;
    WCHAR *wp = stk_win_utf16(path), *wparent = stk_win_utf16(parent);
    HANDLE h = NULL;
    DWORD e;

    memset(&p, 0, sizeof(p));
    p.Version = CREATE_VIRTUAL_DISK_VERSION_2;
    p.Version2.MaximumSize = max_size;
    p.Version2.BlockSizeInBytes = block_size;
    p.Version2.ParentPath = wparent; /* a differencing disk when set (go-winio CreateDiffVhd) */
    if (wparent)
        p.Version2.OpenFlags = OPEN_VIRTUAL_DISK_FLAG_CACHED_IO;
    e = fn.CreateVirtualDisk(&type, wp, VIRTUAL_DISK_ACCESS_NONE, NULL,
                             CREATE_VIRTUAL_DISK_FLAG_NONE, 0, &p, NULL, &h);
    free(wp);
    free(wparent);
    *ret = e == ERROR_SUCCESS ? (intptr_t)h : 0;
    return HRESULT_FROM_WIN32(e);
}

static int32_t w_open_vhd(const char *path, intptr_t *ret)
{
    VIRTUAL_STORAGE_TYPE type = {VIRTUAL_STORAGE_TYPE_DEVICE_VHDX, vendor_microsoft};
    OPEN_VIRTUAL_DISK_PARAMETERS p;
    WCHAR *wp = stk_win_utf16(path);
    HANDLE h = NULL;
    DWORD e;

    memset(&p, 0, sizeof(p));
    p.Version = OPEN_VIRTUAL_DISK_VERSION_2; /* needed with VIRTUAL_DISK_ACCESS_NONE */
    e = fn.OpenVirtualDisk(&type, wp, VIRTUAL_DISK_ACCESS_NONE, OPEN_VIRTUAL_DISK_FLAG_NONE, &p,
                           &h);
    free(wp);
    *ret = e == ERROR_SUCCESS ? (intptr_t)h : 0;
    return HRESULT_FROM_WIN32(e);
}

static int32_t w_attach_vhd(intptr_t vhd, uint32_t flags)
{
    ATTACH_VIRTUAL_DISK_PARAMETERS p;

    memset(&p, 0, sizeof(p));
    p.Version = ATTACH_VIRTUAL_DISK_VERSION_1;
    return HRESULT_FROM_WIN32(
        fn.AttachVirtualDisk((HANDLE)vhd, NULL, (ATTACH_VIRTUAL_DISK_FLAG)flags, 0, &p, NULL));
}

static int32_t w_detach_vhd(intptr_t vhd)
{
    return HRESULT_FROM_WIN32(fn.DetachVirtualDisk((HANDLE)vhd, DETACH_VIRTUAL_DISK_FLAG_NONE, 0));
}

static void w_close_handle(intptr_t h)
{
    if (h && (HANDLE)h != INVALID_HANDLE_VALUE)
        CloseHandle((HANDLE)h);
}

static int32_t w_copy_file(const char *src, const char *dst)
{
    WCHAR *a = stk_win_utf16(src), *b = stk_win_utf16(dst);
    BOOL ok = CopyFileW(a, b, TRUE);
    DWORD e = ok ? ERROR_SUCCESS : GetLastError();

    free(a);
    free(b);
    return HRESULT_FROM_WIN32(e);
}

/*
 * hcsshim internal/security GrantVmGroupAccess: an explicit GENERIC_READ
 * grant for the Virtual Machines group S-1-5-83-0 added to PATH's DACL.
 */
static int32_t w_grant_vm_group(const char *path)
{
    WCHAR *wp = stk_win_utf16(path);
    PSID sid = NULL;
    PACL old_dacl = NULL, new_dacl = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    EXPLICIT_ACCESSW ea;
    DWORD e;

    if (!ConvertStringSidToSidW(L"S-1-5-83-0", &sid)) {
        e = GetLastError();
        goto out;
    }
    e = GetNamedSecurityInfoW(wp, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &old_dacl,
                              NULL, &sd);
    if (e != ERROR_SUCCESS)
        goto out;
    memset(&ea, 0, sizeof(ea));
    ea.grfAccessPermissions = GENERIC_READ;
    ea.grfAccessMode = GRANT_ACCESS;
    ea.grfInheritance = NO_INHERITANCE;
    ea.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    ea.Trustee.TrusteeType = TRUSTEE_IS_GROUP;
    ea.Trustee.ptstrName = (LPWSTR)sid;
    e = SetEntriesInAclW(1, &ea, old_dacl, &new_dacl);
    if (e != ERROR_SUCCESS)
        goto out;
    e = SetNamedSecurityInfoW(wp, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, new_dacl,
                              NULL);
out:
    if (new_dacl)
        LocalFree(new_dacl);
    if (sd)
        LocalFree(sd);
    if (sid)
        LocalFree(sid);
    free(wp);
    return HRESULT_FROM_WIN32(e);
}

static void w_free_string(char *s)
{
    free(s);
}

static INIT_ONCE priv_once = INIT_ONCE_STATIC_INIT;
static DWORD priv_error; /* the Win32 error of enabling the privileges, 0 when enabled */

/*
 * Enables SeBackupPrivilege and SeRestorePrivilege in the process token
 * (go-winio privilege.go EnableProcessPrivileges): backup semantics then
 * bypass the files' DACLs and ACCESS_SYSTEM_SECURITY/WRITE_OWNER can be
 * granted. AdjustTokenPrivileges succeeds with ERROR_NOT_ALL_ASSIGNED when
 * the token lacks one (a caller that is not elevated): that is an error too.
 */
static BOOL CALLBACK enable_privileges(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
    static const WCHAR *const names[] = {L"SeBackupPrivilege", L"SeRestorePrivilege"};
    struct {
        DWORD count;
        LUID_AND_ATTRIBUTES p[2];
    } tp;
    HANDLE token = NULL;

    (void)o;
    (void)param;
    (void)ctx;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) {
        priv_error = GetLastError();
        return TRUE;
    }
    tp.count = 2;
    for (int i = 0; i < 2; i++) {
        if (!LookupPrivilegeValueW(NULL, names[i], &tp.p[i].Luid)) {
            priv_error = GetLastError();
            goto out;
        }
        tp.p[i].Attributes = SE_PRIVILEGE_ENABLED;
    }
    if (!AdjustTokenPrivileges(token, FALSE, (PTOKEN_PRIVILEGES)&tp, 0, NULL, NULL))
        priv_error = GetLastError();
    else
        priv_error = GetLastError(); /* ERROR_SUCCESS or ERROR_NOT_ALL_ASSIGNED */
out:
    CloseHandle(token);
    return TRUE;
}

/* hcs-storage-api.h apply_backup_stream: hcsshim legacy.go's order, basic info then BackupWrite. */
static int32_t w_apply_backup(const char *path, const void *stream, size_t len, uint32_t attributes,
                              int64_t creation_time)
{
    WCHAR *wp;
    HANDLE h;
    DWORD e = ERROR_SUCCESS;

    InitOnceExecuteOnce(&priv_once, enable_privileges, NULL, NULL);
    if (priv_error != ERROR_SUCCESS)
        return HRESULT_FROM_WIN32(priv_error);
    if (!path || len > MAXDWORD || (len && !stream))
        return E_INVALIDARG;
    wp = stk_win_utf16(path);
    h = CreateFileW(wp,
                    GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER | ACCESS_SYSTEM_SECURITY,
                    FILE_SHARE_READ, NULL, OPEN_EXISTING,
                    FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    free(wp);
    if (h == INVALID_HANDLE_VALUE)
        return HRESULT_FROM_WIN32(GetLastError());
    if (attributes || creation_time) {
        FILE_BASIC_INFO bi;

        memset(&bi, 0, sizeof(bi)); /* 0: leave that time unchanged (msdocs FILE_BASIC_INFO) */
        bi.CreationTime.QuadPart = creation_time;
        bi.FileAttributes = attributes;
        if (!SetFileInformationByHandle(h, FileBasicInfo, &bi, sizeof(bi)))
            e = GetLastError();
    }
    if (e == ERROR_SUCCESS && len) {
        LPVOID bctx = NULL;
        DWORD written = 0;

        if (!BackupWrite(h, (LPBYTE)stream, (DWORD)len, &written, FALSE, TRUE, &bctx))
            e = GetLastError();
        else if (written != (DWORD)len)
            e = ERROR_WRITE_FAULT;
        if (bctx)
            BackupWrite(h, NULL, 0, &written, TRUE, FALSE, &bctx); /* frees the context */
    }
    CloseHandle(h);
    return HRESULT_FROM_WIN32(e);
}

static struct hcs_storage_calls table = {
    .name = "computestorage.dll",
    .import_layer = w_import,
    .destroy_layer = w_destroy,
    .setup_base_os_layer = w_setup_base,
    .initialize_writable_layer = w_init_writable,
    .attach_layer_storage_filter = w_attach_filter,
    .detach_layer_storage_filter = w_detach_filter,
    .format_writable_layer_vhd = w_format,
    .get_layer_vhd_mount_path = w_mount_path,
    .create_virtual_disk = w_create_vhd,
    .open_virtual_disk = w_open_vhd,
    .attach_virtual_disk = w_attach_vhd,
    .detach_virtual_disk = w_detach_vhd,
    .close_handle = w_close_handle,
    .copy_file = w_copy_file,
    .grant_vm_group_access = w_grant_vm_group,
    .free_string = w_free_string,
    .apply_backup_stream = w_apply_backup,
};

static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static const struct hcs_storage_calls *loaded;
static char load_error[256];

#define UNAVAILABLE "Windows layer storage (computestorage.dll) is not available on this host"

static BOOL CALLBACK load_once(PINIT_ONCE o, PVOID param, PVOID *ctx)
{
    HMODULE cs = LoadLibraryExW(L"computestorage.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    HMODULE vd = cs ? LoadLibraryExW(L"virtdisk.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32) : NULL;
    HMODULE ole = LoadLibraryExW(L"ole32.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);

    (void)o;
    (void)param;
    (void)ctx;
    if (!cs || !vd) {
        snprintf(load_error, sizeof(load_error), UNAVAILABLE " (%s: error %lu)",
                 cs ? "virtdisk.dll" : "computestorage.dll", (unsigned long)GetLastError());
        return TRUE;
    }
#define CS__LOAD(dll, req, name)                                                                   \
    fn.name = (typeof(&name))(void (*)(void))GetProcAddress(dll, #name);                           \
    if (!fn.name && req) {                                                                         \
        snprintf(load_error, sizeof(load_error), UNAVAILABLE " (no %s)", #name);                   \
        return TRUE;                                                                               \
    }
#define CS__LOAD_CS(req, name) CS__LOAD(cs, req, name)
#define CS__LOAD_VD(req, name) CS__LOAD(vd, req, name)
    CS_FUNCS(CS__LOAD_CS)
    VD_FUNCS(CS__LOAD_VD)
#undef CS__LOAD_CS
#undef CS__LOAD_VD
#undef CS__LOAD
    co_task_mem_free =
        ole ? (co_task_mem_free_fn)(void (*)(void))GetProcAddress(ole, "CoTaskMemFree") : NULL;
    table.export_layer = fn.HcsExportLayer ? w_export : NULL;
    table.setup_base_os_volume = fn.HcsSetupBaseOSVolume ? w_setup_volume : NULL;
    loaded = &table;
    return TRUE;
}

const struct hcs_storage_calls *rt_hcs_storage_calls_win32(struct stk_err *err)
{
    InitOnceExecuteOnce(&once, load_once, NULL, NULL);
    if (!loaded)
        stk_err_set(err, STK_EUNAVAIL, 0, "%s", load_error);
    return loaded;
}
