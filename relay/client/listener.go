package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	"tunnelkit/relay/wire"
)

// Listener is a listen bridge: a port bound on the relay host whose
// connections arrive as relay streams.
type Listener struct {
	ctl      transport
	addr     net.Addr
	relayURL string
	opts     Options

	conns  chan *Conn
	ctx    context.Context // cancelled by Close: stops accept dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

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
	if o == nil {
		o = &Options{}
	}
	t, m, err := openStream(ctx, relayURL, "listen", url.Values{"addr": {addr}}, o)
	if err != nil {
		return nil, fmt.Errorf("listen on %s through relay: %w", addr, err)
	}
	if m.Type != wire.TypeListening {
		t.close(wire.CloseBadRequest, "expected listening")
		return nil, fmt.Errorf("listen on %s through relay: got %q message, want listening (is the relay tunnelkit v1?)", addr, m.Type)
	}
	l := &Listener{
		ctl:      t,
		addr:     tcpAddr(m.Addr),
		relayURL: relayURL,
		opts:     *o,
		conns:    make(chan *Conn),
		done:     make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.control()
	return l, nil
}

// control reads the control stream and opens a stream for every accepted
// connection, concurrently: the relay gives each one a few seconds.
func (l *Listener) control() {
	defer l.wg.Done()
	defer close(l.done)
	for {
		m, err := readControl(l.ctx, l.ctl)
		if err != nil {
			var ce *CloseError
			if l.closed() || (errors.As(err, &ce) && ce.Code == wire.CloseNormal) {
				err = net.ErrClosed
			}
			l.doneErr = fmt.Errorf("listener %s: %w", l.addr, err)
			return
		}
		if m.Type != wire.TypeAccept || m.ID == "" {
			continue // unknown control messages are for later versions
		}
		l.wg.Add(1)
		go l.accept(m.ID)
	}
}

func (l *Listener) accept(id string) {
	defer l.wg.Done()
	t, m, err := openStream(l.ctx, l.relayURL, "accept", url.Values{"id": {id}}, &l.opts)
	if err != nil {
		return // the relay resets the connection and logs why
	}
	if m.Type != wire.TypeOpen {
		t.close(wire.CloseBadRequest, "expected open")
		return
	}
	c := newConn(t, tcpAddr(m.Addr), relayAddr(l.relayURL), m.Max)
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	case <-l.done:
		c.Close()
	}
}

// Accept waits for the next connection to the bound port.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	case <-l.done:
		return nil, l.doneErr
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
	l.cancel()
	l.wg.Wait()
	return nil
}

// Addr is the address the relay bound, e.g. 127.0.0.1:41234.
func (l *Listener) Addr() net.Addr { return l.addr }
