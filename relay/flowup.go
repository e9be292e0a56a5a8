package relay

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// The ring holds at most the stream's credit (wire.UpCredit, or less when
// the relay's budget is short): what a client with flow control may send
// before the relay acknowledges it, and so what the relay holds per
// stream at most while the target is slower than the client.

var upRingPool = sync.Pool{New: func() any { b := make([]byte, wire.UpCredit); return &b }}

// upQueue holds client bytes the target has not taken yet. With flow
// control the relay must keep reading the WebSocket while the target is
// slow, because the client's acks arrive on it behind the client's data:
// a relay that stopped reading until the target reads could wait for an
// ack forever while the target waits for the relay. The client's credit
// bounds the queue instead.
type upQueue struct {
	credit  int
	mu      sync.Mutex
	ring    *[]byte // nil while empty: a quiet stream holds no buffer
	r, n    int     // start and length of the queued bytes in ring
	unacked int     // received and not acknowledged
	taken   int64   // written to the target, in all
	written int     // written to the target since the last ack
	fin     bool    // the client half-closed: after the queued bytes
	ended   bool    // the client closed: write the queued bytes, no FIN
	more    chan struct{}
	ack     []byte
}

func newUpQueue(credit int64) *upQueue {
	return &upQueue{credit: int(credit), more: make(chan struct{}, 1)}
}

// takeRing and putRing pool full-size rings; smaller ones (a short
// budget) are made and dropped.
func (q *upQueue) takeRing() *[]byte {
	if q.credit == wire.UpCredit {
		return upRingPool.Get().(*[]byte)
	}
	b := make([]byte, q.credit)
	return &b
}

func (q *upQueue) putRing(b *[]byte) {
	if len(*b) == wire.UpCredit {
		upRingPool.Put(b)
	}
}

// put queues p; sending more than its credit is a protocol error.
func (q *upQueue) put(p []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unacked+len(p) > q.credit {
		return fmt.Errorf("client sent %d bytes unacknowledged, over its %d credit", q.unacked+len(p), q.credit)
	}
	if q.ring == nil {
		q.ring, q.r = q.takeRing(), 0
	}
	buf := *q.ring
	w := (q.r + q.n) % len(buf)
	c := copy(buf[w:], p)
	copy(buf, p[c:])
	q.n += len(p)
	q.unacked += len(p)
	q.signal()
	return nil
}

// room is what the client may still send unacknowledged.
func (q *upQueue) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return wire.UpCredit - q.unacked
}

// closeWrite queues the client's half-close behind its data.
func (q *upQueue) closeWrite() {
	q.mu.Lock()
	q.fin = true
	q.signal()
	q.mu.Unlock()
}

// end stops the writer once the queued bytes are written: the client
// closed, so the stream ends rather than half-closes.
func (q *upQueue) end() {
	q.mu.Lock()
	q.fin, q.ended = true, true
	q.signal()
	q.mu.Unlock()
}

// endsInFIN reports whether the queue ends with the client's half-close,
// to pass on as the target's FIN, rather than with the client's close.
func (q *upQueue) endsInFIN() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.ended
}

// progress is how many bytes wait for the target and how many it took.
func (q *upQueue) progress() (queued int, taken int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.taken
}

// queued is how many bytes wait for the target.
func (q *upQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *upQueue) signal() {
	select {
	case q.more <- struct{}{}:
	default:
	}
}

// next waits for queued bytes and returns the longest contiguous run; nil
// at the client's half-close, false when ctx ends first. put never
// touches the run returned: it writes after the queued bytes only.
func (q *upQueue) next(ctx context.Context) ([]byte, bool) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			buf := *q.ring
			run := buf[q.r : q.r+min(q.n, len(buf)-q.r)]
			q.mu.Unlock()
			return run, true
		}
		fin := q.fin
		q.mu.Unlock()
		if fin {
			return nil, true
		}
		select {
		case <-q.more:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// dropWritten drops n bytes written to the target and returns the ack to
// send for them once a quarter of the credit was written since the last
// ack; nil until then.
func (q *upQueue) dropWritten(n int) (ack []byte) {
	if acked := q.drop(n); acked > 0 {
		q.ack = wire.AppendAck(q.ack[:0], int64(acked))
		return q.ack
	}
	return nil
}

// drop drops n bytes written to the target and returns how many to
// acknowledge now: 0 until a quarter of the credit was written since the
// last ack.
func (q *upQueue) drop(n int) (acked int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.r = (q.r + n) % len(*q.ring)
	q.n -= n
	q.taken += int64(n)
	if q.n == 0 {
		q.putRing(q.ring)
		q.ring = nil
	}
	if q.written += n; q.written < q.credit/4 {
		return 0
	}
	acked = q.written
	q.unacked -= q.written
	q.written = 0
	return acked
}

// writeUp writes queued client bytes to the target and acknowledges them
// to the client; the client's half-close becomes the target's FIN.
func (r *Relay) writeUp(s *stream, ws *websocket.Conn, conn net.Conn, q *upQueue, closeTargetWrite func()) {
	acking := true
	for {
		run, ok := q.next(s.ctx)
		if !ok {
			return
		}
		if run == nil {
			if q.endsInFIN() {
				closeTargetWrite()
			}
			return
		}
		if _, err := conn.Write(run); err != nil {
			s.finish(wire.CloseDialFailed, "target connection failed: "+netErrText(err))
			return
		}
		// Only this goroutine writes acks: q.ack is not reused before
		// Write returns.
		if ack := q.dropWritten(len(run)); ack != nil && acking {
			if err := ws.Write(context.Background(), websocket.MessageText, ack); err != nil {
				// The client closed or went away: copyUp sees that
				// too and ends the stream once the queue is written,
				// so what the client sent still reaches the target.
				acking = false
			}
		}
	}
}
