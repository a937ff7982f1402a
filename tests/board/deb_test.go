package board

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

var (
	debOnce sync.Once
	debDir  string
	debErr  error
)

// debBuild runs board/deb/build.sh once per test binary for all three architectures and
// returns the directory holding the .deb files.
func debBuild(t *testing.T) string {
	t.Helper()
	netlab.RequireCommands(t, "dpkg-deb", "go", "gzip", "md5sum")
	debOnce.Do(func() {
		debDir = filepath.Join(scratch, "debs")
		out, err := run(t, 10*time.Minute, "", []string{"DIST=" + debDir}, "board/deb/build.sh", testVersion)
		if err != nil {
			debErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debDir
}

func debFile(t *testing.T, arch string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(debBuild(t), "pxe-edge_*_"+arch+".deb"))
	if len(m) != 1 {
		t.Fatalf("want one pxe-edge .deb for %s, found %v", arch, m)
	}
	return m[0]
}

// TestDebPackages checks each package's control data and that it carries the right binary.
func TestDebPackages(t *testing.T) {
	for _, c := range []struct {
		arch    string
		machine elf.Machine
		goarm   string
	}{
		{"arm64", elf.EM_AARCH64, ""},
		// Raspberry Pi OS's armhf is ARMv6: the package carries the GOARM=6 build.
		{"armhf", elf.EM_ARM, "6"},
		{"amd64", elf.EM_X86_64, ""},
	} {
		t.Run(c.arch, func(t *testing.T) {
			deb := debFile(t, c.arch)
			info := mustRun(t, time.Minute, "", nil, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture")
			// v0.0.0-boardtest → 0.0.0+boardtest: Debian versions start with a digit.
			for _, want := range []string{"Package: pxe-edge", "Architecture: " + c.arch, "Version: 0.0.0+boardtest"} {
				if !strings.Contains(info, want) {
					t.Errorf("control lacks %q:\n%s", want, info)
				}
			}
			x := t.TempDir()
			mustRun(t, time.Minute, "", nil, "dpkg-deb", "-x", deb, x)
			bin := filepath.Join(x, "usr/bin/pxe-edge")
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != c.machine {
				t.Errorf("usr/bin/pxe-edge is for %v, want %v", f.Machine, c.machine)
			}
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range bi.Settings {
				if st.Key == "GOARM" && st.Value != c.goarm {
					t.Errorf("GOARM=%s, want %s", st.Value, c.goarm)
				}
			}
		})
	}
}

// TestDebLintian runs lintian on every package: no errors allowed; warnings are logged.
func TestDebLintian(t *testing.T) {
	netlab.RequireCommands(t, "lintian")
	for _, arch := range []string{"arm64", "armhf", "amd64"} {
		t.Run(arch, func(t *testing.T) {
			deb := debFile(t, arch)
			out, err := run(t, 5*time.Minute, "", nil, "lintian", "--tag-display-limit", "0", deb)
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				l := sc.Text()
				switch {
				case strings.HasPrefix(l, "E: "):
					t.Errorf("lintian: %s", l)
				case strings.HasPrefix(l, "W: "), strings.HasPrefix(l, "I: "):
					t.Logf("lintian: %s", l)
				}
			}
			// lintian exits 1 when it reports errors (counted above) and 2 when it breaks.
			if err != nil && !t.Failed() {
				t.Fatalf("lintian failed: %v\n%s", err, out)
			}
		})
	}
}

// unitFile is the parsed [Service] section of pxe-edge.service: key → values.
type unitFile map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			u[k] = append(u[k], v)
		}
	}
	return u
}

func (u unitFile) one(t *testing.T, k string) string {
	t.Helper()
	if len(u[k]) != 1 {
		t.Fatalf("unit has %d %s= lines, want 1", len(u[k]), k)
	}
	return u[k][0]
}

