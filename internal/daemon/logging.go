package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/pxe-edge/pxe-edge/internal/config"
)

// Loggers are the daemon's loggers: one per service (tftp, dhcp, http, nbd, link) at the level
// --debug/--verbose give it, and Main for lifecycle lines (always info).
type Loggers struct {
	Main    *slog.Logger
	Service map[string]*slog.Logger
	closer  io.Closer
}

// For returns the logger of a service.
func (l *Loggers) For(svc string) *slog.Logger {
	if lg, ok := l.Service[svc]; ok {
		return lg
	}
	return l.Main
}

// Close releases the syslog socket, if any.
func (l *Loggers) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// NewLoggers builds the loggers of cfg: text or JSON on w, and a copy of every line to the
// syslog server when --syslog is set. The syslog connection is UDP, so a missing server costs
// nothing but the lost lines.
func NewLoggers(cfg *config.Config, w io.Writer, hostname string, pid int) (*Loggers, error) {
	levels := cfg.Levels()
	lowest := slog.LevelInfo
	for _, l := range levels {
		lowest = min(lowest, l)
	}
	opts := &slog.HandlerOptions{Level: lowest, ReplaceAttr: levelNames}
	var base slog.Handler
	if cfg.LogFormat == "json" {
		base = slog.NewJSONHandler(w, opts)
	} else {
		base = slog.NewTextHandler(w, opts)
	}
	ls := &Loggers{Service: map[string]*slog.Logger{}}
	if cfg.SyslogServer != "" {
		sh, err := newSyslogHandler(cfg.SyslogServer, cfg.SyslogPort, cfg.SyslogFormat, hostname, pid, lowest)
		if err != nil {
			return nil, err
		}
		ls.closer = sh
		base = teeHandler{base, sh}
	}
	ls.Main = slog.New(levelHandler{slog.LevelInfo, base})
	for svc, lv := range levels {
		ls.Service[svc] = slog.New(levelHandler{lv, base.WithAttrs([]slog.Attr{slog.String("svc", svc)})})
	}
	return ls, nil
}

// levelNames prints config.LevelVerbose as VERBOSE rather than DEBUG+2.
func levelNames(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if lv, ok := a.Value.Any().(slog.Level); ok && lv == config.LevelVerbose {
			a.Value = slog.StringValue("VERBOSE")
		}
	}
	return a
}

// levelHandler gives one service its own minimum level over a shared handler.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (l levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}
func (l levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{l.min, l.h.WithAttrs(as)}
}
func (l levelHandler) WithGroup(g string) slog.Handler { return levelHandler{l.min, l.h.WithGroup(g)} }

// teeHandler sends every record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return t.a.Enabled(ctx, lv) || t.b.Enabled(ctx, lv)
}
func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var ea, eb error
	if t.a.Enabled(ctx, r.Level) {
		ea = t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		eb = t.b.Handle(ctx, r)
	}
	return errors.Join(ea, eb)
}
func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}
func (t teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{t.a.WithGroup(g), t.b.WithGroup(g)}
}
