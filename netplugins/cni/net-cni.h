/*
 * net-cni.h - private interface of the CNI 1.0 network plug-in (netplugins/cni/).
 * Nothing outside netplugins/cni/ and netplugins/bridge/ (which shares these
 * records and state machines) includes this file; the public contract is
 * netplugins/net-plugin.h, reached through `net_plugin_cni`.
 *
 * What the plug-in makes, and where (the "README-internal"):
 *
 *   STATE/net/conf/NAME.conflist      the network's CNI network configuration list
 *                                     (cniVersion 1.0.0): bridge (host-local IPAM)
 *                                     then portmap. Our own conf dir, never
 *                                     /etc/cni/net.d.
 *   STATE/net/ipam/NAME/              host-local's allocations for network NAME
 *                                     (ipam.dataDir is STATE/net/ipam, host-local adds
 *                                     the network name). Never /var/lib/cni.
 *   STATE/net/networks/NAME.json      network record: name, subnet, gateway, bridge,
 *                                     internal, project.
 *   STATE/net/sandboxes/ID.json       sandbox record: id, hostname, project, handle,
 *                                     hosts_path, resolv_path.
 *   STATE/net/endpoints/ID/NAME.json  endpoint record of sandbox ID on network NAME:
 *                                     ifname, ipv4, prefix_len, mac, aliases, ports,
 *                                     static address, and the CNI result of the ADD
 *                                     (handed back as prevResult to CHECK and DEL).
 *   RUN/netns/ID                      the sandbox's network namespace, pinned by a bind
 *                                     mount of /proc/thread-self/ns/net of a short-lived
 *                                     thread that called unshare(CLONE_NEWNET) (what
 *                                     `ip netns add` does, without /var/run/netns).
 *   RUN/netns/ID.hosts                the sandbox's hosts file, rewritten in place
 *                                     (O_TRUNC, same inode: it is bind-mounted);
 *                                     when: see "Hosts files" below.
 *   RUN/netns/ID.resolv.conf          the sandbox's resolv.conf: no nameserver at all
 *                                     (DESIGN.md §7).
 *
 * Every record is JSON written with stk_file_write_atomic(). The host side:
 *   - the bridge "stk-" + the first 8 hex digits of SHA-256(STATE "\n" NAME), created by
 *     network_create in one `ip -batch` with a fixed MAC (net__cni_bridge_mac),
 *     the gateway address and the link up, so that its subnet is in the host's
 *     routes before the first ADD (other allocators skip it); attach makes it
 *     again the same way when it has gone. network_remove deletes it with
 *     `ip link del` (the bridge plugin never deletes a bridge);
 *   - the iptables rules of the bridge plugin (ipMasq: one chain per container,
 *     none on internal networks) and of portmap (one DNAT chain per container,
 *     plus the shared CNI-HOSTPORT-* chains it creates once and never removes).
 *
 * The conflist: bridge {isGateway and ipMasq unless internal, hairpinMode,
 * ipam: host-local with our dataDir, one range (subnet, gateway), a default
 * route unless internal}, then portmap {capabilities.portMappings, snat}; the
 * published ports go to portmap as runtimeConfig.portMappings
 * [{hostPort, containerPort, protocol, hostIP}]. A static address goes to
 * host-local as CNI_ARGS "IgnoreUnknown=1;IP=ADDR". An internal network keeps the
 * gateway address on its bridge (the host can reach its endpoints) but gives
 * them no route out and no masquerade.
 *
 * Endpoint records have a "state": "adding" is written before the ADD chain
 * runs, "ready" after it succeeded. An attach that finds "adding" (a crash in
 * the middle) runs DEL first; a failed or canceled ADD runs DEL (CNI spec) and
 * drops the record when that DEL worked, otherwise keeps it so that the
 * endpoint stays tracked. list reports every record; a sandbox whose pin is no
 * longer a namespace has handle NULL, a network whose bridge is missing has
 * bridge NULL. sandbox_create on a sandbox whose namespace is gone (after a
 * reboot) first DELs its recorded endpoints, which releases their addresses.
 *
 * Known limits of the plugins (containernetworking-plugins 1.1.1, Debian 12):
 *   - portmap CHECK fails for IPv4-only containers whenever ip6tables exists
 *     (containernetworking/plugins#819); that one message is ignored.
 *   - bridge DEL learns the container's addresses from the interface it
 *     deletes; when the interface is already gone it cannot remove the ipMasq
 *     chain. sandbox_remove therefore DELs every endpoint before unpinning.
 *
 * Names (network names and sandbox ids) are used as file names and as the CNI
 * network name, so they must match the CNI name rule ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$.
 *
 * Every plugin and helper process is started with uv_spawn on the loop thread with
 * explicit stdio (stdin: a pipe carrying the configuration, stdout and stderr: pipes
 * we read) and an environment built with stk_strv (CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_PATH, CNI_ARGS when needed, PATH, LC_ALL=C); each is
 * killed after NET_CNI_PROC_TIMEOUT_MS. Namespace pinning and unpinning, which
 * block in the kernel, run on the libuv thread pool. Cancelling a request kills
 * the running plugin; an ADD then ends with STK_ECANCELED after its rollback DEL,
 * while DEL chains (detach and the removals) always run to the end. fini must
 * not be called while requests are in flight: they borrow the private state.
 * The process must ignore SIGPIPE (the CLI does), as libuv asks of programs that
 * write to pipes: a plugin that dies before reading its stdin would raise it.
 */
