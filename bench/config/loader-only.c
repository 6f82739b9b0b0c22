/*
 * loader-only.c - the work of `stack config -q` without the CLI around it:
 * spec_project_load() of one file, then the spec hash of every service. Used
 * by run.sh (STACK_CMD) to measure the loader before or beside the CLI; see
 * README.md for the build line.
 */
#include <stdio.h>

#include "specs/spec.h"

int main(int argc, char **argv)
{
    const char *files[] = {argc > 1 ? argv[argc - 1] : "compose.yaml", NULL};
    struct spec_load_opts opts = {.files = files};
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    char hash[65];

    if (spec_project_load(&opts, &p, NULL, &err) != 0) {
        char buf[1024];
        fprintf(stderr, "%s\n", stk_err_format(&err, buf, sizeof(buf)));
        return 2;
    }
    for (size_t i = 0; i < p->n_services; i++)
        spec_service_hash(&p->services[i], hash);
    spec_project_free(p);
    return 0;
}
