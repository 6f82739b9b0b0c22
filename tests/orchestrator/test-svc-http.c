/*
 * test-svc-http.c - the API's router and HTTP session (orchestrator/serve):
 * parsing, routing, limits and the structured errors, with no socket.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "orchestrator/serve/svc.h"

static void h_echo(const struct svc_request *req, struct svc_response *resp, void *userdata)
{
    (void)userdata;
    stk_buf_printf(&resp->body, "%s %s q=%s n=%zu", req->method, req->path, req->query,
                   req->n_params);
    for (size_t i = 0; i < req->n_params; i++)
        stk_buf_printf(&resp->body, " [%s]", req->params[i]);
    stk_buf_printf(&resp->body, " body=%zu:%s ct=%s", req->body_len, req->body, req->content_type);
    resp->content_type = "text/plain";
}

static void h_created(const struct svc_request *req, struct svc_response *resp, void *userdata)
{
    (void)req;
    (void)userdata;
    resp->status = 201;
}

static void h_spec_error(const struct svc_request *req, struct svc_response *resp, void *userdata)
{
    struct stk_err err = STK_ERR_INIT;
    (void)req;
    (void)userdata;
    stk_err_set_at(&err, STK_ESPEC, "stack.yaml", 12, 7, "unknown key 'imagee'");
    svc_response_error(resp, 422, &err);
}

static const struct svc_route routes[] = {
    {"GET", "/v1/stacks", h_echo},
    {"GET", "/v1/stacks/{name}", h_echo},
    {"PUT", "/v1/stacks/{name}", h_created},
    {"DELETE", "/v1/stacks/{name}", h_echo},
    {"GET", "/v1/stacks/{name}/services/{svc}/logs", h_echo},
    {"POST", "/v1/echo", h_echo},
    {"PUT", "/v1/bad", h_spec_error},
    {"GET", "/healthz", h_echo},
    {NULL, NULL, NULL},
};

struct match_case {
    const char *method, *path;
    enum svc_match want;
    const char *pattern; /* when OK */
    size_t n;
    const char *p0, *p1;
};

Test(svc_route, table)
{
    static const struct match_case cases[] = {
        {"GET", "/v1/stacks", SVC_MATCH_OK, "/v1/stacks", 0, NULL, NULL},
        {"GET", "/v1/stacks/shop", SVC_MATCH_OK, "/v1/stacks/{name}", 1, "shop", NULL},
        {"PUT", "/v1/stacks/shop", SVC_MATCH_OK, "/v1/stacks/{name}", 1, "shop", NULL},
        {"GET", "/v1/stacks/a%20b", SVC_MATCH_OK, "/v1/stacks/{name}", 1, "a b", NULL},
        {"GET", "/v1/stacks/shop/services/web/logs", SVC_MATCH_OK,
         "/v1/stacks/{name}/services/{svc}/logs", 2, "shop", "web"},
        {"POST", "/v1/stacks/shop", SVC_MATCH_BAD_METHOD, NULL, 0, NULL, NULL},
        {"PATCH", "/v1/stacks", SVC_MATCH_BAD_METHOD, NULL, 0, NULL, NULL},
        {"GET", "/v1/stack", SVC_MATCH_NOT_FOUND, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/", SVC_MATCH_NOT_FOUND, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/shop/extra", SVC_MATCH_NOT_FOUND, NULL, 0, NULL, NULL},
        {"GET", "/", SVC_MATCH_NOT_FOUND, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/a%2fb", SVC_MATCH_BAD_PATH, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/a%00", SVC_MATCH_BAD_PATH, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/a%zz", SVC_MATCH_BAD_PATH, NULL, 0, NULL, NULL},
        {"GET", "/v1/stacks/a%2", SVC_MATCH_BAD_PATH, NULL, 0, NULL, NULL},
        {"GET", "relative", SVC_MATCH_BAD_PATH, NULL, 0, NULL, NULL},
        {"GET", "/v1/%73tacks", SVC_MATCH_OK, "/v1/stacks", 0, NULL, NULL},
        {"GET", "/healthz", SVC_MATCH_OK, "/healthz", 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct match_case *c = &cases[i];
        struct svc_request req;
        const struct svc_route *r = NULL;
        memset(&req, 0, sizeof(req));
        enum svc_match m = svc_route_match(routes, c->method, c->path, &req, &r);
        cr_assert_eq(m, c->want, "case %zu %s %s: got %d want %d", i, c->method, c->path, m,
                     c->want);
        if (m != SVC_MATCH_OK)
            continue;
        cr_assert_str_eq(r->pattern, c->pattern, "case %zu", i);
        cr_assert_str_eq(r->method, c->method, "case %zu", i);
        cr_assert_eq(req.n_params, c->n, "case %zu", i);
        if (c->p0)
            cr_assert_str_eq(req.params[0], c->p0, "case %zu", i);
        if (c->p1)
            cr_assert_str_eq(req.params[1], c->p1, "case %zu", i);
    }
}

Test(svc_route, long_segment_is_bad_path)
{
    char path[600] = "/v1/stacks/";
    struct svc_request req;
    const struct svc_route *r = NULL;
    memset(path + strlen(path), 'a', 400);
    memset(&req, 0, sizeof(req));
    cr_assert_eq(svc_route_match(routes, "GET", path, &req, &r), SVC_MATCH_BAD_PATH);
}

/* Feeds IN in chunks of CHUNK bytes; returns the last feed's result. */
static int feed(struct svc_session *s, const char *in, size_t chunk, struct stk_buf *out)
{
    size_t n = strlen(in);
    int r = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        r = svc_session_feed(s, in + i, k, out);
        if (r)
            break;
    }
    return r;
}

static int status_of(const char *resp)
{
    int st = 0;
    cr_assert(sscanf(resp, "HTTP/1.1 %d", &st) == 1, "no status line in '%s'", resp);
    return st;
}

Test(svc_session, get_with_params_and_query)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 7);
    struct stk_buf out = STK_BUF_INIT;
    int r = feed(s, "GET /v1/stacks/shop?since=5 HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &out);
    cr_assert_eq(r, 0);
    cr_assert_eq(status_of(out.buf), 200);
    cr_assert(strstr(out.buf, "Content-Type: text/plain\r\n"));
    cr_assert(strstr(out.buf, "Connection: keep-alive\r\n"));
    cr_assert(strstr(out.buf, "\r\n\r\nGET /v1/stacks/shop q=since=5 n=1 [shop] body=0: ct="), "%s",
              out.buf);
    cr_assert_eq(svc_session_count(s), 1);
    cr_assert_eq(svc_session_in_request(s), 0);
    stk_buf_release(&out);
    svc_session_free(s);
}

