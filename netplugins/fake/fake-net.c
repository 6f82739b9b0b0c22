/*
 * fake-net.c - the scriptable in-memory network plug-in; see net-fake.h for
 * its model, its scripting API and its state file.
 *
 * Every started op is a struct fk_req holding a uv_timer. The op's effect is
 * applied in the timer callback (req_fire), so an op that is canceled or fails
 * by script changes nothing, and DONE always runs after the op has returned.
 * The timer is freed in its close callback (STYLE.md rule 22), which never
 * touches the context, so net_ctx_free() may free the plug-in state at once.
 * Networks, sandboxes and endpoints are sorted singly linked lists, so that
 * hosts files and listings come out in the CNI plug-in's order.
 */
#include "netplugins/fake/net-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-macro.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"

#define FK_STATE_VERSION 1
#define FK_POOL_PREFIX "10.89"

struct fk_net {
    struct fk_net *next;                              /* sorted by name */
    char *name, *subnet, *gateway, *bridge, *project; /* owned; project may be NULL */
    int internal;
};

struct fk_sb {
    struct fk_sb *next;                      /* sorted by id */
    char *id, *hostname, *project;           /* owned; hostname and project may be NULL */
    char *handle, *hosts_path, *resolv_path; /* owned */
};

struct fk_ep {
    struct fk_ep *next;                            /* sorted by sandbox, then network */
    char *network, *sandbox, *ifname, *ipv4, *mac; /* owned */
    char *static_ipv4;                             /* owned, NULL when allocated */
    int prefix_len;
    struct stk_strv aliases;
    struct net_port *ports; /* owned array of n_ports */
    size_t n_ports;
};

/* Everything the fake knows; what the state file holds. */
struct fk_model {
    struct fk_net *nets;
    struct fk_sb *sbs;
    struct fk_ep *eps;
};

struct fk_fail_rule {
    struct fk_fail_rule *next;
    enum net_fake_op op;
    char *match; /* owned, NULL for all */
    unsigned nth, count, seen;
    int code;
    char *message; /* owned */
    int immediate;
};

struct fk;

/* A started operation. */
struct fk_req {
    struct net_req base; /* first: net_req_cancel() gets this pointer */
    uv_timer_t timer;    /* fires the completion; freed in its close callback */
    struct fk *f;
    struct fk_req *prev, *next; /* the pending list */
    enum net_fake_op op;
    net_done_fn *done;
    void *userdata;
    int completed;                 /* DONE was called (or is being called) */
    char *name;                    /* owned: network name or sandbox id */
    char *sandbox;                 /* owned: sandbox id of detach and check */
    struct net_network_spec nspec; /* owned copy for network_create */
    struct net_sandbox_spec sspec; /* owned copy for sandbox_create */
    struct net_attachment att;     /* owned copy for attach */
    int fail_code;                 /* scripted failure, 0 for none */
    char *fail_msg;                /* owned */
};

/* The plug-in state, ctx->priv. */
struct fk {
    struct net_ctx *ctx;
    struct fk_model m;
    struct fk_fail_rule *fails;
    uint64_t delay_ms[_NET_FAKE_OP_MAX];
    int has_delay[_NET_FAKE_OP_MAX];
    uint64_t delay_any_ms;
    unsigned calls[_NET_FAKE_OP_MAX];
    struct fk_req *pending;
    unsigned n_pending;
    char *state_file; /* owned, NULL: memory only */
    int closing;      /* fini is running */
    /* Hosts files (net-fake.h, "Hosts files"). */
    json_t *hosts_dirty;        /* owned {NET: changes not yet in the other members' files} */
    json_t *hosts_sums;         /* owned {ID: SHA-256 hex of what was last written there} */
    unsigned long hosts_writes; /* hosts files written so far */
};

static const char *const op_names[] = {
#define NET__FAKE_OP_NAME(n, s, m) s,
    NET_FAKE_OP_MAP(NET__FAKE_OP_NAME)
#undef NET__FAKE_OP_NAME
};

static const int op_mutating[] = {
#define NET__FAKE_OP_MUT(n, s, m) m,
    NET_FAKE_OP_MAP(NET__FAKE_OP_MUT)
#undef NET__FAKE_OP_MUT
};

const char *net_fake_op_to_string(enum net_fake_op op)
{
    if (op == NET_FAKE_OP_ANY)
        return "any";
    if (op == NET_FAKE_OP_MUTATING)
        return "mutating";
    if ((int)op < 0 || op >= _NET_FAKE_OP_MAX)
        return NULL;
    return op_names[op];
}

enum net_fake_op net_fake_op_from_string(const char *s)
{
    if (!s)
        return _NET_FAKE_OP_INVALID;
    if (strcmp(s, "any") == 0)
        return NET_FAKE_OP_ANY;
    if (strcmp(s, "mutating") == 0)
        return NET_FAKE_OP_MUTATING;
    for (int i = 0; i < _NET_FAKE_OP_MAX; i++)
        if (strcmp(s, op_names[i]) == 0)
            return (enum net_fake_op)i;
    return _NET_FAKE_OP_INVALID;
}

static int op_valid(enum net_fake_op op)
{
    return op == NET_FAKE_OP_ANY || op == NET_FAKE_OP_MUTATING ||
           ((int)op >= 0 && op < _NET_FAKE_OP_MAX);
}

/* Does selector SEL (an op, ANY or MUTATING) select the concrete op OP? */
static int op_selects(enum net_fake_op sel, enum net_fake_op op)
{
    if (sel == NET_FAKE_OP_ANY)
        return 1;
    if (sel == NET_FAKE_OP_MUTATING)
        return op_mutating[op];
    return sel == op;
}

/* The plug-in state of CTX, or NULL with STK_EINVAL when CTX is not a fake context. */
static struct fk *fk_get(struct net_ctx *ctx, struct stk_err *err)
{
    if (!ctx || ctx->plugin != &net_plugin_fake || !ctx->priv) {
        stk_err_set(err, STK_EINVAL, 0, "fake: not a context of the fake network plug-in");
        return NULL;
    }
    return ctx->priv;
}

