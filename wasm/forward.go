//go:build js && wasm

package main

import (
	"errors"
	"sync"
	"syscall/js"

	"tunnelkit/tunnel"
)

// forwardHandle is the Go side of the object s.forward resolves to. Once the
// forward has stopped it keeps only its final counters.
type forwardHandle struct {
	mu    sync.Mutex
	f     *tunnel.Forward // nil once stopped (or, reconnecting, until restored)
	final tunnel.Stats

	// For a reconnecting session (reconnect.go):
	spec       tunnel.Spec
	base       tunnel.Stats         // counters of the forwards this one replaced
	next       chan *tunnel.Forward // its successor on a new connection
	userClosed bool
	lastErr    error // why it could not be restored
}

func (s *session) forward(text string) (any, error) {
	spec, err := tunnel.ParseForward(text)
	if err != nil {
		return nil, wrap("forward "+text, err)
	}
	f, err := s.currentClient().Forward(s.ctx, spec)
	if err != nil {
		return nil, wrap("forward "+spec.String(), err)
	}
	h := &forwardHandle{f: f, spec: spec, next: make(chan *tunnel.Forward, 1)}
	id := nextID()
	registry.Lock()
	registry.forwards[id] = h
	registry.Unlock()
	if s.opts.re.enabled {
		s.trackForward(h)
		go h.watchReconnecting(s)
	} else {
		go h.watch(s)
	}

	o := s.opts
	obj := jsObject.New()
	obj.Set("kind", string(rune(spec.Kind)))
	obj.Set("spec", spec.String())
	obj.Set("entry", f.Entry())
	obj.Set("command", spec.CommandVia(o.jumpArg(), o.user, o.host, o.port))
	obj.Set("stats", bind(forwardStatsFunc, id))
	obj.Set("conns", bind(forwardConnsFunc, id))
	obj.Set("close", bind(forwardCloseFunc, id))
	return obj, nil
}

// watch keeps the final counters when the forward stops, on its own or with its session.
func (h *forwardHandle) watch(s *session) {
	select {
	case <-h.f.Done():
	case <-s.ctx.Done():
		h.f.Close()
	}
	h.mu.Lock()
	h.final, h.f = h.f.Stats(), nil
	h.mu.Unlock()
}

func (h *forwardHandle) stats() tunnel.Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f != nil {
		st := h.f.Stats()
		st.Connections += h.base.Connections
		st.BytesIn += h.base.BytesIn
		st.BytesOut += h.base.BytesOut
		return st
	}
	if h.final == (tunnel.Stats{}) {
		return h.base // reconnecting
	}
	return h.final
}

func lookupForward(id js.Value) *forwardHandle {
	if id.Type() != js.TypeNumber {
		return nil
	}
	registry.Lock()
	defer registry.Unlock()
	return registry.forwards[id.Int()]
}

// forwardStats is f.stats(): synchronous, it only reads counters.
func forwardStats(_ js.Value, args []js.Value) any {
	h := lookupForward(arg(args, 0))
	if h == nil {
		panic(errors.New("stats: unknown forward"))
	}
	st := h.stats()
	o := jsObject.New()
	o.Set("connections", float64(st.Connections))
	o.Set("active", float64(st.Active))
	o.Set("bytesIn", float64(st.BytesIn))
	o.Set("bytesOut", float64(st.BytesOut))
	return o
}

// forwardConnsFunc is f.conns(), bound per forward like the methods in main.go.
var forwardConnsFunc = js.FuncOf(forwardConns)

// forwardConns is f.conns(): the open connections with their own counters,
// oldest first; none while a reconnecting forward waits to be restored or
// once it has stopped. Synchronous, it only reads counters.
func forwardConns(_ js.Value, args []js.Value) any {
	h := lookupForward(arg(args, 0))
	if h == nil {
		panic(errors.New("conns: unknown forward"))
	}
	h.mu.Lock()
	f := h.f
	h.mu.Unlock()
	var conns []tunnel.ConnStats
	if f != nil {
		conns = f.Conns()
	}
	list := jsGlobal.Get("Array").New(len(conns))
	for i, c := range conns {
		o := jsObject.New()
		o.Set("id", float64(c.ID))
		o.Set("remote", c.Remote)
		o.Set("opened", float64(c.Opened.UnixMilli()))
		o.Set("bytesIn", float64(c.BytesIn))
		o.Set("bytesOut", float64(c.BytesOut))
		list.SetIndex(i, o)
	}
	return list
}

// forwardClose is f.close(): it resolves once the entry socket is released
// and the forward's connections are closed.
func forwardClose(_ js.Value, args []js.Value) any {
	h := lookupForward(arg(args, 0))
	if h == nil {
		return rejected(errors.New("close: unknown forward"))
	}
	return async(func() (any, error) {
		h.mu.Lock()
		f := h.f
		h.userClosed = true
		h.mu.Unlock()
		if f != nil {
			f.Close()
			<-f.Done()
		}
		return js.Undefined(), nil
	})
}
