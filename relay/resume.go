package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// DefaultResumeWindow is how long a resumable stream's TCP connection waits
// for its client to come back after the WebSocket dropped.
const DefaultResumeWindow = 30 * time.Second

// resumeTable holds the resumable streams by id: dial streams
// (resumable) and listen control streams (listenLink). Its zero value is
// ready.
type resumeTable struct {
	mu      sync.Mutex
	byID    map[string]resumeHolder
	resumed atomic.Int64 // successful re-attachments
	expired atomic.Int64 // streams whose window passed without a client
}

// resumeHolder is a stream that a GET /v1/resume may re-attach to.
type resumeHolder interface {
	owner() *stream
	// positions is the range of the client's received count the holder
	// can replay from.
	positions() (base, end int64)
	attachments() chan *attachment
}

func (t *resumeTable) add(id string, h resumeHolder) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = map[string]resumeHolder{}
	}
	t.byID[id] = h
}

func (t *resumeTable) get(id string) resumeHolder {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

func (t *resumeTable) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byID, id)
}

// newResumeID is 128 random bits, hex.
func newResumeID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ResumeStats counts resumable streams: re-attached, and given up after
// their window.
func (r *Relay) ResumeStats() (resumed, expired int64) {
	return r.resumes.resumed.Load(), r.resumes.expired.Load()
}

// resumable is a data stream that outlives its WebSocket: the target
// connection, what was read from it and the client has not acknowledged
// (for replay), and what the client sent that is not yet written.
type resumable struct {
	r      *Relay
	s      *stream
	id     string
	conn   net.Conn
	window time.Duration
	attach chan *attachment // a resume hands its WebSocket to the stream's owner

	mu   sync.Mutex
	cond *sync.Cond
	// down: target -> client. down holds the bytes from downBase on; the
	// client acknowledged everything before downBase.
	down     []byte
	downBase int64
	downEOF  bool // the target half-closed after the bytes in down
	// up: client -> target. upq waits to be written.
	upq       []byte
	upRecv    int64 // bytes received from the client (queued or written)
	upWritten int64
	upAcked   int64 // written bytes acknowledged to the client
	upFin     bool  // the client half-closed
	upClosed  bool  // and the target's write side is shut
	ws        *websocket.Conn
	// sent is how far down was written on ws; sending is set while one
	// goroutine (the sender, or readTarget when the sender is caught up)
	// writes data on it, so bytes go out in order.
	sent    int64
	sending bool
}

// attachment is one WebSocket of a resumable stream, from its client's
// received count on.
type attachment struct {
	ws     *websocket.Conn
	resume bool // not the first: the client is told where its bytes stopped
	from   int64
	done   chan struct{} // closed when the stream is done with ws
}

// resumableFor makes s resumable if the client asked for it
// (?resume=1), or returns nil.
func (r *Relay) resumableFor(s *stream, req *http.Request, conn net.Conn) *resumable {
	if req.URL.Query().Get(wire.ResumeParam) != "1" {
		return nil
	}
	// What a resumable stream keeps for replay (ResumeBuffer each way)
	// comes from the relay's queued-bytes budget; without room for it the
	// stream goes on as a plain one, which its client sees as no resume id.
	const held = 2 * wire.ResumeBuffer
	if got := r.budget.reserve(held); got < held {
		r.budget.release(got)
		return nil
	}
	context.AfterFunc(s.ctx, func() { r.budget.release(held) })
	rs := &resumable{r: r, s: s, id: newResumeID(), conn: conn, window: r.cfg.ResumeWindow, attach: make(chan *attachment)}
	if rs.window <= 0 {
		rs.window = DefaultResumeWindow
	}
	rs.cond = sync.NewCond(&rs.mu)
	r.releaseCredit(s) // resume counts bytes with its own acks
	s.flow = nil
	// Known before the open message names it; forgotten when the stream
	// ends, however it ends.
	r.resumes.add(rs.id, rs)
	context.AfterFunc(s.ctx, func() { r.resumes.remove(rs.id) })
	return rs
}

func (rs *resumable) owner() *stream                { return rs.s }
func (rs *resumable) attachments() chan *attachment { return rs.attach }
func (rs *resumable) positions() (base, end int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.downBase, rs.downBase + int64(len(rs.down))
}

func (rs *resumable) openFields(m wire.Message) wire.Message {
	if rs != nil {
		m.Resume, m.Window, m.Flow, m.Credit = rs.id, rs.window.Milliseconds(), 0, 0
	}
	return m
}

