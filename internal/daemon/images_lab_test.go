package daemon_test

import (
	"context"
	le "encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// fakeBzImage is the start of an x86-64 bzImage: enough header for the catalogue to call it
// a kernel for BIOS and x86-64 UEFI.
func fakeBzImage() []byte {
	b := make([]byte, 4096)
	b[0], b[1] = 'M', 'Z'
	copy(b[0x202:], "HdrS")
	le.LittleEndian.PutUint16(b[0x206:], 0x020f)
	b[0x236] = 1
	return b
}

// The images service through the binary, without DHCP (the client is unknown, as in proxy
// mode): a netboot directory without boot.ipxe gives iPXE the generated menu (arch from
// its ?platform=), files inside images/ come over HTTP and TFTP, pxelinux.cfg/default is
// generated over TFTP, the write token is made once (0600), and SIGHUP re-scans images/ and
// reloads the profiles, keeping the old ones when the new file is bad.
func TestImagesService(t *testing.T) {
	netlab.RequireCommands(t, "tftp", "curl")
	lb := newLab(t, "10.60.40.2/24", "10.60.40.50/24")
	dir, _ := netbootDir(t, "pxelinux.0", 1000)
	k := fakeBzImage()
	for name, b := range map[string][]byte{
		"images/inst/linux": k, "images/inst/initrd.gz": []byte("initrd"), "images/inst/cmdline": []byte("quiet"),
		"images/junk.iso": []byte("not an ISO"),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	prof := filepath.Join(state, "profiles.json")
	if err := os.WriteFile(prof, []byte(`{"default": "inst", "timeout": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := lb.srv.Start(binary(t), "-a", dir, "--http", "--http-port", "8080", "--state-dir", state, "--profiles", prof, "--images-rescan", "1h")
	waitFor(t, p, "msg=serving")
	if !strings.Contains(p.Output(), "dashboard write token created") {
		t.Errorf("no token logged:\n%s", p.Output())
	}
	if st, err := os.Stat(filepath.Join(state, "dashboard.token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", st, err)
	}
	base := "http://10.60.40.2:8080"
	if m := getURL(t, lb.cli, base+"/boot.ipxe"); !strings.Contains(m, "chain boot.ipxe?platform=${platform}") {
		t.Errorf("an unknown client without ?platform= was not asked for it:\n%s", m)
	}
	menu := getURL(t, lb.cli, base+"/boot.ipxe?platform=pcbios&buildarch=i386")
	for _, want := range []string{"#!ipxe", base + "/images/inst/linux", "initrd=initrd.gz", "quiet", "sanboot --no-describe --drive 0x80"} {
		if !strings.Contains(menu, want) {
			t.Errorf("generated menu lacks %q:\n%s", want, menu)
		}
	}
	if got := getURL(t, lb.cli, base+"/images/inst/initrd.gz"); got != "initrd" {
		t.Errorf("HTTP images/inst/initrd.gz: %q", got)
	}
	if img := getURL(t, lb.cli, base+"/api/images"); !strings.Contains(img, `"name":"junk.iso"`) || !strings.Contains(img, `"bootable":false`) {
		t.Errorf("/api/images: %s", img)
	}
	if _, err := tftpGet(t, lb.cli, "10.60.40.2", "images/inst/initrd.gz"); err != nil {
		t.Errorf("TFTP images/inst/initrd.gz: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "default")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := lb.cli.Run(ctx, "tftp", "-m", "binary", "10.60.40.2", "-c", "get", "pxelinux.cfg/default", cfg); err != nil {
		t.Fatalf("TFTP pxelinux.cfg/default: %v %s", err, out)
	}
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "KERNEL images/inst/linux") {
		t.Errorf("generated pxelinux.cfg/default:\n%s", b)
	}
	grub := filepath.Join(t.TempDir(), "grub.cfg")
	if out, err := lb.cli.Run(ctx, "tftp", "-m", "binary", "10.60.40.2", "-c", "get", "grub/grub.cfg", grub); err != nil {
		t.Fatalf("TFTP grub/grub.cfg: %v %s", err, out)
	}
	if b, _ := os.ReadFile(grub); !strings.Contains(string(b), "linux '/images/inst/linux'") || !strings.Contains(string(b), "set default=") {
		t.Errorf("generated grub/grub.cfg:\n%s", b)
	}

	// SIGHUP: a new image appears; a bad profiles file keeps the old profiles.
	if err := os.WriteFile(filepath.Join(dir, "images", "tool.ipxe"), []byte("#!ipxe\nshell\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prof, []byte(`{"default": "inst", "timeout": 99999}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	waitFor(t, p, "reload failed")
	if img := getURL(t, lb.cli, base+"/api/images"); !strings.Contains(img, `"name":"tool.ipxe"`) {
		t.Errorf("SIGHUP did not re-scan images/: %s", img)
	}
	if pr := getURL(t, lb.cli, base+"/api/profiles"); !strings.Contains(pr, `"timeout":0`) {
		t.Errorf("a bad profiles file replaced the old one: %s", pr)
	}
	if err := os.WriteFile(prof, []byte(`{"default": "tool.ipxe", "timeout": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	waitFor(t, p, "profiles reloaded")
	if pr := getURL(t, lb.cli, base+"/api/profiles"); !strings.Contains(pr, `"default":"tool.ipxe"`) {
		t.Errorf("SIGHUP did not reload the profiles: %s", pr)
	}
	stopOK(t, p)

	// A restart keeps the token.
	p = lb.srv.Start(binary(t), "-a", dir, "--http", "--http-port", "8080", "--state-dir", state, "--profiles", prof)
	waitFor(t, p, "msg=serving")
	if strings.Contains(p.Output(), "token created") || !strings.Contains(p.Output(), "dashboard write token loaded") {
		t.Errorf("restart: token not reused:\n%s", p.Output())
	}
	stopOK(t, p)
}

// Boot-once through pxelinux: a client with a lease gets its next boot set with the token;
// the generated pxelinux.cfg/default boots that entry, as often as it is read, until the
// client fetches the entry's kernel over TFTP; then the profile's default is back.
func TestImagesBootOncePXELinux(t *testing.T) {
	netlab.RequireCommands(t, "tftp", "curl", "busybox")
	lb := newLab(t, "", "")
	dir, _ := netbootDir(t, "pxelinux.0", 1000)
	p := filepath.Join(dir, "images", "inst", "linux")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, fakeBzImage(), 0o644)
	os.WriteFile(filepath.Join(dir, "images", "inst", "initrd.img"), []byte("initrd"), 0o644)
	state := t.TempDir()
	prof := filepath.Join(state, "profiles.json")
	os.WriteFile(prof, []byte(`{"default": "local", "timeout": 5}`), 0o644)
	srv := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.41.2", "-b", "10.60.41.100",
		"-e", "10.60.41.150", "--state-dir", state, "--profiles", prof, "--http", "--http-port", "8080")
	waitFor(t, srv, "DHCP answering")
	ip, err := udhcpc(t, lb.cli)
	if err != nil {
		t.Fatalf("lease: %v\n%s", err, srv.Output())
	}
	lb.cli.MustRun("ip", "addr", "add", ip+"/24", "dev", "eth0")
	mac := strings.TrimSpace(lb.cli.MustRun("cat", "/sys/class/net/eth0/address"))
	tok, err := os.ReadFile(filepath.Join(state, "dashboard.token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	post := func(auth string) string {
		out, err := lb.cli.Run(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
			"-H", "Authorization: Bearer "+auth, "-H", "Content-Type: application/json",
			"-d", `{"mac":"`+mac+`","entry":"inst"}`, "http://10.60.41.2:8080/api/nextboot")
		if err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		return string(out)
	}
	if code := post("nope"); code != "401" {
		t.Errorf("POST with a wrong token: %s", code)
	}
	if code := post(strings.TrimSpace(string(tok))); code != "200" {
		t.Fatalf("POST with the token: %s\n%s", code, srv.Output())
	}
	get := func() string {
		dst := filepath.Join(t.TempDir(), "default")
		if out, err := lb.cli.Run(ctx, "tftp", "-m", "binary", "10.60.41.2", "-c", "get", "pxelinux.cfg/default", dst); err != nil {
			t.Fatalf("TFTP pxelinux.cfg/default: %v %s", err, out)
		}
		b, _ := os.ReadFile(dst)
		return string(b)
	}
	// pxelinux reads the configuration twice (again when menu.c32 starts): both see the
	// boot-once entry; the kernel's fetch consumes it.
	first, again := get(), get()
	if !strings.Contains(first, "KERNEL images/inst/linux") || strings.Contains(first, "DEFAULT local") || again != first {
		t.Errorf("configurations while the boot-once is pending:\n%s\n---\n%s", first, again)
	}
	if strings.Contains(srv.Output(), "boot-once used") {
		t.Errorf("handing out the menu consumed the boot-once:\n%s", srv.Output())
	}
	if _, err := tftpGet(t, lb.cli, "10.60.41.2", "images/inst/linux"); err != nil {
		t.Fatalf("TFTP images/inst/linux: %v", err)
	}
	waitFor(t, srv, "boot-once used")
	if !strings.Contains(srv.Output(), "by=tftp") {
		t.Errorf("not consumed by the TFTP fetch:\n%s", srv.Output())
	}
	if second := get(); !strings.Contains(second, "DEFAULT local\n") {
		t.Errorf("the configuration after the kernel fetch did not fall back to the default:\n%s", second)
	}
	if nb := getURL(t, lb.cli, "http://10.60.41.2:8080/api/nextboot"); !strings.Contains(nb, `"next":"local"`) || strings.Contains(nb, `"boot_once":true`) {
		t.Errorf("/api/nextboot after the boot: %s", nb)
	}
	stopOK(t, srv)
}
