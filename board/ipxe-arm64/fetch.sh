#!/usr/bin/env bash
# Prints the path of an arm64 iPXE EFI binary (ipxe-arm64.efi), fetching it once if needed.
#
# Debian bookworm's `ipxe` package is x86-only; the `ipxe` package of the next release
# (trixie, Architecture: all) ships /usr/lib/ipxe/ipxe-arm64.efi. This script downloads that
# one package with apt-get through a private, temporary apt configuration (the machine's own
# sources and package lists are not touched, nothing is installed), extracts the file into a
# cache and prints its path. Use it with scripts/netboot.sh:
#
#   IPXE_ARM64_EFI=$(board/ipxe-arm64/fetch.sh) make netboot
#
# Environment: PXE_EDGE_CACHE (default /var/cache/pxe-edge), IPXE_SUITE (default trixie),
# PXE_EDGE_DEBIAN_MIRROR (default: the Debian mirror apt is configured with; see
# scripts/apt-download.sh, which does the download).
set -euo pipefail

cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/ipxe-arm64
suite=${IPXE_SUITE:-trixie}
if [ -s "$cache/ipxe-arm64.efi" ]; then
  echo "$cache/ipxe-arm64.efi"
  exit 0
fi

work=$(mktemp -d /tmp/pxe-edge-ipxe.XXXXXX)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
deb=$("$here/../../scripts/apt-download.sh" "$suite" "$(dpkg --print-architecture)" ipxe "$work/deb")
dpkg-deb -x "$deb" "$work/x"
[ -s "$work/x/usr/lib/ipxe/ipxe-arm64.efi" ] || {
  echo "ipxe-arm64: $(basename "$deb") has no usr/lib/ipxe/ipxe-arm64.efi" >&2
  exit 1
}
mkdir -p "$cache"
install -m 0644 "$work/x/usr/lib/ipxe/ipxe-arm64.efi" "$cache/ipxe-arm64.efi.tmp"
install -m 0644 "$work/x/usr/share/doc/ipxe/copyright" "$cache/copyright" 2>/dev/null || true
basename "$deb" >"$cache/SOURCE"
mv "$cache/ipxe-arm64.efi.tmp" "$cache/ipxe-arm64.efi"
echo "ipxe-arm64: $(basename "$deb") → $cache/ipxe-arm64.efi" >&2
echo "$cache/ipxe-arm64.efi"
