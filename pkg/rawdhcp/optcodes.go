package rawdhcp

import "strconv"

// OptionCode is a DHCP option code (RFC 2132 and later).
type OptionCode uint8

// Option codes the codec has typed accessors for. Any other code can be used with
// Options.Get/Set.
const (
	OptPad                OptionCode = 0
	OptSubnetMask         OptionCode = 1
	OptRouter             OptionCode = 3
	OptDNS                OptionCode = 6
	OptHostname           OptionCode = 12
	OptDomainName         OptionCode = 15
	OptRootPath           OptionCode = 17
	OptBroadcastAddr      OptionCode = 28
	OptVendorSpecific     OptionCode = 43
	OptRequestedIP        OptionCode = 50
	OptLeaseTime          OptionCode = 51
	OptOverload           OptionCode = 52
	OptMessageType        OptionCode = 53
	OptServerID           OptionCode = 54
	OptParamRequestList   OptionCode = 55
	OptMessage            OptionCode = 56
	OptMaxMessageSize     OptionCode = 57
	OptRenewalTime        OptionCode = 58
	OptRebindingTime      OptionCode = 59
	OptVendorClass        OptionCode = 60
	OptClientID           OptionCode = 61
	OptTFTPServerName     OptionCode = 66
	OptBootFileName       OptionCode = 67
	OptUserClass          OptionCode = 77
	OptRelayAgentInfo     OptionCode = 82
	OptClientArch         OptionCode = 93
	OptClientNDI          OptionCode = 94
	OptClientMachineID    OptionCode = 97
	OptIPXEEncap          OptionCode = 175
	OptPXELinuxConfigFile OptionCode = 209
	OptEnd                OptionCode = 255
)

// MessageType is the value of option 53.
type MessageType uint8

// DHCP message types (RFC 2132 §9.6).
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

var msgTypeNames = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}

// String returns the RFC name of the type ("DISCOVER", …), or "TYPE(n)" for others.
func (t MessageType) String() string {
	if t >= 1 && int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// OpCode is the BOOTP op field.
type OpCode uint8

// BOOTP op codes (RFC 951).
const (
	BootRequest OpCode = 1
	BootReply   OpCode = 2
)
