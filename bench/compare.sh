#!/bin/bash
# bench/compare.sh - issue 4's benchmark, every number next to its references
# measured in the same run.
#
# For generated stacks of N busybox services (default 20 and 50; each
# publishing one port, BENCH_PORT_BASE+I:80 with the base 21000 by default,
# and running a shell loop that exits promptly on SIGTERM), the medians over
# RUNS of:
#   - `stack up -d`, no-op `stack up -d`, `stack down`, with the native
#     bridge plug-in (the default) and again with the CNI plug-in
#     (--network-plugin cni);
#   - (a) the raw runtime floor (bench/lib.sh): the same containers created,
#     networked (CNI bridge + host-local + portmap) and started directly with
#     runc and the CNI plugins, one after another, and torn down the same way;
#   - (b) docker-compose (Debian's docker-compose 1.29) with dockerd (Debian's
#     docker.io 20.10) on the same generated file: up -d, no-op up -d, down.
# Then, on a generated file of PLAN_N (1000) services:
#   - `stack config -q` next to `docker-compose config -q` (wall time and peak
#     RSS through /usr/bin/time -f '%e %M'; the wall time is taken with the
#     shell's EPOCHREALTIME around the same invocation, for sub-10 ms
#     resolution);
#   - the whole `stack plan` process (load included) on the fake driver, when
#     the build has `stack plan`.
#
# Usage (as root, after building stack): bench/compare.sh [N...] [--runs R]
#   N...        stack sizes (default: 20 50)
#   --runs R    repetitions; medians are reported (default 3)
#   STACK=PATH  the stack binary (default: build/orchestrator/stack)
#   PLAN_N=M    services in the config/plan file (default 1000)
#   NO_DOCKER=1 skip the docker-compose part
#
# The files carry no top-level `name:` and no `version:` (docker-compose 1.29
# refuses the first, stack warns on the second); both tools get `-p benchcmp`.
# They carry no `pull_policy` either: docker-compose 1.29 accepts the key but
# ignores it; it pulls only when the image is missing, and the script checks
# that busybox:latest is loaded before any `up` (there is no registry).
#
# dockerd runs after the product's runs, from a temporary folder: its own
# --data-root, --exec-root, --pidfile, -H unix://<tmp>/docker.sock and config
# file (so /etc/docker/daemon.json and key.json are neither read nor
# written), with --iptables=true, so published ports work as they do for its
# users. The busybox image is loaded with `docker load` of a docker-archive
# built from the OCI layout (dockerd 20.10 does not load OCI layouts). dockerd
# is stopped by PID; then the processes it left (found by our temporary path
# in their command line) are stopped by PID, and its firewall rules and chains
# (DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2 in filter and nat, rules in
# the built-in chains), bridges (docker0, br-*) and sysctls are removed or
# restored: only what was not there before. iptables-save and ip6tables-save
# taken before dockerd starts and after the cleanup are compared and the
# result printed.
#
# Everything is removed on every path (EXIT trap); processes are stopped by
# PID only.
set -eu
export LC_ALL=C
# The bridge plug-in's DNS responder forwards nothing outside (README, netplugins/bridge).
export STACK_DNS_FORWARD=0

here=$(cd "$(dirname "$0")/.." && pwd)
BENCH_PORT_BASE=${BENCH_PORT_BASE:-21000}
. "$here/bench/lib.sh"
PROJECT=benchcmp

SIZES=()
RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
    --runs=*) RUNS=${1#--runs=}; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*|"") echo "compare: bad argument '$1' (usage: compare.sh [N...] [--runs R])" >&2; exit 2 ;;
    *) SIZES+=("$1"); shift ;;
    esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20 50)
case $RUNS in ''|*[!0-9]*|0) echo "compare: --runs needs a positive number" >&2; exit 2 ;; esac
PLAN_N=${PLAN_N:-1000}
STACK=${STACK:-$here/build/orchestrator/stack}
IMAGE=$here/examples/images/out/busybox
MAXN=0
for n in "${SIZES[@]}"; do [ "$n" -le "$MAXN" ] || MAXN=$n; done

