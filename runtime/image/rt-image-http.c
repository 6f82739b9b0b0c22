/*
 * rt-image-http.c - the part of the registry wire (rt-image-http.h) that both
 * implementations share, whatever the client library.
 */
#include "runtime/image/rt-image-http.h"

#include <stdlib.h>
#include <string.h>

void rt__image_http_resp_release(struct rt_image_http_resp *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->www_authenticate);
    free(r->docker_content_digest);
    memset(r, 0, sizeof(*r));
}
