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
# Both targets: the pod's sidecar (serve, real OpenCode) and the toolkit (verify + load).
buildah "${STORAGE[@]}" bud -q --layers --format docker --isolation chroot --build-arg BASE_IMAGE="$BASE" \
  --target serve -t "$TAG-serve" . >/dev/null
buildah "${STORAGE[@]}" bud -q --layers --format docker --isolation chroot --build-arg BASE_IMAGE="$BASE" \
  --target toolkit -t "$TAG" . >/dev/null
built=$(date +%s)

ctr=$(buildah "${STORAGE[@]}" from "$TAG")
serve_ctr=$(buildah "${STORAGE[@]}" from "$TAG-serve")
model=""
cleanup() {
  [ -n "$model" ] && kill "$model" 2>/dev/null
  buildah "${STORAGE[@]}" rm "$ctr" "$serve_ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
buildah "${STORAGE[@]}" run --isolation chroot "$ctr" -- opencode-sidecar --help >/dev/null

wait_healthz() {  # port -> 0 when /healthz answered within 60 s
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$1/healthz', timeout=1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# The toolkit: /healthz of its reference (fake runtime).
port=$((20000 + RANDOM % 20000))
buildah "${STORAGE[@]}" run --isolation chroot "$ctr" -- \
  opencode-sidecar serve --host 127.0.0.1 --port "$port" --workspace /tmp/ws >/dev/null 2>&1 &
server=$!
ok=0; wait_healthz "$port" && ok=1
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
[ "$ok" = 1 ] || { echo "smoke test failed: the toolkit's /healthz did not answer" >&2; exit 1; }

# The serve image: /healthz, /ready (sandbox confined), one real-OpenCode session on the fake
# model (served from the toolkit image, on this host's loopback), as the image's user 10001.
model_port=$((20000 + RANDOM % 20000))
buildah "${STORAGE[@]}" run --isolation chroot "$ctr" -- \
  python -m fakes model-server --host 127.0.0.1 --port "$model_port" >/dev/null 2>&1 &
model=$!
port=$((20000 + RANDOM % 20000))
log="$WORK/serve-smoke.log"
buildah "${STORAGE[@]}" run --isolation chroot --user 10001:10001 \
  --env HOST=127.0.0.1 --env PORT="$port" --env WORKSPACE_DIR=/tmp/ws \
  --env OPENCODE_STATE_DIR=/tmp/opencode-state "$serve_ctr" -- python3 -m opencode_sidecar.serve >"$log" 2>&1 &
server=$!
ok=0; wait_healthz "$port" && ok=1
if [ "$ok" = 1 ]; then
  python3 scripts/smoke_session.py "http://127.0.0.1:$port" "http://127.0.0.1:$model_port/v1" || ok=0
fi
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
[ "$ok" = 1 ] || { echo "smoke test of the serve image failed (log: $log)" >&2; tail -n 5 "$log" >&2; exit 1; }

size=$(buildah "${STORAGE[@]}" images --noheading --format '{{.Size}}' "$TAG" | head -n1)
serve_size=$(buildah "${STORAGE[@]}" images --noheading --format '{{.Size}}' "$TAG-serve" | head -n1)
echo "image $TAG-serve (the pod's sidecar, real OpenCode): size $serve_size; smoke test passed (/healthz, /ready confined, one OpenCode session)"
echo "image $TAG (toolkit): size $size; base $((base_done - start)) s, build $((built - base_done)) s; smoke test passed (--help, /healthz)"
