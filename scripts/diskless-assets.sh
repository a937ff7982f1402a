#!/usr/bin/env bash
# Builds the pieces of a diskless x86-64 Linux client from Debian packages, once, into a cache
# directory, and prints that directory. It holds
#
#   vmlinuz     the guest kernel (linux-image-amd64's image package)
#   initrd.gz   busybox-static + the kernel's nbd, virtio-net, e1000 and ext4 modules + Debian's
#               nbd-client with its shared libraries; its /init brings up the NIC by DHCP
#               (udhcpc), attaches the root named by nbdroot= over NBD, mounts it as ext4 and
#               switches to it (docs/diskless.md)
#   root.ext4   a small ext4 root file system (mkfs.ext4 -d) whose /sbin/init counts boots in
#               /diskless-boots, prints "PXE-EDGE-DISKLESS-OK boots=N mac=… ip=…" on the
#               console, syncs and powers off
#
# Packages are only downloaded (apt-get download through a private apt configuration, as
# scripts/apt-download.sh does) and unpacked with dpkg-deb -x: nothing is installed, and the
# machine's own apt sources and kernel are not touched. The host needs dpkg, apt, cpio, gzip
# and e2fsprogs (mkfs.ext4 -d). Treat root.ext4 as a template: copy it before serving it
# writable. Environment:
#   PXE_EDGE_CACHE          cache root (default /var/cache/pxe-edge); files go to …/diskless
#   DISKLESS_SUITE          Debian release of the guest's packages (default bookworm)
#   DISKLESS_ROOT_SIZE      size of root.ext4 (default 64M)
#   DISKLESS_ROOT_EXTRA     a directory copied over the root tree before mkfs (your own files)
#   DISKLESS_REBUILD=1      rebuild even when the cache is current
#   PXE_EDGE_DEBIAN_MIRROR  Debian mirror (default: the one apt is configured with)
set -euo pipefail

self=$(readlink -f "$0")
cache=${PXE_EDGE_CACHE:-/var/cache/pxe-edge}/diskless
suite=${DISKLESS_SUITE:-bookworm}
root_size=${DISKLESS_ROOT_SIZE:-64M}
extra=${DISKLESS_ROOT_EXTRA:-}
arch=amd64
triplet=x86_64-linux-gnu
# Kernel modules the initramfs loads, in this order after their dependencies: the NICs QEMU
# guests use (virtio-net, e1000), the NBD driver, and ext4 with crc32c (ext4's softdep).
modules="virtio_pci virtio_net e1000 nbd crc32c_generic ext4"

die() { echo "diskless-assets: $*" >&2; exit 1; }
log() { echo "diskless-assets: $*" >&2; }

for c in apt-get apt-cache dpkg-deb cpio gzip mkfs.ext4 sha256sum; do
  command -v "$c" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null ||
    die "$c not found (Debian packages: apt, dpkg, cpio, gzip, e2fsprogs)"
done
PATH=$PATH:/usr/sbin:/sbin

# The stamp names everything the result depends on besides the Debian archive itself.
stamp="$(sha256sum "$self" | cut -d' ' -f1) suite=$suite size=$root_size modules=$modules"
if [ -n "$extra" ]; then
  [ -d "$extra" ] || die "DISKLESS_ROOT_EXTRA=$extra is not a directory"
  stamp+=" extra=$(cd "$extra" && find . -type f -print0 | sort -z | xargs -0r sha256sum | sha256sum | cut -d' ' -f1)"
