//go:build !js

package client

import (
	"net"
	"sync"
)

// corkChunk is the size of coder/websocket's client bufio.Writer. A client
// masks every frame, and masks it through that buffer: a 32 KiB message
// reaches the connection as eight 4 KiB writes and a short tail.
const corkChunk = 4096

// corkSize is how much corkConn gathers before it writes.
const corkSize = 256 << 10

// readAhead is the read buffer: enough for a few SSH packets at a time.
const readAhead = 64 << 10

var corkPool = sync.Pool{New: func() any { b := make([]byte, corkSize); return &b }}

// corkConn gathers those mid-frame 4 KiB writes so a message leaves in one
// write instead of one per 4 KiB. Any write of another size (the tail of a
// frame, every control frame) goes out at once, together with what is
// gathered, so pings, pongs and closes are never held back and bytes keep
// their order. A frame whose tail is exactly 4 KiB is sent by Flush, which
// the transport calls after every message. Until cork is called (after the
// HTTP upgrade) every write goes straight through.
type corkConn struct {
	net.Conn

	mu  sync.Mutex
	on  bool
	buf *[]byte // from corkPool while bytes are held
	n   int     // bytes held in *buf
	err error   // sticky: a failed write of held bytes

	vec  [2][]byte // backs bufs, so a writev allocates nothing
	bufs net.Buffers

	rmu    sync.Mutex
	rbuf   []byte // read ahead, allocated on the first short read
	rr, rn int    // unread bytes are rbuf[rr:rn]
	rerr   error  // from the read that filled rbuf, returned once it is drained
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.on = true
	c.mu.Unlock()
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.on || len(p) != corkChunk {
		if c.n == 0 {
			return c.Conn.Write(p)
		}
		// One writev for the held bytes and p.
		c.vec = [2][]byte{(*c.buf)[:c.n], p}
		c.bufs = c.vec[:]
		held := c.n
		n, err := c.bufs.WriteTo(c.Conn)
		c.vec, c.bufs = [2][]byte{}, nil
		c.release()
		if err != nil {
			c.err = err
			return max(0, int(n)-held), err
		}
		return len(p), nil
	}
	if c.buf == nil {
		c.buf = corkPool.Get().(*[]byte)
	}
	if c.n+len(p) > len(*c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		c.buf = corkPool.Get().(*[]byte)
	}
	c.n += copy((*c.buf)[c.n:], p)
	return len(p), nil
}

// Read reads ahead readAhead bytes when it can: coder/websocket reads a
// large frame in pieces of its 4 KiB bufio.Reader, one read each
// otherwise.
func (c *corkConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rr == c.rn {
		if err := c.rerr; err != nil {
			c.rerr = nil
			return 0, err
		}
		if len(p) >= readAhead {
			return c.Conn.Read(p)
		}
		if c.rbuf == nil {
			c.rbuf = make([]byte, readAhead)
		}
		n, err := c.Conn.Read(c.rbuf)
		if n == 0 {
			return 0, err
		}
		c.rr, c.rn, c.rerr = 0, n, err
	}
	n := copy(p, c.rbuf[c.rr:c.rn])
	c.rr += n
	return n, nil
}

// Flush writes what is held.
func (c *corkConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if c.n == 0 {
		return nil
	}
	_, err := c.Conn.Write((*c.buf)[:c.n])
	c.release()
	if err != nil {
		c.err = err
	}
	return err
}

// release returns the buffer to the pool, so an idle stream holds none.
func (c *corkConn) release() {
	corkPool.Put(c.buf)
	c.buf, c.n = nil, 0
}
