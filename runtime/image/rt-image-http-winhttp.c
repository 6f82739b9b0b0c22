/*
 * rt-image-http-winhttp.c - the registry wire (rt-image-http.h) over WinHTTP,
 * for the Windows build (runtime/CMakeLists.txt; POSIX systems have
 * rt-image-http-curl.c). Synchronous WinHTTP (no WINHTTP_FLAG_ASYNC): one
 * session per connection object (WinHttpOpen; WinHTTP pools the TCP and TLS
 * connections of a session), then per GET WinHttpCrackUrl, WinHttpConnect,
 * WinHttpOpenRequest, WinHttpAddRequestHeaders, WinHttpSendRequest,
 * WinHttpReceiveResponse, WinHttpQueryHeaders and WinHttpQueryDataAvailable /
 * WinHttpReadData. URLs and headers cross the API as UTF-16
 * (stk_win_utf16(), stk_win_utf8()).
 *
 * Redirects are followed here, not by WinHTTP (WINHTTP_DISABLE_REDIRECTS):
 * WinHTTP's automatic redirect resends the headers added with
 * WinHttpAddRequestHeaders, Authorization included, to whatever host the
 * Location names, and the registry's bearer token must not reach the object
 * storage a blob is redirected to. As libcurl does for the Linux build, the
 * Authorization header is dropped once a redirect leaves the scheme, host and
 * port of the original URL. Proxies: the system's (WinHTTP's automatic proxy,
 * Windows 8.1 and later; the WinHTTP default proxy where that is refused).
 */
#include "runtime/image/rt-image-http.h"

#include <windows.h>
#include <winhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"

#ifndef WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY
#define WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY 4
#endif

#define HTTP_MAX_REDIRECTS 10
#define HTTP_CONNECT_TIMEOUT_MS 30000
/* No byte sent or received for this long abandons the transfer (libcurl: 1 byte/s for 60 s). */
#define HTTP_STALL_TIMEOUT_MS 60000
#define HTTP_READ_CHUNK (64 * 1024)

struct rt_image_http {
    HINTERNET session;
};

/*
 * The usual WinHTTP failures, worded after Microsoft's "Error Messages
 * (Winhttp.h)", for systems whose winhttp.dll has no message table (wine).
 */
static const struct {
    DWORD code;
    const char *text;
} http_errors[] = {
    {ERROR_WINHTTP_TIMEOUT, "the request has timed out"},
    {ERROR_WINHTTP_NAME_NOT_RESOLVED, "the server name cannot be resolved"},
    {ERROR_WINHTTP_CANNOT_CONNECT, "the connection to the server failed"},
    {ERROR_WINHTTP_CONNECTION_ERROR, "the connection with the server was reset or terminated"},
    {ERROR_WINHTTP_SECURE_FAILURE, "the server's TLS certificate has errors"},
    {ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "the server response cannot be parsed"},
};

/*
 * The text of the WinHTTP or Win32 error CODE ("A connection with the server
 * could not be established (WinHTTP error 12029)"); a new string.
 */
static char *win_error_text(DWORD code)
{
    wchar_t wbuf[512];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_FROM_SYSTEM |
                                 FORMAT_MESSAGE_IGNORE_INSERTS,
                             GetModuleHandleW(L"winhttp.dll"), code, 0, wbuf,
                             (DWORD)(sizeof(wbuf) / sizeof(wbuf[0])), NULL);
    char *text, *res;
    size_t len;

    if (n == 0) {
        for (size_t i = 0; i < sizeof(http_errors) / sizeof(http_errors[0]); i++)
            if (http_errors[i].code == code)
                return stk_xasprintf("%s (WinHTTP error %lu)", http_errors[i].text,
                                     (unsigned long)code);
        return stk_xasprintf("WinHTTP error %lu", (unsigned long)code);
    }
    wbuf[n < sizeof(wbuf) / sizeof(wbuf[0]) ? n : sizeof(wbuf) / sizeof(wbuf[0]) - 1] = L'\0';
    text = stk_win_utf8(wbuf);
    len = text ? strlen(text) : 0;
    while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == '\n' || text[len - 1] == ' ' ||
                       text[len - 1] == '.'))
        text[--len] = '\0';
    res = stk_xasprintf("%s (WinHTTP error %lu)", len ? text : "error", (unsigned long)code);
    free(text);
    return res;
}

