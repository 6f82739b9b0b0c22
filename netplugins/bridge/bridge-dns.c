/*
 * bridge-dns.c - the embedded DNS responder of the bridge plug-in
 * (net-bridge.h, "DNS"): the view of names built from the plug-in's records,
 * the answer to one query (ldns for the DNS messages), and the serving loop
 * of the detached responder process (stack-dns, dns-main.c).
 */
#include "netplugins/bridge/net-bridge.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"

struct dns_ep {
    char *sandbox;
    char *network;
    uint32_t ip;  /* host order */
    char **names; /* NULL-terminated, lower case */
};

struct net__dns_view {
    struct dns_ep *eps;
    size_t n;
    unsigned long rr; /* round-robin counter */
};

static char *lower_dup(const char *s)
{
    char *d = stk_xstrdup(s);

    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

struct net__dns_view *net__dns_view_new(void)
{
    return stk_new0(struct net__dns_view);
}

void net__dns_view_free(struct net__dns_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->eps[i].sandbox);
        free(v->eps[i].network);
        for (size_t k = 0; v->eps[i].names && v->eps[i].names[k]; k++)
            free(v->eps[i].names[k]);
        free(v->eps[i].names);
    }
    free(v->eps);
    free(v);
}

int net__dns_view_add(struct net__dns_view *v, const char *sandbox, const char *network,
                      const char *ipv4, const char *const *names)
{
    struct in_addr a;
    struct dns_ep *e;
    size_t n = 0;

    if (!sandbox || !network || !ipv4 || inet_pton(AF_INET, ipv4, &a) != 1)
        return STK_EINVAL;
    v->eps = stk_xrealloc(v->eps, (v->n + 1) * sizeof(*v->eps));
    e = &v->eps[v->n++];
    e->sandbox = stk_xstrdup(sandbox);
    e->network = stk_xstrdup(network);
    e->ip = ntohl(a.s_addr);
    while (names && names[n])
        n++;
    e->names = stk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        e->names[i] = lower_dup(names[i]);
    return 0;
}

static int has_name(const struct dns_ep *e, const char *name)
{
    for (size_t k = 0; e->names[k]; k++)
        if (strcmp(e->names[k], name) == 0)
            return 1;
    return 0;
}

/* Is network NET one of the networks of the sandbox that CLIENT's address belongs to? */
static int client_on(const struct net__dns_view *v, uint32_t client, const char *net)
{
    const char *sb = NULL;

    for (size_t i = 0; i < v->n && !sb; i++)
        if (v->eps[i].ip == client)
            sb = v->eps[i].sandbox;
    if (!sb)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->eps[i].sandbox, sb) == 0 && strcmp(v->eps[i].network, net) == 0)
            return 1;
    return 0;
}

size_t net__dns_view_lookup(struct net__dns_view *v, uint32_t client, const char *name, int rotate,
                            uint32_t *out, size_t max)
{
    size_t n = 0, start;
    uint32_t tmp[64];

    for (size_t i = 0; i < v->n && n < STK_ARRAY_SIZE(tmp); i++) {
        int dup = 0;

        if (!has_name(&v->eps[i], name) || !client_on(v, client, v->eps[i].network))
            continue;
        for (size_t k = 0; k < n && !dup; k++)
            dup = tmp[k] == v->eps[i].ip;
        if (!dup)
            tmp[n++] = v->eps[i].ip;
    }
    if (!n)
        return 0;
    /* Round-robin: each answer starts one further along the list. */
    start = rotate ? v->rr++ % n : 0;
    for (size_t k = 0; k < n && k < max; k++)
        out[k] = tmp[(start + k) % n];
    return n < max ? n : max;
}

