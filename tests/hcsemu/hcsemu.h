/*
 * hcsemu.h - an emulator of HCS (computecore.dll), HCN (computenetwork.dll)
 * and the layer storage step, for the Linux tests of runtime/hcs and
 * netplugins/hns.
 *
 * It implements the function tables of runtime/hcs/hcs-api.h and
 * netplugins/hns/hns.h with the semantics ../shared/reference/hcs-hns.md
 * documents: compute-system and operation state machines, id uniqueness,
 * handles and callbacks, schema checks of every document against the
 * reference's field rules, HCS_E_IMAGE_MISMATCH for a process-isolated
 * container whose image build the §5.3 rule rejects on the emulated host,
 * HCN networks, endpoints (port conflicts, reserved addresses) and
 * namespaces (an endpoint joins one namespace only). It shows that the driver
 * is consistent with the reference, NOT how HCS behaves: where the reference
 * is silent the emulator makes a choice, marked "emulator choice" in
 * tests/support/hcsemu-*.c.
 *
 * Emulated processes interpret their command line: `cmd /c echo TEXT` writes
 * TEXT\r\n and exits 0, `cmd /c exit N` exits N, another `cmd /c` command
 * writes an error to stderr and exits 1; any other program writes
 * "started <command line>\r\n" and runs until it is signalled, terminated or
 * its compute system stops.
 *
 * The tables carry no context pointer (they mirror DLL exports), so there is
 * one current emulator per process, created by hcsemu_new(). Its sources live
 * in tests/support/hcsemu-*.c because tests/CMakeLists.txt links that folder
 * into every test.
 */
#ifndef HCSEMU_H
#define HCSEMU_H

#include <stdint.h>

#include "netplugins/hns/hns.h"
#include "runtime/hcs/hcs-api.h"
#include "runtime/hcs/hcs.h"

struct json_t;

/*
 * Creates the emulated host of version HOST_BUILD ("10.0.20348") and
 * EDITION ("server"/"client") and makes it current. Aborts if one exists.
 */
void hcsemu_new(const char *host_build, const char *edition);
/* Destroys the current emulator: every object, handle and pipe. */
void hcsemu_free(void);

/* The tables. */
const struct hcs_api *hcsemu_hcs_api(void);
const struct hcn_api *hcsemu_hcn_api(void);
const struct rt_hcs_storage_api *hcsemu_storage_api(void);

/*
 * The emulated computestorage.dll + virtdisk.dll (hcsemu-storage.c), for a
 * real storage made with rt_hcs_storage_new(). Layers it imports are known to
 * the emulated HCS, built for the os.version their HCSEMU_BUILD_FILE holds
 * (hcsemu-images.h), or for the emulated host when they have none.
 * hcsemu_storage_api() above is the older stand-in that skips the storage
 * sequence altogether.
 */
const struct hcs_storage_calls *hcsemu_storage_calls(void);
/* Imported layers, attached VHDs, attached storage filters, open VHD handles. */
int hcsemu_storage_count_layers(void);
int hcsemu_storage_count_attached(void);
int hcsemu_storage_count_filters(void);
int hcsemu_storage_count_handles(void);
/* Returns 1 when grant_vm_group_access() was called on PATH. */
int hcsemu_storage_granted(const char *path);
/*
 * Returns (new string) the storage calls made so far, one per line: the
 * entry's name and its arguments separated by spaces (LayerData documents
 * compact), e.g. "import_layer LAYER STAGING {...}".
 */
char *hcsemu_storage_trace(void);
void hcsemu_storage_trace_clear(void);
/*
 * What apply_backup_stream() was given for PATH (the staging path of an
 * extracted entry), from its last successful call: the stream bytes (a new
 * copy, free() it; NULL when the stream was empty), their length, the
 * attributes and the creation time. Returns the number of successful calls
 * for PATH (0: nothing is stored in the out-parameters). The emulator
 * refuses (E_INVALIDARG) a stream that rt_hcs_backup_check() rejects and a
 * call with nothing to apply, and (ERROR_FILE_NOT_FOUND) a PATH that does not
 * exist.
 */
int hcsemu_storage_backup_get(const char *path, void **ret_stream, size_t *ret_len,
                              uint32_t *ret_attributes, int64_t *ret_creation_time);
/* The number of successful apply_backup_stream() calls. */
int hcsemu_storage_count_backups(void);

/*
 * Registers an image layer DIGEST ("sha256:...") unpacked in folder
 * C:\ProgramData\stack\windowsfilter\<hex prefix>, built for OS_VERSION, with
 * a UtilityVM folder when HAS_UVM.
 */
void hcsemu_add_layer(const char *digest, const char *os_version, int has_uvm);

/* A value for hcsemu_inject(): the operation never completes. */
#define HCSEMU_NEVER_COMPLETES ((int32_t)0x7FFFFFFF)

/*
 * Makes the next call of the table entry named CALL ("start_compute_system",
 * "create_endpoint", ...) fail with HR: through its operation for HCS calls
 * that take one, as its return value otherwise. HCSEMU_NEVER_COMPLETES leaves
 * the operation pending forever (waits time out).
 */
void hcsemu_inject(const char *call, int32_t hr);

/* Counts of live objects, for leak checks. */
int hcsemu_count_systems(void);
int hcsemu_count_processes_running(void);
int hcsemu_count_open_handles(void);
int hcsemu_count_networks(void);
int hcsemu_count_endpoints(void);
int hcsemu_count_namespaces(void);
int hcsemu_count_scratches(void);
int hcsemu_count_hcn_handles(void);

/* Returns a new reference to the document compute system ID was created with, or NULL. */
struct json_t *hcsemu_system_document(const char *id);
/* Returns the state of compute system ID ("Created", "Running", "Stopped"), or NULL. */
const char *hcsemu_system_state(const char *id);
/* Simulates the container's init process exiting with CODE (first process of system ID). */
int hcsemu_exit_first_process(const char *id, uint32_t code);
/* Returns the NICs hot-added to utility VM ID, or -1 when it does not exist. */
int hcsemu_system_nics(const char *id);
/* The network table of the hcs driver over the emulated HCN (net_hns_namespace_endpoints()). */
const struct rt_net_peer *hcsemu_network_api(void);
/* Returns how many calls of the entry named CALL were made. */
int hcsemu_calls(const char *call);

/*
 * Compares DOC to the "document" member of DATA_DIR/hcs/NAME. Returns 1 when
 * equal; otherwise 0 and a report (caller frees) in *RET_REPORT.
 */
int hcsemu_golden_check(const char *data_dir, const char *name, struct json_t *doc,
                        char **ret_report);

/* Internal to the emulator's files. */
void hcsemu__lock(void);
void hcsemu__unlock(void);
int hcsemu__take_injection(const char *call, int32_t *ret_hr);
void hcsemu__count_call(const char *call);
int hcsemu__namespace_exists(const char *id);
int hcsemu__endpoint_exists(const char *id);
const char *hcsemu__host_build(void);
int hcsemu__layer_lookup(const char *path, char **ret_os_version, int *ret_has_uvm);
void hcsemu__hcn_free_all(void);
void hcsemu__hcs_free_all(void);
void hcsemu__storage_free_all(void);
void hcsemu__storage_calls_free_all(void);
int hcsemu__storage_layer_lookup(const char *path, char **ret_os_version, int *ret_has_uvm);
void hcsemu__guid(char out[37]);
void hcsemu__name_guid(const char *name, char out[37]);

#endif
