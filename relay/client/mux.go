package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"

	"tunnelkit/relay/wire"
)

// A listen bridge carries the connections it accepts on its own control
// stream (PROTOCOL.md, "listen bridge"), so that a balancer without
// affinity cannot send them to another relay: binary messages hold frames
// tagged with a connection id, and each connection has its own flow
// control both ways, so one the application does not read never stalls
// the others. mux is that stream's side here; each muxConn is a transport
// for one connection, wrapped in a Conn like any stream. Natively and in
// the browser alike: nothing here touches the browser.

// mux is the accepted connections of one control stream.
type mux struct {
	window int // per connection: what the relay sends unacknowledged at most
	credit int // per connection: what may be sent unacknowledged

	wmu sync.Mutex // one message at a time on the control stream; on a resumable one, log order is wire order

	mu    sync.Mutex
	ctl   transport // nil while a resumable stream re-attaches
	conns map[uint32]*muxConn
	end   error         // the control stream ended; no connection is added after
	ended chan struct{} // closed with end

	// A resumable stream (muxlog.go) keeps what it sent until the relay
	// acknowledges it and counts what it received.
	resumable bool
	log       msgLog
	subproto  string
	bg        sync.WaitGroup // sends the reader left to a goroutine
}

// fromReader runs send, a message the stream's reader wants to send. On a
// resumable stream it goes to a goroutine: the reader must never wait for
// the writes, which may be replaying to a relay that is replaying too.
func (m *mux) fromReader(send func()) {
	if !m.resumable {
		send()
		return
	}
	m.bg.Add(1)
	go func() { defer m.bg.Done(); send() }()
}

func newMux(ctl transport, window, credit int64) *mux {
	if window <= 0 {
		window = wire.DefaultAcceptWindow
	}
	if credit <= 0 {
		credit = wire.UpCredit
	}
	return &mux{ctl: ctl, window: int(window), credit: int(credit), conns: map[uint32]*muxConn{}, ended: make(chan struct{}), subproto: ctl.subprotocol()}
}

// send writes one message. On a resumable stream it is logged first and
// never fails: a drop is the reader's to see, and the message goes again
// once the stream is resumed.
func (m *mux) send(text bool, p []byte) error {
	if !m.resumable {
		m.wmu.Lock()
		defer m.wmu.Unlock()
		return m.ctl.write(context.Background(), text, p)
	}
	m.wmu.Lock()
	m.mu.Lock()
	m.log.add(text, p)
	t := m.ctl
	m.mu.Unlock()
	if t != nil {
		t.write(context.Background(), text, p)
	}
	m.unlockWrites()
	return nil
}

func (m *mux) sendControl(msg wire.Message) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return m.send(true, b)
}

// accept registers connection id the relay announced; nil if the stream
// ended or the id is taken (a relay bug, ignored).
func (m *mux) accept(id uint32) *muxConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.end != nil || id == 0 || m.conns[id] != nil {
		return nil
	}
	c := &muxConn{m: m, id: id, avail: m.credit, signal: make(chan struct{}, 1), credits: make(chan struct{}, 1), done: make(chan struct{})}
	m.conns[id] = c
	return c
}

func (m *mux) get(id uint32) *muxConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns[id]
}

func (m *mux) remove(c *muxConn) {
	m.mu.Lock()
	if m.conns[c.id] == c {
		delete(m.conns, c.id)
	}
	m.mu.Unlock()
}

// frames hands the frames of one binary message to their connections.
// Frames for a connection closed here are dropped: the relay may not have
// seen the close yet. A malformed message is an error for the whole stream.
func (m *mux) frames(b []byte) error {
	for len(b) > 0 {
		id, payload, rest, err := wire.NextFrame(b)
		if err != nil {
			return err
		}
		b = rest
		if c := m.get(id); c != nil {
			c.receive(payload)
		}
	}
	return nil
}

// control takes a text message for one connection: ack or close.
func (m *mux) control(msg wire.Message) {
	c := m.get(msg.Conn)
	if c == nil {
		return
	}
	switch msg.Type {
	case wire.TypeAck:
		c.ack(msg.N)
	case wire.TypeClose:
		m.remove(c)
		c.ended(&CloseError{Code: wire.CloseCode(msg.Code), Reason: msg.Reason})
	}
}

// shutdown ends every connection with err: the control stream is gone.
func (m *mux) shutdown(err error) {
	m.mu.Lock()
	if m.end == nil {
		close(m.ended)
	}
	m.end = err
	conns := m.conns
	m.conns = map[uint32]*muxConn{}
	m.mu.Unlock()
	for _, c := range conns {
		c.ended(err)
	}
}