int net__dns_answer(struct net__dns_view *v, uint32_t client, const uint8_t *query, size_t len,
                    int *ret_known, uint8_t **ret_wire, size_t *ret_len)
{
    ldns_pkt *q = NULL, *a = NULL;
    ldns_rr *qrr;
    ldns_rdf *owner;
    char *name = NULL;
    uint32_t ips[16];
    size_t n = 0, nl;
    int ret = STK_EINVAL;
    uint8_t *wire = NULL;
    size_t wlen = 0;

    *ret_known = 0;
    if (ldns_wire2pkt(&q, query, len) != LDNS_STATUS_OK)
        return STK_EINVAL;
    if (ldns_pkt_qr(q) || ldns_pkt_get_opcode(q) != LDNS_PACKET_QUERY ||
        ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1)
        goto out;
    qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    owner = ldns_rr_owner(qrr);
    if (!owner)
        goto out;
    {
        char *s = ldns_rdf2str(owner);

        if (!s)
            goto out;
        name = lower_dup(s);
        free(s);
    }
    nl = strlen(name);
    if (nl && name[nl - 1] == '.')
        name[nl - 1] = 0;
    if (ldns_rr_get_class(qrr) == LDNS_RR_CLASS_IN) {
        int want_a =
            ldns_rr_get_type(qrr) == LDNS_RR_TYPE_A || ldns_rr_get_type(qrr) == LDNS_RR_TYPE_ANY;

        /* A known name and another type (AAAA): NODATA, and no turn of the rotation. */
        n = net__dns_view_lookup(v, client, name, want_a, ips, STK_ARRAY_SIZE(ips));
        *ret_known = n > 0;
    }
    a = ldns_pkt_new();
    ldns_pkt_set_id(a, ldns_pkt_id(q));
    ldns_pkt_set_qr(a, true);
    ldns_pkt_set_aa(a, true);
    ldns_pkt_set_rd(a, ldns_pkt_rd(q));
    ldns_pkt_set_ra(a, true);
    ldns_pkt_set_opcode(a, LDNS_PACKET_QUERY);
    ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
    if (!*ret_known) {
        ldns_pkt_set_rcode(a, LDNS_RCODE_NXDOMAIN);
    } else if (ldns_rr_get_type(qrr) == LDNS_RR_TYPE_A ||
               ldns_rr_get_type(qrr) == LDNS_RR_TYPE_ANY) {
        for (size_t k = 0; k < n; k++) {
            ldns_rr *rr = ldns_rr_new();
            struct in_addr ia = {htonl(ips[k])};

            ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
            ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
            ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
            ldns_rr_set_ttl(rr, 0); /* a recreated peer's new address shows at once */
            ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &ia));
            ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
        }
    }
    if (ldns_pkt2wire(&wire, a, &wlen) != LDNS_STATUS_OK) {
        ret = STK_ENOMEM;
        goto out;
    }
    *ret_wire = wire;
    *ret_len = wlen;
    ret = 0;
out:
    free(name);
    ldns_pkt_free(q);
    ldns_pkt_free(a);
    return ret;
}

/* ---- the view from the records ---- */

static json_t *load(const char *path)
{
    return json_load_file(path, 0, NULL);
}

struct net__dns_view *net__dns_view_load(const char *state_dir)
{
    struct net__dns_view *v = net__dns_view_new();
    char *epdir = stk_xasprintf("%s/net/endpoints", state_dir);
    DIR *d = opendir(epdir);

    for (struct dirent *de; d && (de = readdir(d));) {
        char *sdir, *spath;
        json_t *srec;
        DIR *e;

        if (de->d_name[0] == '.')
            continue;
        sdir = stk_xasprintf("%s/%s", epdir, de->d_name);
        spath = stk_xasprintf("%s/net/sandboxes/%s.json", state_dir, de->d_name);
        srec = load(spath);
        e = opendir(sdir);
        for (struct dirent *fe; e && (fe = readdir(e));) {
            size_t fl = strlen(fe->d_name);
            const char *names[66];
            size_t nn = 0, i;
            json_t *rec, *al, *x;
            char *path;

            if (fl < 6 || strcmp(fe->d_name + fl - 5, ".json") != 0)
                continue;
            path = stk_xasprintf("%s/%s", sdir, fe->d_name);
            rec = load(path);
            free(path);
            if (!rec)
                continue;
            if (json_string_value(json_object_get(srec, "hostname")))
                names[nn++] = json_string_value(json_object_get(srec, "hostname"));
            al = json_object_get(rec, "aliases");
            json_array_foreach(al, i, x)
            {
                if (nn < 65 && json_string_value(x))
                    names[nn++] = json_string_value(x);
            }
            names[nn] = NULL;
            {
                char *net = stk_xstrndup(fe->d_name, fl - 5);

                net__dns_view_add(v, de->d_name, net,
                                  json_string_value(json_object_get(rec, "ipv4")), names);
                free(net);
            }
            json_decref(rec);
        }
        if (e)
            closedir(e);
        json_decref(srec);
        free(sdir);
        free(spath);
    }
    if (d)
        closedir(d);
    free(epdir);
    return v;
}

/* ---- the responder process ---- */

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct listener {
    char addr[16];
    int fd;
};

