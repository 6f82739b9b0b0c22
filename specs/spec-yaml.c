/*
 * spec-yaml.c - YAML text to a positioned node tree, with libyaml's event
 * API. Anchors and aliases are expanded into copies (with a budget, so an
 * alias bomb is an error instead of an out-of-memory abort), merge keys
 * ("<<", YAML 1.1 merge type as go-yaml v3 supports it) are applied with the
 * explicit keys winning, plain scalars are typed with the YAML 1.2 core
 * schema (go-yaml v3 decoding into interface{}), and duplicate keys are errors
 * (go-yaml v3: "mapping key ... already defined").
 */
#include "specs/spec-internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/stk-alloc.h"

/* Maximum number of nodes one file may expand to (aliases included). */
#define SPEC__YAML_MAX_NODES 2000000

/*
 * Maximum nesting of collections (go-yaml allows 10000; 1000 keeps sanitizer builds within
 * the stack): deeper documents are refused, so that
 * every recursive walk of the tree (free, copy, merge, interpolation, output) is bounded.
 */
#define SPEC__YAML_MAX_DEPTH 1000

struct yanchor {
    char *name;
    struct spec__node *node; /* owned copy: the original may be dropped (duplicate key, merge) */
};

struct yparser {
    yaml_parser_t p;
    const char *file;
    const char *data; /* the input, for messages that quote it */
    size_t len;
    struct stk_diag *diag;
    struct yanchor *anchors;
    size_t n_anchors;
    size_t alloc_anchors;
    size_t n_nodes;
    int depth;
    int failed;
};

const char *spec__kind_name(enum spec__kind kind)
{
    switch (kind) {
    case SPEC__K_STR:
        return "string";
    case SPEC__K_INT:
        return "integer";
    case SPEC__K_FLOAT:
        return "number";
    case SPEC__K_BOOL:
        return "boolean";
    case SPEC__K_NULL:
        return "null";
    case SPEC__K_SEQ:
        return "sequence";
    case SPEC__K_MAP:
        return "mapping";
    }
    return "value";
}

struct spec__node *spec__node_new(enum spec__kind kind, const struct spec__node *pos)
{
    struct spec__node *n = stk_new0(struct spec__node);

    n->kind = kind;
    if (pos) {
        n->file = pos->file;
        n->line = pos->line;
        n->col = pos->col;
    }
    return n;
}

struct spec__node *spec__node_new_scalar(enum spec__kind kind, const char *str,
                                         const struct spec__node *pos)
{
    struct spec__node *n = spec__node_new(kind, pos);

    n->str = stk_xstrdup(str ? str : "");
    return n;
}

void spec__node_set_str_take(struct spec__node *node, char *str)
{
    if (!node->str_inline)
        free(node->str);
    node->str = str;
    node->str_inline = 0;
}

void spec__node_free(struct spec__node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n; i++) {
        if (node->keys)
            spec__node_free(node->keys[i]);
        spec__node_free(node->items[i]);
    }
    free(node->keys);
    free(node->items);
    if (!node->str_inline)
        free(node->str);
    free(node->tag);
    spec__strmap_free(node->index);
    free(node);
}

struct spec__node *spec__node_dup(const struct spec__node *node)
{
    struct spec__node *n;

    if (!node)
        return NULL;
    n = spec__node_new(node->kind, node);
    n->str = stk_xstrdup(node->str);
    n->tag = stk_xstrdup(node->tag);
    n->rebased = node->rebased;
    for (size_t i = 0; i < node->n; i++)
        spec__node_append_take(n, node->kind == SPEC__K_MAP ? spec__node_dup(node->keys[i]) : NULL,
                               spec__node_dup(node->items[i]));
    return n;
}

