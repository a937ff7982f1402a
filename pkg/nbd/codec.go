package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol constants from the NBD protocol document (doc/proto.md in NetworkBlockDevice/nbd).
const (
	magicNBD         uint64 = 0x4e42444d41474943 // "NBDMAGIC", first word of every greeting
	magicOpt         uint64 = 0x49484156454f5054 // "IHAVEOPT", newstyle greeting and every option
	magicOldstyle    uint64 = 0x00420281861253   // cliserv_magic of the oldstyle greeting
	magicRep         uint64 = 0x3e889045565a9    // option reply
	magicRequest     uint32 = 0x25609513
	magicSimpleReply uint32 = 0x67446698
)

// Handshake flags (server) and client flags.
const (
	flagFixedNewstyle   uint16 = 1 << 0
	flagNoZeroes        uint16 = 1 << 1
	clientFixedNewstyle uint32 = 1 << 0
	clientNoZeroes      uint32 = 1 << 1
)

// Option types.
const (
	OptExportName      uint32 = 1
	OptAbort           uint32 = 2
	OptList            uint32 = 3
	OptStartTLS        uint32 = 5
	OptInfo            uint32 = 6
	OptGo              uint32 = 7
	OptStructuredReply uint32 = 8
)

// Option reply types.
const (
	RepAck         uint32 = 1
	RepServer      uint32 = 2
	RepInfo        uint32 = 3
	repErr         uint32 = 1 << 31
	RepErrUnsup    uint32 = repErr + 1
	RepErrPolicy   uint32 = repErr + 2
	RepErrInvalid  uint32 = repErr + 3
	RepErrUnknown  uint32 = repErr + 6
	RepErrShutdown uint32 = repErr + 7
	RepErrTooBig   uint32 = repErr + 9
)

// Information types of NBD_REP_INFO.
const (
	InfoExport    uint16 = 0
	InfoName      uint16 = 1
	InfoBlockSize uint16 = 3
)

// Transmission flags.
const (
	FlagHasFlags        uint16 = 1 << 0
	FlagReadOnly        uint16 = 1 << 1
	FlagSendFlush       uint16 = 1 << 2
	FlagSendFUA         uint16 = 1 << 3
	FlagSendTrim        uint16 = 1 << 5
	FlagSendWriteZeroes uint16 = 1 << 6
	FlagCanMultiConn    uint16 = 1 << 8
)

// Commands and command flags.
const (
	CmdRead        uint16 = 0
	CmdWrite       uint16 = 1
	CmdDisc        uint16 = 2
	CmdFlush       uint16 = 3
	CmdTrim        uint16 = 4
	CmdWriteZeroes uint16 = 6

	CmdFlagFUA    uint16 = 1 << 0
	CmdFlagNoHole uint16 = 1 << 1
)

// Error values of simple replies.
const (
	EPERM  uint32 = 1
	EIO    uint32 = 5
	EINVAL uint32 = 22
	ENOSPC uint32 = 28
)

// Sizes of fixed wire structures and the limits this server advertises and enforces.
const (
	greetingLen     = 18   // NBDMAGIC, IHAVEOPT, handshake flags
	optHeaderLen    = 16   // IHAVEOPT, option, length
	requestLen      = 28   // magic, flags, type, handle, offset, length
	simpleReplyLen  = 16   // magic, error, handle
	MaxNameLen      = 4096 // the protocol's limit on strings
	maxOptionData   = MaxNameLen + 4 + 2 + 2*32
	MaxPayload      = 32 << 20 // NBD_INFO_BLOCK_SIZE maximum payload
	PreferredBlock  = 4096
	exportNameZeros = 124
)

// Errors from the parsers; a connection that produces one is closed.
var (
	ErrBadMagic   = errors.New("nbd: bad magic")
	ErrShort      = errors.New("nbd: short message")
	ErrOldstyle   = errors.New("nbd: client speaks the oldstyle protocol (only fixed newstyle is served)")
	ErrNotFixed   = errors.New("nbd: client did not set NBD_FLAG_C_FIXED_NEWSTYLE (only fixed newstyle is served)")
	ErrClientFlag = errors.New("nbd: unknown client flags")
)

