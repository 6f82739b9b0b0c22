/*
 * net-fake.h - the scriptable in-memory network plug-in (STYLE.md rules 27, 34, 35),
 * the network-side twin of the fake runtime driver (runtime/fake/rt-fake.h).
 *
 * `net_plugin_fake` (name "fake") implements every operation of net-plugin.h
 * without touching the host's network: no namespace, bridge, iptables rule or
 * process. It is what the reconciler's unit tests use next to the fake runtime
 * driver, and what `stack --runtime fake` pairs with for end-to-end tests.
 *
 * Model. The semantics are those of the CNI plug-in (netplugins/cni/net-cni.h),
 * minus the host side:
 *   network_create  a network has a name (the CNI name rule
 *            ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$), a subnet (the spec's, prefix at most
 *            /30, or the first free /24 of 10.89.N.0/24, N = 0..255; STK_ENET when
 *            none is left), a gateway (the spec's, which must lie in the subnet,
 *            or the first address), a bridge name "fake-" + 8 hex digits of
 *            SHA-256(NAME) (never created), the internal flag and the project.
 *            Creating an existing network succeeds and returns it, unless the
 *            spec names another subnet (STK_EEXIST); a spec subnet that
 *            overlaps another network's is STK_EEXIST.
 *   network_remove  detaches every endpoint still on the network first (as the
 *            CNI plug-in does: it runs DEL for them), rewriting at once the
 *            hosts files of the sandboxes concerned, then forgets it. Missing
 *            succeeds.
 *   sandbox_create  a sandbox has an id (CNI name rule), a hostname, a project,
 *            a handle RUN/netns/ID (a path that is never created: there is no
 *            namespace), and two real files written like the CNI plug-in's:
 *            RUN/netns/ID.hosts and RUN/netns/ID.resolv.conf (no nameserver).
 *            Creating an existing sandbox succeeds and returns it (its hosts and
 *            resolv.conf files are rewritten). Needs a context run dir.
 *   sandbox_remove  detaches the sandbox's endpoints (updating the hosts files
 *            of the sandboxes that shared a network with it as detach does),
 *            removes its two files and forgets it. Missing succeeds.
 *   attach   STK_ENOENT for an unknown network or sandbox. An existing endpoint
 *            of the sandbox on the network is returned as it is. Otherwise the
 *            endpoint gets ATT->ifname or the first free "ethN" of the sandbox,
 *            the static ATT->ipv4_address (STK_ENET when outside the subnet, the
 *            network or broadcast address, the gateway, or in use) or the
 *            lowest free address of the subnet above the gateway, then below it
 *            (STK_ENET when the subnet is full), the subnet's prefix length, a MAC "02:42:" +
 *            the four address bytes (Docker's scheme), the aliases and the
 *            published ports. A published port whose host port and protocol
 *            are already published by an endpoint of another sandbox (ports are
 *            the sandbox's, as Docker's are the container's: publishing them
 *            again on a second network is no conflict) on an overlapping host
 *            address ("" and "0.0.0.0" overlap every address) is STK_ENET
 *            "fake: attach 'SB' to 'NET': port 8080/tcp is already
 *            allocated". Then the hosts files are updated (see "Hosts
 *            files" below: the sandbox's own at once).
 *   detach   forgets the endpoint and updates the hosts files as attach
 *            does (the sandbox's own at once); a missing one succeeds.
 *   check    NET_RESULT_ENDPOINT for an attached endpoint, else STK_ENOENT.
 *   list     NET_RESULT_LIST: every network (sorted by name), sandbox (sorted
 *            by id) and endpoint (sorted by sandbox, then network), with their
 *            project labels.
 * Hosts files are those of the CNI plug-in, rewritten in place (O_TRUNC, same
 * inode, as they are bind-mounted): "127.0.0.1\tlocalhost", "::1\tlocalhost",
 * then for every network the sandbox is attached to (by name) and every
 * sandbox on it (by id) a line "IP\tHOSTNAME ALIAS..." (the sandbox's hostname
 * first, duplicates and empty names dropped, no line when there is no name).
 * When they are written follows the CNI plug-in's rule (net-cni.h, "Hosts
 * files"), so that an up of N services writes O(N) files, not O(N^2):
 *   - attach and detach rewrite the sandbox's OWN file at once;
 *   - the other members' files of the network are rewritten once the changes
 *     they miss number at least half the network's members (2 * pending >=
 *     members), so a burst of N attaches costs at most about 2N such writes;
 *   - the hosts_flush op (the executor calls it at the end of every pass)
 *     and fini rewrite the files of every network with pending changes;
 *   - a file is written only when its content changes (known from the digest
 *     of the last write, else read back once);
 *   - loading the state file checks every sandbox's files against the model,
 *     which repairs files left stale by an aborted run.
 * net_fake_hosts_writes() counts the hosts files actually written.
 *
 * Asynchronous contract (net-plugin.h). Arguments are checked at the call
 * (NULL spec or DONE, an invalid name, subnet, gateway, address or protocol,
 * no run dir for sandbox_create: a negative code is returned at once and DONE
 * is never called); the operation itself takes effect when it completes, on a
 * uv_timer of the context's loop that fires after the op has returned (after
 * the scripted delay, 0 ms by default; ops with equal delays complete in call
 * order), so the existence of networks and sandboxes is checked then, and an
 * ENOENT is reported through DONE. net_req_cancel() before completion makes
 * DONE report STK_ECANCELED, on the next loop iteration, and the operation
 * has no effect. net_ctx_free() with requests still pending calls their DONE
 * with STK_ECANCELED from fini. RET_REQ may be NULL.
 *
 * Scripting. Every function below takes a context of the fake plug-in and
 * returns STK_EINVAL (with ERR filled) for any other context or bad arguments.
 * A MATCH string selects calls: NULL or "*" selects every call; otherwise a
 * call whose network name or sandbox id equals it (attach, detach and check
 * have both; list has neither, so a non-"*" MATCH never selects it). Rules
 * and counters live in memory only; they are not saved in the state file.
 *
 * State file (crash tests, `stack --runtime fake` across invocations).
 * net_fake_set_state_file() loads the file when it exists and from then on
 * rewrites it atomically (stk_file_write_atomic, no fsync: it survives
 * abort(), not a power cut) after every mutation. It holds the networks,
 * sandboxes and endpoints; loading it rewrites every sandbox's hosts and
 * resolv.conf files (best effort). When the hosts files or the state file
 * cannot be written, the op that mutated reports the STK_EIO error through
 * DONE although its in-memory effect has happened.
 *
 * Environment, read by init (so by every net_ctx_new of the plug-in):
 *   STACK_FAKE_NET_STATE=PATH        as net_fake_set_state_file(PATH).
 *   STACK_FAKE_NET_FAIL=RULE[,RULE...] with RULE = OP:N[+][:CODE[:MESSAGE]]
 *                                    fails the Nth call of OP (N+: the Nth and
 *                                    every later one) asynchronously. OP is an
 *                                    op name ("attach", "network_create"),
 *                                    "any" or "mutating"; CODE is an STK_E* name
 *                                    with or without "STK_" ("ENET") or its
 *                                    stk_strerror() text ("network failure"),
 *                                    default ENET; MESSAGE runs to the next ','
 *                                    and may contain ':'. A third field that is
 *                                    no code and is the last one is the
 *                                    MESSAGE, with the default code. Examples:
 *                                    STACK_FAKE_NET_FAIL="attach:3:ENET:no address",
 *                                    STACK_FAKE_NET_FAIL="attach:3:no address".
 *   STACK_FAKE_NET_DELAY_MS=D | OP:D[,OP:D...]   delay every op, or the named ops.
 * A malformed variable makes init (so net_ctx_new) fail with STK_EINVAL naming it.
 */