#ifndef NET_CNI_H
#define NET_CNI_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "common/stk-err.h"
#include "netplugins/net-plugin.h"

#define NET_CNI_VERSION "1.0.0"
#define NET_CNI_PLUGIN_DIR "/usr/lib/cni"
/* Private pool for networks without a subnet: 10.89.N.0/24, N = 0..255. */
#define NET_CNI_POOL_PREFIX "10.89"
/* A plugin that runs longer than this is killed and the operation fails. */
#define NET_CNI_PROC_TIMEOUT_MS 60000

/* The plug-in's private state (net_ctx.priv). Every string is owned. */
struct net__cni_priv {
    int native;          /* the bridge plug-in (netplugins/bridge/net-bridge.h): in-process
                            datapath for NET_BRIDGE_TYPE and loopback, no plugin processes */
    int dns_spawned;     /* native: this context started the DNS responder */
    char *state_dir;     /* STATE */
    char *net_dir;       /* STATE/net */
    char *conf_dir;      /* STATE/net/conf */
    char *ipam_dir;      /* STATE/net/ipam */
    char *networks_dir;  /* STATE/net/networks */
    char *sandboxes_dir; /* STATE/net/sandboxes */
    char *endpoints_dir; /* STATE/net/endpoints */
    char *netns_dir;     /* RUN/netns */
    char *plugin_dir;    /* NET_CNI_PLUGIN_DIR */
    char *ip_path;       /* absolute path of iproute2's `ip` */
    char *path_env;      /* PATH handed to plugins */
    /* The hosts view (see "Hosts files" below); owned, NULL until first needed. */
    json_t *hosts_snap;         /* {ID: {"rec": sandbox record, "eps": {NET: endpoint record}}} */
    json_t *hosts_dirty;        /* {NET: changes not yet in the other members' files} */
    json_t *hosts_sums;         /* {ID: SHA-256 hex of what this process last wrote there} */
    unsigned long hosts_writes; /* hosts files written so far (for tests) */
};

/*
 * The operations of the bridge plug-in (net_plugin_bridge): these state
 * machines with priv.native set (netplugins/bridge/net-bridge.h).
 */
extern const struct net_plugin_ops net__cni_native_ops;

/* ---- child processes (cni-proc.c) ---- */

struct net__cni_proc;

/*
 * Called once on the loop thread when the child has exited and its stdout and
 * stderr are drained (or when it could not be started). P is borrowed and freed
 * after the callback returns.
 */
typedef void net__cni_proc_fn(struct net__cni_proc *p, void *data);

/* The outcome of a child, readable in the callback. */
struct net__cni_proc_status {
    int spawn_error;     /* a libuv error from uv_spawn, 0 when started */
    int64_t exit_status; /* exit code */
    int term_signal;     /* signal that ended it, 0 if none */
    int timed_out;       /* killed after NET_CNI_PROC_TIMEOUT_MS */
    char *out;           /* stdout, NUL-terminated, owned by the proc */
    size_t out_len;
    char *errout; /* stderr, NUL-terminated, owned by the proc */
};

/*
 * Starts FILE with ARGV and ENV (both NULL-terminated, copied by libuv) on
 * LOOP, writes INPUT (may be NULL: stdin is then closed at once) to its stdin
 * and collects stdout and stderr. CB runs once, later, on the loop thread; a
 * spawn failure is reported there too (status.spawn_error). Never fails at once.
 * *RET_PROC (may be NULL) is valid until CB returns.
 */
void net__cni_proc_start(uv_loop_t *loop, const char *file, char *const *argv, char *const *env,
                         const char *input, net__cni_proc_fn *cb, void *data,
                         struct net__cni_proc **ret_proc);
/* Returns P's status; borrowed, valid in the callback. */
const struct net__cni_proc_status *net__cni_proc_status(const struct net__cni_proc *p);
/* Sends SIGTERM to a running child (cancellation); no-op once it has exited. */
void net__cni_proc_kill(struct net__cni_proc *p);

