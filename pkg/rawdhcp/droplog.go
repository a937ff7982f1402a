package rawdhcp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DropLog writes the lines about dropped packets (malformed, foreign, over a limit) at most
// once per Every for each message, with the number of lines it held back since the last
// one: a flood of junk must not become a flood of log lines. Messages should be constant
// strings, which bounds its memory. The zero value with Every 0 logs every line; it is safe
// for concurrent use.
type DropLog struct {
	Every time.Duration

	mu   sync.Mutex
	seen map[string]*dropState
}

type dropState struct {
	last       time.Time
	suppressed uint64
}

// Log writes msg with args to l at level, at time now, unless a line with the same msg was
// written less than Every ago. It costs nothing when level is off.
func (d *DropLog) Log(l *slog.Logger, level slog.Level, now time.Time, msg string, args ...any) {
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	var held uint64
	if d.Every > 0 {
		d.mu.Lock()
		if d.seen == nil {
			d.seen = make(map[string]*dropState)
		}
		st := d.seen[msg]
		if st == nil {
			st = &dropState{}
			d.seen[msg] = st
		} else if now.Sub(st.last) < d.Every {
			st.suppressed++
			d.mu.Unlock()
			return
		}
		st.last = now
		held, st.suppressed = st.suppressed, 0
		d.mu.Unlock()
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.Log(ctx, level, msg, args...)
}

// dropLogEvery is how often the serve loop logs each kind of dropped packet.
const dropLogEvery = 10 * time.Second
