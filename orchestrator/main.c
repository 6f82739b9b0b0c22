/*
 * main.c - the `stack` command line (DESIGN.md §5).
 *
 * Exit status: 0 success; 2 usage or spec errors (found before the runtime is
 * touched); 1 everything the host or runtime reports. Errors are printed once,
 * here, as "stack: error: ..." (spec errors as FILE:LINE:COL: message).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/stk-alloc.h"
#include "common/stk-diag.h"
#include "common/stk-fs.h"
#include "common/stk-log.h"
#include "common/stk-strv.h"
#include "netplugins/net-plugin.h"
#include "orchestrator/cli/cli-os.h"
#include "orchestrator/cli/cli-project.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/export/exp.h"
#include "orchestrator/rec/rec-plan.h"
#include "orchestrator/rec/rec.h"
#include "orchestrator/store/store.h"
#include "runtime/image/rt-image.h"
#include "runtime/rt-driver.h"
#include "specs/spec.h"

#define EXIT_SPEC 2
#define EXIT_HOST 1

struct cli {
    const char *state_dir;
    const char *run_dir;
    const char *runtime;
    const char *network;
    struct stk_strv files;
    const char *project_name;
    const char *platform;
    int strict;
    struct stk_strv profiles;
    struct stk_strv env_files;
    /* the environment a command builds */
    uv_loop_t loop;
    int loop_init;
    struct rt_image_store *images;
    struct rt_ctx *rt;
    struct rt_ctx *rt_members[2]; /* oci and vm behind the composite rt, or NULL */
    struct net_ctx *net;
    struct store *store;
    int lock_fd;
    struct rec_net_peer net_peer; /* the driver's view of the plug-in (hcs: HNS endpoints) */
};

static void usage(FILE *out)
{
    fputs(
        "usage: stack [--state-dir DIR] [--run-dir DIR] [--runtime oci|hcs|fake] COMMAND "
        "[ARGS]\n"
        "\n"
        "Commands:\n"
        "  up [-d] [-f FILE]... [-p NAME] [--remove-orphans] [--dry-run] [--parallel N]\n"
        "     [--timeout SECONDS] [--wait]                      create and start the stack\n"
        "     [--allow-newer-hyperv-images]  (Windows: lift the same-or-older Hyper-V policy)\n"
        "  plan [-f FILE]... [-p NAME] [--format table|json]    show what up would change\n"
        "  events [-p NAME] [--since REV] [--follow] [--format json]   the event log\n"
        "  down [-f FILE]... [-p NAME] [-v]                     stop and remove everything\n"
        "                                                       (-v: the project's volumes too)\n"
        "  stop [-t SECONDS] [SERVICE]... | start [SERVICE]... | restart [-t SECONDS] "
        "[SERVICE]...\n"
        "                                                       stop or start existing containers\n"
        "  ps [-f FILE]... [-p NAME]                            list the stack's containers\n"
        "  logs [-f FILE]... [-p NAME] [--follow] [SERVICE]     show container output\n"
        "  exec [-f FILE]... [--index N] SERVICE CMD [ARG]...   run a command in a container\n"
        "  port [-f FILE]... [--index N] [--protocol tcp|udp] SERVICE PRIVATE_PORT\n"
        "                                                       the host address of a port\n"
        "  top [SERVICE] | inspect [SERVICE]                    processes (host PIDs), details\n"
        "  config [-f FILE]... [-q] [--format yaml|json] [--services] [--profiles]\n"
        "         [--hash SERVICE|*]                            the normalised model\n"
        "  Project options: -f FILE, -p NAME, --profile P, --env-file F, --strict,\n"
        "                   --platform windows|linux (validation rules; default: the host)\n"
        "  pull [-f FILE]... [-p NAME]                          pull every service's image\n"
        "  export kubernetes [-o DIR|-] [--namespace NS] [--publish-as nodeport|loadbalancer]\n"
        "                    [--volume-size SIZE]               Kubernetes manifests\n"
        "  image load PATH | image pull REF | image ls | image rm REF\n"
        "                                                       manage the local image store\n"
        "  info                                                 show the runtime and host\n"
        "  version                                              show the version\n",
        out);
}

static int exit_code_for(int code)
{
    return code == STK_ESPEC || code == STK_EUSAGE ? EXIT_SPEC : EXIT_HOST;
}

static int fail(const struct stk_err *err, const char *context)
{
    stk_log_err(err, context);
    return exit_code_for(err->code);
}

static const char *default_state_dir(void)
{
    if (getenv("STACK_STATE_DIR"))
        return getenv("STACK_STATE_DIR");
    return cli_os_default_state_dir();
}

static const char *default_run_dir(void)
{
    if (getenv("STACK_RUN_DIR"))
        return getenv("STACK_RUN_DIR");
    return cli_os_default_run_dir();
}

/* ---- project loading ------------------------------------------------------------------------ */

