package relay

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"tunnelkit/relay/wire"
)

// acceptedConn is one connection a listen bridge accepted, carried on the
// control stream as frames with its id. It is a stream of its own for
// limits, metrics, idle time and the audit log ("accept"), with its own
// flow control both ways, so one slow connection never stalls the others
// sharing the WebSocket: the relay sends it at most its window
// unacknowledged, and queues what the client sends it within its credit.
type acceptedConn struct {
	lb   *listenBridge
	id   uint32
	s    *stream
	conn net.Conn
	flow *downWindow
	q    *upQueue

	fin          bool // the client half-closed (control stream reader only)
	clientClosed atomic.Bool
	closeCode    wire.CloseCode // the client's close: set before q.end
	closeReason  string
	upDone       atomic.Bool
	downDone     atomic.Bool
}

// admitAccepted admits an accepted TCP connection as a stream within the
// limits, announces it and starts its bridge. A connection over a limit is
// closed at once and logged. The error is the control stream failing.
func (r *Relay) admitAccepted(lb *listenBridge, conn net.Conn) error {
	remote := canonicalAddr(conn.RemoteAddr())
	s, _, reason, hint := r.begin("accept", lb.s.client, lb.s.token)
	if s == nil {
		conn.Close()
		r.log.Warn("accepted connection dropped", "listener", lb.s.addr, "remote", remote, "reason", reason, "hint", hint)
		return nil
	}
	s.target, s.addr = lb.s.addr, remote
	// The credit every accepted connection was promised (the listening
	// message's) comes from the relay's budget as a stream's does; a
	// connection the budget cannot cover is closed at once.
	if got := r.budget.reserve(wire.UpCredit); got < wire.UpCredit {
		r.budget.release(got)
		conn.Close()
		r.refuseHint(s, "limit", wire.CloseOverLimit, fmt.Sprintf("relay at its limit of %d bytes queued for targets", r.cfg.MaxQueuedBytes), "see --max-queued-bytes")
		r.release(s)
		r.log.Warn("accepted connection dropped", "listener", lb.s.addr, "remote", remote, "reason", "queued bytes budget")
		return nil
	}
	ac := &acceptedConn{lb: lb, s: s, conn: conn, flow: newDownWindow(lb.window), q: newUpQueue(wire.UpCredit)}
	if refused := lb.add(ac); refused != "" {
		conn.Close()
		r.refuse(s, "limit", wire.CloseOverLimit, refused)
		r.budget.release(wire.UpCredit)
		r.release(s)
		return nil
	}
	if err := lb.link.writeMessage(wire.Message{Type: wire.TypeAccept, Conn: ac.id, Remote: remote}); err != nil {
		lb.remove(ac)
		conn.Close()
		s.finishHint(clientGone(err, 0))
		r.budget.release(wire.UpCredit)
		r.release(s)
		lb.wg.Done()
		return err
	}
	go ac.run(r)
	return nil
}

// run bridges the connection until it is finished: both sides
// half-closed, either closed or failed, idle, the listener closed or the
// relay shutting down. The relay's close goes to the client unless the
// client closed it.
func (ac *acceptedConn) run(r *Relay) {
	defer ac.lb.wg.Done()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ac.copyDown(r) }()
	go func() { defer wg.Done(); ac.writeUp() }()
	r.watchIdle(ac.s, nil)
	ac.conn.Close()
	wg.Wait()
	ac.lb.remove(ac)
	if !ac.clientClosed.Load() {
		m := wire.Message{Type: wire.TypeClose, Conn: ac.id, Code: int(ac.s.code), Reason: truncate(ac.s.reason, 123)}
		ac.lb.link.writeMessage(m) // a failure ends the control stream too
	}
	r.budget.release(wire.UpCredit)
	r.release(ac.s)
}

func (ac *acceptedConn) finishIfBothDone() {
	if ac.upDone.Load() && ac.downDone.Load() {
		ac.s.finish(wire.CloseNormal, "")
	}
}

