package boot

import (
	"path"
	"strings"
	"testing"
)

// checkInvariants asserts what must hold for every decision, whatever the request.
func checkInvariants(t *testing.T, f Facts, c Config, d Decision) {
	t.Helper()
	vc := classifyVendorClass(f.VendorClass)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("invariant: "+format+"\nfacts %+v\nconfig %+v\ndecision %+v", append(args, f, c, d)...)
	}
	if f.IsIPXE() && d.Boot && IsIPXEBinary(d.File) {
		fail("an iPXE client got an iPXE binary %q", d.File)
	}
	if f.Mode == Proxy && vc != vcPXE && vc != vcHTTP && d.Boot {
		fail("proxy mode answered a non-PXE, non-HTTP client")
	}
	if c.SecureBoot && d.Platform == "efi" {
		// A Secure Boot machine's UEFI side only ever gets a signed shim: never an iPXE
		// binary, never an iPXE script, never an operator's ROM or boot-map file.
		if d.Boot && path.Base(strings.SplitN(d.File, "?", 2)[0]) != FileShimX64 && path.Base(d.File) != FileShimAA64 {
			fail("a Secure Boot client got %q, not a signed shim", d.File)
		}
		if d.Boot && (IsIPXEBinary(d.File) || strings.HasSuffix(strings.ToLower(d.File), ".ipxe")) {
			fail("a Secure Boot client got the unsigned %q", d.File)
		}
		if d.Boot && d.Chain != ChainShim {
			fail("a Secure Boot client's chain is %q", d.Chain)
		}
	}
	if d.Chain == ChainShim && (!c.SecureBoot || d.Platform != "efi") {
		fail("shim chain for a client that is not a Secure Boot UEFI client")
	}
	if !d.Boot {
		if d.File != "" || d.SIAddr.IsValid() || d.Opt43 != nil || d.Opt60 != "" || d.Opt66 != "" || d.Opt97 != nil ||
			d.Opt209 != "" || d.CommitAtOffer || d.Use4011 {
			fail("no boot, yet boot fields are set")
		}
		if d.Reason == "" {
			fail("no boot without a reason")
		}
		return
	}
	if d.SIAddr != c.ServerIP {
		fail("siaddr %v is not the server %v", d.SIAddr, c.ServerIP)
	}
	if d.File == "" && !d.IsPi {
		fail("boot without a file")
	}
	if d.Opt60 != "" && d.Opt60 != "PXEClient" && d.Opt60 != "HTTPClient" {
		fail("option 60 %q", d.Opt60)
	}
	if d.Opt60 == "HTTPClient" && !strings.HasPrefix(d.File, "http://") && !strings.Contains(d.File, "://") {
		fail("HTTP boot reply without a URL")
	}
	if d.Opt43 != nil {
		// A Pi never asks on 4011; if something Pi-like does, it gets the Pi answer.
		if f.Port == PortPXE && !d.IsPi {
			fail("option 43 on port 4011")
		}
		if arch, ok := f.ClientArch(); ok && arch != ArchBIOS && arch != ArchRPiBoot && !d.IsPi {
			fail("option 43 for arch %d", arch)
		}
		if d.Opt43[len(d.Opt43)-1] != pxeEnd {
			fail("option 43 without end")
		}
	}
	if f.Mode == Full && f.Port != PortPXE && !d.IsIPXE && d.Opt60 == "PXEClient" {
		if arch, ok := f.ClientArch(); ok && arch != ArchBIOS && arch != ArchRPiBoot && !d.IsPi {
			fail("full-mode UEFI offer with option 60 PXEClient: EDK2 would detour via 4011")
		}
	}
	if d.Use4011 && (f.Mode != Proxy || d.Opt43 != nil || d.File == "" || f.Port == PortPXE) {
		fail("Use4011 outside a port-67 proxy offer without option 43")
	}
	if d.CommitAtOffer && (!d.IsPi || f.Mode != Full) {
		fail("CommitAtOffer for a non-Pi or in proxy mode")
	}
	if d.Opt97 != nil && len(f.Opt97) == 0 {
		fail("option 97 echoed but none sent")
	}
	if d.Opt66 != "" && d.Opt66 != c.ServerIP.String() {
		fail("option 66 %q", d.Opt66)
	}
	if d.IsPi && (d.Opt43 == nil || d.Opt66 == "") {
		fail("Pi without option 43 or 66")
	}
	if len(d.File) > 127 && !strings.Contains(d.File, "://") {
		// Long paths are possible from config; the file field holds 128 bytes but option
		// 67 carries it whole. Not an error, just noted by the fuzz target's seeds.
		_ = d
	}
}