void spec__node_append_take(struct spec__node *node, struct spec__node *key,
                            struct spec__node *value)
{
    if (node->index && key && key->str)
        spec__strmap_put(node->index, key->str, node->n);
    if (node->n == node->alloc) {
        node->alloc = node->alloc ? node->alloc * 2 : 4;
        node->items = stk_xrealloc(node->items, node->alloc * sizeof(*node->items));
        if (node->kind == SPEC__K_MAP)
            node->keys = stk_xrealloc(node->keys, node->alloc * sizeof(*node->keys));
    }
    if (node->kind == SPEC__K_MAP)
        node->keys[node->n] = key;
    else
        spec__node_free(key);
    node->items[node->n++] = value;
}

void spec__node_remove(struct spec__node *node, size_t i)
{
    if (i >= node->n)
        return;
    spec__node_touch(node);
    if (node->keys)
        spec__node_free(node->keys[i]);
    spec__node_free(node->items[i]);
    for (size_t j = i + 1; j < node->n; j++) {
        if (node->keys)
            node->keys[j - 1] = node->keys[j];
        node->items[j - 1] = node->items[j];
    }
    node->n--;
}

/* Maps with more keys than this get a hash index (a 1000-service file stays linear). */
#define SPEC__INDEX_MIN 16

void spec__node_touch(struct spec__node *node)
{
    spec__strmap_free(node->index);
    node->index = NULL;
}

long spec__node_index(const struct spec__node *node, const char *key)
{
    if (!node || node->kind != SPEC__K_MAP)
        return -1;
    if (node->n > SPEC__INDEX_MIN) {
        struct spec__node *mut = (struct spec__node *)node; /* the index is a cache */
        if (!mut->index) {
            mut->index = spec__strmap_new(node->n);
            for (size_t i = 0; i < node->n; i++)
                if (node->keys[i]->str)
                    spec__strmap_put(mut->index, node->keys[i]->str, i);
        }
        return spec__strmap_get(node->index, key);
    }
    for (size_t i = 0; i < node->n; i++)
        if (node->keys[i]->str && strcmp(node->keys[i]->str, key) == 0)
            return (long)i;
    return -1;
}

struct spec__node *spec__node_get(const struct spec__node *node, const char *key)
{
    long i = spec__node_index(node, key);

    return i < 0 ? NULL : node->items[i];
}

struct spec__node *spec__node_get_key(const struct spec__node *node, const char *key)
{
    long i = spec__node_index(node, key);

    return i < 0 ? NULL : node->keys[i];
}

static enum spec__kind resolve_plain(const char *s);

static int is_int(const char *s)
{
    const char *p = s;

    if (*p == '-' || *p == '+')
        p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o') && p[2]) {
        const char *digits = p[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567";
        return strspn(p + 2, digits) == strlen(p + 2) && p == s;
    }
    return *p && strspn(p, "0123456789") == strlen(p);
}

