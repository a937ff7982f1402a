// Package netlab builds throw-away network labs for tests: network namespaces, veth pairs and
// bridges, processes run inside a namespace, and guaranteed teardown. It never touches the
// machine's own interfaces: every link it makes lives in a namespace it created itself.
package netlab

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing prerequisite is a
// failure instead of a skip.
func InCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// Missing skips the test outside CI and fails it in CI, naming what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing (CI=true, so this fails): "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// RequireRoot skips (or, in CI, fails) the test unless it runs as root, which namespace labs
// need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root to create network namespaces (run `sudo make test`)")
	}
}

// RequireCommands skips (or, in CI, fails) the test unless every named command is on PATH.
func RequireCommands(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := LookPath(c); err != nil {
			Missing(t, "command %q not found (install the Debian package that ships it; see .ci/run)", c)
		}
	}
}

// RequireFiles skips (or, in CI, fails) the test unless every named file exists, for firmware
// images and ROMs that Debian packages install.
func RequireFiles(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			Missing(t, "file %s not found (install the Debian package that ships it; see .ci/run)", p)
		}
	}
}

// LookPath finds a command on PATH and also in /usr/sbin and /sbin, which a non-login root
// shell may lack on PATH.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}
