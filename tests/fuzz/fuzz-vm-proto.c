/*
 * fuzz-vm-proto.c - libFuzzer target for the host side of the guest agent's
 * protocol (runtime/vm/vm-proto.h, vm-msg.c): the bytes a guest writes to its
 * virtio-serial port are untrusted. The input is split in two reads at its
 * first byte's value, framed, and every frame decoded as the monitor and the
 * driver decode it.
 */
#include <stddef.h>
#include <stdint.h>

#include "runtime/vm/vm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt__vm_rbuf b = {0};
    struct rt__vm_frame f;
    size_t cut = size ? data[0] % (size + 1) : 0;

    for (int part = 0; part < 2; part++) {
        int r;
        if (part == 0)
            rt__vm_rbuf_append(&b, data, cut);
        else
            rt__vm_rbuf_append(&b, data + cut, size - cut);
        while ((r = rt__vm_frame_next(&b, &f)) == 1) {
            struct rt__vm_msg m;
            struct stk_err err = STK_ERR_INIT;
            if (rt__vm_msg_decode(&f, &m, &err) == 0)
                rt__vm_msg_release(&m);
        }
        if (r < 0)
            break;
    }
    rt__vm_rbuf_release(&b);
    return 0;
}
