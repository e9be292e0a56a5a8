//go:build js && wasm

package main

import (
	"errors"
	"net"
	"sync"
)

// streams are the relay WebSockets the page has open. When the page goes
// away they are all closed at once (see main): Chromium keeps a page that
// was navigated away from alive in its back/forward cache, WebSockets
// included, and its relay ports and gateway forwards would stay up with it.
var streams = struct {
	sync.Mutex
	open map[any]func() error
}{open: map[any]func() error{}}

func track(key any, close func() error) {
	streams.Lock()
	streams.open[key] = close
	streams.Unlock()
}

func untrack(key any) {
	streams.Lock()
	delete(streams.open, key)
	streams.Unlock()
}

// closeStreams closes every open relay stream, each on its own goroutine:
// closing a WebSocket is synchronous, waiting for the relay's answer is not,
// and the runtime runs each goroutine up to its first wait before it hands
// control back to the browser.
func closeStreams() {
	streams.Lock()
	defer streams.Unlock()
	for key, close := range streams.open {
		delete(streams.open, key)
		go close()
	}
}

// stream is a relay connection known to closeStreams.
type stream struct{ net.Conn }

func newStream(c net.Conn) net.Conn {
	s := &stream{c}
	track(s, c.Close)
	return s
}

func (s *stream) Close() error {
	untrack(s)
	return s.Conn.Close()
}

// CloseWrite passes half-close through to the relay stream.
func (s *stream) CloseWrite() error {
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("half-close not supported by this stream")
}

// listener is a relay listener known to closeStreams; so are the
// connections it accepts.
type listener struct{ net.Listener }

func newListener(l net.Listener) net.Listener {
	ln := &listener{l}
	track(ln, l.Close)
	return ln
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newStream(c), nil
}

func (l *listener) Close() error {
	untrack(l)
	return l.Listener.Close()
}
