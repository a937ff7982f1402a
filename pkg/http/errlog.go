package httpd

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newErrorLog is the http.Server's ErrorLog. net/http writes everything there at one level:
// a handler's panic ("http: panic serving …", with its stack) is a bug and goes out at error
// level; the rest (client protocol errors, TLS probes at a plain-HTTP port, accept retries)
// is the network's noise and stays at debug.
func newErrorLog(l *slog.Logger) *log.Logger {
	return log.New(errorLogWriter{l}, "", 0)
}

type errorLogWriter struct{ l *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelDebug
	if bytes.HasPrefix(p, []byte("http: panic serving")) {
		level = slog.LevelError
	}
	w.l.Log(context.Background(), level, "http: server", "msg", msg)
	return len(p), nil
}
