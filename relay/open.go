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
	tok, authErr := r.authenticate(req)
	ws, err := websocket.Accept(w, req, r.live().acceptOpts)
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
		r.refuseBefore(ws, req, client, "token", wire.CloseUnauthorized, "relay refused: "+authErr.Error(), "see --token-file")
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
