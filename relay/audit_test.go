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