fi
if [ "${DISKLESS_REBUILD:-0}" != 1 ] && [ "$(cat "$cache/STAMP" 2>/dev/null)" = "$stamp" ] &&
  [ -s "$cache/vmlinuz" ] && [ -s "$cache/initrd.gz" ] && [ -s "$cache/root.ext4" ]; then
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/pxe-edge-diskless.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- a private apt for $suite/$arch (the machine's sources, lists and status untouched) --------
mirror=${PXE_EDGE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  mirror=${mirror%/}
  mirror=${mirror:-http://deb.debian.org/debian}
fi
mkdir -p "$work/apt/sources.d" "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/deb"
cat >"$work/apt/sources.d/private.sources" <<EOT
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Architectures: $arch
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
apt=(-q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/apt/sources.d"
  -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache" -o Dir::State::Status=/dev/null
  -o APT::Architecture="$arch" -o APT::Architectures::="$arch" -o APT::Sandbox::User=root)
log "Debian $suite ($arch) package lists from $mirror"
apt-get "${apt[@]}" update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get update failed"; }

# fetch PKG...: download and unpack each package into $work/x/PKG.
fetch() {
  (cd "$work/deb" && apt-get "${apt[@]}" download "$@" >>"$work/apt.log" 2>&1) ||
    { cat "$work/apt.log" >&2; die "apt-get download $* failed"; }
  local p
  for p in "$@"; do
    mkdir -p "$work/x/$p"
    dpkg-deb -x "$(ls "$work"/deb/"${p}"_*.deb | head -n1)" "$work/x/$p"
  done
}
# libdeps PKG...: the lib* packages PKG needs, transitively (Depends and Pre-Depends only), so
# that a dynamically linked program can be copied with exactly the libraries it loads.
libdeps() {
  local todo=("$@") seen=" " p d
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}")
    for d in $(apt-cache "${apt[@]}" depends --important "$p" 2>/dev/null |
      sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \(lib[^ <>]*\)$/\2/p'); do
      case $seen in *" $d "*) continue ;; esac
      seen+="$d "
      todo+=("$d")
    done
  done
  echo $seen
}

# --- the kernel ------------------------------------------------------------------------------
kpkg=$(apt-cache "${apt[@]}" depends --important linux-image-$arch 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || die "cannot resolve linux-image-$arch in $suite"
log "downloading $kpkg (for its kernel and modules; not installed)"
fetch "$kpkg"
kx=$work/x/$kpkg
kver=$(ls "$kx/lib/modules" | head -n1)
[ -s "$kx/boot/vmlinuz-$kver" ] || die "$kpkg has no boot/vmlinuz-$kver"
moddir=$kx/lib/modules/$kver

# modpath NAME: the module file for NAME (dashes and underscores are the same to the kernel).
modpath() {
  local n=${1//-/_} f
  f=$(find "$moddir/kernel" -name '*.ko*' | awk -F/ -v n="$n" '{ b = $NF; sub(/\.ko(\.xz|\.zst|\.gz)?$/, "", b); gsub(/-/, "_", b); if (b == n) { print; exit } }')
  [ -n "$f" ] || die "module $1 not in $kpkg (built in? then drop it from the list)"
  echo "$f"
}
# The load order: every module after the ones its .modinfo "depends=" names.
order=()
add_module() {
  local n=${1//-/_} f d
  case " ${order[*]:-} " in *" $n "*) return ;; esac
  f=$(modpath "$n")
  for d in $(grep -a -o 'depends=[a-z0-9_,-]*' "$f" | head -n1 | sed 's/^depends=//; s/,/ /g'); do
    add_module "$d"
  done
  order+=("$n")
}
for m in $modules; do add_module "$m"; done

# --- userland: busybox-static, nbd-client and its libraries --------------------------------
libs=$(libdeps nbd-client)
log "downloading busybox-static nbd-client $libs"
fetch busybox-static nbd-client $libs
bb=$work/x/busybox-static/bin/busybox
[ -x "$bb" ] || die "busybox-static has no bin/busybox"
nbdc=""
for f in "$work"/x/nbd-client/{sbin,usr/sbin}/nbd-client; do [ -x "$f" ] && nbdc=$f; done
[ -n "$nbdc" ] || die "nbd-client package has no nbd-client"

# --- initramfs -------------------------------------------------------------------------------
ir=$work/initramfs
mkdir -p "$ir"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,lib/modules,lib64,lib/$triplet,usr/lib/$triplet}
install -m 0755 "$bb" "$ir/bin/busybox"
ln -s busybox "$ir/bin/sh"
install -m 0755 "$nbdc" "$ir/sbin/nbd-client"
for p in $libs; do
  for d in lib/$triplet usr/lib/$triplet; do
    [ -d "$work/x/$p/$d" ] || continue
    find "$work/x/$p/$d" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -exec cp -a {} "$ir/$d/" \;
  done
done
ln -s "../lib/$triplet/ld-linux-x86-64.so.2" "$ir/lib64/ld-linux-x86-64.so.2"
[ -e "$ir/lib/$triplet/ld-linux-x86-64.so.2" ] || die "no dynamic loader among $libs"
# On an x86-64 host, ask the guest's own loader whether every library resolves inside the tree.
if [ "$(uname -m)" = x86_64 ]; then
  missing=$("$ir/lib/$triplet/ld-linux-x86-64.so.2" --library-path "$ir/lib/$triplet:$ir/usr/lib/$triplet" \
    --list "$ir/sbin/nbd-client" 2>&1 | grep 'not found' || true)
  [ -z "$missing" ] || die "nbd-client lacks libraries in the initramfs: $missing"
fi
: >"$ir/etc/modules"
for n in "${order[@]}"; do
  f=$(modpath "$n")
  case $f in
    *.ko) cp "$f" "$ir/lib/modules/$n.ko" ;;
    *.ko.xz) xz -dc "$f" >"$ir/lib/modules/$n.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$ir/lib/modules/$n.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$ir/lib/modules/$n.ko" ;;
  esac
  echo "$n" >>"$ir/etc/modules"
done
echo "$kver" >"$ir/etc/kernel-release"

cat >"$ir/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc's event hook: configure the lease, and keep its facts for /init.
case $1 in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    for r in $router; do route add default gw "$r" dev "$interface" 2>/dev/null; break; done
    {
      echo "DHCP_IP='$ip'"
      echo "DHCP_SERVER='$serverid'"
      echo "DHCP_ROUTER='$router'"
      echo "DHCP_ROOTPATH='$rootpath'"
    } >/run/dhcp.env ;;
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
esac
exit 0
EOF
chmod 0755 "$ir/etc/udhcpc.script"

cat >"$ir/init" <<'EOF'
#!/bin/sh
# pxe-edge diskless initramfs (scripts/diskless-assets.sh, docs/diskless.md): network by DHCP,
# root over NBD from nbdroot=, then switch_root to the root's /sbin/init. Any failure prints
# PXE-EDGE-DISKLESS-FAIL and powers off, so that nothing waits for a guest that cannot boot.
say() { echo "pxe-edge-diskless: $*"; }
fail() {
  echo "PXE-EDGE-DISKLESS-FAIL $*"
  [ $$ = 1 ] || exit 1 # only the guest's init may power anything off
  sleep 1
  poweroff -f
}
arg() { for w in $(cat /proc/cmdline); do case $w in "$1="*) echo "${w#*=}"; return ;; esac; done; }

