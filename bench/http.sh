#!/usr/bin/env bash
# bench/http.sh — pxe-edge's HTTP server (pkg/http via bench/http-server) against nginx
# (nginx-light) serving the same 4 MiB and 64 MiB files on loopback, interleaved run by run;
# prints req/s, MB/s, the pxe-edge/nginx ratio (median of ROUNDS), and the peak RSS (VmHWM)
# of each server after WRK_BIG concurrent connections.
#
#   bash bench/http.sh                 # defaults: ROUNDS=5 DUR=8 CONNS=16 CONNS_BIG=4 WRK_BIG=200
#   ROUNDS=3 DUR=5 bash bench/http.sh
#   PXE_BIN=bin/pxe-edge bash bench/http.sh   # the real daemon (`--http --no-tftp`, no DHCP)
#                                             # instead of bench/http-server; its connection
#                                             # cap is the default 64, so at WRK_BIG=200 the
#                                             # rest wait in the accept queue; its per-client
#                                             # cap (8 by default) must allow CONNS from one
#                                             # address: the script passes
#                                             # --http-max-conns-per-client 256 when the binary
#                                             # knows the flag
#
# Needs wrk and nginx (Debian: wrk, nginx-light) and Go. Loopback only. The machine is shared
# and has two cores that wrk also uses: compare the ratios, not the absolute figures.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DUR=${DUR:-8}
CONNS=${CONNS:-16}       # connections for 4m.bin
CONNS_BIG=${CONNS_BIG:-4} # connections for 64m.bin
WRK_BIG=${WRK_BIG:-200}
PXE_PORT=${PXE_PORT:-18480}
NGX_PORT=${NGX_PORT:-18481}

for c in wrk nginx go; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "bench/http.sh: $c not found" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/pxe-http-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

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

cat >"$WORK/ngx/nginx.conf" <<NGX
worker_processes auto;
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
		listen 127.0.0.1:$NGX_PORT;
		root $WORK/www;
	}
}
NGX
mkdir -p "$WORK/ngx/tmp"

