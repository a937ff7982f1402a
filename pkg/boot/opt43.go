package boot

// Option 43 PXE sub-options (PXE 2.1 specification, table 2-1).
const (
	pxeDiscoveryControl = 6  // bit 3 (8): use the boot file, skip discovery
	pxeBootServers      = 8  // {type u16, count u8, IPs}
	pxeBootMenu         = 9  // {type u16, len u8, text}
	pxeMenuPrompt       = 10 // {timeout u8, text}
	pxeEnd              = 255
)

// Menu item texts the Raspberry Pi bootloaders look for.
const (
	PiMenuText            = "Raspberry Pi Boot"
	PiMenuTextThreeSpaces = "Raspberry Pi Boot   "
)

// opt43BIOS tells BIOS PXE firmware to boot the file in the reply without boot server
// discovery.
var opt43BIOS = []byte{pxeDiscoveryControl, 1, 8, pxeEnd}

// The Raspberry Pi option 43, as in the Pi docs' sample:
// 06 01 03 | 0a 04 00 'P' 'X' 'E' | 09 14 00 00 11 "Raspberry Pi Boot" | ff.
var (
	opt43Pi       = piOpt43(PiMenuText)
	opt43PiSpaces = piOpt43(PiMenuTextThreeSpaces)
)

// piOpt43 encodes discovery control 3 (no broadcast/multicast discovery), a prompt with
// timeout 0 and text "PXE", and one menu item of type 0 with the given text.
func piOpt43(text string) []byte {
	b := []byte{pxeDiscoveryControl, 1, 3}
	b = append(b, pxeMenuPrompt, 4, 0, 'P', 'X', 'E')
	b = append(b, pxeBootMenu, byte(3+len(text)), 0, 0, byte(len(text)))
	b = append(b, text...)
	return append(b, pxeEnd)
}
