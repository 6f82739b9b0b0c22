/*
 * svc.h - the daemon's local API (`stack serve`, DESIGN.md §3 and §5).
 *
 * HTTP/1.1 + JSON over a local stream socket: on Linux a Unix socket (default
 * <run dir>/stack.sock, /run/stack/stack.sock for root, mode 0660, owner root,
 * group configurable); on Windows the named pipe \\.\pipe\stack. Requests are
 * parsed with Debian's libhttp-parser 2.9 (the one libgit2 links; llhttp is
 * not in Debian 12) over libuv streams (uv_pipe_t), so the Unix socket and the
 * named pipe share one code path. libuv cannot give a listening pipe an access
 * list, so on Windows the pipe is created by svc-os-win32.c with its own
 * security attributes (Administrators and SYSTEM only) and handed to libuv;
 * that file is compiled for WIN32 only and has never been run (the machines
 * that build this have no Windows host).
 *
 * The module has three parts, each usable on its own:
 *   - the router (svc_route_match): a table of METHOD + pattern ("/v1/stacks/{name}")
 *     matched against a request path, pure, no I/O;
 *   - the session (struct svc_session): one connection's HTTP state with
 *     its limits (header bytes, body bytes, requests), fed bytes and
 *     producing response bytes, with no socket, so tests and the fuzzer
 *     drive it directly;
 *   - the server (struct svc_server): the libuv listener, the connection
 *     cap, the idle and request timeouts and the peer check (SO_PEERCRED on
 *     Linux: a client that is neither root, the daemon's own user, nor in
 *     the socket's group is answered 403 and closed).
 *   - the work queue (struct svc_queue): keys (projects) to reconcile, with
 *     de-duplication, one worker per key, per-key backoff and a global rate
 *     limit, on a caller-supplied clock (no loop, table-tested).
 *
 * Errors follow STYLE.md: negative STK_E* and a filled struct stk_err. Errors
 * sent to a client are JSON: {"error":{"code":"ESPEC","message":"…",
 * "file":"…","line":L,"col":C}} (the position only for spec errors).
 * Everything runs on the loop thread.
 */
#ifndef STK_SVC_H
#define STK_SVC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "stk-buf.h"
#include "stk-err.h"

struct svc_server;
struct svc_session;

/* Limits of one server; svc_limits_default() gives the documented defaults. */
struct svc_limits {
    size_t max_header_bytes;     /* request line + headers; default 16 KiB, over: 431 */
    size_t max_body_bytes;       /* request body; default 4 MiB, over: 413 */
    uint64_t idle_timeout_ms;    /* no byte between requests; default 60 s, then closed */
    uint64_t request_timeout_ms; /* a request's first byte to its end; default 10 s, then 408 */
    unsigned max_conns;          /* open connections; default 64, over: 503 and closed */
};

/* Fills L with the defaults above. */
void svc_limits_default(struct svc_limits *l);

#define SVC_MAX_PARAMS 4
#define SVC_PARAM_MAX 256

/* One parsed request, borrowed by a handler for the duration of the call. */
struct svc_request {
    const char *method; /* "GET", "PUT", …; static */
    const char *path;   /* decoded path without the query ("/v1/stacks/shop") */
    const char *query;  /* the raw query without '?', "" when none */
    const char *body;   /* the body bytes, NUL-terminated, "" when none */
    size_t body_len;
    const char *content_type;                   /* the Content-Type header, "" when none */
    size_t n_params;                            /* the route's {placeholders}, in order */
    char params[SVC_MAX_PARAMS][SVC_PARAM_MAX]; /* their values */
    uint32_t peer_uid;                          /* the client's uid (SO_PEERCRED), 0 on Windows */
};

/* What a handler answers. body starts empty; status defaults to 200. */
struct svc_response {
    int status;               /* HTTP status */
    const char *content_type; /* static; default "application/json" */
    struct stk_buf body;      /* owned by the session */
};

/*
 * A route's handler: reads REQ, fills RESP. USERDATA is the table's. Runs on
 * the loop thread and must not block.
 */
typedef void svc_handler_fn(const struct svc_request *req, struct svc_response *resp,
                            void *userdata);

/* One route: METHOD (NULL ends the table) and a PATTERN of literal segments and {name}s. */
struct svc_route {
    const char *method;
    const char *pattern;
    svc_handler_fn *fn;
};

/* What svc_route_match() found. */
enum svc_match {
    SVC_MATCH_OK,         /* a route: *ret_route set, params filled */
    SVC_MATCH_NOT_FOUND,  /* no pattern matches the path: 404 */
    SVC_MATCH_BAD_METHOD, /* a pattern matches but not with this method: 405 */
    SVC_MATCH_BAD_PATH,   /* a segment too long, too many segments, or a bad %-escape: 400 */
};

/*
 * Matches METHOD and PATH (no query) against ROUTES (ended by a NULL method).
 * Each {name} matches exactly one non-empty segment, %-decoded; at most
 * SVC_MAX_PARAMS per pattern. On SVC_MATCH_OK stores the route in *RET_ROUTE
 * (borrowed from ROUTES) and the values in REQ->params / REQ->n_params.
 * Pure: no allocation, no I/O.
 */