/* The CNI name rule ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (network names and sandbox ids). */
static int name_valid(const char *s)
{
    if (!s || !*s ||
        !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* ---- addresses ---- */

static int addr_parse(const char *s, uint32_t *ret)
{
    struct in_addr a;

    if (!s || uv_inet_pton(AF_INET, s, &a) != 0)
        return -1;
    *ret = ntohl(a.s_addr);
    return 0;
}

static char *addr_format(uint32_t a)
{
    return stk_xasprintf("%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static uint32_t prefix_mask(int prefix)
{
    return prefix ? 0xffffffffu << (32 - prefix) : 0;
}

/* Parses "a.b.c.d/n" (n in 0..32); returns 0 or -1. The address is in host order. */
static int cidr_parse(const char *cidr, uint32_t *ret_addr, int *ret_prefix)
{
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char *ip, *end;
    long n;
    int ret;

    if (!slash || !slash[1])
        return -1;
    errno = 0;
    n = strtol(slash + 1, &end, 10);
    if (errno || *end || n < 0 || n > 32)
        return -1;
    ip = stk_xstrndup(cidr, (size_t)(slash - cidr));
    ret = addr_parse(ip, ret_addr);
    free(ip);
    *ret_prefix = (int)n;
    return ret;
}

/* ---- the model ---- */

static void net_free(struct fk_net *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->subnet);
    free(n->gateway);
    free(n->bridge);
    free(n->project);
    free(n);
}

static void sb_free(struct fk_sb *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->hostname);
    free(s->project);
    free(s->handle);
    free(s->hosts_path);
    free(s->resolv_path);
    free(s);
}

static void ep_free(struct fk_ep *e)
{
    if (!e)
        return;
    free(e->network);
    free(e->sandbox);
    free(e->ifname);
    free(e->ipv4);
    free(e->mac);
    free(e->static_ipv4);
    stk_strv_release(&e->aliases);
    free(e->ports);
    free(e);
}

static void model_release(struct fk_model *m)
{
    while (m->nets) {
        struct fk_net *n = m->nets->next;

        net_free(m->nets);
        m->nets = n;
    }
    while (m->sbs) {
        struct fk_sb *n = m->sbs->next;

        sb_free(m->sbs);
        m->sbs = n;
    }
    while (m->eps) {
        struct fk_ep *n = m->eps->next;

        ep_free(m->eps);
        m->eps = n;
    }
}

static struct fk_net *net_find(const struct fk_model *m, const char *name)
{
    for (struct fk_net *n = m->nets; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

static struct fk_sb *sb_find(const struct fk_model *m, const char *id)
{
    for (struct fk_sb *s = m->sbs; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static struct fk_ep *ep_find(const struct fk_model *m, const char *network, const char *sandbox)
{
    for (struct fk_ep *e = m->eps; e; e = e->next)
        if (strcmp(e->network, network) == 0 && strcmp(e->sandbox, sandbox) == 0)
            return e;
    return NULL;
}

static void net_insert(struct fk_model *m, struct fk_net *n)
{
    struct fk_net **pp = &m->nets;

    while (*pp && strcmp((*pp)->name, n->name) < 0)
        pp = &(*pp)->next;
    n->next = *pp;
    *pp = n;
}

static void sb_insert(struct fk_model *m, struct fk_sb *s)
{
    struct fk_sb **pp = &m->sbs;

    while (*pp && strcmp((*pp)->id, s->id) < 0)
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
}

static int ep_cmp(const struct fk_ep *a, const struct fk_ep *b)
{
    int c = strcmp(a->sandbox, b->sandbox);

    return c ? c : strcmp(a->network, b->network);
}

static void ep_insert(struct fk_model *m, struct fk_ep *e)
{
    struct fk_ep **pp = &m->eps;

    while (*pp && ep_cmp(*pp, e) < 0)
        pp = &(*pp)->next;
    e->next = *pp;
    *pp = e;
}

/* Unlinks and frees every endpoint on NETWORK (NULL: any) of SANDBOX (NULL: any). */
static void eps_remove(struct fk_model *m, const char *network, const char *sandbox)
{
    struct fk_ep **pp = &m->eps;

    while (*pp) {
        struct fk_ep *e = *pp;

        if ((!network || strcmp(e->network, network) == 0) &&
            (!sandbox || strcmp(e->sandbox, sandbox) == 0)) {
            *pp = e->next;
            ep_free(e);
        } else {
            pp = &e->next;
        }
    }
}

/* Adds to OUT the id of every sandbox with an endpoint on NETWORK. */
static void sbs_on_net(const struct fk_model *m, const char *network, struct stk_strv *out)
{
    for (struct fk_ep *e = m->eps; e; e = e->next)
        if (strcmp(e->network, network) == 0 && !stk_strv_contains(out, e->sandbox))
            stk_strv_push(out, e->sandbox);
}

static void net_info(const struct fk_net *n, struct net_network_info *i)
{
    i->name = n->name;
    i->subnet = n->subnet;
    i->gateway = n->gateway;
    i->bridge = n->bridge;
    i->project = n->project;
}

static void sb_info(const struct fk_sb *s, struct net_sandbox_info *i)
{
    i->id = s->id;
    i->handle = s->handle;
    i->hosts_path = s->hosts_path;
    i->resolv_path = s->resolv_path;
    i->project = s->project;
}

static void ep_info(const struct fk_ep *e, struct net_endpoint_info *i)
{
    i->network = e->network;
    i->sandbox = e->sandbox;
    i->ifname = e->ifname;
    i->ipv4 = e->ipv4;
    i->prefix_len = e->prefix_len;
    i->mac = e->mac;
    i->aliases = e->aliases.v;
    i->ports = e->ports;
    i->n_ports = e->n_ports;
}

/* ---- files of a sandbox ---- */

/* Rewrites PATH in place (O_TRUNC, same inode: the file is bind-mounted). */
static int write_in_place(const char *path, const char *data, size_t len, struct stk_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ret = 0;

    if (fd < 0)
        return stk_err_set(err, STK_EIO, errno, "fake: open '%s'", path);
    while (len) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = stk_err_set(err, STK_EIO, errno, "fake: write '%s'", path);
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && ret == 0)
        ret = stk_err_set(err, STK_EIO, errno, "fake: close '%s'", path);
    return ret;
}

static void push_unique(struct stk_strv *names, const char *name)
{
    if (name && *name && !stk_strv_contains(names, name))
        stk_strv_push(names, name);
}

/*
 * Appends to OUT the lines of network NET: one per endpoint on it, in sandbox
 * id order, "IP\tHOSTNAME ALIAS..." (net__cni_hosts_write's layout). One walk
 * of the endpoints and sandboxes, both sorted by sandbox id.
 */
static void hosts_block(const struct fk_model *m, const char *net, struct stk_buf *out)
{
    const struct fk_sb *o = m->sbs;

    for (const struct fk_ep *e = m->eps; e; e = e->next) {
        struct stk_strv names = STK_STRV_INIT;

        if (strcmp(e->network, net) != 0)
            continue;
        while (o && strcmp(o->id, e->sandbox) < 0)
            o = o->next;
        if (!o || strcmp(o->id, e->sandbox) != 0)
            continue;
        stk_strv_init(&names);
        push_unique(&names, o->hostname);
        for (size_t i = 0; i < e->aliases.n; i++)
            push_unique(&names, e->aliases.v[i]);
        if (names.n) {
            stk_buf_puts(out, e->ipv4);
            for (size_t i = 0; i < names.n; i++)
                stk_buf_printf(out, "%c%s", i ? ' ' : '\t', names.v[i]);
            stk_buf_putc(out, '\n');
        }
        stk_strv_release(&names);
    }
}

/*
 * Renders the hosts file of S into OUT. BLOCKS (may be NULL) caches the lines
 * of each network ({NET: text}) across the files of one refresh.
 */
static void hosts_render(const struct fk_model *m, const struct fk_sb *s, json_t *blocks,
                         struct stk_buf *out)
{
    stk_buf_puts(out, "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    for (const struct fk_net *n = m->nets; n; n = n->next) {
        const char *text = json_string_value(json_object_get(blocks, n->name));
        struct stk_buf b = STK_BUF_INIT;

        if (!ep_find(m, n->name, s->id))
            continue;
        if (text) {
            stk_buf_puts(out, text);
            continue;
        }
        hosts_block(m, n->name, &b);
        if (b.len)
            stk_buf_add(out, b.buf, b.len);
        if (blocks)
            json_object_set_new(blocks, n->name, json_stringn(b.len ? b.buf : "", b.len));
        stk_buf_release(&b);
    }
}

/* Writes PATH in place unless it already holds exactly DATA. Returns 1 when written. */
static int write_if_changed(const char *path, const char *data, size_t len, struct stk_err *err)
{
    struct stk_err ignored = STK_ERR_INIT;
    char *have = NULL;
    size_t have_len = 0;
    int same = stk_file_read(path, &have, &have_len, &ignored) == 0 && have_len == len &&
               memcmp(have, data, len) == 0;
    int ret;

    stk_err_clear(&ignored);
    free(have);
    if (same)
        return 0;
    ret = write_in_place(path, data, len, err);
    return ret < 0 ? ret : 1;
}

/*
 * Writes the hosts file of S from the model unless it already has that content
 * (known from the digest of the last write, else read back from the file).
 */
static int hosts_put(struct fk *f, const struct fk_sb *s, json_t *blocks, struct stk_err *err)
{
    struct stk_buf out = STK_BUF_INIT;
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];
    const char *known;
    int ret = 0;

    hosts_render(&f->m, s, blocks, &out);
    stk_sha256(out.buf, out.len, md);
    stk_sha256_hex(md, hex);
    if (!f->hosts_sums)
        f->hosts_sums = json_object();
    known = json_string_value(json_object_get(f->hosts_sums, s->id));
    if (known && strcmp(known, hex) == 0)
        goto out;
    if (known) {
        ret = write_in_place(s->hosts_path, out.buf, out.len, err);
        ret = ret < 0 ? ret : 1;
    } else {
        ret = write_if_changed(s->hosts_path, out.buf, out.len, err);
    }
    if (ret > 0)
        f->hosts_writes++;
    if (ret >= 0)
        json_object_set_new(f->hosts_sums, s->id, json_string(hex));
    else
        json_object_del(f->hosts_sums, s->id);
out:
    stk_buf_release(&out);
    return ret < 0 ? ret : 0;
}

/* Keeps the first error in ERR. */
static void first_error(int r, int *ret, struct stk_err *err, struct stk_err *more)
{
    if (r < 0 && *ret == 0) {
        *ret = r;
        stk_err_move(err, more);
    }
    stk_err_clear(more);
}

/* hosts_put() for every sandbox in IDS that exists; returns the first error. */
static int hosts_refresh(struct fk *f, const struct stk_strv *ids, struct stk_err *err)
{
    json_t *blocks = json_object();
    int ret = 0;

    for (size_t i = 0; i < ids->n; i++) {
        const struct fk_sb *s = sb_find(&f->m, ids->v[i]);
        struct stk_err more = STK_ERR_INIT;

        if (s)
            first_error(hosts_put(f, s, blocks, &more), &ret, err, &more);
    }
    json_decref(blocks);
    return ret;
}

/* Rewrites (when changed) the hosts file of every sandbox on NET: one walk, as hosts_block(). */
static int hosts_spread(struct fk *f, const char *net, struct stk_err *err)
{
    json_t *blocks = json_object();
    const struct fk_sb *s = f->m.sbs;
    int ret = 0;

    for (const struct fk_ep *e = f->m.eps; e; e = e->next) {
        struct stk_err more = STK_ERR_INIT;

        if (strcmp(e->network, net) != 0)
            continue;
        while (s && strcmp(s->id, e->sandbox) < 0)
            s = s->next;
        if (s && strcmp(s->id, e->sandbox) == 0)
            first_error(hosts_put(f, s, blocks, &more), &ret, err, &more);
    }
    json_decref(blocks);
    return ret;
}

/*
 * After an endpoint of NET was added or removed: writes OWN's file (NULL:
 * none), counts the change, and rewrites the other members' files once the
 * pending changes are at least half the members (net-fake.h, "Hosts files").
 */
static int hosts_changed(struct fk *f, const char *net, const char *own, struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    const struct fk_sb *s = own ? sb_find(&f->m, own) : NULL;
    json_int_t pending, members = 0;
    int ret = 0;

    if (s)
        first_error(hosts_put(f, s, NULL, &more), &ret, err, &more);
    if (!f->hosts_dirty)
        f->hosts_dirty = json_object();
    pending = json_integer_value(json_object_get(f->hosts_dirty, net)) + 1;
    for (const struct fk_ep *e = f->m.eps; e; e = e->next)
        members += strcmp(e->network, net) == 0;
    if (2 * pending < members) {
        json_object_set_new(f->hosts_dirty, net, json_integer(pending));
        return ret;
    }
    json_object_del(f->hosts_dirty, net);
    first_error(hosts_spread(f, net, &more), &ret, err, &more);
    return ret;
}

/* Rewrites the files of every network with pending changes (hosts_flush, fini). */
static int hosts_flush(struct fk *f, struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    json_t *dirty = f->hosts_dirty, *v;
    const char *net;
    int ret = 0;

    f->hosts_dirty = NULL;
    json_object_foreach(dirty, net, v) first_error(hosts_spread(f, net, &more), &ret, err, &more);
    json_decref(dirty);
    return ret;
}

static int resolv_write(const struct fk_sb *s, struct stk_err *err)
{
    static const char text[] = "# written by stack: no outside resolver (DESIGN.md section 7);\n"
                               "# names resolve from /etc/hosts\n";

    int ret = write_if_changed(s->resolv_path, text, sizeof(text) - 1, err);

    return ret < 0 ? ret : 0;
}

/*
 * Creates the directory of S's files and writes its resolv.conf and hosts file
 * (each only when its content changed). BLOCKS as for hosts_render().
 */
static int sb_files_write(struct fk *f, const struct fk_sb *s, json_t *blocks, struct stk_err *err)
{
    char *dir = stk_xstrdup(s->hosts_path), *slash = strrchr(dir, '/');
    int ret = 0;

    if (slash && slash != dir) {
        *slash = '\0';
        ret = stk_mkdir_p(dir, 0755, err);
    }
    free(dir);
    if (ret == 0)
        ret = resolv_write(s, err);
    if (ret == 0)
        ret = hosts_put(f, s, blocks, err);
    return ret;
}

/* ---- state file ---- */

static int fk_save(struct fk *f, struct stk_err *err)
{
    json_t *root, *nets, *sbs, *eps;
    char *text;
    int ret;

    if (!f->state_file)
        return 0;
    root = json_object();
    nets = json_array();
    sbs = json_array();
    eps = json_array();
    json_object_set_new(root, "version", json_integer(FK_STATE_VERSION));
    for (struct fk_net *n = f->m.nets; n; n = n->next)
        json_array_append_new(nets,
                              json_pack("{s:s, s:s, s:s, s:s, s:b, s:s?}", "name", n->name,
                                        "subnet", n->subnet, "gateway", n->gateway, "bridge",
                                        n->bridge, "internal", n->internal, "project", n->project));
    for (struct fk_sb *s = f->m.sbs; s; s = s->next)
        json_array_append_new(sbs, json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s}", "id", s->id,
                                             "hostname", s->hostname, "project", s->project,
                                             "handle", s->handle, "hosts_path", s->hosts_path,
                                             "resolv_path", s->resolv_path));
    for (struct fk_ep *e = f->m.eps; e; e = e->next) {
        json_t *aliases = json_array(), *ports = json_array();

        for (size_t i = 0; i < e->aliases.n; i++)
            json_array_append_new(aliases, json_string(e->aliases.v[i]));
        for (size_t i = 0; i < e->n_ports; i++)
            json_array_append_new(
                ports, json_pack("{s:i, s:i, s:s, s:s}", "host_port", (int)e->ports[i].host_port,
                                 "container_port", (int)e->ports[i].container_port, "protocol",
                                 e->ports[i].protocol, "host_ip", e->ports[i].host_ip));
        json_array_append_new(eps, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s?, s:o, s:o}",
                                             "network", e->network, "sandbox", e->sandbox, "ifname",
                                             e->ifname, "ipv4", e->ipv4, "prefix_len",
                                             e->prefix_len, "mac", e->mac, "static_ipv4",
                                             e->static_ipv4, "aliases", aliases, "ports", ports));
    }
    json_object_set_new(root, "networks", nets);
    json_object_set_new(root, "sandboxes", sbs);
    json_object_set_new(root, "endpoints", eps);
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return stk_err_set(err, STK_ENOMEM, 0, "fake: encode state '%s'", f->state_file);
    ret = stk_file_write_atomic(f->state_file, text, strlen(text), 0644, 0, err);
    free(text);
    if (ret < 0)
        return stk_err_wrap(err, "fake: save state");
    return 0;
}

