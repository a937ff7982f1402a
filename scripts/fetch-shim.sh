#!/usr/bin/env bash
# scripts/fetch-shim.sh ARCH — prints the directory holding the signed Secure Boot chain of
# one architecture (amd64 or arm64), downloading its two Debian packages once:
#   shim-signed            Microsoft-signed shim: shimx64.efi / shimaa64.efi
#   grub-efi-ARCH-signed   Debian-signed GRUB network image: grubnetx64.efi.signed /
#                          grubnetaa64.efi.signed
# For a foreign architecture (arm64 on an amd64 machine, amd64 on a Raspberry Pi) apt does
# not see the packages: scripts/apt-download.sh fetches them through a private apt
# configuration (nothing installed, the machine's apt configuration untouched).
# scripts/netboot.sh copies them as shimx64.efi + grubx64.efi / shimaa64.efi + grubaa64.efi.
# GRUB comes from trixie by default: bookworm's signed GRUB 2.06 network image has no http
# module, so under UEFI HTTP boot it stops at its prompt (its prefix is (http,SERVER)/grub);
# trixie's 2.12 reads grub/grub.cfg over HTTP, and bookworm's shim accepts it (same Debian CA).
# Environment: PXE_EDGE_CACHE (default /var/cache/pxe-edge), SHIM_SUITE (default: this
# machine's release codename), GRUB_SIGNED_SUITE (default trixie), PXE_EDGE_DEBIAN_MIRROR
# (see scripts/apt-download.sh).
set -euo pipefail
arch=${1:?usage: fetch-shim.sh amd64|arm64}
case $arch in
amd64) efi=x64 ;;
arm64) efi=aa64 ;;
*) echo "fetch-shim: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/shim-$arch
if [ -s "$cache/shim$efi.efi.signed" ] && [ -s "$cache/grubnet$efi.efi.signed" ]; then
  echo "$cache"
  exit 0
fi
suite=${SHIM_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
grub_suite=${GRUB_SIGNED_SUITE:-trixie}
tmp=$(mktemp -d /tmp/pxe-edge-shim.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
shim=$("$here/apt-download.sh" "$suite" "$arch" shim-signed "$tmp/shim")
grub=$("$here/apt-download.sh" "$grub_suite" "$arch" "grub-efi-$arch-signed" "$tmp/grub")
dpkg-deb -x "$shim" "$tmp/x"
dpkg-deb -x "$grub" "$tmp/x"
s=$(find "$tmp/x" -name "shim$efi.efi.signed" -print -quit)
g=$(find "$tmp/x" -name "grubnet$efi.efi.signed" -print -quit)
if [ -z "$s" ] || [ -z "$g" ]; then
  echo "fetch-shim: $(basename "$shim") / $(basename "$grub") lack shim$efi.efi.signed or grubnet$efi.efi.signed" >&2
  exit 1
fi
mkdir -p "$cache"
install -m 0644 "$g" "$cache/grubnet$efi.efi.signed"
printf '%s\t%s\n' "shim-signed" "$(dpkg-deb -f "$shim" Version)" "grub-efi-$arch-signed" "$(dpkg-deb -f "$grub" Version)" >"$cache/SOURCE"
# The shim last: its presence marks a complete cache.
install -m 0644 "$s" "$cache/shim$efi.efi.signed.tmp"
mv "$cache/shim$efi.efi.signed.tmp" "$cache/shim$efi.efi.signed"
echo "fetch-shim: $(basename "$shim"), $(basename "$grub") → $cache" >&2
echo "$cache"
