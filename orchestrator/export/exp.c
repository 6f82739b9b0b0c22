/*
 * exp.c - the stack model → Kubernetes objects (exp.h has the mapping).
 *
 * Sources: the Kubernetes API reference (apps/v1 Deployment, batch/v1 Job,
 * core/v1 Service, PersistentVolumeClaim, Secret, ConfigMap, node.k8s.io/v1
 * RuntimeClass); kubernetes/website concepts/windows/intro.md for the
 * Windows pod limits; containerd's hcsshim runtime handlers
 * (runhcs-wcow-process, runhcs-wcow-hypervisor); reference/compose-peers.md
 * §D for Kompose's conversion table, which this improves on.
 */
#include "orchestrator/export/exp.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "orchestrator/export/exp-internal.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"

#define EXP_RC_PROCESS "runhcs-wcow-process"
#define EXP_RC_HYPERV "runhcs-wcow-hypervisor"
/* The image of the init containers that wait for a dependency (needs a shell and kubectl). */
#define EXP_WAIT_IMAGE "bitnami/kubectl:1.31"
#define EXP_SIZE_LABEL "stack.export.size"
#define LBL_NAME "app.kubernetes.io/name"
#define LBL_PART_OF "app.kubernetes.io/part-of"
#define LBL_MANAGED "app.kubernetes.io/managed-by"
#define LBL_WINDOWS_BUILD "node.kubernetes.io/windows-build"

/* One pod: a service and the services that joined its network namespace. */
struct unit {
    const struct spec_service *root;
    const struct spec_service **members; /* root first, then joiners in file order */
    size_t n;
    int job;        /* a one-shot: a Job rather than a Deployment */
    json_t *builds; /* Windows: the node builds every member's image runs on; NULL: unknown */
};

struct ctx {
    const struct spec_project *p;
    const struct exp_opts *o;
    struct exp_result *res;
    int windows;
    struct unit *units; /* one per service that is not a joiner, file order */
    size_t n_units;
    int need_wait;   /* an init container waits: emit the ServiceAccount and its Role */
    int hyperv_said; /* the Hyper-V support note was added */
    char *wait_sa;   /* the waiters' ServiceAccount name */
    struct exp__yaml *yaml;
    json_t *by_name;    /* service name -> index in p->services */
    size_t *svc_unit;   /* per service: the index of its pod in UNITS; SIZE_MAX before */
    json_t *node_ports; /* node port -> the Service that has it */
    json_t *missing;    /* "secret/NAME", "config/NAME": not carried, mounted optional */
};

/* ---- small helpers -------------------------------------------------------------------------- */

/*
 * NAME (malloc'd, taken) made at most 63 characters: a longer one becomes its first 54
 * characters (without a trailing '-') + "-" + the first 8 hex digits of the SHA-256 of
 * the whole name, so it stays a DNS label and is stable from one export to the next.
 */
static char *fit63(char *name)
{
    uint8_t md[STK_SHA256_LEN];
    char hex[STK_SHA256_HEX_LEN + 1];
    size_t n = 54;
    char *r;

    if (strlen(name) <= 63)
        return name;
    stk_sha256(name, strlen(name), md);
    stk_sha256_hex(md, hex);
    while (n && name[n - 1] == '-')
        n--;
    r = stk_xasprintf("%.*s-%.8s", (int)n, name, hex);
    free(name);
    return r;
}

/* S in lower case with runs of other characters as one '-', starting with a letter. */
static char *k8s_name_full(const char *s)
{
    struct stk_buf b = STK_BUF_INIT;
    char *r;

    for (const char *p = s; *p; p++) {
        char c = (char)tolower((unsigned char)*p);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            stk_buf_putc(&b, c);
        else if (b.len && b.buf[b.len - 1] != '-')
            stk_buf_putc(&b, '-');
    }
    while (b.len && b.buf[b.len - 1] == '-')
        b.buf[--b.len] = '\0';
    if (!b.len || !(b.buf[0] >= 'a' && b.buf[0] <= 'z')) {
        r = stk_xasprintf("s-%s", b.buf ? b.buf : "");
        stk_buf_release(&b);
        return r;
    }
    return stk_buf_detach(&b, NULL);
}

/* S as a DNS-1035 label (at most 63 characters, shortened by fit63()). */
static char *k8s_name(const char *s)
{
    return fit63(k8s_name_full(s));
}

/* Non-zero when k8s_name(S) had to be shortened. */
static int k8s_name_shortened(const char *s)
{
    char *f = k8s_name_full(s);
    int r = strlen(f) > 63;

    free(f);
    return r;
}

/* Non-zero when S is a label value (empty, or alnum ends with [-_.a-zA-Z0-9] inside, <= 63). */
static int label_value_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return 1;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* Non-zero when S is a label or annotation key: [DNS-subdomain/]name. */
static int label_key_ok(const char *s)
{
    const char *slash = strrchr(s, '/');
    const char *name = slash ? slash + 1 : s;

    if (slash) {
        size_t pn = (size_t)(slash - s);
        if (pn == 0 || pn > 253)
            return 0;
        for (size_t i = 0; i < pn; i++)
            if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
                  s[i] == '.'))
                return 0;
    }
    return *name && label_value_ok(name);
}

static void warn(struct ctx *c, const struct spec_service *svc, const char *fmt, ...)
    STK_PRINTF(3, 4);
static void warn(struct ctx *c, const struct spec_service *svc, const char *fmt, ...)
{
    va_list ap;
    char *m;

    va_start(ap, fmt);
    m = stk_xvasprintf(fmt, ap);
    va_end(ap);
    stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, svc->pos.file, svc->pos.line, svc->pos.col,
                 "service '%s': %s", svc->name, m);
    free(m);
}

/* Takes a reference of OBJ and renders it as the next document. */
static void add_doc(struct ctx *c, const char *kind, const char *name, char *comment_take,
                    json_t *obj_take)
{
    struct exp_doc *d;

    if (c->res->n_docs == c->res->alloc) {
        c->res->alloc = c->res->alloc ? c->res->alloc * 2 : 16;
        c->res->docs = stk_xrealloc(c->res->docs, c->res->alloc * sizeof(*c->res->docs));
    }
    d = &c->res->docs[c->res->n_docs++];
    d->kind = stk_xstrdup(kind);
    d->name = stk_xstrdup(name);
    d->comment = comment_take;
    if (!c->yaml)
        c->yaml = exp__yaml_new();
    d->yaml = exp__yaml_doc(c->yaml, obj_take);
    json_decref(obj_take);
}

/* metadata: name, namespace (namespaced objects, with --namespace), labels (stolen, may be NULL).
 */
static json_t *metadata(struct ctx *c, const char *name, int namespaced, json_t *labels)
{
    json_t *m = json_object();

    json_object_set_new(m, "name", json_string(name));
    if (namespaced && c->o->namespace_)
        json_object_set_new(m, "namespace", json_string(c->o->namespace_));
    if (labels)
        json_object_set_new(m, "labels", labels);
    return m;
}

static json_t *selector_labels(struct ctx *c, const struct spec_service *svc)
{
    char *n = k8s_name(svc->name);
    json_t *l = json_pack("{s:s, s:s}", LBL_NAME, n, LBL_PART_OF, c->p->name);

    free(n);
    return l;
}

static json_t *object_labels(struct ctx *c, const struct spec_service *svc)
{
    json_t *l = svc ? selector_labels(c, svc) : json_pack("{s:s}", LBL_PART_OF, c->p->name);

    json_object_set_new(l, LBL_MANAGED, json_string("stack"));
    return l;
}

/* Seconds, rounded up, at least MIN. */
static json_int_t secs(int64_t ns, json_int_t min)
{
    json_int_t s = (json_int_t)((ns + 999999999) / 1000000000);
    return s < min ? min : s;
}

/* Bytes as a Kubernetes quantity: "2Gi", "64Mi", "512Ki" when exact, else the byte count. */
static char *mem_quantity(int64_t bytes)
{
    static const char *const suffix[] = {"Ki", "Mi", "Gi", "Ti"};
    int unit = -1;
    int64_t v = bytes;

    while (unit < 3 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        unit++;
    }
    if (unit < 0)
        return stk_xasprintf("%" PRId64, bytes);
    return stk_xasprintf("%" PRId64 "%s", v, suffix[unit]);
}

static char *cpu_quantity(double cpus)
{
    long long milli = (long long)(cpus * 1000.0 + 0.5);

    if (milli % 1000 == 0)
        return stk_xasprintf("%lld", milli / 1000);
    return stk_xasprintf("%lldm", milli);
}

/* Non-zero when S is a Kubernetes quantity: digits with an optional fraction and suffix. */
static int quantity_ok(const char *s)
{
    static const char *const suffixes[] = {"",  "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
                                           "k", "M",  "G",  "T",  "P",  "E",  "m"};
    const char *p = s;

    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    for (size_t i = 0; i < STK_ARRAY_SIZE(suffixes); i++)
        if (strcmp(p, suffixes[i]) == 0)
            return 1;
    return 0;
}