static int is_float(const char *s)
{
    const char *p = s;
    int digits = 0;

    if (strcmp(s, ".inf") == 0 || strcmp(s, "-.inf") == 0 || strcmp(s, "+.inf") == 0 ||
        strcmp(s, ".Inf") == 0 || strcmp(s, ".INF") == 0 || strcmp(s, ".nan") == 0 ||
        strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
        return 1;
    if (*p == '-' || *p == '+')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

enum spec__kind spec__yaml_plain_kind(const char *s)
{
    return resolve_plain(s);
}

static enum spec__kind resolve_plain(const char *s)
{
    /* Most scalars are plain words: only these first characters can start another type. */
    if (*s && !strchr("~nNtTfF0123456789+-.", *s))
        return SPEC__K_STR;
    if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return SPEC__K_NULL;
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
        strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return SPEC__K_BOOL;
    if (is_int(s))
        return SPEC__K_INT;
    if (is_float(s))
        return SPEC__K_FLOAT;
    return SPEC__K_STR;
}

static void yerr_at(struct yparser *yp, const yaml_mark_t *m, const char *fmt, ...)
    STK_PRINTF(3, 4);
static void yerr_at(struct yparser *yp, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, (int)m->line + 1, (int)m->column + 1, "%s",
                 msg);
    free(msg);
    yp->failed = 1;
}

static int next_event(struct yparser *yp, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&yp->p, ev)) {
        const char *problem = yp->p.problem ? yp->p.problem : "syntax error";
        if (yp->p.error == YAML_MEMORY_ERROR) {
            yerr_at(yp, &yp->p.problem_mark, "yaml: out of memory");
        } else if (yp->p.context && strcmp(problem, "found unknown escape character") == 0 &&
                   yp->p.problem_mark.index + 1 < yp->len) {
            /*
             * libyaml's mark is the backslash: name the character after it (one UTF-8
             * sequence) and where the scalar starts, as PyYAML does.
             */
            const char *c = yp->data + yp->p.problem_mark.index + 1;
            int n = 1;
            while (n < 4 && c + n < yp->data + yp->len && ((unsigned char)c[n] & 0xC0) == 0x80)
                n++;
            yerr_at(yp, &yp->p.problem_mark,
                    "yaml: found unknown escape character '%.*s' in the double-quoted scalar "
                    "that starts at line %zu, column %zu%s",
                    n, c, yp->p.context_mark.line + 1, yp->p.context_mark.column + 1,
                    c[0] == '$' ? " ('$' needs no backslash in YAML; in Compose '$$' is a "
                                  "literal '$')"
                                : "");
        } else if (yp->p.context) {
            char ctx[256];
            snprintf(ctx, sizeof(ctx), "%s", yp->p.context);
            yerr_at(yp, &yp->p.problem_mark, "yaml: %s at line %zu: %s", ctx,
                    yp->p.context_mark.line + 1, problem);
        } else {
            yerr_at(yp, &yp->p.problem_mark, "yaml: %s", problem);
        }
        return -1;
    }
    return 0;
}

static void node_set_pos(struct yparser *yp, struct spec__node *n, const yaml_event_t *ev)
{
    n->file = yp->file;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
}

static size_t node_count(const struct spec__node *n)
{
    size_t c = 1;

    for (size_t i = 0; i < n->n; i++)
        c += node_count(n->items[i]) + (n->keys ? 1 : 0);
    return c;
}

/* The nesting of N's collections (0 for a scalar); N is at most SPEC__YAML_MAX_DEPTH deep. */
static int node_depth(const struct spec__node *n)
{
    int d = 0;

    if (n->kind != SPEC__K_MAP && n->kind != SPEC__K_SEQ)
        return 0;
    for (size_t i = 0; i < n->n; i++) {
        int c = node_depth(n->items[i]);
        if (c > d)
            d = c;
    }
    return d + 1;
}

static void anchor_add(struct yparser *yp, const char *name, struct spec__node *node)
{
    for (size_t i = 0; i < yp->n_anchors; i++)
        if (strcmp(yp->anchors[i].name, name) == 0) {
            /* A later anchor of the same name wins. */
            spec__node_free(yp->anchors[i].node);
            yp->anchors[i].node = spec__node_dup(node);
            return;
        }
    if (yp->n_anchors == yp->alloc_anchors) {
        yp->alloc_anchors = yp->alloc_anchors ? yp->alloc_anchors * 2 : 8;
        yp->anchors = stk_xrealloc(yp->anchors, yp->alloc_anchors * sizeof(*yp->anchors));
    }
    yp->anchors[yp->n_anchors].name = stk_xstrdup(name);
    yp->anchors[yp->n_anchors++].node = spec__node_dup(node);
}

static struct spec__node *parse_node(struct yparser *yp, yaml_event_t *ev);

/* The node anchored as NAME (the latest definition), or NULL. */
static const struct spec__node *anchor_find(const struct yparser *yp, const char *name)
{
    for (size_t i = yp->n_anchors; i-- > 0;)
        if (strcmp(yp->anchors[i].name, name) == 0)
            return yp->anchors[i].node;
    return NULL;
}

/* "null", "a string", ... for messages. */
static const char *kind_article(enum spec__kind kind)
{
    switch (kind) {
    case SPEC__K_NULL:
        return "null";
    case SPEC__K_INT:
        return "an integer";
    case SPEC__K_MAP:
        return "a mapping";
    default:
        break;
    }
    return kind == SPEC__K_STR ? "a string" : kind == SPEC__K_SEQ ? "a sequence" : "a scalar";
}

