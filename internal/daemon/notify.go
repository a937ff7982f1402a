package daemon

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's sd_notify protocol: one datagram per state change to the unix
// socket named by NOTIFY_SOCKET ("@name" is an abstract socket). Without NOTIFY_SOCKET it does
// nothing, so the daemon runs the same with or without systemd.
type notifier struct {
	addr string
}

func newNotifier() *notifier {
	a := os.Getenv("NOTIFY_SOCKET")
	if a == "" {
		return nil
	}
	if a[0] == '@' {
		a = "\x00" + a[1:]
	}
	return &notifier{addr: a}
}

// send writes one notification such as "READY=1". Errors are returned for logging; systemd
// being gone must never stop the server.
func (n *notifier) send(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogInterval returns half of WATCHDOG_USEC when the watchdog is meant for this process
// (WATCHDOG_PID unset or ours), else 0.
func watchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}

// watchdog sends WATCHDOG=1 every interval until ctx ends. alive is asked first, so a daemon
// whose main loop is stuck stops petting the watchdog and systemd restarts it.
func (n *notifier) watchdog(ctx context.Context, every time.Duration, alive func() bool) {
	if n == nil || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive() {
				_ = n.send("WATCHDOG=1")
			}
		}
	}
}