/* Whether the quantity S (one quantity_ok accepts) is zero: PVC storage must be > 0. */
static int quantity_zero(const char *s)
{
    for (; isdigit((unsigned char)*s) || *s == '.'; s++)
        if (*s != '0' && *s != '.')
            return 0;
    return 1;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The service named NAME, through the name index (services are looked up per dependency). */
static const struct spec_service *find_service(const struct ctx *c, const char *name)
{
    json_t *i = json_object_get(c->by_name, name);

    return i ? &c->p->services[json_integer_value(i)] : NULL;
}

/* The service whose pod SVC runs in (itself, or the end of its service: chain). */
static const struct spec_service *pod_root(const struct ctx *c, const struct spec_service *svc)
{
    for (size_t guard = 0; guard <= c->p->n_services; guard++) {
        const struct spec_service *t;
        if (!svc->network_mode || strncmp(svc->network_mode, "service:", 8) != 0)
            return svc;
        t = find_service(c, svc->network_mode + 8);
        if (!t)
            return svc;
        svc = t;
    }
    return svc;
}

static int restart_is_no(const struct spec_service *svc)
{
    return !svc->restart || strcmp(svc->restart, "no") == 0;
}

/* Non-zero when SVC restarts on failure only: restart: on-failure[:N], or no restart: and
 * deploy.restart_policy.condition: on-failure. */
static int restart_on_failure(const struct spec_service *svc)
{
    if (svc->restart)
        return strncmp(svc->restart, "on-failure", 10) == 0 &&
               (svc->restart[10] == '\0' || svc->restart[10] == ':');
    return svc->restart_policy.present && svc->restart_policy.condition &&
           strcmp(svc->restart_policy.condition, "on-failure") == 0;
}

/* The backoffLimit of SVC's Job: N of on-failure:N or of restart_policy.max_attempts, the
 * Job default 6 when on-failure has no limit, 0 for a one-shot. */
static int job_backoff(const struct spec_service *svc)
{
    if (!restart_on_failure(svc))
        return 0;
    if (svc->restart && svc->restart[10] == ':')
        return atoi(svc->restart + 11);
    if (!svc->restart && svc->restart_policy.max_attempts > 0)
        return svc->restart_policy.max_attempts;
    return 6; /* the Job default */
}

/* The pod of SVC (a service of the project); NULL before the pods are known. */
static const struct unit *unit_of(const struct ctx *c, const struct spec_service *svc)
{
    size_t u = c->svc_unit[svc - c->p->services];

    return u < c->n_units ? &c->units[u] : NULL;
}

/* ---- Windows images ------------------------------------------------------------------------- */

char *exp_windows_build(const char *os_version)
{
    unsigned long v[3];
    const char *p = os_version;
    char *end;

    if (!p)
        return NULL;
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return NULL;
        v[i] = strtoul(p, &end, 10);
        p = end;
        if (i < 2 && *p++ != '.')
            return NULL;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        (void)strtoul(p, &end, 10);
        p = end;
    }
    if (*p)
        return NULL;
    return stk_xasprintf("%lu.%lu.%lu", v[0], v[1], v[2]);
}

/*
 * The windows-build of SVC's image: its os.version from the local image store
 * when it is there, else the build its tag names: a leading 10.0.BUILD[.REV], else
 * Microsoft's LTSC names as a dash-separated part of the tag (nanoserver and servercore
 * :ltsc2019/:1809 → 17763, :ltsc2022 → 20348, :ltsc2025 → 26100; also
 * :8.0-nanoserver-ltsc2022, :windowsservercore-ltsc2022).
 * NULL (with a warning) when neither says.
 */
static char *image_build(struct ctx *c, const struct spec_service *svc)
{
    static const struct {
        const char *tag;
        const char *build;
    } tags[] = {{"ltsc2019", "10.0.17763"},
                {"1809", "10.0.17763"},
                {"ltsc2022", "10.0.20348"},
                {"ltsc2025", "10.0.26100"}};
    const char *img = svc->image;
    const char *slash, *colon;

    if (!img)
        return NULL;
    if (c->o->images && img[0] != '/' && img[0] != '.') {
        struct rt_image_platform plat = {"windows", "amd64", NULL, NULL};
        struct rt_image *ri = NULL;
        struct stk_err err = STK_ERR_INIT;
        char *b = NULL;
        if (rt_image_resolve(c->o->images, img, &plat, &ri, &err) == 0)
            b = exp_windows_build(ri->os_version);
        rt_image_free(ri);
        stk_err_clear(&err);
        if (b)
            return b;
    }
    slash = strrchr(img, '/');
    colon = strrchr(slash ? slash : img, ':');
    if (colon && !strchr(colon, '@')) {
        const char *t = colon + 1;
        /* An explicit build leads the tag: 10.0.20348.2113, 10.0.17763-amd64. */
        if (strncmp(t, "10.0.", 5) == 0) {
            size_t n = strcspn(t, "-_");
            char *lead = stk_xasprintf("%.*s", (int)n, t);
            char *b = exp_windows_build(lead);
            free(lead);
            if (b)
                return b;
        }
        /* Else an LTSC name as one dash-separated part: windowsservercore-ltsc2022,
         * 8.0-nanoserver-ltsc2022, ltsc2019-amd64. */
        for (const char *p = t; *p;) {
            size_t n = strcspn(p, "-");
            for (size_t i = 0; i < STK_ARRAY_SIZE(tags); i++)
                if (n == strlen(tags[i].tag) && strncmp(p, tags[i].tag, n) == 0)
                    return stk_xstrdup(tags[i].build);
            p += n;
            if (*p == '-')
                p++;
        }
    }
    warn(c, svc,
         "image: the os.version of '%s' is unknown (not in the local image store, no LTSC tag); "
         "the pod gets no node.kubernetes.io/windows-build selector",
         img);
    return NULL;
}

static int is_hyperv(const struct spec_service *svc)
{
    return svc->isolation && strcmp(svc->isolation, "hyperv") == 0;
}

/*
 * The windows-build values of the nodes that can run an image of BUILD with
 * the isolation (rt_windows_image_compatible(), the local runtime's rule),
 * among the Windows Server builds Kubernetes nodes run (2019, 2022, 2025) and
 * BUILD itself; ascending. A new array, never empty (BUILD is always there).
 */
static int build_cmp(const char *a, const char *b)
{
    unsigned long va[3] = {0, 0, 0}, vb[3] = {0, 0, 0};

    sscanf(a, "%lu.%lu.%lu", &va[0], &va[1], &va[2]);
    sscanf(b, "%lu.%lu.%lu", &vb[0], &vb[1], &vb[2]);
    for (int i = 0; i < 3; i++)
        if (va[i] != vb[i])
            return va[i] < vb[i] ? -1 : 1;
    return 0;
}

static json_t *node_builds(const char *build, int hyperv)
{
    static const char *const known[] = {"10.0.17763", "10.0.20348", "10.0.26100"};
    json_t *a = json_array();
    int own_done = 0;

    for (size_t i = 0; i <= STK_ARRAY_SIZE(known); i++) {
        const char *h = i < STK_ARRAY_SIZE(known) ? known[i] : NULL;
        if (!own_done && (!h || build_cmp(build, h) <= 0)) {
            own_done = 1;
            if (!h || strcmp(build, h) != 0)
                json_array_append_new(a, json_string(build));
        }
        if (h && rt_windows_image_compatible(h, build,
                                             hyperv ? RT_ISOLATION_HYPERV : RT_ISOLATION_PROCESS))
            json_array_append_new(a, json_string(h));
    }
    return a;
}

/* ---- containers ----------------------------------------------------------------------------- */

struct pod {
    json_t *volumes; /* pod volumes, by unique name */
    json_t *init;    /* init containers */
};

static int pod_has_volume(struct pod *pod, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(pod->volumes, i, v) if (strcmp(json_string_value(json_object_get(v, "name")),
                                                      name) == 0) return 1;
    return 0;
}

/* Adds {name: NAME, KEY: SRC} unless NAME is there; steals SRC. */
static void pod_volume(struct pod *pod, const char *name, const char *key, json_t *src)
{
    if (pod_has_volume(pod, name)) {
        json_decref(src);
        return;
    }
    json_array_append_new(pod->volumes, json_pack("{s:s, s:o}", "name", name, key, src));
}

static const struct spec_named_volume *named_volume(const struct spec_project *p, const char *key)
{
    for (size_t i = 0; i < p->n_volumes; i++)
        if (strcmp(p->volumes[i].key, key) == 0)
            return &p->volumes[i];
    return NULL;
}