static char *json_strdup(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? stk_xstrdup(json_string_value(v)) : NULL;
}

static int json_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

/* Parses the state file TEXT into *RET_M (empty on entry); on failure RET_M is left empty. */
static int fk_parse_state(const char *path, const char *text, struct fk_model *ret_m,
                          struct stk_err *err)
{
    json_error_t jerr;
    json_t *root, *nets, *sbs, *eps, *o, *v;
    size_t idx, i;
    int ret = 0;

    root = json_loads(text, 0, &jerr);
    if (!root)
        return stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': %d:%d: %s", path, jerr.line,
                           jerr.column, jerr.text);
    nets = json_object_get(root, "networks");
    sbs = json_object_get(root, "sandboxes");
    eps = json_object_get(root, "endpoints");
    if (!json_is_object(root) || json_int(root, "version") != FK_STATE_VERSION ||
        !json_is_array(nets) || !json_is_array(sbs) || !json_is_array(eps)) {
        ret = stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': not a version %d state file",
                          path, FK_STATE_VERSION);
        goto out;
    }
    json_array_foreach(nets, idx, o)
    {
        struct fk_net *n = stk_new0(struct fk_net);

        n->name = json_strdup(o, "name");
        n->subnet = json_strdup(o, "subnet");
        n->gateway = json_strdup(o, "gateway");
        n->bridge = json_strdup(o, "bridge");
        n->project = json_strdup(o, "project");
        n->internal = json_is_true(json_object_get(o, "internal"));
        if (!n->name || !n->subnet || !n->gateway || !n->bridge || net_find(ret_m, n->name)) {
            net_free(n);
            ret =
                stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': bad network %zu", path, idx);
            goto out;
        }
        net_insert(ret_m, n);
    }
    json_array_foreach(sbs, idx, o)
    {
        struct fk_sb *s = stk_new0(struct fk_sb);

        s->id = json_strdup(o, "id");
        s->hostname = json_strdup(o, "hostname");
        s->project = json_strdup(o, "project");
        s->handle = json_strdup(o, "handle");
        s->hosts_path = json_strdup(o, "hosts_path");
        s->resolv_path = json_strdup(o, "resolv_path");
        if (!s->id || !s->handle || !s->hosts_path || !s->resolv_path || sb_find(ret_m, s->id)) {
            sb_free(s);
            ret =
                stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': bad sandbox %zu", path, idx);
            goto out;
        }
        sb_insert(ret_m, s);
    }
    json_array_foreach(eps, idx, o)
    {
        struct fk_ep *e = stk_new0(struct fk_ep);
        json_t *aliases = json_object_get(o, "aliases"), *ports = json_object_get(o, "ports");

        stk_strv_init(&e->aliases);
        e->network = json_strdup(o, "network");
        e->sandbox = json_strdup(o, "sandbox");
        e->ifname = json_strdup(o, "ifname");
        e->ipv4 = json_strdup(o, "ipv4");
        e->mac = json_strdup(o, "mac");
        e->static_ipv4 = json_strdup(o, "static_ipv4");
        e->prefix_len = json_int(o, "prefix_len");
        if (!e->network || !e->sandbox || !e->ifname || !e->ipv4 || !e->mac ||
            !json_is_array(aliases) || !json_is_array(ports) || !net_find(ret_m, e->network) ||
            !sb_find(ret_m, e->sandbox) || ep_find(ret_m, e->network, e->sandbox)) {
            ep_free(e);
            ret =
                stk_err_set(err, STK_EIO, 0, "fake: parse state '%s': bad endpoint %zu", path, idx);
            goto out;
        }
        json_array_foreach(aliases, i, v) if (json_is_string(v))
            stk_strv_push(&e->aliases, json_string_value(v));
        e->ports = stk_xcalloc(json_array_size(ports) + 1, sizeof(*e->ports));
        json_array_foreach(ports, i, v)
        {
            struct net_port *p = &e->ports[e->n_ports++];
            json_t *proto = json_object_get(v, "protocol"), *hip = json_object_get(v, "host_ip");

            p->host_port = (uint16_t)json_int(v, "host_port");
            p->container_port = (uint16_t)json_int(v, "container_port");
            snprintf(p->protocol, sizeof(p->protocol), "%s",
                     json_is_string(proto) ? json_string_value(proto) : "tcp");
            snprintf(p->host_ip, sizeof(p->host_ip), "%s",
                     json_is_string(hip) ? json_string_value(hip) : "");
        }
        ep_insert(ret_m, e);
    }
