#!/usr/bin/env bash
# Builds the container image: a static, stripped rivulet and a static busybox staged under
# target/container, then the Containerfile at the repository's top.
#
#   config/container/build-image.sh [TAG]        (default tag rivulet:dev)
#
# Uses podman if present, else docker; CONTAINER_ENGINE overrides (for example with podman's
# flags for machines without overlayfs: "podman --storage-driver vfs --runtime runc").
# Needs busybox-static (Debian/Ubuntu package busybox-static) for /bin/busybox.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TAG="${1:-rivulet:dev}"
ENGINE="${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
TARGET="$(rustc -vV | sed -n 's/^host: //p')"

# glibc linked statically (crt-static): the image has no libc to load. An explicit --target
# keeps the flag off build scripts and proc macros, which must stay dynamic.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$TARGET" --bin rivulet

STAGE="$ROOT/target/container"
mkdir -p "$STAGE"
cp "target/$TARGET/release/rivulet" "$STAGE/rivulet"
strip "$STAGE/rivulet"
BUSYBOX="$(command -v busybox || true)"
if [[ -z "$BUSYBOX" ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "build-image: a statically linked busybox is needed (package busybox-static)" >&2
    exit 1
fi
cp "$BUSYBOX" "$STAGE/busybox"

# shellcheck disable=SC2086 # ENGINE may carry flags
$ENGINE build -t "$TAG" -f Containerfile .