// bridgeResumable carries the stream over ws, then over each WebSocket a
// resume brings, until the stream is finished or no client came back
// within the window. It owns conn and closes it.
func (r *Relay) bridgeResumable(rs *resumable, ws *websocket.Conn) {
	s := rs.s
	wake := context.AfterFunc(s.ctx, func() {
		rs.mu.Lock()
		rs.cond.Broadcast()
		rs.mu.Unlock()
	})
	defer wake()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); rs.readTarget() }()
	go func() { defer wg.Done(); rs.writeTarget() }()
	go func() { defer wg.Done(); r.watchIdle(s, nil) }() // the queue is the resumable's own

	att := &attachment{ws: ws, done: make(chan struct{})}
	for att != nil {
		next, dropped := rs.serve(att)
		close(att.done)
		att = next
		if att != nil || !dropped || s.ctx.Err() != nil {
			continue
		}
		r.log.Info("stream detached, waiting for its client", "id", s.id, "from", s.client.String(), "window", rs.window)
		t := time.NewTimer(rs.window)
		select {
		case att = <-rs.attach:
		case <-t.C:
			r.resumes.expired.Add(1)
			s.finish(wire.CloseGoingAway, "client went away and did not resume within "+rs.window.String())
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.finish(wire.CloseNormal, "")
	rs.conn.Close()
	wg.Wait()
}

// serve carries the stream over att until its WebSocket drops (dropped),
// another resume takes over (next), or the stream is finished.
func (rs *resumable) serve(att *attachment) (next *attachment, dropped bool) {
	s := rs.s
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	rs.mu.Lock()
	if att.resume {
		if att.from > rs.downBase {
			rs.trimDownLocked(att.from) // the client has them
		}
		rs.upAcked = rs.upRecv // the client counts from what it is told
	}
	n := rs.upRecv
	rs.mu.Unlock()
	if att.resume {
		if err := writeMessage(context.Background(), att.ws, wire.Message{Type: wire.TypeResumed, N: n, Max: rs.r.cfg.MaxMessageSize}); err != nil {
			att.ws.CloseNow()
			return nil, s.ctx.Err() == nil
		}
	}
	rs.mu.Lock()
	rs.ws = att.ws // acks written meanwhile wait for it
	rs.sent = max(att.from, rs.downBase)
	rs.mu.Unlock()
	readDone := make(chan bool, 1) // true: the WebSocket dropped
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); readDone <- rs.readClient(att.ws) }()
	go func() { defer wg.Done(); rs.send(ctx, att.ws) }()
	select {
	case dropped = <-readDone:
	case next = <-rs.attach:
		rs.r.log.Info("stream taken over by a resume", "id", s.id)
	case <-s.ctx.Done():
	}
	cancel() // before the broadcast: the sender checks ctx after it wakes
	rs.mu.Lock()
	rs.ws = nil
	rs.cond.Broadcast()
	rs.mu.Unlock()
	if s.ctx.Err() != nil && next == nil && !dropped {
		closeWS(att.ws, s.code, s.reason)
	} else {
		att.ws.CloseNow()
	}
	wg.Wait()
	return next, dropped && s.ctx.Err() == nil
}

// readClient takes the client's messages: data to the up queue, acks
// trimming the replay buffer. It returns true when the WebSocket dropped
// without a close (a blip), false when the client closed or broke the
// protocol, which finishes the stream.
func (rs *resumable) readClient(ws *websocket.Conn) bool {
	s := rs.s
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		typ, msg, err := ws.Reader(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, websocket.ErrMessageTooBig) {
				return true
			}
			s.finishHint(clientGone(err, rs.r.cfg.MaxMessageSize))
			return false
		}
		if typ == websocket.MessageText {
			m, err := readControl(msg, buf)
			if err == nil && m.Type == wire.TypeAck {
				err = rs.acked(m.N)
			}
			if err != nil {
				s.finish(wire.CloseBadRequest, err.Error())
				return false
			}
			continue
		}
		size := 0
		for {
			n, err := msg.Read(buf)
			// Bytes that come with a read error are not unmasked by the
			// websocket package: they are dropped, and the client sends
			// them again after resuming.
			if n > 0 && (err == nil || err == io.EOF) {
				size += n
				if err := rs.queueUp(buf[:n]); err != nil {
					s.finish(wire.CloseBadRequest, err.Error())
					return false
				}
			}
			if err != nil {
				if err != io.EOF {
					return websocket.CloseStatus(err) == -1
				}
				break
			}
		}
		if size == 0 {
			rs.mu.Lock()
			rs.upFin = true
			rs.cond.Broadcast()
			rs.mu.Unlock()
		}
	}
}

