/*
 * spec-load.c - spec_project_load(): read the -f files, interpolate, merge,
 * check the tree against the Compose Specification schema tables
 * (spec-schema.c), then normalise every service into struct spec_service
 * and validate references (depends_on, networks, volumes, network_mode).
 *
 * Rules follow compose-go (loader/, format/volume.go, transform/,
 * loader/validate.go) and go-connections nat.ParsePortSpec for ports, as
 * summarised in reference/compose-and-orchestrators.md §2. Every problem is
 * added to a diagnostics list with the position of the offending value.
 */
#include "specs/spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"

extern char **environ;

struct loader {
    const struct spec_load_opts *opts;
    struct stk_diag diag;
    struct spec__env env;
    struct stk_strv files;
    char *project_dir;
    struct spec__node *root;
    struct spec_project *project;
};

static void lerr(struct loader *l, const struct spec__node *n, const char *fmt, ...)
    STK_PRINTF(3, 4);
static void lerr(struct loader *l, const struct spec__node *n, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    stk_diag_add(&l->diag, STK_DIAG_ERROR, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                 "%s", msg);
    free(msg);
}

static void lwarn(struct loader *l, const struct spec__node *n, const char *fmt, ...)
    STK_PRINTF(3, 4);
static void lwarn(struct loader *l, const struct spec__node *n, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    stk_diag_add(&l->diag, STK_DIAG_WARNING, n ? n->file : NULL, n ? n->line : 0,
                 n ? n->col : 0, "%s", msg);
    free(msg);
}

/* A Compose key the product does not act on yet: a warning, an error with --strict. */
static void lunsupported(struct loader *l, const struct spec__node *key, const char *path)
{
    if (l->opts->strict)
        lerr(l, key, "%s: not supported by stack yet (--strict)", path);
    else
        lwarn(l, key, "%s: not supported by stack yet, ignoring", path);
}

static struct spec_pos pos_of(const struct spec__node *n)
{
    struct spec_pos p = {n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0};

    return p;
}

static int is_scalar(const struct spec__node *n)
{
    return n->kind == SPEC__K_STR || n->kind == SPEC__K_INT || n->kind == SPEC__K_FLOAT ||
           n->kind == SPEC__K_BOOL;
}

/* ---- Schema check ---------------------------------------------------------------------- */

static void kinds_text(unsigned kinds, struct stk_buf *b)
{
    static const enum spec__kind order[] = {SPEC__K_STR,  SPEC__K_INT, SPEC__K_FLOAT,
                                            SPEC__K_BOOL, SPEC__K_SEQ, SPEC__K_MAP,
                                            SPEC__K_NULL};
    int first = 1;

    if ((kinds & (SPEC__K_INT | SPEC__K_FLOAT)) == (SPEC__K_INT | SPEC__K_FLOAT))
        kinds &= ~(unsigned)SPEC__K_INT;
    for (size_t i = 0; i < STK_ARRAY_SIZE(order); i++) {
        if (!(kinds & order[i]))
            continue;
        stk_buf_printf(b, "%s%s", first ? "" : " or ", spec__kind_name(order[i]));
        first = 0;
    }
}

static int key_matches_name_pattern(const char *k)
{
    if (!*k)
        return 0;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '.' && *k != '_' && *k != '-')
            return 0;
    return 1;
}

static char *path_join(const char *path, const char *key)
{
    return *path ? stk_xasprintf("%s.%s", path, key) : stk_xstrdup(key);
}

/* Turns a node that failed the schema into null, so that the model builder skips it. */
static void invalidate(struct spec__node *n)
{
    for (size_t i = n->n; i-- > 0;)
        spec__node_remove(n, i);
    free(n->str);
    n->str = NULL;
    n->kind = SPEC__K_NULL;
}

/*
 * Checks N against SHAPE; PATH names N in messages ("services.web.image",
 * "" for the root). Wrong values are reported and set to null, unknown keys
 * are reported and removed, so that every problem is reported in one pass.
 */
static void check_shape(struct loader *l, struct spec__node *n, const struct spec__shape *shape,
                        const char *path)
{
    unsigned kinds = shape->kinds;

    if (n->tag && strcmp(n->tag, "!reset") == 0)
        return;
    if (!(kinds & n->kind)) {
        struct stk_buf b = STK_BUF_INIT;
        kinds_text(kinds, &b);
        lerr(l, n, "%s must be a %s", *path ? path : "the top level", b.buf);
        stk_buf_release(&b);
        invalidate(n);
        return;
    }
    if (shape->enums && n->kind == SPEC__K_STR && !strchr(n->str, '$')) {
        size_t i;
        for (i = 0; shape->enums[i]; i++)
            if (strcmp(shape->enums[i], n->str) == 0)
                break;
        if (!shape->enums[i]) {
            struct stk_buf b = STK_BUF_INIT;
            for (i = 0; shape->enums[i]; i++)
                stk_buf_printf(&b, "%s'%s'", i ? ", " : "", shape->enums[i]);
            lerr(l, n, "%s must be one of %s, not '%s'", path, b.buf, n->str);
            stk_buf_release(&b);
            invalidate(n);
        }
        return;
    }
    if (n->kind == SPEC__K_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const char *k = n->keys[i]->str;
            const struct spec__shape *sub = spec__shape_field(shape, k);
            char *sub_path = path_join(path, k);
            int drop = 0;
            if (sub) {
                check_shape(l, n->items[i], sub, sub_path);
            } else if (strncmp(k, "x-", 2) == 0) {
                /* Extensions are allowed everywhere and ignored. */
            } else if (shape->closed) {
                if (*path)
                    lerr(l, n->keys[i], "unknown key '%s' in %s", k, path);
                else
                    lerr(l, n->keys[i], "unknown top-level key '%s'", k);
                drop = 1;
            } else if (shape->key_pattern && !key_matches_name_pattern(k)) {
                lerr(l, n->keys[i], "invalid name '%s' in %s: only [a-zA-Z0-9._-] are allowed",
                     k, path);
                drop = 1;
            } else if (shape->values) {
                check_shape(l, n->items[i], shape->values, sub_path);
            }
            free(sub_path);
            if (drop) {
                spec__node_remove(n, i);
                i--;
            }
        }
    } else if (n->kind == SPEC__K_SEQ && shape->items) {
        for (size_t i = 0; i < n->n; i++) {
            char *sub_path = stk_xasprintf("%s[%zu]", path, i);
            check_shape(l, n->items[i], shape->items, sub_path);
            free(sub_path);
        }
    }
}

/* ---- Value helpers --------------------------------------------------------------------- */

static char *str_dup_of(const struct spec__node *n)
{
    return n && is_scalar(n) ? stk_xstrdup(n->str) : NULL;
}

