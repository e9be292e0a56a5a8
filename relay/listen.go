package relay

import (
	"context"
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
	ws     *websocket.Conn
	ln     net.Listener
	window int64 // flow control window of each accepted connection

	mu       sync.Mutex
	stopped  bool // no longer accepting (shutdown)
	closed   bool // closed with everything it accepted
	nextConn uint32
	conns    map[uint32]*acceptedConn
	wg       sync.WaitGroup // the accepted connections' goroutines
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
	lb := &listenBridge{s: s, ws: ws, ln: ln, window: window, conns: map[uint32]*acceptedConn{}}
	if !r.addListener(lb) {
		ln.Close()
		s.finish(wire.CloseShuttingDown, errShuttingDown.Error())
		return
	}
	defer r.removeListener(lb)
	s.addr = canonicalAddr(ln.Addr())
	if err := writeMessage(context.Background(), ws, wire.Message{Type: wire.TypeListening, Addr: s.addr, Max: r.cfg.MaxMessageSize, Flow: window, Credit: wire.UpCredit}); err != nil {
		lb.close()
		s.finishHint(clientGone(err, 0))
		return
	}

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.acceptLoop(lb) }()
	go func() { defer wg.Done(); r.readControlStream(lb) }()
	go func() { defer wg.Done(); pingLoop(s, ws) }()
	<-s.ctx.Done()
	lb.close() // first: the port is free before the close handshake
	lb.waitConns(closeGrace)
	closeWS(ws, s.code, s.reason)
	wg.Wait()
	lb.wg.Wait()
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

// readControlStream reads the control stream: frames of data for the
// accepted connections, their acks and closes. It never waits for a
// target: each connection queues within its credit. The client closing
// the stream or going away ends the listener.
func (r *Relay) readControlStream(lb *listenBridge) {
	s, ws := lb.s, lb.ws
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		typ, msg, err := ws.Reader(context.Background())
		if err != nil {
			s.finishHint(clientGone(err, r.cfg.MaxMessageSize))
			return
		}
		if typ == websocket.MessageText {
			m, err := readControl(msg, *bp)
			if err != nil {
				s.finish(wire.CloseBadRequest, err.Error())
				return
			}
			lb.control(m)
			continue
		}
		if err := r.readFrames(lb, msg, *bp); err != nil {
			if ce, ok := err.(frameError); ok {
				s.finish(wire.CloseBadRequest, string(ce))
			} else {
				s.finishHint(clientGone(err, r.cfg.MaxMessageSize))
			}
			return
		}
	}
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
