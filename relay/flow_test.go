package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

const (
	flowWindow = 1 << 20
	flowData   = 16 << 20 // far more than the window and the TCP buffers
)

// flowReader reads a stream's messages in a goroutine, so the test can
// watch for silence without cancelling a read (which would close the
// WebSocket).
type flowReader struct {
	msgs chan []byte // binary payloads; closed at the end
	err  error       // why the stream ended; set before msgs is closed
}

func readFlow(ctx context.Context, ws *websocket.Conn) *flowReader {
	fr := &flowReader{msgs: make(chan []byte, 64)}
	go func() {
		defer close(fr.msgs)
		for {
			typ, b, err := ws.Read(ctx)
			if err != nil {
				fr.err = err
				return
			}
			if typ == websocket.MessageBinary {
				fr.msgs <- b
			}
		}
	}()
	return fr
}

// stalled receives until the relay has sent the whole window or nothing
// came for quiet, and returns the bytes received, hashed into h.
func (fr *flowReader) stalled(t *testing.T, h io.Writer, quiet time.Duration) int {
	t.Helper()
	got := 0
	for i := 0; i < 10000; i++ {
		select {
		case b, ok := <-fr.msgs:
			if !ok {
				t.Fatalf("stream ended while waiting for credit after %d bytes: %v", got, fr.err)
			}
			got += len(b)
			h.Write(b)
			if got > flowWindow+DefaultMaxMessageSize {
				t.Fatalf("relay sent %d bytes without an ack, window %d", got, flowWindow)
			}
		case <-time.After(quiet):
			return got
		}
	}
	return got
}

// drain acks as it consumes (every quarter window, as clients do) until the
// relay's zero-length message, and returns the bytes received.
func (fr *flowReader) drain(t *testing.T, ctx context.Context, ws *websocket.Conn, h io.Writer, unacked int) int {
	t.Helper()
	got := 0
	for {
		if unacked >= flowWindow/4 {
			sendAck(ctx, ws, unacked)
			unacked = 0
		}
		var b []byte
		var ok bool
		select {
		case b, ok = <-fr.msgs:
		case <-ctx.Done():
			t.Fatalf("stream stalled after %d more bytes", got)
		}
		if !ok {
			t.Fatalf("stream ended after %d more bytes: %v", got, fr.err)
		}
		if len(b) == 0 {
			return got
		}
		got += len(b)
		unacked += len(b)
		h.Write(b)
	}
}

