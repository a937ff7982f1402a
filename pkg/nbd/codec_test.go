package nbd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden bytes written out by hand from the protocol document's field lists.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"greeting", AppendGreeting(nil), "4e42444d41474943 49484156454f5054 0003"},
		{"ack", AppendOptionReply(nil, OptGo, RepAck, nil), "0003e889045565a9 00000007 00000001 00000000"},
		{"err-unsup", AppendOptionReply(nil, 5, RepErrUnsup, nil), "0003e889045565a9 00000005 80000001 00000000"},
		{"err-too-big", AppendOptionReply(nil, 6, RepErrTooBig, []byte("x")), "0003e889045565a9 00000006 80000009 00000001 78"},
		{"rep-server", AppendRepServer(nil, OptList, "ab"), "0003e889045565a9 00000003 00000002 00000006 00000002 6162"},
		{"info-export", AppendInfoExport(nil, OptInfo, 1<<30, FlagHasFlags|FlagReadOnly), "0003e889045565a9 00000006 00000003 0000000c 0000 0000000040000000 0003"},
		{"info-block", AppendInfoBlockSize(nil, OptGo, 1, 4096, 32<<20), "0003e889045565a9 00000007 00000003 0000000e 0003 00000001 00001000 02000000"},
		{"info-name", AppendInfoName(nil, OptGo, "d"), "0003e889045565a9 00000007 00000003 00000003 0001 64"},
		{"export-name-nozeroes", AppendExportNameReply(nil, 512, FlagHasFlags, true), "0000000000000200 0001"},
		{"request", AppendRequest(nil, Request{Flags: CmdFlagFUA, Type: CmdWrite, Handle: 0x0102030405060708, Offset: 4096, Length: 512}), "25609513 0001 0001 0102030405060708 0000000000001000 00000200"},
	}
	for _, tt := range tests {
		if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, tt.got, want)
		}
	}
	if got := AppendExportNameReply(nil, 512, FlagHasFlags, false); len(got) != 10+124 || !bytes.Equal(got[10:], make([]byte, 124)) {
		t.Errorf("EXPORT_NAME reply without NO_ZEROES: %d bytes, want 134 ending in zeroes", len(got))
	}
	var r [16]byte
	PutSimpleReply(r[:], EINVAL, 7)
	if want := unhex(t, "67446698 00000016 0000000000000007"); !bytes.Equal(r[:], want) {
		t.Errorf("simple reply %x, want %x", r, want)
	}
}

func TestParseClientFlags(t *testing.T) {
	tests := []struct {
		in       string
		noZeroes bool
		err      error
	}{
		{"00000001", false, nil},
		{"00000003", true, nil},
		{"00000000", false, ErrNotFixed},
		{"00000002", false, ErrNotFixed},
		{"00000007", false, ErrClientFlag},
		{"25609513", false, ErrOldstyle}, // an oldstyle client sending a request
		{"4e42444d", false, ErrOldstyle}, // or echoing a greeting
		{"0001", false, ErrShort},
	}
	for _, tt := range tests {
		nz, err := ParseClientFlags(unhex(t, tt.in))
		if !errors.Is(err, tt.err) || nz != tt.noZeroes {
			t.Errorf("ParseClientFlags(%s) = %v, %v; want %v, %v", tt.in, nz, err, tt.noZeroes, tt.err)
		}
	}
}

func TestParseOptionHeader(t *testing.T) {
	h, err := ParseOptionHeader(unhex(t, "49484156454f5054 00000007 ffffffff"))
	if err != nil || h.Option != OptGo || h.Length != 0xffffffff {
		t.Errorf("got %+v, %v", h, err)
	}
	if _, err := ParseOptionHeader(unhex(t, "49484156454f5055 00000007 00000000")); !errors.Is(err, ErrBadMagic) {
		t.Errorf("bad magic: %v", err)
	}
	if _, err := ParseOptionHeader(unhex(t, "49484156454f5054 0000")); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
}

