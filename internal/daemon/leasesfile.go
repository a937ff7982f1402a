package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

// pypxeLease is one entry of PyPXE's --save-leases file: {"AA:BB:CC:DD:EE:FF": {"ip":
// "192.168.2.100", "expire": 1700000000.5}}, MACs in upper case, expire in Unix seconds.
// PyPXE may add other keys ("ipxe"); they are ignored on import.
type pypxeLease struct {
	IP     string  `json:"ip"`
	Expire float64 `json:"expire"`
}

// importLeasesFile loads PyPXE's lease file at start, so a PyPXE user moving over keeps
// the clients' addresses. The pxe-edge lease store stays authoritative: an entry is taken
// only when the store holds nothing for that MAC or address, and only if still valid.
func (s *dhcpService) importLeasesFile() error {
	path := s.d.cfg.LeasesFile
	if path == "" || s.store == nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var m map[string]pypxeLease
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s is not a PyPXE lease file: %w", path, err)
	}
	now := time.Now()
	subnet := s.d.cfg.Prefix().Masked()
	n := 0
	for macText, pl := range m {
		mac, err := net.ParseMAC(macText)
		if err != nil || len(mac) != 6 {
			continue
		}
		ip, err := netip.ParseAddr(pl.IP)
		if err != nil || !subnet.Contains(ip) || math.IsNaN(pl.Expire) {
			continue
		}
		exp := time.Unix(int64(pl.Expire), 0)
		if !exp.After(now) {
			continue
		}
		if _, ok := s.store.Get(mac); ok {
			continue
		}
		if _, ok := s.store.ByIP(ip); ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.store.Commit(ctx, lease.Lease{MAC: mac, IP: ip, Expiry: exp, State: lease.Bound})
		cancel()
		if err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		s.log.Info("imported PyPXE leases", "file", path, "leases", n)
	}
	return nil
}

// exportLeasesFile writes the bound leases in PyPXE's format (on exit and SIGHUP, as PyPXE
// does), through a temporary file and a rename so a crash never leaves half a file.
func (s *dhcpService) exportLeasesFile() error {
	path := s.d.cfg.LeasesFile
	if path == "" || s.store == nil {
		return nil
	}
	m := map[string]pypxeLease{}
	for _, l := range s.store.All() {
		if l.State != lease.Bound || len(l.MAC) == 0 {
			continue
		}
		exp := 0.0
		if !l.Expiry.IsZero() {
			exp = float64(l.Expiry.Unix())
		}
		m[strings.ToUpper(l.MAC.String())] = pypxeLease{IP: l.IP.String(), Expire: exp}
	}
	b, err := json.MarshalIndent(m, "", "    ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".leases-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := firstErr(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