static int load_project(struct cli *cli, struct spec_project **ret, int quiet_warnings)
{
    struct spec_load_opts opts;
    struct stk_diag diag = STK_DIAG_INIT;
    struct stk_err err = STK_ERR_INIT;
    int r;

    memset(&opts, 0, sizeof(opts));
    opts.files = (const char *const *)cli->files.v;
    opts.project_name = cli->project_name;
    opts.strict = cli->strict;
#ifdef _WIN32
    opts.platform = SPEC_PLATFORM_WINDOWS;
#else
    opts.platform = SPEC_PLATFORM_LINUX;
#endif
    if (cli->platform && strcmp(cli->platform, "windows") == 0)
        opts.platform = SPEC_PLATFORM_WINDOWS;
    else if (cli->platform && strcmp(cli->platform, "linux") == 0)
        opts.platform = SPEC_PLATFORM_LINUX;
    else if (cli->platform) {
        stk_log_error("--platform: '%s' is not 'windows' or 'linux'", cli->platform);
        return -EXIT_SPEC;
    }
    if (cli->profiles.n)
        opts.profiles = (const char *const *)cli->profiles.v;
    if (cli->env_files.n)
        opts.env_files = (const char *const *)cli->env_files.v;
    r = spec_project_load(&opts, ret, &diag, &err);
    for (size_t i = 0; i < diag.n; i++) {
        char *line;
        if (quiet_warnings && diag.items[i].severity == STK_DIAG_WARNING)
            continue;
        line = stk_diag_format(&diag, i);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    if (r < 0 && diag.n_errors == 0)
        stk_log_err(&err, NULL);
    stk_diag_release(&diag);
    stk_err_clear(&err);
    /* A stack file that cannot be read is a usage error too (exit 2), like a bad one. */
    return r < 0 ? -EXIT_SPEC : 0;
}

/* The project name for commands that do not need the whole model (down, ps, logs). */
static int project_name(struct cli *cli, char **ret)
{
    struct spec_project *p = NULL;
    int r;

    if (cli->project_name && cli->files.n == 0) {
        *ret = stk_xstrdup(cli->project_name);
        return 0;
    }
    r = load_project(cli, &p, 1);
    if (r < 0)
        return r;
    *ret = stk_xstrdup(p->name);
    spec_project_free(p);
    return 0;
}

/* ---- environment ---------------------------------------------------------------------------- */

/*
 * Takes the exclusive lock on FD (PATH names it in the message): at once when
 * it is free, else after saying that another command holds it. The lock is
 * taken once only: on Windows a second LockFileEx of the same handle would
 * wait for itself. Returns 0, or -1 with errno.
 */
static int lock_or_wait(int fd, const char *path)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return -1;
    stk_log_info("waiting for another stack command to finish (%s)", path);
    return flock(fd, LOCK_EX);
}

/*
 * Opens RUN_DIR/stack.lock into CLI->lock_fd and takes it (lock_or_wait()).
 * Returns 0, or the exit status after reporting the failure.
 */
static int take_lock(struct cli *cli)
{
    struct stk_err err = STK_ERR_INIT;
    char *lockp = stk_xasprintf("%s/stack.lock", cli->run_dir);
    int r = 0;

    cli->lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (cli->lock_fd < 0 || lock_or_wait(cli->lock_fd, lockp) < 0) {
        stk_err_set(&err, STK_EIO, errno, "lock '%s'", lockp);
        r = fail(&err, NULL);
        stk_err_clear(&err);
    }
    free(lockp);
    return r;
}

/*
 * On Linux with the oci driver, hyperv services run in QEMU utility VMs
 * (runtime/vm, issue 13): the vm driver is opened next to oci, on the same
 * directories and image store, and CLI->rt becomes the composite of both,
 * keyed by isolation (rec_runtimes_new()). Whether hyperv is available is the
 * vm driver's host_info, asked by whoever needs it. Returns 0 or the exit status.
 */
static int open_vm_driver(struct cli *cli, const char *exe)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_ctx *table[_RT_ISOLATION_MAX] = {NULL};
    const struct rt_driver *vm;
    struct rt_ctx *both;

    if (strcmp(cli->runtime, "oci") != 0 || !(vm = rt_driver_find("vm", &err))) {
        stk_err_clear(&err);
        return 0;
    }
    cli->rt_members[1] =
        rt_ctx_new(vm, &cli->loop, cli->state_dir, cli->run_dir, exe, cli->images, &err);
    if (!cli->rt_members[1])
        return fail(&err, "start runtime driver 'vm'");
    table[RT_ISOLATION_PROCESS] = cli->rt;
    table[RT_ISOLATION_HYPERV] = cli->rt_members[1];
    both = rec_runtimes_new(&cli->loop, table, &err);
    if (!both)
        return fail(&err, "start runtime drivers");
    cli->rt_members[0] = cli->rt;
    cli->rt = both;
    return 0;
}

static int env_open(struct cli *cli, struct rec_env *env, int need_runtime, int lock)
{
    struct stk_err err = STK_ERR_INIT;
    const struct rt_driver *drv;
    const struct net_plugin *plug;
    char *db = NULL, *exe = NULL;
    int r = 0;

    memset(env, 0, sizeof(*env));
    if (stk_mkdir_p(cli->state_dir, 0711, &err) < 0 || stk_mkdir_p(cli->run_dir, 0711, &err) < 0)
        return fail(&err, "prepare state directories");
    if (lock && (r = take_lock(cli)) != 0)
        return r;
    uv_loop_init(&cli->loop);
    cli->loop_init = 1;
    db = stk_xasprintf("%s/state.db", cli->state_dir);
    if (store_open(db, &cli->store, &err) < 0) {
        r = fail(&err, NULL);
        goto out;
    }
    if (rt_image_store_open(cli->state_dir, &cli->images, &err) < 0) {
        r = fail(&err, "open image store");
        goto out;
    }
    if (need_runtime) {
        drv = rt_driver_find(cli->runtime, &err);
        if (!drv) {
            r = fail(&err, NULL);
            goto out;
        }
        exe = cli_os_self_exe();
        cli->rt = rt_ctx_new(drv, &cli->loop, cli->state_dir, cli->run_dir, exe, cli->images, &err);
        if (!cli->rt) {
            r = fail(&err, "start runtime driver");
            goto out;
        }
        if ((r = open_vm_driver(cli, exe)) != 0)
            goto out;
        plug = net_plugin_find(cli->network, &err);
        if (!plug) {
            r = fail(&err, NULL);
            goto out;
        }
        cli->net = net_ctx_new(plug, &cli->loop, cli->state_dir, cli->run_dir, &err);
        if (!cli->net) {
            r = fail(&err, "start network plug-in");
            goto out;
        }
        /*
         * A driver whose VM isolated containers take their namespace's endpoints
         * as NICs (hcs) gets them from the plug-in (hns), through the interfaces.
         */
        rec_net_peer_connect(&cli->net_peer, cli->rt, cli->net);
    }
    env->loop = &cli->loop;
    env->rt = cli->rt;
    env->net = cli->net;
    env->images = cli->images;
    env->store = cli->store;
    env->state_dir = cli->state_dir;
    env->run_dir = cli->run_dir;
    env->sink.progress = cli_progress_print;
    env->sink.userdata = stderr;
out:
    free(db);
    free(exe);
    stk_err_clear(&err);
    return r;
}

