package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// portFreed polls (at most 1 s, 100 tries) until a new listener can bind addr.
func portFreed(t *testing.T, addr string) {
	t.Helper()
	var err error
	for i := 0; i < 100; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still bound a second after its control stream ended: %v", addr, err)
}

func openListener(t *testing.T, ctx context.Context, tr *testRelay, addr string) (*websocket.Conn, string) {
	t.Helper()
	ctl := connect(t, ctx, tr.wsURL("/v1/listen?addr="+url.QueryEscape(addr)), dialOpts{})
	m, err := readMessage(ctx, ctl)
	if err != nil || m.Type != "listening" {
		t.Fatalf("listen %s: %+v %v", addr, m, err)
	}
	return ctl, m.Addr
}

func TestListenBridge(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}})
	ctx := testCtx(t, 30*time.Second)
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	if !strings.HasPrefix(bound, "127.0.0.1:") || strings.HasSuffix(bound, ":0") {
		t.Fatalf("bound address %q, want 127.0.0.1:<port>", bound)
	}

	// A TCP client connects to the relay's listener; the page claims it.
	tcp, err := net.Dial("tcp", bound)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	m, err := readMessage(ctx, ctl)
	if err != nil || m.Type != "accept" || len(m.ID) != 32 || m.Remote != tcp.LocalAddr().String() {
		t.Fatalf("accept message = %+v %v (tcp client %s)", m, err, tcp.LocalAddr())
	}
	st := connect(t, ctx, tr.wsURL("/v1/accept?id="+m.ID), dialOpts{})
	if open, err := readMessage(ctx, st); err != nil || open.Type != "open" || open.Addr != m.Remote {
		t.Fatalf("open = %+v %v", open, err)
	}
	// Claimed once only.
	refusedWith(t, ctx, tr.wsURL("/v1/accept?id="+m.ID), dialOpts{}, wire.CloseBadRequest, "unknown or expired accept id")

	if _, err := tcp.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := st.Read(ctx); err != nil || string(b) != "ping" {
		t.Fatalf("stream got %q %v, want ping", b, err)
	}
	if err := st.Write(ctx, websocket.MessageBinary, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tcp, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("tcp got %q %v, want pong", buf, err)
	}

	// Closing the control stream closes the listener and its connections.
	ctl.Close(websocket.StatusNormalClosure, "done")
	portFreed(t, bound)
	if code, reason := expectClose(t, ctx, st); code != wire.CloseGoingAway || reason != "listener closed" {
		t.Fatalf("accepted stream closed with %d %q, want 1001 listener closed", code, reason)
	}
	tcp.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tcp.Read(buf); err == nil {
		t.Fatal("accepted TCP connection still open after its listener closed")
	}
}

func TestListenPortFreedWhenWebSocketDrops(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:0"}})
	ctx := testCtx(t, 30*time.Second)

	// A raw TCP connection under the WebSocket, to drop it without a close frame.
	var raw net.Conn
	dialer := &net.Dialer{}
	ws, _, err := websocket.Dial(ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:0"), &websocket.DialOptions{
		Subprotocols: []string{"tunnelkit.v1"},
		HTTPClient: newRawClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			raw = c
			return c, err
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	m, err := readMessage(ctx, ws)
	if err != nil || m.Type != "listening" {
		t.Fatalf("listening = %+v %v", m, err)
	}
	// An accepted connection still waiting to be claimed must go too.
	tcp, err := net.Dial("tcp", m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if acc, err := readMessage(ctx, ws); err != nil || acc.Type != "accept" {
		t.Fatalf("accept = %+v %v", acc, err)
	}
	raw.Close()
	portFreed(t, m.Addr)
	tcp.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tcp.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unclaimed connection read: %v, want closed", err)
	}
}

func TestListenRefusals(t *testing.T) {
	rec := &recordingDialer{}
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:0"}, Dial: rec.Dial, AcceptTimeout: 200 * time.Millisecond})
	ctx := testCtx(t, 30*time.Second)
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=0.0.0.0:0"), dialOpts{}, wire.CloseRefused, "relay refused listen on 0.0.0.0:0: not in listen allow list")
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:8080"), dialOpts{}, wire.CloseRefused, "relay refused listen on 127.0.0.1:8080: not in listen allow list")
	assertLog(t, tr, `"target":"127.0.0.1:8080"`, `"hint":"see --allow-listen"`)
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=nonsense"), dialOpts{}, wire.CloseBadRequest, "bad listen address")
	refusedWith(t, ctx, tr.wsURL("/v1/accept?id=zz"), dialOpts{}, wire.CloseBadRequest, "bad accept id")
	refusedWith(t, ctx, tr.wsURL("/v1/accept?id=0123456789abcdef0123456789abcdef"), dialOpts{}, wire.CloseBadRequest, "unknown or expired")

	// Nobody claims an accepted connection: closed after AcceptTimeout.
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	defer ctl.CloseNow()
	tcp, err := net.Dial("tcp", bound)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	m, err := readMessage(ctx, ctl)
	if err != nil {
		t.Fatal(err)
	}
	tcp.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tcp.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("unclaimed connection: read err %v, want EOF", err)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/accept?id="+m.ID), dialOpts{}, wire.CloseBadRequest, "unknown or expired")
	if len(rec.calls()) != 0 {
		t.Fatalf("listen tests dialed %v", rec.calls())
	}
}
