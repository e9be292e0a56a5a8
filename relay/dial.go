package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/resolve"

	"tunnelkit/relay/wire"
)

// maxDialAddrs bounds how many resolved addresses one dial tries.
const maxDialAddrs = 8

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
	pol := r.allow
	if s.token != nil {
		pol = s.token.allow
	}

	ctx, cancel := context.WithTimeout(s.ctx, r.cfg.DialTimeout)
	defer cancel()
	start := time.Now()
	addrs, ok := r.checkDial(ctx, s, pol, h, port, target)
	if !ok {
		return
	}
	conn, err := r.dialFirst(ctx, s, addrs, target)
	if err != nil {
		return
	}
	r.metrics.dialDuration.Observe(time.Since(start).Seconds())
	if err := writeMessage(context.Background(), ws, wire.Message{Type: wire.TypeOpen, Addr: s.addr, Max: r.cfg.MaxMessageSize, Flow: s.window(), Credit: s.credit()}); err != nil {
		conn.Close()
		s.finish(clientGone(err, 0))
		return
	}
	r.bridge(s, ws, conn)
}

// checkDial returns the addresses target may be dialed at, or refuses the
// stream. An IP literal must be allowed as an address; a name is resolved
// here, and each address is checked: a name rule covers what the name
// resolves to, except link-local and metadata addresses.
func (r *Relay) checkDial(ctx context.Context, s *stream, pol policy, h resolve.Host, port uint16, target string) ([]netip.AddrPort, bool) {
	if h.IsAddr() {
		a := h.Addr
		switch {
		case a.IsUnspecified():
			r.refuse(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused %s: unspecified address (name the host)", target))
			return nil, false
		case pol.allowsAddr(a, port):
			return []netip.AddrPort{netip.AddrPortFrom(a, port)}, true
		}
		r.refuse(s, "policy", wire.CloseRefused, refusedText(target, a, port))
		return nil, false
	}
	nameOK := pol.allowsName(h.Name, port)
	if !nameOK && !pol.hasAddrRuleFor(port) {
		// Nothing could allow it: refuse without asking DNS.
		r.refuse(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused %s: not in allow list (see --allow)", target))
		return nil, false
	}
	found, err := r.cfg.Resolver.LookupNetIP(ctx, "ip", h.Name)
	if err != nil {
		if ctx.Err() != nil && s.ctx.Err() == nil {
			r.refuse(s, "dial_timeout", wire.CloseDialTimeout, fmt.Sprintf("relay timed out resolving %s (see --dial-timeout)", target))
		} else {
			r.refuse(s, "resolve", wire.CloseDialFailed, fmt.Sprintf("relay could not resolve %s: %s", target, resolveErrText(err)))
		}
		return nil, false
	}
	var ok []netip.AddrPort
	var refused []string
	for _, a := range found {
		a = a.Unmap()
		if pol.allowsResolved(nameOK, a, port) && len(ok) < maxDialAddrs {
			ok = append(ok, netip.AddrPortFrom(a, port))
		} else {
			refused = append(refused, a.String())
		}
	}
	if len(refused) > 0 {
		r.log.Info("dropped resolved addresses", "target", target, "refused", refused, "from", s.client.String())
	}
	if len(ok) == 0 {
		why := "not in allow list (see --allow)"
		if len(found) > 0 {
			if _, sens := sensitiveRange(found[0].Unmap()); sens {
				why = "link-local or metadata address (allow it by address with --allow)"
			}
		}
		r.refuse(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused %s (resolves to %s): %s", target, strings.Join(refused, " "), why))
		return nil, false
	}
	return ok, true
}

// refusedText explains why an address target was refused.
func refusedText(target string, a netip.Addr, port uint16) string {
	if _, sens := sensitiveRange(a.WithZone("")); sens {
		return fmt.Sprintf("relay refused %s: link-local or metadata address (allow it by address: --allow %s)", target, netip.AddrPortFrom(a.WithZone(""), port))
	}
	return fmt.Sprintf("relay refused %s: not in allow list (see --allow)", target)
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
		r.refuse(s, "dial_timeout", wire.CloseDialTimeout, fmt.Sprintf("relay timed out dialing %s (see --dial-timeout)", target))
	default:
		r.refuse(s, "dial", wire.CloseDialFailed, fmt.Sprintf("relay could not connect to %s: %s", target, netErrText(err)))
	}
	return nil, err
}

func resolveErrText(err error) string {
	if de := (*net.DNSError)(nil); errors.As(err, &de) {
		return de.Err
	}
	return err.Error()
}

// open upgrades the request and admits the stream: token, limits. It
// returns nil after closing the WebSocket with the reason when refused.
func (r *Relay) open(w http.ResponseWriter, req *http.Request, kind string) (*stream, *websocket.Conn) {
	client := clientIP(req, r.trusted)
	tok, authErr := r.authenticate(req)
	ws, err := websocket.Accept(w, req, r.acceptOpts)
	if err != nil {
		metric := "handshake"
		if strings.Contains(err.Error(), "Origin") {
			metric = "origin"
		}
		r.metrics.refusals.WithLabelValues(metric).Inc()
		r.log.Warn("refused", "reason", metric, "from", client.String(), "path", req.URL.Path, "origin", req.Header.Get("Origin"), "err", err.Error())
		return nil, nil
	}
	ws.SetReadLimit(r.cfg.MaxMessageSize)
	if authErr != nil {
		r.refuseBefore(ws, req, client, "token", wire.CloseUnauthorized, "relay refused: "+authErr.Error()+" (see --token-file)")
		return nil, nil
	}
	s, code, reason := r.begin(kind, client, tok)
	if s == nil {
		metric := "limit"
		if code == wire.CloseShuttingDown {
			metric = "shutdown"
		}
		r.refuseBefore(ws, req, client, metric, code, reason)
		return nil, nil
	}
	return s, ws
}
