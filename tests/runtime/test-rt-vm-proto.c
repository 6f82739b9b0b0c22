/*
 * test-rt-vm-proto.c - the host<->agent framing (runtime/vm/vm-proto.h) and
 * the host's decoding of guest messages (vm-msg.c): round trips, frames split
 * across reads, and what an untrusted guest may send wrongly.
 */
#include "runtime/vm/vm-proto.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/vm/vm-internal.h"

static void feed(struct rt__vm_rbuf *b, const char *payload, uint8_t type, uint32_t session)
{
    size_t len;
    uint8_t *f = rt__vm_frame_encode(type, session, payload, strlen(payload), &len);

    rt__vm_rbuf_append(b, f, len);
    free(f);
}

Test(rt_vm_proto, frames_round_trip_even_split_byte_by_byte)
{
    struct rt__vm_rbuf in = {0}, out = {0};
    struct rt__vm_frame f;
    const char *texts[] = {"{\"pid\":42}", "hello\n", ""};
    uint8_t types[] = {RT_VM_STARTED, RT_VM_OUT, RT_VM_ERR};
    int got = 0;

    for (int i = 0; i < 3; i++)
        feed(&in, texts[i], types[i], (uint32_t)(7 * i));
    /* One byte at a time: a frame is returned only once complete. */
    for (size_t i = 0; i < in.len; i++) {
        rt__vm_rbuf_append(&out, in.data + i, 1);
        while (rt__vm_frame_next(&out, &f) == 1) {
            cr_assert_eq(f.type, types[got]);
            cr_assert_eq(f.session, (uint32_t)(7 * got));
            cr_assert_eq(f.len, strlen(texts[got]));
            cr_assert_eq(memcmp(f.payload, texts[got], f.len), 0);
            got++;
        }
    }
    cr_assert_eq(got, 3);
    cr_assert_eq(rt__vm_frame_next(&out, &f), 0, "nothing left");
    rt__vm_rbuf_release(&in);
    rt__vm_rbuf_release(&out);
}

Test(rt_vm_proto, rejects_lengths_out_of_bounds_and_unknown_types)
{
    struct rt__vm_rbuf b = {0};
    struct rt__vm_frame f;
    const uint8_t short_len[] = {0, 0, 0, 4, 'O', 0, 0, 0};
    const uint8_t huge_len[] = {0x7f, 0xff, 0xff, 0xff, 'O'};
    const uint8_t bad_type[] = {0, 0, 0, 5, 'Z', 0, 0, 0, 0};

    rt__vm_rbuf_append(&b, short_len, sizeof(short_len));
    cr_assert_eq(rt__vm_frame_next(&b, &f), -1);
    rt__vm_rbuf_release(&b);
    rt__vm_rbuf_append(&b, huge_len, sizeof(huge_len));
    cr_assert_eq(rt__vm_frame_next(&b, &f), -1, "a 2 GiB frame is refused before it is buffered");
    rt__vm_rbuf_release(&b);
    rt__vm_rbuf_append(&b, bad_type, sizeof(bad_type));
    cr_assert_eq(rt__vm_frame_next(&b, &f), -1);
    rt__vm_rbuf_release(&b);
}

static int decode(const char *payload, uint8_t type, struct rt__vm_msg *m, struct stk_err *err)
{
    struct rt__vm_frame f = {
        .type = type, .session = 3, .payload = (const uint8_t *)payload, .len = strlen(payload)};

    return rt__vm_msg_decode(&f, m, err);
}

Test(rt_vm_proto, decodes_what_the_agent_sends)
{
    struct rt__vm_msg m;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(decode("{\"status\":143}", RT_VM_EXIT, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m.status, 143);
    cr_assert_eq(m.session, 3u);
    rt__vm_msg_release(&m);
    cr_assert_eq(decode("{\"pid\":17}", RT_VM_STARTED, &m, &err), 0);
    cr_assert_eq(m.pid, 17);
    rt__vm_msg_release(&m);
    cr_assert_eq(decode("{\"processes\":[{\"pid\":5,\"uid\":65534,\"cmd\":\"sleep\\u001b[2J 9\"}]}",
                        RT_VM_TOP, &m, &err),
                 0, "%s", err.msg);
    cr_assert_eq(m.n_procs, 1u);
    cr_assert_eq(m.procs[0].uid, 65534u);
    cr_assert_str_eq(m.procs[0].cmd, "sleep?[2J 9", "control characters are not passed on");
    rt__vm_msg_release(&m);
    cr_assert_eq(decode("{\"error\":\"no\\nway\"}", RT_VM_FAIL, &m, &err), 0);
    cr_assert_str_eq(m.error, "no?way");
    rt__vm_msg_release(&m);
}

Test(rt_vm_proto, refuses_malformed_or_out_of_range_messages)
{
    static const struct {
        uint8_t type;
        const char *payload;
    } bad[] = {
        {RT_VM_EXIT, "{\"status\":256}"},
        {RT_VM_EXIT, "{\"status\":-1}"},
        {RT_VM_EXIT, "{\"status\":\"0\"}"},
        {RT_VM_STARTED, "{\"pid\":0}"},
        {RT_VM_STARTED, "{\"pid\":99999999999}"},
        {RT_VM_STARTED, "[1]"},
        {RT_VM_TOP, "{\"processes\":[{\"pid\":1,\"uid\":0}]}"},
        {RT_VM_TOP, "{\"processes\":{}}"},
        {RT_VM_FAIL, "{\"error\":1}"},
        {RT_VM_EXIT, "{\"status\":1,\"status\":2}"},
        {RT_VM_REQ, "{\"op\":\"exec\"}"},
        {RT_VM_EXIT, "{\"status\":1"},
    };
    struct rt__vm_msg m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stk_err err = STK_ERR_INIT;
        cr_assert_eq(decode(bad[i].payload, bad[i].type, &m, &err), STK_ERUNTIME, "case %zu: %s", i,
                     bad[i].payload);
        cr_assert(strstr(err.msg, "guest agent"), "%s", err.msg);
    }
}
