package rawdhcp

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Generic typed views of options. Getters return ok = false when the option is absent or
// its length does not fit the type; they never fail otherwise.

// Addr returns option code as one IPv4 address.
func (o *Options) Addr(code OptionCode) (netip.Addr, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

// SetAddr sets option code to one IPv4 address; a non-IPv4 address is ignored.
func (o *Options) SetAddr(code OptionCode, a netip.Addr) {
	if !a.Is4() {
		return
	}
	b := a.As4()
	copy(o.setN(code, 4), b[:])
}

// AddrList appends the IPv4 addresses in option code to dst. A value whose length is not a
// multiple of 4 yields ok = false.
func (o *Options) AddrList(code OptionCode, dst []netip.Addr) ([]netip.Addr, bool) {
	v, ok := o.Get(code)
	if !ok || len(v)%4 != 0 {
		return dst, false
	}
	for ; len(v) >= 4; v = v[4:] {
		dst = append(dst, netip.AddrFrom4([4]byte(v)))
	}
	return dst, true
}

// SetAddrList sets option code to the IPv4 addresses in as (non-IPv4 entries are skipped).
func (o *Options) SetAddrList(code OptionCode, as ...netip.Addr) {
	n := 0
	for _, a := range as {
		if a.Is4() {
			n++
		}
	}
	b := o.setN(code, 4*n)
	for _, a := range as {
		if a.Is4() {
			a4 := a.As4()
			b = b[copy(b, a4[:]):]
		}
	}
}

// Uint32 returns option code as a big-endian 32-bit value.
func (o *Options) Uint32(code OptionCode) (uint32, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// SetUint32 sets option code to a big-endian 32-bit value.
func (o *Options) SetUint32(code OptionCode, x uint32) {
	binary.BigEndian.PutUint32(o.setN(code, 4), x)
}

// Uint16 returns option code as a big-endian 16-bit value.
func (o *Options) Uint16(code OptionCode) (uint16, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// SetUint16 sets option code to a big-endian 16-bit value.
func (o *Options) SetUint16(code OptionCode, x uint16) {
	binary.BigEndian.PutUint16(o.setN(code, 2), x)
}

// SetString sets option code to the bytes of s (no NUL terminator, RFC 2132 §2).
func (o *Options) SetString(code OptionCode, s string) {
	copy(o.setN(code, len(s)), s)
}

func (o *Options) seconds(code OptionCode) (time.Duration, bool) {
	s, ok := o.Uint32(code)
	if !ok {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

func (o *Options) setSeconds(code OptionCode, d time.Duration) {
	s := d / time.Second
	switch {
	case d < 0:
		s = 0
	case s > 0xffffffff:
		s = 0xffffffff // "infinite" per RFC 2132 §9.2
	}
	o.SetUint32(code, uint32(s))
}

// Message-level accessors for the options the field guide names.

// MessageType returns option 53; ok is false if it is absent or not one byte.
func (m *Message) MessageType() (MessageType, bool) {
	v, ok := m.Options.Get(OptMessageType)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return MessageType(v[0]), true
}

// SetMessageType sets option 53.
func (m *Message) SetMessageType(t MessageType) { m.Options.setN(OptMessageType, 1)[0] = byte(t) }

// ServerID returns option 54, the server identifier.
func (m *Message) ServerID() (netip.Addr, bool) { return m.Options.Addr(OptServerID) }

// SetServerID sets option 54.
func (m *Message) SetServerID(a netip.Addr) { m.Options.SetAddr(OptServerID, a) }

// RequestedIP returns option 50, the address the client asks for.
func (m *Message) RequestedIP() (netip.Addr, bool) { return m.Options.Addr(OptRequestedIP) }

// SetRequestedIP sets option 50.
func (m *Message) SetRequestedIP(a netip.Addr) { m.Options.SetAddr(OptRequestedIP, a) }

// LeaseTime returns option 51.
func (m *Message) LeaseTime() (time.Duration, bool) { return m.Options.seconds(OptLeaseTime) }

// SetLeaseTime sets option 51 (whole seconds; ≥ 2^32-1 s means infinite).
func (m *Message) SetLeaseTime(d time.Duration) { m.Options.setSeconds(OptLeaseTime, d) }

// RenewalTime returns option 58 (T1).
func (m *Message) RenewalTime() (time.Duration, bool) { return m.Options.seconds(OptRenewalTime) }

// SetRenewalTime sets option 58 (T1).
func (m *Message) SetRenewalTime(d time.Duration) { m.Options.setSeconds(OptRenewalTime, d) }

// RebindingTime returns option 59 (T2).
func (m *Message) RebindingTime() (time.Duration, bool) {
	return m.Options.seconds(OptRebindingTime)
}

// SetRebindingTime sets option 59 (T2).
func (m *Message) SetRebindingTime(d time.Duration) { m.Options.setSeconds(OptRebindingTime, d) }

// ParamRequestList returns the raw bytes of option 55 (aliasing m). Firmware sends junk
// here (EDK2 HTTP boot lists codes 0 and 235): prefer Requested or AppendParams.
func (m *Message) ParamRequestList() []byte {
	v, _ := m.Options.Get(OptParamRequestList)
	return v
}

// Requested reports whether option 55 lists code.
func (m *Message) Requested(code OptionCode) bool {
	for _, c := range m.ParamRequestList() {
		if OptionCode(c) == code {
			return true
		}
	}
	return false
}

// AppendParams appends the option codes requested in option 55 to dst in the client's
// order, dropping pad (0), end (255) and repeats, which real firmware sends.
func (m *Message) AppendParams(dst []OptionCode) []OptionCode {
	var seen [256 / 64]uint64
	for _, c := range m.ParamRequestList() {
		if c == 0 || c == 255 || seen[c/64]&(1<<(c%64)) != 0 {
			continue
		}
		seen[c/64] |= 1 << (c % 64)
		dst = append(dst, OptionCode(c))
	}
	return dst
}

// SetParamRequestList sets option 55.
func (m *Message) SetParamRequestList(codes ...OptionCode) {
	b := m.Options.setN(OptParamRequestList, len(codes))
	for i, c := range codes {
		b[i] = byte(c)
	}
}

// MaxMessageSize returns option 57 as sent: the largest IP datagram carrying a DHCP message
// that the client accepts. Values below 576 are illegal (RFC 2132 §9.10); ReplyLimit applies
// that floor.
func (m *Message) MaxMessageSize() (uint16, bool) { return m.Options.Uint16(OptMaxMessageSize) }

// SetMaxMessageSize sets option 57.
func (m *Message) SetMaxMessageSize(n uint16) { m.Options.SetUint16(OptMaxMessageSize, n) }

// ReplyLimit returns the largest DHCP message (UDP payload, so without the 28 bytes of IPv4
// and UDP header) the client accepts: from option 57 if present and ≥ 576, else from 576
// (RFC 2131 §2: 576 is the minimum IP datagram every client takes).
func (m *Message) ReplyLimit() int {
	if n, ok := m.MaxMessageSize(); ok && n >= DefaultMaxMessageSize {
		return int(n) - IPv4UDPHeaderLen
	}
	return DefaultMaxMessageSize - IPv4UDPHeaderLen
}

// VendorClass returns option 60, e.g. "PXEClient:Arch:00007:UNDI:003000".
func (m *Message) VendorClass() []byte {
	v, _ := m.Options.Get(OptVendorClass)
	return v
}

// SetVendorClass sets option 60 (a server echoes "PXEClient" or "HTTPClient").
func (m *Message) SetVendorClass(s string) { m.Options.SetString(OptVendorClass, s) }

// ClientID returns option 61 (type byte followed by the identifier).
func (m *Message) ClientID() []byte {
	v, _ := m.Options.Get(OptClientID)
	return v
}

// UserClass returns the raw bytes of option 77. iPXE sends the plain string "iPXE"; RFC 3004
// clients send length-prefixed classes — see UserClasses.
func (m *Message) UserClass() []byte {
	v, _ := m.Options.Get(OptUserClass)
	return v
}

// UserClasses appends the user classes in option 77 to dst (slices alias m). A value that
// is a well-formed RFC 3004 list (each class length-prefixed, non-empty, filling the value
// exactly) is split; anything else, such as iPXE's plain "iPXE", is one class.
func (m *Message) UserClasses(dst [][]byte) [][]byte {
	v := m.UserClass()
	if len(v) == 0 {
		return dst
	}
	if rfc3004(v) {
		for len(v) > 0 {
			n := int(v[0])
			dst = append(dst, v[1:1+n:1+n])
			v = v[1+n:]
		}
		return dst
	}
	return append(dst, v)
}

func rfc3004(v []byte) bool {
	for len(v) > 0 {
		n := int(v[0])
		if n == 0 || 1+n > len(v) {
			return false
		}
		v = v[1+n:]
	}
	return true
}

// HasUserClass reports whether option 77 carries class s in either encoding.
func (m *Message) HasUserClass(s string) bool {
	v := m.UserClass()
	if string(v) == s {
		return true
	}
	if !rfc3004(v) {
		return false
	}
	for len(v) > 0 {
		n := int(v[0])
		if string(v[1:1+n]) == s {
			return true
		}
		v = v[1+n:]
	}
	return false
}

// IsIPXE reports whether the client is iPXE: option 175 present or user class "iPXE".
func (m *Message) IsIPXE() bool {
	return m.Options.Has(OptIPXEEncap) || m.HasUserClass("iPXE")
}

// RelayAgentInfo returns option 82 raw; a server echoes it unchanged (RFC 3046 §2.2).
func (m *Message) RelayAgentInfo() ([]byte, bool) { return m.Options.Get(OptRelayAgentInfo) }

// SetRelayAgentInfo sets option 82 to v (copied).
func (m *Message) SetRelayAgentInfo(v []byte) { m.Options.Set(OptRelayAgentInfo, v) }

// ClientArchs appends the client system architectures of option 93 (RFC 4578, 16-bit
// values) to dst; ok is false if the option is absent, empty or of odd length.
func (m *Message) ClientArchs(dst []uint16) ([]uint16, bool) {
	v, ok := m.Options.Get(OptClientArch)
	if !ok || len(v) == 0 || len(v)%2 != 0 {
		return dst, false
	}
	for ; len(v) >= 2; v = v[2:] {
		dst = append(dst, binary.BigEndian.Uint16(v))
	}
	return dst, true
}

// ClientArch returns the first architecture of option 93.
func (m *Message) ClientArch() (uint16, bool) {
	v, ok := m.Options.Get(OptClientArch)
	if !ok || len(v) < 2 || len(v)%2 != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// SetClientArchs sets option 93.
func (m *Message) SetClientArchs(archs ...uint16) {
	b := m.Options.setN(OptClientArch, 2*len(archs))
	for i, a := range archs {
		binary.BigEndian.PutUint16(b[2*i:], a)
	}
}

// ClientNDI returns option 94 (RFC 4578 §2.2): interface type (1 = UNDI) and its version.
func (m *Message) ClientNDI() (typ, major, minor uint8, ok bool) {
	v, ok := m.Options.Get(OptClientNDI)
	if !ok || len(v) != 3 {
		return 0, 0, 0, false
	}
	return v[0], v[1], v[2], true
}

// ClientMachineID returns option 97 raw, for echoing. PXE clients send type 0 followed by
// a 16-byte UUID (first three fields little-endian, per SMBIOS); Raspberry Pi bootloaders
// send other bytes ("RPi4…").
func (m *Message) ClientMachineID() ([]byte, bool) { return m.Options.Get(OptClientMachineID) }

// SetClientMachineID sets option 97 to v (copied).
func (m *Message) SetClientMachineID(v []byte) { m.Options.Set(OptClientMachineID, v) }

// UUID returns the 16-byte UUID of option 97 when it has the RFC 4578 form (type 0 + 16
// bytes), as sent (no byte swapping).
func (m *Message) UUID() ([16]byte, bool) {
	v, ok := m.ClientMachineID()
	if !ok || len(v) != 17 || v[0] != 0 {
		return [16]byte{}, false
	}
	return [16]byte(v[1:]), true
}

// Hostname returns option 12.
func (m *Message) Hostname() []byte {
	v, _ := m.Options.Get(OptHostname)
	return v
}

// SetHostname sets option 12.
func (m *Message) SetHostname(s string) { m.Options.SetString(OptHostname, s) }

// SubnetMask returns option 1.
func (m *Message) SubnetMask() (netip.Addr, bool) { return m.Options.Addr(OptSubnetMask) }

// SetSubnetMask sets option 1 from a prefix length (0–32), e.g. 20 → 255.255.240.0.
func (m *Message) SetSubnetMask(bits int) {
	bits = max(0, min(32, bits))
	var mask uint32
	if bits > 0 {
		mask = ^uint32(0) << (32 - bits)
	}
	m.Options.SetUint32(OptSubnetMask, mask)
}

// Routers appends option 3's addresses to dst.
func (m *Message) Routers(dst []netip.Addr) []netip.Addr {
	dst, _ = m.Options.AddrList(OptRouter, dst)
	return dst
}

// SetRouters sets option 3.
func (m *Message) SetRouters(as ...netip.Addr) { m.Options.SetAddrList(OptRouter, as...) }

// DNSServers appends option 6's addresses to dst.
func (m *Message) DNSServers(dst []netip.Addr) []netip.Addr {
	dst, _ = m.Options.AddrList(OptDNS, dst)
	return dst
}

// SetDNSServers sets option 6.
func (m *Message) SetDNSServers(as ...netip.Addr) { m.Options.SetAddrList(OptDNS, as...) }

// DomainName returns option 15.
func (m *Message) DomainName() []byte {
	v, _ := m.Options.Get(OptDomainName)
	return v
}

// SetDomainName sets option 15.
func (m *Message) SetDomainName(s string) { m.Options.SetString(OptDomainName, s) }

// BroadcastAddr returns option 28.
func (m *Message) BroadcastAddr() (netip.Addr, bool) { return m.Options.Addr(OptBroadcastAddr) }

// SetBroadcastAddr sets option 28.
func (m *Message) SetBroadcastAddr(a netip.Addr) { m.Options.SetAddr(OptBroadcastAddr, a) }

// TFTPServerName returns option 66.
func (m *Message) TFTPServerName() []byte {
	v, _ := m.Options.Get(OptTFTPServerName)
	return v
}

// SetTFTPServerName sets option 66 (use a dotted IP string: the Pi has no resolver).
func (m *Message) SetTFTPServerName(s string) { m.Options.SetString(OptTFTPServerName, s) }

// BootFileName returns option 67.
func (m *Message) BootFileName() []byte {
	v, _ := m.Options.Get(OptBootFileName)
	return v
}

// SetBootFileName sets option 67.
func (m *Message) SetBootFileName(s string) { m.Options.SetString(OptBootFileName, s) }

// VendorSpecific returns option 43 raw (PXE sub-options are pkg/boot's business).
func (m *Message) VendorSpecific() ([]byte, bool) { return m.Options.Get(OptVendorSpecific) }

// SetVendorSpecific sets option 43 to v (copied).
func (m *Message) SetVendorSpecific(v []byte) { m.Options.Set(OptVendorSpecific, v) }

// PXELinuxConfigFile returns option 209 (RFC 5071).
func (m *Message) PXELinuxConfigFile() []byte {
	v, _ := m.Options.Get(OptPXELinuxConfigFile)
	return v
}

// SetPXELinuxConfigFile sets option 209.
func (m *Message) SetPXELinuxConfigFile(s string) { m.Options.SetString(OptPXELinuxConfigFile, s) }
