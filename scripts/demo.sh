#!/usr/bin/env bash
# `make demo` — the whole product in one command, on any Debian machine, as root:
#
#   make demo                # x86-64 UEFI guest: firmware PXE → TFTP ipxe.efi → iPXE → HTTP boot.ipxe
#   make demo ARCH=bios      # x86 BIOS guest: QEMU's iPXE option ROM → HTTP boot.ipxe (quicker)
#   make demo ARCH=arm64     # arm64 UEFI guest (qemu-system-aarch64 -M virt, AAVMF)
#   make demo ARCH=diskless  # x86-64 diskless Linux: iPXE ROM → HTTP kernel + initramfs → root
#                            # over NBD; boots twice, the second boot sees the first's write
#   make demo ARCH=menu      # x86 BIOS guest: no boot.ipxe, so iPXE gets the menu pxe-edge
#                            # generates from images/; a machine profile picks Debian's netboot
#                            # installer with no keystroke, up to the installer's first screen
#
# ARCH=diskless builds its guest with scripts/diskless-assets.sh (Debian packages, cached in
# /var/cache/pxe-edge/diskless) and serves the root image with the NBD server DISKLESS_NBD
# names: qemu-nbd (default, a stand-in from qemu-utils: one image shared by every client),
# qemu-storage-daemon (a stand-in with one qcow2 overlay and export per MAC, set up in advance)
# or pxe-edge (pxe-edge's own --nbd with per-MAC copy-on-write overlays). With per-MAC
# overlays a second guest with another MAC boots too and must see a fresh root. DISKLESS_BOOTS (default 2) boots of the
# first guest. docs/diskless.md has the details.
#
# ARCH=menu serves a copy of netboot/ without boot.ipxe and with images/debian-installer/
# (links to the files of Debian's debian-installer-12-netboot-amd64 package), and starts
# pxe-edge with --profiles naming the guest's MAC (default debian-installer, timeout 0).
# docs/images.md has the details.
#
# What it does: installs the Debian packages it lacks (scripts/install-deps.sh demo), builds
# bin/pxe-edge and netboot/ (`make build netboot`), builds a throw-away lab out of network
# namespaces — a server namespace with eth0, a "switch" namespace with a bridge and the tap
# of a QEMU guest — starts pxe-edge there with full DHCP + TFTP + HTTP + iPXE on 10.80.0.0/24,
# boots the guest, streams the guest's serial console and pxe-edge's log and events to this
# terminal, prints a summary (client MAC, address, files, bytes, seconds per stage) and
# deletes everything again, also on failure or Ctrl-C.
#
# It never touches this machine's own interfaces: every link is created inside the lab's
# namespaces, and pxe-edge and QEMU run inside them. Exit status 0 only if the guest ran
# netboot/boot.ipxe to its end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
mode=${1:-uefi}
case $mode in
  ""|uefi|x86|x86_64|amd64|x86-uefi) mode=uefi ;;
  bios|x86-bios|pcbios) mode=bios ;;
  arm64|aarch64) mode=arm64 ;;
  diskless|nbd) mode=diskless ;;
  menu|images) mode=menu ;;
  *) echo "demo: unknown ARCH=$mode (use nothing, bios, arm64, diskless or menu)" >&2; exit 2 ;;
esac

GUEST_TIMEOUT=${GUEST_TIMEOUT:-150}   # seconds for the guest to get through boot.ipxe (each boot)
[ $mode != menu ] || GUEST_TIMEOUT=${GUEST_TIMEOUT_MENU:-300} # …or to the installer's first screen
DI_NETBOOT=/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
SUBNET=10.80.0                        # board/demo range (docs/DESIGN.md)
SERVER=$SUBNET.1
MAC=52:54:00:80:00:42
MAC2=52:54:00:80:00:43                # diskless: the second machine (per-MAC overlays only)
DISKLESS_NBD=${DISKLESS_NBD:-pxe-edge}
DISKLESS_BOOTS=${DISKLESS_BOOTS:-2}
NBD_PORT=10809

t_start=$(date +%s.%N)
say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "run as root (sudo make demo): network namespaces and taps need it"

