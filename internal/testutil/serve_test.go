package testutil

import (
	"context"
	"errors"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     int
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(string, ...any) { r.errs++ }
func (r *recorder) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestServe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(ctx context.Context) error
		fails bool
	}{
		{"clean", func(ctx context.Context) error { <-ctx.Done(); return nil }, false},
		{"error", func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") }, true},
		{"hangs", func(ctx context.Context) error { time.Sleep(time.Second); return nil }, true},
	} {
		r := &recorder{TB: t}
		started := make(chan struct{})
		Serve(r, 100*time.Millisecond, func(ctx context.Context) error { close(started); return tc.serve(ctx) })
		<-started
		r.runCleanups()
		if (r.errs > 0) != tc.fails {
			t.Errorf("%s: %d errors, want failure %v", tc.name, r.errs, tc.fails)
		}
	}
}
