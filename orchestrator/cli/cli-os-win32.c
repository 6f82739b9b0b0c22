/*
 * cli-os-win32.c - cli-os.h on Windows (selected by orchestrator/CMakeLists.txt
 * when WIN32). Defaults to the hcs runtime and the hns plug-in.
 */
#include "orchestrator/cli/cli-os.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include <shlobj.h>

#include "common/stk-alloc.h"

const char *cli_os_default_runtime(void)
{
    return "hcs";
}

const char *cli_os_default_network(void)
{
    return "hns";
}

/* 1 when the process token is elevated (an administrator's). */
static int elevated(void)
{
    HANDLE tok;
    TOKEN_ELEVATION te = {0};
    DWORD n = 0;

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
        return 0;
    if (!GetTokenInformation(tok, TokenElevation, &te, sizeof(te), &n))
        te.TokenIsElevated = 0;
    CloseHandle(tok);
    return te.TokenIsElevated != 0;
}

/* Writes "<base>\stack\<leaf>" into BUF, base from %ProgramData% or %LOCALAPPDATA%. */
static const char *stack_dir(char *buf, size_t size, const char *leaf)
{
    const char *base = getenv(elevated() ? "ProgramData" : "LOCALAPPDATA");

    if (!base || !*base)
        base = getenv("TEMP") ? getenv("TEMP") : "C:\\";
    snprintf(buf, size, "%s\\stack\\%s", base, leaf);
    return buf;
}

const char *cli_os_default_state_dir(void)
{
    static char buf[MAX_PATH * 3];

    return stack_dir(buf, sizeof(buf), "state");
}

const char *cli_os_default_run_dir(void)
{
    static char buf[MAX_PATH * 3];

    return stack_dir(buf, sizeof(buf), "run");
}

int cli_os_path_is_absolute(const char *path)
{
    if (path[0] == '/' || path[0] == '\\')
        return 1;
    return ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
           path[1] == ':' && (path[2] == '\\' || path[2] == '/');
}

char *cli_os_self_exe(void)
{
    wchar_t w[32768];
    DWORD n = GetModuleFileNameW(NULL, w, sizeof(w) / sizeof(w[0]));
    char *s;
    int len;

    if (n == 0 || n >= sizeof(w) / sizeof(w[0]))
        return stk_xstrdup("stack.exe");
    len = WideCharToMultiByte(CP_UTF8, 0, w, (int)n, NULL, 0, NULL, NULL);
    if (len <= 0)
        return stk_xstrdup("stack.exe");
    s = stk_xmalloc((size_t)len + 1);
    WideCharToMultiByte(CP_UTF8, 0, w, (int)n, s, len, NULL, NULL);
    s[len] = '\0';
    return s;
}

void cli_os_init(void)
{
    /* Messages are UTF-8; the console shows them as such. */
    SetConsoleOutputCP(CP_UTF8);
}

void cli_os_on_sigint(void (*handler)(int))
{
    /* The CRT raises SIGINT on Ctrl-C from its console control handler. */
    signal(SIGINT, handler);
}

void cli_os_sleep_ms(unsigned long ms)
{
    Sleep((DWORD)ms);
}