# --- 1. Debian packages --------------------------------------------------------------------
# What each guest needs on top of .ci/packages-demo.txt (installed if missing).
case $mode in
  uefi) need_pkgs="qemu-system-x86 ovmf ipxe" need_files="/usr/share/qemu/OVMF.fd" ;;
  bios) need_pkgs="qemu-system-x86 ipxe-qemu ipxe" need_files="/usr/lib/ipxe/qemu/efi-e1000.rom" ;;
  arm64) need_pkgs="qemu-system-arm qemu-efi-aarch64 ipxe" need_files="/usr/share/AAVMF/AAVMF_CODE.fd" ;;
  menu)
    need_pkgs="qemu-system-x86 ipxe-qemu ipxe debian-installer-12-netboot-amd64"
    need_files="/usr/lib/ipxe/qemu/efi-virtio.rom $DI_NETBOOT/linux $DI_NETBOOT/initrd.gz" ;;
  diskless)
    need_pkgs="qemu-system-x86 ipxe-qemu ipxe cpio e2fsprogs" need_files="/usr/lib/ipxe/qemu/efi-virtio.rom"
    case $DISKLESS_NBD in
      qemu-nbd|qemu-storage-daemon) need_pkgs+=" qemu-utils" ;;
      pxe-edge) ;;
      *) die "DISKLESS_NBD=$DISKLESS_NBD: use qemu-nbd, qemu-storage-daemon or pxe-edge" ;;
    esac ;;
esac
say "checking Debian packages"
"$top/scripts/install-deps.sh" demo
missing=""
for p in $need_pkgs iproute2 curl make; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=" $p"
done
if [ -n "$missing" ]; then
  say "installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; }
fi
for f in $need_files; do [ -f "$f" ] || die "$f missing (Debian packages: $need_pkgs)"; done

# --- 2. build --------------------------------------------------------------------------------
command -v "${GO:-go}" >/dev/null || die "Go not found on PATH: install Go ≥ 1.26 (go.dev/dl) first"
bin=$top/bin/pxe-edge
netboot=$top/netboot
if [ $mode = arm64 ] && [ -z "${IPXE_ARM64_EFI:-}" ] && [ ! -f "$netboot/ipxe-arm64.efi" ]; then
  # Debian bookworm ships no arm64 iPXE; the next release's ipxe package does. fetch.sh
  # downloads that package once (private apt config, nothing installed) and prints the path;
  # scripts/netboot.sh copies it in from IPXE_ARM64_EFI.
  say "no arm64 iPXE yet: taking ipxe-arm64.efi from Debian trixie's ipxe package (once, cached)"
  IPXE_ARM64_EFI=$("$top/board/ipxe-arm64/fetch.sh") || die "could not fetch an arm64 iPXE"
  export IPXE_ARM64_EFI
fi
say "building pxe-edge and netboot/"
t0=$(date +%s.%N)
make -C "$top" --no-print-directory build GOARCH= GOARM= >/dev/null
# netboot.sh warns about the missing arm64 iPXE on every x86 run: only show its output if
# it fails, or for the arm64 guest.
nb_out=$(make -C "$top" --no-print-directory netboot 2>&1) || { echo "$nb_out"; die "make netboot failed"; }
[ $mode != arm64 ] || echo "$nb_out" | grep -i 'arm64' || true
say "built $("$bin" --version) and netboot/ in $(elapsed "$t0" "$(date +%s.%N)") s"
[ $mode != arm64 ] || [ -f "$netboot/ipxe-arm64.efi" ] ||
  die "netboot/ipxe-arm64.efi missing: arm64 UEFI clients need an arm64 iPXE (IPXE_ARM64_EFI=/path/ipxe.efi make netboot)"
if [ $mode = diskless ]; then
  say "diskless guest: kernel, initramfs and root image from Debian packages (scripts/diskless-assets.sh, cached)"
  t0=$(date +%s.%N)
  assets=$("$top/scripts/diskless-assets.sh") || die "scripts/diskless-assets.sh failed (messages above)"
  say "diskless assets in $assets ($(sed -n 's/^kernel //p' "$assets/SOURCE"); $(elapsed "$t0" "$(date +%s.%N)") s)"