out:
    if (ret < 0)
        model_release(ret_m);
    json_decref(root);
    return ret;
}

/* Loads F's state file when it exists (replacing the in-memory state), then saves. */
static int fk_load(struct fk *f, struct stk_err *err)
{
    struct fk_model m = {NULL, NULL, NULL};
    json_t *blocks;
    char *text = NULL;
    int ret;

    ret = stk_file_read(f->state_file, &text, NULL, err);
    if (ret == STK_ENOENT) {
        stk_err_clear(err);
        return fk_save(f, err);
    }
    if (ret < 0)
        return stk_err_wrap(err, "fake: load state");
    ret = fk_parse_state(f->state_file, text, &m, err);
    free(text);
    if (ret < 0)
        return ret;
    model_release(&f->m);
    f->m = m;
    /* Every file is checked against the model: this repairs what an aborted run left stale. */
    json_decref(f->hosts_dirty);
    f->hosts_dirty = NULL;
    blocks = json_object();
    for (struct fk_sb *s = f->m.sbs; s; s = s->next) {
        struct stk_err ignored = STK_ERR_INIT;

        if (sb_files_write(f, s, blocks, &ignored) < 0)
            stk_log_debug("fake: files of sandbox '%s': %s, ignoring", s->id, ignored.msg);
        stk_err_clear(&ignored);
    }
    json_decref(blocks);
    return fk_save(f, err);
}

/*
 * After a mutation: rewrites the hosts files of the sandboxes in IDS (may be
 * NULL: none) when they changed, then saves the state file. Returns the first
 * error; both are always attempted.
 */
static int fk_commit(struct fk *f, const struct stk_strv *ids, struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    int ret = ids ? hosts_refresh(f, ids, err) : 0;

    if (ret < 0) {
        fk_save(f, &more);
        stk_err_clear(&more);
        return ret;
    }
    return fk_save(f, err);
}

/*
 * After an endpoint of NET changed: hosts_changed() (OWN's file at once, the
 * others' when due), then saves the state file; both are always attempted.
 */
static int fk_mutated(struct fk *f, const char *net, const char *own, struct stk_err *err)
{
    struct stk_err more = STK_ERR_INIT;
    int ret = hosts_changed(f, net, own, err);

    if (ret < 0) {
        fk_save(f, &more);
        stk_err_clear(&more);
        return ret;
    }
    return fk_save(f, err);
}

/* ---- requests ---- */

static void spec_release(struct fk_req *r)
{
    free(r->nspec.name);
    free(r->nspec.subnet);
    free(r->nspec.gateway);
    free(r->nspec.project);
    free(r->sspec.id);
    free(r->sspec.hostname);
    free(r->sspec.project);
    net_attachment_release(&r->att);
}

static void req_free_mem(struct fk_req *r)
{
    free(r->name);
    free(r->sandbox);
    spec_release(r);
    free(r->fail_msg);
    free(r);
}

static void req_close_cb(uv_handle_t *h)
{
    req_free_mem(h->data);
}

/* Calls R's DONE once and frees R afterwards. RES and ERR are borrowed. */
static void req_finish(struct fk_req *r, const struct net_result *res, const struct stk_err *err)
{
    struct fk *f = r->f;

    r->completed = 1;
    if (r->prev)
        r->prev->next = r->next;
    else
        f->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    f->n_pending--;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, req_close_cb);
    r->done(&r->base, res, err, r->userdata);
}

static void req_fire(uv_timer_t *t);

static void req_cancel_hook(struct net_req *base)
{
    struct fk_req *r = (struct fk_req *)base;

    /* Complete on the next loop iteration, never inside net_req_cancel(). */
    if (!r->completed)
        uv_timer_start(&r->timer, req_fire, 0, 0);
}

/* The result objects of one completion; their pointers borrow the model. */
struct fk_out {
    struct net_network_info network;
    struct net_sandbox_info sandbox;
    struct net_endpoint_info endpoint;
    struct net_inventory inv; /* arrays owned, strings borrowed */
};

static int run_network_create(struct fk *f, struct fk_req *r, struct fk_out *o, struct stk_err *err)
{
    const struct net_network_spec *spec = &r->nspec;
    struct fk_net *n = net_find(&f->m, spec->name);
    uint32_t addr, mask, a;
    int prefix, pl;
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];

    if (n) {
        if (spec->subnet && strcmp(n->subnet, spec->subnet) != 0)
            return stk_err_set(err, STK_EEXIST, 0, "fake: network '%s' exists with subnet '%s'",
                               spec->name, n->subnet);
        net_info(n, &o->network);
        return 0;
    }
    n = stk_new0(struct fk_net);
    if (spec->subnet) {
        cidr_parse(spec->subnet, &addr, &prefix);
        mask = prefix_mask(prefix);
        for (struct fk_net *p = f->m.nets; p; p = p->next) {
            if (cidr_parse(p->subnet, &a, &pl) < 0)
                continue;
            if (((addr ^ a) & mask & prefix_mask(pl)) == 0) {
                net_free(n);
                return stk_err_set(err, STK_EEXIST, 0, "fake: subnet '%s' overlaps network '%s'",
                                   spec->subnet, p->name);
            }
        }
        n->subnet = stk_xstrdup(spec->subnet);
        n->gateway = spec->gateway ? stk_xstrdup(spec->gateway) : addr_format((addr & mask) + 1);
    } else {
        for (unsigned i = 0; i < 256 && !n->subnet; i++) {
            uint32_t cand = (10u << 24) | (89u << 16) | (i << 8);
            int busy = 0;

            for (struct fk_net *p = f->m.nets; p && !busy; p = p->next)
                busy = cidr_parse(p->subnet, &a, &pl) == 0 &&
                       ((cand ^ a) & prefix_mask(24) & prefix_mask(pl)) == 0;
            if (!busy) {
                n->subnet = stk_xasprintf(FK_POOL_PREFIX ".%u.0/24", i);
                n->gateway = stk_xasprintf(FK_POOL_PREFIX ".%u.1", i);
            }
        }
        if (!n->subnet) {
            net_free(n);
            return stk_err_set(err, STK_ENET, 0,
                               "fake: no free subnet left in " FK_POOL_PREFIX ".0.0/16");
        }
    }
    n->name = stk_xstrdup(spec->name);
    stk_sha256(spec->name, strlen(spec->name), md);
    stk_sha256_hex(md, hex);
    n->bridge = stk_xasprintf("fake-%.8s", hex);
    n->internal = spec->internal != 0;
    n->project = stk_xstrdup(spec->project);
    net_insert(&f->m, n);
    net_info(n, &o->network);
    return fk_save(f, err);
}

