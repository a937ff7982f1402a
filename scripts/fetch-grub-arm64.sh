#!/usr/bin/env bash
# Prints the path of Debian's grub-efi-arm64-bin .deb (arm64 GRUB netboot image
# grubnetaa64.efi, used by the arm64 UEFI firmware tests in tests/e2e), downloading it once.
#
# The package is Architecture: arm64, so an amd64 machine's apt does not see it. This script
# asks apt for it through a private, temporary configuration for arm64 (the machine's own
# sources, architectures and package lists are not touched; nothing is installed).
# Environment: PXE_EDGE_CACHE (default /var/cache/pxe-edge), GRUB_SUITE (default: this
# machine's release codename), PXE_EDGE_DEBIAN_MIRROR (default: the mirror apt uses).
set -euo pipefail

cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/grub-arm64
if deb=$(ls "$cache"/grub-efi-arm64-bin_*_arm64.deb 2>/dev/null | head -n1) && [ -s "$deb" ]; then
  echo "$deb"
  exit 0
fi
suite=${GRUB_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
mirror=${PXE_EDGE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  mirror=${mirror%/}
  mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d /tmp/pxe-edge-grub.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
cat >"$work/sources.d/grub.sources" <<EOT
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Architectures: arm64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
apt=(-q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/sources.d"
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::Status=/dev/null
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
echo "grub-arm64: fetching Debian $suite's grub-efi-arm64-bin (arm64) from $mirror" >&2
apt-get "${apt[@]}" update >&2
(cd "$work/deb" && apt-get "${apt[@]}" download grub-efi-arm64-bin:arm64 >&2)
deb=$(ls "$work"/deb/grub-efi-arm64-bin_*_arm64.deb)
dpkg-deb -c "$deb" >"$work/contents"
grep -q 'grubnetaa64.efi' "$work/contents" || {
  echo "grub-arm64: $(basename "$deb") has no grubnetaa64.efi" >&2
  exit 1
}
mkdir -p "$cache"
cp "$deb" "$cache/"
echo "$cache/$(basename "$deb")"