static void env_close(struct cli *cli)
{
    net_ctx_free(cli->net);
    rt_ctx_free(cli->rt);
    rt_ctx_free(cli->rt_members[1]);
    rt_ctx_free(cli->rt_members[0]);
    cli->rt_members[0] = cli->rt_members[1] = NULL;
    rt_image_store_close(cli->images);
    store_close(cli->store);
    cli->net = NULL;
    cli->rt = NULL;
    cli->images = NULL;
    cli->store = NULL;
    if (cli->loop_init) {
        uv_run(&cli->loop, UV_RUN_NOWAIT);
        uv_loop_close(&cli->loop);
        cli->loop_init = 0;
    }
    if (cli->lock_fd >= 0) {
        close(cli->lock_fd);
        cli->lock_fd = -1;
    }
}

/* ---- commands ------------------------------------------------------------------------------- */

/* Parses the project options shared by up/down/ps/logs/config; returns optind or -1. */
static int parse_project_opts(struct cli *cli, int argc, char **argv, const char *extra_short,
                              const struct option *extra_long,
                              int (*on_extra)(int, const char *, void *), void *ud)
{
    struct option longs[32];
    char shorts[64];
    size_t nl = 0;
    int c;
    static const struct option base[] = {
        {"file", required_argument, NULL, 'f'},     {"project-name", required_argument, NULL, 'p'},
        {"strict", no_argument, NULL, 1000},        {"platform", required_argument, NULL, 1001},
        {"profile", required_argument, NULL, 1002}, {"env-file", required_argument, NULL, 1003},
        {"help", no_argument, NULL, 'h'},
    };

    for (size_t i = 0; i < STK_ARRAY_SIZE(base); i++)
        longs[nl++] = base[i];
    for (size_t i = 0; extra_long && extra_long[i].name; i++)
        longs[nl++] = extra_long[i];
    memset(&longs[nl], 0, sizeof(longs[nl]));
    snprintf(shorts, sizeof(shorts), "+f:p:h%s", extra_short ? extra_short : "");
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (c) {
        case 'f':
            stk_strv_push(&cli->files, optarg);
            break;
        case 'p':
            cli->project_name = optarg;
            break;
        case 1000:
            cli->strict = 1;
            break;
        case 1001:
            cli->platform = optarg;
            break;
        case 1002:
            stk_strv_push(&cli->profiles, optarg);
            break;
        case 1003:
            stk_strv_push(&cli->env_files, optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case '?':
            return -1;
        default:
            if (!on_extra || on_extra(c, optarg, ud) < 0)
                return -1;
        }
    }
    return optind;
}

int cli_project_opts(struct cli *cli, int argc, char **argv, const char *extra_short,
                     const struct option *extra_long, int (*on_extra)(int, const char *, void *),
                     void *ud)
{
    return parse_project_opts(cli, argc, argv, extra_short, extra_long, on_extra, ud);
}

int cli_project_load(struct cli *cli, struct spec_project **ret)
{
    return -load_project(cli, ret, 0);
}

void cli_project_info(struct cli *cli, const char **ret_state_dir, int *ret_windows,
                      int *ret_strict)
{
    *ret_state_dir = cli->state_dir;
#ifdef _WIN32
    *ret_windows = !cli->platform || strcmp(cli->platform, "windows") == 0;
#else
    *ret_windows = cli->platform && strcmp(cli->platform, "windows") == 0;
#endif
    *ret_strict = cli->strict;
}

struct up_args {
    int detach;
    int remove_orphans;
    int dry_run;
    int json;
    long parallel;
    long timeout_s;
    int wait;
    int allow_newer_hyperv;
};

static int up_opt(int c, const char *arg, void *ud)
{
    struct up_args *a = ud;
    char *end;

    switch (c) {
    case 'd':
        a->detach = 1;
        break;
    case 2000:
        a->remove_orphans = 1;
        break;
    case 2001:
        a->dry_run = 1;
        break;
    case 2002:
        a->parallel = strtol(arg, &end, 10);
        if (*end || a->parallel < 0) {
            stk_log_error("--parallel: '%s' is not a count", arg);
            return -1;
        }
        break;
    case 2003:
        a->timeout_s = strtol(arg, &end, 10);
        if (*end || a->timeout_s < 0) {
            stk_log_error("--timeout: '%s' is not a number of seconds", arg);
            return -1;
        }
        break;
    case 2005:
        a->wait = 1;
        break;
    case 2006:
        a->allow_newer_hyperv = 1;
        break;
    case 2004:
        if (strcmp(arg, "json") == 0)
            a->json = 1;
        else if (strcmp(arg, "table") != 0) {
            stk_log_error("--format: '%s' is not 'table' or 'json'", arg);
            return -1;
        }
        break;
    default:
        return -1;
    }
    return 0;
}

