/*
 * hcs.h - the Windows runtime driver (HCS, computecore.dll): its portable
 * logic. Documents, command-line quoting, isolation resolution and version
 * matching, and the driver built on the call layer of hcs-api.h.
 *
 * Everything here is portable C and runs in the Linux unit tests against the
 * HCS emulator of tests/support/hcsemu-*.c; only hcs-win32.c touches Windows.
 * The facts implemented are those of ../shared/reference/hcs-hns.md ("the
 * reference" below); each function names the section it follows.
 *
 * Hyper-V isolation: the schema-v2 utility VM hosting the container.
 * The reference (§2.1) documents two ways. moby's schema-v1 document with
 * `HvPartition: true` is accepted only by the legacy vmcompute.dll API
 * (§0, §1.4): computecore.dll, the API this driver is written against, is
 * documented for schema 2.x only, and mixing in the v1 API would mean a
 * second DLL, a second asynchronous model (0xC0370103 pending plus
 * registered callbacks) and a document generation HCS no longer extends.
 * The schema-v2 path needs only computecore.dll: the driver creates a utility
 * VM "<id>@vm" (§2.2: UEFI boot from the base layer's UtilityVM\Files shared
 * over VSMB as "os", its scratch at SCSI 0:0, explicit ComputeTopology memory
 * and processors, HvSocket) and then the container in it with a second
 * HcsCreateComputeSystem whose document carries `HostingSystemId` and
 * `HostedSystem` (§2.4 "Via HCS"). Because the driver has no GCS bridge of
 * its own, the VM document sets `GuestConnection: {}` so that HCS itself
 * talks to the in-guest compute service (the arrangement hcsshim used before
 * its external bridge, §2.2). Layer folders and mapped directories reach the
 * guest as read-only VSMB shares; the hosted container names them by their
 * VSMB paths (§2.3, §2.4). The utility VM's memory is always explicit:
 * 1024 MB (hcsshim's default, errata) unless the service's memory limit says
 * otherwise (rounded up to an even number of MB).
 *
 * Process isolation follows §1.1-§1.3 (Container document, schema 2.1).
 * ShouldTerminateOnLastHandleClosed is false in every document the driver
 * sends: the CLI process that created a container exits after `up -d`
 * (DESIGN.md §3), and closing its handles must not kill the container;
 * `delete` terminates explicitly.
 */
#ifndef RT_HCS_H
#define RT_HCS_H

#include <stddef.h>
#include <stdint.h>

#include "common/stk-err.h"
#include "runtime/hcs/hcs-api.h"
#include "runtime/hcs/hcs-storage-api.h"
#include "runtime/rt-driver.h"
#include "stk-config.h"

struct json_t;

/* The Owner of every compute system the product creates (DESIGN.md §3). */
#define RT_HCS_OWNER "stack"

/* The VSMB root of paths inside a utility VM (reference §2.3, hcsshim internal/uvm/vsmb.go). */
#define RT_HCS_VSMB_ROOT "\\\\?\\VMSMB\\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}"

/* Default utility VM memory in MB (hcsshim newDefaultOptions; reference errata §2/§7). */
#define RT_HCS_UVM_DEFAULT_MEMORY_MB 1024
/* Default utility VM processor count when the service sets no CPU limit (hcsshim default). */
#define RT_HCS_UVM_DEFAULT_PROCESSORS 2

/* One read-only layer of the container (Storage.Layers entry, reference §1.2). */
struct rt_hcs_layer {
    const char *id;   /* GUID string, NameToGuid(folder base name); borrowed */
    const char *path; /* layer folder on the host; borrowed */
};

/*
 * What the document builders need, all borrowed. The driver fills it from a
 * struct rt_container_spec and the storage step's result.
 */