/*
 * Fills ERR for the failure CODE of a call on URL: unreachable (refused,
 * unresolved, timed out) → STK_EUNAVAIL naming REGISTRY, else STK_EIO.
 */
static int http_error(DWORD code, const char *url, const char *registry, struct stk_err *err)
{
    char *text = win_error_text(code);
    int ret;

    if (code == ERROR_WINHTTP_CANNOT_CONNECT || code == ERROR_WINHTTP_NAME_NOT_RESOLVED ||
        code == ERROR_WINHTTP_TIMEOUT)
        ret = stk_err_set(err, STK_EUNAVAIL, (int)code, "cannot reach registry '%s': %s", registry,
                          text);
    else
        ret = stk_err_set(err, STK_EIO, (int)code, "GET '%s': %s", url, text);
    free(text);
    return ret;
}

int rt__image_http_new(struct rt_image_http **ret_http, struct stk_err *err)
{
    struct rt_image_http *h;
    HINTERNET s;

    s = WinHttpOpen(L"stack", WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY, WINHTTP_NO_PROXY_NAME,
                    WINHTTP_NO_PROXY_BYPASS, 0);
    if (!s)
        s = WinHttpOpen(L"stack", WINHTTP_ACCESS_TYPE_DEFAULT_PROXY, WINHTTP_NO_PROXY_NAME,
                        WINHTTP_NO_PROXY_BYPASS, 0);
    if (!s) {
        DWORD e = GetLastError();
        char *text = win_error_text(e);
        int ret = stk_err_set(err, STK_EUNAVAIL, (int)e, "open a WinHTTP session: %s", text);
        free(text);
        return ret;
    }
    /* Name resolution: no limit of its own (it is bounded by the system resolver). */
    if (!WinHttpSetTimeouts(s, 0, HTTP_CONNECT_TIMEOUT_MS, HTTP_STALL_TIMEOUT_MS,
                            HTTP_STALL_TIMEOUT_MS)) {
        DWORD e = GetLastError();
        char *text = win_error_text(e);
        int ret = stk_err_set(err, STK_EIO, (int)e, "set the WinHTTP timeouts: %s", text);
        free(text);
        WinHttpCloseHandle(s);
        return ret;
    }
    h = stk_xcalloc(1, sizeof(*h));
    h->session = s;
    *ret_http = h;
    return 0;
}

void rt__image_http_free(struct rt_image_http *h)
{
    if (!h)
        return;
    if (h->session)
        WinHttpCloseHandle(h->session);
    free(h);
}

/* A URL cracked for WinHttpConnect and WinHttpOpenRequest (strings owned). */
struct url_parts {
    int secure;         /* https */
    wchar_t *host;      /* host name, as WinHttpCrackUrl gives it */
    INTERNET_PORT port; /* explicit, or the scheme's */
    wchar_t *object;    /* path and query: "/v2/x/manifests/y?z" */
};

static void url_parts_release(struct url_parts *u)
{
    free(u->host);
    free(u->object);
    memset(u, 0, sizeof(*u));
}

static wchar_t *wcs_ndup(const wchar_t *s, size_t n)
{
    wchar_t *r = stk_xmalloc((n + 1) * sizeof(wchar_t));

    memcpy(r, s, n * sizeof(wchar_t));
    r[n] = L'\0';
    return r;
}

