// Package e2e holds pxe-edge's end-to-end proofs on real firmware: QEMU guests (SeaBIOS with
// QEMU's iPXE ROM, OVMF, AAVMF, U-Boot) and a scripted Raspberry Pi 4 bootloader network-boot
// from the real pxe-edge binary inside network namespaces (internal/netlab), and each test
// passes only when the guest's console shows a marker printed by the served boot script.
//
// The tests need root, QEMU and the firmware packages; outside CI they skip with the reason,
// with CI=true they fail. Guests run one at a time under TCG (KVM here is nested and breaks
// OVMF and the iPXE ROM), each bounded by guestTimeout.
//
//	go test -count=1 -v ./tests/e2e/
//	go test -count=1 -v ./tests/e2e/ -run Golden -update   # recapture testdata/*.pcap
//
// Subnets: 10.70.0.0/16, one /24 per test.
package e2e
