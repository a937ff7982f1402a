package board

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// treeCache keeps one debootstrap tree across test runs: building it takes ~30-60 s and
// needs the Debian mirror, installing into a copy takes seconds.
const treeCache = "/var/cache/pxe-edge-test"

// debianTree returns a fresh copy of a minimal Debian tree (minbase + systemd, the host's
// release) with systemd and procps, creating the cached original with debootstrap on first use.
func debianTree(t *testing.T) string {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.RequireCommands(t, "debootstrap", "dpkg", "chroot")
	suite := hostCodename()
	if suite == "" {
		netlab.Missing(t, "cannot tell the Debian release from /etc/os-release (VERSION_CODENAME)")
	}
	// systemd for systemd-sysusers, deb-systemd-helper and `systemd-analyze verify --root`;
	// procps for /bin/kill (ExecReload=), as on every real Raspberry Pi OS / Debian system.
	include := []string{"systemd", "procps"}
	cached := filepath.Join(treeCache, suite+"-minbase-"+strings.Join(include, "-"))
	if err := os.MkdirAll(treeCache, 0o755); err != nil {
		t.Fatal(err)
	}
	// One creator at a time, also across test binaries.
	lock, err := os.OpenFile(filepath.Join(treeCache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cached, "usr/bin/dpkg")); err != nil {
		mirror := debianMirror()
		tmp := cached + ".new"
		os.RemoveAll(tmp)
		start := time.Now()
		out, err := run(t, 10*time.Minute, treeCache, nil, "debootstrap", "--variant=minbase",
			"--include="+strings.Join(include, ","), suite, tmp, mirror)
		if err != nil {
			os.RemoveAll(tmp)
			netlab.Missing(t, "debootstrap %s from %s failed (no mirror reachable?): %v\n%s", suite, mirror, err, tail(out, 30))
		}
		if err := os.Rename(tmp, cached); err != nil {
			t.Fatal(err)
		}
		t.Logf("debootstrap %s (minbase+%v) from %s: %v, cached in %s", suite, include, mirror, time.Since(start).Round(time.Second), cached)
	}
	dst := filepath.Join(t.TempDir(), "root")
	mustRun(t, 5*time.Minute, "", nil, "cp", "-a", cached, dst)
	return dst
}

func hostCodename() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// debianMirror is the Debian archive apt is configured with (deb822 .sources or one-line
// sources.list), so the tests use whatever mirror or proxy this machine uses; overridable with
// PXE_EDGE_DEBIAN_MIRROR.
func debianMirror() string {
	if m := os.Getenv("PXE_EDGE_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	files = append(files, globList("/etc/apt/sources.list.d/*.list")...)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uris []string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uris = fields[1:]
			case len(fields) >= 3 && fields[0] == "deb":
				for _, x := range fields[1:] {
					if strings.Contains(x, "://") {
						uris = append(uris, x)
						break
					}
				}
			}
			for _, u := range uris {
				if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
					fh.Close()
					return strings.TrimSuffix(u, "/")
				}
			}
		}
		fh.Close()
	}
	return "http://deb.debian.org/debian"
}

func globList(p string) []string {
	m, _ := filepath.Glob(p)
	return m
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// passwdEntry returns the uid and gid of user in the tree's /etc/passwd.
func passwdEntry(t *testing.T, root, user string) (uid, gid int, ok bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 4 && f[0] == user {
			if _, err := fmt.Sscanf(f[2]+" "+f[3], "%d %d", &uid, &gid); err == nil {
				return uid, gid, true
			}
		}
	}
	return 0, 0, false
}
