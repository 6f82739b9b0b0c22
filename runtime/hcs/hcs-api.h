/*
 * hcs-api.h - the HCS call layer: a function table mirroring computecore.dll
 * (reference/hcs-hns.md §3), taking UTF-8 strings and opaque handles so that
 * the driver's logic compiles and runs on every platform.
 *
 * Two implementations fill it: runtime/hcs/hcs-win32.c (Windows only) loads
 * computecore.dll with LoadLibraryExW + GetProcAddress and converts strings to
 * and from UTF-16; the HCS emulator in tests/support/hcsemu-*.c implements the
 * documented semantics on Linux. The driver (hcs-driver.c) only ever calls
 * through this table.
 *
 * Conventions of every entry:
 * - HRESULTs are int32_t; 0 (S_OK) is success, negative values are failures.
 *   common/win-error.h defines the HCS_E_* values and maps them to STK_E*.
 * - Strings handed in are UTF-8 and borrowed. Strings handed out (result
 *   documents) are new UTF-8 strings that the caller releases with
 *   api->free_string() (the glue frees the UTF-16 original with LocalFree).
 * - Handles are opaque pointers to incomplete structs; the Win32 glue casts
 *   HCS_OPERATION/HCS_SYSTEM/HCS_PROCESS to them.
 * - Every entry may block (HcsWaitForOperationResult blocks up to its
 *   timeout); the driver calls them from uv_queue_work threads only.
 * - Callbacks (operation completion, system and process events) arrive on a
 *   thread of HCS's own (or of the emulator), never on the loop thread.
 */
#ifndef RT_HCS_API_H
#define RT_HCS_API_H

#include <stdint.h>

struct hcs_operation; /* HCS_OPERATION */
struct hcs_system;    /* HCS_SYSTEM */
struct hcs_process;   /* HCS_PROCESS */

/* HCS_EVENT_TYPE values (msdocs HCS_EVENT_TYPE.md; reference §3.1). */
#define HCS_EVENT_INVALID 0x00000000u
#define HCS_EVENT_SYSTEM_EXITED 0x00000001u
#define HCS_EVENT_SYSTEM_CRASH_INITIATED 0x00000002u
#define HCS_EVENT_SYSTEM_CRASH_REPORT 0x00000003u
#define HCS_EVENT_SYSTEM_GUEST_CONNECTION_CLOSED 0x00000006u
#define HCS_EVENT_PROCESS_EXITED 0x00010000u
#define HCS_EVENT_OPERATION_CALLBACK 0x01000000u
#define HCS_EVENT_SERVICE_DISCONNECT 0x02000000u

/* HCS_EVENT_OPTIONS values (HCS_EVENT_OPTIONS.md). Option 4 is deliberately not defined (errata).
 */
#define HCS_EVENT_OPTION_NONE 0u
#define HCS_EVENT_OPTION_ENABLE_OPERATION_CALLBACKS 1u

/* GENERIC_ALL, the access HcsOpenComputeSystem is documented with. */
#define HCS_GENERIC_ALL 0x10000000u

/* INFINITE for the timeouts of the wait calls. */
#define HCS_INFINITE 0xFFFFFFFFu

/* HCS_EVENT: Type, EventData (a JSON document or NULL, borrowed), Operation. */
struct hcs_event {
    uint32_t type;
    const char *event_data;
    struct hcs_operation *operation;
};

/*
 * HCS_PROCESS_INFORMATION. The stdio handles are HANDLEs on Windows and pipe
 * file descriptors in the emulator; the driver only passes them to
 * api->read_handle()/api->close_handle(). -1 or 0 means "not created"
 * (HCS creates only the pipes the parameters asked for).
 */
struct hcs_process_information {
    uint32_t process_id;
    intptr_t std_input;
    intptr_t std_output;
    intptr_t std_error;
};

/* HCS_OPERATION_COMPLETION. */
typedef void hcs_operation_completion_fn(struct hcs_operation *op, void *context);
/* HCS_EVENT_CALLBACK. EVENT is valid only during the call. */
typedef void hcs_event_fn(const struct hcs_event *event, void *context);

struct hcs_api {
    const char *name; /* "computecore.dll" or "hcsemu" */