#ifndef NET_FAKE_H
#define NET_FAKE_H

#include <stdint.h>

#include "netplugins/net-plugin.h"

/* The plug-in descriptor, registered in netplugins/net-plugin.c as "fake". */
extern const struct net_plugin net_plugin_fake;

/*
 * The operations of the plug-in as the scripting API names them; the third
 * column says whether the op mutates the plug-in's state (check and list are
 * read-only).
 */
#define NET_FAKE_OP_MAP(X)                                                                         \
    X(NETWORK_CREATE, "network_create", 1)                                                         \
    X(NETWORK_REMOVE, "network_remove", 1)                                                         \
    X(SANDBOX_CREATE, "sandbox_create", 1)                                                         \
    X(SANDBOX_REMOVE, "sandbox_remove", 1)                                                         \
    X(ATTACH, "attach", 1)                                                                         \
    X(DETACH, "detach", 1)                                                                         \
    X(CHECK, "check", 0)                                                                           \
    X(LIST, "list", 0)

enum net_fake_op {
#define NET__FAKE_OP_ENUM(n, s, m) NET_FAKE_OP_##n,
    NET_FAKE_OP_MAP(NET__FAKE_OP_ENUM)
#undef NET__FAKE_OP_ENUM
        _NET_FAKE_OP_MAX,
    NET_FAKE_OP_ANY = -1,      /* selector: every op */
    NET_FAKE_OP_MUTATING = -2, /* selector: every op whose third column is 1 */
    _NET_FAKE_OP_INVALID = -22,
};

