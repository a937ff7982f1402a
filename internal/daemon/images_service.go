package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
	"github.com/pxe-edge/pxe-edge/pkg/images"
	"github.com/pxe-edge/pxe-edge/pkg/profiles"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// imagesService owns the image catalogue of <netboot>/images/, the machine profiles and the
// boot-once settings. It starts before the file servers, which serve the catalogue (files
// inside ISOs, generated menus) from the moment they listen, and re-scans the directory in
// the background.
type imagesService struct {
	d     *Daemon
	log   *slog.Logger
	cat   *images.Catalog
	res   *profiles.Resolver
	token string
	run   runner
}

func (s *imagesService) Name() string { return "images" }

func (s *imagesService) Start(ctx context.Context) error {
	d := s.d
	s.log = d.logs.For("http").With("part", "images")
	dir := filepath.Join(d.cfg.NetbootDir, "images")
	s.cat = images.NewCatalog(dir, s.log)
	if err := s.cat.Rescan(); err != nil {
		// An unreadable images/ (a USB stick gone bad) must not stop the box booting the rest.
		s.log.Warn("images: cannot read the images directory; the catalogue is empty", "dir", dir, "err", err)
	}
	res, err := profiles.New(d.cfg.Profiles, d.cfg.StateDir)
	if res == nil {
		return fmt.Errorf("images: %w", err)
	}
	if err != nil {
		s.log.Warn("images: boot-once state", "err", err)
	}
	s.res = res
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		s.log.Warn("images: state directory; next-boot writes are refused", "dir", d.cfg.StateDir, "err", err)
	} else if tok, created, err := profiles.LoadOrCreateToken(d.cfg.StateDir); err != nil {
		s.log.Warn("images: dashboard write token unusable; next-boot writes are refused", "err", err)
	} else {
		s.token = tok
		file := filepath.Join(d.cfg.StateDir, profiles.TokenFile)
		if created {
			d.log.Info("dashboard write token created (POST /api/nextboot: Authorization: Bearer <token>)", "token", tok, "file", file)
		} else {
			d.log.Info("dashboard write token loaded", "file", file)
		}
	}
	n := 0
	for _, e := range s.cat.Entries() {
		if e.Bootable {
			n++
		}
	}
	d.log.Info("images catalogue", "dir", dir, "entries", len(s.cat.Entries()), "bootable", n,
		"profiles", d.cfg.Profiles, "rescan", d.cfg.ImagesRescan)
	s.run.start(ctx, func(ctx context.Context) {
		if err := s.cat.Run(ctx, d.cfg.ImagesRescan); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("images: rescan loop stopped", "err", err)
		}
	})
	return nil
}

// Reload re-scans images/ at once and re-reads the profiles file; a bad profiles file keeps
// the previous profiles.
func (s *imagesService) Reload() error {
	if err := s.cat.Rescan(); err != nil {
		s.log.Warn("images: rescan", "err", err)
	}
	if err := s.res.Reload(); err != nil {
		return fmt.Errorf("--profiles %s: %w", s.d.cfg.Profiles, err)
	}
	s.d.log.Info("images: rescanned and profiles reloaded", "entries", len(s.cat.Entries()))
	return nil
}

func (s *imagesService) Stop(context.Context) { s.run.stop() }

// consume clears mac's boot-once setting for entry, logging what happened. An empty entry
// clears nothing (ConsumeIf would take it as "any").
func (s *imagesService) consume(mac, entry, how string) {
	if entry == "" {
		return
	}
	ok, err := s.res.ConsumeIf(mac, entry)
	switch {
	case err != nil:
		s.log.Error("images: boot-once not cleared", "mac", mac, "entry", entry, "err", err)
	case ok:
		s.d.log.Info("boot-once used", "mac", mac, "entry", entry, "by", how)
	}
}

// facts gathers what the profiles match on for the client holding ip.
func (s *imagesService) facts(ip netip.Addr, info httpd.ClientInfo, arch images.Arch) profiles.Facts {
	return profiles.Facts{MAC: info.MAC, Arch: info.Arch, Platform: string(arch), Group: info.Reservation["group"],
		IP: ip, Hostname: info.Hostname}
}

// clientArch is the platform a menu is built for: iPXE's own ${platform}/${buildarch} when
// known, else the DHCP architecture.
func clientArch(platform, buildArch string, info httpd.ClientInfo, known bool) images.Arch {
	switch {
	case platform == "pcbios":
		return images.ArchBIOS
	case platform == "efi" && (buildArch == "x86_64" || buildArch == "x86-64"):
		return images.ArchX64EFI
	case platform == "efi" && buildArch == "i386":
		return images.ArchIA32EFI
	case platform == "efi" && buildArch == "arm64":
		return images.ArchARM64EFI
	case known:
		return images.ArchOf(info.Arch)
	}
	return images.ArchUnknown
}

// imagesHandler serves /images/ and consumes a boot-once setting when the marked file is
// fetched. A known client may only consume its own setting: a ?once= naming another MAC
// is dropped before the catalogue's handler sees it.
func (s *imagesService) imagesHandler() http.Handler {
	h := &images.Handler{Catalog: s.cat, Logger: s.log, OnFetch: func(mac, entry string) { s.consume(mac, entry, "http") }}
	view := clientsView{s.d}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if once := q.Get(images.BootOnceMarker); once != "" {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			if info, ok := view.Client(ap.Addr().Unmap()); ok && profiles.NormalizeMAC(info.MAC) != profiles.NormalizeMAC(once) {
				q.Del(images.BootOnceMarker)
				r2 := *r
				u := *r.URL
				u.RawQuery = q.Encode()
				r2.URL = &u
				r = &r2
			}
		}
		h.ServeHTTP(w, r)
	})
}

