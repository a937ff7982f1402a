#!/usr/bin/env bash
# bench/http.sh — pxe-edge's HTTP server (pkg/http via bench/http-server) against nginx
# (nginx-light) serving the same 4 MiB and 64 MiB files, interleaved run by run; prints
# req/s, MB/s, the pxe-edge/nginx ratio (median of ROUNDS), CPU per GiB, and the peak RSS
# (VmHWM) of each server after WRK_BIG concurrent connections.
#
#   bash bench/http.sh                 # defaults: MODE=netns ROUNDS=5 DUR=8 CONNS=16 CONNS_BIG=4 WRK_BIG=200
#   MODE=loopback bash bench/http.sh   # both ends on 127.0.0.1, unpinned (the earlier method)
#   MODE="netns loopback" bash bench/http.sh   # one mode after the other
#   ROUNDS=3 DUR=5 bash bench/http.sh
#   LAB_CC=cubic bash bench/http.sh   # every server's connections on cubic (netns mode), like
#                                     # for like; by default nginx has the kernel's default and
#                                     # pxe-edge its --tcp-congestion (cubic); PXE_CC=system
#                                     # gives pxe-edge the kernel's default too
#   PXE_BIN=bin/pxe-edge bash bench/http.sh   # the real daemon (`--http --no-tftp`, no DHCP)
#                                             # instead of bench/http-server; its connection
#                                             # cap is the default 64, so at WRK_BIG=200 the
#                                             # rest wait in the accept queue; its per-client
#                                             # cap (8 by default) must allow CONNS from one
#                                             # address: the script passes
#                                             # --http-max-conns-per-client 256 when the binary
#                                             # knows the flag
#
# MODE=netns (needs root) puts the server in one network namespace and wrk in another, joined
# by a veth pair the script creates (10.30.N.0/24, deleted on exit), the server pinned to
# CPU 0 and wrk to CPU 1, and RPS steering each side's receive processing to its own CPU: the
# client's CPU takes the data segments in, the server's CPU takes the ACKs, as on a LAN. On
# loopback the receiver's TCP work runs in whichever process sent the segment, so the server's
# CPU figure there moves with how sends and reads interleave (docs/bench/http.md). In netns
# mode nginx runs one worker, the same one-CPU budget as pxe-edge (GOMAXPROCS follows the
# affinity mask), and the script also prints CPU 0's whole busy time per GiB (softirq taken
# while the server sleeps lands in no process) and the NET_RX softirqs per CPU.
#
# Needs wrk and nginx (Debian: wrk, nginx-light) and Go; netns mode also ip(8) and taskset.
# The machine is shared and has two cores: compare the ratios, not the absolute figures.
set -euo pipefail
# shellcheck source=bench/lab.sh
. "$(dirname "$0")/lab.sh" # lab_pair

MODE=${MODE:-netns}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-8}
CONNS=${CONNS:-16}       # connections for 4m.bin
CONNS_BIG=${CONNS_BIG:-4} # connections for 64m.bin
WRK_BIG=${WRK_BIG:-200}
PXE_PORT=${PXE_PORT:-18480}
NGX_PORT=${NGX_PORT:-18481}

for m in $MODE; do
	[ "$m" = netns ] || [ "$m" = loopback ] || { echo "bench/http.sh: MODE must be netns and/or loopback, not $m" >&2; exit 1; }
done
for c in wrk nginx go $([[ $MODE == *netns* ]] && echo ip taskset); do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "bench/http.sh: $c not found" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/pxe-http-bench.XXXXXX)
PIDS=()
# The namespaces of netns mode, named for this run so parallel runs do not collide.
NS_S=pxeb-http-$$-s
NS_C=pxeb-http-$$-c
IF_S=pxbhs$$
IF_C=pxbhc$$
NET=10.30.$(($$ % 200 + 20))
NS_UP=
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$NS_UP" ]; then
		for ns in "$NS_S" "$NS_C"; do
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
			ip netns del "$ns" 2>/dev/null || true
		done
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/www" "$WORK/ngx"
chmod 755 "$WORK" "$WORK/www" # nginx workers run as nobody
head -c $((4 << 20)) /dev/urandom >"$WORK/www/4m.bin"
head -c $((64 << 20)) /dev/urandom >"$WORK/www/64m.bin"