// checkInstalled verifies that everything the unit refers to exists in root: the binary, the
// config, the netboot directory the config names, the user, the state directory owned by it,
// the unit enabled for multi-user.target and accepted by systemd-analyze verify.
func checkInstalled(t *testing.T, root, unitPath string) {
	t.Helper()
	u := parseUnit(t, filepath.Join(root, unitPath))
	argv := strings.Fields(u.one(t, "ExecStart"))
	st, err := os.Stat(filepath.Join(root, argv[0]))
	if err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("ExecStart binary %s missing or not executable in the tree: %v", argv[0], err)
	}
	var cfgPath, stateDir string
	for i := 1; i+1 < len(argv); i++ {
		switch argv[i] {
		case "--config":
			cfgPath = argv[i+1]
		case "--state-dir":
			stateDir = argv[i+1]
		}
	}
	if cfgPath == "" || stateDir == "" {
		t.Fatalf("ExecStart %v lacks --config or --state-dir", argv)
	}
	raw, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatalf("config named by the unit: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", cfgPath, err)
	}
	nb, _ := cfg["NETBOOT_DIR"].(string)
	if st, err := os.Stat(filepath.Join(root, nb)); nb == "" || err != nil || !st.IsDir() {
		t.Errorf("NETBOOT_DIR %q from %s is not a directory in the tree: %v", nb, cfgPath, err)
	}
	if want := "/var/lib/" + u.one(t, "StateDirectory"); stateDir != want {
		t.Errorf("--state-dir %s differs from StateDirectory= (%s)", stateDir, want)
	}
	user := u.one(t, "User")
	uid, gid, ok := passwdEntry(t, root, user)
	if !ok {
		t.Fatalf("User=%s does not exist in the tree's /etc/passwd", user)
	}
	if uid == 0 || uid >= 1000 {
		t.Errorf("user %s has uid %d, want a system uid", user, uid)
	}
	var sst syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, stateDir), &sst); err != nil {
		t.Errorf("state directory: %v", err)
	} else if int(sst.Uid) != uid || int(sst.Gid) != gid {
		t.Errorf("%s owned by %d:%d, want %s (%d:%d)", stateDir, sst.Uid, sst.Gid, user, uid, gid)
	}
	link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/pxe-edge.service")
	if dst, err := os.Readlink(link); err != nil {
		t.Errorf("unit not enabled: %v", err)
	} else if filepath.Join("/", dst) != filepath.Join("/", unitPath) && !strings.HasSuffix(dst, "/pxe-edge.service") {
		t.Errorf("enable link points at %s", dst)
	}
	if _, err := netlab.LookPath("systemd-analyze"); err == nil {
		out, err := run(t, time.Minute, "", nil, "systemd-analyze", "verify", "--root="+root, unitPath)
		if err != nil || strings.Contains(string(out), "pxe-edge") {
			t.Errorf("systemd-analyze verify --root %s: %v\n%s", unitPath, err, out)
		}
	}
	// The installed binary runs in the tree and accepts the installed config.
	out, err := run(t, time.Minute, "", nil, "chroot", root, argv[0], "--config", cfgPath, "--dump-config-merged")
	if err != nil {
		t.Errorf("pxe-edge --config %s --dump-config-merged inside the tree: %v\n%s", cfgPath, err, out)
	}
}