// tftpSource overlays the catalogue on inner: files inside images over TFTP and, when the
// netboot directory has none, a generated pxelinux.cfg/default and grub/grub.cfg.
func (s *imagesService) tftpSource(inner tftp.FileSource) tftp.FileSource {
	return onceSource{FileSource: &images.TFTPSource{Catalog: s.cat, Inner: inner, Generate: s.generate}, s: s}
}

// onceSource consumes a client's boot-once setting when it fetches a file of that entry over
// TFTP (pxelinux and GRUB load kernels, initrds and memdisk ISOs from images/). Handing out
// the menu is too early: pxelinux reads pxelinux.cfg/default once more when menu.c32
// starts, and a client that never boots the entry keeps its setting.
type onceSource struct {
	tftp.FileSource
	s *imagesService
}

func (o onceSource) Open(req *tftp.Request) (tftp.File, error) {
	f, err := o.FileSource.Open(req)
	if rest, ok := strings.CutPrefix(req.Path, "images/"); ok && err == nil {
		entry, _, _ := strings.Cut(rest, "/")
		if mac, ok := o.s.d.macOf(req.Client.Addr().Unmap()); ok {
			o.s.consume(net.HardwareAddr(mac[:]).String(), entry, "tftp")
		}
	}
	return f, err
}

// generate renders pxelinux.cfg/default (BIOS clients without iPXE) and grub/grub.cfg (GRUB
// network clients) for the client's profile and boot-once setting.
func (s *imagesService) generate(req *tftp.Request) ([]byte, bool) {
	var kind string
	switch req.Path {
	case "pxelinux.cfg/default":
		kind = "pxelinux"
	case "grub/grub.cfg", "grub.cfg":
		kind = "grub"
	default:
		return nil, false
	}
	ip := req.Client.Addr().Unmap()
	info, known := clientsView{s.d}.Client(ip)
	if mac, ok := s.d.macOf(ip); ok && info.MAC == "" {
		info.MAC = net.HardwareAddr(mac[:]).String()
	}
	if kind == "grub" {
		return s.grubMenu(ip, info, known, s.d.httpURL(req.Local), "tftp"), true
	}
	arch := images.ArchBIOS
	dec := s.res.Resolve(s.facts(ip, info, arch))
	c := images.Client{Arch: arch, MAC: info.MAC, ServerURL: s.d.httpURL(req.Local)}
	out := images.PXELinuxMenu(s.cat.Entries(), c, dec)
	s.log.Info("images: generated menu", "file", req.Path, "client", req.Client, "mac", info.MAC, "arch", arch,
		"default", dec.Default, "profile", dec.Profile, "boot_once", dec.BootOnce)
	return []byte(out), true
}

// grubMenu renders grub.cfg for the GRUB network client at ip, fetched over proto ("tftp" or
// "http"): a UEFI platform (x86-64 unless its DHCP architecture says otherwise), and for a
// machine whose DHCP answer was the Secure Boot chain the menu that says which entries
// cannot boot under it.
func (s *imagesService) grubMenu(ip netip.Addr, info httpd.ClientInfo, known bool, serverURL, proto string) []byte {
	arch := images.ArchX64EFI
	if known {
		if a := images.ArchOf(info.Arch); a.EFI() {
			arch = a
		}
	}
	dec := s.res.Resolve(s.facts(ip, info, arch))
	c := images.Client{Arch: arch, MAC: info.MAC, ServerURL: serverURL, SecureBoot: info.Chain == boot.ChainShim}
	out := images.GRUBMenu(s.cat.Entries(), c, dec)
	s.log.Info("images: generated menu", "file", "grub/grub.cfg", "by", proto, "client", ip, "mac", info.MAC, "arch", arch,
		"secure_boot", c.SecureBoot, "default", dec.Default, "profile", dec.Profile, "boot_once", dec.BootOnce)
	return []byte(out)
}

// secureBootFor is dhcpd's Config.SecureBootFor: what the profiles file says of the machine
// (its MAC, static-lease group and architecture). It runs per boot decision: a file that
// says nothing of Secure Boot costs no allocation.
func (s *imagesService) secureBootFor(mac [6]byte, group string, arch uint16, archKnown bool) (on, ok bool) {
	set := s.res.Profiles()
	if !set.MarksSecureBoot() {
		return false, false
	}
	f := profiles.Facts{MAC: net.HardwareAddr(mac[:]).String(), Arch: arch, Group: group}
	if archKnown {
		f.Platform = string(images.ArchOf(arch))
	}
	return set.SecureBootFor(f)
}

// httpURL is the base URL of pxe-edge's HTTP server as a client that reached local sees it
// ("" when HTTP is off).
func (d *Daemon) httpURL(local netip.Addr) string {
	if !d.cfg.UseHTTP {
		return ""
	}
	host := local
	if a := d.cfg.HTTPServerIP; a.IsValid() && !a.IsUnspecified() {
		host = a
	}
	u := "http://" + host.String()
	if d.cfg.HTTPPort != 80 {
		u += ":" + strconv.Itoa(d.cfg.HTTPPort)
	}
	return u
}
