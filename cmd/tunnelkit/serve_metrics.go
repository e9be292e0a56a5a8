package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"tunnelkit/relay"
)

// startMetrics serves /metrics and /healthz on --metrics-listen, and
// returns the public handler without /metrics. stop shuts it down.
func (o *serveOptions) startMetrics(rl *relay.Relay, public http.Handler) (http.Handler, func(), error) {
	if o.metricsListen == "" {
		return public, func() {}, nil
	}
	ln, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen %s: %w", o.metricsListen, err)
	}
	srv := &http.Server{Handler: rl.MetricsHandler(), ReadHeaderTimeout: rl.HandshakeTimeout(), ReadTimeout: rl.HandshakeTimeout()}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "tunnelkit serve: metrics on http://%s/metrics\n", ln.Addr())
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
	withoutMetrics := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/metrics") { // under --path-prefix too
			http.Error(w, "tunnelkit relay: metrics are served on the metrics port", http.StatusNotFound)
			return
		}
		public.ServeHTTP(w, req)
	})
	return withoutMetrics, stop, nil
}