static int run_network_remove(struct fk *f, struct fk_req *r, struct stk_err *err)
{
    struct fk_net *n = net_find(&f->m, r->name);
    struct stk_strv ids = STK_STRV_INIT;
    int ret;

    if (!n)
        return 0;
    stk_strv_init(&ids);
    sbs_on_net(&f->m, n->name, &ids);
    eps_remove(&f->m, n->name, NULL);
    for (struct fk_net **pp = &f->m.nets; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    if (f->hosts_dirty)
        json_object_del(f->hosts_dirty, n->name);
    net_free(n);
    ret = fk_commit(f, &ids, err);
    stk_strv_release(&ids);
    return ret;
}

static int run_sandbox_create(struct fk *f, struct fk_req *r, struct fk_out *o, struct stk_err *err)
{
    const struct net_sandbox_spec *spec = &r->sspec;
    struct fk_sb *s = sb_find(&f->m, spec->id);
    int ret;

    if (!s) {
        s = stk_new0(struct fk_sb);
        s->id = stk_xstrdup(spec->id);
        s->hostname = stk_xstrdup(spec->hostname);
        s->project = stk_xstrdup(spec->project);
        s->handle = stk_xasprintf("%s/netns/%s", f->ctx->run_dir, spec->id);
        s->hosts_path = stk_xasprintf("%s.hosts", s->handle);
        s->resolv_path = stk_xasprintf("%s.resolv.conf", s->handle);
        sb_insert(&f->m, s);
        if (f->hosts_sums)
            json_object_del(f->hosts_sums, s->id);
    }
    ret = sb_files_write(f, s, NULL, err);
    if (ret < 0) {
        struct stk_err more = STK_ERR_INIT;

        fk_save(f, &more);
        stk_err_clear(&more);
        return stk_err_wrap(err, "fake: create sandbox '%s'", spec->id);
    }
    sb_info(s, &o->sandbox);
    return fk_save(f, err);
}

static int run_sandbox_remove(struct fk *f, struct fk_req *r, struct stk_err *err)
{
    struct fk_sb *s = sb_find(&f->m, r->name);
    struct stk_strv nets = STK_STRV_INIT;
    struct stk_err e = STK_ERR_INIT;
    int ret = 0, hret = 0;

    if (!s)
        return 0;
    stk_strv_init(&nets);
    for (struct fk_ep *ep = f->m.eps; ep; ep = ep->next)
        if (strcmp(ep->sandbox, s->id) == 0)
            stk_strv_push(&nets, ep->network);
    eps_remove(&f->m, NULL, s->id);
    for (size_t i = 0; i < nets.n; i++) {
        struct stk_err more = STK_ERR_INIT;

        first_error(hosts_changed(f, nets.v[i], NULL, &more), &hret, &e, &more);
    }
    if (f->hosts_sums)
        json_object_del(f->hosts_sums, s->id);
    for (struct fk_sb **pp = &f->m.sbs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (unlink(s->hosts_path) < 0 && errno != ENOENT)
        ret = stk_err_set(err, STK_EIO, errno, "fake: remove '%s'", s->hosts_path);
    if (unlink(s->resolv_path) < 0 && errno != ENOENT && ret == 0)
        ret = stk_err_set(err, STK_EIO, errno, "fake: remove '%s'", s->resolv_path);
    sb_free(s);
    if (ret == 0 && hret < 0) {
        ret = hret;
        stk_err_move(err, &e);
    }
    stk_err_clear(&e);
    if (ret < 0) {
        fk_commit(f, NULL, &e);
        stk_err_clear(&e);
    } else {
        ret = fk_commit(f, NULL, err);
    }
    stk_strv_release(&nets);
    return ret;
}

/* Is address A of network N free for a new endpoint? */
static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

/*
 * Stores the addresses in use on network N, sorted, in *RET (owned by the
 * caller) and returns how many: one walk, so that choosing an address costs
 * O(log N) per candidate rather than a walk of every endpoint.
 */
static size_t addrs_used(const struct fk_model *m, const struct fk_net *n, uint32_t **ret)
{
    size_t cnt = 0, cap = 0;
    uint32_t *v = NULL;

    for (const struct fk_ep *e = m->eps; e; e = e->next) {
        uint32_t b;

        if (strcmp(e->network, n->name) != 0 || addr_parse(e->ipv4, &b) < 0)
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            v = stk_xrealloc(v, cap * sizeof(*v));
        }
        v[cnt++] = b;
    }
    if (cnt)
        qsort(v, cnt, sizeof(*v), u32_cmp);
    *ret = v;
    return cnt;
}

/* Is address A free, given the sorted USED addresses of its network? */
static int addr_free(const uint32_t *used, size_t n_used, uint32_t a)
{
    return !n_used || !bsearch(&a, used, n_used, sizeof(*used), u32_cmp);
}

/* Do host addresses X and Y ("" for every address) overlap? */
static int host_ip_overlap(const char *x, const char *y)
{
    return !*x || !*y || strcmp(x, "0.0.0.0") == 0 || strcmp(y, "0.0.0.0") == 0 ||
           strcmp(x, y) == 0;
}

static int run_attach(struct fk *f, struct fk_req *r, struct fk_out *o, struct stk_err *err)
{
    const struct net_attachment *att = &r->att;
    struct fk_net *n = net_find(&f->m, att->network);
    struct fk_ep *e;
    uint32_t sub, gw, a = 0, mask, bcast, *taken = NULL;
    size_t n_taken;
    int prefix, ret;

    if (!n)
        return stk_err_set(err, STK_ENOENT, 0, "fake: network '%s' not found", att->network);
    if (!sb_find(&f->m, att->sandbox))
        return stk_err_set(err, STK_ENOENT, 0, "fake: sandbox '%s' not found", att->sandbox);
    e = ep_find(&f->m, att->network, att->sandbox);
    if (e) {
        ep_info(e, &o->endpoint);
        return 0;
    }
    for (size_t i = 0; i < att->n_ports; i++) {
        const struct net_port *p = &att->ports[i];

        for (const struct fk_ep *x = f->m.eps; x; x = x->next)
            for (size_t j = 0; strcmp(x->sandbox, att->sandbox) != 0 && j < x->n_ports; j++)
                if (p->host_port && x->ports[j].host_port == p->host_port &&
                    strcmp(x->ports[j].protocol, p->protocol) == 0 &&
                    host_ip_overlap(x->ports[j].host_ip, p->host_ip))
                    return stk_err_set(err, STK_ENET, 0,
                                       "fake: attach '%s' to '%s': port %u/%s is already allocated",
                                       att->sandbox, att->network, (unsigned)p->host_port,
                                       p->protocol);
    }
    if (cidr_parse(n->subnet, &sub, &prefix) < 0 || addr_parse(n->gateway, &gw) < 0)
        return stk_err_set(err, STK_ENET, 0, "fake: network '%s' has a bad subnet", n->name);
    mask = prefix_mask(prefix);
    sub &= mask;
    bcast = sub | ~mask;
    n_taken = addrs_used(&f->m, n, &taken);
    if (att->ipv4_address) {
        addr_parse(att->ipv4_address, &a);
        if ((a & mask) != sub || a == sub || a == bcast || a == gw)
            ret = stk_err_set(err, STK_ENET, 0,
                              "fake: attach '%s' to '%s': address '%s' is not available in '%s'",
                              att->sandbox, att->network, att->ipv4_address, n->subnet);
        else if (!addr_free(taken, n_taken, a))
            ret = stk_err_set(err, STK_ENET, 0,
                              "fake: attach '%s' to '%s': address '%s' is already in use",
                              att->sandbox, att->network, att->ipv4_address);
        else
            ret = 0;
    } else {
        for (uint32_t c = gw + 1; c < bcast && c > gw && !a; c++)
            if (addr_free(taken, n_taken, c))
                a = c;
        for (uint32_t c = sub + 1; c < gw && !a; c++)
            if (addr_free(taken, n_taken, c))
                a = c;
        ret = a ? 0
                : stk_err_set(err, STK_ENET, 0,
                              "fake: attach '%s' to '%s': no free address left in '%s'",
                              att->sandbox, att->network, n->subnet);
    }
    free(taken);
    if (ret < 0)
        return ret;
    e = stk_new0(struct fk_ep);
    stk_strv_init(&e->aliases);
    e->network = stk_xstrdup(att->network);
    e->sandbox = stk_xstrdup(att->sandbox);
    if (att->ifname && *att->ifname) {
        e->ifname = stk_xstrdup(att->ifname);
    } else {
        for (unsigned i = 0; !e->ifname; i++) {
            char *name = stk_xasprintf("eth%u", i);
            int used = 0;

            for (const struct fk_ep *x = f->m.eps; x && !used; x = x->next)
                used = strcmp(x->sandbox, att->sandbox) == 0 && strcmp(x->ifname, name) == 0;
            if (used)
                free(name);
            else
                e->ifname = name;
        }
    }
    e->ipv4 = addr_format(a);
    e->prefix_len = prefix;
    e->mac = stk_xasprintf("02:42:%02x:%02x:%02x:%02x", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                           a & 255);
    e->static_ipv4 = stk_xstrdup(att->ipv4_address);
    for (size_t i = 0; att->aliases && att->aliases[i]; i++)
        stk_strv_push(&e->aliases, att->aliases[i]);
    e->ports = stk_xcalloc(att->n_ports + 1, sizeof(*e->ports));
    if (att->n_ports)
        memcpy(e->ports, att->ports, att->n_ports * sizeof(*e->ports));
    e->n_ports = att->n_ports;
    for (size_t i = 0; i < e->n_ports; i++) {
        /* An ephemeral host port: the lowest of 32768-60999 (Linux's default
         * ip_local_port_range) that no endpoint publishes with this protocol. */
        for (unsigned c = 32768; !e->ports[i].host_port && c <= 60999; c++) {
            int used = 0;
            for (const struct fk_ep *x = f->m.eps; x && !used; x = x->next)
                for (size_t j = 0; j < x->n_ports && !used; j++)
                    used = x->ports[j].host_port == c &&
                           strcmp(x->ports[j].protocol, e->ports[i].protocol) == 0;
            for (size_t j = 0; j < i && !used; j++)
                used = e->ports[j].host_port == c &&
                       strcmp(e->ports[j].protocol, e->ports[i].protocol) == 0;
            if (!used)
                e->ports[i].host_port = (uint16_t)c;
        }
    }
    ep_insert(&f->m, e);
    ret = fk_mutated(f, n->name, att->sandbox, err);
    ep_info(e, &o->endpoint);
    return ret;
}

static int run_detach(struct fk *f, struct fk_req *r, struct stk_err *err)
{
    if (!ep_find(&f->m, r->name, r->sandbox))
        return 0;
    eps_remove(&f->m, r->name, r->sandbox);
    return fk_mutated(f, r->name, r->sandbox, err);
}

static void run_list(struct fk *f, struct fk_out *o)
{
    struct net_inventory *inv = &o->inv;
    size_t nn = 0, ns = 0, ne = 0;

    for (struct fk_net *n = f->m.nets; n; n = n->next)
        nn++;
    for (struct fk_sb *s = f->m.sbs; s; s = s->next)
        ns++;
    for (struct fk_ep *e = f->m.eps; e; e = e->next)
        ne++;
    inv->networks = stk_xcalloc(nn + 1, sizeof(*inv->networks));
    inv->sandboxes = stk_xcalloc(ns + 1, sizeof(*inv->sandboxes));
    inv->endpoints = stk_xcalloc(ne + 1, sizeof(*inv->endpoints));
    for (struct fk_net *n = f->m.nets; n; n = n->next)
        net_info(n, &inv->networks[inv->n_networks++]);
    for (struct fk_sb *s = f->m.sbs; s; s = s->next)
        sb_info(s, &inv->sandboxes[inv->n_sandboxes++]);
    for (struct fk_ep *e = f->m.eps; e; e = e->next)
        ep_info(e, &inv->endpoints[inv->n_endpoints++]);
}

/* Applies the op of R to the fake's state; fills RES, whose pointers borrow O. */
static int req_run(struct fk_req *r, struct net_result *res, struct fk_out *o, struct stk_err *err)
{
    struct fk *f = r->f;
    struct fk_ep *e;
    int ret;

    res->kind = NET_RESULT_NONE;
    switch (r->op) {
    case NET_FAKE_OP_NETWORK_CREATE:
        ret = run_network_create(f, r, o, err);
        res->kind = NET_RESULT_NETWORK;
        res->network = &o->network;
        return ret;
    case NET_FAKE_OP_NETWORK_REMOVE:
        return run_network_remove(f, r, err);
    case NET_FAKE_OP_SANDBOX_CREATE:
        ret = run_sandbox_create(f, r, o, err);
        res->kind = NET_RESULT_SANDBOX;
        res->sandbox = &o->sandbox;
        return ret;
    case NET_FAKE_OP_SANDBOX_REMOVE:
        return run_sandbox_remove(f, r, err);
    case NET_FAKE_OP_ATTACH:
        ret = run_attach(f, r, o, err);
        res->kind = NET_RESULT_ENDPOINT;
        res->endpoint = &o->endpoint;
        return ret;
    case NET_FAKE_OP_DETACH:
        return run_detach(f, r, err);
    case NET_FAKE_OP_CHECK:
        e = ep_find(&f->m, r->name, r->sandbox);
        if (!e)
            return stk_err_set(err, STK_ENOENT, 0,
                               "fake: check: no endpoint of sandbox '%s' on network '%s'",
                               r->sandbox, r->name);
        ep_info(e, &o->endpoint);
        res->kind = NET_RESULT_ENDPOINT;
        res->endpoint = &o->endpoint;
        return 0;
    case NET_FAKE_OP_LIST:
        run_list(f, o);
        res->kind = NET_RESULT_LIST;
        res->inventory = &o->inv;
        return 0;
    default:
        break;
    }
    STK_BUG("fake: unknown op");
}

static void req_fire(uv_timer_t *t)
{
    struct fk_req *r = t->data;
    struct stk_err err = STK_ERR_INIT;
    struct net_result res = {0};
    struct fk_out o;
    int ret;

    if (r->completed)
        return;
    memset(&o, 0, sizeof(o));
    if (r->base.canceled)
        ret = stk_err_set(&err, STK_ECANCELED, 0, "fake: %s: canceled", op_names[r->op]);
    else if (r->fail_code)
        ret = stk_err_set(&err, r->fail_code, 0, "%s", r->fail_msg);
    else
        ret = req_run(r, &res, &o, &err);
    req_finish(r, ret < 0 ? NULL : &res, ret < 0 ? &err : NULL);
    free(o.inv.networks);
    free(o.inv.sandboxes);
    free(o.inv.endpoints);
    stk_err_clear(&err);
}

/* Does MATCH (NULL: all) select a call on network NET and sandbox SB (each may be NULL)? */
static int match_call(const char *match, const char *net, const char *sb)
{
    if (!match)
        return 1;
    return (net && strcmp(match, net) == 0) || (sb && strcmp(match, sb) == 0);
}

/*
 * The common start of every op: checks the context and DONE, counts the call,
 * applies the failure rules (NET and SB identify the target for MATCH) and
 * returns a new request, not yet started, in *RET_R. An immediate scripted
 * failure or a bad argument returns a negative code.
 */
static int op_begin(struct net_ctx *ctx, enum net_fake_op op, net_done_fn *done, void *userdata,
                    const char *net, const char *sb, struct fk_req **ret_r, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);
    struct fk_fail_rule *fired = NULL;
    struct fk_req *r;

    if (!f)
        return STK_EINVAL;
    if (f->closing)
        return stk_err_set(err, STK_ECANCELED, 0, "fake: %s: network context is closing",
                           op_names[op]);
    f->calls[op]++;
    if (!done)
        return stk_err_set(err, STK_EINVAL, 0, "fake: %s: no completion callback", op_names[op]);
    for (struct fk_fail_rule *rule = f->fails; rule; rule = rule->next) {
        if (!op_selects(rule->op, op) || !match_call(rule->match, net, sb))
            continue;
        rule->seen++;
        if (!fired && rule->seen >= rule->nth &&
            (rule->count == 0 || rule->seen - rule->nth < rule->count))
            fired = rule;
    }
    if (fired && fired->immediate)
        return stk_err_set(err, fired->code, 0, "%s", fired->message);
    r = stk_new0(struct fk_req);
    r->base.ctx = ctx;
    r->base.cancel = req_cancel_hook;
    r->f = f;
    r->op = op;
    r->done = done;
    r->userdata = userdata;
    if (fired) {
        r->fail_code = fired->code;
        r->fail_msg = stk_xstrdup(fired->message);
    }
    *ret_r = r;
    return 0;
}

