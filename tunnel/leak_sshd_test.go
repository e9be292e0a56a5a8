//go:build !js

package tunnel_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// After Close, no goroutine of the client, its forwards or their
// connections is left running, including with connections still open.
func TestNoGoroutineLeak(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	echo := sshtest.StartEcho(t, "127.0.0.1:0")

	// Warm up: lazily started runtime and net goroutines are not leaks.
	warm := connect(t, ctx, gw, keyConfig(t, gw))
	ping(t, "", forward(t, ctx, warm, "-L 0:"+exit).Entry())
	warm.Close()

	base := leakcheck.Settle()
	c, err := tunnel.Dial(ctx, gw.Addr, keyConfig(t, gw))
	if err != nil {
		t.Fatal(err)
	}
	l := mustForward(t, c, "-L 0:"+exit)
	r := mustForward(t, c, "-R 0:"+exit)
	e := mustForward(t, c, "-L 0:"+echo)
	ping(t, "", l.Entry())
	ping(t, "", net.JoinHostPort("127.0.0.1", strconv.Itoa(portOf(t, r.Entry()))))
	dead := mustForward(t, c, "-L 0:"+net.JoinHostPort(host3, strconv.Itoa(sshtest.FreePort(t, host3))))
	entryOutcome(dead.Entry())

	// One forward closed on its own, one connection left open across Close.
	if err := l.Close(); err != nil {
		t.Errorf("Forward.Close: %v", err)
	}
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Error("Done() not closed after Forward.Close")
	}
	open, err := net.Dial("tcp", e.Entry())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	open.Write([]byte("x"))
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}

	if err := c.Close(); err != nil {
		t.Errorf("Client.Close: %v", err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait after Close = %v, want nil", err)
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil {
		t.Error("entry connection still open after Client.Close")
	}
	open.Close()
	base.Verify(t)
}

func mustForward(t *testing.T, c *tunnel.Client, spec string) *tunnel.Forward {
	t.Helper()
	sp, err := tunnel.ParseForward(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Forward(t.Context(), sp)
	if err != nil {
		t.Fatalf("forward %s: %v", spec, err)
	}
	return f
}

// When the gateway dies, Wait reports it, every forward stops and releases
// its entry socket, and no goroutine is left behind.
func TestGatewayDies(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	base := leakcheck.Settle()

	cfg := keyConfig(t, gw)
	cfg.KeepaliveInterval = 200 * time.Millisecond
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := mustForward(t, c, "-L 0:"+exit)
	r := mustForward(t, c, "-R 0:"+exit)
	ping(t, "", l.Entry())
	open, err := net.Dial("tcp", l.Entry())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	gw.Kill()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not notice the gateway dying")
	}
	if err := c.Wait(); err == nil {
		t.Error("Wait() = nil after the gateway died, want the reason")
	} else {
		t.Logf("Wait: %v", err)
	}
	for _, f := range []*tunnel.Forward{l, r} {
		select {
		case <-f.Done():
		case <-ctx.Done():
			t.Fatalf("%s still running after the gateway died", f.Spec())
		}
	}
	if listening(t, l.Entry()) {
		t.Errorf("entry socket %s still accepting after the gateway died", l.Entry())
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil {
		t.Error("entry connection still open after the gateway died")
	}
	open.Close()
	c.Close()
	base.Verify(t)
}

// A gateway that stops answering (hung, or packets dropped) is declared dead
// after KeepaliveMax unanswered keepalives, and everything shuts down.
func TestKeepaliveDetectsHungGateway(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	base := leakcheck.Settle()

	cfg := keyConfig(t, gw)
	cfg.KeepaliveInterval, cfg.KeepaliveMax = 200*time.Millisecond, 2
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := mustForward(t, c, "-L 0:"+exit)
	ping(t, "", l.Entry())

	gw.Pause()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not notice the hung gateway")
	}
	if err := c.Wait(); err == nil {
		t.Error("Wait() = nil after keepalives went unanswered, want the reason")
	} else {
		t.Logf("Wait: %v", err)
	}
	select {
	case <-l.Done():
	case <-ctx.Done():
		t.Fatal("forward still running")
	}
	c.Close()
	gw.Resume()
	base.Verify(t)
}

// A -D forward with a SOCKS connection open and another stalled in its
// handshake, through a jump host: after Close nothing is left running, and
// the jump host's session is closed too.
func TestNoGoroutineLeakDynamicJump(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	bastion := sshtest.StartOpenSSH(t, sshtest.Options{})
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	cfg := keyConfig(t, gw)
	cfg.Jump = []tunnel.JumpHost{jumpVia(bastion)}

	warm := connect(t, ctx, gw, cfg)
	mustForward(t, warm, "-D 0")
	warm.Close()

	base := leakcheck.Settle()
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := mustForward(t, c, "-D 127.0.0.1:0")
	_, port, _ := net.SplitHostPort(echo)
	p, _ := strconv.Atoi(port)
	open, err := net.Dial("tcp", d.Entry())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	open.Write(socks5Connect("127.0.0.1", p))
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply := make([]byte, 12)
	if _, err := io.ReadFull(open, reply); err != nil || reply[3] != 0 {
		t.Fatalf("SOCKS reply % x, %v", reply, err)
	}
	stalled, err := net.Dial("tcp", d.Entry())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.Write([]byte{5}) // and nothing more

	if err := c.Close(); err != nil {
		t.Errorf("Client.Close: %v", err)
	}
	for _, conn := range []net.Conn{open, stalled} {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		// Closed is an EOF or a reset; a timeout means it was left open.
		if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("entry connection not closed by Client.Close: %v", err)
		}
		conn.Close()
	}
	base.Verify(t)
}
