package relay

import "net/http"

// OpsHandler serves /healthz and /metrics alone, for a port of their own
// (scraped by address, so without the Host check): the public listener
// then need not expose metrics.
func (r *Relay) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", r.healthz)
	mux.Handle("GET /metrics", r.metrics.handler())
	return mux
}
