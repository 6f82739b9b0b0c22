#!/bin/sh
# bench/isolation.sh - process vs hyperv isolation at DRIVER level (issue 13):
# the time from create+start of one busybox httpd container to its port
# answering, through the oci driver (runc/crun under conmon) and through the
# vm driver (a QEMU utility VM), with TCG forced and with KVM when a probe
# shows it usable; and the PSS of one idle 256 MB VM (QEMU and virtiofsd
# together), after it has idled 15 s (free page reporting returns what the
# guest freed after boot within a few seconds).
#
# Driver level, not `stack up -d`: the orchestrator does not choose the vm
# driver for hyperv services yet; bench/rt-isolation.c (built as
# build/tests/bench-rt-isolation) is the helper that drives one driver.
#
# Usage (root): bench/isolation.sh [RUNS]    (default 3; medians are printed)
#   BUILD_DIR   the build folder (default: build)
#
# The container lives in a network namespace of the script's own (stkiso<PID>a,
# 10.213.9.2/24) joined by a veth pair to a second one (…b, 10.213.9.1) from
# which curl asks http://10.213.9.2:8080/; both are removed on every exit.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/lib.sh"
build=${BUILD_DIR:-$here/build}
helper=$build/tests/bench-rt-isolation
runs=${1:-3}
[ "$(id -u)" -eq 0 ] || { echo "isolation.sh: needs root" >&2; exit 1; }
[ -x "$helper" ] || { echo "isolation.sh: build first ($helper is missing)" >&2; exit 1; }
[ -d "$here/examples/images/out/busybox" ] || sh "$here/examples/images/build-busybox.sh" >/dev/null

a=stkiso$$a
b=stkiso$$b
work=$(mktemp -d /tmp/bench-isolation.XXXXXX)
cleanup() {
    for id in $(ls "$work/state/containers" 2>/dev/null); do
        "$helper" "$work/state" "$work/run" down vm "$id" 2>/dev/null ||
            "$helper" "$work/state" "$work/run" down oci "$id" 2>/dev/null || true
    done
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add "$a"
ip netns add "$b"
ip link add va netns "$a" type veth peer name vb netns "$b"
ip -n "$a" addr add 10.213.9.2/24 dev va
ip -n "$a" link set va up
ip -n "$a" link set lo up
ip -n "$b" addr add 10.213.9.1/24 dev vb
ip -n "$b" link set vb up
ip -n "$b" link set lo up

# one DRIVER ID: create+start, then the seconds until the port answers.
one() {
    t0=$(bench_now)
    "$helper" "$work/state" "$work/run" up "$1" "$2" "/run/netns/$a" >&2
    i=0
    until ip netns exec "$b" curl -s -o /dev/null -m 1 http://10.213.9.2:8080/; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "isolation.sh: port never answered ($1)" >&2; return 1; }
        sleep 0.05
    done
    t1=$(bench_now)
    bench_elapsed "$t0" "$t1"
}

# pss_kb ID: QEMU's PSS plus that of the monitor's virtiofsd processes (kB).
pss_kb() {
    cdir=$work/state/containers/$1
    qemu=$(cat "$cdir/qemu.pid")
    mon=$(cat "$cdir/monitor.pid")
    pids="$qemu"
    for p in /proc/[0-9]*; do
        pp=$(awk '{print $4}' "$p/stat" 2>/dev/null) || continue
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        case "$comm" in virtiofsd) ;; *) continue ;; esac
        if [ "$pp" = "$mon" ]; then
            pids="$pids ${p#/proc/}"
            # virtiofsd's sandboxed child
            for c in /proc/[0-9]*; do
                [ "$(awk '{print $4}' "$c/stat" 2>/dev/null)" = "${p#/proc/}" ] && pids="$pids ${c#/proc/}"
            done
        fi
    done
    total=0
    for p in $pids; do
        kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

kvm=no
oci_t="" vm_t="" kvm_t="" pss=""
for r in $(seq "$runs"); do
    oci_t="$oci_t $(one oci "oci-$r")"
    "$helper" "$work/state" "$work/run" down oci "oci-$r"
    vm_t="$vm_t $(STACK_VM_ACCEL=tcg one vm "tcg-$r")"
    sleep 15
    pss="$pss $(pss_kb "tcg-$r")"
    "$helper" "$work/state" "$work/run" down vm "tcg-$r"
    if grep -q '"kvm_works": true' "$work/state/vm/accel.json" 2>/dev/null; then
        kvm=yes
        kvm_t="$kvm_t $(one vm "kvm-$r")"
        "$helper" "$work/state" "$work/run" down vm "kvm-$r"
    fi
done
med() { for x in $1; do echo "$x"; done | bench_median; }
echo "isolation (driver level, $runs runs, medians; create+start until port 8080 answers):"
printf '  process (oci):        %.2f s\n' "$(med "$oci_t")"
printf '  hyperv (vm, TCG):     %.2f s\n' "$(med "$vm_t")"
if [ "$kvm" = yes ]; then
    printf '  hyperv (vm, KVM):     %.2f s\n' "$(med "$kvm_t")"
else
    echo "  hyperv (vm, KVM):     not measured (the probe boot found KVM unusable on this host)"
fi
echo "  idle 256 MB VM, PSS of QEMU + virtiofsd: $(( $(med "$pss") / 1024 )) MB"
