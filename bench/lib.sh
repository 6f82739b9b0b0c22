# bench/lib.sh - helpers shared by the benchmarks (sourced by POSIX sh
# scripts: bench/up-down.sh, bench/compare.sh).
#
# What it gives:
#   bench_now, bench_elapsed T0 T1, bench_median (stdin -> stdout), bench_ratio A B
#   bench_gen_stack FILE N IMAGE [NAME]   the generated stack of N busybox services
#   the raw runtime floor: floor_init DIR, floor_bundles N, floor_up N,
#   floor_down N, floor_cleanup N - the same containers as the generated
#   stack, created and started directly with runc and networked with the CNI
#   plugins (bridge + host-local + portmap ADD), one after another, then torn
#   down (runc kill/delete, CNI DEL, netns del), also one after another.
#
# The floor keeps everything in DIR (root file system, bundles, runc root,
# IPAM data) and uses names of its own, unique to the calling process (so two
# benchmarks running at once do not touch each other's objects): bridge
# stkb<PID>, netns stkb<PID>-I, and the first 10.250.X.0/24 (X >= 77) that no
# route uses; floor_cleanup removes whatever is left of them. Service I
# publishes host port BENCH_PORT_BASE+I (default 19000+I) to container port
# 80 in both the generated stack and the floor (bench_ports_free checks that
# nothing listens there). Containers talk to nothing: each runs a shell loop
# that exits promptly on SIGTERM.

BENCH_CNI_PATH=${BENCH_CNI_PATH:-/usr/lib/cni}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-19000}
BENCH_CMD="trap 'exit 0' TERM; while true; do sleep 1 & wait \$!; done"

bench_now() { date +%s.%N; }
bench_elapsed() { echo "$2 - $1" | bc -l; }
bench_median() {
    sort -n | awk '{a[NR]=$1} END {if (NR == 0) exit; m=(NR+1)/2; if (NR%2) print a[m]; else print (a[NR/2]+a[NR/2+1])/2}'
}
# bench_ratio A B: A / B with two decimals, "-" when either is missing or B is 0.
bench_ratio() {
    case "$1$2" in *-*|"") echo "-"; return ;; esac
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# bench_ports_free N: true when no TCP socket listens on BENCH_PORT_BASE+1..+N.
bench_ports_free() {
    ss -Htln 2>/dev/null | awk -v lo="$((BENCH_PORT_BASE + 1))" -v hi="$((BENCH_PORT_BASE + $1))" \
        '{ p = $4; sub(/.*:/, "", p); if (p + 0 >= lo && p + 0 <= hi) { print "port " p " in use" > "/dev/stderr"; bad = 1 } }
         END { exit bad }'
}

# bench_gen_stack FILE N IMAGE [NAME]: N services s1..sN, each running
# BENCH_CMD from IMAGE and publishing BENCH_PORT_BASE+I:80. With NAME, a top-level
# `name:` (docker-compose 1.29 refuses that key: leave it out for files it reads
# and pass -p instead). `$$` is the Compose escape of `$`.
bench_gen_stack() {
    {
        [ -z "${4:-}" ] || echo "name: $4"
        echo "services:"
        i=1
        while [ "$i" -le "$2" ]; do
            cat <<EOT
  s$i:
    image: $3
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait \$\$!; done"]
    ports:
      - "$((BENCH_PORT_BASE + i)):80"
EOT
            i=$((i + 1))
        done
    } > "$1"
}

# --- the raw runtime floor ------------------------------------------------------------
# floor_init DIR IMAGE: the floor's root file system (the image's single layer)
# and CNI configuration in DIR (created; removed by the caller).
floor_init() {
    FLOOR_DIR=$1
    FLOOR_BRIDGE=stkb$$
    FLOOR_NS=stkb$$-
    _x=77
    while ip -4 route show 2>/dev/null | grep -q "^10\.250\.$_x\."; do
        _x=$((_x + 1))
        [ "$_x" -le 254 ] || { echo "floor: no free 10.250.X.0/24" >&2; return 1; }
    done
    FLOOR_SUBNET=10.250.$_x.0/24
    mkdir -p "$FLOOR_DIR/rootfs"
    _layer=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1]+'/index.json'))['manifests'][0]['digest'].split(':')[1]; print(json.load(open(sys.argv[1]+'/blobs/sha256/'+m))['layers'][0]['digest'].split(':')[1])" "$2")
    tar -xzf "$2/blobs/sha256/$_layer" -C "$FLOOR_DIR/rootfs"
    FLOOR_BRIDGE_CONF='{"cniVersion":"1.0.0","name":"'"$FLOOR_BRIDGE"'","type":"bridge","bridge":"'"$FLOOR_BRIDGE"'","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"'$FLOOR_DIR'/ipam","ranges":[[{"subnet":"'$FLOOR_SUBNET'"}]]}}'
}

_floor_portmap_conf() { # _floor_portmap_conf I PREV_RESULT
    printf '{"cniVersion":"1.0.0","name":"'"$FLOOR_BRIDGE"'","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' "$((BENCH_PORT_BASE + $1))" "$2"
}

