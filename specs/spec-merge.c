/*
 * spec-merge.c - merging Compose trees (Compose Specification 13-merge.md,
 * compose-go override/merge.go and override/uncity.go):
 *   - mappings merge key by key and scalars are replaced;
 *   - sequences append, then entries with the same identity are collapsed,
 *     the later one winning (volumes by target, ports by ip/published/target/
 *     protocol, secrets/configs by target, environment/labels/... by key);
 *   - environment, labels, sysctls, ... merge as KEY=VALUE lists whatever
 *     form each file uses; depends_on and networks merge as mappings;
 *   - command, entrypoint and healthcheck.test are replaced;
 *   - `!reset` removes a value and `!override` replaces it wholesale.
 */
#include "specs/spec-internal.h"

#include <ctype.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"

#define MAX_DEPTH 16

struct mpath {
    const char *seg[MAX_DEPTH];
    size_t n;
};

static int has_tag(const struct spec__node *n, const char *tag)
{
    return n->tag && strcmp(n->tag, tag) == 0;
}

/* Matches PATH against PATTERN ("services.*.environment"); '*' matches one segment. */
static int path_is(const struct mpath *path, const char *pattern)
{
    size_t i = 0;
    const char *p = pattern;

    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (i >= path->n)
            return 0;
        if (!(len == 1 && p[0] == '*') &&
            (strlen(path->seg[i]) != len || strncmp(path->seg[i], p, len) != 0))
            return 0;
        i++;
        p += len;
        if (*p == '.')
            p++;
    }
    return i == path->n;
}

static const char *const to_sequence[] = {
    "services.*.environment",
    "services.*.labels",
    "services.*.sysctls",
    "services.*.annotations",
    "services.*.build.args",
    "services.*.build.labels",
    "services.*.deploy.labels",
    "networks.*.labels",
    "volumes.*.labels",
    "services.*.volumes.*.volume.labels",
    "services.*.extra_hosts",
    "services.*.build.extra_hosts",
    "services.*.build.additional_contexts",
};

/*
 * Keys whose scalar form is a one-entry list: a scalar merges with a list by appending
 * (compose-go override/merge.go mergeToSequence).
 */
static const char *const scalar_to_sequence[] = {
    "services.*.env_file", "services.*.label_file", "services.*.dns",
    "services.*.dns_opt",  "services.*.dns_search", "services.*.tmpfs",
};

static const char *const replaced[] = {
    "services.*.command",
    "services.*.entrypoint",
    "services.*.healthcheck.test",
};

static const char *const to_mapping[] = {
    "services.*.depends_on",
    "services.*.networks",
    "services.*.models",
};

static int path_in(const struct mpath *path, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (path_is(path, list[i]))
            return 1;
    return 0;
}

/* Converts a mapping {K: V} into a sequence ["K=V"] (null V: "K"), in place. */
static void map_to_kv_sequence(struct spec__node *n)
{
    struct spec__node **keys = n->keys, **items = n->items;
    size_t count = n->n;

    spec__node_touch(n);
    n->kind = SPEC__K_SEQ;
    n->keys = NULL;
    n->items = NULL;
    n->n = n->alloc = 0;
    for (size_t i = 0; i < count; i++) {
        struct spec__node *e;
        if (items[i]->kind == SPEC__K_SEQ) {
            /* {host: [ip1, ip2]} (extra_hosts): one entry per value */
            for (size_t j = 0; j < items[i]->n; j++) {
                const struct spec__node *v = items[i]->items[j];
                char *kv = stk_xasprintf("%s=%s", keys[i]->str, v->str ? v->str : "");
                spec__node_append_take(n, NULL, spec__node_new_scalar(SPEC__K_STR, kv, v));
                free(kv);
            }
            spec__node_free(keys[i]);
            spec__node_free(items[i]);
            continue;
        }
        if (items[i]->kind == SPEC__K_NULL) {
            e = spec__node_new_scalar(SPEC__K_STR, keys[i]->str, items[i]);
        } else {
            char *kv = stk_xasprintf("%s=%s", keys[i]->str, items[i]->str ? items[i]->str : "");
            e = spec__node_new_scalar(SPEC__K_STR, kv, items[i]);
            free(kv);
        }
        e->line = items[i]->kind == SPEC__K_NULL ? keys[i]->line : items[i]->line;
        e->col = items[i]->kind == SPEC__K_NULL ? keys[i]->col : items[i]->col;
        spec__node_append_take(n, NULL, e);
        spec__node_free(keys[i]);
        spec__node_free(items[i]);
    }
    free(keys);
    free(items);
}