/* ---- records and files (cni-store.c) ---- */

/* Returns 1 when NAME is a valid CNI network name / sandbox id, else 0. */
int net__cni_name_valid(const char *name);
/*
 * Returns 1 when NAME can go into a hosts file as a name (1 to 253 of
 * [A-Za-z0-9._-]), else 0: a blank or a newline would corrupt the file.
 */
int net__cni_hostname_valid(const char *name);
/*
 * Writes "stk-" + 8 hex of SHA-256(NAME) into OUT (16 bytes). The plug-in
 * passes "STATE_DIR\nNETWORK" so that bridges of two state dirs never collide.
 */
void net__cni_bridge_name(const char *name, char out[16]);
/*
 * Writes the bridge's fixed MAC, a locally administered unicast address taken
 * from SHA-256(NAME), into OUT (18 bytes). A bridge whose MAC was never set
 * follows the lowest MAC of its ports, so it would change as endpoints come and
 * go, and the bridge plugin's CHECK (which compares it with the ADD result)
 * would fail.
 */
void net__cni_bridge_mac(const char *name, char out[18]);

/* Loads the JSON file PATH; STK_ENOENT when missing. Returns a new reference. */
int net__cni_json_load(const char *path, json_t **ret_json, struct stk_err *err);
/* Writes J to PATH atomically (mode 0644). */
int net__cni_json_save(const char *path, const json_t *j, struct stk_err *err);

/* Path builders; each returns a new string the caller frees. */
char *net__cni_network_path(const struct net__cni_priv *p, const char *name);
char *net__cni_conflist_path(const struct net__cni_priv *p, const char *name);
char *net__cni_sandbox_path(const struct net__cni_priv *p, const char *id);
char *net__cni_endpoint_dir(const struct net__cni_priv *p, const char *sandbox);
char *net__cni_endpoint_path(const struct net__cni_priv *p, const char *sandbox,
                             const char *network);
char *net__cni_pin_path(const struct net__cni_priv *p, const char *id);

/*
 * Lists the base names (without ".json") of the records in DIR, sorted, into
 * *RET_NAMES (a NULL-terminated vector the caller frees with stk_strv_free()).
 * A missing DIR is an empty list.
 */
int net__cni_list_records(const char *dir, char ***ret_names, struct stk_err *err);
/* As net__cni_list_records() for entries ending in SUFFIX ("" for every entry). */
int net__cni_list_dir(const char *dir, const char *suffix, char ***ret_names, struct stk_err *err);

/* Converts records to the public structs; fields the record lacks stay NULL. */
void net__cni_network_from_json(const json_t *j, struct net_network_info *ret);
void net__cni_sandbox_from_json(const json_t *j, struct net_sandbox_info *ret);
void net__cni_endpoint_from_json(const json_t *j, struct net_endpoint_info *ret);

/*
 * Chooses a free /24 of the private pool: not used by any recorded network, and
 * overlapping no route of the host's main table (/proc/net/route). Stores the
 * CIDR and the gateway (.1) as new strings.
 */
int net__cni_subnet_alloc(const struct net__cni_priv *p, char **ret_subnet, char **ret_gateway,
                          struct stk_err *err);
/*
 * Returns the name of a recorded network other than NAME whose subnet overlaps
 * SUBNET, as a new string the caller frees, or NULL when there is none.
 */
char *net__cni_subnet_conflict(const struct net__cni_priv *p, const char *subnet, const char *name);
/*
 * Reads the IPv4 address, prefix length and MAC of interface IFNAME (the one
 * with a non-empty "sandbox") from a CNI 1.0 result (SPEC.md "Success"): the
 * first IPv4 entry of "ips" whose "interface" index points at it, or the first
 * IPv4 entry when no interface matches. Fills EP->ipv4, prefix_len and mac (new
 * strings; mac may stay NULL). Returns 0, or STK_ENET when there is no address.
 */
int net__cni_result_parse(const json_t *res, const char *ifname, struct net_endpoint_info *ep,
                          struct stk_err *err);
/*
 * Returns the id of the sandbox of a recorded endpoint, other than SANDBOX on
 * NETWORK, that already publishes HOST_PORT/PROTOCOL on an overlapping host
 * address ("" and 0.0.0.0 overlap every address), as a new string the caller
 * frees; NULL when the port is free. portmap itself does not detect conflicts:
 * the second DNAT rule would silently never match.
 */
char *net__cni_port_conflict(const struct net__cni_priv *p, const char *sandbox,
                             const char *network, unsigned host_port, const char *protocol,
                             const char *host_ip);
