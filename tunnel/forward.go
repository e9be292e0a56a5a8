package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Forward is a running -L or -R forward.
type Forward struct {
	c     *Client
	spec  Spec
	entry string
	log   *slog.Logger
	stats counters

	ctx    context.Context // cancelled when the forward stops
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // per-connection goroutines
	done   chan struct{}
	nextID atomic.Uint64

	mu      sync.Mutex
	stopped bool
	err     error                    // why it stopped; nil after Close
	live    map[uint64]io.Closer     // entry side of active connections
	open    map[uint64]*connCounters // counters of connections being piped (connstats.go)

	ln       net.Listener // -L
	bindHost string       // -R: the address sent in tcpip-forward
	port     int          // -R: the port the gateway listens on
	accept   chan *Conn   // -R whose exit is the caller (Listener): where its connections go
}

var errForwardClosed = errors.New("forward closed")

// Forward starts spec on the connection. For -L it binds the entry socket
// with Config.Listen; for -R it asks the gateway to listen. A forward that
// cannot be set up is an error, never a silent no-op. ctx bounds the setup
// only; the forward runs until Close, or until the connection ends.
func (c *Client) Forward(ctx context.Context, spec Spec) (*Forward, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	f := &Forward{
		c:    c,
		spec: spec,
		done: make(chan struct{}),
		live: make(map[uint64]io.Closer),
	}
	f.ctx, f.cancel = context.WithCancelCause(c.ctx)
	f.log = c.log.With("forward", spec.String())
	var err error
	switch spec.Kind {
	case Local:
		err = f.startLocal(ctx)
	case Remote:
		err = f.startRemote(ctx)
	case Dynamic:
		err = f.startLocal(ctx) // the same entry socket; its connections speak SOCKS
	}
	if err != nil {
		f.cancel(err)
		f.log.Warn("forward failed", "err", err)
		f.emit(Event{Kind: EventError, Err: err})
		return nil, err
	}
	exit := spec.ExitAddr()
	if spec.Kind == Dynamic {
		exit = "SOCKS (each client names its exit)"
	}
	f.log.Info("forward up", "entry", f.entry, "exit", exit)
	f.emit(Event{Kind: EventForwardUp})
	return f, nil
}

// check rejects a Spec that ParseSpec would not have made.
func (s Spec) check() error {
	switch {
	case s.Kind != Local && s.Kind != Remote && s.Kind != Dynamic:
		return fmt.Errorf("bad forward kind %v: want Local (-L), Remote (-R) or Dynamic (-D)", s.Kind)
	case s.EntryPort < 0 || s.EntryPort > 65535:
		return fmt.Errorf("bad forward %v: entry port %d is not 0-65535", s, s.EntryPort)
	case s.Kind == Dynamic && (s.ExitHost != "" || s.ExitPort != 0):
		return fmt.Errorf("bad forward %v: a -D forward has no exit socket of its own", s)
	case s.Kind != Dynamic && (s.ExitPort < 1 || s.ExitPort > 65535 || s.ExitHost == ""):
		return fmt.Errorf("bad forward %v: want %s with ports 0-65535 (exit port 1-65535)", s, specForm)
	}
	return nil
}

func (f *Forward) Spec() Spec            { return f.spec }
func (f *Forward) Entry() string         { return f.entry } // entry socket actually bound, e.g. "127.0.0.1:34567" (for -R the gateway's allocated port)
func (f *Forward) Stats() Stats          { return f.stats.snapshot() }
func (f *Forward) Done() <-chan struct{} { return f.done }

// Err says why the forward stopped: nil while it runs and after Close.
func (f *Forward) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Close stops listening, closes the forward's connections and waits for its goroutines.
func (f *Forward) Close() error {
	f.stop(errForwardClosed)
	<-f.done
	return nil
}

// stop ends the forward: no new connections, active ones closed. The
// forward's main goroutine then finishes the shutdown.
func (f *Forward) stop(cause error) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.stopped = true
	if cause != errForwardClosed && cause != errClientClosed {
		f.err = cause
	}
	live := f.live
	f.live = nil
	f.mu.Unlock()

	f.cancel(cause)
	if f.ln != nil {
		f.ln.Close()
	}
	if f.spec.Kind == Remote {
		f.c.removeRemote(f)
	}
	for _, c := range live {
		if c != nil {
			c.Close()
		}
	}
}

// finish runs at the end of the forward's main goroutine.
func (f *Forward) finish() {
	f.wg.Wait()
	f.c.removeForward(f)
	err := f.Err()
	if err != nil {
		f.log.Warn("forward down", "entry", f.entry, "err", err)
	} else {
		f.log.Info("forward down", "entry", f.entry)
	}
	f.emit(Event{Kind: EventForwardDown, Err: err})
	close(f.done)
}

// track registers an accepted connection, unless the forward is stopping;
// the returned func unregisters it.
func (f *Forward) track(entry io.Closer) (id uint64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return 0, false
	}
	id = f.nextID.Add(1)
	f.live[id] = entry
	f.stats.connections.Add(1)
	f.stats.active.Add(1)
	f.wg.Add(1)
	f.c.wg.Add(1)
	return id, true
}

// setLive records the entry side of connection id once it exists; false if
// the forward stopped meanwhile.
func (f *Forward) setLive(id uint64, entry io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	f.live[id] = entry
	return true
}

func (f *Forward) untrack(id uint64) {
	f.mu.Lock()
	delete(f.live, id)
	f.mu.Unlock()
	f.stats.active.Add(-1)
	f.wg.Done()
	f.c.wg.Done()
}

// relay joins an entry connection to its exit and reports both ends.
func (f *Forward) relay(id uint64, remote string, entry, exit io.ReadWriteCloser) {
	f.log.Debug("connection opened", "conn", id, "remote", remote)
	f.emit(Event{Kind: EventOpened, Conn: id, Remote: remote})
	cc := f.openConn(id, remote)
	in, out := pipe(entry, exit, counter{&f.stats.bytesOut, &cc.bytesOut}, counter{&f.stats.bytesIn, &cc.bytesIn})
	f.closeConn(id)
	f.log.Info("connection closed", "conn", id, "remote", remote, "bytesIn", in, "bytesOut", out)
	f.emit(Event{Kind: EventClosed, Conn: id, Remote: remote, BytesIn: in, BytesOut: out})
}

// connFailed reports a connection whose exit could not be reached.
func (f *Forward) connFailed(id uint64, remote string, err error) {
	f.log.Warn("connection failed", "conn", id, "remote", remote, "err", err)
	f.emit(Event{Kind: EventError, Conn: id, Remote: remote, Err: err})
}

// openError explains a channel the gateway refused.
func openError(exit string, err error) error {
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) {
		return fmt.Errorf("cannot open a channel to %s through the gateway: %w", exit, err)
	}
	why := oe.Reason.String()
	if oe.Message != "" {
		why += " (" + oe.Message + ")"
	}
	hint := ""
	switch oe.Reason {
	case ssh.Prohibited:
		hint = "; the gateway forbids this forward: see AllowTcpForwarding and PermitOpen in its sshd_config"
	case ssh.ConnectionFailed:
		hint = "; the gateway could not reach the exit socket: check the exit host and port from the gateway"
	}
	return fmt.Errorf("gateway refused to open %s: %s%s", exit, why, hint)
}