static const struct spec_file_object *file_object(const struct spec_file_object *v, size_t n,
                                                  const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

/* A Secret or ConfigMap data key for KEY: [-._a-zA-Z0-9]. */
static char *data_key(const char *key)
{
    char *k = stk_xstrdup(key);

    for (char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            *p = '-';
    return k;
}

static json_t *mount(const char *name, const char *path, int ro, const char *sub)
{
    json_t *m = json_pack("{s:s, s:s}", "name", name, "mountPath", path);

    if (sub)
        json_object_set_new(m, "subPath", json_string(sub));
    if (ro)
        json_object_set_new(m, "readOnly", json_true());
    return m;
}

static void add_volumes(struct ctx *c, const struct spec_service *svc, struct pod *pod,
                        json_t *mounts)
{
    char *svcn = k8s_name(svc->name);

    for (size_t i = 0; i < svc->n_volumes; i++) {
        const struct spec_volume *v = &svc->volumes[i];
        char *name = NULL;

        if (strcmp(v->type, "volume") == 0 && v->source) {
            const struct spec_named_volume *nv = named_volume(c->p, v->source);
            char *claim = k8s_name(nv ? nv->name : v->source);
            name = k8s_name(v->source);
            pod_volume(pod, name, "persistentVolumeClaim", json_pack("{s:s}", "claimName", claim));
            free(claim);
        } else if (strcmp(v->type, "volume") == 0) {
            name = fit63(stk_xasprintf("%s-anon-%zu", svcn, i));
            pod_volume(pod, name, "emptyDir", json_object());
            warn(c, svc,
                 "volumes[%zu]: the anonymous volume at '%s' becomes an emptyDir, which lives "
                 "only as long as the pod",
                 i, v->target);
        } else if (strcmp(v->type, "bind") == 0 || strcmp(v->type, "npipe") == 0) {
            int pipe = strcmp(v->type, "npipe") == 0;
            const char *type = !pipe && v->create_host_path ? "DirectoryOrCreate" : "";
            name = fit63(stk_xasprintf("%s-%s-%zu", svcn, pipe ? "pipe" : "bind", i));
            pod_volume(pod, name, "hostPath",
                       json_pack("{s:s, s:s}", "path", v->source, "type", type));
            warn(c, svc,
                 "volumes[%zu]: the %s '%s' becomes a hostPath: it must exist on every node "
                 "that can run the pod",
                 i, pipe ? "named pipe" : "bind mount", v->source);
        } else if (strcmp(v->type, "tmpfs") == 0) {
            json_t *ed = json_object();
            name = fit63(stk_xasprintf("%s-tmpfs-%zu", svcn, i));
            if (c->windows)
                warn(c, svc,
                     "volumes[%zu]: tmpfs at '%s' becomes a disk emptyDir: Windows nodes "
                     "refuse emptyDir medium Memory",
                     i, v->target);
            else
                json_object_set_new(ed, "medium", json_string("Memory"));
            if (v->tmpfs_size > 0) {
                char *q = mem_quantity(v->tmpfs_size);
                json_object_set_new(ed, "sizeLimit", json_string(q));
                free(q);
            }
            pod_volume(pod, name, "emptyDir", ed);
        } else {
            warn(c, svc, "volumes[%zu]: type '%s' has no Kubernetes counterpart", i, v->type);
            continue;
        }
        json_array_append_new(mounts, mount(name, v->target, v->read_only, NULL));
        free(name);
    }
    for (size_t i = 0; svc->tmpfs && svc->tmpfs[i]; i++) {
        char *path = stk_xstrdup(svc->tmpfs[i]);
        char *colon = strchr(path, ':');
        char *name = fit63(stk_xasprintf("%s-tmp-%zu", svcn, i));
        json_t *ed = json_object();
        if (colon)
            *colon = '\0';
        if (c->windows)
            warn(c, svc,
                 "tmpfs[%zu]: '%s' becomes a disk emptyDir: Windows nodes refuse emptyDir "
                 "medium Memory",
                 i, path);
        else
            json_object_set_new(ed, "medium", json_string("Memory"));
        pod_volume(pod, name, "emptyDir", ed);
        json_array_append_new(mounts, mount(name, path, 0, NULL));
        free(name);
        free(path);
    }
    for (int cfg = 0; cfg < 2; cfg++) {
        const struct spec_file_ref *refs = cfg ? svc->configs : svc->secrets;
        size_t n = cfg ? svc->n_configs : svc->n_secrets;
        for (size_t i = 0; i < n; i++) {
            const struct spec_file_ref *f = &refs[i];
            const struct spec_file_object *o =
                cfg ? file_object(c->p->configs, c->p->n_configs, f->source)
                    : file_object(c->p->secrets, c->p->n_secrets, f->source);
            char *obj = k8s_name(o ? o->name : f->source);
            char *key = data_key(f->source);
            char *name = fit63(stk_xasprintf("%s-%s", cfg ? "config" : "secret", obj));
            json_t *item = json_pack("{s:s, s:s}", "key", key, "path", key);
            json_t *src;
            char *mk = stk_xasprintf("%s/%s", cfg ? "config" : "secret", obj);
            if (f->mode >= 0)
                json_object_set_new(item, "mode", json_integer(f->mode));
            if (cfg)
                src = json_pack("{s:s, s:[o]}", "name", obj, "items", item);
            else
                src = json_pack("{s:s, s:[o]}", "secretName", obj, "items", item);
            /* Not carried (file_objects() said so): the user creates it. Optional, the pod
             * starts without the file rather than never; a subPath mount is not updated,
             * so the warning says to restart the pods once it exists. Left out, the mount
             * would need a new export to come back. */
            if (json_object_get(c->missing, mk))
                json_object_set_new(src, "optional", json_true());
            free(mk);
            if (pod_has_volume(pod, name)) {
                free(name);
                name = fit63(stk_xasprintf("%s-%s-%zu", cfg ? "config" : "secret", obj, i));
            }
            pod_volume(pod, name, cfg ? "configMap" : "secret", src);
            json_array_append_new(mounts, mount(name, f->target, 1, key));
            if (f->uid || f->gid)
                warn(c, svc, "%s.%s: uid and gid have no counterpart on a projected file",
                     cfg ? "configs" : "secrets", f->source);
            free(name);
            free(key);
            free(obj);
        }
    }
    free(svcn);
}

static int has_probe(const struct spec_service *svc)
{
    const struct spec_healthcheck *h = &svc->healthcheck;

    return h->present && !h->disable && h->test && h->test[0] && strcmp(h->test[0], "NONE") != 0;
}

static json_t *probe(struct ctx *c, const struct spec_service *svc)
{
    const struct spec_healthcheck *h = &svc->healthcheck;
    json_t *cmd, *pr;

    if (!has_probe(svc))
        return NULL;
    if (strcmp(h->test[0], "CMD-SHELL") == 0) {
        if (c->windows)
            cmd = json_pack("[s, s, s, s]", "cmd", "/S", "/C", h->test[1] ? h->test[1] : "");
        else
            cmd = json_pack("[s, s, s]", "/bin/sh", "-c", h->test[1] ? h->test[1] : "");
    } else {
        cmd = strv_json(h->test + 1);
    }
    pr = json_pack("{s:{s:o}}", "exec", "command", cmd);
    if (h->start_period_ns > 0)
        json_object_set_new(pr, "initialDelaySeconds", json_integer(secs(h->start_period_ns, 0)));
    json_object_set_new(pr, "periodSeconds", json_integer(secs(h->interval_ns, 1)));
    json_object_set_new(pr, "timeoutSeconds", json_integer(secs(h->timeout_ns, 1)));
    json_object_set_new(pr, "failureThreshold", json_integer(h->retries > 0 ? h->retries : 3));
    return pr;
}

static json_t *resources(const struct spec_service *svc)
{
    json_t *r = json_object();

    for (int req = 0; req < 2; req++) {
        const struct spec_resources *s = req ? &svc->reservations : &svc->limits;
        json_t *o = json_object();
        if (s->cpus > 0) {
            char *q = cpu_quantity(s->cpus);
            json_object_set_new(o, "cpu", json_string(q));
            free(q);
        }
        if (s->memory > 0) {
            char *q = mem_quantity(s->memory);
            json_object_set_new(o, "memory", json_string(q));
            free(q);
        }
        if (json_object_size(o))
            json_object_set_new(r, req ? "requests" : "limits", o);
        else
            json_decref(o);
    }
    if (!json_object_size(r)) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int parse_id(const char *s, json_int_t *ret)
{
    char *end;
    long long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    v = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *ret = v;
    return 0;
}

static json_t *security(struct ctx *c, const struct spec_service *svc)
{
    json_t *sc = json_object();

    if (c->windows) {
        if (svc->user)
            json_object_set_new(sc, "windowsOptions",
                                json_pack("{s:s}", "runAsUserName", svc->user));
        if (svc->privileged)
            warn(c, svc,
                 "privileged: Windows pods cannot be privileged (HostProcess is another "
                 "model)");
        if (svc->cap_add || svc->cap_drop)
            warn(c, svc, "cap_add/cap_drop: Windows has no Linux capabilities");
        if (svc->read_only)
            warn(c, svc, "read_only: Windows pods have no read-only root file system");
    } else {
        if (svc->user) {
            char *u = stk_xstrdup(svc->user);
            char *g = strchr(u, ':');
            json_int_t uid, gid;
            if (g)
                *g++ = '\0';
            if (parse_id(u, &uid) == 0 && (!g || parse_id(g, &gid) == 0)) {
                json_object_set_new(sc, "runAsUser", json_integer(uid));
                if (g)
                    json_object_set_new(sc, "runAsGroup", json_integer(gid));
            } else {
                warn(c, svc, "user: '%s' is not numeric; Kubernetes takes a uid and gid",
                     svc->user);
            }
            free(u);
        }
        if (svc->privileged)
            json_object_set_new(sc, "privileged", json_true());
        if (svc->cap_add || svc->cap_drop) {
            json_t *caps = json_object();
            for (int drop = 0; drop < 2; drop++) {
                char **v = drop ? svc->cap_drop : svc->cap_add;
                json_t *a = json_array();
                for (size_t i = 0; v && v[i]; i++)
                    json_array_append_new(
                        a, json_string(strncmp(v[i], "CAP_", 4) == 0 ? v[i] + 4 : v[i]));
                if (json_array_size(a))
                    json_object_set_new(caps, drop ? "drop" : "add", a);
                else
                    json_decref(a);
            }
            json_object_set_new(sc, "capabilities", caps);
        }
        if (svc->read_only)
            json_object_set_new(sc, "readOnlyRootFilesystem", json_true());
    }
    if (!json_object_size(sc)) {
        json_decref(sc);
        return NULL;
    }
    return sc;
}

/* The init containers that make SVC wait for its dependencies' conditions. */
static void add_waits(struct ctx *c, const struct spec_service *svc, struct pod *pod)
{
    for (size_t i = 0; i < svc->n_depends_on; i++) {
        const struct spec_depends *d = &svc->depends_on[i];
        const struct spec_service *t = find_service(c, d->service);
        const struct unit *tu = t ? unit_of(c, t) : NULL;
        char *tn, *cmd = NULL, *name;
        int done;

        if (d->implicit || !t || !tu || !d->condition)
            continue;
        done = strcmp(d->condition, "service_completed_successfully") == 0;
        if (!done && strcmp(d->condition, "service_healthy") != 0)
            continue; /* service_started: pods start together and retry */
        if (done && !tu->job) {
            warn(c, svc,
                 "depends_on.%s: service_completed_successfully on a service that is not a "
                 "one-shot (restart: no or on-failure) has no Kubernetes counterpart",
                 d->service);
            continue;
        }
        if (!done && !has_probe(t)) {
            warn(c, svc,
                 "depends_on.%s: service_healthy on a service without a healthcheck cannot be "
                 "waited for",
                 d->service);
            continue;
        }
        if (c->windows) {
            warn(c, svc,
                 "depends_on.%s: %s cannot be waited for in a Windows pod (the waiting init "
                 "container needs a Windows image of kubectl)",
                 d->service, d->condition);
            continue;
        }
        tn = k8s_name(tu->root->name);
        if (done)
            cmd = stk_xasprintf("until kubectl wait --for=condition=complete job/%s "
                                "--timeout=60s; do sleep 2; done",
                                tn);
        else
            cmd = stk_xasprintf("until kubectl wait --for=condition=Ready pod -l %s=%s,%s=%s "
                                "--timeout=60s; do sleep 2; done",
                                LBL_NAME, tn, LBL_PART_OF, c->p->name);
        name = stk_xasprintf("wait-%s", tn);
        if (strlen(name) > 63)
            name[63] = '\0';
        json_array_append_new(pod->init,
                              json_pack("{s:s, s:s, s:[s, s, s]}", "name", name, "image",
                                        EXP_WAIT_IMAGE, "command", "/bin/sh", "-c", cmd));
        c->need_wait = 1;
        free(name);
        free(cmd);
        free(tn);
    }
}

/* Appends containerPort PORT/PROTO to PORTS unless it is there already. */
static void add_container_port(json_t *ports, int port, const char *proto)
{
    size_t k;
    json_t *e;

    json_array_foreach(ports, k, e)
    {
        if (json_integer_value(json_object_get(e, "containerPort")) == port &&
            strcmp(json_string_value(json_object_get(e, "protocol")), proto) == 0)
            return;
    }
    json_array_append_new(ports, json_pack("{s:i, s:s}", "containerPort", port, "protocol", proto));
}

/* The Kubernetes protocol of a published port: TCP, UDP or SCTP. */
static const char *port_protocol(const struct spec_port *sp)
{
    if (sp->protocol && strcmp(sp->protocol, "udp") == 0)
        return "UDP";
    if (sp->protocol && strcmp(sp->protocol, "sctp") == 0)
        return "SCTP";
    return "TCP";
}

/* Largest `expose` range carried port by port; a longer one is a warning. */
#define EXP_EXPOSE_RANGE_MAX 100

/*
 * Parses one `expose` entry ("80", "53/udp", "9000-9010/tcp") into *LO-*HI and *PROTO;
 * -1 for an unknown protocol, -2 for no port or range, -3 for a range too long to carry.
 */
static int parse_exposed(const char *entry, long *lo, long *hi, const char **proto)
{
    const char *slash = strchr(entry, '/');
    char *end;

    *proto = "TCP";
    if (slash) {
        if (strcmp(slash + 1, "udp") == 0)
            *proto = "UDP";
        else if (strcmp(slash + 1, "sctp") == 0)
            *proto = "SCTP";
        else if (strcmp(slash + 1, "tcp") != 0)
            return -1;
    }
    *lo = strtol(entry, &end, 10);
    *hi = *lo;
    if (*end == '-')
        *hi = strtol(end + 1, &end, 10);
    if (end != (slash ? slash : entry + strlen(entry)) || *lo < 1 || *hi > 65535 || *hi < *lo)
        return -2;
    if (*hi - *lo + 1 > EXP_EXPOSE_RANGE_MAX)
        return -3;
    return 0;
}

/* One `expose` entry as container ports. */
static void add_exposed(struct ctx *c, const struct spec_service *svc, json_t *ports,
                        const char *entry)
{
    const char *proto;
    long lo, hi;

    switch (parse_exposed(entry, &lo, &hi, &proto)) {
    case -1:
        warn(c, svc, "expose: '%s': unknown protocol, not carried", entry);
        return;
    case -2:
        warn(c, svc, "expose: '%s' is not a port or a port range, not carried", entry);
        return;
    case -3:
        warn(c, svc, "expose: '%s': a range of more than %d ports is not carried", entry,
             EXP_EXPOSE_RANGE_MAX);
        return;
    default:
        break;
    }
    for (long p = lo; p <= hi; p++)
        add_container_port(ports, (int)p, proto);
}

static json_t *container(struct ctx *c, const struct spec_service *svc, struct pod *pod)
{
    json_t *ct = json_object(), *env = json_array(), *ports = json_array(), *mounts = json_array();
    json_t *x;
    char *n = k8s_name(svc->name);

    json_object_set_new(ct, "name", json_string(n));
    free(n);
    json_object_set_new(ct, "image", json_string(svc->image ? svc->image : ""));
    if (svc->image && (svc->image[0] == '/' || svc->image[0] == '.'))
        warn(c, svc,
             "image: '%s' is a local image layout; push it to a registry the cluster can pull "
             "from and name it there",
             svc->image);
    if (svc->pull_policy) {
        const char *pp = strcmp(svc->pull_policy, "always") == 0  ? "Always"
                         : strcmp(svc->pull_policy, "never") == 0 ? "Never"
                         : strcmp(svc->pull_policy, "missing") == 0 ||
                                 strcmp(svc->pull_policy, "if_not_present") == 0
                             ? "IfNotPresent"
                             : NULL;
        if (pp)
            json_object_set_new(ct, "imagePullPolicy", json_string(pp));
        else
            warn(c, svc, "pull_policy: '%s' has no Kubernetes counterpart", svc->pull_policy);
    }
    if (svc->has_entrypoint && svc->entrypoint)
        json_object_set_new(ct, "command", strv_json(svc->entrypoint));
    if (svc->has_command && svc->command)
        json_object_set_new(ct, "args", strv_json(svc->command));
    if (svc->working_dir)
        json_object_set_new(ct, "workingDir", json_string(svc->working_dir));
    for (size_t i = 0; i < svc->n_environment; i++) {
        const char *v = svc->environment[i].value;
        if (!v)
            v = getenv(svc->environment[i].key);
        if (!v) {
            warn(c, svc, "environment.%s: unset here, so it is left out", svc->environment[i].key);
            continue;
        }
        json_array_append_new(env,
                              json_pack("{s:s, s:s}", "name", svc->environment[i].key, "value", v));
    }
    if (json_array_size(env))
        json_object_set_new(ct, "env", env);
    else
        json_decref(env);
    for (size_t i = 0; i < svc->n_ports; i++) {
        const struct spec_port *sp = &svc->ports[i];
        add_container_port(ports, (int)sp->target, port_protocol(sp));
    }
    for (char **e = svc->expose; e && *e; e++)
        add_exposed(c, svc, ports, *e);
    if (json_array_size(ports))
        json_object_set_new(ct, "ports", ports);
    else
        json_decref(ports);
    if ((x = resources(svc)))
        json_object_set_new(ct, "resources", x);
    if ((x = probe(c, svc))) {
        json_object_set_new(ct, "readinessProbe", x);
        json_object_set_new(ct, "livenessProbe", json_deep_copy(x));
    }
    if ((x = security(c, svc)))
        json_object_set_new(ct, "securityContext", x);
    add_volumes(c, svc, pod, mounts);
    if (json_array_size(mounts))
        json_object_set_new(ct, "volumeMounts", mounts);
    else
        json_decref(mounts);
    return ct;
}

/* Warnings about what a service sets that no pod field carries. */
static void check_unmapped(struct ctx *c, const struct spec_service *svc, int job, json_t *pod_spec,
                           const struct spec_service *owner)
{
    /* A sidecar (network_mode: service:X) joins its owner's pod: what is the pod's is the
     * owner's, and a sidecar's differing pod-level field is not carried. */
    if (owner) {
        const char *r1 = svc->restart ? svc->restart : "no",
                   *r2 = owner->restart ? owner->restart : "no";
        if (svc->replicas != owner->replicas)
            warn(c, svc,
                 "deploy.replicas: %d is not carried: a sidecar runs in each pod of '%s' (%d)",
                 svc->replicas, owner->name, owner->replicas);
        if (strcmp(r1, r2) != 0)
            warn(c, svc, "restart: '%s' is not carried: the pod's policy is that of '%s' ('%s')",
                 r1, owner->name, r2);
        if (svc->stop_grace_period_ns != owner->stop_grace_period_ns)
            warn(c, svc,
                 "stop_grace_period: not carried: the pod's terminationGracePeriodSeconds is that "
                 "of '%s'",
                 owner->name);
    }
    if (!job && svc->restart_policy.present && svc->restart_policy.condition &&
        strcmp(svc->restart_policy.condition, "any") != 0)
        warn(c, svc,
             "deploy.restart_policy.condition: '%s' is not carried: a Deployment restarts its "
             "containers always",
             svc->restart_policy.condition);
    if (svc->healthcheck.present && !svc->healthcheck.disable &&
        !(svc->healthcheck.test && svc->healthcheck.test[0]))
        warn(c, svc,
             "healthcheck: no test given (the image's HEALTHCHECK is not known to the export), "
             "no probe");
    if (has_probe(svc) &&
        (svc->healthcheck.interval_ns % 1000000000 || svc->healthcheck.timeout_ns % 1000000000 ||
         svc->healthcheck.start_period_ns % 1000000000))
        warn(c, svc,
             "healthcheck: sub-second durations rounded up to whole seconds (probes count in "
             "seconds)");
    if (has_probe(svc) && svc->healthcheck.start_interval_ns > 0)
        warn(c, svc,
             "healthcheck.start_interval: not carried (probes have one period; a startupProbe "
             "could carry it)");
    if (svc->update_config.present && svc->update_config.failure_action &&
        strcmp(svc->update_config.failure_action, "rollback") == 0)
        warn(c, svc,
             "deploy.update_config.failure_action: rollback is not carried (a Deployment stops "
             "a failing rollout; `kubectl rollout undo` rolls it back)");
    if (svc->pid) {
        if (owner && strcmp(svc->pid, "host") == 0)
            warn(c, svc, "pid: 'host' is not carried: hostPID would apply to the whole pod of '%s'",
                 owner->name);
        else if (strcmp(svc->pid, "host") == 0 && !c->windows)
            json_object_set_new(pod_spec, "hostPID", json_true());
        else
            warn(c, svc, "pid: '%s' cannot be expressed%s", svc->pid,
                 c->windows ? " on Windows pods (no hostPID, no shared process namespace)"
                            : " (only the whole pod can share a process namespace)");
    }
    if (svc->ipc && strcmp(svc->ipc, "private") != 0) {
        if (owner && strcmp(svc->ipc, "host") == 0)
            warn(c, svc, "ipc: 'host' is not carried: hostIPC would apply to the whole pod of '%s'",
                 owner->name);
        else if (strcmp(svc->ipc, "host") == 0 && !c->windows)
            json_object_set_new(pod_spec, "hostIPC", json_true());
        else
            warn(c, svc, "ipc: '%s' sharing cannot be expressed", svc->ipc);
    }
    if (svc->n_devices)
        warn(c, svc, "devices: a device needs a device plugin on the node; not carried");
    if (svc->shm_size)
        warn(c, svc, "shm_size: not carried (mount an emptyDir at /dev/shm)");
    if (svc->n_sysctls)
        warn(c, svc, "sysctls: not carried (pod sysctls need the kubelet's allow-list)");
    if (svc->dns)
        warn(c, svc, "dns: not carried (pods use the cluster DNS)");
    if (svc->stop_signal)
        warn(c, svc, "stop_signal: '%s' is not carried; pods are stopped with SIGTERM%s",
             svc->stop_signal, c->windows ? " (CTRL_SHUTDOWN_EVENT on Windows)" : "");
    if (svc->container_name)
        warn(c, svc, "container_name: pods are named by their controller");
    if (svc->volumes_from)
        warn(c, svc, "volumes_from: not carried (share a volume instead)");
    if (svc->mac_address)
        warn(c, svc, "mac_address: not carried");
    if (svc->domainname)
        warn(c, svc, "domainname: not carried");
    if (svc->init == 1)
        warn(c, svc, "init: not carried (use shareProcessNamespace or an init in the image)");
    if (svc->limits.pids)
        warn(c, svc, "deploy.resources.limits.pids: not carried (a kubelet setting)");
    if (svc->platform)
        warn(c, svc, "platform: '%s' is not carried; pods run on the nodes' architecture",
             svc->platform);
    if (svc->network_mode && strcmp(svc->network_mode, "host") == 0) {
        if (c->windows)
            warn(c, svc, "network_mode: host is only for HostProcess pods on Windows");
        else
            json_object_set_new(pod_spec, "hostNetwork", json_true());
    } else if (svc->network_mode && strncmp(svc->network_mode, "service:", 8) != 0) {
        warn(c, svc, "network_mode: '%s' cannot be expressed", svc->network_mode);
    }
    for (size_t i = 0; i < svc->n_network_attachments; i++) {
        const struct spec_service_network *a = &svc->network_attachments[i];
        if (a->ipv4_address || a->ipv6_address)
            warn(c, svc, "networks.%s: a static address is not carried", a->key);
        for (size_t k = 0; k < c->p->n_networks; k++)
            if (strcmp(c->p->networks[k].key, a->key) == 0 && c->p->networks[k].internal)
                warn(c, svc,
                     "networks.%s: an internal network is not carried (the cluster network is "
                     "flat; write a NetworkPolicy)",
                     a->key);
    }
    if (c->windows && svc->extra_hosts)
        warn(c, svc, "extra_hosts: Windows pods have no hostAliases");
    if (svc->isolation && strcmp(svc->isolation, "hyperv") == 0 && !c->windows)
        warn(c, svc,
             "isolation: hyperv has no standard RuntimeClass on Linux nodes (a VM runtime such "
             "as Kata has its own)");
}

/* ---- objects -------------------------------------------------------------------------------- */

/*
 * Windows: U->builds, the node builds on which the images of all of U's containers run
 * under the pod's isolation (the root's): the intersection of each known image's set.
 * -1 (ERR) when it is empty, as no node could run the pod.
 */
static int unit_builds(struct ctx *c, struct unit *u, struct stk_err *err)
{
    const struct spec_service *root = u->root;

    for (size_t m = 0; m < u->n; m++) {
        const struct spec_service *svc = u->members[m];
        char *b = image_build(c, svc);
        json_t *set;
        if (!b)
            continue;
        set = node_builds(b, is_hyperv(root));
        if (!u->builds) {
            u->builds = set;
        } else {
            json_t *both = json_array(), *x, *y;
            size_t i, k;
            json_array_foreach(u->builds, i, x) json_array_foreach(set, k, y) if (json_equal(x, y))
                json_array_append(both, x);
            json_decref(u->builds);
            json_decref(set);
            u->builds = both;
            if (!json_array_size(both)) {
                int r = stk_err_set_at(err, STK_ESPEC, svc->pos.file, svc->pos.line, svc->pos.col,
                                       "service '%s': image: no Windows node build runs both its "
                                       "build %s and the images of '%s', whose pod it joins",
                                       svc->name, b, root->name);
                free(b);
                return r;
            }
        }
        free(b);
    }
    return 0;
}

static json_t *pod_spec(struct ctx *c, const struct unit *u, char **comment)
{
    const struct spec_service *root = u->root;
    struct pod pod = {json_array(), json_array()};
    json_t *spec = json_object(), *containers = json_array(), *aliases = json_array();
    struct stk_buf why = STK_BUF_INIT;
    size_t n_sidecars = 0; /* native sidecars in pod.init */

    if (c->windows) {
        json_t *ns = json_pack("{s:s}", "kubernetes.io/os", "windows");
        json_t *builds = u->builds;
        json_object_set_new(spec, "os", json_pack("{s:s}", "name", "windows"));
        json_object_set_new(spec, "runtimeClassName",
                            json_string(is_hyperv(root) ? EXP_RC_HYPERV : EXP_RC_PROCESS));
        if (builds && json_array_size(builds) == 1)
            json_object_set_new(ns, LBL_WINDOWS_BUILD, json_deep_copy(json_array_get(builds, 0)));
        json_object_set_new(spec, "nodeSelector", ns);
        if (builds && json_array_size(builds) > 1)
            json_object_set_new(spec, "affinity",
                                json_pack("{s:{s:{s:[{s:[{s:s, s:s, s:O}]}]}}}", "nodeAffinity",
                                          "requiredDuringSchedulingIgnoredDuringExecution",
                                          "nodeSelectorTerms", "matchExpressions", "key",
                                          LBL_WINDOWS_BUILD, "operator", "In", "values", builds));
        for (size_t i = 1; i < u->n; i++)
            if (is_hyperv(u->members[i]) != is_hyperv(root))
                warn(c, u->members[i],
                     "isolation: differs from '%s', whose pod it joins (one RuntimeClass per pod)",
                     root->name);
        if (is_hyperv(root) && !c->hyperv_said) {
            stk_diag_add(&c->res->notes, STK_DIAG_WARNING, root->pos.file, root->pos.line,
                         root->pos.col,
                         "service '%s': isolation: hyperv: upstream Kubernetes documents Hyper-V "
                         "isolation of Windows containers as unsupported; containerd 1.7+ serves "
                         "the '" EXP_RC_HYPERV "' handler",
                         root->name);
            c->hyperv_said = 1;
        }
    }
    if (root->hostname) {
        char *h = k8s_name(root->hostname);
        if (strcmp(h, root->hostname) == 0)
            json_object_set_new(spec, "hostname", json_string(h));
        else
            warn(c, root, "hostname: '%s' is not a DNS label; not carried", root->hostname);
        free(h);
    }
    for (size_t m = 0; m < u->n; m++) {
        const struct spec_service *svc = u->members[m];
        if (u->job && m > 0) {
            /*
             * A Job completes when all its containers have exited, and a sidecar does not
             * exit: it runs as a native sidecar (an init container with restartPolicy
             * Always, Kubernetes 1.29+), which starts before the main container, after its
             * own waits, and is stopped when the main container has completed.
             */
            json_t *sc;
            add_waits(c, svc, &pod);
            sc = container(c, svc, &pod);
            json_object_set_new(sc, "restartPolicy", json_string("Always"));
            json_array_append_new(pod.init, sc);
            n_sidecars++;
            warn(c, svc,
                 "network_mode: service:%s: a native sidecar of the Job's pod (an init "
                 "container with restartPolicy Always), which needs Kubernetes 1.29 or later",
                 svc->network_mode + 8);
        } else {
            json_array_append_new(containers, container(c, svc, &pod));
            add_waits(c, svc, &pod);
        }
        check_unmapped(c, svc, u->job, spec, m > 0 ? root : NULL);
        for (size_t i = 0; !c->windows && svc->extra_hosts && svc->extra_hosts[i]; i++) {
            char *h = stk_xstrdup(svc->extra_hosts[i]);
            char *ip = strchr(h, ':');
            if (ip) {
                unsigned char addr[16];
                *ip++ = '\0';
                /* hostAliases[].ip must be an IP address: Docker's "host-gateway"
                 * (the host as seen from the container) has no pod equivalent. */
                if (uv_inet_pton(AF_INET, ip, addr) != 0 && uv_inet_pton(AF_INET6, ip, addr) != 0) {
                    warn(c, svc,
                         "extra_hosts: '%s:%s' is not carried (hostAliases need an IP address)", h,
                         ip);
                    free(h);
                    continue;
                }
                json_array_append_new(aliases, json_pack("{s:s, s:[s]}", "ip", ip, "hostnames", h));
            }
            free(h);
        }
        if (m > 0)
            stk_buf_printf(&why,
                           "%s'%s' runs in the pod of '%s': network_mode: service:%s shares "
                           "one network namespace, which in Kubernetes is one pod; its ports "
                           "are the pod's",
                           why.len ? "\n" : "", svc->name, root->name, svc->network_mode + 8);
    }
    if (c->need_wait && json_array_size(pod.init) > n_sidecars)
        json_object_set_new(spec, "serviceAccountName", json_string(c->wait_sa));
    if (u->job) {
        int onfail = restart_on_failure(root);
        json_object_set_new(spec, "restartPolicy", json_string(onfail ? "OnFailure" : "Never"));
    }
    json_object_set_new(spec, "terminationGracePeriodSeconds",
                        json_integer(secs(root->stop_grace_period_ns, 0)));
    if (json_array_size(aliases))
        json_object_set_new(spec, "hostAliases", aliases);
    else
        json_decref(aliases);
    if (json_array_size(pod.init))
        json_object_set_new(spec, "initContainers", pod.init);
    else
        json_decref(pod.init);
    json_object_set_new(spec, "containers", containers);
    if (json_array_size(pod.volumes))
        json_object_set_new(spec, "volumes", pod.volumes);
    else
        json_decref(pod.volumes);
    *comment = why.len ? stk_buf_detach(&why, NULL) : NULL;
    stk_buf_release(&why);
    return spec;
}

/* The labels of a Deployment or Job: selector labels and the service's valid labels. */
static void service_labels(struct ctx *c, const struct spec_service *svc, json_t *labels,
                           json_t *annotations)
{
    for (size_t i = 0; i < svc->n_labels; i++) {
        const struct spec_env *l = &svc->labels[i];
        if (!label_key_ok(l->key))
            warn(c, svc, "labels.%s: not a Kubernetes label key; not carried", l->key);
        else if (label_value_ok(l->value))
            json_object_set_new(labels, l->key, json_string(l->value));
        else
            json_object_set_new(annotations, l->key, json_string(l->value));
    }
}

static void workload(struct ctx *c, const struct unit *u)
{
    const struct spec_service *svc = u->root;
    char *name = k8s_name(svc->name), *comment = NULL;
    json_t *labels = object_labels(c, svc), *annotations = json_object();
    json_t *tlabels, *spec, *tmeta, *obj, *meta, *ps;

    if (k8s_name_shortened(svc->name))
        warn(c, svc, "name: renamed '%s' in Kubernetes (names are at most 63 characters)", name);
    else if (strcmp(name, svc->name) != 0)
        warn(c, svc,
             "name: renamed '%s' in Kubernetes (not a DNS label); peers must use the new name",
             name);

    service_labels(c, svc, labels, annotations);
    ps = pod_spec(c, u, &comment);
    tlabels = json_deep_copy(labels);
    json_object_del(tlabels, LBL_MANAGED);
    tmeta = json_pack("{s:o}", "labels", tlabels);
    meta = metadata(c, name, 1, labels);
    if (json_object_size(annotations)) {
        json_object_set_new(meta, "annotations", json_deep_copy(annotations));
        json_object_set_new(tmeta, "annotations", annotations);
    } else {
        json_decref(annotations);
    }
    if (u->job) {
        spec = json_pack("{s:i}", "backoffLimit", job_backoff(svc));
        if (svc->replicas > 1) {
            json_object_set_new(spec, "completions", json_integer(svc->replicas));
            json_object_set_new(spec, "parallelism", json_integer(svc->replicas));
        }
        json_object_set_new(spec, "template",
                            json_pack("{s:o, s:o}", "metadata", tmeta, "spec", ps));
        obj = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "batch/v1", "kind", "Job", "metadata",
                        meta, "spec", spec);
        add_doc(c, "Job", name, comment, obj);
        free(name);
        return;
    }
    if (svc->restart && strncmp(svc->restart, "on-failure", 10) == 0)
        warn(c, svc, "restart: '%s' is not carried: a Deployment restarts its containers always",
             svc->restart);
    spec = json_pack("{s:i, s:{s:o}}", "replicas", svc->replicas, "selector", "matchLabels",
                     selector_labels(c, svc));
    if (svc->update_config.present) {
        const struct spec_update_config *uc = &svc->update_config;
        int start_first = uc->order && strcmp(uc->order, "start-first") == 0;
        json_t *n = uc->parallelism > 0 ? json_integer(uc->parallelism) : json_string("100%");
        /* parallelism: 0 updates all at once: all the pods down (stop-first) or up
         * (start-first) at once. */
        json_object_set_new(spec, "strategy",
                            json_pack("{s:s, s:{s:o, s:o}}", "type", "RollingUpdate",
                                      "rollingUpdate", "maxSurge",
                                      start_first ? n : json_integer(0), "maxUnavailable",
                                      start_first ? json_integer(0) : n));
        if (uc->delay_ns > 0) {
            json_object_set_new(spec, "minReadySeconds", json_integer(secs(uc->delay_ns, 0)));
            if (uc->delay_ns % 1000000000)
                warn(c, svc,
                     "deploy.update_config.delay: rounded up to %lld s (minReadySeconds is whole "
                     "seconds)",
                     (long long)secs(uc->delay_ns, 0));
        }
        if (uc->monitor_ns > 0)
            warn(c, svc,
                 "deploy.update_config.monitor: not carried (a Deployment has no "
                 "post-update monitor; progressDeadlineSeconds bounds a rollout)");
        if (uc->max_failure_ratio > 0)
            warn(c, svc,
                 "deploy.update_config.max_failure_ratio: not carried (a Deployment "
                 "tolerates no failed update)");
        if (uc->failure_action && strcmp(uc->failure_action, "rollback") != 0 &&
            strcmp(uc->failure_action, "pause") != 0)
            warn(c, svc,
                 "deploy.update_config.failure_action: '%s' is not carried (a Deployment stops "
                 "a failing rollout)",
                 uc->failure_action);
    }
    json_object_set_new(spec, "template", json_pack("{s:o, s:o}", "metadata", tmeta, "spec", ps));
    obj = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "apps/v1", "kind", "Deployment",
                    "metadata", meta, "spec", spec);
    add_doc(c, "Deployment", name, comment, obj);
    free(name);
}

/*
 * The ports of a pod: every member's, once per (container port, protocol);
 * with PUBLISHED the host ports are the Service ports, and with NODE_PORTS
 * those in the NodePort range are also the node ports.
 */
/* Non-zero when the host address IP is a loopback one (127.0.0.0/8, ::1). */
static int loopback(const char *ip)
{
    return ip && (strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
                  strcmp(ip, "[::1]") == 0 || strcmp(ip, "localhost") == 0);
}

/*
 * The ports of U's pod as Service ports: the container ports, or with PUBLISHED the
 * published ones (and with NODE_PORTS their nodePort) of the Service SVC_NAME, which
 * warns (C) when two mappings meet in one Service port or one node port.
 */
/* Adds the port SP (ports[I] of SVC, PROTO) to PORTS unless it is there: see pod_ports(). */
static void add_service_port(struct ctx *c, const struct spec_service *svc, json_t *ports, size_t i,
                             const struct spec_port *sp, const char *proto, int published,
                             int node_ports, const char *svc_name)
{
    unsigned port = published && sp->published ? sp->published : sp->target;
    const char *pfx = proto[0] == 'U' ? "udp" : proto[0] == 'S' ? "sctp" : "tcp";
    char *pname = stk_xasprintf("%s-%u", pfx, port);
    size_t k;
    json_t *e, *same = NULL;

    json_array_foreach(ports, k, e) if (strcmp(json_string_value(json_object_get(e, "name")),
                                               pname) == 0) same = e;
    if (same) {
        /* Docker told the mappings apart by host_ip, which a Service cannot. */
        if (published &&
            json_integer_value(json_object_get(same, "targetPort")) != (json_int_t)sp->target)
            warn(c, svc,
                 "ports[%zu]: %s port %u to %u is dropped: the Service '%s' already maps "
                 "it to %lld (host_ip is not carried)",
                 i, proto, port, sp->target, svc_name,
                 (long long)json_integer_value(json_object_get(same, "targetPort")));
    } else {
        json_t *pe = json_pack("{s:s, s:i, s:i, s:s}", "name", pname, "port", (int)port,
                               "targetPort", (int)sp->target, "protocol", proto);
        if (published && node_ports && sp->published >= 30000 && sp->published <= 32767 &&
            !sp->published_end) {
            /*
             * A node port is one port on every node, so two Services cannot have it
             * (the API server refuses the second). Docker allowed the two mappings
             * only on different host addresses, which a cluster has no equivalent for;
             * the stack is valid, so it is not refused: the later Service lets the
             * cluster pick its node port, as for a port outside the NodePort range.
             */
            char key[16];
            const char *owner;
            snprintf(key, sizeof(key), "%u", sp->published);
            owner = json_string_value(json_object_get(c->node_ports, key));
            if (owner && strcmp(owner, svc_name) != 0)
                warn(c, svc,
                     "ports[%zu]: node port %u is taken by the Service '%s'; the cluster "
                     "picks the node port of '%s'",
                     i, sp->published, owner, svc_name);
            else {
                json_object_set_new(pe, "nodePort", json_integer(sp->published));
                json_object_set_new(c->node_ports, key, json_string(svc_name));
            }
        }
        json_array_append_new(ports, pe);
    }
    free(pname);
}

static json_t *pod_ports(struct ctx *c, const struct unit *u, int published, int node_ports,
                         const char *svc_name)
{
    json_t *ports = json_array();

    for (size_t m = 0; m < u->n; m++)
        for (size_t i = 0; i < u->members[m]->n_ports; i++) {
            const struct spec_port *sp = &u->members[m]->ports[i];
            const char *proto = port_protocol(sp);
            if (published && loopback(sp->host_ip))
                continue; /* only the host reached it: services() warned */
            add_service_port(c, u->members[m], ports, i, sp, proto, published, node_ports,
                             svc_name);
        }
    /* In Docker every port of a container is reachable by its name, exposed or not. */
    for (size_t m = 0; !published && m < u->n; m++)
        for (char **e = u->members[m]->expose; e && *e; e++) {
            const char *proto;
            long lo, hi;
            if (parse_exposed(*e, &lo, &hi, &proto) < 0)
                continue; /* container() warned */
            for (long p = lo; p <= hi; p++) {
                struct spec_port sp;
                memset(&sp, 0, sizeof(sp));
                sp.target = (unsigned)p;
                add_service_port(c, u->members[m], ports, 0, &sp, proto, 0, 0, svc_name);
            }
        }
    return ports;
}

static void service_object(struct ctx *c, const struct unit *u, const char *name, const char *type,
                           json_t *ports)
{
    json_t *spec = json_object();

    if (type)
        json_object_set_new(spec, "type", json_string(type));
    if (!json_array_size(ports))
        json_object_set_new(spec, "clusterIP", json_string("None"));
    json_object_set_new(spec, "selector", selector_labels(c, u->root));
    if (json_array_size(ports))
        json_object_set_new(spec, "ports", ports);
    else
        json_decref(ports);
    add_doc(c, "Service", name, NULL,
            json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Service", "metadata",
                      metadata(c, name, 1, object_labels(c, u->root)), "spec", spec));
}