// copyDown sends the connection's bytes as frames within its window; its
// FIN becomes a frame of length zero.
func (ac *acceptedConn) copyDown(r *Relay) {
	s := ac.s
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	frame := *bp
	if int64(len(frame)) > r.cfg.MaxMessageSize {
		frame = frame[:r.cfg.MaxMessageSize]
	}
	for {
		avail, ok := ac.flow.wait(s.ctx)
		if !ok || !ac.lb.link.waitRoom(s.ctx) {
			return
		}
		want := int(min(int64(len(frame)-wire.FrameHeader), avail))
		n, err := ac.conn.Read(frame[wire.FrameHeader : wire.FrameHeader+want])
		if n > 0 {
			s.touch()
			ac.flow.spend(n)
			wire.PutFrameHeader(frame, ac.id, n)
			if err := ac.lb.link.write(false, frame[:wire.FrameHeader+n]); err != nil {
				ac.lb.s.finishHint(clientGone(err, 0))
				return
			}
			s.down.Add(int64(n))
			r.metrics.bytesDown.Add(float64(n))
		}
		if err == io.EOF {
			wire.PutFrameHeader(frame, ac.id, 0)
			if err := ac.lb.link.write(false, frame[:wire.FrameHeader]); err != nil {
				ac.lb.s.finishHint(clientGone(err, 0))
				return
			}
			ac.downDone.Store(true)
			ac.finishIfBothDone()
			return
		}
		if err != nil {
			if s.ctx.Err() == nil {
				s.finish(wire.CloseDialFailed, "accepted connection failed: "+netErrText(err))
			}
			return
		}
	}
}

// put queues bytes the client sent the connection; false when they broke
// its credit or came after its half-close, which ends it with 4400.
func (ac *acceptedConn) put(r *Relay, p []byte) bool {
	if ac.fin {
		ac.s.finish(wire.CloseBadRequest, "data after half-close")
		return false
	}
	if err := ac.q.put(p); err != nil {
		ac.s.finish(wire.CloseBadRequest, err.Error())
		return false
	}
	ac.s.touch()
	ac.s.up.Add(int64(len(p)))
	r.metrics.bytesUp.Add(float64(len(p)))
	return true
}

// clientCloseWrite queues the client's half-close behind its data.
func (ac *acceptedConn) clientCloseWrite() {
	if !ac.fin {
		ac.fin = true
		ac.q.closeWrite()
	}
}

// clientClose ends the connection once what the client sent before its
// close reached the target.
func (ac *acceptedConn) clientClose(code wire.CloseCode, reason string) {
	if ac.clientClosed.Swap(true) {
		return
	}
	if code == 0 {
		code = wire.CloseNormal
	}
	ac.closeCode, ac.closeReason = code, reason
	ac.q.end()
}

// writeUp writes queued client bytes to the connection and acknowledges
// them on the control stream; the client's half-close becomes a FIN.
func (ac *acceptedConn) writeUp() {
	s := ac.s
	var ack []byte
	for {
		run, ok := ac.q.next(s.ctx)
		if !ok {
			return
		}
		if run == nil {
			if !ac.q.endsInFIN() {
				s.finish(ac.closeCode, fmt.Sprintf("client closed (%d %s)", ac.closeCode, ac.closeReason))
				return
			}
			if cw, ok := ac.conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			ac.upDone.Store(true)
			ac.finishIfBothDone()
			return
		}
		if _, err := ac.conn.Write(run); err != nil {
			s.finish(wire.CloseDialFailed, "accepted connection failed: "+netErrText(err))
			return
		}
		if n := ac.q.drop(len(run)); n > 0 {
			ack = wire.AppendConnAck(ack[:0], ac.id, int64(n))
			ac.lb.link.write(true, ack) // a failure ends the control stream
		}
	}
}