/* Prints the call counts when STACK_STATS is set (tests and benchmarks). */
static void print_stats(const struct rec_env *env)
{
    if (getenv("STACK_STATS"))
        fprintf(stderr, "stack: stats: %lu mutating calls, %lu observing calls\n", env->mutations,
                env->reads);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/*
 * docker compose up, attached, on Ctrl-C: stop the project's containers with
 * their own stop signals and grace periods (they stay; `up` or `start` brings
 * them back, `down` removes them) and exit 130; a second Ctrl-C forces it
 * (SIGKILL at once). Takes the lock again: the log follower let it go.
 */
static int attached_stop(struct cli *cli, struct rec_env *env, const char *project,
                         struct stk_err *err)
{
    int r;

    fprintf(stderr, "Gracefully stopping... (press Ctrl+C again to force)\n");
    if (cli->lock_fd < 0 && (r = take_lock(cli)) != 0)
        return r;
    if (cli_stop_start(env, project, NULL, 0, REC_GRACE_OF_SERVICE, err) < 0) {
        if (err->code != STK_ECANCELED)
            return fail(err, "stop");
        stk_err_clear(err);
        fprintf(stderr, "Killing...\n");
        if (cli_stop_start(env, project, NULL, 0, 0, err) < 0)
            return fail(err, "kill");
    }
    return 130;
}

static int cmd_up(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"detach", no_argument, NULL, 'd'},
                                          {"remove-orphans", no_argument, NULL, 2000},
                                          {"dry-run", no_argument, NULL, 2001},
                                          {"parallel", required_argument, NULL, 2002},
                                          {"timeout", required_argument, NULL, 2003},
                                          {"format", required_argument, NULL, 2004},
                                          {"wait", no_argument, NULL, 2005},
                                          {"allow-newer-hyperv-images", no_argument, NULL, 2006},
                                          {NULL, 0, NULL, 0}};
    struct up_args a;
    struct rec_up_opts opts = {0};
    struct spec_project *p = NULL;
    struct rec_env env;
    struct stk_err err = STK_ERR_INIT;
    int r;

    memset(&a, 0, sizeof(a));
    if (strcmp(argv[0], "plan") == 0)
        a.dry_run = 1;
    if (parse_project_opts(cli, argc, argv, "d", longs, up_opt, &a) < 0)
        return EXIT_SPEC;
    if ((r = load_project(cli, &p, a.dry_run)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, !a.dry_run)) != 0)
        goto out;
    if (a.dry_run)
        env.sink.progress = NULL;
    opts.remove_orphans = a.remove_orphans;
    opts.dry_run = a.dry_run;
    opts.json = a.json;
    opts.parallel = (unsigned)a.parallel;
    opts.timeout_ms = (uint64_t)a.timeout_s * 1000;
    opts.wait = a.wait;
    opts.allow_newer_hyperv = a.allow_newer_hyperv;
    if (a.wait)
        a.detach = 1; /* compose: --wait implies detached */
    if (cli_up(&env, p, &opts, &err) < 0) {
        print_stats(&env);
        r = fail(&err, a.dry_run ? "plan" : "up");
        if (err.code == STK_ECANCELED && !a.detach && !a.dry_run) {
            /* Ctrl-C while an attached up was still creating: stop what runs, as below. */
            stk_err_clear(&err);
            r = attached_stop(cli, &env, p->name, &err);
        }
        goto out;
    }
    print_stats(&env);
    if (!a.detach && !a.dry_run) {
        /* Attached: follow the logs until interrupted (SIGINT or SIGTERM). */
        cli_os_on_sigint(on_sigint);
        if (cli->lock_fd >= 0) {
            close(cli->lock_fd);
            cli->lock_fd = -1;
        }
        cli_logs_set_stop_flag(&interrupted);
        cli_logs(&env, p->name, NULL, 1, stdout, &err);
        if (interrupted) {
            stk_err_clear(&err);
            r = attached_stop(cli, &env, p->name, &err);
            goto out;
        }
    }
    r = 0;
out:
    spec_project_free(p);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int stop_opt(int c, const char *arg, void *ud)
{
    char *end;

    if (c != 't')
        return -1;
    *(long *)ud = strtol(arg, &end, 10);
    if (*end || *(long *)ud < 0) {
        stk_log_error("--timeout: '%s' is not a number of seconds", arg);
        return -1;
    }
    return 0;
}

/* stop, start and restart [SERVICE...]: docker compose's, on the containers that exist. */
static int cmd_stop_start(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"timeout", required_argument, NULL, 't'},
                                          {NULL, 0, NULL, 0}};
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    char *name = NULL;
    long timeout_s = -1; /* -t; -1: each service's stop_grace_period */
    int idx, r;
    const char *cmd = argv[0];

    if ((idx = parse_project_opts(cli, argc, argv, strcmp(cmd, "start") == 0 ? "" : "t:", longs,
                                  stop_opt, &timeout_s)) < 0)
        return EXIT_SPEC;
    if ((r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 1)) != 0)
        goto out;
    if (strcmp(cmd, "start") != 0 &&
        cli_stop_start(&env, name, (const char *const *)argv + idx, 0,
                       timeout_s < 0 ? REC_GRACE_OF_SERVICE : (uint64_t)timeout_s * 1000,
                       &err) < 0) {
        r = fail(&err, cmd);
        goto out;
    }
    if (strcmp(cmd, "stop") != 0 &&
        cli_stop_start(&env, name, (const char *const *)argv + idx, 1, 0, &err) < 0)
        r = fail(&err, cmd);
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int down_opt(int c, const char *arg, void *ud)
{
    (void)arg;
    if (c != 'v')
        return -1;
    *(int *)ud = 1;
    return 0;
}

