package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// debianNetboot is where debian-installer-12-netboot-amd64 puts the installer's netboot
// kernel and initrd.
const debianNetboot = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"

// installerScreen is the Debian installer's first screen on the serial console.
const installerScreen = "Select a language"

// installerTimeout bounds power-on to the installer's first screen: the firmware, iPXE and
// then a 40 MiB initrd unpacked and started under TCG on a shared machine.
const installerTimeout = guestTimeout + 50*time.Second

// installerDir makes images/<name>/ a kernel + initrd directory entry of Debian's netboot
// installer (links to the package's files) and returns the images directory.
func (e *env) installerDir(name string) string {
	e.t.Helper()
	netlab.RequireFiles(e.t, debianNetboot+"/linux", debianNetboot+"/initrd.gz")
	images := filepath.Join(e.dir, "images")
	d := filepath.Join(images, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, f := range []string{"linux", "initrd.gz"} {
		if err := os.Symlink(filepath.Join(debianNetboot, f), filepath.Join(d, f)); err != nil {
			e.t.Fatal(err)
		}
	}
	return images
}

// debianISO builds with xorriso an ISO holding the netboot installer's kernel and initrd in
// the layout of Debian's own ISOs (install.amd/), El Torito for BIOS (isolinux, whose
// configuration prints a marker when the ISO is sanbooted) and UEFI (a FAT image with
// Debian's grubx64.efi as BOOTX64.EFI).
func debianISO(t *testing.T, out string) {
	t.Helper()
	const ldlinux = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	netlab.RequireCommands(t, "xorriso", "mkfs.vfat", "mmd", "mcopy")
	netlab.RequireFiles(t, "/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/ISOLINUX/isohdpfx.bin", ldlinux, debianNetboot+"/grubx64.efi")
	tree := filepath.Join(t.TempDir(), "tree")
	for src, dst := range map[string]string{
		debianNetboot + "/linux": "install.amd/vmlinuz", debianNetboot + "/initrd.gz": "install.amd/initrd.gz",
		"/usr/lib/ISOLINUX/isolinux.bin": "isolinux/isolinux.bin", ldlinux: "isolinux/ldlinux.c32",
		debianNetboot + "/grubx64.efi": "EFI/boot/bootx64.efi",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(tree, dst), b)
	}
	writeFile(t, filepath.Join(tree, "isolinux/isolinux.cfg"), []byte("SAY pxe-edge: isolinux started from the ISO\nPROMPT 1\nTIMEOUT 0\n"))
	efi := filepath.Join(tree, "boot/grub/efi.img")
	if err := os.MkdirAll(filepath.Dir(efi), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	run("mkfs.vfat", "-C", efi, "4096")
	run("mmd", "-i", efi, "::/EFI", "::/EFI/BOOT")
	run("mcopy", "-i", efi, debianNetboot+"/grubx64.efi", "::/EFI/BOOT/BOOTX64.EFI")
	run("xorriso", "-as", "mkisofs", "-R", "-J", "-joliet-long", "-V", "Debian 12 amd64 n",
		"-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin", "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "boot/grub/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat", "-o", out, tree)
}

// api sends one HTTP request to pxe-edge from inside the lab (the server namespace) and
// returns the status and body.
func (e *env) api(method, path, body string, hdr ...string) (int, string) {
	e.t.Helper()
	var c net.Conn
	if err := e.srv.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", e.ServerIP()+":80", 5*time.Second)
		return err
	}); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, e.ServerIP())
	for _, h := range hdr {
		req += h + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// nextBoot returns the entry GET /api/nextboot says mac boots next and whether it is a
// boot-once setting.
func (e *env) nextBoot(mac string) (string, bool) {
	e.t.Helper()
	code, body := e.api("GET", "/api/nextboot", "")
	var l []struct {
		MAC      string `json:"mac"`
		Next     string `json:"next"`
		BootOnce bool   `json:"boot_once"`
	}
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
		e.t.Fatalf("GET /api/nextboot: %d %v %s", code, err, body)
	}
	for _, n := range l {
		if n.MAC == mac {
			return n.Next, n.BootOnce
		}
	}
	return "", false
}

