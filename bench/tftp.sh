#!/usr/bin/env bash
# bench/tftp.sh — pxe-edge's TFTP server side by side with in.tftpd (tftpd-hpa), atftpd and
# dnsmasq, in one namespace lab, same files, same client (atftp) and options, interleaved
# run by run. Prints MB/s medians and pxe-edge/peer ratios for lock-step blksize 512 and
# 1468, windowsize 4 and 16 at blksize 1468, windowsize 16 on a large file (64 MiB: where
# start-up work no longer flatters anyone), and 50 concurrent 4 MiB transfers (aggregate
# MB/s and peak RSS of each server).
#
# Needs root (network namespaces), atftp, tftpd-hpa, dnsmasq-base, python3, go. atftpd
# conflicts with tftpd-hpa as a package, so it is fetched with `apt-get download` and
# unpacked with `dpkg -x` into a cache directory (or set ATFTPD=/path/to/atftpd).
#
# Knobs (environment): RUNS (5) runs per setting and server, SIZE_MB (8) file size for the
# single-transfer settings, LARGE_MB (64) file size for the *-large settings, CONC (50) concurrent clients, CONC_MB (4) their file size,
# CONC_RUNS (2) rounds of the concurrent test (0: none), PXE_EDGE (a pxe-edge binary to use
# instead of building one), SETTINGS (a subset of the single-transfer settings, by name;
# empty: none), BG_WAKE (1: a 10 ms wake-up loop in the background, see below), PXE_EDGE_B
# (a second pxe-edge binary, run as a fifth server "pxe-edge-b" interleaved with the others,
# for A/B tests of a change: not a peer, reported as pxe-edge-b / pxe-edge). The machine
# these run on is shared and noisy: compare ratios, not absolute figures across runs.
set -euo pipefail

RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-8}
LARGE_MB=${LARGE_MB:-64}
CONC=${CONC:-50}
CONC_MB=${CONC_MB:-4}
CONC_RUNS=${CONC_RUNS:-2}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

die() { echo "bench/tftp.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lab.sh
. "$(dirname "$0")/lab.sh"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for c in ip atftp in.tftpd dnsmasq python3 go; do
	command -v "$c" >/dev/null || die "missing $c (Debian: atftp tftpd-hpa dnsmasq-base python3; Go)"
done

SCRATCH=$(mktemp -d /tmp/pxe-edge-tftpbench.XXXXXX)
chmod 755 "$SCRATCH"
ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_S=pxet-$ID-bs  # pxet- prefix: scripts/sweep-netns.sh removes leftovers
NS_C=pxet-$ID-bc
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "$NS_C" "$NS_S"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	declare -F cg_remove >/dev/null && cg_remove
	rm -rf "$SCRATCH"
}
trap cleanup EXIT INT TERM

# --- the servers' binaries -----------------------------------------------------------------
if [ -n "${ATFTPD:-}" ]; then
	:
elif command -v atftpd >/dev/null; then
	ATFTPD=$(command -v atftpd)
else
	CACHE=${XDG_CACHE_HOME:-/var/cache}/pxe-edge-bench
	ATFTPD=$CACHE/atftpd/usr/sbin/atftpd
	if [ ! -x "$ATFTPD" ]; then
		mkdir -p "$CACHE/dl" && (cd "$CACHE/dl" && timeout 120 apt-get download atftpd >/dev/null 2>&1) ||
			die "apt-get download atftpd failed"
		dpkg -x "$CACHE"/dl/atftpd_*.deb "$CACHE/atftpd"
	fi
fi
"$ATFTPD" --help >/dev/null 2>&1 || die "atftpd at $ATFTPD does not run"

PXE_KIND=cmd/pxe-edge
if [ -n "${PXE_EDGE:-}" ]; then
	PXE_BIN=$PXE_EDGE
