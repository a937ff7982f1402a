#!/usr/bin/env bash
# Downloads one Debian package for any release and architecture through a private, temporary
# apt configuration, and prints the path of the .deb. The machine's own sources, architectures
# and package lists are not touched; nothing is installed. Usage:
#   scripts/apt-download.sh SUITE ARCH PACKAGE DESTDIR
# Environment: PXE_EDGE_DEBIAN_MIRROR (default: the Debian mirror apt is configured with).
set -euo pipefail
suite=${1:?suite} arch=${2:?arch} pkg=${3:?package} dest=${4:?destdir}

mirror=${PXE_EDGE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  mirror=${mirror%/}
  mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d /tmp/pxe-edge-apt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
cat >"$work/sources.d/private.sources" <<EOT
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Architectures: $arch
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
apt=(-q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/sources.d"
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::Status=/dev/null
  -o APT::Architecture="$arch" -o APT::Architectures::="$arch" -o APT::Sandbox::User=root)
echo "apt-download: Debian $suite's $pkg ($arch) from $mirror" >&2
apt-get "${apt[@]}" update >&2
(cd "$work/deb" && apt-get "${apt[@]}" download "$pkg:$arch" >&2)
deb=$(ls "$work"/deb/*.deb)
mkdir -p "$dest"
cp "$deb" "$dest/"
echo "$dest/$(basename "$deb")"
