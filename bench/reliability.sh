#!/usr/bin/env bash
# bench/reliability.sh — the reliability figures of docs/RELIABILITY.md (issue 15 §6): the
# same tests CI runs, longer and harder. Each part prints one summary line; docs/RELIABILITY.md
# records them with the date and the command.
#
#   sudo bash bench/reliability.sh                     # every part, FUZZTIME=10m per target (hours)
#   FUZZTIME=30s PARTS="fuzz tftp" sudo -E bash bench/reliability.sh
#
# Parts (PARTS, space-separated; default all):
#   fuzz      every fuzz target in the module for FUZZTIME each (go test -fuzz), FUZZ_JOBS
#             targets at once with FUZZ_WORKERS workers each; a crasher is written to that
#             package's testdata/fuzz/ by go test and stays there as a seed
#   tftp      TFTP transfers from tftp-hpa, atftp (lock-step and windowed) and busybox at
#             NETEM="20 5 10" (% loss, duplication, reordering each way), sha256 checked
#   kill      KILL_ROUNDS (100) x kill -9 of pxe-edge during DHCP churn: every acknowledged
#             lease is in the reopened lease files
#   nospace   NOSPACE_CYCLES (20) fill/free cycles of the state directory's filesystem under
#             the daemon (DHCP back each time, 0 acknowledged leases lost), then
#             bench/reliability-lease.sh (the store alone, tmpfs and ext4; LEASE_SCRIPT=0 skips)
#   flood     FLOOD_RATE (20000) DISCOVERs/s from new MACs for FLOOD_SECONDS (60): renewals,
#             the reserved client and a new udhcpc client get through; VmHWM
#   hostile   HOSTILE (200) slowloris HTTP connections and silent TFTP requesters while a real
#             client fetches over TFTP and HTTP
#   flaps     20 carrier flaps with DHCP pausing and resuming (TestCarrierFlapDHCP)
#
# Safety: every test creates its own network namespaces (internal/netlab, prefix pxet-) and
# deletes them; traffic stays in them or on 127.0.0.0/8; every loop is bounded. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/reliability.sh: needs root (namespaces, mounts)" >&2; exit 1; }

PARTS=${PARTS:-"fuzz tftp kill nospace flood hostile flaps"}
FUZZTIME=${FUZZTIME:-10m}
FUZZ_JOBS=${FUZZ_JOBS:-1}       # targets fuzzed at once
FUZZ_WORKERS=${FUZZ_WORKERS:-2} # go test -parallel for each
NETEM=${NETEM:-"20 5 10"}
KILL_ROUNDS=${KILL_ROUNDS:-100}
NOSPACE_CYCLES=${NOSPACE_CYCLES:-20}
FLOOD_RATE=${FLOOD_RATE:-20000}
FLOOD_SECONDS=${FLOOD_SECONDS:-60}
HOSTILE=${HOSTILE:-200}
GO=${GO:-$(scripts/ensure-go.sh)}
export CI=true

log=$(mktemp /tmp/pxe-reliability.XXXXXX)
trap 'rm -f "$log"' EXIT
say() { printf '== %s\n' "$*"; }

# run NAME TIMEOUT go-test-args… — runs one go test, prints its t.Log summary lines and PASS/FAIL.
run() {
	local name=$1 limit=$2
	shift 2
	local rc=0
	timeout "$limit" "$GO" test -count=1 -v "$@" >"$log" 2>&1 || rc=$?
	grep -E '^\s+[a-z_]+_test\.go:[0-9]+: ' "$log" | grep -vE 'level=' | sed 's/^ */  /' | tail -n 25 || true
	if [ $rc = 0 ]; then echo "  $name: PASS"; else echo "  $name: FAIL (exit $rc)"; tail -n 40 "$log"; fi
	return $rc
}

