/*
 * net-plugin.h - the network plug-in interface (DESIGN.md §2, STYLE.md rule 24).
 *
 * A plug-in provides networks (a CNI bridge network on Linux, an HCN NAT
 * network on Windows), sandboxes (what containers share: a pinned network
 * namespace on Linux, an HCN namespace on Windows) and endpoints (an interface
 * of a sandbox on a network, with addresses and published ports). The
 * orchestrator creates a sandbox, hands its opaque handle to the runtime in
 * rt_container_spec.sandbox, and attaches it to networks. Services that share
 * a namespace (network_mode: service:X) share one sandbox. Plug-ins never see
 * the Compose model.
 *
 * Name resolution: the plug-in keeps, per sandbox, a hosts file
 * (net_sandbox_info.hosts_path) listing every endpoint of every network the
 * sandbox is attached to under its aliases, rewritten in place; and a
 * resolv.conf with no outside resolver (DESIGN.md §7; the bridge plug-in
 * names its DNS responder there, on the gateway of the sandbox's first
 * network: netplugins/bridge/net-bridge.h). The orchestrator
 * bind-mounts both into the container. An attach writes the attaching
 * sandbox's own file in full (it resolves every endpoint attached before it);
 * a plug-in may defer rewriting the files of the OTHER sandboxes of the
 * network (see its header for its rule) until hosts_flush, which the executor
 * calls at the end of every pass, and fini also flushes.
 *
 * The asynchronous contract is the runtime driver's (rt-driver.h): an op
 * returns a negative error at once and never calls back, or returns 0 and
 * calls DONE exactly once on the loop thread after it has returned.
 */
#ifndef NET_PLUGIN_H
#define NET_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/stk-err.h"

#define NET_PLUGIN_ABI_1 1u

/* A network to create (CNI conflist with bridge + host-local + portmap; HCN NAT network). */
struct net_network_spec {
    char *name;    /* product-level name, unique on the host: "PROJECT_NETWORK" */
    char *subnet;  /* IPv4 CIDR, NULL: the plug-in allocates one from its pool */
    char *gateway; /* NULL: the first address of the subnet */
    int internal;  /* non-zero: no route out (no masquerade) */
    char *project; /* label: the owning project, for listing and cleanup */
    /*
     * NULL: the plug-in's own network (the bridge plug-in's native datapath,
     * the CNI plug-in's bridge + host-local + portmap). Otherwise the path of
     * a CNI conflist (Compose `driver: cni`, `driver_opts: {conflist: PATH}`)
     * whose plugins the bridge and CNI plug-ins run as they are; its first
     * plugin's "bridge" and ipam range name the network's bridge and subnet.
     */
    char *conflist;
};

/* A network as it exists. */
struct net_network_info {
    char *name;
    char *subnet;  /* IPv4 CIDR */
    char *gateway; /* IPv4 address */
    char *bridge;  /* the host interface (Linux bridge name; HCN network id on Windows) */
    char *project;
};

/* A sandbox to create. */
struct net_sandbox_spec {
    char *id;           /* unique id, normally the runtime id of the container that owns it */
    char *hostname;     /* first name in the sandbox's hosts file for its own address */
    char *project;      /* the owning project */
    char **extra_hosts; /* NULL-terminated "HOST:IP" entries added to the hosts file
                           (Compose extra_hosts), or NULL */
    char **dns;         /* NULL-terminated nameservers for resolv.conf (Compose dns), or NULL:
                           no outside resolver (DESIGN.md §7) */
    char **dns_search;  /* NULL-terminated search domains, or NULL */
};

/* A sandbox as it exists. */
struct net_sandbox_info {
    char *id;
    char *handle;      /* opaque handle for rt_container_spec.sandbox: netns path or GUID */
    char *hosts_path;  /* hosts file kept up to date by the plug-in; bind-mounted at /etc/hosts */
    char *resolv_path; /* resolv.conf for the sandbox; bind-mounted at /etc/resolv.conf */
    char *project;
};

/* A published port (CNI portmap capability "portMappings"; HCN PortMapping policy). */
struct net_port {
    /*
     * Published port on the host. 0 in an attachment: the plug-in chooses a
     * free port (Compose `ports: ["80"]`, docker's ephemeral host port) and
     * the endpoint reports the one it chose; the choice stays with the
     * endpoint for as long as it exists.
     */
    uint16_t host_port;
    uint16_t container_port; /* target port in the sandbox */
    char protocol[8];        /* "tcp", "udp" or "sctp" */
    char host_ip[64];        /* "" for every address */
    /*
     * Last port of a host port pool ("8000-8003:80"), 0 for none: the plug-in
     * publishes the first port of [host_port, host_port_end] that no other
     * endpoint publishes and no host socket holds (each replica of a scaled
     * service gets its own), chosen atomically with the endpoint's record,
     * and the endpoint reports it. Not kept in the records (the choice is).
     */
    uint16_t host_port_end;
};

