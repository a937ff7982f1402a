package board

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// maxPiSize is the size budget for every binary a Raspberry Pi runs — arm64, armv7 and armv6
// (issue 7: small SD cards, quick copies): each must stay within it (docs/bench/size.md has
// the figures). The 32-bit arm binaries are the larger ones, so they reach the budget first.
// amd64 is for laptops and has no budget.
const maxPiSize = 8 << 20

// piBinaries are the binaries maxPiSize applies to.
var piBinaries = map[string]bool{
	"pxe-edge-linux-arm64": true,
	"pxe-edge-linux-armv7": true,
	"pxe-edge-linux-armv6": true,
}

// TestCrossTargets checks that `make cross` produced the four binaries for the right CPUs,
// statically linked, with SHA256SUMS matching the files.
func TestCrossTargets(t *testing.T) {
	dist := crossBuild(t)
	want := map[string]struct {
		machine elf.Machine
		class   elf.Class
		goarch  string
		goarm   string
	}{
		"pxe-edge-linux-arm64": {elf.EM_AARCH64, elf.ELFCLASS64, "arm64", ""},
		"pxe-edge-linux-armv6": {elf.EM_ARM, elf.ELFCLASS32, "arm", "6"},
		"pxe-edge-linux-armv7": {elf.EM_ARM, elf.ELFCLASS32, "arm", "7"},
		"pxe-edge-linux-amd64": {elf.EM_X86_64, elf.ELFCLASS64, "amd64", ""},
	}
	sums := readSums(t, filepath.Join(dist, "SHA256SUMS"))
	if len(sums) != len(want) {
		t.Errorf("SHA256SUMS lists %d files, want %d: %v", len(sums), len(want), sums)
	}
	for name, w := range want {
		path := filepath.Join(dist, name)
		f, err := elf.Open(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if f.Machine != w.machine || f.Class != w.class {
			t.Errorf("%s: ELF %v %v, want %v %v", name, f.Machine, f.Class, w.machine, w.class)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: has %v: not a static binary", name, p.Type)
			}
		}
		f.Close()
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Errorf("%s: build info: %v", name, err)
			continue
		}
		got := map[string]string{}
		for _, s := range bi.Settings {
			got[s.Key] = s.Value
		}
		if got["GOARCH"] != w.goarch || got["GOARM"] != w.goarm || got["CGO_ENABLED"] != "0" || got["-trimpath"] != "true" {
			t.Errorf("%s: built with GOARCH=%q GOARM=%q CGO_ENABLED=%q -trimpath=%q; want %s/%q, cgo off, trimpath",
				name, got["GOARCH"], got["GOARM"], got["CGO_ENABLED"], got["-trimpath"], w.goarch, w.goarm)
		}
		if _, ok := got["vcs.revision"]; ok {
			t.Errorf("%s: VCS stamping is on (-buildvcs=false expected): builds would depend on the checkout", name)
		}
		if h := fileSHA256(t, path); sums[name] != h {
			t.Errorf("%s: SHA256SUMS says %s, file is %s", name, sums[name], h)
		}
	}
}

// TestCrossReproducible builds everything a second time from a copy of the source in another
// directory, with an empty build cache, and compares the hashes, then looks for build paths inside the binaries.
func TestCrossReproducible(t *testing.T) {
	distA := crossBuild(t)
	// The second copy sits at a different depth and name: no path may leak into the bytes.
	srcB := filepath.Join(scratch, "elsewhere", "deeper", "src-b")
	if err := os.MkdirAll(filepath.Dir(srcB), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, time.Minute, "", nil, "cp", "-a", filepath.Join(scratch, "src-a"), srcB)
	distB := filepath.Join(scratch, "dist-b")
	// A fresh build cache: the second build compiles every package again instead of reusing
	// the first build's objects, as a build on another machine would.
	// One target (the Pi's arm64) keeps the test's time down: compiling the standard library
	// from scratch takes about a minute per target on two cores.
	mustRun(t, 10*time.Minute, srcB, []string{"DIST=" + distB, "GOCACHE=" + filepath.Join(scratch, "gocache-b"),
		"TARGETS=arm64"}, "scripts/cross.sh", testVersion)
	a, b := readSums(t, filepath.Join(distA, "SHA256SUMS")), readSums(t, filepath.Join(distB, "SHA256SUMS"))
	if len(b) != 1 {
		t.Errorf("TARGETS=arm64 built %d binaries, want 1: %v", len(b), b)
	}
	for _, n := range []string{"pxe-edge-linux-arm64"} {
		if a[n] == "" || a[n] != b[n] {
			t.Errorf("%s: not reproducible: %s (build 1) vs %s (build 2)", n, a[n], b[n])
		}
	}

	goroot := strings.TrimSpace(mustRun(t, time.Minute, "", nil, "go", "env", "GOROOT"))
	home, _ := os.UserHomeDir()
	// Directories end in "/" so that a source file name such as os/root_unix.go is no hit.
	leaks := []string{"/work/", "/root/", "/tmp/", "/home/", scratch + "/", netlab.ModuleRoot(t) + "/", goroot + "/"}
	if home != "" && home != "/" {
		leaks = append(leaks, home+"/")
	}
	for _, n := range crossNames {
		data, err := os.ReadFile(filepath.Join(distA, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leaks {
			if i := bytes.Index(data, []byte(l)); i >= 0 {
				lo, hi := max(0, i-40), min(len(data), i+60)
				t.Errorf("%s contains the build path %q: …%q…", n, l, data[lo:hi])
			}
		}
	}
}

// TestCrossSize guards the sizes of the Pi binaries (arm64, armv7, armv6); docs/bench/size.md
// has the figures.
func TestCrossSize(t *testing.T) {
	dist := crossBuild(t)
	checked := 0
	for _, n := range crossNames {
		st, err := os.Stat(filepath.Join(dist, n))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-22s %9d bytes (%.2f MiB)", n, st.Size(), float64(st.Size())/(1<<20))
		if !piBinaries[n] {
			continue
		}
		checked++
		if st.Size() > maxPiSize {
			t.Errorf("%s is %d bytes, over the 8 MiB budget by %d bytes", n, st.Size(), st.Size()-maxPiSize)
		}
	}
	if checked != len(piBinaries) {
		t.Errorf("checked %d Pi binaries, want %d: a target was renamed or dropped (crossNames %v)", checked, len(piBinaries), crossNames)
	}
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
