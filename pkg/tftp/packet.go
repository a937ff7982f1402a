package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Opcode is a TFTP packet type (RFC 1350, RFC 2347).
type Opcode uint16

// TFTP opcodes.
const (
	OpRRQ   Opcode = 1
	OpWRQ   Opcode = 2
	OpDATA  Opcode = 3
	OpACK   Opcode = 4
	OpERROR Opcode = 5
	OpOACK  Opcode = 6
)

// ErrorCode is the code of an ERROR packet.
type ErrorCode uint16

// TFTP error codes (RFC 1350, RFC 2347).
const (
	ErrUndefined        ErrorCode = 0
	ErrFileNotFound     ErrorCode = 1
	ErrAccessViolation  ErrorCode = 2
	ErrDiskFull         ErrorCode = 3
	ErrIllegalOperation ErrorCode = 4
	ErrUnknownTID       ErrorCode = 5
	ErrFileExists       ErrorCode = 6
	ErrNoSuchUser       ErrorCode = 7
	ErrOptionRefused    ErrorCode = 8
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("tftp: malformed packet")

// Protocol limits.
const (
	// DefaultBlockSize is the RFC 1350 block size, used when blksize is not negotiated.
	DefaultBlockSize = 512
	// MinBlockSize and MaxBlockSize bound the blksize option (RFC 2348).
	MinBlockSize = 8
	MaxBlockSize = 65464
	// MaxWindowSize bounds the windowsize option (RFC 7440).
	MaxWindowSize = 65535
	// MaxPathLen is the longest file name the server accepts. PXE file names come from the
	// 128-byte DHCP file field or option 67; longer names are refused rather than passed to
	// the file system.
	MaxPathLen = 255
)

// Option is one name/value pair of a request or OACK (RFC 2347). Names are kept as sent;
// compare them with strings.EqualFold.
type Option struct {
	Name, Value string
}

// RequestPacket is a decoded RRQ or WRQ.
type RequestPacket struct {
	Op       Opcode
	Filename string
	// Mode is lower-cased ("octet", "netascii", "mail", or whatever the client sent).
	Mode    string
	Options []Option
}

// ParseRequest decodes an RRQ or WRQ. Options after the mode are read leniently: a
// trailing name without a value, or trailing NUL padding some ROMs add, is ignored.
func ParseRequest(b []byte) (*RequestPacket, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	op := Opcode(binary.BigEndian.Uint16(b))
	if op != OpRRQ && op != OpWRQ {
		return nil, fmt.Errorf("%w: opcode %d is not a request", ErrMalformed, op)
	}
	rest := b[2:]
	name, rest, ok := cutNUL(rest)
	if !ok {
		return nil, fmt.Errorf("%w: file name not terminated", ErrMalformed)
	}
	if len(name) == 0 {
		return nil, fmt.Errorf("%w: empty file name", ErrMalformed)
	}
	mode, rest, ok := cutNUL(rest)
	if !ok || len(mode) == 0 {
		return nil, fmt.Errorf("%w: mode missing", ErrMalformed)
	}
	r := &RequestPacket{Op: op, Filename: string(name), Mode: strings.ToLower(string(mode))}
	for len(rest) > 0 {
		n, after, ok := cutNUL(rest)
		if !ok || len(n) == 0 {
			break // padding or a truncated tail
		}
		v, after, ok := cutNUL(after)
		if !ok {
			break
		}
		r.Options = append(r.Options, Option{Name: string(n), Value: string(v)})
		rest = after
	}
	return r, nil
}

func cutNUL(b []byte) (field, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, b, false
}

// AppendRequest appends the encoding of r to dst.
func AppendRequest(dst []byte, r *RequestPacket) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.Op))
	dst = append(append(dst, r.Filename...), 0)
	dst = append(append(dst, r.Mode...), 0)
	for _, o := range r.Options {
		dst = append(append(dst, o.Name...), 0)
		dst = append(append(dst, o.Value...), 0)
	}
	return dst
}

// AppendOACK appends an OACK carrying opts to dst.
func AppendOACK(dst []byte, opts []Option) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(OpOACK))
	for _, o := range opts {
		dst = append(append(dst, o.Name...), 0)
		dst = append(append(dst, o.Value...), 0)
	}
	return dst
}

// ParseOACK decodes an OACK's options.
func ParseOACK(b []byte) ([]Option, error) {
	if len(b) < 2 || Opcode(binary.BigEndian.Uint16(b)) != OpOACK {
		return nil, fmt.Errorf("%w: not an OACK", ErrMalformed)
	}
	var opts []Option
	rest := b[2:]
	for len(rest) > 0 {
		n, after, ok := cutNUL(rest)
		if !ok {
			return nil, fmt.Errorf("%w: OACK option name not terminated", ErrMalformed)
		}
		v, after, ok := cutNUL(after)
		if !ok {
			return nil, fmt.Errorf("%w: OACK option value not terminated", ErrMalformed)
		}
		opts = append(opts, Option{Name: string(n), Value: string(v)})
		rest = after
	}
	return opts, nil
}

// PutDataHeader writes a DATA header for block into b[0:4]. The block number is the low 16
// bits of the block index, so block 65536 goes out as 0 (the rollover every client expects).
func PutDataHeader(b []byte, block uint16) {
	binary.BigEndian.PutUint16(b, uint16(OpDATA))
	binary.BigEndian.PutUint16(b[2:], block)
}

// AppendAck appends an ACK for block.
func AppendAck(dst []byte, block uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(OpACK))
	return binary.BigEndian.AppendUint16(dst, block)
}

// AppendError appends an ERROR packet.
func AppendError(dst []byte, code ErrorCode, msg string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(OpERROR))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(append(dst, msg...), 0)
}

// Packet is a decoded DATA, ACK or ERROR packet. Data and Msg alias the input buffer, so
// decoding never allocates.
type Packet struct {
	Op    Opcode
	Block uint16    // DATA, ACK
	Code  ErrorCode // ERROR
	Msg   []byte    // ERROR message without its NUL
	Data  []byte    // DATA payload
}

// Decode decodes a DATA, ACK, ERROR or OACK packet into p without allocating. For OACK only
// Op is set; use ParseOACK for its options. An ERROR without its terminating NUL is
// accepted (several ROMs omit it).
func (p *Packet) Decode(b []byte) error {
	*p = Packet{}
	if len(b) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	p.Op = Opcode(binary.BigEndian.Uint16(b))
	switch p.Op {
	case OpACK, OpDATA:
		if len(b) < 4 {
			return fmt.Errorf("%w: short %v", ErrMalformed, p.Op)
		}
		p.Block = binary.BigEndian.Uint16(b[2:])
		if p.Op == OpDATA {
			p.Data = b[4:]
		}
	case OpERROR:
		if len(b) < 4 {
			return fmt.Errorf("%w: short ERROR", ErrMalformed)
		}
		p.Code = ErrorCode(binary.BigEndian.Uint16(b[2:]))
		m := b[4:]
		if i := indexNUL(m); i >= 0 {
			m = m[:i]
		}
		p.Msg = m
	case OpOACK, OpRRQ, OpWRQ:
	default:
		return fmt.Errorf("%w: opcode %d", ErrMalformed, p.Op)
	}
	return nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// String names the opcode.
func (o Opcode) String() string {
	switch o {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	case OpDATA:
		return "DATA"
	case OpACK:
		return "ACK"
	case OpERROR:
		return "ERROR"
	case OpOACK:
		return "OACK"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}
