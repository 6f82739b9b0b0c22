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
#include <sys/stat.h>

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
    struct stk_strv files; /* the -f files first (N_CLI of them), then every other file read */
    size_t n_cli;
    char *base_dir;            /* opts->working_dir or the process's: where discovery starts */
    struct stk_strv env_files; /* explicit env files: --env-file or COMPOSE_ENV_FILES */
    int no_default_env_file;   /* COMPOSE_DISABLE_ENV_FILE */
    char *project_dir;
    struct spec__node *root;
    struct spec_project *project;
    struct spec__strmap *svc_map; /* service name -> index in project->services */
    const char *cur_svc;          /* the service being loaded, for the notes below */
    size_t *note_seq;             /* diagnostics about a service: their seq ... */
    char **note_svc;              /* ... and the service's name */
    size_t n_notes;
};

/* Records that the diagnostic just added is about the service being loaded, if any. */
static void note_service(struct loader *l)
{
    if (!l->cur_svc)
        return;
    l->note_seq = stk_xrealloc(l->note_seq, (l->n_notes + 1) * sizeof(*l->note_seq));
    l->note_svc = stk_xrealloc(l->note_svc, (l->n_notes + 1) * sizeof(*l->note_svc));
    l->note_seq[l->n_notes] = l->diag.items[l->diag.n - 1].seq;
    l->note_svc[l->n_notes++] = stk_xstrdup(l->cur_svc);
}

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
    note_service(l);
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
    stk_diag_add(&l->diag, STK_DIAG_WARNING, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                 "%s", msg);
    note_service(l);
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

/* As lunsupported(), saying what stack does instead (WHY). */
static void lunsupported_why(struct loader *l, const struct spec__node *key, const char *path,
                             const char *why)
{
    if (l->opts->strict)
        lerr(l, key, "%s: not supported by stack yet (--strict): %s", path, why);
    else
        lwarn(l, key, "%s: not supported by stack yet: %s, ignoring", path, why);
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
    static const enum spec__kind order[] = {SPEC__K_STR, SPEC__K_INT, SPEC__K_FLOAT, SPEC__K_BOOL,
                                            SPEC__K_SEQ, SPEC__K_MAP, SPEC__K_NULL};
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

/* The schema's key patterns: "^[a-zA-Z0-9._-]+$" (resource names) or ".+" (any non-empty). */
static int key_matches_pattern(const char *pattern, const char *k)
{
    if (!*k)
        return 0;
    if (strcmp(pattern, "^[a-zA-Z0-9._-]+$") != 0)
        return 1;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '.' && *k != '_' && *k != '-')
            return 0;
    return 1;
}

/* Turns a node that failed the schema into null, so that the model builder skips it. */
static void invalidate(struct spec__node *n)
{
    for (size_t i = n->n; i-- > 0;)
        spec__node_remove(n, i);
    spec__node_set_str_take(n, NULL);
    n->kind = SPEC__K_NULL;
}

