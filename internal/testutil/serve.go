// Package testutil holds small helpers shared by the packages' tests. Namespaces, veths and
// processes in them are internal/netlab's; this package has no privileges and no network
// of its own.
package testutil

import (
	"context"
	"testing"
	"time"
)

// Serve runs serve(ctx) on its own goroutine until the test ends. At cleanup it cancels ctx
// and fails the test unless serve returns nil within wait (a server's Serve must end
// cleanly and promptly on cancel). Cleanups registered before Serve run after it, so a
// socket the test closes in an earlier-registered cleanup outlives the server.
func Serve(t testing.TB, wait time.Duration, serve func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Serve did not return within %v of cancel", wait)
		}
	})
}
