#!/usr/bin/env bash
# bench/nbd.sh — pxe-edge's NBD server (pkg/nbd) side by side with nbd-server, nbdkit (file
# plugin) and qemu-nbd, serving the same image over a veth pair between two namespaces this
# script creates, servers interleaved run by run. Prints medians and pxe-edge/best-peer
# ratios for: sequential read of the whole image (nbdcopy to null:), 4 KiB random reads
# (fio's nbd engine), copy-on-write writes (nbdcopy of a file into the export, each server
# in its own COW mode: pxe-edge overlays, nbd-server copyonwrite, nbdkit --filter=cow,
# qemu-nbd -s), server CPU per GiB moved (from a cgroup per server, children included), and
# peak server memory with CLIENTS concurrent clients. KEEP_RESULTS=FILE keeps the raw
# per-run lines (test, server, bytes, ns, CPU µs).
#
# MODE=split (the default) places client and server as two machines on a LAN would be, as
# bench/http.sh's netns mode does: every server pinned to CPU 0, every client to CPU 1, and RPS
# steering each side's receive processing to its own CPU (data segments in on the client's,
# ACKs and requests on the server's); it needs two CPUs. MODE=shared, the earlier method,
# leaves every process unpinned: client and server share both CPUs, so the figure holds the
# client's work as much as the server's (nbdcopy's receive copy costs about what a whole server
# does) and moves with how the host schedules the two (docs/bench/nbd.md).
#
# Needs root, iproute2, util-linux (taskset), libnbd-bin (nbdcopy, nbdinfo), fio, nbd-server,
# nbdkit, qemu-utils, python3, go. Knobs (environment): SIZE_MB (1024) image size, RUNS (3) runs per test and
# server, RAND_SECS (10) and RAND_DEPTH (16) for random reads, COW_MB (256) data written per
# COW run, CLIENTS (20) for the memory test, TESTS (seq rand rss cow: a subset), MODE (split or
# shared, above), PXE_EDGE (a pxe-edge binary with NBD wired into the daemon; default:
# bench/nbdserve, pkg/nbd alone), LAB_CC (every server's connections on this congestion
# control; by default the peers have the kernel's and pxe-edge its --tcp-congestion, cubic),
# PXE_CC (pxe-edge's --tcp-congestion; system = the kernel's), COW_FS (tmpfs: every server's
# overlay on a tmpfs this script mounts, so the COW test measures the servers and not this
# VM's disk; disk: under /var/tmp, where nbdkit and qemu-nbd put theirs by default). The
# machine is shared and noisy: compare the ratios of one run, not absolute figures across runs.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
RAND_SECS=${RAND_SECS:-10}
RAND_DEPTH=${RAND_DEPTH:-16}
COW_MB=${COW_MB:-256}
CLIENTS=${CLIENTS:-20}
TESTS=" ${TESTS:-seq rand rss cow} "
MODE=${MODE:-split}
COW_FS=${COW_FS:-tmpfs}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

die() { echo "bench/nbd.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lab.sh
. "$(dirname "$0")/lab.sh"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for c in ip taskset nbdcopy nbdinfo fio nbd-server nbdkit qemu-nbd python3 go; do
	command -v "$c" >/dev/null || die "missing $c (Debian: util-linux libnbd-bin fio nbd-server nbdkit qemu-utils python3; Go)"
done

SCRATCH=$(mktemp -d /var/tmp/pxe-edge-nbdbench.XXXXXX)
chmod 755 "$SCRATCH"
# COW: where every server's overlay goes in the COW test (pxe-edge's state dir, nbdkit's and
# qemu-nbd's TMPDIR, nbd-server's .diff beside the export's path, a link to the image).
COW=$SCRATCH/cow
mkdir "$COW"
ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_S=pxet-$ID-ns # pxet- prefix: scripts/sweep-netns.sh removes leftovers
NS_C=pxet-$ID-nc
declare -A IP PID CG URI
SERVERS=(pxe-edge nbd-server nbdkit qemu-nbd)
PEERS=(nbd-server nbdkit qemu-nbd)
IP[pxe-edge]=10.20.10.1
IP[nbd-server]=10.20.10.2
IP[nbdkit]=10.20.10.3
IP[qemu-nbd]=10.20.10.4
URI[pxe-edge]=nbd://10.20.10.1/
URI[nbd-server]=nbd://10.20.10.2/disk
URI[nbdkit]=nbd://10.20.10.3/
URI[qemu-nbd]=nbd://10.20.10.4/disk

lab_cgroups
for s in "${SERVERS[@]}"; do CG[$s]=$CGROOT/pxet-$ID-$s; done

stop_servers() {
	local s p
	for s in "${SERVERS[@]}"; do
		[ -n "${PID[$s]:-}" ] || continue
		for p in $(cat "${CG[$s]}/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	sleep 0.3
	for s in "${SERVERS[@]}"; do
		for p in $(cat "${CG[$s]}/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		PID[$s]=
	done
	sleep 0.2
}
cleanup() {
	stop_servers
	for ns in "$NS_C" "$NS_S"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	for s in "${SERVERS[@]}"; do rmdir "${CG[$s]}" 2>/dev/null || true; done
	umount "$COW" 2>/dev/null || true
	rm -rf "$SCRATCH"
}
trap cleanup EXIT INT TERM
for s in "${SERVERS[@]}"; do mkdir "${CG[$s]}" || die "cannot create cgroup ${CG[$s]}"; done
case $COW_FS in
tmpfs) mount -t tmpfs -o size=$((COW_MB * 2 + 64))m,mode=755 pxe-edge-nbdbench "$COW" || die "cannot mount a tmpfs on $COW" ;;
disk) ;;
*) die "COW_FS must be tmpfs or disk, not $COW_FS" ;;
esac