static int cmd_down(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"volumes", no_argument, NULL, 'v'}, {NULL, 0, NULL, 0}};
    struct rec_env env;
    struct stk_err err = STK_ERR_INIT;
    char *name = NULL;
    int r, volumes = 0, idx;

    if ((idx = parse_project_opts(cli, argc, argv, "v", longs, down_opt, &volumes)) < 0)
        return EXIT_SPEC;
    if (idx < argc) {
        stk_log_error("down: unexpected argument '%s'", argv[idx]);
        return EXIT_SPEC;
    }
    if ((r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 1)) != 0)
        goto out;
    if (cli_down(&env, name, &err) < 0)
        r = fail(&err, "down");
    else if (volumes && rec_volumes_remove(&env, name, &err) < 0)
        r = fail(&err, "down: remove volumes");
    print_stats(&env);
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int cmd_ps(struct cli *cli, int argc, char **argv)
{
    struct rec_env env;
    struct stk_err err = STK_ERR_INIT;
    char *name = NULL;
    int r;

    if (parse_project_opts(cli, argc, argv, "", NULL, NULL, NULL) < 0)
        return EXIT_SPEC;
    if ((r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 0)) != 0)
        goto out;
    if (cli_ps(&env, name, stdout, &err) < 0)
        r = fail(&err, "ps");
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int logs_opt(int c, const char *arg, void *ud)
{
    (void)arg;
    if (c != 3000)
        return -1;
    *(int *)ud = 1;
    return 0;
}

static int cmd_logs(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"follow", no_argument, NULL, 3000}, {NULL, 0, NULL, 0}};
    struct rec_env env;
    struct stk_err err = STK_ERR_INIT;
    char *name = NULL;
    int follow = 0, idx, r;

    if ((idx = parse_project_opts(cli, argc, argv, "", longs, logs_opt, &follow)) < 0)
        return EXIT_SPEC;
    if ((r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 0)) != 0)
        goto out;
    if (follow) {
        cli_os_on_sigint(on_sigint);
        cli_logs_set_stop_flag(&interrupted);
    }
    if (cli_logs(&env, name, idx < argc ? argv[idx] : NULL, follow, stdout, &err) < 0)
        r = fail(&err, "logs");
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

struct config_args {
    int quiet;
    int services;
    int profiles;
    const char *hash;
    const char *format;
};

static int config_opt(int c, const char *arg, void *ud)
{
    struct config_args *a = ud;

    switch (c) {
    case 'q':
        a->quiet = 1;
        return 0;
    case 4000:
        a->services = 1;
        return 0;
    case 4001:
        a->hash = arg;
        return 0;
    case 4002:
        a->format = arg;
        return 0;
    case 4003:
        a->profiles = 1;
        return 0;
    }
    return -1;
}

static int cmd_config(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"quiet", no_argument, NULL, 'q'},       {"services", no_argument, NULL, 4000},
        {"hash", required_argument, NULL, 4001}, {"format", required_argument, NULL, 4002},
        {"profiles", no_argument, NULL, 4003},   {NULL, 0, NULL, 0}};
    struct config_args a = {0, 0, 0, NULL, "yaml"};
    struct spec_project *p = NULL;
    int r;

    if ((r = parse_project_opts(cli, argc, argv, "q", longs, config_opt, &a)) < 0)
        return EXIT_SPEC;
    if (r < argc) {
        /* docker compose's `config SERVICE...` filter is not there yet: say so, never ignore. */
        stk_log_error("config: unexpected argument '%s' (config [SERVICE...] is not supported "
                      "yet; use --services or --hash SERVICE)",
                      argv[r]);
        return EXIT_SPEC;
    }
    if (strcmp(a.format, "yaml") != 0 && strcmp(a.format, "json") != 0) {
        stk_log_error("--format: '%s' is not 'yaml' or 'json'", a.format);
        return EXIT_SPEC;
    }
    if ((r = load_project(cli, &p, 0)) < 0)
        return -r;
    if (a.quiet) {
        /* validation only */
    } else if (a.profiles) {
        /* Every profile named in the files, enabled or not, sorted and once each. */
        struct stk_strv all = STK_STRV_INIT;
        stk_strv_init(&all);
        for (size_t i = 0; i < p->n_services; i++)
            for (size_t k = 0; p->services[i].profiles && p->services[i].profiles[k]; k++)
                if (!stk_strv_contains(&all, p->services[i].profiles[k]))
                    stk_strv_push(&all, p->services[i].profiles[k]);
        for (size_t i = 0; i < p->n_disabled_services; i++)
            for (size_t k = 0;
                 p->disabled_services[i].profiles && p->disabled_services[i].profiles[k]; k++)
                if (!stk_strv_contains(&all, p->disabled_services[i].profiles[k]))
                    stk_strv_push(&all, p->disabled_services[i].profiles[k]);
        stk_strv_sort(&all);
        for (size_t i = 0; i < all.n; i++)
            printf("%s\n", all.v[i]);
        stk_strv_release(&all);
    } else if (strcmp(a.format, "yaml") == 0 && !a.services && !a.hash) {
        char *y = spec_project_to_yaml(p);
        fputs(y, stdout);
        free(y);
    } else if (a.services) {
        for (size_t i = 0; i < p->n_services; i++)
            printf("%s\n", p->services[i].name);
    } else if (a.hash) {
        int found = 0;
        for (size_t i = 0; i < p->n_services; i++) {
            char h[65];
            if (strcmp(a.hash, "*") != 0 && strcmp(a.hash, p->services[i].name) != 0)
                continue;
            spec_service_hash(&p->services[i], h);
            printf("%s %s\n", p->services[i].name, h);
            found = 1;
        }
        if (!found) {
            stk_log_error("no such service: '%s'", a.hash);
            r = EXIT_SPEC;
        }
    } else {
        json_t *j = spec_project_to_json(p);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    spec_project_free(p);
    return r;
}

