package dhcpd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

func TestPyPXELeasesRoundTrip(t *testing.T) {
	s, clk := newTestServer(t, testConfig())
	a := dora(t, s, mac(1))
	b := dora(t, s, mac(2))
	path := filepath.Join(t.TempDir(), "leases.json")
	if err := s.WritePyPXELeases(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var doc map[string]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if e := doc["02:00:00:00:00:01"]; e["ip"] != a.String() || e["expire"].(float64) != float64(clk.Now().Add(time.Hour).Unix()) {
		t.Fatalf("PyPXE entry %v in\n%s", e, raw)
	}
	// A fresh server adopts them: each MAC is offered its address again.
	s2, _ := newTestServer(t, testConfig())
	n, err := s2.LoadPyPXELeases(context.Background(), path)
	if err != nil || n != 2 {
		t.Fatalf("adopted %d, %v", n, err)
	}
	for m, ip := range map[[6]byte]string{mac(1): a.String(), mac(2): b.String()} {
		if _, o := do(t, s2, request(rawdhcp.Discover, m), 67); o.YIAddr.String() != ip {
			t.Fatalf("%x offered %v, want %s", m, o.YIAddr, ip)
		}
	}
	// Expired entries and garbage are skipped; a missing file is fine.
	os.WriteFile(path, []byte(`{"02:00:00:00:00:05":{"ip":"10.40.0.105","expire":1},"zz":{"ip":"x","expire":9e9}}`), 0o644)
	if n, err := s2.LoadPyPXELeases(context.Background(), path); n != 0 || err != nil {
		t.Fatalf("adopted %d, %v", n, err)
	}
	if n, err := s2.LoadPyPXELeases(context.Background(), path+".missing"); n != 0 || err != nil {
		t.Fatalf("missing file: %d, %v", n, err)
	}
}