// muxConn is one accepted connection as a transport.
type muxConn struct {
	m  *mux
	id uint32

	mu      sync.Mutex
	queue   [][]byte // received payloads; an empty one is the relay's half-close
	signal  chan struct{}
	end     error         // why it ended; read after the queue
	done    chan struct{} // closed when end is set
	unacked int           // received and not acknowledged
	unsent  int           // of those, consumed: the next ack
	avail   int           // credit left for sending
	credits chan struct{}

	cur  bytes.Reader // the payload being read (one reader at a time)
	wbuf []byte       // the frame being written (one writer at a time)
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// receive queues a payload (copied: b belongs to the control stream). A
// relay that overruns the window ends the connection with 4400.
func (c *muxConn) receive(b []byte) {
	c.mu.Lock()
	if c.end != nil {
		c.mu.Unlock()
		return
	}
	c.unacked += len(b)
	if c.unacked > c.m.window {
		c.mu.Unlock()
		c.fail(fmt.Sprintf("relay sent %d bytes unacknowledged, over the %d flow window", c.unacked, c.m.window))
		return
	}
	c.queue = append(c.queue, append([]byte{}, b...))
	c.mu.Unlock()
	wake(c.signal)
}

// ack returns credit the relay acknowledged.
func (c *muxConn) ack(n int64) {
	c.mu.Lock()
	if c.end != nil {
		c.mu.Unlock()
		return
	}
	if n <= 0 || c.avail+int(n) > c.m.credit {
		sent := c.m.credit - c.avail
		c.mu.Unlock()
		c.fail(fmt.Sprintf("relay acknowledged %d bytes, only %d sent and not acknowledged", n, sent))
		return
	}
	c.avail += int(n)
	c.mu.Unlock()
	wake(c.credits)
}

// fail ends the connection for a protocol error of the relay's and tells
// the relay.
func (c *muxConn) fail(reason string) {
	if c.ended(fmt.Errorf("closed by the client: %s", reason)) {
		c.m.remove(c)
		c.m.fromReader(func() {
			c.m.sendControl(wire.Message{Type: wire.TypeClose, Conn: c.id, Code: int(wire.CloseBadRequest), Reason: reason})
		})
	}
}

// ended records how the connection ended, unless it already had.
func (c *muxConn) ended(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end != nil {
		return false
	}
	c.end = err
	close(c.done)
	wake(c.signal)
	return true
}

func (c *muxConn) next(ctx context.Context) (bool, io.Reader, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.mu.Unlock()
			c.cur.Reset(p)
			return false, &c.cur, nil
		}
		end := c.end
		c.mu.Unlock()
		if end != nil {
			return false, nil, end
		}
		select {
		case <-c.signal:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
	}
}

// write sends p as one frame; an empty p is the half-close.
func (c *muxConn) write(_ context.Context, text bool, p []byte) error {
	if text {
		return nil // a Conn writes data only; control is the mux's
	}
	if !c.m.waitRoom(c.done) {
		return c.endErr()
	}
	c.mu.Lock()
	if c.end != nil {
		err := c.end
		c.mu.Unlock()
		return err
	}
	c.avail -= len(p)
	c.mu.Unlock()
	c.wbuf = append(c.wbuf[:0], make([]byte, wire.FrameHeader)...)
	wire.PutFrameHeader(c.wbuf, c.id, len(p))
	c.wbuf = append(c.wbuf, p...)
	return c.m.send(false, c.wbuf)
}

func (c *muxConn) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.end != nil {
		return c.end
	}
	return net.ErrClosed
}

// close ends the connection here and tells the relay, which closes the
// TCP connection once what was sent reached it.
func (c *muxConn) close(code wire.CloseCode, reason string) error {
	if !c.ended(net.ErrClosed) {
		return nil // the relay closed it first, or it was closed here
	}
	c.m.remove(c)
	return c.m.sendControl(wire.Message{Type: wire.TypeClose, Conn: c.id, Code: int(code), Reason: reason})
}

func (c *muxConn) setRelayMax(int64)    {}
func (c *muxConn) setFlow(int64, int64) {}
func (c *muxConn) subprotocol() string  { return c.m.subproto }

// writable waits for credit and returns it.
func (c *muxConn) writable(ctx context.Context) (int, error) {
	for {
		c.mu.Lock()
		end, avail := c.end, c.avail
		c.mu.Unlock()
		switch {
		case end != nil:
			return 0, end
		case avail > 0:
			return avail, nil
		}
		select {
		case <-c.credits:
		case <-c.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// consumed acknowledges consumed bytes once they add up to a quarter of
// the window.
func (c *muxConn) consumed(n int) {
	c.mu.Lock()
	if c.end != nil {
		c.mu.Unlock()
		return
	}
	c.unsent += n
	if c.unsent < c.m.window/4 {
		c.mu.Unlock()
		return
	}
	ack := wire.AppendConnAck(nil, c.id, int64(c.unsent))
	c.unacked -= c.unsent
	c.unsent = 0
	c.mu.Unlock()
	c.m.send(true, ack) // a failure shows as the stream's end
}
