package relay

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

func TestMessageSizeLimit(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, MaxMessageSize: 1024})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	roundTrip(t, ctx, ws, strings.Repeat("a", 1024)) // at the limit: fine
	if err := ws.Write(ctx, websocket.MessageBinary, make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	code, reason := expectClose(t, ctx, ws)
	if code != wire.CloseTooBig || !strings.Contains(reason, "--max-message-size") {
		t.Fatalf("close = %d %q, want 1009 naming --max-message-size", code, reason)
	}
}

func TestStreamLimits(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	ctx := testCtx(t, 30*time.Second)
	for _, c := range []struct {
		name          string
		total, client int
		want          string
	}{
		{"per client", 100, 2, "too many streams from 127.0.0.1: limit 2 (see --max-streams-per-client)"},
		{"overall", 2, 100, "relay at its limit of 2 streams (see --max-streams)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := startRelay(t, Config{Allow: []string{echo}, MaxStreams: c.total, MaxStreamsPerClient: c.client})
			u := tr.wsURL("/v1/dial?target=" + echo)
			var open []*websocket.Conn
			for range 2 {
				ws := connect(t, ctx, u, dialOpts{})
				if _, err := readMessage(ctx, ws); err != nil {
					t.Fatal(err)
				}
				open = append(open, ws)
			}
			refusedWith(t, ctx, u, dialOpts{}, wire.CloseOverLimit, c.want)
			// The streams within the limit are undisturbed.
			for _, ws := range open {
				roundTrip(t, ctx, ws, "fine")
				ws.Close(websocket.StatusNormalClosure, "")
			}
			assertLog(t, tr, `"reason":"limit"`)
		})
	}
}

// startFirehose is a TCP service that writes forever to each connection.
func startFirehose(t *testing.T) string {
	return sshtest.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}

// TestMisbehavingClientsDoNotStallOthers: a client that never reads and one
// that went silent (half-open) hold streams while another moves data.
func TestMisbehavingClientsDoNotStallOthers(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	hose := startFirehose(t)
	tr := startRelay(t, Config{Allow: []string{echo, hose}})
	ctx := testCtx(t, 60*time.Second)

	slow := connect(t, ctx, tr.wsURL("/v1/dial?target="+hose), dialOpts{})
	defer slow.CloseNow()
	if _, err := readMessage(ctx, slow); err != nil {
		t.Fatal(err)
	}
	// slow never reads again: the relay's writes to it block.
	silent := connect(t, ctx, tr.wsURL("/v1/dial?target="+echo), dialOpts{})
	defer silent.CloseNow()
	if err := silent.Write(ctx, websocket.MessageBinary, []byte("partial")); err != nil {
		t.Fatal(err)
	}

	ws := dialOpen(t, ctx, tr, echo)
	echoThrough(t, ctx, ws, 8<<20, 64<<10)
	if code, _ := expectClose(t, ctx, ws); code != wire.CloseNormal {
		t.Fatalf("healthy stream closed with %d, want 1000", code)
	}
}

func TestIdleTimeout(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, IdleTimeout: 300 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	roundTrip(t, ctx, ws, "then nothing")
	code, reason := expectClose(t, ctx, ws)
	if code != wire.CloseIdle || !strings.Contains(reason, "--idle-timeout") {
		t.Fatalf("close = %d %q, want 4408 naming --idle-timeout", code, reason)
	}
}

func TestIdleTimeoutSparesBusyStreams(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, IdleTimeout: 2 * time.Second})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	// Traffic every 50 ms for 3 s (longer than the idle timeout) keeps it open.
	for i := 0; i < 60; i++ {
		roundTrip(t, ctx, ws, "tick")
		time.Sleep(50 * time.Millisecond)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}

func TestClientIP(t *testing.T) {
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.9:1234", nil, "203.0.113.9"},
		{"203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},                 // untrusted peer: XFF ignored
		{"10.1.1.1:1234", []string{"1.2.3.4"}, "1.2.3.4"},                        // one trusted hop
		{"10.1.1.1:1234", []string{"6.6.6.6, 1.2.3.4, 192.168.1.1"}, "1.2.3.4"},  // rightmost untrusted
		{"10.1.1.1:1234", []string{"6.6.6.6", "1.2.3.4", "10.2.2.2"}, "1.2.3.4"}, // several headers
		{"10.1.1.1:1234", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},            // all trusted: leftmost
		{"10.1.1.1:1234", []string{"garbage, 10.3.3.3"}, "10.3.3.3"},             // garbage stops the walk
		{"10.1.1.1:1234", nil, "10.1.1.1"},
		{"[::ffff:10.1.1.1]:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(req, trusted); got != netip.MustParseAddr(c.want) {
			t.Errorf("peer %s XFF %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

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

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
	return string(b)
}
