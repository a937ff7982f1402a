package boot

import (
	"bytes"
	"testing"
)

func TestIsIPXE(t *testing.T) {
	tests := []struct {
		name string
		uc   []byte
		has  bool
		want bool
	}{
		{"plain", []byte("iPXE"), false, true},
		{"plain lower", []byte("ipxe"), false, true},
		{"nul terminated", []byte("iPXE\x00"), false, true},
		{"rfc3004 single", []byte("\x04iPXE"), false, true},
		{"rfc3004 second entry", []byte("\x03foo\x04iPXE"), false, true},
		{"rfc3004 truncated", []byte("\x05iPXE"), false, false},
		{"175 only", nil, true, true},
		{"other class", []byte("gPXE"), false, false},
		{"prefix only", []byte("iPXE-custom"), false, false},
		{"empty", nil, false, false},
		{"zero length entry", []byte{0, 4, 'i', 'P', 'X', 'E'}, false, false},
	}
	for _, tt := range tests {
		f := Facts{UserClass: tt.uc, Has175: tt.has}
		if got := f.IsIPXE(); got != tt.want {
			t.Errorf("%s: IsIPXE(%q, 175=%v) = %v, want %v", tt.name, tt.uc, tt.has, got, tt.want)
		}
	}
}

func TestClientArch(t *testing.T) {
	tests := []struct {
		arch []uint16
		vc   string
		want uint16
		ok   bool
	}{
		{[]uint16{7, 0}, "PXEClient:Arch:00000:UNDI:002001", 7, true}, // option 93 wins, first entry
		{nil, "PXEClient:Arch:00011:UNDI:003000", 11, true},
		{nil, "HTTPClient:Arch:00016:UNDI:003000", 16, true},
		{nil, "HTTPClient:Arch:00019", 19, true},
		{nil, "PXEClient:Arch:65535:UNDI:003000", 65535, true},
		{nil, "PXEClient:Arch:99999:UNDI:003000", 0, false},
		{nil, "PXEClient:Arch::UNDI", 0, false},
		{nil, "PXEClient", 0, false},
		{nil, "", 0, false},
	}
	for _, tt := range tests {
		f := Facts{Arch: tt.arch, VendorClass: tt.vc}
		got, ok := f.ClientArch()
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClientArch(%v, %q) = %d, %v; want %d, %v", tt.arch, tt.vc, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParsePiGUID(t *testing.T) {
	mac := [6]byte{0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2}
	b := piOpt97("RPi4", 0x00c03111, mac, 0x3c8da5af)
	g, ok := ParsePiGUID(b)
	if !ok || g.Model != "RPi4" || g.Revision != 0x00c03111 || g.Serial != 0x3c8da5af || g.MACLow != [4]byte{0x32, 0x01, 0x36, 0xc2} {
		t.Fatalf("ParsePiGUID(% x) = %+v, %v", b, g, ok)
	}
	if g.SerialDir() != "3c8da5af" {
		t.Errorf("SerialDir = %q", g.SerialDir())
	}
	if g, ok := ParsePiGUID(b[1:]); !ok || g.Serial != 0x3c8da5af {
		t.Errorf("bare 16-byte GUID not accepted: %+v %v", g, ok)
	}
	if (PiGUID{Serial: 0xab}).SerialDir() != "000000ab" {
		t.Errorf("SerialDir does not zero-pad")
	}
	bad := [][]byte{nil, b[:16:16][:15], append([]byte{1}, b[1:]...), append([]byte{0, 'X'}, b[2:]...),
		append([]byte{0}, bytes.Repeat([]byte{0xaf}, 16)...), append(b, 0)}
	for _, x := range bad {
		if g, ok := ParsePiGUID(x); ok {
			t.Errorf("ParsePiGUID(% x) = %+v, want not a Pi", x, g)
		}
	}
}

func TestIsPiMAC(t *testing.T) {
	for _, m := range [][6]byte{{0xb8, 0x27, 0xeb}, {0xdc, 0xa6, 0x32}, {0xe4, 0x5f, 0x01}, {0x28, 0xcd, 0xc1}, {0xd8, 0x3a, 0xdd}, {0x2c, 0xcf, 0x67}} {
		if !IsPiMAC(m) {
			t.Errorf("IsPiMAC(%x) = false", m)
		}
	}
	for _, m := range [][6]byte{{0x52, 0x54, 0x00}, {0xb8, 0x27, 0xec}, {}} {
		if IsPiMAC(m) {
			t.Errorf("IsPiMAC(%x) = true", m)
		}
	}
}

func TestMACDashed(t *testing.T) {
	if got := MACDashed([6]byte{0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2}); got != "dc-a6-32-01-36-c2" {
		t.Errorf("MACDashed = %q", got)
	}
}

func TestIsIPXEBinary(t *testing.T) {
	yes := []string{"undionly.kpxe", "undionly.kkpxe", "ipxe.kkkpxe", "ipxe.efi", "ipxe-arm64.efi", "snponly.efi", "snp.efi",
		"arm64/SNP.EFI", "ipxe.pxe", "ipxe.lkrn", "http://10.0.0.1/ipxe.efi?x=1", `EFI\ipxe.efi`, "undionly.0", "ipxe.iso"}
	no := []string{"pxelinux.0", "lpxelinux.0", "boot.ipxe", "syslinux.efi", "grubx64.efi", "shim.efi", "", "ipxe", "hosts/ipxe.cfg"}
	for _, s := range yes {
		if !IsIPXEBinary(s) {
			t.Errorf("IsIPXEBinary(%q) = false", s)
		}
	}
	for _, s := range no {
		if IsIPXEBinary(s) {
			t.Errorf("IsIPXEBinary(%q) = true", s)
		}
	}
}

func TestStrings(t *testing.T) {
	if Discover.String() != "DISCOVER" || Request.String() != "REQUEST" || Inform.String() != "INFORM" || MsgKind(99).String() != "UNKNOWN" {
		t.Error("MsgKind.String")
	}
	if Full.String() != "full" || Proxy.String() != "proxy" {
		t.Error("Mode.String")
	}
}