static int parse_bool(const struct spec__node *n, int *ret)
{
    if (n->kind == SPEC__K_BOOL || n->kind == SPEC__K_STR) {
        if (strcasecmp(n->str, "true") == 0 || strcmp(n->str, "1") == 0 ||
            strcasecmp(n->str, "yes") == 0 || strcasecmp(n->str, "y") == 0 ||
            strcasecmp(n->str, "on") == 0) {
            *ret = 1;
            return 0;
        }
        if (strcasecmp(n->str, "false") == 0 || strcmp(n->str, "0") == 0 ||
            strcasecmp(n->str, "no") == 0 || strcasecmp(n->str, "n") == 0 ||
            strcasecmp(n->str, "off") == 0) {
            *ret = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_long(const char *s, long long lo, long long hi, long long *ret)
{
    char *end;
    long long v;

    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *ret = v;
    return 0;
}

static char **seq_to_strv(const struct spec__node *n)
{
    struct stk_strv v = STK_STRV_INIT;

    stk_strv_init(&v);
    for (size_t i = 0; i < n->n; i++)
        stk_strv_push(&v, n->items[i]->str ? n->items[i]->str : "");
    return v.v;
}

static int get_duration(struct loader *l, const struct spec__node *n, const char *what,
                        int64_t *ret)
{
    if (!is_scalar(n) || spec__parse_duration(n->str, ret) < 0) {
        lerr(l, n, "%s: invalid duration '%s'", what, n->str ? n->str : "");
        return -1;
    }
    return 0;
}

/* ---- Service keys ---------------------------------------------------------------------- */

struct svc_ctx {
    struct loader *l;
    struct spec_service *s;
    const char *name;
    const struct spec__node *node; /* the service's mapping */
};

static void set_command(struct svc_ctx *c, const struct spec__node *v, char ***ret, int *ret_has,
                        const char *key)
{
    if (v->kind == SPEC__K_NULL)
        return;
    if (v->kind == SPEC__K_SEQ) {
        *ret = seq_to_strv(v);
        *ret_has = 1;
        return;
    }
    {
        char *msg = NULL;
        char **words = spec__shlex_split(v->str, &msg);
        if (!words) {
            lerr(c->l, v, "services.%s.%s: %s", c->name, key, msg);
            free(msg);
            return;
        }
        *ret = words;
        *ret_has = 1;
    }
}

static void k_image(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->image = str_dup_of(v);
    c->s->image_pos = pos_of(v);
    if (c->s->image && !c->s->image[0])
        lerr(c->l, v, "services.%s.image must not be empty", c->name);
}

static void k_command(struct svc_ctx *c, const struct spec__node *v)
{
    set_command(c, v, &c->s->command, &c->s->has_command, "command");
}

static void k_entrypoint(struct svc_ctx *c, const struct spec__node *v)
{
    set_command(c, v, &c->s->entrypoint, &c->s->has_entrypoint, "entrypoint");
}

static void env_put(struct spec_service *s, const char *key, const char *value)
{
    for (size_t i = 0; i < s->n_environment; i++)
        if (strcmp(s->environment[i].key, key) == 0) {
            free(s->environment[i].value);
            s->environment[i].value = stk_xstrdup(value);
            return;
        }
    s->environment = stk_xrealloc(s->environment, (s->n_environment + 1) * sizeof(*s->environment));
    s->environment[s->n_environment].key = stk_xstrdup(key);
    s->environment[s->n_environment++].value = stk_xstrdup(value);
}

static int cmp_env(const void *a, const void *b)
{
    return strcmp(((const struct spec_env *)a)->key, ((const struct spec_env *)b)->key);
}

static void k_environment(struct svc_ctx *c, const struct spec__node *v)
{
    if (v->kind == SPEC__K_MAP) {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *val = v->items[i];
            const char *key = v->keys[i]->str;
            if (val->kind == SPEC__K_NULL)
                env_put(c->s, key, spec__env_get(&c->l->env, key));
            else
                env_put(c->s, key, val->str);
        }
    } else if (v->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *it = v->items[i];
            const char *eq = it->str ? strchr(it->str, '=') : NULL;
            if (it->kind == SPEC__K_NULL)
                continue;
            if (!it->str || it->str[0] == '=' || !it->str[0]) {
                lerr(c->l, it, "services.%s.environment: invalid entry '%s'", c->name,
                     it->str ? it->str : "");
                continue;
            }
            if (eq) {
                _cleanup_free_ char *key = stk_xstrndup(it->str, (size_t)(eq - it->str));
                env_put(c->s, key, eq + 1);
            } else {
                env_put(c->s, it->str, spec__env_get(&c->l->env, it->str));
            }
        }
    }
    if (c->s->n_environment)
        qsort(c->s->environment, c->s->n_environment, sizeof(*c->s->environment), cmp_env);
}

/* go-connections nat.ParsePortRange: "N" or "N-M", 0..65535. */
static int parse_port_range(const char *s, long long *ret_lo, long long *ret_hi)
{
    const char *dash = strchr(s, '-');

    if (!dash) {
        if (parse_long(s, 0, 65535, ret_lo) < 0 || !isdigit((unsigned char)s[0]))
            return -1;
        *ret_hi = *ret_lo;
        return 0;
    }
    {
        _cleanup_free_ char *a = stk_xstrndup(s, (size_t)(dash - s));
        if (!isdigit((unsigned char)a[0]) || !isdigit((unsigned char)dash[1]) ||
            parse_long(a, 0, 65535, ret_lo) < 0 || parse_long(dash + 1, 0, 65535, ret_hi) < 0 ||
            *ret_hi < *ret_lo)
            return -1;
    }
    return 0;
}

static int valid_ip(const char *s)
{
    int colons = 0, dots = 0;

    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p == ':')
            colons++;
        else if (*p == '.')
            dots++;
        else if (!isxdigit((unsigned char)*p))
            return 0;
    }
    if (colons)
        return colons >= 2;
    if (dots != 3)
        return 0;
    {
        int a, b, cc, d;
        char tail;
        if (sscanf(s, "%d.%d.%d.%d%c", &a, &b, &cc, &d, &tail) != 4)
            return 0;
        return a >= 0 && a < 256 && b >= 0 && b < 256 && cc >= 0 && cc < 256 && d >= 0 &&
               d < 256;
    }
}

static struct spec_port *port_add(struct spec_service *s)
{
    struct spec_port *p;

    s->ports = stk_xrealloc(s->ports, (s->n_ports + 1) * sizeof(*s->ports));
    p = &s->ports[s->n_ports++];
    memset(p, 0, sizeof(*p));
    return p;
}