failed=0
for part in $PARTS; do
	case $part in
	fuzz)
		say "fuzz: every target for $FUZZTIME ($FUZZ_JOBS at a time, -parallel $FUZZ_WORKERS each)"
		fuzzdir=$(mktemp -d /tmp/pxe-fuzz.XXXXXX)
		for pkg in $("$GO" list ./...); do
			for f in $("$GO" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
				printf '%s %s\n' "$pkg" "$f"
			done
		done >"$fuzzdir/targets"
		export GO FUZZTIME FUZZ_WORKERS fuzzdir
		# One target: its go test log in $fuzzdir, one result line on stdout with the number of
		# inputs executed (go test's last "execs:" figure).
		fuzz_one() {
			local pkg=$1 f=$2 l="$fuzzdir/$2.log" execs
			if timeout 3h "$GO" test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -parallel "$FUZZ_WORKERS" "$pkg" >"$l" 2>&1; then
				r=ok
			elif ! grep -q -e 'Failing input written' -e 'panic:' "$l" && grep -q 'context deadline exceeded' "$l"; then
				# go test sometimes reports its own shutdown at the end of -fuzztime as a
				# failure, with no failing input: not a finding.
				r="ok (go test: deadline at the end of -fuzztime, no failing input)"
			else
				r="CRASH or error (log: $l)"
			fi
			execs=$(grep -o 'execs: [0-9]*' "$l" | tail -n 1 | cut -d' ' -f2)
			printf '  %-40s %-26s %12s execs  %s\n' "$pkg" "$f" "${execs:-?}" "$r"
		}
		export -f fuzz_one
		xargs -P "$FUZZ_JOBS" -L 1 bash -c 'fuzz_one "$@"' _ <"$fuzzdir/targets" | tee "$fuzzdir/results"
		total=$(wc -l <"$fuzzdir/targets")
		bad=$(grep -c 'CRASH or error' "$fuzzdir/results" || true)
		echo "  fuzz: $total targets x $FUZZTIME, $bad failed (logs in $fuzzdir)"
		[ "$bad" = 0 ] || failed=1
		;;
	tftp)
		say "tftp: real clients at $NETEM (% loss, dup, reorder)"
		PXE_TFTP_NETEM=$NETEM run "TFTP under impairment" 30m -run '^TestNetem$' ./pkg/tftp || failed=1
		;;
	kill)
		say "kill: $KILL_ROUNDS x kill -9 during DHCP churn"
		PXE_EDGE_KILL_ROUNDS=$KILL_ROUNDS run "kill -9" 60m -run '^TestKillDuringChurnKeepsAckedLeases$' ./internal/daemon || failed=1
		;;
	nospace)
		say "nospace: $NOSPACE_CYCLES fill/free cycles under the daemon, then the store alone"
		PXE_EDGE_NOSPACE_CYCLES=$NOSPACE_CYCLES run "full disk (daemon)" 30m -run '^TestFullDiskDHCPRecovers$' ./internal/daemon || failed=1
		if [ "${LEASE_SCRIPT:-1}" = 1 ]; then bash bench/reliability-lease.sh || failed=1; fi
		;;
	flood)
		say "flood: $FLOOD_RATE new MACs/s for $FLOOD_SECONDS s"
		PXE_EDGE_FLOOD_RATE=$FLOOD_RATE PXE_EDGE_FLOOD_SECONDS=$FLOOD_SECONDS run "flood" 20m -run '^TestFloodOfNewMACs$' ./internal/daemon || failed=1
		;;
	hostile)
		say "hostile: $HOSTILE slowloris HTTP + $HOSTILE silent TFTP sources"
		PXE_EDGE_HOSTILE=$HOSTILE run "hostile neighbours" 20m -run '^TestHostileNeighbours$' ./internal/daemon || failed=1
		;;
	flaps)
		say "flaps: 20 carrier flaps"
		run "link flaps" 20m -run '^TestCarrierFlapDHCP$' ./internal/daemon || failed=1
		;;
	*)
		echo "bench/reliability.sh: unknown part $part" >&2
		exit 2
		;;
	esac
done
exit $failed
