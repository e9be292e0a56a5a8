package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

// pump sends size pseudo-random bytes as binary messages, then a
// half-close, and returns their SHA-256.
func pump(ctx context.Context, ws *websocket.Conn, size int, chunk int) ([32]byte, error) {
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, chunk)
	for sent := 0; sent < size; {
		n := min(chunk, size-sent)
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if err := ws.Write(ctx, websocket.MessageBinary, buf[:n]); err != nil {
			return [32]byte{}, err
		}
		sent += n
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, ws.Write(ctx, websocket.MessageBinary, nil)
}

// echoThrough sends size bytes in chunk-sized messages on ws, a stream to an
// echo service, then half-closes, and fails unless the same bytes come back.
func echoThrough(t *testing.T, ctx context.Context, ws *websocket.Conn, size, chunk int) {
	t.Helper()
	type result struct {
		sum [32]byte
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		sum, n, err := drainStream(ctx, ws)
		got <- result{sum, n, err}
	}()
	sent, err := pump(ctx, ws, size, chunk)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	res := <-got
	if res.err != nil || res.n != size || res.sum != sent {
		t.Fatalf("echoed %d bytes (err %v), sha256 match %v; want %d bytes, same sha256", res.n, res.err, res.sum == sent, size)
	}
}

// drainStream reads binary messages until the zero-length half-close and
// returns their SHA-256 and size.
func drainStream(ctx context.Context, ws *websocket.Conn) ([32]byte, int, error) {
	h := sha256.New()
	total := 0
	buf := make([]byte, 256<<10)
	for {
		typ, r, err := ws.Reader(ctx)
		if err != nil {
			return [32]byte{}, total, err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		n := 0
		for {
			k, err := r.Read(buf)
			n += k
			h.Write(buf[:k])
			if err != nil {
				break
			}
		}
		if n == 0 {
			var sum [32]byte
			h.Sum(sum[:0])
			return sum, total, nil
		}
		total += n
	}
}

func TestDialBridgeEchoSHA256(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 60*time.Second)

	ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+url.QueryEscape(echo)), dialOpts{})
	m, err := readMessage(ctx, ws)
	if err != nil || m.Type != "open" || m.Addr != echo || m.Max != DefaultMaxMessageSize {
		t.Fatalf("open message = %+v, %v; want open %s", m, err, echo)
	}
	echoThrough(t, ctx, ws, 64<<20, 1<<20)
	// Both directions half-closed: the relay closes normally.
	if code, reason := expectClose(t, ctx, ws); code != wire.CloseNormal {
		t.Fatalf("close = %d %q, want 1000", code, reason)
	}
	assertLog(t, tr, `"bytes_up":67108864`, `"bytes_down":67108864`)
}

func TestDialHalfClose(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	// Write, half-close, then read the echo: the target saw our FIN and
	// half-closed back, while our read side stayed open.
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, nil); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read after half-close: %v", err)
		}
		if len(b) == 0 {
			break
		}
		got.Write(b)
	}
	if got.String() != "hello" {
		t.Fatalf("echo after half-close = %q, want hello", got.String())
	}
	if code, _ := expectClose(t, ctx, ws); code != wire.CloseNormal {
		t.Fatalf("close = %d, want 1000", code)
	}
}

func TestDialRefusedConnection(t *testing.T) {
	// A port with nothing listening: the relay's dial is refused.
	tr := startRelay(t, Config{Allow: []string{"127.0.0.1:1"}})
	ctx := testCtx(t, 20*time.Second)
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target=127.0.0.1:1"), dialOpts{}, wire.CloseDialFailed, "relay could not connect to 127.0.0.1:1: connect: connection refused")
}

func assertLog(t *testing.T, tr *testRelay, wants ...string) {
	t.Helper()
	// The audit record is written as the handler returns: poll briefly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := tr.logs.String()
		missing := ""
		for _, w := range wants {
			if !bytes.Contains([]byte(logs), []byte(w)) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log lacks %s:\n%s", missing, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
