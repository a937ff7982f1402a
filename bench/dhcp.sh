#!/usr/bin/env bash
# bench/dhcp.sh — DHCP DORA exchanges per second and per-phase latency (p50/p99) for
# pxe-edge, dnsmasq and kea-dhcp4 on the same pool, same machine, one run, servers interleaved
# run by run. The load is perfdhcp (Debian: kea-admin, /usr/sbin/perfdhcp) in relay mode: it
# runs in a client namespace with address 10.91.0.2, sends every DISCOVER/REQUEST with that
# address as giaddr to the server namespace (10.91.0.1) and takes replies on port 67, the way
# a relay agent would. Each server's lease file lives in a state directory on the disk
# (DISK_PARENT, default /var/tmp) and, as a second row, on tmpfs (/dev/shm).
#
#   sudo bash bench/dhcp.sh                  # ROUNDS=3 DUR=4 — about 15 minutes
#   ROUNDS=1 DUR=3 SERVERS="pxe-edge-noprobe dnsmasq" sudo -E bash bench/dhcp.sh
#
# Servers (SERVERS, space-separated; default "pxe-edge dnsmasq kea"):
#   pxe-edge          bin/pxe-edge --dhcp, built from this tree (stripped, as the Makefile does).
#                     It commits each new lease durably (fdatasync, group commit) before the ACK
#                     leaves. It does not ARP-probe relayed clients (they are not on its link), so
#                     in this relay-mode benchmark no DORA waits for a probe.
#   pxe-edge-noprobe  the same DHCP path (pkg/rawdhcp + pkg/dhcpd + pkg/lease, 4 workers as in the
#                     daemon) via bench/dhcp-server with the ARP probe off: the same numbers for
#                     relayed clients, kept to measure the store without the daemon around it.
#   dnsmasq           dnsmasq --no-ping: rewrites and fsyncs its whole lease file for every change.
#                     (Its default ICMP check holds each new address ~3 s, one at a time, which
#                     makes a load test meaningless; add "dnsmasq-ping" to SERVERS to see it.)
#   kea               kea-dhcp4 with the memfile backend (CSV appended, not fsynced), one thread.
#   pxe-edge-b        a second pxe-edge binary, PXE_EDGE_B=/path/to/pxe-edge (e.g. built from an
#                     older commit), run with the same flags, to compare two builds in one run.
#
# Two runs per server, each from an empty state directory:
#   throughput  perfdhcp -R CLIENTS -r R for DUR s, R climbing through RATES (a fresh server and
#               state directory each) until the server completes less than 80 % of R; the best
#               completed DORA/s counts. More simulated clients than exchanges, so nearly every
#               DORA is a new lease. Also the server's peak RSS in its best run.
#   latency     the same at LAT_RATE/s; perfdhcp -x t timestamps every exchange and the script
#               computes p50/p99 of DISCOVER→OFFER and REQUEST→ACK (and the drop ratios).
# Then a memory run: bin/pxe-edge started on a state directory with 10 000 leases (filled by
# bench/dhcp-server -fill), a short DORA load, VmRSS/VmHWM; dnsmasq likewise with a 10 000-line
# lease file.
#
# Safety: every server and client runs inside two namespaces this script creates (prefix pxet-,
# so scripts/sweep-netns.sh removes leftovers) and deletes on exit; addresses are 10.91.0.0/16
# inside them. Every run is bounded by `timeout`. Needs root, ip, perfdhcp, dnsmasq,
# kea-dhcp4, go. The machine is shared and has 2 cores that perfdhcp also uses: read the
# ratios and medians, not the absolute figures.
set -euo pipefail
# shellcheck source=bench/lab.sh
. "$(dirname "$0")/lab.sh" # lab_pair

ROUNDS=${ROUNDS:-3}
DUR=${DUR:-4}
RATES=${RATES:-"100 250 500 1000 2000 2800 4000 5600 8000"}
LAT_RATE=${LAT_RATE:-100}
CLIENTS=${CLIENTS:-60000}
STORES=${STORES:-"disk tmpfs"}
DISK_PARENT=${DISK_PARENT:-/var/tmp}
SERVERS=${SERVERS:-"pxe-edge dnsmasq kea"}
MEMORY=${MEMORY:-1}