/* An endpoint to attach: SANDBOX on NETWORK. */
struct net_attachment {
    char *network;          /* network name */
    char *sandbox;          /* sandbox id */
    char *ifname;           /* interface in the sandbox, NULL: "eth0" */
    char **aliases;         /* NULL-terminated names that resolve to this endpoint */
    struct net_port *ports; /* owned array of n_ports */
    size_t n_ports;
    char *ipv4_address; /* static address, NULL: allocated by IPAM */
};

/* An endpoint as it exists. */
struct net_endpoint_info {
    char *network;
    char *sandbox;
    char *ifname;
    char *ipv4; /* address without prefix */
    int prefix_len;
    char *mac;
    char **aliases;         /* NULL-terminated */
    struct net_port *ports; /* the published ports as bound (chosen host ports filled), owned */
    size_t n_ports;
};

enum net_result_kind {
    NET_RESULT_NONE,
    NET_RESULT_NETWORK,  /* network_create */
    NET_RESULT_SANDBOX,  /* sandbox_create */
    NET_RESULT_ENDPOINT, /* attach, check */
    NET_RESULT_LIST,     /* list */
};

/* Everything the plug-in knows about, as listed from the host and its own records. */
struct net_inventory {
    struct net_network_info *networks;
    size_t n_networks;
    struct net_sandbox_info *sandboxes;
    size_t n_sandboxes;
    struct net_endpoint_info *endpoints;
    size_t n_endpoints;
};

/* A typed result, borrowed by DONE. */
struct net_result {
    enum net_result_kind kind;
    const struct net_network_info *network;
    const struct net_sandbox_info *sandbox;
    const struct net_endpoint_info *endpoint;
    const struct net_inventory *inventory;
};

struct net_req;
struct net_ctx;

typedef void net_done_fn(struct net_req *req, const struct net_result *res,
                         const struct stk_err *err, void *userdata);

struct net_plugin_ops {
    /* Sets up private state; synchronous. */
    int (*init)(struct net_ctx *ctx, struct stk_err *err);
    /* Releases private state; synchronous; removes nothing from the host. */
    void (*fini)(struct net_ctx *ctx);
    /* Creates a network; creating an existing one with the same spec succeeds. */
    int (*network_create)(struct net_ctx *ctx, const struct net_network_spec *spec,
                          net_done_fn *done, void *userdata, struct net_req **ret_req,
                          struct stk_err *err);
    /* Removes a network and everything the plug-in made for it; missing succeeds. */
    int (*network_remove)(struct net_ctx *ctx, const char *name, net_done_fn *done, void *userdata,
                          struct net_req **ret_req, struct stk_err *err);
    /* Creates a sandbox; creating an existing one succeeds and returns it. */
    int (*sandbox_create)(struct net_ctx *ctx, const struct net_sandbox_spec *spec,
                          net_done_fn *done, void *userdata, struct net_req **ret_req,
                          struct stk_err *err);
    /* Removes a sandbox after detaching its endpoints; missing succeeds. */
    int (*sandbox_remove)(struct net_ctx *ctx, const char *id, net_done_fn *done, void *userdata,
                          struct net_req **ret_req, struct stk_err *err);
    /* Attaches an endpoint (CNI ADD); attaching an existing endpoint returns it. */
    int (*attach)(struct net_ctx *ctx, const struct net_attachment *att, net_done_fn *done,
                  void *userdata, struct net_req **ret_req, struct stk_err *err);
    /* Detaches an endpoint (CNI DEL); a missing endpoint succeeds. */
    int (*detach)(struct net_ctx *ctx, const char *network, const char *sandbox, net_done_fn *done,
                  void *userdata, struct net_req **ret_req, struct stk_err *err);
    /* Verifies an endpoint is as recorded (CNI CHECK). */
    int (*check)(struct net_ctx *ctx, const char *network, const char *sandbox, net_done_fn *done,
                 void *userdata, struct net_req **ret_req, struct stk_err *err);
    /* Lists networks, sandboxes and endpoints the plug-in made. */
    int (*list)(struct net_ctx *ctx, net_done_fn *done, void *userdata, struct net_req **ret_req,
                struct stk_err *err);
    /* Methods above are valid for ABI 1 */
    /*
     * Optional (NULL: the plug-in defers nothing). Synchronous: brings every
     * hosts file whose update the plug-in deferred up to date with its records,
     * so that when it returns every file lists every endpoint of its networks.
     * Returns the first write error, but tries every file.
     */
    int (*hosts_flush)(struct net_ctx *ctx, struct stk_err *err);
    /*
     * Optional (NULL: not offered). Blocking and thread-safe, as a runtime
     * driver calls it from a work thread (the hcs driver, for the NICs of a
     * utility VM, reference hcs-hns.md §4.4): lists the endpoints of network
     * namespace NAMESPACE_ID as two new NULL-terminated vectors of the same
     * length, endpoint ids in *RET_IDS and MAC addresses in *RET_MACS (free
     * with stk_strv_free()).
     */
    int (*namespace_endpoints)(struct net_ctx *ctx, const char *namespace_id, char ***ret_ids,
                               char ***ret_macs, struct stk_err *err);
    /*
     * Optional (NULL or STK_ENOTSUP: ports stay published while the
     * container is stopped). ON = 0 withdraws the published ports of every
     * endpoint of SANDBOX (a stopped container holds no host port, so a host
     * server may bind it); ON = 1 checks them again, as attach does (STK_EEXIST
     * "port 8080/tcp is already in use on the host" or "... is already
     * published by 'SB'"), and publishes them. Idempotent both ways; DONE
     * reports NET_RESULT_NONE.
     */
    int (*ports_set)(struct net_ctx *ctx, const char *sandbox, int on, net_done_fn *done,
                     void *userdata, struct net_req **ret_req, struct stk_err *err);
};

