#!/bin/sh
# bench/noop-health.sh - a no-op `stack up -d` of a three-service stack whose
# two dependants wait for a health check (`condition: service_healthy`) with
# an INTERVAL (default 30s) interval, for each binary given, side by side in
# one run. The first `up` waits one interval for the first check; every
# later `up` changes nothing and, since issue 9, waits for nothing: an
# unchanged container's gate is judged from its recorded health (before, it
# re-waited the gate: one interval per no-op up).
#
# Usage (as root, after building): bench/noop-health.sh [RUNS] [STACK...]
#   RUNS    no-op ups per binary; medians are reported (default 3)
#   STACK   binaries to compare (default: build/orchestrator/stack)
# Containers talk to nothing; everything lives in a temporary folder.
set -eu

RUNS=${1:-3}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=$here/examples/images/out/busybox
INTERVAL=${INTERVAL:-30s}
[ -d "$IMAGE" ] || sh "$here/examples/images/build-busybox.sh" >/dev/null
[ $# -gt 0 ] || set -- "$here/build/orchestrator/stack"

. "$here/bench/lib.sh"

work=$(mktemp -d /tmp/stack-bench-hc-XXXXXX)
current=
cleanup() {
    [ -n "$current" ] && $current down -p noophc >/dev/null 2>&1 || true
    bench_umount_under "$work"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loop='["sh", "-c", "trap '"'"'exit 0'"'"' TERM; while true; do sleep 1 & wait $$!; done"]'
cat > "$work/stack.yaml" <<EOY
name: noophc
services:
  db:
    image: $IMAGE
    command: $loop
    healthcheck:
      test: ["CMD", "true"]
      interval: $INTERVAL
      timeout: 5s
      retries: 3
  web:
    image: $IMAGE
    command: $loop
    depends_on:
      db:
        condition: service_healthy
  app:
    image: $IMAGE
    command: $loop
    depends_on:
      db:
        condition: service_healthy
      web:
        condition: service_started
EOY

printf '%-60s %10s %10s\n' "binary" "first up" "no-op up"
i=0
for bin in "$@"; do
    i=$((i + 1))
    S="$bin --state-dir $work/s$i/state --run-dir $work/s$i/run"
    current=$S
    t0=$(bench_now)
    $S up -d -f "$work/stack.yaml" >/dev/null 2>"$work/up.err" || { cat "$work/up.err"; exit 1; }
    t1=$(bench_now)
    first=$(bench_elapsed "$t0" "$t1")
    : > "$work/t"
    for r in $(seq 1 "$RUNS"); do
        t0=$(bench_now)
        $S up -d -f "$work/stack.yaml" >/dev/null 2>&1
        t1=$(bench_now)
        bench_elapsed "$t0" "$t1" >> "$work/t"
    done
    $S down -f "$work/stack.yaml" >/dev/null 2>&1
    current=
    printf '%-60s %10.3f %10.3f\n' "$bin" "$first" "$(bench_median < "$work/t")"
done
