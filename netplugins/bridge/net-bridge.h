/*
 * net-bridge.h - private interface of the native bridge network plug-in
 * (netplugins/bridge/). Nothing outside netplugins/ includes this file; the
 * public contract is netplugins/net-plugin.h, reached through
 * `net_plugin_bridge` (name "bridge", the Linux default).
 *
 * The plug-in is the CNI plug-in's machinery (netplugins/cni/: the records
 * under STATE/net, pinned namespaces, hosts and resolv.conf files, the
 * attach/detach/check state machines and their rollback rules, net-cni.h)
 * with the plugin processes replaced by an in-process datapath: a network's
 * conflist names one plugin of type NET_BRIDGE_TYPE, which
 * net__bridge_exec() runs on the libuv thread pool with the CNI 1.0 semantics
 * (ADD returns a CNI result, DEL is idempotent and best effort, CHECK
 * verifies), and the sandboxes' loopback is brought up in-process too. A
 * network created with a conflist of its own (`driver: cni`,
 * net_network_spec.conflist) keeps running the real CNI plugins.
 *
 * What the datapath makes on the host:
 *   - the bridge (net-cni.h names it: "stk-" + 8 hex digits), its fixed MAC,
 *     the gateway address, up, route_localnet=1 (so that DNAT of traffic
 *     from 127.0.0.1 to a container is routed), over netlink (libnl-route-3);
 *   - per endpoint a veth pair: "stv" + 8 hex digits of
 *     SHA-256(STATE "\n" CONTAINERID "\n" IFNAME) on the host, enslaved to the
 *     bridge, and IFNAME in the sandbox with the address, MAC 02:42 + the
 *     four address bytes (Docker's scheme), and a default route via the
 *     gateway unless the network is internal;
 *   - one nftables table per state dir, "ip stk_" + 8 hex digits of
 *     SHA-256(STATE), through libnftables, each change one batch:
 *       maps port_tcp, port_udp        host port -> container address . port
 *       maps port_tcp_ip, port_udp_ip  host address . host port -> ...
 *       set bridges                    the bridges of the table's networks
 *       vmaps fwd_vmap, nat_vmap       bridge -> its chains f_BR and n_BR
 *       chains prerouting, output      fib daddr type local jump ports
 *       chain ports                    dnat through the four maps
 *       chain postrouting              masquerade of 127.0.0.0/8-sourced
 *                                      traffic into a bridge (as portmap's
 *                                      snat), then iifname vmap @nat_vmap
 *       chain forward                  iifname vmap @fwd_vmap
 *       chain f_BR                     own bridge accept, other bridges drop
 *                                      (isolation), internal: drop the rest
 *       chain n_BR                     masquerade out of the subnet unless
 *                                      internal
 *     A publish adds map elements, so its cost does not depend on how many
 *     ports are published. The table goes with the last network.
 *   - where iptables' filter table has a FORWARD chain (iptables-nft's
 *     "ip filter FORWARD", whose policy Docker sets to DROP), two rules
 *     `iifname BR accept` and `oifname BR accept` inserted at its top, as
 *     netavark does, and removed (by handle) with the network;
 *   - IPAM: STATE/net/ipam/NETWORK/alloc.json {"last": ADDR, "ips": {ADDR:
 *     "CONTAINERID/IFNAME"}}, written with stk_file_write_atomic under an
 *     flock of STATE/net/ipam/NETWORK/lock; addresses are handed out after the
 *     last one given (as host-local does), so a recreated container gets a
 *     new address.
 *
 * Every function below blocks (netlink, nftables, files) and is meant for the
 * thread pool; none leaves the calling thread in another namespace (sockets
 * in a sandbox are opened by a short-lived thread that enters it).
 */
#ifndef NET_BRIDGE_H
#define NET_BRIDGE_H

#include <jansson.h>
#include <stdint.h>

#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "netplugins/net-plugin.h"

/* The in-process plugin type of a native network's conflist. */
#define NET_BRIDGE_TYPE "stack-bridge"

/* The plug-in descriptor, registered in netplugins/net-plugin.c as "bridge". */
extern const struct net_plugin net_plugin_bridge;

