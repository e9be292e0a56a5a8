//go:build js && wasm

package main

import (
	"sync/atomic"
	"syscall/js"

	"tunnelkit/tunnel"
)

// eventQueue hands tunnel events to the page's onEvent on a goroutine of its
// own: tunnel calls OnEvent synchronously and must not wait on JavaScript,
// and a handler that calls back into Go (f.stats()) must not find the
// caller halfway through a tunnel operation.
type eventQueue struct {
	fn      js.Value
	ch      chan tunnel.Event
	done    chan struct{}
	dropped atomic.Int64
}

// eventBacklog bounds the events waiting for the page; beyond it they are
// dropped (counters in stats() stay exact).
const eventBacklog = 4096

func newEventQueue(fn js.Value) *eventQueue {
	q := &eventQueue{fn: fn, ch: make(chan tunnel.Event, eventBacklog), done: make(chan struct{})}
	go q.run()
	return q
}

// push is tunnel.Config.OnEvent: it never blocks.
func (q *eventQueue) push(ev tunnel.Event) {
	select {
	case q.ch <- ev:
	default:
		q.dropped.Add(1)
	}
}

// stop delivers what is queued, then ends the delivery goroutine.
func (q *eventQueue) stop() { close(q.done) }

func (q *eventQueue) run() {
	for {
		select {
		case ev := <-q.ch:
			q.deliver(ev)
		case <-q.done:
			for {
				select {
				case ev := <-q.ch:
					q.deliver(ev)
				default:
					return
				}
			}
		}
	}
}

func (q *eventQueue) deliver(ev tunnel.Event) {
	o := jsObject.New()
	o.Set("kind", string(ev.Kind))
	o.Set("time", float64(ev.Time.UnixMilli()))
	if ev.Forward.Kind != 0 {
		o.Set("forward", ev.Forward.String())
	}
	o.Set("entry", ev.Entry)
	o.Set("conn", float64(ev.Conn))
	o.Set("remote", ev.Remote)
	o.Set("bytesIn", float64(ev.BytesIn))
	o.Set("bytesOut", float64(ev.BytesOut))
	if ev.Err != nil {
		o.Set("error", ev.Err.Error())
	}
	if n := q.dropped.Swap(0); n > 0 {
		o.Set("dropped", float64(n)) // events lost before this one
	}
	if _, err := call(q.fn, o); err != nil {
		jsGlobal.Get("console").Call("error", "tunnelkit onEvent threw: "+err.Error())
	}
}
