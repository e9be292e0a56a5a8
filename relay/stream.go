package relay

import (
	"context"
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
	flow      *downWindow  // nil unless the client opted in to flow control
	hint      string       // for the audit log: the setting that would change the end
}

// finish ends the stream with a close code and reason; the first call wins.
func (s *stream) finish(code wire.CloseCode, reason string) { s.finishHint(code, reason, "") }

// finishHint is finish with a hint for the operator, written to the audit
// log only: the reason goes to the client, who cannot change the relay's
// settings and may be a page that has no flags.
func (s *stream) finishHint(code wire.CloseCode, reason, hint string) {
	s.once.Do(func() {
		s.code, s.reason, s.hint = code, reason, hint
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

// begin admits a stream within the limits, or says why not: a close code,
// a reason for the client and a hint for the operator.
func (r *Relay) begin(kind string, client netip.Addr, tok *token) (*stream, wire.CloseCode, string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, wire.CloseShuttingDown, errShuttingDown.Error(), ""
	}
	if reason, hint := r.overLimitLocked(client); reason != "" {
		return nil, wire.CloseOverLimit, reason, hint
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
	return s, 0, "", ""
}

// end closes the stream's WebSocket with its reason, releases its slot and
// writes its audit record.
func (r *Relay) end(s *stream, ws *websocket.Conn) {
	s.finish(wire.CloseNormal, "")
	closeWS(ws, s.code, s.reason)
	r.release(s)
}

// release frees a finished stream's slot and writes its audit record; for
// a stream without a WebSocket of its own (a connection accepted on a
// listen control stream).
func (r *Relay) release(s *stream) {
	r.mu.Lock()
	delete(r.streams, s)
	key := clientKey(s.client)
	if r.perIP[key]--; r.perIP[key] <= 0 {
		delete(r.perIP, key)
	}
	r.mu.Unlock()
	r.releaseCredit(s)
	r.metrics.active.WithLabelValues(s.kind).Dec()
	r.audit(s)
}
