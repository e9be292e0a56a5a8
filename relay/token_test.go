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

func TestTokens(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	const secret = "0123456789abcdef0123456789abcdef"
	tr := startRelay(t, Config{Tokens: []Token{{Name: "alice", Secret: secret, Allow: []string{echo}}}})
	ctx := testCtx(t, 20*time.Second)
	u := tr.wsURL("/v1/dial?target=" + echo)
	refusedWith(t, ctx, u, dialOpts{}, wire.CloseUnauthorized, "needs a token")
	refusedWith(t, ctx, u, dialOpts{token: secret + "x"}, wire.CloseUnauthorized, "wrong token")
	refusedWith(t, ctx, u+"&token="+secret, dialOpts{}, wire.CloseUnauthorized, "needs a token")

	ws := connect(t, ctx, u, dialOpts{token: secret})
	if ws.Subprotocol() != "tunnelkit.v1" {
		t.Fatalf("subprotocol = %q, want tunnelkit.v1 (never the token)", ws.Subprotocol())
	}
	if _, err := readMessage(ctx, ws); err != nil {
		t.Fatal(err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	ws = connect(t, ctx, u, dialOpts{header: http.Header{"Cookie": {tokenCookie + "=" + secret}}})
	if _, err := readMessage(ctx, ws); err != nil {
		t.Fatalf("token in cookie: %v", err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	assertLog(t, tr, `"token":"alice"`)
}

func TestParseRuleAndTokenFiles(t *testing.T) {
	allow, listen, err := ParseRuleFile(strings.NewReader("# rules\n127.0.0.1:22  # ssh\n\nlisten=127.0.0.1:0 db.internal:5432\n"))
	if err != nil || strings.Join(allow, " ") != "127.0.0.1:22 db.internal:5432" || strings.Join(listen, " ") != "127.0.0.1:0" {
		t.Fatalf("ParseRuleFile = %q %q %v", allow, listen, err)
	}
	if _, _, err := ParseRuleFile(strings.NewReader("ok.example:1\n*:22\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad rule file error = %v, want one naming line 2", err)
	}
	toks, err := ParseTokenFile(strings.NewReader("# tokens\n0123456789abcdef0123 name=alice 10.0.0.0/8:22 listen=127.0.0.1:*\nfedcba9876543210fedc\n"))
	if err != nil || len(toks) != 2 || toks[0].Name != "alice" || toks[0].Allow[0] != "10.0.0.0/8:22" || toks[0].AllowListen[0] != "127.0.0.1:*" {
		t.Fatalf("ParseTokenFile = %+v %v", toks, err)
	}
	if _, err := ParseTokenFile(strings.NewReader("short\n")); err == nil {
		t.Fatal("a short token was accepted")
	}
}
