/*
 * exp-yaml.c - the export's output: a jansson value written as one YAML
 * document with libyaml's emitter (keys in insertion order), and the result's
 * stream and directory writers.
 */
#include "orchestrator/export/exp.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-fs.h"
#include "common/stk-strv.h"
#include "orchestrator/export/exp-internal.h"

static int write_buf(void *data, unsigned char *buffer, size_t size)
{
    stk_buf_add(data, buffer, size);
    return 1;
}

static void emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    /* The emitter fails only on out of memory or a broken event sequence (a bug). */
    if (!yaml_emitter_emit(e, ev))
        STK_BUG("yaml emitter failed");
}

/*
 * Non-zero when a plain scalar S would be read back as something other than
 * a string by a YAML 1.1 or 1.2 reader (Kubernetes uses a YAML 1.1 style
 * reader): booleans, null, numbers, sexagesimal numbers, the empty string.
 */
static int needs_quotes(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no",   "on",    "off",  "y",
                                        "n",    "null",  "~",   ".inf", "-.inf", ".nan", "+.inf"};
    int digits_colons = 1, has_digit = 0;
    char *end;

    if (!*s)
        return 1;
    /*
     * Most keys and values start with a character that begins no special word
     * and no number (a letter other than these, '/', a backslash): plain.
     */
    if (isalpha((unsigned char)*s) ? !strchr("tfynoTFYNO", *s) : !strchr("0123456789+-._~:", *s))
        return 0;
    for (size_t i = 0; i < STK_ARRAY_SIZE(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    errno = 0;
    (void)strtod(s, &end);
    if (end != s && *end == '\0')
        return 1;
    (void)strtoll(s, &end, 0);
    if (end != s && *end == '\0')
        return 1;
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        return 1;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            has_digit = 1;
        else if (*p != ':' && *p != '_' && *p != '.' && *p != '-' && *p != '+')
            digits_colons = 0;
    }
    return digits_colons && has_digit;
}

static void emit_scalar(yaml_emitter_t *e, const char *s, int quote)
{
    yaml_event_t ev;

    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                 quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    emit(e, &ev);
}

static void emit_json(yaml_emitter_t *e, json_t *j)
{
    yaml_event_t ev;
    char num[64];

    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                            json_object_size(j) ? YAML_BLOCK_MAPPING_STYLE
                                                                : YAML_FLOW_MAPPING_STYLE);
        emit(e, &ev);
        json_object_foreach(j, k, v)
        {
            emit_scalar(e, k, needs_quotes(k));
            emit_json(e, v);
        }
        yaml_mapping_end_event_initialize(&ev);
        emit(e, &ev);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             json_array_size(j) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                : YAML_FLOW_SEQUENCE_STYLE);
        emit(e, &ev);
        json_array_foreach(j, i, v) emit_json(e, v);
        yaml_sequence_end_event_initialize(&ev);
        emit(e, &ev);
        break;
    }
    case JSON_STRING:
        if (strchr(json_string_value(j), '\n')) {
            /* File content (Secrets, ConfigMaps) reads best as a literal block. */
            yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)json_string_value(j),
                                         (int)json_string_length(j), 1, 1,
                                         YAML_LITERAL_SCALAR_STYLE);
            emit(e, &ev);
            break;
        }
        emit_scalar(e, json_string_value(j), needs_quotes(json_string_value(j)));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(j));
        emit_scalar(e, num, 0);
        break;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(j));
        emit_scalar(e, num, 0);
        break;
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

/*
 * One emitter for every document of an export: initialising libyaml's
 * emitter allocates and clears its buffers, which for thousands of small
 * documents cost more than the emitting.
 */
struct exp__yaml {
    yaml_emitter_t e;
    struct stk_buf b;
};

struct exp__yaml *exp__yaml_new(void)
{
    struct exp__yaml *y = stk_new0(struct exp__yaml);
    yaml_event_t ev;

    stk_buf_init(&y->b, 0);
    if (!yaml_emitter_initialize(&y->e))
        STK_BUG("yaml emitter init failed");
    yaml_emitter_set_output(&y->e, write_buf, &y->b);
    yaml_emitter_set_unicode(&y->e, 1);
    yaml_emitter_set_width(&y->e, -1);
    yaml_emitter_set_indent(&y->e, 2);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(&y->e, &ev);
    return y;
}

char *exp__yaml_doc(struct exp__yaml *y, json_t *obj)
{
    yaml_event_t ev;
    char *doc;

    stk_buf_reset(&y->b);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
    emit(&y->e, &ev);
    emit_json(&y->e, obj);
    yaml_document_end_event_initialize(&ev, 1);
    emit(&y->e, &ev);
    if (!yaml_emitter_flush(&y->e))
        STK_BUG("yaml emitter flush failed");
    doc = stk_xmalloc(y->b.len + 1);
    memcpy(doc, y->b.buf, y->b.len + 1);
    return doc;
}

void exp__yaml_free(struct exp__yaml *y)
{
    yaml_event_t ev;

    if (!y)
        return;
    yaml_stream_end_event_initialize(&ev);
    emit(&y->e, &ev);
    yaml_emitter_delete(&y->e);
    stk_buf_release(&y->b);
    free(y);
}

static void put_comment(struct stk_buf *b, const char *comment)
{
    const char *p = comment;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        stk_buf_puts(b, "# ");
        stk_buf_add(b, p, n);
        stk_buf_putc(b, '\n');
        p = nl ? nl + 1 : NULL;
    }
}

char *exp_result_to_yaml(const struct exp_result *result)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; result && i < result->n_docs; i++) {
        put_comment(&b, result->docs[i].comment);
        stk_buf_puts(&b, result->docs[i].yaml);
    }
    return stk_buf_detach(&b, NULL);
}

static char *doc_file_name(const struct exp_doc *d)
{
    char *s = stk_xasprintf("%s-%s.yaml", d->kind, d->name);

    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

int exp_result_write_dir(const struct exp_result *result, const char *dir, struct stk_err *err)
{
    struct stk_strv names = STK_STRV_INIT;
    int r = 0;

    if (!result || !dir || !*dir)
        return stk_err_set(err, STK_EINVAL, 0, "no output folder given");
    stk_strv_init(&names);
    if (stk_path_exists(dir) && !stk_path_is_dir(dir)) {
        r = stk_err_set(err, STK_EUSAGE, 0, "output folder '%s' exists and is not a folder", dir);
        goto out;
    }
    for (size_t i = 0; i < result->n_docs; i++) {
        char *n = doc_file_name(&result->docs[i]);
        if (stk_strv_contains(&names, n)) {
            r = stk_err_set(err, STK_EUSAGE, 0, "two objects would both be written to '%s/%s'", dir,
                            n);
            free(n);
            goto out;
        }
        stk_strv_push_take(&names, n);
    }
    if ((r = stk_mkdir_p(dir, 0755, err)) < 0)
        goto out;
    for (size_t i = 0; i < result->n_docs; i++) {
        struct stk_buf b = STK_BUF_INIT;
        char *path = stk_xasprintf("%s/%s", dir, names.v[i]);
        put_comment(&b, result->docs[i].comment);
        stk_buf_puts(&b, result->docs[i].yaml);
        r = stk_file_write_atomic(path, b.buf, b.len, 0644, 0, err);
        stk_buf_release(&b);
        free(path);
        if (r < 0)
            goto out;
    }
out:
    stk_strv_release(&names);
    return r;
}