// sendAck acknowledges n bytes. It may fail once the relay has sent
// everything and closed: the data arriving is what shows acks work.
func sendAck(ctx context.Context, ws *websocket.Conn, n int) error {
	return ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"ack","n":%d}`, n))
}

// flowStream checks one stream with flow control on, whose first message
// was already read: the relay stops at the window while the client does
// not ack, keeps the stream open, and sends the rest as acks come back,
// also after the client's own half-close.
func flowStream(t *testing.T, ctx context.Context, ws *websocket.Conn, open wire.Message) {
	t.Helper()
	if open.Type != "open" || open.Flow != flowWindow {
		t.Fatalf("open = %+v, want flow %d acknowledged", open, flowWindow)
	}
	// Half-close first: acks must still be taken after it.
	if err := ws.Write(ctx, websocket.MessageBinary, nil); err != nil {
		t.Fatal(err)
	}
	fr := readFlow(ctx, ws)
	h := sha256.New()
	first := fr.stalled(t, h, 500*time.Millisecond)
	if first == 0 || first > flowWindow {
		t.Fatalf("relay sent %d bytes before any ack, want 1..%d", first, flowWindow)
	}
	rest := fr.drain(t, ctx, ws, h, first)
	if n, sum := first+rest, hex.EncodeToString(h.Sum(nil)); n != flowData || sum != sshtest.DataSum(3, flowData) {
		t.Fatalf("got %d bytes with SHA-256 %s, want %d with %s", n, sum, flowData, sshtest.DataSum(3, flowData))
	}
	for range fr.msgs {
	}
	if websocket.CloseStatus(fr.err) != websocket.StatusNormalClosure {
		t.Fatalf("stream ended with %v, want a normal close", fr.err)
	}
	t.Logf("relay held at %d bytes (window %d) until acked", first, flowWindow)
}

func TestFlowDial(t *testing.T) {
	src := sshtest.StartSource(t, "127.0.0.1:0", flowData, 3)
	tr := startRelay(t, Config{Allow: []string{src}})
	ctx := testCtx(t, 60*time.Second)
	ws := connect(t, ctx, tr.wsURL("/v1/dial?"+url.Values{"target": {src}, "flow": {strconv.Itoa(flowWindow)}}.Encode()), dialOpts{})
	defer ws.CloseNow()
	open, err := readMessage(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	flowStream(t, ctx, ws, open)
}

func TestFlowAccept(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}})
	ctx := testCtx(t, 60*time.Second)
	ctl := connect(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:0&flow="+strconv.Itoa(flowWindow)), dialOpts{})
	defer ctl.CloseNow()
	lm, err := readMessage(ctx, ctl)
	if err != nil || lm.Type != "listening" {
		t.Fatalf("listening = %+v %v", lm, err)
	}
	window := lm.Flow
	tcp, id := acceptOn(t, ctx, ctl, lm.Addr)
	go func() {
		io.Copy(tcp, io.LimitReader(sshtest.Data(3), flowData))
		tcp.(*net.TCPConn).CloseWrite()
	}()
	// Acknowledge each quarter window, late: the relay never has more
	// than the window out.
	h := sha256.New()
	var total, unacked int64
	for done := false; !done; {
		fs, m := nextOnControl(t, ctx, ctl)
		if m.Type != "" {
			t.Fatalf("control message %+v before the data ended", m)
		}
		for _, f := range fs {
			if f.conn != id {
				t.Fatalf("frame for %d, want %d", f.conn, id)
			}
			if len(f.data) == 0 {
				done = true
				break
			}
			h.Write(f.data)
			total += int64(len(f.data))
			if unacked += int64(len(f.data)); unacked > window {
				t.Fatalf("relay has %d bytes unacknowledged, over the %d window", unacked, window)
			}
			if unacked >= window/2 {
				sendControl(t, ctx, ctl, wire.Message{Type: "ack", Conn: id, N: unacked})
				unacked = 0
			}
		}
	}
	if total != flowData || fmt.Sprintf("%x", h.Sum(nil)) != sshtest.DataSum(3, flowData) {
		t.Fatalf("got %d bytes, sum %x; want %d bytes of Data(3)", total, h.Sum(nil), flowData)
	}
}

// TestFlowOff: without ?flow the relay acknowledges none, sends without
// waiting, and ignores acks.
func TestFlowOff(t *testing.T) {
	src := sshtest.StartSource(t, "127.0.0.1:0", flowData, 3)
	tr := startRelay(t, Config{Allow: []string{src}})
	ctx := testCtx(t, 60*time.Second)
	ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+src), dialOpts{})
	defer ws.CloseNow()
	open, err := readMessage(ctx, ws)
	if err != nil || open.Type != "open" || open.Flow != 0 {
		t.Fatalf("open = %+v %v, want no flow", open, err)
	}
	if err := sendAck(ctx, ws, 12345); err != nil {
		t.Fatal(err)
	}
	fr := readFlow(ctx, ws)
	n := 0
	for b := range fr.msgs {
		if len(b) == 0 {
			break
		}
		n += len(b)
	}
	if n != flowData {
		t.Fatalf("got %d bytes without acking, want %d (%v)", n, flowData, fr.err)
	}
}

func TestFlowViolations(t *testing.T) {
	src := sshtest.StartSource(t, "127.0.0.1:0", flowData, 3)
	tr := startRelay(t, Config{Allow: []string{src}})
	ctx := testCtx(t, 30*time.Second)
	dial := func(flow string) string {
		return tr.wsURL("/v1/dial?" + url.Values{"target": {src}, "flow": {flow}}.Encode())
	}
	refusedWith(t, ctx, dial("lots"), dialOpts{}, wire.CloseBadRequest, "bad flow window")
	refusedWith(t, ctx, dial("-1"), dialOpts{}, wire.CloseBadRequest, "bad flow window")

	for _, tc := range []struct{ ack, want string }{
		{`{"type":"ack","n":0}`, "ack of 0 bytes"},
		{`{"type":"ack","n":-5}`, "ack of -5 bytes"},
		{`{"type":"ack","n":99999999}`, "sent and not acknowledged"},
	} {
		ws := connect(t, ctx, dial("1"), dialOpts{}) // clamped up to the minimum
		open, err := readMessage(ctx, ws)
		if err != nil || open.Flow != wire.MinFlowWindow {
			t.Fatalf("open = %+v %v, want flow %d", open, err, wire.MinFlowWindow)
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte(tc.ack)); err != nil {
			t.Fatal(err)
		}
		code, reason := expectClose(t, ctx, ws)
		if code != wire.CloseBadRequest || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: closed with %d %q, want 4400 with %q", tc.ack, code, reason, tc.want)
		}
	}
	// Sending more than the credit before the relay acks: its target is a
	// pipe nobody reads, so the relay can write (and ack) nothing.
	var mu sync.Mutex
	var stuck []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range stuck {
			c.Close()
		}
	}()
	pipes := startRelay(t, Config{Allow: []string{"127.0.0.1:9"}, Dial: func(context.Context, string, string) (net.Conn, error) {
		c, peer := net.Pipe()
		mu.Lock()
		stuck = append(stuck, peer)
		mu.Unlock()
		return c, nil
	}})
	ws := connect(t, ctx, pipes.wsURL("/v1/dial?target=127.0.0.1:9&flow=1"), dialOpts{})
	if open, err := readMessage(ctx, ws); err != nil || open.Credit != wire.UpCredit {
		t.Fatalf("open = %+v %v, want credit %d", open, err, wire.UpCredit)
	}
	go func() {
		big := make([]byte, wire.UpCredit)
		ws.Write(ctx, websocket.MessageBinary, big)
		ws.Write(ctx, websocket.MessageBinary, big[:1])
	}()
	if code, reason := expectClose(t, ctx, ws); code != wire.CloseBadRequest || !strings.Contains(reason, "over its") {
		t.Errorf("over the credit: closed with %d %q, want 4400", code, reason)
	}

	ws = connect(t, ctx, dial(strconv.Itoa(1<<40)), dialOpts{})
	defer ws.CloseNow()
	if open, err := readMessage(ctx, ws); err != nil || open.Flow != wire.MaxFlowWindow {
		t.Fatalf("open = %+v %v, want flow clamped to %d", open, err, wire.MaxFlowWindow)
	}
}

// TestFlowWaitEnds: a stream waiting for credit still ends by idle timeout,
// by the client's close and by shutdown, and leaves no goroutine behind.
func TestFlowWaitEnds(t *testing.T) {
	src := sshtest.StartSource(t, "127.0.0.1:0", flowData, 3)
	ctx := testCtx(t, 30*time.Second)
	dial := func(tr *testRelay) *websocket.Conn {
		ws := connect(t, ctx, tr.wsURL("/v1/dial?"+url.Values{"target": {src}, "flow": {strconv.Itoa(wire.MinFlowWindow)}}.Encode()), dialOpts{})
		if open, err := readMessage(ctx, ws); err != nil || open.Flow != wire.MinFlowWindow {
			t.Fatalf("open = %+v %v", open, err)
		}
		return ws
	}
	// waitCredit reads the whole window: the relay now waits for an ack.
	waitCredit := func(ws *websocket.Conn) {
		for got := 0; got < wire.MinFlowWindow; {
			_, b, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("stream ended after %d bytes: %v", got, err)
			}
			got += len(b)
		}
	}

	idle := startRelay(t, Config{Allow: []string{src}, IdleTimeout: 300 * time.Millisecond})
	ws := dial(idle)
	waitCredit(ws)
	if code, reason := expectClose(t, ctx, ws); code != wire.CloseIdle {
		t.Errorf("paused stream closed with %d %q, want 4408 after the idle timeout", code, reason)
	}

	tr := startRelay(t, Config{Allow: []string{src}})
	ws = dial(tr)
	waitCredit(ws)
	ws.Close(websocket.StatusNormalClosure, "")
	ws = dial(tr)
	waitCredit(ws)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		tr.Shutdown(sctx)
	}()
	if code, reason := expectClose(t, ctx, ws); code != wire.CloseShuttingDown {
		t.Errorf("paused stream closed with %d %q on shutdown, want 4503", code, reason)
	}

	leakcheck.Gone(t, relayFrame)
}

// TestFlowBothWays: a target that writes everything before it reads while
// the client writes too. The client's acks come behind its own data, so
// the relay must keep reading (within the client's credit) while the
// target does not: otherwise neither side ever moves again.
func TestFlowBothWays(t *testing.T) {
	const size = 16 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := io.Copy(c, io.LimitReader(sshtest.Data(5), size)); err != nil {
			return
		}
		h := sha256.New()
		n, _ := io.Copy(h, c)
		io.WriteString(c, sshtest.HashLine(hex.EncodeToString(h.Sum(nil)), n))
	}()
	defer func() { ln.Close(); <-served }()

	tr := startRelay(t, Config{Allow: []string{ln.Addr().String()}})
	ctx := testCtx(t, 60*time.Second)
	ws := connect(t, ctx, tr.wsURL("/v1/dial?"+url.Values{"target": {ln.Addr().String()}, "flow": {strconv.Itoa(flowWindow)}}.Encode()), dialOpts{})
	defer ws.CloseNow()
	open, err := readMessage(ctx, ws)
	if err != nil || open.Flow != flowWindow || open.Credit != wire.UpCredit {
		t.Fatalf("open = %+v %v, want flow %d and credit %d", open, err, flowWindow, wire.UpCredit)
	}

	credit := make(chan int, 64) // acks from the relay
	writeErr := make(chan error, 1)
	go func() { writeErr <- writeWithCredit(ctx, ws, credit, size, int(open.Credit)) }()

	got := sha256.New()
	var reply []byte // after the data: the target's hash of what it read
	n, unacked := 0, 0
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("stream ended after %d bytes: %v", n, err)
		}
		if typ == websocket.MessageText {
			var m wire.Message
			if m, err = wire.ParseMessage(b); err != nil || m.Type != "ack" {
				t.Fatalf("control message %q: %v", b, err)
			}
			credit <- int(m.N)
			continue
		}
		if len(b) == 0 {
			break
		}
		data := b[:min(len(b), max(size-n, 0))]
		got.Write(data)
		reply = append(reply, b[len(data):]...)
		n += len(b)
		unacked += len(b)
		if unacked >= flowWindow/4 {
			// From another goroutine: the ack goes out behind whatever
			// the writer has queued, as in a browser.
			go sendAck(ctx, ws, unacked)
			unacked = 0
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if sum := hex.EncodeToString(got.Sum(nil)); sum != sshtest.DataSum(5, size) {
		t.Errorf("received SHA-256 %s, want %s", sum, sshtest.DataSum(5, size))
	}
	if want := sshtest.HashLine(sshtest.DataSum(6, size), size); string(reply) != want {
		t.Errorf("target read %q, want %q", reply, want)
	}
	t.Logf("target wrote %d MiB before reading while the client wrote %d MiB: both arrived", size>>20, size>>20)
}

// writeWithCredit sends size bytes of Data(6) and a half-close, never more
// than credit ahead of the relay's acks.
func writeWithCredit(ctx context.Context, ws *websocket.Conn, acks <-chan int, size, credit int) error {
	data := io.LimitReader(sshtest.Data(6), int64(size))
	buf := make([]byte, 64<<10)
	for {
		for credit == 0 {
			select {
			case n := <-acks:
				credit += n
			case <-ctx.Done():
				return fmt.Errorf("no ack from the relay: %v", ctx.Err())
			}
		}
		n, err := data.Read(buf[:min(len(buf), credit)])
		if n > 0 {
			if err := ws.Write(ctx, websocket.MessageBinary, buf[:n]); err != nil {
				return err
			}
			credit -= n
		}
		if err == io.EOF {
			return ws.Write(ctx, websocket.MessageBinary, nil)
		}
	}
}

// TestFlowCloseDelivers: what a flow-controlled client sent before its
// close reaches the target, as without flow control, though the relay
// queues it for a writer of its own.
func TestFlowCloseDelivers(t *testing.T) {
	const size = 512 << 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() {
		defer close(got)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			got <- n
		}
	}()
	defer ln.Close()
	tr := startRelay(t, Config{Allow: []string{ln.Addr().String()}})
	ctx := testCtx(t, 30*time.Second)
	for i := 0; i < 10; i++ {
		ws := connect(t, ctx, tr.wsURL("/v1/dial?"+url.Values{"target": {ln.Addr().String()}, "flow": {strconv.Itoa(flowWindow)}}.Encode()), dialOpts{})
		if open, err := readMessage(ctx, ws); err != nil || open.Credit < size {
			t.Fatalf("open = %+v %v, want credit for %d bytes", open, err, size)
		}
		for _, m := range [][]byte{make([]byte, size), nil} {
			if err := ws.Write(ctx, websocket.MessageBinary, m); err != nil {
				t.Fatal(err)
			}
		}
		ws.Close(websocket.StatusNormalClosure, "")
		select {
		case n := <-got:
			if n != size {
				t.Fatalf("try %d: target got %d bytes, want %d", i, n, size)
			}
		case <-ctx.Done():
			t.Fatal("target never saw the stream end")
		}
	}
}
