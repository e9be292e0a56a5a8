package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"

	"golang.org/x/crypto/ssh"
)

// Listener is a -R forward whose exit is the caller: the gateway listens on
// the entry socket (tcpip-forward) and each connection it accepts there
// comes out of Accept as a *Conn. Keep calling Accept: a connection nobody
// takes waits, holding its channel, until the Listener closes.
type Listener struct {
	f     *Forward
	conns chan *Conn
}

// ListenRemote asks the gateway to listen on entryHost:entryPort with
// OpenSSH's -R address rules ("" sends "localhost", "*" all interfaces;
// port 0 lets the gateway pick, see Port). ctx bounds the setup only.
func (c *Client) ListenRemote(ctx context.Context, entryHost string, entryPort int) (*Listener, error) {
	spec := Spec{Kind: Remote, EntryHost: entryHost, EntryPort: entryPort, ExitHost: "page", ExitPort: 0}
	l := &Listener{conns: make(chan *Conn)}
	f := &Forward{c: c, spec: spec, done: make(chan struct{}), live: map[uint64]io.Closer{}, accept: l.conns}
	f.ctx, f.cancel = context.WithCancelCause(c.ctx)
	f.log = c.log.With("forward", spec.String())
	if entryPort < 0 || entryPort > 65535 {
		return nil, fmt.Errorf("bad entry port %d: want 0-65535 (0: the gateway picks)", entryPort)
	}
	if err := f.startRemote(ctx); err != nil {
		f.cancel(err)
		f.emit(Event{Kind: EventError, Err: err})
		return nil, err
	}
	f.log.Info("listening", "entry", f.entry)
	f.emit(Event{Kind: EventForwardUp})
	l.f = f
	return l, nil
}

// Accept waits for the next connection to the entry socket.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.f.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close withdraws the gateway's listener and closes its connections.
func (l *Listener) Close() error { return l.f.Close() }

// Addr is the entry socket on the gateway, e.g. "localhost:8080".
func (l *Listener) Addr() net.Addr { return addr(l.f.entry) }

// Port is the gateway's port: the allocated one when 0 was asked for.
func (l *Listener) Port() int { return l.f.port }

// Forward is the forward behind the listener, for its stats and Done.
func (l *Listener) Forward() *Forward { return l.f }

// serveAccepted accepts one channel of a Listener's forward and hands it to
// Accept; it returns when the connection is closed.
func (f *Forward) serveAccepted(id uint64, nc ssh.NewChannel, remote string) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		f.connFailed(id, remote, err)
		return
	}
	f.c.wg.Add(1)
	go func() {
		defer f.c.wg.Done()
		ssh.DiscardRequests(reqs) // ends when the channel closes
	}()
	closed := make(chan struct{})
	conn := newConn(ch, addr(f.entry), addr(remote), func() { close(closed) })
	conn.fwdRead, conn.fwdWritten = &f.stats.bytesOut, &f.stats.bytesIn
	if !f.setLive(id, conn) {
		conn.Close()
		return
	}
	f.emit(Event{Kind: EventOpened, Conn: id, Remote: remote})
	select {
	case f.accept <- conn:
		<-closed // f.stop closes the live connections
	case <-f.ctx.Done():
		conn.Close()
	}
	f.emit(Event{Kind: EventClosed, Conn: id, Remote: remote, BytesIn: conn.written.Load(), BytesOut: conn.read.Load()})
}
