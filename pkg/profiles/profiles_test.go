package profiles

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const sample = `{
  "default": "local", "timeout": 10, "args": "console=ttyS0",
  "profiles": [
    {"name": "one-machine", "match": {"mac": ["52:54:00:AA:BB:CC"]}, "default": "debian-installer", "timeout": 0,
     "args": "hostname={hostname} netcfg/choose_interface={mac}"},
    {"name": "qemu", "match": {"mac_prefix": ["52:54:00"]}, "default": "alpine.iso", "timeout": 5},
    {"name": "qemu-efi", "match": {"mac_prefix": ["52:54:00:12"], "arch": ["x86_64-efi"]}, "default": "ubuntu.iso"},
    {"name": "lab", "match": {"group": ["lab"]}, "default": "fedora.iso", "args": "ip={ip} g={group}"},
    {"name": "arm", "match": {"arch": ["11", "arm64-efi"]}, "default": "debian-arm64.iso"}
  ]
}`

func TestResolve(t *testing.T) {
	s, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		f    Facts
		want Decision
	}{
		{"exact MAC wins over prefix and group",
			Facts{MAC: "52-54-00-aa-bb-cc", Group: "lab", Hostname: "pc1", Platform: "pcbios"},
			Decision{Profile: "one-machine", Default: "debian-installer", Timeout: 0, Args: "console=ttyS0 hostname=pc1 netcfg/choose_interface=52:54:00:aa:bb:cc"}},
		{"group beats prefix", Facts{MAC: "52:54:00:00:00:01", Group: "lab", IP: netip.MustParseAddr("10.0.0.5")},
			Decision{Profile: "lab", Default: "fedora.iso", Timeout: 10 * time.Second, Args: "console=ttyS0 ip=10.0.0.5 g=lab"}},
		{"longer prefix with arch beats shorter prefix", Facts{MAC: "52:54:00:12:00:01", Platform: "x86_64-efi", Arch: 7},
			Decision{Profile: "qemu-efi", Default: "ubuntu.iso", Timeout: 10 * time.Second, Args: "console=ttyS0"}},
		{"prefix, arch not matching the longer one", Facts{MAC: "52:54:00:12:00:01", Platform: "pcbios"},
			Decision{Profile: "qemu", Default: "alpine.iso", Timeout: 5 * time.Second, Args: "console=ttyS0"}},
		{"arch by number", Facts{MAC: "00:11:22:33:44:55", Arch: 11},
			Decision{Profile: "arm", Default: "debian-arm64.iso", Timeout: 10 * time.Second, Args: "console=ttyS0"}},
		{"nothing matches", Facts{MAC: "00:11:22:33:44:55", Arch: 0, Platform: "pcbios"},
			Decision{Default: "local", Timeout: 10 * time.Second, Args: "console=ttyS0"}},
		{"hostile facts are sanitised", Facts{MAC: "52:54:00:aa:bb:cc", Hostname: "x init=/bin/sh\nroot=/dev/evil"},
			Decision{Profile: "one-machine", Default: "debian-installer", Args: "console=ttyS0 hostname=xinitbinshrootdevevil netcfg/choose_interface=52:54:00:aa:bb:cc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Resolve(tc.f)
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if strings.ContainsAny(got.Args, "\n\r") || strings.Contains(got.Args, "init=") {
				t.Errorf("unsafe args %q", got.Args)
			}
		})
	}
	if d := (&Set{Default: Local, Timeout: DefaultTimeout}).Resolve(Facts{}); d.Default != Local || d.Timeout != DefaultTimeout {
		t.Errorf("empty set: %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"profiles":[{"name":"a","match":{"mac":["nope"]}}]}`, `profile "a": match.mac`},
		{`{"profiles":[{"name":"a","match":{}}]}`, `profile "a": match: no criteria`},
		{`{"profiles":[{"match":{"group":["x"]}}]}`, `profile "#0": name`},
		{`{"profiles":[{"name":"a","match":{"mac_prefix":["5254"]}}]}`, `mac_prefix`},
		{`{"timeout": -1}`, `timeout`},
		{`{"timeout": 99999}`, `timeout`},
		{`{"args": "a\nb"}`, `args`},
		{`{"default": "../etc"}`, `default`},
		{`{"bogus": 1}`, `unknown field "bogus"`},
		{`{"profiles":[{"name":"a","match":{"group":["x"]},"timeout":"5"}]}`, `cannot unmarshal`},
		{`{} {}`, `data after`},
	} {
		_, err := Parse([]byte(tc.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestBootOnceDurable(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "profiles.json")
	os.WriteFile(prof, []byte(sample), 0o644)
	r, err := New(prof, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := Facts{MAC: "52:54:00:aa:bb:cc"}
	if err := r.SetNextBoot("52:54:00:AA:BB:CC", "memtest.iso"); err != nil {
		t.Fatal(err)
	}
	if d := r.Resolve(f); d.Default != "memtest.iso" || !d.BootOnce || d.Timeout != 0 {
		t.Errorf("with boot-once: %+v", d)
	}
	// Survives a restart.
	r2, err := New(prof, dir)
	if err != nil {
		t.Fatal(err)
	}
	if nb := r2.NextBoots(); len(nb) != 1 || nb[0].MAC != "52:54:00:aa:bb:cc" || nb[0].Entry != "memtest.iso" {
		t.Fatalf("after restart: %+v", nb)
	}
	// Consumed only by its own entry.
	if ok, _ := r2.ConsumeIf(f.MAC, "other.iso"); ok {
		t.Error("consumed by another entry")
	}
	if ok, err := r2.ConsumeIf(f.MAC, "memtest.iso"); !ok || err != nil {
		t.Errorf("ConsumeIf: %v %v", ok, err)
	}
	if d := r2.Resolve(f); d.Default != "debian-installer" || d.BootOnce {
		t.Errorf("after consumption: %+v", d)
	}
	r3, _ := New(prof, dir)
	if len(r3.NextBoots()) != 0 {
		t.Errorf("consumption not durable: %+v", r3.NextBoots())
	}
	if err := r3.SetNextBoot("not-a-mac", "x"); err == nil {
		t.Error("bad MAC accepted")
	}
	if err := r3.SetNextBoot("52:54:00:aa:bb:cc", "a/b"); err == nil {
		t.Error("bad entry accepted")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestBootOnceWriteFailure: a failed write (ENOSPC) is reported and changes nothing, in
// memory or on disk.
func TestBootOnceWriteFailure(t *testing.T) {
	dir := t.TempDir()
	r, err := New("", dir)
	if err != nil {
		t.Fatal(err)
	}
	r.SetNextBoot("52:54:00:00:00:01", "a.iso")
	before, _ := os.ReadFile(filepath.Join(dir, StateFile))
	r.state.write = func(string, []byte) error { return syscall.ENOSPC }
	if err := r.SetNextBoot("52:54:00:00:00:02", "b.iso"); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Set: %v", err)
	}
	if ok, err := r.ConsumeIf("52:54:00:00:00:01", "a.iso"); ok || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("ConsumeIf: %v %v", ok, err)
	}
	if nb := r.NextBoots(); len(nb) != 1 || nb[0].Entry != "a.iso" {
		t.Errorf("memory changed by failed writes: %+v", nb)
	}
	after, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if string(before) != string(after) {
		t.Error("file changed by failed writes")
	}
	// A real failure: the directory made read-only (skipped as root, who ignores modes).
	if os.Geteuid() != 0 {
		r.state.write = writeAtomic
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if err := r.SetNextBoot("52:54:00:00:00:03", "c.iso"); err == nil {
			t.Error("write into a read-only directory succeeded")
		}
	}
}

func TestDamagedState(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version":1,"next":[{"mac":"zz","entry":"x"}]}`), 0o644)
	r, err := New("", dir)
	if r == nil || err == nil {
		t.Fatalf("damaged state: r=%v err=%v", r, err)
	}
	if _, serr := os.Stat(filepath.Join(dir, StateFile+".damaged")); serr != nil {
		t.Error("damaged file not kept")
	}
	if len(r.NextBoots()) != 0 {
		t.Error("damaged entries loaded")
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.json")
	os.WriteFile(prof, []byte(sample), 0o644)
	r, _ := New(prof, dir)
	os.WriteFile(prof, []byte(`{"profiles": [`), 0o644)
	if err := r.Reload(); err == nil {
		t.Fatal("bad file reloaded")
	}
	if d := r.Resolve(Facts{MAC: "52:54:00:aa:bb:cc"}); d.Profile != "one-machine" {
		t.Errorf("old profiles lost: %+v", d)
	}
	os.WriteFile(prof, []byte(`{"default": "x.iso"}`), 0o644)
	if err := r.Reload(); err != nil || r.Resolve(Facts{}).Default != "x.iso" {
		t.Errorf("reload: %v", err)
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	tok, created, err := LoadOrCreateToken(dir)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("create: %q %v %v", tok, created, err)
	}
	st, _ := os.Stat(filepath.Join(dir, TokenFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	tok2, created, err := LoadOrCreateToken(dir)
	if err != nil || created || tok2 != tok {
		t.Errorf("reload: %q %v %v", tok2, created, err)
	}
	if !CheckToken(tok, tok) || CheckToken(tok, tok[:63]) || CheckToken(tok, "") || CheckToken("", "") {
		t.Error("CheckToken")
	}
	os.WriteFile(filepath.Join(dir, TokenFile), []byte("short\n"), 0o600)
	if _, _, err := LoadOrCreateToken(dir); err == nil {
		t.Error("a bad token file was accepted")
	}
}

func TestSecureBootSetting(t *testing.T) {
	s, err := Parse([]byte(`{"secure_boot": true, "profiles": [
		{"name": "legacy", "match": {"mac": ["52:54:00:00:00:01"]}, "secure_boot": false},
		{"name": "lab", "match": {"group": ["lab"]}, "default": "x"},
		{"name": "arm", "match": {"arch": ["arm64-efi"]}, "secure_boot": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f      Facts
		on, ok bool
	}{
		{Facts{MAC: "52:54:00:00:00:01"}, false, true},              // the profile's own setting
		{Facts{MAC: "52:54:00:00:00:02", Group: "lab"}, true, true}, // the profile says nothing: top level
		{Facts{MAC: "52:54:00:00:00:03"}, true, true},
	} {
		if on, ok := s.SecureBootFor(tc.f); on != tc.on || ok != tc.ok {
			t.Errorf("%+v: %v %v, want %v %v", tc.f, on, ok, tc.on, tc.ok)
		}
	}
	s2, _ := Parse([]byte(`{"profiles": [{"name": "arm", "match": {"arch": ["arm64-efi"]}, "secure_boot": true}]}`))
	if on, ok := s2.SecureBootFor(Facts{MAC: "52:54:00:00:00:03", Platform: "arm64-efi"}); !on || !ok {
		t.Errorf("arch profile: %v %v", on, ok)
	}
	if _, ok := s2.SecureBootFor(Facts{MAC: "52:54:00:00:00:03", Platform: "x86_64-efi"}); ok {
		t.Error("no profile and no top level, yet a setting")
	}
	s3, _ := Parse([]byte(`{"profiles": [{"name": "lab", "match": {"group": ["lab"]}, "default": "x"}]}`))
	for _, tc := range []struct {
		set  *Set
		want bool
	}{{s, true}, {s2, true}, {s3, false}, {&Set{}, false}} {
		if got := tc.set.MarksSecureBoot(); got != tc.want {
			t.Errorf("MarksSecureBoot of %+v: %v, want %v", tc.set, got, tc.want)
		}
	}
	if _, err := Parse([]byte(`{"secure_boot": "yes"}`)); err == nil {
		t.Error(`"secure_boot": "yes" accepted`)
	}
}