struct net_plugin {
    const char *name;     /* "bridge", "cni", "hns", "fake" */
    unsigned abi_version; /* NET_PLUGIN_ABI_1 */
    uint32_t caps;
    size_t priv_size;
    const struct net_plugin_ops *ops;
};

struct net_ctx {
    const struct net_plugin *plugin; /* borrowed, static */
    uv_loop_t *loop;                 /* borrowed */
    char *state_dir;                 /* owned: the plug-in keeps its records below STATE_DIR/net */
    char *run_dir;                   /* owned: pinned namespaces below RUN_DIR/netns */
    void *priv;                      /* owned: plug-in state */
};

struct net_req {
    struct net_ctx *ctx;
    int canceled;
    void (*cancel)(struct net_req *req);
};

/* Cancels REQ; DONE is still called once. NULL-safe. */
void net_req_cancel(struct net_req *req);

/* Finds a plug-in by name ("bridge", "cni", "hns", "fake"); NULL with STK_ENOENT when unknown. */
const struct net_plugin *net_plugin_find(const char *name, struct stk_err *err);

/* Creates a context and runs the plug-in's init; NULL with ERR on failure. */
struct net_ctx *net_ctx_new(const struct net_plugin *plugin, uv_loop_t *loop, const char *state_dir,
                            const char *run_dir, struct stk_err *err);
/* Runs fini and frees CTX; NULL-safe. */
void net_ctx_free(struct net_ctx *ctx);

/* Release helpers; NULL-safe. */
void net_network_info_release(struct net_network_info *n);
void net_sandbox_info_release(struct net_sandbox_info *s);
void net_endpoint_info_release(struct net_endpoint_info *e);
void net_inventory_release(struct net_inventory *inv);
void net_attachment_release(struct net_attachment *a);

struct json_t;

/*
 * Published ports in the form the plug-ins keep in their endpoint records: a
 * JSON array of {"host_port": N, "container_port": N, "protocol": "tcp",
 * "host_ip": ""}. net_ports_to_json() returns a new reference (never NULL);
 * net_ports_from_json() returns a new array (NULL when ARR is empty or not an
 * array) and its length in *RET_N; items without a container port are skipped.
 */
struct json_t *net_ports_to_json(const struct net_port *ports, size_t n);
struct net_port *net_ports_from_json(const struct json_t *arr, size_t *ret_n);
/* Deep copies. */
void net_network_info_copy(struct net_network_info *dst, const struct net_network_info *src);
void net_sandbox_info_copy(struct net_sandbox_info *dst, const struct net_sandbox_info *src);
void net_endpoint_info_copy(struct net_endpoint_info *dst, const struct net_endpoint_info *src);
void net_inventory_copy(struct net_inventory *dst, const struct net_inventory *src);

