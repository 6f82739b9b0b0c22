/*
 * spec-merge.c - merging Compose trees (Compose Specification 13-merge.md,
 * compose-go override/merge.go): mappings merge key by key, sequences
 * append, scalars are replaced; `!reset` removes a value and `!override`
 * replaces it wholesale.
 */
#include "specs/spec-internal.h"

#include <string.h>

#include "common/stk-alloc.h"

static int has_tag(const struct spec__node *n, const char *tag)
{
    return n->tag && strcmp(n->tag, tag) == 0;
}

static void merge_node(struct spec__node *base, struct spec__node *over);

static void merge_map(struct spec__node *base, struct spec__node *over)
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
        if (has_tag(v, "!override") || base->items[j]->kind != v->kind ||
            (v->kind != SPEC__K_MAP && v->kind != SPEC__K_SEQ)) {
            spec__node_free(base->items[j]);
            base->items[j] = spec__node_dup(v);
            free(base->items[j]->tag);
            base->items[j]->tag = NULL;
            continue;
        }
        merge_node(base->items[j], v);
    }
}

static void merge_node(struct spec__node *base, struct spec__node *over)
{
    if (base->kind == SPEC__K_MAP && over->kind == SPEC__K_MAP) {
        merge_map(base, over);
    } else if (base->kind == SPEC__K_SEQ && over->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < over->n; i++)
            spec__node_append_take(base, NULL, spec__node_dup(over->items[i]));
    }
}

void spec__merge_take(struct spec__node *base, struct spec__node *override)
{
    merge_node(base, override);
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
