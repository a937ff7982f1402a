package httpd

import (
	"strings"
	"testing"
)

// TestStatusHost: the status routes answer only Host headers that name this server, so a
// DNS-rebinding page cannot read the lease table; files answer any Host.
func TestStatusHost(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	_, addr, logs := startServer(t, Config{Root: dir, Status: true, StatusHosts: []string{"pxe.lab"}})
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"127.0.0.1", true},
		{"127.0.0.5", true}, // loopback
		{"[::1]:" + port, true},
		{"localhost:" + port, true},
		{"LOCALHOST.", true},
		{"box.localhost", true},
		{"pxe.lab:" + port, true},
		{"PXE.LAB", true},
		{"evil.example:" + port, false},
		{"127.0.0.1.evil.example", false},
		{"10.50.0.1", false}, // an address this server was not reached on
		{"pxe.lab.evil", false},
	} {
		for _, path := range []string{"/", "/api/status", "/metrics"} {
			resp, _ := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if ok := resp.StatusCode == 200; ok != tc.ok {
				t.Errorf("Host %q %s: %d, want allowed=%v", tc.host, path, resp.StatusCode, tc.ok)
			}
		}
	}
	resp, _ := rawRequest(t, addr, "GET /a.txt HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("file with a foreign Host: %d", resp.StatusCode)
	}
	resp, _ = rawRequest(t, addr, "GET /api/status HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("HTTP/1.0 without Host: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "foreign Host") {
		t.Error("refusal not logged")
	}
}