[ "$(id -u)" -eq 0 ] || { echo "compare: run as root" >&2; exit 2; }
[ -x "$STACK" ] || { echo "compare: build stack first: cmake -S . -B build && cmake --build build" >&2; exit 2; }
for t in runc ip bc python3 iptables-save; do
    command -v "$t" >/dev/null || { echo "compare: '$t' missing" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "compare: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
[ -x "$BENCH_CNI_PATH/bridge" ] || { echo "compare: CNI plugins missing (containernetworking-plugins)" >&2; exit 2; }
[ -f "$IMAGE/index.json" ] || sh "$here/examples/images/build-busybox.sh" >/dev/null
bench_ports_free "$MAXN" || { echo "compare: ports $((BENCH_PORT_BASE + 1))-$((BENCH_PORT_BASE + MAXN)) busy (set BENCH_PORT_BASE)" >&2; exit 2; }

docker_why=""
if [ -n "${NO_DOCKER:-}" ]; then
    docker_why="NO_DOCKER set"
elif ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    docker_why="dockerd not installed (apt-get install docker.io)"
elif ! command -v docker-compose >/dev/null; then
    docker_why="docker-compose not installed (apt-get install docker-compose)"
elif ip link show docker0 >/dev/null 2>&1 || iptables -t nat -S DOCKER >/dev/null 2>&1 \
    || iptables -t filter -S DOCKER >/dev/null 2>&1; then
    docker_why="docker0 or DOCKER chains already on the host (another dockerd?)"
elif [ -e /run/containerd/containerd.sock ]; then
    docker_why="a system containerd runs (/run/containerd/containerd.sock); dockerd would use it"
fi

work=$(mktemp -d /tmp/stack-compare-XXXXXX)
dwork=$work/docker
dpid=""
S=("$STACK" --state-dir "$work/state" --run-dir "$work/run")
# The same stack with the CNI plug-in (issue 12: the native plug-in next to it).
SC=("$STACK" --state-dir "$work/state-cni" --run-dir "$work/run-cni" --network-plugin cni)

# --- cleanup (every path) -----------------------------------------------------------
# Processes whose command line names our temporary folder (the containerd that
# dockerd starts, its shims, docker-proxy): found by PID, stopped by PID.
pids_under_work() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] || continue
        if { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$dwork/"; then echo "$p"; fi
    done
}

stop_dockerd() {
    local i p
    [ -n "$dpid" ] || return 0
    if kill -0 "$dpid" 2>/dev/null; then
        # Containers first (our private daemon; nothing else lives there).
        if [ -S "$dwork/docker.sock" ]; then
            ids=$(docker ps -aq 2>/dev/null || true)
            # shellcheck disable=SC2086 # one argument per container id
            [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
            docker network prune -f >/dev/null 2>&1 || true
        fi
        kill -TERM "$dpid" 2>/dev/null || true
        for i in $(seq 1 150); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$dpid" 2>/dev/null; then kill -KILL "$dpid" 2>/dev/null || true; fi
    fi
    wait "$dpid" 2>/dev/null || true
    dpid=""
    for p in $(pids_under_work); do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in $(pids_under_work); do kill -KILL "$p" 2>/dev/null || true; done
}

# Remove what dockerd added to the firewall, the links and /run, keeping
# whatever was there before it started (snapshots in $dwork/before.*).
docker_host_cleanup() {
    local t c line l
    [ -f "$dwork/before.links" ] || return 0
    for t in filter nat; do
        # Rules first (in any chain), only the ones that did not exist before.
        iptables -t "$t" -S 2>/dev/null | grep '^-A ' | grep -vxF -f "$dwork/before.$t" \
            | grep -E 'DOCKER|docker0|br-[0-9a-f]{12}' > "$dwork/del.$t" || true
        while IFS= read -r line; do
            eval "iptables -t $t -D ${line#-A }" 2>/dev/null || true
        done < "$dwork/del.$t"
        for c in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
            grep -qxF -- "-N $c" "$dwork/before.$t" && continue
            if iptables -t "$t" -F "$c" 2>/dev/null; then iptables -t "$t" -X "$c" 2>/dev/null || true; fi
        done
        # The built-in chains' policies as they were.
        grep '^-P ' "$dwork/before.$t" | while read -r _ c pol; do
            [ "$(iptables -t "$t" -S "$c" 2>/dev/null | head -1)" = "-P $c $pol" ] \
                || iptables -t "$t" -P "$c" "$pol" 2>/dev/null || true
        done
        # A table that did not exist before and is empty again (iptables-nft).
        if ! grep -qx "table ip $t" "$dwork/before.tables" && command -v nft >/dev/null \
            && ! iptables -t "$t" -S 2>/dev/null | grep -qv '^-P .* ACCEPT$'; then
            nft delete table ip "$t" 2>/dev/null || true
        fi
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        case $l in docker0|br-*) grep -qxF "$l" "$dwork/before.links" || ip link del "$l" 2>/dev/null || true ;; esac
    done
    while read -r f v; do echo "$v" > "$f" 2>/dev/null || true; done < "$dwork/before.sysctl"
    for d in /run/docker/plugins /run/docker /run/containerd/s /run/containerd; do
        grep -qxF "$d" "$dwork/before.rundirs" || rmdir "$d" 2>/dev/null || true
    done
    mv "$dwork/before.links" "$dwork/before.links.done"
}

