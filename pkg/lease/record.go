package lease

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// errLine is wrapped by every journal/snapshot line parse error.
var errLine = errors.New("bad record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type op uint8

const (
	opLease op = iota + 1
	opTouch
	opDel
	opSnapshot
	opJournal
	opEnd
)

var opNames = [...]string{opLease: "lease", opTouch: "touch", opDel: "del", opSnapshot: "snapshot", opJournal: "journal", opEnd: "end"}

// record is one decoded line. For opLease/opTouch/opDel the lease fields apply (touch: IP,
// MAC, Expiry; del: IP); the header/footer ops carry n.
type record struct {
	op    op
	lease Lease
	n     uint64
}

const (
	maxHWLen    = 16 // chaddr
	maxHostname = 255
	maxClientID = 255
	maxLine     = 4096 // longer lines cannot be ours
	timeLayout  = "2006-01-02T15:04:05Z"
)

// appendRecord appends r as one checksummed line ending in '\n'.
func appendRecord(dst []byte, r *record) []byte {
	l := &r.lease
	if r.op == opLease {
		return appendLease(dst, l.IP, string(l.MAC), l.State, l.Expiry, l.Hostname, string(l.ClientID))
	}
	start := len(dst)
	dst = append(dst, "00000000\t"...)
	dst = append(dst, opNames[r.op]...)
	switch r.op {
	case opTouch:
		dst = append(dst, '\t')
		dst = l.IP.AppendTo(dst)
		dst = append(dst, '\t')
		dst = appendMAC(dst, l.MAC)
		dst = append(dst, '\t')
		dst = appendTime(dst, l.Expiry)
	case opDel:
		dst = append(dst, '\t')
		dst = l.IP.AppendTo(dst)
	default:
		dst = append(dst, '\t')
		dst = strconv.AppendUint(dst, r.n, 10)
	}
	return finishLine(dst, start)
}

// appendLease appends a lease record from its fields (the table keeps strings, Lease
// slices; both encode without allocating).
func appendLease(dst []byte, ip netip.Addr, mac string, state State, exp time.Time, host, cid string) []byte {
	start := len(dst)
	dst = append(dst, "00000000\tlease\t"...)
	dst = ip.AppendTo(dst)
	dst = append(dst, '\t')
	dst = appendMAC(dst, mac)
	dst = append(dst, '\t')
	dst = append(dst, stateNames[state]...)
	dst = append(dst, '\t')
	dst = appendTime(dst, exp)
	dst = append(dst, '\t')
	dst = appendEscaped(dst, host)
	dst = append(dst, '\t')
	dst = appendHex(dst, cid)
	return finishLine(dst, start)
}

// finishLine fills in the checksum of the line begun at start and ends it.
func finishLine(dst []byte, start int) []byte {
	sum := crc32.Checksum(dst[start+9:], castagnoli)
	const hexdig = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst[start+i] = hexdig[sum&0xf]
		sum >>= 4
	}
	return append(dst, '\n')
}

