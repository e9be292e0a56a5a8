package relay

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"tunnelkit/relay/wire"
)

// Credit flow control (PROTOCOL.md, "Flow control"). A browser cannot
// pause a WebSocket, so a client that opts in with ?flow=WINDOW bounds what
// the relay sends it: at most WINDOW bytes it has not acknowledged yet.
// While out of credit the relay does not read the target, so TCP slows the
// target down instead of the page buffering without bound.
// The window asked for is clamped to wire.MinFlowWindow..wire.MaxFlowWindow.

// downWindow is what the relay may still send to the client on a stream
// with flow control: the window less what the client has not acknowledged.
type downWindow struct {
	window int64
	credit int64                   // what the client may send unacknowledged (reserved from the budget)
	avail  atomic.Int64            // window minus bytes sent and not acknowledged
	wake   chan struct{}           // cap 1: an ack arrived
	up     atomic.Pointer[upQueue] // the stream's queue to the target, once bridged
}

func newDownWindow(window int64) *downWindow {
	c := &downWindow{window: window, wake: make(chan struct{}, 1)}
	c.avail.Store(window)
	return c
}

// parseFlow reads the flow query parameter: absent is 0 (flow control
// off); a window out of bounds is clamped into them.
func parseFlow(req *http.Request) (int64, error) {
	v := req.URL.Query().Get("flow")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad flow window %q: want a byte count, e.g. flow=%d", truncate(v, 32), wire.DefaultFlowWindow)
	}
	return min(max(n, wire.MinFlowWindow), wire.MaxFlowWindow), nil
}

// wait blocks until some credit is available and returns it; false when ctx
// ends first.
func (c *downWindow) wait(ctx context.Context) (int64, bool) {
	for {
		if n := c.avail.Load(); n > 0 {
			return n, true
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// spend takes n bytes of credit, before they are sent: an ack for them may
// come back at once.
func (c *downWindow) spend(n int) { c.avail.Add(-int64(n)) }

// grant returns n acknowledged bytes. Acknowledging more than was sent is a
// protocol error.
func (c *downWindow) grant(n int64) error {
	if n <= 0 {
		return fmt.Errorf("ack of %d bytes: want a positive count", n)
	}
	for {
		a := c.avail.Load()
		if n > c.window-a {
			return fmt.Errorf("ack of %d bytes, but only %d sent and not acknowledged", n, c.window-a)
		}
		if c.avail.CompareAndSwap(a, a+n) {
			break
		}
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// takeFlow turns flow control on for s when the client asked for it; false
// when it refused the stream for a malformed request.
func (r *Relay) takeFlow(s *stream, req *http.Request) bool {
	window, err := parseFlow(req)
	if err != nil {
		r.refuse(s, "bad_request", wire.CloseBadRequest, err.Error())
		return false
	}
	if window > 0 {
		s.flow = newDownWindow(window)
		return r.reserveCredit(s)
	}
	return true
}

// flowWindow and upCredit are what the open message announces: 0 (left
// out) without flow control.
func (s *stream) flowWindow() int64 {
	if s.flow == nil {
		return 0
	}
	return s.flow.window
}

func (s *stream) upCredit() int64 {
	if s.flow == nil {
		return 0
	}
	return s.flow.credit
}