// AppendGreeting appends the server's fixed newstyle greeting (NBDMAGIC, IHAVEOPT, the
// handshake flags FIXED_NEWSTYLE and NO_ZEROES).
func AppendGreeting(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, magicNBD)
	b = binary.BigEndian.AppendUint64(b, magicOpt)
	return binary.BigEndian.AppendUint16(b, flagFixedNewstyle|flagNoZeroes)
}

// ParseClientFlags checks the 32-bit client flags that follow the greeting and reports
// whether the client asked for NO_ZEROES. An oldstyle client would be sending a request
// (or nothing); a non-fixed newstyle client lacks bit 0; both are refused.
func ParseClientFlags(b []byte) (noZeroes bool, err error) {
	if len(b) < 4 {
		return false, ErrShort
	}
	f := binary.BigEndian.Uint32(b)
	switch {
	case f == magicRequest || f == uint32(magicNBD>>32):
		return false, ErrOldstyle
	case f&^(clientFixedNewstyle|clientNoZeroes) != 0:
		return false, fmt.Errorf("%w %#x", ErrClientFlag, f)
	case f&clientFixedNewstyle == 0:
		return false, ErrNotFixed
	}
	return f&clientNoZeroes != 0, nil
}

// OptionHeader is the fixed part of a client option; Length bytes of data follow it.
type OptionHeader struct {
	Option uint32
	Length uint32
}

// ParseOptionHeader parses the 16-byte option header.
func ParseOptionHeader(b []byte) (OptionHeader, error) {
	if len(b) < optHeaderLen {
		return OptionHeader{}, ErrShort
	}
	if binary.BigEndian.Uint64(b) != magicOpt {
		return OptionHeader{}, ErrBadMagic
	}
	return OptionHeader{Option: binary.BigEndian.Uint32(b[8:]), Length: binary.BigEndian.Uint32(b[12:])}, nil
}

// InfoRequest is the data of NBD_OPT_INFO and NBD_OPT_GO.
type InfoRequest struct {
	Name  string
	Infos []uint16
}

// Wants reports whether the client listed the information type t.
func (r InfoRequest) Wants(t uint16) bool {
	for _, x := range r.Infos {
		if x == t {
			return true
		}
	}
	return false
}

// ParseInfoRequest parses NBD_OPT_INFO / NBD_OPT_GO data: a 32-bit name length, the name,
// a 16-bit count and that many 16-bit information types, with nothing left over.
func ParseInfoRequest(b []byte) (InfoRequest, error) {
	if len(b) < 6 {
		return InfoRequest{}, ErrShort
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-6) || n > MaxNameLen {
		return InfoRequest{}, fmt.Errorf("nbd: name length %d does not fit option data of %d bytes", n, len(b))
	}
	r := InfoRequest{Name: string(b[4 : 4+n])}
	rest := b[4+n:]
	cnt := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != 2*cnt {
		return InfoRequest{}, fmt.Errorf("nbd: %d information requests need %d bytes, have %d", cnt, 2*cnt, len(rest))
	}
	for i := 0; i < cnt; i++ {
		r.Infos = append(r.Infos, binary.BigEndian.Uint16(rest[2*i:]))
	}
	return r, nil
}

// AppendOptionReply appends one fixed newstyle option reply carrying data.
func AppendOptionReply(b []byte, opt, typ uint32, data []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, magicRep)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// AppendRepServer appends an NBD_REP_SERVER reply naming one export.
func AppendRepServer(b []byte, opt uint32, name string) []byte {
	b = binary.BigEndian.AppendUint64(b, magicRep)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, RepServer)
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(name)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	return append(b, name...)
}

// AppendInfoExport appends NBD_REP_INFO / NBD_INFO_EXPORT (size and transmission flags).
func AppendInfoExport(b []byte, opt uint32, size uint64, flags uint16) []byte {
	var d [12]byte
	binary.BigEndian.PutUint16(d[0:], InfoExport)
	binary.BigEndian.PutUint64(d[2:], size)
	binary.BigEndian.PutUint16(d[10:], flags)
	return AppendOptionReply(b, opt, RepInfo, d[:])
}