# One CNI chain call in plain shell (no interpreter in the timed loop): bridge
# then portmap for ADD (portmap gets bridge's result as prevResult), the
# reverse for DEL. Runs in a subshell so the CNI_* variables stay local.
_floor_cni() ( # _floor_cni ADD|DEL I
    export CNI_COMMAND="$1" CNI_CONTAINERID="$FLOOR_NS$2" CNI_NETNS="/run/netns/$FLOOR_NS$2" CNI_IFNAME=eth0 CNI_PATH="$BENCH_CNI_PATH"
    if [ "$1" = ADD ]; then
        res=$(printf '%s' "$FLOOR_BRIDGE_CONF" | "$BENCH_CNI_PATH/bridge") || { echo "bridge ADD: $res" >&2; exit 1; }
        _floor_portmap_conf "$2" "$res" | "$BENCH_CNI_PATH/portmap" >/dev/null || { echo "portmap ADD failed" >&2; exit 1; }
        echo "$res" > "$FLOOR_DIR/res-$2"
    else
        _floor_portmap_conf "$2" "$(cat "$FLOOR_DIR/res-$2" 2>/dev/null || echo '{}')" | "$BENCH_CNI_PATH/portmap" >/dev/null 2>&1 || true
        printf '%s' "$FLOOR_BRIDGE_CONF" | "$BENCH_CNI_PATH/bridge" >/dev/null 2>&1 || true
        rm -f "$FLOOR_DIR/res-$2"
    fi
)

# floor_bundles N: bundles 1..N (untimed: the bundles' config.json, as stack
# writes its own before timing too). Bundles already there are kept.
floor_bundles() {
    python3 - "$FLOOR_DIR" "$1" "$BENCH_CMD" "$FLOOR_NS" <<'EOP'
import json, os, subprocess, sys
d, n, cmd, nsp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(1, n + 1):
    b = "%s/bundles/%d" % (d, i)
    if os.path.exists(b + "/config.json"):
        continue
    os.makedirs(b, exist_ok=True)
    subprocess.run(["runc", "spec", "-b", b], check=True)
    c = json.load(open(b + "/config.json"))
    c["root"] = {"path": d + "/rootfs", "readonly": True}
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sh", "-c", cmd]
    for ns in c["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/run/netns/%s%d" % (nsp, i)
    json.dump(c, open(b + "/config.json", "w"))
EOP
}

# floor_up N: for each container, one after another: netns, lo up, CNI ADD
# (bridge, portmap), runc create, runc start.
floor_up() {
    _i=1
    while [ "$_i" -le "$1" ]; do
        ip netns add "$FLOOR_NS$_i" || return 1
        ip -n "$FLOOR_NS$_i" link set lo up || return 1
        _floor_cni ADD "$_i" || return 1
        runc --root "$FLOOR_DIR/runc" create -b "$FLOOR_DIR/bundles/$_i" "$FLOOR_NS$_i" </dev/null >/dev/null 2>&1 || return 1
        runc --root "$FLOOR_DIR/runc" start "$FLOOR_NS$_i" || return 1
        _i=$((_i + 1))
    done
}

# floor_down N: for each container, one after another: SIGTERM, wait until
# stopped, runc delete, CNI DEL (portmap, bridge), netns del; then the bridge
# and the IPAM data.
floor_down() {
    _i=1
    while [ "$_i" -le "$1" ]; do
        runc --root "$FLOOR_DIR/runc" kill "$FLOOR_NS$_i" TERM 2>/dev/null || true
        while _st=$(runc --root "$FLOOR_DIR/runc" state "$FLOOR_NS$_i" 2>/dev/null); do
            case $_st in *'"stopped"'*) break ;; esac
            sleep 0.01
        done
        runc --root "$FLOOR_DIR/runc" delete "$FLOOR_NS$_i" || return 1
        _floor_cni DEL "$_i"
        ip netns del "$FLOOR_NS$_i"
        _i=$((_i + 1))
    done
    ip link del "$FLOOR_BRIDGE" 2>/dev/null || true
    rm -rf "$FLOOR_DIR/ipam"
}

# floor_cleanup N: remove whatever a failed or interrupted floor left behind
# (containers, CNI attachments and their port mappings, netns 1..N, bridge).
# Safe to call when nothing is left.
floor_cleanup() {
    [ -n "${FLOOR_DIR:-}" ] || return 0
    for _id in $(runc --root "$FLOOR_DIR/runc" list -q 2>/dev/null); do
        runc --root "$FLOOR_DIR/runc" delete -f "$_id" 2>/dev/null || true
    done
    _i=1
    while [ "$_i" -le "$1" ]; do
        if [ -e "/run/netns/$FLOOR_NS$_i" ] || [ -e "$FLOOR_DIR/res-$_i" ]; then
            _floor_cni DEL "$_i"
        fi
        ip netns del "$FLOOR_NS$_i" 2>/dev/null || true
        _i=$((_i + 1))
    done
    ip link del "$FLOOR_BRIDGE" 2>/dev/null || true
    rm -rf "$FLOOR_DIR/ipam"
}

# bench_umount_under DIR: unmount every mount point below DIR, deepest first.
bench_umount_under() {
    for _m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$1/" | sort -r); do
        umount -l "$_m" 2>/dev/null || true
    done
}
