package relay

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"

	"github.com/coder/websocket"
)

func TestHealthzAndMetrics(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	roundTrip(t, ctx, ws, "counted")
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target=127.0.0.1:1"), dialOpts{}, wire.CloseRefused, "not in allow list")

	body := get(t, tr.srv.URL+"/healthz", http.StatusOK)
	if body != "ok\n" {
		t.Fatalf("healthz = %q", body)
	}
	wants := []string{
		`tunnelkit_relay_streams_active{kind="dial"} 1`,
		`tunnelkit_relay_streams_total{kind="dial"} 2`,
		`tunnelkit_relay_bytes_total{direction="up"} 7`,
		`tunnelkit_relay_bytes_total{direction="down"} 7`,
		`tunnelkit_relay_refusals_total{reason="policy"} 1`,
		`tunnelkit_relay_dial_duration_seconds_count 1`,
	}
	// The refused stream's handler may still be finishing: poll, bounded.
	var missing string
	for i := 0; i < 100; i++ {
		metrics := get(t, tr.srv.URL+"/metrics", http.StatusOK)
		missing = ""
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if missing != "" {
		t.Errorf("metrics lack %s", missing)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
