package relay

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
)

// The audit record gives the stream's duration in seconds in both log
// formats: slog's own Duration is nanoseconds in JSON.
func TestAuditDurationInSeconds(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}})
	ctx := testCtx(t, 20*time.Second)
	ws := dialOpen(t, ctx, tr, echo)
	const held = 300 * time.Millisecond
	time.Sleep(held)
	ws.Close(websocket.StatusNormalClosure, "")
	assertLog(t, tr, `"msg":"stream"`)
	sc := bufio.NewScanner(strings.NewReader(tr.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["msg"] != "stream" {
			continue
		}
		d, ok := rec["duration_s"].(float64)
		// At least the time it was held; far below what nanoseconds read as.
		if !ok || d < held.Seconds() || d > 3600 {
			t.Fatalf("duration_s = %v (%T), want seconds >= %v: %s", rec["duration_s"], rec["duration_s"], held.Seconds(), sc.Text())
		}
		return
	}
	t.Fatalf("no stream record in the audit log:\n%s", tr.logs.String())
}

// TestAuditTruncatesClientStrings: a 60 KB target, origin or path makes no
// 60 KB log line; the record still says how long the string was.
func TestAuditTruncatesClientStrings(t *testing.T) {
	tr := startRelay(t, Config{Allow: []string{"127.0.0.1:1"}})
	ctx := testCtx(t, 20*time.Second)
	long := strings.Repeat("a", 60<<10)
	ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+long+":22"), dialOpts{})
	expectClose(t, ctx, ws)
	tryConnect(ctx, tr.wsURL("/v1/dial?target=x:1"), dialOpts{origin: "http://" + long + ".example"})
	ws = connect(t, ctx, tr.wsURL("/v1/dial?target="+strings.Repeat("b", 60<<10)), dialOpts{})
	expectClose(t, ctx, ws)
	assertLog(t, tr, `"reason":"origin"`)
	assertLog(t, tr, `"reason":"bad_target"`)
	lines := 0
	for line := range strings.SplitSeq(tr.logs.String(), "\n") {
		if len(line) > 4<<10 {
			t.Errorf("log line of %d bytes: %.300s", len(line), line)
		}
		if strings.Contains(line, "(61443 bytes)") || strings.Contains(line, "(61440 bytes)") {
			lines++
		}
	}
	if lines == 0 {
		t.Errorf("no record says how long the cut string was:\n%.2000s", tr.logs.String())
	}
}
