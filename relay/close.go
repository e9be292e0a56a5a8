package relay

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// closeWS sends a close frame with a reason cut to the 123 bytes a close
// frame can carry; it waits (bounded by the websocket package) for the peer.
func closeWS(ws *websocket.Conn, code wire.CloseCode, reason string) {
	_ = ws.Close(websocket.StatusCode(code), truncate(reason, 123))
}

// refuseBefore closes a WebSocket refused before it became a stream. The
// hint, for the operator, goes to the log only.
func (r *Relay) refuseBefore(ws *websocket.Conn, req *http.Request, client netip.Addr, metric string, code wire.CloseCode, reason, hint string) {
	r.metrics.refusals.WithLabelValues(metric).Inc()
	attrs := []any{"reason", metric, "from", client.String(), "path", clientText(req.URL.Path), "close_code", int(code), "close_reason", clientText(reason)}
	if hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	r.log.Warn("refused", attrs...)
	closeWS(ws, code, reason)
}

// refuse finishes a stream that policy or the target turned down.
func (r *Relay) refuse(s *stream, metric string, code wire.CloseCode, reason string) {
	r.refuseHint(s, metric, code, reason, "")
}

// refuseHint is refuse with a hint for the operator's audit log.
func (r *Relay) refuseHint(s *stream, metric string, code wire.CloseCode, reason, hint string) {
	s.refusal = metric
	r.metrics.refusals.WithLabelValues(metric).Inc()
	s.finishHint(code, reason, hint)
}

// clientGone turns a WebSocket read or write error into the stream's end:
// code, reason and hint.
func clientGone(err error, max int64) (wire.CloseCode, string, string) {
	if ce := (websocket.CloseError{}); errors.As(err, &ce) {
		return wire.CloseCode(ce.Code), fmt.Sprintf("client closed (%d %s)", ce.Code, ce.Reason), ""
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return wire.CloseTooBig, fmt.Sprintf("message over %d bytes", max), "see --max-message-size"
	}
	return wire.CloseGoingAway, "client went away", ""
}

// netErrText is the useful tail of a net error: "connect: connection refused".
func netErrText(err error) string {
	if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// resolveErrText is the useful tail of a lookup error: "no such host".
func resolveErrText(err error) string {
	if de := (*net.DNSError)(nil); errors.As(err, &de) {
		return de.Err
	}
	return err.Error()
}