(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/http-server" ./bench/http-server)
PXE_BIN=${PXE_BIN:-}
PXE_EXTRA=
if [ -n "$PXE_BIN" ]; then
	PXE_BIN=$(cd "$ROOT" && realpath "$PXE_BIN")
	if "$PXE_BIN" --help 2>&1 | grep -q -- '--http-max-conns-per-client'; then
		PXE_EXTRA="--http-max-conns 256 --http-max-conns-per-client 256"
	fi
fi

# ngx_conf ADDR WORKERS: nginx's config for one mode.
ngx_conf() {
	cat >"$WORK/ngx/nginx.conf" <<NGX
worker_processes $2;
daemon off;
master_process on;
pid $WORK/ngx/nginx.pid;
error_log $WORK/ngx/error.log warn;
events { worker_connections 1024; }
http {
	access_log /dev/null;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	client_body_temp_path $WORK/ngx/tmp;
	proxy_temp_path $WORK/ngx/tmp;
	fastcgi_temp_path $WORK/ngx/tmp;
	uwsgi_temp_path $WORK/ngx/tmp;
	scgi_temp_path $WORK/ngx/tmp;
	server {
		listen $1:$NGX_PORT;
		root $WORK/www;
	}
}
NGX
}
mkdir -p "$WORK/ngx/tmp"

# netns_up: the two namespaces, the veth pair between them, and RPS on each end.
netns_up() {
	[ "$(id -u)" = 0 ] || { echo "bench/http.sh: MODE=netns needs root (or MODE=loopback)" >&2; exit 1; }
	NS_UP=1
	lab_pair "$NS_S" "$IF_S" "$NET.1/24" "$NS_C" "$IF_C" "$NET.2/24"
	# A veth transmit queues the packet on the receiving device's backlog; RPS picks the CPU
	# that runs its NET_RX softirq: the server's device (ACKs in) on CPU 0, the client's
	# (data in) on CPU 1. `ip netns exec` mounts the namespace's own /sys.
	ip netns exec "$NS_S" sh -c "echo 1 >/sys/class/net/$IF_S/queues/rx-0/rps_cpus"
	ip netns exec "$NS_C" sh -c "echo 2 >/sys/class/net/$IF_C/queues/rx-0/rps_cpus"
	lab_cc "$NS_S" "$IF_S"
}

# set_mode MODE: the address, the wrappers that place each side, and nginx's workers.
set_mode() {
	case $1 in
	loopback)
		ADDR=127.0.0.1
		SRV_RUN=()
		CLI_RUN=()
		ngx_conf "$ADDR" auto
		;;
	netns)
		[ -n "$NS_UP" ] || netns_up
		ADDR=$NET.1
		# ip netns exec and taskset both exec, so $! is the server itself.
		SRV_RUN=(ip netns exec "$NS_S" taskset -c 0)
		CLI_RUN=(ip netns exec "$NS_C" taskset -c 1)
		ngx_conf "$ADDR" 1
		;;
	*)
		echo "bench/http.sh: MODE must be netns and/or loopback, not $1" >&2
		exit 1
		;;
	esac
}

SRV_PID=
start_pxe() {
	if [ -n "$PXE_BIN" ]; then
		# Access log to /dev/null like the others: the daemon logs to stderr.
		"${SRV_RUN[@]}" "$PXE_BIN" --http --no-tftp --http-port "$PXE_PORT" --http-server-ip "$ADDR" -a "$WORK/www" $PXE_EXTRA \
			${PXE_CC:+--tcp-congestion "$PXE_CC"} >/dev/null 2>&1 &
	else
		"${SRV_RUN[@]}" "$WORK/http-server" -root "$WORK/www" -addr "$ADDR:$PXE_PORT" -max-conns 256 -log /dev/null \
			${PXE_CC:+-congestion "$PXE_CC"} >"$WORK/pxe.out" 2>&1 &
	fi
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_port "$PXE_PORT"
}
start_ngx() {
	"${SRV_RUN[@]}" "$NGINX" -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx" >"$WORK/ngx.out" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_port "$NGX_PORT"
}
stop_srv() {
	kill "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
}
wait_port() {
	for _ in $(seq 100); do
		"${CLI_RUN[@]}" curl -s -o /dev/null "http://$ADDR:$1/4m.bin" -r 0-0 && return 0
		sleep 0.05
	done
	echo "server on port $1 did not start" >&2
	exit 1
}
# hwm PID: peak RSS in KiB of PID and its children (nginx master + workers).
hwm() {
	local total=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status")))
	done
	echo "$total"
}
# cpu_ticks PID: utime+stime clock ticks of PID (all its threads) and its live children
# (nginx workers).
cpu_ticks() {
	local total=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}
