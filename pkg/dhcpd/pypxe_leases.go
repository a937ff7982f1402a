package dhcpd

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

// pypxeLease is one entry of PyPXE's --save-leases file: {"AA:BB:…": {"ip", "expire",
// "ipxe"}}, expire in Unix seconds.
type pypxeLease struct {
	IP     string  `json:"ip"`
	Expire float64 `json:"expire"`
	IPXE   bool    `json:"ipxe"`
}

// WritePyPXELeases writes the bound leases in PyPXE's --save-leases format (for tools
// that read PyPXE's file; pxe-edge's own durable record is the lease store). The file is
// replaced atomically.
func (s *Server) WritePyPXELeases(path string) error {
	out := make(map[string]pypxeLease)
	a := &s.addr
	a.mu.Lock()
	for ip, b := range a.pool.byIP {
		if b.state != stBound || b.id == "" {
			continue
		}
		mac := net.HardwareAddr(b.mac[:]).String()
		key := upperMAC(mac)
		if old, ok := out[key]; ok && old.Expire > float64(b.expires.Unix()) {
			continue
		}
		out[key] = pypxeLease{IP: a4(ip).String(), Expire: float64(b.expires.Unix())}
	}
	a.mu.Unlock()
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".leases-*")
	if err != nil {
		return fmt.Errorf("save-leases: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save-leases: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save-leases: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save-leases: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save-leases: %w", err)
	}
	return nil
}

// LoadPyPXELeases reads a PyPXE --save-leases file and adopts its unexpired leases that
// fit the pool (or the MAC's reservation) and that the server does not already know
// (the lease store wins). Adopted leases are committed to the store. It returns how many
// were adopted. A missing file is not an error, as in PyPXE.
func (s *Server) LoadPyPXELeases(ctx context.Context, path string) (int, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("save-leases: %w", err)
	}
	n, err := s.adoptPyPXELeases(ctx, data)
	if err != nil {
		return n, fmt.Errorf("save-leases: %s: %w", path, err)
	}
	return n, nil
}

// adoptPyPXELeases is LoadPyPXELeases on the file's contents.
func (s *Server) adoptPyPXELeases(ctx context.Context, data []byte) (int, error) {
	var in map[string]pypxeLease
	if err := json.Unmarshal(data, &in); err != nil {
		return 0, err
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := s.now()
	n := 0
	for _, k := range keys {
		e := in[k]
		hw, err := net.ParseMAC(k)
		ip, err2 := netip.ParseAddr(e.IP)
		if err != nil || err2 != nil || len(hw) != 6 || !ip.Is4() || math.IsNaN(e.Expire) || e.Expire > 1e11 {
			continue
		}
		exp := time.Unix(int64(e.Expire), 0)
		if !exp.After(now) {
			continue
		}
		c := client{id: macKey(hw), mac: [6]byte(hw)}
		c.resv, c.hasResv = s.addr.reservation(c.mac)
		if !s.addr.adopt(&c, u32(ip), exp, now) {
			continue
		}
		if s.cfg.Store != nil {
			if err := s.cfg.Store.Commit(ctx, lease.Lease{MAC: hw, IP: ip, Expiry: exp, State: lease.Bound}); err != nil {
				return n, err
			}
		}
		n++
	}
	return n, nil
}

func upperMAC(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
