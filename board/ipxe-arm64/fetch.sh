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
# PXE_EDGE_DEBIAN_MIRROR (default: the Debian mirror apt is configured with).
set -euo pipefail

cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/ipxe-arm64
suite=${IPXE_SUITE:-trixie}
if [ -s "$cache/ipxe-arm64.efi" ]; then
  echo "$cache/ipxe-arm64.efi"
  exit 0
fi

mirror=${PXE_EDGE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  mirror=${mirror%/}
  mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d /tmp/pxe-edge-ipxe.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
cat >"$work/sources.d/ipxe.sources" <<EOT
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
apt=(-q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/sources.d"
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::Status=/dev/null
  -o APT::Sandbox::User=root)
echo "ipxe-arm64: fetching Debian $suite's ipxe package from $mirror" >&2
apt-get "${apt[@]}" update >&2
(cd "$work/deb" && apt-get "${apt[@]}" download ipxe >&2)
deb=$(ls "$work"/deb/ipxe_*.deb)
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
