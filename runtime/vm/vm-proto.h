/*
 * vm-proto.h - the framing between the host (the VM driver and its monitor)
 * and the guest agent of runtime/vm/, spoken over one virtio-serial port
 * ("stack.ctl") and over the monitor's own Unix socket.
 *
 * A frame is
 *   u32 length (big-endian: the bytes that follow, 5 .. RT_VM_FRAME_MAX)
 *   u8  type   (enum rt_vm_frame_type)
 *   u32 session (big-endian; 0 is the container's main process)
 *   payload (length - 5 bytes): raw output bytes for RT_VM_OUT/RT_VM_ERR,
 *           one JSON object (jansson) for every other type.
 * Sessions let the monitor multiplex several driver requests (exec, signal,
 * top) over the single port: the monitor rewrites the session of a client's
 * request to one of its own and routes the guest's answers back.
 *
 * Messages (JSON payloads):
 *   REQ  host->guest  {"op":"exec","args":[...],"env":[...],"cwd":S,"user":S}
 *                     {"op":"signal","signal":N}  {"op":"top"}
 *   STARTED guest->host {"pid":N}              the main process runs
 *   EXIT    guest->host {"status":N}           a session's process ended
 *                                              (128+signal when killed);
 *                                              for "signal", 0 = delivered
 *   TOP     guest->host {"processes":[{"pid":N,"uid":N,"cmd":S},...]}
 *   FAIL    guest->host {"error":S}            the request failed
 *   ACK     host->guest {}                     EXIT of the main process seen
 *
 * This file is plain C over libc: the static guest agent builds it too. What
 * the host reads from the guest is untrusted; rt__vm_frame_next() bounds every
 * length and the host decodes payloads with rt__vm_msg_decode() (vm-msg.c),
 * both fuzzed by tests/fuzz/fuzz-vm-proto.c.
 */
#ifndef RT_VM_PROTO_H
#define RT_VM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define RT_VM_FRAME_HDR 9u
#define RT_VM_FRAME_MAX (1u << 20) /* the largest length field accepted */

enum rt_vm_frame_type {
    RT_VM_REQ = 'R',
    RT_VM_OUT = 'O',
    RT_VM_ERR = 'E',
    RT_VM_STARTED = 'S',
    RT_VM_EXIT = 'X',
    RT_VM_TOP = 'T',
    RT_VM_FAIL = 'F',
    RT_VM_ACK = 'A',
};

/* One decoded frame; PAYLOAD is borrowed from the buffer it was parsed from. */
struct rt__vm_frame {
    uint8_t type;
    uint32_t session;
    const uint8_t *payload;
    size_t len;
};

/* A receive buffer: bytes appended as they arrive, frames taken from the front. */
struct rt__vm_rbuf {
    uint8_t *data; /* owned, grows up to RT_VM_FRAME_MAX + RT_VM_FRAME_HDR */
    size_t len;    /* valid bytes */
    size_t cap;
    size_t taken; /* bytes of frames already returned, dropped on the next append */
};

/* Releases what B owns and zeroes it; NULL-safe. */
void rt__vm_rbuf_release(struct rt__vm_rbuf *b);

/* Appends N bytes to B (aborts on out of memory). */
void rt__vm_rbuf_append(struct rt__vm_rbuf *b, const void *data, size_t n);

/*
 * Takes the next complete frame from B into *RET (its payload borrowed from B
 * until the next append). Returns 1 with a frame, 0 when more bytes are
 * needed, -1 when the stream is malformed (a length below the header or above
 * RT_VM_FRAME_MAX, an unknown type): the peer is then not to be trusted and
 * the connection is dropped.
 */
int rt__vm_frame_next(struct rt__vm_rbuf *b, struct rt__vm_frame *ret);

/*
 * Encodes a frame of TYPE for SESSION with N payload bytes into a new buffer
 * (caller frees) of *RET_LEN bytes. N must not exceed
 * RT_VM_FRAME_MAX - 5 (larger output is sent as several frames).
 */
uint8_t *rt__vm_frame_encode(uint8_t type, uint32_t session, const void *payload, size_t n,
                             size_t *ret_len);

/* Whether TYPE is one of enum rt_vm_frame_type. */
int rt__vm_frame_type_valid(uint8_t type);

#endif
