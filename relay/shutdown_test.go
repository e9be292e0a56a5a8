package relay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

func TestShutdownDrains(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 30*time.Second)
	u := tr.wsURL("/v1/dial?target=" + echo)
	ws := connect(t, ctx, u, dialOpts{})
	if _, err := readMessage(ctx, ws); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- tr.Shutdown(sctx)
	}()
	// Wait (bounded) until the relay says it is shutting down.
	for i := 0; ; i++ {
		resp, err := http.Get(tr.srv.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if i == 200 {
			t.Fatal("healthz never reported shutting down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tryConnect(ctx, u, dialOpts{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("new stream during shutdown: %v, want a 503", err)
	}
	// The open stream keeps working and ends normally.
	roundTrip(t, ctx, ws, "draining")
	if err := ws.Write(ctx, websocket.MessageBinary, nil); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || len(b) != 0 {
		t.Fatalf("half-close back: %q %v", b, err)
	}
	if code, _ := expectClose(t, ctx, ws); code != wire.CloseNormal {
		t.Fatalf("drained stream closed with %d, want 1000", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown after drain: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Shutdown did not return after the last stream ended")
	}
}

func TestShutdownDeadlineClosesStreams(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, AllowListen: []string{"127.0.0.1:0"}})
	ctx := testCtx(t, 30*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")

	type closed struct {
		code   wire.CloseCode
		reason string
	}
	got := make(chan closed, 2)
	for _, c := range []*websocket.Conn{ws, ctl} {
		go func() {
			code, reason := expectClose(t, ctx, c)
			got <- closed{code, reason}
		}()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tr.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	for range 2 {
		c := <-got
		if c.code != wire.CloseShuttingDown || c.reason != "relay shutting down" {
			t.Fatalf("closed with %d %q, want 4503 relay shutting down", c.code, c.reason)
		}
	}
	portFreed(t, bound)
}

// relayFrame matches a stack frame in the relay's own (non-test) code.
var relayFrame = regexp.MustCompile(`tunnelkit/relay\.(\(\*Relay\)|\(\*listenBridge\)|pingLoop|\(\*stream\))`)

// TestNoGoroutineOutlivesRelay runs every kind of stream, shuts down, and
// checks that the goroutine count returns to where it was.
func TestNoGoroutineOutlivesRelay(t *testing.T) {
	before := leakcheck.Take()
	func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoDone := make(chan struct{})
		go func() {
			defer close(echoDone)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1024)
			for {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				c.Write(buf[:n])
			}
			c.Close()
		}()
		r, err := New(Config{Allow: []string{ln.Addr().String()}, AllowListen: []string{"127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r.Handler())
		tr := &testRelay{Relay: r, srv: srv}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+ln.Addr().String()), dialOpts{})
		readMessage(ctx, ws)
		roundTrip(t, ctx, ws, "leak?")
		ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
		tcp, err := net.Dial("tcp", bound)
		if err != nil {
			t.Fatal(err)
		}
		readMessage(ctx, ctl)             // its accept: the connection rides the control stream
		tcp2, _ := net.Dial("tcp", bound) // a second one, never read
		refusedWith(t, ctx, tr.wsURL("/v1/dial?target=127.0.0.1:1"), dialOpts{}, wire.CloseRefused, "not in allow list")

		for _, c := range []*websocket.Conn{ws, ctl} {
			go func() { // answer the relay's close frame
				for i := 0; i < 100; i++ {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
		}
		sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r.Shutdown(sctx)
		scancel()
		srv.Close()
		for _, c := range []*websocket.Conn{ws, ctl} {
			c.CloseNow()
		}
		tcp.Close()
		if tcp2 != nil {
			tcp2.Close()
		}
		ln.Close()
		<-echoDone
	}()
	before.Verify(t, relayFrame)
}
