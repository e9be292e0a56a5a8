//go:build !js

package tunnel_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// L1: -L localhost:PORT:host3:4444 through gateway1.
func TestSeedL1(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, host3+":0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	port := sshtest.FreePort(t, "127.0.0.1")
	f := forward(t, ctx, c, fmt.Sprintf("-L localhost:%d:%s", port, exit))
	if got := portOf(t, f.Entry()); got != port {
		t.Fatalf("Entry() = %q, want port %d", f.Entry(), port)
	}
	ping(t, "", hostPort("127.0.0.1", port))
	// The gateway, not the client, dialled the exit.
	waitLog(t, gw.LogFile, fmt.Sprintf("target %s port %d", host3, portOf(t, exit)))
	waitStats(t, f, 1)
}

// L2: the entry socket bound to host2 is reachable from another host, and
// only on host2.
func TestSeedL2(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, host3+":0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	port := sshtest.FreePort(t, host2)
	forward(t, ctx, c, fmt.Sprintf("-L %s:%d:%s", host2, port, exit))
	ping(t, "127.0.0.9", hostPort(host2, port)) // from "another host"
	if listening(t, hostPort("127.0.0.1", port)) {
		t.Errorf("entry bound to %s also accepts on 127.0.0.1:%d", host2, port)
	}
}

// L3: two chained -L forwards through two gateways: the first forward's exit
// is gateway2's sshd, the SSH connection to gateway2 runs through it, and the
// second forward reaches host3 from gateway2.
func TestSeedL3(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw1 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	gw2 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway2})
	exit := sshtest.StartPinger(t, host3+":0")

	c1 := connect(t, ctx, gw1, keyConfig(t, gw1))
	hop := forward(t, ctx, c1, fmt.Sprintf("-L localhost:0:%s", gw2.Addr))

	conn, err := net.Dial("tcp", hop.Entry())
	if err != nil {
		t.Fatal(err)
	}
	// The host key is checked for gateway2's own address, as with ProxyJump.
	c2, err := tunnel.Connect(ctx, conn, gw2.Addr, keyConfig(t, gw2))
	if err != nil {
		t.Fatalf("connect to %s through %s: %v", gw2.Addr, hop.Entry(), err)
	}
	t.Cleanup(func() { c2.Close() })
	f := forward(t, ctx, c2, fmt.Sprintf("-L localhost:0:%s", exit))
	ping(t, "", f.Entry())
	waitLog(t, gw1.LogFile, fmt.Sprintf("target %s port %d", gateway2, gw2.Port()))
	waitLog(t, gw2.LogFile, fmt.Sprintf("target %s port %d", host3, portOf(t, exit)))
}

// L3, the other way to chain: the exit of the first -L (through gateway1)
// is the entry socket of the second (through gateway2).
func TestSeedL3ExitIsNextEntry(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw1 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	gw2 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway2})
	exit := sshtest.StartPinger(t, host3+":0")
	c1 := connect(t, ctx, gw1, keyConfig(t, gw1))
	c2 := connect(t, ctx, gw2, keyConfig(t, gw2))

	second := forward(t, ctx, c2, fmt.Sprintf("-L %s:0:%s", host2, exit))
	first := forward(t, ctx, c1, "-L localhost:0:"+second.Entry())
	ping(t, "", first.Entry())
	waitLog(t, gw1.LogFile, fmt.Sprintf("target %s port %d", host2, portOf(t, second.Entry())))
	waitLog(t, gw2.LogFile, fmt.Sprintf("target %s port %d", host3, portOf(t, exit)))
	waitStats(t, first, 1)
	waitStats(t, second, 1)
}

// R1: -R PORT:localhost:4444: the gateway listens on its loopback, the client
// dials the exit.
func TestSeedR1(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	port := sshtest.FreePort(t, "127.0.0.1")
	f := forward(t, ctx, c, fmt.Sprintf("-R %d:localhost:%d", port, portOf(t, exit)))
	if got := portOf(t, f.Entry()); got != port {
		t.Fatalf("Entry() = %q, want port %d", f.Entry(), port)
	}
	ping(t, "", hostPort("127.0.0.1", port))
	waitStats(t, f, 1)
	// Like ssh, a -R without an address asks the gateway for "localhost".
	waitLog(t, gw.LogFile, fmt.Sprintf("tcpip-forward listen localhost port %d", port))
}

