package relay

import (
	"strings"
	"testing"
	"time"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"

	"github.com/coder/websocket"
)

func TestIdleTimeout(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, IdleTimeout: 300 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	roundTrip(t, ctx, ws, "then nothing")
	code, reason := expectClose(t, ctx, ws)
	if code != wire.CloseIdle || reason != "idle timeout: no data for 300ms" {
		t.Fatalf("close = %d %q, want 4408 idle timeout: no data for 300ms", code, reason)
	}
	// The operator's setting is named in the audit log, not to the client.
	assertLog(t, tr, `"close_code":4408`, `"hint":"see --idle-timeout"`)
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
	if code != wire.CloseTooBig || reason != "message over 1024 bytes" {
		t.Fatalf("close = %d %q, want 1009 message over 1024 bytes", code, reason)
	}
	assertLog(t, tr, `"close_code":1009`, `"hint":"see --max-message-size"`)
}
