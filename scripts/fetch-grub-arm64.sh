#!/usr/bin/env bash
# Prints the path of Debian's grub-efi-arm64-bin .deb (arm64 GRUB netboot image
# grubnetaa64.efi, used by the arm64 UEFI firmware tests in tests/e2e), downloading it once.
# The package is Architecture: arm64, which an amd64 machine's apt does not see:
# scripts/apt-download.sh fetches it without touching the machine's apt configuration.
# Environment: PXE_EDGE_CACHE (default /var/cache/pxe-edge), GRUB_SUITE (default: this
# machine's release codename).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/grub-arm64
if deb=$(ls "$cache"/grub-efi-arm64-bin_*_arm64.deb 2>/dev/null | head -n1) && [ -s "$deb" ]; then
  echo "$deb"
  exit 0
fi
suite=${GRUB_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
tmp=$(mktemp -d /tmp/pxe-edge-grub.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
deb=$("$here/apt-download.sh" "$suite" arm64 grub-efi-arm64-bin "$tmp")
dpkg-deb -c "$deb" >"$tmp/contents"
grep -q 'grubnetaa64.efi' "$tmp/contents" || {
  echo "grub-arm64: $(basename "$deb") has no grubnetaa64.efi" >&2
  exit 1
}
mkdir -p "$cache"
cp "$deb" "$cache/"
echo "$cache/$(basename "$deb")"
