package dhcpd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// optionCodes walks the encoded options area of a reply (after the cookie) and lists the
// codes in wire order, checking the TLV framing on the way.
func optionCodes(t *testing.T, b []byte) []int {
	t.Helper()
	if len(b) < 240 || !bytes.Equal(b[236:240], []byte{99, 130, 83, 99}) {
		t.Fatalf("no magic cookie")
	}
	var codes []int
	for i := 240; i < len(b); {
		c := b[i]
		if c == 255 {
			return codes
		}
		if c == 0 {
			i++
			continue
		}
		if i+1 >= len(b) || i+2+int(b[i+1]) > len(b) {
			t.Fatalf("option %d overruns the message", c)
		}
		codes = append(codes, int(c))
		i += 2 + int(b[i+1])
	}
	t.Fatal("no end option")
	return nil
}

func optValue(b []byte, code byte) []byte {
	for i := 240; i < len(b) && b[i] != 255; {
		if b[i] == 0 {
			i++
			continue
		}
		if b[i] == code {
			return b[i+2 : i+2+int(b[i+1])]
		}
		i += 2 + int(b[i+1])
	}
	return nil
}

func TestReplyBytes(t *testing.T) {
	relayInfo := []byte{1, 4, 'p', 'o', 'r', 't', 2, 2, 0xab, 0xcd}
	for _, tc := range []struct {
		name  string
		mode  Mode
		port  uint16
		req   *rawdhcp.Message
		kind  Reply
		codes string // option codes in wire order
		check func(t *testing.T, b []byte, m *rawdhcp.Message)
	}{
		{
			name: "dhclient-like DISCOVER: 55 order and subset",
			req: request(rawdhcp.Discover, mac(1), withPRL(1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42),
				func(m *rawdhcp.Message) { m.SetHostname("box1") }),
			kind:  ReplyOffer,
			codes: "53 54 1 28 3 15 6 12 51 58 59 66 67",
			check: func(t *testing.T, b []byte, m *rawdhcp.Message) {
				if got := binary.BigEndian.Uint32(optValue(b, 51)); got != 3600 {
					t.Errorf("lease %d", got)
				}
				if got := binary.BigEndian.Uint32(optValue(b, 58)); got != 1800 {
					t.Errorf("T1 %d", got)
				}
				if got := binary.BigEndian.Uint32(optValue(b, 59)); got != 3150 {
					t.Errorf("T2 %d", got)
				}
				if !bytes.Equal(optValue(b, 1), []byte{255, 255, 255, 0}) || !bytes.Equal(optValue(b, 28), []byte{10, 40, 0, 255}) {
					t.Errorf("mask/broadcast % x / % x", optValue(b, 1), optValue(b, 28))
				}
				if !bytes.Equal(optValue(b, 6), []byte{10, 40, 0, 53, 10, 40, 0, 54}) {
					t.Errorf("dns % x", optValue(b, 6))
				}
				if string(optValue(b, 12)) != "box1" || string(optValue(b, 15)) != "lab.test" {
					t.Errorf("hostname %q domain %q", optValue(b, 12), optValue(b, 15))
				}
				if !bytes.Equal(b[16:20], []byte{10, 40, 0, 0}) && m.YIAddr.IsUnspecified() {
					t.Errorf("no yiaddr")
				}
			},
		},
		{
			name:  "no option 55: everything",
			req:   request(rawdhcp.Discover, mac(2)),
			kind:  ReplyOffer,
			codes: "53 54 51 58 59 1 3 6 15 28 66 67",
		},
		{
			name: "BIOS PXE with relay info: boot options, 82 last, unrequested 6/15/28 dropped",
			req: request(rawdhcp.Discover, mac(3), withPXE(0), withPRL(1, 3, 43, 60, 66, 67, 97),
				func(m *rawdhcp.Message) { m.SetRelayAgentInfo(relayInfo) }),
			kind:  ReplyOffer,
			codes: "53 54 1 3 43 60 66 67 97 51 58 59 82",
			check: func(t *testing.T, b []byte, m *rawdhcp.Message) {
				if !bytes.Equal(optValue(b, 82), relayInfo) {
					t.Errorf("82 not echoed unchanged: % x", optValue(b, 82))
				}
				if string(optValue(b, 66)) != "10.40.0.1" {
					t.Errorf("66 %q, want the dotted server IP", optValue(b, 66))
				}
				if string(optValue(b, 60)) != "PXEClient" {
					t.Errorf("60 %q", optValue(b, 60))
				}
				if len(optValue(b, 97)) != 17 {
					t.Errorf("97 not echoed")
				}
				if !bytes.Equal(b[20:24], tServer.AsSlice()) {
					t.Errorf("siaddr % x", b[20:24])
				}
				if string(bytes.TrimRight(b[108:236], "\x00")) != string(optValue(b, 67)) {
					t.Errorf("file field %q vs option 67 %q", bytes.TrimRight(b[108:236], "\x00"), optValue(b, 67))
				}
			},
		},
		{
			name:  "NAK",
			req:   request(rawdhcp.Request, mac(4), withServerID(tServer), withRequested("10.40.0.5")),
			kind:  ReplyNak,
			codes: "53 54 56",
			check: func(t *testing.T, b []byte, m *rawdhcp.Message) {
				if !bytes.Equal(b[16:20], []byte{0, 0, 0, 0}) || !bytes.Equal(b[20:24], []byte{0, 0, 0, 0}) {
					t.Errorf("NAK with yiaddr/siaddr")
				}
			},
		},
		{
			name:  "proxy OFFER to BIOS: 43 + siaddr + file, yiaddr 0, broadcast",
			mode:  ModeProxy,
			req:   request(rawdhcp.Discover, mac(5), withPXE(0)),
			kind:  ReplyProxyOffer,
			codes: "53 54 60 43 66 67 97",
			check: func(t *testing.T, b []byte, m *rawdhcp.Message) {
				if !bytes.Equal(b[16:20], []byte{0, 0, 0, 0}) {
					t.Errorf("proxy offer yiaddr % x", b[16:20])
				}
				if binary.BigEndian.Uint16(b[10:12])&0x8000 == 0 {
					t.Errorf("proxy offer without broadcast flag")
				}
				if !bytes.Equal(b[20:24], tServer.AsSlice()) || len(optValue(b, 67)) == 0 {
					t.Errorf("siaddr/file missing")
				}
				o43 := optValue(b, 43)
				if len(o43) < 3 || o43[0] != 6 || o43[1] != 1 || o43[2] != 8 {
					t.Errorf("option 43 % x lacks discovery control 8", o43)
				}
			},
		},
		{
			name:  "proxy OFFER to UEFI x64: no 43",
			mode:  ModeProxy,
			req:   request(rawdhcp.Discover, mac(6), withPXE(7)),
			kind:  ReplyProxyOffer,
			codes: "53 54 60 66 67 97",
		},
		{
			name: "proxy mode ignores plain DHCP clients",
			mode: ModeProxy,
			req:  request(rawdhcp.Discover, mac(7)),
			kind: NoReply,
		},
		{
			name:  "port 4011 ACK to UEFI",
			mode:  ModeProxy,
			port:  4011,
			req:   request(rawdhcp.Request, mac(8), withPXE(7), withCIAddr("10.40.5.5"), withServerID(tServer)),
			kind:  ReplyProxyAck,
			codes: "53 54 60 66 67 97",
			check: func(t *testing.T, b []byte, m *rawdhcp.Message) {
				if !bytes.Equal(b[12:16], []byte{10, 40, 5, 5}) || !bytes.Equal(b[16:20], []byte{0, 0, 0, 0}) {
					t.Errorf("4011 ACK ciaddr % x yiaddr % x", b[12:16], b[16:20])
				}
				if !bytes.Equal(b[20:24], tServer.AsSlice()) {
					t.Errorf("4011 ACK siaddr % x", b[20:24])
				}
				if mt := optValue(b, 53); len(mt) != 1 || mt[0] != 5 {
					t.Errorf("4011 reply type % x", mt)
				}
			},
		},
		{
			name: "port 4011 ignores DISCOVER",
			port: 4011,
			req:  request(rawdhcp.Discover, mac(9), withPXE(7)),
			kind: NoReply,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.mode != 0 {
				cfg.Mode = tc.mode
			}
			s, _ := newTestServer(t, cfg)
			port := tc.port
			if port == 0 {
				port = 67
			}
			r, resp := do(t, s, tc.req, port)
			if r != tc.kind {
				t.Fatalf("reply %v, want %v", r, tc.kind)
			}
			if r == NoReply {
				return
			}
			b, err := resp.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range optionCodes(t, b) {
				got = append(got, fmt.Sprint(c))
			}
			if g := strings.Join(got, " "); g != tc.codes {
				t.Errorf("option order %q, want %q", g, tc.codes)
			}
			if !bytes.Equal(b[4:8], []byte{1, 2, 3, 4}) || !bytes.Equal(b[28:34], tc.req.CHAddr[:6]) || b[0] != 2 {
				t.Errorf("xid/chaddr/op not copied")
			}
			if sid := optValue(b, 54); !bytes.Equal(sid, tServer.AsSlice()) {
				t.Errorf("server id % x", sid)
			}
			if tc.check != nil {
				tc.check(t, b, resp)
			}
		})
	}
}

func TestReplyFitsOption57(t *testing.T) {
	cfg := testConfig()
	for i := range 60 {
		cfg.DNS = append(cfg.DNS, netip.AddrFrom4([4]byte{10, 40, 1, byte(i)}))
	}
	cfg.Domain = strings.Repeat("d", 200)
	s, _ := newTestServer(t, cfg)
	r, resp := do(t, s, request(rawdhcp.Discover, mac(1), func(m *rawdhcp.Message) { m.SetMaxMessageSize(576) }), 67)
	if r != ReplyOffer {
		t.Fatal(r)
	}
	b, _ := resp.Append(nil)
	if len(b)+28 > 576 {
		t.Fatalf("reply of %d bytes exceeds the client's 576", len(b)+28)
	}
	if !resp.Options.Has(rawdhcp.OptLeaseTime) || !resp.Options.Has(rawdhcp.OptServerID) {
		t.Fatal("shed a required option")
	}
}