static int cmd_image(struct cli *cli, int argc, char **argv)
{
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    int r;

    if (argc < 2) {
        usage(stderr);
        return EXIT_SPEC;
    }
    /* A pull chooses among an index's entries for the runtime's host platform, as up does. */
    if ((r = env_open(cli, &env, strcmp(argv[1], "pull") == 0, 0)) != 0)
        return r;
    if (strcmp(argv[1], "load") == 0 && argc == 3) {
        char *digest = NULL;
        if (rt_image_load_layout(cli->images, argv[2], NULL, &digest, &err) < 0) {
            r = fail(&err, "image load");
        } else {
            printf("Loaded %s\n", digest);
            free(digest);
        }
    } else if (strcmp(argv[1], "pull") == 0 && argc == 3) {
        if (cli_image_pull(&env, argv[2], &err) < 0)
            r = fail(&err, "image pull");
    } else if (strcmp(argv[1], "ls") == 0) {
        struct rt_image_list l;
        if (rt_image_list(cli->images, &l, &err) < 0) {
            r = fail(&err, "image ls");
        } else {
            printf("%-40s %-20s %s\n", "REFERENCE", "IMAGE ID", "SIZE");
            for (size_t i = 0; i < l.n; i++)
                printf("%-40s %-20.19s %lld\n", l.items[i].ref,
                       l.items[i].manifest_digest ? l.items[i].manifest_digest + 7 : "",
                       (long long)l.items[i].size);
            rt_image_list_release(&l);
        }
    } else if (strcmp(argv[1], "rm") == 0 && argc == 3) {
        if (rt_image_untag(cli->images, argv[2], &err) < 0)
            r = fail(&err, "image rm");
        else
            printf("Untagged %s\n", argv[2]);
    } else {
        usage(stderr);
        r = EXIT_SPEC;
    }
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

/* `stack pull`: every service's image from its registry (cli_pull()). */
static int cmd_pull(struct cli *cli, int argc, char **argv)
{
    struct spec_project *p = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    int r;

    if (parse_project_opts(cli, argc, argv, NULL, NULL, NULL, NULL) < 0)
        return EXIT_SPEC;
    if (optind != argc) {
        usage(stderr);
        return EXIT_SPEC;
    }
    if ((r = load_project(cli, &p, 0)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 0)) != 0)
        goto out;
    if (cli_pull(&env, p, &err) < 0)
        r = fail(&err, "pull");
out:
    spec_project_free(p);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int cmd_info(struct cli *cli)
{
    struct rt_sync s = RT_SYNC_INIT;
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    int r;

    if ((r = env_open(cli, &env, 1, 0)) != 0)
        return r;
    r = rt_host_info(cli->rt, rt_sync_done, &s, NULL, &err);
    if ((r = rt_sync_wait(&cli->loop, &s, r, &err)) < 0) {
        r = fail(&err, "info");
    } else {
        printf("Version:           %s\n", rec_version());
        printf("Runtime driver:    %s (%s)\n", cli->rt->driver->name, s.host.runtime);
        printf("Available:         %s%s%s\n", s.host.available ? "yes" : "no",
               s.host.available ? "" : ": ", s.host.reason);
        printf("OS:                %s %s%s%s\n", s.host.os, s.host.os_build,
               s.host.edition[0] ? " " : "", s.host.edition);
        printf("Default isolation: %s\n", rt_isolation_to_string(s.host.default_isolation));
        printf("Isolations:        ");
        for (int i = 0; i < _RT_ISOLATION_MAX; i++)
            if (s.host.isolations & (1u << i))
                printf("%s ", rt_isolation_to_string((enum rt_isolation)i));
        printf("\nState dir:         %s\nRun dir:           %s\n", cli->state_dir, cli->run_dir);
        r = 0;
    }
    rt_sync_release(&s);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

struct view_opts {
    int number;           /* --index */
    const char *protocol; /* --protocol (port) */
};

static int view_opt(int c, const char *arg, void *ud)
{
    struct view_opts *o = ud;
    char *end;

    if (c == 6001) {
        if (strcmp(arg, "tcp") != 0 && strcmp(arg, "udp") != 0) {
            stk_log_error("--protocol: '%s' is not tcp or udp", arg);
            return -1;
        }
        o->protocol = arg;
        return 0;
    }
    if (c != 6000)
        return -1;
    o->number = (int)strtol(arg, &end, 10);
    if (*end || o->number < 1) {
        stk_log_error("--index: '%s' is not a replica number", arg);
        return -1;
    }
    return 0;
}

/* exec, top, inspect and port: commands on a project's running containers. */
static int cmd_view(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"index", required_argument, NULL, 6000},
                                          {"protocol", required_argument, NULL, 6001},
                                          {NULL, 0, NULL, 0}};
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    struct view_opts vo = {1, "tcp"};
    char *name = NULL;
    int idx, r, status = 0;
    unsigned long private_port = 0;
    const char *cmd = argv[0];

    if ((idx = parse_project_opts(cli, argc, argv, "", longs, view_opt, &vo)) < 0)
        return EXIT_SPEC;
    if (strcmp(cmd, "exec") == 0 && argc - idx < 2) {
        stk_log_error("usage: stack exec [-f FILE] [-p NAME] [--index N] SERVICE COMMAND [ARG]...");
        return EXIT_SPEC;
    }
    if (strcmp(cmd, "port") == 0) {
        char *end = NULL;
        if (argc - idx == 2)
            private_port = strtoul(argv[idx + 1], &end, 10);
        if (argc - idx != 2 || *end || private_port < 1 || private_port > 65535) {
            stk_log_error("usage: stack port [-f FILE] [-p NAME] [--index N] [--protocol tcp|udp] "
                          "SERVICE PRIVATE_PORT");
            return EXIT_SPEC;
        }
    }
    if ((r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 1, 0)) != 0)
        goto out;
    if (strcmp(cmd, "exec") == 0) {
        if (cli_exec(&env, name, argv[idx], vo.number, argv + idx + 1, stdout, &status, &err) < 0)
            r = fail(&err, "exec");
        else
            r = status;
    } else if (strcmp(cmd, "port") == 0) {
        if (cli_port(&env, name, argv[idx], vo.number, (unsigned)private_port, vo.protocol, stdout,
                     &err) < 0)
            r = fail(&err, "port");
    } else if (strcmp(cmd, "top") == 0) {
        if (cli_top(&env, name, idx < argc ? argv[idx] : NULL, stdout, &err) < 0)
            r = fail(&err, "top");
    } else if (cli_inspect(&env, name, idx < argc ? argv[idx] : NULL, stdout, &err) < 0) {
        r = fail(&err, "inspect");
    }
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