// parseLine decodes one line without its '\n'. It checks the checksum first, then every
// field; a record it returns is valid for the store (validLease holds for lease records).
// The returned lease owns its MAC and ClientID storage.
func parseLine(line []byte) (record, error) {
	var r record
	if len(line) > maxLine {
		return r, fmt.Errorf("%w: line longer than %d bytes", errLine, maxLine)
	}
	if len(line) < 10 || line[8] != '\t' {
		return r, fmt.Errorf("%w: no checksum", errLine)
	}
	want, ok := parseHex32(line[:8])
	if !ok {
		return r, fmt.Errorf("%w: no checksum", errLine)
	}
	body := line[9:]
	if crc32.Checksum(body, castagnoli) != want {
		return r, fmt.Errorf("%w: checksum mismatch", errLine)
	}
	var f [8][]byte
	n := 0
	for n < len(f) {
		i := bytes.IndexByte(body, '\t')
		if i < 0 {
			f[n] = body
			n++
			body = nil
			break
		}
		f[n] = body[:i]
		body = body[i+1:]
		n++
	}
	if body != nil {
		return r, fmt.Errorf("%w: too many fields", errLine)
	}
	switch string(f[0]) {
	case "lease":
		r.op = opLease
		if n != 7 {
			return r, fmt.Errorf("%w: lease wants 7 fields, got %d", errLine, n)
		}
		var err error
		if r.lease.IP, err = parseIP(f[1]); err != nil {
			return r, err
		}
		if r.lease.MAC, err = parseMAC(f[2]); err != nil {
			return r, err
		}
		if r.lease.State, err = parseState(f[3]); err != nil {
			return r, err
		}
		if r.lease.Expiry, err = parseTime(f[4]); err != nil {
			return r, err
		}
		if r.lease.Hostname, err = parseEscaped(f[5]); err != nil {
			return r, err
		}
		if r.lease.ClientID, err = parseHex(f[6]); err != nil {
			return r, err
		}
		if err := validLease(&r.lease); err != nil {
			return r, fmt.Errorf("%w: %w", errLine, err)
		}
	case "touch":
		r.op = opTouch
		if n != 4 {
			return r, fmt.Errorf("%w: touch wants 4 fields, got %d", errLine, n)
		}
		var err error
		if r.lease.IP, err = parseIP(f[1]); err != nil {
			return r, err
		}
		if r.lease.MAC, err = parseMAC(f[2]); err != nil {
			return r, err
		}
		if len(r.lease.MAC) == 0 {
			return r, fmt.Errorf("%w: touch without MAC", errLine)
		}
		if r.lease.Expiry, err = parseTime(f[3]); err != nil {
			return r, err
		}
	case "del":
		r.op = opDel
		if n != 2 {
			return r, fmt.Errorf("%w: del wants 2 fields, got %d", errLine, n)
		}
		var err error
		if r.lease.IP, err = parseIP(f[1]); err != nil {
			return r, err
		}
	case "snapshot", "journal", "end":
		switch f[0][0] {
		case 's':
			r.op = opSnapshot
		case 'j':
			r.op = opJournal
		default:
			r.op = opEnd
		}
		if n != 2 {
			return r, fmt.Errorf("%w: %s wants 2 fields, got %d", errLine, f[0], n)
		}
		v, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil || (len(f[1]) > 1 && f[1][0] == '0') || f[1][0] == '+' {
			return r, fmt.Errorf("%w: bad number %q", errLine, f[1])
		}
		r.n = v
	default:
		return r, fmt.Errorf("%w: unknown record %q", errLine, f[0])
	}
	return r, nil
}

// validLease is the one definition of a storable lease, used by Commit and the parser.
func validLease(l *Lease) error {
	switch {
	case !l.IP.Is4():
		return fmt.Errorf("%w: address %v is not IPv4", ErrInvalid, l.IP)
	case l.State < Offered || l.State > Released:
		return fmt.Errorf("%w: state %d", ErrInvalid, l.State)
	case len(l.MAC) > maxHWLen:
		return fmt.Errorf("%w: hardware address longer than %d bytes", ErrInvalid, maxHWLen)
	case len(l.MAC) == 0 && l.State != Declined:
		return fmt.Errorf("%w: no hardware address", ErrInvalid)
	case len(l.Hostname) > maxHostname:
		return fmt.Errorf("%w: hostname longer than %d bytes", ErrInvalid, maxHostname)
	case len(l.ClientID) > maxClientID:
		return fmt.Errorf("%w: client id longer than %d bytes", ErrInvalid, maxClientID)
	case !l.Expiry.IsZero() && (l.Expiry.Year() < 1 || l.Expiry.Year() > 9999):
		return fmt.Errorf("%w: expiry %v out of range", ErrInvalid, l.Expiry)
	}
	return nil
}

func appendMAC[T string | net.HardwareAddr](dst []byte, mac T) []byte {
	const hexdig = "0123456789abcdef"
	for i := 0; i < len(mac); i++ {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hexdig[mac[i]>>4], hexdig[mac[i]&0xf])
	}
	return dst
}