struct rt_hcs_container_config {
    const char *id;       /* compute system id (not in the document, §1.1) */
    const char *owner;    /* NULL: RT_HCS_OWNER */
    const char *hostname; /* GuestOs.HostName; NULL: omitted */
    enum rt_isolation isolation;
    const struct rt_hcs_layer *layers; /* topmost read-only layer first, base layer last */
    size_t n_layers;
    const char *scratch_volume;    /* process: \\?\Volume{GUID}\ of the mounted scratch */
    const char *scratch_dir;       /* hyperv: the container's scratch folder (sandbox.vhdx,
                                      vm\sandbox.vhdx live in it) */
    const char *uvm_image_path;    /* hyperv: <base layer>\UtilityVM (§2.3) */
    const struct rt_mount *mounts; /* binds only: HostPath/ContainerPath/ReadOnly */
    size_t n_mounts;
    const struct rt_pipe *pipes;
    size_t n_pipes;
    const struct rt_device *devices; /* "class/GUID", "class://GUID", "vpci-class-guid://GUID",
                                        "vpci-location-path://PATH" in host_path */
    size_t n_devices;
    const char *namespace_id;      /* HCN namespace GUID, NULL: no networking */
    const char *const *dns_search; /* NULL-terminated, NULL: none */
    int64_t memory_bytes;          /* 0: unlimited */
    int64_t nano_cpus;             /* 0: unlimited */
    unsigned host_cpus;            /* CPUs of the host, for Processor.Maximum (>= 1) */
    int terminate_on_last_handle;  /* ShouldTerminateOnLastHandleClosed */
};

/*
 * Builds the ComputeSystem document of a process-isolated container
 * (reference §1.1-§1.3, schema 2.1). Returns a new reference in *RET_DOC.
 * Errors: STK_EINVAL for a config the schema cannot express (a non-bind
 * mount, a pipe path without the \\.\pipe\ prefix, an unknown device form,
 * no layers or no scratch volume).
 */
int rt_hcs_doc_container(const struct rt_hcs_container_config *cfg, struct json_t **ret_doc,
                         struct stk_err *err);

/* Returns the utility VM id of container ID ("<id>@vm", reference §2.2); caller frees. */
char *rt_hcs_uvm_id(const char *id);

/* Returns the utility VM's memory in MB for MEMORY_BYTES (0: the 1024 MB default), even. */
uint64_t rt_hcs_uvm_memory_mb(int64_t memory_bytes);

/*
 * Builds the utility VM document of a Hyper-V isolated container (reference
 * §2.2 and §2.3): VSMB share "os" for booting plus one read-only share per
 * layer ("l<N>", N from 0 topmost) and per mapped directory ("m<N>"), UVM
 * scratch vm\sandbox.vhdx at SCSI 0:0 and the container scratch sandbox.vhdx
 * at SCSI 0:1. Returns a new reference. Errors: STK_EINVAL (missing
 * uvm_image_path or scratch_dir, devices requested: device assignment is not
 * supported for Hyper-V isolated containers).
 */
int rt_hcs_doc_uvm(const struct rt_hcs_container_config *cfg, struct json_t **ret_doc,
                   struct stk_err *err);

/*
 * Builds the document of the container hosted in the utility VM (reference
 * §2.4 "Via HCS"): HostingSystemId + HostedSystem {SchemaVersion, Container}
 * with guest (VSMB) paths. Returns a new reference.
 */
int rt_hcs_doc_hosted_container(const struct rt_hcs_container_config *cfg, struct json_t **ret_doc,
                                struct stk_err *err);

/*
 * Builds the HcsModifyComputeSystem request that maps host pipe HOST_PATH into
 * a utility VM (reference §6 table, "MappedPipes" row). Returns a new reference.
 */
struct json_t *rt_hcs_doc_uvm_pipe_add(const char *host_path);

/*
 * Builds the HcsModifyComputeSystem request that gives a utility VM a network
 * adapter NIC_ID backed by HCN endpoint ENDPOINT_ID with MAC (reference §4.4:
 * ResourcePath VirtualMachine/Devices/NetworkAdapters/<nic>, Settings
 * {EndpointId, MacAddress}, GuestRequest {ResourceType Network, RequestType
 * Add, Settings {AdapterId, RequestType Add}}). The guest-only "PreAdd"
 * request hcsshim sends first is not built: the reference does not give its
 * settings. Returns a new reference.
 */
struct json_t *rt_hcs_doc_uvm_nic_add(const char *nic_id, const char *endpoint_id, const char *mac);

/* Stores in OUT a name-based GUID (version 5 layout over SHA-256) of NAME. */
void rt_hcs_name_guid(const char *name, char out[37]);

/*
 * Returns the bare container pipe name of PATH (\\.\pipe\NAME, a trailing
 * backslash trimmed as moby's parser does) as a new string, or NULL with
 * STK_EINVAL when PATH is not a named-pipe path.
 */