/*
 * Runs the in-process plugin TYPE (NET_BRIDGE_TYPE or "loopback") with the CNI
 * command CMD ("ADD", "DEL", "CHECK") on CONF (borrowed: the plugin's
 * configuration with name, prevResult and runtimeConfig filled as a CNI
 * runtime passes them), for CONTAINERID, the namespace NETNS ("" when gone),
 * IFNAME and CNI_ARGS (may be NULL; "IP=ADDR" asks for a static address). On
 * ADD success stores a new CNI 1.0 result in *RET_RESULT (caller decrefs).
 * Returns 0, or STK_ENET/STK_EEXIST/STK_EIO with ERR filled.
 */
int net__bridge_exec(const char *type, const char *cmd, const json_t *conf, const char *containerid,
                     const char *netns, const char *ifname, const char *cni_args,
                     json_t **ret_result, struct stk_err *err);

/*
 * Appends to B the nft lines that add (ON) or delete the DNAT elements of
 * PORTS (an endpoint record's "ports" array) for container address IP, in
 * the table of STATE_DIR. Returns how many lines.
 */
int net__bridge_ports_batch(struct stk_buf *b, int on, const char *state_dir, const json_t *ports,
                            const char *ip);

/* Returns 1 when TYPE is run in-process (net__bridge_exec), else 0. */
int net__bridge_type_native(const char *type);

/*
 * Network set-up and tear-down outside any endpoint (network_create and
 * network_remove). REC is the network record (name, subnet, gateway, bridge,
 * internal); STATE_DIR the context's state dir. setup makes the bridge and
 * the table's base and per-network rules; teardown removes the network's
 * rules, the bridge, and the table when LAST is non-zero. Both are idempotent.
 */
int net__bridge_network_setup(const char *state_dir, const json_t *rec, struct stk_err *err);
int net__bridge_network_teardown(const char *state_dir, const json_t *rec, int last,
                                 struct stk_err *err);

/* Writes the table name "stk_" + 8 hex of SHA-256(STATE_DIR) into OUT (13 bytes). */
void net__bridge_table_name(const char *state_dir, char out[16]);

/* ---- netlink (bridge-link.c) ---- */

/*
 * Makes bridge NAME with MAC, GATEWAY/PREFIX on it, up, route_localnet=1;
 * existing parts are kept. Also turns on net.ipv4.ip_forward.
 */
int net__bridge_link_bridge(const char *name, const char *mac, const char *gateway, int prefix,
                            struct stk_err *err);
/* Deletes link NAME; a missing link is success. */
int net__bridge_link_del(const char *name, struct stk_err *err);
/* Returns 1 when link NAME exists on the host. */
int net__bridge_link_exists(const char *name);
/*
 * Creates the veth pair HOST (on the host, enslaved to BRIDGE, up) and IFNAME
 * in the namespace pinned at NETNS, with MAC, ADDR/PREFIX, up, and a default
 * route via GATEWAY when GATEWAY is not NULL. An existing HOST is deleted
 * first (a stale attempt).
 */
int net__bridge_link_veth(const char *netns, const char *host, const char *bridge,
                          const char *ifname, const char *mac, const char *addr, int prefix,
                          const char *gateway, struct stk_err *err);
/* Returns 0 when IFNAME in NETNS has address ADDR and HOST is enslaved to BRIDGE, else ENET. */
int net__bridge_link_check(const char *netns, const char *host, const char *bridge,
                           const char *ifname, const char *addr, struct stk_err *err);
/* Brings up lo in the namespace pinned at NETNS. */
int net__bridge_link_lo_up(const char *netns, struct stk_err *err);

/* ---- nftables (bridge-nft.c) ---- */

/* Runs CMDS (nft syntax, one batch: all or nothing) through libnftables. */
int net__bridge_nft_run(const char *cmds, struct stk_err *err);

/*
 * Runs the read-only command CMD ("list chain ...") and stores its JSON
 * output (with rule handles) in *RET_JSON (caller decrefs). STK_ENOENT when
 * the command fails (the object does not exist).
 */
int net__bridge_nft_query(const char *cmd, json_t **ret_json, struct stk_err *err);

/* ---- IPAM (bridge-ipam.c) ---- */

