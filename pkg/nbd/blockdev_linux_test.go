package nbd

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// A block device as the image: its size comes from seeking to the end and its minimum block
// size is 512.
func TestBlockDeviceImage(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireCommands(t, "losetup")
	img, want := testImage(t, 4<<20)
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device here (%v: %s)", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })

	s, err := New(Config{Default: dev})
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, testServer(t, s))
	rc.option(OptGo, infoData("", InfoBlockSize))
	var minBlock uint32
	for {
		_, typ, data := rc.optReply()
		if typ != RepInfo {
			if typ != RepAck {
				t.Fatalf("GO reply %#x", typ)
			}
			break
		}
		switch binary.BigEndian.Uint16(data) {
		case InfoExport:
			rc.size = binary.BigEndian.Uint64(data[2:])
		case InfoBlockSize:
			minBlock = binary.BigEndian.Uint32(data[2:])
		}
	}
	if rc.size != 4<<20 || minBlock != 512 {
		t.Errorf("block device export: size %d, minimum block %d; want %d, 512", rc.size, minBlock, 4<<20)
	}
	if errno, data := rc.do(Request{Type: CmdRead, Handle: 1, Offset: 1 << 20, Length: 256 << 10}, nil); errno != 0 || !bytes.Equal(data, want[1<<20:1<<20+256<<10]) {
		t.Errorf("read from the block device: errno %d or data differs", errno)
	}
}
