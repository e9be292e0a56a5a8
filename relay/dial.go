package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"tunnelkit/relay/resolve"

	"tunnelkit/relay/wire"
)

// serveDial is GET /v1/dial?target=HOST:PORT: check policy on every
// resolved address, dial one that passed, say which, then bridge.
func (r *Relay) serveDial(w http.ResponseWriter, req *http.Request) {
	s, ws := r.open(w, req, "dial")
	if s == nil {
		return
	}
	defer r.end(s, ws)

	s.target = req.URL.Query().Get("target")
	if !r.takeFlow(s, req) {
		return
	}
	h, port, err := resolve.ParseHostPort(s.target)
	if err == nil && port == 0 {
		err = errors.New("port 0")
	}
	if err != nil {
		r.refuse(s, "bad_target", wire.CloseBadRequest, fmt.Sprintf("bad target %q: %v", truncate(s.target, 64), err))
		return
	}
	target := resolve.JoinHostPort(h, port)
	lv := r.live()
	pol := lv.allow
	if s.token != nil {
		pol = s.token.allow
	}

	ctx, cancel := context.WithTimeout(s.ctx, lv.dialTimeout)
	defer cancel()
	start := time.Now()
	addrs, ok := r.allowedAddrs(ctx, s, pol, h, port, target, forDial)
	if !ok {
		return
	}
	conn, err := r.dialFirst(ctx, s, addrs, target)
	if err != nil {
		return
	}
	r.metrics.dialDuration.Observe(time.Since(start).Seconds())
	rs := r.resumableFor(s, req, conn)
	if err := writeMessage(context.Background(), ws, rs.openFields(wire.Message{Type: wire.TypeOpen, Addr: s.addr, Max: r.cfg.MaxMessageSize, Flow: s.flowWindow(), Credit: s.upCredit()})); err != nil {
		conn.Close()
		s.finishHint(clientGone(err, 0))
		return
	}
	if rs != nil {
		r.bridgeResumable(rs, ws)
		return
	}
	r.bridge(s, ws, conn)
}

// dialFirst dials the checked addresses in order and keeps the first that
// answers. It dials exactly the addresses checked: no second lookup.
func (r *Relay) dialFirst(ctx context.Context, s *stream, addrs []netip.AddrPort, target string) (net.Conn, error) {
	var err error
	for _, ap := range addrs {
		var conn net.Conn
		conn, err = r.cfg.Dial(ctx, "tcp", ap.String())
		if err == nil {
			s.addr = ap.String()
			return conn, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case s.ctx.Err() != nil:
		// Finished from outside (shutdown): keep that reason.
	case ctx.Err() != nil:
		r.refuseHint(s, "dial_timeout", wire.CloseDialTimeout, fmt.Sprintf("relay timed out dialing %s", target), "see --dial-timeout")
	default:
		r.refuse(s, "dial", wire.CloseDialFailed, fmt.Sprintf("relay could not connect to %s: %s", target, netErrText(err)))
	}
	return nil, err
}
