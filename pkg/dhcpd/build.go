package dhcpd

import (
	"net/netip"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Reply building. Options go out in this order: 53 (InitReply), 54, then what the client
// listed in option 55 in its order, then everything else we always send, then 82 last
// (RFC 3046 §2.2 wants it echoed unchanged; last is where relays look).

// codeSet is a set of option codes.
type codeSet [4]uint64

func (s *codeSet) add(c rawdhcp.OptionCode)      { s[c/64] |= 1 << (c % 64) }
func (s *codeSet) has(c rawdhcp.OptionCode) bool { return s[c/64]&(1<<(c%64)) != 0 }
func (s *codeSet) del(c rawdhcp.OptionCode)      { s[c/64] &^= 1 << (c % 64) }

// alwaysOrder is the order of the options we send whether asked or not, after those the
// client asked for. 53 and 54 are set first; 82 last.
var alwaysOrder = [...]rawdhcp.OptionCode{
	rawdhcp.OptLeaseTime, rawdhcp.OptRenewalTime, rawdhcp.OptRebindingTime,
	rawdhcp.OptSubnetMask, rawdhcp.OptRouter, rawdhcp.OptDNS, rawdhcp.OptHostname,
	rawdhcp.OptDomainName, rawdhcp.OptBroadcastAddr,
	rawdhcp.OptVendorClass, rawdhcp.OptVendorSpecific, rawdhcp.OptTFTPServerName,
	rawdhcp.OptBootFileName, rawdhcp.OptClientMachineID, rawdhcp.OptPXELinuxConfigFile,
}

// optional are sent only when the client asks for them in option 55 (or sends no 55). The
// rest (lease times, mask, router, boot options) always go out: firmware often forgets to
// ask for what it needs.
var optional = [...]rawdhcp.OptionCode{rawdhcp.OptDNS, rawdhcp.OptHostname, rawdhcp.OptDomainName, rawdhcp.OptBroadcastAddr}

// replyBuilder is what a reply contains: it fills OFFERs, ACKs, NAKs and ProxyDHCP
// replies from the request, the address chosen and the boot decision, and nothing else.
type replyBuilder struct {
	cfg *Config
}

// values is what one reply may carry, before ordering.
type values struct {
	have  codeSet
	lease bool
	mask  netip.Addr
	rtr   netip.Addr
	dns   []netip.Addr
	host  string
	d     *boot.Decision
}

// full fills resp as an OFFER/ACK (or INFORM ACK when withLease is false) giving ip.
func (b *replyBuilder) full(resp, req *rawdhcp.Message, typ rawdhcp.MessageType, ip netip.Addr, c *client, d *boot.Decision, withLease bool) {
	resp.InitReply(req, typ)
	resp.YIAddr = ip
	v := values{lease: withLease, mask: MaskOf(b.cfg.Subnet), rtr: b.cfg.Router, dns: b.cfg.DNS, host: c.hostname, d: d}
	if c.hasResv {
		if c.resv.Mask.IsValid() {
			v.mask = c.resv.Mask
		}
		if c.resv.Router.IsValid() {
			v.rtr = c.resv.Router
		}
		if len(c.resv.DNS) > 0 {
			v.dns = c.resv.DNS
		}
	}
	if withLease {
		v.have.add(rawdhcp.OptLeaseTime)
		v.have.add(rawdhcp.OptRenewalTime)
		v.have.add(rawdhcp.OptRebindingTime)
	}
	v.have.add(rawdhcp.OptSubnetMask)
	if v.rtr.IsValid() {
		v.have.add(rawdhcp.OptRouter)
	}
	if len(v.dns) > 0 {
		v.have.add(rawdhcp.OptDNS)
	}
	if v.host != "" {
		v.have.add(rawdhcp.OptHostname)
	}
	if b.cfg.Domain != "" {
		v.have.add(rawdhcp.OptDomainName)
	}
	if b.cfg.RootPath != "" && req.Requested(rawdhcp.OptRootPath) {
		v.have.add(rawdhcp.OptRootPath)
	}
	v.have.add(rawdhcp.OptBroadcastAddr)
	b.addBoot(resp, &v)
	b.emit(resp, req, &v)
}

// proxy fills resp as a ProxyDHCP OFFER or ACK: no address, boot information only
// (field guide §4).
func (b *replyBuilder) proxy(resp, req *rawdhcp.Message, typ rawdhcp.MessageType, d *boot.Decision) {
	resp.InitReply(req, typ)
	if typ == rawdhcp.Offer {
		// Clients have no address yet and several servers answer: broadcast (yiaddr 0).
		resp.Flags |= rawdhcp.FlagBroadcast
	}
	v := values{d: d}
	b.addBoot(resp, &v)
	if d.Opt60 == "" {
		// A proxy reply must say PXEClient; the policy leaves 60 empty only for non-PXE
		// clients, which proxy mode does not answer.
		v.have.add(rawdhcp.OptVendorClass)
	}
	b.emit(resp, req, &v)
}

// addBoot puts the decision's fixed fields into resp and its options into v.
func (b *replyBuilder) addBoot(resp *rawdhcp.Message, v *values) {
	d := v.d
	if d == nil || !d.Boot {
		return
	}
	if d.SIAddr.Is4() {
		resp.SIAddr = d.SIAddr
	}
	if d.File != "" {
		// U-Boot and old ROMs read the file field, others option 67: set both. A name
		// that does not fit the field goes in option 67 only.
		_ = resp.SetFileName(d.File)
		v.have.add(rawdhcp.OptBootFileName)
	}
	if d.Opt66 != "" {
		v.have.add(rawdhcp.OptTFTPServerName)
	}
	if d.Opt60 != "" {
		v.have.add(rawdhcp.OptVendorClass)
	}
	if d.Opt97 != nil {
		v.have.add(rawdhcp.OptClientMachineID)
	}
	if d.Opt43 != nil {
		v.have.add(rawdhcp.OptVendorSpecific)
	}
	if d.Opt209 != "" {
		v.have.add(rawdhcp.OptPXELinuxConfigFile)
	}
}

// emit writes the options of v into resp in order, honouring option 55.
func (b *replyBuilder) emit(resp, req *rawdhcp.Message, v *values) {
	resp.SetServerID(b.cfg.ServerIP)
	prl := req.ParamRequestList()
	if len(prl) > 0 {
		for _, oc := range optional {
			if !req.Requested(oc) {
				v.have.del(oc)
			}
		}
		for _, c := range prl {
			oc := rawdhcp.OptionCode(c)
			if v.have.has(oc) {
				b.put(resp, oc, v)
				v.have.del(oc)
			}
		}
	}
	for _, oc := range alwaysOrder {
		if v.have.has(oc) {
			b.put(resp, oc, v)
		}
	}
	if ri, ok := req.RelayAgentInfo(); ok {
		resp.SetRelayAgentInfo(ri)
	}
	// Respect the client's size limit (option 57, at least 576): shed what it did not need
	// most, in this order, until the reply fits.
	limit := req.ReplyLimit() - 28 // IPv4 + UDP headers count in option 57
	for _, oc := range [...]rawdhcp.OptionCode{rawdhcp.OptDomainName, rawdhcp.OptHostname, rawdhcp.OptBroadcastAddr, rawdhcp.OptDNS} {
		if encodedLen(resp) <= limit {
			break
		}
		resp.Options.Del(oc)
	}
}

// put sets option oc in resp from v.
func (b *replyBuilder) put(resp *rawdhcp.Message, oc rawdhcp.OptionCode, v *values) {
	switch oc {
	case rawdhcp.OptLeaseTime:
		resp.SetLeaseTime(b.cfg.LeaseTime)
	case rawdhcp.OptRenewalTime:
		resp.SetRenewalTime(b.cfg.LeaseTime / 2)
	case rawdhcp.OptRebindingTime:
		resp.SetRebindingTime(b.cfg.LeaseTime * 7 / 8)
	case rawdhcp.OptSubnetMask:
		resp.Options.SetAddr(rawdhcp.OptSubnetMask, v.mask)
	case rawdhcp.OptRouter:
		resp.SetRouters(v.rtr)
	case rawdhcp.OptDNS:
		resp.SetDNSServers(v.dns...)
	case rawdhcp.OptHostname:
		resp.SetHostname(v.host)
	case rawdhcp.OptDomainName:
		resp.SetDomainName(b.cfg.Domain)
	case rawdhcp.OptRootPath:
		resp.Options.SetString(rawdhcp.OptRootPath, b.cfg.RootPath)
	case rawdhcp.OptBroadcastAddr:
		resp.SetBroadcastAddr(b.cfg.Broadcast)
	case rawdhcp.OptVendorClass:
		vc := "PXEClient"
		if v.d != nil && v.d.Opt60 != "" {
			vc = v.d.Opt60
		}
		resp.SetVendorClass(vc)
	case rawdhcp.OptVendorSpecific:
		resp.SetVendorSpecific(v.d.Opt43)
	case rawdhcp.OptTFTPServerName:
		resp.SetTFTPServerName(v.d.Opt66)
	case rawdhcp.OptBootFileName:
		resp.SetBootFileName(v.d.File)
	case rawdhcp.OptClientMachineID:
		resp.SetClientMachineID(v.d.Opt97)
	case rawdhcp.OptPXELinuxConfigFile:
		resp.SetPXELinuxConfigFile(v.d.Opt209)
	}
}

// nak fills resp as a NAK (RFC 2131 table 3: no yiaddr, no options but 53, 54, 56
// and 82).
func (b *replyBuilder) nak(resp, req *rawdhcp.Message, why string) {
	resp.InitReply(req, rawdhcp.Nak)
	resp.SetServerID(b.cfg.ServerIP)
	resp.Options.SetString(rawdhcp.OptMessage, why)
	if ri, ok := req.RelayAgentInfo(); ok {
		resp.SetRelayAgentInfo(ri)
	}
}

// encodedLen is the DHCP payload size resp will have (before padding).
func encodedLen(m *rawdhcp.Message) int {
	n := 240 + 1 // fixed header, cookie, end option
	for i := range m.Options.Len() {
		_, v := m.Options.At(i)
		l := len(v)
		n += 2*((l+254)/255) + l
		if l == 0 {
			n += 2
		}
	}
	return n
}