/* Appends "[I]" to the path in B (check_shape runs it for every sequence item). */
static void path_add_index(struct stk_buf *b, size_t i)
{
    char tmp[24];
    size_t k = sizeof(tmp);

    tmp[--k] = ']';
    do {
        tmp[--k] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    tmp[--k] = '[';
    stk_buf_add(b, tmp + k, sizeof(tmp) - k);
}

/*
 * Checks N against SHAPE; PATH names N in messages ("services.web.image",
 * "" for the root). Wrong values are reported and set to null, unknown keys
 * are reported and removed, so that every problem is reported in one pass.
 */
static void check_shape(struct loader *l, struct spec__node *n, const struct spec__shape *shape,
                        struct stk_buf *pathbuf)
{
    unsigned kinds = shape->kinds;
    const char *path = pathbuf->buf;

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
    /*
     * required (the schema's): volumes, devices, env_file and extends have their own
     * messages, in their loaders.
     */
    for (size_t i = 0; n->kind == SPEC__K_MAP && shape->required && shape->required[i] &&
                       !strstr(path, ".volumes[") && !strstr(path, ".devices[") &&
                       !strstr(path, ".env_file[") && !strstr(path, ".extends");
         i++)
        if (!spec__node_get(n, shape->required[i]))
            lerr(l, n, "%s: missing required property '%s'", path, shape->required[i]);
    if (n->kind == SPEC__K_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const char *k = n->keys[i]->str;
            const struct spec__shape *sub = spec__shape_field(shape, k);
            size_t mark = pathbuf->len;
            int drop = 0;
            if (n->keys[i]->kind != SPEC__K_STR) {
                /* compose-go: "non-string key in services: 123" */
                if (*path)
                    lerr(l, n->keys[i], "non-string key in %s: %s", path, k);
                else
                    lerr(l, n->keys[i], "non-string key at top level: %s", k);
                drop = 1;
            } else if (sub) {
                if (mark)
                    stk_buf_putc(pathbuf, '.');
                stk_buf_puts(pathbuf, k);
                check_shape(l, n->items[i], sub, pathbuf);
            } else if (strncmp(k, "x-", 2) == 0) {
                /* Extensions are allowed everywhere and ignored. */
            } else if (shape->closed) {
                if (*path)
                    lerr(l, n->keys[i], "unknown key '%s' in %s", k, path);
                else
                    lerr(l, n->keys[i], "unknown top-level key '%s'", k);
                drop = 1;
            } else if (shape->key_pattern && !key_matches_pattern(shape->key_pattern, k)) {
                lerr(l, n->keys[i], "invalid name '%s' in %s: only [a-zA-Z0-9._-] are allowed", k,
                     path);
                drop = 1;
            } else if (shape->values) {
                if (mark)
                    stk_buf_putc(pathbuf, '.');
                stk_buf_puts(pathbuf, k);
                check_shape(l, n->items[i], shape->values, pathbuf);
            }
            pathbuf->len = mark;
            pathbuf->buf[mark] = '\0';
            path = pathbuf->buf;
            if (drop) {
                spec__node_remove(n, i);
                i--;
            }
        }
    }
    if (n->kind == SPEC__K_SEQ && shape->unique && !strstr(path, ".depends_on")) {
        /* uniqueItems: scalar items only (depends_on reports its own duplicates) */
        for (size_t i = 1; i < n->n; i++) {
            const struct spec__node *it = n->items[i];
            if (it->kind == SPEC__K_MAP || it->kind == SPEC__K_SEQ || !it->str)
                continue;
            for (size_t j = 0; j < i; j++)
                if (n->items[j]->kind == it->kind && n->items[j]->str &&
                    strcmp(n->items[j]->str, it->str) == 0) {
                    lerr(l, it, "%s: duplicate entry '%s'", path, it->str);
                    break;
                }
        }
    }
    if (n->kind == SPEC__K_SEQ && shape->items) {
        for (size_t i = 0; i < n->n; i++) {
            size_t mark = pathbuf->len;
            path_add_index(pathbuf, i);
            check_shape(l, n->items[i], shape->items, pathbuf);
            pathbuf->len = mark;
            pathbuf->buf[mark] = '\0';
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
    if (c->s->image && !c->s->image[0]) {
        lerr(c->l, v, "services.%s.image must not be empty", c->name);
    } else if (c->s->image && c->s->image[0] != '/' && c->s->image[0] != '.' &&
               !spec__is_windows_abs(c->s->image) && !strstr(c->s->image, "${")) {
        /* A registry reference (a layout path starts with '/' or '.'; a "${" is left by an
         * interpolation error, reported already). */
        const char *why;
        if (!spec__image_ref_valid(c->s->image, &why))
            lerr(c->l, v, "services.%s.image: invalid image reference '%s': %s", c->name,
                 c->s->image, why);
    }
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
        return a >= 0 && a < 256 && b >= 0 && b < 256 && cc >= 0 && cc < 256 && d >= 0 && d < 256;
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

    slash = strrchr(spec, '/');
    if (slash && !strchr(slash, ':')) {
        *slash = '\0';
        proto = slash + 1;
        for (char *p = proto; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
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
    if (ip && *ip) {
        /* An empty address (":8443:443", "${BIND:-}:80:80") is every address (nat.ParsePortSpec).
         */
        size_t len = strlen(ip);
        if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
            memmove(ip, ip + 1, len - 2);
            ip[len - 2] = '\0';
        }
        if (!valid_ip(ip)) {
            lerr(c->l, it, "services.%s.ports: invalid IP address '%s' in '%s'", c->name, ip, raw);
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
        lerr(c->l, v ? v : it, "services.%s.ports.protocol: invalid protocol '%s'", c->name,
             p->protocol);
    v = spec__node_get(it, "mode");
    p->mode = stk_xstrdup(v && v->str && v->str[0] ? v->str : "ingress");
    if (strcmp(p->mode, "ingress") && strcmp(p->mode, "host"))
        lerr(c->l, v ? v : it, "services.%s.ports.mode must be 'host' or 'ingress', not '%s'",
             c->name, p->mode);
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
            lerr(c->l, it, "services.%s.ports: invalid port '%s'", c->name, it->str ? it->str : "");
        }
    }
}

static int is_pipe_path(const char *s)
{
    return (s[0] == '\\' || s[0] == '/') && (s[1] == '\\' || s[1] == '/') && s[2] == '.' &&
           (s[3] == '\\' || s[3] == '/') && strncasecmp(s + 4, "pipe", 4) == 0 &&
           (s[8] == '\\' || s[8] == '/');
}

/* Trims one trailing separator of a pipe path (moby windows_parser, docker/compose#12778). */
static char *pipe_path(const char *s)
{
    char *r = stk_xstrdup(s);
    size_t len = strlen(r);

    if (len > 9 && (r[len - 1] == '\\' || r[len - 1] == '/'))
        r[len - 1] = '\0';
    return r;
}

static int is_drive(const char *buf, size_t len)
{
    return len == 1 && isalpha((unsigned char)buf[0]);
}

static char *lresolve(const struct loader *l, const char *dir, const char *p);

/*
 * Resolves a host path (a bind source, an env_file, a secret's file) against the project
 * directory, as compose-go paths/resolve.go does: "~" is the home folder (USERPROFILE
 * for a Windows project folder, else HOME), an absolute path in the POSIX or the Windows
 * sense is kept as written, anything else is joined with the project directory by its
 * rules (spec__path_resolve).
 */
static char *bind_source(struct loader *l, const char *src)
{
    if (src[0] == '~' && (src[1] == '/' || src[1] == '\\' || src[1] == '\0')) {
        const char *home = NULL;
        if (spec__path_is_windows(l->project_dir))
            home = spec__env_get(&l->env, "USERPROFILE");
        if (!home)
            home = spec__env_get(&l->env, "HOME");
        if (!home)
            home = getenv("HOME");
        if (home)
            return src[1] ? lresolve(l, home, src + 2) : stk_xstrdup(home);
    }
    if (src[0] == '/' || spec__is_windows_abs(src) ||
        (isalpha((unsigned char)src[0]) && src[1] == ':'))
        return stk_xstrdup(src);
    return lresolve(l, l->project_dir, src);
}

static int env_true(const struct spec__env *env, const char *name);

/*
 * COMPOSE_CONVERT_WINDOWS_PATHS (compose-go loader.go convertVolumePath, for Linux
 * containers of Docker Desktop on Windows): on --platform linux a bind source with a
 * drive letter becomes "/c/rest/of/path". Returns whether *SRC was converted.
 */
static int convert_windows_path(const struct loader *l, char **src)
{
    char *s = *src, *r;

    if (l->opts->platform != SPEC_PLATFORM_LINUX ||
        !env_true(&l->env, "COMPOSE_CONVERT_WINDOWS_PATHS") || spec__win_volume_len(s) != 2)
        return 0;
    r = stk_xasprintf("/%c%s", tolower((unsigned char)s[0]), s + 2);
    for (char *c = r; *c; c++)
        if (*c == '\\')
            *c = '/';
    free(s);
    *src = r;
    return 1;
}

/* A POSIX absolute path: "/x", not the UNC "//server/share". */
static int is_posix_abs(const char *s)
{
    return s[0] == '/' && s[1] != '/';
}

/*
 * The platform rules of a bind source WRITTEN so (AT positions the mount; REBASED: a
 * relative path of an included or extended file, already made absolute), judged the same
 * on every machine: on Windows a POSIX absolute path is no host path (item 12 of issue 8:
 * it used to pass or fail by what the machine running `config` had at that path), and a
 * source that is a file, not a folder, cannot be mapped; on Linux a Windows path is none.
 * A path in the project folder is the project's own, the same wherever it is checked.
 */
static void check_bind_source(struct svc_ctx *c, const struct spec__node *at, const char *written,
                              int rebased, const char *resolved)
{
    if (c->l->opts->platform == SPEC_PLATFORM_WINDOWS) {
        struct stat st;
        size_t n = strlen(c->l->project_dir);
        /*
         * A path in a POSIX project folder is what `config` wrote for a relative one (the
         * folder is POSIX only when a Windows stack is checked on another system).
         */
        int in_project = strncmp(written, c->l->project_dir, n) == 0 &&
                         (written[n] == '/' || !written[n] || n == 1);
        if (is_posix_abs(written) && !rebased && !in_project) {
            const char *hint = "";
            if (strcmp(written, "/var/run/docker.sock") == 0 ||
                strcmp(written, "/run/docker.sock") == 0)
                hint = "; the Docker engine listens on the named pipe \\\\.\\pipe\\docker_engine "
                       "(type: npipe)";
            else if (isalpha((unsigned char)written[1]) && (written[2] == '/' || !written[2]))
                hint = "; '/c/...' is written 'C:\\...' on Windows";
            lerr(c->l, at,
                 "services.%s.volumes: '%s' is a POSIX path, not a Windows one: a bind source on "
                 "Windows is a drive path (C:\\...), a UNC path (\\\\server\\share) or a path "
                 "relative to the project folder%s",
                 c->name, written, hint);
        } else if (resolved && stat(resolved, &st) == 0 && !S_ISDIR(st.st_mode)) {
            lerr(c->l, at,
                 "services.%s.volumes: '%s' is a file: only directories can be bind-mounted on "
                 "Windows",
                 c->name, resolved);
        }
    } else if (!rebased && ((isalpha((unsigned char)written[0]) && written[1] == ':') ||
                            (written[0] == '\\' && written[1] == '\\'))) {
        /* A drive letter or a UNC share with backslashes; "//x/y" is a POSIX path here. */
        lerr(c->l, at,
             "services.%s.volumes: the source '%s' is a Windows path: a Linux host has no drive "
             "letters or UNC shares",
             c->name, written);
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
    return spec__node_index(spec__node_get(l->root, "volumes"), name) >= 0;
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
                lerr(c->l, it,
                     "services.%s.volumes: invalid spec '%s': empty section between "
                     "colons",
                     c->name, spec);
                ok = 0;
                break;
            }
            if (n_parts >= 3) {
                lerr(c->l, it, "services.%s.volumes: invalid spec '%s': too many colons", c->name,
                     spec);
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
            if (l == 2 && strncasecmp(o, "ro", 2) == 0) {
                ro = 1;
            } else if (l == 2 && strncasecmp(o, "rw", 2) == 0) {
                /* the default */
            } else if (l > 0) {
                /*
                 * z, Z, nocopy and propagation modes are valid (05-services.md) but not
                 * applied yet; unknown options are ignored as compose-go does.
                 */
                char *path = stk_xasprintf("services.%s.volumes option '%.*s'", c->name, (int)l, o);
                if (l == 1 && (o[0] == 'z' || o[0] == 'Z') &&
                    c->l->opts->platform == SPEC_PLATFORM_WINDOWS)
                    lerr(c->l, it,
                         "%s is not supported on Windows: SELinux relabelling exists on "
                         "Linux only",
                         path);
                else if (l <= 8 && (strncmp(o, "z", l) == 0 || strncmp(o, "Z", l) == 0 ||
                                    strncmp(o, "nocopy", l) == 0 || strncmp(o, "shared", l) == 0 ||
                                    strncmp(o, "rshared", l) == 0 || strncmp(o, "slave", l) == 0 ||
                                    strncmp(o, "rslave", l) == 0 || strncmp(o, "private", l) == 0 ||
                                    strncmp(o, "rprivate", l) == 0))
                    lunsupported(c->l, it, path);
                free(path);
            }
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
        v->source = pipe_path(parts[0]);
        free(v->target);
        v->target = pipe_path(parts[1]);
    } else if (parts[0][0] == '.' || parts[0][0] == '/' || parts[0][0] == '~' ||
               parts[0][0] == '\\' || (isalpha((unsigned char)parts[0][0]) && parts[0][1] == ':')) {
        v->type = stk_xstrdup("bind");
        v->source = bind_source(c->l, parts[0]);
        v->create_host_path = 1;
        if (!convert_windows_path(c->l, &v->source))
            check_bind_source(c, it, parts[0], it->rebased, v->source);
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
    if (strcmp(type->str, "image") == 0) {
        /* An image's content mounted read-only (Compose 2.35): not in the model yet. */
        char *path = stk_xasprintf("services.%s.volumes type 'image'", c->name);
        lunsupported_why(c->l, type, path, "the mount is left out");
        free(path);
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
    /* Long-syntax keys the model does not carry yet are reported, not silently dropped. */
    for (size_t i = 0; i < it->n; i++) {
        const char *k = it->keys[i]->str;
        const struct spec__node *x = it->items[i];
        if (strncmp(k, "x-", 2) == 0 || !strcmp(k, "type") || !strcmp(k, "source") ||
            !strcmp(k, "target") || !strcmp(k, "read_only"))
            continue;
        for (size_t j = 0; x->kind == SPEC__K_MAP && j < x->n; j++) {
            const char *sk = x->keys[j]->str;
            char *path;
            if ((!strcmp(k, "bind") && !strcmp(sk, "create_host_path")) ||
                (!strcmp(k, "tmpfs") && !strcmp(sk, "size")) || strncmp(sk, "x-", 2) == 0)
                continue;
            path = stk_xasprintf("services.%s.volumes.%s.%s", c->name, k, sk);
            if (c->l->opts->platform == SPEC_PLATFORM_WINDOWS && !strcmp(k, "bind") &&
                !strcmp(sk, "propagation"))
                lerr(c->l, x->keys[j], "%s: mount propagation is not supported on Windows", path);
            else if (c->l->opts->platform == SPEC_PLATFORM_WINDOWS && !strcmp(k, "bind") &&
                     !strcmp(sk, "selinux"))
                lerr(c->l, x->keys[j],
                     "%s is not supported on Windows: SELinux relabelling exists on Linux only",
                     path);
            else
                lunsupported(c->l, x->keys[j], path);
            free(path);
        }
        if (x->kind != SPEC__K_MAP) {
            char *path = stk_xasprintf("services.%s.volumes.%s", c->name, k);
            lunsupported(c->l, it->keys[i], path);
            free(path);
        }
    }
    v = volume_add(c->s);
    v->pos = pos_of(it);
    v->type = stk_xstrdup(type->str);
    v->target = strcmp(type->str, "npipe") == 0 ? pipe_path(tgt->str) : clean_target(tgt->str);
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
            if (!convert_windows_path(c->l, &v->source))
                check_bind_source(c, it, src->str, src->rebased, v->source);
        }
        v->create_host_path = 1;
        sub = spec__node_get(spec__node_get(it, "bind"), "create_host_path");
        if (sub && parse_bool(sub, &b) == 0)
            v->create_host_path = b;
    } else if (strcmp(v->type, "volume") == 0) {
        if (src && src->str && src->str[0]) {
            v->source = stk_xstrdup(src->str);
            if (!named_volume_declared(c->l, src->str))
                lerr(c->l, src, "service '%s' refers to undefined volume '%s'", c->name, src->str);
        }
    } else if (strcmp(v->type, "npipe") == 0) {
        if (!src || !src->str || !src->str[0])
            lerr(c->l, it, "services.%s.volumes: an npipe mount needs a 'source'", c->name);
        else
            v->source = pipe_path(src->str);
    } else {
        sub = spec__node_get(spec__node_get(it, "tmpfs"), "size");
        if (sub && sub->kind != SPEC__K_NULL && spec__parse_bytes(sub->str, &v->tmpfs_size) < 0)
            lerr(c->l, sub, "services.%s.volumes.tmpfs.size: invalid size '%s'", c->name, sub->str);
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
        lerr(c->l, v,
             "services.%s.isolation: invalid value '%s': must be default, process or "
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
    lerr(c->l, v,
         "services.%s.restart: invalid restart policy '%s': must be no, always, "
         "on-failure[:N] or unless-stopped",
         c->name, r);
}

static void k_hostname(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->hostname = str_dup_of(v);
}

static int container_path_absolute(const char *p, enum spec_platform platform);

static void k_working_dir(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->working_dir = str_dup_of(v);
    /* refused at the value (the engine's "must be absolute") */
    if (c->s->working_dir && !container_path_absolute(c->s->working_dir, c->l->opts->platform))
        lerr(c->l, v, "services.%s.working_dir: '%s' is not an absolute path in the container",
             c->name, c->s->working_dir);
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

    c->s->network_mode_pos = pos_of(v);
    if (strcmp(m, "none") && strcmp(m, "host") && strcmp(m, "bridge") &&
        strncmp(m, "service:", 8) && strncmp(m, "container:", 10)) {
        lerr(c->l, v,
             "services.%s.network_mode: invalid value '%s': must be none, host, bridge, "
             "service:NAME or container:NAME",
             c->name, m);
        return;
    }
    if ((strncmp(m, "service:", 8) == 0 && !m[8]) ||
        (strncmp(m, "container:", 10) == 0 && !m[10])) {
        lerr(c->l, v, "services.%s.network_mode: '%s' names no %s", c->name, m,
             m[0] == 's' ? "service" : "container");
        return;
    }
    c->s->network_mode = stk_xstrdup(m);
}

static char **strv_of(const struct spec__node *v);

/*
 * Whether the network KEY (the top-level definition DEF, NULL when not declared) is one
 * stack creates on Windows: an HNS network of type NAT with one IPv4 prefix
 * (reference/hcs-hns.md §4.2), which carries no IPv6. External networks, and drivers
 * other than nat (transparent, l2bridge), are left to the host.
 */
static int windows_nat_network(const struct loader *l, const struct spec__node *def)
{
    const struct spec__node *x;
    int ext = 0;

    if (l->opts->platform != SPEC_PLATFORM_WINDOWS)
        return 0;
    if ((x = spec__node_get(def, "external")) && x->kind != SPEC__K_NULL &&
        (parse_bool(x, &ext) < 0 || ext))
        return 0;
    x = spec__node_get(def, "driver");
    return !x || !x->str || !x->str[0] || strcasecmp(x->str, "nat") == 0;
}

#define SPEC__NO_IPV6_WHY                                                                          \
    "the networks stack creates on Windows are HNS NAT networks with one IPv4 prefix"

static void k_networks(struct svc_ctx *c, const struct spec__node *v)
{
    struct stk_strv nets = STK_STRV_INIT;
    const struct spec__node *top = spec__node_get(c->l->root, "networks");

    stk_strv_init(&nets);
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *k = v->kind == SPEC__K_MAP ? v->keys[i] : v->items[i];
        const struct spec__node *cfg = v->kind == SPEC__K_MAP ? v->items[i] : NULL;
        struct spec_service_network *a;
        if (!k->str)
            continue;
        if (stk_strv_contains(&nets, k->str)) {
            lerr(c->l, k, "services.%s.networks: duplicate entry '%s'", c->name, k->str);
            continue;
        }
        if (strcmp(k->str, "default") != 0 && spec__node_index(top, k->str) < 0)
            lerr(c->l, k, "service '%s' refers to undefined network '%s'", c->name, k->str);
        stk_strv_push(&nets, k->str);
        c->s->network_attachments =
            stk_xrealloc(c->s->network_attachments,
                         (c->s->n_network_attachments + 1) * sizeof(*c->s->network_attachments));
        a = &c->s->network_attachments[c->s->n_network_attachments++];
        memset(a, 0, sizeof(*a));
        a->key = stk_xstrdup(k->str);
        a->pos = pos_of(k);
        for (size_t j = 0; cfg && cfg->kind == SPEC__K_MAP && j < cfg->n; j++) {
            const char *ck = cfg->keys[j]->str;
            const struct spec__node *x = cfg->items[j];
            if (x->kind == SPEC__K_NULL || strncmp(ck, "x-", 2) == 0)
                continue;
            if (strcmp(ck, "aliases") == 0) {
                a->aliases = strv_of(x);
            } else if (strcmp(ck, "ipv4_address") == 0) {
                a->ipv4_address = str_dup_of(x);
                if (!valid_ip(x->str) || strchr(x->str, ':'))
                    lerr(c->l, x, "services.%s.networks.%s.ipv4_address: invalid address '%s'",
                         c->name, k->str, x->str);
            } else if (strcmp(ck, "ipv6_address") == 0) {
                a->ipv6_address = str_dup_of(x);
                if (!valid_ip(x->str) || !strchr(x->str, ':'))
                    lerr(c->l, x, "services.%s.networks.%s.ipv6_address: invalid address '%s'",
                         c->name, k->str, x->str);
                else if (windows_nat_network(c->l, spec__node_get(top, k->str)))
                    lerr(c->l, x,
                         "services.%s.networks.%s.ipv6_address is not supported on Windows: "
                         "%s",
                         c->name, k->str, SPEC__NO_IPV6_WHY);
            } else if (strcmp(ck, "priority") == 0) {
                long long p;
                if (parse_long(x->str, INT_MIN, INT_MAX, &p) < 0)
                    lerr(c->l, x, "services.%s.networks.%s.priority: invalid number '%s'", c->name,
                         k->str, x->str);
                else
                    a->priority = (int)p;
            } else {
                char *path = stk_xasprintf("services.%s.networks.%s.%s", c->name, k->str, ck);
                lunsupported(c->l, cfg->keys[j], path);
                free(path);
            }
        }
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
            if (x->n == 0 || !x->items[0]->str ||
                (strcmp(x->items[0]->str, "NONE") && strcmp(x->items[0]->str, "CMD") &&
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
            lerr(c->l, v,
                 "services.%s.healthcheck: test and disable can't be set at the same "
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
    if ((x = spec__node_get(v, "start_interval")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &h->start_interval_ns);
    if ((x = spec__node_get(v, "retries")) && x->kind != SPEC__K_NULL) {
        long long r;
        if (parse_long(x->str, 0, INT_MAX, &r) < 0)
            lerr(c->l, x, "services.%s.healthcheck.retries: invalid number '%s'", c->name, x->str);
        else
            h->retries = (int)r;
    }
    free(what);
}

static char **strv_of(const struct spec__node *v)
{
    if (v->kind == SPEC__K_SEQ)
        return seq_to_strv(v);
    if (is_scalar(v)) {
        char **r = stk_xcalloc(2, sizeof(char *));
        r[0] = stk_xstrdup(v->str);
        return r;
    }
    return NULL;
}

/* Sorted key/value list from a list_or_dict value (labels, sysctls, driver_opts). */
static struct spec_env *kv_of(struct svc_ctx *c, const struct spec__node *v, const char *what,
                              size_t *ret_n)
{
    struct spec_service tmp = {0};

    if (v->kind == SPEC__K_MAP) {
        for (size_t i = 0; i < v->n; i++)
            env_put(&tmp, v->keys[i]->str,
                    v->items[i]->kind == SPEC__K_NULL ? "" : v->items[i]->str);
    } else if (v->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *it = v->items[i];
            const char *eq;
            if (!it->str)
                continue;
            eq = strchr(it->str, '=');
            if (eq == it->str || !it->str[0]) {
                if (c)
                    lerr(c->l, it, "services.%s.%s: invalid entry '%s'", c->name, what, it->str);
                continue;
            }
            if (eq) {
                _cleanup_free_ char *key = stk_xstrndup(it->str, (size_t)(eq - it->str));
                env_put(&tmp, key, eq + 1);
            } else {
                env_put(&tmp, it->str, "");
            }
        }
    }
    if (tmp.n_environment)
        qsort(tmp.environment, tmp.n_environment, sizeof(*tmp.environment), cmp_env);
    *ret_n = tmp.n_environment;
    return tmp.environment;
}

static void k_container_name(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->container_name = str_dup_of(v);
}

static void k_labels(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->labels = kv_of(c, v, "labels", &c->s->n_labels);
}

static void k_sysctls(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->sysctls = kv_of(c, v, "sysctls", &c->s->n_sysctls);
}

static void k_profiles(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->profiles = strv_of(v);
}

static void k_cap_add(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->cap_add = strv_of(v);
}

static void k_expose(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->expose = strv_of(v);
}

static void k_cap_drop(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->cap_drop = strv_of(v);
}

static void k_dns(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->dns = strv_of(v);
}

static void k_dns_search(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->dns_search = strv_of(v);
}

static void k_tmpfs(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->tmpfs = strv_of(v);
    c->s->tmpfs_pos = pos_of(v);
}

static void set_flag(struct svc_ctx *c, const struct spec__node *v, const char *key, int *ret)
{
    int b;

    if (parse_bool(v, &b) < 0)
        lerr(c->l, v, "services.%s.%s must be a boolean", c->name, key);
    else
        *ret = b;
}

static void k_privileged(struct svc_ctx *c, const struct spec__node *v)
{
    set_flag(c, v, "privileged", &c->s->privileged);
}

static void k_read_only(struct svc_ctx *c, const struct spec__node *v)
{
    set_flag(c, v, "read_only", &c->s->read_only);
}

static void k_init(struct svc_ctx *c, const struct spec__node *v)
{
    set_flag(c, v, "init", &c->s->init);
}

static void k_extra_hosts(struct svc_ctx *c, const struct spec__node *v)
{
    struct stk_strv out = STK_STRV_INIT;

    stk_strv_init(&out);
    if (v->kind == SPEC__K_MAP) {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *ip = v->items[i];
            if (ip->kind == SPEC__K_SEQ) {
                for (size_t j = 0; j < ip->n; j++)
                    stk_strv_pushf(&out, "%s:%s", v->keys[i]->str,
                                   ip->items[j]->str ? ip->items[j]->str : "");
            } else {
                stk_strv_pushf(&out, "%s:%s", v->keys[i]->str, ip->str ? ip->str : "");
            }
        }
    } else {
        for (size_t i = 0; i < v->n; i++) {
            const struct spec__node *it = v->items[i];
            const char *sep;
            if (!it->str)
                continue;
            /* compose-go accepts HOST=IP and HOST:IP (the first ':' separates, IPv6 allowed). */
            sep = strchr(it->str, '=');
            if (!sep)
                sep = strchr(it->str, ':');
            if (!sep || sep == it->str || !sep[1]) {
                lerr(c->l, it, "services.%s.extra_hosts: invalid entry '%s': expected HOST:IP",
                     c->name, it->str);
                continue;
            }
            stk_strv_pushf(&out, "%.*s:%s", (int)(sep - it->str), it->str, sep + 1);
        }
    }
    c->s->extra_hosts = out.v;
}

static int ns_mode_ok(const char *m, const char *const *plain)
{
    for (size_t i = 0; plain[i]; i++)
        if (strcmp(m, plain[i]) == 0)
            return 1;
    return (strncmp(m, "service:", 8) == 0 && m[8]) || (strncmp(m, "container:", 10) == 0 && m[10]);
}

static void k_ipc(struct svc_ctx *c, const struct spec__node *v)
{
    static const char *const plain[] = {"none", "private", "shareable", "host", NULL};

    c->s->ipc_pos = pos_of(v);
    if (!ns_mode_ok(v->str, plain)) {
        lerr(c->l, v,
             "services.%s.ipc: invalid value '%s': must be none, private, shareable, "
             "host, service:NAME or container:NAME",
             c->name, v->str);
        return;
    }
    c->s->ipc = stk_xstrdup(v->str);
}

static void k_pid(struct svc_ctx *c, const struct spec__node *v)
{
    static const char *const plain[] = {"host", NULL};

    c->s->pid_pos = pos_of(v);
    if (!ns_mode_ok(v->str, plain)) {
        lerr(c->l, v,
             "services.%s.pid: invalid value '%s': must be host, service:NAME or "
             "container:NAME",
             c->name, v->str);
        return;
    }
    c->s->pid = stk_xstrdup(v->str);
}

static int get_bytes(struct svc_ctx *c, const struct spec__node *v, const char *what, int64_t *ret)
{
    if (!is_scalar(v) || spec__parse_bytes(v->str, ret) < 0) {
        lerr(c->l, v, "services.%s.%s: invalid size '%s'", c->name, what, v->str ? v->str : "");
        return -1;
    }
    return 0;
}

static void k_shm_size(struct svc_ctx *c, const struct spec__node *v)
{
    c->s->shm_size_pos = pos_of(v);
    get_bytes(c, v, "shm_size", &c->s->shm_size);
}

/*
 * A Windows device (reference/hcs-hns.md §6 "--device class/<GUID>"): IDTYPE/ID or
 * IDTYPE://ID, with the interface-class types process-isolated containers take.
 */
static int windows_device(const char *s)
{
    static const char *const types[] = {"class", "vpci-class-guid"};

    for (size_t i = 0; i < STK_ARRAY_SIZE(types); i++) {
        size_t n = strlen(types[i]);
        if (strncmp(s, types[i], n) != 0)
            continue;
        if (s[n] == '/' && s[n + 1] && s[n + 1] != '/')
            return 1;
        if (strncmp(s + n, "://", 3) == 0 && s[n + 3])
            return 1;
    }
    return 0;
}

static void device_windows(struct svc_ctx *c, const struct spec__node *it, const char *src)
{
    struct spec_device *d;

    if (src[0] == '/')
        lerr(c->l, it,
             "services.%s.devices: '%s' is a Linux device path: on Windows a device is assigned "
             "by its interface class, written class/{GUID}",
             c->name, src);
    else if (!windows_device(src))
        lerr(c->l, it,
             "services.%s.devices: '%s' is not a Windows device: write class/{GUID} or "
             "vpci-class-guid://{GUID}",
             c->name, src);
    c->s->devices = stk_xrealloc(c->s->devices, (c->s->n_devices + 1) * sizeof(*d));
    d = &c->s->devices[c->s->n_devices++];
    memset(d, 0, sizeof(*d));
    d->source = stk_xstrdup(src);
}

static void k_devices(struct svc_ctx *c, const struct spec__node *v)
{
    for (size_t i = 0; c->l->opts->platform == SPEC_PLATFORM_WINDOWS && i < v->n; i++) {
        const struct spec__node *it = v->items[i];
        const struct spec__node *src = it->kind == SPEC__K_MAP ? spec__node_get(it, "source") : it;
        if (src && src->kind == SPEC__K_STR && src->str[0])
            device_windows(c, it, src->str);
        else if (it->kind == SPEC__K_STR || it->kind == SPEC__K_MAP)
            lerr(c->l, it, "services.%s.devices: missing source", c->name);
    }
    for (size_t i = 0; c->l->opts->platform != SPEC_PLATFORM_WINDOWS && i < v->n; i++) {
        const struct spec__node *it = v->items[i];
        struct spec_device *d;
        if (it->kind != SPEC__K_STR && it->kind != SPEC__K_MAP)
            continue;
        c->s->devices = stk_xrealloc(c->s->devices, (c->s->n_devices + 1) * sizeof(*d));
        d = &c->s->devices[c->s->n_devices++];
        memset(d, 0, sizeof(*d));
        if (it->kind == SPEC__K_MAP) {
            d->source = str_dup_of(spec__node_get(it, "source"));
            d->target = str_dup_of(spec__node_get(it, "target"));
            d->permissions = str_dup_of(spec__node_get(it, "permissions"));
        } else if (!strchr(it->str, ':') && strchr(it->str, '=')) {
            d->source = stk_xstrdup(it->str); /* a CDI device name */
        } else {
            const char *a = strchr(it->str, ':');
            const char *b = a ? strchr(a + 1, ':') : NULL;
            d->source = a ? stk_xstrndup(it->str, (size_t)(a - it->str)) : stk_xstrdup(it->str);
            d->target = a ? (b ? stk_xstrndup(a + 1, (size_t)(b - a - 1)) : stk_xstrdup(a + 1))
                          : stk_xstrdup(it->str);
            d->permissions = stk_xstrdup(b ? b + 1 : "rwm");
            if (d->permissions[strspn(d->permissions, "rwm")] != '\0' || !d->permissions[0])
                lerr(c->l, it, "services.%s.devices: invalid permissions '%s' in '%s'", c->name,
                     d->permissions, it->str);
        }
        if (!d->source || !d->source[0])
            lerr(c->l, it, "services.%s.devices: missing source", c->name);
        if (d->target && !d->permissions)
            d->permissions = stk_xstrdup("rwm");
    }
}

static void k_volumes_from(struct svc_ctx *c, const struct spec__node *v)
{
    struct stk_strv out = STK_STRV_INIT;

    stk_strv_init(&out);
    for (size_t i = 0; i < v->n; i++) {
        const char *e = v->items[i]->str;
        if (!e)
            continue;
        /* compose-go: a bare name is a service, "container:X" a container; ":ro"/":rw" suffix. */
        if (strncmp(e, "container:", 10) == 0 || strncmp(e, "service:", 8) == 0)
            stk_strv_push(&out, e);
        else
            stk_strv_pushf(&out, "service:%s", e);
    }
    c->s->volumes_from = out.v;
}

static void file_refs(struct svc_ctx *c, const struct spec__node *v, int secrets,
                      struct spec_file_ref **ret, size_t *ret_n)
{
    const char *top_key = secrets ? "secrets" : "configs";
    const struct spec__node *top = spec__node_get(c->l->root, top_key);

    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *it = v->items[i], *x;
        struct spec_file_ref *r;
        const char *src = it->kind == SPEC__K_MAP ? NULL : it->str;
        if (it->kind == SPEC__K_MAP)
            src = (x = spec__node_get(it, "source")) ? x->str : NULL;
        if (!src) {
            lerr(c->l, it, "services.%s.%s: 'source' is required", c->name, top_key);
            continue;
        }
        if (spec__node_index(top, src) < 0)
            lerr(c->l, it, "service '%s' refers to undefined %s '%s'", c->name,
                 secrets ? "secret" : "config", src);
        *ret = stk_xrealloc(*ret, (*ret_n + 1) * sizeof(**ret));
        r = &(*ret)[(*ret_n)++];
        memset(r, 0, sizeof(*r));
        r->source = stk_xstrdup(src);
        r->mode = -1;
        r->pos = pos_of(it);
        if (it->kind == SPEC__K_MAP) {
            r->target = str_dup_of(spec__node_get(it, "target"));
            r->uid = str_dup_of(spec__node_get(it, "uid"));
            r->gid = str_dup_of(spec__node_get(it, "gid"));
            if ((x = spec__node_get(it, "mode")) && is_scalar(x)) {
                long long m;
                /*
                 * go-yaml v3 reads a leading 0 as octal (0440 is 288), 0o440 too, and
                 * other integers as decimal; a string goes through the same rule.
                 */
                char *end;
                if (x->str[0] == '0' && (x->str[1] == 'o' || x->str[1] == 'O'))
                    m = strtoll(x->str + 2, &end, 8);
                else
                    m = strtoll(x->str, &end, 0);
                if (*end || m < 0 || m > 07777)
                    lerr(c->l, x, "services.%s.%s.mode: invalid mode '%s'", c->name, top_key,
                         x->str);
                else
                    r->mode = (int)m;
            }
        }
        if (r->target && c->l->opts->platform == SPEC_PLATFORM_LINUX &&
            (spec__is_windows_abs(r->target) ||
             (isalpha((unsigned char)r->target[0]) && r->target[1] == ':')))
            lerr(c->l, spec__node_get(it, "target"),
                 "services.%s.%s: target '%s' is a Windows path: on Linux a target is a path in "
                 "the container, such as %s%s",
                 c->name, top_key, r->target, secrets ? "/run/secrets/" : "/", src);
        if (!r->target || !r->target[0]) {
            free(r->target);
            r->target = secrets ? stk_xasprintf("/run/secrets/%s", src) : stk_xasprintf("/%s", src);
        } else if (secrets && r->target[0] != '/' && !spec__is_windows_abs(r->target)) {
            char *t = stk_xasprintf("/run/secrets/%s", r->target);
            free(r->target);
            r->target = t;
        }
    }
}

static void k_secrets(struct svc_ctx *c, const struct spec__node *v)
{
    file_refs(c, v, 1, &c->s->secrets, &c->s->n_secrets);
}

static void k_configs(struct svc_ctx *c, const struct spec__node *v)
{
    file_refs(c, v, 0, &c->s->configs, &c->s->n_configs);
}

static void simple_str(struct svc_ctx *c, const struct spec__node *v, char **ret)
{
    (void)c;
    free(*ret);
    *ret = str_dup_of(v);
}

/* A duration as go-str2duration reads it (pull_policy every_<duration>): 1w2d3h4m5s, 1.5h. */
static int str2duration_valid(const char *s)
{
    static const char *const units[] = {"ns", "us", "\xc2\xb5s", "ms", "s", "m", "h", "d", "w"};

    if (!*s)
        return 0;
    while (*s) {
        size_t best = 0;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s))
                s++;
        }
        for (size_t i = 0; i < STK_ARRAY_SIZE(units); i++)
            if (strncmp(s, units[i], strlen(units[i])) == 0 && strlen(units[i]) > best)
                best = strlen(units[i]);
        if (!best)
            return 0;
        s += best;
    }
    return 1;
}

/*
 * pull_policy (05-services.md; compose-go types.GetPullPolicy): the orchestrator acts on
 * always, never and missing (if_not_present, build: when missing); the time-based
 * refresh policies (daily, weekly, every_<duration>, refresh) are warned about and pull
 * when the image is missing.
 */
static void k_pull_policy(struct svc_ctx *c, const struct spec__node *v)
{
    static const char *const ok[] = {"always", "never", "missing", "if_not_present", "build", NULL};
    size_t i;

    for (i = 0; ok[i]; i++)
        if (strcmp(ok[i], v->str) == 0)
            break;
    if (!ok[i]) {
        char *path;
        if (strcmp(v->str, "daily") && strcmp(v->str, "weekly") && strcmp(v->str, "refresh") &&
            !(strncmp(v->str, "every_", 6) == 0 && str2duration_valid(v->str + 6))) {
            lerr(c->l, v,
                 "services.%s.pull_policy: invalid value '%s': must be always, never, missing, "
                 "if_not_present, build, refresh, daily, weekly or every_<duration>",
                 c->name, v->str);
            return;
        }
        path = stk_xasprintf("services.%s.pull_policy '%s'", c->name, v->str);
        lunsupported_why(c->l, v, path, "the image is pulled when it is missing");
        free(path);
    }
    simple_str(c, v, &c->s->pull_policy);
}

static void k_platform(struct svc_ctx *c, const struct spec__node *v)
{
    simple_str(c, v, &c->s->platform);
}

static void k_domainname(struct svc_ctx *c, const struct spec__node *v)
{
    simple_str(c, v, &c->s->domainname);
}

static void k_mac_address(struct svc_ctx *c, const struct spec__node *v)
{
    simple_str(c, v, &c->s->mac_address);
}

/* Legacy resource keys (mem_limit, cpus, ...): used when deploy.resources does not set them. */
static void k_mem_limit(struct svc_ctx *c, const struct spec__node *v)
{
    int64_t b;

    if (get_bytes(c, v, "mem_limit", &b) == 0 && !c->s->limits.memory)
        c->s->limits.memory = b;
}

static void k_mem_reservation(struct svc_ctx *c, const struct spec__node *v)
{
    int64_t b;

    if (get_bytes(c, v, "mem_reservation", &b) == 0 && !c->s->reservations.memory)
        c->s->reservations.memory = b;
}

static int parse_cpus(const char *s, double *ret)
{
    char *end;
    double d;

    if (!s || !*s)
        return -1;
    d = strtod(s, &end);
    if (*end || d < 0)
        return -1;
    *ret = d;
    return 0;
}

static void k_cpus(struct svc_ctx *c, const struct spec__node *v)
{
    double d;

    if (parse_cpus(v->str, &d) < 0)
        lerr(c->l, v, "services.%s.cpus: invalid number '%s'", c->name, v->str);
    else if (!c->s->limits.cpus)
        c->s->limits.cpus = d;
}

static void k_pids_limit(struct svc_ctx *c, const struct spec__node *v)
{
    long long n;

    if (parse_long(v->str, -1, LLONG_MAX, &n) < 0)
        lerr(c->l, v, "services.%s.pids_limit: invalid number '%s'", c->name, v->str);
    else if (!c->s->limits.pids)
        c->s->limits.pids = n;
}

static void k_scale(struct svc_ctx *c, const struct spec__node *v)
{
    long long n;

    if (parse_long(v->str, 0, INT_MAX, &n) < 0) {
        lerr(c->l, v, "services.%s.scale: invalid number '%s'", c->name, v->str);
        return;
    }
    {
        const struct spec__node *r = spec__node_get(spec__node_get(c->node, "deploy"), "replicas");
        long long rr;
        if (r && is_scalar(r) && parse_long(r->str, 0, INT_MAX, &rr) == 0 && rr != n)
            lerr(c->l, v,
                 "services.%s: can't set distinct values on 'scale' and "
                 "'deploy.replicas'",
                 c->name);
    }
    c->s->replicas = (int)n;
}

static void resources(struct svc_ctx *c, const struct spec__node *v, struct spec_resources *r,
                      const char *what)
{
    for (size_t i = 0; v->kind == SPEC__K_MAP && i < v->n; i++) {
        const char *k = v->keys[i]->str;
        const struct spec__node *x = v->items[i];
        char *path = stk_xasprintf("deploy.resources.%s.%s", what, k);
        if (x->kind == SPEC__K_NULL || strncmp(k, "x-", 2) == 0) {
            free(path);
            continue;
        }
        if (strcmp(k, "cpus") == 0) {
            if (parse_cpus(x->str, &r->cpus) < 0)
                lerr(c->l, x, "services.%s.%s: invalid number '%s'", c->name, path, x->str);
        } else if (strcmp(k, "memory") == 0) {
            get_bytes(c, x, path, &r->memory);
        } else if (strcmp(k, "pids") == 0 && strcmp(what, "limits") == 0) {
            long long n;
            if (parse_long(x->str, -1, LLONG_MAX, &n) < 0)
                lerr(c->l, x, "services.%s.%s: invalid number '%s'", c->name, path, x->str);
            else
                r->pids = n;
        } else {
            char *full = stk_xasprintf("services.%s.%s", c->name, path);
            lunsupported(c->l, v->keys[i], full);
            free(full);
        }
        free(path);
    }
}

static void restart_policy(struct svc_ctx *c, const struct spec__node *v)
{
    struct spec_restart_policy *rp = &c->s->restart_policy;
    const struct spec__node *x;
    char *what = stk_xasprintf("services.%s.deploy.restart_policy", c->name);

    rp->present = 1;
    rp->condition = stk_xstrdup("any");
    if ((x = spec__node_get(v, "condition")) && x->str) {
        if (strcmp(x->str, "none") && strcmp(x->str, "on-failure") && strcmp(x->str, "any"))
            lerr(c->l, x, "%s.condition: invalid value '%s': must be none, on-failure or any", what,
                 x->str);
        free(rp->condition);
        rp->condition = stk_xstrdup(x->str);
    }
    if ((x = spec__node_get(v, "delay")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &rp->delay_ns);
    if ((x = spec__node_get(v, "window")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &rp->window_ns);
    if ((x = spec__node_get(v, "max_attempts")) && x->kind != SPEC__K_NULL) {
        long long n;
        if (parse_long(x->str, 0, INT_MAX, &n) < 0)
            lerr(c->l, x, "%s.max_attempts: invalid number '%s'", what, x->str);
        else
            rp->max_attempts = (int)n;
    }
    free(what);
}

static void update_config(struct svc_ctx *c, const struct spec__node *v)
{
    struct spec_update_config *u = &c->s->update_config;
    const struct spec__node *x;
    char *what = stk_xasprintf("services.%s.deploy.update_config", c->name);

    u->present = 1;
    u->parallelism = 1;
    u->failure_action = stk_xstrdup("pause");
    u->order = stk_xstrdup("stop-first");
    if ((x = spec__node_get(v, "parallelism")) && x->kind != SPEC__K_NULL) {
        long long n;
        if (parse_long(x->str, 0, INT_MAX, &n) < 0)
            lerr(c->l, x, "%s.parallelism: invalid number '%s'", what, x->str);
        else
            u->parallelism = (int)n;
    }
    if ((x = spec__node_get(v, "delay")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &u->delay_ns);
    if ((x = spec__node_get(v, "monitor")) && x->kind != SPEC__K_NULL)
        get_duration(c->l, x, what, &u->monitor_ns);
    if ((x = spec__node_get(v, "failure_action")) && x->str) {
        if (strcmp(x->str, "pause") && strcmp(x->str, "continue") && strcmp(x->str, "rollback"))
            lerr(c->l, x, "%s.failure_action: invalid value '%s'", what, x->str);
        free(u->failure_action);
        u->failure_action = stk_xstrdup(x->str);
    }
    if ((x = spec__node_get(v, "order")) && x->str) {
        free(u->order);
        u->order = stk_xstrdup(x->str);
    }
    if ((x = spec__node_get(v, "max_failure_ratio")) && x->kind != SPEC__K_NULL) {
        if (parse_cpus(x->str, &u->max_failure_ratio) < 0)
            lerr(c->l, x, "%s.max_failure_ratio: invalid number '%s'", what, x->str);
    }
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i]->str;
        if (strcmp(k, "parallelism") && strcmp(k, "delay") && strcmp(k, "monitor") &&
            strcmp(k, "failure_action") && strcmp(k, "order") && strcmp(k, "max_failure_ratio") &&
            strncmp(k, "x-", 2)) {
            char *full = stk_xasprintf("%s.%s", what, k);
            lunsupported(c->l, v->keys[i], full);
            free(full);
        }
    }
    free(what);
}

static void k_deploy(struct svc_ctx *c, const struct spec__node *v)
{
    if (v->kind != SPEC__K_MAP)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const struct spec__node *k = v->keys[i], *x = v->items[i];
        if (strncmp(k->str, "x-", 2) == 0 || x->kind == SPEC__K_NULL)
            continue;
        if (strcmp(k->str, "replicas") == 0) {
            long long r;
            if (parse_long(x->str, 0, INT_MAX, &r) < 0)
                lerr(c->l, x, "services.%s.deploy.replicas: invalid number '%s'", c->name, x->str);
            else
                c->s->replicas = (int)r;
        } else if (strcmp(k->str, "resources") == 0) {
            for (size_t j = 0; x->kind == SPEC__K_MAP && j < x->n; j++) {
                const char *rk = x->keys[j]->str;
                if (strcmp(rk, "limits") == 0) {
                    resources(c, x->items[j], &c->s->limits, "limits");
                } else if (strcmp(rk, "reservations") == 0) {
                    resources(c, x->items[j], &c->s->reservations, "reservations");
                } else if (strncmp(rk, "x-", 2) != 0) {
                    char *path = stk_xasprintf("services.%s.deploy.resources.%s", c->name, rk);
                    lunsupported(c->l, x->keys[j], path);
                    free(path);
                }
            }
        } else if (strcmp(k->str, "restart_policy") == 0) {
            restart_policy(c, x);
        } else if (strcmp(k->str, "update_config") == 0) {
            update_config(c, x);
        } else if (strcmp(k->str, "mode") == 0 && x->str && strcmp(x->str, "replicated") == 0) {
            /* The default mode; nothing to do. */
        } else {
            char *path = stk_xasprintf("services.%s.deploy.%s", c->name, k->str);
            lunsupported(c->l, k, path);
            free(path);
        }
    }
}

static void env_merge_defaults(struct spec__env *dst, const struct spec__env *src);

/* env_file entries (05-services.md "env_file"): read in order; `environment` wins over them. */
static void k_env_file(struct svc_ctx *c, const struct spec__node *v)
{
    struct spec_service tmp = {0};

    for (size_t i = 0; i < v->n || (v->kind != SPEC__K_SEQ && i == 0); i++) {
        const struct spec__node *it = v->kind == SPEC__K_SEQ ? v->items[i] : v;
        const struct spec__node *x;
        const char *path = NULL;
        int required = 1, raw = 0;
        _cleanup_free_ char *abs = NULL;
        _cleanup_free_ char *data = NULL;
        struct stk_err e = STK_ERR_INIT;
        struct spec__env vars = {0};

        if (it->kind == SPEC__K_MAP) {
            path = (x = spec__node_get(it, "path")) ? x->str : NULL;
            if ((x = spec__node_get(it, "required")) && x->kind != SPEC__K_NULL)
                parse_bool(x, &required);
            if ((x = spec__node_get(it, "format")) && x->str) {
                if (strcmp(x->str, "raw") == 0)
                    raw = 1;
                else
                    lerr(c->l, x, "services.%s.env_file.format: unsupported format '%s'", c->name,
                         x->str);
            }
        } else {
            path = it->str;
        }
        if (!path || !path[0]) {
            lerr(c->l, it, "services.%s.env_file: missing path", c->name);
            if (v->kind != SPEC__K_SEQ)
                break;
            continue;
        }
        abs = path[0] == '/' ? spec__path_clean(path) : bind_source(c->l, path);
        if (stk_file_read(abs, &data, NULL, &e) < 0) {
            if (required || e.code != STK_ENOENT)
                lerr(c->l, it, "services.%s.env_file: cannot read '%s': %s", c->name, path,
                     e.code == STK_ENOENT ? "no such file" : e.msg);
            stk_err_clear(&e);
            if (v->kind != SPEC__K_SEQ)
                break;
            continue;
        }
        if (raw) {
            char *save = NULL;
            for (char *line = strtok_r(data, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                size_t len = strlen(line);
                if (len && line[len - 1] == '\r')
                    line[len - 1] = '\0';
                if (!eq || line[0] == '#')
                    continue;
                *eq = '\0';
                spec__env_set_default(&vars, line, eq + 1);
            }
        } else {
            /*
             * Interpolation inside env files looks in the process environment first, then
             * in the service's `environment`, then in the env files read before
             * (compose-go types/project.go WithServicesEnvironmentResolved).
             */
            struct spec__env lookup = {0};
            env_merge_defaults(&lookup, &c->l->env);
            for (size_t j = 0; j < c->s->n_environment; j++)
                if (c->s->environment[j].value)
                    spec__env_set_default(&lookup, c->s->environment[j].key,
                                          c->s->environment[j].value);
            for (size_t j = 0; j < tmp.n_environment; j++)
                spec__env_set_default(&lookup, tmp.environment[j].key,
                                      tmp.environment[j].value ? tmp.environment[j].value : "");
            spec__dotenv_parse(abs, data, &lookup, &vars, &c->l->diag);
            spec__env_release(&lookup);
        }
        for (size_t j = 0; j < vars.n; j++) {
            const char *eq = strchr(vars.kv[j], '=');
            _cleanup_free_ char *k = stk_xstrndup(vars.kv[j], (size_t)(eq - vars.kv[j]));
            env_put(&tmp, k, eq + 1);
        }
        spec__env_release(&vars);
        if (v->kind != SPEC__K_SEQ)
            break;
    }
    for (size_t i = 0; i < tmp.n_environment; i++) {
        int found = 0;
        for (size_t j = 0; j < c->s->n_environment; j++)
            if (strcmp(c->s->environment[j].key, tmp.environment[i].key) == 0)
                found = 1;
        if (!found)
            env_put(c->s, tmp.environment[i].key, tmp.environment[i].value);
    }
    spec__env_free(tmp.environment, tmp.n_environment);
    if (c->s->n_environment)
        qsort(c->s->environment, c->s->n_environment, sizeof(*c->s->environment), cmp_env);
}

/* label_file (05-services.md): KEY=VALUE files read in order; `labels` wins over them. */
static void k_label_file(struct svc_ctx *c, const struct spec__node *v)
{
    struct spec_service tmp = {0};
    size_t n = v->kind == SPEC__K_SEQ ? v->n : 1;

    for (size_t i = 0; i < n; i++) {
        const struct spec__node *it = v->kind == SPEC__K_SEQ ? v->items[i] : v;
        _cleanup_free_ char *abs = NULL;
        _cleanup_free_ char *data = NULL;
        struct stk_err e = STK_ERR_INIT;
        struct spec__env vars = {0};
        if (!it->str || !it->str[0])
            continue;
        abs = it->str[0] == '/' ? spec__path_clean(it->str) : bind_source(c->l, it->str);
        if (stk_file_read(abs, &data, NULL, &e) < 0) {
            lerr(c->l, it, "services.%s.label_file: cannot read '%s': %s", c->name, it->str,
                 e.code == STK_ENOENT ? "no such file" : e.msg);
            stk_err_clear(&e);
            continue;
        }
        spec__dotenv_parse(abs, data, &c->l->env, &vars, &c->l->diag);
        for (size_t j = 0; j < vars.n; j++) {
            const char *eq = strchr(vars.kv[j], '=');
            _cleanup_free_ char *k = stk_xstrndup(vars.kv[j], (size_t)(eq - vars.kv[j]));
            env_put(&tmp, k, eq + 1);
        }
        spec__env_release(&vars);
    }
    for (size_t i = 0; i < tmp.n_environment; i++) {
        int found = 0;
        for (size_t j = 0; j < c->s->n_labels; j++)
            if (strcmp(c->s->labels[j].key, tmp.environment[i].key) == 0)
                found = 1;
        if (!found) {
            c->s->labels = stk_xrealloc(c->s->labels, (c->s->n_labels + 1) * sizeof(*c->s->labels));
            c->s->labels[c->s->n_labels].key = stk_xstrdup(tmp.environment[i].key);
            c->s->labels[c->s->n_labels++].value = stk_xstrdup(tmp.environment[i].value);
        }
    }
    spec__env_free(tmp.environment, tmp.n_environment);
    if (c->s->n_labels)
        qsort(c->s->labels, c->s->n_labels, sizeof(*c->s->labels), cmp_env);
}

/* provider (05-services.md §provider): kept as its type, so that `config` shows it. */
static void k_provider(struct svc_ctx *c, const struct spec__node *v)
{
    const struct spec__node *t = spec__node_get(v, "type");
    char *path = stk_xasprintf("services.%s.provider", c->name);

    c->s->provider = str_dup_of(t);
    lunsupported_why(c->l, spec__node_get_key(c->node, "provider"), path,
                     "the service has no image for stack to run");
    free(path);
}

static void k_ignored(struct svc_ctx *c, const struct spec__node *v)
{
    /* Handled at the tree level (extends) or elsewhere (build: only its presence counts). */
    (void)c;
    (void)v;
}

/* Whether V sets something: a true flag, a non-empty list or mapping, a non-zero number. */
static int value_in_effect(const struct spec__node *v)
{
    int b;

    switch (v->kind) {
    case SPEC__K_NULL:
        return 0;
    case SPEC__K_SEQ:
    case SPEC__K_MAP:
        return v->n > 0;
    case SPEC__K_BOOL:
        return parse_bool(v, &b) == 0 && b;
    case SPEC__K_INT:
    case SPEC__K_FLOAT:
        return strtod(v->str, NULL) != 0;
    default:
        return parse_bool(v, &b) < 0 || b;
    }
}

/*
 * `security_opt` on Windows: credentialspec=file://|registry://|config:// is gMSA, which
 * Docker takes for Windows containers (not applied by stack yet: a warning); every other
 * option is a Linux security module's.
 */
static void security_opt_windows(struct svc_ctx *c, const struct spec__node *v)
{
    for (size_t i = 0; v->kind == SPEC__K_SEQ && i < v->n; i++) {
        const struct spec__node *it = v->items[i];
        const char *o = it->str;
        if (!o)
            continue;
        if (strncmp(o, "credentialspec=", 15) == 0) {
            const char *spec = o + 15;
            if ((strncmp(spec, "file://", 7) == 0 && spec[7]) ||
                (strncmp(spec, "registry://", 11) == 0 && spec[11]) ||
                (strncmp(spec, "config://", 9) == 0 && spec[9])) {
                char *path = stk_xasprintf("services.%s.security_opt '%s'", c->name, o);
                lunsupported(c->l, it, path);
                free(path);
            } else {
                lerr(c->l, it,
                     "services.%s.security_opt '%s': a credential spec is "
                     "credentialspec=file://NAME.json, registry://NAME or config://NAME",
                     c->name, o);
            }
            continue;
        }
        lerr(c->l, it,
             "services.%s.security_opt '%s' is not supported on Windows: of the security "
             "options only credentialspec (gMSA) applies to Windows containers; seccomp, "
             "apparmor, label and no-new-privileges are Linux features",
             c->name, o);
    }
}

/*
 * The service keys a Windows container cannot honour, refused on --platform windows when
 * they would take effect (reference/hcs-hns.md §6: moby refuses --privileged and
 * --read-only for Windows containers; the others are Linux kernel features). Returns 1
 * when KEY is one of them (then it is not also reported as unsupported).
 */
static int linux_only_key(struct svc_ctx *c, const struct spec__node *key,
                          const struct spec__node *v)
{
    static const struct {
        const char *key;
        const char *why;
    } keys[] = {
        {"cap_add", "Linux capabilities do not exist in Windows containers"},
        {"cap_drop", "Linux capabilities do not exist in Windows containers"},
        {"group_add", "supplementary groups are Linux group IDs"},
        {"oom_score_adj", "it tunes the Linux OOM killer"},
        {"privileged", "Windows has no privileged containers (moby refuses --privileged)"},
        {"read_only",
         "the file system of a Windows container cannot be made read-only (moby refuses "
         "--read-only)"},
        {"security_opt", NULL},
        {"sysctls", "there are no Linux kernel parameters to set"},
        {"ulimits", "there are no POSIX resource limits (deploy.resources sets CPU and memory)"},
    };

    if (c->l->opts->platform != SPEC_PLATFORM_WINDOWS)
        return 0;
    for (size_t i = 0; i < STK_ARRAY_SIZE(keys); i++) {
        if (strcmp(keys[i].key, key->str) != 0)
            continue;
        if (!keys[i].why)
            security_opt_windows(c, v);
        else if (value_in_effect(v))
            lerr(c->l, v, "services.%s.%s is not supported on Windows: %s", c->name, key->str,
                 keys[i].why);
        return 1;
    }
    return 0;
}

struct svc_key {
    const char *key;
    void (*fn)(struct svc_ctx *c, const struct spec__node *v);
};

/* The service keys the product acts on; every other valid key is reported unsupported. */
static const struct svc_key svc_keys[] = {
    {"cap_add", k_cap_add},
    {"cap_drop", k_cap_drop},
    {"command", k_command},
    {"configs", k_configs},
    {"container_name", k_container_name},
    {"cpus", k_cpus},
    {"depends_on", k_depends_on},
    {"deploy", k_deploy},
    {"devices", k_devices},
    {"dns", k_dns},
    {"dns_search", k_dns_search},
    {"domainname", k_domainname},
    {"entrypoint", k_entrypoint},
    {"env_file", k_ignored}, /* read after `environment`, which wins */
    {"environment", k_environment},
    {"expose", k_expose},
    {"extends", k_ignored},
    {"extra_hosts", k_extra_hosts},
    {"healthcheck", k_healthcheck},
    {"hostname", k_hostname},
    {"image", k_image},
    {"init", k_init},
    {"ipc", k_ipc},
    {"isolation", k_isolation},
    {"label_file", k_ignored}, /* read after `labels`, which wins */
    {"labels", k_labels},
    {"mac_address", k_mac_address},
    {"mem_limit", k_mem_limit},
    {"mem_reservation", k_mem_reservation},
    {"network_mode", k_network_mode},
    {"networks", k_networks},
    {"pid", k_pid},
    {"pids_limit", k_pids_limit},
    {"platform", k_platform},
    {"ports", k_ports},
    {"privileged", k_privileged},
    {"profiles", k_profiles},
    {"provider", k_provider},
    {"pull_policy", k_pull_policy},
    {"read_only", k_read_only},
    {"restart", k_restart},
    {"scale", k_scale},
    {"secrets", k_secrets},
    {"shm_size", k_shm_size},
    {"stop_grace_period", k_stop_grace_period},
    {"stop_signal", k_stop_signal},
    {"sysctls", k_sysctls},
    {"tmpfs", k_tmpfs},
    {"user", k_user},
    {"volumes", k_volumes},
    {"volumes_from", k_volumes_from},
    {"working_dir", k_working_dir},
};

static void load_service(struct loader *l, struct spec_service *s, const struct spec__node *key,
                         const struct spec__node *node)
{
    struct svc_ctx c = {l, s, key->str, node};

    l->cur_svc = key->str;
    s->name = stk_xstrdup(key->str);
    s->pos = pos_of(key);
    s->replicas = 1;
    s->stop_grace_period_ns = 10000000000LL;
    s->init = -1;
    if (node->kind != SPEC__K_MAP) {
        l->cur_svc = NULL;
        return;
    }
    for (size_t i = 0; i < node->n; i++) {
        const struct spec__node *k = node->keys[i], *v = node->items[i];
        size_t j;
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        for (j = 0; j < STK_ARRAY_SIZE(svc_keys); j++)
            if (strcmp(svc_keys[j].key, k->str) == 0)
                break;
        if (linux_only_key(&c, k, v) && j == STK_ARRAY_SIZE(svc_keys))
            continue;
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
    {
        const struct spec__node *ef = spec__node_get(node, "env_file");
        if (ef && ef->kind != SPEC__K_NULL)
            k_env_file(&c, ef);
        ef = spec__node_get(node, "label_file");
        if (ef && ef->kind != SPEC__K_NULL)
            k_label_file(&c, ef);
    }
    if (spec__node_index(node, "image") < 0 && spec__node_index(node, "build") < 0 &&
        spec__node_index(node, "provider") < 0 /* an external provider runs it (warned) */ &&
        spec__node_index(node, "extends") < 0 /* a failed extends is reported already */)
        lerr(l, key, "service '%s' has neither an image nor a build context specified", s->name);
    if (s->network_mode && s->networks)
        lerr(l, spec__node_get(node, "network_mode"),
             "service '%s' declares mutually exclusive 'network_mode' and 'networks'", s->name);
    if (l->opts->platform == SPEC_PLATFORM_WINDOWS && s->n_devices && s->isolation &&
        strcmp(s->isolation, "hyperv") == 0)
        /* moby local_windows.go: "device assignment is not supported for HyperV containers". */
        lerr(l, spec__node_get(node, "devices"),
             "services.%s.devices: device assignment is not supported with hyperv isolation",
             s->name);
    if (s->n_ports && s->network_mode &&
        (strcmp(s->network_mode, "none") == 0 || strncmp(s->network_mode, "service:", 8) == 0 ||
         strncmp(s->network_mode, "container:", 10) == 0))
        /* docker: "conflicting options: port publishing and the container sharing net namespace" */
        lerr(l, spec__node_get(node, "ports"),
             "services.%s.ports: cannot publish ports with network_mode '%s'%s", s->name,
             s->network_mode,
             strcmp(s->network_mode, "none") == 0
                 ? " (no network)"
                 : ": the network namespace is another's; publish them on its owner");
    l->cur_svc = NULL;
}

/* ---- Project-level checks -------------------------------------------------------------- */

/*
 * Returns the index of service NAME in the project, or -1. After the profiles
 * are applied the loader keeps a hash index (l->svc_map) so that a project of
 * a thousand services is checked in linear time.
 */
static long service_index(const struct loader *l, const char *name)
{
    const struct spec_project *p = l->project;

    if (l->svc_map)
        return spec__strmap_get(l->svc_map, name);
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
    note_service(l);
    free(msg);
}

/* Depth-first search for depends_on cycles (compose-go graph/cycle.go). */
static int cycle_visit(struct loader *l, size_t i, int *state, size_t *stack, size_t depth)
{
    struct spec_project *p = l->project;
    struct spec_service *s = &p->services[i];

    state[i] = 1;
    stack[depth] = i;
    for (size_t j = 0; j < s->n_depends_on; j++) {
        long t = service_index(l, s->depends_on[j].service);
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
    base = spec__path_base(l->project_dir);
    l->project->name = normalize_name(base);
    if (!l->project->name[0])
        lerr(l, NULL, "project name cannot be derived from the directory '%s': set 'name:' or -p",
             l->project_dir);
}

/*
 * Makes ${COMPOSE_PROJECT_NAME} available to interpolation whatever sets the name
 * (04-version-and-name.md): with no -p and no COMPOSE_PROJECT_NAME in the environment,
 * the last top-level 'name:' of the Compose files (itself interpolated), else the project
 * folder's name. A name that normalises to nothing is left to project_name()'s error.
 */
static void set_name_variable(struct loader *l, struct spec__node *const *trees, size_t n)
{
    const char *env_name = spec__env_get(&l->env, "COMPOSE_PROJECT_NAME");
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *norm = NULL;

    if (l->opts->project_name || (env_name && *env_name))
        return;
    for (size_t i = n; i-- > 0 && !raw;) {
        const struct spec__node *name = trees[i] ? spec__node_get(trees[i], "name") : NULL;
        char *msg = NULL;
        if (!name || !is_scalar(name) || !name->str[0])
            continue;
        if (spec__interpolate(name->str, &l->env, NULL, NULL, &raw, &msg) < 0) {
            free(msg); /* reported where the tree is interpolated */
            return;
        }
        if (!raw[0]) {
            free(raw);
            raw = NULL;
        }
    }
    norm = normalize_name(raw ? raw : spec__path_base(l->project_dir));
    if (norm[0])
        spec__env_set(&l->env, "COMPOSE_PROJECT_NAME", norm);
}

/* A boolean of a top-level resource (KIND.NAME.KEY); a value that is not one is an error. */
static void get_flag(struct loader *l, const struct spec__node *x, const char *kind,
                     const char *name, const char *key, int *ret)
{
    if (parse_bool(x, ret) < 0)
        lerr(l, x, "%s.%s.%s must be a boolean", kind, name, key);
}

static char *resource_name(struct loader *l, const struct spec__node *v, const char *key,
                           int external)
{
    const struct spec__node *x = spec__node_get(v, "name");

    if (x && is_scalar(x))
        return stk_xstrdup(x->str);
    if (external)
        return stk_xstrdup(key);
    return stk_xasprintf("%s_%s", l->project->name, key);
}

static void load_networks(struct loader *l)
{
    struct spec_project *p = l->project;
    const struct spec__node *nets = spec__node_get(l->root, "networks");

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
            get_flag(l, x, "networks", k->str, "external", &n->external);
        if ((x = spec__node_get(v, "internal")) && x->kind != SPEC__K_NULL)
            parse_bool(x, &n->internal);
        if ((x = spec__node_get(v, "attachable")) && x->kind != SPEC__K_NULL)
            parse_bool(x, &n->attachable);
        if ((x = spec__node_get(v, "enable_ipv6")) && x->kind != SPEC__K_NULL) {
            parse_bool(x, &n->enable_ipv6);
            if (n->enable_ipv6 && windows_nat_network(l, v))
                lerr(l, x, "networks.%s.enable_ipv6 is not supported on Windows: %s", k->str,
                     SPEC__NO_IPV6_WHY);
        }
        n->driver = str_dup_of(spec__node_get(v, "driver"));
        n->name = resource_name(l, v, k->str, n->external);
        if ((x = spec__node_get(v, "driver_opts")) && x->kind == SPEC__K_MAP)
            n->driver_opts = kv_of(NULL, x, "driver_opts", &n->n_driver_opts);
        if ((x = spec__node_get(v, "labels")) && x->kind != SPEC__K_NULL)
            n->labels = kv_of(NULL, x, "labels", &n->n_labels);
        if ((x = spec__node_get(v, "ipam")) && x->kind == SPEC__K_MAP) {
            const struct spec__node *cfg = spec__node_get(x, "config");
            struct stk_strv subnets = STK_STRV_INIT, gateways = STK_STRV_INIT;
            n->ipam_driver = str_dup_of(spec__node_get(x, "driver"));
            for (size_t j = 0; cfg && cfg->kind == SPEC__K_SEQ && j < cfg->n; j++) {
                const struct spec__node *sub = spec__node_get(cfg->items[j], "subnet");
                const struct spec__node *gw = spec__node_get(cfg->items[j], "gateway");
                if (!sub || !sub->str)
                    continue;
                if (!strchr(sub->str, '/')) {
                    lerr(l, sub,
                         "networks.%s.ipam.config.subnet: invalid subnet '%s': expected "
                         "ADDRESS/PREFIX",
                         k->str, sub->str);
                    continue;
                }
                if (strchr(sub->str, ':') && windows_nat_network(l, v))
                    lerr(l, sub,
                         "networks.%s.ipam.config.subnet: the IPv6 subnet '%s' is not supported "
                         "on Windows: %s",
                         k->str, sub->str, SPEC__NO_IPV6_WHY);
                stk_strv_push(&subnets, sub->str);
                stk_strv_push(&gateways, gw && gw->str ? gw->str : "");
            }
            n->subnets = subnets.v;
            n->gateways = gateways.v;
        }
        if (n->external && v->kind == SPEC__K_MAP)
            for (size_t j = 0; j < v->n; j++) {
                const char *vk = v->keys[j]->str;
                if (strcmp(vk, "external") && strcmp(vk, "name") && strncmp(vk, "x-", 2))
                    lerr(l, v->keys[j], "networks.%s: conflicting parameters 'external' and '%s'",
                         k->str, vk);
            }
    }
}

static void load_volumes(struct loader *l)
{
    struct spec_project *p = l->project;
    const struct spec__node *vols = spec__node_get(l->root, "volumes");

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
            get_flag(l, x, "volumes", k->str, "external", &n->external);
        n->driver = str_dup_of(spec__node_get(v, "driver"));
        n->name = resource_name(l, v, k->str, n->external);
        if ((x = spec__node_get(v, "driver_opts")) && x->kind == SPEC__K_MAP)
            n->driver_opts = kv_of(NULL, x, "driver_opts", &n->n_driver_opts);
        if ((x = spec__node_get(v, "labels")) && x->kind != SPEC__K_NULL)
            n->labels = kv_of(NULL, x, "labels", &n->n_labels);
        if (n->external && v->kind == SPEC__K_MAP)
            for (size_t j = 0; j < v->n; j++) {
                const char *vk = v->keys[j]->str;
                if (strcmp(vk, "external") && strcmp(vk, "name") && strncmp(vk, "x-", 2))
                    lerr(l, v->keys[j], "volumes.%s: conflicting parameters 'external' and '%s'",
                         k->str, vk);
            }
    }
}

static void load_file_objects(struct loader *l, const char *what, struct spec_file_object **ret,
                              size_t *ret_n)
{
    const struct spec__node *top = spec__node_get(l->root, what);

    for (size_t i = 0; top && top->kind == SPEC__K_MAP && i < top->n; i++) {
        const struct spec__node *k = top->keys[i], *v = top->items[i], *x;
        struct spec_file_object *o;
        int sources = 0;
        if (strncmp(k->str, "x-", 2) == 0)
            continue;
        *ret = stk_xrealloc(*ret, (*ret_n + 1) * sizeof(**ret));
        o = &(*ret)[(*ret_n)++];
        memset(o, 0, sizeof(*o));
        o->key = stk_xstrdup(k->str);
        o->pos = pos_of(k);
        if ((x = spec__node_get(v, "external")) && x->kind != SPEC__K_NULL) {
            get_flag(l, x, what, k->str, "external", &o->external);
            sources += o->external;
        }
        if ((x = spec__node_get(v, "file")) && x->str) {
            o->file = x->str[0] == '/' ? spec__path_clean(x->str) : bind_source(l, x->str);
            sources++;
        }
        if ((x = spec__node_get(v, "environment")) && x->str) {
            o->environment = stk_xstrdup(x->str);
            sources++;
        }
        if ((x = spec__node_get(v, "content")) && x->str) {
            o->content = stk_xstrdup(x->str);
            sources++;
        }
        o->name = resource_name(l, v, k->str, o->external);
        if (sources != 1)
            lerr(l, k, "%s.%s: exactly one of 'file', 'environment'%s or 'external' must be set",
                 what, k->str, strcmp(what, "configs") == 0 ? ", 'content'" : "");
        if (v->kind == SPEC__K_MAP)
            for (size_t j = 0; j < v->n; j++) {
                const char *vk = v->keys[j]->str;
                if (strcmp(vk, "file") && strcmp(vk, "environment") && strcmp(vk, "content") &&
                    strcmp(vk, "external") && strcmp(vk, "name") && strncmp(vk, "x-", 2)) {
                    char *path = stk_xasprintf("%s.%s.%s", what, k->str, vk);
                    lunsupported(l, v->keys[j], path);
                    free(path);
                }
            }
    }
}

static void load_resources(struct loader *l)
{
    struct spec_project *p = l->project;
    int uses_default = 0;

    load_networks(l);
    load_volumes(l);
    load_file_objects(l, "secrets", &p->secrets, &p->n_secrets);
    load_file_objects(l, "configs", &p->configs, &p->n_configs);
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
           strcmp(k, "volumes") == 0 || strcmp(k, "secrets") == 0 || strcmp(k, "configs") == 0 ||
           strcmp(k, "include") == 0;
}

/* The process's working directory (new string), "." when it cannot be read. */
static char *current_dir(void)
{
    char cwd[PATH_MAX];

    if (!getcwd(cwd, sizeof(cwd)))
        return stk_xstrdup(".");
    return stk_xstrdup(cwd);
}

/* P made absolute against the working directory, by its rules (a Windows one on Windows). */
static char *abs_path(const char *p)
{
    _cleanup_free_ char *cwd = current_dir();

    if (spec__is_windows_abs(p))
        return spec__win_path_clean(p);
    return spec__path_resolve(cwd, p, 0);
}

/* P resolved against the folder DIR; '\\' separates too when the target is Windows. */
static char *lresolve(const struct loader *l, const char *dir, const char *p)
{
    return spec__path_resolve(dir, p, l->opts->platform == SPEC_PLATFORM_WINDOWS);
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

static const char *intern_file(struct loader *l, const char *file);

/* Copies every KEY=VALUE of SRC missing in DST. */
static void env_merge_defaults(struct spec__env *dst, const struct spec__env *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const char *eq = strchr(src->kv[i], '=');
        _cleanup_free_ char *k = stk_xstrndup(src->kv[i], (size_t)(eq - src->kv[i]));
        spec__env_set_default(dst, k, eq + 1);
    }
}

/* Whether ENV sets NAME to a true value (compose-go utils.StringToBool). */
static int env_true(const struct spec__env *env, const char *name)
{
    const char *v = spec__env_get(env, name);

    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "t") == 0);
}

/*
 * Reads the env files PATHS in order into *OUT (a later file wins over an earlier one),
 * interpolating each value from LOOKUP, then from the values read (compose-go
 * dotenv.GetEnvFromFile). With EXPLICIT (--env-file, COMPOSE_ENV_FILES, include.env_file)
 * a file that does not exist is an error: reported at AT when given, else in ERR. Without
 * it (a default .env) a missing file, a dangling link included, is no file (Compose's
 * os.Stat), and one that cannot be read is skipped with a warning. Returns 0 or -1.
 */
static int read_env_files(struct loader *l, const struct stk_strv *paths, int explicit,
                          const struct spec__env *lookup, const struct spec__node *at,
                          struct spec__env *out, struct stk_err *err)
{
    int ret = 0;

    for (size_t i = 0; i < paths->n && ret == 0; i++) {
        const char *path = paths->v[i];
        _cleanup_free_ char *data = NULL;
        struct stk_err e = STK_ERR_INIT;
        struct spec__env lk = {0}, vars = {0};
        const char *why = NULL;

        if (stk_path_is_dir(path)) {
            why = "is a directory";
        } else if (stk_file_read(path, &data, NULL, &e) < 0) {
            if (!explicit && e.code == STK_ENOENT) {
                stk_err_clear(&e);
                continue;
            }
            why = e.code == STK_ENOENT ? "does not exist" : NULL;
        }
        if (why || e.code) {
            if (!explicit) {
                stk_diag_add(&l->diag, STK_DIAG_WARNING, path, 0, 0,
                             "cannot read the env file: %s, ignoring",
                             why ? why : stk_strerror(e.code));
            } else if (at) {
                lerr(l, at, "env file '%s' %s", path, why ? why : "cannot be read");
                ret = -1;
            } else if (why) {
                ret = stk_err_set(err, STK_EIO, 0, "env file '%s' %s", path, why);
            } else {
                ret = stk_err_set(err, STK_EIO, e.os_code, "cannot read env file '%s'", path);
            }
            stk_err_clear(&e);
            continue;
        }
        env_merge_defaults(&lk, lookup);
        env_merge_defaults(&lk, out);
        spec__dotenv_parse(intern_file(l, path), data, &lk, &vars, &l->diag);
        /* A later file wins: move the earlier values out of the way. */
        for (size_t j = 0; j < vars.n; j++) {
            const char *eq = strchr(vars.kv[j], '=');
            size_t klen = (size_t)(eq - vars.kv[j]);
            for (size_t k = 0; k < out->n; k++)
                if (strncmp(out->kv[k], vars.kv[j], klen + 1) == 0) {
                    free(out->kv[k]);
                    out->kv[k] = stk_xstrdup(vars.kv[j]);
                    break;
                }
        }
        env_merge_defaults(out, &vars);
        spec__env_release(&lk);
        spec__env_release(&vars);
    }
    return ret;
}

/*
 * Adds the variables of the project's env files to the interpolation environment, where
 * the process environment (and what an earlier pass read) wins: the explicit ones
 * (l->env_files) or DIR/.env, unless COMPOSE_DISABLE_ENV_FILE is true in the process
 * environment (docker compose cli.WithEnvFiles and WithDotEnv).
 */
static int read_dotenv(struct loader *l, const char *dir, struct stk_err *err)
{
    struct stk_strv paths = STK_STRV_INIT;
    struct spec__env acc = {0};
    int explicit = l->env_files.n > 0 || l->opts->env_files != NULL;
    int ret = 0;

    stk_strv_init(&paths);
    if (explicit) {
        for (size_t i = 0; i < l->env_files.n; i++)
            stk_strv_push(&paths, l->env_files.v[i]);
    } else if (!l->no_default_env_file) {
        stk_strv_push_take(&paths, spec__path_resolve(dir, ".env", 0));
    }
    ret = read_env_files(l, &paths, explicit, &l->env, NULL, &acc, err);
    if (!explicit && paths.n && spec__env_get(&acc, "COMPOSE_ENV_FILES") &&
        !spec__env_get(&l->env, "COMPOSE_ENV_FILES"))
        /* docker compose takes it as --env-file's default, before any .env is read. */
        stk_diag_add(&l->diag, STK_DIAG_WARNING, paths.v[0], 0, 0,
                     "COMPOSE_ENV_FILES has no effect in an env file (Compose reads it from the "
                     "environment only), ignoring");
    env_merge_defaults(&l->env, &acc);
    spec__env_release(&acc);
    stk_strv_release(&paths);
    return ret;
}

/* ---- Files, include and extends ------------------------------------------------------- */

#define SPEC__MAX_INCLUDE_DEPTH 32

/* Returns the loader's copy of the absolute path FILE (positions borrow it). */
static const char *intern_file(struct loader *l, const char *file)
{
    for (size_t i = 0; i < l->files.n; i++)
        if (strcmp(l->files.v[i], file) == 0)
            return l->files.v[i];
    stk_strv_push(&l->files, file);
    return l->files.v[l->files.n - 1];
}

/* The Compose file names `docker compose` looks for, in its order of preference. */
static const char *const default_names[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml", NULL};
static const char *const override_names[] = {"compose.override.yml", "compose.override.yaml",
                                             "docker-compose.override.yml",
                                             "docker-compose.override.yaml", NULL};

/* Appends to OUT the first of NAMES present in DIR; warns when several are. Returns found. */
static int find_one(struct loader *l, const char *dir, const char *const *names, const char *what,
                    struct stk_strv *out)
{
    struct stk_strv found = STK_STRV_INIT;
    int ret;

    stk_strv_init(&found);
    for (size_t i = 0; names[i]; i++) {
        char *p = spec__path_resolve(dir, names[i], 0);
        if (stk_path_exists(p) && !stk_path_is_dir(p))
            stk_strv_push_take(&found, p);
        else
            free(p);
    }
    if (found.n > 1) {
        struct stk_buf b = STK_BUF_INIT;
        for (size_t i = 0; i < found.n; i++)
            stk_buf_printf(&b, "%s'%s'", i ? ", " : "", spec__path_base(found.v[i]));
        stk_diag_add(&l->diag, STK_DIAG_WARNING, found.v[0], 0, 0,
                     "found multiple %s files with supported names: %s; using '%s'", what, b.buf,
                     spec__path_base(found.v[0]));
        stk_buf_release(&b);
    }
    ret = found.n > 0;
    if (ret)
        stk_strv_push(out, found.v[0]);
    stk_strv_release(&found);
    return ret;
}

/*
 * The Compose files of a load without -f, as docker compose finds them (compose-go
 * cli.WithConfigFileEnv, WithDefaultConfigPath): COMPOSE_FILE, split on
 * COMPOSE_PATH_SEPARATOR (default ':', ';' for a Windows folder), each relative to
 * l->base_dir and required to exist; else the first default name found in l->base_dir
 * or the nearest parent folder that has one, with that folder's override file.
 */
static int discover_files(struct loader *l, struct stk_strv *out, struct stk_err *err)
{
    const char *cf = spec__env_get(&l->env, "COMPOSE_FILE");

    if (cf && *cf) {
        const char *sep = spec__env_get(&l->env, "COMPOSE_PATH_SEPARATOR");
        _cleanup_free_ char *copy = stk_xstrdup(cf);
        char sepbuf[2] = {spec__path_is_windows(l->base_dir) ? ';' : ':', '\0'};
        char *save = NULL;
        if (!sep || !*sep)
            sep = sepbuf;
        for (char *f = strtok_r(copy, sep, &save); f; f = strtok_r(NULL, sep, &save)) {
            char *abs = spec__path_resolve(l->base_dir, f, 0);
            if (!stk_path_exists(abs)) {
                int r = stk_err_set(err, STK_EIO, 0,
                                    "COMPOSE_FILE names '%s', which does not exist", abs);
                free(abs);
                return r;
            }
            stk_strv_push_take(out, abs);
        }
        if (out->n)
            return 0;
    }
    {
        _cleanup_free_ char *dir = stk_xstrdup(l->base_dir);
        for (;;) {
            char *parent;
            if (find_one(l, dir, default_names, "config", out)) {
                find_one(l, dir, override_names, "override", out);
                return 0;
            }
            parent = spec__path_dir(dir);
            if (strcmp(parent, dir) == 0) {
                free(parent);
                break;
            }
            free(dir);
            dir = parent;
        }
    }
    return stk_err_set(err, STK_EIO, 0,
                       "no Compose file in '%s' or its parent folders: give -f FILE or create "
                       "compose.yaml",
                       l->base_dir);
}

static int is_relative_source(const char *s)
{
    /* ".", "..", "./x", "../x", and in the short volume syntax ".:/dst" and "..:/dst" */
    return s[0] == '.' &&
           (s[1] == '\0' || s[1] == '/' || s[1] == '\\' || s[1] == ':' ||
            (s[1] == '.' && (s[2] == '\0' || s[2] == '/' || s[2] == '\\' || s[2] == ':')));
}

/* Rewrites a scalar holding a relative path to DIR/path. */
static void rebase_scalar(const struct loader *l, struct spec__node *n, const char *dir)
{
    char *abs;

    if (!n || n->kind != SPEC__K_STR || !n->str || n->str[0] == '/' || n->str[0] == '~' ||
        spec__is_windows_abs(n->str) || !n->str[0])
        return;
    abs = lresolve(l, dir, n->str);
    spec__node_set_str_take(n, abs);
    n->rebased = 1;
}

/*
 * Makes the relative host paths of a service that comes from another
 * directory (an included or extended file) absolute against DIR, as compose-go
 * resolves them against the file that declares them.
 */
static void rebase_service(const struct loader *l, struct spec__node *svc, const char *dir)
{
    struct spec__node *v;

    if (!svc || svc->kind != SPEC__K_MAP)
        return;
    v = spec__node_get(svc, "volumes");
    for (size_t i = 0; v && v->kind == SPEC__K_SEQ && i < v->n; i++) {
        struct spec__node *it = v->items[i];
        if (it->kind == SPEC__K_STR && is_relative_source(it->str)) {
            const char *colon = strchr(it->str, ':');
            _cleanup_free_ char *src =
                colon ? stk_xstrndup(it->str, (size_t)(colon - it->str)) : stk_xstrdup(it->str);
            _cleanup_free_ char *abs = lresolve(l, dir, src);
            char *n = stk_xasprintf("%s%s", abs, colon ? colon : "");
            spec__node_set_str_take(it, n);
            it->rebased = 1;
        } else if (it->kind == SPEC__K_MAP) {
            const struct spec__node *t = spec__node_get(it, "type");
            if (t && t->str && strcmp(t->str, "bind") == 0)
                rebase_scalar(l, spec__node_get(it, "source"), dir);
        }
    }
    v = spec__node_get(svc, "env_file");
    if (v && v->kind == SPEC__K_STR)
        rebase_scalar(l, v, dir);
    for (size_t i = 0; v && v->kind == SPEC__K_SEQ && i < v->n; i++) {
        if (v->items[i]->kind == SPEC__K_MAP)
            rebase_scalar(l, spec__node_get(v->items[i], "path"), dir);
        else
            rebase_scalar(l, v->items[i], dir);
    }
    v = spec__node_get(svc, "label_file");
    if (v && v->kind == SPEC__K_STR)
        rebase_scalar(l, v, dir);
    for (size_t i = 0; v && v->kind == SPEC__K_SEQ && i < v->n; i++)
        rebase_scalar(l, v->items[i], dir);
}

static void rebase_tree(const struct loader *l, struct spec__node *tree, const char *dir)
{
    static const char *const objs[] = {"secrets", "configs"};
    const struct spec__node *svcs = spec__node_get(tree, "services");

    for (size_t i = 0; svcs && svcs->kind == SPEC__K_MAP && i < svcs->n; i++)
        rebase_service(l, svcs->items[i], dir);
    for (size_t k = 0; k < STK_ARRAY_SIZE(objs); k++) {
        const struct spec__node *o = spec__node_get(tree, objs[k]);
        for (size_t i = 0; o && o->kind == SPEC__K_MAP && i < o->n; i++)
            rebase_scalar(l, spec__node_get(o->items[i], "file"), dir);
    }
}

/*
 * What a file is loaded with: the interpolation environment, and the folder its relative
 * include and extends paths are resolved against (the project directory, an included
 * project's directory, or an extended file's own folder: compose-go's localResourceLoader).
 */
struct file_ctx {
    const struct spec__env *env;
    const char *workdir;
};

static struct spec__node *load_tree(struct loader *l, const char *file, struct stk_strv *chain,
                                    const struct spec__node *from, const struct file_ctx *fc);

static int is_remote(const char *p)
{
    return strstr(p, "://") != NULL || strncmp(p, "git@", 4) == 0;
}

static void import_resources(struct spec__node *tree, struct spec__node *sub)
{
    static const char *const kinds[] = {"services", "networks", "volumes",
                                        "secrets",  "configs",  "models"};

    for (size_t k = 0; k < STK_ARRAY_SIZE(kinds); k++) {
        struct spec__node *from = spec__node_get(sub, kinds[k]);
        struct spec__node *to;
        if (!from || from->kind != SPEC__K_MAP)
            continue;
        to = spec__node_get(tree, kinds[k]);
        if (!to) {
            spec__node_append_take(tree, spec__node_new_scalar(SPEC__K_STR, kinds[k], from),
                                   spec__node_new(SPEC__K_MAP, from));
            to = spec__node_get(tree, kinds[k]);
        } else if (to->kind == SPEC__K_NULL) {
            to->kind = SPEC__K_MAP;
        }
        if (to->kind != SPEC__K_MAP)
            continue;
        for (size_t i = 0; i < from->n; i++) {
            long j = spec__node_index(to, from->keys[i]->str);
            if (j >= 0) {
                /*
                 * compose-go include.go importResource: a resource defined both here and
                 * in the included file is the included one with this file's definition
                 * merged over it.
                 */
                const char *segs[] = {kinds[k], from->keys[i]->str};
                struct spec__node *merged = spec__node_dup(from->items[i]);
                if (merged->kind == SPEC__K_MAP && to->items[j]->kind == SPEC__K_MAP) {
                    spec__merge_at_take(merged, spec__node_dup(to->items[j]), segs, 2);
                    spec__node_free(to->items[j]);
                    to->items[j] = merged;
                } else {
                    spec__node_free(merged);
                }
                continue;
            }
            spec__node_append_take(to, spec__node_dup(from->keys[i]),
                                   spec__node_dup(from->items[i]));
        }
    }
}

/*
 * `environment: [KEY]` entries of the services of an included project take KEY's value
 * from that project's environment (compose-go loader/environment.go ResolveEnvironment,
 * run at the end of the included project's load).
 */
static void resolve_bare_environment(struct spec__node *tree, const struct spec__env *env)
{
    struct spec__node *svcs = spec__node_get(tree, "services");

    for (size_t i = 0; svcs && svcs->kind == SPEC__K_MAP && i < svcs->n; i++) {
        struct spec__node *e = spec__node_get(svcs->items[i], "environment");
        for (size_t j = 0; e && e->kind == SPEC__K_SEQ && j < e->n; j++) {
            struct spec__node *it = e->items[j];
            const char *v;
            if (it->kind != SPEC__K_STR || !it->str[0] || strchr(it->str, '=') ||
                !(v = spec__env_get(env, it->str)))
                continue;
            spec__node_set_str_take(it, stk_xasprintf("%s=%s", it->str, v));
        }
    }
}

/* Pushes the strings of a string-or-list node N (NULL: nothing) onto OUT, with their nodes. */
static void string_or_list(const struct spec__node *n, struct stk_strv *out,
                           const struct spec__node **nodes, size_t max)
{
    size_t count = n && n->kind == SPEC__K_SEQ ? n->n : (n && n->kind == SPEC__K_STR ? 1 : 0);

    for (size_t i = 0; i < count && out->n < max; i++) {
        const struct spec__node *it = n->kind == SPEC__K_SEQ ? n->items[i] : n;
        if (it->kind != SPEC__K_STR || !it->str[0])
            continue;
        nodes[out->n] = it;
        stk_strv_push(out, it->str);
    }
}

#define SPEC__MAX_INCLUDE_FILES 64

/*
 * Top-level `include` (14-include.md, compose-go loader/include.go): each entry is a
 * project of its own, local files only, cycles rejected. Its paths and an explicit
 * env_file are relative to FC's folder (the including project's directory); its project
 * directory is project_directory or the folder of its first file; its variables are FC's
 * environment over its env files (env_file, else its project directory's .env); its
 * relative host paths resolve against its project directory; its later paths are merged
 * over the first as -f files are.
 */
static void apply_include(struct loader *l, struct spec__node *tree, const char *file,
                          struct stk_strv *chain, const struct file_ctx *fc)
{
    long idx = spec__node_index(tree, "include");
    struct spec__node *inc;

    (void)file;
    if (idx < 0)
        return;
    inc = tree->items[idx];
    if (inc->kind != SPEC__K_SEQ) {
        if (inc->kind != SPEC__K_NULL)
            lerr(l, inc, "include must be a sequence");
        spec__node_remove(tree, (size_t)idx);
        return;
    }
    for (size_t i = 0; i < inc->n; i++) {
        struct spec__node *it = inc->items[i];
        struct spec__node *paths = it->kind == SPEC__K_MAP ? spec__node_get(it, "path") : it;
        const struct spec__node *pd =
            it->kind == SPEC__K_MAP ? spec__node_get(it, "project_directory") : NULL;
        const struct spec__node *ef =
            it->kind == SPEC__K_MAP ? spec__node_get(it, "env_file") : NULL;
        const struct spec__node *path_nodes[SPEC__MAX_INCLUDE_FILES];
        const struct spec__node *ef_nodes[SPEC__MAX_INCLUDE_FILES];
        struct stk_strv rel = STK_STRV_INIT, efs = STK_STRV_INIT, abs = STK_STRV_INIT;
        struct spec__env env = {0};
        struct file_ctx sub_fc;
        struct spec__node *sub = NULL;
        char *inc_dir = NULL;
        int failed = 0;

        stk_strv_init(&rel);
        stk_strv_init(&efs);
        stk_strv_init(&abs);
        if (it->kind == SPEC__K_MAP)
            for (size_t j = 0; j < it->n; j++) {
                const char *k = it->keys[j]->str;
                if (strcmp(k, "path") && strcmp(k, "project_directory") && strcmp(k, "env_file") &&
                    strncmp(k, "x-", 2)) {
                    char *path = stk_xasprintf("include.%s", k);
                    lunsupported(l, it->keys[j], path);
                    free(path);
                }
            }
        if (!paths || (paths->kind != SPEC__K_STR && paths->kind != SPEC__K_SEQ)) {
            lerr(l, it, "include: 'path' is required");
            goto next;
        }
        for (size_t j = 0; paths->kind == SPEC__K_SEQ && j < paths->n; j++)
            if (!paths->items[j]->str || !paths->items[j]->str[0])
                lerr(l, paths->items[j], "include: empty path");
        if (paths->kind == SPEC__K_STR && !paths->str[0])
            lerr(l, paths, "include: empty path");
        string_or_list(paths, &rel, path_nodes, SPEC__MAX_INCLUDE_FILES);
        for (size_t j = 0; j < rel.n && !failed; j++) {
            const struct spec__node *p = path_nodes[j];
            char *a;
            if (is_remote(p->str)) {
                lerr(l, p,
                     "include: remote resource '%s' is not supported: only local files "
                     "can be included",
                     p->str);
                failed = 1;
                break;
            }
            a = lresolve(l, fc->workdir, p->str);
            if (stk_strv_contains(chain, a)) {
                struct stk_buf b = STK_BUF_INIT;
                for (size_t k = 0; k < chain->n; k++)
                    stk_buf_printf(&b, "%s -> ", chain->v[k]);
                stk_buf_puts(&b, a);
                lerr(l, p, "include cycle detected: %s", b.buf);
                stk_buf_release(&b);
                free(a);
                failed = 1;
                break;
            }
            stk_strv_push_take(&abs, a);
        }
        if (!failed && chain->n >= SPEC__MAX_INCLUDE_DEPTH) {
            lerr(l, path_nodes[0], "include: too many nested includes");
            failed = 1;
        }
        if (failed || abs.n == 0)
            goto next;
        inc_dir = pd && pd->str && pd->str[0] ? lresolve(l, fc->workdir, pd->str)
                                              : spec__path_dir(abs.v[0]);
        /* The included project's variables: this project's win over its env files. */
        env_merge_defaults(&env, fc->env);
        {
            struct spec__env vars = {0};
            string_or_list(ef, &efs, ef_nodes, SPEC__MAX_INCLUDE_FILES);
            if (efs.n) {
                for (size_t j = 0; j < efs.n && !failed; j++) {
                    struct stk_strv one = STK_STRV_INIT;
                    if (strcmp(efs.v[j], "/dev/null") == 0)
                        continue;
                    stk_strv_init(&one);
                    stk_strv_push_take(&one, lresolve(l, fc->workdir, efs.v[j]));
                    if (read_env_files(l, &one, 1, fc->env, ef_nodes[j], &vars, NULL) < 0)
                        failed = 1;
                    stk_strv_release(&one);
                }
            } else {
                struct stk_strv one = STK_STRV_INIT;
                stk_strv_init(&one);
                stk_strv_push_take(&one, spec__path_resolve(inc_dir, ".env", 0));
                read_env_files(l, &one, 0, fc->env, NULL, &vars, NULL);
                stk_strv_release(&one);
            }
            env_merge_defaults(&env, &vars);
            spec__env_release(&vars);
        }
        if (failed)
            goto next;
        sub_fc.env = &env;
        sub_fc.workdir = inc_dir;
        for (size_t j = 0; j < abs.n; j++) {
            struct spec__node *t = load_tree(l, abs.v[j], chain, path_nodes[j], &sub_fc);
            if (!t) {
                failed = 1;
                continue;
            }
            if (!sub)
                sub = t;
            else
                spec__merge_take(sub, t);
        }
        if (sub && !failed) {
            rebase_tree(l, sub, inc_dir);
            resolve_bare_environment(sub, &env);
            import_resources(tree, sub);
        }
    next:
        spec__node_free(sub);
        spec__env_release(&env);
        free(inc_dir);
        stk_strv_release(&rel);
        stk_strv_release(&efs);
        stk_strv_release(&abs);
    }
    spec__node_remove(tree, (size_t)spec__node_index(tree, "include"));
}

struct ext_frame {
    const char *name;
    const char *file;
};

static int resolve_extends(struct loader *l, struct spec__node *tree, const char *file,
                           const char *name, struct ext_frame *stack, size_t depth,
                           const struct file_ctx *fc);

/* Loads service SERVICE of FILE (another file) with its own extends resolved; new tree. */
static struct spec__node *extends_from_file(struct loader *l, const char *file, const char *service,
                                            const struct spec__node *at, struct ext_frame *stack,
                                            size_t depth, const struct file_ctx *fc)
{
    struct stk_strv chain = STK_STRV_INIT;
    struct spec__node *tree, *svcs, *res = NULL;
    _cleanup_free_ char *dir = spec__path_dir(file);
    struct file_ctx ext_fc = {fc->env, dir};

    stk_strv_init(&chain);
    stk_strv_push(&chain, file);
    tree = load_tree(l, file, &chain, at, &ext_fc);
    stk_strv_release(&chain);
    if (!tree)
        return NULL;
    svcs = spec__node_get(tree, "services");
    if (!spec__node_get(svcs, service)) {
        lerr(l, at, "cannot extend service '%s' of '%s': no such service", service, file);
    } else if (resolve_extends(l, tree, intern_file(l, file), service, stack, depth, &ext_fc) ==
               0) {
        res = spec__node_dup(spec__node_get(svcs, service));
        rebase_service(l, res, dir);
    }
    spec__node_free(tree);
    return res;
}

/* Resolves `extends` of service NAME of TREE (declared in FILE) in place (05-services.md). */
static int resolve_extends(struct loader *l, struct spec__node *tree, const char *file,
                           const char *name, struct ext_frame *stack, size_t depth,
                           const struct file_ctx *fc)
{
    struct spec__node *svcs = spec__node_get(tree, "services");
    struct spec__node *svc = spec__node_get(svcs, name);
    struct spec__node *ext, *base = NULL;
    const struct spec__node *x;
    const char *base_name = NULL, *base_file = NULL;
    long idx;

    if (!svc || svc->kind != SPEC__K_MAP || (idx = spec__node_index(svc, "extends")) < 0)
        return 0;
    ext = svc->items[idx];
    for (size_t i = 0; i < depth; i++)
        if (strcmp(stack[i].name, name) == 0 && strcmp(stack[i].file, file) == 0) {
            struct stk_buf b = STK_BUF_INIT;
            for (size_t k = i; k < depth; k++)
                stk_buf_printf(&b, "%s -> ", stack[k].name);
            stk_buf_puts(&b, name);
            lerr(l, ext, "circular reference in extends: %s", b.buf);
            stk_buf_release(&b);
            return -1;
        }
    if (depth >= 32) {
        lerr(l, ext, "extends: too deep");
        return -1;
    }
    if (ext->kind == SPEC__K_STR) {
        base_name = ext->str;
    } else if (ext->kind == SPEC__K_MAP) {
        base_name = (x = spec__node_get(ext, "service")) && x->kind == SPEC__K_STR ? x->str : NULL;
        base_file = (x = spec__node_get(ext, "file")) && x->kind == SPEC__K_STR ? x->str : NULL;
        for (size_t i = 0; i < ext->n; i++)
            if (strcmp(ext->keys[i]->str, "service") && strcmp(ext->keys[i]->str, "file"))
                lerr(l, ext->keys[i], "unknown key '%s' in services.%s.extends", ext->keys[i]->str,
                     name);
    }
    if (!base_name) {
        lerr(l, ext, "services.%s.extends: 'service' is required", name);
        return -1;
    }
    stack[depth].name = name;
    stack[depth].file = file;
    if (base_file) {
        _cleanup_free_ char *abs = lresolve(l, fc->workdir, base_file);
        if (is_remote(base_file)) {
            lerr(l, ext, "services.%s.extends: remote file '%s' is not supported", name, base_file);
            return -1;
        }
        base = extends_from_file(l, intern_file(l, abs), base_name, ext, stack, depth + 1, fc);
        if (!base)
            return -1;
    } else {
        if (!spec__node_get(svcs, base_name)) {
            lerr(l, ext, "cannot extend service '%s': no such service in '%s'", base_name, file);
            return -1;
        }
        if (resolve_extends(l, tree, file, base_name, stack, depth + 1, fc) < 0)
            return -1;
        base = spec__node_dup(spec__node_get(svcs, base_name));
    }
    /* The child's keys win; extends itself is not inherited. */
    {
        const char *segs[] = {"services", name};
        struct spec__node *child = spec__node_dup(svc);
        long e = spec__node_index(child, "extends");
        long be = spec__node_index(base, "extends");
        if (be >= 0)
            spec__node_remove(base, (size_t)be);
        spec__node_remove(child, (size_t)e);
        spec__merge_at_take(base, child, segs, 2);
        base->file = svc->file;
        base->line = svc->line;
        base->col = svc->col;
        for (size_t i = 0; i < svcs->n; i++)
            if (svcs->items[i] == svc) {
                spec__node_free(svcs->items[i]);
                svcs->items[i] = base;
                break;
            }
    }
    return 0;
}

static void apply_extends(struct loader *l, struct spec__node *tree, const char *file,
                          const struct file_ctx *fc)
{
    struct spec__node *svcs = spec__node_get(tree, "services");
    struct ext_frame stack[40];

    for (size_t i = 0; svcs && svcs->kind == SPEC__K_MAP && i < svcs->n; i++) {
        _cleanup_free_ char *name = stk_xstrdup(svcs->keys[i]->str);
        resolve_extends(l, tree, file, name, stack, 0, fc);
    }
}

/*
 * The legacy form `external: {name: N}` of networks, volumes, secrets and configs becomes
 * `external: true` with `name: N` (compose-go transform/external.go, per file before the
 * merge), with a warning that external.name is deprecated.
 */
static void legacy_external(struct loader *l, struct spec__node *tree)
{
    static const char *const kinds[] = {"networks", "volumes", "secrets", "configs"};

    for (size_t k = 0; k < STK_ARRAY_SIZE(kinds); k++) {
        struct spec__node *top = spec__node_get(tree, kinds[k]);
        for (size_t i = 0; top && top->kind == SPEC__K_MAP && i < top->n; i++) {
            struct spec__node *res = top->items[i], *ext, *extname, *name;
            long ei = spec__node_index(res, "external");
            if (ei < 0 || (ext = res->items[ei])->kind != SPEC__K_MAP)
                continue;
            /* networks and volumes: additionalProperties false (compose-spec 2026 schema) */
            for (size_t j = 0; k < 2 && j < ext->n; j++)
                if (ext->keys[j]->str && strcmp(ext->keys[j]->str, "name") != 0 &&
                    strncmp(ext->keys[j]->str, "x-", 2) != 0)
                    lerr(l, ext->keys[j], "unknown key '%s' in %s.%s.external", ext->keys[j]->str,
                         kinds[k], top->keys[i]->str);
            extname = spec__node_get(ext, "name");
            name = spec__node_get(res, "name");
            if (extname && is_scalar(extname)) {
                lwarn(l, spec__node_get_key(ext, "name"),
                      "%s.%s: external.name is deprecated: set 'name: %s' and 'external: true'",
                      kinds[k], top->keys[i]->str, extname->str);
                if (name && is_scalar(name) && strcmp(name->str, extname->str) != 0)
                    lerr(l, name, "%s.%s: name '%s' and external.name '%s' conflict; only use name",
                         kinds[k], top->keys[i]->str, name->str, extname->str);
                else if (!name)
                    spec__node_append_take(res, spec__node_new_scalar(SPEC__K_STR, "name", extname),
                                           spec__node_dup(extname));
            }
            res->items[ei] = spec__node_new_scalar(SPEC__K_BOOL, "true", ext);
            spec__node_free(ext);
        }
    }
}

/* Reads and parses FILE (not interpolated yet); NULL after an error. */
static struct spec__node *parse_tree(struct loader *l, const char *file,
                                     const struct spec__node *from)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct spec__node *tree;
    struct stk_err e = STK_ERR_INIT;
    const char *f = intern_file(l, file);

    if (stk_file_read(f, &data, &len, &e) < 0) {
        lerr(l, from, "cannot read '%s': %s", f, e.code == STK_ENOENT ? "no such file" : e.msg);
        stk_err_clear(&e);
        return NULL;
    }
    tree = spec__yaml_parse(f, data, len, &l->diag);
    if (!tree)
        return NULL;
    if (tree->n == 0) {
        stk_diag_add(&l->diag, STK_DIAG_ERROR, f, 1, 1, "empty compose file");
        spec__node_free(tree);
        return NULL;
    }
    {
        /* A service written as "name:" with no body is an empty service (compose-go). */
        struct spec__node *svcs = spec__node_get(tree, "services");
        for (size_t i = 0; svcs && svcs->kind == SPEC__K_MAP && i < svcs->n; i++)
            if (svcs->items[i]->kind == SPEC__K_NULL && !svcs->items[i]->tag)
                svcs->items[i]->kind = SPEC__K_MAP;
    }
    return tree;
}

/* Interpolates the parsed TREE of F, then applies its includes and extends. */
static void finish_tree(struct loader *l, struct spec__node *tree, const char *f,
                        struct stk_strv *chain, const struct file_ctx *fc)
{
    spec__interpolate_tree(tree, fc->env, &l->diag);
    legacy_external(l, tree);
    stk_strv_push(chain, f);
    apply_include(l, tree, f, chain, fc);
    free(chain->v[--chain->n]);
    chain->v[chain->n] = NULL;
    apply_extends(l, tree, f, fc);
}

/*
 * Reads FILE, parses, interpolates with FC's environment, then applies its
 * include and extends (their relative paths against FC's folder). CHAIN lists
 * the files being included (cycle detection). FROM positions a read error
 * (NULL: the caller reports it). Returns a new tree or NULL.
 */
static struct spec__node *load_tree(struct loader *l, const char *file, struct stk_strv *chain,
                                    const struct spec__node *from, const struct file_ctx *fc)
{
    struct spec__node *tree = parse_tree(l, file, from);

    if (tree)
        finish_tree(l, tree, tree->file, chain, fc);
    return tree;
}

/* ---- Profiles (15-profiles.md) ---------------------------------------------------------- */

static void apply_profiles(struct loader *l)
{
    struct spec_project *p = l->project;
    struct stk_strv active = STK_STRV_INIT;
    size_t kept = 0;

    stk_strv_init(&active);
    if (l->opts->profiles) {
        for (size_t i = 0; l->opts->profiles[i]; i++)
            if (l->opts->profiles[i][0] && !stk_strv_contains(&active, l->opts->profiles[i]))
                stk_strv_push(&active, l->opts->profiles[i]);
    } else {
        const char *env = spec__env_get(&l->env, "COMPOSE_PROFILES");
        _cleanup_free_ char *copy = stk_xstrdup(env ? env : "");
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (*t && !stk_strv_contains(&active, t))
                stk_strv_push(&active, t);
        }
    }
    /* A service named explicitly is enabled, and so are its profiles. */
    for (size_t i = 0; l->opts->services && l->opts->services[i]; i++) {
        long idx = service_index(l, l->opts->services[i]);
        if (idx < 0) {
            lerr(l, NULL, "no such service: '%s'", l->opts->services[i]);
            continue;
        }
        for (size_t j = 0; p->services[idx].profiles && p->services[idx].profiles[j]; j++)
            if (!stk_strv_contains(&active, p->services[idx].profiles[j]))
                stk_strv_push(&active, p->services[idx].profiles[j]);
    }
    for (size_t i = 0; i < p->n_services; i++) {
        struct spec_service *s = &p->services[i];
        int on = !s->profiles || !s->profiles[0] || stk_strv_contains(&active, "*");
        for (size_t j = 0; !on && s->profiles[j]; j++)
            on = stk_strv_contains(&active, s->profiles[j]);
        if (on) {
            if (kept != i)
                p->services[kept] = *s;
            kept++;
        } else {
            p->disabled_services =
                stk_xrealloc(p->disabled_services, (p->n_disabled_services + 1) * sizeof(*s));
            p->disabled_services[p->n_disabled_services++] = *s;
        }
    }
    p->n_services = kept;
    stk_strv_sort(&active);
    p->active_profiles = active.v;
}

static const struct spec_service *disabled_service(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->n_disabled_services; i++)
        if (strcmp(p->disabled_services[i].name, name) == 0)
            return &p->disabled_services[i];
    return NULL;
}