PERFDHCP=$(command -v perfdhcp || echo /usr/sbin/perfdhcp)
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
KEA=$(command -v kea-dhcp4 || echo /usr/sbin/kea-dhcp4)
for c in ip go "$PERFDHCP" "$DNSMASQ" "$KEA" timeout awk; do
	command -v "$c" >/dev/null || { echo "bench/dhcp.sh: $c not found (Debian: iproute2, kea-admin, dnsmasq-base, kea-dhcp4-server)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/dhcp.sh: needs root (network namespaces)" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/pxe-dhcp-bench.XXXXXX)
DISK=$(mktemp -d "$DISK_PARENT/pxe-dhcp-bench.XXXXXX")
SHM=$(mktemp -d /dev/shm/pxe-dhcp-bench.XXXXXX)
ID=$(printf %04x $((RANDOM)))
NS_S=pxet-db$ID-s
NS_C=pxet-db$ID-c
IF_S=db$ID-s
IF_C=db$ID-c
SRV_IP=10.91.0.1
CLI_IP=10.91.0.2
MASK=255.255.0.0
POOL_BEGIN=10.91.1.1
POOL_END=10.91.250.254
SRV_PID=

stop_server() {
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=
}
cleanup() {
	stop_server
	for ns in "$NS_S" "$NS_C"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$WORK" "$DISK" "$SHM"
}
trap cleanup EXIT INT TERM

echo "# bench/dhcp.sh $(date -u +%FT%TZ) on $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# perfdhcp $("$PERFDHCP" -v 2>&1 | head -1), $("$DNSMASQ" --version | head -1), kea-dhcp4 $("$KEA" -v 2>&1 | head -1)"
echo "# ROUNDS=$ROUNDS DUR=$DUR RATES=\"$RATES\" LAT_RATE=$LAT_RATE CLIENTS=$CLIENTS disk=$DISK_PARENT ($(df --output=source "$DISK_PARENT" | tail -1)) tmpfs=/dev/shm"

(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/pxe-edge" ./cmd/pxe-edge &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/dhcp-server" ./bench/dhcp-server)
mkdir -p "$WORK/netboot"

lab_pair "$NS_S" "$IF_S" "$SRV_IP/16" "$NS_C" "$IF_C" "$CLI_IP/16"

# start_server NAME STATEDIR: starts NAME in the server namespace with its leases in STATEDIR.
start_server() {
	local name=$1 dir=$2 log=$WORK/$1.log
	case $name in
	pxe-edge | pxe-edge-b)
		local bin=$WORK/pxe-edge
		[ "$name" = pxe-edge-b ] && bin=${PXE_EDGE_B:?PXE_EDGE_B=/path/to/pxe-edge for pxe-edge-b}
		ip netns exec "$NS_S" timeout 600 "$bin" --dhcp --no-tftp --no-http --iface "$IF_S" \
			-s "$SRV_IP" -n "$MASK" -b "$POOL_BEGIN" -e "$POOL_END" -r '' -d '' \
			--state-dir "$dir" -a "$WORK/netboot" >"$log" 2>&1 &
		;;
	pxe-edge-noprobe)
		ip netns exec "$NS_S" timeout 600 "$WORK/dhcp-server" -iface "$IF_S" -server-ip "$SRV_IP" \
			-subnet "$MASK" -begin "$POOL_BEGIN" -end "$POOL_END" -state-dir "$dir" >"$log" 2>&1 &
		;;
	dnsmasq | dnsmasq-ping)
		local ping=--no-ping
		[ "$name" = dnsmasq-ping ] && ping=
		ip netns exec "$NS_S" timeout 600 "$DNSMASQ" -k --conf-file=/dev/null --port=0 -u root \
			--interface="$IF_S" --bind-interfaces --dhcp-authoritative $ping --quiet-dhcp \
			--dhcp-range="$POOL_BEGIN,$POOL_END,$MASK,12h" --dhcp-lease-max=100000 \
			--dhcp-leasefile="$dir/dnsmasq.leases" --pid-file="$WORK/dnsmasq.pid" \
			--log-facility="$log" >>"$log" 2>&1 &
		;;
	kea)
		cat >"$WORK/kea.json" <<-KEA
			{ "Dhcp4": {
			  "interfaces-config": { "interfaces": ["$IF_S"], "dhcp-socket-type": "udp" },
			  "lease-database": { "type": "memfile", "persist": true, "name": "$dir/kea-leases4.csv", "lfc-interval": 0 },
			  "valid-lifetime": 43200, "authoritative": true,
			  "subnet4": [ { "id": 1, "subnet": "10.91.0.0/16", "pools": [ { "pool": "$POOL_BEGIN - $POOL_END" } ] } ],
			  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$log" } ], "severity": "WARN" } ]
			} }
		KEA
		KEA_LOCKFILE_DIR=$WORK KEA_PIDFILE_DIR=$WORK ip netns exec "$NS_S" timeout 600 "$KEA" -c "$WORK/kea.json" >>"$log" 2>&1 &
		;;
	*)
		echo "unknown server $name" >&2
		exit 1
		;;
	esac
	SRV_PID=$!
	# Ready when it answers a DISCOVER (from a client MAC outside the benchmark's range).
	for _ in $(seq 40); do
		ip netns exec "$NS_C" timeout 5 "$PERFDHCP" -4 -l "$CLI_IP" -R 1 -b mac=02:99:00:00:00:01 -r 10 -n 1 -W 500000 "$SRV_IP" >"$WORK/ready.out" 2>&1 || true
		if awk '/^received packets:/ { exit !($3 > 0) }' "$WORK/ready.out"; then
			return 0 # it answered the DISCOVER
		fi
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.25
	done
	echo "bench/dhcp.sh: $name did not answer; its log and the last perfdhcp check:" >&2
	tail -n 5 "$log" >&2; cat "$WORK/ready.out" >&2
	exit 1
}

