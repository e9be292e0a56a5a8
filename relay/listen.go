package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/resolve"

	"tunnelkit/relay/wire"
)

// controlPingInterval detects a control stream whose peer vanished without
// closing (a dropped network): its listener must not linger.
const controlPingInterval = 30 * time.Second

// listenBridge is one listener on the relay host, owned by a control
// stream. The connections it accepts travel on that same stream (framed,
// each with its own flow control: listenconn.go), so a balancer without
// affinity cannot send them to another relay.
type listenBridge struct {
	s      *stream
	link   *listenLink // the control stream's WebSocket (resumable: listenlink.go)
	ln     net.Listener
	window int64 // flow control window of each accepted connection

	mu       sync.Mutex
	stopped  bool // no longer accepting (shutdown)
	closed   bool // closed with everything it accepted
	nextConn uint32
	conns    map[uint32]*acceptedConn
	wg       sync.WaitGroup // the accepted connections' goroutines
	readers  sync.WaitGroup // the control stream's readers, one per WebSocket
	attached sync.WaitGroup // resumes whose handler waits for the stream's end
	rbuf     bytes.Buffer   // a whole client message, on a resumable stream
}

// serveListen is GET /v1/listen?addr=HOST:PORT: the control stream of a
// listener. The listener lives exactly as long as this stream.
func (r *Relay) serveListen(w http.ResponseWriter, req *http.Request) {
	s, ws := r.open(w, req, "listen")
	if s == nil {
		return
	}
	defer r.end(s, ws)

	s.target = req.URL.Query().Get("addr")
	h, port, err := parseListenAddr(s.target)
	if err != nil {
		r.refuse(s, "bad_target", wire.CloseBadRequest, fmt.Sprintf("bad listen address %q: %v", truncate(s.target, 64), err))
		return
	}
	window, err := parseFlow(req)
	if err != nil {
		r.refuse(s, "bad_request", wire.CloseBadRequest, err.Error())
		return
	}
	if window == 0 {
		window = wire.DefaultAcceptWindow
	}
	window = min(window, wire.MaxAcceptWindow)
	target := resolve.JoinHostPort(h, port)
	lv := r.live()
	pol := lv.allowLn
	if s.token != nil {
		pol = s.token.allowLn
	}
	ctx, cancel := context.WithTimeout(s.ctx, lv.dialTimeout)
	defer cancel()
	ln, ok := r.bindAllowed(ctx, s, pol, h, port, target)
	if !ok {
		return
	}
	lb := &listenBridge{s: s, link: r.newListenLink(s, ws, req), ln: ln, window: window, conns: map[uint32]*acceptedConn{}}
	if !r.addListener(lb) {
		ln.Close()
		s.finish(wire.CloseShuttingDown, errShuttingDown.Error())
		return
	}
	defer r.removeListener(lb)
	s.addr = canonicalAddr(ln.Addr())
	listening := wire.Message{Type: wire.TypeListening, Addr: s.addr, Max: r.cfg.MaxMessageSize, Flow: window, Credit: wire.UpCredit}
	if lb.link.resumable {
		listening.Resume, listening.Window = lb.link.id, lb.link.window.Milliseconds()
	}
	if err := writeMessage(context.Background(), ws, listening); err != nil {
		lb.close()
		s.finishHint(clientGone(err, 0))
		return
	}

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.acceptLoop(lb) }()
	go func() { defer wg.Done(); r.carryControlStream(lb, ws) }()
	go func() {
		defer wg.Done()
		if lb.link.resumable {
			lb.link.pingLoop()
		} else {
			pingLoop(s, ws)
		}
	}()
	<-s.ctx.Done()
	lb.close() // first: the port is free before the close handshake
	lb.waitConns(closeGrace)
	last := lb.link.current()
	if last != nil {
		closeWS(last, s.code, s.reason)
	}
	if last != ws {
		ws.CloseNow() // a resumed stream's first WebSocket; r.end closes it again, harmlessly
	}
	wg.Wait()
	lb.readers.Wait()
	lb.wg.Wait()
	lb.attached.Wait() // now the resumes' handlers may return
}

// closeGrace bounds the wait for the accepted connections' own closes to
// go out before the control stream's: a client that stopped reading must
// not hold the listener's end.
const closeGrace = 2 * time.Second