/* Parses "a.b.c.d/n"; returns 0 or STK_EINVAL. Address and mask in host order. */
int net__cni_cidr_parse(const char *cidr, uint32_t *ret_addr, int *ret_prefix);

/*
 * Hosts files. Each sandbox's file is rewritten in place (O_TRUNC, same inode:
 * it is bind-mounted): localhost lines, then one line per endpoint of every
 * network the sandbox is attached to ("IP hostname alias...", sandboxes in id
 * order), then its extra_hosts. They are derived data, made from an in-memory
 * view of the records (hosts_snap) read once per process and kept up to date
 * by the plug-in's own writes (net__cni_hosts_sandbox_set/_endpoint_set), so
 * an attach reads no other record. A file is written only when its content
 * differs from what is there (known from the digest of this process's last
 * write, else read back once). The rule for what a container sees:
 *   - an attach or detach rewrites the sandbox's OWN file at once (a container
 *     started after its dependencies resolves them all: depends_on);
 *   - the OTHER members' files of the network are rewritten as soon as the
 *     changes they miss number at least half the network's members
 *     (2 * pending >= members: after 1 change on a network of 2, 2 on 4, 16 on
 *     32...), so a burst of N attaches costs at most about 2N such writes;
 *   - hosts_flush (net-plugin.h: the executor calls it at the end of every
 *     pass) re-reads the records and brings EVERY sandbox's file up to date,
 *     which also repairs files left stale by an aborted pass; fini flushes the
 *     networks still pending, without re-reading.
 * An up of N services thus writes at most about 5N hosts files (N new ones at
 * sandbox_create, N own ones at attach, <= 2N spread, <= N at the flush; the
 * fake plug-in, which follows the same rule, writes 4.2N for N = 200) where it
 * wrote N^2/2, and reads each hosts record twice (the view, then the flush)
 * where it read N^2. (Published ports are still checked against every
 * endpoint record at each attach: net__cni_port_conflict.)
 */
/*
 * Writes sandbox ID's hosts file from the view (loading it when needed) unless
 * it already has that content. A sandbox without a record is a no-op.
 */
int net__cni_hosts_write(struct net__cni_priv *p, const char *id, struct stk_err *err);
/*
 * Updates the view after the sandbox record of ID was saved as REC (copied;
 * NULL: removed). Forgets the digest of ID's file. No-op while no view is loaded.
 */
void net__cni_hosts_sandbox_set(struct net__cni_priv *p, const char *id, const json_t *rec);
/* Updates the view after the endpoint record SANDBOX/NETWORK was saved as EP (NULL: removed). */
void net__cni_hosts_endpoint_set(struct net__cni_priv *p, const char *sandbox, const char *network,
                                 const json_t *ep);
/*
 * Called after an endpoint of NETWORK was added or removed (the view already
 * updated): writes OWN's file (may be NULL), counts the change, and rewrites
 * the other members' files when the rule above says so. Returns the first
 * write error, but tries every file.
 */
int net__cni_hosts_changed(struct net__cni_priv *p, const char *network, const char *own,
                           struct stk_err *err);
/*
 * With RELOAD: re-reads the view from the records and writes every sandbox's
 * file that differs (hosts_flush). Without: writes the files of the networks
 * with pending changes from the current view (fini). Returns the first error,
 * but tries every file.
 */
int net__cni_hosts_flush(struct net__cni_priv *p, int reload, struct stk_err *err);
/*
 * Re-reads the view from the records and writes the hosts files (when they
 * differ) of every sandbox attached to any of NETWORKS (a NULL-terminated
 * vector) and of EXTRA (may be NULL). Returns the first error but tries every file.
 */
int net__cni_hosts_refresh(struct net__cni_priv *p, char *const *networks, const char *extra,
                           struct stk_err *err);
/* Frees the view, the pending counts and the digests. */
void net__cni_hosts_release(struct net__cni_priv *p);
/*
 * Writes the sandbox's resolv.conf from its record REC: no outside nameserver
 * (DESIGN.md §7), unless the record carries the service's "dns"/"dns_search".
 */
int net__cni_resolv_write(const char *path, const json_t *rec, struct stk_err *err);

/* ---- network namespaces (cni-netns.c), called on a thread-pool thread ---- */

/* Creates PIN (if needed) and pins a new network namespace on it; idempotent. */
int net__cni_netns_pin(const char *pin, struct stk_err *err);
/* Unmounts and removes PIN; a missing pin is success. */
int net__cni_netns_unpin(const char *pin, struct stk_err *err);
/* Returns 1 when PIN is a live pinned namespace (nsfs mount), else 0. */
int net__cni_netns_alive(const char *pin);

#endif
