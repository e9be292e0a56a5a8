package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HoldPolicy says what a -L or -D entry socket does with connections that
// arrive while Reconnect is between gateway connections: hold up to Max of
// them for up to For each (they are served once the forward is back), and
// refuse the rest at once with a reset. Max < 0 refuses every one.
type HoldPolicy struct {
	Max int           // 0: 32
	For time.Duration // 0: 20s
}

const (
	defaultHoldMax = 32
	defaultHoldFor = 20 * time.Second
	// entryQueue buffers connections between the socket's accept loop and
	// the forward that takes them: the forward takes them at once.
	entryQueue = 128
)

func (p HoldPolicy) max() int {
	switch {
	case p.Max < 0:
		return 0
	case p.Max == 0:
		return defaultHoldMax
	}
	return p.Max
}

func (p HoldPolicy) duration() time.Duration {
	if p.For <= 0 {
		return defaultHoldFor
	}
	return p.For
}

// entrySockets keeps the entry sockets of -L and -D forwards bound across
// gateway connections: each Client's forwards get a view of the same
// socket (see listen), so the port stays the same and nobody else can
// take it while the gateway is away.
type entrySockets struct {
	bind ListenFunc
	hold HoldPolicy
	log  *slog.Logger

	mu      sync.Mutex
	sockets map[string]*heldEntry // by requested "network address"
}

func newEntrySockets(bind ListenFunc, hold HoldPolicy, log *slog.Logger) *entrySockets {
	return &entrySockets{bind: bind, hold: hold, log: log, sockets: map[string]*heldEntry{}}
}

// listen is the ListenFunc handed to each Client: it binds an address the
// first time and gives out the bound socket again afterwards. A socket
// whose listener failed (a relay's listen bridge that restarted) is bound
// anew.
func (s *entrySockets) listen(ctx context.Context, network, address string) (net.Listener, error) {
	key := network + " " + address
	s.mu.Lock()
	e := s.sockets[key]
	s.mu.Unlock()
	if e != nil && e.failed() {
		e.close()
		e = nil
	}
	if e == nil {
		ln, err := s.bind(ctx, network, address)
		if err != nil {
			return nil, err
		}
		e = newHeldEntry(ln, s.hold, s.log)
		s.mu.Lock()
		s.sockets[key] = e
		s.mu.Unlock()
	}
	return e.attach()
}

// detachAll puts every socket into holding mode: the connection is gone.
func (s *entrySockets) detachAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sockets {
		e.detach()
	}
}

// close unbinds every socket and resets the connections it held.
func (s *entrySockets) close() {
	s.mu.Lock()
	sockets := s.sockets
	s.sockets = map[string]*heldEntry{}
	s.mu.Unlock()
	for _, e := range sockets {
		e.close()
	}
}

// heldEntry is one bound entry socket. Its accept loop runs for the
// socket's life; connections go to the attached forward, or are held or
// refused while none is attached.
type heldEntry struct {
	ln    net.Listener
	hold  HoldPolicy
	log   *slog.Logger
	queue chan *heldConn
	held  atomic.Int32 // connections queued while detached, not yet taken or dropped
	dead  chan struct{}
	loop  chan struct{} // closed when the accept loop has returned

	mu       sync.Mutex
	view     *entryView // nil while detached
	err      error      // why accepting stopped
	closed   bool
	outage   time.Time // when it was last detached
	refusals int       // refused in this outage (logged once per outage, then counted)
}

func newHeldEntry(ln net.Listener, hold HoldPolicy, log *slog.Logger) *heldEntry {
	e := &heldEntry{ln: ln, hold: hold, log: log.With("entry", ln.Addr().String()),
		queue: make(chan *heldConn, entryQueue), dead: make(chan struct{}), loop: make(chan struct{})}
	go e.accept()
	return e
}

func (e *heldEntry) accept() {
	defer close(e.loop)
	var delay time.Duration
	for {
		conn, err := e.ln.Accept()
		if err != nil {
			if isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			e.mu.Lock()
			if !e.closed {
				e.err = fmt.Errorf("entry socket %s stopped accepting: %w", e.ln.Addr(), err)
			}
			e.mu.Unlock()
			close(e.dead)
			return
		}
		delay = 0
		e.admit(conn)
	}
}

