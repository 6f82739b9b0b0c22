/*
 * rt-image-http.c - the part of the registry wire (rt-image-http.h) that both
 * implementations share, whatever the client library.
 */
#include "runtime/image/rt-image-http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"

void rt__image_http_resp_release(struct rt_image_http_resp *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->www_authenticate);
    free(r->docker_content_digest);
    memset(r, 0, sizeof(*r));
}

char *rt__image_http_query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct stk_buf b = STK_BUF_INIT;

    stk_buf_init(&b, strlen(s) * 3);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            stk_buf_putc(&b, (char)*p);
        } else {
            stk_buf_putc(&b, '%');
            stk_buf_putc(&b, hex[*p >> 4]);
            stk_buf_putc(&b, hex[*p & 15]);
        }
    }
    return stk_buf_detach(&b, NULL);
}

char *rt__image_http_url_resolve(const char *base, const char *loc)
{
    const char *auth, *path, *end, *slash;

    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
        return stk_xstrdup(loc);
    auth = strstr(base, "://");
    auth = auth ? auth + 3 : base;
    if (loc[0] == '/' && loc[1] == '/')
        return stk_xasprintf("%.*s%s", (int)(auth - base - 2), base, loc);
    path = auth + strcspn(auth, "/?#");
    if (loc[0] == '/')
        return stk_xasprintf("%.*s%s", (int)(path - base), base, loc);
    end = path + strcspn(path, "?#");
    if (loc[0] == '?')
        return stk_xasprintf("%.*s%s", (int)(end - base), base, loc);
    slash = NULL;
    for (const char *p = path; p < end; p++)
        if (*p == '/')
            slash = p;
    if (!slash)
        return stk_xasprintf("%.*s/%s", (int)(path - base), base, loc);
    return stk_xasprintf("%.*s%s", (int)(slash + 1 - base), base, loc);
}