elif (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$SCRATCH/pxe-edge" ./cmd/pxe-edge 2>"$SCRATCH/build.log") &&
	"$SCRATCH/pxe-edge" --help 2>&1 | grep -q -- --netboot-dir; then
	PXE_BIN=$SCRATCH/pxe-edge
else
	echo "cmd/pxe-edge does not build or lacks --netboot-dir; using bench/tftp-server (pkg/tftp only)" >&2
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$SCRATCH/tftp-server" ./bench/tftp-server) || die "build failed"
	PXE_BIN=$SCRATCH/tftp-server
	PXE_KIND=bench/tftp-server
fi

# --- lab: one server namespace with an address per server, one client namespace --------
lab_veth "vb$ID" 10.20.9 5

ROOT=$SCRATCH/root
mkdir -p "$ROOT" "$SCRATCH/out" "$SCRATCH/state"
chmod 755 "$ROOT"
head -c $((SIZE_MB << 20)) /dev/urandom >"$ROOT/f"
head -c $((LARGE_MB << 20)) /dev/urandom >"$ROOT/g"
head -c $((CONC_MB << 20)) /dev/urandom >"$ROOT/c"
chmod 644 "$ROOT"/*
SUM_F=$(sha256sum <"$ROOT/f" | cut -d' ' -f1)

declare -A IP PID
IP[pxe-edge]=10.20.9.1
IP[in.tftpd]=10.20.9.2
IP[atftpd]=10.20.9.3
IP[dnsmasq]=10.20.9.4
IP[pxe-edge-b]=10.20.9.5
SERVERS=(pxe-edge in.tftpd atftpd dnsmasq)
[ -z "${PXE_EDGE_B:-}" ] || SERVERS+=(pxe-edge-b)
NS_ALL=${#SERVERS[@]}

# Server CPU time comes from a cgroup per server (cgroup v2 cpu.stat, or v1 cpuacct): exact
# to the microsecond, and it counts every child (in.tftpd forks one per transfer and ignores
# SIGCHLD, so /proc/PID/stat never sees its children's time). No sampling process runs while
# a transfer is timed: an earlier version polled in.tftpd's children every 10 ms, and that
# background wake-up alone kept the idle vCPUs awake and made every lock-step server ~1.6x
# faster (bench/tftp.md), in in.tftpd's favour only.
declare -A CG
lab_cgroups
cg_attach() { # SERVER PID
	CG[$1]=$CGROOT/pxet-$ID-$1
	mkdir "${CG[$1]}" || die "cannot create cgroup ${CG[$1]}"
	echo "$2" >"${CG[$1]}/cgroup.procs"
}
cg_remove() {
	local s
	for s in "${!CG[@]}"; do rmdir "${CG[$s]}" 2>/dev/null || true; done
}
# Started with `ip netns exec` directly (not through S) so that $! is the server itself:
# ip execs into it.
if [ "$PXE_KIND" = cmd/pxe-edge ]; then
	ip netns exec "$NS_S" "$PXE_BIN" --netboot-dir "$ROOT" --tftp-server-ip 10.20.9.1 --tftp-port 69 \
		--state-dir "$SCRATCH/state" >"$SCRATCH/pxe-edge.log" 2>&1 &
else
	ip netns exec "$NS_S" "$PXE_BIN" -root "$ROOT" -addr 10.20.9.1:69 >"$SCRATCH/pxe-edge.log" 2>&1 &
fi
PID[pxe-edge]=$!
ip netns exec "$NS_S" in.tftpd -L -s "$ROOT" -a 10.20.9.2:69 -u nobody >"$SCRATCH/in.tftpd.log" 2>&1 &
PID[in.tftpd]=$!
ip netns exec "$NS_S" "$ATFTPD" --daemon --no-fork --bind-address 10.20.9.3 --port 69 --user nobody --group nogroup \
	--maxthread 100 --logfile /dev/null "$ROOT" >"$SCRATCH/atftpd.log" 2>&1 &
PID[atftpd]=$!
ip netns exec "$NS_S" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --enable-tftp --tftp-root="$ROOT" \
	--listen-address=10.20.9.4 --bind-interfaces --tftp-max=64 --pid-file="$SCRATCH/dnsmasq.pid" \
	--log-facility="$SCRATCH/dnsmasq.log" >/dev/null 2>&1 &
PID[dnsmasq]=$!
if [ -n "${PXE_EDGE_B:-}" ]; then
	mkdir -p "$SCRATCH/state-b"
	ip netns exec "$NS_S" "$PXE_EDGE_B" --netboot-dir "$ROOT" --tftp-server-ip 10.20.9.5 --tftp-port 69 \
		--state-dir "$SCRATCH/state-b" >"$SCRATCH/pxe-edge-b.log" 2>&1 &
	PID[pxe-edge-b]=$!
fi
PIDS=("${PID[@]}")
for s in "${SERVERS[@]}"; do cg_attach "$s" "${PID[$s]}"; done

# Every server must answer before anything is timed.
for s in "${SERVERS[@]}"; do
	ok=
	for _ in $(seq 50); do
		if C atftp --get -r c -l "$SCRATCH/out/probe" "${IP[$s]}" >/dev/null 2>&1 &&
			[ "$(stat -c %s "$SCRATCH/out/probe")" = $((CONC_MB << 20)) ]; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || { cat "$SCRATCH/$s.log" >&2; die "$s does not answer"; }
done

RESULTS=$SCRATCH/results.txt
: >"$RESULTS"
now() { date +%s%N; }

server_cpu_start() { CPU0=$(cg_usec "${CG[$1]}"); }
# server_cpu_stop SERVER: CPU time in µs since server_cpu_start, in CPU_US.
server_cpu_stop() { CPU_US=$(($(cg_usec "${CG[$1]}") - CPU0)); }

# fetch SERVER SETTING OPTS...: one timed transfer of f (g, LARGE_MB, for a *-large
# setting); appends "setting server MB/s server-CPU-ms". Wall time is what a client sees; the server's CPU time per transfer is the
# figure that survives a noisy machine (and what a Pi pays).
fetch() {
	local s=$1 setting=$2
	shift 2
	local out=$SCRATCH/out/f.$s t0 t1 rc=0 file=f bytes=$((SIZE_MB << 20))
	case $setting in *-large) file=g bytes=$((LARGE_MB << 20)) ;; esac
	rm -f "$out"
	server_cpu_start "$s"
	t0=$(now)
	C atftp --get -r "$file" -l "$out" "$@" "${IP[$s]}" >/dev/null 2>&1 || rc=$?
	t1=$(now)
	server_cpu_stop "$s"
	local got
	got=$(stat -c %s "$out" 2>/dev/null || echo 0)
	rm -f "$out" # a large file would fill /tmp
	if [ "$rc" != 0 ] || [ "$got" != "$bytes" ]; then
		echo "$setting $s FAIL" >>"$RESULTS"
		return
	fi
	echo "$setting $s $(python3 -c "print(f'{$bytes / (($t1 - $t0) / 1e9) / 1e6:.2f} {$CPU_US / 1000:.1f}')")" >>"$RESULTS"
}

# Checksums once per server (the timed runs check the size only).
for s in "${SERVERS[@]}"; do
	C atftp --get -r f -l "$SCRATCH/out/check" --option "blksize 1468" --option "windowsize 16" "${IP[$s]}" >/dev/null 2>&1 || true
	[ "$(sha256sum <"$SCRATCH/out/check" | cut -d' ' -f1)" = "$SUM_F" ] || die "$s served a wrong file"
done

declare -A OPTS
OPTS[lockstep-blk512]='--option|blksize 512'
OPTS[lockstep-blk1468]='--option|blksize 1468'
OPTS[window4-blk1468]='--option|blksize 1468|--option|windowsize 4'
OPTS[window16-blk1468]='--option|blksize 1468|--option|windowsize 16'
OPTS[window16-blk1468-large]='--option|blksize 1468|--option|windowsize 16'
read -r -a SETTINGS <<<"${SETTINGS-lockstep-blk512 lockstep-blk1468 window4-blk1468 window16-blk1468 window16-blk1468-large}"
for setting in "${SETTINGS[@]}"; do [ -n "${OPTS[$setting]:-}" ] || die "unknown setting $setting"; done

# BG_WAKE=1: a background loop that wakes every 10 ms runs through every timed part, for
# every server alike. It exists to show the effect that once skewed this benchmark: on an
# otherwise idle VM a lock-step transfer is bound by how fast an idle vCPU wakes, and any
# periodic wake-up keeps the vCPUs from going idle (bench/tftp.md).
if [ -n "${BG_WAKE:-}" ]; then
	(while :; do sleep 0.01; done) &
	PIDS+=($!)
fi

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(now)
for run in $(seq "$RUNS"); do
	# Rotate the order every run so no server always goes first (or last) after a pause.
	order=("${SERVERS[@]:$(((run - 1) % NS_ALL))}" "${SERVERS[@]:0:$(((run - 1) % NS_ALL))}")
	for setting in "${SETTINGS[@]}"; do
		IFS='|' read -r -a o <<<"${OPTS[$setting]}"
		for s in "${order[@]}"; do fetch "$s" "$setting" "${o[@]}"; done
	done
done

# --- concurrency: CONC clients at once, blksize 1468 lock-step (every server can) ----------
# Peak RSS: VmHWM of the server process, plus the peak of the summed VmRSS of the server and
# its children sampled every 20 ms (in.tftpd forks one child per transfer). The sampler is
# one python process reading /proc, run alike for every server: it forks nothing, so it
# takes little CPU from a run that is CPU bound (a shell loop with pgrep and awk per child
# took a visible share of the two cores while in.tftpd had 50 children).
TREE_SAMPLER='
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
def kids(p):
    ks = []
    try:
        for t in os.listdir(f"/proc/{p}/task"):
            with open(f"/proc/{p}/task/{t}/children") as f:
                ks += f.read().split()
    except OSError:
        pass
    return ks
def rss(p):
    try:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # exiting: a zombie has no VmRSS
peak = 0
while True:
    r = rss(pid) + sum(rss(k) for k in kids(pid))
    if r > peak:
        peak = r
        with open(out, "w") as f:
            f.write(str(peak))
    time.sleep(0.02)
'
for round in $(seq "$CONC_RUNS"); do
	order=("${SERVERS[@]:$(((round - 1) % NS_ALL))}" "${SERVERS[@]:0:$(((round - 1) % NS_ALL))}")
	for s in "${order[@]}"; do
		rm -f "$SCRATCH"/out/c.*
		peakf=$SCRATCH/peak.$s.$round
		echo 0 >"$peakf"
		python3 -c "$TREE_SAMPLER" "${PID[$s]}" "$peakf" &
		sampler=$!
		server_cpu_start "$s"
		t0=$(now)
		C bash -c "for i in \$(seq $CONC); do atftp --get -r c -l $SCRATCH/out/c.\$i --option 'blksize 1468' ${IP[$s]} >/dev/null 2>&1 & done; wait" || true
		t1=$(now)
		server_cpu_stop "$s"
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
		okn=0
		for i in $(seq "$CONC"); do
			[ "$(stat -c %s "$SCRATCH/out/c.$i" 2>/dev/null || echo 0)" = $((CONC_MB << 20)) ] && okn=$((okn + 1))
		done
		mbps=$(python3 -c "print(f'{$okn * $((CONC_MB << 20)) / (($t1 - $t0) / 1e9) / 1e6:.2f}')")
		echo "concurrent$CONC-blk1468 $s $mbps $okn $(cat "$peakf") $((CPU_US / 1000))" >>"$RESULTS"
	done
done
for s in "${SERVERS[@]}"; do
	hwm=$(awk '/^VmHWM:/{print $2}' /proc/"${PID[$s]}"/status 2>/dev/null || true)
	[ -n "$hwm" ] || { echo "bench/tftp.sh: $s is no longer running; its log:" >&2; tail -20 "$SCRATCH/$s.log" >&2; }
	echo "hwm $s ${hwm:-0}" >>"$RESULTS"
done
ELAPSED=$((($(now) - START) / 1000000000))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------------
python3 - "$RESULTS" "$RUNS" "$SIZE_MB" "$CONC" "$CONC_MB" "$PXE_KIND" "$ELAPSED" "$LOAD0" "$LOAD1" "$LARGE_MB" <<'PY'
import sys, statistics as st
path, runs, size, conc, cmb, kind, elapsed, load0, load1, large = sys.argv[1:]
servers = ["pxe-edge", "in.tftpd", "atftpd", "dnsmasq"]
peer_names = servers[1:]
rate, cpu, fails, conc_rate, conc_ok, conc_rss, hwm = {}, {}, {}, {}, {}, {}, {}
for line in open(path):
    f = line.split()
    if f[0] == "hwm":
        hwm[f[1]] = int(f[2]); continue
    setting, s = f[0], f[1]
    if f[2] == "FAIL":
        fails[(setting, s)] = fails.get((setting, s), 0) + 1; continue
    if setting.startswith("concurrent"):
        conc_rate.setdefault(s, []).append(float(f[2]))
        conc_ok.setdefault(s, []).append(int(f[3]))
        conc_rss.setdefault(s, []).append(int(f[4]))
        cpu.setdefault("concurrent", {}).setdefault(s, []).append(float(f[5]))
        continue
    rate.setdefault(setting, {}).setdefault(s, []).append(float(f[2]))
    cpu.setdefault(setting, {}).setdefault(s, []).append(float(f[3]))
print(f"pxe-edge = {kind}; {runs} runs per setting of a {size} MiB file ({large} MiB for *-large) with the atftp client, servers interleaved;")
print(f"figures are MB/s medians (10^6 bytes/s) on a shared, noisy 2-core machine; compare ratios.")
if any(f.split()[1] == "pxe-edge-b" for f in open(path) if len(f.split()) > 1):
    servers.append("pxe-edge-b")
print()
hdr = f"{'setting':<23}" + "".join(f"{s:>10}" for s in servers) + f"{'best peer':>11}{'pxe/best':>10}  pxe/peer"
print(hdr)
def row(setting, med):
    peers = {s: med[s] for s in peer_names if s in med}
    best = max(peers, key=peers.get) if peers else None
    cells = "".join(f"{med.get(s, float('nan')):>10.2f}" for s in servers)
    ratio = med["pxe-edge"] / peers[best] if best and "pxe-edge" in med else float("nan")
    per = " ".join(f"{s}={med['pxe-edge']/v:.2f}" for s, v in peers.items()) if "pxe-edge" in med else ""
    ab = f"  pxe-edge-b/pxe-edge={med['pxe-edge-b']/med['pxe-edge']:.3f}" if "pxe-edge-b" in med and "pxe-edge" in med else ""
    print(f"{setting:<23}{cells}{best or '-':>11}{ratio:>10.2f}  {per}{ab}")
SINGLE = ["lockstep-blk512", "lockstep-blk1468", "window4-blk1468", "window16-blk1468", "window16-blk1468-large"]
for setting in SINGLE:
    if setting in rate:
        row(setting, {s: st.median(v) for s, v in rate[setting].items()})
if conc_rate:
    row(f"{conc}x{cmb}MiB-1468", {s: st.median(v) for s, v in conc_rate.items()})
    # Round by round (every server runs once per round, back to back): how far the ratio
    # moves between rounds, which a median of a few rounds hides.
    n = min(len(v) for v in conc_rate.values())
    per_round = []
    for i in range(n):
        peers = [conc_rate[s][i] for s in peer_names if s in conc_rate]
        if peers and "pxe-edge" in conc_rate:
            per_round.append(conc_rate["pxe-edge"][i] / max(peers))
    if len(per_round) > 1:
        print(f"{'':<23}pxe/best peer by round: " + " ".join(f"{r:.2f}" for r in per_round) +
              f" (min {min(per_round):.2f}, max {max(per_round):.2f})")
print()
print(f"server CPU time, ms: per {size} MiB transfer ({large} MiB for *-large; median of {runs}), and for all {conc} concurrent")
print(f"{cmb} MiB transfers (median of rounds); from each server's cgroup, children included;")
print("peer/pxe > 1 means pxe-edge used less CPU than that peer")
print(f"{'setting':<23}" + "".join(f"{s:>10}" for s in servers) + "  peer/pxe")
for setting in SINGLE + ["concurrent"]:
    if setting in cpu:
        med = {s: st.median(v) for s, v in cpu[setting].items()}
        cells = "".join(f"{med.get(s, float('nan')):>10.1f}" for s in servers)
        p = med.get("pxe-edge", 0)
        per = " ".join(f"{s}={med[s]/p:.2f}" if p else f"{s}=inf" for s in servers[1:] if s in med)
        print(f"{setting:<23}{cells}  {per}")
print()
print(f"peak memory during {conc} concurrent transfers (MiB): VmHWM of the server process over the whole run;")
print("tree = peak of summed VmRSS of the server and its children, sampled every 20 ms")
for s in servers:
    if s in conc_rss:
        print(f"  {s:<10} VmHWM {hwm.get(s, 0)/1024:6.1f}   tree {max(conc_rss[s])/1024:6.1f}   transfers ok {min(conc_ok[s])}/{conc} (worst round)")
for (setting, s), n in sorted(fails.items()):
    print(f"  FAILED: {s} {setting} x{n}")
print(f"\ntimed part took {elapsed} s; load average (1/5/15 min) {load0} before, {load1} after")
PY
