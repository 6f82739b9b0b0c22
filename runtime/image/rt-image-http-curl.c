/*
 * rt-image-http-curl.c - the registry wire (rt-image-http.h) over libcurl,
 * for Linux and other POSIX systems (runtime/CMakeLists.txt leaves it out of
 * the Windows build, which has rt-image-http-winhttp.c).
 *
 * libcurl is loaded on the first pull, not linked: its shared library brings
 * about twenty more (GnuTLS, Kerberos, LDAP, libssh2, nghttp2, OpenSSL...)
 * into every `stack` process, which tripled the start-up cost of commands
 * that never pull (plan, ps, a no-op up). The same pattern as systemd's
 * dlopen of optional libraries. The names are Debian's: libcurl3-gnutls
 * (what libcurl4-gnutls-dev builds against), then libcurl4 (OpenSSL).
 *
 * Redirects: CURLOPT_FOLLOWLOCATION; libcurl (7.58 and later) does not send a
 * custom Authorization header to another host, nor (7.83) to another port or
 * scheme, unless CURLOPT_UNRESTRICTED_AUTH is set, and it discards the body
 * of an answer it follows.
 */
#include "runtime/image/rt-image-http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-err.h"

struct rt_image_http {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

static const char *const curl_sonames[] = {"libcurl-gnutls.so.4", "libcurl.so.4"};

static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} lc;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;
static char curl_load_error[256];

static void curl_init_once(void)
{
    void *h = NULL;

    for (size_t i = 0; !h && i < sizeof(curl_sonames) / sizeof(curl_sonames[0]); i++)
        h = dlopen(curl_sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(curl_load_error, sizeof(curl_load_error), "%s", dlerror());
        return;
    }
#define LC_SYM(field, name)                                                                        \
    do {                                                                                           \
        *(void **)&lc.field = dlsym(h, name);                                                      \
        if (!lc.field) {                                                                           \
            snprintf(curl_load_error, sizeof(curl_load_error), "libcurl has no %s", name);         \
            return;                                                                                \
        }                                                                                          \
    } while (0)
    LC_SYM(global_init, "curl_global_init");
    LC_SYM(easy_init, "curl_easy_init");
    LC_SYM(easy_setopt, "curl_easy_setopt");
    LC_SYM(easy_perform, "curl_easy_perform");
    LC_SYM(easy_reset, "curl_easy_reset");
    LC_SYM(easy_cleanup, "curl_easy_cleanup");
    LC_SYM(easy_strerror, "curl_easy_strerror");
    LC_SYM(slist_append, "curl_slist_append");
    LC_SYM(slist_free_all, "curl_slist_free_all");
#undef LC_SYM
    curl_init_code = lc.global_init(CURL_GLOBAL_DEFAULT);
}

int rt__image_http_new(struct rt_image_http **ret_http, struct stk_err *err)
{
    struct rt_image_http *h;

    pthread_once(&curl_once, curl_init_once);
    if (curl_load_error[0])
        return stk_err_set(err, STK_EUNAVAIL, 0,
                           "registry pull needs libcurl (Debian: libcurl3-gnutls): %s",
                           curl_load_error);
    if (curl_init_code != CURLE_OK)
        return stk_err_set(err, STK_EIO, 0, "initialise libcurl: %s",
                           lc.easy_strerror(curl_init_code));
    h = stk_xcalloc(1, sizeof(*h));
    h->curl = lc.easy_init();
    if (!h->curl) {
        free(h);
        return stk_err_set(err, STK_ENOMEM, 0, "initialise libcurl");
    }
    *ret_http = h;
    return 0;
}

void rt__image_http_free(struct rt_image_http *h)
{
    if (!h)
        return;
    if (h->curl)
        lc.easy_cleanup(h->curl);
    free(h);
}

/* One transfer: the answer being read and where its body goes. */
struct xfer {
    struct rt_image_http_resp resp;
    rt_image_http_body_fn *on_body;
    void *userdata;
    int stopped;  /* ON_BODY asked to stop */
    int location; /* the current answer has a Location header: libcurl follows it */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;

