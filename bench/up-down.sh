#!/bin/sh
# bench/up-down.sh - `stack up -d` and `stack down` of a generated stack of N
# busybox services, next to the floor measured in the same run: the same N
# containers created and started directly with runc and networked with the
# CNI plugins (bridge + host-local + portmap ADD) by this script, one after
# another, then torn down (runc delete, CNI DEL).
#
# Usage (as root, after scripts/setup): bench/up-down.sh [N] [RUNS]
#   N      number of services (default 20)
#   RUNS   repetitions; medians are reported (default 3)
#
# Everything lives in a temporary folder; the floor (bench/lib.sh) uses its
# own bridge, subnet, IPAM dir and netns names and removes them. Containers
# talk to nothing: each runs a shell loop that exits promptly on SIGTERM.
set -eu
export STACK_DNS_FORWARD=0 # the DNS responder forwards nothing outside (README)

N=${1:-20}
RUNS=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
STACK=${STACK:-$here/build/orchestrator/stack}
IMAGE=$here/examples/images/out/busybox
[ -x "$STACK" ] || { echo "bench: build stack first (scripts/setup)" >&2; exit 2; }
[ -d "$IMAGE" ] || sh "$here/examples/images/build-busybox.sh" >/dev/null

. "$here/bench/lib.sh"
bench_ports_free "$N" || { echo "bench: ports $((BENCH_PORT_BASE + 1))-$((BENCH_PORT_BASE + N)) busy (set BENCH_PORT_BASE)" >&2; exit 2; }

work=$(mktemp -d /tmp/stack-bench-XXXXXX)
cleanup() {
    floor_cleanup "$N"
    "$STACK" --state-dir "$work/state" --run-dir "$work/run" down -p updown >/dev/null 2>&1 || true
    bench_umount_under "$work"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { bench_now; }
elapsed() { bench_elapsed "$@"; }
median() { bench_median; }

bench_gen_stack "$work/bench.yaml" "$N" "$IMAGE" updown
floor_init "$work/floor" "$IMAGE"

floor_bundles "$N"
S="$STACK --state-dir $work/state --run-dir $work/run"
$S image load "$IMAGE" >/dev/null
: > "$work/t"
for r in $(seq 1 "$RUNS"); do
    t0=$(now); $S up -d -f "$work/bench.yaml" >/dev/null 2>"$work/up.err" || { cat "$work/up.err"; exit 1; }
    t1=$(now); $S up -d -f "$work/bench.yaml" >/dev/null 2>&1
    t2=$(now); $S down -f "$work/bench.yaml" >/dev/null 2>"$work/down.err" || { cat "$work/down.err"; exit 1; }
    t3=$(now); floor_up "$N"
    t4=$(now); floor_down "$N"
    t5=$(now)
    echo "$(elapsed $t0 $t1) $(elapsed $t1 $t2) $(elapsed $t2 $t3) $(elapsed $t3 $t4) $(elapsed $t4 $t5)" >> "$work/t"
    echo "run $r: $(tail -1 "$work/t")" >&2
done
up=$(cut -d' ' -f1 "$work/t" | median)
noop=$(cut -d' ' -f2 "$work/t" | median)
down=$(cut -d' ' -f3 "$work/t" | median)
fup=$(cut -d' ' -f4 "$work/t" | median)
fdown=$(cut -d' ' -f5 "$work/t" | median)
printf '\n%d services, %d runs, medians in seconds (runtime: %s)\n' "$N" "$RUNS" "$($S info | awk -F'[()]' '/Runtime driver/ {print $2}')"
printf '%-28s %8s %8s %8s\n' "" "stack" "floor" "ratio"
printf '%-28s %8.3f %8.3f %8.2f\n' "up -d" "$up" "$fup" "$(echo "$up / $fup" | bc -l)"
printf '%-28s %8.3f %8s %8s\n' "no-op up -d" "$noop" "-" "-"
printf '%-28s %8.3f %8.3f %8.2f\n' "down" "$down" "$fdown" "$(echo "$down / $fdown" | bc -l)"
