//go:build linux

// Command tftp-evloop is a comparison design for bench/tftp.sh, not a server to deploy: the
// event loop a C TFTP server would use, to measure pxe-edge's goroutine-per-transfer engine
// against it. A fixed set of worker threads (one per core, locked), each with an epoll set
// of its own, drives lock-step transfers with raw system calls on sockets connected to their
// clients. It speaks only what the benchmark needs: octet RRQs, blksize and tsize through
// pkg/tftp's codec and negotiation (no windows), resends after a second without an ACK.
//
// It takes pxe-edge's flags, so the script can run it as the second pxe-edge build:
//
//	go build -o /tmp/tftp-evloop ./bench/tftp-evloop
//	sudo PXE_EDGE_B=/tmp/tftp-evloop SETTINGS= RUNS=1 CONC_RUNS=5 bash bench/tftp.sh
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

const (
	resendAfter = time.Second
	maxResends  = 5
)

// xfer is one lock-step transfer, owned by one worker.
type xfer struct {
	fd      int
	f       *os.File
	blksize int
	sent    int64 // blocks sent so far; block n (1-based) holds bytes [(n-1)·blksize, n·blksize)
	last    bool  // the block sent last was short: its ACK ends the transfer
	pkt     []byte
	n       int // bytes of pkt last sent, for resends
	at      time.Time
	resends int
}

// worker runs an epoll loop over the transfers handed to it.
type worker struct {
	ep, wake int
	inbox    chan *xfer
	xs       map[int]*xfer
}

func main() {
	root := flag.String("netboot-dir", ".", "directory to serve")
	ip := flag.String("tftp-server-ip", "0.0.0.0", "IPv4 address to listen on")
	port := flag.Int("tftp-port", 69, "UDP port")
	flag.String("state-dir", "", "ignored (pxe-edge's flag)")
	flag.Parse()
	if err := run(*root, *ip, *port); err != nil {
		fmt.Fprintln(os.Stderr, "tftp-evloop:", err)
		os.Exit(1)
	}
}

func run(rootDir, ipStr string, port int) error {
	addr, err := netip.ParseAddr(ipStr)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("--tftp-server-ip %q: want an IPv4 address", ipStr)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return err
	}
	workers := make([]*worker, runtime.GOMAXPROCS(0))
	for i := range workers {
		if workers[i], err = newWorker(); err != nil {
			return err
		}
		go workers[i].loop()
	}
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(ls, &unix.SockaddrInet4{Port: port, Addr: addr.As4()}); err != nil {
		return fmt.Errorf("bind %v:%d: %w", addr, port, err)
	}
	buf := make([]byte, 1500)
	for next := 0; ; {
		n, from, err := unix.Recvfrom(ls, buf, 0)
		if err != nil {
			continue
		}
		x, err := start(root, addr, buf[:n], from)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tftp-evloop:", err)
			continue
		}
		workers[next].hand(x)
		next = (next + 1) % len(workers)
	}
}

// start opens a transfer for request b from `from`: its socket connected to the client, its
// first packet (OACK or DATA 1) sent. A refusal is answered from the transfer's socket.
func start(root *os.Root, local netip.Addr, b []byte, from unix.Sockaddr) (*xfer, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Connect(fd, from); err != nil {
		unix.Close(fd)
		return nil, err
	}
	refuse := func(code tftp.ErrorCode, msg string, err error) (*xfer, error) {
		_, _ = unix.Write(fd, tftp.AppendError(nil, code, msg))
		unix.Close(fd)
		return nil, err
	}
	req, err := tftp.ParseRequest(b)
	if err != nil || req.Op != tftp.OpRRQ || req.Mode != "octet" {
		return refuse(tftp.ErrIllegalOperation, "octet RRQ only", fmt.Errorf("not an octet RRQ from %v", from))
	}
	f, err := root.Open(req.Filename)
	if err != nil {
		return refuse(tftp.ErrFileNotFound, "file not found", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return refuse(tftp.ErrUndefined, "stat failed", err)
	}
	neg := tftp.Negotiate(req.Options, tftp.Limits{BlockSizeMax: 1468, WindowSizeMax: 1, FileSize: st.Size()})
	x := &xfer{fd: fd, f: f, blksize: neg.BlockSize, pkt: make([]byte, 4+neg.BlockSize)}
	if len(neg.OACK) > 0 {
		x.n = len(tftp.AppendOACK(x.pkt[:0], neg.OACK)) // ACK 0 asks for block 1
		x.send()
		return x, nil
	}
	x.next()
	return x, nil
}

// next reads and sends the block after the last one sent.
func (x *xfer) next() {
	x.sent++
	k, _ := x.f.ReadAt(x.pkt[4:], (x.sent-1)*int64(x.blksize)) // io.EOF with k < blksize ends it
	tftp.PutDataHeader(x.pkt, uint16(x.sent))
	x.n, x.last = 4+k, k < x.blksize
	x.resends = 0
	x.send()
}

func (x *xfer) send() {
	_, _ = unix.Write(x.fd, x.pkt[:x.n])
	x.at = time.Now()
}

func newWorker() (*worker, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		return nil, err
	}
	return &worker{ep: ep, wake: wake, inbox: make(chan *xfer, 256), xs: map[int]*xfer{}}, nil
}

// hand gives x to the worker and wakes its loop.
func (w *worker) hand(x *xfer) {
	w.inbox <- x
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(w.wake, one[:])
}

func (w *worker) loop() {
	runtime.LockOSThread()
	evs := make([]unix.EpollEvent, 64)
	var ack [516]byte
	swept := time.Now()
	for {
		n, err := unix.EpollWait(w.ep, evs, 200)
		if err != nil && err != unix.EINTR {
			panic(err)
		}
		for _, ev := range evs[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == w.wake {
				w.adopt()
				continue
			}
			x := w.xs[fd]
			if x == nil {
				continue
			}
			m, err := unix.Read(fd, ack[:])
			if err == unix.EAGAIN {
				continue
			}
			var p tftp.Packet
			if err != nil || p.Decode(ack[:m]) != nil {
				w.end(x) // port unreachable or garbage: the client is gone
				continue
			}
			switch {
			case p.Op == tftp.OpERROR:
				w.end(x)
			case p.Op != tftp.OpACK || p.Block != uint16(x.sent):
				// stale or duplicate ACK: never a resend
			case x.last:
				w.end(x)
			default:
				x.next()
			}
		}
		// Timers are swept a few times a second, not per wake-up: a C loop keeps a timer
		// wheel or heap for that, and a sweep per event would tax this design unfairly.
		if now := time.Now(); now.Sub(swept) >= 200*time.Millisecond {
			w.resend(now)
			swept = now
		}
	}
}

// adopt registers the transfers handed over since the last wake-up.
func (w *worker) adopt() {
	var c [8]byte
	_, _ = unix.Read(w.wake, c[:])
	for {
		select {
		case x := <-w.inbox:
			w.xs[x.fd] = x
			if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, x.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(x.fd)}); err != nil {
				w.end(x)
			}
		default:
			return
		}
	}
}

// resend repeats the last packet of every transfer that waited resendAfter for its ACK.
func (w *worker) resend(now time.Time) {
	for _, x := range w.xs {
		if now.Sub(x.at) < resendAfter {
			continue
		}
		if x.resends++; x.resends > maxResends {
			w.end(x)
			continue
		}
		x.send()
	}
}

func (w *worker) end(x *xfer) {
	_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_DEL, x.fd, nil)
	unix.Close(x.fd)
	x.f.Close()
	delete(w.xs, x.fd)
}