Test(svc_session, byte_by_byte_and_pipelined)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
    struct stk_buf out = STK_BUF_INIT;
    const char *in = "POST /v1/echo HTTP/1.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: 7\r\n\r\n{\"a\":1}"
                     "GET /healthz HTTP/1.1\r\n\r\n";
    int r = feed(s, in, 1, &out);
    cr_assert_eq(r, 0);
    cr_assert_eq(svc_session_count(s), 2);
    cr_assert(strstr(out.buf, "body=7:{\"a\":1} ct=application/json"), "%s", out.buf);
    cr_assert(strstr(out.buf, "GET /healthz q= n=0"), "%s", out.buf);
    stk_buf_release(&out);
    svc_session_free(s);
}

Test(svc_session, in_request_while_partial)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
    struct stk_buf out = STK_BUF_INIT;
    cr_assert_eq(feed(s, "GET /heal", 100, &out), 0);
    cr_assert_eq(svc_session_in_request(s), 1);
    cr_assert_eq(out.len, 0);
    svc_session_timeout(s, &out);
    cr_assert_eq(status_of(out.buf), 408);
    cr_assert(strstr(out.buf, "Connection: close"));
    stk_buf_reset(&out);
    cr_assert_eq(svc_session_feed(s, "thz HTTP/1.1\r\n\r\n", 16, &out), 1);
    cr_assert_eq(out.len, 0, "nothing after close");
    stk_buf_release(&out);
    svc_session_free(s);
}

struct err_case {
    const char *in;
    int status;
    const char *code;
};

