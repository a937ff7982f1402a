package tftp

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *RequestPacket
		err  bool
	}{
		{"plain RRQ", "\x00\x01pxelinux.0\x00octet\x00",
			&RequestPacket{Op: OpRRQ, Filename: "pxelinux.0", Mode: "octet"}, false},
		{"mode case folded", "\x00\x01a\x00OCTET\x00",
			&RequestPacket{Op: OpRRQ, Filename: "a", Mode: "octet"}, false},
		{"WRQ", "\x00\x02up\x00netascii\x00",
			&RequestPacket{Op: OpWRQ, Filename: "up", Mode: "netascii"}, false},
		{"options", "\x00\x01f\x00octet\x00blksize\x001468\x00tsize\x000\x00",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"blksize", "1468"}, {"tsize", "0"}}}, false},
		{"option name kept as sent", "\x00\x01f\x00octet\x00BLKSIZE\x00512\x00",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"BLKSIZE", "512"}}}, false},
		{"trailing NUL padding", "\x00\x01f\x00octet\x00tsize\x000\x00\x00\x00\x00",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"tsize", "0"}}}, false},
		{"name without value dropped", "\x00\x01f\x00octet\x00tsize\x000\x00blksize\x00",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"tsize", "0"}}}, false},
		{"unterminated value dropped", "\x00\x01f\x00octet\x00blksize\x001468",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}, false},
		{"empty value kept", "\x00\x01f\x00octet\x00multicast\x00\x00",
			&RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"multicast", ""}}}, false},
		{"empty", "", nil, true},
		{"one byte", "\x00", nil, true},
		{"opcode only", "\x00\x01", nil, true},
		{"name unterminated", "\x00\x01file", nil, true},
		{"empty name", "\x00\x01\x00octet\x00", nil, true},
		{"no mode", "\x00\x01f\x00", nil, true},
		{"mode unterminated", "\x00\x01f\x00octet", nil, true},
		{"empty mode", "\x00\x01f\x00\x00", nil, true},
		{"DATA is not a request", "\x00\x03\x00\x01abc", nil, true},
		{"ACK is not a request", "\x00\x04\x00\x01", nil, true},
		{"unknown opcode", "\x00\x09f\x00octet\x00", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.in))
			if tt.err {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"ACK 0", AppendAck(nil, 0), "\x00\x04\x00\x00"},
		{"ACK 65535", AppendAck(nil, 65535), "\x00\x04\xff\xff"},
		{"ERROR 1", AppendError(nil, ErrFileNotFound, "file not found"), "\x00\x05\x00\x01file not found\x00"},
		{"ERROR 0 empty", AppendError(nil, ErrUndefined, ""), "\x00\x05\x00\x00\x00"},
		{"OACK", AppendOACK(nil, []Option{{"blksize", "1468"}, {"tsize", "42"}}), "\x00\x06blksize\x001468\x00tsize\x0042\x00"},
		{"OACK empty", AppendOACK(nil, nil), "\x00\x06"},
		{"RRQ", AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "a/b", Mode: "octet", Options: []Option{{"windowsize", "4"}}}),
			"\x00\x01a/b\x00octet\x00windowsize\x004\x00"},
		{"DATA header rollover", func() []byte { b := make([]byte, 4); i := int64(65537); PutDataHeader(b, uint16(i)); return b }(), "\x00\x03\x00\x01"},
		{"DATA header 65535", func() []byte { b := make([]byte, 4); PutDataHeader(b, 65535); return b }(), "\x00\x03\xff\xff"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Packet
		err  bool
	}{
		{"ACK", "\x00\x04\x01\x02", Packet{Op: OpACK, Block: 0x0102}, false},
		{"ACK with trailing bytes", "\x00\x04\x00\x07xyz", Packet{Op: OpACK, Block: 7}, false},
		{"DATA", "\x00\x03\x00\x01hello", Packet{Op: OpDATA, Block: 1, Data: []byte("hello")}, false},
		{"DATA empty", "\x00\x03\xff\xff", Packet{Op: OpDATA, Block: 65535, Data: []byte{}}, false},
		{"ERROR", "\x00\x05\x00\x08User aborted the transfer\x00", Packet{Op: OpERROR, Code: 8, Msg: []byte("User aborted the transfer")}, false},
		{"ERROR without NUL", "\x00\x05\x00\x00Early terminate", Packet{Op: OpERROR, Code: 0, Msg: []byte("Early terminate")}, false},
		{"ERROR no message", "\x00\x05\x00\x02", Packet{Op: OpERROR, Code: 2, Msg: []byte{}}, false},
		{"OACK", "\x00\x06tsize\x001\x00", Packet{Op: OpOACK}, false},
		{"short ACK", "\x00\x04\x00", Packet{}, true},
		{"short ERROR", "\x00\x05\x00", Packet{}, true},
		{"one byte", "\x04", Packet{}, true},
		{"unknown opcode", "\x00\x07\x00\x00", Packet{}, true},
		{"opcode zero", "\x00\x00", Packet{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := p.Decode([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Op != tt.want.Op || p.Block != tt.want.Block || p.Code != tt.want.Code ||
				!bytes.Equal(p.Msg, tt.want.Msg) || !bytes.Equal(p.Data, tt.want.Data) {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	b := []byte("\x00\x04\x12\x34")
	var p Packet
	if n := testing.AllocsPerRun(100, func() { _ = p.Decode(b) }); n != 0 {
		t.Fatalf("Decode allocates %v times", n)
	}
}

func TestNegotiate(t *testing.T) {
	lim := Limits{BlockSizeMax: 1468, WindowSizeMax: 64, WindowBytesMax: 64 << 10, FileSize: 12345}
	tests := []struct {
		name     string
		opts     []Option
		lim      *Limits
		blk, win int
		timeout  time.Duration
		oack     string
	}{
		{"nothing", nil, nil, 512, 1, 0, ""},
		{"blksize below MTU cap", []Option{{"blksize", "1432"}}, nil, 1432, 1, 0, "blksize=1432"},
		{"blksize capped at MTU-32", []Option{{"blksize", "8192"}}, nil, 1468, 1, 0, "blksize=1468"},
		{"blksize 65464 on loopback", []Option{{"blksize", "65464"}}, &Limits{BlockSizeMax: 65464}, 65464, 1, 0, "blksize=65464"},
		{"blksize above protocol max", []Option{{"blksize", "99999"}}, &Limits{BlockSizeMax: 65464}, 65464, 1, 0, "blksize=65464"},
		{"blksize minimum", []Option{{"blksize", "8"}}, nil, 8, 1, 0, "blksize=8"},
		{"blksize below minimum ignored", []Option{{"blksize", "7"}}, nil, 512, 1, 0, ""},
		{"blksize garbage ignored", []Option{{"blksize", "12a"}}, nil, 512, 1, 0, ""},
		{"blksize negative ignored", []Option{{"blksize", "-1"}}, nil, 512, 1, 0, ""},
		{"blksize huge digits ignored", []Option{{"blksize", "99999999999999"}}, nil, 512, 1, 0, ""},
		{"first blksize wins", []Option{{"blksize", "1024"}, {"BLKSIZE", "512"}}, nil, 1024, 1, 0, "blksize=1024"},
		{"tsize", []Option{{"tsize", "0"}}, nil, 512, 1, 0, "tsize=12345"},
		{"tsize garbage ignored", []Option{{"tsize", "x"}}, nil, 512, 1, 0, ""},
		{"timeout echoed", []Option{{"timeout", "5"}}, nil, 512, 1, 5 * time.Second, "timeout=5"},
		{"timeout 255", []Option{{"Timeout", "255"}}, nil, 512, 1, 255 * time.Second, "timeout=255"},
		{"timeout digits echoed as sent", []Option{{"timeout", "007"}}, nil, 512, 1, 7 * time.Second, "timeout=007"},
		{"timeout 0 ignored", []Option{{"timeout", "0"}}, nil, 512, 1, 0, ""},
		{"timeout 256 ignored", []Option{{"timeout", "256"}}, nil, 512, 1, 0, ""},
		{"windowsize", []Option{{"windowsize", "4"}}, nil, 512, 4, 0, "windowsize=4"},
		{"windowsize capped", []Option{{"windowsize", "200"}}, nil, 512, 64, 0, "windowsize=64"},
		{"windowsize bytes cap", []Option{{"blksize", "1468"}, {"windowsize", "64"}}, nil, 1468, 44, 0, "blksize=1468 windowsize=44"},
		{"windowsize bytes cap after blksize", []Option{{"windowsize", "64"}, {"blksize", "1468"}}, nil, 1468, 44, 0, "windowsize=44 blksize=1468"},
		{"windowsize 0 ignored", []Option{{"windowsize", "0"}}, nil, 512, 1, 0, ""},
		{"windowsize 65536 ignored", []Option{{"windowsize", "65536"}}, nil, 512, 1, 0, ""},
		{"unknown dropped", []Option{{"multicast", ""}, {"rollover", "0"}, {"tsize", "0"}}, nil, 512, 1, 0, "tsize=12345"},
		{"U-Boot", []Option{{"timeout", "5"}, {"tsize", "0"}, {"blksize", "1468"}}, nil, 1468, 1, 5 * time.Second, "timeout=5 tsize=12345 blksize=1468"},
		{"EDK2", []Option{{"blksize", "1468"}, {"windowsize", "4"}}, nil, 1468, 4, 0, "blksize=1468 windowsize=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lim
			if tt.lim != nil {
				l = *tt.lim
				l.FileSize = lim.FileSize
			}
			n := Negotiate(tt.opts, l)
			if n.BlockSize != tt.blk || n.WindowSize != tt.win || n.Timeout != tt.timeout || n.String() != tt.oack {
				t.Fatalf("got blk %d win %d timeout %v OACK %q; want %d %d %v %q",
					n.BlockSize, n.WindowSize, n.Timeout, n.String(), tt.blk, tt.win, tt.timeout, tt.oack)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		refused  bool
	}{
		{"pxelinux.0", "pxelinux.0", false},
		{"/pxelinux.0", "pxelinux.0", false},
		{"///boot//grub/./grub.cfg", "boot/grub/grub.cfg", false},
		{`\EFI\BOOT\bootx64.efi`, "EFI/BOOT/bootx64.efi", false},
		{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", false},
		{"a..b/c..", "a..b/c..", false},
		{"...", "...", false},
		{"..", "", true},
		{"../x", "", true},
		{`..\x`, "", true},
		{"a/../b", "", true},
		{`a\..\..\b`, "", true},
		{"/..", "", true},
		{"a/..", "", true},
		{"", "", true},
		{"/", "", true},
		{"./", "", true},
		{"a\x00b", "", true},
		{string(make([]byte, MaxPathLen+1)), "", true},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if tt.refused {
			if !errors.Is(err, fs.ErrPermission) {
				t.Errorf("CleanPath(%q) = %q, %v; want a permission error", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
