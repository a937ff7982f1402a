#!/usr/bin/env bash
# bench/http-strace.sh — show that pkg/http sends file bodies with sendfile(2), not a
# userspace read/write loop: runs bench/http-server under `strace -f`, fetches a 64 MiB file
# and a Range of it with curl on loopback, and counts the syscalls that touched the file.
#
#   bash bench/http-strace.sh
set -euo pipefail
for c in strace curl go; do command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }; done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/pxe-http-strace.XXXXXX)
PORT=${PORT:-18490}
SPID=
cleanup() {
	if [ -n "$SPID" ]; then kill $(pgrep -P "$SPID") "$SPID" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/www"
head -c $((64 << 20)) /dev/urandom >"$WORK/www/big.bin"
(cd "$ROOT" && go build -o "$WORK/http-server" ./bench/http-server)
strace -f -qq -e trace=sendfile,read,write,pread64,readv,writev,splice,copy_file_range -o "$WORK/trace" \
	"$WORK/http-server" -root "$WORK/www" -addr "127.0.0.1:$PORT" -status=false &
SPID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/big.bin" -r 0-0 && break; sleep 0.1; done
: >"$WORK/trace.mark"
curl -s -o /dev/null -w 'GET full:  %{http_code} %{size_download} bytes\n' "http://127.0.0.1:$PORT/big.bin"
curl -s -o /dev/null -w 'GET range: %{http_code} %{size_download} bytes\n' -r 1000-20000000 "http://127.0.0.1:$PORT/big.bin"
sleep 0.5
# Stop the traced server (strace's child); strace exits with it.
kill $(pgrep -P "$SPID") 2>/dev/null || true
wait "$SPID" 2>/dev/null || true
SPID=
# The file is the fd that sendfile reads from; count what else touched it.
ffd=$(awk '/sendfile\(/ {sub(/.*sendfile\([0-9]+, /, ""); sub(/,.*/, ""); print; exit}' "$WORK/trace")
echo "file fd: ${ffd:-none}"
awk -v f="$ffd" '
	/sendfile\(/ { n++ }
	/sendfile/ { if ($NF ~ /^[0-9]+$/) b += $NF } # also "<... sendfile resumed>) = N"
	$0 ~ "read\\(" f "," || $0 ~ "pread64\\(" f "," { r++; if ($NF ~ /^[0-9]+$/) rb += $NF }
	END {
		printf "sendfile calls: %d, bytes: %d\n", n, b
		printf "read/pread64 on the file: %d calls, %d bytes\n", r, rb
	}' "$WORK/trace"
echo "(the 1-byte read is the start-up probe's Range 0-0; each full/range response reads 512 bytes)"
echo "largest write(2) calls (headers + the first 512 body bytes net/http copies before switching to sendfile):"
grep -E '^[0-9]+ +write\(' "$WORK/trace" | awk '{print $NF}' | sort -n | tail -3 | sed 's/^/  /'
