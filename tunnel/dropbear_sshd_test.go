//go:build !js

package tunnel_test

import (
	"fmt"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

// Dropbear as the gateway: -L and -R, key and password auth.
func TestDropbearForwards(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartDropbear(t, sshtest.Options{ListenAddr: gateway1})
	exitL := sshtest.StartPinger(t, host3+":0")
	exitR := sshtest.StartPinger(t, "127.0.0.1:0")

	c := connect(t, ctx, gw, keyConfig(t, gw))
	ping(t, "", forward(t, ctx, c, "-L localhost:0:"+exitL).Entry())
	port := sshtest.FreePort(t, "127.0.0.1")
	r := forward(t, ctx, c, fmt.Sprintf("-R %d:%s", port, exitR))
	if portOf(t, r.Entry()) != port {
		t.Errorf("-R Entry() = %q, want port %d", r.Entry(), port)
	}
	ping(t, "", hostPort("127.0.0.1", port))

	pc := connect(t, ctx, gw, passwordConfig(t, gw, gw.Password))
	ping(t, "", forward(t, ctx, pc, "-L localhost:0:"+exitL).Entry())
}