# parse_nbdroot SPEC: sets server, port and export from nbdroot='s value: SERVER,PORT,EXPORT
# or SERVER,EXPORT (Debian's forms), SERVER:PORT/EXPORT (dracut's), nbd:SERVER:PORT:EXPORT
# (a DHCP root path), or "dhcp": the root path (option 17) from the lease, in any of these
# forms. The port defaults to 10809, the export to "", an empty server to the DHCP server.
parse_nbdroot() {
  local spec=$1 rest hp
  if [ "$spec" = dhcp ]; then
    spec=$DHCP_ROOTPATH
    [ -n "$spec" ] || fail "nbdroot=dhcp but the DHCP server sent no root path (option 17)"
  fi
  spec=${spec#nbd:}
  case $spec in
    *,*) server=${spec%%,*}; rest=${spec#*,}
         case $rest in
           *,*) port=${rest%%,*}; export=${rest#*,} ;;
           *[!0-9]*) port=""; export=$rest ;;
           *) port=$rest; export="" ;;
         esac ;;
    */*) hp=${spec%%/*}; export=${spec#*/}; server=${hp%%:*}; port=${hp#*:}; [ "$port" != "$hp" ] || port="" ;;
    *:*:*) server=${spec%%:*}; rest=${spec#*:}; port=${rest%%:*}; export=${rest#*:} ;;
    *:*) server=${spec%%:*}; port=${spec#*:}; export="" ;;
    *) server=$spec; port=""; export="" ;;
  esac
  case $port in ''|*[!0-9]*) port=10809 ;; esac
  [ -n "$server" ] || server=$DHCP_SERVER
}

# Outside the guest (tests/e2e/diskless_test.go runs this file with busybox sh):
#   init --parse-nbdroot SPEC DHCP_SERVER DHCP_ROOTPATH
if [ $$ != 1 ] && [ "${1:-}" = --parse-nbdroot ]; then
  DHCP_SERVER=${3:-} DHCP_ROOTPATH=${4:-}
  parse_nbdroot "$2"
  echo "server=$server port=$port export=$export"
  exit 0
fi

export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

say "initramfs on $(uname -r)"
for m in $(cat /etc/modules); do insmod "/lib/modules/$m.ko" 2>/dev/null || true; done
grep -q '^nbd ' /proc/modules || fail "the nbd module did not load"

# The interface: the one whose MAC is in BOOTIF= (01-aa-bb-… as PXELINUX and iPXE write it),
# else the first that is not loopback. NIC drivers probe asynchronously: wait up to 20 s.
want=$(arg BOOTIF | sed 's/^01-//; s/-/:/g' | tr A-F a-f)
iface=""
i=0
while [ -z "$iface" ] && [ $i -lt 100 ]; do
  for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    if [ -z "$want" ] || [ "$(cat "$d/address")" = "$want" ]; then iface=$n; break; fi
  done
  [ -n "$iface" ] || { sleep 0.2; i=$((i + 1)); }
done
[ -n "$iface" ] || fail "no network interface${want:+ with MAC $want}"
mac=$(cat "/sys/class/net/$iface/address")
ip link set lo up
ip link set "$iface" up
say "DHCP on $iface ($mac)"
udhcpc -i "$iface" -f -q -n -t 8 -T 2 -s /etc/udhcpc.script -O rootpath ||
  fail "no DHCP lease on $iface mac=$mac"
