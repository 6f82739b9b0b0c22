#!/bin/sh
# tests/k8s-validate/run.sh STACK SOURCE_DIR - the export's schema test (ctest
# k8s-validate): exports every stack of examples/ (Linux, and Windows with
# --platform windows) and every golden stack of tests/data/export/, and runs
# validate.js over the manifests and over the golden expected.yaml files.
# It first checks that the validator rejects what it must (an unknown key, a
# bad name, a bad port), so a validator that accepts everything fails here.
# Exit 77 (skipped) when npm ci has not been run, a failure under CI=true.
set -eu

stack=$1
src=$2
here=$src/tests/k8s-validate
val=$here/validate.js

if [ ! -d "$here/node_modules/kubernetes-models" ]; then
    echo "k8s-validate: $here/node_modules is missing: run scripts/setup (npm ci)" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
tmp=$(mktemp -d /tmp/stk-k8s-validate-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/bad" "$tmp/out"

# The validator itself: each of these must be refused.
cat >"$tmp/bad/bad-key.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}], bogus: 1}
YAML
cat >"$tmp/bad/bad-name.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: Web_1}
spec: {selector: {app: web}, ports: [{port: 80}]}
YAML
cat >"$tmp/bad/bad-port.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: NodePort, selector: {app: web}, ports: [{name: http, port: 80, nodePort: 8080}]}
YAML
cat >"$tmp/bad/bad-type.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: "two", selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: web, image: x}]}}}
YAML
for f in bad-key bad-name bad-port bad-type; do
    if node "$val" "$tmp/bad/$f.yaml" >"$tmp/bad/$f.out" 2>&1; then
        echo "k8s-validate: the validator accepted $f.yaml" >&2
        exit 1
    fi
done
grep -q "/spec/bogus: not defined by the schema" "$tmp/bad/bad-key.out"
grep -q "is not a DNS-1035 label" "$tmp/bad/bad-name.out"
grep -q "8080 is not a port in 30000-32767" "$tmp/bad/bad-port.out"
grep -q "replicas must be integer" "$tmp/bad/bad-type.out"

n=0
export_one() { # NAME FILE [OPTIONS...]
    name=$1
    file=$2
    shift 2
    "$stack" export kubernetes -f "$file" "$@" >"$tmp/out/$name.yaml" 2>"$tmp/$name.err" || {
        cat "$tmp/$name.err" >&2
        exit 1
    }
    n=$((n + 1))
}
for f in "$src"/examples/*.yaml; do
    export_one "example-linux-$(basename "$f" .yaml)" "$f" --platform linux
done
for f in "$src"/examples/windows/*.yaml; do
    export_one "example-windows-$(basename "$f" .yaml)" "$f" --platform windows
    export_one "example-windows-lb-$(basename "$f" .yaml)" "$f" --platform windows \
        --publish-as loadbalancer --namespace shop
done
for d in "$src"/tests/data/export/*/; do
    c=$(basename "$d")
    set --
    if grep -q '^platform=windows' "$d/args" 2>/dev/null; then set -- --platform windows; fi
    export_one "golden-$c" "$d/stack.yaml" "$@"
    cp "$d/expected.yaml" "$tmp/out/expected-$c.yaml"
done
echo "k8s-validate: $n exports" >&2
node "$val" "$tmp/out"
