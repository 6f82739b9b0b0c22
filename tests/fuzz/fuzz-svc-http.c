/*
 * fuzz-svc-http.c - libFuzzer target for the API's request parsing and
 * routing (orchestrator/serve/svc.h): the input is fed to one session, split
 * into chunks at points chosen by the first byte, under small limits so the
 * header and body limits are reached; the route table is the shape of the
 * daemon's (parameters, several methods on one pattern).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined (cmake -DSTK_FUZZ=ON).
 */
#include <stdint.h>
#include <string.h>

#include "orchestrator/serve/svc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void h_any(const struct svc_request *req, struct svc_response *resp, void *userdata)
{
    (void)userdata;
    stk_buf_printf(&resp->body, "%s %s %s %zu", req->method, req->path, req->query, req->n_params);
    for (size_t i = 0; i < req->n_params; i++)
        stk_buf_puts(&resp->body, req->params[i]);
    stk_buf_add(&resp->body, req->body, req->body_len);
    if (req->body_len > 3 && req->body[0] == '!') {
        struct stk_err err = STK_ERR_INIT;
        stk_err_set_at(&err, STK_ESPEC, "stack.yaml", 1, 2, "bad '%s'", req->params[0]);
        svc_response_error(resp, 422, &err);
    }
}

static const struct svc_route routes[] = {
    {"GET", "/v1/stacks", h_any},
    {"GET", "/v1/stacks/{name}", h_any},
    {"PUT", "/v1/stacks/{name}", h_any},
    {"DELETE", "/v1/stacks/{name}", h_any},
    {"GET", "/v1/stacks/{name}/containers", h_any},
    {"GET", "/v1/stacks/{name}/services/{svc}/logs", h_any},
    {"GET", "/v1/events", h_any},
    {"GET", "/healthz", h_any},
    {"GET", "/metrics", h_any},
    {NULL, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct svc_limits l;
    struct svc_session *s;
    struct stk_buf out = STK_BUF_INIT;
    size_t chunk = 1, off = 1;

    if (size == 0)
        return 0;
    svc_limits_default(&l);
    l.max_header_bytes = 512;
    l.max_body_bytes = 256;
    chunk = (size_t)(data[0] % 64) + 1;
    s = svc_session_new(routes, NULL, &l, 0);
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (svc_session_feed(s, (const char *)data + off, n, &out))
            break;
        off += n;
    }
    if (data[0] & 0x80)
        svc_session_timeout(s, &out);
    /* Every response starts with a status line. */
    if (out.len && strncmp(out.buf, "HTTP/1.1 ", 9) != 0)
        __builtin_trap();
    stk_buf_release(&out);
    svc_session_free(s);
    return 0;
}