fi

# --- 3. the lab ------------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/pxe-edge-demo.XXXXXX)
id=$$
ns_srv=pxe-demo-$id-srv
ns_sw=pxe-demo-$id-sw
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  if [ -n "${qemu_pid:-}" ]; then kill "$qemu_pid" 2>/dev/null; fi
  # SIGTERM first: pxe-edge flushes its leases and removes the address it added.
  if [ -n "${pxe_pid:-}" ] && kill -0 "$pxe_pid" 2>/dev/null; then
    kill -TERM "$pxe_pid"
    for _ in $(seq 50); do kill -0 "$pxe_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$ns_sw" "$ns_srv"; do
    if ip netns list | grep -qw "$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  wait 2>/dev/null
  if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "demo: logs kept in $tmp"; else rm -rf "$tmp"; fi
  [ $rc = 0 ] || printf 'demo: failed (status %d); lab removed\n' "$rc" >&2
  exit $rc
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM HUP

# The directory pxe-edge serves: netboot/ itself, or for the diskless guest a copy with the
# kernel, the initramfs and a hosts/<mac>.ipxe script per machine that boots them with the root
# over NBD (the repository's netboot/ stays as it is).
serve=$netboot
nbd_args=()
menu_args=()
if [ $mode = menu ]; then
  # No boot.ipxe: iPXE clients get the menu pxe-edge generates from images/. The installer
  # is a kernel + initrd directory entry; the profile boots it at once on the guest's MAC.
  serve=$tmp/netboot
  mkdir -p "$serve"
  cp -a "$netboot/." "$serve/"
  rm -f "$serve/boot.ipxe"
  mkdir -p "$serve/images/debian-installer"
  ln -s "$DI_NETBOOT/linux" "$DI_NETBOOT/initrd.gz" "$serve/images/debian-installer/"
  cat >"$tmp/profiles.json" <<EOT
{"default": "local", "timeout": 10, "args": "console=ttyS0",
 "profiles": [{"name": "demo", "match": {"mac": ["$MAC"]}, "default": "debian-installer", "timeout": 0}]}
EOT
  menu_args=(--profiles "$tmp/profiles.json")
  say "images/: debian-installer/ (links to $DI_NETBOOT); profile: $MAC boots it with no keystroke"