static const char *tag_keep(const char *tag)
{
    if (!tag)
        return NULL;
    if (strcmp(tag, "!reset") == 0 || strcmp(tag, "!override") == 0)
        return tag;
    return NULL;
}

static struct spec__node *parse_scalar(struct yparser *yp, yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    size_t len = ev->data.scalar.length;
    /* One allocation for the node and its text: most of a Compose file is scalars. */
    struct spec__node *n = stk_xcalloc(1, sizeof(*n) + len + 1);

    n->kind = SPEC__K_STR;
    node_set_pos(yp, n, ev);
    n->str = (char *)(n + 1);
    n->str_inline = 1;
    memcpy(n->str, value, len);
    if (memchr(value, '\0', len)) {
        /* "\0" or "\u0000" in a double-quoted scalar: the values are C strings. */
        yerr_at(yp, &ev->start_mark, "yaml: a scalar cannot contain a NUL character");
        free(n);
        return NULL;
    }
    n->tag = stk_xstrdup(tag_keep(tag));
    if (tag && !n->tag) {
        /* An explicit standard tag decides the type; other tags read as text. */
        if (strcmp(tag, YAML_INT_TAG) == 0 && is_int(n->str))
            n->kind = SPEC__K_INT;
        else if (strcmp(tag, YAML_FLOAT_TAG) == 0 && (is_float(n->str) || is_int(n->str)))
            n->kind = SPEC__K_FLOAT;
        else if (strcmp(tag, YAML_BOOL_TAG) == 0 && resolve_plain(n->str) == SPEC__K_BOOL)
            n->kind = SPEC__K_BOOL;
        else if (strcmp(tag, YAML_NULL_TAG) == 0)
            n->kind = SPEC__K_NULL;
        else if (strcmp(tag, YAML_STR_TAG) != 0 && strcmp(tag, "!") != 0 &&
                 ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            n->kind = resolve_plain(n->str);
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        n->kind = resolve_plain(n->str);
    }
    return n;
}

static void apply_merge(struct spec__node *map, const struct spec__node *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (spec__node_index(map, src->keys[i]->str) < 0)
            spec__node_append_take(map, spec__node_dup(src->keys[i]),
                                   spec__node_dup(src->items[i]));
}

static struct spec__node *parse_mapping(struct yparser *yp, yaml_event_t *start)
{
    struct spec__node *map = spec__node_new(SPEC__K_MAP, NULL);
    struct spec__node **merges = NULL;
    size_t n_merges = 0;
    char *alias = NULL; /* the anchor a "<<" value names, when it is an alias */
    yaml_event_t ev;

    node_set_pos(yp, map, start);
    map->tag = stk_xstrdup(tag_keep((const char *)start->data.mapping_start.tag));
    for (;;) {
        struct spec__node *key, *value;

        if (next_event(yp, &ev) < 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        key = parse_node(yp, &ev);
        yaml_event_delete(&ev);
        if (!key)
            goto fail;
        if (next_event(yp, &ev) < 0) {
            spec__node_free(key);
            goto fail;
        }
        if (ev.type == YAML_ALIAS_EVENT && strcmp(key->str, "<<") == 0) {
            free(alias);
            alias = stk_xstrdup((const char *)ev.data.alias.anchor);
        }
        value = parse_node(yp, &ev);
        yaml_event_delete(&ev);
        if (!value) {
            spec__node_free(key);
            goto fail;
        }
        if (key->kind == SPEC__K_SEQ || key->kind == SPEC__K_MAP) {
            stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, key->line, key->col,
                         "yaml: a mapping key must be a scalar");
            yp->failed = 1;
            spec__node_free(key);
            spec__node_free(value);
            continue;
        }
        if (strcmp(key->str, "<<") == 0 && key->kind == SPEC__K_STR) {
            if (value->kind != SPEC__K_MAP && value->kind != SPEC__K_SEQ) {
                /* At the "<<" key (go-yaml and PyYAML name the mapping), saying what it got. */
                const struct spec__node *anchored = alias ? anchor_find(yp, alias) : NULL;
                if (anchored)
                    stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, key->line, key->col,
                                 "yaml: map merge requires map or sequence of maps as the "
                                 "value: the alias '*%s' is %s (anchored at line %d, column %d)",
                                 alias, kind_article(value->kind), anchored->line, anchored->col);
                else
                    stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, key->line, key->col,
                                 "yaml: map merge requires map or sequence of maps as the "
                                 "value, not %s",
                                 kind_article(value->kind));
                yp->failed = 1;
                spec__node_free(key);
                spec__node_free(value);
                continue;
            }
            spec__node_free(key);
            merges = stk_xrealloc(merges, (n_merges + 1) * sizeof(*merges));
            merges[n_merges++] = value;
            continue;
        }
        {
            long dup = spec__node_index(map, key->str);
            if (dup >= 0) {
                stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, key->line, key->col,
                             "yaml: mapping key '%s' already defined at line %d", key->str,
                             map->keys[dup]->line);
                yp->failed = 1;
                spec__node_free(key);
                spec__node_free(value);
                continue;
            }
        }
        spec__node_append_take(map, key, value);
    }
    for (size_t i = 0; i < n_merges; i++) {
        struct spec__node *m = merges[i];
        if (m->kind == SPEC__K_MAP) {
            apply_merge(map, m);
        } else {
            for (size_t j = 0; j < m->n; j++) {
                if (m->items[j]->kind != SPEC__K_MAP) {
                    stk_diag_add(yp->diag, STK_DIAG_ERROR, yp->file, m->items[j]->line,
                                 m->items[j]->col,
                                 "yaml: map merge requires map or sequence of maps as the value");
                    yp->failed = 1;
                    continue;
                }
                apply_merge(map, m->items[j]);
            }
        }
        spec__node_free(m);
    }
    free(merges);
    free(alias);
    return map;