static void services(struct ctx *c, const struct unit *u, struct stk_strv *names)
{
    const struct spec_service *svc = u->root;
    char *name = k8s_name(svc->name);
    int any_published = 0;
    struct stk_strv own = STK_STRV_INIT; /* this pod's Service names */

    json_t *p = pod_ports(c, u, 0, 0, name);

    if (u->job && !json_array_size(p)) {
        json_decref(p);
        free(name);
        return;
    }
    service_object(c, u, name, json_array_size(p) ? "ClusterIP" : NULL, p);
    stk_strv_push(&own, name);
    for (size_t i = 0; i < svc->n_network_attachments; i++)
        for (size_t k = 0;
             svc->network_attachments[i].aliases && svc->network_attachments[i].aliases[k]; k++) {
            const char *alias = svc->network_attachments[i].aliases[k];
            char *an = k8s_name(alias);
            if (stk_strv_contains(&own, an)) {
                free(an);
                continue; /* this pod's already */
            }
            stk_strv_push(&own, an);
            if (stk_strv_contains(names, an)) {
                warn(c, svc,
                     "networks: alias '%s' is also another service's name or alias; the "
                     "Service '%s' resolves to one of them only",
                     alias, an);
                free(an);
                continue;
            }
            if (strcmp(an, alias) != 0)
                warn(c, svc,
                     "networks: alias '%s' is renamed '%s' in Kubernetes (not a DNS label); "
                     "peers must use the new name",
                     alias, an);
            stk_strv_push(names, an);
            p = pod_ports(c, u, 0, 0, an);
            service_object(c, u, an, json_array_size(p) ? "ClusterIP" : NULL, p);
            free(an);
        }
    for (size_t m = 0; m < u->n; m++)
        for (size_t i = 0; i < u->members[m]->n_ports; i++) {
            const struct spec_port *sp = &u->members[m]->ports[i];
            if (loopback(sp->host_ip)) {
                /* Published on the host's loopback, reachable from that host only: a node
                 * or load-balancer port would open it to every client of the cluster. */
                warn(c, u->members[m],
                     "ports[%zu]: host_ip '%s' is loopback: not published beyond the ClusterIP "
                     "Service (reach it with `kubectl port-forward service/%s %u:%u`)",
                     i, sp->host_ip, name, sp->published ? sp->published : sp->target, sp->target);
                continue;
            }
            any_published = 1;
            if (sp->host_ip)
                warn(c, u->members[m], "ports[%zu]: host_ip '%s' is not carried", i, sp->host_ip);
            if (sp->published_end)
                warn(c, u->members[m],
                     "ports[%zu]: the host port range %u-%u is not carried; the cluster picks "
                     "the port",
                     i, sp->published, sp->published_end);
            else if (c->o->publish_as == EXP_PUBLISH_NODEPORT && sp->published &&
                     (sp->published < 30000 || sp->published > 32767))
                warn(c, u->members[m],
                     "ports[%zu]: published port %u is outside the NodePort range 30000-32767; "
                     "the cluster picks the node port",
                     i, sp->published);
        }
    if (any_published) {
        char *pn = fit63(stk_xasprintf("%s-published", name));
        service_object(c, u, pn,
                       c->o->publish_as == EXP_PUBLISH_LOADBALANCER ? "LoadBalancer" : "NodePort",
                       pod_ports(c, u, 1, c->o->publish_as == EXP_PUBLISH_NODEPORT, pn));
        free(pn);
    }
    stk_strv_release(&own);
    free(name);
}

