package dhcpd

import (
	"context"
	"net"
	"sync"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// respPool recycles reply messages across requests: one per concurrent worker in steady
// state, so the handler path allocates no message storage.
var respPool = sync.Pool{New: func() any { return new(rawdhcp.Message) }}

// ServeDHCP implements rawdhcp.Handler. Requests to port 67 and 4011 are answered; replies
// seen on port 68 (when the Conn listens there too) feed the rogue server watch.
func (s *Server) ServeDHCP(w rawdhcp.ResponseWriter, req *rawdhcp.Message, info *rawdhcp.PacketInfo) {
	port := info.Dst.Port()
	if port == rawdhcp.ClientPort {
		s.sawReply(req, info)
		return
	}
	resp := respPool.Get().(*rawdhcp.Message)
	defer respPool.Put(resp)
	r := s.Handle(s.baseCtx(), req, port, resp)
	if r == NoReply {
		return
	}
	if err := w.Reply(resp); err != nil {
		s.log.Warn("dhcp: reply not sent", "type", r.String(), "mac", macString(req.MAC()), "err", err)
		return
	}
	s.Sent(r, resp)
}

// sawReply checks a server reply read from port 68 for a rogue server.
func (s *Server) sawReply(m *rawdhcp.Message, info *rawdhcp.PacketInfo) {
	if m.Op != rawdhcp.BootReply {
		return
	}
	typ, ok := m.MessageType()
	if !ok || typ != rawdhcp.Offer && typ != rawdhcp.Ack {
		return
	}
	sid, ok := m.ServerID()
	if !ok {
		sid = info.Src.Addr()
	}
	if sid == s.cfg.ServerIP || info.Src.Addr() == s.cfg.ServerIP {
		return
	}
	s.sawServer(sid, append(net.HardwareAddr(nil), info.SrcMAC[:]...), typ)
}

func (s *Server) baseCtx() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}
