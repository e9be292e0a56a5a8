// Package relaytest runs a real tunnelkit relay on loopback for tests.
package relaytest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tunnelkit/relay"
)

// Start runs a relay with cfg on a loopback HTTP server, shuts it down when
// the test ends, and returns its ws:// URL.
func Start(t testing.TB, cfg relay.Config) string {
	t.Helper()
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