# cpu_state: busy ticks of CPU 0 and CPU 1 (everything but idle and iowait) and their NET_RX
# softirq counts.
cpu_state() {
	awk '$1 == "cpu0" || $1 == "cpu1" {printf "%d ", $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
	awk '$1 == "NET_RX:" {printf "%d %d", $2, $3}' /proc/softirqs
}
# run_wrk PORT FILE CONNS → "requests/sec MiB/s wrk-CPU-seconds"
run_wrk() {
	local out cpu
	# wrk's own CPU (user+sys) from bash's `times` in a subshell whose only child is wrk.
	out=$(
		"${CLI_RUN[@]}" wrk -t2 -c"$3" -d"${DUR}s" "http://$ADDR:$1/$2"
		times >"$WORK/times"
	)
	if grep -q 'Non-2xx' <<<"$out"; then
		echo "bench/http.sh: error responses from port $1:" >&2
		echo "$out" >&2
		exit 1
	fi
	# Transfer/sec counts every byte read, also of responses still running when the run
	# ends; with 64 MiB bodies requests/sec alone is quantised to a handful of completions.
	awk '/^Requests\/sec:/ {r = $2}
		/^Transfer\/sec:/ {v = $2; m = 1
			if (v ~ /GB$/) m = 1024; else if (v ~ /KB$/) m = 1 / 1024; else if (v ~ /[0-9]B$/) m = 1 / 1048576
			sub(/[KMG]?B$/, "", v); t = v * m}
		END {printf "%s %.1f", r, t}' <<<"$out"
	cpu=$(tail -1 "$WORK/times" | awk '{n = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); n += a[1] * 60 + a[2]}; print n}')
	echo " $cpu"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "# bench/http.sh $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); MODE=\"$MODE\" ROUNDS=$ROUNDS DUR=${DUR}s CONNS=$CONNS CONNS_BIG=$CONNS_BIG"
echo "# pxe-edge: ${PXE_BIN:-bench/http-server (pkg/http alone, -max-conns 256)}"
echo "# nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
HZ=$(getconf CLK_TCK)
for mode in $MODE; do
	set_mode "$mode"
	echo
	case $mode in
	netns) echo "## netns: server on CPU 0 in $NS_S ($ADDR), wrk on CPU 1 in $NS_C, RPS per side; nginx 1 worker" ;;
	loopback) echo "## loopback: 127.0.0.1, nothing pinned; nginx worker_processes auto" ;;
	esac
	for f in 4m.bin 64m.bin; do
		: >"$WORK/pxe.$f" && : >"$WORK/ngx.$f" && : >"$WORK/ratio.$f"
	done
	for r in $(seq "$ROUNDS"); do
		# Alternate who goes first so drift on the shared machine hits both equally.
		if [ $((r % 2)) -eq 1 ]; then order="pxe ngx"; else order="ngx pxe"; fi
		for f in 4m.bin 64m.bin; do
			c=$([ "$f" = 4m.bin ] && echo "$CONNS" || echo "$CONNS_BIG")
			for s in $order; do
				"start_$s"
				t0=$(cpu_ticks "$SRV_PID")
				c0=$(cpu_state)
				res=$(run_wrk "$([ "$s" = pxe ] && echo "$PXE_PORT" || echo "$NGX_PORT")" "$f" "$c")
				c1=$(cpu_state)
				t1=$(cpu_ticks "$SRV_PID")
				stop_srv
				# CPU milliseconds per GiB sent: of the server process, of wrk, and of CPU 0
				# as a whole; steadier than throughput on a busy box. On loopback the kernel
				# does the receiver's TCP work in whichever process sends a segment, so the
				# server's figure alone moves with how sends and reads interleave, and the
				# server+wrk sum is the machine's cost per GiB; CPU 0 means something only in
				# netns mode, where the server has it to itself.
				line=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v res="$res" -v c0="$c0" -v c1="$c1" -v dur="$DUR" '
					BEGIN {split(res, x, " "); split(c0, a, " "); split(c1, b, " ")
						gib = x[2] * dur / 1024; if (gib <= 0) gib = 1e-9
						printf "%s %s %.0f %.0f %.0f %d %d", x[1], x[2], d * 1000 / hz / gib, x[3] * 1000 / gib,
							(b[1] - a[1]) * 1000 / hz / gib, (b[3] - a[3]) / dur, (b[4] - a[4]) / dur}')
				echo "$line" >>"$WORK/$s.$f"
				echo "round $r $s $f -c$c: $(awk '{printf "%s req/s, %s MiB/s, server %s + wrk %s CPU-ms/GiB, CPU0 %s CPU-ms/GiB, NET_RX/s cpu0 %s cpu1 %s", $1, $2, $3, $4, $5, $6, $7}' <<<"$line")"
			done
			# The ratio of the two adjacent runs: both saw about the same machine.
			paste -d' ' <(tail -1 "$WORK/pxe.$f") <(tail -1 "$WORK/ngx.$f") |
				awk '{print ($9 > 0 ? $2/$9 : 0), ($10 > 0 ? $3/$10 : 0), ($10 + $11 > 0 ? ($3 + $4)/($10 + $11) : 0), ($12 > 0 ? $5/$12 : 0)}' >>"$WORK/ratio.$f"
		done
	done

	printf '\n%-8s %9s %9s %7s %13s %13s %9s %13s %9s %9s\n' file "pxe MiB/s" "ngx MiB/s" "ratio" "pxe srv+wrk" "ngx srv+wrk" "srv ratio" "srv+wrk ratio" "CPU0 p/n" "CPU0 ratio"
	for f in 4m.bin 64m.bin; do
		col() { awk -v c="$2" '{print $c}' "$1" | median; }
		printf '%-8s %9s %9s %7.2f %13s %13s %9.2f %13.2f %9s %9.2f\n' "$f" "$(col "$WORK/pxe.$f" 2)" "$(col "$WORK/ngx.$f" 2)" \
			"$(col "$WORK/ratio.$f" 1)" "$(col "$WORK/pxe.$f" 3)+$(col "$WORK/pxe.$f" 4)" "$(col "$WORK/ngx.$f" 3)+$(col "$WORK/ngx.$f" 4)" \
			"$(col "$WORK/ratio.$f" 2)" "$(col "$WORK/ratio.$f" 3)" "$(col "$WORK/pxe.$f" 5)/$(col "$WORK/ngx.$f" 5)" "$(col "$WORK/ratio.$f" 4)"
		printf '         per-round throughput ratios: %s\n' "$(awk '{printf "%.2f ", $1}' "$WORK/ratio.$f")"
		printf '         per-round server CPU/GiB ratios: %s\n' "$(awk '{printf "%.2f ", $2}' "$WORK/ratio.$f")"
		printf '         per-round server+wrk CPU/GiB ratios: %s\n' "$(awk '{printf "%.2f ", $3}' "$WORK/ratio.$f")"
		printf '         per-round CPU0 CPU/GiB ratios: %s\n' "$(awk '{printf "%.2f ", $4}' "$WORK/ratio.$f")"
	done
	echo "(MiB/s: median over rounds; ratio: median of per-round pxe-edge/nginx ratios, >1 = pxe-edge faster;"
	echo " srv+wrk: CPU-ms per GiB sent of the server and of wrk, medians; CPU0: CPU 0's busy ms per GiB;"
	echo " CPU ratios: pxe-edge/nginx per round, median, <1 = pxe-edge cheaper)"
done

# WRK_BIG=0 skips the memory test; as the script's last command a false test would also have
# been its exit status.
[ "$WRK_BIG" -gt 0 ] || exit 0
echo
echo "# peak RSS (VmHWM) after wrk -c$WRK_BIG on 4m.bin for ${DUR}s (fresh server each; last mode: $mode)"
for s in pxe ngx; do
	"start_$s"
	port=$([ "$s" = pxe ] && echo "$PXE_PORT" || echo "$NGX_PORT")
	rps=$(run_wrk "$port" 4m.bin "$WRK_BIG" | awk '{print $1}')
	kib=$(hwm "$SRV_PID")
	name=$([ "$s" = pxe ] && echo pxe-edge || echo "nginx (master+workers)")
	printf '%-24s VmHWM %6.1f MiB  (%s req/s at %d connections)\n' "$name" "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "$rps" "$WRK_BIG"
	stop_srv
done