/* Resolves a "service:X" reference of S (network_mode, ipc, pid, volumes_from). */
static void service_ref(struct loader *l, struct spec_service *s, const char *value,
                        const char *key, const struct spec_pos *pos, int restart)
{
    struct spec_project *p = l->project;
    const char *target;
    struct spec_depends *d;

    if (!value || strncmp(value, "service:", 8) != 0)
        return;
    target = value + 8;
    {
        /* volumes_from may carry ":ro"/":rw". */
        const char *colon = strchr(target, ':');
        _cleanup_free_ char *name =
            colon ? stk_xstrndup(target, (size_t)(colon - target)) : stk_xstrdup(target);
        if (strcmp(name, s->name) == 0) {
            err_at_pos(l, pos, "service '%s' refers to itself in %s", s->name, key);
            return;
        }
        if (service_index(l, name) < 0) {
            if (disabled_service(p, name))
                err_at_pos(l, pos,
                           "service '%s' refers to service '%s' in %s, which is disabled by its "
                           "profiles",
                           s->name, name, key);
            else
                err_at_pos(l, pos, "service '%s' refers to undefined service '%s' in %s", s->name,
                           name, key);
            return;
        }
        if (depends_find(s, name))
            return;
        d = depends_add(s, name, NULL);
        d->pos = *pos;
        d->restart = restart;
        d->implicit = 1;
    }
}

