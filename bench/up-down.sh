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
# Everything lives in a temporary folder; the floor uses its own bridge,
# subnet, IPAM dir and netns names and removes them. Containers talk to
# nothing: each runs a shell loop that exits promptly on SIGTERM.
set -eu

N=${1:-20}
RUNS=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
STACK=${STACK:-$here/build/orchestrator/stack}
IMAGE=$here/examples/images/out/busybox
CNI_PATH=/usr/lib/cni
[ -x "$STACK" ] || { echo "bench: build stack first (scripts/setup)" >&2; exit 2; }
[ -d "$IMAGE" ] || sh "$here/examples/images/build-busybox.sh" >/dev/null

work=$(mktemp -d /tmp/stack-bench-XXXXXX)
bridge=stkbench0
cleanup() {
    for id in $(runc --root "$work/runc" list -q 2>/dev/null); do
        runc --root "$work/runc" delete -f "$id" 2>/dev/null || true
    done
    "$STACK" --state-dir "$work/state" --run-dir "$work/run" down -p updown >/dev/null 2>&1 || true
    for i in $(seq 1 "$N"); do ip netns del "stkbench-$i" 2>/dev/null || true; done
    ip link del "$bridge" 2>/dev/null || true
    for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$work" | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR+1)/2; if (NR%2) print a[m]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# --- the stack file ---------------------------------------------------------------
{
    echo "name: updown"
    echo "services:"
    for i in $(seq 1 "$N"); do
        cat <<EOT
  s$i:
    image: $IMAGE
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait \$\$!; done"]
    ports:
      - "$((19000 + i)):80"
EOT
    done
} > "$work/bench.yaml"

# --- the floor's root file system and CNI configuration ----------------------------
mkdir -p "$work/rootfs"
layer=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1]+'/index.json'))['manifests'][0]['digest'].split(':')[1]; print(json.load(open(sys.argv[1]+'/blobs/sha256/'+m))['layers'][0]['digest'].split(':')[1])" "$IMAGE")
tar -xzf "$IMAGE/blobs/sha256/$layer" -C "$work/rootfs"
cat > "$work/net.conflist" <<EOT
{"cniVersion": "1.0.0", "name": "stkbench", "plugins": [
 {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": "$work/ipam", "ranges": [[{"subnet": "10.250.77.0/24"}]]}},
 {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOT

# One CNI chain call in plain shell (no interpreter in the timed loop): bridge
# then portmap for ADD (portmap gets bridge's result as prevResult), the
# reverse for DEL.
bridge_conf='{"cniVersion":"1.0.0","name":"stkbench","type":"bridge","bridge":"'$bridge'","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"'$work'/ipam","ranges":[[{"subnet":"10.250.77.0/24"}]]}}'
portmap_conf() { # portmap_conf i prevResult
    printf '{"cniVersion":"1.0.0","name":"stkbench","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' "$((19000 + $1))" "$2"
}
cni() { # cni ADD|DEL i
    export CNI_COMMAND=$1 CNI_CONTAINERID="stkbench-$2" CNI_NETNS="/run/netns/stkbench-$2" CNI_IFNAME=eth0 CNI_PATH=$CNI_PATH
    if [ "$1" = ADD ]; then
        res=$(printf '%s' "$bridge_conf" | $CNI_PATH/bridge) || { echo "bridge ADD: $res" >&2; exit 1; }
        portmap_conf "$2" "$res" | $CNI_PATH/portmap >/dev/null || { echo "portmap ADD failed" >&2; exit 1; }
        echo "$res" > "$work/res-$2"
    else
        portmap_conf "$2" "$(cat "$work/res-$2")" | $CNI_PATH/portmap >/dev/null || true
        printf '%s' "$bridge_conf" | $CNI_PATH/bridge >/dev/null || true
    fi
}

make_bundles() { # untimed: the bundles' config.json, as stack writes its own before timing too
    for i in $(seq 1 "$N"); do
        b="$work/bundles/$i"
        mkdir -p "$b"
        python3 - "$b" "$work/rootfs" "$i" <<'EOP'
import json, subprocess, sys
b, rootfs, i = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run(["runc", "spec", "-b", b], check=True)
c = json.load(open(b + "/config.json"))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
for ns in c["linux"]["namespaces"]:
    if ns["type"] == "network":
        ns["path"] = "/run/netns/stkbench-" + i
json.dump(c, open(b + "/config.json", "w"))
EOP
    done
}

floor_up() {
    for i in $(seq 1 "$N"); do
        ip netns add "stkbench-$i"
        ip -n "stkbench-$i" link set lo up
        cni ADD "$i"
        runc --root "$work/runc" create -b "$work/bundles/$i" "stkbench-$i" </dev/null >/dev/null 2>&1
        runc --root "$work/runc" start "stkbench-$i"
    done
}

floor_down() {
    for i in $(seq 1 "$N"); do
        runc --root "$work/runc" kill "stkbench-$i" TERM 2>/dev/null || true
        while [ "$(runc --root "$work/runc" state "stkbench-$i" 2>/dev/null | grep -c '"stopped"')" = 0 ]; do
            sleep 0.01
        done
        runc --root "$work/runc" delete "stkbench-$i"
        cni DEL "$i"
        ip netns del "stkbench-$i"
    done
    ip link del "$bridge" 2>/dev/null || true
    rm -rf "$work/ipam"
}

make_bundles
S="$STACK --state-dir $work/state --run-dir $work/run"
$S image load "$IMAGE" >/dev/null
: > "$work/t"
for r in $(seq 1 "$RUNS"); do
    t0=$(now); $S up -d -f "$work/bench.yaml" >/dev/null 2>"$work/up.err" || { cat "$work/up.err"; exit 1; }
    t1=$(now); $S up -d -f "$work/bench.yaml" >/dev/null 2>&1
    t2=$(now); $S down -f "$work/bench.yaml" >/dev/null 2>"$work/down.err" || { cat "$work/down.err"; exit 1; }
    t3=$(now); floor_up
    t4=$(now); floor_down
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
