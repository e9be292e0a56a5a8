package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// copyBufSize is the copy buffer per direction: large enough for
// throughput, small enough that idle streams do not pin much memory.
const copyBufSize = 128 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// bridge copies bytes both ways between ws and conn until the stream is
// finished: both sides half-closed, either side closed or failed, idle for
// too long, or the relay shutting down. It owns conn and closes it.
//
// Reads and writes use a context that is never cancelled, so the websocket
// package sets up no timer per message; the stream is ended by closing.
func (r *Relay) bridge(s *stream, ws *websocket.Conn, conn net.Conn) {
	var upDone, downDone atomic.Bool
	finishIfBothDone := func() {
		if upDone.Load() && downDone.Load() {
			s.finish(wire.CloseNormal, "")
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.copyUp(s, ws, conn, &upDone, finishIfBothDone)
	}()
	go func() {
		defer wg.Done()
		r.copyDown(s, ws, conn, &downDone, finishIfBothDone)
	}()
	r.watchIdle(s, ws)
	conn.Close()
	closeWS(ws, s.code, s.reason)
	wg.Wait()
}

// watchIdle waits for the stream to finish, finishing it with 4408 when no
// byte has moved either way for the idle timeout. Traffic resets the clock;
// nothing else does. On a flow-controlled stream it also looks for a queue
// stuck behind a client that vanished (stall.go); ws is nil for a
// connection carried on a listen control stream, which has no queue of its
// own to ping about.
func (r *Relay) watchIdle(s *stream, ws *websocket.Conn) {
	idle := r.live().idle
	var every time.Duration
	if ws != nil {
		every = r.stallCheckEvery(s)
	}
	step := func(left time.Duration) time.Duration {
		if every > 0 {
			return min(left, every)
		}
		return left
	}
	t := time.NewTimer(step(idle))
	defer t.Stop()
	taken := int64(-1)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if every > 0 && r.goneWhileStalled(s, ws, &taken) {
				return
			}
			quiet := time.Duration(time.Now().UnixNano() - s.last.Load())
			if quiet >= idle {
				r.metrics.refusals.WithLabelValues("idle").Inc()
				s.finishHint(wire.CloseIdle, fmt.Sprintf("idle timeout: no data for %v", idle), "see --idle-timeout")
				return
			}
			t.Reset(step(idle - quiet))
		}
	}
}

// copyUp copies client messages to the target. A zero-length binary message
// half-closes the target connection. The copy buffer is taken per message,
// so a stream waiting for its client holds none. With flow control the
// bytes go through an upQueue, so reading goes on while the target is slow.
func (r *Relay) copyUp(s *stream, ws *websocket.Conn, conn net.Conn, done *atomic.Bool, finishIfBothDone func()) {
	closeTargetWrite := func() {
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done.Store(true)
		finishIfBothDone()
	}
	var q *upQueue
	var written chan struct{} // closed when the writer returned
	if s.flow != nil {
		q = newUpQueue(s.flow.credit)
		s.flow.up.Store(q)
		written = make(chan struct{})
		go func() {
			defer close(written)
			r.writeUp(s, ws, conn, q, closeTargetWrite)
		}()
		defer func() { <-written }()
	}
	ctx := context.Background()
	fin := false // the client half-closed
	for {
		typ, msg, err := ws.Reader(ctx)
		if err != nil {
			if q != nil {
				// Deliver what the client sent before it closed, as
				// without flow control, then end the stream; but a
				// target that stopped reading does not keep it (and
				// its queue) past the drain timeout.
				q.end()
				r.drainQueue(s, q, written)
			}
			s.finishHint(clientGone(err, r.cfg.MaxMessageSize))
			return
		}
		bp := bufPool.Get().(*[]byte)
		size, ok := r.copyMessage(s, typ, msg, conn, q, *bp, fin)
		bufPool.Put(bp)
		if !ok {
			return
		}
		if typ == websocket.MessageBinary && size == 0 && !fin {
			fin = true
			if q != nil {
				q.closeWrite()
			} else {
				closeTargetWrite()
			}
		}
	}
}

