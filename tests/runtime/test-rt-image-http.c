/*
 * test-rt-image-http.c - the portable helpers of the registry wire
 * (runtime/image/rt-image-http.c): the query escaping of token requests and
 * the resolution of redirect targets that the WinHTTP client
 * (rt-image-http-winhttp.c) relies on, checked here on Linux; strings only,
 * no network.
 */
#include "runtime/image/rt-image-http.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static void escape_is(const char *in, const char *want)
{
    char *got = rt__image_http_query_escape(in);
    cr_assert_str_eq(got, want, "escape '%s'", in);
    free(got);
}

Test(rt_image_http, query_escape_keeps_only_unreserved_characters)
{
    escape_is("repository:library/busybox:pull", "repository%3Alibrary%2Fbusybox%3Apull");
    escape_is("registry.docker.io", "registry.docker.io");
    escape_is("a b&c=d~e_f-g", "a%20b%26c%3Dd~e_f-g");
    escape_is("\xc3\xa9", "%C3%A9");
    escape_is("", "");
}

static void resolve_is(const char *base, const char *loc, const char *want)
{
    char *got = rt__image_http_url_resolve(base, loc);
    cr_assert_str_eq(got, want, "'%s' from '%s'", loc, base);
    free(got);
}

Test(rt_image_http, redirect_targets_resolve_against_the_request_url)
{
    const char *b = "http://127.0.0.1:5000/v2/team/app/blobs/sha256:ab?x=1";

    /* Absolute: as given, whatever the case of the scheme. */
    resolve_is(b, "https://s3.example/bucket/obj?sig=1", "https://s3.example/bucket/obj?sig=1");
    resolve_is(b, "HTTP://Other:81/p", "HTTP://Other:81/p");
    /* Scheme-relative: the request's scheme. */
    resolve_is(b, "//cdn.example/o", "http://cdn.example/o");
    resolve_is("https://r.example/v2/", "//cdn.example/o", "https://cdn.example/o");
    /* Path-absolute: the request's scheme and authority. */
    resolve_is(b, "/storage/o?sig=2", "http://127.0.0.1:5000/storage/o?sig=2");
    resolve_is("http://h", "/v2/", "http://h/v2/");
    /* Query only: the request's path. */
    resolve_is(b, "?again=1", "http://127.0.0.1:5000/v2/team/app/blobs/sha256:ab?again=1");
    /* Relative path: beside the request's last path segment, its query dropped. */
    resolve_is(b, "v1?again=1", "http://127.0.0.1:5000/v2/team/app/blobs/v1?again=1");
    resolve_is("http://h:1/v2/a/manifests/", "latest", "http://h:1/v2/a/manifests/latest");
    resolve_is("http://h:1", "x", "http://h:1/x");
    resolve_is("http://h:1?q=/a/b", "x", "http://h:1/x");
}
