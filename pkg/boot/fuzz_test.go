package boot

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzDecide runs Decide over arbitrary request facts and configurations: it must never
// panic, and every decision must satisfy the invariants (checkInvariants): iPXE never gets
// an iPXE binary, proxy mode answers only PXE/HTTP clients, no option 43 for UEFI or on
// 4011, no boot fields without Boot, ….
func FuzzDecide(f *testing.F) {
	// Seeds: the captured clients of the field guide.
	type seed struct {
		flags uint8 // bit0 proxy, bit1 port 4011, bit2 has175, bits 4-7 config switches
		msg   uint8
		arch  []byte
		vc    string
		uc    []byte
		mac   []byte
		o97   []byte
		rom   string
	}
	pi97 := piOpt97("RPi4", 0x00c03111, macPi4, 0x3c8da5af)
	seeds := []seed{
		{0xf0, 1, []byte{0, 0}, vcIPXEBIOS, nil, macPC[:], nil, ""},
		{0xf5, 1, []byte{0, 0}, vcIPXEBIOS, []byte("iPXE"), macPC[:], nil, ""},
		{0xf1, 1, []byte{0, 7}, vcOVMFPXE, nil, macPC[:], uuid97, ""},
		{0xf3, 3, []byte{0, 7}, vcOVMFPXE, nil, macPC[:], uuid97, ""},
		{0xf0, 1, []byte{0, 16}, vcOVMFHTTP, nil, macPC[:], nil, ""},
		{0xf1, 1, []byte{0, 11}, vcAA64PXE, nil, macPC[:], nil, ""},
		{0xf0, 1, []byte{0, 19}, vcAA64HTTP, nil, macPC[:], nil, ""},
		{0xf0, 1, []byte{0, 22}, vcUBootStr, nil, macPC[:], nil, ""},
		{0xf0, 1, []byte{0, 0}, vcIPXEBIOS, nil, macPi4[:], pi97, ""},
		{0xf0, 1, []byte{0, 0}, vcIPXEBIOS, nil, macPi3[:], nil, ""},
		{0xf0, 1, nil, vcUdhcpc, nil, macPC[:], nil, ""},
		{0x70, 1, []byte{0, 7}, vcIPXEEFI, []byte("\x04iPXE"), macPC[:], nil, "undionly.kpxe"},
		{0x10, 8, []byte{0, 0}, vcIPXEBIOS, []byte("iPXE"), macPC[:], nil, "hosts/x.ipxe"},
	}
	for _, s := range seeds {
		f.Add(s.flags, s.msg, s.arch, s.vc, s.uc, s.mac, s.o97, s.rom)
	}
	files := []string{"", "undionly.kpxe", "snponly.efi", "pxelinux.0", "boot.ipxe", "http://10.0.0.9/x.efi", "menu.ipxe"}
	f.Fuzz(func(t *testing.T, flags, msg uint8, arch []byte, vc string, uc, mac, o97 []byte, rom string) {
		var fa Facts
		fa.Msg = MsgKind(msg)
		if flags&1 != 0 {
			fa.Mode = Proxy
		}
		if flags&2 != 0 {
			fa.Port = PortPXE
		}
		fa.Has175 = flags&4 != 0
		for i := 0; i+1 < len(arch) && i < 8; i += 2 {
			fa.Arch = append(fa.Arch, binary.BigEndian.Uint16(arch[i:]))
		}
		fa.VendorClass, fa.UserClass, fa.Opt97 = vc, uc, o97
		copy(fa.MAC[:], mac)

		c := baseConfig()
		c.IPXE = flags&0x10 != 0
		c.HTTP = flags&0x20 != 0
		c.TFTP = flags&0x40 != 0
		if flags&0x80 == 0 {
			c.HTTPPort = 80
		}
		c.ROM = rom
		if len(mac) > 6 {
			// Spare fuzz bytes drive the remaining settings.
			x := mac[6]
			c.NetbootFile = files[int(x)%len(files)]
			c.ArchFiles = map[uint16]string{uint16(x >> 4): files[int(x>>1)%len(files)]}
			c.HTTPBootPath = files[int(x>>2)%len(files)]
			c.Pi.Menu = PiMenu(x % 3)
			c.Pi.Disabled = x&0x80 != 0
			c.SecureBoot = x&0x20 != 0
			if x&0x40 != 0 {
				c.ServerIP = netip.Addr{}
			}
		}
		d := Decide(fa, c)
		checkInvariants(t, fa, c, d)
		if d2 := Decide(fa, c); d2.File != d.File || d2.Boot != d.Boot || d2.Kind != d.Kind {
			t.Fatalf("not deterministic: %+v then %+v", d, d2)
		}
	})
}