fi
if [ $mode = diskless ]; then
  serve=$tmp/netboot
  mkdir -p "$serve"
  cp -a "$netboot/." "$serve/"
  mkdir -p "$serve/diskless" "$serve/hosts"
  cp "$assets/vmlinuz" "$assets/initrd.gz" "$serve/diskless/"
  # A private copy: the cached root image stays pristine for the next run.
  cp "$assets/root.ext4" "$tmp/root.ext4"
  per_mac=0
  case $DISKLESS_NBD in
    qemu-nbd) nbd_export=root nbd_what="qemu-nbd (stand-in, one image shared by all clients)" ;;
    qemu-storage-daemon)
      per_mac=1 nbd_what="qemu-storage-daemon (stand-in, a qcow2 overlay and export per MAC)" ;;
    pxe-edge)
      per_mac=1 nbd_export=root.ext4 nbd_what="pxe-edge --nbd (copy-on-write overlay per MAC)"
      nbd_args=(--nbd "$tmp/root.ext4" --nbd-write --nbd-cow --nbd-port "$NBD_PORT") ;;
  esac
  for m in $MAC $MAC2; do
    # The per-MAC stand-in can only tell clients apart by export name.
    [ "$DISKLESS_NBD" != qemu-storage-daemon ] || nbd_export=root-${m//:/-}
    cat >"$serve/hosts/${m//:/-}.ipxe" <<EOT
#!ipxe
echo pxe-edge: diskless boot for \${netX/mac}
kernel ../diskless/vmlinuz console=ttyS0 panic=5 BOOTIF=01-\${netX/mac:hexhyp} nbdroot=\${next-server},$NBD_PORT,$nbd_export
initrd ../diskless/initrd.gz
boot
EOT
  done
fi

say "lab: namespaces $ns_srv (pxe-edge, eth0) and $ns_sw (bridge br0, tap0 for the guest)"
ip netns add "$ns_srv"
ip netns add "$ns_sw"
ip -n "$ns_srv" link set lo up
ip -n "$ns_sw" link set lo up
# Both ends are created inside the namespaces: nothing appears in this machine's own.
ip -n "$ns_srv" link add eth0 type veth peer name sw0 netns "$ns_sw"
ip -n "$ns_sw" link add br0 type bridge
ip -n "$ns_sw" link set br0 type bridge forward_delay 0 stp_state 0
ip -n "$ns_sw" link set sw0 master br0
ip -n "$ns_sw" tuntap add dev tap0 mode tap
ip -n "$ns_sw" link set tap0 master br0
for l in sw0 tap0 br0; do ip -n "$ns_sw" link set "$l" up; done
# eth0 stays down and without an address: pxe-edge sets it up and adds $SERVER/24 itself.

# --- 4. pxe-edge -----------------------------------------------------------------------------
# prefix TAG FILE: copy stdin to FILE with arrival times, and to the terminal with a tag
# (lines cut at 200 characters there: iPXE's redrawn menu arrives as one very long line).
prefix() {
  local tag=$1 file=$2 line
  while IFS= read -r line; do
    line=${line//$'\r'/}
    [ -n "${line// /}" ] || continue
    printf '%s\t%s\n' "$EPOCHREALTIME" "$line" >>"$file"
    if [ ${#line} -gt 200 ]; then line="${line:0:200}…"; fi
    printf '%s %s\n' "$tag" "$line"
  done
}
# field KEY JSON: the value of the first KEY in one line of JSON (no jq on a fresh machine);
# the first, because nested objects, such as the machine an event is about, reuse key names.
field() { grep -o -m1 "\"$1\":\"\{0,1\}[^\",}]*" <<<"$2" | head -n1 | sed "s/^\"$1\":\"\{0,1\}//"; }
mkdir -p "$tmp/state"
args=(--iface eth0 --dhcp -s "$SERVER" -n 255.255.255.0 -b "$SUBNET.100" -e "$SUBNET.150" -r '' -d ''
  --http --http-port 80 --ipxe --tftp -a "$serve" --state-dir "$tmp/state" ${nbd_args[@]+"${nbd_args[@]}"}
  ${menu_args[@]+"${menu_args[@]}"})
say "starting: pxe-edge$(printf ' %q' "${args[@]}")"
ip netns exec "$ns_srv" "$bin" "${args[@]}" > >(prefix $'\033[36m[pxe-edge]\033[0m' "$tmp/pxe-edge.log") 2>&1 &
pxe_pid=$!
for _ in $(seq 100); do
  grep -q 'DHCP answering' "$tmp/pxe-edge.log" 2>/dev/null && break
  kill -0 $pxe_pid 2>/dev/null || die "pxe-edge exited at start (log above)"
  sleep 0.2
done
grep -q 'DHCP answering' "$tmp/pxe-edge.log" || die "pxe-edge did not start serving within 20 s"
if [ $mode = menu ]; then
  say "catalogue (GET /api/images): $(ip netns exec "$ns_srv" curl -s "http://$SERVER/api/images" |
    sed -n 's/.*"name":"\([^"]*\)","kind":"\([^"]*\)".*"method":"\([^"]*\)".*/\1 (\2, \3)/p')"
fi

if [ $mode = diskless ] && [ "$DISKLESS_NBD" != pxe-edge ]; then
  # The stand-in NBD server, on the address pxe-edge has just put on eth0.
  if [ "$DISKLESS_NBD" = qemu-nbd ]; then
    # --persistent: serve every boot; --shared: a powered-off guest never closes its connection.
    nbd_cmd=(qemu-nbd --format=raw --export-name=root --persistent --shared=8 --bind="$SERVER" --port="$NBD_PORT" "$tmp/root.ext4")
  else
    # One qcow2 overlay per MAC over the read-only base, each its own export.
    nbd_cmd=(qemu-storage-daemon --nbd-server "addr.type=inet,addr.host=$SERVER,addr.port=$NBD_PORT,max-connections=16")
    i=0
    for m in $MAC $MAC2; do
      qemu-img create -q -f qcow2 -F raw -b "$tmp/root.ext4" "$tmp/${m//:/-}.qcow2"
      nbd_cmd+=(--blockdev "driver=qcow2,node-name=n$i,file.driver=file,file.filename=$tmp/${m//:/-}.qcow2"
        --export "type=nbd,id=e$i,node-name=n$i,name=root-${m//:/-},writable=on")
      i=$((i + 1))
    done
  fi
  say "starting the NBD stand-in: ${nbd_cmd[*]}"
  ip netns exec "$ns_srv" "${nbd_cmd[@]}" > >(prefix $'\033[35m[nbd]\033[0m' "$tmp/nbd.log") 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -n "$(ip netns exec "$ns_srv" ss -Hltn "sport = :$NBD_PORT" 2>/dev/null)" ] && break
    sleep 0.1
  done
  [ -n "$(ip netns exec "$ns_srv" ss -Hltn "sport = :$NBD_PORT")" ] || die "$DISKLESS_NBD did not listen on $SERVER:$NBD_PORT within 10 s"
fi

# The event stream (DHCP offers/acks, leases, transfers) from the status API, kept for the
# summary and shown as it happens. curl ends when pxe-edge stops, and the loop with it.
ip netns exec "$ns_srv" curl -sN --max-time $((GUEST_TIMEOUT * (DISKLESS_BOOTS + 1) + 60)) "http://$SERVER/api/events" 2>/dev/null |
  while IFS= read -r l; do
    printf '%s\n' "$l" >>"$tmp/events.sse"
    case $l in
      data:*'"kind":"dhcp"'*|data:*'"kind":"lease"'*)
        printf '\033[33m[event]\033[0m %s %s %s → %s\n' "$(field proto "$l")" "$(field msg "$l")" \
          "$(field mac "$l")" "$(field client "$l")" ;;
      data:*'"kind":"transfer-'*)
        printf '\033[33m[event]\033[0m %s %s %s %s/%s bytes %s\n' "$(field proto "$l")" "$(field kind "$l")" \
          "$(field file "$l")" "$(field bytes "$l")" "$(field total "$l")" "$(field err "$l")" ;;
    esac
  done &
