// Package e2e holds pxe-edge's end-to-end proofs on real firmware: QEMU guests (SeaBIOS with
// QEMU's iPXE ROM, OVMF, AAVMF, U-Boot) and scripted Raspberry Pi bootloaders network-boot
// from the real pxe-edge binary inside network namespaces (internal/netlab). A guest passes
// only when its serial console shows a marker printed by what pxe-edge served: the
// "pxe-edge:" lines of netboot/boot.ipxe, pxelinux.cfg/default or grub/grub.cfg.
//
//	bios_test.go   SeaBIOS + iPXE ROM: --ipxe --http → boot.ipxe; without --ipxe → pxelinux.0
//	uefi_test.go   OVMF: EDK2 PXE → ipxe.efi → boot.ipxe; UEFI HTTP boot (arch 16)
//	arm64_test.go  AAVMF: EDK2 PXE and HTTP boot (arch 11/19) → GRUB → grub/grub.cfg
//	arm64_ipxe_test.go AAVMF, default policy: EDK2 PXE (arch 11) / HTTP boot (19) →
//	               ipxe-arm64.efi → boot.ipxe
//	uboot_test.go  U-Boot arm64: dhcp, pxe get, tftpboot at blksize 1468 windowsize 4 + CRC-32
//	proxy_test.go  ProxyDHCP beside busybox udhcpd (BIOS, OVMF via 4011); auto mode both ways
//	rpi_test.go    Pi 4 and Pi 2/3 bootloaders replayed byte by byte (DHCP + TFTP order)
//	tuning_test.go flags in real replies and boots: --pi-menu/--no-pi, --http-boot-path
//	               (replayed OVMF/AAVMF DISCOVERs and a real OVMF HTTP boot),
//	               --uboot-file/--uboot-config-file (a real U-Boot)
//	menu_test.go   no boot.ipxe: the menu generated from images/ and --profiles; Debian's
//	               netboot installer on BIOS and UEFI, an ISO's kernel by boot-once (API,
//	               token, restart), sanboot of the ISO; pxelinux → menu.c32 → memdisk → ISO
//	golden_test.go tshark traces per client kind: checked live, stored in testdata/ with
//	               -update, and re-checked (with pkg/boot re-deciding them) by TestGoldenTraces
//
// The tests need root, QEMU and the firmware packages; outside CI they skip with the reason,
// with CI=true they fail. Guests run one at a time under TCG (KVM here is nested and breaks
// OVMF and the iPXE ROM), each bounded by guestTimeout. The arm64 UEFI tests need Debian's
// arm64 GRUB netboot image, which scripts/netboot.sh copies in when given GRUB_ARM64_DEB (or
// GRUB_ARM64_EFI, or NETBOOT_FETCH_GRUB_ARM64=1); the arm64 iPXE tests need
// IPXE_ARM64_EFI=$(board/ipxe-arm64/fetch.sh), which takes ipxe-arm64.efi from Debian trixie
// (bookworm has none). `make test` sets both.
//
//	go test -count=1 -v ./tests/e2e/
//	go test -count=1 -v ./tests/e2e/ -update   # recapture testdata/*.pcap
//	E2E_CONSOLE=1 go test -count=1 -v ./tests/e2e/ -run BIOS   # log every guest console
//
// Subnets: 10.70.0.0/16, one /24 per test.
package e2e
