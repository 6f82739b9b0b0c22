/*
 * win-error.h - HRESULT and Win32 codes → STK_E* (STYLE.md rule 16), in
 * portable C: the Windows glue and the HCS/HCN emulator of the Linux tests
 * report through the same table, as libuv's uv_translate_sys_error does.
 *
 * The HCS_E_* and HCN_E_* values are defined here because the mingw-w64
 * headers do not define them (reference/hcs-hns.md errata). Values and texts
 * come from reference/hcs-hns.md §3.3 (msdocs HCSHResult.md) and §4.4
 * (HCNHResult.md); 0x803B002F comes from moby/moby#47576
 * (reference/compose-and-orchestrators.md §3) and its name is the project's.
 */
#ifndef STK_WIN_ERROR_H
#define STK_WIN_ERROR_H

#include <stdint.h>

#include "stk-err.h"

#define STK_HR(v) ((int32_t)(uint32_t)(v))

#define STK_WIN_ERROR_MAP(X)                                                                       \
    X(S_OK, 0x00000000u, 0, "success")                                                             \
    X(E_NOTIMPL, 0x80004001u, STK_ENOTSUP, "not implemented")                                      \
    X(E_FAIL, 0x80004005u, STK_ERUNTIME, "unspecified failure")                                    \
    X(E_ACCESSDENIED, 0x80070005u, STK_EPERM, "access is denied")                                  \
    X(E_OUTOFMEMORY, 0x8007000Eu, STK_ENOMEM, "not enough memory")                                 \
    X(E_INVALIDARG, 0x80070057u, STK_EINVAL, "the parameter is incorrect")                         \
    X(HRESULT_ERROR_FILE_NOT_FOUND, 0x80070002u, STK_ENOENT,                                       \
      "the system cannot find the file specified")                                                 \
    X(HRESULT_ERROR_MOD_NOT_FOUND, 0x8007007Eu, STK_EUNAVAIL,                                      \
      "the specified module could not be found")                                                   \
    X(HRESULT_ERROR_PROC_NOT_FOUND, 0x8007007Fu, STK_EUNAVAIL,                                     \
      "the specified procedure could not be found")                                                \
    X(HRESULT_ERROR_ALREADY_EXISTS, 0x800700B7u, STK_EEXIST,                                       \
      "cannot create a file when that file already exists")                                        \
    X(HRESULT_ERROR_NOT_FOUND, 0x80070490u, STK_ENOENT, "element not found")                       \
    X(ERROR_NOT_FOUND, 0x00000490u, STK_ENOENT, "element not found")                               \
    X(HCS_E_TERMINATED_DURING_START, 0x80370100u, STK_ERUNTIME,                                    \
      "the compute system exited while it was starting")                                           \
    X(HCS_E_IMAGE_MISMATCH, 0x80370101u, STK_EIMAGE,                                               \
      "the container operating system does not match the host operating system")                   \
    X(HCS_E_HYPERV_NOT_INSTALLED, 0x80370102u, STK_EUNAVAIL,                                       \
      "a required feature (Hyper-V) is not installed")                                             \
    X(HCS_E_INVALID_STATE, 0x80370105u, STK_ERUNTIME,                                              \
      "the operation is not valid in the compute system's current state")                          \
    X(HCS_E_UNEXPECTED_EXIT, 0x80370106u, STK_ERUNTIME, "the compute system exited unexpectedly")  \
    X(HCS_E_TERMINATED, 0x80370107u, STK_ERUNTIME, "the compute system was terminated")            \
    X(HCS_E_CONNECT_FAILED, 0x80370108u, STK_ERUNTIME, "the connection to the guest failed")       \
    X(HCS_E_CONNECTION_TIMEOUT, 0x80370109u, STK_ETIMEDOUT,                                        \
      "the connection to the guest timed out")                                                     \
    X(HCS_E_CONNECTION_CLOSED, 0x8037010Au, STK_ERUNTIME, "the connection to the guest closed")    \
    X(HCS_E_INVALID_JSON, 0x8037010Du, STK_EINVAL, "the JSON document is invalid")                 \
    X(HCS_E_SYSTEM_NOT_FOUND, 0x8037010Eu, STK_ENOENT, "the compute system does not exist")        \
    X(HCS_E_SYSTEM_ALREADY_EXISTS, 0x8037010Fu, STK_EEXIST, "the compute system already exists")   \
    X(HCS_E_SYSTEM_ALREADY_STOPPED, 0x80370110u, STK_ERUNTIME,                                     \
      "the compute system is already stopped")                                                     \
    X(HCS_E_INVALID_LAYER, 0x80370112u, STK_EIMAGE, "the layer format is not recognised")          \
    X(HCS_E_OPERATION_NOT_STARTED, 0x80370115u, STK_EINVAL, "the operation was not started")       \
    X(HCS_E_OPERATION_ALREADY_STARTED, 0x80370116u, STK_EBUSY,                                     \
      "the operation was already started")                                                         \
    X(HCS_E_OPERATION_PENDING, 0x80370117u, STK_EBUSY, "the operation is still pending")           \
    X(HCS_E_OPERATION_TIMEOUT, 0x80370118u, STK_ETIMEDOUT, "the operation timed out")              \
    X(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, 0x80370119u, STK_EINVAL,                        \
      "a system callback with operation callbacks is already set")                                 \
    X(HCS_E_ACCESS_DENIED, 0x8037011Bu, STK_EPERM,                                                 \
      "access is denied (run as an administrator or a member of Hyper-V Administrators)")          \
    X(HCS_E_SERVICE_DISCONNECT, 0x8037011Eu, STK_EUNAVAIL, "the compute service disconnected")     \
    X(HCS_E_PROCESS_ALREADY_STOPPED, 0x8037011Fu, STK_ERUNTIME, "the process is already stopped")  \
    X(VMCOMPUTE_E_PENDING, 0xC0370103u, STK_EBUSY, "the operation is pending (legacy API)")        \
    X(VMCOMPUTE_E_IMAGE_MISMATCH, 0xC0370101u, STK_EIMAGE,                                         \
      "the operating system of the container does not match the operating system of the host")     \
    X(VMCOMPUTE_E_SYSTEM_NOT_FOUND, 0xC037010Eu, STK_ENOENT, "the compute system does not exist")  \
    X(VMCOMPUTE_E_SYSTEM_ALREADY_STOPPED, 0xC0370110u, STK_ERUNTIME,                               \
      "the compute system is already stopped")                                                     \
    X(HCN_E_NETWORK_NOT_FOUND, 0x803B0001u, STK_ENOENT, "the network was not found")               \
    X(HCN_E_ENDPOINT_NOT_FOUND, 0x803B0002u, STK_ENOENT, "the endpoint was not found")             \
    X(HCN_E_INVALID_NETWORK_TYPE, 0x803B000Bu, STK_EINVAL, "the network type is invalid")          \
    X(HCN_E_PORT_ALREADY_EXISTS, 0x803B0013u, STK_EBUSY, "the port mapping already exists")        \
    X(HCN_E_MAPPING_NOT_SUPPORTED, 0x803B0016u, STK_ENOTSUP,                                       \
      "port mapping is not supported on the given network")                                        \
    X(HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS, 0x803B002Bu, STK_EEXIST,                            \
      "the endpoint is already attached to a namespace")                                           \
    X(HCN_E_ADDR_INVALID_OR_RESERVED, 0x803B002Fu, STK_ENET,                                       \
      "an address provided is invalid or reserved")

