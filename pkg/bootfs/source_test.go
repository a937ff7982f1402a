package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

var (
	macA   = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macPi  = [6]byte{0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2}
	ipA    = netip.MustParseAddr("10.70.0.5")
	ipB    = netip.MustParseAddr("10.70.0.23")
	ipPi   = netip.MustParseAddr("10.70.0.40")
	local  = netip.MustParseAddr("10.70.0.1")
	leases = map[netip.Addr][6]byte{ipA: macA, ipPi: macPi}
)

func lookup(a netip.Addr) ([6]byte, bool) {
	m, ok := leases[a]
	return m, ok
}

// tree writes files (path → content) below a new temp dir and returns it.
func tree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newSource(t testing.TB, dir string, opts ...Option) *Source {
	t.Helper()
	inner, err := tftp.NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	s, err := New(inner, dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// read opens path for client and returns its content, or the error.
func read(s tftp.FileSource, client netip.Addr, path string) (string, error) {
	f, err := s.Open(&tftp.Request{Path: path, Client: netip.AddrPortFrom(client, 2070), Local: local, Mode: "octet"})
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
	return string(b), err
}

var testTree = map[string]string{
	"pxelinux.0":                         "root pxelinux",
	"boot.ipxe":                          "root script",
	"start4.elf":                         "root start4",
	"config.txt":                         "root config",
	"fixup4.dat":                         "root fixup4",
	"cmdline.txt":                        "root cmdline",
	"bcm2711-rpi-4-b.dtb":                "root dtb",
	"overlays/vc4-kms-v3d.dtbo":          "root overlay",
	"kernel8.img":                        "root kernel",
	"01-52-54-00-12-34-56/boot.ipxe":     "A's script",
	"10.70.0.23/pxelinux.0":              "B's pxelinux",
	"10.70.0.23/boot.ipxe":               "B's script",
	"10.70.0.5/boot.ipxe":                "A's IP script",
	"10.70.0.5/pxelinux.0":               "A's IP pxelinux",
	"3c8da5af/config.txt":                "pi serial config",
	"3c8da5af/overlays/vc4-kms-v3d.dtbo": "pi serial overlay",
	"dc-a6-32-01-36-c2/cmdline.txt":      "pi mac cmdline",
	"pis/config.txt":                     "pi fixed config",
	"images/linux":                       "a kernel",
}

func TestOpen(t *testing.T) {
	dir := tree(t, testTree)
	tests := []struct {
		name   string
		opts   []Option
		client netip.Addr
		path   string
		want   string
		err    error
	}{
		// Plain root.
		{"root file", nil, ipB, "images/linux", "a kernel", nil},
		{"leading slash and backslash", nil, ipB, `\images\linux`, "a kernel", nil},
		{"no fallback outside a pi prefix", nil, ipB, "images/pxelinux.0", "", fs.ErrNotExist},
		{"missing", nil, ipB, "nothere", "", fs.ErrNotExist},
		{"escape refused", nil, ipB, "../etc/passwd", "", fs.ErrPermission},

		// Per-client roots: 01-<mac> first, then the IP directory, then the root.
		{"mac dir wins", []Option{WithMACLookup(lookup)}, ipA, "boot.ipxe", "A's script", nil},
		{"ip dir after mac dir", []Option{WithMACLookup(lookup)}, ipA, "pxelinux.0", "A's IP pxelinux", nil},
		{"root after client dirs", []Option{WithMACLookup(lookup)}, ipA, "start4.elf", "root start4", nil},
		{"ip dir without a lease", nil, ipB, "boot.ipxe", "B's script", nil},
		{"ip dir only without lookup", nil, ipA, "boot.ipxe", "A's IP script", nil},
		{"no client dir", []Option{WithMACLookup(lookup)}, netip.MustParseAddr("10.70.0.99"), "boot.ipxe", "root script", nil},
		{"own mac dir by name", []Option{WithMACLookup(lookup)}, ipA, "01-52-54-00-12-34-56/boot.ipxe", "A's script", nil},
		{"own ip dir by name", nil, ipB, "10.70.0.23/boot.ipxe", "B's script", nil},
		{"another client's ip dir", nil, ipA, "10.70.0.23/boot.ipxe", "", fs.ErrNotExist},
		{"another client's mac dir", []Option{WithMACLookup(lookup)}, ipB, "01-52-54-00-12-34-56/boot.ipxe", "", fs.ErrNotExist},
		{"client roots off", []Option{WithMACLookup(lookup), WithoutClientRoots()}, ipA, "boot.ipxe", "root script", nil},
		{"client roots off: other dirs readable", []Option{WithoutClientRoots()}, ipA, "10.70.0.23/boot.ipxe", "B's script", nil},
		{"ipv4-mapped client address", nil, netip.MustParseAddr("::ffff:10.70.0.23"), "boot.ipxe", "B's script", nil},

		// Raspberry Pi prefixes.
		{"pi serial probe falls back to root", nil, ipPi, "3c8da5af/start4.elf", "root start4", nil},
		{"pi serial own file", nil, ipPi, "3c8da5af/config.txt", "pi serial config", nil},
		{"pi serial nested own file", nil, ipPi, "3c8da5af/overlays/vc4-kms-v3d.dtbo", "pi serial overlay", nil},
		{"pi serial nested fallback", nil, ipPi, "3c8da5af/bcm2711-rpi-4-b.dtb", "root dtb", nil},
		{"pi serial upper case dir name", nil, ipPi, "3C8DA5AF/start4.elf", "", fs.ErrNotExist},
		{"pi serial without dir: not found, the Pi drops the prefix", nil, ipPi, "deadbeef/start4.elf", "", fs.ErrNotExist},
		{"pi serial dir, file nowhere", nil, ipPi, "3c8da5af/nothere", "", fs.ErrNotExist},
		{"pi mac prefix", nil, ipPi, "dc-a6-32-01-36-c2/start4.elf", "root start4", nil},
		{"pi mac prefix own file", nil, ipPi, "dc-a6-32-01-36-c2/cmdline.txt", "pi mac cmdline", nil},
		{"pi fixed prefix needs the option", nil, ipPi, "pis/start4.elf", "", fs.ErrNotExist},
		{"pi fixed prefix", []Option{WithPiPrefixes("pis/")}, ipPi, "pis/start4.elf", "root start4", nil},
		{"pi fixed prefix own file", []Option{WithPiPrefixes("pis")}, ipPi, "pis/config.txt", "pi fixed config", nil},
		{"pi prefixes off", []Option{WithoutPiPrefixes()}, ipPi, "3c8da5af/start4.elf", "", fs.ErrNotExist},
		{"pi prefix escape refused", nil, ipPi, "3c8da5af/../../etc/passwd", "", fs.ErrPermission},
		{"pi prefix does not open another client's dir (found by FuzzOpen)", nil, ipA, "3c8da5af/10.70.0.23/boot.ipxe", "", fs.ErrNotExist},
		{"pi prefix then own client dir", nil, ipB, "3c8da5af/10.70.0.23/boot.ipxe", "B's script", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, dir, tt.opts...)
			got, err := read(s, tt.client, tt.path)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Open(%q) = %q, %v; want error %v", tt.path, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Open(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
}

// TestSymlinkOutOfClientDir: a client directory cannot lead outside the root.
func TestSymlinkOutOfClientDir(t *testing.T) {
	dir := tree(t, map[string]string{"boot.ipxe": "root"})
	outside := tree(t, map[string]string{"secret": "nope"})
	if err := os.Symlink(outside, filepath.Join(dir, "10.70.0.23")); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, dir)
	if got, err := read(s, ipB, "secret"); err == nil {
		t.Fatalf("read through a symlinked client dir: %q", got)
	}
	if got, err := read(s, ipB, "boot.ipxe"); err != nil || got != "root" {
		t.Fatalf("boot.ipxe = %q, %v", got, err)
	}
}

// piClient replays the Raspberry Pi 4 bootloader's TFTP file order (field guide §7): probe
// <prefix>/start4.elf; if found keep the prefix, else drop it; then config.txt, start4.elf,
// fixup4.dat, config.txt, the dtb, an overlay, cmdline.txt, the kernel. It returns the
// contents read, by name.
func piClient(t *testing.T, s tftp.FileSource, client netip.Addr, prefix string) (usedPrefix string, got map[string]string) {
	t.Helper()
	if _, err := read(s, client, prefix+"/start4.elf"); err == nil {
		usedPrefix = prefix + "/"
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("probe: %v", err)
	}
	got = map[string]string{}
	for _, f := range []string{"config.txt", "start4.elf", "fixup4.dat", "config.txt", "bcm2711-rpi-4-b.dtb",
		"overlays/vc4-kms-v3d.dtbo", "cmdline.txt", "kernel8.img"} {
		c, err := read(s, client, usedPrefix+f)
		if err != nil {
			t.Fatalf("Pi read %s%s: %v", usedPrefix, f, err)
		}
		got[f] = c
	}
	return usedPrefix, got
}

func TestPi4Sequence(t *testing.T) {
	s := newSource(t, tree(t, testTree), WithMACLookup(lookup))

	// With a serial directory: the prefix stays, its files win, the rest comes from the root.
	p, got := piClient(t, s, ipPi, "3c8da5af")
	if p != "3c8da5af/" {
		t.Fatalf("prefix %q not kept", p)
	}
	want := map[string]string{"config.txt": "pi serial config", "start4.elf": "root start4", "fixup4.dat": "root fixup4",
		"bcm2711-rpi-4-b.dtb": "root dtb", "overlays/vc4-kms-v3d.dtbo": "pi serial overlay", "cmdline.txt": "root cmdline", "kernel8.img": "root kernel"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	// Without one: the probe is "not found", the Pi drops the prefix, everything from the root.
	p, got = piClient(t, s, ipPi, "0badcafe")
	if p != "" {
		t.Fatalf("prefix %q kept without a directory", p)
	}
	if got["config.txt"] != "root config" || got["cmdline.txt"] != "root cmdline" {
		t.Errorf("unprefixed Pi got %v", got)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("New on a missing dir succeeded")
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]bool{"01-52-54-00-12-34-56": true, "10.70.0.23": true, "01-52-54-00-12-34": false,
		"02-52-54-00-12-34-56": false, "dc-a6-32-01-36-c2": false, "fe80::1": false, "pxelinux.cfg": false} {
		if got := boot.IsClientDir(name); got != want {
			t.Errorf("boot.IsClientDir(%q) = %v", name, got)
		}
	}
	s := &Source{piFixed: []string{"pis"}}
	for name, want := range map[string]bool{"3c8da5af": true, "3C8DA5AF": true, "3c8da5a": false, "3c8da5afa": false,
		"dc-a6-32-01-36-c2": true, "dc:a6:32:01:36:c2": false, "pis": true, "images": false, "gggggggg": false} {
		if got := s.isPiPrefix(name); got != want {
			t.Errorf("isPiPrefix(%q) = %v", name, got)
		}
	}
	if boot.MACDashed(macPi) != "dc-a6-32-01-36-c2" {
		t.Error(boot.MACDashed(macPi))
	}
}