// TestMenuImages is issue 14 through the daemon: pxe-edge serves no boot.ipxe, so iPXE
// clients get the menu generated from images/ and --profiles.
//   - UEFI (OVMF PXE → ipxe.efi) and BIOS (SeaBIOS + iPXE ROM) guests boot Debian's netboot
//     installer (a kernel + initrd directory entry) chosen by their profile with timeout 0,
//     to the installer's first screen.
//   - An xorriso-built ISO (install.amd/ kernel + initrd, El Torito BIOS + UEFI) is in the
//     catalogue with its recipe; the BIOS guest boots its kernel and initrd from inside the
//     ISO, chosen as boot-once through POST /api/nextboot (refused without the token and
//     cross-origin), with a pxe-edge restart between setting and booting. The setting is used
//     by that boot only: the guest's next boot takes its profile's default.
//   - The same ISO reached by sanboot on BIOS (an iPXE script entry): isolinux from the ISO
//     starts.
func TestMenuImages(t *testing.T) {
	e := newEnv(t, 40)
	const (
		macUEFI = "52:54:00:70:40:20"
		macBIOS = "52:54:00:70:40:10"
		macSan  = "52:54:00:70:40:30"
	)
	if err := os.Remove(filepath.Join(e.dir, "boot.ipxe")); err != nil {
		t.Fatal(err)
	}
	images := e.installerDir("debian-installer")
	debianISO(t, filepath.Join(images, "debian-12.iso"))
	writeFile(t, filepath.Join(images, "debian-sanboot.ipxe"), []byte("#!ipxe\necho pxe-edge: sanboot of debian-12.iso\nsanboot debian-12.iso\n"))
	writeFile(t, filepath.Join(images, "broken.iso"), []byte(strings.Repeat("not an ISO ", 4000)))
	prof := filepath.Join(e.state, "profiles.json")
	writeFile(t, prof, []byte(`{"default": "local", "timeout": 10, "args": "console=ttyS0",
  "profiles": [
    {"name": "installers", "match": {"mac": ["`+macUEFI+`", "`+macBIOS+`"]}, "default": "debian-installer", "timeout": 0},
    {"name": "rescue", "match": {"mac": ["`+macSan+`"]}, "default": "debian-sanboot.ipxe", "timeout": 0}
  ]}`))
	flags := []string{"--dhcp", "--ipxe", "--http", "--http-port", "80", "--profiles", prof}
	p := e.startServer(flags...)
	tokenRE := regexp.MustCompile(`dashboard write token created.* token=([0-9a-f]{64})`)
	m := tokenRE.FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("no token in the log:\n%s", p.Output())
	}
	token := m[1]

	// The catalogue: the ISO recognised by its recipe, for both firmwares; the broken file
	// listed with its reason.
	code, body := e.api("GET", "/api/images", "")
	var cat []struct {
		Name, Kind, Method, Recipe, Reason string
		Archs                              []string
		Bootable                           bool
	}
	if err := json.Unmarshal([]byte(body), &cat); code != 200 || err != nil {
		t.Fatalf("GET /api/images: %d %v %s", code, err, body)
	}
	got := map[string]string{}
	for _, c := range cat {
		got[c.Name] = fmt.Sprintf("%s %s %s %v %v %s", c.Kind, c.Method, c.Recipe, c.Archs, c.Bootable, c.Reason)
	}
	for name, want := range map[string]string{
		"debian-12.iso":       "iso kernel debian-installer-amd64 [pcbios x86_64-efi] true ",
		"debian-installer":    "dir kernel  [pcbios x86_64-efi] true ",
		"debian-sanboot.ipxe": "script script  [] true ",
	} {
		if got[name] != want {
			t.Errorf("catalogue %s: %q, want %q", name, got[name], want)
		}
	}
	if g := got["broken.iso"]; !strings.Contains(g, " false ") {
		t.Errorf("broken.iso: %q, want not bootable with a reason", g)
	}
	if code, body := e.api("GET", "/api/profiles", ""); code != 200 || !strings.Contains(body, `"installers"`) {
		t.Errorf("GET /api/profiles: %d %s", code, body)
	}

	// Boot-once: refused without the token and cross-origin, stored with it.
	set := `{"mac": "` + macBIOS + `", "entry": "debian-12.iso"}`
	auth := "Authorization: Bearer " + token
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization: Bearer " + strings.Repeat("ab", 32)}, 401},
		{"cross-origin", []string{auth, "Origin: http://evil.example", "Sec-Fetch-Site: cross-site"}, 403},
	} {
		if code, body := e.api("POST", "/api/nextboot", set, tc.hdr...); code != tc.want {
			t.Errorf("POST /api/nextboot %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if n, once := e.nextBoot(macBIOS); once {
		t.Fatalf("a refused POST set the next boot: %s", n)
	}
	if code, body := e.api("POST", "/api/nextboot", `{"mac": "`+macBIOS+`", "entry": "broken.iso"}`, auth); code != 400 {
		t.Errorf("POST of a non-bootable entry: %d %s", code, body)
	}
	if code, body := e.api("POST", "/api/nextboot", set, auth, "Origin: http://"+e.ServerIP(), "Sec-Fetch-Site: same-origin"); code != 200 {
		t.Fatalf("POST /api/nextboot with the token: %d %s", code, body)
	}

	// It survives a restart on the same --state-dir; so does the token.
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Output())
	}
	p = e.startServer(flags...)
	if strings.Contains(p.Output(), "token created") {
		t.Errorf("the restarted server made a new token:\n%s", p.Output())
	}
	if n, once := e.nextBoot(macBIOS); n != "debian-12.iso" || !once {
		t.Fatalf("after the restart %s boots %q once=%v, want debian-12.iso once", macBIOS, n, once)
	}

	// One guest at a time (TCG on a shared machine). A third machine sanboots the ISO through
	// a script entry; then the BIOS guest boots the ISO's kernel by boot-once.
	start := time.Now()
	gs := e.startGuest("bios-sanboot", biosGuest(t, e.tap(), macSan)...)
	ts := gs.wait("pxe-edge: isolinux started from the ISO", guestTimeout)
	t.Logf("BIOS → generated menu → script entry → sanboot of the ISO → isolinux in %v", ts.Round(time.Second))
	gs.kill()
	gb := e.startGuest("bios", append(biosGuest(t, e.tap(), macBIOS), "-m", "1024")...)
	tb := gb.wait(installerScreen, installerTimeout)
	t.Logf("BIOS → generated menu → boot-once ISO (kernel + initrd from inside it) → installer in %v", tb.Round(time.Second))
	gb.kill()
	out := p.Output()
	for _, want := range []string{
		"path=/images/debian-12.iso/install.amd/vmlinuz status=200", "path=/images/debian-12.iso/install.amd/initrd.gz status=200",
		"boot-once used",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("server log lacks %q", want)
		}
	}
	if strings.Contains(out, "path=/boot.ipxe status=404") {
		t.Error("boot.ipxe was not generated")
	}
	if !strings.Contains(out, "path=/images/debian-sanboot.ipxe status=200") || !strings.Contains(gs.Console(), "sanboot of debian-12.iso") {
		t.Error("the sanboot guest did not reach the ISO through the script entry")
	}
	if n, once := e.nextBoot(macBIOS); n != "debian-installer" || once {
		t.Errorf("after the boot %s boots %q once=%v, want its profile's debian-installer", macBIOS, n, once)
	}

	// The BIOS guest's next boot takes its default, the installer directory; so does the
	// UEFI guest by its profile.
	gb2 := e.startGuest("bios-again", append(biosGuest(t, e.tap(), macBIOS), "-m", "1024")...)
	tb2 := gb2.wait(installerScreen, installerTimeout)
	t.Logf("BIOS next boot → its default (installer directory) → installer in %v", tb2.Round(time.Second))
	gb2.kill()
	gu := e.startGuest("ovmf", append(ovmfGuest(t, e.tap(), macUEFI), "-m", "1024")...)
	tu := gu.wait(installerScreen, installerTimeout)
	t.Logf("UEFI → ipxe.efi → generated menu → installer directory → installer in %v", tu.Round(time.Second))
	out = p.Output()
	if n := strings.Count(out, "path=/images/debian-installer/linux status=200"); n != 2 {
		t.Errorf("%d fetches of the directory's kernel, want 2 (BIOS's second boot, UEFI)", n)
	}
	if n := strings.Count(out, "path=/images/debian-12.iso/install.amd/vmlinuz status=200"); n != 1 {
		t.Errorf("the ISO's kernel was fetched %d times in all, want once (boot-once)", n)
	}
	t.Logf("all guests in %v", time.Since(start).Round(time.Second))
}

