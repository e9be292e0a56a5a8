package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// frame is one frame of a listen control stream, as the relay sent it.
type frame struct {
	conn uint32
	data []byte // empty: half-close
}

// nextOnControl reads the next message of a control stream: its frames,
// or a control message.
func nextOnControl(t *testing.T, ctx context.Context, ws *websocket.Conn) ([]frame, wire.Message) {
	t.Helper()
	typ, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("control stream: %v", err)
	}
	if typ == websocket.MessageText {
		m, err := wire.ParseMessage(b)
		if err != nil {
			t.Fatalf("control message %q: %v", b, err)
		}
		return nil, m
	}
	var fs []frame
	for len(b) > 0 {
		id, payload, rest, err := wire.NextFrame(b)
		if err != nil {
			t.Fatalf("frames: %v", err)
		}
		fs = append(fs, frame{id, payload})
		b = rest
	}
	return fs, wire.Message{}
}

func sendFrame(t *testing.T, ctx context.Context, ws *websocket.Conn, conn uint32, p []byte) {
	t.Helper()
	b := make([]byte, wire.FrameHeader, wire.FrameHeader+len(p))
	wire.PutFrameHeader(b, conn, len(p))
	if err := ws.Write(ctx, websocket.MessageBinary, append(b, p...)); err != nil {
		t.Fatal(err)
	}
}

func sendControl(t *testing.T, ctx context.Context, ws *websocket.Conn, m wire.Message) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// acceptOn connects a TCP client to bound and reads the accept message.
func acceptOn(t *testing.T, ctx context.Context, ctl *websocket.Conn, bound string) (net.Conn, uint32) {
	t.Helper()
	tcp, err := net.Dial("tcp", bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	_, m := nextOnControl(t, ctx, ctl)
	if m.Type != "accept" || m.Conn == 0 || m.Remote != tcp.LocalAddr().String() {
		t.Fatalf("accept message = %+v (tcp client %s)", m, tcp.LocalAddr())
	}
	return tcp, m.Conn
}

func TestListenBridge(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}})
	ctx := testCtx(t, 30*time.Second)
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	if !strings.HasPrefix(bound, "127.0.0.1:") || strings.HasSuffix(bound, ":0") {
		t.Fatalf("bound address %q, want 127.0.0.1:<port>", bound)
	}

	// Two TCP clients: their connections ride the control stream, each
	// under its own id.
	tcp1, id1 := acceptOn(t, ctx, ctl, bound)
	tcp2, id2 := acceptOn(t, ctx, ctl, bound)
	if id1 == id2 {
		t.Fatalf("two connections share id %d", id1)
	}
	if _, err := tcp2.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if fs, _ := nextOnControl(t, ctx, ctl); len(fs) != 1 || fs[0].conn != id2 || string(fs[0].data) != "two" {
		t.Fatalf("frames %+v, want conn %d: two", fs, id2)
	}
	sendFrame(t, ctx, ctl, id1, []byte("pong"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tcp1, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("tcp got %q %v, want pong", buf, err)
	}

	// Half-close both ways on conn 1: a zero-length frame each, then the
	// relay's close 1000 for that connection only.
	sendFrame(t, ctx, ctl, id1, nil)
	if _, err := tcp1.Read(buf); err != io.EOF {
		t.Fatalf("tcp after the client's half-close: %v, want EOF", err)
	}
	tcp1.(*net.TCPConn).CloseWrite()
	if fs, _ := nextOnControl(t, ctx, ctl); len(fs) != 1 || fs[0].conn != id1 || len(fs[0].data) != 0 {
		t.Fatalf("frames %+v, want the half-close of %d", fs, id1)
	}
	if _, m := nextOnControl(t, ctx, ctl); m.Type != "close" || m.Conn != id1 || m.Code != 1000 {
		t.Fatalf("message %+v, want close of %d with 1000", m, id1)
	}
	assertLog(t, tr, `"kind":"accept"`, `"addr":"`+tcp1.LocalAddr().String()+`"`)

	// The client closes conn 2: the relay closes its TCP connection.
	sendControl(t, ctx, ctl, wire.Message{Type: "close", Conn: id2, Code: 1000})
	tcp2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tcp2.Read(buf); err != io.EOF {
		t.Fatalf("tcp after the client's close: %v, want EOF", err)
	}

	// Closing the control stream closes the listener and its connections.
	tcp3, _ := acceptOn(t, ctx, ctl, bound)
	ctl.Close(websocket.StatusNormalClosure, "done")
	portFreed(t, bound)
	tcp3.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tcp3.Read(buf); err == nil {
		t.Fatal("accepted TCP connection still open after its listener closed")
	}
}