pids+=($!)

# --- 5. the guest ----------------------------------------------------------------------------
# guest_cmd MAC: the QEMU command line of the guest, into the array qemu.
guest_cmd() {
  case $mode in
    uefi)
      what="x86-64 UEFI guest (OVMF, virtio-net with EDK2's own PXE)"
      qemu=(qemu-system-x86_64 -accel tcg -m 512 -bios /usr/share/qemu/OVMF.fd
        -device virtio-net-pci,netdev=n0,mac=$1,romfile=) ;;
    bios)
      what="x86 BIOS guest (SeaBIOS, e1000 with the iPXE option ROM from ipxe-qemu)"
      qemu=(qemu-system-x86_64 -accel tcg -m 256 -boot n
        -device e1000,netdev=n0,mac=$1,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom) ;;
    arm64)
      what="arm64 UEFI guest (qemu-system-aarch64 -M virt, AAVMF, virtio-net)"
      # AAVMF wants 64 MiB flash images: code read-only, a private copy of the variable store.
      cp /usr/share/AAVMF/AAVMF_VARS.fd "$tmp/vars.fd"
      qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512
        -drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
        -drive if=pflash,format=raw,file="$tmp/vars.fd"
        -device virtio-net-pci,netdev=n0,mac=$1,romfile=) ;;
    menu)
      what="x86 BIOS guest (SeaBIOS, virtio-net with the iPXE ROM) on the generated menu"
      qemu=(qemu-system-x86_64 -accel tcg -m 1024 -boot n -device virtio-net-pci,netdev=n0,mac=$1) ;;
    diskless)
      what="x86-64 diskless guest (SeaBIOS, virtio-net with the iPXE ROM; root over NBD from $nbd_what)"
      qemu=(qemu-system-x86_64 -accel tcg -m 256 -boot n -device virtio-net-pci,netdev=n0,mac=$1) ;;
  esac
  # TCG, not KVM: /dev/kvm here may be nested, where OVMF and the iPXE ROM die under KVM.
  qemu+=(-nographic -monitor none -no-reboot -pidfile "$tmp/qemu.pid"
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no)
}
# What ends a boot on the console: a success and a failure marker.
ok_mark='pxe-edge: leaving iPXE' fail_mark='pxe-edge: boot failed'
if [ $mode = diskless ]; then ok_mark='PXE-EDGE-DISKLESS-OK' fail_mark='PXE-EDGE-DISKLESS-FAIL'; fi
if [ $mode = menu ]; then ok_mark='Select a language' fail_mark='Boot failed.'; fi

