/*
 * svc-internal.h - the serve module's platform half (svc-os-posix.c,
 * svc-os-win32.c); nothing outside orchestrator/serve/ includes it.
 */
#ifndef STK_SVC_INTERNAL_H
#define STK_SVC_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "orchestrator/serve/svc.h"

/*
 * Binds PIPE (initialised, not bound) to OPTS->path and gives it its access:
 * on Linux bind, chmod and chown; on Windows the pipe is created with a
 * security descriptor for Administrators and SYSTEM and handed to libuv.
 */
int svc__os_bind(uv_pipe_t *pipe, const struct svc_listen_opts *opts, struct stk_err *err);

/*
 * The connected client's credentials. Returns 0 and stores the uid and gid,
 * or a negative STK_E* when they cannot be read (the client is refused).
 */
int svc__os_peer(uv_pipe_t *client, uint32_t *ret_uid, uint32_t *ret_gid, struct stk_err *err);

/* 1 when a client with UID/GID may use the API of a socket of group SOCK_GID (-1: none). */
int svc__os_peer_allowed(uint32_t uid, uint32_t gid, int sock_gid);

#endif
