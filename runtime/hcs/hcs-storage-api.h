/*
 * hcs-storage-api.h - the layer storage call layer: a function table
 * mirroring computestorage.dll (msdocs virtualization/api/hcs/Reference
 * Hcs*Layer*.md; mingw-w64 computestorage.h) plus the few virtdisk.dll and
 * kernel32/advapi32 calls the layer and scratch sequence needs, with UTF-8
 * strings and opaque handles, so that the sequence (hcs-storage.c) compiles
 * and runs on every platform.
 *
 * Two implementations fill it: runtime/hcs/hcs-storage-win32.c (Windows
 * only) loads computestorage.dll and virtdisk.dll with LoadLibraryExW +
 * GetProcAddress; the emulator in tests/support/hcsemu-storage.c implements
 * the documented semantics on Linux (hcsemu_storage_calls()).
 *
 * Conventions of every entry (the same as hcs-api.h):
 * - HRESULTs are int32_t; 0 (S_OK) is success, negative values are failures.
 *   virtdisk.dll and kernel32 return Win32 error codes: the glue converts
 *   them with HRESULT_FROM_WIN32, so every entry reports an HRESULT.
 * - Strings handed in are UTF-8 and borrowed. Strings handed out are new
 *   UTF-8 strings released with calls->free_string().
 * - A virtual disk handle is an intptr_t holding the HANDLE (the emulator
 *   numbers its handles); 0 is "no handle", which is what
 *   HcsSetupBaseOSLayer takes for a container base layer.
 * - Every entry blocks (imports copy whole layers); the driver calls them from
 *   uv_queue_work threads only.
 */
#ifndef RT_HCS_STORAGE_API_H
#define RT_HCS_STORAGE_API_H

#include <stddef.h>
#include <stdint.h>

/* ATTACH_VIRTUAL_DISK_FLAG values (msdocs ATTACH_VIRTUAL_DISK_FLAG, virtdisk.h). */
#define HCS_VHD_ATTACH_NONE 0x00000000u
#define HCS_VHD_ATTACH_READ_ONLY 0x00000001u
#define HCS_VHD_ATTACH_NO_DRIVE_LETTER 0x00000002u
#define HCS_VHD_ATTACH_PERMANENT_LIFETIME 0x00000004u

struct hcs_storage_calls {
    const char *name; /* "computestorage.dll" or "hcsemu" */

    /* ---- computestorage.dll ---- */

    /*
     * HcsImportLayer(layerPath, sourceFolderPath, layerData): imports the
     * layer whose files (Files\, Hives\, UtilityVM\, tombstones.txt) are in
     * SOURCE_FOLDER_PATH into the layer folder LAYER_PATH; LAYER_DATA is the
     * LayerData document of its parents (topmost first).
     */
    int32_t (*import_layer)(const char *layer_path, const char *source_folder_path,
                            const char *layer_data);
    /* Optional (NULL allowed): HcsExportLayer(layerPath, exportFolderPath, layerData, options). */
    int32_t (*export_layer)(const char *layer_path, const char *export_folder_path,
                            const char *layer_data, const char *options);
    /* HcsDestroyLayer(layerPath): deletes a layer folder (read-only or writable). */
    int32_t (*destroy_layer)(const char *layer_path);
    /*
     * HcsSetupBaseOSLayer(layerPath, vhdHandle, options): OPTIONS is an
     * OsLayerOptions document ({"Type":"Container"} with VHD 0, or
     * {"Type":"Vm"} with the attached SystemTemplateBase.vhdx; hcsshim
     * computestorage/setup.go).
     */
    int32_t (*setup_base_os_layer)(const char *layer_path, intptr_t vhd, const char *options);
    /* HcsInitializeWritableLayer(writableLayerPath, layerData, options); OPTIONS must be NULL. */
    int32_t (*initialize_writable_layer)(const char *writable_layer_path, const char *layer_data,
                                         const char *options);
    /* HcsAttachLayerStorageFilter(layerPath, layerData): the unified view of the layers. */
    int32_t (*attach_layer_storage_filter)(const char *layer_path, const char *layer_data);
    /* HcsDetachLayerStorageFilter(layerPath). */
    int32_t (*detach_layer_storage_filter)(const char *layer_path);
    /* HcsFormatWritableLayerVhd(vhdHandle): partitions and formats a VHD for a writable layer. */
    int32_t (*format_writable_layer_vhd)(intptr_t vhd);
    /*
     * HcsGetLayerVhdMountPath(vhdHandle, &mountPath): the volume path
     * (\\?\Volume{GUID}\) of an attached writable-layer VHD; *RET_MOUNT_PATH
     * is a new string (the glue frees the original with CoTaskMemFree, as
     * hcsshim computestorage/mount.go does).
     */
    int32_t (*get_layer_vhd_mount_path)(intptr_t vhd, char **ret_mount_path);
    /* Optional (NULL allowed; build 19645+): HcsSetupBaseOSVolume(layerPath, volumePath, options).
     */
    int32_t (*setup_base_os_volume)(const char *layer_path, const char *volume_path,
                                    const char *options);