/* Cracks URL (WinHttpCrackUrl) into U. Errors: STK_EIO (not an http or https URL). */
static int url_crack(const char *url, struct url_parts *u, struct stk_err *err)
{
    wchar_t *w = stk_win_utf16(url);
    URL_COMPONENTS c;
    int ret = 0;

    memset(u, 0, sizeof(*u));
    memset(&c, 0, sizeof(c));
    c.dwStructSize = sizeof(c);
    c.dwSchemeLength = c.dwHostNameLength = c.dwUrlPathLength = c.dwExtraInfoLength = (DWORD)-1;
    if (!w || !WinHttpCrackUrl(w, 0, 0, &c)) {
        DWORD e = w ? GetLastError() : ERROR_INVALID_PARAMETER;
        char *text = win_error_text(e);
        ret = stk_err_set(err, STK_EIO, (int)e, "GET '%s': not a URL: %s", url, text);
        free(text);
        goto out;
    }
    if (c.nScheme != INTERNET_SCHEME_HTTP && c.nScheme != INTERNET_SCHEME_HTTPS) {
        ret = stk_err_set(err, STK_EIO, 0, "GET '%s': only http and https are spoken", url);
        goto out;
    }
    u->secure = c.nScheme == INTERNET_SCHEME_HTTPS;
    u->host = wcs_ndup(c.lpszHostName, c.dwHostNameLength);
    u->port = c.nPort;
    if (c.dwUrlPathLength == 0) {
        /* "http://host?x": the path is "/", the query follows. */
        u->object = stk_xmalloc((c.dwExtraInfoLength + 2) * sizeof(wchar_t));
        u->object[0] = L'/';
        memcpy(u->object + 1, c.lpszExtraInfo, c.dwExtraInfoLength * sizeof(wchar_t));
        u->object[c.dwExtraInfoLength + 1] = L'\0';
    } else {
        /* The query (ExtraInfo) follows the path in the same string. */
        u->object = wcs_ndup(c.lpszUrlPath, c.dwUrlPathLength + c.dwExtraInfoLength);
    }
out:
    free(w);
    return ret;
}

/* 1 when A and B have the same scheme, host (case-insensitive) and port. */
static int same_origin(const struct url_parts *a, const struct url_parts *b)
{
    return a->secure == b->secure && a->port == b->port && _wcsicmp(a->host, b->host) == 0;
}

/* The response header INFO (WINHTTP_QUERY_*; NAME for WINHTTP_QUERY_CUSTOM) as a new string, or
 * NULL. */
static char *query_header(HINTERNET req, DWORD info, const wchar_t *name)
{
    DWORD size = 0, index = 0;
    wchar_t *w;
    char *s;

    if (WinHttpQueryHeaders(req, info, name ? name : WINHTTP_HEADER_NAME_BY_INDEX,
                            WINHTTP_NO_OUTPUT_BUFFER, &size, &index) ||
        GetLastError() != ERROR_INSUFFICIENT_BUFFER)
        return NULL;
    w = stk_xmalloc(size + sizeof(wchar_t));
    index = 0;
    if (!WinHttpQueryHeaders(req, info, name ? name : WINHTTP_HEADER_NAME_BY_INDEX, w, &size,
                             &index)) {
        free(w);
        return NULL;
    }
    w[size / sizeof(wchar_t)] = L'\0';
    s = stk_win_utf8(w);
    free(w);
    return s;
}

