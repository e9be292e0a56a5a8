package relay

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"tunnelkit/internal/sshtest"

	"github.com/coder/websocket"
)

func TestOriginAndHost(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, AllowOrigins: []string{"ui.example"}})
	ctx := testCtx(t, 20*time.Second)
	u := tr.wsURL("/v1/dial?target=" + echo)
	if _, err := tryConnect(ctx, u, dialOpts{origin: "http://evil.example"}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("cross-origin handshake: err = %v, want a 403", err)
	}
	for _, o := range []string{"", tr.srv.URL, "https://ui.example"} {
		ws := connect(t, ctx, u, dialOpts{origin: o})
		if _, err := readMessage(ctx, ws); err != nil {
			t.Fatalf("origin %q: %v", o, err)
		}
		ws.Close(websocket.StatusNormalClosure, "")
	}

	pub := startRelay(t, Config{Allow: []string{echo}, PublicHost: "relay.example"})
	resp, err := http.Get(pub.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("wrong Host: status %d, want 421", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", pub.srv.URL+"/metrics", nil)
	req.Host = "relay.example:443"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("public Host: status %d, want 200", resp.StatusCode)
	}
}
