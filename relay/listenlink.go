package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// listenLink is the relay's side of a listen control stream's WebSocket:
// every message the relay sends on it goes through here. On a resumable
// stream (?resume=1, PROTOCOL.md "Resume") the stream outlives its
// WebSocket: each side counts the bytes of the messages it received
// (text and binary, whole messages only), keeps the messages it sent and
// the other has not acknowledged (accepts, frames, half-closes, acks and
// closes alike, in order) and, when the client re-attaches, sends them
// again on the new WebSocket from the other's count on. Counting bytes,
// not messages, lets a browser gather several frame messages into one.
// Per connection nothing changes: a message is replayed whole or not at
// all, so its byte counts, windows and credit stay exact.
type listenLink struct {
	resumable bool
	id        string
	window    time.Duration
	s         *stream
	attach    chan *attachment
	max       int64

	wmu sync.Mutex // held from a message's logging to its write: wire order is log order

	mu      sync.Mutex
	ws      *websocket.Conn // nil while detached
	log     []loggedMessage // sent, not acknowledged, from byte base on
	logSize int64
	base    int64
	changed chan struct{} // closed and replaced when the log shrinks
	recvd   int64         // bytes of whole messages received from the client
	unacked int64         // of those, not acknowledged yet
	unMsgs  int
}

type loggedMessage struct {
	text bool
	b    []byte
}

// Acknowledgements of a resumable listen stream: each side acks once it
// received listenAckEvery messages or a quarter of the log's bound.
const listenAckEvery = 64