char *rt_hcs_pipe_name(const char *path, struct stk_err *err);

/* Process parameters (reference §3.1 step 5, SchemaReference#ProcessParameters). */
struct rt_hcs_process_config {
    const char *const *args;      /* argv, quoted into CommandLine */
    const char *command_line;     /* used as-is instead of ARGS when non-NULL (ArgsEscaped) */
    const char *const *env;       /* "KEY=VALUE"; entries with an empty value are dropped */
    const char *const *env_extra; /* appended after ENV (exec), same rules, overrides */
    const char *cwd;              /* NULL: C:\ */
    const char *user;             /* NULL: omitted (image default) */
    int terminal;                 /* EmulateConsole + ConsoleSize; no stderr pipe */
    uint16_t console_height, console_width;   /* 0: 25x80 when TERMINAL */
    int stdin_pipe, stdout_pipe, stderr_pipe; /* pipes created only for streams supplied */
};

/*
 * Builds a ProcessParameters document. Returns a new reference in *RET_DOC;
 * STK_EINVAL when neither ARGS nor COMMAND_LINE is given or an env entry has
 * no '='.
 */
int rt_hcs_doc_process(const struct rt_hcs_process_config *cfg, struct json_t **ret_doc,
                       struct stk_err *err);

/*
 * Quotes ARGV (NULL-terminated) into one Windows command line that
 * CommandLineToArgvW and the Microsoft C runtime split back into the same
 * argv (Go's syscall.EscapeArg rules, which moby uses for CommandLine).
 * Returns a new string.
 */
char *rt_hcs_cmdline_quote(const char *const *argv);

/*
 * Splits a command line with the CommandLineToArgvW rules: the program name
 * (first argument) ends at the first space or tab unless quoted and has no
 * backslash processing; later arguments follow the 2n / 2n+1 backslash rules
 * and `""` inside quotes is a literal quote (the Microsoft C runtime's rule
 * since 2008; rt_hcs_cmdline_quote() never produces it). Returns a new NULL-terminated
 * vector freed with stk_strv_free().
 */
char **rt_hcs_cmdline_split(const char *cmdline);

/* A Windows version, major.minor.build(.revision). */
struct rt_hcs_os_version {
    uint32_t major;
    uint32_t minor;
    uint32_t build;
    uint32_t revision;
};

/* Parses "10.0.20348" or "10.0.20348.1234" into *RET; STK_EINVAL when malformed. */
int rt_hcs_os_version_parse(const char *s, struct rt_hcs_os_version *ret, struct stk_err *err);

/* The Windows edition that decides the default isolation (reference §5.4). */
enum rt_hcs_edition {
    RT_HCS_EDITION_SERVER,
    RT_HCS_EDITION_CLIENT,
};

/* Parses "server"/"client"; returns -1 for anything else. */
int rt_hcs_edition_from_string(const char *s);

/*
 * Resolves a service's isolation: REQUESTED "process"/"hyperv"
 * (case-insensitive, reference §5.4), or NULL/""/"default" for the host
 * default (server → process, client → hyperv). Stores it in *RET.
 * STK_ESPEC for any other value, naming the accepted ones.
 */
int rt_hcs_resolve_isolation(const char *requested, enum rt_hcs_edition edition,
                             enum rt_isolation *ret, struct stk_err *err);

/* Flags of rt_hcs_check_compat(). */
#define RT_HCS_COMPAT_ALLOW_NEWER_HYPERV (1u << 0) /* lift the same-or-older Hyper-V policy */

/*
 * Returns non-zero when a process-isolated container with an image of build
 * IMAGE may run on HOST, with the exact rule of reference §5.3 and its
 * errata: major and minor equal; below 20348 the builds must be equal;
 * otherwise base <= image <= host where base is the newest of {20348, 26100}
 * strictly below the host build (20348 when the host is 20348).
 */
int rt_hcs_process_compatible(const struct rt_hcs_os_version *host,
                              const struct rt_hcs_os_version *image);

