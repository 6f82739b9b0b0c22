/*
 * exp-cli.c - `stack export kubernetes`: its options, the project loaded as
 * `up` loads it (orchestrator/cli/cli-project.h), the warnings printed once, and
 * the output written only when everything before it succeeded.
 */
#include "orchestrator/export/exp.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "orchestrator/cli/cli-project.h"
#include "runtime/image/rt-image.h"

#define EXP_EXIT_SPEC 2
#define EXP_EXIT_HOST 1

struct exp_args {
    const char *out;
    const char *namespace_;
    const char *publish_as;
    const char *volume_size;
};

static int exp_opt(int c, const char *arg, void *ud)
{
    struct exp_args *a = ud;

    switch (c) {
    case 'o':
        a->out = arg;
        return 0;
    case 7000:
        a->namespace_ = arg;
        return 0;
    case 7001:
        a->publish_as = arg;
        return 0;
    case 7002:
        a->volume_size = arg;
        return 0;
    }
    return -1;
}

static void print_diag(const struct stk_diag *d, const char *label)
{
    for (size_t i = 0; i < d->n; i++) {
        char *line = stk_diag_format(d, i);
        /* stk_diag_format() says "warning:"; notes are said as such. */
        char *w = label ? strstr(line, "warning: ") : NULL;
        if (w)
            fprintf(stderr, "%.*s%s: %s\n", (int)(w - line), line, label, w + 9);
        else
            fprintf(stderr, "%s\n", line);
        free(line);
    }
}

int exp_cli_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"namespace", required_argument, NULL, 7000},
                                          {"publish-as", required_argument, NULL, 7001},
                                          {"volume-size", required_argument, NULL, 7002},
                                          {NULL, 0, NULL, 0}};
    struct exp_args a = {NULL, NULL, "nodeport", NULL};
    struct exp_opts opts;
    struct exp_result res;
    struct spec_project *p = NULL;
    struct rt_image_store *images = NULL;
    struct stk_err err = STK_ERR_INIT;
    const char *state_dir = NULL;
    int windows = 0, strict = 0, idx, r;

    memset(&opts, 0, sizeof(opts));
    memset(&res, 0, sizeof(res));
    if (argc < 2 || strcmp(argv[1], "kubernetes") != 0) {
        stk_log_error("usage: stack export kubernetes [-f FILE]... [-p NAME] [--namespace NS] "
                      "[-o DIR|-] [--publish-as nodeport|loadbalancer] [--volume-size SIZE] "
                      "[--strict]");
        return EXP_EXIT_SPEC;
    }
    if ((idx = cli_project_opts(cli, argc - 1, argv + 1, "o:", longs, exp_opt, &a)) < 0)
        return EXP_EXIT_SPEC;
    if (idx < argc - 1) {
        stk_log_error("export kubernetes: unexpected argument '%s'", argv[1 + idx]);
        return EXP_EXIT_SPEC;
    }
    if (strcmp(a.publish_as, "nodeport") == 0) {
        opts.publish_as = EXP_PUBLISH_NODEPORT;
    } else if (strcmp(a.publish_as, "loadbalancer") == 0) {
        opts.publish_as = EXP_PUBLISH_LOADBALANCER;
    } else {
        stk_log_error("--publish-as: '%s' is not 'nodeport' or 'loadbalancer'", a.publish_as);
        return EXP_EXIT_SPEC;
    }
    if (a.out && *a.out == '\0') {
        stk_log_error("-o: an output folder, or - for standard output");
        return EXP_EXIT_SPEC;
    }
    if (a.out && strcmp(a.out, "-") != 0 && stk_path_exists(a.out) && !stk_path_is_dir(a.out)) {
        stk_log_error("-o: output folder '%s' exists and is not a folder", a.out);
        return EXP_EXIT_SPEC;
    }
    if ((r = cli_project_load(cli, &p)) != 0)
        return r;
    cli_project_info(cli, &state_dir, &windows, &strict);
    opts.platform = windows ? SPEC_PLATFORM_WINDOWS : SPEC_PLATFORM_LINUX;
    opts.namespace_ = a.namespace_;
    opts.volume_size = a.volume_size;
    /* The os.version of Windows images comes from the local store when there is one. */
    if (windows && state_dir) {
        char *imgdir = stk_xasprintf("%s/images", state_dir);
        if (stk_path_is_dir(imgdir) && rt_image_store_open(state_dir, &images, &err) < 0) {
            stk_log_warn("cannot open the image store of '%s' (%s), ignoring", state_dir, err.msg);
            stk_err_clear(&err);
            images = NULL;
        }
        free(imgdir);
    }
    opts.images = images;
    if (exp_kubernetes(p, &opts, &res, &err) < 0) {
        stk_log_err(&err, "export kubernetes");
        r = EXP_EXIT_SPEC;
        goto out;
    }
    print_diag(&res.warnings, NULL);
    print_diag(&res.notes, "note");
    if (strict && res.warnings.n) {
        stk_log_error("export kubernetes: %zu thing%s cannot be carried (--strict); nothing "
                      "written",
                      res.warnings.n, res.warnings.n == 1 ? "" : "s");
        r = EXP_EXIT_SPEC;
        goto out;
    }
    if (!a.out || strcmp(a.out, "-") == 0) {
        char *y = exp_result_to_yaml(&res);
        fputs(y, stdout);
        free(y);
        if (fflush(stdout) != 0) {
            stk_log_error("export kubernetes: cannot write standard output");
            r = EXP_EXIT_HOST;
        }
    } else if (exp_result_write_dir(&res, a.out, &err) < 0) {
        stk_log_err(&err, "export kubernetes");
        r = err.code == STK_EUSAGE ? EXP_EXIT_SPEC : EXP_EXIT_HOST;
    }
out:
    exp_result_release(&res);
    rt_image_store_close(images);
    spec_project_free(p);
    stk_err_clear(&err);
    return r;
}