/*
 * Converts a sequence of names into a mapping {name: null}, in place; with DEPENDS_ON
 * each value is the long form of a list entry, {condition: service_started, required:
 * true} (compose-go override/merge.go mergeDependsOn), so that it merges with a long one.
 */
static void seq_to_name_mapping(struct spec__node *n, int depends_on)
{
    struct spec__node **items = n->items;
    size_t count = n->n;

    spec__node_touch(n);
    n->kind = SPEC__K_MAP;
    n->items = NULL;
    n->n = n->alloc = 0;
    for (size_t i = 0; i < count; i++) {
        if (!items[i]->str || spec__node_index(n, items[i]->str) >= 0) {
            spec__node_free(items[i]);
            continue;
        }
        struct spec__node *v = spec__node_new(depends_on ? SPEC__K_MAP : SPEC__K_NULL, items[i]);
        if (depends_on) {
            spec__node_append_take(v, spec__node_new_scalar(SPEC__K_STR, "condition", items[i]),
                                   spec__node_new_scalar(SPEC__K_STR, "service_started", items[i]));
            spec__node_append_take(v, spec__node_new_scalar(SPEC__K_STR, "required", items[i]),
                                   spec__node_new_scalar(SPEC__K_BOOL, "true", items[i]));
        }
        spec__node_append_take(n, spec__node_new_scalar(SPEC__K_STR, items[i]->str, items[i]), v);
        spec__node_free(items[i]);
    }
    free(items);
}

/* Target of a short volume spec, as format.ParseVolume finds it (no validation). */
static char *short_volume_target(const char *s)
{
    struct stk_buf buf = STK_BUF_INIT;
    char *fields[3] = {NULL, NULL, NULL};
    size_t n = 0, len = strlen(s);
    char *res;

    if (len <= 2)
        return stk_xstrdup(s);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':' && !(buf.len == 1 && isalpha((unsigned char)buf.buf[0]))) {
            if (n < 3)
                fields[n++] = stk_buf_detach(&buf, NULL);
            else
                stk_buf_reset(&buf);
            continue;
        }
        stk_buf_putc(&buf, s[i]);
    }
    if (n < 3)
        fields[n++] = stk_buf_detach(&buf, NULL);
    stk_buf_release(&buf);
    res = n == 1 ? fields[0] : fields[1];
    for (size_t i = 0; i < 3; i++)
        if (fields[i] != res)
            free(fields[i]);
    return res ? res : stk_xstrdup("");
}

static const char *map_str(const struct spec__node *m, const char *key)
{
    const struct spec__node *v = spec__node_get(m, key);

    return v && v->str ? v->str : "";
}

