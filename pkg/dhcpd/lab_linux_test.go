//go:build linux

package dhcpd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// labServer runs a Server on a rawdhcp Conn opened inside ns (ports 67 and 4011). Its log
// is returned for assertions and shown if the test fails.
func labServer(t *testing.T, ns *netlab.NS, ifname string, cfg Config) (*Server, *netlab.SyncBuffer) {
	t.Helper()
	logs := &netlab.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Interface = ifname
	var (
		s    *Server
		conn *rawdhcp.Conn
	)
	err := ns.Do(func() error {
		var err error
		conn, err = rawdhcp.Listen(ifname, &rawdhcp.Config{ServerAddr: cfg.ServerIP, Ports: []uint16{rawdhcp.ServerPort, rawdhcp.PXEServicePort}})
		if err != nil {
			return err
		}
		s, err = New(cfg)
		if err != nil {
			conn.Close()
			return err
		}
		s.SetReplier(conn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&rawdhcp.Server{Handler: s, Workers: 4}).Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("serve loop did not stop")
		}
		conn.Close()
		s.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s, logs
}

// labConfig is the full-mode configuration the namespace tests use (10.40.0.0/24).
func labConfig() Config {
	c := testConfig()
	c.ProbeWait = 100 * time.Millisecond
	c.LeaseTime = time.Hour
	return c
}

// pair makes a server namespace and a client namespace joined by a veth pair, with the
// client's MAC set.
func pair(t *testing.T, clientMAC string) (*netlab.Lab, *netlab.NS, *netlab.NS) {
	t.Helper()
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", "10.40.0.1/24", cli, "eth0", "")
	if clientMAC != "" {
		cli.MustRun("ip", "link", "set", "eth0", "address", clientMAC)
	}
	return l, srv, cli
}

// switched makes a bridge in its own namespace and attaches one namespace per name, each
// with eth0 on the bridge and the given CIDR ("" for none).
func switched(t *testing.T, l *netlab.Lab, names []string, cidrs []string) []*netlab.NS {
	t.Helper()
	sw := l.Namespace("sw")
	sw.Bridge("br0", "")
	out := make([]*netlab.NS, len(names))
	for i, n := range names {
		ns := l.Namespace(n)
		port := "p" + n
		if len(port) > 15 {
			port = port[:15]
		}
		l.Veth(sw, port, "", ns, "eth0", cidrs[i])
		sw.AttachToBridge(port, "br0")
		out[i] = ns
	}
	return out
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func leaseOf(s *Server, mac string) (LeaseInfo, bool) {
	for _, l := range s.Leases() {
		if strings.EqualFold(l.MACText, mac) {
			return l, true
		}
	}
	return LeaseInfo{}, false
}