/* S (N bytes) in base64 (RFC 4648, padded), as Secret data and ConfigMap binaryData hold it. */
static char *base64(const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *r = stk_xmalloc((n + 2) / 3 * 4 + 1), *p = r;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *p++ = tab[v >> 18 & 63];
        *p++ = tab[v >> 12 & 63];
        *p++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *p = '\0';
    return r;
}

/*
 * Reads the content of a secret or config into *DATA (*LEN bytes; *BINARY when it is not
 * UTF-8 text). -1 with a warning when it cannot be read here: the user creates the object
 * NAME in the cluster, and the pods mount it optional (see add_volumes()).
 */
static int file_content(struct ctx *c, const struct spec_file_object *o, const char *what,
                        const char *name, char **data, size_t *len, int *binary)
{
    struct stk_err err = STK_ERR_INIT;
    const char *kind = strcmp(what, "config") == 0 ? "ConfigMap" : "Secret";

    *binary = 0;
    if (o->content || (o->environment && getenv(o->environment))) {
        *data = stk_xstrdup(o->content ? o->content : getenv(o->environment));
        *len = strlen(*data);
        return 0;
    }
    if (!o->environment && o->file && stk_file_read(o->file, data, len, &err) == 0) {
        json_t *s = memchr(*data, '\0', *len) ? NULL : json_stringn(*data, *len);
        *binary = !s;
        json_decref(s);
        return 0;
    }
    stk_err_clear(&err);
    if (o->environment)
        stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, o->pos.file, o->pos.line, o->pos.col,
                     "%s '%s': the environment variable %s is not set; not carried: create "
                     "the %s '%s' yourself (pods mount it optional: they start without it; "
                     "restart them once it exists)",
                     what, o->key, o->environment, kind, name);
    else
        stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, o->pos.file, o->pos.line, o->pos.col,
                     "%s '%s': its content cannot be read here; not carried: create the %s "
                     "'%s' yourself (pods mount it optional: they start without it; restart "
                     "them once it exists)",
                     what, o->key, kind, name);
    return -1;
}

