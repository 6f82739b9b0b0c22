/*
 * cli-os.h - what the command line (main.c) needs from the host OS, one
 * implementation per platform selected by orchestrator/CMakeLists.txt
 * (STYLE.md rule 28): cli-os-posix.c on Linux, cli-os-win32.c on Windows.
 */
#ifndef STK_CLI_OS_H
#define STK_CLI_OS_H

/* The runtime driver used when neither --runtime nor STACK_RUNTIME names one: "oci" or "hcs". */
const char *cli_os_default_runtime(void);

/* The network plug-in used by default: "cni" on Linux, "hns" on Windows. */
const char *cli_os_default_network(void);

/*
 * The state directory when --state-dir and STACK_STATE_DIR are absent: Linux
 * /var/lib/stack for root, else $XDG_STATE_HOME/stack or
 * ~/.local/state/stack; Windows %ProgramData%\stack\state for an elevated
 * process, else %LOCALAPPDATA%\stack\state. Returns a static string.
 */
const char *cli_os_default_state_dir(void);

/*
 * The run directory (locks, sockets) when --run-dir and STACK_RUN_DIR are
 * absent: Linux /run/stack for root, else $XDG_RUNTIME_DIR/stack (or
 * /tmp/stack); Windows the state directory's sibling "run". Returns a static
 * string.
 */
const char *cli_os_default_run_dir(void);

/* Returns 1 when PATH is absolute ("/x"; on Windows also "C:\x", "C:/x", "\\server\x"). */
int cli_os_path_is_absolute(const char *path);

/* The running executable's path (Linux /proc/self/exe, Windows GetModuleFileNameW), new string. */
char *cli_os_self_exe(void);

/*
 * Process-wide setup before any command: on POSIX, an empty signal mask and
 * default SIGCHLD (whatever the parent left: conmon blocks SIGCHLD), and
 * SIGPIPE ignored.
 */
void cli_os_init(void);

/* Installs HANDLER for SIGINT (Ctrl-C), and SIGTERM on POSIX, without SA_RESTART. */
void cli_os_on_sigint(void (*handler)(int));

/* Sleeps MS milliseconds. */
void cli_os_sleep_ms(unsigned long ms);

#endif
