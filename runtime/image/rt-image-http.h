/*
 * rt-image-http.h - the wire under registry pulls (rt-image-pull.c): one
 * blocking HTTP GET at a time on a connection object, behind which each
 * platform has its own client. CMake picks one implementation (STYLE.md
 * rule 28): rt-image-http-curl.c (libcurl, dlopen()ed at the first pull;
 * Linux and other POSIX systems) or rt-image-http-winhttp.c (WinHTTP; the
 * Windows build). Everything above the wire — references, manifests,
 * indexes, platform selection, token and Docker config authentication,
 * verified blob import — is portable and lives in rt-image-pull.c. Nothing
 * outside runtime/image/ includes this header.
 *
 * Both implementations give the same behaviour: http and https only; at most
 * 10 redirects followed, and the Authorization header is not sent to a
 * redirect target on another scheme, host or port (blobs are often
 * redirected to object storage with a signed URL); a connection has 30 s to
 * open and a transfer that stalls for 60 s is abandoned; the User-Agent is
 * "stack".
 */
#ifndef RT_IMAGE_HTTP_H
#define RT_IMAGE_HTTP_H

#include <stddef.h>

struct stk_err;

/* A connection: the client library's state for one pull (opaque). */
struct rt_image_http;

/*
 * Receives LEN bytes of DATA, the next piece of the body of the final answer
 * (the one after redirects), whose status is STATUS; the bodies of the
 * redirects followed (3xx answers with a Location) are never passed. Called
 * on the thread of rt__image_http_get(). Returns 0 to go on, non-zero to
 * stop the transfer (rt__image_http_get() then fails with STK_ECANCELED).
 */
typedef int rt_image_http_body_fn(long status, const void *data, size_t len, void *userdata);

/* What an answer said besides its body. Strings owned, NULL when the header was absent. */
struct rt_image_http_resp {
    long status;                 /* the HTTP status of the final answer */
    char *content_type;          /* Content-Type without its parameters ("; charset=...") */
    char *www_authenticate;      /* WWW-Authenticate (RFC 7235 challenge) */
    char *docker_content_digest; /* Docker-Content-Digest (distribution-spec) */
};

/*
 * Opens a connection: loads or initialises the client library when this is
 * the first one. Stores a new connection in *RET_HTTP (free with
 * rt__image_http_free()). Safe on several threads at once. Errors:
 * STK_EUNAVAIL (the client library is missing: "registry pull needs libcurl
 * (Debian: libcurl3-gnutls): ..."; WinHTTP cannot be opened), STK_EIO,
 * STK_ENOMEM.
 */
int rt__image_http_new(struct rt_image_http **ret_http, struct stk_err *err);

/* Closes H; NULL-safe. */
void rt__image_http_free(struct rt_image_http *h);

/*
 * GET URL ("http://..." or "https://...") on H with the extra request header
 * lines HEADERS ("Name: value", NULL-terminated array; may be NULL), following
 * redirects as the file comment says. The body of the final answer goes to
 * ON_BODY(.., USERDATA) (may be NULL: discarded). Blocks until the answer is
 * complete. Any HTTP status is success: the caller judges it.
 *
 * On success returns 0 and fills *RET_RESP (release with
 * rt__image_http_resp_release(); not written on failure). Errors:
 * STK_EUNAVAIL "cannot reach registry 'REGISTRY': <reason>" (REGISTRY is the
 * caller's name for the server, for the message) when the connection is
 * refused, the name does not resolve or a timeout expires; STK_ECANCELED
 * when ON_BODY stopped the transfer; STK_EIO "GET 'URL': <reason>" for
 * anything else (TLS, a broken answer, too many redirects).
 */
int rt__image_http_get(struct rt_image_http *h, const char *url, const char *const *headers,
                       const char *registry, rt_image_http_body_fn *on_body, void *userdata,
                       struct rt_image_http_resp *ret_resp, struct stk_err *err);

/* Frees the strings of R and zeroes it; NULL-safe. */
void rt__image_http_resp_release(struct rt_image_http_resp *r);

/*
 * S percent-encoded for a URL query component: every byte but RFC 3986's
 * unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~") becomes "%XX"
 * (upper-case hex), as curl_easy_escape() does. Returns a new string.
 */
char *rt__image_http_query_escape(const char *s);

/*
 * The absolute URL that the redirect target LOC (a Location header value)
 * names, relative to the request URL BASE (an absolute http or https URL):
 * LOC itself when absolute, else BASE's scheme for "//host/...", BASE's
 * scheme and authority for "/path", BASE's path for "?query", and BASE's
 * path up to its last '/' for a relative path (RFC 3986 section 5.2,
 * without removing dot segments, which registries do not send). Returns a
 * new string. Used by the clients that follow redirects themselves
 * (WinHTTP).
 */
char *rt__image_http_url_resolve(const char *base, const char *loc);

#endif
