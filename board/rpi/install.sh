#!/usr/bin/env bash
# Installs pxe-edge on a Raspberry Pi (Raspberry Pi OS / Debian, any Pi) or any Debian box
# without a .deb: binary, systemd unit, default config, netboot files, system user; then
# enables and starts the service. Run as root from a checkout that has run `make cross` and
# `make netboot` (or pass --bin / --netboot), e.g. after copying the tree to the Pi:
#
#   sudo board/rpi/install.sh                    # picks dist/pxe-edge-linux-<this CPU>
#   sudo board/rpi/install.sh --iface eth0 --address 192.168.77.1/24 --claim-iface
#
# Options:
#   --bin FILE        the pxe-edge binary to install (default: dist/ binary for `uname -m`)
#   --netboot DIR     netboot files to copy (default: the checkout's netboot/)
#   --iface NAME      lab interface written into a NEW config (default eth0)
#   --address A/N     server address and prefix written into a NEW config (default
#                     192.168.77.1/24; the pool becomes .100-.199 of that /24)
#   --claim-iface     tell NetworkManager / dhcpcd to leave the lab interface alone (do NOT
#                     use this on the interface you are logged in through)
#   --root DIR        install into DIR instead of / (image building, tests); nothing is
#                     started and systemctl only enables (offline)
#   --no-start        install and enable, but do not start now
#   --force           overwrite existing netboot files (the config is never overwritten)
#
# Files (the unit expects exactly these paths):
#   /usr/local/bin/pxe-edge                  binary
#   /etc/systemd/system/pxe-edge.service     unit (ExecStart pointing at /usr/local/bin)
#   /etc/sysusers.d/pxe-edge.conf            the pxe-edge system user
#   /etc/pxe-edge/pxe-edge.json              config (kept if it exists)
#   /srv/pxe-edge/netboot/                   files served over TFTP/HTTP
#   /var/lib/pxe-edge/                       leases (systemd StateDirectory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin="" netboot="$top/netboot" iface=eth0 address=192.168.77.1/24
claim=0 root="" start=1 force=0

die() { echo "install.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=${2:?}; shift 2 ;;
    --netboot) netboot=${2:?}; shift 2 ;;
    --iface) iface=${2:?}; shift 2 ;;
    --address) address=${2:?}; shift 2 ;;
    --claim-iface) claim=1; shift ;;
    --root) root=$(realpath -m "${2:?}"); shift 2 ;;
    --no-start) start=0; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root (sudo)"

# The binary: static, so only the CPU matters, not the userland. A 32-bit Raspberry Pi OS on
# a Pi 3/4/5 runs a 64-bit kernel (uname -m = aarch64), where the arm64 binary runs fine.
if [ -z "$bin" ]; then
  case $(uname -m) in
    aarch64|arm64) a=arm64 ;;
    armv7l|armv8l) a=armv7 ;;
    armv6l) a=armv6 ;;
    x86_64) a=amd64 ;;
    *) die "no pxe-edge build for $(uname -m); pass --bin" ;;
  esac
  bin="$top/dist/pxe-edge-linux-$a"
  [ -f "$bin" ] || die "$bin missing: run \`make cross\` first (or pass --bin)"
fi
[ -f "$bin" ] || die "binary $bin not found"
if [ -z "$root" ] && ! "$bin" --version >/dev/null 2>&1; then
  die "$bin does not run on this machine ($(uname -m)); pick the right one from dist/"
fi
if dpkg-query -W -f='${Status}' pxe-edge 2>/dev/null | grep -q 'install ok installed'; then
  die "the pxe-edge .deb is installed; upgrade the package instead of mixing both"
fi

ip=${address%/*} bits=${address#*/}
[ "$bits" = 24 ] || die "--address: only a /24 is set up automatically; edit the JSON for others"
net=${ip%.*}

echo "install.sh: binary $bin → $root/usr/local/bin/pxe-edge"
install -D -m 0755 "$bin" "$root/usr/local/bin/pxe-edge"

install -d -m 0755 "$root/etc/systemd/system" "$root/etc/sysusers.d"
sed 's#^ExecStart=/usr/bin/pxe-edge#ExecStart=/usr/local/bin/pxe-edge#' \
  "$here/pxe-edge.service" >"$root/etc/systemd/system/pxe-edge.service"