struct events_args {
    long long since;
    int follow;
    int json;
};

static int events_opt(int c, const char *arg, void *ud)
{
    struct events_args *a = ud;
    char *end;

    switch (c) {
    case 5000:
        a->since = strtoll(arg, &end, 10);
        if (*end) {
            stk_log_error("--since: '%s' is not a revision", arg);
            return -1;
        }
        return 0;
    case 5001:
        a->follow = 1;
        return 0;
    case 5002:
        a->json = strcmp(arg, "json") == 0;
        return 0;
    }
    return -1;
}

static int cmd_events(struct cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"since", required_argument, NULL, 5000},
                                          {"follow", no_argument, NULL, 5001},
                                          {"format", required_argument, NULL, 5002},
                                          {NULL, 0, NULL, 0}};
    struct events_args a = {0, 0, 0};
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    char *name = NULL;
    int r;

    if (parse_project_opts(cli, argc, argv, "", longs, events_opt, &a) < 0)
        return EXIT_SPEC;
    if ((cli->files.n || cli->project_name) && (r = project_name(cli, &name)) < 0)
        return -r;
    if ((r = env_open(cli, &env, 0, 0)) != 0)
        goto out;
    do {
        struct store_event *ev = NULL;
        size_t n = 0;
        if (store_event_list(cli->store, name, a.since, &ev, &n, &err) < 0) {
            r = fail(&err, "events");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (a.json) {
                json_t *j = json_pack("{s:I, s:I, s:s?, s:s, s:s?, s:s?}", "revision",
                                      (json_int_t)ev[i].rev, "time_ms", (json_int_t)ev[i].time_ms,
                                      "project", ev[i].project, "kind", ev[i].kind, "object",
                                      ev[i].object, "message", ev[i].message);
                char *s = json_dumps(j, JSON_COMPACT);
                printf("%s\n", s);
                free(s);
                json_decref(j);
            } else {
                time_t t = (time_t)(ev[i].time_ms / 1000);
                char ts[32];
                strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime(&t));
                printf("%-6lld %s.%03lldZ %-10s %-18s %s %s\n", (long long)ev[i].rev, ts,
                       (long long)(ev[i].time_ms % 1000), ev[i].project ? ev[i].project : "",
                       ev[i].kind, ev[i].object ? ev[i].object : "",
                       ev[i].message ? ev[i].message : "");
            }
            a.since = ev[i].rev;
            store_event_release(&ev[i]);
        }
        free(ev);
        fflush(stdout);
        if (a.follow)
            cli_os_sleep_ms(250);
    } while (a.follow);
out:
    free(name);
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

/*
 * `stack internal hcs-monitor ID`: the detached monitor of a Windows
 * container, started by the hcs driver's start (rt_driver_monitor_main()).
 * It holds no store lock.
 */
static int cmd_hcs_monitor(struct cli *cli, const char *id)
{
    struct stk_err err = STK_ERR_INIT;
    int r = 0;

    if (rt_driver_monitor_main("hcs", cli->state_dir, id, stdout, &err) < 0)
        r = fail(&err, "hcs monitor");
    stk_err_clear(&err);
    return r;
}

/*
 * Hands the exit of container ID to a detached `stack internal
 * container-exited-now ID` and returns 0 at once, or -1 when it could not be
 * started (the caller then does the work itself). The monitor (conmon, the
 * HCS monitor) waits for its exit command before it exits, and `down` or a
 * recreate waits for the monitor while holding the store lock that the exit
 * command needs: without the hand-off each of them stalled until a timeout.
 */