// R2: -R gateway1:PORT:localhost:4444. Where the gateway binds depends on its
// GatewayPorts, exactly as for OpenSSH's ssh -R, which runs side by side.
func TestSeedR2(t *testing.T) {
	for _, tc := range []struct {
		gatewayPorts string
		onGateway    bool // bound on gateway1's address
		onLoopback   bool // bound on 127.0.0.1
	}{
		{"clientspecified", true, false},
		{"yes", true, true}, // wildcard
		{"no", false, true}, // loopback only, whatever the client asks
	} {
		t.Run("GatewayPorts="+tc.gatewayPorts, func(t *testing.T) {
			ctx := testContext(t, 30*time.Second)
			gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, GatewayPorts: tc.gatewayPorts})
			exit := sshtest.StartPinger(t, "127.0.0.1:0")
			c := connect(t, ctx, gw, keyConfig(t, gw))

			check := func(who string, port int) {
				t.Helper()
				for _, probe := range []struct {
					host string
					want bool
				}{{gateway1, tc.onGateway}, {"127.0.0.1", tc.onLoopback}} {
					addr := hostPort(probe.host, port)
					if got := listening(t, addr); got != probe.want {
						t.Errorf("%s: listening on %s = %v, want %v", who, addr, got, probe.want)
					} else if got {
						ping(t, "", addr)
					}
				}
			}

			port := sshtest.FreePort(t, "0.0.0.0")
			forward(t, ctx, c, fmt.Sprintf("-R %s:%d:localhost:%d", gateway1, port, portOf(t, exit)))
			check("tunnelkit", port)

			sshPort := sshtest.FreePort(t, "0.0.0.0")
			p := startOpenSSH(t, gw, "-R", fmt.Sprintf("%s:%d:localhost:%d", gateway1, sshPort, portOf(t, exit)))
			up := hostPort(gateway1, sshPort)
			if !tc.onGateway {
				up = hostPort("127.0.0.1", sshPort)
			}
			if err := eventually(10*time.Second, func() error { return sshtest.Ping("", up, "up") }); err != nil {
				t.Fatalf("ssh -R did not come up on %s: %v", up, err)
			}
			check("ssh", sshPort)
			if done, err := p.exited(0); done {
				t.Fatalf("ssh exited: %v", err)
			}
		})
	}
}

// R3: two chained -R forwards: gateway1's entry leads to the client, which
// dials gateway2's entry, which leads back to the client and on to the exit.
func TestSeedR3(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw1 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	gw2 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway2})
	exit := sshtest.StartPinger(t, host3+":0")
	c1 := connect(t, ctx, gw1, keyConfig(t, gw1))
	c2 := connect(t, ctx, gw2, keyConfig(t, gw2))

	second := forward(t, ctx, c2, fmt.Sprintf("-R localhost:0:%s", exit))
	first := forward(t, ctx, c1, fmt.Sprintf("-R localhost:0:localhost:%d", portOf(t, second.Entry())))
	ping(t, "", hostPort("127.0.0.1", portOf(t, first.Entry())))
	waitStats(t, first, 1)
	waitStats(t, second, 1)
}

// waitStats waits (bounded) for f's counters to show conns connections with
// bytes both ways: they are updated just after the bytes are passed on.
func waitStats(t *testing.T, f *tunnel.Forward, conns int64) {
	t.Helper()
	var st tunnel.Stats
	err := eventually(5*time.Second, func() error {
		if st = f.Stats(); st.Connections != conns || st.BytesOut == 0 || st.BytesIn == 0 {
			return fmt.Errorf("%s: Stats() = %+v, want %d connections with bytes both ways", f.Spec(), st, conns)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