/* The identity of a sequence entry at PATH for de-duplication; NULL when entries never merge. */
static char *entry_key(const struct mpath *path, const struct spec__node *e)
{
    if (path_is(path, "services.*.volumes")) {
        if (e->kind == SPEC__K_STR)
            return short_volume_target(e->str);
        if (e->kind == SPEC__K_MAP)
            return stk_xstrdup(map_str(e, "target"));
        return NULL;
    }
    if (path_is(path, "services.*.ports")) {
        if (e->kind == SPEC__K_MAP)
            return stk_xasprintf("%s:%s:%s/%s", map_str(e, "host_ip"), map_str(e, "published"),
                                 map_str(e, "target"),
                                 *map_str(e, "protocol") ? map_str(e, "protocol") : "tcp");
        return e->str ? stk_xstrdup(e->str) : NULL;
    }
    if (path_is(path, "services.*.secrets") || path_is(path, "services.*.configs")) {
        int secrets = path_is(path, "services.*.secrets");
        const char *src = e->kind == SPEC__K_MAP ? map_str(e, "source") : e->str;
        const char *tgt = e->kind == SPEC__K_MAP ? map_str(e, "target") : "";
        if (!src)
            return NULL;
        if (*tgt)
            return stk_xstrdup(tgt);
        return secrets ? stk_xasprintf("/run/secrets/%s", src) : stk_xasprintf("/%s", src);
    }
    if (path_is(path, "services.*.devices")) {
        if (e->kind == SPEC__K_MAP)
            return stk_xstrdup(map_str(e, "target"));
        return e->str ? short_volume_target(e->str) : NULL;
    }
    if (path_is(path, "services.*.env_file")) {
        if (e->kind == SPEC__K_MAP)
            return stk_xstrdup(map_str(e, "path"));
        return e->str ? stk_xstrdup(e->str) : NULL;
    }
    if (path_is(path, "services.*.environment") || path_is(path, "services.*.labels") ||
        path_is(path, "services.*.sysctls") || path_is(path, "services.*.annotations") ||
        path_is(path, "networks.*.labels") || path_is(path, "volumes.*.labels") ||
        path_is(path, "services.*.deploy.labels") || path_is(path, "services.*.build.args") ||
        path_is(path, "services.*.build.labels")) {
        const char *eq;
        if (!e->str)
            return NULL;
        eq = strchr(e->str, '=');
        return eq ? stk_xstrndup(e->str, (size_t)(eq - e->str)) : stk_xstrdup(e->str);
    }
    if (path_is(path, "services.*.extra_hosts") || path_is(path, "services.*.build.extra_hosts")) {
        /* only the same host and address twice collapse: a host may have several */
        char *k, *sep;
        if (!e->str)
            return NULL;
        k = stk_xstrdup(e->str);
        sep = strchr(k, '=') ? NULL : strchr(k, ':');
        if (sep)
            *sep = '=';
        return k;
    }
    if (path_is(path, "services.*.cap_add") || path_is(path, "services.*.cap_drop") ||
        path_is(path, "services.*.dns") || path_is(path, "services.*.dns_search") ||
        path_is(path, "services.*.dns_opt") || path_is(path, "services.*.profiles") ||
        path_is(path, "services.*.tmpfs") || path_is(path, "services.*.networks.*.aliases") ||
        path_is(path, "services.*.expose") || path_is(path, "services.*.security_opt") ||
        path_is(path, "services.*.volumes_from") || path_is(path, "services.*.links")) {
        return e->str ? stk_xstrdup(e->str) : NULL;
    }
    return NULL;
}

/* Collapses entries of the sequence N with the same identity; the later one wins in place. */
static void enforce_unicity(const struct mpath *path, struct spec__node *n)
{
    char **keys;

    if (n->kind != SPEC__K_SEQ || n->n < 2)
        return;
    keys = stk_xcalloc(n->n, sizeof(char *));
    for (size_t i = 0; i < n->n; i++)
        keys[i] = entry_key(path, n->items[i]);
    for (size_t i = 0; i < n->n; i++) {
        if (!keys[i])
            continue;
        for (size_t j = i + 1; j < n->n; j++) {
            if (!keys[j] || strcmp(keys[i], keys[j]) != 0)
                continue;
            /* Entry j replaces entry i, keeping i's place. */
            spec__node_free(n->items[i]);
            n->items[i] = n->items[j];
            free(keys[j]);
            for (size_t k = j + 1; k < n->n; k++) {
                n->items[k - 1] = n->items[k];
                keys[k - 1] = keys[k];
            }
            n->n--;
            j--;
        }
    }
    for (size_t i = 0; i < n->n; i++)
        free(keys[i]);
    free(keys);
}

/*
 * For KEY=VALUE paths: entries of the mapping OVER tagged !reset remove that
 * key from BASE (mapping or KEY=VALUE sequence) and are dropped from OVER.
 */
static void apply_key_resets(const struct mpath *path, struct spec__node *base,
                             struct spec__node *over)
{
    for (size_t i = over->n; i-- > 0;) {
        const char *key;
        if (!has_tag(over->items[i], "!reset"))
            continue;
        key = over->keys[i]->str;
        if (base->kind == SPEC__K_MAP) {
            long j = spec__node_index(base, key);
            if (j >= 0)
                spec__node_remove(base, (size_t)j);
        } else if (base->kind == SPEC__K_SEQ) {
            for (size_t j = base->n; j-- > 0;) {
                char *k = entry_key(path, base->items[j]);
                if (k && strcmp(k, key) == 0)
                    spec__node_remove(base, j);
                free(k);
            }
        }
        spec__node_remove(over, i);
    }
}

