#!/usr/bin/env bash
# `make demo` — the whole product in one command, on any Debian machine, as root:
#
#   make demo                # x86-64 UEFI guest: firmware PXE → TFTP ipxe.efi → iPXE → HTTP boot.ipxe
#   make demo ARCH=bios      # x86 BIOS guest: QEMU's iPXE option ROM → HTTP boot.ipxe (quicker)
#   make demo ARCH=arm64     # arm64 UEFI guest (qemu-system-aarch64 -M virt, AAVMF)
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
  *) echo "demo: unknown ARCH=$mode (use nothing, bios or arm64)" >&2; exit 2 ;;
esac

GUEST_TIMEOUT=${GUEST_TIMEOUT:-150}   # seconds for the guest to get through boot.ipxe
SUBNET=10.80.0                        # board/demo range (docs/DESIGN.md)
SERVER=$SUBNET.1
MAC=52:54:00:80:00:42

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
# field KEY JSON: the value of a flat key in one line of JSON (no jq on a fresh machine).
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2"; }
mkdir -p "$tmp/state"
args=(--iface eth0 --dhcp -s "$SERVER" -n 255.255.255.0 -b "$SUBNET.100" -e "$SUBNET.150" -r '' -d ''
  --http --http-port 80 --ipxe --tftp -a "$netboot" --state-dir "$tmp/state")
say "starting: pxe-edge$(printf ' %q' "${args[@]}")"
ip netns exec "$ns_srv" "$bin" "${args[@]}" > >(prefix $'\033[36m[pxe-edge]\033[0m' "$tmp/pxe-edge.log") 2>&1 &
pxe_pid=$!
for _ in $(seq 100); do
  grep -q 'DHCP answering' "$tmp/pxe-edge.log" 2>/dev/null && break
  kill -0 $pxe_pid 2>/dev/null || die "pxe-edge exited at start (log above)"
  sleep 0.2
done
grep -q 'DHCP answering' "$tmp/pxe-edge.log" || die "pxe-edge did not start serving within 20 s"

# The event stream (DHCP offers/acks, leases, transfers) from the status API, kept for the
# summary and shown as it happens. curl ends when pxe-edge stops, and the loop with it.
ip netns exec "$ns_srv" curl -sN --max-time $((GUEST_TIMEOUT + 30)) "http://$SERVER/api/events" 2>/dev/null |
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
case $mode in
  uefi)
    what="x86-64 UEFI guest (OVMF, virtio-net with EDK2's own PXE)"
    qemu=(qemu-system-x86_64 -accel tcg -m 512 -bios /usr/share/qemu/OVMF.fd
      -device virtio-net-pci,netdev=n0,mac=$MAC,romfile=) ;;
  bios)
    what="x86 BIOS guest (SeaBIOS, e1000 with the iPXE option ROM from ipxe-qemu)"
    qemu=(qemu-system-x86_64 -accel tcg -m 256 -boot n
      -device e1000,netdev=n0,mac=$MAC,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom) ;;
  arm64)
    what="arm64 UEFI guest (qemu-system-aarch64 -M virt, AAVMF, virtio-net)"
    # AAVMF wants 64 MiB flash images: code read-only, a private copy of the variable store.
    cp /usr/share/AAVMF/AAVMF_VARS.fd "$tmp/vars.fd"
    qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512
      -drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd
      -drive if=pflash,format=raw,file="$tmp/vars.fd"
      -device virtio-net-pci,netdev=n0,mac=$MAC,romfile=) ;;
esac
# TCG, not KVM: /dev/kvm here may be nested, where OVMF and the iPXE ROM die under KVM.
qemu+=(-nographic -monitor none -no-reboot -pidfile "$tmp/qemu.pid"
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no)
say "booting the $what, MAC $MAC; console follows"
t_guest=$EPOCHREALTIME
ip netns exec "$ns_sw" "${qemu[@]}" </dev/null 2>&1 |
  sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' -e 's/\x1bc//g' \
    -e 's/\r/\n/g' -e 's/  \+/ /g' |
  prefix $'\033[32m[guest]\033[0m' "$tmp/console.log" &
guest_job=$!
pids+=($guest_job)
for _ in $(seq 50); do [ -s "$tmp/qemu.pid" ] && break; sleep 0.1; done
qemu_pid=$(cat "$tmp/qemu.pid" 2>/dev/null || true)

result=timeout
deadline=$(( $(date +%s) + GUEST_TIMEOUT ))
while [ "$(date +%s)" -lt $deadline ]; do
  if grep -q 'pxe-edge: leaving iPXE' "$tmp/console.log" 2>/dev/null; then result=ok; break; fi
  if grep -q 'pxe-edge: boot failed' "$tmp/console.log" 2>/dev/null; then result=failed; break; fi
  if [ -n "$qemu_pid" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then result=exited; break; fi
  sleep 0.5
done
t_end=$EPOCHREALTIME
kill "$qemu_pid" 2>/dev/null || true
# Stop pxe-edge now (SIGTERM: leases flushed, address removed) so its last lines come before
# the summary.
kill -TERM "$pxe_pid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$pxe_pid" 2>/dev/null || break; sleep 0.1; done
sleep 0.3

# --- 6. summary ------------------------------------------------------------------------------
# Every notable moment as "epoch<TAB>text", from the event stream, pxe-edge's log and the
# console, sorted into one timeline relative to the guest's power-on.
tl=$tmp/timeline
: >"$tl"
epoch() { date -d "$1" +%s.%N; }
addr="" files=0 bytes=0
while IFS= read -r l; do
  l=${l#data: }
  kind=$(field kind "$l")
  [ "$(field mac "$l")" = "$MAC" ] || [ "${kind#transfer}" != "$kind" ] || continue
  ts=$(epoch "$(field time "$l")")
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
  path=$(sed -n 's/.* path=\([^ ]*\).*/\1/p' <<<"$l")
  st=$(sed -n 's/.* status=\([0-9]*\).*/\1/p' <<<"$l")
  b=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$l")
  if [ "$st" = 200 ]; then files=$((files + 1)); bytes=$((bytes + b)); fi
  printf '%s\tHTTP GET %s: %s, %s bytes\n' "$ts" "$path" "$st" "$b" >>"$tl"
done < <(grep 'msg=http ' "$tmp/pxe-edge.log" | grep -v ' path=/api/' | cut -f2- || true)
for m in 'Start PXE over IPv4' 'NBP file downloaded' 'iPXE initialising devices' 'boot.ipxe : ' \
  'pxe-edge: boot.ipxe reached' 'pxe-edge: menu choice' 'pxe-edge: leaving iPXE' 'pxe-edge: boot failed'; do
  grep -F -m1 -- "$m" "$tmp/console.log" 2>/dev/null | awk -F'\t' '{ printf "%s\tconsole: %s\n", $1, $2 }' >>"$tl" || true
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
printf '  guest ran for %s s; whole demo %s s\n' "$(elapsed "$t_guest" "$t_end")" "$(elapsed "$t_start" "$(date +%s.%N)")"
case $result in
  ok) say "OK: the guest PXE-booted from pxe-edge and ran netboot/boot.ipxe to its end" ;;
  failed) die "boot.ipxe reported a failure (console above)" ;;
  exited) die "the guest stopped before boot.ipxe finished (console above)" ;;
  timeout) die "the guest did not finish boot.ipxe within $GUEST_TIMEOUT s (console above)" ;;
esac