Test(svc_session, errors_table)
{
    static const struct err_case cases[] = {
        {"GET /nope HTTP/1.1\r\n\r\n", 404, "ENOENT"},
        {"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "ENOTSUP"},
        {"GET /v1/stacks/a%zz HTTP/1.1\r\n\r\n", 400, "EINVAL"},
        {"BLAH / HTTP/1.1\r\n\r\n", 400, "EINVAL"},
        {"GET / HTTP/9.9\r\n\r\n", 505, "ENOTSUP"},
        {"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400, "EINVAL"},
        {"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "EINVAL"},
        {"\x01\x02\x03garbage", 400, "EINVAL"},
        {"PUT /v1/bad HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 422, "ESPEC"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
        struct stk_buf out = STK_BUF_INIT;
        char want[64];
        feed(s, cases[i].in, 1000, &out);
        cr_assert_eq(status_of(out.buf), cases[i].status, "case %zu: %s", i, out.buf);
        snprintf(want, sizeof(want), "\"code\":\"%s\"", cases[i].code);
        cr_assert(strstr(out.buf, want), "case %zu: %s", i, out.buf);
        stk_buf_release(&out);
        svc_session_free(s);
    }
}

Test(svc_session, spec_error_carries_position)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
    struct stk_buf out = STK_BUF_INIT;
    json_error_t je;
    feed(s, "PUT /v1/bad HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1000, &out);
    const char *body = strstr(out.buf, "\r\n\r\n");
    cr_assert(body);
    json_t *doc = json_loads(body + 4, 0, &je);
    cr_assert(doc, "%s", je.text);
    json_t *e = json_object_get(doc, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "ESPEC");
    cr_assert_str_eq(json_string_value(json_object_get(e, "file")), "stack.yaml");
    cr_assert_eq(json_integer_value(json_object_get(e, "line")), 12);
    cr_assert_eq(json_integer_value(json_object_get(e, "col")), 7);
    cr_assert(strstr(json_string_value(json_object_get(e, "message")), "imagee"));
    json_decref(doc);
    stk_buf_release(&out);
    svc_session_free(s);
}

Test(svc_session, header_limit)
{
    struct svc_limits l;
    svc_limits_default(&l);
    l.max_header_bytes = 256;
    struct svc_session *s = svc_session_new(routes, NULL, &l, 0);
    struct stk_buf out = STK_BUF_INIT, in = STK_BUF_INIT;
    stk_buf_puts(&in, "GET /healthz HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < 300; i++)
        stk_buf_putc(&in, 'a');
    stk_buf_puts(&in, "\r\n\r\n");
    cr_assert_eq(feed(s, in.buf, 10, &out), 1);
    cr_assert_eq(status_of(out.buf), 431);
    cr_assert(strstr(out.buf, "Connection: close"));
    stk_buf_release(&out);
    stk_buf_release(&in);
    svc_session_free(s);
}

Test(svc_session, body_limit_by_content_length_and_chunked)
{
    struct svc_limits l;
    svc_limits_default(&l);
    l.max_body_bytes = 16;
    struct svc_session *s = svc_session_new(routes, NULL, &l, 0);
    struct stk_buf out = STK_BUF_INIT;
    cr_assert_eq(feed(s, "POST /v1/echo HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 1000, &out), 1);
    cr_assert_eq(status_of(out.buf), 413);
    svc_session_free(s);
    stk_buf_reset(&out);

    s = svc_session_new(routes, NULL, &l, 0);
    cr_assert_eq(feed(s,
                      "POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
                      5, &out),
                 1);
    cr_assert_eq(status_of(out.buf), 413);
    svc_session_free(s);
    stk_buf_reset(&out);

    s = svc_session_new(routes, NULL, &l, 0);
    cr_assert_eq(feed(s,
                      "POST /v1/echo HTTP/1.1\r\nContent-Length: 16\r\n\r\n"
                      "0123456789abcdef",
                      3, &out),
                 0);
    cr_assert_eq(status_of(out.buf), 200, "exactly at the limit: %s", out.buf);
    stk_buf_release(&out);
    svc_session_free(s);
}

Test(svc_session, connection_close_and_http10)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
    struct stk_buf out = STK_BUF_INIT;
    cr_assert_eq(feed(s,
                      "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\n\r\n",
                      1000, &out),
                 1);
    cr_assert_eq(svc_session_count(s), 1, "the pipelined request after close is not run");
    cr_assert(strstr(out.buf, "Connection: close"));
    svc_session_free(s);
    stk_buf_reset(&out);
    s = svc_session_new(routes, NULL, NULL, 0);
    cr_assert_eq(feed(s, "GET /healthz HTTP/1.0\r\n\r\n", 1000, &out), 1);
    cr_assert_eq(status_of(out.buf), 200);
    stk_buf_release(&out);
    svc_session_free(s);
}

Test(svc_session, created_status)
{
    struct svc_session *s = svc_session_new(routes, NULL, NULL, 0);
    struct stk_buf out = STK_BUF_INIT;
    feed(s, "PUT /v1/stacks/x HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 1000, &out);
    cr_assert_eq(status_of(out.buf), 201);
    cr_assert(strstr(out.buf, "Content-Length: 0\r\n"));
    stk_buf_release(&out);
    svc_session_free(s);
}
