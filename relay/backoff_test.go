package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"
)

// fromAddr is an HTTP client whose connections come from the loopback
// address local (127.0.0.0/8 is all loopback on Linux).
func fromAddr(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// dialFrom opens a dial stream from local with token and returns the
// close code and reason, or 0 when the stream opened.
func dialFrom(t *testing.T, ctx context.Context, u, local, tok string) (wire.CloseCode, string) {
	t.Helper()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: fromAddr(local), Subprotocols: []string{"tunnelkit.v1", "tunnelkit.token." + tok}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	defer ws.CloseNow()
	if _, err := readMessage(ctx, ws); err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return wire.CloseCode(ce.Code), ce.Reason
		}
		t.Fatalf("stream from %s: %v", local, err)
	}
	return 0, ""
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestTokenBackoff: after a few wrong tokens an address waits, right token
// or not, and it is logged and counted; another address is unaffected;
// after the wait the right token works again.
func TestTokenBackoff(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	const secret = "0123456789abcdef0123456789abcdef"
	tr := startRelay(t, Config{Tokens: []Token{{Secret: secret, Allow: []string{echo}}}, TokenBackoff: 300 * time.Millisecond})
	ctx := testCtx(t, 30*time.Second)
	u := tr.wsURL("/v1/dial?target=" + echo)
	for i := 0; i < freeTokenFailures+1; i++ {
		if code, _ := dialFrom(t, ctx, u, "127.0.0.2", "wrong-guess-0123456789"); code != wire.CloseUnauthorized {
			t.Fatalf("wrong token %d: close %d, want 4401", i+1, code)
		}
	}
	code, reason := dialFrom(t, ctx, u, "127.0.0.2", secret)
	if code != wire.CloseOverLimit || !strings.Contains(reason, "too many wrong tokens") {
		t.Fatalf("right token during the backoff: %d %q, want 4429 too many wrong tokens", code, reason)
	}
	if code, reason := dialFrom(t, ctx, u, "127.0.0.3", secret); code != 0 {
		t.Fatalf("another address: %d %q, want the stream opened", code, reason)
	}
	assertLog(t, tr, `"msg":"wrong token","from":"127.0.0.2","failures":4,"backoff_s":0.3`, `"reason":"token_backoff"`)
	body := getMetrics(t, tr, secret)
	if !strings.Contains(body, "tunnelkit_relay_token_failures_total 4") || !strings.Contains(body, `tunnelkit_relay_refusals_total{reason="token_backoff"} 1`) {
		t.Errorf("metrics lack the failures and the backoff:\n%s", grepLines(body, "token"))
	}
	// The wait ends (bounded): then the right token is taken and clears it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := dialFrom(t, ctx, u, "127.0.0.2", secret)
		if code == 0 {
			break
		}
		if code != wire.CloseOverLimit || time.Now().After(deadline) {
			t.Fatalf("after the backoff: close %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if w := tr.backoff.wait(mustAddr("127.0.0.2")); w != 0 {
		t.Fatalf("the right token left a wait of %v", w)
	}
}

func getMetrics(t *testing.T, tr *testRelay, tok string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", tr.srv.URL+"/metrics", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHashedToken: a token given by its SHA-256 (as a token file's
// sha256:HEX line) is accepted; the file never holds the token.
func TestHashedToken(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	const secret = "a-token-only-its-owner-knows-0123456789"
	sum := sha256.Sum256([]byte(secret))
	toks, err := ParseTokenFile(strings.NewReader("sha256:" + strings.ToUpper(hex.EncodeToString(sum[:])) + " name=bob " + echo + "\n"))
	if err != nil || len(toks) != 1 || toks[0].Secret != "" || toks[0].Name != "bob" {
		t.Fatalf("ParseTokenFile = %+v %v", toks, err)
	}
	tr := startRelay(t, Config{Tokens: toks})
	ctx := testCtx(t, 20*time.Second)
	u := tr.wsURL("/v1/dial?target=" + echo)
	ws := connect(t, ctx, u, dialOpts{token: secret})
	if _, err := readMessage(ctx, ws); err != nil {
		t.Fatalf("hashed token: %v", err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	refusedWith(t, ctx, u, dialOpts{token: hex.EncodeToString(sum[:])}, wire.CloseUnauthorized, "wrong token")
	assertLog(t, tr, `"token":"bob"`)
	for _, bad := range []string{"sha256:abc", "sha256:" + strings.Repeat("z", 64), "sha256:"} {
		if _, err := ParseTokenFile(strings.NewReader(bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseTokenFile(%q) err = %v, want one naming line 1", bad, err)
		}
	}
}
