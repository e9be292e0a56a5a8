package relay

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

func TestStreamLimits(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	ctx := testCtx(t, 30*time.Second)
	for _, c := range []struct {
		name          string
		total, client int
		want, hint    string
	}{
		{"per client", 100, 2, "too many streams from 127.0.0.1: limit 2", "see --max-streams-per-client"},
		{"overall", 2, 100, "relay at its limit of 2 streams", "see --max-streams"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := startRelay(t, Config{Allow: []string{echo}, MaxStreams: c.total, MaxStreamsPerClient: c.client})
			u := tr.wsURL("/v1/dial?target=" + echo)
			var open []*websocket.Conn
			for range 2 {
				ws := connect(t, ctx, u, dialOpts{})
				if _, err := readMessage(ctx, ws); err != nil {
					t.Fatal(err)
				}
				open = append(open, ws)
			}
			refusedWith(t, ctx, u, dialOpts{}, wire.CloseOverLimit, c.want)
			assertLog(t, tr, `"close_reason":"`+c.want+`","hint":"`+c.hint+`"`)
			// The streams within the limit are undisturbed.
			for _, ws := range open {
				roundTrip(t, ctx, ws, "fine")
				ws.Close(websocket.StatusNormalClosure, "")
			}
			assertLog(t, tr, `"reason":"limit"`)
		})
	}
}

// startFirehose is a TCP service that writes forever to each connection.
func startFirehose(t *testing.T) string {
	return sshtest.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}

// TestMisbehavingClientsDoNotStallOthers: a client that never reads and one
// that went silent (half-open) hold streams while another moves data.
func TestMisbehavingClientsDoNotStallOthers(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	hose := startFirehose(t)
	tr := startRelay(t, Config{Allow: []string{echo, hose}})
	ctx := testCtx(t, 60*time.Second)

	slow := connect(t, ctx, tr.wsURL("/v1/dial?target="+hose), dialOpts{})
	defer slow.CloseNow()
	if _, err := readMessage(ctx, slow); err != nil {
		t.Fatal(err)
	}
	// slow never reads again: the relay's writes to it block.
	silent := connect(t, ctx, tr.wsURL("/v1/dial?target="+echo), dialOpts{})
	defer silent.CloseNow()
	if err := silent.Write(ctx, websocket.MessageBinary, []byte("partial")); err != nil {
		t.Fatal(err)
	}

	ws := dialOpen(t, ctx, tr, echo)
	echoThrough(t, ctx, ws, 8<<20, 64<<10)
	if code, _ := expectClose(t, ctx, ws); code != wire.CloseNormal {
		t.Fatalf("healthy stream closed with %d, want 1000", code)
	}
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
	return string(b)
}