static void file_objects(struct ctx *c, int cfg)
{
    const struct spec_file_object *v = cfg ? c->p->configs : c->p->secrets;
    size_t n = cfg ? c->p->n_configs : c->p->n_secrets;
    const char *what = cfg ? "config" : "secret";

    for (size_t i = 0; i < n; i++) {
        const struct spec_file_object *o = &v[i];
        char *name, *key, *content;
        size_t len;
        int binary;
        json_t *obj;
        if (o->external) {
            stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, o->pos.file, o->pos.line, o->pos.col,
                         "%s '%s': external: it must already exist in the cluster", what, o->key);
            continue;
        }
        name = k8s_name(o->name);
        if (file_content(c, o, what, name, &content, &len, &binary) < 0) {
            char *mk = stk_xasprintf("%s/%s", what, name);
            json_object_set_new(c->missing, mk, json_true());
            free(mk);
            free(name);
            continue;
        }
        key = data_key(o->key);
        obj = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", cfg ? "ConfigMap" : "Secret",
                        "metadata", metadata(c, name, 1, object_labels(c, NULL)));
        if (!cfg)
            json_object_set_new(obj, "type", json_string("Opaque"));
        if (binary) {
            /* Not text: base64, in the field that holds it (data is text in a ConfigMap). */
            char *b = base64((const unsigned char *)content, len);
            json_object_set_new(obj, cfg ? "binaryData" : "data", json_pack("{s:s}", key, b));
            free(b);
        } else {
            json_object_set_new(obj, cfg ? "data" : "stringData", json_pack("{s:s}", key, content));
        }
        add_doc(c, cfg ? "ConfigMap" : "Secret", name, NULL, obj);
        free(name);
        free(key);
        free(content);
    }
}

