package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"tunnelkit/relay/wire"
)

// Conn is one relay stream as a net.Conn: binary messages carry the bytes,
// a zero-length binary message is the end of a direction (TCP FIN).
type Conn struct {
	t             transport
	remote, local net.Addr

	// ctx is cancelled by Close or an expired deadline, which also close
	// the transport: that is what unblocks operations. They run with
	// context.Background(), since a cancellable context would cost
	// coder/websocket an AfterFunc registration per message.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	readMu  sync.Mutex
	payload io.Reader // the message being read, nil between messages
	fresh   bool      // nothing read from payload yet
	readErr error     // sticky: io.EOF after the peer's zero-length message

	writeMu     sync.Mutex
	writeClosed bool
	maxWrite    int // bytes per message

	rdl, wdl deadline
}

var _ net.Conn = (*Conn)(nil)

var errWriteClosed = fmt.Errorf("write after CloseWrite: %w", net.ErrClosed)

// newConn wraps an open stream; relayMax is the relay's announced message
// size limit (0: not announced).
func newConn(t transport, remote, local net.Addr, relayMax int64) *Conn {
	c := &Conn{t: t, remote: remote, local: local, maxWrite: wire.DefaultMaxMessage}
	if relayMax > 0 && relayMax < wire.DefaultMaxMessage {
		c.maxWrite = int(relayMax)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	expire := func() {
		c.cancel()
		c.t.close(wire.CloseIdle, "deadline exceeded")
	}
	c.rdl.onFire = expire
	c.wdl.onFire = expire
	return c
}

// Read reads stream bytes. It returns io.EOF once the peer has half-closed
// (or closed normally), and the relay's *CloseError if it closed the stream
// on a failure.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.rdl.begin(); err != nil {
		return 0, err
	}
	defer c.rdl.end()
	for {
		if c.payload == nil {
			text, r, err := c.t.next(context.Background())
			if err != nil {
				return 0, c.failRead(err)
			}
			if text {
				// The transport takes flow control acks itself; skip
				// anything else, so later protocol versions stay
				// compatible.
				io.Copy(io.Discard, r)
				continue
			}
			c.payload, c.fresh = r, true
		}
		n, err := c.payload.Read(p)
		if n > 0 {
			c.fresh = false
			c.t.consumed(n)
		}
		switch {
		case err == io.EOF:
			empty := c.fresh
			c.payload = nil
			if empty {
				c.readErr = io.EOF
				return 0, io.EOF
			}
			if n > 0 {
				return n, nil
			}
		case err != nil:
			return n, c.failRead(err)
		case n > 0:
			return n, nil
		}
	}
}

func (c *Conn) failRead(err error) error {
	var ce *CloseError
	switch {
	case c.closed.Load():
		err = net.ErrClosed
	case errors.As(err, &ce) && ce.Code == wire.CloseNormal:
		err = io.EOF
	default:
		err = c.rdl.err(c.ctx, err)
	}
	c.readErr = err
	return err
}

// Write sends p, in messages of at most the relay's size limit.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeClosed {
		return 0, errWriteClosed
	}
	if err := c.wdl.begin(); err != nil {
		return 0, err
	}
	defer c.wdl.end()
	n := 0
	for len(p) > 0 { // never an empty message: that would be EOF
		room, err := c.t.writable(context.Background())
		if err != nil {
			return n, c.failWrite(err)
		}
		m := p[:min(len(p), c.maxWrite, room)]
		if err := c.t.write(context.Background(), false, m); err != nil {
			return n, c.failWrite(err)
		}
		n += len(m)
		p = p[len(m):]
	}
	return n, nil
}

func (c *Conn) failWrite(err error) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return c.wdl.err(c.ctx, err)
}

// CloseWrite half-closes the stream: the relay shuts down the write side of
// its TCP connection, and reading goes on until the other side does too.
func (c *Conn) CloseWrite() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeClosed {
		return nil
	}
	c.writeClosed = true
	if err := c.t.write(context.Background(), false, nil); err != nil {
		return c.failWrite(err)
	}
	return nil
}

// Close closes the stream with a normal close; the relay closes its TCP
// connection.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	c.rdl.stop()
	c.wdl.stop()
	c.t.close(wire.CloseNormal, "")
	c.cancel()
	return nil
}

// RemoteAddr is the address the relay dialed, or for an accepted
// connection the address of its remote end.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr is the relay URL.
func (c *Conn) LocalAddr() net.Addr { return c.local }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }
