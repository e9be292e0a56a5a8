//go:build js

package client

// In the browser, tunnelkit drives the WebSocket object through syscall/js
// rather than through coder/websocket's js build (v1.8.15), which cannot
// carry a fast byte stream safely:
//   - it does not expose bufferedAmount, so a writer cannot wait for the
//     browser to drain and a fast sender grows the page's memory without
//     bound;
//   - every Write allocates a new Uint8Array that stays alive until Go's
//     garbage collector happens to run;
//   - its receive queue is unbounded, and when the close event races a
//     queued message, Read may report the close first and lose data.
// This transport copies writes through one reused Uint8Array, blocks writes
// while bufferedAmount is over highWater, bounds the receive queue and
// delivers every queued message before the close that followed it.
//
// Each send crosses into the browser and out to its network process, a
// cost per message, and SSH writes one packet (at most 32 KiB) at a time.
// So writes gather in a Go buffer and go out as one message once the
// writer yields (the page runs one goroutine at a time, so that is when it
// has produced all it can for now) or the buffer is full.
//
// A WebSocket has no read backpressure either: the page cannot tell the
// relay to slow down. So data streams ask the relay for credit flow control
// (PROTOCOL.md): it sends at most flowWindow bytes the page has not
// consumed, and the page acknowledges bytes as Read hands them out. The
// page in turn writes within the credit the relay acknowledges, and takes
// those acks as they arrive, whether or not anyone is reading.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"tunnelkit/relay/wire"
)

const (
	// highWater bounds what the browser holds unsent for one WebSocket:
	// enough to keep the link busy across a late timer when polling.
	highWater = 4 << 20
	// drainPoll is how often a blocked writer looks at bufferedAmount.
	drainPoll = time.Millisecond
	// maxQueued bounds received bytes not read yet (or two messages at
	// the relay's limit, if more). With flow control the relay never sends
	// that much; without (a relay too old for it) a reader that falls this
	// far behind loses the stream rather than the page its memory.
	maxQueued = 32 << 20
	// flowWindow is the flow control window asked of the relay: large
	// enough to keep a fast link busy, small enough to hold per stream.
	flowWindow = wire.DefaultFlowWindow
	// gcEvery: each received message is a JavaScript ArrayBuffer that Go's
	// js.Value keeps alive until Go's GC finalizes it. Copying into reused
	// buffers barely grows Go's heap, so GC would rarely run: collect
	// explicitly after this many bytes.
	gcEvery = 32 << 20
	// closeWait bounds the wait for the peer's close.
	closeWait = 5 * time.Second
	// gatherMax bounds the bytes gathered into one message (and the
	// relay's announced limit, if lower).
	gatherMax = 256 << 10
)

var (
	uint8Array    = js.Global().Get("Uint8Array")
	webSocket     = js.Global().Get("WebSocket")
	receivedSince atomic.Int64 // bytes received since the last explicit GC
)

// jsTransport is the browser's WebSocket object, driven through syscall/js.
// What it knows about the stream (queue, credit, end) is in streamState;
// this file holds the bindings only.
type jsTransport struct {
	ws                                  js.Value
	onOpen, onMessage, onClose, onError js.Func
	opened, closed                      chan struct{}

	st *streamState[js.Value] // binary payloads are ArrayBuffers
	r  jsReader               // payload of the message being read

	wmu     sync.Mutex // one write at a time
	g       gatherer   // its send is sendLocked
	staging js.Value   // reused Uint8Array for writes
	view    js.Value   // staging.subarray(0, viewLen), reused while sizes repeat
	viewLen int
	poll    *time.Timer
	pending bool  // a flushLater is on its way
	werr    error // sticky: a deferred send failed
}

// resolveRelayURL resolves relayURL against the page's location, so "" is
// the server the page came from, under the page's path prefix (as ".": a
// reverse proxy may serve tunnelkit below /some/path/), and "/relay" a path
// on the page's origin.
func resolveRelayURL(relayURL string) (*url.URL, error) {
	base, err := url.Parse(js.Global().Get("location").Get("href").String())
	if err != nil {
		return nil, fmt.Errorf("page location: %v", err)
	}
	if relayURL == "" {
		relayURL = "."
	}
	ref, err := url.Parse(relayURL)
	if err != nil {
		return nil, fmt.Errorf("relay URL %q: %v", relayURL, err)
	}
	return base.ResolveReference(ref), nil
}

func dialTransport(ctx context.Context, u string, protocols []string, _ *Options) (transport, error) {
	t := &jsTransport{
		st:     newStreamState[js.Value](maxQueued),
		opened: make(chan struct{}),
		closed: make(chan struct{}),
	}
	t.g.send = t.sendLocked
	t.g.idle = t.idle
	protos := make([]any, len(protocols))
	for i, p := range protocols {
		protos[i] = p
	}
	if err := catch(func() { t.ws = webSocket.New(u, protos) }); err != nil {
		return nil, fmt.Errorf("relay URL %s: %v", redact(u), err)
	}
	t.ws.Set("binaryType", "arraybuffer")
	t.onOpen = js.FuncOf(func(js.Value, []js.Value) any { t.handleOpen(); return nil })
	t.onMessage = js.FuncOf(func(_ js.Value, args []js.Value) any { t.handleMessage(args[0]); return nil })
	t.onClose = js.FuncOf(func(_ js.Value, args []js.Value) any { t.handleClose(args[0]); return nil })
	t.onError = js.FuncOf(func(js.Value, []js.Value) any { return nil }) // a close event follows, with what can be known
	t.ws.Set("onopen", t.onOpen)
	t.ws.Set("onmessage", t.onMessage)
	t.ws.Set("onclose", t.onClose)
	t.ws.Set("onerror", t.onError)

	select {
	case <-t.opened:
		return t, nil
	case <-t.closed:
		return nil, fmt.Errorf("could not open a WebSocket to %s (the browser does not say why: check the relay URL, that the relay runs and that it allows this page's origin; the browser console has details)", redact(u))
	case <-ctx.Done():
		t.close(wire.CloseNormal, "")
		return nil, fmt.Errorf("could not reach relay %s: %w", redact(u), ctx.Err())
	}
}

func (t *jsTransport) handleOpen() { close(t.opened) }

func (t *jsTransport) handleMessage(e js.Value) {
	data := e.Get("data")
	var m received[js.Value]
	if data.Type() == js.TypeString {
		m.text = data.String()
		m.size = len(m.text)
	} else {
		m.data, m.binary = data, true
		m.size = data.Get("byteLength").Int()
	}
	if code, reason, ok := t.st.receive(m); !ok {
		catch(func() { t.ws.Call("close", int(code), reason) })
	}
}

func (t *jsTransport) handleClose(e js.Value) {
	t.st.ended(&CloseError{Code: wire.CloseCode(e.Get("code").Int()), Reason: e.Get("reason").String()})
	close(t.closed)
	t.st.notify()
	go t.release()
}

func (t *jsTransport) release() {
	for _, k := range []string{"onopen", "onmessage", "onclose", "onerror"} {
		t.ws.Set(k, js.Null())
	}
	t.onOpen.Release()
	t.onMessage.Release()
	t.onClose.Release()
	t.onError.Release()
}

func (t *jsTransport) next(ctx context.Context) (bool, io.Reader, error) {
	for {
		m, ok, end := t.st.pop()
		switch {
		case ok && !m.binary:
			return true, strings.NewReader(m.text), nil
		case ok:
			t.r.reset(m.data, m.size)
			collectGarbage(m.size)
			return false, &t.r, nil
		case end != nil:
			return false, nil, end
		}
		select {
		case <-t.st.signal:
		case <-ctx.Done():
			t.close(wire.CloseNormal, "")
			return false, nil, ctx.Err()
		}
	}
}

// collectGarbage runs Go's GC once gcEvery bytes of JavaScript buffers have
// been handed to Go, so their js.Values are finalized and the browser can
// free them.
func collectGarbage(n int) {
	if receivedSince.Add(int64(n)) >= gcEvery {
		receivedSince.Store(0)
		runtime.GC()
	}
}

func (t *jsTransport) write(ctx context.Context, text bool, p []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.werr != nil {
		return t.werr
	}
	if text {
		if err := t.g.flush(ctx); err != nil {
			return err
		}
		if err := t.waitDrained(ctx); err != nil {
			return err
		}
		return catch(func() { t.ws.Call("send", string(p)) })
	}
	t.st.spend(len(p))
	gathered, err := t.g.write(ctx, p, t.st.gatherLimit(gatherMax))
	if gathered && !t.pending {
		t.pending = true
		go t.flushLater()
	}
	return err
}

// flushLater sends what was gathered. It runs once the writer that
// started it blocks or yields, after the writes it had ready.
func (t *jsTransport) flushLater() {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.pending = false
	if err := t.g.flush(context.Background()); err != nil && t.werr == nil {
		t.werr = err
	}
}

// idle reports that the browser has sent all it was given: the next
// write need not wait to be gathered.
func (t *jsTransport) idle() bool { return t.ws.Get("bufferedAmount").Int() == 0 }

func (t *jsTransport) sendLocked(ctx context.Context, p []byte) error {
	if err := t.waitDrained(ctx); err != nil {
		return err
	}
	return t.sendNow(p)
}

func (t *jsTransport) sendNow(p []byte) error {
	if t.staging.IsUndefined() || t.staging.Length() < len(p) {
		size := 64 << 10
		for size < len(p) {
			size *= 2
		}
		t.staging = uint8Array.New(min(size, max(len(p), wire.DefaultMaxMessage)))
		t.view, t.viewLen = js.Undefined(), -1
	}
	js.CopyBytesToJS(t.staging, p)
	msg := t.staging
	if len(p) != t.staging.Length() {
		if len(p) != t.viewLen {
			t.view, t.viewLen = t.staging.Call("subarray", 0, len(p)), len(p)
		}
		msg = t.view
	}
	// send copies the bytes, so the staging array is free again on return.
	return catch(func() { t.ws.Call("send", msg) })
}

// waitDrained blocks while the browser holds more than highWater unsent.
func (t *jsTransport) waitDrained(ctx context.Context) error {
	for {
		if t.ws.Get("readyState").Int() != 1 { // OPEN
			return t.errClosed()
		}
		if t.ws.Get("bufferedAmount").Int() <= highWater {
			return nil
		}
		if t.poll == nil {
			t.poll = time.NewTimer(drainPoll)
		} else {
			t.poll.Reset(drainPoll)
		}
		select {
		case <-t.poll.C:
		case <-t.closed:
			return t.errClosed()
		case <-ctx.Done():
			t.poll.Stop()
			t.close(wire.CloseNormal, "")
			return ctx.Err()
		}
	}
}

func (t *jsTransport) errClosed() error { return t.st.err() }

func (t *jsTransport) close(code wire.CloseCode, reason string) error {
	// Bytes written before Close still go out, unless a writer is stuck
	// waiting for the browser to drain: then they are lost with its own.
	if t.wmu.TryLock() {
		if len(t.g.pend) > 0 && t.ws.Get("readyState").Int() == 1 {
			t.sendNow(t.g.pend)
		}
		t.g.drop()
		t.wmu.Unlock()
	}
	t.st.ended(net.ErrClosed)
	if err := catch(func() { t.ws.Call("close", int(code), reason) }); err != nil {
		catch(func() { t.ws.Call("close") })
	}
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case <-t.closed:
	case <-timer.C:
	}
	return nil
}

func (t *jsTransport) setRelayMax(n int64) { t.st.setRelayMax(n, maxQueued) }

func (t *jsTransport) setFlow(window, credit int64) { t.st.setFlow(window, credit) }

// writable waits for credit to send, with flow control.
func (t *jsTransport) writable(ctx context.Context) (int, error) {
	for {
		if n, err := t.st.writable(); n > 0 || err != nil {
			return n, err
		}
		select {
		case <-t.st.credits:
		case <-t.closed:
		case <-ctx.Done():
			t.close(wire.CloseNormal, "")
			return 0, ctx.Err()
		}
	}
}

// consumed acknowledges consumed bytes when streamState says so. The ack
// is sent at once, not behind a writer waiting for bufferedAmount to
// drain: that writer may be waiting for this very reader.
func (t *jsTransport) consumed(n int) {
	if ack := t.st.consumed(n); ack != nil {
		s := string(ack)
		catch(func() { t.ws.Call("send", s) }) // a failure shows as the close that follows
	}
}

func (t *jsTransport) subprotocol() string { return t.ws.Get("protocol").String() }

// jsReader reads one received message. When the caller's buffer holds the
// whole message it is copied there directly; otherwise once into a reused
// Go buffer.
type jsReader struct {
	u8        js.Value
	size, off int
	buf       []byte
	copied    bool
}

func (r *jsReader) reset(data js.Value, size int) {
	r.u8 = uint8Array.New(data)
	r.size, r.off, r.copied = size, 0, false
}

func (r *jsReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		r.u8 = js.Undefined()
		return 0, io.EOF
	}
	if !r.copied && len(p) >= r.size {
		js.CopyBytesToGo(p, r.u8)
		r.off = r.size
		return r.size, nil
	}
	if !r.copied {
		if cap(r.buf) < r.size {
			r.buf = make([]byte, r.size)
		}
		r.buf = r.buf[:r.size]
		js.CopyBytesToGo(r.buf, r.u8)
		r.copied = true
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// catch turns a JavaScript exception thrown by f into an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			jsErr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = errors.New(jsErr.Get("message").String())
		}
	}()
	f()
	return nil
}
