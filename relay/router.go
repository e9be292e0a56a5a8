package relay

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes builds the relay's router. WebSocket routes get no Timeout
// middleware: a stream lives as long as its data flows.
func (r *Relay) routes() http.Handler {
	mux := chi.NewRouter()
	mux.Get("/healthz", r.healthz)
	mux.Group(func(g chi.Router) {
		g.Use(r.checkHost)
		g.Method(http.MethodGet, "/metrics", r.metrics.handler())
		g.Get("/v1/dial", r.tracked(r.serveDial))
		g.Get("/v1/listen", r.tracked(r.serveListen))
		g.Get("/v1/accept", r.tracked(r.serveAccept))
		g.Get("/v1/resume", r.tracked(r.serveResume))
	})
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

func (r *Relay) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	r.mu.Lock()
	closing := r.closing
	r.mu.Unlock()
	if closing {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
		return
	}
	w.Write([]byte("ok\n"))
}