# server_rss KIND: VmRSS or VmHWM of the server process in MiB (the child of `timeout`).
server_rss() {
	local pid
	pid=$(ps -o pid= --ppid "$SRV_PID" | head -1 | tr -d ' ')
	[ -n "$pid" ] || pid=$SRV_PID
	awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

# perf OUT ARGS...: one bounded perfdhcp run from the client namespace.
perf() {
	local out=$1
	shift
	ip netns exec "$NS_C" timeout $((DUR + 30)) "$PERFDHCP" -4 -l "$CLI_IP" -R "$CLIENTS" -p "$DUR" "$@" "$SRV_IP" >"$out" 2>&1 || true
}

# phase_stats FILE SECTION: "p50 p99 n" in ms of one perfdhcp -x t timestamp section.
phase_stats() {
	awk -v sec="$2" '
		/^\*\*\*Timestamps for packets:/ { on = index($0, sec) > 0; next }
		on && /^sent \/ received:/ { printf "%.3f\n", ($6 - $4) * 1000 }
	' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - 0"; exit }
			i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999)
			printf "%.2f %.2f %d\n", v[i50], v[i99], NR
		}'
}

drops() { # drops FILE SECTION: the drop ratio perfdhcp printed for that exchange phase
	awk -v sec="$2" '/^\*\*\*Statistics for:/ { on = index($0, sec) > 0 } on && /^drops ratio:/ { print $3 + 0; exit }' "$1"
}