static void port_short(struct svc_ctx *c, const struct spec__node *it, const char *raw)
{
    _cleanup_free_ char *spec = stk_xstrdup(raw);
    _cleanup_free_ char *ip = NULL;
    char tcp[] = "tcp";
    char *proto = tcp;
    char *host = NULL, *cont;
    char *slash;
    long long clo, chi, hlo = 0, hhi = 0;
    size_t nparts = 1;

    slash = strrchr(spec, '/');
    if (slash && !strchr(slash, ':')) {
        *slash = '\0';
        proto = slash + 1;
        for (char *p = proto; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    for (char *p = spec; *p; p++)
        if (*p == ':')
            nparts++;
    cont = strrchr(spec, ':');
    if (!cont) {
        cont = spec;
    } else {
        *cont++ = '\0';
        host = strrchr(spec, ':');
        if (!host) {
            host = spec;
        } else {
            *host++ = '\0';
            ip = stk_xstrdup(spec);
        }
    }
    (void)nparts;
    if (ip) {
        size_t len = strlen(ip);
        if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
            memmove(ip, ip + 1, len - 2);
            ip[len - 2] = '\0';
        }
        if (!valid_ip(ip)) {
            lerr(c->l, it, "services.%s.ports: invalid IP address '%s' in '%s'", c->name, ip,
                 raw);
            return;
        }
    }
    if (!*cont) {
        lerr(c->l, it, "services.%s.ports: no port specified in '%s'", c->name, raw);
        return;
    }
    if (parse_port_range(cont, &clo, &chi) < 0 || clo == 0) {
        lerr(c->l, it, "services.%s.ports: invalid container port '%s' in '%s'", c->name, cont,
             raw);
        return;
    }
    if (host && *host && parse_port_range(host, &hlo, &hhi) < 0) {
        lerr(c->l, it, "services.%s.ports: invalid host port '%s' in '%s'", c->name, host, raw);
        return;
    }
    if (host && *host && (chi - clo) != (hhi - hlo) && chi != clo) {
        lerr(c->l, it,
             "services.%s.ports: invalid ranges specified for container and host ports: %s and "
             "%s",
             c->name, cont, host);
        return;
    }
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0) {
        lerr(c->l, it, "services.%s.ports: invalid protocol '%s' in '%s'", c->name, proto, raw);
        return;
    }
    for (long long i = 0; i <= chi - clo; i++) {
        struct spec_port *p = port_add(c->s);
        p->target = (uint16_t)(clo + i);
        if (host && *host) {
            if (chi == clo && hhi != hlo) {
                p->published = (uint16_t)hlo;
                p->published_end = (uint16_t)hhi;
            } else {
                p->published = (uint16_t)(hlo + i);
            }
        }
        p->host_ip = ip && *ip ? stk_xstrdup(ip) : NULL;
        p->protocol = stk_xstrdup(proto);
        p->mode = stk_xstrdup("ingress");
        p->pos = pos_of(it);
    }
}

static void port_long(struct svc_ctx *c, const struct spec__node *it)
{
    const struct spec__node *t = spec__node_get(it, "target");
    const struct spec__node *pub = spec__node_get(it, "published");
    const struct spec__node *v;
    long long target, lo = 0, hi = 0;
    struct spec_port *p;

    if (!t || t->kind == SPEC__K_NULL) {
        lerr(c->l, it, "services.%s.ports: 'target' is required in the long syntax", c->name);
        return;
    }
    if (parse_long(t->str, 1, 65535, &target) < 0) {
        lerr(c->l, t, "services.%s.ports.target: invalid port '%s'", c->name, t->str);
        return;
    }
    if (pub && pub->kind != SPEC__K_NULL && pub->str[0] &&
        parse_port_range(pub->str, &lo, &hi) < 0) {
        lerr(c->l, pub, "services.%s.ports.published: invalid port '%s'", c->name, pub->str);
        return;
    }
    p = port_add(c->s);
    p->target = (uint16_t)target;
    p->published = (uint16_t)lo;
    p->published_end = hi != lo ? (uint16_t)hi : 0;
    v = spec__node_get(it, "host_ip");
    p->host_ip = v && v->str && v->str[0] ? stk_xstrdup(v->str) : NULL;
    if (p->host_ip && !valid_ip(p->host_ip))
        lerr(c->l, v, "services.%s.ports.host_ip: invalid IP address '%s'", c->name, v->str);
    v = spec__node_get(it, "protocol");
    p->protocol = stk_xstrdup(v && v->str && v->str[0] ? v->str : "tcp");
    for (char *q = p->protocol; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    if (strcmp(p->protocol, "tcp") && strcmp(p->protocol, "udp") && strcmp(p->protocol, "sctp"))
        lerr(c->l, v, "services.%s.ports.protocol: invalid protocol '%s'", c->name, v->str);
    v = spec__node_get(it, "mode");
    p->mode = stk_xstrdup(v && v->str && v->str[0] ? v->str : "ingress");
    if (strcmp(p->mode, "ingress") && strcmp(p->mode, "host"))
        lerr(c->l, v, "services.%s.ports.mode must be 'host' or 'ingress', not '%s'", c->name,
             v->str);
    p->name = str_dup_of(spec__node_get(it, "name"));
    p->app_protocol = str_dup_of(spec__node_get(it, "app_protocol"));
    p->pos = pos_of(it);
}

static void k_ports(struct svc_ctx *c, const struct spec__node *v)
{
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *it = v->items[i];
        if (it->kind == SPEC__K_NULL)
            continue; /* already reported */
        if (it->kind == SPEC__K_MAP) {
            port_long(c, it);
        } else if (it->kind == SPEC__K_INT || it->kind == SPEC__K_STR) {
            port_short(c, it, it->str);
        } else {
            lerr(c->l, it, "services.%s.ports: invalid port '%s'", c->name,
                 it->str ? it->str : "");
        }
    }
}

static int is_pipe_path(const char *s)
{
    return (s[0] == '\\' || s[0] == '/') && (s[1] == '\\' || s[1] == '/') && s[2] == '.' &&
           (s[3] == '\\' || s[3] == '/') && strncasecmp(s + 4, "pipe", 4) == 0 &&
           (s[8] == '\\' || s[8] == '/');
}

static int is_drive(const char *buf, size_t len)
{
    return len == 1 && isalpha((unsigned char)buf[0]);
}

/* Resolves a bind source against the project directory (compose-go loader paths). */
static char *bind_source(struct loader *l, const char *src)
{
    if (src[0] == '~' && (src[1] == '/' || src[1] == '\0')) {
        const char *home = spec__env_get(&l->env, "HOME");
        if (!home)
            home = getenv("HOME");
        if (home) {
            _cleanup_free_ char *j = stk_xasprintf("%s%s", home, src + 1);
            return spec__path_clean(j);
        }
    }
    if (src[0] == '/' || spec__is_windows_abs(src) ||
        (isalpha((unsigned char)src[0]) && src[1] == ':'))
        return stk_xstrdup(src);
    {
        _cleanup_free_ char *j = stk_xasprintf("%s/%s", l->project_dir, src);
        return spec__path_clean(j);
    }
}

static struct spec_volume *volume_add(struct spec_service *s)
{
    struct spec_volume *v;