. /run/dhcp.env

spec=$(arg nbdroot)
[ -n "$spec" ] || fail "no nbdroot= on the kernel command line"
parse_nbdroot "$spec"
say "ip=$DHCP_IP; root nbd://$server:$port/$export"
n=0
until nbd-client "$server" "$port" /dev/nbd0 -N "$export"; do
  n=$((n + 1))
  [ $n -lt 5 ] || fail "nbd-client could not attach nbd://$server:$port/$export mac=$mac"
  sleep 1
done
mount -t ext4 -o rw /dev/nbd0 /root || fail "mount of /dev/nbd0 (ext4) failed"
[ -x /root/sbin/init ] || fail "the NBD root has no /sbin/init"
mount --move /dev /root/dev
mount --move /sys /root/sys
mount --move /proc /root/proc
export DISKLESS_MAC="$mac" DISKLESS_IP="$DHCP_IP" DISKLESS_IFACE="$iface"
export DISKLESS_ROOT="nbd://$server:$port/$export"
exec switch_root /root /sbin/init
EOF
chmod 0755 "$ir/init"
(cd "$ir" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9n >"$work/initrd.gz"

# --- root image ------------------------------------------------------------------------------
rt=$work/rootfs
mkdir -p "$rt"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,var/log}
install -m 0755 "$bb" "$rt/bin/busybox"
ln -s busybox "$rt/bin/sh"
cat >"$rt/sbin/init" <<'EOF'
#!/bin/sh
# The diskless root's init (scripts/diskless-assets.sh): count this boot on the root itself,
# say so on the console, make it durable and power off.
# busybox's applet links live in a tmpfs, so that the root holds only what the boot writes.
/bin/busybox mkdir -p /run
/bin/busybox mount -t tmpfs -o size=1m tmpfs /run
/bin/busybox mkdir /run/bin
/bin/busybox --install -s /run/bin
export PATH=/run/bin:/bin:/sbin
[ -e /proc/self ] || mount -t proc proc /proc
n=$(cat /diskless-boots 2>/dev/null || echo 0)
case $n in ''|*[!0-9]*) n=0 ;; esac
n=$((n + 1))
echo "$n" >/diskless-boots.new && mv /diskless-boots.new /diskless-boots
echo "boot $n $(date -u +%FT%TZ) mac=$DISKLESS_MAC ip=$DISKLESS_IP root=$DISKLESS_ROOT" >>/var/log/diskless-boots.log
sync
echo "PXE-EDGE-DISKLESS-OK boots=$n mac=$DISKLESS_MAC ip=$DISKLESS_IP root=$DISKLESS_ROOT kernel=$(uname -r)"
mount -o remount,ro / 2>/dev/null
sync
poweroff -f
EOF
chmod 0755 "$rt/sbin/init"
echo pxe-edge-diskless >"$rt/etc/hostname"
printf 'pxe-edge diskless root, built %s from Debian %s\n' "$(date -u +%FT%TZ)" "$suite" >"$rt/etc/pxe-edge-diskless"
if [ -n "$extra" ]; then cp -a "$extra/." "$rt/"; fi
mkfs.ext4 -q -F -T default -L pxe-edge-root -E root_owner=0:0 -d "$rt" "$work/root.ext4" "$root_size" >&2 ||
  die "mkfs.ext4 -d failed (e2fsprogs ≥ 1.43 needed for -d)"

# --- into the cache, stamp last --------------------------------------------------------------
# Each file is renamed into place, so a reader (or a second run at the same time) never sees
# half a file.
rm -f "$cache/STAMP"
install -m 0644 "$kx/boot/vmlinuz-$kver" "$cache/.vmlinuz.$$" && mv "$cache/.vmlinuz.$$" "$cache/vmlinuz"
install -m 0644 "$work/initrd.gz" "$cache/.initrd.gz.$$" && mv "$cache/.initrd.gz.$$" "$cache/initrd.gz"
install -m 0644 "$work/root.ext4" "$cache/.root.ext4.$$" && mv "$cache/.root.ext4.$$" "$cache/root.ext4"
{
  echo "kernel $kpkg ($kver)"
  echo "modules ${order[*]}"
  for p in busybox-static nbd-client $libs; do echo "package $(basename "$(ls "$work"/deb/"${p}"_*.deb | head -n1)")"; done
} >"$cache/.SOURCE.$$"
mv "$cache/.SOURCE.$$" "$cache/SOURCE"
echo "$stamp" >"$cache/.STAMP.$$"
mv "$cache/.STAMP.$$" "$cache/STAMP"
log "kernel $kver, initrd $(du -k "$cache/initrd.gz" | cut -f1) KiB, root $root_size → $cache"
echo "$cache"