static int exited_hand_off(struct cli *cli, const char *id)
{
    char *exe = cli_os_self_exe();
    char *sd = stk_xasprintf("--state-dir=%s", cli->state_dir);
    char *rd = stk_xasprintf("--run-dir=%s", cli->run_dir);
    char *rt = stk_xasprintf("--runtime=%s", cli->runtime);
    char *np = stk_xasprintf("--network-plugin=%s", cli->network);
    char internal[] = "internal", now[] = "container-exited-now";
    char *idc = stk_xstrdup(id);
    char *args[] = {exe, sd, rd, rt, np, internal, now, idc, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t o = {0};
    uv_process_t proc;
    uv_loop_t loop;
    int r;

    uv_loop_init(&loop);
    o.file = exe;
    o.args = args;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED | UV_PROCESS_WINDOWS_HIDE;
    r = uv_spawn(&loop, &proc, &o);
    if (r == 0)
        uv_unref((uv_handle_t *)&proc);
    uv_close((uv_handle_t *)&proc, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r < 0)
        stk_log_warn("container '%s' exited: could not hand off (%s); recording it here", id,
                     uv_strerror(r));
    free(exe);
    free(sd);
    free(rd);
    free(rt);
    free(np);
    free(idc);
    return r < 0 ? -1 : 0;
}

/*
 * `stack internal container-exited ID`: the monitor's exit command (conmon
 * --exit-command). Hands the work to a detached `container-exited-now ID`
 * (exited_hand_off()), which records the exit and applies the restart policy.
 * `stack internal hcs-monitor ID`: see cmd_hcs_monitor().
 */
static int cmd_internal(struct cli *cli, int argc, char **argv)
{
    struct stk_err err = STK_ERR_INIT;
    struct rec_env env;
    int r;

    if (argc == 3 && strcmp(argv[1], "hcs-monitor") == 0)
        return cmd_hcs_monitor(cli, argv[2]);
    if (argc == 3 && strcmp(argv[1], "container-exited") == 0 && exited_hand_off(cli, argv[2]) == 0)
        return EXIT_SUCCESS;
    if (argc != 3 || (strcmp(argv[1], "container-exited") != 0 &&
                      strcmp(argv[1], "container-exited-now") != 0)) {
        stk_log_error("usage: stack internal container-exited|hcs-monitor ID");
        return EXIT_SPEC;
    }
    /* The state went away with the container (a down -v, a removed test folder): nothing to do. */
    if (!stk_path_exists(cli->state_dir))
        return EXIT_SUCCESS;
    if ((r = env_open(cli, &env, 1, 1)) != 0)
        return r;
    env.sink.progress = NULL;
    if (cli->rt_members[0]) {
        /* The composite routes an id to the member that listed it: list once (a VM's exit). */
        struct rt_sync ls = RT_SYNC_INIT;
        r = rt_container_list(cli->rt, rt_sync_done, &ls, NULL, &err);
        if (rt_sync_wait(&cli->loop, &ls, r, &err) < 0)
            stk_err_clear(&err);
        rt_sync_release(&ls);
        r = 0;
    }
    {
        int64_t delay = -1;
        if (cli_container_exited(&env, argv[2], &delay, &err) < 0) {
            r = fail(&err, "container exited");
        } else if (delay >= 0) {
            /* Wait out the backoff without holding the lock, then start it again. */
            flock(cli->lock_fd, LOCK_UN);
            cli_os_sleep_ms((unsigned long)delay);
            flock(cli->lock_fd, LOCK_EX);
            if (cli_container_restart(&env, argv[2], &err) < 0)
                r = fail(&err, "restart");
        }
    }
    env_close(cli);
    stk_err_clear(&err);
    return r;
}

static int cmd_info_argv(struct cli *cli, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_info(cli);
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    printf("stack %s\n", rec_version());
    return 0;
}

/* A command: ARGV[0] is its name; returns the exit status. */
typedef int command_fn(struct cli *cli, int argc, char **argv);

/* The command table: a new command is one row. */
static const struct command {
    const char *name;
    command_fn *run;
} commands[] = {
    {"up", cmd_up},           {"plan", cmd_up},           {"down", cmd_down},
    {"stop", cmd_stop_start}, {"start", cmd_stop_start},  {"restart", cmd_stop_start},
    {"ps", cmd_ps},           {"logs", cmd_logs},         {"exec", cmd_view},
    {"top", cmd_view},        {"inspect", cmd_view},      {"port", cmd_view},
    {"events", cmd_events},   {"config", cmd_config},     {"image", cmd_image},
    {"pull", cmd_pull},       {"export", exp_cli_main},   {"info", cmd_info_argv},
    {"version", cmd_version}, {"internal", cmd_internal}, {NULL, NULL},
};

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"state-dir", required_argument, NULL, 's'},
                                          {"run-dir", required_argument, NULL, 'r'},
                                          {"runtime", required_argument, NULL, 't'},
                                          {"network-plugin", required_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, 'v'},
                                          {NULL, 0, NULL, 0}};
    struct cli cli;
    const char *cmd;
    char *abs_state = NULL, *abs_run = NULL;
    int c, r;

    /*
     * Long HCS calls and layer unpacking run on the threadpool (DESIGN.md §2).
     * First: on Windows, changing the environment invalidates what getenv()
     * returned before.
     */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    memset(&cli, 0, sizeof(cli));
    cli.lock_fd = -1;
    cli.state_dir = default_state_dir();
    cli.run_dir = default_run_dir();
    /* Linux: oci and cni; Windows: hcs and hns (cli-os-*.c). */
    cli.runtime = getenv("STACK_RUNTIME") ? getenv("STACK_RUNTIME") : cli_os_default_runtime();
    cli.network =
        getenv("STACK_NETWORK_PLUGIN") ? getenv("STACK_NETWORK_PLUGIN") : cli_os_default_network();
    stk_strv_init(&cli.files);
    stk_strv_init(&cli.profiles);
    stk_strv_init(&cli.env_files);
    cli_os_init();
    while ((c = getopt_long(argc, argv, "+hv", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            cli.state_dir = optarg;
            break;
        case 'r':
            cli.run_dir = optarg;
            break;
        case 't':
            cli.runtime = optarg;
            break;
        case 'n':
            cli.network = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("stack %s\n", rec_version());
            return 0;
        default:
            usage(stderr);
            return EXIT_SPEC;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_SPEC;
    }
    /* The monitor and the runtime run elsewhere: every path handed down is absolute. */
    if (!cli_os_path_is_absolute(cli.state_dir) || !cli_os_path_is_absolute(cli.run_dir)) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            stk_log_error("cannot read the current directory");
            return EXIT_HOST;
        }
        if (!cli_os_path_is_absolute(cli.state_dir))
            cli.state_dir = abs_state = stk_xasprintf("%s/%s", cwd, cli.state_dir);
        if (!cli_os_path_is_absolute(cli.run_dir))
            cli.run_dir = abs_run = stk_xasprintf("%s/%s", cwd, cli.run_dir);
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    r = -1;
    for (const struct command *k = commands; k->name; k++)
        if (strcmp(cmd, k->name) == 0) {
            r = k->run(&cli, argc, argv);
            break;
        }
    if (r == -1) {
        stk_log_error("unknown command '%s'", cmd);
        usage(stderr);
        r = EXIT_SPEC;
    }
    stk_strv_release(&cli.files);
    stk_strv_release(&cli.profiles);
    stk_strv_release(&cli.env_files);
    free(abs_state);
    free(abs_run);
    return r;
}
