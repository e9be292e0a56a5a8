package relay

import (
	"net/http"
	"strings"
)

// Who may read /metrics. The metrics name targets' counts and the relay's
// load: on a relay that wants tokens, the public listener shows them only
// to a token holder; with a private metrics listener, not at all.

// publicMetrics is /metrics on the relay's public Handler.
func (r *Relay) publicMetrics() http.Handler {
	m := r.metrics.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.cfg.MetricsListen != "" {
			http.Error(w, "tunnelkit relay: metrics are served on the relay's private metrics listener", http.StatusNotFound)
			return
		}
		if len(r.live().tokens) > 0 {
			client := clientIP(req, r.trusted)
			if wait := r.backoff.wait(client); wait > 0 {
				r.refuseHTTP(w, req, "token_backoff", http.StatusTooManyRequests, backoffReason(wait), "")
				return
			}
			tok, err := r.authenticateBearer(req)
			if err != nil {
				r.noteTokenFailure(client, err)
				w.Header().Set("WWW-Authenticate", `Bearer realm="tunnelkit relay"`)
				r.refuseHTTP(w, req, "token", http.StatusUnauthorized, "relay refused: "+err.Error(), "see --token-file")
				return
			}
			r.backoff.success(client)
			_ = tok
		}
		m.ServeHTTP(w, req)
	})
}

// MetricsHandler serves /metrics and /healthz for a private listener
// (Config.MetricsListen), behind the Host check (the listener's own host,
// IP literals and localhost): a rebinding page must not read it either.
func (r *Relay) MetricsHandler() http.Handler {
	rule := hostRule{listen: hostOf(r.cfg.MetricsListen)}
	m := r.metrics.handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", r.healthz)
	mux.Handle("/metrics", m)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/healthz" && !rule.allows(req.Host) {
			r.metrics.refusals.WithLabelValues("host").Inc()
			http.Error(w, "tunnelkit relay: not a name this listener answers to", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// authenticateBearer finds the token of a plain HTTP request: an
// Authorization: Bearer header (what Prometheus sends) or the cookie.
func (r *Relay) authenticateBearer(req *http.Request) (*token, error) {
	if v, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok && v != "" {
		return findToken(r.live().tokens, strings.TrimSpace(v))
	}
	if c, err := req.Cookie(tokenCookie); err == nil && c.Value != "" {
		return findToken(r.live().tokens, c.Value)
	}
	return nil, errNoToken
}

// refuseHTTP refuses a plain HTTP request: logged, counted, and the
// reason (no flags) to the client.
func (r *Relay) refuseHTTP(w http.ResponseWriter, req *http.Request, metric string, status int, reason, hint string) {
	r.metrics.refusals.WithLabelValues(metric).Inc()
	attrs := []any{"reason", metric, "from", clientIP(req, r.trusted).String(), "path", clientText(req.URL.Path), "status", status, "close_reason", reason}
	if hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	r.log.Warn("refused", attrs...)
	http.Error(w, "tunnelkit relay: "+reason, status)
}