// admit hands conn on, holds it, or refuses it, and logs which.
func (e *heldEntry) admit(conn net.Conn) {
	e.mu.Lock()
	attached := e.view != nil
	e.mu.Unlock()
	hc := &heldConn{Conn: conn}
	if !attached {
		if int(e.held.Load()) >= e.hold.max() {
			e.refuse(conn)
			return
		}
		hc.held = true
		e.held.Add(1)
		wait := e.hold.duration()
		e.log.Info("holding connection until the gateway is back", "remote", conn.RemoteAddr().String(), "atMost", wait, "held", e.held.Load())
		hc.timer = time.AfterFunc(wait, func() {
			if hc.claim(e) {
				e.log.Warn("dropped held connection: the gateway did not come back in time", "remote", conn.RemoteAddr().String(), "after", wait)
				reset(conn)
			}
		})
	}
	select {
	case e.queue <- hc:
	default:
		if hc.claim(e) {
			e.refuse(conn)
		}
	}
}

func (e *heldEntry) refuse(conn net.Conn) {
	e.mu.Lock()
	e.refusals++
	n := e.refusals
	e.mu.Unlock()
	why := fmt.Sprintf("%d connections already held", e.hold.max())
	if e.hold.max() == 0 {
		why = "connections are not held"
	}
	// The first refusal of an outage is logged with its peer, then every
	// hundredth: a busy client must not flood the log.
	if n == 1 || n%100 == 0 {
		e.log.Warn("refused connection while reconnecting to the gateway", "remote", conn.RemoteAddr().String(), "why", why, "refusedThisOutage", n)
	}
	reset(conn)
}

// attach gives the next forward its view of the socket.
func (e *heldEntry) attach() (net.Listener, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, net.ErrClosed
	}
	if e.view != nil {
		return nil, fmt.Errorf("entry socket %s is already in use by another forward", e.ln.Addr())
	}
	if n := e.held.Load(); n > 0 || e.refusals > 0 {
		e.log.Info("gateway back: serving held connections", "held", n, "refused", e.refusals, "outage", time.Since(e.outage).Round(time.Millisecond))
	}
	e.refusals = 0
	e.view = &entryView{e: e, closed: make(chan struct{})}
	return e.view, nil
}

func (e *heldEntry) detach() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.view != nil {
		e.view.closeLocked()
		e.view = nil
		e.outage = time.Now()
	}
}

func (e *heldEntry) failed() bool {
	select {
	case <-e.dead:
		return true
	default:
		return false
	}
}

func (e *heldEntry) close() {
	e.mu.Lock()
	e.closed = true
	if e.view != nil {
		e.view.closeLocked()
		e.view = nil
	}
	e.mu.Unlock()
	e.ln.Close()
	<-e.loop
	for {
		select {
		case hc := <-e.queue:
			if hc.claim(e) {
				reset(hc.Conn)
			}
		default:
			return
		}
	}
}

// heldConn is an accepted connection waiting in the queue.
type heldConn struct {
	net.Conn
	held  bool // arrived during an outage: counted in heldEntry.held
	timer *time.Timer
	gone  atomic.Bool // taken by a forward, dropped or refused
}

// claim takes hc out of the queue's care; false if someone else did.
func (hc *heldConn) claim(e *heldEntry) bool {
	if !hc.gone.CompareAndSwap(false, true) {
		return false
	}
	if hc.timer != nil {
		hc.timer.Stop()
	}
	if hc.held {
		e.held.Add(-1)
	}
	return true
}

// entryView is the net.Listener one forward sees: Close detaches the
// forward, the socket stays bound.
type entryView struct {
	e      *heldEntry
	once   sync.Once
	closed chan struct{}
}

func (v *entryView) Accept() (net.Conn, error) {
	for {
		select {
		case hc := <-v.e.queue:
			if hc.claim(v.e) {
				return hc.Conn, nil
			}
		case <-v.closed:
			return nil, net.ErrClosed
		case <-v.e.dead:
			v.e.mu.Lock()
			err := v.e.err
			v.e.mu.Unlock()
			if err == nil {
				err = net.ErrClosed
			}
			return nil, err
		}
	}
}

func (v *entryView) Close() error {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	v.closeLocked()
	if v.e.view == v {
		v.e.view = nil
		v.e.outage = time.Now()
	}
	return nil
}

func (v *entryView) closeLocked() { v.once.Do(func() { close(v.closed) }) }

func (v *entryView) Addr() net.Addr { return v.e.ln.Addr() }
