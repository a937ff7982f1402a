package httpd

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"
)

// A file body goes to net's sendfile in pieces; between pieces the writer extends the write
// deadline and counts progress. A piece is what the client acknowledged in pieceTime at its
// last measured pace (sock.go), between pieceMin and pieceMax: a board fetching at a few
// hundred KB/s gets small pieces (a moving bar, a deadline pushed forward often), a fast
// client few long sendfile rounds — each round costs system calls, a wait in the poller and,
// when the call is long, a hand-over of the runtime's P to another thread. pieceMax bounds
// one sendfile call (net hands a piece to a single call, which the kernel stretches while
// ACKs free room), and after each piece the goroutine yields, so that connections sharing a
// CPU take turns 2 MiB at a time as nginx's do, rather than each filling its socket before
// the next runs. docs/bench/http.md has the measurements.
const (
	pieceMin  = 256 << 10
	pieceMax  = 2 << 20
	pieceTime = 50 * time.Millisecond
)

// corkMin is the smallest body sent corked: below it the body fits in a few segments and
// the two extra setsockopt calls buy nothing.
const corkMin = 64 << 10

// respWriter wraps a ResponseWriter to record status and bytes for the access log and
// metrics, to push the write deadline forward while bytes move, and to count download
// progress. It keeps the sendfile path: ReadFrom hands *io.LimitedReader{*os.File} pieces
// to the inner writer's ReadFrom, which net/http passes to (*net.TCPConn).ReadFrom.
type respWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	s      *Server
	req    *http.Request
	status int
	bytes  int64
	// file is set by the file handler before ServeContent: the body is a download that
	// may publish transfer events.
	file string
	xfer *transfer
	// piece is the reader ReadFrom hands on for each piece of a file body, kept here so
	// that a piece allocates nothing.
	piece io.LimitedReader
}

func newRespWriter(s *Server, w http.ResponseWriter, r *http.Request) *respWriter {
	rw := &respWriter{ResponseWriter: w, rc: http.NewResponseController(w), s: s, req: r}
	rw.extendDeadline()
	return rw
}

// Unwrap lets http.ResponseController reach the inner writer (Flush, deadlines).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) extendDeadline() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.s.cfg.WriteStallTimeout))
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) body() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.file != "" && w.xfer == nil && w.req.Method == http.MethodGet &&
		(w.status == http.StatusOK || w.status == http.StatusPartialContent) {
		total, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
		if err == nil && total >= w.s.cfg.ProgressMin {
			w.xfer = w.s.startTransfer(w, w.req, w.file, total)
		}
		w.file = "" // decided once
	}
}

func (w *respWriter) Write(p []byte) (int, error) {
	w.body()
	w.extendDeadline()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	w.xfer.add(int64(n))
	return n, err
}

// Flush sends buffered data (event streams).
func (w *respWriter) Flush() {
	w.extendDeadline()
	_ = w.rc.Flush()
}

// ReadFrom is what io.Copy (inside http.ServeContent) uses. It forwards in pace-sized pieces
// to the inner ReadFrom, keeping the shape sendfile recognises (one *io.LimitedReader around
// the *os.File), so the kernel still moves the bytes.
func (w *respWriter) ReadFrom(src io.Reader) (int64, error) {
	w.body()
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	inner, remain := src, int64(-1)
	lr, isLR := src.(*io.LimitedReader)
	if isLR {
		inner, remain = lr.R, lr.N
	}
	sock := sockOf(w.req)
	if remain < 0 || remain >= corkMin {
		sock.cork() // before net/http writes the headers, so they share the first segment
		defer sock.uncork()
	}
	var total int64
	var err error
	target := min(pieceTime, w.s.cfg.WriteStallTimeout/8)
	start := time.Now()
	for remain != 0 {
		n := sock.pieceSize(target)
		if remain > 0 && remain < n {
			n = remain
		}
		w.extendDeadline()
		w.piece = io.LimitedReader{R: inner, N: n}
		m, e := rf.ReadFrom(&w.piece)
		total += m
		sock.measure(total, time.Since(start))
		w.bytes += m
		w.xfer.add(m)
		if remain > 0 {
			remain -= m
		}
		if e != nil {
			err = e
			break
		}
		if m < n { // source exhausted
			break
		}
		if remain != 0 {
			runtime.Gosched() // the other connections' turn (pieceMax)
		}
	}
	if isLR {
		lr.N = max(remain, 0)
	}
	return total, err
}

// writerOnly hides ReadFrom so that io.Copy does not recurse.
type writerOnly struct{ io.Writer }
