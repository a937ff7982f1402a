package daemon

import (
	"fmt"
	"net/netip"
	"sort"

	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
	"github.com/pxe-edge/pxe-edge/pkg/images"
	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// menusView implements pkg/http's Menus from the images service: the generated iPXE menu
// and the catalogue, profile and next-boot API.
type menusView struct{ s *imagesService }

// DefaultScript is the generated iPXE menu for a client whose netboot directory has neither
// boot.ipxe nor hosts/<mac>.ipxe.
func (v menusView) DefaultScript(c httpd.MenuClient) ([]byte, bool) {
	s := v.s
	if !c.Known && c.Platform == "" {
		// No lease (proxy mode, another DHCP server): iPXE tells its own platform (and MAC,
		// used when --http-trust-query-mac allows) on a second request.
		return []byte("#!ipxe\nchain boot.ipxe?platform=${platform}&buildarch=${buildarch}&mac=${netX/mac:hexhyp}\n"), true
	}
	arch := clientArch(c.Platform, c.BuildArch, c.Info, c.Known)
	dec := s.res.Resolve(s.facts(c.IP, c.Info, arch))
	cl := images.Client{Arch: arch, MAC: c.Info.MAC, ServerURL: c.BaseURL}
	s.log.Info("images: generated iPXE menu", "client", c.IP, "mac", c.Info.MAC, "arch", arch,
		"default", dec.Default, "profile", dec.Profile, "timeout", dec.Timeout, "boot_once", dec.BootOnce)
	return []byte(images.IPXEMenu(s.cat.Entries(), cl, dec)), true
}

// GRUBConfig is the generated grub.cfg for a GRUB network client that fetches it over HTTP
// (UEFI HTTP boot) when the netboot directory has none.
func (v menusView) GRUBConfig(c httpd.MenuClient) ([]byte, bool) {
	return v.s.grubMenu(c.IP, c.Info, c.Known, c.BaseURL, "http"), true
}

// Images is GET /api/images: the catalogue.
func (v menusView) Images() any {
	e := v.s.cat.Entries()
	if e == nil {
		e = []images.Entry{}
	}
	return e
}

// profileJSON is one profile as /api/profiles shows it.
type profileJSON struct {
	Name    string   `json:"name"`
	MAC     []string `json:"mac,omitempty"`
	Prefix  []string `json:"mac_prefix,omitempty"`
	Arch    []string `json:"arch,omitempty"`
	Group   []string `json:"group,omitempty"`
	Default string   `json:"default,omitempty"`
	Timeout *float64 `json:"timeout,omitempty"` // seconds
	Args    string   `json:"args,omitempty"`
	// SecureBoot marks the profile's machines as Secure Boot machines (true) or not.
	SecureBoot *bool `json:"secure_boot,omitempty"`
}

// Profiles is GET /api/profiles: the profiles file in force.
func (v menusView) Profiles() any {
	set := v.s.res.Profiles()
	out := struct {
		File       string        `json:"file,omitempty"`
		Default    string        `json:"default"`
		Timeout    float64       `json:"timeout"`
		Args       string        `json:"args,omitempty"`
		SecureBoot *bool         `json:"secure_boot,omitempty"`
		Profiles   []profileJSON `json:"profiles"`
	}{File: v.s.d.cfg.Profiles, Default: set.Default, Timeout: set.Timeout.Seconds(), Args: set.Args, SecureBoot: set.SecureBoot, Profiles: []profileJSON{}}
	for _, p := range set.Profiles {
		j := profileJSON{Name: p.Name, MAC: p.MACs, Prefix: p.MACPrefix, Arch: p.Arch, Group: p.Group, Default: p.Default, Args: p.Args, SecureBoot: p.SecureBoot}
		if p.Timeout != nil {
			t := p.Timeout.Seconds()
			j.Timeout = &t
		}
		out.Profiles = append(out.Profiles, j)
	}
	return out
}

// nextBootJSON is one machine's next boot as /api/nextboot shows it.
type nextBootJSON struct {
	MAC      string     `json:"mac"`
	IP       netip.Addr `json:"ip,omitzero"`
	Hostname string     `json:"hostname,omitempty"`
	Arch     string     `json:"arch,omitempty"`
	Profile  string     `json:"profile,omitempty"`
	Next     string     `json:"next"` // the entry its menu boots by default ("local": the disk)
	Timeout  float64    `json:"timeout"`
	BootOnce bool       `json:"boot_once,omitempty"`
}

// NextBoots is GET /api/nextboot: every machine with a lease or a pending boot-once setting,
// and what its next menu boots by default.
func (v menusView) NextBoots() any {
	s := v.s
	view := clientsView{s.d}
	seen := map[string]bool{}
	out := []nextBootJSON{}
	add := func(ip netip.Addr, info httpd.ClientInfo, known bool) {
		mac := profiles.NormalizeMAC(info.MAC)
		if mac == "" || seen[mac] {
			return
		}
		seen[mac] = true
		arch := images.ArchUnknown
		if known {
			arch = images.ArchOf(info.Arch)
		}
		dec := s.res.Resolve(s.facts(ip, info, arch))
		out = append(out, nextBootJSON{MAC: mac, IP: ip, Hostname: info.Hostname, Arch: string(arch), Profile: dec.Profile,
			Next: dec.Default, Timeout: dec.Timeout.Seconds(), BootOnce: dec.BootOnce})
	}
	for _, l := range view.Status().Leases {
		info, ok := view.Client(l.IP)
		if !ok {
			info = httpd.ClientInfo{MAC: l.MAC, Hostname: l.Hostname}
		}
		add(l.IP, info, ok)
	}
	for _, n := range s.res.NextBoots() {
		add(netip.Addr{}, httpd.ClientInfo{MAC: n.MAC}, false)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out
}

// SetNextBoot is POST /api/nextboot: entry must be a bootable catalogue entry or "local"
// ("" clears the setting).
func (v menusView) SetNextBoot(mac, entry string) error {
	s := v.s
	m := profiles.NormalizeMAC(mac)
	if m == "" {
		return fmt.Errorf("%w: %q is not a MAC address", httpd.ErrBadRequest, mac)
	}
	if entry != "" && entry != profiles.Local {
		e, ok := s.cat.Lookup(entry)
		if !ok {
			return fmt.Errorf("%w: no image %q in the catalogue", httpd.ErrBadRequest, entry)
		}
		if !e.Bootable {
			return fmt.Errorf("%w: image %q is not bootable: %s", httpd.ErrBadRequest, entry, e.Reason)
		}
	}
	if err := s.res.SetNextBoot(m, entry); err != nil {
		return err
	}
	s.d.log.Info("next boot set", "mac", m, "entry", entry)
	return nil
}

// Token is the dashboard's write token ("" when it could not be loaded: writes refused).
func (v menusView) Token() string { return v.s.token }