// TestMenuPXELinuxMemdisk is PyPXE's own workflow through the daemon: without --ipxe a BIOS
// guest gets pxelinux.0; the netboot directory has no pxelinux.cfg/default, so pxe-edge
// generates one from images/ (menu.c32, a one-second timeout); the machine's boot-once
// setting, made through POST /api/nextboot, is ipxe.iso (a small BIOS ISO offered through
// memdisk) while its profile's default is the local disk; pxelinux loads memdisk and the ISO
// by TFTP from inside images/ and the ISO's iPXE starts. The ISO's fetch consumes the
// setting (not the configuration, which pxelinux reads twice).
func TestMenuPXELinuxMemdisk(t *testing.T) {
	e := newEnv(t, 41)
	const mac = "52:54:00:70:41:10"
	netlab.RequireFiles(t, "/usr/lib/syslinux/memdisk", "/usr/lib/ipxe/ipxe.iso")
	if err := os.Remove(filepath.Join(e.dir, "pxelinux.cfg", "default")); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"/usr/lib/syslinux/memdisk": "memdisk", "/usr/lib/ipxe/ipxe.iso": "images/ipxe.iso"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(e.dir, dst), b)
	}
	prof := filepath.Join(e.state, "profiles.json")
	writeFile(t, prof, []byte(`{"default": "local", "timeout": 1}`))
	p := e.startServer("--dhcp", "--http", "--http-port", "80", "--profiles", prof)
	tok, err := os.ReadFile(filepath.Join(e.state, "dashboard.token"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := e.api("POST", "/api/nextboot", `{"mac": "`+mac+`", "entry": "ipxe.iso"}`, "Authorization: Bearer "+strings.TrimSpace(string(tok))); code != 200 {
		t.Fatalf("POST /api/nextboot: %d %s", code, body)
	}
	g := e.startGuest("bios", biosGuest(t, e.tap(), mac)...)
	g.waitRE(regexp.MustCompile(`(?s)MEMDISK.*Loading ipxe.krn.*iPXE initialising devices`), guestTimeout)
	took := time.Since(g.start)
	out := p.Output()
	for _, want := range []string{"generated menu", "file=pxelinux.cfg/default", "file=menu.c32", "file=memdisk", "file=images/ipxe.iso",
		"boot-once used", "by=tftp"} {
		if !strings.Contains(out, want) {
			t.Errorf("server log lacks %q", want)
		}
	}
	if n := strings.Count(out, "boot_once=true"); n < 2 {
		t.Errorf("pxelinux got the boot-once configuration %d times, want both reads", n)
	}
	if n, once := e.nextBoot(mac); n != "local" || once {
		t.Errorf("after the boot %s boots %q once=%v, want local", mac, n, once)
	}
	t.Logf("BIOS → pxelinux.0 → generated pxelinux.cfg/default → menu.c32 → memdisk → ipxe.iso (boot-once) in %v", took.Round(time.Second))
}