static int is_redirect(DWORD status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/*
 * One request of a GET: URL (cracked as U) with HEADERS, the Authorization
 * line only when SEND_AUTH. A redirect with a Location stores it in
 * *RET_LOCATION (new string) and leaves *RET_RESP alone; any other answer
 * fills *RET_RESP and streams its body to ON_BODY.
 */
static int http_once(struct rt_image_http *h, const char *url, const struct url_parts *u,
                     const char *const *headers, int send_auth, const char *registry,
                     rt_image_http_body_fn *on_body, void *userdata,
                     struct rt_image_http_resp *ret_resp, char **ret_location, struct stk_err *err)
{
    struct rt_image_http_resp resp;
    HINTERNET conn = NULL, req = NULL;
    DWORD status = 0, size = sizeof(status), opt;
    char *buf = NULL;
    int ret = 0;

    memset(&resp, 0, sizeof(resp));
    *ret_location = NULL;
    conn = WinHttpConnect(h->session, u->host, u->port, 0);
    if (!conn) {
        ret = http_error(GetLastError(), url, registry, err);
        goto out;
    }
    req = WinHttpOpenRequest(conn, L"GET", u->object, NULL, WINHTTP_NO_REFERER,
                             WINHTTP_DEFAULT_ACCEPT_TYPES, u->secure ? WINHTTP_FLAG_SECURE : 0);
    if (!req) {
        ret = http_error(GetLastError(), url, registry, err);
        goto out;
    }
    opt = WINHTTP_DISABLE_REDIRECTS;
    if (!WinHttpSetOption(req, WINHTTP_OPTION_DISABLE_FEATURE, &opt, sizeof(opt))) {
        ret = http_error(GetLastError(), url, registry, err);
        goto out;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        wchar_t *w;
        BOOL ok;
        if (!send_auth && strncasecmp(headers[i], "authorization:", 14) == 0)
            continue;
        w = stk_win_utf16(headers[i]);
        ok = WinHttpAddRequestHeaders(req, w, (DWORD)-1L,
                                      WINHTTP_ADDREQ_FLAG_ADD | WINHTTP_ADDREQ_FLAG_REPLACE);
        free(w);
        if (!ok) {
            ret = http_error(GetLastError(), url, registry, err);
            goto out;
        }
    }
    if (!WinHttpSendRequest(req, WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0, 0,
                            0) ||
        !WinHttpReceiveResponse(req, NULL)) {
        ret = http_error(GetLastError(), url, registry, err);
        goto out;
    }
    if (!WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                             WINHTTP_HEADER_NAME_BY_INDEX, &status, &size,
                             WINHTTP_NO_HEADER_INDEX)) {
        ret = http_error(GetLastError(), url, registry, err);
        goto out;
    }
    if (is_redirect(status)) {
        char *loc = query_header(req, WINHTTP_QUERY_LOCATION, NULL);
        if (loc && *loc) {
            *ret_location = loc;
            goto out;
        }
        free(loc);
    }
    resp.status = (long)status;
    resp.content_type = query_header(req, WINHTTP_QUERY_CONTENT_TYPE, NULL);
    if (resp.content_type) {
        char *semi = strchr(resp.content_type, ';');
        if (semi)
            *semi = '\0';
    }
    resp.www_authenticate = query_header(req, WINHTTP_QUERY_WWW_AUTHENTICATE, NULL);
    resp.docker_content_digest = query_header(req, WINHTTP_QUERY_CUSTOM, L"Docker-Content-Digest");
    buf = stk_xmalloc(HTTP_READ_CHUNK);
    for (;;) {
        DWORD avail = 0, got = 0;
        if (!WinHttpQueryDataAvailable(req, &avail)) {
            ret = http_error(GetLastError(), url, registry, err);
            goto out;
        }
        if (avail == 0)
            break;
        if (avail > HTTP_READ_CHUNK)
            avail = HTTP_READ_CHUNK;
        if (!WinHttpReadData(req, buf, avail, &got)) {
            ret = http_error(GetLastError(), url, registry, err);
            goto out;
        }
        if (got == 0)
            break;
        if (on_body && on_body(resp.status, buf, got, userdata) != 0) {
            ret = stk_err_set(err, STK_ECANCELED, 0, "GET '%s': transfer stopped by the receiver",
                              url);
            goto out;
        }
    }
    *ret_resp = resp;
    memset(&resp, 0, sizeof(resp));
out:
    rt__image_http_resp_release(&resp);
    free(buf);
    if (req)
        WinHttpCloseHandle(req);
    if (conn)
        WinHttpCloseHandle(conn);
    return ret;
}

int rt__image_http_get(struct rt_image_http *h, const char *url, const char *const *headers,
                       const char *registry, rt_image_http_body_fn *on_body, void *userdata,
                       struct rt_image_http_resp *ret_resp, struct stk_err *err)
{
    struct url_parts first, cur;
    char *at = stk_xstrdup(url), *loc = NULL;
    int ret, send_auth = 1;

    memset(&cur, 0, sizeof(cur));
    ret = url_crack(url, &first, err);
    if (ret < 0) {
        free(at);
        return ret;
    }
    for (int hops = 0;; hops++) {
        ret = url_crack(at, &cur, err);
        if (ret < 0)
            break;
        /* Once the redirects have left the original origin, the credentials stay behind. */
        if (!same_origin(&first, &cur))
            send_auth = 0;
        ret = http_once(h, at, &cur, headers, send_auth, registry, on_body, userdata, ret_resp,
                        &loc, err);
        url_parts_release(&cur);
        if (ret < 0 || !loc)
            break;
        if (hops == HTTP_MAX_REDIRECTS) {
            ret = stk_err_set(err, STK_EIO, 0, "GET '%s': more than %d redirects", url,
                              HTTP_MAX_REDIRECTS);
            break;
        }
        {
            char *next = rt__image_http_url_resolve(at, loc);
            free(at);
            at = next;
        }
        free(loc);
        loc = NULL;
    }
    free(loc);
    free(at);
    url_parts_release(&cur);
    url_parts_release(&first);
    return ret;
}
