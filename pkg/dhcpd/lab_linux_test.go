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

// labServer runs a Server on a rawdhcp Conn opened inside ns (ports 67 and 4011), with the
// link-layer side sockets wired as the daemon wires them: the ARP prober (full mode with a
// pool and ProbeWait > 0) and the watch for other servers. Its log is returned for
// assertions and shown if the test fails.
func labServer(t *testing.T, ns *netlab.NS, ifname string, cfg Config) (*Server, *netlab.SyncBuffer) {
	t.Helper()
	logs := &netlab.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Interface = ifname
	var (
		s      *Server
		conn   *rawdhcp.Conn
		prober *rawdhcp.ARPProber
		watch  *rawdhcp.ServerWatch
	)
	err := ns.Do(func() error {
		var err error
		conn, err = rawdhcp.Listen(ifname, &rawdhcp.Config{ServerAddr: cfg.ServerIP, Ports: []uint16{rawdhcp.ServerPort, rawdhcp.PXEServicePort}})
		if err != nil {
			return err
		}
		if watch, err = rawdhcp.OpenServerWatch(ifname); err != nil {
			return err
		}
		if cfg.ProbeWait > 0 && cfg.Begin.IsValid() {
			if prober, err = rawdhcp.OpenARPProber(ifname, cfg.ServerIP); err != nil {
				return err
			}
		}
		s, err = New(cfg)
		if err != nil {
			return err
		}
		if prober != nil {
			s.SetProber(prober)
		}
		s.SetReplier(conn)
		return nil
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		if watch != nil {
			watch.Close()
		}
		if prober != nil {
			prober.Close()
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&rawdhcp.Server{Handler: s, Workers: 4}).Serve(ctx, conn) }()
	watched := make(chan struct{})
	go func() { watch.Run(ctx, cfg.ServerIP, s.SawServer); close(watched) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("serve loop did not stop")
		}
		watch.Close()
		<-watched
		conn.Close()
		s.Close()
		if prober != nil {
			prober.Close()
		}
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