// acked trims n acknowledged bytes off the replay buffer.
func (rs *resumable) acked(n int64) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if n <= 0 || n > int64(len(rs.down)) {
		return fmt.Errorf("ack of %d bytes: %d were sent and not acknowledged", n, len(rs.down))
	}
	rs.trimDownLocked(rs.downBase + n)
	return nil
}

func (rs *resumable) trimDownLocked(to int64) {
	k := int(to - rs.downBase)
	rs.down = append(rs.down[:0], rs.down[k:]...)
	rs.downBase = to
	rs.cond.Broadcast()
	rs.checkDoneLocked()
}

func (rs *resumable) queueUp(p []byte) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.upFin {
		return errors.New("data after half-close")
	}
	if rs.upRecv+int64(len(p))-rs.upAcked > wire.ResumeBuffer {
		return fmt.Errorf("client sent over %d bytes not acknowledged", wire.ResumeBuffer)
	}
	rs.upq = append(rs.upq, p...)
	rs.upRecv += int64(len(p))
	rs.s.up.Add(int64(len(p)))
	rs.r.metrics.bytesUp.Add(float64(len(p)))
	rs.s.touch()
	rs.cond.Broadcast()
	return nil
}

// writeTarget writes the up queue to the target and acknowledges each
// quarter of the buffer written, on whichever WebSocket is attached.
func (rs *resumable) writeTarget() {
	s := rs.s
	var chunk []byte
	for {
		rs.mu.Lock()
		for len(rs.upq) == 0 && !(rs.upFin && !rs.upClosed) && s.ctx.Err() == nil {
			rs.cond.Wait()
		}
		if s.ctx.Err() != nil {
			rs.mu.Unlock()
			return
		}
		if len(rs.upq) == 0 { // the client's FIN, after all its bytes
			rs.upClosed = true
			rs.checkDoneLocked()
			rs.mu.Unlock()
			if cw, ok := rs.conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			continue
		}
		chunk = append(chunk[:0], rs.upq...)
		rs.upq = rs.upq[:0]
		rs.mu.Unlock()
		if _, err := rs.conn.Write(chunk); err != nil {
			s.finish(wire.CloseDialFailed, "target connection failed: "+netErrText(err))
			return
		}
		rs.mu.Lock()
		rs.upWritten += int64(len(chunk))
		ack := rs.upWritten - rs.upAcked
		ws := rs.ws
		if ws == nil || ack <= 0 || ack < wire.ResumeBuffer/4 && !(rs.upFin && len(rs.upq) == 0) {
			ack = 0
		} else {
			rs.upAcked = rs.upWritten
		}
		rs.mu.Unlock()
		if ack > 0 {
			ws.Write(context.Background(), websocket.MessageText, wire.AppendAck(nil, ack))
		}
	}
}

// readTarget reads the target into the replay buffer, no further than
// ResumeBuffer ahead of the client's acks.
func (rs *resumable) readTarget() {
	s := rs.s
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:min(int64(len(*bp)), rs.r.cfg.MaxMessageSize)]
	for {
		rs.mu.Lock()
		for len(rs.down) >= wire.ResumeBuffer && s.ctx.Err() == nil {
			rs.cond.Wait()
		}
		room := wire.ResumeBuffer - len(rs.down)
		rs.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
		n, err := rs.conn.Read(buf[:min(len(buf), room)])
		rs.mu.Lock()
		var ws *websocket.Conn
		if n > 0 {
			// The sender caught up and idle: write the bytes here, saving
			// a hand-off to it on every message.
			if rs.ws != nil && !rs.sending && rs.sent == rs.downBase+int64(len(rs.down)) {
				ws = rs.ws
				rs.sending = true
			}
			rs.down = append(rs.down, buf[:n]...)
			s.touch()
		}
		if err == io.EOF {
			rs.downEOF = true
			rs.checkDoneLocked()
		}
		if ws == nil {
			rs.cond.Broadcast()
		}
		rs.mu.Unlock()
		if ws != nil {
			rs.sendData(ws, buf[:n])
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			s.finish(wire.CloseDialFailed, "target connection failed: "+netErrText(err))
			return
		}
	}
}