    s->volumes = stk_xrealloc(s->volumes, (s->n_volumes + 1) * sizeof(*s->volumes));
    v = &s->volumes[s->n_volumes++];
    memset(v, 0, sizeof(*v));
    return v;
}

static int named_volume_declared(struct loader *l, const char *name)
{
    return spec__node_get(spec__node_get(l->root, "volumes"), name) != NULL ||
           spec__node_index(spec__node_get(l->root, "volumes"), name) >= 0;
}

static char *clean_target(const char *t)
{
    if (!*t)
        return stk_xstrdup(t);
    return spec__path_clean(t);
}

/* compose-go format.ParseVolume. */
static void volume_short(struct svc_ctx *c, const struct spec__node *it)
{
    const char *spec = it->str;
    size_t len = strlen(spec);
    char *parts[3] = {NULL, NULL, NULL};
    size_t n_parts = 0;
    struct stk_buf buf = STK_BUF_INIT;
    int nest = 0, ok = 1;
    struct spec_volume *v;
    int ro = 0;

    if (len == 0) {
        lerr(c->l, it, "services.%s.volumes: invalid empty volume spec", c->name);
        return;
    }
    if (len <= 2) {
        parts[1] = stk_xstrdup(spec);
        n_parts = 1;
        goto build;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = spec[i];
        if (ch == '$' && spec[i + 1] == '{')
            nest++;
        if (ch == '}' && nest > 0)
            nest--;
        if (ch == ':' && nest == 0 && !is_drive(buf.buf, buf.len)) {
            if (buf.len == 0) {
                lerr(c->l, it, "services.%s.volumes: invalid spec '%s': empty section between "
                               "colons",
                     c->name, spec);
                ok = 0;
                break;
            }
            if (n_parts == 2) {
                /* options: the rest */
                parts[0] = parts[0];
            }
            if (n_parts >= 3) {
                lerr(c->l, it, "services.%s.volumes: invalid spec '%s': too many colons",
                     c->name, spec);
                ok = 0;
                break;
            }
            parts[n_parts++] = stk_buf_detach(&buf, NULL);
            continue;
        }
        stk_buf_putc(&buf, ch);
    }
    if (ok) {
        if (n_parts >= 3) {
            lerr(c->l, it, "services.%s.volumes: invalid spec '%s': too many colons", c->name,
                 spec);
            ok = 0;
        } else if (buf.len == 0 && n_parts > 0) {
            lerr(c->l, it, "services.%s.volumes: invalid spec '%s': empty section between colons",
                 c->name, spec);
            ok = 0;
        } else {
            parts[n_parts++] = stk_buf_detach(&buf, NULL);
        }
    }
    stk_buf_release(&buf);
    if (!ok)
        goto out;
    if (n_parts == 1) {
        /* Only a target: an anonymous volume. */
        parts[1] = parts[0];
        parts[0] = NULL;
    }
build:
    if (parts[2]) {
        char *save = parts[2];
        for (char *o = save; o && *o;) {
            char *comma = strchr(o, ',');
            size_t l = comma ? (size_t)(comma - o) : strlen(o);
            if (l == 2 && strncasecmp(o, "ro", 2) == 0)
                ro = 1;
            o = comma ? comma + 1 : NULL;
        }
    }
    v = volume_add(c->s);
    v->pos = pos_of(it);
    v->read_only = ro;
    v->target = clean_target(parts[1]);
    if (!parts[0]) {
        v->type = stk_xstrdup("volume");
    } else if (is_pipe_path(parts[0]) && is_pipe_path(parts[1])) {
        /* compose-go types this "bind"; the engine re-detects the pipe (docker/compose#5181). */
        v->type = stk_xstrdup("npipe");
        v->source = stk_xstrdup(parts[0]);
        free(v->target);
        v->target = stk_xstrdup(parts[1]);
    } else if (parts[0][0] == '.' || parts[0][0] == '/' || parts[0][0] == '~' ||
               parts[0][0] == '\\' || (isalpha((unsigned char)parts[0][0]) && parts[0][1] == ':')) {
        v->type = stk_xstrdup("bind");
        v->source = bind_source(c->l, parts[0]);
        v->create_host_path = 1;
    } else {
        v->type = stk_xstrdup("volume");
        v->source = stk_xstrdup(parts[0]);
        if (!named_volume_declared(c->l, parts[0]))
            lerr(c->l, it, "service '%s' refers to undefined volume '%s'", c->name, parts[0]);
    }
out:
    for (size_t i = 0; i < 3; i++)
        free(parts[i]);
}

static void volume_long(struct svc_ctx *c, const struct spec__node *it)
{
    const struct spec__node *type = spec__node_get(it, "type");
    const struct spec__node *src = spec__node_get(it, "source");
    const struct spec__node *tgt = spec__node_get(it, "target");
    const struct spec__node *ro = spec__node_get(it, "read_only");
    const struct spec__node *sub;
    struct spec_volume *v;
    int b;

    if (!type || !type->str) {
        lerr(c->l, it, "services.%s.volumes: 'type' is required in the long syntax", c->name);
        return;
    }
    if (strcmp(type->str, "bind") && strcmp(type->str, "volume") && strcmp(type->str, "tmpfs") &&
        strcmp(type->str, "npipe")) {
        lerr(c->l, type, "services.%s.volumes.type: unsupported volume type '%s'", c->name,
             type->str);
        return;
    }
    if (!tgt || !tgt->str || !tgt->str[0]) {
        lerr(c->l, it, "services.%s.volumes: 'target' is required", c->name);
        return;
    }
    v = volume_add(c->s);
    v->pos = pos_of(it);
    v->type = stk_xstrdup(type->str);
    v->target = strcmp(type->str, "npipe") == 0 ? stk_xstrdup(tgt->str) : clean_target(tgt->str);
    if (ro && ro->kind != SPEC__K_NULL) {
        if (parse_bool(ro, &b) < 0)
            lerr(c->l, ro, "services.%s.volumes.read_only must be a boolean", c->name);
        else
            v->read_only = b;
    }
    if (strcmp(v->type, "bind") == 0) {
        if (!src || !src->str || !src->str[0]) {
            lerr(c->l, it, "services.%s.volumes: a bind mount needs a 'source'", c->name);
        } else {
            v->source = bind_source(c->l, src->str);
        }
        v->create_host_path = 1;
        sub = spec__node_get(spec__node_get(it, "bind"), "create_host_path");
        if (sub && parse_bool(sub, &b) == 0)
            v->create_host_path = b;
    } else if (strcmp(v->type, "volume") == 0) {
        if (src && src->str && src->str[0]) {
            v->source = stk_xstrdup(src->str);
            if (!named_volume_declared(c->l, src->str))
                lerr(c->l, src, "service '%s' refers to undefined volume '%s'", c->name,
                     src->str);
        }
    } else if (strcmp(v->type, "npipe") == 0) {
        if (!src || !src->str || !src->str[0])
            lerr(c->l, it, "services.%s.volumes: an npipe mount needs a 'source'", c->name);
        else
            v->source = stk_xstrdup(src->str);
    } else {
        sub = spec__node_get(spec__node_get(it, "tmpfs"), "size");
        if (sub && sub->kind != SPEC__K_NULL && spec__parse_bytes(sub->str, &v->tmpfs_size) < 0)
            lerr(c->l, sub, "services.%s.volumes.tmpfs.size: invalid size '%s'", c->name,
                 sub->str);
        if (src && src->str && src->str[0])
            lerr(c->l, src, "services.%s.volumes: a tmpfs mount takes no 'source'", c->name);
    }
}