    /* ---- virtdisk.dll (VHDX only, VIRTUAL_DISK_ACCESS_NONE, version 2 parameters) ---- */

    /*
     * CreateVirtualDisk: a dynamic VHDX at PATH of MAX_SIZE bytes with
     * BLOCK_SIZE-byte blocks, or, with PARENT_PATH non-NULL, a differencing
     * disk over PARENT_PATH (MAX_SIZE 0; go-winio vhd.CreateDiffVhd). Stores
     * the open handle in *RET_VHD (close it with close_handle).
     */
    int32_t (*create_virtual_disk)(const char *path, const char *parent_path, uint64_t max_size,
                                   uint32_t block_size, intptr_t *ret_vhd);
    /* OpenVirtualDisk (OPEN_VIRTUAL_DISK_FLAG_NONE): stores the handle in *RET_VHD. */
    int32_t (*open_virtual_disk)(const char *path, intptr_t *ret_vhd);
    /* AttachVirtualDisk(handle, NULL, FLAGS (HCS_VHD_ATTACH_*), 0, version 1, NULL). */
    int32_t (*attach_virtual_disk)(intptr_t vhd, uint32_t flags);
    /* DetachVirtualDisk(handle, DETACH_VIRTUAL_DISK_FLAG_NONE, 0). */
    int32_t (*detach_virtual_disk)(intptr_t vhd);
    /* CloseHandle on a virtual disk handle; 0 is ignored. */
    void (*close_handle)(intptr_t vhd);

    /* ---- host file helpers ---- */

    /* CopyFileW(src, dst, bFailIfExists = TRUE). */
    int32_t (*copy_file)(const char *src, const char *dst);
    /*
     * Grants the Virtual Machines group (S-1-5-83-0) read access to PATH, as
     * hcsshim's security.GrantVmGroupAccess does for the VHDs a utility VM
     * opens (GetNamedSecurityInfoW + SetEntriesInAclW + SetNamedSecurityInfoW).
     */
    int32_t (*grant_vm_group_access)(const char *path);
    /* Releases a string the table handed out; NULL-safe. */
    void (*free_string)(char *s);

    /* ---- Windows file metadata (kernel32/advapi32 backup APIs) ---- */

    /*
     * Applies the Windows metadata of one extracted layer entry to the
     * existing file or directory PATH (in the staging folder, before
     * HcsImportLayer), as hcsshim's legacy layer writer does
     * (internal/wclayer/legacy.go, go-winio backup.go):
     * - opens PATH with CreateFileW(GENERIC_READ | GENERIC_WRITE | WRITE_DAC |
     *   WRITE_OWNER | ACCESS_SYSTEM_SECURITY, FILE_SHARE_READ, OPEN_EXISTING,
     *   FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT), with
     *   SeBackupPrivilege and SeRestorePrivilege enabled in the process token
     *   (once, AdjustTokenPrivileges);
     * - when ATTRIBUTES or CREATION_TIME is non-zero,
     *   SetFileInformationByHandle(FileBasicInfo) with FileAttributes =
     *   ATTRIBUTES and CreationTime = CREATION_TIME (a FILETIME) and every
     *   other field 0, which FILE_BASIC_INFO defines as "leave unchanged";
     * - when LEN is non-zero, BackupWrite(bProcessSecurity = TRUE) of the
     *   LEN bytes at STREAM: a chain of WIN32_STREAM_ID records
     *   (BACKUP_SECURITY_DATA, BACKUP_EA_DATA, BACKUP_REPARSE_DATA; built by
     *   rt_hcs_backup_build(), hcs-wclayer.h), then BackupWrite(bAbort) to
     *   release its context.
     * STREAM is borrowed. Returns S_OK or the HRESULT of the failed call.
     */
    int32_t (*apply_backup_stream)(const char *path, const void *stream, size_t len,
                                   uint32_t attributes, int64_t creation_time);
};

#endif