// waitConns waits, at most d, for the accepted connections to end.
func (lb *listenBridge) waitConns(d time.Duration) {
	done := make(chan struct{})
	go func() { lb.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// acceptLoop accepts connections and announces each on the control stream.
func (r *Relay) acceptLoop(lb *listenBridge) {
	for {
		if !lb.link.waitRoom(lb.s.ctx) {
			return
		}
		conn, err := lb.ln.Accept()
		if err != nil {
			lb.mu.Lock()
			closed := lb.closed || lb.stopped
			lb.mu.Unlock()
			if !closed {
				lb.s.finish(wire.CloseDialFailed, "accept failed: "+netErrText(err))
			}
			return
		}
		if err := r.admitAccepted(lb, conn); err != nil {
			lb.s.finishHint(clientGone(err, 0))
			return
		}
	}
}

// readControlStream reads one WebSocket of the control stream: frames of
// data for the accepted connections, their acks and closes. It never waits
// for a target: each connection queues within its credit. The client
// closing the stream ends the listener; its WebSocket dropping does too,
// unless the stream is resumable: then it returns true and the stream
// waits for its client (carryControlStream).
func (r *Relay) readControlStream(lb *listenBridge, ws *websocket.Conn) (dropped bool) {
	s, l := lb.s, lb.link
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	gone := func(err error) bool {
		if l.resumable && websocket.CloseStatus(err) == -1 && !errors.Is(err, websocket.ErrMessageTooBig) && s.ctx.Err() == nil {
			return true
		}
		s.finishHint(clientGone(err, r.cfg.MaxMessageSize))
		return false
	}
	for {
		typ, msg, err := ws.Reader(context.Background())
		if err != nil {
			return gone(err)
		}
		var size int
		if typ == websocket.MessageText {
			b, err := io.ReadAll(io.LimitReader(msg, wire.MaxControl+1))
			if err != nil {
				return gone(err)
			}
			var m wire.Message
			if len(b) > wire.MaxControl {
				err = fmt.Errorf("control message over %d bytes", wire.MaxControl)
			} else {
				m, err = wire.ParseMessage(b)
			}
			if err == nil && l.resumable && m.Type == wire.TypeAck && m.Conn == 0 {
				err = l.acked(m.N) // the stream's own ack: not counted, not acked
				if err == nil {
					continue
				}
			}
			if err != nil {
				s.finish(wire.CloseBadRequest, err.Error())
				return false
			}
			lb.control(m)
			size = len(b)
		} else {
			var body io.Reader = msg
			if l.resumable {
				// A message counts whole or not at all: frames of one
				// cut short are not delivered, the client sends it again.
				lb.rbuf.Reset()
				if _, err := lb.rbuf.ReadFrom(msg); err != nil {
					return gone(err)
				}
				size = lb.rbuf.Len()
				body = &lb.rbuf
				if err := wire.CheckFrames(lb.rbuf.Bytes()); err != nil {
					if droppedMidMessage(ws) {
						return gone(io.ErrUnexpectedEOF) // nothing of it delivered: it comes again
					}
					s.finish(wire.CloseBadRequest, err.Error())
					return false
				}
			}
			if err := r.readFrames(lb, body, *bp); err != nil {
				if ce, ok := err.(frameError); ok {
					s.finish(wire.CloseBadRequest, string(ce))
					return false
				}
				return gone(err)
			}
		}
		if n := l.received(size); n > 0 {
			ws.Write(context.Background(), websocket.MessageText, wire.AppendAck(nil, n)) // a failure is the reader's to see
		}
	}
}

// carryControlStream reads the control stream over ws, and on a resumable
// stream over each WebSocket a resume brings, until the stream ends or no
// client came back within the window.
func (r *Relay) carryControlStream(lb *listenBridge, ws *websocket.Conn) {
	s, l := lb.s, lb.link
	for {
		readDone := make(chan bool, 1)
		lb.readers.Add(1)
		go func(ws *websocket.Conn) { defer lb.readers.Done(); readDone <- r.readControlStream(lb, ws) }(ws)
		var att *attachment
		select {
		case dropped := <-readDone:
			if !dropped {
				return
			}
			l.detach(ws)
			ws.CloseNow()
			r.log.Info("listen stream detached, waiting for its client", "id", s.id, "from", s.client.String(), "addr", s.addr, "window", l.window)
			t := time.NewTimer(l.window)
			select {
			case att = <-l.attach:
			case <-t.C:
				r.resumes.expired.Add(1)
				s.finish(wire.CloseGoingAway, "client went away and did not resume within "+l.window.String())
			case <-s.ctx.Done():
			}
			t.Stop()
		case att = <-l.attach: // a resume while this WebSocket still looked alive
			r.log.Info("listen stream taken over by a resume", "id", s.id)
			l.detach(ws)
			ws.CloseNow()
			<-readDone
		case <-s.ctx.Done():
			return
		}
		if att == nil {
			return
		}
		lb.attached.Add(1)
		go func() { defer lb.attached.Done(); <-s.ctx.Done(); close(att.done) }()
		if err := l.resume(att.ws, att.from); err != nil {
			closeWS(att.ws, wire.CloseBadRequest, err.Error())
			s.finish(wire.CloseBadRequest, err.Error())
			return
		}
		ws = att.ws
	}
}

// droppedMidMessage tells a message cut short by a dropped connection from
// a malformed one: after a drop the next read fails at once, while a live
// client's next message is still to come.
func droppedMidMessage(ws *websocket.Conn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _, err := ws.Reader(ctx)
	return err != nil && ctx.Err() == nil && websocket.CloseStatus(err) == -1
}

// frameError is a malformed frame: it ends the control stream with 4400.
type frameError string

func (e frameError) Error() string { return string(e) }

// readFrames hands the frames of one binary message to their connections.
// Frames for a connection that has ended are dropped: the client may not
// have seen its close yet.
func (r *Relay) readFrames(lb *listenBridge, msg io.Reader, buf []byte) error {
	var hdr [wire.FrameHeader]byte
	for {
		if _, err := io.ReadFull(msg, hdr[:]); err == io.EOF {
			return nil
		} else if err == io.ErrUnexpectedEOF {
			return frameError("binary message ends inside a frame header")
		} else if err != nil {
			return err
		}
		id, n := wire.ParseFrameHeader(hdr[:])
		if id == 0 {
			return frameError("frame for connection 0")
		}
		ac := lb.get(id)
		if ac != nil && int(n) > ac.q.room() {
			ac.s.finish(wire.CloseBadRequest, fmt.Sprintf("client sent a frame of %d bytes, over the %d left of its credit", n, ac.q.room()))
			ac = nil
		}
		if n == 0 {
			if ac != nil {
				ac.clientCloseWrite()
			}
			continue
		}
		for left := int(n); left > 0; {
			k, err := msg.Read(buf[:min(left, len(buf))])
			if k > 0 {
				left -= k
				if ac != nil && !ac.put(r, buf[:k]) {
					ac = nil // ended for breaking its limits: drop the rest
				}
			}
			if err == io.EOF && left > 0 {
				return frameError(fmt.Sprintf("frame of %d bytes ends after %d", n, int(n)-left))
			}
			if err != nil && err != io.EOF {
				return err
			}
		}
	}
}

// control takes a text message of the control stream: an ack or a close
// for one accepted connection. Anything else is for later versions.
func (lb *listenBridge) control(m wire.Message) {
	ac := lb.get(m.Conn)
	if ac == nil {
		return
	}
	switch m.Type {
	case wire.TypeAck:
		if err := ac.flow.grant(m.N); err != nil {
			ac.s.finish(wire.CloseBadRequest, err.Error())
		}
	case wire.TypeClose:
		ac.clientClose(wire.CloseCode(m.Code), m.Reason)
	}
}

// pingLoop ends the stream when the peer stops answering pings.
func pingLoop(s *stream, ws *websocket.Conn) {
	t := time.NewTicker(controlPingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, controlPingInterval)
			err := ws.Ping(ctx)
			cancel()
			if err != nil && s.ctx.Err() == nil {
				s.finish(wire.CloseGoingAway, "client stopped answering pings")
				return
			}
		}
	}
}