/* Starts R's timer after the op's delay, links it, and hands it out. */
static int op_launch(struct fk_req *r, struct net_req **ret_req)
{
    struct fk *f = r->f;
    uint64_t delay = f->has_delay[r->op] ? f->delay_ms[r->op] : f->delay_any_ms;

    uv_timer_init(f->ctx->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, req_fire, delay, 0);
    r->next = f->pending;
    if (f->pending)
        f->pending->prev = r;
    f->pending = r;
    f->n_pending++;
    if (ret_req)
        *ret_req = &r->base;
    return 0;
}

/* Drops a request that was never launched and returns the error already in ERR. */
static int op_reject(struct fk_req *r, int ret)
{
    req_free_mem(r);
    return ret;
}

/* ---- ops ---- */

static int fk_init(struct net_ctx *ctx, struct stk_err *err);
static void fk_fini(struct net_ctx *ctx);
static int fk_hosts_flush(struct net_ctx *ctx, struct stk_err *err);

static int fk_network_create(struct net_ctx *ctx, const struct net_network_spec *spec,
                             net_done_fn *done, void *userdata, struct net_req **ret_req,
                             struct stk_err *err)
{
    struct fk_req *r;
    uint32_t addr, g;
    int prefix, ret;

    ret = op_begin(ctx, NET_FAKE_OP_NETWORK_CREATE, done, userdata, spec ? spec->name : NULL, NULL,
                   &r, err);
    if (ret < 0)
        return ret;
    if (!spec || !name_valid(spec->name))
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0, "fake: invalid network name '%s'",
                                        spec && spec->name ? spec->name : ""));
    if (spec->subnet && (cidr_parse(spec->subnet, &addr, &prefix) < 0 || prefix > 30))
        return op_reject(r,
                         stk_err_set(err, STK_EINVAL, 0, "fake: network '%s': invalid subnet '%s'",
                                     spec->name, spec->subnet));
    if (spec->gateway && (!spec->subnet || addr_parse(spec->gateway, &g) < 0 ||
                          (g & prefix_mask(prefix)) != (addr & prefix_mask(prefix))))
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0,
                                        "fake: network '%s': gateway '%s' is not in the subnet",
                                        spec->name, spec->gateway));
    r->name = stk_xstrdup(spec->name);
    r->nspec.name = stk_xstrdup(spec->name);
    r->nspec.subnet = stk_xstrdup(spec->subnet);
    r->nspec.gateway = stk_xstrdup(spec->gateway);
    r->nspec.internal = spec->internal;
    r->nspec.project = stk_xstrdup(spec->project);
    return op_launch(r, ret_req);
}

