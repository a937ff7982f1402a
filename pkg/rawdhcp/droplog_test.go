package rawdhcp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDropLog(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		every time.Duration
		at    []time.Duration // one "bad" line each, plus one "other" line at the first
		want  []string        // the "bad" lines written, in order
	}{
		{"no limit", 0, []time.Duration{0, 1, 2}, []string{"bad n=0", "bad n=1", "bad n=2"}},
		{"flood within the interval", time.Second, []time.Duration{0, 1, 2, 3}, []string{"bad n=0"}},
		{"next interval says how many were held", time.Second,
			[]time.Duration{0, time.Millisecond, 2 * time.Millisecond, time.Second, 3 * time.Second},
			[]string{"bad n=0", "bad n=3 suppressed=2", "bad n=4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			}}))
			d := DropLog{Every: tt.every}
			for i, at := range tt.at {
				d.Log(l, slog.LevelDebug, t0.Add(at), "bad", "n", i)
				if i == 0 {
					d.Log(l, slog.LevelDebug, t0.Add(at), "other")
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				line = strings.TrimPrefix(line, "msg=")
				if line != "other" {
					got = append(got, line)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines %q, want %q (log %q)", got, tt.want, buf.String())
			}
		})
	}
	// Off: nothing is recorded, nothing allocated.
	var d DropLog
	d.Every = time.Second
	quiet := slog.New(slog.DiscardHandler)
	if n := testing.AllocsPerRun(100, func() { d.Log(quiet, slog.LevelDebug, t0, "bad") }); n != 0 {
		t.Errorf("%v allocations with the level off", n)
	}
}