/*
 * The version check the planner runs before anything is created (DESIGN.md
 * §1, reference §5). HOST_BUILD is the host's version ("10.0.20348"),
 * IMAGE_OS_VERSION the image config's os.version, ISOLATION the resolved
 * isolation, IMAGE the image reference used in messages (may be NULL).
 * Process isolation: rt_hcs_process_compatible(). Hyper-V: image build <=
 * host build (a documented policy, reference errata; FLAGS may lift it).
 * Returns 0 when compatible; STK_EIMAGE with a message naming both builds
 * and, for a process-isolated service that Hyper-V could run, suggesting
 * `isolation: hyperv` (never switching silently); STK_EINVAL for an
 * unparsable version. HOST_EDITION is accepted for the message.
 */
int rt_hcs_check_compat(const char *host_build, enum rt_hcs_edition host_edition,
                        const char *image_os_version, enum rt_isolation isolation,
                        const char *image, unsigned flags, struct stk_err *err);

/*
 * Refuses to share a network namespace between two containers when either
 * resolves to Hyper-V isolation (reference §6 "Sharing restrictions" and
 * errata: validate the resolved isolation). A and B name the services in the
 * message. Returns 0 or STK_ENOTSUP.
 */
int rt_hcs_check_network_share(const char *a, enum rt_isolation a_iso, const char *b,
                               enum rt_isolation b_iso, struct stk_err *err);

/*
 * Layer storage (issue 5 item 3): what computestorage.dll does before a
 * compute system can be created. The driver only calls through struct
 * rt_hcs_storage_api; rt_hcs_storage_new() builds the real one (hcs-storage.c)
 * over a struct hcs_storage_calls table (hcs-storage-api.h): computestorage.dll
 * on Windows (rt_hcs_storage_calls_win32()), the emulator's
 * hcsemu_storage_calls() in the tests. The sequence has run against the
 * emulator only, never on a real host.
 */
struct rt_hcs_storage_result {
    char **layer_paths;   /* NULL-terminated layer folders, topmost first, base last */
    char **layer_ids;     /* NULL-terminated GUIDs, same order */
    char *scratch_dir;    /* the container's scratch folder */
    char *scratch_volume; /* process: \\?\Volume{GUID}\ of the mounted scratch */
    char *uvm_image_path; /* hyperv: <layer>\UtilityVM of the topmost layer that has one */
    char *os_version;     /* the image's os.version, "" when unknown */
};

/* Frees what R owns; NULL-safe. */
void rt_hcs_storage_result_release(struct rt_hcs_storage_result *r);

struct rt_hcs_storage_api {
    /*
     * Prepares the scratch of container ID over the layers LAYER_DIGESTS
     * (base first, as in rt_container_spec) for ISOLATION. Blocking; runs on
     * a work thread. Fills *RET (caller releases it).
     */
    int (*prepare)(void *self, const char *id, const char *const *layer_digests,
                   enum rt_isolation isolation, struct rt_hcs_storage_result *ret,
                   struct stk_err *err);
    /* Unmounts and removes the scratch of ID; a missing one succeeds. Blocking. */
    int (*release)(void *self, const char *id, struct stk_err *err);
    void *self;
};

struct rt_image_store;
struct rt_hcs_storage;

/*
 * Creates the layer storage of the hcs driver (hcs-storage.c):
 *
 * - Read-only layers are imported once into LAYERS_ROOT\<blob hex>
 *   (STATE\windowsfilter), the folder whose base name gives the layer's
 *   GUID (rt_hcs_name_guid()). A layer is trusted only when its record
 *   LAYERS_ROOT\<hex>.layer (written atomically after the last step) exists;
 *   a folder without one is a half import, destroyed (HcsDestroyLayer) and
 *   imported again. The blob (tar, any compression libarchive detects) is
 *   extracted into LAYERS_ROOT\.staging-<hex> with whiteouts turned into
 *   tombstones.txt, each entry's Windows metadata (security descriptor, EAs,
 *   attributes, creation time, reparse point; hcs-wclayer.h) applied through
 *   CALLS->apply_backup_stream, then HcsImportLayer(layer, staging, parents'
 *   LayerData).
 *   A layer without parents (the base) is then set up as hcsshim's
 *   computestorage.SetupContainerBaseLayer does (blank-base.vhdx created and
 *   formatted, HcsSetupBaseOSLayer {"Type":"Container"} with no handle, the
 *   differencing blank.vhdx, VM group access), and when it has a UtilityVM
 *   folder as SetupUtilityVMBaseLayer does (SystemTemplateBase.vhdx created
 *   and attached, HcsSetupBaseOSLayer {"Type":"Vm"}, detached, the
 *   differencing SystemTemplate.vhdx, VM group access).
 * - The writable layer of container ID lives in SCRATCH_ROOT\ID
 *   (STATE\scratch): sandbox.vhdx is a copy of the base layer's blank.vhdx
 *   (containerd's windows snapshotter). Process isolation: the VHD is
 *   attached with a permanent lifetime (it must outlive the CLI process),
 *   HcsGetLayerVhdMountPath gives the volume, HcsInitializeWritableLayer and
 *   HcsAttachLayerStorageFilter run on that volume, which becomes
 *   Container.Storage.Path. Hyper-V isolation: nothing is attached on the
 *   host; vm\sandbox.vhdx is a copy of UtilityVM\SystemTemplate.vhdx
 *   (reference §2.3) and both VHDs get VM group access.
 *
 * IMAGES (borrowed, may be NULL: then prepare fails with STK_EIMAGE) holds
 * the layer blobs; CALLS is borrowed. Both must outlive the storage. Returns
 * a new object freed with rt_hcs_storage_free(), or NULL with STK_EINVAL
 * (missing argument or a required entry of CALLS).
 */
