//go:build js && wasm

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall/js"

	"tunnelkit/tunnel"
)

// The page's TCP sockets, shaped like the WICG Direct Sockets API:
// s.openTCP(host, port) is a TCPSocket whose exit the gateway dials
// (direct-tcpip), s.listenTCP("-R [bind:]port") a TCPServerSocket on the
// gateway (tcpip-forward) whose connections come to the page.

var (
	sessionOpenTCPFunc   = js.FuncOf(sessionOpenTCP)
	sessionListenTCPFunc = js.FuncOf(sessionListenTCP)
	socketCloseFunc      = js.FuncOf(socketClose)
)

// socket is the Go side of one TCPSocket or TCPServerSocket object.
type socket struct {
	mu      sync.Mutex
	closing bool
	close   func() // set once open: closes the connection or listener
	settle  func(err error)
}

var sockets = struct {
	sync.Mutex
	byID map[int]*socket
}{byID: map[int]*socket{}}

// newSocketObject returns {opened, closed, close()} and runs open on its
// own goroutine: opened resolves with open's result, closed settles when
// the socket is done (resolved after close(), rejected on failure).
func newSocketObject(open func(sock *socket) (js.Value, error)) js.Value {
	obj := jsObject.New()
	opened, resolveOpened, rejectOpened := deferred()
	closed, resolveClosed, rejectClosed := deferred()
	opened.Call("catch", noopFunc) // nobody may await them
	closed.Call("catch", noopFunc)
	id := nextID()
	sock := &socket{}
	var once sync.Once
	sock.settle = func(err error) {
		once.Do(func() {
			sockets.Lock()
			delete(sockets.byID, id)
			sockets.Unlock()
			if err != nil {
				rejectClosed(err)
			} else {
				resolveClosed(js.Undefined())
			}
		})
	}
	sockets.Lock()
	sockets.byID[id] = sock
	sockets.Unlock()
	obj.Set("opened", opened)
	obj.Set("closed", closed)
	obj.Set("close", bind(socketCloseFunc, id))
	go func() {
		v, err := protect(func() (any, error) { return open(sock) })
		if err != nil {
			rejectOpened(err)
			sock.settle(err)
			return
		}
		resolveOpened(v)
	}()
	return obj
}

// opened records how to close the socket once it is open; false if
// close() was called meanwhile (the caller then closes it).
func (s *socket) opened(close func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.close = close
	return true
}

// socketClose is sock.close(): it resolves once the socket is closed.
func socketClose(_ js.Value, args []js.Value) any {
	id := arg(args, 0)
	sockets.Lock()
	s := sockets.byID[id.Int()]
	sockets.Unlock()
	if s == nil {
		return jsPromise.Call("resolve")
	}
	s.mu.Lock()
	s.closing = true
	closeFn := s.close
	s.mu.Unlock()
	if closeFn != nil {
		closeFn()
	}
	s.settle(nil)
	return jsPromise.Call("resolve")
}

var errSocketClosed = errors.New("socket closed before it opened")

// sessionOpenTCP is s.openTCP(host, port): it returns the socket at once.
func sessionOpenTCP(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	host, port := arg(args, 1), arg(args, 2)
	return newSocketObject(func(sock *socket) (js.Value, error) {
		switch {
		case s == nil:
			return js.Value{}, errors.New("openTCP: " + errSessionClosed.Error() + " (connect again)")
		case host.Type() != js.TypeString || port.Type() != js.TypeNumber:
			return js.Value{}, errors.New(`openTCP: expected (host, port), e.g. openTCP("10.0.0.5", 6379)`)
		}
		conn, err := s.client.DialExit(s.ctx, host.String(), port.Int())
		if err != nil {
			return js.Value{}, err
		}
		return connStreams(s.ctx, conn, sock)
	})
}

// connStreams opens sock over conn: {readable, writable, remoteAddress,
// remotePort}. The socket is closed once both streams are done.
func connStreams(ctx context.Context, conn *tunnel.Conn, sock *socket) (js.Value, error) {
	if !sock.opened(func() { conn.Close() }) {
		conn.Close()
		return js.Value{}, errSocketClosed
	}
	var mu sync.Mutex
	left, failure := 2, error(nil)
	done := make(chan struct{})
	ended := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && err != errCanceled && failure == nil {
			failure = err
		}
		if left--; left == 0 {
			close(done)
			conn.Close()
			sock.settle(failure)
		}
	}
	go func() { // the session's end ends its sockets
		select {
		case <-done:
		case <-ctx.Done():
			conn.Close()
			sock.settle(context.Cause(ctx))
		}
	}()
	o := jsObject.New()
	o.Set("readable", newReadable(conn, ended))
	o.Set("writable", newWritable(conn, conn.CloseWrite, func(error) { conn.Close() }, ended))
	host, port := splitHostPort(conn.RemoteAddr().String())
	o.Set("remoteAddress", host)
	o.Set("remotePort", port)
	lhost, lport := splitHostPort(conn.LocalAddr().String())
	o.Set("localAddress", lhost)
	o.Set("localPort", lport)
	return o, nil
}

func splitHostPort(a string) (string, int) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// sessionListenTCP is s.listenTCP("-R [bind:]port"): it returns the server
// socket at once; its opened resolves with {readable, localAddress,
// localPort}, readable being a stream of TCPSocket-like connections.
func sessionListenTCP(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	spec := arg(args, 1)
	return newSocketObject(func(sock *socket) (js.Value, error) {
		l, err := s.listen("listenTCP", spec)
		if err != nil {
			return js.Value{}, err
		}
		if !sock.opened(func() { l.Close() }) {
			l.Close()
			return js.Value{}, errSocketClosed
		}
		go func() {
			<-l.Forward().Done()
			sock.settle(l.Forward().Err())
		}()
		incoming := newObjectReadable(func() (js.Value, error) {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return js.Value{}, io.EOF // closed: the stream of connections ends
			}
			if err != nil {
				return js.Value{}, err
			}
			conn := c.(*tunnel.Conn)
			return newSocketObject(func(cs *socket) (js.Value, error) { return connStreams(s.ctx, conn, cs) }), nil
		}, nil)
		o := jsObject.New()
		o.Set("readable", incoming)
		host, _ := splitHostPort(l.Addr().String())
		o.Set("localAddress", host)
		o.Set("localPort", l.Port())
		return o, nil
	})
}

// listen starts a -R whose exit is the page, for listenTCP and share.
func (s *session) listen(what string, spec js.Value) (*tunnel.Listener, error) {
	switch {
	case s == nil:
		return nil, errors.New(what + ": " + errSessionClosed.Error() + " (connect again)")
	case spec.Type() != js.TypeString:
		return nil, errors.New(what + `: expected an entry socket on the gateway such as "-R 8080" or "-R 0.0.0.0:0"`)
	}
	host, port, err := tunnel.ParseRemoteEntry(spec.String())
	if err != nil {
		return nil, wrap(what, err)
	}
	l, err := s.client.ListenRemote(s.ctx, host, port)
	if err != nil {
		return nil, wrap(what+" "+spec.String(), err)
	}
	return l, nil
}

// setRefusal adds what the gateway said to a refused channel's Error:
// error.reason ("connect failed", ...) and error.reasonCode (RFC 4254).
func setRefusal(e js.Value, err error) {
	var re *tunnel.RefusedError
	if errors.As(err, &re) {
		e.Set("reason", re.Reason.String())
		e.Set("reasonCode", int(re.Reason))
		e.Set("gatewayMessage", re.Message)
	}
}
