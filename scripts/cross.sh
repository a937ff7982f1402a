#!/usr/bin/env bash
# Builds pxe-edge for every Raspberry Pi generation plus amd64 into dist/ and writes
# dist/SHA256SUMS. Usage (what `make cross` runs):
#   scripts/cross.sh VERSION            # into dist/
#   DIST=/tmp/x scripts/cross.sh VERSION
#   TARGETS="arm64 armv6" scripts/cross.sh VERSION   # only these
#
# Targets and the boards they are for:
#   pxe-edge-linux-arm64   Pi 3, 4, 5, Zero 2 W, CM3/4/5 on a 64-bit OS (Raspberry Pi OS 64-bit)
#   pxe-edge-linux-armv7   Pi 2, 3, 4, Zero 2 W on a 32-bit OS (armhf, ARMv7)
#   pxe-edge-linux-armv6   Pi 1, Zero, Zero W, CM1 (ARMv6 — the armv7 binary dies there with
#                          "Illegal instruction")
#   pxe-edge-linux-amd64   a laptop or any x86-64 box
#
# Builds are reproducible: same source + same Go toolchain → byte-identical binaries.
# -trimpath drops the build directory and module cache paths, -buildid= drops the build ID,
# -buildvcs=false keeps the VCS state out (the version comes from VERSION instead), CGO is off
# so no C toolchain path or libc creeps in. tests/board checks this by building twice.
set -euo pipefail

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${DIST:-$root/dist}
go=${GO:-go}

cd "$root"
mkdir -p "$dist"
# GOFLAGS from the caller's environment could change the bytes (e.g. -race, -cover); builds
# for release take none. GOTOOLCHAIN=local: never fetch another toolchain silently.
export GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux
ldflags="-s -w -buildid= -X main.version=$version"
# nethttpomithttp2 leaves net/http's bundled HTTP/2 out (~320 KB on arm64): pxe-edge serves
# plain HTTP/1.1 to firmware and iPXE, which never speak HTTP/2 without TLS.
tags=${TAGS-nethttpomithttp2}

targets=(
  "arm64::pxe-edge-linux-arm64"
  "arm:6:pxe-edge-linux-armv6"
  "arm:7:pxe-edge-linux-armv7"
  "amd64::pxe-edge-linux-amd64"
)

# TARGETS="arm64 armv6" limits the build to some of them (tests use it).
only=${TARGETS:-}

names=()
for t in "${targets[@]}"; do
  IFS=: read -r arch arm name <<<"$t"
  if [ -n "$only" ] && [[ " $only " != *" ${name#pxe-edge-linux-} "* ]]; then continue; fi
  GOARCH=$arch GOARM=$arm "$go" build -trimpath -buildvcs=false -tags "$tags" -ldflags "$ldflags" \
    -o "$dist/$name" ./cmd/pxe-edge
  names+=("$name")
  printf '%-24s %9d bytes  linux/%s%s\n' "$name" "$(stat -c %s "$dist/$name")" "$arch" \
    "${arm:+ GOARM=$arm}"
done

(cd "$dist" && sha256sum "${names[@]}" >SHA256SUMS)
echo "wrote $dist/SHA256SUMS ($version, $("$go" env GOVERSION))"
