package relay

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"
)

// openResumable opens a resumable dial stream to target and returns it
// with the relay's open message.
func openResumable(t *testing.T, ctx context.Context, tr *testRelay, target string, o dialOpts) (*websocket.Conn, wire.Message) {
	t.Helper()
	ws := connect(t, ctx, tr.wsURL("/v1/dial?resume=1&target="+target), o)
	m, err := readMessage(ctx, ws)
	if err != nil || m.Type != wire.TypeOpen || len(m.Resume) != 32 || m.Window <= 0 {
		t.Fatalf("open = %+v, %v: want a 128-bit resume id and a window", m, err)
	}
	return ws, m
}

// dialFromAddr is a WebSocket dial from another loopback address.
func dialFromAddr(ctx context.Context, url, src string, o dialOpts) (*websocket.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	protos := []string{wire.Subprotocol}
	if o.token != "" {
		protos = append(protos, wire.TokenPrefix+o.token)
	}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: newRawClient(d.DialContext), Subprotocols: protos})
	return ws, err
}

func TestResumeReplaysAndContinues(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 20*time.Second)
	ws, m := openResumable(t, ctx, tr, echo, dialOpts{})
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("before ")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "before " {
		t.Fatalf("echo %q, %v", b, err)
	}
	// The client received 7 bytes, acknowledged none; then its link drops.
	ws.CloseNow()
	ws2 := connect(t, ctx, tr.wsURL("/v1/resume?n=7&id="+m.Resume), dialOpts{})
	r, err := readMessage(ctx, ws2)
	if err != nil || r.Type != wire.TypeResumed || r.N != 7 {
		t.Fatalf("resumed = %+v, %v; want n=7 (the bytes the relay received)", r, err)
	}
	ws2.Write(ctx, websocket.MessageBinary, []byte("after"))
	if _, b, err := ws2.Read(ctx); err != nil || string(b) != "after" {
		t.Fatalf("after resume: echo %q, %v", b, err)
	}
	if resumed, _ := tr.ResumeStats(); resumed != 1 {
		t.Fatalf("%d resumes counted", resumed)
	}
	ws2.Close(websocket.StatusNormalClosure, "")
}

func TestResumeReplaysUnreceived(t *testing.T) {
	src := sshtest.StartSource(t, "127.0.0.1:0", 100000, 7)
	tr := startRelay(t, Config{Allow: []string{src}})
	ctx := testCtx(t, 20*time.Second)
	ws, m := openResumable(t, ctx, tr, src, dialOpts{})
	_, first, err := ws.Read(ctx)
	if err != nil || len(first) == 0 {
		t.Fatal(err)
	}
	ws.CloseNow()
	// Claim only 10 bytes received: the relay sends again from there.
	ws2 := connect(t, ctx, tr.wsURL("/v1/resume?n=10&id="+m.Resume), dialOpts{})
	if r, err := readMessage(ctx, ws2); err != nil || r.Type != wire.TypeResumed {
		t.Fatalf("resumed = %+v, %v", r, err)
	}
	var got bytes.Buffer
	got.Write(first[:10])
	for got.Len() < 100000 {
		typ, b, err := ws2.Read(ctx)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
		if typ == websocket.MessageBinary {
			got.Write(b)
		}
	}
	var want bytes.Buffer
	want.ReadFrom(strings.NewReader(string(dataOf(7, 100000))))
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("replayed stream differs from the source's bytes")
	}
	ws2.Close(websocket.StatusNormalClosure, "")
}

func dataOf(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := sshtest.Data(seed)
	for off := 0; off < n; {
		k, _ := r.Read(b[off:])
		off += k
	}
	return b
}

func TestResumeOnlyByItsClient(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, Tokens: []Token{{Name: "alice", Secret: "alice-secret-token-1234"}, {Name: "bob", Secret: "bob-secret-token-123456"}}})
	ctx := testCtx(t, 20*time.Second)
	ws, m := openResumable(t, ctx, tr, echo, dialOpts{token: "alice-secret-token-1234"})
	ws.CloseNow()
	url := tr.wsURL("/v1/resume?n=0&id=" + m.Resume)
	refusedWith(t, ctx, url, dialOpts{token: "bob-secret-token-123456"}, wire.CloseRefused, "another client")
	refusedWith(t, ctx, url, dialOpts{}, wire.CloseUnauthorized, "token")
	other, err := dialFromAddr(ctx, url, "127.0.0.2", dialOpts{token: "alice-secret-token-1234"})
	if err != nil {
		t.Fatal(err)
	}
	if code, reason := expectClose(t, ctx, other); code != wire.CloseRefused || !strings.Contains(reason, "another client") {
		t.Fatalf("resume from another address: %d %q", code, reason)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n=0&id=00112233445566778899aabbccddeeff"), dialOpts{token: "alice-secret-token-1234"}, wire.CloseUnknownStream, "no stream")
	// The stream's own client still resumes after all that.
	ws2 := connect(t, ctx, url, dialOpts{token: "alice-secret-token-1234"})
	if r, err := readMessage(ctx, ws2); err != nil || r.Type != wire.TypeResumed {
		t.Fatalf("own resume = %+v, %v", r, err)
	}
	ws2.Close(websocket.StatusNormalClosure, "")
}

func TestResumeWindowExpires(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, ResumeWindow: 200 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	ws, m := openResumable(t, ctx, tr, echo, dialOpts{})
	if m.Window != 200 {
		t.Fatalf("window %d ms, want 200", m.Window)
	}
	ws.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, expired := tr.ResumeStats(); expired == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n=0&id="+m.Resume), dialOpts{}, wire.CloseUnknownStream, "no stream")
	if !strings.Contains(tr.logs.String(), "did not resume within") {
		t.Fatalf("audit log lacks the expiry:\n%s", tr.logs.String())
	}
}

func TestResumeBadPosition(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, ResumeWindow: time.Second})
	ctx := testCtx(t, 20*time.Second)
	ws, m := openResumable(t, ctx, tr, echo, dialOpts{})
	ws.CloseNow()
	refusedWith(t, ctx, tr.wsURL("/v1/resume?n="+strconv.Itoa(1<<30)+"&id="+m.Resume), dialOpts{}, wire.CloseBadRequest, "resume position")
}