func appendHex(dst []byte, b string) []byte {
	const hexdig = "0123456789abcdef"
	for i := 0; i < len(b); i++ {
		dst = append(dst, hexdig[b[i]>>4], hexdig[b[i]&0xf])
	}
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return t.UTC().AppendFormat(dst, timeLayout)
}

// appendEscaped writes s so it holds no tab, newline or other control byte: bytes outside
// '!'..'~' and '%' become %XX.
func appendEscaped(dst []byte, s string) []byte {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '%' {
			dst = append(dst, '%', hexdig[c>>4], hexdig[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseHex32(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// parseIP reads a dotted quad as netip.ParseAddr would accept it (no leading zeros), without
// allocating.
func parseIP(b []byte) (netip.Addr, error) {
	var a [4]byte
	p := b
	for i := range a {
		n, v := 0, 0
		for n < len(p) && n < 4 && '0' <= p[n] && p[n] <= '9' {
			v = v*10 + int(p[n]-'0')
			n++
		}
		if n == 0 || n > 3 || v > 255 || (n > 1 && p[0] == '0') {
			return netip.Addr{}, fmt.Errorf("%w: bad IPv4 address %q", errLine, b)
		}
		a[i] = byte(v)
		p = p[n:]
		if i < 3 {
			if len(p) == 0 || p[0] != '.' {
				return netip.Addr{}, fmt.Errorf("%w: bad IPv4 address %q", errLine, b)
			}
			p = p[1:]
		}
	}
	if len(p) != 0 {
		return netip.Addr{}, fmt.Errorf("%w: bad IPv4 address %q", errLine, b)
	}
	return netip.AddrFrom4(a), nil
}

func parseMAC(b []byte) (net.HardwareAddr, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if (len(b)+1)%3 != 0 || (len(b)+1)/3 > maxHWLen {
		return nil, fmt.Errorf("%w: bad hardware address %q", errLine, b)
	}
	mac := make(net.HardwareAddr, (len(b)+1)/3)
	for i := range mac {
		p := b[i*3:]
		hi, ok1 := unhex(p[0])
		lo, ok2 := unhex(p[1])
		if !ok1 || !ok2 || (i < len(mac)-1 && p[2] != ':') {
			return nil, fmt.Errorf("%w: bad hardware address %q", errLine, b)
		}
		mac[i] = hi<<4 | lo
	}
	return mac, nil
}

func parseState(b []byte) (State, error) {
	for s, name := range stateNames {
		if name != "" && string(b) == name {
			return State(s), nil
		}
	}
	return 0, fmt.Errorf("%w: bad state %q", errLine, b)
}

// parseTime reads exactly timeLayout ("2006-01-02T15:04:05Z"), without allocating, and
// refuses dates that do not exist (time.Date would roll them over).
func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	bad := func() (time.Time, error) { return time.Time{}, fmt.Errorf("%w: bad time %q", errLine, b) }
	if len(b) != len(timeLayout) || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		return bad()
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return bad()
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d {
		return bad()
	}
	return t, nil
}

func parseEscaped(b []byte) (string, error) {
	if bytes.IndexByte(b, '%') < 0 {
		for _, c := range b {
			if c <= ' ' || c > '~' {
				return "", fmt.Errorf("%w: unescaped byte in hostname", errLine)
			}
		}
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '%':
			if i+2 >= len(b) {
				return "", fmt.Errorf("%w: bad escape in hostname", errLine)
			}
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%w: bad escape in hostname", errLine)
			}
			out = append(out, hi<<4|lo)
			i += 2
		case c <= ' ' || c > '~':
			return "", fmt.Errorf("%w: unescaped byte in hostname", errLine)
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

func parseHex(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: odd-length hex", errLine)
	}
	out := make([]byte, len(b)/2)
	for i := range out {
		hi, ok1 := unhex(b[2*i])
		lo, ok2 := unhex(b[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: bad hex", errLine)
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}