# run_guest MAC CONSOLE: boot the guest once, its console to the terminal and to CONSOLE;
# sets result (ok, failed, exited, timeout) and t_run/t_end (power-on, end).
run_guest() {
  local mac=$1 console=$2 deadline
  guest_cmd "$mac"
  rm -f "$tmp/qemu.pid"
  t_run=$EPOCHREALTIME
  # The raw console goes to CONSOLE.raw as it comes: a full-screen program (the installer)
  # draws its first screen and waits without a newline, which the line-based filter below
  # would hold back.
  ip netns exec "$ns_sw" "${qemu[@]}" </dev/null 2>&1 | tee "$console.raw" |
    sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' -e 's/\x1bc//g' \
      -e 's/\r/\n/g' -e 's/  \+/ /g' |
    prefix $'\033[32m[guest]\033[0m' "$console" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$tmp/qemu.pid" ] && break; sleep 0.1; done
  qemu_pid=$(cat "$tmp/qemu.pid" 2>/dev/null || true)
  result=timeout
  deadline=$(( $(date +%s) + GUEST_TIMEOUT ))
  while [ "$(date +%s)" -lt $deadline ]; do
    if grep -aq -- "$ok_mark" "$console" "$console.raw" 2>/dev/null; then result=ok; break; fi
    if grep -q -e "$fail_mark" -e 'pxe-edge: boot failed' "$console" 2>/dev/null; then result=failed; break; fi
    if [ -n "$qemu_pid" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then result=exited; break; fi
    sleep 0.5
  done
  t_end=$EPOCHREALTIME
  # The diskless guest syncs and powers itself off after its marker: let it (bounded).
  if [ $mode = diskless ] && [ $result = ok ]; then
    for _ in $(seq 300); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  kill "$qemu_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
  qemu_pid=""
}

guest_cmd "$MAC"
say "booting the $what, MAC $MAC; console follows"
run_guest "$MAC" "$tmp/console.log"
t_guest=$t_run t_first_end=$t_end
# The diskless guest again (it must find its own write), and with per-MAC overlays another
# machine (it must not). Each line: "MAC boots-expected boots-seen seconds result".
boots=()
if [ $mode = diskless ]; then
  seen() { sed -n 's/.*PXE-EDGE-DISKLESS-OK boots=\([0-9]*\).*/\1/p' "$1" | head -n1; }
  boots+=("$MAC 1 $(seen "$tmp/console.log") $(elapsed "$t_run" "$t_end") $result")
  i=2
  while [ $result = ok ] && [ $i -le "$DISKLESS_BOOTS" ]; do
    say "boot $i of the same machine ($MAC): its root must hold the count of the boots before"
    run_guest "$MAC" "$tmp/console.$i.log"
    boots+=("$MAC $i $(seen "$tmp/console.$i.log") $(elapsed "$t_run" "$t_end") $result")
    i=$((i + 1))
  done
  if [ $result = ok ] && [ $per_mac = 1 ]; then
    say "another machine ($MAC2): its overlay is its own, so it must see a fresh root"
    run_guest "$MAC2" "$tmp/console.other.log"
    boots+=("$MAC2 1 $(seen "$tmp/console.other.log") $(elapsed "$t_run" "$t_end") $result")
  fi
  for b in "${boots[@]}"; do
    set -- $b
    [ "$5" = ok ] || { result=$5; break; }
    [ "$2" = "$3" ] || { result=count; break; }
  done
fi
# Stop pxe-edge now (SIGTERM: leases flushed, address removed) so its last lines come before
# the summary.
kill -TERM "$pxe_pid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$pxe_pid" 2>/dev/null || break; sleep 0.1; done
sleep 0.3

# --- 6. summary ------------------------------------------------------------------------------
# Every notable moment as "epoch<TAB>text", from the event stream, pxe-edge's log and the
# console, sorted into one timeline relative to the guest's power-on (the first boot only).
tl=$tmp/timeline
: >"$tl"
epoch() { date -d "$1" +%s.%N; }
# first_boot TS: whether TS (epoch seconds) falls within the first boot.
first_boot() { [ $mode = diskless ] || return 0; awk -v t="$1" -v e="$t_first_end" 'BEGIN { exit !(t <= e + 1) }'; }
addr="" files=0 bytes=0
while IFS= read -r l; do
  l=${l#data: }
  kind=$(field kind "$l")
  [ "$(field mac "$l")" = "$MAC" ] || [ "${kind#transfer}" != "$kind" ] || continue
  ts=$(epoch "$(field time "$l")")
  first_boot "$ts" || continue
  # HTTP transfers are listed (and counted) from pxe-edge's request log below.
  case $kind in transfer-*) [ "$(field proto "$l")" != http ] || continue ;; esac
  case $kind in
    dhcp)
      ip=$(field client "$l"); ip=${ip%:*}
      [ "$(field msg "$l")" = ACK ] && addr=$ip
      printf '%s\tDHCP %s %s\n' "$ts" "$(field msg "$l")" "$ip" >>"$tl" ;;
    transfer-done)
      b=$(field bytes "$l"); d=$(field duration "$l")
      files=$((files + 1)); bytes=$((bytes + b))
      printf '%s\tTFTP %s: %s bytes in %s s\n' "$ts" "$(field file "$l")" "$b" \
        "$(awk -v n="$d" 'BEGIN { printf "%.2f", n / 1e9 }')" >>"$tl" ;;
    transfer-failed)
      case $l in
        # EDK2 asks for tsize, then aborts with ERROR 8 and starts the real transfer.
        *'ERROR 8'*) why="size probe (client aborts after tsize, as EDK2 does)" ;;
        *) why="failed: $(field err "$l")" ;;
      esac
      printf '%s\tTFTP %s: %s\n' "$ts" "$(field file "$l")" "$why" >>"$tl" ;;
  esac