// AppendInfoBlockSize appends NBD_REP_INFO / NBD_INFO_BLOCK_SIZE.
func AppendInfoBlockSize(b []byte, opt uint32, min, pref, max uint32) []byte {
	var d [14]byte
	binary.BigEndian.PutUint16(d[0:], InfoBlockSize)
	binary.BigEndian.PutUint32(d[2:], min)
	binary.BigEndian.PutUint32(d[6:], pref)
	binary.BigEndian.PutUint32(d[10:], max)
	return AppendOptionReply(b, opt, RepInfo, d[:])
}

// AppendInfoName appends NBD_REP_INFO / NBD_INFO_NAME (the canonical export name).
func AppendInfoName(b []byte, opt uint32, name string) []byte {
	d := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(name)), InfoName)
	return AppendOptionReply(b, opt, RepInfo, append(d, name...))
}

// AppendExportNameReply appends the reply to NBD_OPT_EXPORT_NAME: size, flags and, unless the
// client negotiated NO_ZEROES, 124 zero bytes.
func AppendExportNameReply(b []byte, size uint64, flags uint16, noZeroes bool) []byte {
	b = binary.BigEndian.AppendUint64(b, size)
	b = binary.BigEndian.AppendUint16(b, flags)
	if !noZeroes {
		b = append(b, make([]byte, exportNameZeros)...)
	}
	return b
}

// Request is one transmission-phase request header; a WRITE's Length bytes follow it.
type Request struct {
	Flags  uint16
	Type   uint16
	Handle uint64
	Offset uint64
	Length uint32
}

// ParseRequest parses the 28-byte request header.
func ParseRequest(b []byte) (Request, error) {
	if len(b) < requestLen {
		return Request{}, ErrShort
	}
	if binary.BigEndian.Uint32(b) != magicRequest {
		return Request{}, ErrBadMagic
	}
	return Request{
		Flags:  binary.BigEndian.Uint16(b[4:]),
		Type:   binary.BigEndian.Uint16(b[6:]),
		Handle: binary.BigEndian.Uint64(b[8:]),
		Offset: binary.BigEndian.Uint64(b[16:]),
		Length: binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// AppendRequest appends a request header (the client side, for tests and tools).
func AppendRequest(b []byte, r Request) []byte {
	b = binary.BigEndian.AppendUint32(b, magicRequest)
	b = binary.BigEndian.AppendUint16(b, r.Flags)
	b = binary.BigEndian.AppendUint16(b, r.Type)
	b = binary.BigEndian.AppendUint64(b, r.Handle)
	b = binary.BigEndian.AppendUint64(b, r.Offset)
	return binary.BigEndian.AppendUint32(b, r.Length)
}

// PutSimpleReply writes a simple reply header into b[:16].
func PutSimpleReply(b []byte, errno uint32, handle uint64) {
	binary.BigEndian.PutUint32(b, magicSimpleReply)
	binary.BigEndian.PutUint32(b[4:], errno)
	binary.BigEndian.PutUint64(b[8:], handle)
}

// Check decides whether a request may run on an export of the given size and transmission
// flags, returning 0 or the NBD error to answer. It is pure so the rules are table-tested.
// Reads and trims beyond the end, any length over MaxPayload for READ/WRITE, unknown
// commands and unknown flags get EINVAL; writes to a read-only export EPERM; writes beyond the
// end ENOSPC, as the protocol document asks.
func (r Request) Check(size uint64, flags uint16) uint32 {
	const known = CmdFlagFUA | CmdFlagNoHole
	if r.Flags&^known != 0 {
		return EINVAL
	}
	if r.Flags&CmdFlagNoHole != 0 && r.Type != CmdWriteZeroes {
		return EINVAL
	}
	end := r.Offset + uint64(r.Length)
	past := end < r.Offset || end > size
	ro := flags&FlagReadOnly != 0
	switch r.Type {
	case CmdRead:
		if r.Length > MaxPayload || past {
			return EINVAL
		}
	case CmdWrite, CmdWriteZeroes:
		switch {
		case r.Type == CmdWrite && r.Length > MaxPayload:
			return EINVAL
		case ro:
			return EPERM
		case past:
			return ENOSPC
		}
	case CmdTrim:
		switch {
		case ro:
			return EPERM
		case past:
			return EINVAL
		}
	case CmdFlush:
	default:
		return EINVAL
	}
	return 0
}