// send writes the replay buffer from the client's position on, then
// what the target sends (when readTarget does not write it itself), then
// its FIN.
func (rs *resumable) send(ctx context.Context, ws *websocket.Conn) {
	max := int(rs.r.cfg.MaxMessageSize)
	chunk := make([]byte, 0, min(max, copyBufSize))
	finSent := false
	for {
		rs.mu.Lock()
		for ctx.Err() == nil && (rs.sending || rs.sent >= rs.downBase+int64(len(rs.down)) && (!rs.downEOF || finSent)) {
			rs.cond.Wait()
		}
		if ctx.Err() != nil {
			rs.mu.Unlock()
			return
		}
		end := rs.downBase + int64(len(rs.down))
		fin := rs.sent >= end && rs.downEOF
		if !fin {
			if rs.sent < rs.downBase {
				rs.sent = rs.downBase // acknowledged meanwhile
			}
			off := int(rs.sent - rs.downBase)
			chunk = append(chunk[:0], rs.down[off:min(len(rs.down), off+cap(chunk))]...)
		} else {
			finSent = true
			chunk = chunk[:0]
		}
		rs.sending = true
		rs.mu.Unlock()
		if !rs.sendData(ws, chunk) {
			return // the reader sees the drop
		}
	}
}

// sendData writes p, the bytes of down from sent on (or the FIN when
// empty), on ws, for whoever set sending.
func (rs *resumable) sendData(ws *websocket.Conn, p []byte) bool {
	err := ws.Write(context.Background(), websocket.MessageBinary, p)
	rs.mu.Lock()
	rs.sending = false
	if err == nil && rs.ws == ws {
		rs.sent += int64(len(p))
	}
	rs.cond.Broadcast()
	rs.mu.Unlock()
	if err != nil {
		return false
	}
	rs.s.down.Add(int64(len(p)))
	rs.r.metrics.bytesDown.Add(float64(len(p)))
	return true
}

// checkDoneLocked finishes the stream once both directions are done and
// the client has acknowledged every byte.
func (rs *resumable) checkDoneLocked() {
	if rs.upClosed && rs.downEOF && len(rs.down) == 0 {
		rs.s.finish(wire.CloseNormal, "")
	}
}

// serveResume is GET /v1/resume?id=ID&n=RECEIVED: a client re-attaching
// to a resumable stream after its WebSocket dropped. Only the client that
// opened the stream (same address, same token) may.
func (r *Relay) serveResume(w http.ResponseWriter, req *http.Request) {
	client := clientIP(req, r.trusted)
	wait, tok, authErr := r.presented(req, client)
	ws, err := websocket.Accept(w, req, r.live().acceptOpts)
	if err != nil {
		r.metrics.refusals.WithLabelValues("handshake").Inc()
		return
	}
	ws.SetReadLimit(r.cfg.MaxMessageSize)
	if !r.tokenOK(ws, req, client, wait, tok, authErr) {
		return
	}
	q := req.URL.Query()
	h := r.resumes.get(q.Get("id"))
	if h == nil {
		r.refuseBefore(ws, req, client, "resume_unknown", wire.CloseUnknownStream, "relay holds no stream with that resume id (expired, ended, or another relay)", "see --resume-window")
		return
	}
	s := h.owner()
	if s.client != client || !sameToken(s.token, tok) {
		r.refuseBefore(ws, req, client, "resume_foreign", wire.CloseRefused, "relay refused: that resume id belongs to another client", "")
		return
	}
	n, err := strconv.ParseInt(q.Get("n"), 10, 64)
	base, end := h.positions()
	if b, ok := h.(interface{ atMessage(int64) bool }); ok && err == nil && n >= base && n <= end && !b.atMessage(n) {
		err = errors.New("inside a message") // a listen stream replays whole messages
	}
	if err != nil || n < base || n > end {
		r.refuseBefore(ws, req, client, "bad_request", wire.CloseBadRequest, fmt.Sprintf("bad resume position %q: want %d-%d", truncate(q.Get("n"), 24), base, end), "")
		return
	}
	att := &attachment{ws: ws, resume: true, from: n, done: make(chan struct{})}
	select {
	case h.attachments() <- att:
	case <-s.ctx.Done():
		r.refuseBefore(ws, req, client, "resume_unknown", wire.CloseUnknownStream, "relay holds no stream with that resume id (it just ended)", "")
		return
	}
	r.resumes.resumed.Add(1)
	r.log.Info("stream resumed", "id", s.id, "kind", s.kind, "from", client.String(), "at", n)
	<-att.done
}

// sameToken reports whether a and b are the same token (or both none),
// by its hash: a reload compiles tokens anew.
func sameToken(a, b *token) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.hash == b.hash
}
