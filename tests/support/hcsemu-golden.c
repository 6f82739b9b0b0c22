/*
 * hcsemu-golden.c - golden-file comparison for the HCS/HCN document tests
 * (the JSON files of tests/data/hcs: {"reference": "<section>", "document": {...}}).
 */
#include "tests/hcsemu/hcsemu.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/stk-alloc.h"

int hcsemu_golden_check(const char *data_dir, const char *name, json_t *doc, char **ret_report)
{
    char *path = stk_xasprintf("%s/hcs/%s", data_dir, name);
    json_error_t jerr;
    json_t *golden = json_load_file(path, 0, &jerr);
    json_t *expected;
    int ok = 0;

    if (!golden) {
        *ret_report = stk_xasprintf("%s: %s", path, jerr.text);
    } else if (!json_is_string(json_object_get(golden, "reference"))) {
        *ret_report = stk_xasprintf("%s names no reference section", path);
    } else if (!(expected = json_object_get(golden, "document"))) {
        *ret_report = stk_xasprintf("%s has no document", path);
    } else if (!json_equal(doc, expected)) {
        char *got = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *want = json_dumps(expected, JSON_INDENT(2) | JSON_SORT_KEYS);

        *ret_report =
            stk_xasprintf("%s differs\n--- generated\n%s\n--- golden\n%s", name, got, want);
        free(got);
        free(want);
    } else {
        *ret_report = NULL;
        ok = 1;
    }
    json_decref(golden);
    free(path);
    return ok;
}
