package lab

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pipeBuffer bounds the bytes in flight one way, like a socket buffer: a
// writer blocks once the reader is this far behind.
const pipeBuffer = 64 << 10

// stream is one direction of a connection.
type stream struct {
	mu      sync.Mutex
	buf     []byte
	eof     bool          // the writer sent FIN (CloseWrite or Close)
	gone    bool          // the reader closed: writes fail like on a reset
	changed chan struct{} // closed and replaced whenever the fields change
}

func newStream() *stream { return &stream{changed: make(chan struct{})} }

// signal wakes whoever waits on s; the caller holds s.mu.
func (s *stream) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// conn is one end of an in-process TCP-like connection: buffered both ways,
// with half-close (CloseWrite), deadlines and TCP addresses, which net.Pipe
// lacks (gateways and relays read RemoteAddr as *net.TCPAddr and half-close).
type conn struct {
	in, out       *stream
	local, remote *net.TCPAddr
	rd, wd        *deadline
	closed        atomic.Bool
}

// newPair returns both ends of a connection from a to b.
func newPair(a, b *net.TCPAddr) (client, server *conn) {
	up, down := newStream(), newStream()
	client = &conn{in: down, out: up, local: a, remote: b, rd: newDeadline(), wd: newDeadline()}
	server = &conn{in: up, out: down, local: b, remote: a, rd: newDeadline(), wd: newDeadline()}
	return client, server
}

func (c *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

func (c *conn) Read(b []byte) (int, error) {
	for {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		expired := c.rd.wait()
		select {
		case <-expired:
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		default:
		}
		s := c.in
		s.mu.Lock()
		if len(s.buf) > 0 {
			n := copy(b, s.buf)
			s.buf = s.buf[n:]
			if len(s.buf) == 0 {
				s.buf = nil
			}
			s.signal()
			s.mu.Unlock()
			return n, nil
		}
		if s.eof {
			s.mu.Unlock()
			return 0, errEOF
		}
		wake := s.changed
		s.mu.Unlock()
		select {
		case <-wake:
		case <-expired:
		}
	}
}

func (c *conn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if c.closed.Load() {
			return n, c.opError("write", net.ErrClosed)
		}
		expired := c.wd.wait()
		select {
		case <-expired:
			return n, c.opError("write", os.ErrDeadlineExceeded)
		default:
		}
		s := c.out
		s.mu.Lock()
		switch {
		case s.eof:
			s.mu.Unlock()
			return n, c.opError("write", syscall.EPIPE)
		case s.gone:
			s.mu.Unlock()
			return n, c.opError("write", syscall.ECONNRESET)
		}
		if room := pipeBuffer - len(s.buf); room > 0 {
			k := min(room, len(b))
			s.buf = append(s.buf, b[:k]...)
			b = b[k:]
			n += k
			s.signal()
			s.mu.Unlock()
			continue
		}
		wake := s.changed
		s.mu.Unlock()
		select {
		case <-wake:
		case <-expired:
		}
	}
	return n, nil
}

// CloseWrite sends FIN: the peer reads EOF once it has read what was sent.
func (c *conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	c.out.mu.Lock()
	c.out.eof = true
	c.out.signal()
	c.out.mu.Unlock()
	return nil
}

// Close ends both directions: unread bytes are dropped, the peer reads EOF
// and its writes fail.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	c.out.mu.Lock()
	c.out.eof = true
	c.out.signal()
	c.out.mu.Unlock()
	c.in.mu.Lock()
	c.in.gone = true
	c.in.buf = nil
	c.in.signal()
	c.in.mu.Unlock()
	c.rd.set(time.Time{})
	c.wd.set(time.Time{})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}
func (c *conn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a settable point in time whose channel closes when it passes
// (as net.Pipe's).
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer fired: wait until it has closed the channel
	}
	d.timer = nil
	closed := isClosed(d.expired)
	if t.IsZero() {
		if closed {
			d.expired = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.expired = make(chan struct{})
		}
		ch := d.expired
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.expired)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
