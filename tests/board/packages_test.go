package board

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// make demo runs scripts/netboot.sh after installing only .ci/packages-demo.txt, so every
// Debian package netboot.sh copies a required file from must be on that list. CI's machine
// also has the test packages installed, which would hide a gap (it did: pxelinux was missing).
func TestDemoPackagesCoverNetboot(t *testing.T) {
	script, err := os.ReadFile("../../scripts/netboot.sh")
	if err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile("../../.ci/packages-demo.txt")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(list), "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, p := range strings.Fields(line) {
			have[p] = true
		}
	}
	// `put PACKAGE SOURCE` lines name the package literally; a variable ($arm64_pkg) marks an
	// optional payload fetched outside apt.
	put := regexp.MustCompile(`(?m)^\s*put ([a-z0-9][a-z0-9.+-]*) `)
	found := put.FindAllStringSubmatch(string(script), -1)
	if len(found) == 0 {
		t.Fatal("no `put PACKAGE …` line found in scripts/netboot.sh: has its form changed?")
	}
	for _, m := range found {
		if !have[m[1]] {
			t.Errorf("scripts/netboot.sh copies from Debian package %q, which .ci/packages-demo.txt lacks: make demo fails on a fresh machine", m[1])
		}
	}
}