cleanup() {
    local rc=$?
    set +e
    stop_dockerd
    docker_host_cleanup
    floor_cleanup "$MAXN"
    for n in "${SIZES[@]}"; do
        [ -f "$work/s$n.yaml" ] && "${S[@]}" down -p "$PROJECT" -f "$work/s$n.yaml" >/dev/null 2>&1
        [ -f "$work/s$n.yaml" ] && "${SC[@]}" down -p "$PROJECT" -f "$work/s$n.yaml" >/dev/null 2>&1
    done
    bench_umount_under "$work"
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One timed shell command: prints seconds (EPOCHREALTIME, no fork to read the clock).
timed() { # timed CMD... -> "$T" (seconds); returns CMD's status
    local t0 t1 rc=0
    t0=$EPOCHREALTIME
    "$@" || rc=$?
    t1=$EPOCHREALTIME
    T=$(echo "$t1 - $t0" | bc -l)
    return $rc
}
col() { cut -d' ' -f"$2" "$1" | bench_median; }
fail() { echo "compare: $*" >&2; for f in "$work"/*.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }

# --- the files ----------------------------------------------------------------------
for n in "${SIZES[@]}"; do bench_gen_stack "$work/s$n.yaml" "$n" busybox:latest; done
bench_gen_stack "$work/plan.yaml" "$PLAN_N" busybox:latest

echo "compare: $(date -u '+%F %T UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), sizes ${SIZES[*]}, $RUNS runs" >&2

# --- stack and the raw floor ------------------------------------------------------------
"${S[@]}" image load "$IMAGE" >/dev/null
"${SC[@]}" image load "$IMAGE" >/dev/null
floor_init "$work/floor" "$IMAGE"
floor_bundles "$MAXN"
for n in "${SIZES[@]}"; do
    f=$work/s$n.yaml
    : > "$work/stack.$n"
    for r in $(seq 1 "$RUNS"); do
        timed "${S[@]}" up -d -p "$PROJECT" -f "$f" >/dev/null 2>"$work/up.err" || fail "stack up -d ($n) failed"
        up=$T
        running=$("${S[@]}" ps -p "$PROJECT" -f "$f" 2>/dev/null | grep -c ' running ' || true)
        [ "$running" -eq "$n" ] || fail "stack up -d: $running of $n containers running"
        timed "${S[@]}" up -d -p "$PROJECT" -f "$f" >/dev/null 2>"$work/noop.err" || fail "no-op stack up -d ($n) failed"
        noop=$T
        timed "${S[@]}" down -p "$PROJECT" -f "$f" >/dev/null 2>"$work/down.err" || fail "stack down ($n) failed"
        down=$T
        timed "${SC[@]}" up -d -p "$PROJECT" -f "$f" >/dev/null 2>"$work/up.err" || fail "stack (cni) up -d ($n) failed"
        cup=$T
        running=$("${SC[@]}" ps -p "$PROJECT" -f "$f" 2>/dev/null | grep -c ' running ' || true)
        [ "$running" -eq "$n" ] || fail "stack (cni) up -d: $running of $n containers running"
        timed "${SC[@]}" up -d -p "$PROJECT" -f "$f" >/dev/null 2>"$work/noop.err" || fail "no-op stack (cni) up -d ($n) failed"
        cnoop=$T
        timed "${SC[@]}" down -p "$PROJECT" -f "$f" >/dev/null 2>"$work/down.err" || fail "stack (cni) down ($n) failed"
        cdown=$T
        timed floor_up "$n" || fail "floor up ($n) failed"
        fup=$T
        running=$(runc --root "$work/floor/runc" list 2>/dev/null | grep -c ' running ' || true)
        [ "$running" -eq "$n" ] || fail "floor: $running of $n containers running"
        timed floor_down "$n" || fail "floor down ($n) failed"
        fdown=$T
        echo "$up $noop $down $fup $fdown $cup $cnoop $cdown" >> "$work/stack.$n"
        printf 'N=%d run %d: stack up %.3f no-op %.3f down %.3f | cni up %.3f no-op %.3f down %.3f | floor up %.3f down %.3f\n' \
            "$n" "$r" "$up" "$noop" "$down" "$cup" "$cnoop" "$cdown" "$fup" "$fdown" >&2
    done
done

# --- config -q and plan on PLAN_N services (no daemon) -----------------------------------------
# measure NAME CMD...: RUNS times through /usr/bin/time; appends "wall rss_kib"
# lines to $work/NAME (wall from EPOCHREALTIME, RSS from time's %M).
measure() {
    local name=$1 r
    shift
    : > "$work/$name"
    for r in $(seq 1 "$RUNS"); do
        timed /usr/bin/time -o "$work/$name.time" -f '%e %M' "$@" >/dev/null 2>"$work/$name.err" \
            || fail "$name: '$*' failed"
        echo "$T $(cut -d' ' -f2 "$work/$name.time" | tail -1)" >> "$work/$name"
    done
}
measure base true
measure cfg.stack "${S[@]}" config -q -p "$PROJECT" -f "$work/plan.yaml"
compose_cfg=0
if command -v docker-compose >/dev/null; then
    measure cfg.compose docker-compose -p "$PROJECT" -f "$work/plan.yaml" config -q
    compose_cfg=1
fi
plan_built=0
if "$STACK" plan --help >/dev/null 2>&1; then
    plan_built=1
    P=("$STACK" --runtime fake --network-plugin fake --state-dir "$work/plan-state" --run-dir "$work/plan-run")
    "${P[@]}" image load "$IMAGE" >/dev/null 2>"$work/plan-load.err" || fail "image load (fake driver) failed"
    measure plan "${P[@]}" plan -p "$PROJECT" -f "$work/plan.yaml"
    plan_what=$("${P[@]}" plan -p "$PROJECT" -f "$work/plan.yaml" 2>/dev/null | grep -o '^[0-9]* actions' | tail -1 || true)
fi

# --- docker-compose with its own dockerd -------------------------------------------------
compose_ok=0
if [ -z "$docker_why" ]; then
    mkdir -p "$dwork/data" "$dwork/exec" "$dwork/cli"
    # Snapshots of what dockerd changes (the cleanup keeps what is listed here).
    for t in filter nat; do iptables -t "$t" -S > "$dwork/before.$t" 2>/dev/null || : > "$dwork/before.$t"; done
    { nft list tables 2>/dev/null || true; } > "$dwork/before.tables"
    for d in /run/docker/plugins /run/docker /run/containerd/s /run/containerd; do [ -e "$d" ] && echo "$d"; done > "$dwork/before.rundirs" || true
    for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables \
        /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
        [ -f "$f" ] && echo "$f $(cat "$f")"
    done > "$dwork/before.sysctl" || true
    ipt_norm() { "$1" 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'; }
    ipt_norm iptables-save > "$dwork/ipt.before"
    ipt_norm ip6tables-save > "$dwork/ip6t.before"
    cp "$dwork/before.sysctl" "$dwork/sysctl.before"
    ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 > "$dwork/before.links"

    printf '{"deprecated-key-path": "%s/key.json"}\n' "$dwork" > "$dwork/daemon.json"
    export DOCKER_HOST=unix://$dwork/docker.sock DOCKER_CONFIG=$dwork/cli
    dockerd --config-file "$dwork/daemon.json" --data-root "$dwork/data" --exec-root "$dwork/exec" \
        --pidfile "$dwork/docker.pid" -H "$DOCKER_HOST" --iptables=true --log-level warn \
        > "$dwork/dockerd.log" 2>&1 &
    dpid=$!
    for i in $(seq 1 150); do
        docker version >/dev/null 2>&1 && break
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.2
    done
    if ! docker version >/dev/null 2>&1; then
        docker_why="dockerd did not start (see its log below)"
        tail -20 "$dwork/dockerd.log" >&2
    fi
fi
if [ -z "$docker_why" ]; then
    # busybox:latest from the OCI layout, as a docker-archive (manifest.json
    # naming the config and the gzip layer, which docker load decompresses).
    python3 - "$IMAGE" "$dwork/archive" <<'EOP'
import json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
d = json.load(open(src + "/index.json"))["manifests"][0]
ref = d.get("annotations", {}).get("org.opencontainers.image.ref.name", "busybox:latest")
m = json.load(open(src + "/blobs/sha256/" + d["digest"].split(":")[1]))
blobs = [m["config"]["digest"]] + [l["digest"] for l in m["layers"]]
os.makedirs(dst + "/blobs/sha256")
for b in blobs:
    shutil.copyfile(src + "/blobs/sha256/" + b.split(":")[1], dst + "/blobs/sha256/" + b.split(":")[1])
json.dump([{"Config": "blobs/sha256/" + blobs[0].split(":")[1], "RepoTags": [ref],
            "Layers": ["blobs/sha256/" + b.split(":")[1] for b in blobs[1:]]}],
          open(dst + "/manifest.json", "w"))
EOP
    tar -C "$dwork/archive" -cf "$dwork/busybox.tar" .
    docker load -i "$dwork/busybox.tar" >/dev/null 2>"$work/load.err" || fail "docker load failed"
    docker image inspect busybox:latest >/dev/null 2>&1 || fail "busybox:latest not in dockerd after load"
    for n in "${SIZES[@]}"; do
        f=$work/s$n.yaml
        DC=(docker-compose -p "$PROJECT" -f "$f")
        : > "$work/compose.$n"
        for r in $(seq 1 "$RUNS"); do
            timed "${DC[@]}" up -d >/dev/null 2>"$work/dcup.err" || fail "docker-compose up -d ($n) failed"
            up=$T
            running=$(docker ps -q --filter label=com.docker.compose.project=$PROJECT | wc -l)
            [ "$running" -eq "$n" ] || fail "docker-compose up -d: $running of $n containers running"
            timed "${DC[@]}" up -d >/dev/null 2>"$work/dcnoop.err" || fail "no-op docker-compose up -d ($n) failed"
            noop=$T
            # docker-compose 1.29 sometimes fails the network removal with
            # "has active endpoints" right after removing many containers
            # (dockerd frees the endpoints asynchronously); a user runs `down`
            # again. The time counted is until a `down` succeeds, retries
            # included, and the retries are reported.
            t0=$EPOCHREALTIME
            tries=0
            until "${DC[@]}" down >/dev/null 2>"$work/dcdown.err"; do
                if ! grep -q 'has active endpoints' "$work/dcdown.err" || [ "$tries" -ge 20 ]; then
                    fail "docker-compose down ($n) failed"
                fi
                tries=$((tries + 1))
            done
            down=$(echo "$EPOCHREALTIME - $t0" | bc -l)
            [ "$tries" -eq 0 ] || echo "N=$n run $r: docker-compose down retried $tries time(s) (network has active endpoints)" >> "$work/dc-retries"
            echo "$up $noop $down" >> "$work/compose.$n"
            printf 'N=%d run %d: docker-compose up %.3f no-op %.3f down %.3f\n' "$n" "$r" "$up" "$noop" "$down" >&2
        done
    done
    compose_ok=1
fi
fw_note=""
if [ -f "$dwork/ipt.before" ]; then
    stop_dockerd
    docker_host_cleanup
    unset DOCKER_HOST DOCKER_CONFIG
    ipt_norm iptables-save > "$dwork/ipt.after"
    ipt_norm ip6tables-save > "$dwork/ip6t.after"
    while read -r f v; do echo "$f $(cat "$f")"; done < "$dwork/sysctl.before" > "$dwork/sysctl.after"
    ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(docker0|br-[0-9a-f]{12})$' > "$dwork/links.left" || true
    d4=$(diff "$dwork/ipt.before" "$dwork/ipt.after" || true)
    d6=$(diff "$dwork/ip6t.before" "$dwork/ip6t.after" || true)
    ds=$(diff "$dwork/sysctl.before" "$dwork/sysctl.after" || true)
    if [ -z "$d4$d6$ds" ] && [ ! -s "$dwork/links.left" ]; then
        fw_note="host after dockerd: iptables-save, ip6tables-save and sysctls identical to before it started; no docker0/br-* left"
    else
        # Docker's lines in full; the others (rules other processes added or
        # removed meanwhile, e.g. CNI-* of a concurrent test) counted.
        dre='DOCKER|docker|br-[0-9a-f]{12}|172\.(1[6-9]|2[0-9]|3[01])\.'
        fw_note="host after dockerd: DIFFERS from before it started"
        for d in "$d4" "$d6"; do
            [ -n "$d" ] || continue
            ch=$(echo "$d" | grep '^[<>]' || true)
            dk=$(echo "$ch" | grep -E "$dre" || true)
            fw_note="$fw_note"$'\n'"$([ "$d" = "$d4" ] && echo iptables-save || echo ip6tables-save): $(echo "$ch" | grep -c . || true) lines differ, $(echo "$dk" | grep -c . || true) of them docker's"
            [ -z "$dk" ] || fw_note="$fw_note"$'\n'"$dk"
            ot=$(echo "$ch" | grep -vE "$dre" || true)
            [ -z "$ot" ] || fw_note="$fw_note"$'\n'"  not docker's (other processes' rules meanwhile), first lines:"$'\n'"$(echo "$ot" | head -4)"
        done
        [ -z "$ds" ] || fw_note="$fw_note"$'\n'"sysctl diff:"$'\n'"$ds"
        [ ! -s "$dwork/links.left" ] || fw_note="$fw_note"$'\n'"links left: $(tr '\n' ' ' < "$dwork/links.left")"
    fi
fi

# --- the table ------------------------------------------------------------------------
fmt() { [ "$1" = - ] && echo - || printf '%.3f' "$1"; }
echo
echo "stack $("$STACK" version 2>/dev/null | awk '{print $2}') ($("${S[@]}" info 2>/dev/null | awk -F'[()]' '/Runtime driver/ {print $2}')), $(runc --version | head -1)," \
    "$(command -v docker-compose >/dev/null && echo "docker-compose $(docker-compose version --short)," )" \
    "$(command -v dockerd >/dev/null && dockerd --version | sed 's/,.*//')"
echo "$(nproc) cores, kernel $(uname -r); medians of $RUNS runs, seconds; the floor is serial runc + CNI (bridge, host-local, portmap)"
[ -z "$docker_why" ] || echo "docker-compose: not measured: $docker_why"
printf '%-22s %13s %11s %10s %15s %12s %16s\n' "" "stack bridge" "stack cni" "raw floor" "docker-compose" "stack÷floor" "compose÷stack"
for n in "${SIZES[@]}"; do
    su=$(col "$work/stack.$n" 1); sn=$(col "$work/stack.$n" 2); sd=$(col "$work/stack.$n" 3)
    fu=$(col "$work/stack.$n" 4); fd=$(col "$work/stack.$n" 5)
    ku=$(col "$work/stack.$n" 6); kn=$(col "$work/stack.$n" 7); kd=$(col "$work/stack.$n" 8)
    cu=-; cn=-; cd=-
    if [ "$compose_ok" = 1 ]; then
        cu=$(col "$work/compose.$n" 1); cn=$(col "$work/compose.$n" 2); cd=$(col "$work/compose.$n" 3)
    fi
    row() { printf '%-22s %13s %11s %10s %15s %11s %15s\n' "$1" "$(fmt "$2")" "$(fmt "$5")" "$(fmt "$3")" "$(fmt "$4")" "$(bench_ratio "$2" "$3")" "$(bench_ratio "$4" "$2")"; }
    row "up -d        N=$n" "$su" "$fu" "$cu" "$ku"
    row "no-op up -d  N=$n" "$sn" - "$cn" "$kn"
    row "down         N=$n" "$sd" "$fd" "$cd" "$kd"
done
echo
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
printf '%-36s %22s %22s %14s\n' "$PLAN_N services, whole process" "stack" "docker-compose" "compose÷stack"
sw=$(col "$work/cfg.stack" 1); sr=$(col "$work/cfg.stack" 2)
if [ "$compose_cfg" = 1 ]; then
    cw=$(col "$work/cfg.compose" 1); cr=$(col "$work/cfg.compose" 2)
    printf '%-36s %22s %22s %14s\n' "config -q: wall" "$(ms "$sw")" "$(ms "$cw")" "$(bench_ratio "$cw" "$sw")"
    printf '%-36s %22s %22s %14s\n' "config -q: peak RSS" "$(mib "$sr")" "$(mib "$cr")" "$(bench_ratio "$cr" "$sr")"
else
    printf '%-36s %22s %22s\n' "config -q: wall" "$(ms "$sw")" "-"
    printf '%-36s %22s %22s\n' "config -q: peak RSS" "$(mib "$sr")" "-"
fi
if [ "$plan_built" = 1 ]; then
    echo "plan: fake runtime and network drivers, empty state (${plan_what:-? actions})"
    printf '%-36s %22s\n' "plan (fake driver): wall" "$(ms "$(col "$work/plan" 1)")"
    printf '%-36s %22s\n' "plan (fake driver): peak RSS" "$(mib "$(col "$work/plan" 2)")"
else
    echo "plan: not built yet"
fi
printf '%-36s %22s\n' "(process floor: /usr/bin/time true)" "$(ms "$(col "$work/base" 1)")"

# The acceptance targets of issue 4, checked against the medians above.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
met() { if lt "$@"; then echo "met"; else echo "NOT met"; fi; }
echo
echo "targets (issue 4):"
for n in "${SIZES[@]}"; do
    su=$(col "$work/stack.$n" 1); sd=$(col "$work/stack.$n" 3)
    fu=$(col "$work/stack.$n" 4); fd=$(col "$work/stack.$n" 5)
    echo "  N=$n: up faster than the serial floor: $(met "$su" "$fu"); down faster than the serial floor: $(met "$sd" "$fd")"
    if [ "$n" -eq 50 ]; then
        echo "  N=50: no-op up under 50 ms: $(met "$(col "$work/stack.$n" 2)" 0.050)"
    fi
    if [ "$compose_ok" = 1 ]; then
        cu=$(col "$work/compose.$n" 1)
        echo "  N=$n: docker-compose up / stack up = $(bench_ratio "$cu" "$su") (goal at least 5)"
    fi
done
if [ "$plan_built" = 1 ] && [ "$PLAN_N" -eq 1000 ]; then
    echo "  plan of 1000 services under 20 ms: $(met "$(col "$work/plan" 1)" 0.020)"
fi
# Issue 12's targets for the native bridge plug-in (the default).
echo
echo "targets (issue 12, native bridge plug-in):"
per=()
for n in "${SIZES[@]}"; do
    su=$(col "$work/stack.$n" 1); sd=$(col "$work/stack.$n" 3)
    pu=$(echo "$su / $n" | bc -l)
    per+=("$n:$pu")
    echo "  N=$n: up per service $(ms "$pu") (goal under 40 ms): $(met "$pu" 0.040)"
    if [ "$compose_ok" = 1 ]; then
        cu=$(col "$work/compose.$n" 1); cd=$(col "$work/compose.$n" 3)
        echo "  N=$n: docker-compose up / stack up = $(bench_ratio "$cu" "$su") (goal at least 5); docker-compose down / stack down = $(bench_ratio "$cd" "$sd") (goal at least 2)"
    fi
done
if [ ${#per[@]} -ge 2 ]; then
    a=${per[0]#*:}; b=${per[-1]#*:}
    echo "  per-service up cost, N=${per[-1]%%:*} / N=${per[0]%%:*} = $(bench_ratio "$b" "$a") (goal at most 1.2)"
fi
[ ! -s "$work/dc-retries" ] || { echo; cat "$work/dc-retries"; }
[ -z "$fw_note" ] || { echo; echo "$fw_note"; }
