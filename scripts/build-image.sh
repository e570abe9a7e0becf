#!/usr/bin/env bash
# Build and smoke-test the image without a Docker engine or an image registry:
# a Debian base made with debootstrap (from Debian's package mirror), buildah with the vfs
# storage driver and chroot isolation, then `buildah run` smoke tests.
#   scripts/build-image.sh [TAG]      (root; installs buildah and debootstrap when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-opencode-sidecar:dev}
WORK=${WORK:-/var/tmp/opencode-sidecar-image}
STORAGE=(--storage-driver vfs)
BASE=localhost/debian-python:bookworm
export BUILDAH_ISOLATION=chroot

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq && apt-get install -y -qq buildah debootstrap >/dev/null
fi
mkdir -p "$WORK"
start=$(date +%s)
if ! buildah "${STORAGE[@]}" images --noheading "$BASE" >/dev/null 2>&1; then
  rootfs="$WORK/rootfs"
  rm -rf "$rootfs"
  mirror=$(awk '/^deb |^URIs:/ {for (i = 1; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  ctr=$(buildah "${STORAGE[@]}" from scratch)
  mnt=$(buildah "${STORAGE[@]}" mount "$ctr")
  cp -a "$rootfs"/. "$mnt"/
  # This machine's CA bundle (it may hold a proxy's CA the registries are reached through).
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
  buildah "${STORAGE[@]}" umount "$ctr" >/dev/null
  buildah "${STORAGE[@]}" config --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$ctr"
  buildah "${STORAGE[@]}" commit -q "$ctr" "$BASE" >/dev/null
  buildah "${STORAGE[@]}" rm "$ctr" >/dev/null
fi
base_done=$(date +%s)
buildah "${STORAGE[@]}" bud -q --format docker --isolation chroot --build-arg BASE_IMAGE="$BASE" -t "$TAG" . >/dev/null
built=$(date +%s)

ctr=$(buildah "${STORAGE[@]}" from "$TAG")
trap 'buildah "${STORAGE[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah "${STORAGE[@]}" run --isolation chroot "$ctr" -- opencode-sidecar --help >/dev/null
port=$((20000 + RANDOM % 20000))
buildah "${STORAGE[@]}" run --isolation chroot "$ctr" -- \
  opencode-sidecar serve --host 127.0.0.1 --port "$port" --workspace /tmp/ws >/dev/null 2>&1 &
server=$!
ok=0
for _ in $(seq 1 50); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
    ok=1; break
  fi
  sleep 0.2
done
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
[ "$ok" = 1 ] || { echo "smoke test failed: /healthz did not answer" >&2; exit 1; }
size=$(buildah "${STORAGE[@]}" images --noheading --format '{{.Size}}' "$TAG" | head -n1)
echo "image $TAG: size $size; base $((base_done - start)) s, build $((built - base_done)) s; smoke test passed (--help, /healthz)"
