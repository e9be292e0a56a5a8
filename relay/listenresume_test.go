package relay

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// TestListenResumeOnlyByItsClient: a listen stream's resume id is bound to
// the client's address and token, like a dial stream's, and the listener
// stays bound while its client is away.
func TestListenResumeOnlyByItsClient(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}, Tokens: []Token{{Name: "alice", Secret: "alice-secret-token-1234"}, {Name: "bob", Secret: "bob-secret-token-123456"}}})
	ctx := testCtx(t, 20*time.Second)
	alice := dialOpts{token: "alice-secret-token-1234"}
	ws := connect(t, ctx, tr.wsURL("/v1/listen?resume=1&addr=127.0.0.1:0"), alice)
	m, err := readMessage(ctx, ws)
	if err != nil || m.Type != wire.TypeListening || len(m.Resume) != 32 || m.Window <= 0 {
		t.Fatalf("listening = %+v, %v: want a 128-bit resume id and a window", m, err)
	}
	ws.CloseNow()
	url := tr.wsURL("/v1/resume?n=0&id=" + m.Resume)
	refusedWith(t, ctx, url, dialOpts{token: "bob-secret-token-123456"}, wire.CloseRefused, "another client")
	refusedWith(t, ctx, url, dialOpts{}, wire.CloseUnauthorized, "token")
	other, err := dialFromAddr(ctx, url, "127.0.0.2", alice)
	if err != nil {
		t.Fatal(err)
	}
	if code, reason := expectClose(t, ctx, other); code != wire.CloseRefused || !strings.Contains(reason, "another client") {
		t.Fatalf("resume from another address: %d %q", code, reason)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n=1&id="+m.Resume), alice, wire.CloseBadRequest, "resume position")
	// The listener is still bound, and its own client resumes it: a
	// connection accepted meanwhile is announced on the new WebSocket.
	peer, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		t.Fatalf("listener not bound while its client is away: %v", err)
	}
	defer peer.Close()
	ws2 := connect(t, ctx, url, alice)
	if r, err := readMessage(ctx, ws2); err != nil || r.Type != wire.TypeResumed || r.N != 0 {
		t.Fatalf("own resume = %+v, %v; want resumed with n=0", r, err)
	}
	_, raw, err := ws2.Read(ctx)
	if a, perr := wire.ParseMessage(raw); err != nil || perr != nil || a.Type != wire.TypeAccept || a.Conn != 1 {
		t.Fatalf("after resume: %s, %v; want the accept of connection 1", raw, err)
	}
	// Dropped again: a position inside that message is refused, its end
	// is taken, and connection 1 still carries to its peer.
	ws2.CloseNow()
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n=3&id="+m.Resume), alice, wire.CloseBadRequest, "resume position")
	ws3 := connect(t, ctx, tr.wsURL("/v1/resume?n="+strconv.Itoa(len(raw))+"&id="+m.Resume), alice)
	if r, err := readMessage(ctx, ws3); err != nil || r.Type != wire.TypeResumed {
		t.Fatalf("second resume = %+v, %v", r, err)
	}
	frame := make([]byte, wire.FrameHeader, wire.FrameHeader+5)
	wire.PutFrameHeader(frame, 1, 5)
	if err := ws3.Write(ctx, websocket.MessageBinary, append(frame, "hello"...)); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "hello" {
		t.Fatalf("peer read %q, %v; want hello through the resumed stream", got, err)
	}
	ws3.Close(websocket.StatusNormalClosure, "")
}

// TestListenResumeWindowExpires: past the window the listener closes
// (its port is free) and its resume id is unknown.
func TestListenResumeWindowExpires(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}, ResumeWindow: 200 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	ws := connect(t, ctx, tr.wsURL("/v1/listen?resume=1&addr=127.0.0.1:0"), dialOpts{})
	m, err := readMessage(ctx, ws)
	if err != nil || m.Resume == "" || m.Window != 200 {
		t.Fatalf("listening = %+v, %v; want a resume id and a 200 ms window", m, err)
	}
	ws.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, expired := tr.ResumeStats(); expired == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listen stream never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n=0&id="+m.Resume), dialOpts{}, wire.CloseUnknownStream, "no stream")
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr)
		if err != nil {
			break // refused: the port is free
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still bound after the window")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
