#!/bin/sh
# Benchmark of `stack config -q` (load + validate + hash) against
# `docker-compose config` (Debian's docker-compose 1.29) on the same generated
# file, in the same run (issue 3). Prints the median wall time and the median
# peak resident set size of RUNS runs of each whole process.
#
# Usage: bench/config/run.sh [SERVICES] [RUNS]
# Environment:
#   STACK        path of the stack binary (default: build/orchestrator/stack)
#   STACK_CMD    the full command to time instead of "$STACK config -q -f FILE";
#                FILE is appended (useful before `stack config` exists)
#   COMPOSE      docker-compose command (default: docker-compose; skipped if absent)
# Targets (issue 3): under 50 ms and under 20 MB for 1000 services.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
services=${1:-1000}
runs=${2:-5}
stack=${STACK:-$root/build/orchestrator/stack}
compose=${COMPOSE:-docker-compose}

work=$(mktemp -d /tmp/stk-bench-config.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/site"
/usr/bin/python3 "$here/gen-compose.py" "$services" > "$work/docker-compose.yml"
file="$work/docker-compose.yml"

# measure NAME CMD...: runs CMD RUNS times, prints "NAME wall_ms rss_kb" medians.
measure() {
    name=$1
    shift
    : > "$work/$name.times"
    i=0
    while [ "$i" -lt "$runs" ]; do
        if ! /usr/bin/time -f '%e %M' -o "$work/$name.one" "$@" > /dev/null 2> "$work/$name.err"; then
            echo "$name: command failed:" >&2
            cat "$work/$name.err" >&2
            return 1
        fi
        cat "$work/$name.one" >> "$work/$name.times"
        i=$((i + 1))
    done
    /usr/bin/python3 - "$name" "$work/$name.times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
wall = statistics.median(float(r[0]) for r in rows) * 1000
rss = statistics.median(int(r[1]) for r in rows)
print(f"{sys.argv[1]:<16} {wall:10.1f} ms {rss / 1024:10.1f} MB   ({len(rows)} runs)")
PY
}

echo "config benchmark: $services services, $runs runs each, $(nproc) CPUs"
echo "file: $(wc -c < "$file") bytes"
if [ -n "${STACK_CMD:-}" ]; then
    # shellcheck disable=SC2086
    measure stack $STACK_CMD "$file"
else
    measure stack "$stack" config -q -f "$file"
fi
if command -v "$compose" > /dev/null 2>&1; then
    (cd "$work" && measure docker-compose "$compose" -f "$file" config -q) ||
        (cd "$work" && measure docker-compose "$compose" -f "$file" config)
else
    echo "docker-compose: not installed, skipped"
fi