SRV_PID=
start_pxe() {
	if [ -n "$PXE_BIN" ]; then
		# Access log to /dev/null like the others: the daemon logs to stderr.
		"$PXE_BIN" --http --no-tftp --http-port "$PXE_PORT" --http-server-ip 127.0.0.1 -a "$WORK/www" $PXE_EXTRA >/dev/null 2>&1 &
	else
		"$WORK/http-server" -root "$WORK/www" -addr "127.0.0.1:$PXE_PORT" -max-conns 256 -log /dev/null >"$WORK/pxe.out" 2>&1 &
	fi
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_port "$PXE_PORT"
}
start_ngx() {
	"$NGINX" -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx" >"$WORK/ngx.out" 2>&1 &
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
		curl -s -o /dev/null "http://127.0.0.1:$1/4m.bin" -r 0-0 && return 0
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
# cpu_ticks PID: utime+stime clock ticks of PID and its live children (nginx workers).
cpu_ticks() {
	local total=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}
# run_wrk PORT FILE CONNS → "requests/sec MiB/s wrk-CPU-seconds"
run_wrk() {
	local out cpu
	# wrk's own CPU (user+sys) from bash's `times` in a subshell whose only child is wrk.
	out=$(
		wrk -t2 -c"$3" -d"${DUR}s" "http://127.0.0.1:$1/$2"
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

echo "# bench/http.sh $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; ROUNDS=$ROUNDS DUR=${DUR}s CONNS=$CONNS CONNS_BIG=$CONNS_BIG"
echo "# pxe-edge: ${PXE_BIN:-bench/http-server (pkg/http alone, -max-conns 256)}"
echo "# nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
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
			res=$(run_wrk "$([ "$s" = pxe ] && echo "$PXE_PORT" || echo "$NGX_PORT")" "$f" "$c")
			t1=$(cpu_ticks "$SRV_PID")
			stop_srv
			# CPU milliseconds per GiB sent, of the server and of the client (wrk): steadier
			# than throughput on a busy box. On loopback the kernel does the receiver's TCP
			# work in whichever process sends a segment, so the server's figure alone moves
			# with how sends and reads interleave; the sum is the machine's cost per GiB.
			cpg=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v mibs="$(awk '{print $2}' <<<"$res")" -v dur="$DUR" \
				-v w="$(awk '{print $3}' <<<"$res")" \
				'BEGIN {gib = mibs * dur / 1024; if (gib <= 0) gib = 1e-9; printf "%.0f %.0f", d * 1000 / hz / gib, w * 1000 / gib}')
			echo "$(awk '{print $1, $2}' <<<"$res") $cpg" >>"$WORK/$s.$f"
			echo "round $r $s $f -c$c: $(awk '{printf "%s req/s, %s MiB/s, server %s + wrk %s CPU-ms/GiB", $1, $2, $3, $4}' <<<"$(tail -1 "$WORK/$s.$f")")"
		done
		# The ratio of the two adjacent runs: both saw about the same machine.
		paste -d' ' <(tail -1 "$WORK/pxe.$f") <(tail -1 "$WORK/ngx.$f") |
			awk '{print ($6 > 0 ? $2/$6 : 0), ($7 > 0 ? $3/$7 : 0), ($7 + $8 > 0 ? ($3 + $4)/($7 + $8) : 0)}' >>"$WORK/ratio.$f"
	done
done

printf '\n%-8s %9s %9s %7s %13s %13s %9s %13s %9s\n' file "pxe MiB/s" "ngx MiB/s" "ratio" "pxe srv+wrk" "ngx srv+wrk" "srv ratio" "srv+wrk ratio" "rounds"
for f in 4m.bin 64m.bin; do
	p=$(awk '{print $2}' "$WORK/pxe.$f" | median)
	n=$(awk '{print $2}' "$WORK/ngx.$f" | median)
	pc=$(awk '{print $3}' "$WORK/pxe.$f" | median)
	pw=$(awk '{print $4}' "$WORK/pxe.$f" | median)
	nc=$(awk '{print $3}' "$WORK/ngx.$f" | median)
	nw=$(awk '{print $4}' "$WORK/ngx.$f" | median)
	q=$(awk '{print $1}' "$WORK/ratio.$f" | median)
	qs=$(awk '{print $2}' "$WORK/ratio.$f" | median)
	qt=$(awk '{print $3}' "$WORK/ratio.$f" | median)
	printf '%-8s %9s %9s %7.2f %13s %13s %9.2f %13.2f %9s\n' "$f" "$p" "$n" "$q" "$pc+$pw" "$nc+$nw" "$qs" "$qt" "$ROUNDS"
	printf '         per-round throughput ratios: %s\n' "$(awk '{printf "%.2f ", $1}' "$WORK/ratio.$f")"
	printf '         per-round server CPU/GiB ratios: %s\n' "$(awk '{printf "%.2f ", $2}' "$WORK/ratio.$f")"
	printf '         per-round server+wrk CPU/GiB ratios: %s\n' "$(awk '{printf "%.2f ", $3}' "$WORK/ratio.$f")"
done
echo "(MiB/s: median over rounds; ratio: median of per-round pxe-edge/nginx ratios, >1 = pxe-edge faster;"
echo " srv+wrk: CPU-ms per GiB sent of the server and of wrk, medians; CPU ratios: pxe-edge/nginx per round, median, <1 = pxe-edge cheaper)"

echo
echo "# peak RSS (VmHWM) after wrk -c$WRK_BIG on 4m.bin for ${DUR}s (fresh server each)"
[ "$WRK_BIG" -gt 0 ] && for s in pxe ngx; do
	"start_$s"
	port=$([ "$s" = pxe ] && echo "$PXE_PORT" || echo "$NGX_PORT")
	rps=$(run_wrk "$port" 4m.bin "$WRK_BIG" | awk '{print $1}')
	kib=$(hwm "$SRV_PID")
	name=$([ "$s" = pxe ] && echo pxe-edge || echo "nginx (master+workers)")
	printf '%-24s VmHWM %6.1f MiB  (%s req/s at %d connections)\n' "$name" "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "$rps" "$WRK_BIG"
	stop_srv
done