done < <(grep '^data: {"time"' "$tmp/events.sse" 2>/dev/null || true)
while IFS= read -r l; do
  ts=$(epoch "$(sed -n 's/.*time=\([^ ]*\).*/\1/p' <<<"$l")")
  first_boot "$ts" || continue
  path=$(sed -n 's/.* path=\([^ ]*\).*/\1/p' <<<"$l")
  st=$(sed -n 's/.* status=\([0-9]*\).*/\1/p' <<<"$l")
  b=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$l")
  if [ "$st" = 200 ]; then files=$((files + 1)); bytes=$((bytes + b)); fi
  printf '%s\tHTTP GET %s: %s, %s bytes\n' "$ts" "$path" "$st" "$b" >>"$tl"
done < <(grep 'msg=http ' "$tmp/pxe-edge.log" | grep -v ' path=/api/' | cut -f2- || true)
for m in 'Start PXE over IPv4' 'NBP file downloaded' 'iPXE initialising devices' 'boot.ipxe : ' \
  'pxe-edge: boot.ipxe reached' 'pxe-edge: menu choice' 'pxe-edge: leaving iPXE' 'pxe-edge: boot failed' \
  'pxe-edge: diskless boot for' '] Linux version' 'pxe-edge-diskless: initramfs' 'udhcpc: lease of' \
  'Connected /dev/nbd0' 'EXT4-fs (nbd0): mounted' 'PXE-EDGE-DISKLESS-' '] reboot: Power down' \
  'Booting debian-installer' 'Run /init as init process' 'Select a language'; do
  grep -F -m1 -- "$m" "$tmp/console.log" 2>/dev/null |
    awk -F'\t' '{ x = $2; if (length(x) > 100) x = substr(x, 1, 100) "…"; printf "%s\tconsole: %s\n", $1, x }' >>"$tl" || true
done