fail:
    for (size_t i = 0; i < n_merges; i++)
        spec__node_free(merges[i]);
    free(merges);
    free(alias);
    spec__node_free(map);
    return NULL;
}

static struct spec__node *parse_sequence(struct yparser *yp, yaml_event_t *start)
{
    struct spec__node *seq = spec__node_new(SPEC__K_SEQ, NULL);
    yaml_event_t ev;

    node_set_pos(yp, seq, start);
    seq->tag = stk_xstrdup(tag_keep((const char *)start->data.sequence_start.tag));
    for (;;) {
        struct spec__node *item;

        if (next_event(yp, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        item = parse_node(yp, &ev);
        yaml_event_delete(&ev);
        if (!item)
            goto fail;
        spec__node_append_take(seq, NULL, item);
    }
    return seq;
fail:
    spec__node_free(seq);
    return NULL;
}

static struct spec__node *parse_node(struct yparser *yp, yaml_event_t *ev)
{
    struct spec__node *n = NULL;
    const char *anchor = NULL;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = parse_scalar(yp, ev);
        anchor = (const char *)ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (yp->depth >= SPEC__YAML_MAX_DEPTH) {
            yerr_at(yp, &ev->start_mark, "yaml: exceeded max depth of %d", SPEC__YAML_MAX_DEPTH);
            return NULL;
        }
        yp->depth++;
        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            n = parse_sequence(yp, ev);
            anchor = (const char *)ev->data.sequence_start.anchor;
        } else {
            n = parse_mapping(yp, ev);
            anchor = (const char *)ev->data.mapping_start.anchor;
        }
        yp->depth--;
        break;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = yp->n_anchors; i-- > 0;)
            if (strcmp(yp->anchors[i].name, name) == 0) {
                size_t c = node_count(yp->anchors[i].node);
                if (yp->n_nodes + c > SPEC__YAML_MAX_NODES) {
                    yerr_at(yp, &ev->start_mark,
                            "yaml: document is too large after expanding aliases");
                    return NULL;
                }
                if (yp->depth + node_depth(yp->anchors[i].node) > SPEC__YAML_MAX_DEPTH) {
                    yerr_at(yp, &ev->start_mark, "yaml: exceeded max depth of %d",
                            SPEC__YAML_MAX_DEPTH);
                    return NULL;
                }
                yp->n_nodes += c;
                n = spec__node_dup(yp->anchors[i].node);
                /* The copy sits where the alias is written, for error positions of scalars. */
                if (n->kind != SPEC__K_MAP && n->kind != SPEC__K_SEQ)
                    node_set_pos(yp, n, ev);
                return n;
            }
        yerr_at(yp, &ev->start_mark, "yaml: unknown anchor '%s' referenced", name);
        return NULL;
    }
    default:
        yerr_at(yp, &ev->start_mark, "yaml: unexpected event");
        return NULL;
    }
    if (n) {
        yp->n_nodes++;
        if (anchor)
            anchor_add(yp, anchor, n);
    }
    return n;
}

