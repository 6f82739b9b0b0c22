/*
 * spec-yaml-out.c - `stack config` output: the project as YAML (libyaml's
 * emitter, fed from the canonical JSON so both formats always agree) and the
 * dependency order of services.
 */
#include "specs/spec.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"

static int write_buf(void *data, unsigned char *buffer, size_t size)
{
    stk_buf_add(data, buffer, size);
    return 1;
}

static void emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    /* The emitter only fails on out of memory or a broken event sequence (a bug). */
    if (!yaml_emitter_emit(e, ev))
        STK_BUG("yaml emitter failed");
}

static void emit_scalar(yaml_emitter_t *e, const char *text, int quote)
{
    yaml_event_t ev;

    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1,
                                 quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    emit(e, &ev);
}

static void emit_string(yaml_emitter_t *e, const char *s)
{
    /*
     * A string that plain YAML would read as another type (true, 1, null, 1.5) is quoted,
     * and so are the YAML 1.1 booleans (yes, no, on, off) older readers still resolve.
     */
    static const char *const yaml11[] = {"yes", "no", "on", "off", "y", "n"};
    int quote = spec__yaml_plain_kind(s) != SPEC__K_STR;

    for (size_t i = 0; i < STK_ARRAY_SIZE(yaml11) && !quote; i++)
        quote = strcasecmp(s, yaml11[i]) == 0;
    emit_scalar(e, s, quote);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void emit_json(yaml_emitter_t *e, json_t *j, const char *const *first_keys)
{
    yaml_event_t ev;

    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(j), k = 0;
        const char **keys = stk_xcalloc(n ? n : 1, sizeof(char *));
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) keys[k++] = key;
        qsort(keys, n, sizeof(char *), cmp_keys);
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        emit(e, &ev);
        for (size_t f = 0; first_keys && first_keys[f]; f++)
            if ((v = json_object_get(j, first_keys[f])) != NULL) {
                emit_string(e, first_keys[f]);
                emit_json(e, v, NULL);
            }
        for (size_t i = 0; i < n; i++) {
            int done = 0;
            for (size_t f = 0; first_keys && first_keys[f]; f++)
                if (strcmp(first_keys[f], keys[i]) == 0)
                    done = 1;
            if (done)
                continue;
            emit_string(e, keys[i]);
            emit_json(e, json_object_get(j, keys[i]), NULL);
        }
        free(keys);
        yaml_mapping_end_event_initialize(&ev);
        emit(e, &ev);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        emit(e, &ev);
        json_array_foreach(j, i, v) emit_json(e, v, NULL);
        yaml_sequence_end_event_initialize(&ev);
        emit(e, &ev);
        break;
    }
    case JSON_STRING:
        emit_string(e, json_string_value(j));
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        char *text = json_dumps(j, JSON_ENCODE_ANY);
        emit_scalar(e, text, 0);
        free(text);
        break;
    }
    case JSON_TRUE:
        emit_scalar(e, "true", 0);
        break;
    case JSON_FALSE:
        emit_scalar(e, "false", 0);
        break;
    case JSON_NULL:
        emit_scalar(e, "null", 0);
        break;
    }
}

char *spec_project_to_yaml(const struct spec_project *project)
{
    static const char *const top[] = {"name",    "services", "networks", "volumes",
                                      "secrets", "configs",  NULL};
    struct stk_buf out = STK_BUF_INIT;
    yaml_emitter_t e;
    yaml_event_t ev;
    json_t *j = spec_project_to_json(project);

    if (!yaml_emitter_initialize(&e))
        STK_BUG("yaml emitter init failed");
    yaml_emitter_set_output(&e, write_buf, &out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(&e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit(&e, &ev);
    emit_json(&e, j, top);
    yaml_document_end_event_initialize(&ev, 1);
    emit(&e, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(&e, &ev);
    yaml_emitter_delete(&e);
    json_decref(j);
    return stk_buf_detach(&out, NULL);
}

char **spec_project_service_order(const struct spec_project *project)
{
    size_t n = project->n_services;
    char *done = stk_xcalloc(n ? n : 1, 1);
    long **deps = stk_xcalloc(n ? n : 1, sizeof(long *));
    struct stk_strv out = STK_STRV_INIT;
    size_t emitted = 0;

    stk_strv_init(&out);
    for (size_t i = 0; i < n; i++) {
        const struct spec_service *s = &project->services[i];
        deps[i] = stk_xcalloc(s->n_depends_on + 1, sizeof(long));
        for (size_t d = 0; d < s->n_depends_on; d++) {
            const struct spec_service *dep =
                spec_project_service(project, s->depends_on[d].service);
            deps[i][d] = dep ? dep - project->services : -1;
        }
        deps[i][s->n_depends_on] = -2;
    }
    while (emitted < n) {
        size_t i;
        /* The first service in file order whose dependencies are all placed. */
        for (i = 0; i < n; i++) {
            int ready = !done[i];
            for (size_t d = 0; ready && deps[i][d] != -2; d++)
                if (deps[i][d] >= 0 && !done[deps[i][d]])
                    ready = 0;
            if (ready)
                break;
        }
        if (i == n) {
            /* A cycle (spec_project_load() rejects them): take the first remaining one. */
            for (i = 0; i < n && done[i]; i++)
                ;
        }
        stk_strv_push(&out, project->services[i].name);
        done[i] = 1;
        emitted++;
    }
    for (size_t i = 0; i < n; i++)
        free(deps[i]);
    free(deps);
    free(done);
    return out.v;
}
