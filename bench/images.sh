#!/usr/bin/env bash
# bench/images.sh — a large file inside an ISO served by pkg/images' handler, against the same
# bytes as a plain file (net/http's file server, sendfile) and nginx (nginx-light, sendfile)
# serving the extracted file; loopback only, interleaved round by round; prints MiB/s per
# request (median of ROUNDS) and the ratios, then checks with strace that the ISO path sends
# with sendfile.
#
#   bash bench/images.sh                  # defaults: SIZE_MIB=700 ROUNDS=7 CONNS=1
#   SIZE_MIB=200 ROUNDS=5 bash bench/images.sh
#
# Needs xorriso, nginx, curl, wrk, strace and Go. The machine is shared: compare the ratios.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-700}
ROUNDS=${ROUNDS:-7}
PORT=${PORT:-18490}
NGX_PORT=${NGX_PORT:-18491}

for c in xorriso curl go strace; do
	command -v "$c" >/dev/null || { echo "bench/images.sh: $c not found" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench/images.sh: nginx not found" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/pxe-images-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/tree/live" "$WORK/images" "$WORK/www" "$WORK/ngx/tmp"
chmod 755 "$WORK" "$WORK/www"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/tree/live/filesystem.squashfs"
xorriso -as mkisofs -quiet -R -J -V BENCH -o "$WORK/images/bench.iso" "$WORK/tree" 2>/dev/null
mv "$WORK/tree/live/filesystem.squashfs" "$WORK/www/filesystem.squashfs"
chmod 644 "$WORK/www/filesystem.squashfs"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/images-server" ./bench/images-server)

cat >"$WORK/ngx/nginx.conf" <<NGX
worker_processes auto;
daemon off;
pid $WORK/ngx/nginx.pid;
error_log $WORK/ngx/error.log warn;
events { worker_connections 1024; }
http {
	access_log /dev/null;
	sendfile on;
	tcp_nopush on;
	default_type application/octet-stream;
	client_body_temp_path $WORK/ngx/tmp;
	proxy_temp_path $WORK/ngx/tmp;
	fastcgi_temp_path $WORK/ngx/tmp;
	uwsgi_temp_path $WORK/ngx/tmp;
	scgi_temp_path $WORK/ngx/tmp;
	server { listen 127.0.0.1:$NGX_PORT; root $WORK/www; }
}
NGX
"$WORK/images-server" -images "$WORK/images" -plain "$WORK/www" -addr "127.0.0.1:$PORT" >"$WORK/srv.out" 2>&1 &
SRV=$!
PIDS+=("$SRV")
"$NGINX" -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx" >"$WORK/ngx.out" 2>&1 &
NGX=$!
PIDS+=("$NGX")
for _ in $(seq 100); do
	curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$PORT/plain/filesystem.squashfs" &&
		curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NGX_PORT/filesystem.squashfs" && break
	sleep 0.05
done

ISO_URL="http://127.0.0.1:$PORT/images/bench.iso/live/filesystem.squashfs"
PLAIN_URL="http://127.0.0.1:$PORT/plain/filesystem.squashfs"
NGX_URL="http://127.0.0.1:$NGX_PORT/filesystem.squashfs"
# The same bytes from all three, and warm page cache.
for u in "$ISO_URL" "$PLAIN_URL" "$NGX_URL"; do curl -sf "$u" | md5sum; done | sort -u | wc -l | grep -qx 1 ||
	{ echo "bench/images.sh: the three URLs serve different bytes" >&2; exit 1; }

speed() { curl -sf -o /dev/null -w '%{speed_download}' "$1" | awk '{printf "%.1f", $1 / 1048576}'; }
# cpu_ticks PID: utime+stime clock ticks of PID and its children (nginx workers).
cpu_ticks() {
	local total=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$total"
}
HZ=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "# bench/images.sh $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; SIZE_MIB=$SIZE_MIB ROUNDS=$ROUNDS, one curl at a time"
echo "# nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'); $(go version | awk '{print $3}')"
mkdir -p "$WORK/res"
for r in $(seq "$ROUNDS"); do
	case $((r % 3)) in
		0) order="iso plain ngx" ;; 1) order="plain ngx iso" ;; 2) order="ngx iso plain" ;;
	esac
	for s in $order; do
		case $s in iso) u=$ISO_URL p=$SRV ;; plain) u=$PLAIN_URL p=$SRV ;; ngx) u=$NGX_URL p=$NGX ;; esac
		t0=$(cpu_ticks "$p")
		v=$(speed "$u")
		t1=$(cpu_ticks "$p")
		echo "$v" >>"$WORK/res/$s"
		# Server CPU milliseconds per GiB sent: steadier than throughput on a busy machine.
		awk -v d=$((t1 - t0)) -v hz="$HZ" -v mib="$SIZE_MIB" 'BEGIN{printf "%.0f\n", d * 1000 / hz / (mib / 1024)}' >>"$WORK/res/cpu_$s"
		eval "v_$s=$v"
	done
	awk -v a="$v_iso" -v b="$v_plain" 'BEGIN{printf "%.3f\n", a/b}' >>"$WORK/res/r_plain"
	awk -v a="$v_iso" -v b="$v_ngx" 'BEGIN{printf "%.3f\n", a/b}' >>"$WORK/res/r_ngx"
	echo "round $r: iso $v_iso MiB/s, plain $v_plain MiB/s, nginx $v_ngx MiB/s; server CPU-ms/GiB iso $(tail -1 "$WORK/res/cpu_iso") plain $(tail -1 "$WORK/res/cpu_plain") nginx $(tail -1 "$WORK/res/cpu_ngx")"
done
printf '\nmedian MiB/s: inside ISO %s, plain file %s, nginx %s\n' "$(median <"$WORK/res/iso")" "$(median <"$WORK/res/plain")" "$(median <"$WORK/res/ngx")"
printf 'ratio inside-ISO / plain file: median %s (per round: %s)\n' "$(median <"$WORK/res/r_plain")" "$(tr '\n' ' ' <"$WORK/res/r_plain")"
printf 'ratio inside-ISO / nginx:      median %s (per round: %s)\n' "$(median <"$WORK/res/r_ngx")" "$(tr '\n' ' ' <"$WORK/res/r_ngx")"
printf 'median server CPU-ms per GiB: inside ISO %s, plain file %s, nginx %s (lower is better)\n' \
	"$(median <"$WORK/res/cpu_iso")" "$(median <"$WORK/res/cpu_plain")" "$(median <"$WORK/res/cpu_ngx")"

# sendfile check: system calls of the server during one ISO download.
strace -f -qq -c -e trace=sendfile,read,write,pread64 -p "$SRV" -o "$WORK/strace.out" &
ST=$!
sleep 0.5
curl -sf -o /dev/null "$ISO_URL"
sleep 0.2
kill -INT "$ST" 2>/dev/null || true
wait "$ST" 2>/dev/null || true
echo
echo "# server system calls during one download of the file inside the ISO (strace -c):"
grep -E 'calls|sendfile|read|write|total' "$WORK/strace.out" || true
