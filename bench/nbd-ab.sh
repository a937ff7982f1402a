#!/usr/bin/env bash
# bench/nbd-ab.sh — A/B of several bench/nbdserve builds (pkg/nbd alone) against each other
# and nbdkit, for deciding whether a change to pkg/nbd helps before running bench/nbd.sh.
# Same lab as bench/nbd.sh (two namespaces joined by a veth pair, each server in its own
# cgroup), but only the read tests and only nbdkit as the peer, so a round takes a minute or
# two: sequential read of the image (nbdcopy to null:) and 4 KiB random reads (fio nbd,
# RAND_DEPTH in flight), servers interleaved and rotated run by run. Prints per server the
# median MiB/s, the median server CPU seconds per GiB (cgroup) and every run's MiB/s.
#
# Usage (root): BINS="/tmp/old /tmp/new" bench/nbd-ab.sh, where each is a bench/nbdserve
# binary built from the tree to compare (go build -o /tmp/new ./bench/nbdserve). Knobs:
# RUNS (5), SIZE_MB (1024), RAND_SECS (4), RAND_DEPTH (16), TESTS (seq rand), MODE (split:
# servers on CPU 0 and clients on CPU 1 as bench/nbd.sh's default; shared: nothing pinned),
# LAB_CC (every server's connections on one congestion control, as in bench/nbd.sh; without
# it nbdkit runs the kernel's default and the builds their -congestion, cubic).
set -euo pipefail

RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-1024}
RAND_SECS=${RAND_SECS:-4}
RAND_DEPTH=${RAND_DEPTH:-16}
TESTS=" ${TESTS:-seq rand} "
MODE=${MODE:-split}
read -ra BINS <<<"${BINS:?BINS: the bench/nbdserve binaries to compare}"
PATH=$PATH:/usr/sbin:/sbin

die() { echo "bench/nbd-ab.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lab.sh
. "$(dirname "$0")/lab.sh"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for c in ip taskset nbdcopy nbdinfo fio nbdkit python3; do command -v "$c" >/dev/null || die "missing $c"; done
[ "${#BINS[@]}" -le 8 ] || die "at most 8 binaries"

lab_cgroups

SCRATCH=$(mktemp -d /var/tmp/pxe-edge-nbdab.XXXXXX)
ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_S=pxet-$ID-ns # pxet- prefix: scripts/sweep-netns.sh removes leftovers
NS_C=pxet-$ID-nc
declare -A CG URI
NAMES=()
cleanup() {
	local n p
	for n in "${NAMES[@]}"; do
		for p in $(cat "${CG[$n]}/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
	sleep 0.3
	for n in "${NAMES[@]}"; do rmdir "${CG[$n]}" 2>/dev/null || true; done
	ip netns del "$NS_S" 2>/dev/null || true
	ip netns del "$NS_C" 2>/dev/null || true
	rm -rf "$SCRATCH"
}
trap cleanup EXIT INT TERM

lab_veth "nb$ID" 10.20.11 9
lab_place "$MODE"
lab_cc "$NS_S" eth0

IMG=$SCRATCH/disk.img
head -c $((SIZE_MB << 20)) /dev/urandom >"$IMG"

# start NAME ADDR-INDEX CMD...: the server joins its cgroup, then runs in the namespace.
start() {
	local n=$1 i=$2
	shift 2
	NAMES+=("$n")
	CG[$n]=$CGROOT/pxet-$ID-ab$i
	URI[$n]=nbd://10.20.11.$i/
	mkdir "${CG[$n]}"
	(echo $BASHPID >"${CG[$n]}/cgroup.procs" && exec ip netns exec "$NS_S" "${SRV_PIN[@]}" "$@") >"$SCRATCH/$i.log" 2>&1 &
	disown "$!" # stopped through its cgroup; no job-control notice when killed
}
i=1
for b in "${BINS[@]}"; do
	start "$i:$(basename "$b")" "$i" "$b" -image "$IMG" -addr "10.20.11.$i:10809"
	i=$((i + 1))
done
start nbdkit 9 nbdkit -f -i 10.20.11.9 -p 10809 -r file "$IMG"
for n in "${NAMES[@]}"; do
	ok=
	for _ in $(seq 100); do
		if C nbdinfo --size "${URI[$n]}" >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || die "$n does not answer"
	C nbdcopy "${URI[$n]}" null: # warms the page cache for all alike
done

now() { date +%s%N; }
RES=$SCRATCH/results.txt
: >"$RES"
for run in $(seq "$RUNS"); do
	k=$((run % ${#NAMES[@]}))
	for n in "${NAMES[@]:$k}" "${NAMES[@]:0:$k}"; do
		if [[ $TESTS == *" seq "* ]]; then
			c0=$(cg_usec "${CG[$n]}"); t0=$(now)
			C nbdcopy "${URI[$n]}" null:
			t1=$(now); c1=$(cg_usec "${CG[$n]}")
			echo "seq $n $((SIZE_MB << 20)) $((t1 - t0)) $((c1 - c0))" >>"$RES"
		fi
		if [[ $TESTS == *" rand "* ]]; then
			c0=$(cg_usec "${CG[$n]}")
			out=$(C fio --name=rand --ioengine=nbd --uri="${URI[$n]}" --rw=randread --bs=4k --iodepth="$RAND_DEPTH" \
				--runtime="$RAND_SECS" --time_based --output-format=terse --terse-version=3 2>/dev/null | tail -1)
			c1=$(cg_usec "${CG[$n]}")
			kib=$(echo "$out" | cut -d';' -f6)
			echo "rand $n $((${kib:-0} * 1024)) $((RAND_SECS * 1000000000)) $((c1 - c0))" >>"$RES"
		fi
	done
done

echo "MODE=$MODE$([ "$MODE" = split ] && echo ": servers on CPU 0, clients on CPU 1, RPS per side")"
python3 - "$RES" <<'PY'
import sys, statistics as st
d = {}
for line in open(sys.argv[1]):
    t, n, b, ns, us = line.split()
    b, ns, us = int(b), int(ns), int(us)
    if b == 0:
        d.setdefault((t, n), []).append((0.0, float("nan"))); continue
    d.setdefault((t, n), []).append((b / (ns / 1e9) / 2**20, us / 1e6 / (b / 2**30)))
for (t, n), v in sorted(d.items()):
    print(f"{t:5} {n:28} MiB/s {st.median(x[0] for x in v):8.1f}   CPU s/GiB {st.median(x[1] for x in v):6.3f}   by run "
          + " ".join(f"{x[0]:.0f}" for x in v))
PY
