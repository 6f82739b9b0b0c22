/*
 * cli-project.h - the project options of main.c that commands living in
 * their own folders reuse (orchestrator/export/exp-cli.c), so that -f, -p,
 * --profile, --env-file, --strict and --platform mean the same everywhere.
 * Implemented in main.c; CLI is its opaque command-line state.
 */
#ifndef CLI_PROJECT_H
#define CLI_PROJECT_H

struct cli;
struct option;
struct spec_project;

/*
 * Parses ARGV (ARGV[0] the command) for the project options plus
 * EXTRA_SHORT/EXTRA_LONG, whose matches go to ON_EXTRA(code, optarg, UD)
 * (which returns -1 after printing an error). Returns optind, or -1 on a
 * usage error (already reported).
 */
int cli_project_opts(struct cli *cli, int argc, char **argv, const char *extra_short,
                     const struct option *extra_long, int (*on_extra)(int, const char *, void *),
                     void *ud);

/*
 * Loads the project as `up` does (default file names, --platform rules),
 * printing its diagnostics. Stores a new project in *RET (free with
 * spec_project_free()) and returns 0, or returns the exit status (2).
 */
int cli_project_load(struct cli *cli, struct spec_project **ret);

/*
 * What the options chose: the state directory (borrowed), whether --platform
 * (or the host) selects Windows, and --strict.
 */
void cli_project_info(struct cli *cli, const char **ret_state_dir, int *ret_windows,
                      int *ret_strict);

#endif