static int fk_network_remove(struct net_ctx *ctx, const char *name, net_done_fn *done,
                             void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct fk_req *r;
    int ret = op_begin(ctx, NET_FAKE_OP_NETWORK_REMOVE, done, userdata, name, NULL, &r, err);

    if (ret < 0)
        return ret;
    if (!name_valid(name))
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0, "fake: invalid network name '%s'",
                                        name ? name : ""));
    r->name = stk_xstrdup(name);
    return op_launch(r, ret_req);
}

static int fk_sandbox_create(struct net_ctx *ctx, const struct net_sandbox_spec *spec,
                             net_done_fn *done, void *userdata, struct net_req **ret_req,
                             struct stk_err *err)
{
    struct fk_req *r;
    int ret = op_begin(ctx, NET_FAKE_OP_SANDBOX_CREATE, done, userdata, NULL,
                       spec ? spec->id : NULL, &r, err);

    if (ret < 0)
        return ret;
    if (!spec || !name_valid(spec->id))
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0, "fake: invalid sandbox id '%s'",
                                        spec && spec->id ? spec->id : ""));
    if (!ctx->run_dir || !*ctx->run_dir)
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0,
                                        "fake: create sandbox '%s': no run directory", spec->id));
    r->name = stk_xstrdup(spec->id);
    r->sspec.id = stk_xstrdup(spec->id);
    r->sspec.hostname = stk_xstrdup(spec->hostname);
    r->sspec.project = stk_xstrdup(spec->project);
    return op_launch(r, ret_req);
}

static int fk_sandbox_remove(struct net_ctx *ctx, const char *id, net_done_fn *done, void *userdata,
                             struct net_req **ret_req, struct stk_err *err)
{
    struct fk_req *r;
    int ret = op_begin(ctx, NET_FAKE_OP_SANDBOX_REMOVE, done, userdata, NULL, id, &r, err);

    if (ret < 0)
        return ret;
    if (!name_valid(id))
        return op_reject(
            r, stk_err_set(err, STK_EINVAL, 0, "fake: invalid sandbox id '%s'", id ? id : ""));
    r->name = stk_xstrdup(id);
    return op_launch(r, ret_req);
}

static int fk_attach(struct net_ctx *ctx, const struct net_attachment *att, net_done_fn *done,
                     void *userdata, struct net_req **ret_req, struct stk_err *err)
{
    struct fk_req *r;
    uint32_t a;
    int ret = op_begin(ctx, NET_FAKE_OP_ATTACH, done, userdata, att ? att->network : NULL,
                       att ? att->sandbox : NULL, &r, err);

    if (ret < 0)
        return ret;
    if (!att || !name_valid(att->network) || !name_valid(att->sandbox))
        return op_reject(
            r, stk_err_set(err, STK_EINVAL, 0, "fake: attach: invalid network or sandbox name"));
    if (att->n_ports && !att->ports)
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0, "fake: attach: no port array"));
    for (size_t i = 0; i < att->n_ports; i++)
        if (strcmp(att->ports[i].protocol, "tcp") != 0 &&
            strcmp(att->ports[i].protocol, "udp") != 0)
            return op_reject(r, stk_err_set(err, STK_EINVAL, 0,
                                            "fake: attach '%s' to '%s': invalid protocol '%.4s'",
                                            att->sandbox, att->network, att->ports[i].protocol));
    if (att->ipv4_address && addr_parse(att->ipv4_address, &a) < 0)
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0,
                                        "fake: attach '%s' to '%s': invalid address '%s'",
                                        att->sandbox, att->network, att->ipv4_address));
    r->att.network = stk_xstrdup(att->network);
    r->att.sandbox = stk_xstrdup(att->sandbox);
    r->att.ifname = stk_xstrdup(att->ifname);
    r->att.aliases = att->aliases ? stk_strv_dup(att->aliases) : NULL;
    r->att.ports = stk_xcalloc(att->n_ports + 1, sizeof(*r->att.ports));
    if (att->n_ports)
        memcpy(r->att.ports, att->ports, att->n_ports * sizeof(*att->ports));
    r->att.n_ports = att->n_ports;
    r->att.ipv4_address = stk_xstrdup(att->ipv4_address);
    return op_launch(r, ret_req);
}

static int fk_endpoint_op(struct net_ctx *ctx, enum net_fake_op op, const char *network,
                          const char *sandbox, net_done_fn *done, void *userdata,
                          struct net_req **ret_req, struct stk_err *err)
{
    struct fk_req *r;
    int ret = op_begin(ctx, op, done, userdata, network, sandbox, &r, err);

    if (ret < 0)
        return ret;
    if (!name_valid(network) || !name_valid(sandbox))
        return op_reject(r, stk_err_set(err, STK_EINVAL, 0,
                                        "fake: %s: invalid network or sandbox name", op_names[op]));
    r->name = stk_xstrdup(network);
    r->sandbox = stk_xstrdup(sandbox);
    return op_launch(r, ret_req);
}

static int fk_detach(struct net_ctx *ctx, const char *network, const char *sandbox,
                     net_done_fn *done, void *userdata, struct net_req **ret_req,
                     struct stk_err *err)
{
    return fk_endpoint_op(ctx, NET_FAKE_OP_DETACH, network, sandbox, done, userdata, ret_req, err);
}

static int fk_check(struct net_ctx *ctx, const char *network, const char *sandbox,
                    net_done_fn *done, void *userdata, struct net_req **ret_req,
                    struct stk_err *err)
{
    return fk_endpoint_op(ctx, NET_FAKE_OP_CHECK, network, sandbox, done, userdata, ret_req, err);
}

static int fk_list(struct net_ctx *ctx, net_done_fn *done, void *userdata, struct net_req **ret_req,
                   struct stk_err *err)
{
    struct fk_req *r;
    int ret = op_begin(ctx, NET_FAKE_OP_LIST, done, userdata, NULL, NULL, &r, err);

    return ret < 0 ? ret : op_launch(r, ret_req);
}