func TestParseInfoRequest(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		infos []uint16
		ok    bool
	}{
		{"00000000 0000", "", nil, true},
		{"00000003 646973 0002 0003 0001", "dis", []uint16{3, 1}, true},
		{"00000004 646973 0000", "", nil, false}, // name longer than the data
		{"00000000 0001", "", nil, false},        // count says one, none follow
		{"00000000 0000 0003", "", nil, false},   // trailing bytes
		{"ffffffff 0000", "", nil, false},        // absurd name length
		{"0000", "", nil, false},                 // too short
		{"00000001 00 0001 0003", "\x00", []uint16{3}, true},
	}
	for _, tt := range tests {
		r, err := ParseInfoRequest(unhex(t, tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("ParseInfoRequest(%s): err %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (r.Name != tt.name || len(r.Infos) != len(tt.infos)) {
			t.Errorf("ParseInfoRequest(%s) = %+v", tt.in, r)
		}
		if tt.ok && len(tt.infos) > 0 && !r.Wants(tt.infos[0]) {
			t.Errorf("Wants(%d) false", tt.infos[0])
		}
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest(unhex(t, "25609513 0001 0001 0102030405060708 0000000000001000 00000200"))
	if err != nil || r != (Request{Flags: 1, Type: 1, Handle: 0x0102030405060708, Offset: 4096, Length: 512}) {
		t.Errorf("got %+v, %v", r, err)
	}
	if _, err := ParseRequest(unhex(t, "12560953 0000 0000 0000000000000000 0000000000000000 00000000")); !errors.Is(err, ErrBadMagic) {
		t.Errorf("historic magic accepted: %v", err)
	}
	if _, err := ParseRequest(make([]byte, 27)); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
}

func TestCheck(t *testing.T) {
	const size = 1 << 20
	ro := FlagHasFlags | FlagReadOnly
	rw := FlagHasFlags | FlagSendFUA | FlagSendTrim | FlagSendWriteZeroes
	tests := []struct {
		name  string
		r     Request
		flags uint16
		want  uint32
	}{
		{"read", Request{Type: CmdRead, Offset: 0, Length: 4096}, ro, 0},
		{"read to the end", Request{Type: CmdRead, Offset: size - 1, Length: 1}, ro, 0},
		{"read past the end", Request{Type: CmdRead, Offset: size - 1, Length: 2}, ro, EINVAL},
		{"read offset past the end", Request{Type: CmdRead, Offset: size + 1, Length: 0}, ro, EINVAL},
		{"read wraps", Request{Type: CmdRead, Offset: ^uint64(0), Length: 2}, ro, EINVAL},
		{"read over max", Request{Type: CmdRead, Length: MaxPayload + 1}, ro, EINVAL},
		{"read 2^31", Request{Type: CmdRead, Length: 1 << 31}, ro, EINVAL},
		{"write read-only", Request{Type: CmdWrite, Length: 1}, ro, EPERM},
		{"write", Request{Type: CmdWrite, Flags: CmdFlagFUA, Length: 1}, rw, 0},
		{"write past the end", Request{Type: CmdWrite, Offset: size, Length: 1}, rw, ENOSPC},
		{"write over max", Request{Type: CmdWrite, Length: MaxPayload + 1}, rw, EINVAL},
		{"zeroes read-only", Request{Type: CmdWriteZeroes, Length: 1}, ro, EPERM},
		{"zeroes whole export", Request{Type: CmdWriteZeroes, Flags: CmdFlagNoHole, Length: size}, rw, 0},
		{"trim read-only", Request{Type: CmdTrim, Length: 1}, ro, EPERM},
		{"trim past the end", Request{Type: CmdTrim, Offset: size, Length: 1}, rw, EINVAL},
		{"flush", Request{Type: CmdFlush}, ro, 0},
		{"no-hole on read", Request{Type: CmdRead, Flags: CmdFlagNoHole, Length: 1}, ro, EINVAL},
		{"unknown flag", Request{Type: CmdRead, Flags: 1 << 9, Length: 1}, ro, EINVAL},
		{"cache (not offered)", Request{Type: 5, Length: 1}, ro, EINVAL},
		{"block status (not offered)", Request{Type: 7, Length: 1}, ro, EINVAL},
	}
	for _, tt := range tests {
		if got := tt.r.Check(size, tt.flags); got != tt.want {
			t.Errorf("%s: Check = %d, want %d", tt.name, got, tt.want)
		}
	}
}