struct spec__node *spec__yaml_parse(const char *file, const char *data, size_t len,
                                    struct stk_diag *diag)
{
    struct yparser yp = {.file = file, .diag = diag, .data = data, .len = len};
    struct spec__node *root = NULL;
    yaml_event_t ev;
    int done = 0;

    if (!yaml_parser_initialize(&yp.p)) {
        stk_diag_add(diag, STK_DIAG_ERROR, file, 0, 0, "yaml: cannot initialise the parser");
        return NULL;
    }
    yaml_parser_set_input_string(&yp.p, (const unsigned char *)data, len);
    while (!done) {
        if (next_event(&yp, &ev) < 0)
            break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            for (size_t i = 0; i < yp.n_anchors; i++) {
                free(yp.anchors[i].name);
                spec__node_free(yp.anchors[i].node);
            }
            yp.n_anchors = 0; /* anchors do not cross documents */
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT: {
            struct spec__node *doc = parse_node(&yp, &ev);
            if (!doc) {
                done = 1;
                break;
            }
            if (doc->kind == SPEC__K_NULL) {
                spec__node_free(doc);
                break;
            }
            if (doc->kind != SPEC__K_MAP) {
                stk_diag_add(diag, STK_DIAG_ERROR, file, doc->line, doc->col,
                             "top-level object must be a mapping");
                yp.failed = 1;
                spec__node_free(doc);
                done = 1;
                break;
            }
            if (!root)
                root = doc;
            else
                spec__merge_take(root, doc); /* several documents merge (compose-go loader) */
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    for (size_t i = 0; i < yp.n_anchors; i++) {
        free(yp.anchors[i].name);
        spec__node_free(yp.anchors[i].node);
    }
    free(yp.anchors);
    yaml_parser_delete(&yp.p);
    if (yp.failed) {
        spec__node_free(root);
        return NULL;
    }
    if (!root) {
        root = spec__node_new(SPEC__K_MAP, NULL);
        root->file = file;
        root->line = 1;
        root->col = 1;
    }
    return root;
}

json_t *spec__node_to_json(const struct spec__node *n)
{
    switch (n->kind) {
    case SPEC__K_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->n; i++)
            json_object_set_new(o, n->keys[i]->str ? n->keys[i]->str : "",
                                spec__node_to_json(n->items[i]));
        return o;
    }
    case SPEC__K_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(a, spec__node_to_json(n->items[i]));
        return a;
    }
    case SPEC__K_INT: {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(n->str, &end, 0);
        if (n->str[0] == '0' && n->str[1] == 'o')
            v = strtoll(n->str + 2, &end, 8);
        if (errno || *end)
            return json_real(strtod(n->str, NULL));
        return json_integer(v);
    }
    case SPEC__K_FLOAT:
        return json_real(strtod(n->str, NULL));
    case SPEC__K_BOOL:
        return json_boolean(n->str[0] == 't' || n->str[0] == 'T');
    case SPEC__K_NULL:
        return json_null();
    case SPEC__K_STR:
        break;
    }
    return json_string(n->str ? n->str : "");
}