echo
say "summary — $what"
printf '  client MAC   %s\n' "$MAC"
printf '  address      %s\n' "${addr:-none}"
printf '  files        %d served, %d bytes\n' "$files" "$bytes"
printf '  %8s %8s  %s\n' "at (s)" "stage" "what"
prev=$t_guest
sort -n "$tl" | while IFS=$'\t' read -r ts text; do
  note=""
  # The long pause before the first HTTP request is iPXE's, not the server's.
  case $text in HTTP*) note=" (iPXE waits ~13 s for IPv6 router advertisements first)" ;; esac
  awk -v t="$ts" -v g="$t_guest" -v p="$prev" -v x="$text" -v n="$note" \
    'BEGIN { if (t - p < 10) n = ""; printf "  %8.1f %+8.1f  %s%s\n", t - g, t - p, x, n }'
  prev=$ts
done
if [ $mode = diskless ]; then
  printf '  NBD server   %s on %s:%s\n' "$nbd_what" "$SERVER" "$NBD_PORT"
  printf '  %-18s %6s %6s %8s  %s\n' "boot of" "want" "seen" "s" "result"
  for b in "${boots[@]}"; do
    set -- $b
    printf '  %-18s %6s %6s %8s  %s\n' "$1" "boots=$2" "boots=${3:-?}" "$4" "$5"
  done
  # What the served image itself holds (debugfs reads the ext4 file directly).
  img=$(PATH=$PATH:/sbin:/usr/sbin debugfs -R 'cat /diskless-boots' "$tmp/root.ext4" 2>/dev/null | tr -cd '0-9')
  if [ $per_mac = 1 ]; then
    if [ -z "$img" ]; then
      printf '  base image   unchanged: no /diskless-boots in %s (the writes are in the overlays)\n' "$tmp/root.ext4"
    else
      printf '  base image   WRITTEN: /diskless-boots = %s\n' "$img"
      [ $result != ok ] || result=base
    fi
  else
    printf '  root image   /diskless-boots = %s in the one shared image\n' "${img:-none}"
  fi
  [ $per_mac = 1 ] ||
    printf '  another MAC  not booted: the qemu-nbd stand-in shares one image (DISKLESS_NBD=pxe-edge or qemu-storage-daemon for per-MAC overlays)\n'
fi
ran="guest ran for"
[ $mode != diskless ] || ran="${#boots[@]} boots in"
printf '  %s %s s; whole demo %s s\n' "$ran" "$(elapsed "$t_guest" "$t_end")" "$(elapsed "$t_start" "$(date +%s.%N)")"
if [ $mode = diskless ]; then
  case $result in
    ok) say "OK: the diskless guest PXE-booted from pxe-edge, took its root over NBD, and each boot saw the writes of the boots before" ;;
    count) die "a boot saw the wrong count on its root (table above)" ;;
    base) die "the base image was written: per-MAC overlays must keep it pristine" ;;
    failed) die "the diskless guest reported a failure (console above)" ;;
    exited) die "the guest stopped before its root came up (console above)" ;;
    timeout) die "the guest did not reach its NBD root within $GUEST_TIMEOUT s (console above)" ;;
  esac
  exit 0
fi
if [ $mode = menu ]; then
  grep -F -m1 'generated iPXE menu' "$tmp/pxe-edge.log" | cut -f2- | sed 's/^/  menu         /' | cut -c1-220 || true
  case $result in
    ok) say "OK: the guest got pxe-edge's generated menu, its profile chose the installer with no keystroke, and Debian's installer showed its first screen" ;;
    failed) die "the generated menu's boot failed (console above)" ;;
    exited) die "the guest stopped before the installer's first screen (console above)" ;;
    timeout) die "the installer's first screen did not appear within $GUEST_TIMEOUT s (console above)" ;;
  esac
  exit 0
fi
case $result in
  ok) say "OK: the guest PXE-booted from pxe-edge and ran netboot/boot.ipxe to its end" ;;
  failed) die "boot.ipxe reported a failure (console above)" ;;
  exited) die "the guest stopped before boot.ipxe finished (console above)" ;;
  timeout) die "the guest did not finish boot.ipxe within $GUEST_TIMEOUT s (console above)" ;;
esac
