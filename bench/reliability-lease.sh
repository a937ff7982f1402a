#!/usr/bin/env bash
# bench/reliability-lease.sh — the lease store's part of the reliability figures (issue 15 §6):
# a full state directory, and kill -9, with 0 acknowledged leases lost. It runs the package's
# own tests longer than CI does, on a small filesystem this script's tests mount and unmount
# themselves (tmpfs on a temporary directory, and an ext4 image on a loop device):
#
#   TestNoSpaceRecovers          fill the disk until a commit is refused (ErrNoSpace), check
#                                the refused lease is absent and renewals still work, free
#                                the space, and time how long until a commit succeeds (no
#                                reopen)
#   TestNoSpaceCycles            20 fill/free cycles under one store, reopened on a full disk
#                                every 4th cycle; at the end every acknowledged lease is there
#   TestOpenFullDiskTornTail     restart on a full disk whose journal ends in a torn line
#   TestKill9DuringChurnNoSpace  ROUNDS x SIGKILL of a child committing from 4 goroutines while
#                                the disk fills and frees every 2-20 ms; reopened (every other
#                                round on a full disk) and checked against what it printed
#   TestKill9DuringChurn         ROUNDS x SIGKILL during churn on the machine's disk (TMPDIR)
#
#   sudo bash bench/reliability-lease.sh            # ROUNDS=100 FS="tmpfs ext4" — ~10 minutes
#   ROUNDS=20 FS=tmpfs sudo -E bash bench/reliability-lease.sh
#
# Needs root (mount), go, and for ext4 mkfs.ext4 (e2fsprogs) and mount/losetup (mount). Only
# files under temporary directories are touched; no network. Every test run is bounded by
# `timeout`. The machine is shared: times (return to service) are from a busy 2-core box.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-100}
FS=${FS:-"tmpfs ext4"}

if [ "$(id -u)" != 0 ]; then
	echo "reliability-lease: needs root to mount a small filesystem" >&2
	exit 1
fi
for fs in $FS; do
	case $fs in
	tmpfs) ;;
	ext4) command -v mkfs.ext4 >/dev/null || { echo "reliability-lease: mkfs.ext4 missing: apt-get install e2fsprogs" >&2; exit 1; } ;;
	*) echo "reliability-lease: FS: want tmpfs and/or ext4, got $fs" >&2; exit 1 ;;
	esac
done

work=$(mktemp -d)
# The tests unmount what they mount; a test killed by `timeout` cannot, so anything still
# mounted under this script's own directory is unmounted on exit.
cleanup() {
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount "$m" || umount -l "$m"; done
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/tmp"
export TMPDIR="$work/tmp"
go test -c -o "$work/lease.test" ./pkg/lease

run() { # name timeout env... -- test-regexp
	local log=$1 limit=$2
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	if ! env CI=true "${envs[@]}" timeout "$limit" "$work/lease.test" -test.count=1 -test.v \
		-test.run "$1" >"$work/$log" 2>&1; then
		grep -E -e '--- FAIL|FAIL|panic|Error' "$work/$log" | head -40 >&2 || true
		echo "reliability-lease: $log FAILED (log above)" >&2
		exit 1
	fi
	grep -E 'cycles:|kill -9 rounds|commits again|^--- PASS' "$work/$log" | sed 's/^ *//'
}

echo "# go test ./pkg/lease, $(go version | cut -d' ' -f3), $(nproc) cores, ROUNDS=$ROUNDS, $(date -u +%FT%TZ)"
for fs in $FS; do
	echo "## $fs"
	run "nospace-$fs.log" 600 PXE_EDGE_LEASE_FS="$fs" -- \
		'^(TestNoSpaceRecovers|TestNoSpaceCycles|TestOpenFullDiskTornTail)$'
	run "kill-nospace-$fs.log" 3600 PXE_EDGE_LEASE_FS="$fs" PXE_EDGE_LEASE_KILL_ROUNDS="$ROUNDS" -- \
		'^TestKill9DuringChurnNoSpace$'
done
echo "## disk ($(df --output=fstype "$TMPDIR" | tail -1) under $TMPDIR)"
run kill-disk.log 3600 PXE_EDGE_LEASE_KILL_ROUNDS="$ROUNDS" -- '^TestKill9DuringChurn$'
