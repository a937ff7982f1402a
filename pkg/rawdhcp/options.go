package rawdhcp

import "fmt"

// Options is an ordered set of DHCP options, at most one entry per code. Values live in one
// backing buffer that Decode and Reset reuse, so a warmed Options stores a packet's options
// without allocating.
//
// Order is kept for encoding: Append writes options in the order they were first set (or
// first seen when decoding). Build replies with 53 first and 82 last, as servers
// conventionally do. Values longer than 255 bytes are split into consecutive options on
// encode and consecutive or repeated options are joined on decode (RFC 3396).
//
// A slice returned by Get aliases the store and is valid until the next Decode, Reset, or
// Set/Del of any option.
type Options struct {
	buf  []byte
	ents []optEntry
}

type optEntry struct {
	code OptionCode
	off  uint32
	n    uint32
}

// Reset removes every option and keeps the storage for reuse.
func (o *Options) Reset() {
	o.buf = o.buf[:0]
	o.ents = o.ents[:0]
}

// Len returns the number of distinct options.
func (o *Options) Len() int { return len(o.ents) }

// At returns the i-th option in encoding order, 0 ≤ i < Len.
func (o *Options) At(i int) (OptionCode, []byte) {
	e := o.ents[i]
	return e.code, o.buf[e.off : e.off+e.n : e.off+e.n]
}

func (o *Options) find(code OptionCode) int {
	for i := range o.ents {
		if o.ents[i].code == code {
			return i
		}
	}
	return -1
}

// Get returns the value of option code and whether it is present. A present option may have
// an empty value.
func (o *Options) Get(code OptionCode) ([]byte, bool) {
	i := o.find(code)
	if i < 0 {
		return nil, false
	}
	e := o.ents[i]
	// Full slice expression: an append by the caller must not overwrite the next option.
	return o.buf[e.off : e.off+e.n : e.off+e.n], true
}

// Has reports whether option code is present.
func (o *Options) Has(code OptionCode) bool { return o.find(code) >= 0 }

// Set stores v as the value of option code, keeping the option's place if it was already
// present and appending it otherwise. v is copied. Codes 0 (pad) and 255 (end) cannot carry
// values; Append refuses a store that holds them.
func (o *Options) Set(code OptionCode, v []byte) {
	i := o.find(code)
	if i >= 0 && int(o.ents[i].n) == len(v) {
		copy(o.buf[o.ents[i].off:], v)
		return
	}
	off := len(o.buf)
	o.buf = append(o.buf, v...)
	if i >= 0 {
		o.ents[i].off, o.ents[i].n = uint32(off), uint32(len(v))
		return
	}
	o.ents = append(o.ents, optEntry{code: code, off: uint32(off), n: uint32(len(v))})
}

// setN reserves n bytes for option code (as Set would) and returns them for the caller to
// fill; it lets typed setters write in place without a temporary slice.
func (o *Options) setN(code OptionCode, n int) []byte {
	i := o.find(code)
	if i >= 0 && int(o.ents[i].n) == n {
		off := o.ents[i].off
		return o.buf[off : off+uint32(n)]
	}
	off := len(o.buf)
	o.buf = append(o.buf, make([]byte, n)...)
	if i >= 0 {
		o.ents[i].off, o.ents[i].n = uint32(off), uint32(n)
	} else {
		o.ents = append(o.ents, optEntry{code: code, off: uint32(off), n: uint32(n)})
	}
	return o.buf[off : off+n]
}

// Del removes option code if present.
func (o *Options) Del(code OptionCode) {
	if i := o.find(code); i >= 0 {
		o.ents = append(o.ents[:i], o.ents[i+1:]...)
	}
}

// CopyFrom replaces o's contents with a copy of src's, reusing o's storage.
func (o *Options) CopyFrom(src *Options) {
	o.buf = append(o.buf[:0], src.buf...)
	o.ents = append(o.ents[:0], src.ents...)
}

// optDecoder joins the options of one message in two passes over its areas (RFC 3396: a
// repeated code continues the earlier value, across the options field, file and sname):
// the first sizes every value, the second copies each piece into place. So decoding costs
// time linear in the packet and the store holds exactly the option bytes, however the
// pieces of different options interleave.
type optDecoder struct {
	o    *Options
	idx  [256]uint16 // code → index in o.ents + 1
	fill bool        // second pass
}

// add records one piece of option code: its length in the first pass, its bytes in the
// second.
func (d *optDecoder) add(code OptionCode, data []byte) {
	o := d.o
	if d.fill {
		e := &o.ents[d.idx[code]-1]
		copy(o.buf[e.off+e.n:], data)
		e.n += uint32(len(data))
		return
	}
	if k := d.idx[code]; k != 0 {
		o.ents[k-1].n += uint32(len(data))
		return
	}
	o.ents = append(o.ents, optEntry{code: code, n: uint32(len(data))})
	d.idx[code] = uint16(len(o.ents))
}

// layout ends the first pass: it gives every value its place in one buffer and empties
// the values for the second pass to fill.
func (d *optDecoder) layout() {
	o := d.o
	total := 0
	for i := range o.ents {
		o.ents[i].off = uint32(total)
		total += int(o.ents[i].n)
		o.ents[i].n = 0
	}
	o.buf = append(o.buf[:0], make([]byte, total)...)
	d.fill = true
}

// parseArea decodes options from one area (the options field, or file/sname when
// overloaded). It returns the overload value if option 52 was seen and allow52 is set.
func (d *optDecoder) parseArea(b []byte, area string, allow52 bool) (overload byte, err error) {
	for i := 0; i < len(b); {
		code := OptionCode(b[i])
		switch code {
		case OptPad:
			i++
			continue
		case OptEnd:
			return overload, nil
		}
		if i+1 >= len(b) {
			return 0, fmt.Errorf("rawdhcp: option %d in %s: length byte missing: %w", code, area, ErrMalformed)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return 0, fmt.Errorf("rawdhcp: option %d in %s: length %d runs past the end: %w", code, area, n, ErrMalformed)
		}
		data := b[i+2 : i+2+n]
		i += 2 + n
		if code == OptOverload {
			// 52 says how to read the message; it is consumed here, not stored. Inside
			// file/sname it is meaningless and ignored.
			if !allow52 {
				continue
			}
			if n != 1 || data[0] < 1 || data[0] > 3 {
				return 0, fmt.Errorf("rawdhcp: option 52 (overload) %x: %w", data, ErrMalformed)
			}
			overload = data[0]
			continue
		}
		d.add(code, data)
	}
	// A missing end option is tolerated: some clients omit it and nothing is ambiguous.
	return overload, nil
}

// appendTo writes the options, splitting values over 255 bytes (RFC 3396), and the end
// option.
func (o *Options) appendTo(dst []byte) ([]byte, error) {
	for _, e := range o.ents {
		if e.code == OptPad || e.code == OptEnd || e.code == OptOverload {
			return dst, fmt.Errorf("rawdhcp: option %d cannot be set directly: %w", e.code, ErrMalformed)
		}
		v := o.buf[e.off : e.off+e.n]
		if len(v) == 0 {
			dst = append(dst, byte(e.code), 0)
			continue
		}
		for len(v) > 0 {
			n := min(len(v), 255)
			dst = append(dst, byte(e.code), byte(n))
			dst = append(dst, v[:n]...)
			v = v[n:]
		}
	}
	return append(dst, byte(OptEnd)), nil
}
