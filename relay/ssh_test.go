package relay

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/sshtest"
)

// TestSSHThroughDialBridge: a real OpenSSH sshd and Dropbear, reached
// through the dial bridge, authenticate and run a command.
func TestSSHThroughDialBridge(t *testing.T) {
	for _, name := range []string{"sshd", "dropbear"} {
		t.Run(name, func(t *testing.T) {
			var srv *sshtest.Server
			if name == "sshd" {
				sshtest.RequireBinary(t, "/usr/sbin/sshd")
				srv = sshtest.StartOpenSSH(t, sshtest.Options{})
			} else {
				sshtest.RequireBinary(t, "dropbear")
				srv = sshtest.StartDropbear(t, sshtest.Options{})
			}
			tr := startRelay(t, Config{Allow: []string{srv.Addr}})
			ctx := testCtx(t, 30*time.Second)
			ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+url.QueryEscape(srv.Addr)), dialOpts{})
			if m, err := readMessage(ctx, ws); err != nil || m.Addr != srv.Addr {
				t.Fatalf("open = %+v %v", m, err)
			}
			nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
			cc, chans, reqs, err := ssh.NewClientConn(nc, srv.Addr, srv.ClientConfig())
			if err != nil {
				t.Fatalf("SSH through the relay: %v", err)
			}
			client := ssh.NewClient(cc, chans, reqs)
			defer client.Close()
			sess, err := client.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			out, err := sess.Output("echo through-the-relay")
			if err != nil || !bytes.Contains(out, []byte("through-the-relay")) {
				t.Fatalf("remote command: %q %v", out, err)
			}
		})
	}
}