/* Returns "attach", "any", "mutating"...; NULL for an invalid value. */
const char *net_fake_op_to_string(enum net_fake_op op);
/* Parses an op name or "any"/"mutating"; _NET_FAKE_OP_INVALID when unknown. */
enum net_fake_op net_fake_op_from_string(const char *s);

/* A failure to inject (net_fake_fail_add()). */
struct net_fake_fail {
    enum net_fake_op op; /* the op, or NET_FAKE_OP_ANY / NET_FAKE_OP_MUTATING */
    const char *match;   /* network name or sandbox id (see top); NULL: every call */
    unsigned nth;        /* 1-based: the Nth call selected by OP and MATCH since the rule was
                            added is the first to fail */
    unsigned count;      /* how many consecutive selected calls fail from the Nth; 0: all */
    int code;            /* the STK_E* code to report (negative); 0 means STK_ENET */
    const char *message; /* the error message; NULL: "injected failure" */
    int immediate;       /* non-zero: the op returns the error at once (DONE never called);
                            zero: the op starts and DONE reports the error */
};

/*
 * Adds a failure rule. RULE and its strings are copied. Every call of an op
 * advances every rule whose OP and MATCH select it; a call fails with the
 * first rule (in order of addition) whose window [nth, nth + count) contains
 * its counter. The failed call has no effect on the fake's state.
 * Returns 0, or STK_EINVAL for nth 0, a positive code or an invalid op.
 */
int net_fake_fail_add(struct net_ctx *ctx, const struct net_fake_fail *rule, struct stk_err *err);

/* Shorthand: fail the Nth call of OP (every target) asynchronously with CODE and MESSAGE. */
int net_fake_fail_nth(struct net_ctx *ctx, enum net_fake_op op, unsigned nth, int code,
                      const char *message, struct stk_err *err);

/* Removes every failure rule. */
int net_fake_fail_clear(struct net_ctx *ctx, struct stk_err *err);

/*
 * Completes every later call of OP (or of every op for NET_FAKE_OP_ANY)
 * DELAY_MS milliseconds after it was made instead of on the next loop
 * iteration. A specific op's delay overrides the NET_FAKE_OP_ANY one; 0 resets
 * it. NET_FAKE_OP_MUTATING is STK_EINVAL.
 */
int net_fake_set_delay(struct net_ctx *ctx, enum net_fake_op op, uint64_t delay_ms,
                       struct stk_err *err);

/*
 * Returns the number of calls made so far of OP (or of every op for
 * NET_FAKE_OP_ANY, of every mutating op for NET_FAKE_OP_MUTATING), counting
 * every call that reached the plug-in, including calls that failed or were
 * canceled. 0 for a context of another plug-in or an invalid OP.
 */
unsigned net_fake_calls(struct net_ctx *ctx, enum net_fake_op op);

/* net_fake_calls(CTX, NET_FAKE_OP_MUTATING): the calls of mutating ops. */
unsigned net_fake_mutations(struct net_ctx *ctx);

/* Resets every call counter to 0 (failure rules keep their own counters). */
int net_fake_calls_reset(struct net_ctx *ctx, struct stk_err *err);

/*
 * Returns the number of hosts files written so far (a file whose content did
 * not change is not written, not counted); 0 for a context of another plug-in.
 */
unsigned long net_fake_hosts_writes(struct net_ctx *ctx);

/* Returns the number of started requests whose DONE has not been called yet. */
unsigned net_fake_pending(struct net_ctx *ctx);

/*
 * Keeps the fake's state in the file PATH (copied). When PATH exists, its
 * networks, sandboxes and endpoints replace the in-memory ones and every
 * sandbox's hosts and resolv.conf files are rewritten (best effort); otherwise
 * the current state is written to it. Returns STK_EIO when the file cannot be
 * read, parsed or written (the in-memory state is then unchanged).
 */
int net_fake_set_state_file(struct net_ctx *ctx, const char *path, struct stk_err *err);

#endif