chmod 0644 "$root/etc/systemd/system/pxe-edge.service"
install -m 0644 "$here/pxe-edge.sysusers" "$root/etc/sysusers.d/pxe-edge.conf"

cfg="$root/etc/pxe-edge/pxe-edge.json"
if [ -e "$cfg" ]; then
  echo "install.sh: keeping existing $cfg"
else
  install -d -m 0755 "$root/etc/pxe-edge"
  sed -e "s/\"eth0\"/\"$iface\"/" -e "s/192\.168\.77\.1\"/$ip\"/g" -e "s/192\.168\.77\./$net./g" \
    "$here/pxe-edge.json" >"$cfg"
  chmod 0644 "$cfg"
  echo "install.sh: wrote $cfg (interface $iface, server $ip/24, pool $net.100-$net.199)"
fi

install -d -m 0755 "$root/srv/pxe-edge/netboot"
if [ -d "$netboot" ] && [ -n "$(ls -A "$netboot" 2>/dev/null)" ]; then
  if [ $force = 1 ]; then cp -R "$netboot/." "$root/srv/pxe-edge/netboot/"
  else cp -Rn "$netboot/." "$root/srv/pxe-edge/netboot/"; fi
  echo "install.sh: netboot files → $root/srv/pxe-edge/netboot/"
else
  echo "install.sh: warning: $netboot is empty; run \`make netboot\` and re-run, or put files in /srv/pxe-edge/netboot" >&2
fi

# The system user. systemd-sysusers is the native way; adduser/useradd for older systems.
if ! grep -q '^pxe-edge:' "$root/etc/passwd" 2>/dev/null; then
  if command -v systemd-sysusers >/dev/null; then
    # By name, so that it is looked up in the (alternative) root's sysusers.d.
    systemd-sysusers ${root:+--root="$root"} pxe-edge.conf
  elif [ -z "$root" ] && command -v adduser >/dev/null; then
    adduser --system --group --home /var/lib/pxe-edge --no-create-home pxe-edge
  else
    useradd ${root:+--root "$root"} --system --user-group --home-dir /var/lib/pxe-edge \
      --shell /usr/sbin/nologin pxe-edge
  fi
fi

# systemd's StateDirectory= creates it at start too; creating it now lets a read-only-root
# setup bind-mount over it and lets the binary run by hand as the user.
ids=$(awk -F: '$1 == "pxe-edge" { print $3 ":" $4 }' "$root/etc/passwd")
[ -n "$ids" ] || die "could not create the pxe-edge user"
if [ ! -d "$root/var/lib/pxe-edge" ]; then
  install -d -m 0750 "$root/var/lib/pxe-edge"
  chown "$ids" "$root/var/lib/pxe-edge"
fi

# Optionally keep the OS's own network manager off the lab port: it would run a DHCP client
# there (and may delete the address pxe-edge adds).
if [ $claim = 1 ]; then
  if [ -d "$root/etc/NetworkManager" ]; then
    install -d "$root/etc/NetworkManager/conf.d"
    printf '[keyfile]\nunmanaged-devices=interface-name:%s\n' "$iface" \
      >"$root/etc/NetworkManager/conf.d/90-pxe-edge.conf"
    echo "install.sh: NetworkManager will leave $iface alone"
    [ -z "$root" ] && systemctl reload NetworkManager 2>/dev/null || true
  fi
  if [ -f "$root/etc/dhcpcd.conf" ] && ! grep -qx "denyinterfaces $iface" "$root/etc/dhcpcd.conf"; then
    echo "denyinterfaces $iface" >>"$root/etc/dhcpcd.conf"
    echo "install.sh: dhcpcd will leave $iface alone"
    [ -z "$root" ] && systemctl restart dhcpcd 2>/dev/null || true
  fi
fi

if [ -n "$root" ]; then
  systemctl --root="$root" enable pxe-edge.service
  echo "install.sh: installed into $root (enabled, not started)"
  exit 0
fi
systemctl daemon-reload
if [ $start = 1 ]; then
  systemctl enable --now pxe-edge.service
  systemctl --no-pager --lines=5 status pxe-edge.service || true
else
  systemctl enable pxe-edge.service
fi
echo "install.sh: done — logs: journalctl -u pxe-edge -f"
