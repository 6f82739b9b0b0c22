#!/bin/sh
# build-busybox.sh - build the example OCI image layout "busybox:latest" from
# Debian's busybox-static binary, with no network access.
#
# Usage: build-busybox.sh [-f] [-b BUSYBOX] [OUT_DIR]
#   OUT_DIR     output image layout directory (default: examples/images/out/busybox
#               next to this script)
#   -f          rebuild even when OUT_DIR already holds a complete layout
#   -b BUSYBOX  the static busybox binary to package (default: /bin/busybox)
#
# The result is an OCI image layout (image-spec image-layout.md): oci-layout,
# index.json and blobs/sha256/<hex>. index.json names the image through the
# annotation org.opencontainers.image.ref.name = "busybox:latest", which is the
# NAME:TAG the image store records (so `image: busybox` or `image: busybox:latest`
# in a stack file resolves to it once the layout has been loaded).
#
# The image has one gzip-compressed layer: bin/busybox, a symbolic link in bin/
# for every applet of `busybox --list`, etc/passwd and etc/group (root and
# nobody), and the empty directories dev, etc, proc, sys, tmp (1777), www, root.
# Its config: os linux, architecture amd64, Env PATH, Cmd ["sh"].
#
# The output is deterministic: fixed modes, owners and mtimes, entries sorted
# by name, gzip without name or timestamp, and fixed JSON text. The same busybox
# binary always gives the same manifest digest.
set -eu

force=0
busybox=/bin/busybox
while getopts fb: opt; do
    case $opt in
    f) force=1 ;;
    b) busybox=$OPTARG ;;
    *) echo "usage: $0 [-f] [-b BUSYBOX] [OUT_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out/busybox}
ref_name="busybox:latest"

if [ $force -eq 0 ] && [ -f "$out/oci-layout" ] && [ -f "$out/index.json" ]; then
    echo "$out: already built (use -f to rebuild)"
    exit 0
fi

if [ ! -x "$busybox" ]; then
    echo "$0: '$busybox' not found; install Debian's busybox-static" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/build-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# The root file system of the layer, with explicit modes (independent of umask).
root=$work/rootfs
mkdir -p "$root/bin" "$root/dev" "$root/etc" "$root/proc" "$root/sys" "$root/tmp" \
    "$root/www" "$root/root"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$busybox" --list); do
    case $applet in
    busybox | */* | "") continue ;;
    esac
    ln -s busybox "$root/bin/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'nobody:x:65534:' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0755 "$root" "$root/bin" "$root/dev" "$root/etc" "$root/proc" "$root/sys" "$root/www"
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"

# The layer: an uncompressed tar (its digest is the diff_id) and its gzip form.
tar --create --file="$work/layer.tar" --directory="$root" --format=gnu --sort=name \
    --mtime=@0 --owner=0 --group=0 --numeric-owner \
    bin dev etc proc root sys tmp www
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"

hex() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }

mkdir -p "$work/layout/blobs/sha256"
put_blob() { # FILE -> prints the hex digest, stores the blob
    h=$(hex "$1")
    cp "$1" "$work/layout/blobs/sha256/$h"
    echo "$h"
}

diff_id=$(hex "$work/layer.tar")
layer_hex=$(put_blob "$work/layer.tar.gz")
layer_size=$(size "$work/layer.tar.gz")

printf '%s' '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"examples/images/build-busybox.sh"}],"created":"1970-01-01T00:00:00Z"}' \
    >"$work/config.json"
config_hex=$(put_blob "$work/config.json")
config_size=$(size "$work/config.json")

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config_hex"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer_hex"'","size":'"$layer_size"'}]}' \
    >"$work/manifest.json"
manifest_hex=$(put_blob "$work/manifest.json")
manifest_size=$(size "$work/manifest.json")

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest_hex"'","size":'"$manifest_size"',"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"'"$ref_name"'"}}]}' \
    >"$work/layout/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"

# Replace OUT_DIR as a whole: a crash never leaves a half-written layout there.
mkdir -p "$(dirname "$out")"
rm -rf "$out.new"
mv "$work/layout" "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
echo "$out: $ref_name sha256:$manifest_hex"
