/*
 * svc-http.c - the router and one connection's HTTP/1.1 session over
 * libhttp-parser (svc.h). No transport: bytes in, bytes out.
 */
#include "orchestrator/serve/svc.h"

#include <ctype.h>
#include <http_parser.h>
#include <jansson.h>
#include <string.h>

#include "stk-alloc.h"

void svc_limits_default(struct svc_limits *l)
{
    l->max_header_bytes = 16 * 1024;
    l->max_body_bytes = 4 * 1024 * 1024;
    l->idle_timeout_ms = 60 * 1000;
    l->request_timeout_ms = 10 * 1000;
    l->max_conns = 64;
}

const char *svc_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* %-decodes the segment [S, S+N) into OUT (SIZE bytes); -1 if bad or too long. */
static int decode_segment(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return -1;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            if (c == 0 || c == '/')
                return -1;
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/*
 * Matches one PATTERN against PATH; returns 1 on a match (params in REQ),
 * 0 on none, -1 on a bad path.
 */
static int match_one(const char *pattern, const char *path, struct svc_request *req)
{
    const char *p = pattern, *s = path;
    size_t n_params = 0;

    if (*s != '/' || *p != '/')
        return *s != '/' ? -1 : 0;
    for (;;) {
        const char *pe, *se;
        if (*p == '/')
            p++;
        if (*s == '/')
            s++;
        pe = strchr(p, '/');
        se = strchr(s, '/');
        if (!pe)
            pe = p + strlen(p);
        if (!se)
            se = s + strlen(s);
        if (*p == '{') {
            if (se == s)
                return 0;
            if (n_params >= SVC_MAX_PARAMS)
                return 0;
            if (decode_segment(s, (size_t)(se - s), req->params[n_params], SVC_PARAM_MAX) < 0)
                return -1;
            n_params++;
        } else {
            char seg[SVC_PARAM_MAX];
            if (decode_segment(s, (size_t)(se - s), seg, sizeof(seg)) < 0)
                return -1;
            if (strlen(seg) != (size_t)(pe - p) || memcmp(seg, p, (size_t)(pe - p)) != 0)
                return 0;
        }
        p = pe;
        s = se;
        if (!*p && !*s)
            break;
        if (!*p || !*s)
            return 0;
    }
    req->n_params = n_params;
    return 1;
}

enum svc_match svc_route_match(const struct svc_route *routes, const char *method, const char *path,
                               struct svc_request *req, const struct svc_route **ret_route)
{
    int path_found = 0;

    if (!path || path[0] != '/' || strlen(path) > 4096)
        return SVC_MATCH_BAD_PATH;
    for (const struct svc_route *r = routes; r->method; r++) {
        int m = match_one(r->pattern, path, req);
        if (m < 0)
            return SVC_MATCH_BAD_PATH;
        if (m == 0)
            continue;
        if (strcmp(r->method, method) == 0) {
            *ret_route = r;
            return SVC_MATCH_OK;
        }
        path_found = 1;
    }
    req->n_params = 0;
    return path_found ? SVC_MATCH_BAD_METHOD : SVC_MATCH_NOT_FOUND;
}

static const char *code_name(int code)
{
    switch (code) {
    case STK_EINVAL:
        return "EINVAL";
    case STK_ENOMEM:
        return "ENOMEM";
    case STK_EIO:
        return "EIO";
    case STK_ENOENT:
        return "ENOENT";
    case STK_EEXIST:
        return "EEXIST";
    case STK_ESPEC:
        return "ESPEC";
    case STK_ENOTSUP:
        return "ENOTSUP";
    case STK_EUNAVAIL:
        return "EUNAVAIL";
    case STK_ERUNTIME:
        return "ERUNTIME";
    case STK_ENET:
        return "ENET";
    case STK_EIMAGE:
        return "EIMAGE";
    case STK_EDIGEST:
        return "EDIGEST";
    case STK_ESTORE:
        return "ESTORE";
    case STK_EBUSY:
        return "EBUSY";
    case STK_ECANCELED:
        return "ECANCELED";
    case STK_ETIMEDOUT:
        return "ETIMEDOUT";
    case STK_EPERM:
        return "EPERM";
    case STK_EUSAGE:
        return "EUSAGE";
    default:
        return "EUNKNOWN";
    }
}

static void put_error(struct svc_response *resp, int status, const char *code, const char *msg,
                      const char *file, int line, int col)
{
    json_t *e = json_object(), *doc = json_object();
    char *s;

    json_object_set_new(e, "code", json_string(code));
    json_object_set_new(e, "message", json_string(msg));
    if (file && file[0]) {
        json_object_set_new(e, "file", json_string(file));
        json_object_set_new(e, "line", json_integer(line));
        json_object_set_new(e, "col", json_integer(col));
    }
    json_object_set_new(doc, "error", e);
    s = json_dumps(doc, JSON_COMPACT);
    if (!s)
        abort();
    resp->status = status;
    resp->content_type = "application/json";
    stk_buf_reset(&resp->body);
    stk_buf_puts(&resp->body, s);
    stk_buf_putc(&resp->body, '\n');
    free(s);
    json_decref(doc);
}

void svc_response_error(struct svc_response *resp, int status, const struct stk_err *err)
{
    put_error(resp, status, code_name(err->code), err->msg, err->file, err->line, err->col);
}

void svc_response_errorf(struct svc_response *resp, int status, const char *code, const char *fmt,
                         ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = stk_xvasprintf(fmt, ap);
    va_end(ap);
    put_error(resp, status, code, msg, NULL, 0, 0);
    free(msg);
}

/* Session. */

enum hdr_field { HDR_NONE, HDR_OTHER, HDR_CONTENT_TYPE };

struct svc_session {
    http_parser parser;
    const struct svc_route *routes;
    void *userdata;
    struct svc_limits limits;
    uint32_t peer_uid;
    struct stk_buf url;
    struct stk_buf body;
    struct stk_buf ctype;
    struct stk_buf field; /* the header name being read */
    enum hdr_field cur;
    size_t header_bytes;
    int in_request;
    int closed;
    int fail_status; /* a limit hit inside a callback: answer this and close */
    unsigned count;
    struct stk_buf *out; /* borrowed during svc_session_feed() */
};

static struct svc_session *from_parser(http_parser *p)
{
    return (struct svc_session *)p->data;
}

static int over_header(struct svc_session *s, size_t n)
{
    s->header_bytes += n;
    if (s->header_bytes > s->limits.max_header_bytes) {
        s->fail_status = 431;
        return 1;
    }
    return 0;
}

static int on_begin(http_parser *p)
{
    struct svc_session *s = from_parser(p);
    stk_buf_reset(&s->url);
    stk_buf_reset(&s->body);
    stk_buf_reset(&s->ctype);
    stk_buf_reset(&s->field);
    s->cur = HDR_NONE;
    s->header_bytes = 0;
    s->in_request = 1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct svc_session *s = from_parser(p);
    if (over_header(s, n))
        return 1;
    stk_buf_add(&s->url, at, n);
    return 0;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    struct svc_session *s = from_parser(p);
    if (over_header(s, n))
        return 1;
    if (s->cur != HDR_NONE) {
        stk_buf_reset(&s->field);
        s->cur = HDR_NONE;
    }
    stk_buf_add(&s->field, at, n);
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    struct svc_session *s = from_parser(p);
    if (over_header(s, n))
        return 1;
    if (s->cur == HDR_NONE)
        s->cur = strcasecmp(s->field.buf, "content-type") == 0 ? HDR_CONTENT_TYPE : HDR_OTHER;
    if (s->cur == HDR_CONTENT_TYPE && s->ctype.len < 256)
        stk_buf_add(&s->ctype, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct svc_session *s = from_parser(p);
    /* 1 and 2 mean "no body" to http_parser; any other non-zero value is an error. */
    if (p->http_major != 1 || p->http_minor > 1) {
        s->fail_status = 505;
        return 3;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > s->limits.max_body_bytes) {
        s->fail_status = 413;
        return 3;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct svc_session *s = from_parser(p);
    if (s->body.len + n > s->limits.max_body_bytes) {
        s->fail_status = 413;
        return 1;
    }
    stk_buf_add(&s->body, at, n);
    return 0;
}

static void write_response(struct svc_session *s, struct svc_response *resp, int keep_alive)
{
    stk_buf_printf(s->out,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: %s\r\n\r\n",
                   resp->status, svc_status_text(resp->status),
                   resp->content_type ? resp->content_type : "application/json", resp->body.len,
                   keep_alive ? "keep-alive" : "close");
    stk_buf_add(s->out, resp->body.buf, resp->body.len);
}

static void dispatch(struct svc_session *s, struct svc_response *resp)
{
    struct http_parser_url u;
    struct svc_request *req = stk_new0(struct svc_request);
    const struct svc_route *route = NULL;
    char *path = NULL, *query = NULL;

    req->method = http_method_str((enum http_method)s->parser.method);
    http_parser_url_init(&u);
    if (http_parser_parse_url(s->url.buf, s->url.len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        svc_response_errorf(resp, 400, "EINVAL", "malformed request target");
        goto out;
    }
    path = stk_xstrndup(s->url.buf + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    if (u.field_set & (1 << UF_QUERY))
        query = stk_xstrndup(s->url.buf + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    else
        query = stk_xstrdup("");
    req->path = path;
    req->query = query;
    req->body = s->body.buf;
    req->body_len = s->body.len;
    req->content_type = s->ctype.buf;
    req->peer_uid = s->peer_uid;
    switch (svc_route_match(s->routes, req->method, path, req, &route)) {
    case SVC_MATCH_OK:
        route->fn(req, resp, s->userdata);
        break;
    case SVC_MATCH_NOT_FOUND:
        svc_response_errorf(resp, 404, "ENOENT", "no resource at '%s'", path);
        break;
    case SVC_MATCH_BAD_METHOD:
        svc_response_errorf(resp, 405, "ENOTSUP", "method %s not allowed on '%s'", req->method,
                            path);
        break;
    case SVC_MATCH_BAD_PATH:
        svc_response_errorf(resp, 400, "EINVAL", "malformed path");
        break;
    }
out:
    free(path);
    free(query);
    free(req);
}

static int on_complete(http_parser *p)
{
    struct svc_session *s = from_parser(p);
    struct svc_response resp = {.status = 200, .content_type = NULL, .body = STK_BUF_INIT};
    int keep = http_should_keep_alive(p);

    dispatch(s, &resp);
    write_response(s, &resp, keep);
    stk_buf_release(&resp.body);
    s->count++;
    s->in_request = 0;
    if (!keep)
        s->closed = 1;
    /* Pause: bytes after a closing request are not parsed. */
    return s->closed ? 1 : 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

struct svc_session *svc_session_new(const struct svc_route *routes, void *userdata,
                                    const struct svc_limits *limits, uint32_t peer_uid)
{
    struct svc_session *s = stk_new0(struct svc_session);

    http_parser_init(&s->parser, HTTP_REQUEST);
    s->parser.data = s;
    s->routes = routes;
    s->userdata = userdata;
    if (limits)
        s->limits = *limits;
    else
        svc_limits_default(&s->limits);
    s->peer_uid = peer_uid;
    stk_buf_init(&s->url, 0);
    stk_buf_init(&s->body, 0);
    stk_buf_init(&s->ctype, 0);
    stk_buf_init(&s->field, 0);
    return s;
}

void svc_session_free(struct svc_session *s)
{
    if (!s)
        return;
    stk_buf_release(&s->url);
    stk_buf_release(&s->body);
    stk_buf_release(&s->ctype);
    stk_buf_release(&s->field);
    free(s);
}

static void fail(struct svc_session *s, int status, const char *code, const char *msg)
{
    struct svc_response resp = {.status = status, .content_type = NULL, .body = STK_BUF_INIT};

    svc_response_errorf(&resp, status, code, "%s", msg);
    write_response(s, &resp, 0);
    stk_buf_release(&resp.body);
    s->closed = 1;
    s->in_request = 0;
}

int svc_session_feed(struct svc_session *s, const char *data, size_t n, struct stk_buf *out)
{
    size_t done;

    if (s->closed)
        return 1;
    s->out = out;
    done = http_parser_execute(&s->parser, &settings, data, n);
    if (s->closed)
        goto out;
    if (s->fail_status == 431) {
        fail(s, 431, "EINVAL", "request header fields too large");
    } else if (s->fail_status == 413) {
        fail(s, 413, "EINVAL", "request body too large");
    } else if (s->fail_status == 505) {
        fail(s, 505, "ENOTSUP", "HTTP version not supported");
    } else if (HTTP_PARSER_ERRNO(&s->parser) != HPE_OK) {
        char msg[128];
        snprintf(msg, sizeof(msg), "malformed request: %s",
                 http_errno_description(HTTP_PARSER_ERRNO(&s->parser)));
        fail(s, 400, "EINVAL", msg);
    } else if (done != n) {
        fail(s, 400, "EINVAL", "malformed request");
    }
out:
    s->out = NULL;
    return s->closed;
}

int svc_session_in_request(const struct svc_session *s)
{
    return s->in_request;
}

void svc_session_timeout(struct svc_session *s, struct stk_buf *out)
{
    if (s->closed)
        return;
    s->out = out;
    fail(s, 408, "ETIMEDOUT", "request not complete in time");
    s->out = NULL;
}

unsigned svc_session_count(const struct svc_session *s)
{
    return s->count;
}