static int volumes(struct ctx *c, struct stk_err *err)
{
    for (size_t i = 0; i < c->p->n_volumes; i++) {
        const struct spec_named_volume *v = &c->p->volumes[i];
        const char *size = c->o->volume_size ? c->o->volume_size : "1Gi";
        char *name;
        if (v->external) {
            stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, v->pos.file, v->pos.line, v->pos.col,
                         "volume '%s': external: a PersistentVolumeClaim of that name must "
                         "already exist",
                         v->key);
            continue;
        }
        for (size_t k = 0; k < v->n_labels; k++)
            if (strcmp(v->labels[k].key, EXP_SIZE_LABEL) == 0)
                size = v->labels[k].value;
        if (!quantity_ok(size))
            return stk_err_set_at(err, STK_ESPEC, v->pos.file, v->pos.line, v->pos.col,
                                  "volume '%s': size '%s' is not a Kubernetes quantity", v->key,
                                  size);
        if (quantity_zero(size))
            return stk_err_set_at(err, STK_ESPEC, v->pos.file, v->pos.line, v->pos.col,
                                  "volume '%s': size '%s' is zero (a PersistentVolumeClaim "
                                  "needs more than 0 bytes)",
                                  v->key, size);
        if (v->driver && strcmp(v->driver, "local") != 0)
            stk_diag_add(&c->res->warnings, STK_DIAG_WARNING, v->pos.file, v->pos.line, v->pos.col,
                         "volume '%s': driver '%s' is not carried (a StorageClass is)", v->key,
                         v->driver);
        name = k8s_name(v->name);
        add_doc(c, "PersistentVolumeClaim", name, NULL,
                json_pack("{s:s, s:s, s:o, s:{s:[s], s:{s:{s:s}}}}", "apiVersion", "v1", "kind",
                          "PersistentVolumeClaim", "metadata",
                          metadata(c, name, 1, object_labels(c, NULL)), "spec", "accessModes",
                          "ReadWriteOnce", "resources", "requests", "storage", size));
        free(name);
    }
    return 0;
}

static void runtime_classes(struct ctx *c)
{
    int used[2] = {0, 0};

    for (size_t i = 0; i < c->n_units; i++)
        used[is_hyperv(c->units[i].root)] = 1;
    for (int h = 0; h < 2; h++) {
        const char *n = h ? EXP_RC_HYPERV : EXP_RC_PROCESS;
        if (!used[h])
            continue;
        add_doc(c, "RuntimeClass", n,
                stk_xstrdup(h ? "Hyper-V isolation: each pod in its own utility VM (containerd "
                                "1.7+; upstream Kubernetes documents it as unsupported)"
                              : "process isolation: a server silo on the node's kernel"),
                json_pack("{s:s, s:s, s:o, s:s, s:{s:{s:s}}}", "apiVersion", "node.k8s.io/v1",
                          "kind", "RuntimeClass", "metadata",
                          metadata(c, n, 0, object_labels(c, NULL)), "handler", n, "scheduling",
                          "nodeSelector", "kubernetes.io/os", "windows"));
    }
}

