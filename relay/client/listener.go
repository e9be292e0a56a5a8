package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"tunnelkit/relay/wire"
)

// Listener is a listen bridge: a port bound on the relay host whose
// connections arrive on the listener's own stream (mux.go), so it works
// behind a balancer with no affinity.
type Listener struct {
	ctl      transport // the first; a resumable stream's current one is m.current()
	m        *mux
	addr     net.Addr
	relayURL string
	relayMax int64

	mu      sync.Mutex
	backlog []*Conn       // accepted, not taken by Accept yet
	more    chan struct{} // cap 1: backlog grew
	wg      sync.WaitGroup

	// A resumable stream (Options.Resume) re-attaches after a drop.
	o       Options
	id      string
	window  time.Duration
	resumes int
	ctx     context.Context // ends with Close: stops re-attaching
	cancel  context.CancelFunc

	done     chan struct{} // the control stream ended
	doneErr  error         // why; set before done is closed
	closeMu  sync.Mutex
	isClosed bool
}

var _ net.Listener = (*Listener)(nil)

// Listen asks the relay to bind addr ("HOST:PORT", port 0 to let it pick)
// on the relay host. ctx bounds the setup only; Close releases the port.
// Addr returns the bound address. With o.Resume the control stream
// resumes after its WebSocket drops, with the listener and every
// connection on it; past the relay's window Accept fails with a
// *ResumeError.
func Listen(ctx context.Context, relayURL, addr string, o *Options) (net.Listener, error) {
	q := url.Values{"addr": {addr}}
	if o != nil && o.Resume {
		q.Set(wire.ResumeParam, "1")
	}
	if flowWindow > 0 {
		// The page's queue holds every connection's window: ask for the
		// default per connection, not the window of a lone stream.
		q.Set("flow", strconv.Itoa(wire.DefaultAcceptWindow))
	}
	t, m, err := openStream(ctx, relayURL, "listen", q, o)
	if err != nil {
		return nil, fmt.Errorf("listen on %s through relay: %w", addr, err)
	}
	if m.Type != wire.TypeListening {
		t.close(wire.CloseBadRequest, "expected listening")
		return nil, fmt.Errorf("listen on %s through relay: got %q message, want listening (is the relay tunnelkit v1?)", addr, m.Type)
	}
	l := &Listener{
		ctl:      t,
		m:        newMux(t, m.Flow, m.Credit),
		addr:     tcpAddr(m.Addr),
		relayURL: relayURL,
		relayMax: m.Max,
		more:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if m.Resume != "" { // a relay that does not resume leaves it out
		l.m.resumable, l.id, l.window = true, m.Resume, time.Duration(m.Window)*time.Millisecond
		l.o = *o
	}
	l.wg.Add(1)
	go l.control()
	return l, nil
}

// control reads the control stream: accepted connections, their data,
// acks and closes. It never waits for a reader: each connection queues
// within its window.
func (l *Listener) control() {
	defer l.wg.Done()
	err := l.readStream()
	if l.closed() {
		err = net.ErrClosed
	} else if ce := (*CloseError)(nil); errors.As(err, &ce) && ce.Code == wire.CloseNormal {
		err = net.ErrClosed
	}
	l.doneErr = fmt.Errorf("listener %s: %w", l.addr, err)
	connErr := err
	if errors.Is(err, net.ErrClosed) {
		connErr = &CloseError{Code: wire.CloseGoingAway, Reason: "listener closed"}
	}
	l.m.shutdown(connErr)
	l.m.bg.Wait()
	close(l.done)
	l.mu.Lock()
	backlog := l.backlog
	l.backlog = nil
	l.mu.Unlock()
	for _, c := range backlog {
		c.Close()
	}
}

// readStream reads the control stream, and on a resumable one re-attaches
// after each drop, until it ends.
func (l *Listener) readStream() error {
	t := l.ctl
	for {
		err := l.readFrom(t)
		var pe *protocolError
		if !l.m.resumable || l.closed() || errors.As(err, &pe) || !droppedErr(err) {
			return err
		}
		l.m.detach()
		l.wg.Add(1)
		go func(t transport) { defer l.wg.Done(); t.close(wire.CloseGoingAway, "") }(t) // may wait on a dead link
		if t, err = l.reattach(err); err != nil {
			return err
		}
	}
}

// protocolError is the relay breaking the protocol: final, never resumed.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// droppedErr tells a drop (resumed) from a close by the relay (final).
func droppedErr(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code == wire.CloseAbnormal || ce.Code == wire.CloseGoingAway
	}
	return !errors.Is(err, net.ErrClosed)
}