    /* libcurl discards the body of an answer it follows; this holds whatever its version. */
    if (!x->on_body || n == 0 || (x->location && x->resp.status >= 300 && x->resp.status < 400))
        return n;
    if (x->on_body(x->resp.status, data, n, x->userdata) != 0) {
        x->stopped = 1;
        return 0;
    }
    return n;
}

/* Keeps the chosen headers of the last answer (a status line starts a new answer). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb, klen;
    char **slot = NULL;
    const char *v, *end;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        long code = 0;
        const char *sp = memchr(data, ' ', n);
        for (const char *p = sp ? sp + 1 : data + n; p < data + n && isdigit((unsigned char)*p);
             p++)
            code = code * 10 + (*p - '0');
        rt__image_http_resp_release(&x->resp);
        x->resp.status = code;
        x->location = 0;
        return n;
    }
    v = memchr(data, ':', n);
    if (!v)
        return n;
    klen = (size_t)(v - data);
    if (klen == 8 && strncasecmp(data, "location", 8) == 0)
        x->location = 1;
    if (klen == 12 && strncasecmp(data, "content-type", 12) == 0)
        slot = &x->resp.content_type;
    else if (klen == 16 && strncasecmp(data, "www-authenticate", 16) == 0)
        slot = &x->resp.www_authenticate;
    else if (klen == 21 && strncasecmp(data, "docker-content-digest", 21) == 0)
        slot = &x->resp.docker_content_digest;
    if (!slot)
        return n;
    for (v++; v < data + n && (*v == ' ' || *v == '\t'); v++)
        ;
    end = data + n;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    free(*slot);
    *slot = stk_xasprintf("%.*s", (int)(end - v), v);
    if (slot == &x->resp.content_type) {
        char *semi = strchr(*slot, ';');
        if (semi)
            *semi = '\0';
    }
    return n;
}

int rt__image_http_get(struct rt_image_http *h, const char *url, const char *const *headers,
                       const char *registry, rt_image_http_body_fn *on_body_fn, void *userdata,
                       struct rt_image_http_resp *ret_resp, struct stk_err *err)
{
    struct curl_slist *hdrs = NULL;
    struct xfer x;
    CURLcode c;
    int ret = 0;

    memset(&x, 0, sizeof(x));
    x.on_body = on_body_fn;
    x.userdata = userdata;
    lc.easy_reset(h->curl);
    h->errbuf[0] = '\0';
    for (size_t i = 0; headers && headers[i]; i++)
        hdrs = lc.slist_append(hdrs, headers[i]);
    lc.easy_setopt(h->curl, CURLOPT_URL, url);
    lc.easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    lc.easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    lc.easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    lc.easy_setopt(h->curl, CURLOPT_WRITEDATA, &x);
    lc.easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    lc.easy_setopt(h->curl, CURLOPT_HEADERDATA, &x);
    lc.easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    lc.easy_setopt(h->curl, CURLOPT_USERAGENT, "stack");
    lc.easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 1L);
    lc.easy_setopt(h->curl, CURLOPT_MAXREDIRS, 10L);
    lc.easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    lc.easy_setopt(h->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    lc.easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled transfer (under 1 byte/s for a minute) is abandoned. */
    lc.easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    lc.easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    c = lc.easy_perform(h->curl);
    lc.slist_free_all(hdrs);
    if (c == CURLE_OK) {
        *ret_resp = x.resp;
        return 0;
    }
    if (x.stopped)
        ret = stk_err_set(err, STK_ECANCELED, 0, "GET '%s': transfer stopped by the receiver", url);
    else if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
             c == CURLE_OPERATION_TIMEDOUT)
        ret = stk_err_set(err, STK_EUNAVAIL, 0, "cannot reach registry '%s': %s", registry,
                          h->errbuf[0] ? h->errbuf : lc.easy_strerror(c));
    else
        ret = stk_err_set(err, STK_EIO, 0, "GET '%s': %s", url,
                          h->errbuf[0] ? h->errbuf : lc.easy_strerror(c));
    rt__image_http_resp_release(&x.resp);
    return ret;
}
