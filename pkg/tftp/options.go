package tftp

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits bound what option negotiation may accept.
type Limits struct {
	// BlockSizeMax is the largest block the server sends: the smaller of its buffer size and
	// the path MTU less IP/UDP/TFTP headers of the interface the request came in on.
	BlockSizeMax int
	// WindowSizeMax caps windowsize.
	WindowSizeMax int
	// WindowBytesMax caps windowsize × blksize so a window fits the receiver's socket buffer;
	// 0 means no cap.
	WindowBytesMax int
	// FileSize is reported for tsize.
	FileSize int64
}

// Negotiated is the outcome of option negotiation.
type Negotiated struct {
	BlockSize  int           // bytes per DATA block
	WindowSize int           // blocks per window (1 = lock-step)
	Timeout    time.Duration // client's timeout option; 0 if not asked
	// OACK lists the accepted options in the order the client sent them, with lower-case
	// names; empty when nothing was accepted (then no OACK is sent).
	OACK []Option
}

// String renders the accepted options for logs and events, e.g. "blksize=1468 tsize=4096".
func (n *Negotiated) String() string {
	var b strings.Builder
	for i, o := range n.OACK {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(o.Name)
		b.WriteByte('=')
		b.WriteString(o.Value)
	}
	return b.String()
}

// Negotiate applies RFC 2347/2348/2349/7440 to the options of a read request. Names are
// case-insensitive; the first occurrence of a name counts. Unknown or out-of-range options
// are left out of the OACK:
//   - blksize 8–65464, lowered to lim.BlockSizeMax, never above what was asked;
//   - tsize: the file size;
//   - timeout 1–255 s, echoed exactly as sent;
//   - windowsize 1–65535, lowered to lim.WindowSizeMax and lim.WindowBytesMax.
func Negotiate(opts []Option, lim Limits) Negotiated {
	n := Negotiated{BlockSize: DefaultBlockSize, WindowSize: 1}
	var seen uint8
	const (
		seenBlk = 1 << iota
		seenTsize
		seenTimeout
		seenWindow
	)
	windowAsked := 0
	for _, o := range opts {
		switch {
		case strings.EqualFold(o.Name, "blksize") && seen&seenBlk == 0:
			seen |= seenBlk
			v, ok := atoi(o.Value)
			if !ok || v < MinBlockSize {
				continue
			}
			v = min(v, MaxBlockSize)
			if lim.BlockSizeMax >= MinBlockSize {
				v = min(v, lim.BlockSizeMax)
			}
			n.BlockSize = v
			n.OACK = append(n.OACK, Option{Name: "blksize", Value: strconv.Itoa(v)})
		case strings.EqualFold(o.Name, "tsize") && seen&seenTsize == 0:
			seen |= seenTsize
			if _, ok := atoi(o.Value); !ok {
				continue
			}
			n.OACK = append(n.OACK, Option{Name: "tsize", Value: strconv.FormatInt(lim.FileSize, 10)})
		case strings.EqualFold(o.Name, "timeout") && seen&seenTimeout == 0:
			seen |= seenTimeout
			v, ok := atoi(o.Value)
			if !ok || v < 1 || v > 255 {
				continue
			}
			n.Timeout = time.Duration(v) * time.Second
			// Echo the client's own digits: U-Boot aborts unless the value comes back
			// exactly as sent.
			n.OACK = append(n.OACK, Option{Name: "timeout", Value: o.Value})
		case strings.EqualFold(o.Name, "windowsize") && seen&seenWindow == 0:
			seen |= seenWindow
			v, ok := atoi(o.Value)
			if !ok || v < 1 || v > MaxWindowSize {
				continue
			}
			windowAsked = v
			n.OACK = append(n.OACK, Option{Name: "windowsize"}) // value set below, once blksize is known
		}
	}
	if windowAsked > 0 {
		w := windowAsked
		if lim.WindowSizeMax >= 1 {
			w = min(w, lim.WindowSizeMax)
		}
		if lim.WindowBytesMax > 0 {
			w = min(w, max(1, lim.WindowBytesMax/n.BlockSize))
		}
		n.WindowSize = w
		for i := range n.OACK {
			if n.OACK[i].Name == "windowsize" {
				n.OACK[i].Value = strconv.Itoa(w)
			}
		}
	}
	return n
}

// atoi parses a non-negative decimal of at most 10 digits (no sign, no spaces). The value
// is computed in 64 bits and saturates at MaxInt32, above every option's range, so that a
// request means the same on every GOARCH: in a 32-bit int, 4294967301 would wrap to 5.
func atoi(s string) (int, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return int(min(v, math.MaxInt32)), true
}