static void check_references(struct loader *l)
{
    struct spec_project *p = l->project;

    for (size_t i = 0; i < p->n_services; i++) {
        struct spec_service *s = &p->services[i];
        l->cur_svc = s->name;
        for (size_t j = 0; j < s->n_depends_on; j++) {
            struct spec_depends *d = &s->depends_on[j];
            const struct spec_service *off;
            if (service_index(l, d->service) >= 0)
                continue;
            off = disabled_service(p, d->service);
            if (off && !d->required) {
                /* An optional dependency on a disabled service is dropped (15-profiles.md). */
                free(d->service);
                free(d->condition);
                memmove(d, d + 1, (s->n_depends_on - j - 1) * sizeof(*d));
                s->n_depends_on--;
                j--;
            } else if (off) {
                err_at_pos(l, &d->pos,
                           "service '%s' depends on service '%s', which is disabled by its "
                           "profiles (activate one of them or set required: false)",
                           s->name, d->service);
            } else {
                err_at_pos(l, &d->pos, "service '%s' depends on undefined service '%s'", s->name,
                           d->service);
            }
        }
        service_ref(l, s, s->network_mode, "network_mode", &s->network_mode_pos, 1);
        service_ref(l, s, s->ipc, "ipc", &s->ipc_pos, 1);
        service_ref(l, s, s->pid, "pid", &s->pid_pos, 1);
        for (size_t j = 0; s->volumes_from && s->volumes_from[j]; j++)
            service_ref(l, s, s->volumes_from[j], "volumes_from", &s->pos, 0);
    }
    l->cur_svc = NULL;
}

