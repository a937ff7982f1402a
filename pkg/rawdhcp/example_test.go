package rawdhcp_test

import (
	"context"
	"log"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// A handler answers through the ResponseWriter; the Conn addresses each reply per RFC 2131
// §4.1, pads it and checks it against the client's option 57.
func Example() {
	server := netip.MustParseAddr("10.30.0.1")
	h := rawdhcp.HandlerFunc(func(w rawdhcp.ResponseWriter, req *rawdhcp.Message, info *rawdhcp.PacketInfo) {
		typ, ok := req.MessageType()
		if !ok || typ != rawdhcp.Discover {
			return
		}
		resp := w.NewReply(rawdhcp.Offer) // op, xid, flags, giaddr, chaddr copied; 53 set first
		resp.YIAddr = netip.MustParseAddr("10.30.0.50")
		resp.SetServerID(server)
		resp.SetLeaseTime(time.Hour)
		resp.SetSubnetMask(24)
		if archs, ok := req.ClientArchs(nil); ok && archs[0] == 0 && !req.IsIPXE() {
			resp.SetBootFileName("undionly.kpxe")
		}
		if rai, ok := req.RelayAgentInfo(); ok {
			resp.SetRelayAgentInfo(rai) // echoed last
		}
		if err := w.Reply(resp); err != nil {
			log.Print(err)
		}
	})
	c, err := rawdhcp.Listen("eth0", &rawdhcp.Config{ServerAddr: server, Ports: []uint16{67, 4011}})
	if err != nil {
		log.Print(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = (&rawdhcp.Server{Handler: h, Workers: 4}).Serve(ctx, c)
	log.Printf("%+v", c.Stats())
}