struct rt_hcs_storage *rt_hcs_storage_new(const char *layers_root, const char *scratch_root,
                                          struct rt_image_store *images,
                                          const struct hcs_storage_calls *calls,
                                          struct stk_err *err);

/* Returns the driver's table of S (borrowed from S). prepare and release are thread-safe. */
const struct rt_hcs_storage_api *rt_hcs_storage_api_of(struct rt_hcs_storage *s);

/* Frees S; NULL-safe. Nothing on disk changes. */
void rt_hcs_storage_free(struct rt_hcs_storage *s);

/*
 * What the driver needs from the network side for Hyper-V isolation is a
 * struct rt_net_peer (runtime/rt-driver.h): the endpoints of a namespace, to
 * hot-add them to the utility VM as NICs (reference §4.4). The orchestrator
 * hands it over through the set_net_peer op; the HNS plug-in answers it
 * (net_namespace_endpoints()).
 */

/* The driver descriptor ("hcs"). The lead registers it under STK_HAVE_HCS. */
extern const struct rt_driver rt_driver_hcs;

/*
 * Creates an hcs driver context on LOOP that calls through API and STORAGE
 * (both borrowed, they must outlive the context) — the emulator in tests, the
 * Win32 tables on Windows — with HOST_BUILD ("10.0.20348") and HOST_EDITION
 * reported by host_info. Returns a new context freed with rt_ctx_free(), or
 * NULL with ERR filled.
 */
struct rt_ctx *rt_hcs_ctx_new(uv_loop_t *loop, const char *state_dir, const char *run_dir,
                              const char *self_exe, const struct hcs_api *api,
                              const struct rt_hcs_storage_api *storage, const char *host_build,
                              enum rt_hcs_edition host_edition, struct stk_err *err);

/*
 * Gives the driver of CTX (made by rt_hcs_ctx_new() or the registry) the
 * network table NET (borrowed, may be NULL): Hyper-V isolated containers with
 * a sandbox then get its endpoints as NICs of their utility VM. Without it
 * they only name the namespace.
 */
void rt_hcs_ctx_set_network(struct rt_ctx *ctx, const struct rt_net_peer *net);

#if STK_HAVE_HCS
/*
 * Windows only (hcs-win32.c): loads computecore.dll and fills a static table.
 * Returns NULL with STK_EUNAVAIL "HCS is not available on this host" when the
 * DLL or a required function is missing.
 */
const struct hcs_api *rt_hcs_api_win32(struct stk_err *err);
/*
 * Windows only (hcs-win32.c): stores the host version "10.0.BUILD" in BUF
 * (RtlGetVersion) and the edition (server unless the product type is a
 * workstation) in *RET_EDITION.
 */
void rt_hcs_win32_host_version(char *buf, size_t size, enum rt_hcs_edition *ret_edition);
/*
 * Windows only (hcs-storage-win32.c): loads computestorage.dll and
 * virtdisk.dll and fills a static table. Returns NULL with STK_EUNAVAIL
 * "Windows layer storage (computestorage.dll) is not available on this host"
 * when a DLL or a required function is missing.
 */
const struct hcs_storage_calls *rt_hcs_storage_calls_win32(struct stk_err *err);
#endif

#endif