#define STK__WIN_DEFINE(name, value, code, text) STK_WIN_##name = STK_HR(value),
enum stk_win_hresult { STK_WIN_ERROR_MAP(STK__WIN_DEFINE) };
#undef STK__WIN_DEFINE

/* The names the Windows documentation uses, unless a header already defines them. */
#ifndef HCS_E_IMAGE_MISMATCH
#define HCS_E_TERMINATED_DURING_START STK_WIN_HCS_E_TERMINATED_DURING_START
#define HCS_E_IMAGE_MISMATCH STK_WIN_HCS_E_IMAGE_MISMATCH
#define HCS_E_HYPERV_NOT_INSTALLED STK_WIN_HCS_E_HYPERV_NOT_INSTALLED
#define HCS_E_INVALID_STATE STK_WIN_HCS_E_INVALID_STATE
#define HCS_E_UNEXPECTED_EXIT STK_WIN_HCS_E_UNEXPECTED_EXIT
#define HCS_E_TERMINATED STK_WIN_HCS_E_TERMINATED
#define HCS_E_INVALID_JSON STK_WIN_HCS_E_INVALID_JSON
#define HCS_E_SYSTEM_NOT_FOUND STK_WIN_HCS_E_SYSTEM_NOT_FOUND
#define HCS_E_SYSTEM_ALREADY_EXISTS STK_WIN_HCS_E_SYSTEM_ALREADY_EXISTS
#define HCS_E_SYSTEM_ALREADY_STOPPED STK_WIN_HCS_E_SYSTEM_ALREADY_STOPPED
#define HCS_E_INVALID_LAYER STK_WIN_HCS_E_INVALID_LAYER
#define HCS_E_OPERATION_NOT_STARTED STK_WIN_HCS_E_OPERATION_NOT_STARTED
#define HCS_E_OPERATION_ALREADY_STARTED STK_WIN_HCS_E_OPERATION_ALREADY_STARTED
#define HCS_E_OPERATION_PENDING STK_WIN_HCS_E_OPERATION_PENDING
#define HCS_E_OPERATION_TIMEOUT STK_WIN_HCS_E_OPERATION_TIMEOUT
#define HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET                                                \
    STK_WIN_HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET
