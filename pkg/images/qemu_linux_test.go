package images

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// TestQEMUBootFromISO is the real-client check: a BIOS QEMU guest (SeaBIOS with iPXE from
// Debian's ipxe-qemu ROM, QEMU user-mode networking inside a namespace) runs the generated
// iPXE menu, which boots a boot-once entry with no keystroke: Debian's netboot installer
// kernel and initrd read from inside an xorriso-built ISO by the images handler. The
// installer's first screen must appear on the serial console, the boot-once setting must be
// consumed by the kernel fetch, and the next menu must default to the local disk.
func TestQEMUBootFromISO(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	netlab.RequireCommands(t, "qemu-system-x86_64", "xorriso")
	netlab.RequireFiles(t, "/usr/lib/ipxe/qemu/efi-virtio.rom",
		filepath.Join(debianNetboot, "linux"), filepath.Join(debianNetboot, "initrd.gz"))
	const mac = "52:54:00:14:00:01"
	kernel, err := os.ReadFile(filepath.Join(debianNetboot, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := os.ReadFile(filepath.Join(debianNetboot, "initrd.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	buildISO(t, dir, "debian-12-netboot.iso", isoSpec{vol: "Debian 12 amd64 n", bios: true, files: map[string][]byte{
		"install.amd/vmlinuz": kernel, "install.amd/initrd.gz": initrd,
	}})
	cat := NewCatalog(dir, nil)
	if err := cat.Rescan(); err != nil {
		t.Fatal(err)
	}
	if e, _ := cat.Lookup("debian-12-netboot.iso"); !e.Bootable || e.Recipe != "debian-installer-amd64" {
		t.Fatalf("entry %+v", e)
	}
	state := t.TempDir()
	prof := filepath.Join(state, "profiles.json")
	os.WriteFile(prof, []byte(`{"default":"local","timeout":10,"args":"console=ttyS0",
		"profiles":[{"name":"qemu","match":{"mac_prefix":["52:54:00:14"]},"timeout":0}]}`), 0o644)
	res, err := profiles.New(prof, state)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.SetNextBoot(mac, "debian-12-netboot.iso"); err != nil {
		t.Fatal(err)
	}

	l := netlab.New(t)
	ns := l.Namespace("img")
	serial := filepath.Join(t.TempDir(), "serial.log")

	// QEMU's user-mode network inside the namespace: the guest's DHCP is QEMU's own, and
	// 10.0.2.2 is the namespace's loopback, where the server listens.
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srvURL := "http://10.0.2.2:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	var menus, fetches []string
	mux := http.NewServeMux()
	mux.Handle("/images/", &Handler{Catalog: cat, OnFetch: func(m, entry string) {
		ok, err := res.ConsumeIf(m, entry)
		mu.Lock()
		fetches = append(fetches, m+" "+entry+" consumed="+map[bool]string{true: "yes", false: "no"}[ok])
		mu.Unlock()
		if err != nil {
			t.Errorf("ConsumeIf: %v", err)
		}
	}})
	mux.HandleFunc("/menu.ipxe", func(w http.ResponseWriter, r *http.Request) {
		c := Client{Arch: ArchBIOS, MAC: mac, ServerURL: srvURL}
		m := IPXEMenu(cat.Entries(), c, res.Resolve(profiles.Facts{MAC: mac, Platform: string(ArchBIOS)}))
		mu.Lock()
		menus = append(menus, m)
		mu.Unlock()
		w.Write([]byte(m))
	})
	srv := &http.Server{Handler: mux}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	// graphics=off puts SeaBIOS's and iPXE's console on the serial port too.
	ns.Start("qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-machine", "graphics=off",
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial, "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile="+srvURL+"/menu.ipxe",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac)

	end := time.Now().Add(300 * time.Second)
	for {
		con, _ := os.ReadFile(serial)
		if strings.Contains(netlab.CleanConsole(string(con)), "Select a language") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no installer screen; serial console tail:\n%s", tail(netlab.CleanConsole(string(con)), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(menus) == 0 || !strings.Contains(menus[0], "goto e0") || !strings.Contains(menus[0], "?once="+mac) {
		t.Errorf("first menu did not boot the boot-once entry straight away:\n%s", strings.Join(menus, "\n---\n"))
	}
	if len(fetches) != 1 || fetches[0] != mac+" debian-12-netboot.iso consumed=yes" {
		t.Errorf("boot-once fetches %q", fetches)
	}
	if d := res.Resolve(profiles.Facts{MAC: mac}); d.Default != profiles.Local || d.BootOnce {
		t.Errorf("after the boot: %+v", d)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestQEMUSanbootBIOS: an ISO the recipes do not know, with El Torito BIOS (isolinux) and UEFI
// entries, is offered as sanboot; a BIOS guest's iPXE runs the generated menu and sanboots
// the ISO over HTTP (Range requests on /images/<iso>); isolinux from the ISO starts and
// prints its configuration's message.
func TestQEMUSanbootBIOS(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	const ldlinux = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	netlab.RequireCommands(t, "qemu-system-x86_64", "xorriso")
	netlab.RequireFiles(t, "/usr/lib/ipxe/qemu/efi-virtio.rom", ldlinux)
	const mac = "52:54:00:14:00:05"
	ld, err := os.ReadFile(ldlinux)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	buildISO(t, dir, "rescue-cd.iso", isoSpec{vol: "RESCUE", bios: true, efi: true, files: map[string][]byte{
		"isolinux/ldlinux.c32":  ld,
		"isolinux/isolinux.cfg": []byte("SAY pxe-edge: isolinux started from sanboot\nPROMPT 1\nTIMEOUT 0\n"),
	}})
	cat := NewCatalog(dir, nil)
	cat.Rescan()
	if e, _ := cat.Lookup("rescue-cd.iso"); e.Method != MethodSanboot || !e.BootsOn(ArchBIOS) {
		t.Fatalf("entry %+v", e)
	}
	l := netlab.New(t)
	ns := l.Namespace("san")
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srvURL := "http://10.0.2.2:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	ranges := 0
	mux := http.NewServeMux()
	h := &Handler{Catalog: cat}
	mux.Handle("/images/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			mu.Lock()
			ranges++
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/menu.ipxe", func(w http.ResponseWriter, r *http.Request) {
		c := Client{Arch: ArchBIOS, MAC: mac, ServerURL: srvURL}
		w.Write([]byte(IPXEMenu(cat.Entries(), c, profiles.Decision{Default: "rescue-cd.iso", Timeout: 0})))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	qemu := ns.Start("qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-machine", "graphics=off",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile="+srvURL+"/menu.ipxe",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac)
	if !qemu.WaitConsole("pxe-edge: isolinux started from sanboot", 180*time.Second) {
		t.Fatalf("isolinux did not start; console tail:\n%s", tail(netlab.CleanConsole(qemu.Output()), 3000))
	}
	mu.Lock()
	defer mu.Unlock()
	if ranges == 0 {
		t.Error("sanboot made no Range requests")
	}
}