// drainQueue waits for the writer to deliver what the gone client queued,
// for at most QueueDrainTimeout; then it ends the stream, which closes
// the target connection under a writer stuck in Write.
func (r *Relay) drainQueue(s *stream, q *upQueue, written <-chan struct{}) {
	t := time.NewTimer(r.cfg.QueueDrainTimeout)
	defer t.Stop()
	select {
	case <-written:
	case <-s.ctx.Done():
	case <-t.C:
		r.metrics.refusals.WithLabelValues("drain_timeout").Inc()
		s.finishHint(wire.CloseGoingAway, fmt.Sprintf("client went away; the target did not take the %d bytes queued for it within %v", q.queued(), r.cfg.QueueDrainTimeout), "see --queue-drain-timeout")
	}
}

// copyMessage copies one client message to the target, or to q with flow
// control (or reads it as a control message), and returns its size; false
// when it finished the stream.
func (r *Relay) copyMessage(s *stream, typ websocket.MessageType, msg io.Reader, conn net.Conn, q *upQueue, buf []byte, fin bool) (int64, bool) {
	if typ == websocket.MessageText {
		// Control messages stay allowed after the client's half-close:
		// acks keep coming while the relay still sends.
		m, err := readControl(msg, buf)
		if err == nil && m.Type == wire.TypeAck && s.flow != nil {
			err = s.flow.grant(m.N)
		}
		if err != nil {
			s.finish(wire.CloseBadRequest, err.Error())
			return 0, false
		}
		return 0, true
	}
	max := r.cfg.MaxMessageSize
	var size int64
	for {
		n, err := msg.Read(buf)
		// Bytes that come with a read error (the client dropped mid-frame)
		// were not unmasked by the websocket package: never the target's.
		if n > 0 && (err == nil || err == io.EOF) {
			if size += int64(n); size > max {
				s.finishHint(wire.CloseTooBig, fmt.Sprintf("message over %d bytes", max), "see --max-message-size")
				return size, false
			}
			if fin {
				s.finish(wire.CloseBadRequest, "data after half-close")
				return size, false
			}
			s.touch()
			if q != nil {
				if err := q.put(buf[:n]); err != nil {
					s.finish(wire.CloseBadRequest, err.Error())
					return size, false
				}
			} else if _, err := conn.Write(buf[:n]); err != nil {
				s.finish(wire.CloseDialFailed, "target connection failed: "+netErrText(err))
				return size, false
			}
			s.up.Add(int64(n))
			r.metrics.bytesUp.Add(float64(n))
		}
		if err == io.EOF {
			return size, true
		}
		if err != nil {
			s.finishHint(clientGone(err, max))
			return size, false
		}
	}
}

// copyDown copies target bytes to the client, one binary message per read.
// The target's FIN becomes a zero-length message. With flow control it
// reads no more than the client's credit, and none while there is none.
func (r *Relay) copyDown(s *stream, ws *websocket.Conn, conn net.Conn, done *atomic.Bool, finishIfBothDone func()) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if int64(len(buf)) > r.cfg.MaxMessageSize {
		buf = buf[:r.cfg.MaxMessageSize]
	}
	ctx := context.Background()
	for {
		want := len(buf)
		if s.flow != nil {
			avail, ok := s.flow.wait(s.ctx)
			if !ok {
				return
			}
			want = int(min(int64(want), avail))
		}
		n, err := conn.Read(buf[:want])
		if n > 0 {
			s.touch()
			if s.flow != nil {
				s.flow.spend(n)
			}
			if err := ws.Write(ctx, websocket.MessageBinary, buf[:n]); err != nil {
				s.finishHint(clientGone(err, 0))
				return
			}
			s.down.Add(int64(n))
			r.metrics.bytesDown.Add(float64(n))
		}
		if err == io.EOF {
			if err := ws.Write(ctx, websocket.MessageBinary, nil); err != nil {
				s.finishHint(clientGone(err, 0))
				return
			}
			done.Store(true)
			finishIfBothDone()
			return
		}
		if err != nil {
			s.finish(wire.CloseDialFailed, "target connection failed: "+netErrText(err))
			return
		}
	}
}