/*
 * Allocates an address of SUBNET (CIDR) for OWNER ("CONTAINERID/IFNAME") in
 * the data dir DIR/NETWORK: WANT when not NULL (STK_EEXIST when taken by
 * another owner, STK_ENET outside the subnet or reserved), else the next free
 * one after the last handed out, skipping the network and broadcast
 * addresses and GATEWAY. An owner that already holds one gets it again.
 * Stores the dotted address in OUT (16 bytes).
 */
int net__bridge_ipam_alloc(const char *dir, const char *network, const char *subnet,
                           const char *gateway, const char *want, const char *owner, char out[16],
                           struct stk_err *err);
/* Releases every address OWNER holds in DIR/NETWORK; none is success. */
int net__bridge_ipam_release(const char *dir, const char *network, const char *owner,
                             struct stk_err *err);
/* Stores OWNER's address in OUT; STK_ENOENT when it holds none. */
int net__bridge_ipam_lookup(const char *dir, const char *network, const char *owner, char out[16],
                            struct stk_err *err);

/* ---- DNS (bridge-dns.c) ---- */

/*
 * The names a responder answers: endpoints (sandbox, network, address,
 * names). A client (by source address) is answered the names of the
 * endpoints on the networks its own sandbox is attached to, and only those.
 */
struct net__dns_view;

/* A new empty view; caller frees with net__dns_view_free() (NULL-safe). */
struct net__dns_view *net__dns_view_new(void);
void net__dns_view_free(struct net__dns_view *v);
/* Adds an endpoint; NAMES is NULL-terminated (copied, matched case-insensitively). */
int net__dns_view_add(struct net__dns_view *v, const char *sandbox, const char *network,
                      const char *ipv4, const char *const *names);
/*
 * Stores in OUT (at most MAX, host byte order) the addresses of NAME (lower
 * case, no trailing dot) on the networks of CLIENT's sandbox; with ROTATE,
 * the list starts one further along at every such call (round-robin).
 * Returns how many.
 */
size_t net__dns_view_lookup(struct net__dns_view *v, uint32_t client, const char *name, int rotate,
                            uint32_t *out, size_t max);
/*
 * Builds the reply to the DNS message QUERY (LEN bytes, from CLIENT, host
 * byte order) from V, with ldns: A records (TTL 0) for a known name, NODATA
 * for a known name and another type, NXDOMAIN otherwise. *RET_KNOWN says
 * whether the name is one of V's (the caller forwards the others when
 * forwarding is on). On success stores the wire reply in *RET_WIRE (caller
 * frees with free()) and its length. STK_EINVAL for a message that is no
 * single-question query (no reply is sent).
 */
int net__dns_answer(struct net__dns_view *v, uint32_t client, const uint8_t *query, size_t len,
                    int *ret_known, uint8_t **ret_wire, size_t *ret_len);
/* Builds the view from the records under STATE_DIR/net; never NULL. */
struct net__dns_view *net__dns_view_load(const char *state_dir);
/*
 * The responder process's loop (stack-dns): holds an flock on
 * RUN_DIR/net-dns.pid (a second responder returns at once), listens on UDP
 * port 53 of every native network's gateway, reloads the view and the
 * listeners whenever STATE_DIR/net/dns.gen changes (the plug-in touches it
 * at every endpoint change), forwards names it does not know to the first
 * IPv4 resolver of the host's /etc/resolv.conf when FORWARD is
 * non-zero, and returns on SIGTERM or 5 s after the last network is gone.
 */
int net__dns_serve(const char *state_dir, const char *run_dir, int forward);

/* Marks a change of the names (touches STATE_DIR/net/dns.gen); best effort. */
void net__bridge_dns_touch(const char *state_dir);
/* Returns 1 when a responder holds RUN_DIR/net-dns.pid. */
int net__bridge_dns_running(const char *run_dir);
/*
 * Stops the responder of RUN_DIR by the PID in its pid file (SIGTERM) and
 * waits up to 2 s for it to release the file. Blocks: for the thread pool.
 */
void net__bridge_dns_stop(const char *run_dir);
/*
 * The responder executable: $STACK_DNS_RESPONDER, else stack-dns next to
 * the running executable, else ../netplugins/stack-dns from it (the build
 * tree). A new string, or NULL when none is executable.
 */
char *net__bridge_dns_exe(void);

#endif