// TestListenFlowPerConnection: a connection whose client acknowledges
// nothing gets its window and no more, while another on the same control
// stream keeps flowing; a client sending past its credit ends its own
// connection only.
func TestListenFlowPerConnection(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}, MaxMessageSize: 4 << 20})
	ctx := testCtx(t, 30*time.Second)
	ctl := connect(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:0&flow=65536"), dialOpts{})
	m, err := readMessage(ctx, ctl)
	if err != nil || m.Type != "listening" || m.Flow != 65536 || m.Credit != wire.UpCredit {
		t.Fatalf("listening = %+v %v, want flow 65536 and the credit", m, err)
	}
	slow, slowID := acceptOn(t, ctx, ctl, m.Addr)
	fast, fastID := acceptOn(t, ctx, ctl, m.Addr)

	// The slow one sends far more than its window, never acknowledged.
	go slow.Write(make([]byte, 1<<20))
	got := 0
	for got < 65536 {
		fs, _ := nextOnControl(t, ctx, ctl)
		for _, f := range fs {
			if f.conn != slowID {
				t.Fatalf("frame for %d, want %d", f.conn, slowID)
			}
			got += len(f.data)
		}
	}
	// The window is full: the fast one still gets through, and nothing
	// more of the slow one comes before it.
	if _, err := fast.Write([]byte("fast")); err != nil {
		t.Fatal(err)
	}
	fs, _ := nextOnControl(t, ctx, ctl)
	if len(fs) != 1 || fs[0].conn != fastID || string(fs[0].data) != "fast" || got != 65536 {
		t.Fatalf("after %d bytes of the slow connection: frames %+v, want only fast's", got, fs)
	}
	// An ack frees the slow one again.
	sendControl(t, ctx, ctl, wire.Message{Type: "ack", Conn: slowID, N: 65536})
	if fs, _ := nextOnControl(t, ctx, ctl); len(fs) == 0 || fs[0].conn != slowID {
		t.Fatalf("after the ack: frames %+v, want more of %d", fs, slowID)
	}

	// Acking more than was sent, on the fast one: it alone ends with 4400.
	sendControl(t, ctx, ctl, wire.Message{Type: "ack", Conn: fastID, N: 1 << 20})
	for {
		_, m := nextOnControl(t, ctx, ctl)
		if m.Type == "close" {
			if m.Conn != fastID || m.Code != 4400 || !strings.Contains(m.Reason, "ack of") {
				t.Fatalf("close %+v, want conn %d with 4400", m, fastID)
			}
			break
		}
	}
	// Sending past the credit ends the slow one too; the stream stays.
	sendFrame(t, ctx, ctl, slowID, make([]byte, wire.UpCredit+1))
	for {
		_, m := nextOnControl(t, ctx, ctl)
		if m.Type == "close" {
			if m.Conn != slowID || m.Code != 4400 || !strings.Contains(m.Reason, "credit") {
				t.Fatalf("close %+v, want conn %d with 4400 over its credit", m, slowID)
			}
			break
		}
	}
	// A malformed frame ends the control stream.
	ctl.Write(ctx, websocket.MessageBinary, []byte{0, 0, 0, 9, 0, 0, 1, 0, 'x'})
	if code, reason := expectClose(t, ctx, ctl); code != wire.CloseBadRequest || !strings.Contains(reason, "frame") {
		t.Fatalf("malformed frame: closed %d %q, want 4400", code, reason)
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
	// An accepted connection must go too.
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
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:0"}, Dial: rec.Dial})
	ctx := testCtx(t, 30*time.Second)
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=0.0.0.0:0"), dialOpts{}, wire.CloseRefused, "relay refused listen on 0.0.0.0:0: not in listen allow list")
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:8080"), dialOpts{}, wire.CloseRefused, "relay refused listen on 127.0.0.1:8080: not in listen allow list")
	assertLog(t, tr, `"target":"127.0.0.1:8080"`, `"hint":"see --allow-listen"`)
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=nonsense"), dialOpts{}, wire.CloseBadRequest, "bad listen address")
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:0&flow=many"), dialOpts{}, wire.CloseBadRequest, "bad flow window")
	// The accept endpoint of earlier versions is gone: its connections
	// ride the control stream.
	if _, err := tryConnect(ctx, tr.wsURL("/v1/accept?id=0123456789abcdef0123456789abcdef"), dialOpts{}); err == nil {
		t.Fatal("/v1/accept still answers")
	}
	if len(rec.calls()) != 0 {
		t.Fatalf("listen tests dialed %v", rec.calls())
	}
}

// TestListenMaxAccepted: past wire.MaxAccepted open connections on one
// listener, the next is closed at once and logged; the others stay.
func TestListenMaxAccepted(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}, MaxStreamsPerClient: 200})
	ctx := testCtx(t, 30*time.Second)
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	defer ctl.CloseNow()
	for range wire.MaxAccepted {
		acceptOn(t, ctx, ctl, bound)
	}
	over, err := net.Dial("tcp", bound)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection over the limit: read %v, want EOF", err)
	}
	assertLog(t, tr, `"kind":"accept"`, `"close_code":4429`, fmt.Sprintf("holds %d connections", wire.MaxAccepted))
}
