# bench/lab.sh — sourced by the side-by-side benchmarks (nbd.sh, nbd-ab.sh, tftp.sh, http.sh,
# dhcp.sh): the two namespaces they run in and the per-server CPU accounting. The caller
# defines die() and deletes what it made (its cleanup trap) itself.

# lab_cgroups sets CGROOT, where per-server cgroups go, and cg_usec DIR, a cgroup's CPU time
# in µs (children included): exact where ps would miss forked children.
lab_cgroups() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		CGROOT=/sys/fs/cgroup
		cg_usec() { awk '$1 == "usage_usec" {print $2}' "$1/cpu.stat"; }
	elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
		CGROOT=/sys/fs/cgroup/cpuacct
		cg_usec() { echo $(($(cat "$1/cpuacct.usage") / 1000)); }
	else
		die "no cgroup v2 and no cgroup v1 cpuacct hierarchy to account server CPU time"
	fi
}

# lab_veth PREFIX NET N: namespaces $NS_S and $NS_C (named by the caller, pxet- prefixed so
# scripts/sweep-netns.sh removes leftovers) joined by a veth pair PREFIX-named, eth0 on
# both sides; the server side has NET.1 … NET.N (one address per server), the client NET.100.
# Defines S and C: run a command in the server or client namespace.
lab_veth() {
	local prefix=$1 net=$2 n=$3 i
	ip netns add "$NS_S"
	ip netns add "$NS_C"
	ip link add "${prefix}s" type veth peer name "${prefix}c"
	ip link set "${prefix}s" netns "$NS_S"
	ip link set "${prefix}c" netns "$NS_C"
	S() { ip netns exec "$NS_S" "$@"; }
	C() { ip netns exec "$NS_C" "$@"; }
	S ip link set lo up
	C ip link set lo up
	S ip link set "${prefix}s" name eth0
	C ip link set "${prefix}c" name eth0
	for i in $(seq 1 "$n"); do S ip addr add "$net.$i/24" dev eth0; done
	C ip addr add "$net.100/24" dev eth0
	S ip link set eth0 up
	C ip link set eth0 up
}

# lab_place MODE: after lab_veth, where servers and clients run (nbd.sh, nbd-ab.sh). Sets
# SRV_PIN, the prefix a server's command gets. shared: nothing pinned, both sides on every
# CPU. split: the two namespaces as two machines on a LAN, like http.sh's netns mode — servers
# pinned to CPU 0 (SRV_PIN), C pinning clients to CPU 1, and RPS running each side's receive
# processing on its own CPU (a veth transmit queues the packet on the receiving device's
# backlog, and RPS picks the CPU whose NET_RX softirq takes it); needs two CPUs.
lab_place() {
	SRV_PIN=()
	case $1 in
	shared) ;;
	split)
		[ "$(nproc)" -ge 2 ] || die "MODE=split needs two CPUs (MODE=shared runs on one)"
		SRV_PIN=(taskset -c 0)
		C() { ip netns exec "$NS_C" taskset -c 1 "$@"; }
		# `ip netns exec` mounts the namespace's own /sys.
		S sh -c "echo 1 >/sys/class/net/eth0/queues/rx-0/rps_cpus"
		C sh -c "echo 2 >/sys/class/net/eth0/queues/rx-0/rps_cpus"
		;;
	*) die "MODE must be split or shared, not $1" ;;
	esac
}

# lab_pair NS_S IF_S ADDR_S NS_C IF_C ADDR_C: namespaces NS_S and NS_C joined by a veth pair,
# IF_S in NS_S with ADDR_S (address/prefix) and IF_C in NS_C with ADDR_C, loopback and both
# ends up.
lab_pair() {
	ip netns add "$1"
	ip netns add "$4"
	ip -n "$1" link set lo up
	ip -n "$4" link set lo up
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# lab_cc NS DEV: with LAB_CC set (cubic, bbr, …), every TCP connection out of DEV in NS runs
# that congestion control whatever its server asked for (a route's congctl wins over
# setsockopt), for a like-for-like comparison; without it each server keeps its own: the
# kernel's default for the peers, --tcp-congestion (cubic) for pxe-edge. Prints what runs.
lab_cc() {
	local def r
	def=$(ip netns exec "$1" cat /proc/sys/net/ipv4/tcp_congestion_control)
	if [ -z "${LAB_CC:-}" ]; then
		echo "# TCP congestion control: the peers the kernel's default ($def), pxe-edge ${PXE_CC:-its default, cubic} (LAB_CC=NAME: all alike)"
		return 0
	fi
	ip -n "$1" -4 route show dev "$2" | while read -r r; do
		# shellcheck disable=SC2086 # the route's words are ip's arguments
		ip -n "$1" route replace $r dev "$2" congctl "$LAB_CC"
	done
	echo "# TCP congestion control: every server $LAB_CC (LAB_CC, on the route; the kernel's default is $def)"
}
