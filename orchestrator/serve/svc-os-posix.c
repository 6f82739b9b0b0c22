/*
 * svc-os-posix.c - the Unix socket's access and the peer check (Linux).
 */
#include "orchestrator/serve/svc-internal.h"

#include <errno.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int svc__os_bind(uv_pipe_t *pipe, const struct svc_listen_opts *opts, struct stk_err *err)
{
    unsigned mode = opts->mode ? opts->mode : 0660;
    int r;

    if (unlink(opts->path) < 0 && errno != ENOENT)
        return stk_err_set(err, STK_EIO, errno, "remove stale socket '%s'", opts->path);
    r = uv_pipe_bind(pipe, opts->path);
    if (r < 0)
        return stk_err_set(err, STK_EIO, -r, "bind '%s'", opts->path);
    /* chown before chmod: the file is never group-accessible to the wrong group. */
    if (opts->gid >= 0 && chown(opts->path, 0, (gid_t)opts->gid) < 0)
        return stk_err_set(err, STK_EIO, errno, "chown '%s'", opts->path);
    if (chmod(opts->path, (mode_t)mode) < 0)
        return stk_err_set(err, STK_EIO, errno, "chmod '%s'", opts->path);
    return 0;
}

int svc__os_peer(uv_pipe_t *client, uint32_t *ret_uid, uint32_t *ret_gid, struct stk_err *err)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;
    int r;

    r = uv_fileno((uv_handle_t *)client, &fd);
    if (r < 0)
        return stk_err_set(err, STK_EIO, -r, "client socket");
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return stk_err_set(err, STK_EIO, errno, "SO_PEERCRED");
    *ret_uid = cred.uid;
    *ret_gid = cred.gid;
    return 0;
}

int svc__os_peer_allowed(uint32_t uid, uint32_t gid, int sock_gid)
{
    if (uid == 0 || uid == (uint32_t)geteuid())
        return 1;
    return sock_gid >= 0 && gid == (uint32_t)sock_gid;
}