enum svc_match svc_route_match(const struct svc_route *routes, const char *method, const char *path,
                               struct svc_request *req, const struct svc_route **ret_route);

/*
 * Writes the API's error document for ERR into RESP with STATUS:
 * {"error":{"code":"ESPEC","message":…,"file":…,"line":…,"col":…}}.
 */
void svc_response_error(struct svc_response *resp, int status, const struct stk_err *err);

/* As svc_response_error() with a code name and a message (no position). */
void svc_response_errorf(struct svc_response *resp, int status, const char *code, const char *fmt,
                         ...) STK_PRINTF(4, 5);

/* The reason phrase of an HTTP status ("Not Found"); "Unknown" for others. Static. */
const char *svc_status_text(int status);

/*
 * Session: the HTTP state of one connection, without a transport.
 * svc_session_new() returns a new session the caller frees with
 * svc_session_free(); ROUTES and USERDATA are borrowed for its lifetime,
 * LIMITS copied. PEER_UID is passed to handlers.
 */
struct svc_session *svc_session_new(const struct svc_route *routes, void *userdata,
                                    const struct svc_limits *limits, uint32_t peer_uid);
void svc_session_free(struct svc_session *s);

/*
 * Feeds N bytes read from the client. Complete requests are routed and run
 * at once; their responses are appended to OUT (HTTP/1.1, Content-Length,
 * keep-alive unless the client asked to close or HTTP/1.0). Returns 0 to
 * keep reading, 1 when the connection must be closed once OUT is written
 * (an error answered with 4xx, a limit hit, Connection: close). After 1 every
 * further call returns 1 and appends nothing.
 */
int svc_session_feed(struct svc_session *s, const char *data, size_t n, struct stk_buf *out);

/* 1 while a request has started and is not complete (the request timeout runs). */
int svc_session_in_request(const struct svc_session *s);

/* Appends a 408 and marks the session closed (the server's request timeout). */
void svc_session_timeout(struct svc_session *s, struct stk_buf *out);

/* Requests completed by this session. */
unsigned svc_session_count(const struct svc_session *s);

/* The listening socket's ownership and access. */
struct svc_listen_opts {
    const char *path; /* socket path, or the pipe name on Windows (\\.\pipe\stack) */
    unsigned mode;    /* file mode of the socket, 0660 by default when 0 */
    int gid;          /* group of the socket, -1 to keep the daemon's */
};

/* Server counters, for /metrics. */
struct svc_server_stats {
    uint64_t accepted;     /* connections accepted */
    uint64_t refused_cap;  /* refused at the connection cap */
    uint64_t refused_peer; /* refused by the peer check */
    uint64_t timeouts;     /* closed by the idle or request timeout */
    uint64_t requests;     /* requests answered */
    unsigned open;         /* connections open now */
};

/*
 * Creates a server on LOOP answering ROUTES (borrowed, with USERDATA) under
 * LIMITS (copied; NULL for the defaults). Returns a new server, closed and
 * freed with svc_server_close().
 */
struct svc_server *svc_server_new(uv_loop_t *loop, const struct svc_route *routes, void *userdata,
                                  const struct svc_limits *limits);

/*
 * Binds and listens as OPTS says. On Linux a stale socket file at the path
 * is removed first (the caller holds the daemon's lock), the file is then
 * chmod'ed to OPTS->mode and chown'ed to root:OPTS->gid. Errors: STK_EIO
 * (bind, listen, chmod, chown) with the errno.
 */
int svc_server_listen(struct svc_server *srv, const struct svc_listen_opts *opts,
                      struct stk_err *err);

/* Fills RET with the server's counters. */
void svc_server_get_stats(const struct svc_server *srv, struct svc_server_stats *ret);

/*
 * Stops listening, closes every connection and frees SRV once every handle
 * is closed (DONE, if not NULL, is then called with USERDATA). NULL-safe.
 */
void svc_server_close(struct svc_server *srv, void (*done)(void *userdata), void *userdata);

/*
 * Work queue keyed by project (reference loop of
 * reconcilers-gitops-sqlite.md §1, client-go's workqueue shape): a key added
 * while queued is not queued twice; a key handed out is "in flight" and is
 * never handed out again until svc_queue_done(); a key added while in flight
 * is marked dirty and queued again when done. A failed key waits
 * base·2^(failures-1) capped at max before it is handed out again; success
 * forgets its failures. Hand-outs are rate limited globally by a token
 * bucket (RATE per second, BURST tokens). Time is the caller's: every
 * call takes NOW in milliseconds on a monotonic clock, so tests use a fake one.
 */
struct svc_queue;

struct svc_queue_opts {
    uint64_t backoff_base_ms; /* first retry delay; default 1000 */
    uint64_t backoff_max_ms;  /* cap; default 300000 (5 min) */
    double rate_per_s;        /* global hand-outs per second; default 10 */
    unsigned burst;           /* bucket size; default 20 */
};