static void k_volumes(struct svc_ctx *c, const struct spec__node *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->kind == SPEC__K_MAP)
            volume_long(c, v->items[i]);
        else if (v->items[i]->kind == SPEC__K_STR)
            volume_short(c, v->items[i]);
    }
}

static struct spec_depends *depends_add(struct spec_service *s, const char *name,
                                        const struct spec__node *pos)
{
    struct spec_depends *d;

    s->depends_on = stk_xrealloc(s->depends_on, (s->n_depends_on + 1) * sizeof(*s->depends_on));
    d = &s->depends_on[s->n_depends_on++];
    memset(d, 0, sizeof(*d));
    d->service = stk_xstrdup(name);
    d->condition = stk_xstrdup("service_started");
    d->required = 1;
    d->pos = pos_of(pos);
    return d;
}

static struct spec_depends *depends_find(struct spec_service *s, const char *name)
{
    for (size_t i = 0; i < s->n_depends_on; i++)
        if (strcmp(s->depends_on[i].service, name) == 0)
            return &s->depends_on[i];
    return NULL;
}

static void k_depends_on(struct svc_ctx *c, const struct spec__node *v)
{
    if (v->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *it = v->items[i];
            if (!it->str)
                continue;
            if (depends_find(c->s, it->str)) {
                lerr(c->l, it, "services.%s.depends_on: duplicate entry '%s'", c->name, it->str);
                continue;
            }
            depends_add(c->s, it->str, it);
        }
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *k = v->keys[i], *val = v->items[i], *x;
        struct spec_depends *d = depends_add(c->s, k->str, k);
        int b;
        if (val->kind != SPEC__K_MAP)
            continue;
        if ((x = spec__node_get(val, "condition")) && x->str) {
            free(d->condition);
            d->condition = stk_xstrdup(x->str);
        }
        if ((x = spec__node_get(val, "required")) && x->kind != SPEC__K_NULL) {
            if (parse_bool(x, &b) < 0)
                lerr(c->l, x, "services.%s.depends_on.%s.required must be a boolean", c->name,
                     k->str);
            else
                d->required = b;
        }
        if ((x = spec__node_get(val, "restart")) && x->kind != SPEC__K_NULL) {
            if (parse_bool(x, &b) < 0)
                lerr(c->l, x, "services.%s.depends_on.%s.restart must be a boolean", c->name,
                     k->str);
            else
                d->restart = b;
        }
    }
}

static void k_isolation(struct svc_ctx *c, const struct spec__node *v)
{
    char *iso = stk_xstrdup(v->str);

    for (char *p = iso; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    c->s->isolation_pos = pos_of(v);
    if (strcmp(iso, "default") && strcmp(iso, "process") && strcmp(iso, "hyperv")) {
        lerr(c->l, v, "services.%s.isolation: invalid value '%s': must be default, process or "
                      "hyperv",
             c->name, v->str);
        free(iso);
        return;
    }
    c->s->isolation = iso;
}

static void k_restart(struct svc_ctx *c, const struct spec__node *v)
{
    const char *r = v->str;

    if (strcmp(r, "no") == 0 || strcmp(r, "") == 0)
        return;
    if (strcmp(r, "always") == 0 || strcmp(r, "unless-stopped") == 0 ||
        strcmp(r, "on-failure") == 0) {
        c->s->restart = stk_xstrdup(r);
        return;
    }
    if (strncmp(r, "on-failure:", 11) == 0) {
        long long n;
        if (parse_long(r + 11, 0, INT_MAX, &n) == 0) {
            c->s->restart = stk_xstrdup(r);
            return;
        }
    }
    lerr(c->l, v, "services.%s.restart: invalid restart policy '%s': must be no, always, "
                  "on-failure[:N] or unless-stopped",
         c->name, r);
}

static void k_hostname(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->hostname = str_dup_of(v);
}

static void k_working_dir(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->working_dir = str_dup_of(v);
}

static void k_user(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->user = str_dup_of(v);
}

static void k_stop_signal(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->stop_signal = str_dup_of(v);
}

static void k_stop_grace_period(struct svc_ctx *c, const struct spec__node *v)
{
    char *what = stk_xasprintf("services.%s.stop_grace_period", c->name);

    get_duration(c->l, v, what, &c->s->stop_grace_period_ns);
    free(what);
}

static void k_network_mode(struct svc_ctx *c, const struct spec__node *v)
{
    const char *m = v->str;

    if (strcmp(m, "none") && strcmp(m, "host") && strcmp(m, "bridge") &&
        strncmp(m, "service:", 8) && strncmp(m, "container:", 10)) {
        lerr(c->l, v, "services.%s.network_mode: invalid value '%s': must be none, host, bridge, "
                      "service:NAME or container:NAME",
             c->name, m);
        return;
    }
    if ((strncmp(m, "service:", 8) == 0 && !m[8]) || (strncmp(m, "container:", 10) == 0 && !m[10])) {
        lerr(c->l, v, "services.%s.network_mode: '%s' names no %s", c->name, m,
             m[0] == 's' ? "service" : "container");
        return;
    }
    c->s->network_mode = stk_xstrdup(m);
}

static void k_networks(struct svc_ctx *c, const struct spec__node *v)
{
    struct stk_strv nets = STK_STRV_INIT;
    const struct spec__node *top = spec__node_get(c->l->root, "networks");

    stk_strv_init(&nets);
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *k = v->kind == SPEC__K_MAP ? v->keys[i] : v->items[i];
        if (!k->str)
            continue;
        if (stk_strv_contains(&nets, k->str)) {
            lerr(c->l, k, "services.%s.networks: duplicate entry '%s'", c->name, k->str);
            continue;
        }
        if (strcmp(k->str, "default") != 0 && spec__node_index(top, k->str) < 0)
            lerr(c->l, k, "service '%s' refers to undefined network '%s'", c->name, k->str);
        stk_strv_push(&nets, k->str);
    }
    c->s->networks = nets.v;
}