func (l *Listener) readFrom(t transport) error {
	limit := max(l.relayMax, wire.DefaultMaxMessage)
	for {
		text, r, err := t.next(context.Background())
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if !text {
			if err := wire.CheckFrames(b); err != nil && l.m.resumable {
				if drop := nextFails(t); drop != nil {
					return drop // nothing of it taken: the relay sends it again
				}
			}
			if err := l.m.frames(b); err != nil {
				t.close(wire.CloseBadRequest, err.Error())
				return &protocolError{fmt.Sprintf("relay sent a malformed frame: %v", err)}
			}
			l.m.received(len(b))
			continue
		}
		var m wire.Message
		if len(b) > wire.MaxControl || json.Unmarshal(b, &m) != nil {
			t.close(wire.CloseBadRequest, "malformed control message")
			return &protocolError{"relay sent a malformed control message"}
		}
		switch {
		case m.Type == wire.TypeAck && m.Conn == 0 && l.m.resumable:
			if err := l.m.acked(m.N); err != nil {
				t.close(wire.CloseBadRequest, err.Error())
				return &protocolError{err.Error()}
			}
			continue // the stream's own ack: not counted
		case m.Type == wire.TypeAccept:
			l.accepted(m)
		default:
			l.m.control(m) // unknown types are for later versions
		}
		l.m.received(len(b))
	}
}

// nextFails tells a message cut short by a dropped connection (which the
// native websocket reader can report whole: it takes the connection's end
// at a read boundary inside a frame for the message's end) from a
// malformed one: after a drop the next read fails at once. It returns
// that failure, or nil when the stream is alive.
func nextFails(t transport) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _, err := t.next(ctx)
	if err == nil || ctx.Err() != nil || !droppedErr(err) {
		return nil
	}
	return err
}

// reattach opens /v1/resume until the relay takes the stream back or the
// window passes; the relay then sends again what it had sent and we had
// not received, and we what it had not.
func (l *Listener) reattach(cause error) (transport, error) {
	deadline := time.Now().Add(l.window)
	delay := 100 * time.Millisecond
	last := cause
	for time.Now().Before(deadline) {
		n := l.m.receivedCount()
		ctx, cancel := context.WithDeadline(l.ctx, deadline)
		t, m, err := openStream(ctx, l.relayURL, "resume", url.Values{"id": {l.id}, "n": {strconv.FormatInt(n, 10)}}, &l.o)
		cancel()
		if l.ctx.Err() != nil {
			if err == nil {
				t.close(wire.CloseNormal, "")
			}
			return nil, net.ErrClosed
		}
		if err == nil && m.Type != wire.TypeResumed {
			t.close(wire.CloseBadRequest, "expected resumed")
			err = fmt.Errorf("relay answered a resume with %q", m.Type)
		}
		if err == nil {
			l.wg.Add(1)
			if err = l.m.resume(t, m.N, l.wg.Done); err == nil {
				l.mu.Lock()
				l.resumes++
				l.mu.Unlock()
				resumeCount.Lock()
				resumeCount.ok++
				resumeCount.Unlock()
				if l.closed() { // Close ran meanwhile and saw no transport
					t.close(wire.CloseNormal, "")
				}
				return t, nil
			}
			l.wg.Done()
			t.close(wire.CloseBadRequest, "bad resume position")
			last = err
			break
		}
		last = err
		if refusedForGood(err) {
			break
		}
		if !waitRetry(l.ctx, &delay) {
			return nil, net.ErrClosed
		}
	}
	resumeCount.Lock()
	resumeCount.failed++
	resumeCount.Unlock()
	return nil, &ResumeError{Err: last}
}

// Resumes says how many times the control stream was re-attached.
func (l *Listener) Resumes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resumes
}

// accepted queues a new connection for Accept. A backlog the application
// does not take is bounded: past wire.MaxAccepted waiting, the newest is
// closed.
func (l *Listener) accepted(m wire.Message) {
	mc := l.m.accept(m.Conn)
	if mc == nil {
		return
	}
	max := l.relayMax
	if max <= 0 {
		max = wire.DefaultMaxMessage
	}
	c := newConn(mc, tcpAddr(m.Remote), relayAddr(l.relayURL), max-wire.FrameHeader)
	l.mu.Lock()
	full := len(l.backlog) >= wire.MaxAccepted
	if !full {
		l.backlog = append(l.backlog, c)
	}
	l.mu.Unlock()
	if full {
		l.m.fromReader(func() { mc.close(wire.CloseOverLimit, "listener's backlog full: the application does not accept") })
		return
	}
	wake(l.more)
}

// Accept waits for the next connection to the bound port.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if len(l.backlog) > 0 {
			c := l.backlog[0]
			l.backlog[0] = nil
			l.backlog = l.backlog[1:]
			l.mu.Unlock()
			return c, nil
		}
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-l.done:
			if l.closed() {
				return nil, net.ErrClosed
			}
			return nil, l.doneErr
		}
	}
}

func (l *Listener) closed() bool {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	return l.isClosed
}

// Close closes the control stream: the relay releases the port and closes
// every connection it accepted through it. Close waits for the listener's
// goroutines.
func (l *Listener) Close() error {
	l.closeMu.Lock()
	if l.isClosed {
		l.closeMu.Unlock()
		return net.ErrClosed
	}
	l.isClosed = true
	l.closeMu.Unlock()
	l.cancel()
	if t := l.m.current(); t != nil {
		t.close(wire.CloseNormal, "")
	}
	l.wg.Wait()
	return nil
}

// Addr is the address the relay bound, e.g. 127.0.0.1:41234.
func (l *Listener) Addr() net.Addr { return l.addr }