// add registers ac under a new connection id, or says why not: the
// listener closed, or it holds wire.MaxAccepted connections.
func (lb *listenBridge) add(ac *acceptedConn) (refused string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	switch {
	case lb.closed:
		return "listener closed"
	case len(lb.conns) >= wire.MaxAccepted:
		return fmt.Sprintf("listener %s holds %d connections already", lb.s.addr, wire.MaxAccepted)
	}
	lb.nextConn++
	ac.id = lb.nextConn
	lb.conns[ac.id] = ac
	lb.wg.Add(1)
	return ""
}

func (lb *listenBridge) get(id uint32) *acceptedConn {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.conns[id]
}

func (lb *listenBridge) remove(ac *acceptedConn) {
	lb.mu.Lock()
	delete(lb.conns, ac.id)
	lb.mu.Unlock()
}

// stopAccepting closes the listener, keeping established connections
// (and so the control stream carrying them).
func (lb *listenBridge) stopAccepting() {
	lb.mu.Lock()
	lb.stopped = true
	lb.mu.Unlock()
	lb.ln.Close()
}

// close closes the listener and every connection it accepted.
func (lb *listenBridge) close() {
	lb.mu.Lock()
	lb.closed = true
	conns := make([]*acceptedConn, 0, len(lb.conns))
	for _, ac := range lb.conns {
		conns = append(conns, ac)
	}
	lb.mu.Unlock()
	lb.ln.Close()
	for _, ac := range conns {
		ac.s.finish(wire.CloseGoingAway, "listener closed")
	}
}

func (r *Relay) addListener(lb *listenBridge) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.listens[lb] = struct{}{}
	return true
}

func (r *Relay) removeListener(lb *listenBridge) {
	r.mu.Lock()
	delete(r.listens, lb)
	r.mu.Unlock()
}
