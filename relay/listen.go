package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/resolve"

	"tunnelkit/relay/wire"
)

const (
	// maxPendingPerListener bounds accepted connections waiting for their
	// stream, so a flood of connections cannot pile up on the relay.
	maxPendingPerListener = 64
	// controlPingInterval detects a control stream whose peer vanished
	// without closing (a dropped network): its listener must not linger.
	controlPingInterval = 30 * time.Second
)

// listenBridge is one listener on the relay host, owned by a control stream.
type listenBridge struct {
	s  *stream
	ws *websocket.Conn
	ln net.Listener

	mu      sync.Mutex
	stopped bool // no longer accepting (shutdown)
	closed  bool // closed with everything it accepted
	pending map[string]*pendingConn
	claimed map[*stream]struct{}
}

// pendingConn is an accepted connection waiting for its /v1/accept stream.
type pendingConn struct {
	id     string
	conn   net.Conn
	remote string
	lb     *listenBridge
	timer  *time.Timer
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
	target := resolve.JoinHostPort(h, port)
	pol := r.allowLn
	if s.token != nil {
		pol = s.token.allowLn
	}
	ctx, cancel := context.WithTimeout(s.ctx, r.cfg.DialTimeout)
	defer cancel()
	ln, ok := r.bindAllowed(ctx, s, pol, h, port, target)
	if !ok {
		return
	}
	lb := &listenBridge{s: s, ws: ws, ln: ln, pending: map[string]*pendingConn{}, claimed: map[*stream]struct{}{}}
	if !r.addListener(lb) {
		ln.Close()
		s.finish(wire.CloseShuttingDown, errShuttingDown.Error())
		return
	}
	defer r.removeListener(lb)
	s.addr = canonicalAddr(ln.Addr())
	if err := writeMessage(context.Background(), ws, wire.Message{Type: wire.TypeListening, Addr: s.addr, Max: r.cfg.MaxMessageSize}); err != nil {
		lb.close(r)
		s.finishHint(clientGone(err, 0))
		return
	}

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.acceptLoop(lb) }()
	go func() { defer wg.Done(); r.readControlStream(s, ws) }()
	go func() { defer wg.Done(); pingLoop(s, ws) }()
	<-s.ctx.Done()
	lb.close(r) // first: the port is free before the close handshake
	closeWS(ws, s.code, s.reason)
	wg.Wait()
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
		pc := &pendingConn{id: newAcceptID(), conn: conn, remote: canonicalAddr(conn.RemoteAddr()), lb: lb}
		pc.timer = time.AfterFunc(r.cfg.AcceptTimeout, func() { r.expire(pc) })
		if !r.addPending(pc) {
			pc.timer.Stop()
			conn.Close()
			r.log.Warn("accepted connection dropped", "listener", lb.s.addr, "remote", pc.remote, "reason", "too many unclaimed connections")
			continue
		}
		if err := writeMessage(context.Background(), lb.ws, wire.Message{Type: wire.TypeAccept, ID: pc.id, Remote: pc.remote}); err != nil {
			lb.s.finishHint(clientGone(err, 0))
			return
		}
	}
}

// readControlStream reads the control stream until the client closes it
// or goes away; either ends the listener.
func (r *Relay) readControlStream(s *stream, ws *websocket.Conn) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		typ, msg, err := ws.Reader(context.Background())
		if err != nil {
			s.finishHint(clientGone(err, r.cfg.MaxMessageSize))
			return
		}
		if typ == websocket.MessageBinary {
			s.finish(wire.CloseBadRequest, "no data on a listen control stream")
			return
		}
		if _, err := readControl(msg, *bp); err != nil {
			s.finish(wire.CloseBadRequest, err.Error())
			return
		}
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

