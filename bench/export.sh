#!/bin/sh
# Benchmark of `stack export kubernetes` (issue 16): the whole process on a
# generated N-service file (bench/config/gen-compose.py: ports, a bind,
# environment, healthchecks, a depends_on chain), next to `stack config -q`
# of the same file in the same run, so the export's own cost is the difference.
# Prints the median wall time, CPU time (user + system) and peak RSS of RUNS
# runs of each (/usr/bin/time, 10 ms steps): the export to
# standard output, and to a folder (one file per object).
#
# Usage: bench/export.sh [SERVICES] [RUNS]
#   STACK   the stack binary (default: build/orchestrator/stack)
# Target (issue 16): under 100 ms for 1000 services.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
services=${1:-1000}
runs=${2:-7}
stack=${STACK:-$root/build/orchestrator/stack}

work=$(mktemp -d /tmp/stk-bench-export.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/site"
/usr/bin/python3 "$here/config/gen-compose.py" "$services" > "$work/compose.yaml"
file="$work/compose.yaml"

# measure NAME CMD...: runs CMD RUNS times, prints "NAME wall_ms rss_mb" medians.
measure() {
    name=$1
    shift
    : > "$work/$name.times"
    i=0
    while [ "$i" -lt "$runs" ]; do
        rm -rf "$work/out"
        if ! /usr/bin/time -f '%e %M %U %S' -o "$work/$name.one" "$@" > /dev/null 2> "$work/$name.err"; then
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
cpu = statistics.median(float(r[2]) + float(r[3]) for r in rows) * 1000
print(f"{sys.argv[1]:<22} {wall:8.1f} ms wall {cpu:8.1f} ms cpu {rss / 1024:8.1f} MB   ({len(rows)} runs)")
PY
}

echo "export benchmark: $services services, $runs runs each, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
echo "file: $(wc -c < "$file") bytes"
"$stack" export kubernetes -f "$file" 2>/dev/null > "$work/all.yaml"
echo "output: $(grep -c '^---$' "$work/all.yaml") objects, $(wc -c < "$work/all.yaml") bytes"
measure "config -q" "$stack" config -q -f "$file"
measure "export (stdout)" "$stack" export kubernetes -f "$file"
measure "export -o DIR" "$stack" export kubernetes -f "$file" -o "$work/out"