func (m loggedMessage) typ() websocket.MessageType {
	if m.text {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

// listenLogHeld is what a resumable listen stream holds beyond its
// connections' own credit: the log (its bound plus one message over it)
// and the buffer a whole client message is read into before it counts.
func listenLogHeld(max int64) int64 { return wire.ResumeBuffer + 2*max }

// newListenLink makes the link for ws; resumable when the client asked
// (?resume=1) and the budget holds the log.
func (r *Relay) newListenLink(s *stream, ws *websocket.Conn, req *http.Request) *listenLink {
	l := &listenLink{s: s, ws: ws, max: r.cfg.MaxMessageSize, changed: make(chan struct{})}
	if req.URL.Query().Get(wire.ResumeParam) != "1" {
		return l
	}
	held := listenLogHeld(r.cfg.MaxMessageSize)
	if got := r.budget.reserve(held); got < held {
		r.budget.release(got)
		return l // a plain listen stream: the client sees no resume id
	}
	context.AfterFunc(s.ctx, func() { r.budget.release(held) })
	l.resumable, l.id, l.attach = true, newResumeID(), make(chan *attachment)
	l.window = r.cfg.ResumeWindow
	if l.window <= 0 {
		l.window = DefaultResumeWindow
	}
	r.resumes.add(l.id, l)
	context.AfterFunc(s.ctx, func() { r.resumes.remove(l.id) })
	return l
}

func (l *listenLink) owner() *stream                { return l.s }
func (l *listenLink) attachments() chan *attachment { return l.attach }
func (l *listenLink) positions() (base, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base, l.base + l.logSize
}

// atMessage reports whether byte position n is where a kept message
// starts (or the end): a client counts whole messages only.
func (l *listenLink) atMessage(n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	pos := l.base
	for _, m := range l.log {
		if pos >= n {
			break
		}
		pos += int64(len(m.b))
	}
	return pos == n
}

func (l *listenLink) current() *websocket.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ws
}

// write sends one message. On a resumable stream it is logged first and
// never fails: a write error drops the WebSocket (the reader sees it and
// the stream waits for its client), and the message goes again on resume.
func (l *listenLink) write(text bool, p []byte) error {
	typ := loggedMessage{text: text}.typ()
	if !l.resumable {
		return l.ws.Write(context.Background(), typ, p)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	l.log = append(l.log, loggedMessage{text: text, b: append([]byte(nil), p...)})
	l.logSize += int64(len(p))
	ws := l.ws
	l.mu.Unlock()
	if ws != nil {
		if err := ws.Write(context.Background(), typ, p); err != nil {
			ws.CloseNow()
		}
	}
	return nil
}

func (l *listenLink) writeMessage(m wire.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return l.write(true, b)
}

// waitRoom waits while the log is at its bound, so data and new
// connections wait for the client's acks; control messages never wait.
func (l *listenLink) waitRoom(ctx context.Context) bool {
	if !l.resumable {
		return ctx.Err() == nil
	}
	for {
		l.mu.Lock()
		if l.logSize < wire.ResumeBuffer {
			l.mu.Unlock()
			return ctx.Err() == nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// acked drops n acknowledged bytes of messages off the log.
func (l *listenLink) acked(n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 || n > l.logSize {
		return fmt.Errorf("ack of %d bytes: %d were sent and not acknowledged", n, l.logSize)
	}
	return l.trimLocked(l.base + n)
}

// trimLocked drops the messages before byte position to, which must be
// where a message starts: the client counts whole messages.
func (l *listenLink) trimLocked(to int64) error {
	k, pos := 0, l.base
	for k < len(l.log) && pos < to {
		pos += int64(len(l.log[k].b))
		k++
	}
	if pos != to {
		return fmt.Errorf("position %d is inside a message", to)
	}
	l.logSize -= to - l.base
	l.log = append(l.log[:0], l.log[k:]...)
	clear(l.log[len(l.log):cap(l.log)]) // free what the old tail held
	l.base = to
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

// received counts a whole message from the client and returns the ack to
// send, 0 for none yet.
func (l *listenLink) received(size int) int64 {
	if !l.resumable {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recvd += int64(size)
	l.unacked += int64(size)
	l.unMsgs++
	if l.unMsgs < listenAckEvery && l.unacked < wire.ResumeBuffer/4 {
		return 0
	}
	n := l.unacked
	l.unacked, l.unMsgs = 0, 0
	return n
}

// detach forgets ws (it dropped or was taken over).
func (l *listenLink) detach(ws *websocket.Conn) {
	l.mu.Lock()
	if l.ws == ws {
		l.ws = nil
	}
	l.mu.Unlock()
}

// resume makes ws the stream's WebSocket: it tells the client how many of
// its messages arrived, then sends again every message from the client's
// count on; new messages wait behind them.
func (l *listenLink) resume(ws *websocket.Conn, from int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if from < l.base || from > l.base+l.logSize {
		base, end := l.base, l.base+l.logSize
		l.mu.Unlock()
		return fmt.Errorf("bad resume position %d: want %d-%d", from, base, end)
	}
	if err := l.trimLocked(from); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("bad resume position: %v", err)
	}
	l.unacked, l.unMsgs = 0, 0 // the client counts from what it is told
	n := l.recvd
	pending := append([]loggedMessage(nil), l.log...)
	l.ws = ws
	l.mu.Unlock()
	if err := writeMessage(context.Background(), ws, wire.Message{Type: wire.TypeResumed, N: n, Max: l.max}); err != nil {
		ws.CloseNow()
		return nil // the reader sees the drop
	}
	for _, m := range pending {
		if err := ws.Write(context.Background(), m.typ(), m.b); err != nil {
			ws.CloseNow()
			return nil
		}
	}
	return nil
}

// pingLoop of a resumable listen stream: a WebSocket that stops answering
// is dropped, not the stream; the stream then waits for its client.
func (l *listenLink) pingLoop() {
	t := time.NewTicker(controlPingInterval)
	defer t.Stop()
	for {
		select {
		case <-l.s.ctx.Done():
			return
		case <-t.C:
			ws := l.current()
			if ws == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(l.s.ctx, controlPingInterval)
			err := ws.Ping(ctx)
			cancel()
			if err != nil && l.s.ctx.Err() == nil {
				ws.CloseNow()
			}
		}
	}
}