/* The gateways of the native networks, from STATE/net/networks/ (.json records). */
static size_t gateways(const char *state_dir, char out[][16], size_t max)
{
    char *dir = stk_xasprintf("%s/net/networks", state_dir);
    DIR *d = opendir(dir);
    size_t n = 0;

    for (struct dirent *de; d && (de = readdir(d)) && n < max;) {
        size_t l = strlen(de->d_name);
        char *path;
        json_t *rec;

        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        path = stk_xasprintf("%s/%s", dir, de->d_name);
        rec = load(path);
        free(path);
        if (rec && !json_object_get(rec, "conflist_src") &&
            json_string_value(json_object_get(rec, "gateway")))
            snprintf(out[n++], 16, "%s", json_string_value(json_object_get(rec, "gateway")));
        json_decref(rec);
    }
    if (d)
        closedir(d);
    free(dir);
    return n;
}

static int listen_udp(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    int fd, one = 1;

    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The host's resolvers (forwarding), from /etc/resolv.conf; at most MAX. */
static size_t host_resolvers(struct sockaddr_in *out, size_t max)
{
    FILE *f = fopen("/etc/resolv.conf", "re");
    char line[256];
    size_t n = 0;

    while (f && n < max && fgets(line, sizeof(line), f)) {
        char ip[64];

        if (sscanf(line, "nameserver %63s", ip) == 1) {
            memset(&out[n], 0, sizeof(out[n]));
            out[n].sin_family = AF_INET;
            out[n].sin_port = htons(53);
            if (inet_pton(AF_INET, ip, &out[n].sin_addr) == 1)
                n++;
        }
    }
    if (f)
        fclose(f);
    return n;
}

/* A forwarded query waiting for the host resolver's answer. */
struct pending {
    int fd;                  /* the socket the client asked on */
    struct sockaddr_in from; /* the client */
    uint16_t client_id;
    uint16_t our_id;
    time_t at;
};

int net__dns_serve(const char *state_dir, const char *run_dir, int forward)
{
    char *pidpath = stk_xasprintf("%s/net-dns.pid", run_dir);
    char *gen = stk_xasprintf("%s/net/dns.gen", state_dir);
    struct listener ls[64];
    size_t nls = 0;
    struct net__dns_view *view = NULL;
    struct timespec seen = {0, 0};
    struct sockaddr_in res[3];
    size_t nres = forward ? host_resolvers(res, 3) : 0;
    struct pending pend[256];
    uint16_t next_id = (uint16_t)getpid();
    int lock_fd, up_fd = -1, idle = 0;
    char pidbuf[32];

    memset(pend, 0, sizeof(pend));
    lock_fd = open(pidpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        free(pidpath);
        free(gen);
        return 0; /* another responder serves this state dir */
    }
    if (ftruncate(lock_fd, 0) == 0) {
        int l = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
        if (write(lock_fd, pidbuf, (size_t)l) < 0)
            (void)0;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    if (nres) {
        up_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    }
    while (!stop_flag) {
        struct pollfd pfd[66];
        struct stat st;
        int changed = stat(gen, &st) == 0 &&
                      (st.st_mtim.tv_sec != seen.tv_sec || st.st_mtim.tv_nsec != seen.tv_nsec);
        size_t np = 0;

        if (changed || !view) {
            char gws[64][16];
            size_t ng = gateways(state_dir, gws, 64);

            if (changed)
                seen = st.st_mtim;
            net__dns_view_free(view);
            view = net__dns_view_load(state_dir);
            /* Close the listeners of networks that are gone, open the new ones. */
            for (size_t i = 0; i < nls;) {
                int keep = 0;
                for (size_t k = 0; k < ng && !keep; k++)
                    keep = strcmp(ls[i].addr, gws[k]) == 0;
                if (keep) {
                    i++;
                    continue;
                }
                close(ls[i].fd);
                ls[i] = ls[--nls];
            }
            for (size_t k = 0; k < ng && nls < 64; k++) {
                int have = 0;
                for (size_t i = 0; i < nls && !have; i++)
                    have = strcmp(ls[i].addr, gws[k]) == 0;
                if (!have) {
                    int fd = listen_udp(gws[k]);
                    if (fd >= 0) {
                        snprintf(ls[nls].addr, 16, "%s", gws[k]);
                        ls[nls++].fd = fd;
                    }
                }
            }
            idle = ng == 0 ? idle + 1 : 0;
        }
        if (idle > 20)
            break; /* no network left for 5 s: the last one was removed */
        for (size_t i = 0; i < nls; i++)
            pfd[np++] = (struct pollfd){.fd = ls[i].fd, .events = POLLIN};
        if (up_fd >= 0)
            pfd[np++] = (struct pollfd){.fd = up_fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)np, 250) <= 0)
            continue;
        {
            /* Names changed since the last look: reload first, then answer (next turn). */
            struct stat st2;

            if (stat(gen, &st2) == 0 &&
                (st2.st_mtim.tv_sec != seen.tv_sec || st2.st_mtim.tv_nsec != seen.tv_nsec))
                continue;
        }
        for (size_t i = 0; i < np; i++) {
            uint8_t buf[4096];
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t got;

            if (!(pfd[i].revents & POLLIN))
                continue;
            got = recvfrom(pfd[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (got < 12)
                continue;
            if (pfd[i].fd == up_fd) {
                /* A host resolver's answer: back to the client under its own id. */
                uint16_t id = (uint16_t)(buf[0] << 8 | buf[1]);
                for (size_t k = 0; k < STK_ARRAY_SIZE(pend); k++)
                    if (pend[k].fd && pend[k].our_id == id) {
                        buf[0] = (uint8_t)(pend[k].client_id >> 8);
                        buf[1] = (uint8_t)pend[k].client_id;
                        sendto(pend[k].fd, buf, (size_t)got, 0, (struct sockaddr *)&pend[k].from,
                               sizeof(pend[k].from));
                        pend[k].fd = 0;
                        break;
                    }
                continue;
            }
            {
                uint8_t *wire = NULL;
                size_t wl = 0;
                int known = 0;

                if (net__dns_answer(view, ntohl(from.sin_addr.s_addr), buf, (size_t)got, &known,
                                    &wire, &wl) < 0)
                    continue;
                if (!known && nres && up_fd >= 0) {
                    /* Not ours: forward as it is to the host's first resolver. */
                    size_t slot = next_id % STK_ARRAY_SIZE(pend);
                    pend[slot] = (struct pending){pfd[i].fd, from, (uint16_t)(buf[0] << 8 | buf[1]),
                                                  next_id, time(NULL)};
                    buf[0] = (uint8_t)(next_id >> 8);
                    buf[1] = (uint8_t)next_id;
                    next_id++;
                    sendto(up_fd, buf, (size_t)got, 0, (struct sockaddr *)&res[0], sizeof(res[0]));
                } else {
                    sendto(pfd[i].fd, wire, wl, 0, (struct sockaddr *)&from, sizeof(from));
                }
                free(wire);
            }
        }
    }
    for (size_t i = 0; i < nls; i++)
        close(ls[i].fd);
    if (up_fd >= 0)
        close(up_fd);
    net__dns_view_free(view);
    unlink(pidpath);
    close(lock_fd);
    free(pidpath);
    free(gen);
    return 0;
}

/* ---- the plug-in's side ---- */

void net__bridge_dns_touch(const char *state_dir)
{
    char *gen = stk_xasprintf("%s/net/dns.gen", state_dir);
    int fd = open(gen, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd >= 0) {
        futimens(fd, NULL);
        close(fd);
    }
    free(gen);
}

int net__bridge_dns_running(const char *run_dir)
{
    char *path = stk_xasprintf("%s/net-dns.pid", run_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC), running = 0;

    free(path);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
        running = 1;
    close(fd);
    return running;
}

static int pid_alive(int pid)
{
    char path[64], buf[256];
    FILE *f;
    char *rp;
    int alive;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    alive = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    rp = alive ? strrchr(buf, ')') : NULL;
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

void net__bridge_dns_stop(const char *run_dir)
{
    char *path = stk_xasprintf("%s/net-dns.pid", run_dir);
    char *data = NULL;
    struct stk_err e = STK_ERR_INIT;
    int pid;

    if (net__bridge_dns_running(run_dir) && stk_file_read(path, &data, NULL, &e) == 0 &&
        (pid = atoi(data)) > 1) {
        kill(pid, SIGTERM);
        /* Until the process is gone (or a zombie): it drops the file a moment before. */
        for (int i = 0; i < 200 && pid_alive(pid); i++)
            usleep(10000);
    }
    stk_err_clear(&e);
    free(data);
    free(path);
}

char *net__bridge_dns_exe(void)
{
    const char *env = getenv("STACK_DNS_RESPONDER");
    char self[4096];
    ssize_t n;
    char *dir, *c;

    if (env && *env)
        return access(env, X_OK) == 0 ? stk_xstrdup(env) : NULL;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    dir = stk_xstrndup(self, (size_t)(strrchr(self, '/') - self));
    c = stk_xasprintf("%s/stack-dns", dir);
    if (access(c, X_OK) != 0) {
        free(c);
        c = stk_xasprintf("%s/../netplugins/stack-dns", dir);
        if (access(c, X_OK) != 0) {
            free(c);
            c = NULL;
        }
    }
    free(dir);
    return c;
}
