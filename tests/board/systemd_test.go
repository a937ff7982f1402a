package board

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// checkUnit runs inside the booted tree after pxe-edge.service: it waits until the test says
// it is done with the service (a flag file) and at least WatchdogSec plus a margin has passed
// since the start — so that a daemon that never pings the watchdog would have been killed —
// then records the service's state and the process's credentials and powers the container off.
const checkUnit = `[Unit]
Description=pxe-edge board test probe
After=pxe-edge.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for i in $(seq 120); do [ -e /var/tmp/pxe-test-done ] && break; sleep 1; done; \
  systemctl show pxe-edge -p ActiveState -p SubState -p NRestarts -p StatusText -p Result > /var/tmp/pxe-check.txt; \
  pid=$(systemctl show -p MainPID --value pxe-edge); \
  grep -E "^(Uid|Gid|CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/$pid/status >> /var/tmp/pxe-check.txt; \
  journalctl --no-pager -u pxe-edge > /var/tmp/pxe-journal.txt; true'
ExecStartPost=/bin/systemctl poweroff

[Install]
WantedBy=multi-user.target
`

// TestUnitUnderSystemd installs the amd64 .deb into a debootstrap tree, boots that tree with
// systemd-nspawn inside a namespace whose eth0 is a veth to a client namespace, and checks
// that pxe-edge.service — as shipped: its own user, only its three capabilities, the
// hardening and system-call filter, Type=notify with the watchdog, the Pi default config —
// comes up, adds 192.168.77.1 to eth0, serves a file over TFTP and HTTP and a lease over DHCP
// to the client, and is still running after WatchdogSec.
func TestUnitUnderSystemd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots systemd in a container (~1 min)")
	}
	netlab.RequireCommands(t, "systemd-nspawn", "tftp", "curl", "busybox")
	deb := debFile(t, "amd64")
	root := debianTree(t)
	mustRun(t, 3*time.Minute, "", nil, "dpkg", "--root="+root, "-i", deb)

	payload := make([]byte, 300*1024+17)
	_, _ = rand.Read(payload)
	want := sha256.Sum256(payload)
	if err := os.WriteFile(filepath.Join(root, "srv/pxe-edge/netboot/board-test.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/pxe-check.service"), []byte(checkUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/systemd/system/pxe-check.service", filepath.Join(root, "etc/systemd/system/multi-user.target.wants/pxe-check.service")); err != nil {
		t.Fatal(err)
	}

	lab := netlab.New(t)
	srv, cli := lab.Namespace("pi"), lab.Namespace("cli")
	// The Pi's eth0 without an address: the service adds 192.168.77.1/24 itself. The client
	// side gets a static address for TFTP/HTTP and later asks DHCP from a second veth.
	lab.Veth(srv, "eth0", "", cli, "eth0", "192.168.77.50/24")

	// systemd-nspawn runs from the root namespace and joins srv's network namespace.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var console bytes.Buffer
	boot := exec.CommandContext(ctx, "systemd-nspawn", "-q", "--register=no", "--keep-unit",
		// nspawn keeps CAP_NET_ADMIN/CAP_NET_RAW out of a container unless told: a real Pi's
		// systemd has them to give.
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW",
		"--network-namespace-path=/run/netns/"+srv.Name, "-D", root, "-b")
	boot.Stdout, boot.Stderr = &console, &console
	boot.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	boot.Cancel = func() error { return syscall.Kill(-boot.Process.Pid, syscall.SIGKILL) }
	boot.WaitDelay = 10 * time.Second
	started := time.Now()
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	// done is closed when nspawn has exited; bootErr is valid after that.
	done := make(chan struct{})
	var bootErr error
	go func() { bootErr = boot.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM asks nspawn to power the container off cleanly; then force, bounded. The
		// lab's cleanup afterwards kills whatever still sits in the namespace.
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			select {
			case <-done:
				return
			default:
			}
			_ = syscall.Kill(-boot.Process.Pid, sig)
			select {
			case <-done:
				return
			case <-time.After(20 * time.Second):
			}
		}
		t.Logf("systemd-nspawn did not exit after SIGKILL")
	})
	fail := func(format string, args ...any) {
		t.Helper()
		journal, _ := os.ReadFile(filepath.Join(root, "var/tmp/pxe-journal.txt"))
		t.Fatalf(format+"\n--- container console (tail):\n%s\n--- journal:\n%s", append(args, tail(console.Bytes(), 40), journal)...)
	}

	// TFTP from the client, bounded: the container boots, the service starts and probes for
	// another DHCP server (auto mode) before it answers DHCP; TFTP is up before that.
	out := t.TempDir()
	var err error
	for deadline := time.Now().Add(90 * time.Second); ; {
		var b []byte
		b, err = cli.Run(context.Background(), "tftp", "-m", "binary", "192.168.77.1", "-c", "get", "board-test.bin", filepath.Join(out, "tftp.bin"))
		if err == nil && bytes.Contains(b, []byte("Error")) {
			err = fmt.Errorf("%s", bytes.TrimSpace(b))
		}
		if err == nil {
			break
		}
		select {
		case <-done:
			fail("container stopped before pxe-edge served TFTP: %v", bootErr)
		default:
		}
		if time.Now().After(deadline) {
			fail("no TFTP answer from the service within 90 s: %v", err)
		}
		time.Sleep(time.Second)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "tftp.bin")); sha256.Sum256(got) != want {
		t.Errorf("TFTP: %d bytes with a different checksum than the %d served", len(got), len(payload))
	}
	b, err := cli.Run(context.Background(), "curl", "-fsS", "-o", filepath.Join(out, "http.bin"), "http://192.168.77.1/board-test.bin")
	if err != nil {
		t.Errorf("HTTP GET: %v\n%s", err, b)
	} else if got, _ := os.ReadFile(filepath.Join(out, "http.bin")); sha256.Sum256(got) != want {
		t.Errorf("HTTP: %d bytes with a different checksum than the %d served", len(got), len(payload))
	}
	// DHCP: after the auto-mode probe finds no other server the service answers in full mode.
	var lease []byte
	for deadline := time.Now().Add(60 * time.Second); ; {
		ctxD, cancelD := context.WithTimeout(context.Background(), 30*time.Second)
		lease, err = cli.Run(ctxD, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "eth0", "-t", "4", "-T", "2", "-s", "/bin/true")
		cancelD()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if m := regexp.MustCompile(`lease of (192\.168\.77\.1\d\d) obtained`).FindSubmatch(lease); err != nil || m == nil {
		t.Errorf("no DHCP lease from the pool 192.168.77.100-199: %v\n%s", err, lease)
	}

	// Stay past WatchdogSec (30 s) since the service started, then let the probe record.
	if wait := 40*time.Second - time.Since(started); wait > 0 {
		time.Sleep(wait)
	}
	if err := os.WriteFile(filepath.Join(root, "var/tmp/pxe-test-done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fail("container did not power off within 60 s of the probe")
	}
	raw, err := os.ReadFile(filepath.Join(root, "var/tmp/pxe-check.txt"))
	if err != nil {
		fail("probe wrote nothing: %v", err)
	}
	check := string(raw)
	t.Logf("service state after %v:\n%s", time.Since(started).Round(time.Second), check)
	uid, _, _ := passwdEntry(t, root, "pxe-edge")
	for _, w := range []string{
		"ActiveState=active", "SubState=running", "NRestarts=0",
		fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid),
		// CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13) and nothing else.
		"CapEff:\t0000000000003400", "CapBnd:\t0000000000003400", "CapAmb:\t0000000000003400",
		"NoNewPrivs:\t1", "Seccomp:\t2",
	} {
		if !strings.Contains(check, w) {
			t.Errorf("service state lacks %q", w)
		}
	}
	if !regexp.MustCompile(`StatusText=\S`).MatchString(check) {
		t.Errorf("no sd_notify STATUS= text from the service")
	}
	if t.Failed() {
		journal, _ := os.ReadFile(filepath.Join(root, "var/tmp/pxe-journal.txt"))
		t.Logf("journal:\n%s", journal)
	}
}