/* Every wrapper takes RET_REQ; a NULL one is replaced so plug-ins may always store into it. */
#define NET__CALL(ctx, op, ...)                                                                    \
    do {                                                                                           \
        struct net_req *net__unused_req;                                                           \
        if (!ret_req)                                                                              \
            ret_req = &net__unused_req;                                                            \
        if (!(ctx) || !(ctx)->plugin->ops->op)                                                     \
            return stk_err_set(err, STK_ENOTSUP, 0, "network plug-in: '%s' is not supported",      \
                               #op);                                                               \
        return (ctx)->plugin->ops->op((ctx), __VA_ARGS__);                                         \
    } while (0)

static inline int net_network_create(struct net_ctx *ctx, const struct net_network_spec *spec,
                                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                                     struct stk_err *err)
{
    NET__CALL(ctx, network_create, spec, done, userdata, ret_req, err);
}

static inline int net_network_remove(struct net_ctx *ctx, const char *name, net_done_fn *done,
                                     void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    NET__CALL(ctx, network_remove, name, done, userdata, ret_req, err);
}

static inline int net_sandbox_create(struct net_ctx *ctx, const struct net_sandbox_spec *spec,
                                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                                     struct stk_err *err)
{
    NET__CALL(ctx, sandbox_create, spec, done, userdata, ret_req, err);
}

static inline int net_sandbox_remove(struct net_ctx *ctx, const char *id, net_done_fn *done,
                                     void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    NET__CALL(ctx, sandbox_remove, id, done, userdata, ret_req, err);
}

static inline int net_endpoint_attach(struct net_ctx *ctx, const struct net_attachment *att,
                                      net_done_fn *done, void *userdata, struct net_req **ret_req,
                                      struct stk_err *err)
{
    NET__CALL(ctx, attach, att, done, userdata, ret_req, err);
}

static inline int net_endpoint_detach(struct net_ctx *ctx, const char *network, const char *sandbox,
                                      net_done_fn *done, void *userdata, struct net_req **ret_req,
                                      struct stk_err *err)
{
    NET__CALL(ctx, detach, network, sandbox, done, userdata, ret_req, err);
}

static inline int net_endpoint_check(struct net_ctx *ctx, const char *network, const char *sandbox,
                                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                                     struct stk_err *err)
{
    NET__CALL(ctx, check, network, sandbox, done, userdata, ret_req, err);
}

static inline int net_list(struct net_ctx *ctx, net_done_fn *done, void *userdata,
                           struct net_req **ret_req, struct stk_err *err)
{
    NET__CALL(ctx, list, done, userdata, ret_req, err);
}

static inline int net_sandbox_ports_set(struct net_ctx *ctx, const char *sandbox, int on,
                                        net_done_fn *done, void *userdata, struct net_req **ret_req,
                                        struct stk_err *err)
{
    NET__CALL(ctx, ports_set, sandbox, on, done, userdata, ret_req, err);
}

/* Runs the plug-in's hosts_flush; 0 for a NULL CTX or a plug-in without one. */
static inline int net_hosts_flush(struct net_ctx *ctx, struct stk_err *err)
{
    if (!ctx || !ctx->plugin->ops->hosts_flush)
        return 0;
    return ctx->plugin->ops->hosts_flush(ctx, err);
}

/* Wrapper of the optional ops->namespace_endpoints; STK_ENOTSUP without one. */
static inline int net_namespace_endpoints(struct net_ctx *ctx, const char *namespace_id,
                                          char ***ret_ids, char ***ret_macs, struct stk_err *err)
{
    if (!ctx || !ctx->plugin->ops->namespace_endpoints)
        return stk_err_set(err, STK_ENOTSUP, 0, "%s: 'namespace_endpoints' is not supported",
                           ctx ? ctx->plugin->name : "network plug-in");
    return ctx->plugin->ops->namespace_endpoints(ctx, namespace_id, ret_ids, ret_macs, err);
}

/* Synchronous wrapper, as rt_sync in rt-driver.h; results are deep-copied. */
struct net_sync {
    int done;
    struct stk_err err;
    enum net_result_kind kind;
    struct net_network_info network;
    struct net_sandbox_info sandbox;
    struct net_endpoint_info endpoint;
    struct net_inventory inventory;
};

#define NET_SYNC_INIT                                                                              \
    {                                                                                              \
        0                                                                                          \
    }

void net_sync_done(struct net_req *req, const struct net_result *res, const struct stk_err *err,
                   void *userdata);
int net_sync_wait(uv_loop_t *loop, struct net_sync *s, int start_ret, struct stk_err *err);
void net_sync_release(struct net_sync *s);

#endif
