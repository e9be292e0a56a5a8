package relay

import (
	"encoding/json"
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

// TestHealthzJSONSaysWhetherATokenIsNeeded: the page asks /healthz with
// Accept: application/json to show its token field before any refusal;
// without that header the answer stays the plain "ok" load balancers use.
func TestHealthzJSONSaysWhetherATokenIsNeeded(t *testing.T) {
	open := startRelay(t, Config{})
	locked := startRelay(t, Config{Tokens: []Token{{Name: "alice", Secret: "0123456789abcdef0123"}}})
	for _, tc := range []struct {
		name  string
		tr    *testRelay
		token bool
	}{{"no tokens", open, false}, {"token file", locked, true}} {
		t.Run(tc.name, func(t *testing.T) {
			if body := get(t, tc.tr.srv.URL+"/healthz", http.StatusOK); body != "ok\n" {
				t.Fatalf("plain healthz = %q, want %q", body, "ok\n")
			}
			req, err := http.NewRequest(http.MethodGet, tc.tr.srv.URL+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("json healthz: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var got struct {
				Status string `json:"status"`
				Token  *bool  `json:"token"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("json healthz: %v", err)
			}
			if got.Status != "ok" || got.Token == nil || *got.Token != tc.token {
				t.Fatalf("json healthz = %+v (token %v), want status ok, token %v", got, got.Token, tc.token)
			}
		})
	}
}
