/*
 * fuzz-spec-yaml.c - libFuzzer target for the Compose loader (STYLE.md rule
 * 36): the input is written as stack.yaml in a private temporary directory
 * and loaded with spec_project_load() (YAML parsing, interpolation, merge,
 * schema check, normalisation, validation); on success the canonical JSON,
 * the hashes and the YAML output are produced too. The first byte selects
 * the platform and --strict so both rule sets run.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined (cmake -DSTK_FUZZ=ON).
 * Seed corpus: tests/data/specs/{valid,invalid}/ * /stack.yaml.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "specs/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/stk-fuzz-spec-XXXXXX";
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const env[] = {"A=1", "EMPTY=", "HOME=/home/fuzz", NULL};
    const char *files[] = {path, NULL};
    struct spec_load_opts opts = {.files = files, .env = env};
    struct spec_project *p = NULL;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    FILE *f;

    if (!path[0]) {
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof(path), "%s/stack.yaml", dir);
    }
    if (size > 0) {
        opts.platform = (data[0] & 1) ? SPEC_PLATFORM_WINDOWS : SPEC_PLATFORM_LINUX;
        opts.strict = (data[0] & 2) != 0;
    }
    f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    if (spec_project_load(&opts, &p, &diag, &err) == 0) {
        json_t *j = spec_project_to_json(p);
        char *yaml = spec_project_to_yaml(p);
        char hash[65];
        for (size_t i = 0; i < p->n_services; i++)
            spec_service_hash(&p->services[i], hash);
        json_decref(j);
        free(yaml);
        spec_project_free(p);
    }
    for (size_t i = 0; i < diag.n; i++)
        free(stk_diag_format(&diag, i));
    stk_diag_release(&diag);
    stk_err_clear(&err);
    return 0;
}