if [ -n "${PXE_EDGE:-}" ]; then
	PXE_KIND="pxe-edge ($PXE_EDGE)"
else
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$SCRATCH/nbdserve" ./bench/nbdserve) || die "build failed"
	PXE_KIND="bench/nbdserve (pkg/nbd alone)"
fi

# --- lab ----------------------------------------------------------------------------------
lab_veth "nb$ID" 10.20.10 4
lab_place "$MODE"
lab_cc "$NS_S" eth0

IMG=$SCRATCH/disk.img
head -c $((SIZE_MB << 20)) /dev/urandom >"$IMG"
head -c $((COW_MB << 20)) /dev/urandom >"$SCRATCH/write.bin"
SUM=$(sha256sum <"$IMG" | cut -d' ' -f1)

# start_servers ro|cow [SERVER...]: the servers named (default all), each on its own address
# and attached to its cgroup so its CPU time (children included) and processes are accounted
# and stopped alike.
start_servers() {
	local mode=$1 s
	shift
	local list=("$@")
	[ ${#list[@]} -gt 0 ] || list=("${SERVERS[@]}")
	rm -rf "${COW:?}"/*
	mkdir "$COW/ov"
	ln -s "$IMG" "$COW/disk.img"
	cat >"$SCRATCH/nbd-server.conf" <<CONF
[generic]
listenaddr = ${IP[nbd-server]}
port = 10809
[disk]
$(if [ "$mode" = ro ]; then echo "exportname = $IMG"; echo "readonly = true"; echo "splice = true"; else echo "exportname = $COW/disk.img"; echo "copyonwrite = true"; fi)
CONF
	for s in "${list[@]}"; do
		case $s in
		pxe-edge)
			if [ -n "${PXE_EDGE:-}" ]; then
				set -- "$PXE_EDGE" --netboot-dir "$SCRATCH" --no-tftp --state-dir "$COW/ov" --nbd "$IMG" \
					--nbd-server "${IP[$s]}" --nbd-port 10809 ${PXE_CC:+--tcp-congestion "$PXE_CC"}
				[ "$mode" = ro ] || set -- "$@" --nbd-write
			else
				set -- "$SCRATCH/nbdserve" -image "$IMG" -addr "${IP[$s]}:10809" -overlays "$COW/ov" ${PXE_CC:+-congestion "$PXE_CC"}
				[ "$mode" = ro ] || set -- "$@" -write
			fi
			;;
		nbd-server) set -- nbd-server -C "$SCRATCH/nbd-server.conf" ;; # daemonizes; the cgroup keeps track
		nbdkit)
			set -- nbdkit -f -i "${IP[$s]}" -p 10809
			if [ "$mode" = ro ]; then set -- "$@" -r file "$IMG"; else set -- "$@" --filter=cow file "$IMG"; fi
			;;
		qemu-nbd)
			set -- qemu-nbd -f raw -b "${IP[$s]}" -p 10809 -x disk -e 0 -t
			if [ "$mode" = ro ]; then set -- "$@" -r "$IMG"; else set -- "$@" -s "$IMG"; fi
			;;
		esac
		# A subshell joins the cgroup first, then execs the server inside the namespace, so
		# the server and everything it forks are counted from the start.
		(echo $BASHPID >"${CG[$s]}/cgroup.procs" && exec ip netns exec "$NS_S" env TMPDIR="$COW" "${SRV_PIN[@]}" "$@") >"$SCRATCH/$s.log" 2>&1 &
		PID[$s]=$!
		disown "$!" # stopped through its cgroup; no job-control notice when killed
	done
	for s in "${list[@]}"; do
		local ok=
		for _ in $(seq 100); do
			if C nbdinfo --size "${URI[$s]}" >/dev/null 2>&1; then ok=1; break; fi
			sleep 0.1
		done
		[ -n "$ok" ] || { cat "$SCRATCH/$s.log" >&2; die "$s does not answer ($mode)"; }
	done
}

RESULTS=$SCRATCH/results.txt
: >"$RESULTS"
now() { date +%s%N; }
cpu_us() { cg_usec "${CG[$1]}"; }
# rss_kib SERVER: summed VmRSS of every process in the server's cgroup.
rss_kib() {
	local p t=0 r
	for p in $(cat "${CG[$1]}/cgroup.procs"); do
		r=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
		t=$((t + ${r:-0}))
	done
	echo "$t"
}
order() { # ROUND: the servers rotated so none always goes first
	local k=$(($1 % ${#SERVERS[@]}))
	echo "${SERVERS[@]:$k}" "${SERVERS[@]:0:$k}"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(now)
start_servers ro
# Every server must serve the right bytes before anything is timed; this also warms the
# page cache for all alike.
for s in "${SERVERS[@]}"; do
	[ "$(C nbdcopy "${URI[$s]}" - | sha256sum | cut -d' ' -f1)" = "$SUM" ] || die "$s served wrong data"
done

for run in $(seq "$RUNS"); do
	for s in $(order "$run"); do
		# Sequential read of the whole image: nbdcopy's defaults (multi-conn when offered).
		c0=$(cpu_us "$s"); t0=$(now)
		if [[ $TESTS != *" seq "* ]]; then
			:
		elif C nbdcopy "${URI[$s]}" null: 2>>"$SCRATCH/client.log"; then
			t1=$(now); c1=$(cpu_us "$s")
			echo "seq $s $(((SIZE_MB << 20))) $((t1 - t0)) $((c1 - c0))" >>"$RESULTS"
		else
			echo "seq $s FAIL" >>"$RESULTS"
		fi
		# 4 KiB random reads, RAND_DEPTH in flight on one connection.
		[[ $TESTS == *" rand "* ]] || continue
		c0=$(cpu_us "$s")
		out=$(C fio --name=rand --ioengine=nbd --uri="${URI[$s]}" --rw=randread --bs=4k --iodepth="$RAND_DEPTH" \
			--runtime="$RAND_SECS" --time_based --output-format=terse --terse-version=3 2>>"$SCRATCH/client.log" | tail -1)
		c1=$(cpu_us "$s")
		# terse v3: field 6 read KiB, field 8 read IOPS
		kib=$(echo "$out" | cut -d';' -f6); iops=$(echo "$out" | cut -d';' -f8)
		if [ -n "$iops" ] && [ "$iops" != 0 ]; then
			echo "rand $s $((kib * 1024)) $((RAND_SECS * 1000000000)) $((c1 - c0)) $iops" >>"$RESULTS"
		else
			echo "rand $s FAIL" >>"$RESULTS"
		fi
	done
done

# Memory with CLIENTS clients at once: each reads 64 KiB blocks at random, 8 in flight, for
# RAND_SECS; the peak of the summed RSS of the server's processes, sampled every 100 ms.
for s in $(order 0); do
	[[ $TESTS == *" rss "* ]] || break
	peak=0
	C bash -c "for i in \$(seq $CLIENTS); do fio --name=m\$i --ioengine=nbd --uri='${URI[$s]}' --rw=randread --bs=64k \
		--iodepth=8 --runtime=$RAND_SECS --time_based --output-format=terse >/dev/null 2>&1 & done; wait" &
	load=$!
	while kill -0 "$load" 2>/dev/null; do
		r=$(rss_kib "$s")
		[ "$r" -gt "$peak" ] && peak=$r
		sleep 0.1
	done
	wait "$load" || true
	echo "rss $s $peak" >>"$RESULTS"
done
stop_servers

# Copy-on-write writes: COW_MB of random data into the export through each server's COW
# mode. Each server writes alone, freshly started (overlays emptied) after a sync, so none
# writes beside another's fresh overlay. With COW_FS=disk single runs several times slower
# than the rest happen to any server (docs/bench/nbd.md): read the per-server medians.
for run in $(seq "$RUNS"); do
	[[ $TESTS == *" cow "* ]] || break
	for s in $(order "$run"); do
		start_servers cow "$s"
		sync
		c0=$(cpu_us "$s"); t0=$(now)
		if C nbdcopy "$SCRATCH/write.bin" "${URI[$s]}" 2>>"$SCRATCH/client.log"; then
			t1=$(now); c1=$(cpu_us "$s")
			echo "cow $s $((COW_MB << 20)) $((t1 - t0)) $((c1 - c0))" >>"$RESULTS"
		else
			echo "cow $s FAIL" >>"$RESULTS"
		fi
		stop_servers
	done
done
[ "$(sha256sum <"$IMG" | cut -d' ' -f1)" = "$SUM" ] || die "a COW run changed the base image"
[ -z "${KEEP_RESULTS:-}" ] || cp "$RESULTS" "$KEEP_RESULTS"
ELAPSED=$((($(now) - START) / 1000000000))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------------
python3 - "$RESULTS" "$RUNS" "$SIZE_MB" "$RAND_DEPTH" "$COW_MB" "$CLIENTS" "$PXE_KIND" "$ELAPSED" "$LOAD0" "$LOAD1" "$MODE" <<'PY'
import sys, statistics as st
path, runs, size, depth, cow, clients, kind, elapsed, load0, load1, mode = sys.argv[1:]
servers = ["pxe-edge", "nbd-server", "nbdkit", "qemu-nbd"]
peers = servers[1:]
rate, cpu, iops, rss, fails = {}, {}, {}, {}, []
for line in open(path):
    f = line.split()
    if f[2] == "FAIL":
        fails.append(f"{f[0]} {f[1]}"); continue
    if f[0] == "rss":
        rss[f[1]] = int(f[2]); continue
    test, s, nbytes, ns, cpu_us = f[0], f[1], int(f[2]), int(f[3]), int(f[4])
    rate.setdefault(test, {}).setdefault(s, []).append(nbytes / (ns / 1e9) / 2**20)
    cpu.setdefault(test, {}).setdefault(s, []).append(cpu_us / 1e6 / (nbytes / 2**30))
    if test == "rand":
        iops.setdefault(s, []).append(int(f[5]))
print(f"pxe-edge = {kind}; {runs} runs per test, servers interleaved, over a veth pair between two")
print(f"namespaces; image {size} MiB in the page cache; 2-core machine: compare ratios.")
print("MODE=shared: servers and clients unpinned, sharing both CPUs" if mode == "shared" else
      "MODE=split: servers on CPU 0, clients on CPU 1, RPS per side")
print()
names = {"seq": "sequential read MiB/s (nbdcopy to null:)", "rand": f"4 KiB random read MiB/s (fio nbd, depth {depth})",
         "cow": f"COW write MiB/s ({cow} MiB, nbdcopy)"}
print(f"{'test (median)':<44}" + "".join(f"{s:>11}" for s in servers) + f"{'pxe/best':>10}")
for t in ["seq", "rand", "cow"]:
    if t not in rate:
        continue
    med = {s: st.median(v) for s, v in rate[t].items()}
    best = max((med[s] for s in peers if s in med), default=float("nan"))
    print(f"{names[t]:<44}" + "".join(f"{med.get(s, float('nan')):>11.1f}" for s in servers) +
          f"{med.get('pxe-edge', float('nan')) / best:>10.2f}")
# Run by run (every server once per run, back to back): how far the ratio moves.
for t in ["seq", "rand", "cow"]:
    if t in rate and "pxe-edge" in rate[t]:
        n = min(len(v) for v in rate[t].values())
        by = [rate[t]["pxe-edge"][i] / max(rate[t][s][i] for s in peers if s in rate[t]) for i in range(n)]
        print(f"{'  ' + t + ' pxe/best peer by run':<44}" + " ".join(f"{r:.2f}" for r in by))
if iops:
    med = {s: st.median(v) for s, v in iops.items()}
    best = max((med[s] for s in peers if s in med), default=float("nan"))
    print(f"{'  the same as IOPS':<44}" + "".join(f"{med.get(s, float('nan')):>11.0f}" for s in servers) +
          f"{med.get('pxe-edge', float('nan')) / best:>10.2f}")
print()
print("server CPU seconds per GiB moved (cgroup, children included; lower is better; best/pxe > 1: pxe-edge cheaper)")
for t in ["seq", "rand", "cow"]:
    if t not in cpu:
        continue
    med = {s: st.median(v) for s, v in cpu[t].items()}
    best = min((med[s] for s in peers if s in med), default=float("nan"))
    print(f"{t:<44}" + "".join(f"{med.get(s, float('nan')):>11.2f}" for s in servers) +
          f"{best / med.get('pxe-edge', float('nan')):>10.2f}")
if rss:
    print()
    print(f"peak RSS, MiB, with {clients} clients reading at random (summed over the server's processes)")
    print(f"{'':<44}" + "".join(f"{rss.get(s, 0) / 1024:>11.1f}" for s in servers))
for x in fails:
    print(f"FAILED: {x}")
print(f"\ntimed part took {elapsed} s; load average (1/5/15 min) {load0} before, {load1} after")
PY
