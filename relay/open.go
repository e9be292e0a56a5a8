package relay

import (
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// open upgrades the request and admits the stream: token, limits. It
// returns nil after closing the WebSocket with the reason when refused.
func (r *Relay) open(w http.ResponseWriter, req *http.Request, kind string) (*stream, *websocket.Conn) {
	client := clientIP(req, r.trusted)
	wait := r.backoff.wait(client)
	var tok *token
	var authErr error
	if wait == 0 {
		tok, authErr = r.authenticate(req)
	}
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
	if wait > 0 {
		r.refuseBefore(ws, req, client, "token_backoff", wire.CloseOverLimit, "relay refused: "+backoffReason(wait), "")
		return nil, nil
	}
	if authErr != nil {
		r.noteTokenFailure(client, authErr)
		r.refuseBefore(ws, req, client, "token", wire.CloseUnauthorized, "relay refused: "+authErr.Error(), "see --token-file")
		return nil, nil
	}
	if tok != nil {
		r.backoff.success(client)
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