RES=$WORK/results.tsv
: >"$RES"
for round in $(seq "$ROUNDS"); do
	for store in $STORES; do
		for srv in $SERVERS; do
			base=$DISK
			[ "$store" = tmpfs ] && base=$SHM
			# throughput: climb the offered rates, each from an empty state directory, until
			# the server completes less than 80 % of what is offered; keep the best.
			rate=0 hwm=-
			for offered in $RATES; do
				dir=$base/$srv-$round-t$offered
				mkdir -p "$dir"
				start_server "$srv" "$dir"
				perf "$WORK/out" -r "$offered"
				got=$(awk '/^Rate:/ { print $2 + 0; exit }' "$WORK/out")
				got=${got:-0}
				if awk -v g="$got" -v r="$rate" 'BEGIN { exit !(g > r) }'; then
					rate=$got
					hwm=$(server_rss VmHWM)
				fi
				stop_server
				rm -rf "$dir"
				awk -v g="$got" -v o="$offered" 'BEGIN { exit !(g >= 0.8 * o) }' || break
			done
			# latency
			dir=$base/$srv-$round-l
			mkdir -p "$dir"
			start_server "$srv" "$dir"
			perf "$WORK/out" -r "$LAT_RATE" -x t
			read -r do50 do99 don <<<"$(phase_stats "$WORK/out" DISCOVER-OFFER)"
			read -r ra50 ra99 ran <<<"$(phase_stats "$WORK/out" REQUEST-ACK)"
			dodrop=$(drops "$WORK/out" DISCOVER-OFFER)
			radrop=$(drops "$WORK/out" REQUEST-ACK)
			stop_server
			rm -rf "$dir"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$store" "$srv" "${rate:-0}" "$hwm" \
				"$do50" "$do99" "$ra50" "$ra99" "${dodrop:--}" "${radrop:--}" >>"$RES"
			printf 'round %s %-6s %-17s %8.1f DORA/s (best)  peak RSS %5s MiB | at %s/s: D→O p50 %s p99 %s ms, R→A p50 %s p99 %s ms (n=%s/%s, drops %s%%/%s%%)\n' \
				"$round" "$store" "$srv" "${rate:-0}" "$hwm" "$LAT_RATE" "$do50" "$do99" "$ra50" "$ra99" "$don" "$ran" "${dodrop:--}" "${radrop:--}"
		done
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
col() { awk -F'\t' -v st="$1" -v sv="$2" -v c="$3" '$2 == st && $3 == sv { print $c }' "$RES" | median; }

echo
echo "## medians of $ROUNDS rounds (DORA/s: best completed rate over offered rates $RATES; latencies in ms at $LAT_RATE/s; drops: DISCOVER/REQUEST %)"
printf '| store | server | DORA/s | peak RSS MiB | D→O p50 | D→O p99 | R→A p50 | R→A p99 | drops D/R %% |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
for store in $STORES; do
	for srv in $SERVERS; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$store" "$srv" "$(col "$store" "$srv" 4)" "$(col "$store" "$srv" 5)" \
			"$(col "$store" "$srv" 6)" "$(col "$store" "$srv" 7)" "$(col "$store" "$srv" 8)" "$(col "$store" "$srv" 9)" \
			"$(col "$store" "$srv" 10)" "$(col "$store" "$srv" 11)"
	done
done
echo
for store in $STORES; do
	d=$(col "$store" dnsmasq 4)
	for srv in pxe-edge pxe-edge-noprobe; do
		case " $SERVERS " in *" $srv "*) ;; *) continue ;; esac
		case " $SERVERS " in *" dnsmasq "*) ;; *) continue ;; esac
		p=$(col "$store" "$srv" 4)
		awk -v s="$store" -v n="$srv" -v p="$p" -v d="$d" 'BEGIN { if (d > 0) printf "ratio %s/dnsmasq on %s: %.2fx (median DORA/s %s vs %s)\n", n, s, p / d, p, d }'
	done
done

if [ "$MEMORY" = 1 ]; then
	echo
	echo "## memory with 10 000 leases (state on disk; 2 s of new-client DORA at 100/s after start)"
	dir=$DISK/mem-pxe
	"$WORK/dhcp-server" -fill 10000 -begin "$POOL_BEGIN" -state-dir "$dir"
	start_server pxe-edge "$dir"
	DUR=2 perf "$WORK/out" -r 100
	echo "pxe-edge (bin/pxe-edge --dhcp): VmRSS $(server_rss VmRSS) MiB, VmHWM $(server_rss VmHWM) MiB"
	stop_server
	if case " $SERVERS " in *" dnsmasq "*) true ;; *) false ;; esac; then
		dir=$DISK/mem-dnsmasq
		mkdir -p "$dir"
		awk -v now="$(date +%s)" 'BEGIN { for (i = 0; i < 10000; i++) printf "%d 02:00:00:%02x:%02x:%02x 10.91.%d.%d node-%05d *\n", now + 43200, int(i / 65536), int(i / 256) % 256, i % 256, 1 + int(i / 254), 1 + i % 254, i }' >"$dir/dnsmasq.leases"
		start_server dnsmasq "$dir"
		DUR=2 perf "$WORK/out" -r 100
		echo "dnsmasq --no-ping: VmRSS $(server_rss VmRSS) MiB, VmHWM $(server_rss VmHWM) MiB; $(wc -l <"$dir/dnsmasq.leases") lines in its lease file"
		stop_server
	fi
fi