static void wait_rbac(struct ctx *c)
{
    /*
     * A RoleBinding subject of kind ServiceAccount must name its namespace (the API server
     * refuses one without), and a manifest cannot say "the namespace this is applied in".
     * Without --namespace the objects carry none, so `kubectl apply -n X` puts them in X
     * while the subject still says "default": the waits would be forbidden. Export with
     * --namespace X for that; a note says so.
     */
    const char *ns = c->o->namespace_ ? c->o->namespace_ : "default";
    const char *sa = c->wait_sa;

    if (!c->o->namespace_)
        stk_diag_add(&c->res->notes, STK_DIAG_WARNING,
                     c->p->files && c->p->files[0] ? c->p->files[0] : NULL, 0, 0,
                     "the RoleBinding '%s' binds the ServiceAccount in namespace 'default' "
                     "(a subject must name one): to apply in another namespace, export with "
                     "--namespace NS rather than `kubectl apply -n NS`",
                     sa);

    add_doc(c, "ServiceAccount", sa,
            stk_xstrdup("the init containers that wait for depends_on conditions read pods and "
                        "jobs with this account"),
            json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "ServiceAccount", "metadata",
                      metadata(c, sa, 1, object_labels(c, NULL))));
    add_doc(c, "Role", sa, NULL,
            json_pack("{s:s, s:s, s:o, s:[{s:[s], s:[s], s:[s, s, s]}, {s:[s], s:[s], "
                      "s:[s, s, s]}]}",
                      "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
                      metadata(c, sa, 1, object_labels(c, NULL)), "rules", "apiGroups", "",
                      "resources", "pods", "verbs", "get", "list", "watch", "apiGroups", "batch",
                      "resources", "jobs", "verbs", "get", "list", "watch"));
    add_doc(c, "RoleBinding", sa, NULL,
            json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}", "apiVersion",
                      "rbac.authorization.k8s.io/v1", "kind", "RoleBinding", "metadata",
                      metadata(c, sa, 1, object_labels(c, NULL)), "roleRef", "apiGroup",
                      "rbac.authorization.k8s.io", "kind", "Role", "name", sa, "subjects", "kind",
                      "ServiceAccount", "name", sa, "namespace", ns));
}

/* Whether any pod will have a waiting init container (decided before the objects are built). */
static int any_wait(struct ctx *c)
{
    if (c->windows)
        return 0;
    for (size_t i = 0; i < c->p->n_services; i++)
        for (size_t k = 0; k < c->p->services[i].n_depends_on; k++) {
            const struct spec_depends *d = &c->p->services[i].depends_on[k];
            const struct spec_service *t = find_service(c, d->service);
            const struct unit *tu = t ? unit_of(c, t) : NULL;
            if (d->implicit || !tu || !d->condition)
                continue;
            if (strcmp(d->condition, "service_completed_successfully") == 0 && tu->job)
                return 1;
            if (strcmp(d->condition, "service_healthy") == 0 && has_probe(t))
                return 1;
        }
    return 0;
}

int exp_kubernetes(const struct spec_project *project, const struct exp_opts *opts,
                   struct exp_result *ret, struct stk_err *err)
{
    struct ctx c;
    struct stk_strv names = STK_STRV_INIT;
    int r = 0;

    if (!project || !opts || !ret)
        return stk_err_set(err, STK_EINVAL, 0, "no project, options or result given");
    if (opts->volume_size && !quantity_ok(opts->volume_size))
        return stk_err_set(err, STK_EUSAGE, 0, "--volume-size: '%s' is not a Kubernetes quantity",
                           opts->volume_size);
    if (opts->volume_size && quantity_zero(opts->volume_size))
        return stk_err_set(err, STK_EUSAGE, 0,
                           "--volume-size: '%s' is zero (a PersistentVolumeClaim needs more "
                           "than 0 bytes)",
                           opts->volume_size);
    if (opts->namespace_) {
        char *n = k8s_name(opts->namespace_);
        int ok = strcmp(n, opts->namespace_) == 0;
        free(n);
        if (!ok)
            return stk_err_set(err, STK_EUSAGE, 0, "--namespace: '%s' is not a DNS label",
                               opts->namespace_);
    }
    memset(&c, 0, sizeof(c));
    stk_strv_init(&names);
    c.p = project;
    c.o = opts;
    c.res = ret;
    c.windows = opts->platform == SPEC_PLATFORM_WINDOWS;
    c.units = stk_xcalloc(project->n_services ? project->n_services : 1, sizeof(*c.units));
    c.svc_unit = stk_xcalloc(project->n_services ? project->n_services : 1, sizeof(*c.svc_unit));
    c.by_name = json_object();
    c.node_ports = json_object();
    c.missing = json_object();
    {
        char *pn = k8s_name(project->name);
        c.wait_sa = stk_xasprintf("%s-wait", pn);
        free(pn);
    }
    for (size_t i = 0; i < project->n_services; i++) {
        json_object_set_new(c.by_name, project->services[i].name, json_integer((json_int_t)i));
        c.svc_unit[i] = SIZE_MAX;
    }
    for (size_t i = 0; i < project->n_services; i++) {
        const struct spec_service *s = &project->services[i];
        if (pod_root(&c, s) != s)
            continue;
        c.svc_unit[i] = c.n_units;
        c.units[c.n_units].root = s;
        c.n_units++;
    }
    /* Members: count each pod's, then fill them in file order. */
    for (size_t i = 0; i < project->n_services; i++) {
        c.svc_unit[i] = c.svc_unit[pod_root(&c, &project->services[i]) - project->services];
        if (c.svc_unit[i] < c.n_units)
            c.units[c.svc_unit[i]].n++;
    }
    for (size_t i = 0; i < c.n_units; i++) {
        c.units[i].members = stk_xcalloc(c.units[i].n, sizeof(*c.units[i].members));
        c.units[i].n = 0;
    }
    for (size_t i = 0; i < project->n_services; i++)
        if (c.svc_unit[i] < c.n_units) {
            struct unit *u = &c.units[c.svc_unit[i]];
            u->members[u->n++] = &project->services[i];
        }
    /* A one-shot: `restart: no` and some service waits for it to complete successfully. */
    for (size_t i = 0; i < project->n_services; i++)
        for (size_t k = 0; k < project->services[i].n_depends_on; k++) {
            const struct spec_depends *d = &project->services[i].depends_on[k];
            const struct spec_service *t = find_service(&c, d->service);
            if (t && d->condition && strcmp(d->condition, "service_completed_successfully") == 0 &&
                (restart_is_no(t) || restart_on_failure(t)) && pod_root(&c, t) == t)
                c.units[c.svc_unit[t - project->services]].job = 1;
        }
    /* Roots first in each pod: the joiners were appended in file order. */
    for (size_t i = 0; i < c.n_units; i++)
        for (size_t m = 0; m < c.units[i].n; m++)
            if (c.units[i].members[m] == c.units[i].root && m != 0) {
                memmove(&c.units[i].members[1], &c.units[i].members[0],
                        m * sizeof(c.units[i].members[0]));
                c.units[i].members[0] = c.units[i].root;
            }
    c.need_wait = any_wait(&c);

    for (size_t i = 0; c.windows && i < c.n_units; i++)
        if ((r = unit_builds(&c, &c.units[i], err)) < 0)
            goto out;
    if (opts->namespace_)
        add_doc(&c, "Namespace", opts->namespace_, NULL,
                json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                          metadata(&c, opts->namespace_, 0, object_labels(&c, NULL))));
    if (c.windows)
        runtime_classes(&c);
    if (c.need_wait)
        wait_rbac(&c);
    file_objects(&c, 0);
    file_objects(&c, 1);
    if ((r = volumes(&c, err)) < 0)
        goto out;
    /* Every pod's Service name first, so that an alias never takes a service's name. */
    for (size_t i = 0; i < c.n_units; i++) {
        char *n = k8s_name(c.units[i].root->name);
        if (stk_strv_contains(&names, n)) {
            const struct spec_service *s = c.units[i].root;
            r = stk_err_set_at(err, STK_ESPEC, s->pos.file, s->pos.line, s->pos.col,
                               "service '%s': its Kubernetes name '%s' is also another "
                               "service's; rename one",
                               s->name, n);
            free(n);
            goto out;
        }
        stk_strv_push(&names, n);
        free(n);
    }
    for (size_t i = 0; i < c.n_units; i++) {
        workload(&c, &c.units[i]);
        services(&c, &c.units[i], &names);
    }
    /* Two objects of one kind and name would be one object in the cluster (the second
     * overwriting the first), whether written to a folder or to a stream: refuse both. */
    {
        json_t *seen = json_object();
        for (size_t i = 0; i < ret->n_docs && r == 0; i++) {
            char *key = stk_xasprintf("%s/%s", ret->docs[i].kind, ret->docs[i].name);
            if (json_object_get(seen, key))
                r = stk_err_set(err, STK_ESPEC, 0,
                                "two objects are both %s '%s' (a service, alias, volume, secret "
                                "or config name and a derived name meet); rename one",
                                ret->docs[i].kind, ret->docs[i].name);
            else
                json_object_set_new(seen, key, json_true());
            free(key);
        }
        json_decref(seen);
        if (r < 0)
            goto out;
    }
out:
    for (size_t i = 0; i < c.n_units; i++) {
        free(c.units[i].members);
        json_decref(c.units[i].builds);
    }
    free(c.units);
    free(c.svc_unit);
    json_decref(c.by_name);
    json_decref(c.node_ports);
    json_decref(c.missing);
    free(c.wait_sa);
    exp__yaml_free(c.yaml);
    stk_strv_release(&names);
    return r;
}

void exp_result_release(struct exp_result *result)
{
    if (!result)
        return;
    for (size_t i = 0; i < result->n_docs; i++) {
        free(result->docs[i].kind);
        free(result->docs[i].name);
        free(result->docs[i].comment);
        free(result->docs[i].yaml);
    }
    free(result->docs);
    stk_diag_release(&result->warnings);
    stk_diag_release(&result->notes);
    memset(result, 0, sizeof(*result));
}
