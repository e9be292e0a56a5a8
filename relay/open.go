package relay

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// open upgrades the request and admits the stream: token, limits. It
// returns nil after closing the WebSocket with the reason when refused.
func (r *Relay) open(w http.ResponseWriter, req *http.Request, kind string) (*stream, *websocket.Conn) {
	client := clientIP(req, r.trusted)
	wait, tok, authErr := r.presented(req, client)
	ws, err := websocket.Accept(w, req, r.live().acceptOpts)
	if err != nil {
		metric := "handshake"
		if strings.Contains(err.Error(), "Origin") {
			metric = "origin"
		}
		r.metrics.refusals.WithLabelValues(metric).Inc()
		r.log.Warn("refused", "reason", metric, "from", client.String(), "path", clientText(req.URL.Path), "origin", clientText(req.Header.Get("Origin")), "err", clientText(err.Error()))
		return nil, nil
	}
	ws.SetReadLimit(r.cfg.MaxMessageSize)
	if !r.tokenOK(ws, req, client, wait, tok, authErr) {
		return nil, nil
	}
	s, code, reason, hint := r.begin(kind, client, tok)
	if s == nil {
		metric := "limit"
		if code == wire.CloseShuttingDown {
			metric = "shutdown"
		}
		r.refuseBefore(ws, req, client, metric, code, reason, hint)
		return nil, nil
	}
	return s, ws
}

// presented is the token req presents, unless client is waiting out a
// backoff after wrong tokens (then no token is even compared).
func (r *Relay) presented(req *http.Request, client netip.Addr) (wait time.Duration, tok *token, err error) {
	if wait = r.backoff.wait(client); wait == 0 {
		tok, err = r.authenticate(req)
	}
	return wait, tok, err
}

// tokenOK refuses ws when client is in backoff or presented no good
// token, counting a failure toward the backoff; a good token clears it.
func (r *Relay) tokenOK(ws *websocket.Conn, req *http.Request, client netip.Addr, wait time.Duration, tok *token, authErr error) bool {
	if wait > 0 {
		r.refuseBefore(ws, req, client, "token_backoff", wire.CloseOverLimit, "relay refused: "+backoffReason(wait), "")
		return false
	}
	if authErr != nil {
		r.noteTokenFailure(client, authErr)
		r.refuseBefore(ws, req, client, "token", wire.CloseUnauthorized, "relay refused: "+authErr.Error(), "see --token-file")
		return false
	}
	if tok != nil {
		r.backoff.success(client)
	}
	return true
}
