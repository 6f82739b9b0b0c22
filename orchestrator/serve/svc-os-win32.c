/*
 * svc-os-win32.c - the named pipe \\.\pipe\stack with an access list for
 * Administrators and SYSTEM (svc.h). libuv's uv_pipe_bind() creates the pipe
 * with the default security descriptor, so the first instance is created
 * here with CreateNamedPipeW and explicit security attributes and then handed
 * to libuv with uv_pipe_open(). Compiled for WIN32 only; never run (no
 * Windows host builds or tests this project).
 */
#include "orchestrator/serve/svc-internal.h"

#include <windows.h>
#include <sddl.h>

int svc__os_bind(uv_pipe_t *pipe, const struct svc_listen_opts *opts, struct stk_err *err)
{
    /* D:P protected DACL; GA generic all for BA (Administrators) and SY (SYSTEM). */
    static const wchar_t sddl[] = L"D:P(A;;GA;;;BA)(A;;GA;;;SY)";
    SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, FALSE};
    wchar_t name[260];
    HANDLE h;
    int r;

    if (!MultiByteToWideChar(CP_UTF8, 0, opts->path, -1, name, 260))
        return stk_err_set(err, STK_EINVAL, (int)GetLastError(), "pipe name '%s'", opts->path);
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1,
                                                              &sa.lpSecurityDescriptor, NULL))
        return stk_err_set(err, STK_EIO, (int)GetLastError(), "security descriptor");
    h = CreateNamedPipeW(
        name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
        PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, &sa);
    LocalFree(sa.lpSecurityDescriptor);
    if (h == INVALID_HANDLE_VALUE)
        return stk_err_set(err, STK_EIO, (int)GetLastError(), "create pipe '%s'", opts->path);
    r = uv_pipe_open(pipe, (uv_file)(intptr_t)h);
    if (r < 0) {
        CloseHandle(h);
        return stk_err_set(err, STK_EIO, 0, "open pipe '%s': %s", opts->path, uv_strerror(r));
    }
    return 0;
}

int svc__os_peer(uv_pipe_t *client, uint32_t *ret_uid, uint32_t *ret_gid, struct stk_err *err)
{
    (void)client;
    (void)err;
    /* The pipe's access list already admits only Administrators and SYSTEM. */
    *ret_uid = 0;
    *ret_gid = 0;
    return 0;
}

int svc__os_peer_allowed(uint32_t uid, uint32_t gid, int sock_gid)
{
    (void)uid;
    (void)gid;
    (void)sock_gid;
    return 1;
}