static const struct net_plugin_ops fk_ops = {
    .init = fk_init,
    .fini = fk_fini,
    .network_create = fk_network_create,
    .network_remove = fk_network_remove,
    .sandbox_create = fk_sandbox_create,
    .sandbox_remove = fk_sandbox_remove,
    .attach = fk_attach,
    .detach = fk_detach,
    .check = fk_check,
    .list = fk_list,
    .hosts_flush = fk_hosts_flush,
};

const struct net_plugin net_plugin_fake = {
    .name = "fake",
    .abi_version = NET_PLUGIN_ABI_1,
    .caps = 0,
    .priv_size = sizeof(struct fk),
    .ops = &fk_ops,
};

/* ---- scripting API ---- */

int net_fake_fail_add(struct net_ctx *ctx, const struct net_fake_fail *rule, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);
    struct fk_fail_rule *n, **pp;

    if (!f)
        return STK_EINVAL;
    if (!rule || !op_valid(rule->op) || rule->nth == 0 || rule->code > 0)
        return stk_err_set(err, STK_EINVAL, 0, "fake: bad failure rule");
    n = stk_new0(struct fk_fail_rule);
    n->op = rule->op;
    n->match = (rule->match && strcmp(rule->match, "*") != 0) ? stk_xstrdup(rule->match) : NULL;
    n->nth = rule->nth;
    n->count = rule->count;
    n->code = rule->code ? rule->code : STK_ENET;
    n->message = stk_xstrdup(rule->message ? rule->message : "injected failure");
    n->immediate = rule->immediate;
    for (pp = &f->fails; *pp; pp = &(*pp)->next)
        ;
    *pp = n;
    return 0;
}

int net_fake_fail_nth(struct net_ctx *ctx, enum net_fake_op op, unsigned nth, int code,
                      const char *message, struct stk_err *err)
{
    struct net_fake_fail rule = {
        .op = op, .nth = nth, .count = 1, .code = code, .message = message};

    return net_fake_fail_add(ctx, &rule, err);
}

static void fails_free(struct fk *f)
{
    while (f->fails) {
        struct fk_fail_rule *n = f->fails->next;

        free(f->fails->match);
        free(f->fails->message);
        free(f->fails);
        f->fails = n;
    }
}

int net_fake_fail_clear(struct net_ctx *ctx, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    fails_free(f);
    return 0;
}

int net_fake_set_delay(struct net_ctx *ctx, enum net_fake_op op, uint64_t delay_ms,
                       struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    if (op == NET_FAKE_OP_ANY) {
        f->delay_any_ms = delay_ms;
        return 0;
    }
    if ((int)op < 0 || op >= _NET_FAKE_OP_MAX)
        return stk_err_set(err, STK_EINVAL, 0, "fake: delay: bad op");
    f->delay_ms[op] = delay_ms;
    f->has_delay[op] = delay_ms != 0;
    return 0;
}

unsigned net_fake_calls(struct net_ctx *ctx, enum net_fake_op op)
{
    struct fk *f = fk_get(ctx, NULL);
    unsigned n = 0;

    if (!f || !op_valid(op))
        return 0;
    for (int i = 0; i < _NET_FAKE_OP_MAX; i++)
        if (op_selects(op, (enum net_fake_op)i))
            n += f->calls[i];
    return n;
}

unsigned net_fake_mutations(struct net_ctx *ctx)
{
    return net_fake_calls(ctx, NET_FAKE_OP_MUTATING);
}

int net_fake_calls_reset(struct net_ctx *ctx, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    memset(f->calls, 0, sizeof(f->calls));
    return 0;
}

unsigned net_fake_pending(struct net_ctx *ctx)
{
    struct fk *f = fk_get(ctx, NULL);

    return f ? f->n_pending : 0;
}

int net_fake_set_state_file(struct net_ctx *ctx, const char *path, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);

    if (!f)
        return STK_EINVAL;
    if (!path || !*path)
        return stk_err_set(err, STK_EINVAL, 0, "fake: empty state file path");
    free(f->state_file);
    f->state_file = stk_xstrdup(path);
    return fk_load(f, err);
}

/* ---- environment ---- */

/* Applies one item of variable VAR; ITEM is modified. -1: malformed. */
static int env_item(struct net_ctx *ctx, const char *var, char *item, struct stk_err *err)
{
    char *p = item, *a = stk_field_next(&p, ':'), *b = stk_field_next(&p, ':');
    uint64_t n = 0;

    if (strcmp(var, "STACK_FAKE_NET_FAIL") == 0) {
        struct net_fake_fail rule = {0};
        char *code = stk_field_next(&p, ':');
        size_t blen = b ? strlen(b) : 0;

        rule.op = net_fake_op_from_string(a);
        if (blen && b[blen - 1] == '+')
            b[blen - 1] = '\0';
        else
            rule.count = 1;
        if (rule.op == _NET_FAKE_OP_INVALID || stk_parse_u64(b, &n) < 0 || n == 0 || n > UINT32_MAX)
            return -1;
        rule.nth = (unsigned)n;
        rule.message = p;
        if (code && !(rule.code = stk_err_code_from_string(code))) {
            /* "attach:3:no address": a last field that is no code is the message. */
            if (p || !*code)
                return -1;
            rule.message = code;
        }
        return net_fake_fail_add(ctx, &rule, err);
    }
    /* STACK_FAKE_NET_DELAY_MS */
    if (!b)
        return stk_parse_u64(a, &n) < 0 ? -1 : net_fake_set_delay(ctx, NET_FAKE_OP_ANY, n, err);
    if (p || stk_parse_u64(b, &n) < 0 || net_fake_op_from_string(a) == _NET_FAKE_OP_INVALID ||
        net_fake_op_from_string(a) == NET_FAKE_OP_MUTATING)
        return -1;
    return net_fake_set_delay(ctx, net_fake_op_from_string(a), n, err);
}

/* Applies the ','-separated list in variable VAR. */
static int env_list(struct net_ctx *ctx, const char *var, struct stk_err *err)
{
    const char *value = getenv(var);
    char *copy, *item, *next;
    int ret = 0;

    if (!value || !*value)
        return 0;
    copy = stk_xstrdup(value);
    for (item = copy; item && ret == 0; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        ret = env_item(ctx, var, item, err);
    }
    free(copy);
    if (ret == -1)
        return stk_err_set(err, STK_EINVAL, 0, "fake: malformed %s='%s'", var, value);
    return ret;
}

static int fk_env(struct net_ctx *ctx, struct stk_err *err)
{
    const char *v;
    int ret;

    if ((ret = env_list(ctx, "STACK_FAKE_NET_FAIL", err)) < 0)
        return ret;
    if ((ret = env_list(ctx, "STACK_FAKE_NET_DELAY_MS", err)) < 0)
        return ret;
    v = getenv("STACK_FAKE_NET_STATE");
    if (v && *v)
        return net_fake_set_state_file(ctx, v, err);
    return 0;
}

/* ---- init and fini ---- */

static void fk_release(struct fk *f)
{
    json_decref(f->hosts_dirty);
    json_decref(f->hosts_sums);
    f->hosts_dirty = f->hosts_sums = NULL;
    model_release(&f->m);
    fails_free(f);
    free(f->state_file);
    f->state_file = NULL;
}

static int fk_init(struct net_ctx *ctx, struct stk_err *err)
{
    struct fk *f = ctx->priv;
    int ret;

    if (f->ctx)
        return 0;
    f->ctx = ctx;
    ret = fk_env(ctx, err);
    if (ret < 0) {
        fk_release(f);
        return stk_err_wrap(err, "fake: init");
    }
    return 0;
}

static void fk_fini(struct net_ctx *ctx)
{
    struct fk *f = ctx->priv;
    struct stk_err err = STK_ERR_INIT;

    if (!f || !f->ctx)
        return;
    f->closing = 1;
    stk_err_set(&err, STK_ECANCELED, 0, "fake: network context closed");
    while (f->pending)
        req_finish(f->pending, NULL, &err);
    stk_err_clear(&err);
    if (hosts_flush(f, &err) < 0)
        stk_log_warn("fake: hosts files: %s", err.msg);
    stk_err_clear(&err);
    fk_release(f);
}

static int fk_hosts_flush(struct net_ctx *ctx, struct stk_err *err)
{
    struct fk *f = fk_get(ctx, err);

    if (!f)
        return err->code;
    return hosts_flush(f, err);
}

unsigned long net_fake_hosts_writes(struct net_ctx *ctx)
{
    struct stk_err err = STK_ERR_INIT;
    struct fk *f = fk_get(ctx, &err);

    stk_err_clear(&err);
    return f ? f->hosts_writes : 0;
}
