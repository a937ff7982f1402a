package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// facilityDaemon is syslog facility 3 ("system daemons").
const facilityDaemon = 3

// syslogSink owns the UDP socket and the formatting buffer shared by every handler derived
// from one syslogHandler.
type syslogSink struct {
	mu     sync.Mutex
	conn   net.Conn
	body   bytes.Buffer
	frame  []byte
	rfc    string // "rfc5424" or "rfc3164"
	host   string
	pid    string
	closed bool
}

// syslogHandler sends each record as one UDP datagram: RFC 5424
// (`<PRI>1 TIMESTAMP HOST pxe-edge PID - - MSG`) or the BSD format of RFC 3164
// (`<PRI>Mmm dd hh:mm:ss HOST pxe-edge[PID]: MSG`). MSG is the record as slog's text format
// writes it, without time and level, which the header carries.
type syslogHandler struct {
	sink *syslogSink
	text slog.Handler
}

func newSyslogHandler(server string, port int, rfc, host string, pid int, level slog.Level) (*syslogHandler, error) {
	conn, err := net.Dial("udp", net.JoinHostPort(server, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("--syslog %s: %w", server, err)
	}
	if host == "" {
		host = "-"
	}
	s := &syslogSink{conn: conn, rfc: rfc, host: host, pid: strconv.Itoa(pid)}
	text := slog.NewTextHandler(&s.body, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &syslogHandler{sink: s, text: text}, nil
}

func (h *syslogHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return h.text.Enabled(ctx, lv)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{sink: h.sink, text: h.text.WithAttrs(as)}
}

func (h *syslogHandler) WithGroup(g string) slog.Handler {
	return &syslogHandler{sink: h.sink, text: h.text.WithGroup(g)}
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	s := h.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.body.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := bytes.TrimRight(s.body.Bytes(), "\n")
	s.frame = appendSyslog(s.frame[:0], s.rfc, r.Level, r.Time, s.host, s.pid, msg)
	// A syslog server that is down must not stop the daemon: the datagram is simply lost.
	_, _ = s.conn.Write(s.frame)
	return nil
}

// Close closes the socket; later records are dropped.
func (h *syslogHandler) Close() error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.closed = true
	return h.sink.conn.Close()
}

// severity maps slog levels to syslog severities (RFC 5424 §6.2.1).
func severity(lv slog.Level) int {
	switch {
	case lv >= slog.LevelError:
		return 3 // err
	case lv >= slog.LevelWarn:
		return 4 // warning
	case lv >= slog.LevelInfo:
		return 6 // informational
	}
	return 7 // debug
}

func appendSyslog(b []byte, rfc string, lv slog.Level, t time.Time, host, pid string, msg []byte) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facilityDaemon*8+severity(lv)), 10)
	b = append(b, '>')
	if rfc == "rfc3164" {
		b = t.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
		b = append(b, host...)
		b = append(b, " pxe-edge["...)
		b = append(b, pid...)
		b = append(b, "]: "...)
	} else {
		b = append(b, "1 "...)
		b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
		b = append(b, ' ')
		b = append(b, host...)
		b = append(b, " pxe-edge "...)
		b = append(b, pid...)
		b = append(b, " - - "...)
	}
	return append(b, msg...)
}