// TestDebInstall installs the amd64 package into a debootstrap tree with dpkg --root (which
// runs the maintainer scripts chrooted there) and checks that every file lands where the unit
// expects it; once with systemd-sysusers creating the user, once with adduser; then purges.
func TestDebInstall(t *testing.T) {
	deb := debFile(t, "amd64")
	for _, variant := range []string{"sysusers", "adduser"} {
		t.Run(variant, func(t *testing.T) {
			root := debianTree(t)
			if variant == "adduser" {
				for _, p := range []string{"usr/bin/systemd-sysusers", "bin/systemd-sysusers"} {
					os.Remove(filepath.Join(root, p))
				}
			}
			out := mustRun(t, 3*time.Minute, "", nil, "dpkg", "--root="+root, "-i", deb)
			t.Logf("dpkg -i:\n%s", tail([]byte(out), 8))
			checkInstalled(t, root, "/lib/systemd/system/pxe-edge.service")
			// The committed netboot/ skeleton is seeded into /srv/pxe-edge/netboot. (The tree
			// has no ipxe/pxelinux packages, so postinst's netboot.sh adds no binaries here.)
			netboot := filepath.Join(root, "srv/pxe-edge/netboot")
			for _, f := range strings.Fields(mustRun(t, time.Minute, "", nil, "git", "ls-files", "--", "netboot")) {
				rel := strings.TrimPrefix(f, "netboot/")
				if strings.HasPrefix(filepath.Base(rel), ".") {
					continue
				}
				if _, err := os.Stat(filepath.Join(netboot, rel)); err != nil {
					t.Errorf("netboot/%s not seeded into /srv/pxe-edge/netboot: %v", rel, err)
				}
			}
			if !strings.Contains(out, "netboot.sh") && !strings.Contains(out, "netboot:") {
				t.Errorf("postinst did not run netboot.sh for the boot binaries:\n%s", out)
			}

			mustRun(t, 3*time.Minute, "", nil, "dpkg", "--root="+root, "--purge", "pxe-edge")
			for _, gone := range []string{"usr/bin/pxe-edge", "lib/systemd/system/pxe-edge.service",
				"etc/pxe-edge/pxe-edge.json", "var/lib/pxe-edge", "etc/systemd/system/multi-user.target.wants/pxe-edge.service"} {
				if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
					t.Errorf("/%s still there after purge", gone)
				}
			}
			if _, err := os.Stat(netboot); err != nil {
				t.Errorf("purge removed the admin's netboot files: %v", err)
			}
		})
	}
}

// TestInstallScript runs board/rpi/install.sh --root into a debootstrap tree and checks the
// same things as for the package, with the script's /usr/local and /etc paths.
func TestInstallScript(t *testing.T) {
	dist := crossBuild(t)
	root := debianTree(t)
	// A Raspberry Pi OS Bookworm-like NetworkManager config dir, for --claim-iface.
	if err := os.MkdirAll(filepath.Join(root, "etc/NetworkManager"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, 3*time.Minute, "", nil, "board/rpi/install.sh", "--root", root,
		"--bin", filepath.Join(dist, "pxe-edge-linux-amd64"), "--iface", "eth1",
		"--address", "10.80.3.1/24", "--claim-iface")
	t.Logf("install.sh:\n%s", out)
	checkInstalled(t, root, "/etc/systemd/system/pxe-edge.service")
	cfg, err := os.ReadFile(filepath.Join(root, "etc/pxe-edge/pxe-edge.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"IFACE": "eth1"`, `"DHCP_SERVER_IP": "10.80.3.1"`, `"DHCP_OFFER_BEGIN": "10.80.3.100"`, `"DHCP_OFFER_END": "10.80.3.199"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
	if regexp.MustCompile(`192\.168\.77\.`).Match(cfg) {
		t.Errorf("config still has default addresses:\n%s", cfg)
	}
	nm, err := os.ReadFile(filepath.Join(root, "etc/NetworkManager/conf.d/90-pxe-edge.conf"))
	if err != nil || !strings.Contains(string(nm), "unmanaged-devices=interface-name:eth1") {
		t.Errorf("--claim-iface: NetworkManager drop-in missing or wrong: %v %q", err, nm)
	}
	// A second run keeps the admin's config.
	if err := os.WriteFile(filepath.Join(root, "etc/pxe-edge/pxe-edge.json"), append(cfg, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 3*time.Minute, "", nil, "board/rpi/install.sh", "--root", root, "--bin", filepath.Join(dist, "pxe-edge-linux-amd64"))
	if again, _ := os.ReadFile(filepath.Join(root, "etc/pxe-edge/pxe-edge.json")); string(again) != string(cfg)+" " {
		t.Errorf("re-running install.sh overwrote the existing config")
	}
}
