package relay

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// stream is one WebSocket stream: a dial, a listen control stream, or an
// accepted connection. Its context ends when it is finished, for any reason.
type stream struct {
	id        uint64
	kind      string // "dial", "listen", "accept"
	client    netip.Addr
	token     *token
	target    string // as asked for
	addr      string // dialed, bound, or the accepted peer
	start     time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	once      sync.Once
	code      wire.CloseCode
	reason    string
	up, down  atomic.Int64 // bytes client->target, target->client
	last      atomic.Int64 // unix nanoseconds of the last byte either way
	refusal   string       // metric label when refused
	dataBound bool         // carries data (dial, accept): drained on shutdown
	flow      *credit      // nil unless the client opted in to flow control
}

// finish ends the stream with a close code and reason; the first call wins.
func (s *stream) finish(code wire.CloseCode, reason string) {
	s.once.Do(func() {
		s.code, s.reason = code, reason
		s.cancel()
	})
}

func (s *stream) touch() { s.last.Store(time.Now().UnixNano()) }

func (s *stream) tokenName() string {
	if s.token == nil {
		return ""
	}
	return s.token.name
}

// enter counts an HTTP handler the relay must wait for; false once the
// relay is shutting down.
func (r *Relay) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Add(1)
	return true
}

// begin admits a stream within the limits, or says which limit it hit.
func (r *Relay) begin(kind string, client netip.Addr, tok *token) (*stream, wire.CloseCode, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closing:
		return nil, wire.CloseShuttingDown, errShuttingDown.Error()
	case len(r.streams) >= r.cfg.MaxStreams:
		return nil, wire.CloseOverLimit, fmt.Sprintf("relay at its limit of %d streams (see --max-streams)", r.cfg.MaxStreams)
	case r.perIP[clientKey(client)] >= r.cfg.MaxStreamsPerClient:
		return nil, wire.CloseOverLimit, fmt.Sprintf("too many streams from %s: limit %d (see --max-streams-per-client)", clientLabel(client), r.cfg.MaxStreamsPerClient)
	}
	r.nextID++
	s := &stream{
		id:        r.nextID,
		kind:      kind,
		client:    client,
		token:     tok,
		start:     time.Now(),
		dataBound: kind != "listen",
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.touch()
	r.streams[s] = struct{}{}
	r.perIP[clientKey(client)]++
	r.metrics.active.WithLabelValues(kind).Inc()
	r.metrics.total.WithLabelValues(kind).Inc()
	return s, 0, ""
}

// end closes the stream's WebSocket with its reason, releases its slot and
// writes its audit record.
func (r *Relay) end(s *stream, ws *websocket.Conn) {
	s.finish(wire.CloseNormal, "")
	closeWS(ws, s.code, s.reason)
	r.mu.Lock()
	delete(r.streams, s)
	key := clientKey(s.client)
	if r.perIP[key]--; r.perIP[key] <= 0 {
		delete(r.perIP, key)
	}
	r.mu.Unlock()
	r.metrics.active.WithLabelValues(s.kind).Dec()
	r.audit(s)
}

// clientKey is what per-client limits count: the address, or for IPv6 its
// /64, since one IPv6 client usually holds a whole /64.
func clientKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func clientLabel(a netip.Addr) string {
	if a.Is6() {
		return clientKey(a).String()
	}
	return a.String()
}

// closeWS sends a close frame with a reason cut to the 123 bytes a close
// frame can carry; it waits (bounded by the websocket package) for the peer.
func closeWS(ws *websocket.Conn, code wire.CloseCode, reason string) {
	_ = ws.Close(websocket.StatusCode(code), truncate(reason, 123))
}

// refuseBefore closes a WebSocket refused before it became a stream.
func (r *Relay) refuseBefore(ws *websocket.Conn, req *http.Request, client netip.Addr, metric string, code wire.CloseCode, reason string) {
	r.metrics.refusals.WithLabelValues(metric).Inc()
	r.log.Warn("refused", "reason", metric, "from", client.String(), "path", req.URL.Path, "close_code", int(code), "close_reason", reason)
	closeWS(ws, code, reason)
}

// refuse finishes a stream that policy or the target turned down.
func (r *Relay) refuse(s *stream, metric string, code wire.CloseCode, reason string) {
	s.refusal = metric
	r.metrics.refusals.WithLabelValues(metric).Inc()
	s.finish(code, reason)
}
