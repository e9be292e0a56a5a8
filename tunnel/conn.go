package tunnel

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conn is one SSH channel to or from an exit socket as a net.Conn: a
// connection the caller holds itself (DialExit, Listener) rather than one a
// forward pipes to a socket. Reads take the channel's data only as they are
// called, so a slow reader closes the gateway's window and slows the far
// end; writes return once the channel has taken the bytes.
//
// Read deadlines work (net/http's server needs them to abort its background
// read); write deadlines are accepted and ignored: the SSH window is the
// only limit on a write.
type Conn struct {
	ch                  ssh.Channel
	local, remote       net.Addr
	read, written       atomic.Int64  // bytes this connection carried
	fwdRead, fwdWritten *atomic.Int64 // a forward's counters too, if any
	onClose             func()
	closeOnce           sync.Once

	rmu     sync.Mutex // one Read at a time
	scratch []byte
	buf     []byte          // read from the channel, not yet returned
	rerr    error           // the channel's read error, after buf
	pending chan readResult // a channel read in flight

	dmu     sync.Mutex
	expired chan struct{} // closed when the read deadline passes
	changed chan struct{} // closed when the read deadline changes
	timer   *time.Timer
}

type readResult struct {
	n   int
	err error
}

// connReadSize is the most one channel read takes: two SSH packets.
const connReadSize = 64 << 10

func newConn(ch ssh.Channel, local, remote net.Addr, onClose func()) *Conn {
	return &Conn{ch: ch, local: local, remote: remote, onClose: onClose,
		expired: make(chan struct{}), changed: make(chan struct{})}
}

func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			c.read.Add(int64(n))
			if c.fwdRead != nil {
				c.fwdRead.Add(int64(n))
			}
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.pending == nil {
			if c.scratch == nil {
				c.scratch = make([]byte, connReadSize)
			}
			c.pending = make(chan readResult, 1)
			go func(buf []byte, out chan<- readResult) {
				n, err := c.ch.Read(buf)
				out <- readResult{n, err}
			}(c.scratch, c.pending)
		}
		c.dmu.Lock()
		expired, changed := c.expired, c.changed
		c.dmu.Unlock()
		select {
		case r := <-c.pending:
			c.pending = nil
			c.buf, c.rerr = c.scratch[:r.n], r.err
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-changed: // look at the new deadline
		}
	}
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.ch.Write(p)
	c.written.Add(int64(n))
	if c.fwdWritten != nil {
		c.fwdWritten.Add(int64(n))
	}
	return n, err
}

// CloseWrite half-closes: the exit reads EOF, and can still answer.
func (c *Conn) CloseWrite() error { return c.ch.CloseWrite() }

func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.ch.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// Counts returns the bytes read from and written to the connection so far.
func (c *Conn) Counts() (read, written int64) { return c.read.Load(), c.written.Load() }

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	expired := make(chan struct{}) // a fresh one: a stopped timer may still fire on the old
	c.expired = expired
	switch d := time.Until(t); {
	case t.IsZero():
	case d <= 0:
		close(expired)
	default:
		c.timer = time.AfterFunc(d, func() {
			c.dmu.Lock()
			defer c.dmu.Unlock()
			if c.expired == expired {
				close(expired)
			}
		})
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// addr is a net.Addr from a "host:port" string.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