static void k_healthcheck(struct svc_ctx *c, const struct spec__node *v)
{
    struct spec_healthcheck *h = &c->s->healthcheck;
    const struct spec__node *x;
    char *what;

    h->present = 1;
    h->interval_ns = 30000000000LL;
    h->timeout_ns = 30000000000LL;
    h->retries = 3;
    if (v->kind != SPEC__K_MAP)
        return;
    if ((x = spec__node_get(v, "disable")) && x->kind != SPEC__K_NULL) {
        if (parse_bool(x, &h->disable) < 0)
            lerr(c->l, x, "services.%s.healthcheck.disable must be a boolean", c->name);
    }
    if ((x = spec__node_get(v, "test")) && x->kind != SPEC__K_NULL) {
        if (x->kind == SPEC__K_STR) {
            struct stk_strv t = STK_STRV_INIT;
            stk_strv_init(&t);
            stk_strv_push(&t, "CMD-SHELL");
            stk_strv_push(&t, x->str);
            h->test = t.v;
        } else if (x->kind == SPEC__K_SEQ) {
            if (x->n == 0 || !x->items[0]->str || (strcmp(x->items[0]->str, "NONE") &&
                              strcmp(x->items[0]->str, "CMD") &&
                              strcmp(x->items[0]->str, "CMD-SHELL"))) {
                lerr(c->l, x->n ? x->items[0] : x,
                     "services.%s.healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" "
                     "or \"NONE\"",
                     c->name);
            } else {
                h->test = seq_to_strv(x);
            }
        }
    }
    if (h->disable) {
        if (h->test && strcmp(h->test[0], "NONE") != 0)
            lerr(c->l, v, "services.%s.healthcheck: test and disable can't be set at the same "
                          "time",
                 c->name);
        stk_strv_free(h->test);
        h->test = stk_xcalloc(2, sizeof(char *));
        h->test[0] = stk_xstrdup("NONE");
    }
    what = stk_xasprintf("services.%s.healthcheck", c->name);
    if ((x = spec__node_get(v, "interval")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &h->interval_ns);
    if ((x = spec__node_get(v, "timeout")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &h->timeout_ns);
    if ((x = spec__node_get(v, "start_period")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &h->start_period_ns);
    if ((x = spec__node_get(v, "start_interval")) && x->kind != SPEC__K_NULL) {
        int64_t ignored;
        if (get_duration(c->l, x, what, &ignored) == 0)
        {
            char *path = stk_xasprintf("services.%s.healthcheck.start_interval", c->name);
            lunsupported(c->l, x, path);
            free(path);
        }
    }
    if ((x = spec__node_get(v, "retries")) && x->kind != SPEC__K_NULL) {
        long long r;
        if (parse_long(x->str, 0, INT_MAX, &r) < 0)
            lerr(c->l, x, "services.%s.healthcheck.retries: invalid number '%s'", c->name, x->str);
        else
            h->retries = (int)r;
    }
    free(what);
}

static void k_deploy(struct svc_ctx *c, const struct spec__node *v)
{
    if (v->kind != SPEC__K_MAP)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *k = v->keys[i], *x = v->items[i];
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        if (strcmp(k->str, "replicas") == 0) {
            long long r;
            if (x->kind == SPEC__K_NULL)
                continue;
            if (parse_long(x->str, 0, INT_MAX, &r) < 0)
                lerr(c->l, x, "services.%s.deploy.replicas: invalid number '%s'", c->name,
                     x->str);
            else
                c->s->replicas = (int)r;
        } else {
            char *path = stk_xasprintf("services.%s.deploy.%s", c->name, k->str);
            lunsupported(c->l, k, path);
            free(path);
        }
    }
}

struct svc_key {
    const char *key;
    void (*fn)(struct svc_ctx *c, const struct spec__node *v);
};

/* The service keys the product acts on; every other valid key is reported unsupported. */
static const struct svc_key svc_keys[] = {
    {"command", k_command},
    {"depends_on", k_depends_on},
    {"deploy", k_deploy},
    {"entrypoint", k_entrypoint},
    {"environment", k_environment},
    {"healthcheck", k_healthcheck},
    {"hostname", k_hostname},
    {"image", k_image},
    {"isolation", k_isolation},
    {"network_mode", k_network_mode},
    {"networks", k_networks},
    {"ports", k_ports},
    {"restart", k_restart},
    {"stop_grace_period", k_stop_grace_period},
    {"stop_signal", k_stop_signal},
    {"user", k_user},
    {"volumes", k_volumes},
    {"working_dir", k_working_dir},
};

static void load_service(struct loader *l, struct spec_service *s, const struct spec__node *key,
                         const struct spec__node *node)
{
    struct svc_ctx c = {l, s, key->str, node};

    s->name = stk_xstrdup(key->str);
    s->pos = pos_of(key);
    s->replicas = 1;
    s->stop_grace_period_ns = 10000000000LL;
    if (node->kind != SPEC__K_MAP)
        return;
    for (size_t i = 0; i < node->n; i++) {
        const struct spec__node *k = node->keys[i], *v = node->items[i];
        size_t j;
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        for (j = 0; j < STK_ARRAY_SIZE(svc_keys); j++)
            if (strcmp(svc_keys[j].key, k->str) == 0)
                break;
        if (j == STK_ARRAY_SIZE(svc_keys)) {
            char *path = stk_xasprintf("services.%s.%s", s->name, k->str);
            lunsupported(l, k, path);
            free(path);
            continue;
        }
        if (v->kind == SPEC__K_NULL && strcmp(k->str, "deploy") != 0)
            continue;
        svc_keys[j].fn(&c, v);
    }
    if (spec__node_index(node, "image") < 0 && spec__node_index(node, "build") < 0)
        lerr(l, key, "service '%s' has neither an image nor a build context specified", s->name);
    if (s->network_mode && s->networks)
        lerr(l, spec__node_get(node, "network_mode"),
             "service '%s' declares mutually exclusive 'network_mode' and 'networks'", s->name);
}

/* ---- Project-level checks -------------------------------------------------------------- */

static long service_index(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->n_services; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return (long)i;
    return -1;
}

static void err_at_pos(struct loader *l, const struct spec_pos *p, const char *fmt, ...)
    STK_PRINTF(3, 4);
static void err_at_pos(struct loader *l, const struct spec_pos *p, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    stk_diag_add(&l->diag, STK_DIAG_ERROR, p->file, p->line, p->col, "%s", msg);
    free(msg);
}

static void check_references(struct loader *l)
{
    struct spec_project *p = l->project;

    for (size_t i = 0; i < p->n_services; i++) {
        struct spec_service *s = &p->services[i];
        if (s->network_mode && strncmp(s->network_mode, "service:", 8) == 0) {
            const char *target = s->network_mode + 8;
            const struct spec__node *svc_node =
                spec__node_get(spec__node_get(l->root, "services"), s->name);
            const struct spec__node *nm = spec__node_get(svc_node, "network_mode");
            if (service_index(p, target) < 0) {
                lerr(l, nm, "service '%s' refers to undefined service '%s' in network_mode",
                     s->name, target);
            } else if (!depends_find(s, target)) {
                struct spec_depends *d = depends_add(s, target, nm);
                d->restart = 1;
                d->implicit = 1;
            }
        }
        for (size_t j = 0; j < s->n_depends_on; j++) {
            struct spec_depends *d = &s->depends_on[j];
            if (d->implicit)
                continue;
            if (service_index(p, d->service) < 0)
                err_at_pos(l, &d->pos, "service '%s' depends on undefined service '%s'", s->name,
                           d->service);
        }
    }
}

/* Depth-first search for depends_on cycles (compose-go graph/cycle.go). */
static int cycle_visit(struct loader *l, size_t i, int *state, size_t *stack, size_t depth)
{
    struct spec_project *p = l->project;
    struct spec_service *s = &p->services[i];

    state[i] = 1;
    stack[depth] = i;
    for (size_t j = 0; j < s->n_depends_on; j++) {
        long t = service_index(p, s->depends_on[j].service);
        if (t < 0)
            continue;
        if (state[t] == 1) {
            struct stk_buf b = STK_BUF_INIT;
            size_t k = 0;
            while (stack[k] != (size_t)t)
                k++;
            for (; k <= depth; k++)
                stk_buf_printf(&b, "%s -> ", p->services[stack[k]].name);
            stk_buf_puts(&b, p->services[t].name);
            err_at_pos(l, &s->depends_on[j].pos, "dependency cycle detected: %s", b.buf);
            stk_buf_release(&b);
            state[i] = 2;
            return -1;
        }
        if (state[t] == 0 && cycle_visit(l, (size_t)t, state, stack, depth + 1) < 0) {
            state[i] = 2;
            return -1;
        }
    }
    state[i] = 2;
    return 0;
}

static void check_cycles(struct loader *l)
{
    size_t n = l->project->n_services;
    int *state = stk_xcalloc(n ? n : 1, sizeof(int));
    size_t *stack = stk_xcalloc(n ? n : 1, sizeof(size_t));

    for (size_t i = 0; i < n; i++)
        if (state[i] == 0 && cycle_visit(l, i, state, stack, 0) < 0)
            break; /* one cycle is enough to report */
    free(state);
    free(stack);
}

/* ---- Project name and top-level resources ---------------------------------------------- */

static char *normalize_name(const char *in)
{
    struct stk_buf b = STK_BUF_INIT;

    for (const char *p = in; *p; p++) {
        char c = (char)tolower((unsigned char)*p);
        if (isalnum((unsigned char)c) || c == '_' || c == '-') {
            if (b.len == 0 && (c == '_' || c == '-'))
                continue;
            stk_buf_putc(&b, c);
        }
    }
    return stk_buf_detach(&b, NULL);
}

static int is_normalized_name(const char *s)
{
    _cleanup_free_ char *n = normalize_name(s);

    return *s && strcmp(n, s) == 0;
}

static void project_name(struct loader *l)
{
    const struct spec__node *name = spec__node_get(l->root, "name");
    const char *env_name = spec__env_get(&l->env, "COMPOSE_PROJECT_NAME");
    const char *base;

    if (l->opts->project_name || (env_name && *env_name)) {
        const char *pn = l->opts->project_name ? l->opts->project_name : env_name;
        if (!is_normalized_name(pn))
            lerr(l, NULL,
                 "invalid project name '%s': must consist only of lowercase alphanumeric "
                 "characters, hyphens, and underscores as well as start with a letter or number",
                 pn);
        l->project->name = stk_xstrdup(pn);
        return;
    }
    if (name && is_scalar(name) && name->str[0]) {
        l->project->name = normalize_name(name->str);
        if (!l->project->name[0])
            lerr(l, name, "invalid project name '%s'", name->str);
        return;
    }
    base = strrchr(l->project_dir, '/');
    base = base ? base + 1 : l->project_dir;
    l->project->name = normalize_name(base);
    if (!l->project->name[0])
        lerr(l, NULL,
             "project name cannot be derived from the directory '%s': set 'name:' or -p",
             l->project_dir);
}

static void load_resources(struct loader *l)
{
    struct spec_project *p = l->project;
    const struct spec__node *nets = spec__node_get(l->root, "networks");
    const struct spec__node *vols = spec__node_get(l->root, "volumes");
    int uses_default = 0;

    for (size_t i = 0; nets && nets->kind == SPEC__K_MAP && i < nets->n; i++) {
        const struct spec__node *k = nets->keys[i], *v = nets->items[i], *x;
        struct spec_network *n;
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        p->networks = stk_xrealloc(p->networks, (p->n_networks + 1) * sizeof(*p->networks));
        n = &p->networks[p->n_networks++];
        memset(n, 0, sizeof(*n));
        n->key = stk_xstrdup(k->str);
        n->pos = pos_of(k);
        if ((x = spec__node_get(v, "external")) && x->kind != SPEC__K_NULL)
            parse_bool(x, &n->external);
        if ((x = spec__node_get(v, "internal")) && x->kind != SPEC__K_NULL)
            parse_bool(x, &n->internal);
        n->driver = str_dup_of(spec__node_get(v, "driver"));
        if ((x = spec__node_get(v, "name")) && is_scalar(x))
            n->name = stk_xstrdup(x->str);
        else if (n->external)
            n->name = stk_xstrdup(k->str);
        else
            n->name = stk_xasprintf("%s_%s", p->name, k->str);
    }
    for (size_t i = 0; vols && vols->kind == SPEC__K_MAP && i < vols->n; i++) {
        const struct spec__node *k = vols->keys[i], *v = vols->items[i], *x;
        struct spec_named_volume *n;
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        p->volumes = stk_xrealloc(p->volumes, (p->n_volumes + 1) * sizeof(*p->volumes));
        n = &p->volumes[p->n_volumes++];
        memset(n, 0, sizeof(*n));
        n->key = stk_xstrdup(k->str);
        n->pos = pos_of(k);
        if ((x = spec__node_get(v, "external")) && x->kind != SPEC__K_NULL)
            parse_bool(x, &n->external);
        n->driver = str_dup_of(spec__node_get(v, "driver"));
        if ((x = spec__node_get(v, "name")) && is_scalar(x))
            n->name = stk_xstrdup(x->str);
        else if (n->external)
            n->name = stk_xstrdup(k->str);
        else
            n->name = stk_xasprintf("%s_%s", p->name, k->str);
    }
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        int has_default = 0;
        for (size_t j = 0; s->networks && s->networks[j]; j++)
            if (strcmp(s->networks[j], "default") == 0)
                has_default = 1;
        if (!s->network_mode && (!s->networks || has_default))
            uses_default = 1;
    }
    if (uses_default) {
        int found = 0;
        for (size_t i = 0; i < p->n_networks; i++)
            if (strcmp(p->networks[i].key, "default") == 0)
                found = 1;
        if (!found) {
            struct spec_network *n;
            p->networks = stk_xrealloc(p->networks, (p->n_networks + 1) * sizeof(*p->networks));
            n = &p->networks[p->n_networks++];
            memset(n, 0, sizeof(*n));
            n->key = stk_xstrdup("default");
            n->name = stk_xasprintf("%s_default", p->name);
        }
    }
}

/* ---- Top level ------------------------------------------------------------------------- */

/* Top-level keys the product acts on (others valid in the schema are unsupported). */
static int top_key_supported(const char *k)
{
    return strcmp(k, "name") == 0 || strcmp(k, "services") == 0 || strcmp(k, "networks") == 0 ||
           strcmp(k, "volumes") == 0;
}

static char *abs_path(const char *p)
{
    char cwd[PATH_MAX];

    if (p[0] == '/')
        return spec__path_clean(p);
    if (!getcwd(cwd, sizeof(cwd)))
        return spec__path_clean(p);
    {
        _cleanup_free_ char *j = stk_xasprintf("%s/%s", cwd, p);
        return spec__path_clean(j);
    }
}

static void build_env(struct loader *l)
{
    const char *const *src = l->opts->env ? l->opts->env : (const char *const *)environ;

    for (size_t i = 0; src && src[i]; i++) {
        const char *eq = strchr(src[i], '=');
        if (!eq || eq == src[i])
            continue;
        {
            _cleanup_free_ char *k = stk_xstrndup(src[i], (size_t)(eq - src[i]));
            spec__env_set_default(&l->env, k, eq + 1);
        }
    }
}

static int read_dotenv(struct loader *l, struct stk_err *err)
{
    _cleanup_free_ char *path = stk_xasprintf("%s/.env", l->project_dir);
    _cleanup_free_ char *data = NULL;
    struct spec__env lookup = {0};
    int ret;

    if (!stk_path_exists(path))
        return 0;
    if (stk_path_is_dir(path))
        return 0;
    {
        struct stk_err e = STK_ERR_INIT;
        ret = stk_file_read(path, &data, NULL, &e);
        if (ret < 0) {
            ret = stk_err_set(err, STK_EIO, e.os_code, "read '%s': %s", path, e.msg);
            stk_err_clear(&e);
            return ret;
        }
    }
    for (size_t i = 0; i < l->env.n; i++) {
        const char *eq = strchr(l->env.kv[i], '=');
        _cleanup_free_ char *k = stk_xstrndup(l->env.kv[i], (size_t)(eq - l->env.kv[i]));
        spec__env_set_default(&lookup, k, eq + 1);
    }
    spec__dotenv_parse(path, data, &lookup, &l->env, &l->diag);
    spec__env_release(&lookup);
    return 0;
}

static void loader_release(struct loader *l)
{
    stk_diag_release(&l->diag);
    spec__env_release(&l->env);
    stk_strv_release(&l->files);
    free(l->project_dir);
    spec__node_free(l->root);
    spec_project_free(l->project);
}

int spec_project_load(const struct spec_load_opts *opts, struct spec_project **ret_project,
                      struct stk_diag *diag, struct stk_err *err)
{
    struct loader l = {.opts = opts};
    const struct spec__node *services;
    int ret = 0;

    if (!opts || !opts->files || !opts->files[0] || !ret_project)
        return stk_err_set(err, STK_EINVAL, 0, "spec_project_load: no file given");
    stk_strv_init(&l.files);
    for (size_t i = 0; opts->files[i]; i++)
        stk_strv_push_take(&l.files, abs_path(opts->files[i]));
    if (opts->working_dir) {
        l.project_dir = abs_path(opts->working_dir);
    } else {
        const char *slash = strrchr(l.files.v[0], '/');
        l.project_dir = slash == l.files.v[0] ? stk_xstrdup("/")
                                              : stk_xstrndup(l.files.v[0],
                                                             (size_t)(slash - l.files.v[0]));
    }
    build_env(&l);
    ret = read_dotenv(&l, err);
    if (ret < 0)
        goto out;

    for (size_t i = 0; i < l.files.n; i++) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        struct spec__node *tree;
        struct stk_err e = STK_ERR_INIT;
        ret = stk_file_read(l.files.v[i], &data, &len, &e);
        if (ret < 0) {
            ret = stk_err_set(err, STK_EIO, 0, "%s", e.msg);
            stk_err_clear(&e);
            goto out;
        }
        tree = spec__yaml_parse(l.files.v[i], data, len, &l.diag);
        if (!tree)
            continue;
        spec__interpolate_tree(tree, &l.env, &l.diag);
        if (!l.root)
            l.root = tree;
        else
            spec__merge_take(l.root, tree);
    }
    if (!l.root)
        goto finish;
    spec__strip_reset(l.root);

    check_shape(&l, l.root, spec__schema_root, "");

    for (size_t i = 0; i < l.root->n; i++) {
        const char *k = l.root->keys[i]->str;
        if (strcmp(k, "version") == 0)
            lwarn(&l, l.root->keys[i], "the attribute 'version' is obsolete, ignoring");
        else if (strncmp(k, "x-", 2) != 0 && !top_key_supported(k))
            lunsupported(&l, l.root->keys[i], k);
    }

    l.project = stk_new0(struct spec_project);
    l.project->working_dir = stk_xstrdup(l.project_dir);
    project_name(&l);
    services = spec__node_get(l.root, "services");
    if (services && services->kind == SPEC__K_MAP) {
        l.project->services = stk_xcalloc(services->n ? services->n : 1,
                                          sizeof(*l.project->services));
        for (size_t i = 0; i < services->n; i++) {
            if (strncmp(services->keys[i]->str, "x-", 2) == 0)
                continue;
            load_service(&l, &l.project->services[l.project->n_services++], services->keys[i],
                         services->items[i]);
        }
    }
    check_references(&l);
    check_cycles(&l);
    load_resources(&l);

finish:
    stk_diag_sort(&l.diag);
    if (diag)
        for (size_t i = 0; i < l.diag.n; i++) {
            const struct stk_diag_item *it = &l.diag.items[i];
            stk_diag_add(diag, it->severity, it->file, it->line, it->col, "%s", it->msg);
        }
    if (l.diag.n_errors) {
        for (size_t i = 0; i < l.diag.n; i++) {
            const struct stk_diag_item *it = &l.diag.items[i];
            if (it->severity != STK_DIAG_ERROR)
                continue;
            if (it->file)
                ret = stk_err_set_at(err, STK_ESPEC, it->file, it->line, it->col, "%s", it->msg);
            else
                ret = stk_err_set(err, STK_ESPEC, 0, "%s", it->msg);
            break;
        }
        goto out;
    }
    if (!l.project) {
        l.project = stk_new0(struct spec_project);
        l.project->working_dir = stk_xstrdup(l.project_dir);
        project_name(&l);
    }
    l.project->files = TAKE_PTR(l.files.v);
    l.files.n = 0;
    stk_strv_init(&l.files);
    *ret_project = TAKE_PTR(l.project);
    ret = 0;
out:
    loader_release(&l);
    return ret;
}