// serveAccept is GET /v1/accept?id=ID: the stream of one accepted
// connection, claimed by the client that owns its listener.
func (r *Relay) serveAccept(w http.ResponseWriter, req *http.Request) {
	s, ws := r.open(w, req, "accept")
	if s == nil {
		return
	}
	defer r.end(s, ws)

	id, err := parseAcceptID(req.URL.Query().Get("id"))
	if err != nil {
		r.refuse(s, "bad_target", wire.CloseBadRequest, err.Error())
		return
	}
	if !r.takeFlow(s, req) {
		return
	}
	pc := r.claim(id, s)
	if pc == nil {
		r.refuse(s, "bad_target", wire.CloseBadRequest, fmt.Sprintf("unknown or expired accept id (claim it within %v of the accept message)", r.cfg.AcceptTimeout))
		return
	}
	lb := pc.lb
	s.target, s.addr = lb.s.addr, pc.remote
	if !lb.addClaimed(s) {
		pc.conn.Close()
		s.finish(wire.CloseGoingAway, "listener closed")
		return
	}
	defer lb.removeClaimed(s)
	if err := writeMessage(context.Background(), ws, wire.Message{Type: wire.TypeOpen, Addr: pc.remote, Max: r.cfg.MaxMessageSize, Flow: s.flowWindow(), Credit: s.upCredit()}); err != nil {
		pc.conn.Close()
		s.finishHint(clientGone(err, 0))
		return
	}
	r.bridge(s, ws, pc.conn)
}

func newAcceptID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (r *Relay) addPending(pc *pendingConn) bool {
	lb := pc.lb
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed || len(lb.pending) >= maxPendingPerListener {
		return false
	}
	lb.pending[pc.id] = pc
	r.mu.Lock()
	r.pending[pc.id] = pc
	r.mu.Unlock()
	return true
}

// claim takes a pending connection for s: single use, and only by the
// client (address and token) that owns the listener. Unknown and foreign
// ids look the same.
func (r *Relay) claim(id string, s *stream) *pendingConn {
	r.mu.Lock()
	pc := r.pending[id]
	if pc == nil || pc.lb.s.client != s.client || pc.lb.s.token != s.token {
		r.mu.Unlock()
		return nil
	}
	delete(r.pending, id)
	r.mu.Unlock()
	pc.timer.Stop()
	lb := pc.lb
	lb.mu.Lock()
	delete(lb.pending, id)
	lb.mu.Unlock()
	return pc
}

// expire closes an accepted connection nobody claimed in time.
func (r *Relay) expire(pc *pendingConn) {
	r.mu.Lock()
	if r.pending[pc.id] != pc {
		r.mu.Unlock()
		return
	}
	delete(r.pending, pc.id)
	r.mu.Unlock()
	pc.lb.mu.Lock()
	delete(pc.lb.pending, pc.id)
	pc.lb.mu.Unlock()
	pc.conn.Close()
	r.log.Info("accepted connection closed unclaimed", "listener", pc.lb.s.addr, "remote", pc.remote, "after", r.cfg.AcceptTimeout.String())
}

func (lb *listenBridge) addClaimed(s *stream) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return false
	}
	lb.claimed[s] = struct{}{}
	return true
}

func (lb *listenBridge) removeClaimed(s *stream) {
	lb.mu.Lock()
	delete(lb.claimed, s)
	lb.mu.Unlock()
}

// stopAccepting closes the listener, keeping established streams.
func (lb *listenBridge) stopAccepting() {
	lb.mu.Lock()
	lb.stopped = true
	lb.mu.Unlock()
	lb.ln.Close()
}

// close closes the listener, every unclaimed connection and every stream
// it accepted.
func (lb *listenBridge) close(r *Relay) {
	lb.mu.Lock()
	lb.closed = true
	pending := lb.pending
	lb.pending = map[string]*pendingConn{}
	claimed := make([]*stream, 0, len(lb.claimed))
	for s := range lb.claimed {
		claimed = append(claimed, s)
	}
	lb.mu.Unlock()
	lb.ln.Close()
	r.mu.Lock()
	for id := range pending {
		delete(r.pending, id)
	}
	r.mu.Unlock()
	for _, pc := range pending {
		pc.timer.Stop()
		pc.conn.Close()
	}
	for _, s := range claimed {
		s.finish(wire.CloseGoingAway, "listener closed")
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