/* Turns the scalar N into a one-entry sequence holding it, in place. */
static void scalar_to_seq(struct spec__node *n)
{
    struct spec__node *e = spec__node_new_scalar(n->kind, n->str, n);

    spec__node_touch(n);
    if (!n->str_inline)
        free(n->str);
    n->str = NULL;
    n->str_inline = 0;
    n->kind = SPEC__K_SEQ;
    spec__node_append_take(n, NULL, e);
}

static void normalise_for_merge(const struct mpath *path, struct spec__node *n)
{
    if (n->kind == SPEC__K_STR &&
        path_in(path, scalar_to_sequence, STK_ARRAY_SIZE(scalar_to_sequence)))
        scalar_to_seq(n);
    else if (n->kind == SPEC__K_MAP && path_in(path, to_sequence, STK_ARRAY_SIZE(to_sequence)))
        map_to_kv_sequence(n);
    else if (n->kind == SPEC__K_SEQ && path_in(path, to_mapping, STK_ARRAY_SIZE(to_mapping)))
        seq_to_name_mapping(n, path_is(path, "services.*.depends_on"));
}

static void merge_node(struct spec__node *base, struct spec__node *over, struct mpath *path);

static void merge_map(struct spec__node *base, struct spec__node *over, struct mpath *path)
{
    for (size_t i = 0; i < over->n; i++) {
        struct spec__node *k = over->keys[i], *v = over->items[i];
        long j = spec__node_index(base, k->str);

        if (has_tag(v, "!reset")) {
            if (j >= 0)
                spec__node_remove(base, (size_t)j);
            continue;
        }
        if (j < 0) {
            spec__node_append_take(base, spec__node_dup(k), spec__node_dup(v));
            continue;
        }
        if (path->n >= MAX_DEPTH)
            continue;
        path->seg[path->n++] = k->str;
        if (!has_tag(v, "!override") && !path_in(path, replaced, STK_ARRAY_SIZE(replaced))) {
            struct spec__node *copy = spec__node_dup(v);
            if (copy->kind == SPEC__K_MAP &&
                path_in(path, to_sequence, STK_ARRAY_SIZE(to_sequence)))
                apply_key_resets(path, base->items[j], copy);
            normalise_for_merge(path, base->items[j]);
            normalise_for_merge(path, copy);
            if (base->items[j]->kind == copy->kind &&
                (copy->kind == SPEC__K_MAP || copy->kind == SPEC__K_SEQ)) {
                merge_node(base->items[j], copy, path);
                spec__node_free(copy);
                path->n--;
                continue;
            }
            spec__node_free(copy);
        }
        path->n--;
        spec__node_free(base->items[j]);
        base->items[j] = spec__node_dup(v);
        free(base->items[j]->tag);
        base->items[j]->tag = NULL;
    }
}

static void merge_node(struct spec__node *base, struct spec__node *over, struct mpath *path)
{
    if (base->kind == SPEC__K_MAP && over->kind == SPEC__K_MAP) {
        merge_map(base, over, path);
    } else if (base->kind == SPEC__K_SEQ && over->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < over->n; i++)
            if (!has_tag(over->items[i], "!reset"))
                spec__node_append_take(base, NULL, spec__node_dup(over->items[i]));
        enforce_unicity(path, base);
    }
}

void spec__merge_take(struct spec__node *base, struct spec__node *override)
{
    struct mpath path = {.n = 0};

    merge_node(base, override, &path);
    spec__node_free(override);
}

void spec__merge_at_take(struct spec__node *base, struct spec__node *override,
                         const char *const *segments, size_t n_segments)
{
    struct mpath path = {.n = 0};

    for (size_t i = 0; i < n_segments && i < MAX_DEPTH; i++)
        path.seg[path.n++] = segments[i];
    merge_node(base, override, &path);
    spec__node_free(override);
}

void spec__strip_reset(struct spec__node *root)
{
    if (root->kind != SPEC__K_MAP && root->kind != SPEC__K_SEQ)
        return;
    for (size_t i = root->n; i-- > 0;) {
        if (has_tag(root->items[i], "!reset"))
            spec__node_remove(root, i);
        else
            spec__strip_reset(root->items[i]);
    }
}
