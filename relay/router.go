package relay

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// routes builds the relay's router. WebSocket routes get no Timeout
// middleware: a stream lives as long as its data flows.
func (r *Relay) routes() http.Handler {
	mux := chi.NewRouter()
	mux.Get("/healthz", r.healthz)
	mux.Group(func(g chi.Router) {
		g.Use(r.checkHost)
		g.Method(http.MethodGet, "/metrics", r.publicMetrics())
		g.Get("/v1/dial", r.tracked(r.serveDial))
		g.Get("/v1/listen", r.tracked(r.serveListen))
		g.Get("/v1/resume", r.tracked(r.serveResume))
	})
	// Unknown paths (/v1/accept of older clients among them) are behind
	// the Host check too: a rebinding page learns nothing from a 404.
	mux.NotFound(r.checkHost(http.NotFoundHandler()).ServeHTTP)
	return mux
}

// WithUI serves the relay's routes and, for every other path, ui, behind
// the same Host check.
func (r *Relay) WithUI(ui http.Handler) http.Handler {
	mux := chi.NewRouter()
	mux.Handle("/v1/*", r.handler)
	mux.Handle("/healthz", r.handler)
	mux.Handle("/metrics", r.handler)
	mux.Handle("/*", r.checkHost(ui))
	return mux
}

// tracked counts a WebSocket handler so Shutdown can wait for it.
func (r *Relay) tracked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !r.enter() {
			http.Error(w, "tunnelkit relay: "+errShuttingDown.Error(), http.StatusServiceUnavailable)
			return
		}
		defer r.wg.Done()
		h(w, req)
	}
}

// healthz answers "ok" for load balancers and scripts, and, asked with
// Accept: application/json, {"status":"ok","token":true|false} so the page
// can show its token field before the first refusal. The answer says only
// whether a token is needed, nothing about any token.
func (r *Relay) healthz(w http.ResponseWriter, req *http.Request) {
	w.Header().Add("Vary", "Accept")
	r.mu.Lock()
	closing := r.closing
	r.mu.Unlock()
	status, code := "ok", http.StatusOK
	if closing {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	if strings.Contains(req.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(struct {
			Status string `json:"status"`
			Token  bool   `json:"token"`
		}{status, len(r.live().tokens) > 0})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(status + "\n"))
}