/* Returns a new queue (OPTS NULL: the defaults), freed with svc_queue_free(). */
struct svc_queue *svc_queue_new(const struct svc_queue_opts *opts, uint64_t now_ms);
void svc_queue_free(struct svc_queue *q);

/* Queues KEY (copied) now; see above for queued and in-flight keys. */
void svc_queue_add(struct svc_queue *q, const char *key, uint64_t now_ms);

/* Queues KEY to be ready at NOW + DELAY (an earlier ready time wins). */
void svc_queue_add_after(struct svc_queue *q, const char *key, uint64_t now_ms, uint64_t delay_ms);

/*
 * Hands out the ready key queued first: returns a string borrowed until
 * svc_queue_done() for it, or NULL when no key is ready or the rate limit
 * has no token.
 */
const char *svc_queue_get(struct svc_queue *q, uint64_t now_ms);

/*
 * Ends KEY's work. OK non-zero: its failures are forgotten. OK zero: it is
 * queued again after its backoff. A dirty key is queued again (at once
 * after success, after the backoff after a failure).
 */
void svc_queue_done(struct svc_queue *q, const char *key, int ok, uint64_t now_ms);

/*
 * When the next key may be handed out: 0 when one could be now, UINT64_MAX
 * when nothing is queued, else the milliseconds from NOW (a ready time or
 * the next token).
 */
uint64_t svc_queue_next_ms(const struct svc_queue *q, uint64_t now_ms);

/* Keys queued (not in flight); for /metrics. */
size_t svc_queue_len(const struct svc_queue *q);

/* KEY's consecutive failures (0 when unknown). */
unsigned svc_queue_failures(const struct svc_queue *q, const char *key);

/*
 * Stacks registered with the daemon, kept in the store as objects of kind
 * "svc.stack" (id: the stack's name), one JSON document each:
 *   {"name":…, "spec":{"files":[{"name":…,"content":…}], "env":{…},
 *    "project_dir":…}, "generation":G, "observed_generation":O,
 *    "conditions":[{"type":"Ready"|"Reconciling"|"Stalled",
 *                   "status":"True"|"False"|"Unknown", "reason":…, "message":…}]}
 * Conditions follow Flux's kstatus use (reconcilers-gitops-sqlite.md §6):
 * a new generation is Reconciling=True/NewGeneration, Ready=Unknown; a
 * success is Ready=True, Reconciling=False; a failure is Ready=False with the
 * error as message, Reconciling=True/ProgressingWithRetry, and Stalled=True
 * only when retrying cannot help (a spec error).
 */
struct store;

/*
 * Registers or updates stack NAME from BODY, the request's JSON
 * {"files":[{"name","content"}…] (at least one), "env":{string…},
 * "project_dir":string}. The generation grows only when the spec changed.
 * Stores the generation in *RET_GENERATION and 1 in *RET_CHANGED when it grew.
 * Errors: STK_EINVAL for a malformed body (a JSON syntax error carries
 * file "request body", line and column), STK_ESTORE.
 */
int svc_stack_put(struct store *store, const char *name, const char *body, int64_t *ret_generation,
                  int *ret_changed, struct stk_err *err);

/* Returns stack NAME's document as a new reference in *RET. STK_ENOENT, STK_ESTORE. */
int svc_stack_get(struct store *store, const char *name, json_t **ret, struct stk_err *err);

/* Returns every stack's document, by registration order, as a new array in *RET. */
int svc_stack_list(struct store *store, json_t **ret, struct stk_err *err);

/* Unregisters stack NAME. STK_ENOENT when it is not registered, STK_ESTORE. */
int svc_stack_delete(struct store *store, const char *name, struct stk_err *err);

/*
 * Records the outcome of reconciling GENERATION of stack NAME: RESULT NULL
 * for success, else the error. Sets observed_generation and the conditions.
 */
int svc_stack_observe(struct store *store, const char *name, int64_t generation,
                      const struct stk_err *result, struct stk_err *err);

/* What the API's handlers work on (userdata of svc_api_routes()). */
struct svc_api {
    struct store *store;      /* borrowed */
    struct svc_queue *queue;  /* borrowed; a put or delete queues the stack */
    struct svc_server *srv;   /* borrowed, may be NULL; its counters go to /metrics */
    uint64_t (*now_ms)(void); /* the queue's clock */
    uint64_t reconciles;      /* counters kept by the reconcile glue, for /metrics */
    uint64_t reconcile_errors;
    double reconcile_seconds_sum;
};

/*
 * The API's resources, a static table for svc_server_new() with a struct
 * svc_api as userdata:
 *   GET    /healthz                     "ok"
 *   GET    /metrics                     Prometheus text
 *   GET    /v1/stacks                   [document…]
 *   GET    /v1/stacks/{name}            document
 *   PUT    /v1/stacks/{name}            register or update (body above); 200 with the document
 *   DELETE /v1/stacks/{name}            unregister (the glue removes its containers)
 *   GET    /v1/stacks/{name}/status     {generation, observed_generation, conditions}
 *   GET    /v1/events?since=REV         [{rev,time_ms,project,kind,object,message}…]
 */
const struct svc_route *svc_api_routes(void);

#endif
