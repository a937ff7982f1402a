package nbd

import (
	"errors"
	"io"
	"os"
	"time"
)

// maxOptions bounds the options one handshake may send before the server hangs up.
const maxOptions = 256

// handshake runs the fixed newstyle negotiation under one deadline; true means the
// connection is attached to an export and enters transmission.
func (c *conn) handshake() bool {
	s := c.s
	c.nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	log := s.log.With("remote", c.remote.String())
	if _, err := c.nc.Write(AppendGreeting(make([]byte, 0, greetingLen))); err != nil {
		return false
	}
	var hdr [optHeaderLen]byte
	n, err := io.ReadFull(c.br, hdr[:4])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			log.Warn("nbd: client hung up after the newstyle greeting; oldstyle clients are not served, only fixed newstyle ones (nbd-client 3.x, libnbd, qemu)")
		} else {
			log.Info("nbd: handshake ended", "err", err)
		}
		return false
	}
	noZeroes, err := ParseClientFlags(hdr[:4])
	if err != nil {
		log.Warn("nbd: handshake refused", "err", err)
		return false
	}
	optBuf := make([]byte, maxOptionData)
	out := make([]byte, 0, 256)
	for i := 0; ; i++ {
		if i == maxOptions {
			log.Warn("nbd: too many options, hanging up", "max", maxOptions)
			return false
		}
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			log.Info("nbd: handshake ended", "err", err)
			return false
		}
		h, err := ParseOptionHeader(hdr[:])
		if err != nil {
			log.Warn("nbd: bad option", "err", err)
			return false
		}
		if h.Length > maxOptionData {
			if h.Option == OptExportName {
				log.Warn("nbd: export name too long, hanging up", "len", h.Length)
				return false
			}
			// Skip the data through a small buffer; the handshake deadline bounds the time.
			if _, err := io.CopyN(io.Discard, c.br, int64(h.Length)); err != nil {
				log.Info("nbd: handshake ended while skipping an over-long option", "len", h.Length, "err", err)
				return false
			}
			if !c.send(AppendOptionReply(out[:0], h.Option, RepErrTooBig, []byte("option data too long"))) {
				return false
			}
			continue
		}
		data := optBuf[:h.Length]
		if _, err := io.ReadFull(c.br, data); err != nil {
			log.Info("nbd: handshake ended", "err", err)
			return false
		}
		if c.debug {
			log.Debug("nbd: option", "option", h.Option, "len", h.Length)
		}
		switch h.Option {
		case OptExportName:
			if err := c.attach(string(data)); err != nil {
				log.Warn("nbd: export refused", "export", string(data), "err", err)
				return false
			}
			if !c.send(AppendExportNameReply(out[:0], c.size, c.flags, noZeroes)) {
				return false
			}
			c.nc.SetDeadline(time.Time{})
			return true
		case OptAbort:
			c.send(AppendOptionReply(out[:0], h.Option, RepAck, nil))
			return false
		case OptList:
			if h.Length != 0 {
				out = AppendOptionReply(out[:0], h.Option, RepErrInvalid, []byte("LIST takes no data"))
			} else {
				out = out[:0]
				for _, n := range s.ex.list() {
					out = AppendRepServer(out, h.Option, n)
				}
				out = AppendOptionReply(out, h.Option, RepAck, nil)
			}
			if !c.send(out) {
				return false
			}
		case OptInfo, OptGo:
			done, ok := c.infoOrGo(h.Option, data, &out)
			if !c.send(out) || !ok {
				return false
			}
			if done {
				c.nc.SetDeadline(time.Time{})
				return true
			}
		default:
			if !c.send(AppendOptionReply(out[:0], h.Option, RepErrUnsup, nil)) {
				return false
			}
		}
	}
}

// infoOrGo answers NBD_OPT_INFO or NBD_OPT_GO into *out. attached reports that GO succeeded;
// ok false means hang up after sending.
func (c *conn) infoOrGo(opt uint32, data []byte, out *[]byte) (attached, ok bool) {
	req, err := ParseInfoRequest(data)
	if err != nil {
		*out = AppendOptionReply((*out)[:0], opt, RepErrInvalid, []byte(err.Error()))
		return false, true
	}
	if opt == OptInfo {
		name, ref, err := c.s.ex.acquire(req.Name)
		if err != nil {
			*out = AppendOptionReply((*out)[:0], opt, RepErrUnknown, []byte("unknown export"))
			return false, true
		}
		*out = c.appendInfo((*out)[:0], opt, req, name, ref.img)
		c.s.ex.release(ref)
		return false, true
	}
	if err := c.attach(req.Name); err != nil {
		c.s.log.Warn("nbd: export refused", "remote", c.remote.String(), "export", req.Name, "err", err)
		typ := RepErrPolicy
		if errors.Is(err, ErrUnknownExport) {
			typ, err = RepErrUnknown, ErrUnknownExport
		}
		*out = AppendOptionReply((*out)[:0], opt, typ, []byte(err.Error()))
		return false, true
	}
	*out = c.appendInfo((*out)[:0], opt, req, c.export, nil)
	return true, true
}

// appendInfo appends the NBD_REP_INFO replies and the final ACK for an export. img is nil
// once the connection is attached (its own size and flags are used).
func (c *conn) appendInfo(b []byte, opt uint32, req InfoRequest, name string, img *image) []byte {
	size, flags, blockDev := c.size, c.flags, false
	if img != nil {
		size, flags, blockDev = uint64(img.size), c.s.exportFlags(), img.blockDev
	} else if im, ok := c.st.(*image); ok {
		blockDev = im.blockDev
	}
	b = AppendInfoExport(b, opt, size, flags)
	minBlock := uint32(1)
	if blockDev {
		minBlock = 512
	}
	b = AppendInfoBlockSize(b, opt, minBlock, PreferredBlock, MaxPayload)
	if req.Wants(InfoName) {
		b = AppendInfoName(b, opt, name)
	}
	return AppendOptionReply(b, opt, RepAck, nil)
}

// exportFlags are the transmission flags of every export in this server's mode.
func (s *Server) exportFlags() uint16 {
	if !s.cfg.Write {
		return FlagHasFlags | FlagReadOnly | FlagSendFlush | FlagCanMultiConn
	}
	return FlagHasFlags | FlagSendFlush | FlagSendFUA | FlagSendTrim | FlagSendWriteZeroes
}

// attach binds the connection to an export and the client's store.
func (c *conn) attach(name string) error {
	if c.s.closing() {
		return errors.New("server shutting down")
	}
	canon, ref, err := c.s.ex.acquire(name)
	if err != nil {
		return err
	}
	st, detach, err := c.s.attach(canon, ref, c.key)
	if err != nil {
		c.s.ex.release(ref)
		return err
	}
	c.s.mu.Lock()
	c.export, c.st, c.detach = canon, st, detach
	c.release = func() { c.s.ex.release(ref) }
	c.size, c.flags = uint64(st.Size()), c.s.exportFlags()
	if fr, ok := st.(fileRanges); ok {
		c.fileBacked, _ = fr.ranges(0, 0, func(*os.File, int64, int64) error { return nil })
	}
	c.attached = true
	c.s.mu.Unlock()
	return nil
}

// send writes a handshake reply; false means the connection failed.
func (c *conn) send(b []byte) bool {
	_, err := c.nc.Write(b)
	return err == nil
}
