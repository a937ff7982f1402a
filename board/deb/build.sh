#!/usr/bin/env bash
# Builds pxe-edge .deb packages for arm64, armhf and amd64 with plain dpkg-deb (no debhelper,
# no source package): what `make deb` runs.
#   board/deb/build.sh VERSION               # → dist/pxe-edge_<debver>_<arch>.deb
#   ARCHES="amd64" DIST=/tmp/d board/deb/build.sh VERSION
#
# armhf carries the GOARM=6 binary: Raspberry Pi OS 32-bit ("armhf") targets ARMv6 so that
# one image runs on a Pi Zero/1 too, and the ARMv6 binary runs on every ARMv7 board as well.
#
# Package contents (board/rpi/pxe-edge.service expects exactly these paths):
#   /usr/bin/pxe-edge
#   /lib/systemd/system/pxe-edge.service
#   /usr/lib/sysusers.d/pxe-edge.conf           the pxe-edge system user
#   /etc/pxe-edge/pxe-edge.json                 conffile (the Pi default config)
#   /usr/share/pxe-edge/netboot/                netboot/ skeleton (committed files); postinst
#                                               copies it to /srv/pxe-edge/netboot on first
#                                               install (Debian packages may not ship files
#                                               under /srv) and adds the iPXE/PXELINUX binaries
#                                               from their packages with netboot.sh
#   /usr/lib/pxe-edge/netboot.sh                scripts/netboot.sh
#   /usr/share/doc/pxe-edge/{README.md,copyright,changelog.gz}, man page, lintian override
# postinst creates the user and /var/lib/pxe-edge, enables the unit, and (re)starts it only
# when systemd is running.
set -euo pipefail

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dist=${DIST:-$top/dist}
arches=${ARCHES:-arm64 armhf amd64}
work=$(mktemp -d "${TMPDIR:-/tmp}/pxe-edge-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$top"

# Debian versions must start with a digit: v1.2.3-4-gabc → 1.2.3+4.gabc; a bare commit id
# (no tags yet) → 0~git.<id>, which sorts below any 0.x release.
debver() {
  local v=${1#v}
  if [[ $v =~ ^[0-9]+\.[0-9]+ ]]; then v=${v//-/+}
  else v="0~git.${v//-/+}"; fi
  printf '%s' "${v//[^A-Za-z0-9.+~]/.}"
}
dv=$(debver "$version")

# Timestamps from the last commit, so two builds of one commit give identical packages.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# The binaries, built with the same flags as `make cross`.
DIST="$work/bin" "$top/scripts/cross.sh" "$version" >/dev/null

mkdir -p "$dist"
for arch in $arches; do
  case $arch in
    arm64) b=pxe-edge-linux-arm64 ;;
    armhf) b=pxe-edge-linux-armv6 ;;
    amd64) b=pxe-edge-linux-amd64 ;;
    *) echo "build.sh: unknown Debian architecture $arch" >&2; exit 1 ;;
  esac
  r="$work/root-$arch"
  install -D -m 0755 "$work/bin/$b" "$r/usr/bin/pxe-edge"
  install -D -m 0644 "$top/board/rpi/pxe-edge.service" "$r/lib/systemd/system/pxe-edge.service"
  install -D -m 0644 "$top/board/rpi/pxe-edge.sysusers" "$r/usr/lib/sysusers.d/pxe-edge.conf"
  install -D -m 0644 "$top/board/rpi/pxe-edge.json" "$r/etc/pxe-edge/pxe-edge.json"
  install -d -m 0755 "$r/usr/share/pxe-edge/netboot"
  # The netboot/ skeleton as committed (scripts, menus, configs). The boot binaries (iPXE,
  # PXELINUX) belong to their Debian packages: postinst copies them from there with
  # scripts/netboot.sh, installed as /usr/lib/pxe-edge/netboot.sh.
  git -C "$top" ls-files -z -- netboot | while IFS= read -r -d '' f; do
    rel=${f#netboot/}
    case $(basename "$rel") in .*) continue ;; esac
    install -D -m 0644 "$top/$f" "$r/usr/share/pxe-edge/netboot/$rel"
  done
  install -D -m 0755 "$top/scripts/netboot.sh" "$r/usr/lib/pxe-edge/netboot.sh"
  doc="$r/usr/share/doc/pxe-edge"
  install -D -m 0644 "$top/board/rpi/README.md" "$doc/README.md"
  install -m 0644 "$here/copyright" "$doc/copyright"
  install -D -m 0644 "$here/lintian-overrides" "$r/usr/share/lintian/overrides/pxe-edge"
  install -d -m 0755 "$r/usr/share/man/man1"
  gzip -9n <"$here/pxe-edge.1" >"$r/usr/share/man/man1/pxe-edge.1.gz"
  chmod 0644 "$r/usr/share/man/man1/pxe-edge.1.gz"
  printf 'pxe-edge (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- pxe-edge developers <pxe-edge@users.noreply.github.com>  %s\n' \
    "$dv" "$version" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$doc/changelog.gz"
  chmod 0644 "$doc/changelog.gz"

  install -d -m 0755 "$r/DEBIAN"
  for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$r/DEBIAN/$s"; done
  echo /etc/pxe-edge/pxe-edge.json >"$r/DEBIAN/conffiles"
  size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
  sed -e "s/@VERSION@/$dv/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control" \
    >"$r/DEBIAN/control"
  (cd "$r" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum |
    sed 's# \./# #') >"$r/DEBIAN/md5sums"
  chmod 0644 "$r/DEBIAN/control" "$r/DEBIAN/conffiles" "$r/DEBIAN/md5sums"
  find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

  out="$dist/pxe-edge_${dv}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$r" "$out" >/dev/null
  printf '%s  %8d bytes\n' "$out" "$(stat -c %s "$out")"
done