    /* HcsCreateOperation; NULL on allocation failure. */
    struct hcs_operation *(*create_operation)(void *context, hcs_operation_completion_fn *cb);
    /* HcsCloseOperation. */
    void (*close_operation)(struct hcs_operation *op);
    /* HcsWaitForOperationResult; *RET_RESULT (may be NULL) receives the result document. */
    int32_t (*wait_for_operation_result)(struct hcs_operation *op, uint32_t timeout_ms,
                                         char **ret_result);
    /* HcsGetOperationResult: non-blocking, HCS_E_OPERATION_PENDING while running. */
    int32_t (*get_operation_result)(struct hcs_operation *op, char **ret_result);
    /* HcsWaitForOperationResultAndProcessInfo. */
    int32_t (*wait_for_operation_result_and_process_info)(struct hcs_operation *op,
                                                          uint32_t timeout_ms,
                                                          struct hcs_process_information *ret_info,
                                                          char **ret_result);

    /* HcsCreateComputeSystem (the security descriptor is always NULL). */
    int32_t (*create_compute_system)(const char *id, const char *configuration,
                                     struct hcs_operation *op, struct hcs_system **ret_system);
    /* HcsOpenComputeSystem. */
    int32_t (*open_compute_system)(const char *id, uint32_t requested_access,
                                   struct hcs_system **ret_system);
    /* HcsStartComputeSystem / HcsShutDownComputeSystem / HcsTerminateComputeSystem. */
    int32_t (*start_compute_system)(struct hcs_system *sys, struct hcs_operation *op,
                                    const char *options);
    int32_t (*shutdown_compute_system)(struct hcs_system *sys, struct hcs_operation *op,
                                       const char *options);
    int32_t (*terminate_compute_system)(struct hcs_system *sys, struct hcs_operation *op,
                                        const char *options);
    /* HcsGetComputeSystemProperties: the operation's result is a Properties document. */
    int32_t (*get_compute_system_properties)(struct hcs_system *sys, struct hcs_operation *op,
                                             const char *property_query);
    /* HcsModifyComputeSystem (identity handle always NULL). */
    int32_t (*modify_compute_system)(struct hcs_system *sys, struct hcs_operation *op,
                                     const char *configuration);
    /* HcsEnumerateComputeSystems: the operation's result is a JSON array of Properties. */
    int32_t (*enumerate_compute_systems)(const char *query, struct hcs_operation *op);
    /* HcsSetComputeSystemCallback. */
    int32_t (*set_compute_system_callback)(struct hcs_system *sys, uint32_t options, void *context,
                                           hcs_event_fn *cb);
    /* HcsCloseComputeSystem. */
    void (*close_compute_system)(struct hcs_system *sys);

    /* HcsCreateProcess (security descriptor NULL). */
    int32_t (*create_process)(struct hcs_system *sys, const char *process_parameters,
                              struct hcs_operation *op, struct hcs_process **ret_process);
    /* HcsGetProcessProperties: the operation's result is a ProcessStatus document. */
    int32_t (*get_process_properties)(struct hcs_process *proc, struct hcs_operation *op,
                                      const char *property_query);
    /* HcsSignalProcess / HcsTerminateProcess / HcsModifyProcess. */
    int32_t (*signal_process)(struct hcs_process *proc, struct hcs_operation *op,
                              const char *options);
    int32_t (*terminate_process)(struct hcs_process *proc, struct hcs_operation *op,
                                 const char *options);
    int32_t (*modify_process)(struct hcs_process *proc, struct hcs_operation *op,
                              const char *settings);
    /* HcsSetProcessCallback. */
    int32_t (*set_process_callback)(struct hcs_process *proc, uint32_t options, void *context,
                                    hcs_event_fn *cb);
    /* HcsCloseProcess. */
    void (*close_process)(struct hcs_process *proc);

    /*
     * Optional: exported only by newer hosts (Windows Server 2022+, reference
     * §3 and errata). NULL when GetProcAddress did not find them; the driver
     * then waits for the exit event instead.
     */
    int32_t (*wait_for_process_exit)(struct hcs_process *proc, uint32_t timeout_ms,
                                     char **ret_result);
    int32_t (*wait_for_compute_system_exit)(struct hcs_system *sys, uint32_t timeout_ms,
                                            char **ret_result);
    /* Optional: HcsGetServiceProperties, HcsGrantVmAccess. */
    int32_t (*get_service_properties)(const char *property_query, char **ret_result);
    int32_t (*grant_vm_access)(const char *vm_id, const char *file_path);

    /*
     * Stdio pipe helpers (ReadFile/CloseHandle on Windows, read/close in the
     * emulator). read_handle stores 0 in *RET_READ at end of file.
     */
    int32_t (*read_handle)(intptr_t h, void *buf, uint32_t size, uint32_t *ret_read);
    int32_t (*write_handle)(intptr_t h, const void *buf, uint32_t size);
    void (*close_handle)(intptr_t h);
    /* Releases a string the table handed out; NULL-safe. */
    void (*free_string)(char *s);
};

#endif
