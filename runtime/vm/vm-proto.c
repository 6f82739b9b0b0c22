/*
 * vm-proto.c - the host<->agent framing (see vm-proto.h). Plain C over libc,
 * shared by the driver, the monitor and the static guest agent.
 */
#include "runtime/vm/vm-proto.h"

#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (!q)
        abort();
    return q;
}

void rt__vm_rbuf_release(struct rt__vm_rbuf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void rt__vm_rbuf_append(struct rt__vm_rbuf *b, const void *data, size_t n)
{
    if (b->taken) {
        memmove(b->data, b->data + b->taken, b->len - b->taken);
        b->len -= b->taken;
        b->taken = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int rt__vm_frame_type_valid(uint8_t type)
{
    switch (type) {
    case RT_VM_REQ:
    case RT_VM_OUT:
    case RT_VM_ERR:
    case RT_VM_STARTED:
    case RT_VM_EXIT:
    case RT_VM_TOP:
    case RT_VM_FAIL:
    case RT_VM_ACK:
        return 1;
    default:
        return 0;
    }
}

int rt__vm_frame_next(struct rt__vm_rbuf *b, struct rt__vm_frame *ret)
{
    const uint8_t *p = b->data + b->taken;
    size_t avail = b->len - b->taken;
    uint32_t len;

    if (avail < 4)
        return 0;
    len = get_be32(p);
    if (len < RT_VM_FRAME_HDR - 4 || len > RT_VM_FRAME_MAX)
        return -1;
    if (avail >= 5 && !rt__vm_frame_type_valid(p[4]))
        return -1;
    if (avail - 4 < len)
        return 0;
    ret->type = p[4];
    ret->session = get_be32(p + 5);
    ret->payload = p + RT_VM_FRAME_HDR;
    ret->len = len - (RT_VM_FRAME_HDR - 4);
    b->taken += 4 + (size_t)len;
    return 1;
}

uint8_t *rt__vm_frame_encode(uint8_t type, uint32_t session, const void *payload, size_t n,
                             size_t *ret_len)
{
    uint8_t *f = xrealloc(NULL, RT_VM_FRAME_HDR + n + 1);

    put_be32(f, (uint32_t)(n + RT_VM_FRAME_HDR - 4));
    f[4] = type;
    put_be32(f + 5, session);
    if (n)
        memcpy(f + RT_VM_FRAME_HDR, payload, n);
    *ret_len = RT_VM_FRAME_HDR + n;
    return f;
}