/* ---- Platform validation ---------------------------------------------------------------- */

static int is_pipe(const char *s)
{
    return s && is_pipe_path(s);
}

/* Reserved DOS device names (moby volume/mounts/windows_parser.go). */
static int is_reserved_dos_name(const char *name)
{
    static const char *const names[] = {"con", "prn", "nul", "aux"};
    size_t len = strlen(name);

    for (size_t i = 0; i < STK_ARRAY_SIZE(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return len == 4 && (strncasecmp(name, "com", 3) == 0 || strncasecmp(name, "lpt", 3) == 0) &&
           name[3] >= '1' && name[3] <= '9';
}

static int is_drive_root(const char *t)
{
    return t && isalpha((unsigned char)t[0]) && t[1] == ':' &&
           (t[2] == '\0' || ((t[2] == '\\' || t[2] == '/') && t[3] == '\0'));
}

static const struct spec_service *find_service(const struct loader *l, const char *name)
{
    const struct spec_project *p = l->project;
    long i = service_index(l, name);

    return i < 0 ? NULL : &p->services[i];
}

static int explicit_hyperv(const struct spec_service *s)
{
    return s && s->isolation && strcmp(s->isolation, "hyperv") == 0;
}

static void validate_windows_service(struct loader *l, const struct spec_service *s)
{
    const struct spec_project *p = l->project;

    if (s->ipc && (strcmp(s->ipc, "shareable") == 0 || strcmp(s->ipc, "host") == 0 ||
                   strncmp(s->ipc, "service:", 8) == 0 || strncmp(s->ipc, "container:", 10) == 0))
        err_at_pos(l, &s->ipc_pos,
                   "services.%s.ipc: '%s' is not supported on Windows: containers cannot share "
                   "memory across the isolation boundary",
                   s->name, s->ipc);
    if (s->shm_size)
        err_at_pos(l, &s->shm_size_pos,
                   "services.%s.shm_size is not supported on Windows: there is no /dev/shm to "
                   "size",
                   s->name);
    if (s->pid && (strcmp(s->pid, "host") == 0 || strncmp(s->pid, "service:", 8) == 0 ||
                   strncmp(s->pid, "container:", 10) == 0))
        err_at_pos(l, &s->pid_pos,
                   "services.%s.pid: '%s' is not supported on Windows: process namespaces "
                   "cannot be shared",
                   s->name, s->pid);
    if (s->network_mode && strcmp(s->network_mode, "host") == 0)
        err_at_pos(l, &s->network_mode_pos,
                   "services.%s.network_mode: 'host' is not supported on Windows: host "
                   "networking is not available to Windows containers",
                   s->name);
    if (s->network_mode && (strncmp(s->network_mode, "service:", 8) == 0 ||
                            strncmp(s->network_mode, "container:", 10) == 0)) {
        const struct spec_service *peer = strncmp(s->network_mode, "service:", 8) == 0
                                              ? find_service(l, s->network_mode + 8)
                                              : NULL;
        if (explicit_hyperv(s) || explicit_hyperv(peer))
            err_at_pos(l, &s->network_mode_pos,
                       "services.%s.network_mode: '%s' cannot be used with hyperv isolation: "
                       "only process-isolated containers can share a network namespace",
                       s->name, s->network_mode);
    }
    if (s->tmpfs)
        err_at_pos(l, &s->tmpfs_pos, "services.%s.tmpfs is not supported on Windows", s->name);
    for (size_t i = 0; i < s->n_volumes; i++) {
        const struct spec_volume *v = &s->volumes[i];
        if (strcmp(v->type, "tmpfs") == 0) {
            err_at_pos(l, &v->pos, "services.%s.volumes: tmpfs mounts are not supported on Windows",
                       s->name);
            continue;
        }
        if (strcmp(v->type, "npipe") == 0) {
            if (!is_pipe(v->source) || !is_pipe(v->target))
                err_at_pos(l, &v->pos,
                           "services.%s.volumes: an npipe mount needs a pipe path "
                           "(\\\\.\\pipe\\NAME) as both source and target",
                           s->name);
            if (v->read_only)
                err_at_pos(l, &v->pos,
                           "services.%s.volumes: a named pipe cannot be mounted read-only",
                           s->name);
            continue;
        }
        if (is_pipe(v->source) != is_pipe(v->target) && v->source) {
            err_at_pos(l, &v->pos,
                       "services.%s.volumes: a named pipe can only be mounted onto a named pipe "
                       "('%s' -> '%s')",
                       s->name, v->source, v->target);
            continue;
        }
        if (is_drive_root(v->target))
            err_at_pos(l, &v->pos,
                       "services.%s.volumes: the target '%s' is a drive root, which cannot be a "
                       "mount point on Windows",
                       s->name, v->target);
        if (strcmp(v->type, "volume") == 0 && v->source) {
            const char *real = v->source;
            for (size_t k = 0; k < p->n_volumes; k++)
                if (strcmp(p->volumes[k].key, v->source) == 0)
                    real = p->volumes[k].name;
            if (is_reserved_dos_name(real))
                err_at_pos(l, &v->pos,
                           "services.%s.volumes: '%s' is a reserved name on Windows and cannot "
                           "name a volume",
                           s->name, real);
        }
    }
    for (size_t i = 0; i < s->n_ports; i++)
        if (s->ports[i].host_ip)
            err_at_pos(l, &s->ports[i].pos,
                       "services.%s.ports: a host IP ('%s') is not supported on Windows: WinNAT "
                       "does not accept host IP addresses (docker/for-win#10552)",
                       s->name, s->ports[i].host_ip);
}

static void validate_linux_service(struct loader *l, const struct spec_service *s)
{
    /* A hyperv service runs in its own VM (runtime/vm): it shares no namespace with the host. */
    if (explicit_hyperv(s)) {
        if (s->network_mode && strcmp(s->network_mode, "host") == 0)
            err_at_pos(l, &s->network_mode_pos,
                       "services.%s.network_mode: 'host' cannot be used with hyperv isolation: "
                       "the service runs in its own VM with its own kernel",
                       s->name);
        if (s->pid && strcmp(s->pid, "host") == 0)
            err_at_pos(l, &s->pid_pos,
                       "services.%s.pid: 'host' cannot be used with hyperv isolation: the "
                       "service runs in its own VM with its own kernel",
                       s->name);
        if (s->ipc && strcmp(s->ipc, "host") == 0)
            err_at_pos(l, &s->ipc_pos,
                       "services.%s.ipc: 'host' cannot be used with hyperv isolation: the "
                       "service runs in its own VM with its own kernel",
                       s->name);
    }
    for (size_t i = 0; i < s->n_volumes; i++) {
        const struct spec_volume *v = &s->volumes[i];
        if (strcmp(v->type, "npipe") == 0)
            err_at_pos(l, &v->pos,
                       "services.%s.volumes: named pipes (npipe) do not exist on Linux: "
                       "bind-mount the Unix socket instead (type: bind, e.g. "
                       "/var/run/docker.sock)",
                       s->name);
    }
}

static int is_any_ip(const char *ip)
{
    return !ip || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

/* A single published host port and where it is, for check_published_ports(). */
struct published_ref {
    unsigned port;
    size_t svc, idx; /* service index, port index: the order ports are declared in */
};

static int published_ref_cmp(const void *a, const void *b)
{
    const struct published_ref *x = a, *y = b;

    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->svc != y->svc)
        return x->svc < y->svc ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Published host ports must not collide (same protocol, overlapping address).
 * Each single port is compared only with the earlier declarations of the same
 * number (sorted by port, then declaration order), so that a large stack is
 * checked in O(n log n); the first earlier declaration that collides is named.
 */
static void check_published_ports(struct loader *l)
{
    const struct spec_project *p = l->project;
    struct published_ref *refs;
    size_t n = 0, k, g;

    for (size_t i = 0; i < p->n_services; i++)
        n += p->services[i].n_ports;
    refs = stk_xcalloc(n + 1, sizeof(*refs));
    n = 0;
    for (size_t i = 0; i < p->n_services; i++)
        for (size_t a = 0; a < p->services[i].n_ports; a++) {
            const struct spec_port *x = &p->services[i].ports[a];
            if (x->published && !x->published_end)
                refs[n++] = (struct published_ref){x->published, i, a};
        }
    qsort(refs, n, sizeof(*refs), published_ref_cmp);
    for (g = 0; g < n; g = k) {
        for (k = g; k < n && refs[k].port == refs[g].port; k++) {
            const struct spec_service *s = &p->services[refs[k].svc];
            const struct spec_port *x = &s->ports[refs[k].idx];
            int reported = 0;
            l->cur_svc = s->name;
            for (size_t m = g; m < k; m++) {
                const struct spec_service *t = &p->services[refs[m].svc];
                const struct spec_port *y = &t->ports[refs[m].idx];
                if (strcmp(y->protocol, x->protocol) != 0)
                    continue;
                if (!is_any_ip(x->host_ip) && !is_any_ip(y->host_ip) &&
                    strcmp(x->host_ip, y->host_ip) != 0)
                    continue;
                err_at_pos(l, &x->pos,
                           "services.%s.ports: host port %u/%s is already published by "
                           "service '%s'",
                           s->name, x->published, x->protocol, t->name);
                reported = 1;
                break;
            }
            if (!reported && s->replicas > 1)
                err_at_pos(l, &x->pos,
                           "services.%s.ports: host port %u/%s cannot be published by %d "
                           "replicas: use a range or let the runtime pick the port",
                           s->name, x->published, x->protocol, s->replicas);
        }
    }
    l->cur_svc = NULL;
    free(refs);
}

/* An absolute path in the container: "/x" on Linux, "C:\\x", "C:/x" or "\\x" on Windows. */
static int container_path_absolute(const char *p, enum spec_platform platform)
{
    if (!p || !*p)
        return 0;
    if (platform == SPEC_PLATFORM_WINDOWS)
        return (((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z' && p[1] == ':' &&
                 (p[2] == '\\' || p[2] == '/' || p[2] == '\0')) ||
                p[0] == '\\' || p[0] == '/');
    return p[0] == '/';
}

/*
 * What the runtime would refuse minutes later, refused now with the position:
 * a service name is a DNS label (the name other containers resolve), so at most
 * 63 characters (RFC 1035 §2.3.4); working_dir and mount targets must be
 * absolute paths in the container (the engine's "must be absolute").
 */
static void check_names_and_paths(struct loader *l)
{
    const struct spec_project *p = l->project;
    enum spec_platform pf = l->opts->platform;

    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        l->cur_svc = s->name;
        if (strlen(s->name) > 63)
            err_at_pos(l, &s->pos,
                       "services: service name '%.20s…' is %zu characters long: a service name "
                       "is a DNS label, at most 63",
                       s->name, strlen(s->name));
        for (size_t v = 0; v < s->n_volumes; v++) {
            const struct spec_volume *vol = &s->volumes[v];
            if (strcmp(vol->type, "npipe") == 0)
                continue;
            if (!container_path_absolute(vol->target, pf))
                err_at_pos(l, &vol->pos,
                           "services.%s.volumes: target '%s' is not an absolute path in the "
                           "container",
                           s->name, vol->target ? vol->target : "");
        }
    }
    l->cur_svc = NULL;
}

/* Container names must be unique, hence one container per service that sets one. */
static void check_container_names(struct loader *l)
{
    const struct spec_project *p = l->project;

    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        if (!s->container_name)
            continue;
        if (s->replicas > 1)
            err_at_pos(l, &s->pos,
                       "services.%s: can't set container_name '%s' and %d replicas: a container "
                       "name must be unique",
                       s->name, s->container_name, s->replicas);
        for (size_t j = 0; j < i; j++)
            if (p->services[j].container_name &&
                strcmp(p->services[j].container_name, s->container_name) == 0)
                err_at_pos(l, &s->pos,
                           "services.%s: container_name '%s' is already used by service '%s'",
                           s->name, s->container_name, p->services[j].name);
    }
}

static void validate_platform(struct loader *l)
{
    const struct spec_project *p = l->project;

    for (size_t i = 0; i < p->n_services; i++) {
        l->cur_svc = p->services[i].name;
        if (l->opts->platform == SPEC_PLATFORM_WINDOWS)
            validate_windows_service(l, &p->services[i]);
        else
            validate_linux_service(l, &p->services[i]);
    }
    l->cur_svc = NULL;
    if (l->opts->platform == SPEC_PLATFORM_WINDOWS)
        for (size_t i = 0; i < p->n_volumes; i++)
            if (is_reserved_dos_name(p->volumes[i].name))
                err_at_pos(l, &p->volumes[i].pos,
                           "volumes.%s: '%s' is a reserved name on Windows and cannot name a "
                           "volume",
                           p->volumes[i].key, p->volumes[i].name);
    check_published_ports(l);
    check_container_names(l);
    check_names_and_paths(l);
    for (size_t i = 0; i < p->n_services; i++)
        if (p->services[i].network_mode && strcmp(p->services[i].network_mode, "host") == 0 &&
            p->services[i].n_ports)
            stk_diag_add(&l->diag, STK_DIAG_WARNING, p->services[i].network_mode_pos.file,
                         p->services[i].network_mode_pos.line, p->services[i].network_mode_pos.col,
                         "services.%s: ports are not published with network_mode 'host' (the "
                         "container uses the host's ports directly), ignoring",
                         p->services[i].name);
}

static void loader_release(struct loader *l)
{
    stk_diag_release(&l->diag);
    spec__env_release(&l->env);
    stk_strv_release(&l->files);
    stk_strv_release(&l->env_files);
    free(l->base_dir);
    free(l->project_dir);
    for (size_t i = 0; i < l->n_notes; i++)
        free(l->note_svc[i]);
    free(l->note_svc);
    free(l->note_seq);
    spec__node_free(l->root);
    spec__strmap_free(l->svc_map);
    spec_project_free(l->project);
}

/* Whether items A and B are at the same position with the same severity. */
static int same_place(const struct stk_diag_item *a, const struct stk_diag_item *b)
{
    return a->severity == b->severity && a->line == b->line && a->col == b->col &&
           strcmp(a->file ? a->file : "", b->file ? b->file : "") == 0;
}

/* MSG with each mention of service SVC ("services.SVC.", "'SVC'") replaced by "\1". */
static char *generic_msg(const char *msg, const char *svc)
{
    struct stk_buf b = STK_BUF_INIT;
    size_t n = strlen(svc);

    for (const char *p = msg; *p;) {
        if (strncmp(p, svc, n) == 0 && p > msg && (p[-1] == '.' || p[-1] == '\'') &&
            (p[n] == '.' || p[n] == ':' || p[n] == '\'' || p[n] == ' ' || !p[n])) {
            stk_buf_putc(&b, '\1');
            p += n;
        } else {
            stk_buf_putc(&b, *p++);
        }
    }
    return stk_buf_detach(&b, NULL);
}

/*
 * Copies the loader's sorted diagnostics into OUT, saying each problem once: the same
 * message at the same position (a file read twice) once, and the same message about
 * several services at the same position (one YAML anchor inherited by all of them) once,
 * naming how many services share it.
 */
static void collapse_diagnostics(struct loader *l, struct stk_diag *out)
{
    size_t n = l->diag.n;
    const char **svc = stk_xcalloc(n ? n : 1, sizeof(*svc));
    char **gen = stk_xcalloc(n ? n : 1, sizeof(*gen));
    char *done = stk_xcalloc(n ? n : 1, 1);

    for (size_t k = 0; k < l->n_notes; k++)
        if (l->note_seq[k] < n)
            svc[l->note_seq[k]] = l->note_svc[k];
    for (size_t i = 0; i < n; i++) {
        const struct stk_diag_item *it = &l->diag.items[i];
        if (svc[it->seq])
            gen[i] = generic_msg(it->msg, svc[it->seq]);
    }
    for (size_t i = 0; i < n; i++) {
        const struct stk_diag_item *it = &l->diag.items[i];
        struct stk_strv names = STK_STRV_INIT;
        if (done[i])
            continue;
        if (i && same_place(it - 1, it) && strcmp(it[-1].msg, it->msg) == 0)
            continue;
        stk_strv_init(&names);
        if (gen[i]) {
            stk_strv_push(&names, svc[it->seq]);
            for (size_t j = i + 1; j < n && same_place(it, &l->diag.items[j]); j++)
                if (gen[j] && strcmp(gen[i], gen[j]) == 0) {
                    done[j] = 1;
                    if (!stk_strv_contains(&names, svc[l->diag.items[j].seq]))
                        stk_strv_push(&names, svc[l->diag.items[j].seq]);
                }
        }
        if (names.n > 1) {
            struct stk_buf b = STK_BUF_INIT;
            for (size_t k = 0; k < names.n && k < 3; k++)
                stk_buf_printf(&b, "%s%s", k ? ", " : "", names.v[k]);
            if (names.n == 4)
                stk_buf_printf(&b, ", %s", names.v[3]);
            else if (names.n > 4)
                stk_buf_printf(&b, " and %zu more", names.n - 3);
            stk_diag_add(out, it->severity, it->file, it->line, it->col,
                         "%s (%zu services share this line: %s)", it->msg, names.n, b.buf);
            stk_buf_release(&b);
        } else {
            stk_diag_add(out, it->severity, it->file, it->line, it->col, "%s", it->msg);
        }
        stk_strv_release(&names);
    }
    for (size_t i = 0; i < n; i++)
        free(gen[i]);
    free(gen);
    free(svc);
    free(done);
}

int spec_project_load(const struct spec_load_opts *opts, struct spec_project **ret_project,
                      struct stk_diag *diag, struct stk_err *err)
{
    struct loader l = {.opts = opts};
    struct stk_diag said = STK_DIAG_INIT;
    const struct spec__node *services;
    int ret = 0;

    if (!opts || !ret_project)
        return stk_err_set(err, STK_EINVAL, 0, "spec_project_load: no options");
    stk_strv_init(&l.files);
    stk_strv_init(&l.env_files);
    l.base_dir = opts->working_dir ? abs_path(opts->working_dir) : current_dir();
    build_env(&l);
    if (opts->project_name)
        /* Known before interpolation: available as ${COMPOSE_PROJECT_NAME}
         * (04-version-and-name.md). */
        spec__env_set(&l.env, "COMPOSE_PROJECT_NAME", opts->project_name);
    /* Set in the process environment only, as docker compose reads them. */
    {
        /* docker compose parses it with Go's strconv.ParseBool: anything else is an error. */
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", "", NULL};
        const char *v = spec__env_get(&l.env, "COMPOSE_DISABLE_ENV_FILE");
        int known = !v;
        for (size_t i = 0; v && yes[i]; i++)
            if (strcmp(v, yes[i]) == 0)
                known = l.no_default_env_file = 1;
        for (size_t i = 0; v && no[i]; i++)
            if (strcmp(v, no[i]) == 0)
                known = 1;
        if (!known)
            lerr(&l, NULL,
                 "COMPOSE_DISABLE_ENV_FILE: invalid boolean value '%s' (1, t, true, 0, f, "
                 "false and their capitalised forms)",
                 v);
    }
    if (opts->env_files) {
        for (size_t i = 0; opts->env_files[i]; i++)
            stk_strv_push_take(&l.env_files, abs_path(opts->env_files[i]));
    } else if (spec__env_get(&l.env, "COMPOSE_ENV_FILES")) {
        _cleanup_free_ char *copy = stk_xstrdup(spec__env_get(&l.env, "COMPOSE_ENV_FILES"));
        char *save = NULL;
        for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save))
            stk_strv_push_take(&l.env_files, spec__path_resolve(l.base_dir, f, 0));
    }
    if (opts->files && opts->files[0]) {
        for (size_t i = 0; opts->files[i]; i++)
            stk_strv_push_take(&l.files, abs_path(opts->files[i]));
        l.n_cli = l.files.n;
        l.project_dir = opts->working_dir ? stk_xstrdup(l.base_dir) : spec__path_dir(l.files.v[0]);
        ret = read_dotenv(&l, l.project_dir, err);
    } else {
        /*
         * No -f: docker compose reads the .env of the folder it runs in, then COMPOSE_FILE
         * or the default file names, and then the .env of the project directory found,
         * where the variables already read win (cmd/compose toProjectOptions).
         */
        struct stk_strv found = STK_STRV_INIT;
        stk_strv_init(&found);
        ret = read_dotenv(&l, l.base_dir, err);
        if (ret == 0)
            ret = discover_files(&l, &found, err);
        if (ret == 0) {
            /* The Compose files come first in the file list, before the .env read. */
            l.n_cli = found.n;
            for (size_t i = 0; i < l.files.n; i++)
                stk_strv_push(&found, l.files.v[i]);
            stk_strv_release(&l.files);
            l.files = found;
            stk_strv_init(&found);
            l.project_dir =
                opts->working_dir ? stk_xstrdup(l.base_dir) : spec__path_dir(l.files.v[0]);
            if (strcmp(l.project_dir, l.base_dir) != 0 && !l.env_files.n)
                ret = read_dotenv(&l, l.project_dir, err);
        }
        stk_strv_release(&found);
    }
    if (ret < 0)
        goto out;

    {
        struct file_ctx fc = {&l.env, l.project_dir};
        _cleanup_free_ struct spec__node **trees = stk_xcalloc(l.n_cli + 1, sizeof(*trees));
        for (size_t i = 0; i < l.n_cli; i++) {
            if (!stk_path_exists(l.files.v[i])) {
                ret = stk_err_set(err, STK_EIO, ENOENT, "open '%s'", l.files.v[i]);
                for (size_t j = 0; j < i; j++)
                    spec__node_free(trees[j]);
                goto out;
            }
            trees[i] = parse_tree(&l, l.files.v[i], NULL);
        }
        set_name_variable(&l, trees, l.n_cli);
        for (size_t i = 0; i < l.n_cli; i++) {
            struct stk_strv chain = STK_STRV_INIT;
            struct spec__node *tree = trees[i];
            if (!tree)
                continue;
            stk_strv_init(&chain);
            finish_tree(&l, tree, tree->file, &chain, &fc);
            stk_strv_release(&chain);
            if (!l.root)
                l.root = tree;
            else
                spec__merge_take(l.root, tree);
        }
    }
    if (!l.root)
        goto finish;
    spec__strip_reset(l.root);

    {
        struct stk_buf path = STK_BUF_INIT;
        stk_buf_grow(&path, 256);
        check_shape(&l, l.root, spec__schema_root, &path);
        stk_buf_release(&path);
    }

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
        l.project->services =
            stk_xcalloc(services->n ? services->n : 1, sizeof(*l.project->services));
        for (size_t i = 0; i < services->n; i++) {
            if (strncmp(services->keys[i]->str, "x-", 2) == 0)
                continue;
            load_service(&l, &l.project->services[l.project->n_services++], services->keys[i],
                         services->items[i]);
        }
    }
    apply_profiles(&l);
    l.svc_map = spec__strmap_new(l.project->n_services);
    for (size_t i = 0; i < l.project->n_services; i++)
        spec__strmap_put(l.svc_map, l.project->services[i].name, i);
    check_references(&l);
    check_cycles(&l);
    load_resources(&l);
    validate_platform(&l);

finish:
    stk_diag_sort(&l.diag);
    collapse_diagnostics(&l, &said);
    if (diag)
        for (size_t i = 0; i < said.n; i++)
            stk_diag_add(diag, said.items[i].severity, said.items[i].file, said.items[i].line,
                         said.items[i].col, "%s", said.items[i].msg);
    if (said.n_errors) {
        for (size_t i = 0; i < said.n; i++) {
            const struct stk_diag_item *it = &said.items[i];
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
    stk_diag_release(&said);
    loader_release(&l);
    return ret;
}
