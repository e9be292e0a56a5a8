//go:build js && wasm

package main

import (
	"errors"
	"net"
	"runtime"
	"sync/atomic"
)

// Every WebSocket message crossing syscall/js leaves a JavaScript object that
// lives until Go's garbage collector finalizes the js.Value holding it. Go's
// own heap barely grows meanwhile, so its GC rarely runs and the page's JS
// heap grows by about the bytes moved. A collection every gcEvery bytes keeps
// it bounded at no measurable cost in throughput.
const gcEvery = 32 << 20

var (
	moved  atomic.Int64
	gcKick = make(chan struct{}, 1)
)

// gcLoop collects after every gcEvery bytes moved through relay streams.
func gcLoop() {
	for range gcKick {
		runtime.GC()
	}
}

func account(n int) {
	if n <= 0 {
		return
	}
	if moved.Add(int64(n)) < gcEvery {
		return
	}
	moved.Add(-gcEvery)
	select {
	case gcKick <- struct{}{}:
	default: // a collection is already pending
	}
}

// countedConn counts the bytes of a relay stream for gcLoop.
type countedConn struct{ net.Conn }

func (c countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	account(n)
	return n, err
}

func (c countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	account(n)
	return n, err
}

// CloseWrite passes half-close through to the relay stream.
func (c countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("half-close not supported by this stream")
}

// countedListener counts the bytes of every connection it accepts.
type countedListener struct{ net.Listener }

func (l countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countedConn{c}, nil
}
