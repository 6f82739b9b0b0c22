/*
 * vm-internal.h - private cross-file declarations of the VM driver
 * (runtime/vm/). Nothing outside this folder includes it, except the fuzz
 * target of the host-side decoder (tests/fuzz/fuzz-vm-proto.c).
 *
 * Layout of one VM-isolated container (the oci driver's layout, DESIGN.md §4):
 *   STATE/containers/ID/vm.json       the monitor's configuration (this file's
 *                                     marker: the oci driver skips such dirs)
 *   STATE/containers/ID/agent.json    the guest agent's configuration, without
 *                                     the network (the monitor adds it)
 *   STATE/containers/ID/labels.json   labels and name, as for oci
 *   STATE/containers/ID/rootfs/       the overlay root (runtime/oci/oci-rootfs.c)
 *   STATE/containers/ID/share/        what virtiofsd serves: root/ (a bind of
 *                                     rootfs/), m/N (a bind of mount N's
 *                                     source), agent.json
 *   STATE/containers/ID/ctr.log       k8s-file log of stdout and stderr
 *   STATE/containers/ID/exit/ID       the exit status as text
 *   STATE/containers/ID/monitor.pid   the monitor's PID; qemu.pid QEMU's
 *   STATE/containers/ID/started       start time, nanoseconds since the epoch
 *   STATE/containers/ID/console.log   the guest's serial console
 *   STATE/containers/ID/monitor.log   the monitor's, QEMU's and virtiofsd's stderr
 *   RUN/vm/ID/{fs,ctl,api}.sock       virtiofsd's, the agent port's and the
 *                                     monitor's sockets
 */
#ifndef RT_VM_INTERNAL_H
#define RT_VM_INTERNAL_H

#include <stdint.h>

#include "common/stk-err.h"
#include "runtime/vm/vm-proto.h"

/* One guest process as the agent reports it (RT_VM_TOP). */
struct rt__vm_proc {
    int pid;      /* guest PID */
    uint32_t uid; /* guest uid */
    char *cmd;    /* command line, control characters replaced, at most 1 KiB */
};

/* A decoded guest->host message. Owned strings freed by rt__vm_msg_release(). */
struct rt__vm_msg {
    uint8_t type; /* enum rt_vm_frame_type */
    uint32_t session;
    int pid;                   /* RT_VM_STARTED */
    int status;                /* RT_VM_EXIT, 0..255 */
    char *error;               /* RT_VM_FAIL */
    struct rt__vm_proc *procs; /* RT_VM_TOP */
    size_t n_procs;
};

/*
 * Decodes frame F (a guest->host frame: OUT, ERR, STARTED, EXIT, TOP, FAIL)
 * into *RET (released with rt__vm_msg_release()). OUT and ERR carry raw bytes
 * and decode to their type only. Errors: STK_ERUNTIME for malformed JSON, a
 * missing or out-of-range field, or a type the guest must not send.
 */
int rt__vm_msg_decode(const struct rt__vm_frame *f, struct rt__vm_msg *ret, struct stk_err *err);

/* Frees what M owns and zeroes it; NULL-safe. */
void rt__vm_msg_release(struct rt__vm_msg *m);

/* The default guest memory when the spec sets no limit, and the smallest given. */
#define RT_VM_DEFAULT_MEMORY_MB 256
#define RT_VM_MIN_MEMORY_MB 128

#endif
