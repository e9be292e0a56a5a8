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

	"tunnelkit/relay/wire"
)

// Listener is a listen bridge: a port bound on the relay host whose
// connections arrive on the listener's own stream (mux.go), so it works
// behind a balancer with no affinity.
type Listener struct {
	ctl      transport
	m        *mux
	addr     net.Addr
	relayURL string
	relayMax int64

	mu      sync.Mutex
	backlog []*Conn       // accepted, not taken by Accept yet
	more    chan struct{} // cap 1: backlog grew
	wg      sync.WaitGroup

	done     chan struct{} // the control stream ended
	doneErr  error         // why; set before done is closed
	closeMu  sync.Mutex
	isClosed bool
}

var _ net.Listener = (*Listener)(nil)

// Listen asks the relay to bind addr ("HOST:PORT", port 0 to let it pick)
// on the relay host. ctx bounds the setup only; Close releases the port.
// Addr returns the bound address.
func Listen(ctx context.Context, relayURL, addr string, o *Options) (net.Listener, error) {
	q := url.Values{"addr": {addr}}
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
	close(l.done)
	l.mu.Lock()
	backlog := l.backlog
	l.backlog = nil
	l.mu.Unlock()
	for _, c := range backlog {
		c.Close()
	}
}

func (l *Listener) readStream() error {
	limit := max(l.relayMax, wire.DefaultMaxMessage)
	for {
		text, r, err := l.ctl.next(context.Background())
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if !text {
			if err := l.m.frames(b); err != nil {
				l.ctl.close(wire.CloseBadRequest, err.Error())
				return fmt.Errorf("relay sent a malformed frame: %v", err)
			}
			continue
		}
		var m wire.Message
		if len(b) > wire.MaxControl || json.Unmarshal(b, &m) != nil {
			l.ctl.close(wire.CloseBadRequest, "malformed control message")
			return errors.New("relay sent a malformed control message")
		}
		if m.Type == wire.TypeAccept {
			l.accepted(m)
		} else {
			l.m.control(m) // unknown types are for later versions
		}
	}
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
		mc.close(wire.CloseOverLimit, "listener's backlog full: the application does not accept")
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
	l.ctl.close(wire.CloseNormal, "")
	l.wg.Wait()
	return nil
}

// Addr is the address the relay bound, e.g. 127.0.0.1:41234.
func (l *Listener) Addr() net.Addr { return l.addr }