#define HCS_E_ACCESS_DENIED STK_WIN_HCS_E_ACCESS_DENIED
#define HCS_E_SERVICE_DISCONNECT STK_WIN_HCS_E_SERVICE_DISCONNECT
#define HCS_E_PROCESS_ALREADY_STOPPED STK_WIN_HCS_E_PROCESS_ALREADY_STOPPED
#endif
#ifndef HCN_E_NETWORK_NOT_FOUND
#define HCN_E_NETWORK_NOT_FOUND STK_WIN_HCN_E_NETWORK_NOT_FOUND
#define HCN_E_ENDPOINT_NOT_FOUND STK_WIN_HCN_E_ENDPOINT_NOT_FOUND
#define HCN_E_INVALID_NETWORK_TYPE STK_WIN_HCN_E_INVALID_NETWORK_TYPE
#define HCN_E_PORT_ALREADY_EXISTS STK_WIN_HCN_E_PORT_ALREADY_EXISTS
#define HCN_E_MAPPING_NOT_SUPPORTED STK_WIN_HCN_E_MAPPING_NOT_SUPPORTED
#define HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS STK_WIN_HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS
#define HCN_E_ADDR_INVALID_OR_RESERVED STK_WIN_HCN_E_ADDR_INVALID_OR_RESERVED
#endif

/*
 * Returns the STK_E* code of HR: 0 for success codes (HR >= 0 except the raw
 * Win32 ERROR_NOT_FOUND), the table's code for known values, STK_ENET for
 * other HCN (0x803Bxxxx) failures and STK_ERUNTIME for any other failure.
 */
int stk_win_err_code(int32_t hr);

/* Returns the static symbolic name of HR ("HCS_E_IMAGE_MISMATCH"), or NULL if unknown. */
const char *stk_win_hresult_name(int32_t hr);

/* Returns the static description of HR, or NULL if unknown. */
const char *stk_win_hresult_text(int32_t hr);

/*
 * Returns non-zero when HR means "does not exist" (hcsshim IsNotExist: the HCS
 * not-found codes, ERROR_NOT_FOUND raw or as an HRESULT, the HCN not-found
 * codes), or "already stopped" (hcsshim IsAlreadyStopped) respectively.
 */
int stk_win_hresult_is_not_found(int32_t hr);
int stk_win_hresult_is_already_stopped(int32_t hr);

/*
 * Fills ERR from HR: code = stk_win_err_code(HR), os_code = HR, message =
 * the formatted context followed by ": <text> (<NAME>, 0x<HR>)", and detail =
 * a copy of DETAIL (the result or error-record document HCS/HCN returned; may
 * be NULL). Unknown values read "HRESULT 0x<HR>". Returns the code. ERR may be
 * NULL.
 */
int stk_err_set_hresult(struct stk_err *err, int32_t hr, const char *detail, const char *fmt, ...)
    STK_PRINTF(4, 5);

#endif
