package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/lab"
	"tunnelkit/internal/leakcheck"
	"tunnelkit/relay"
	"tunnelkit/relay/client"
)

// demoRelay serves the demo's page and relay (RelayConfig) over loopback HTTP.
func demoRelay(t *testing.T, d *Demo) string {
	t.Helper()
	rl, err := relay.New(d.RelayConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler(rl))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rl.Shutdown(ctx)
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// By default the gateway and the services listen on the demo network only,
// each on its own host, and on no TCP address of the machine.
func TestDemoListensInsideTheProcess(t *testing.T) {
	d := startDemo(t)
	if d.GatewayTCP != "" || d.WebTCP != "" || d.EchoTCP != "" || d.PingerTCP != "" {
		t.Errorf("exposed on TCP without being asked: gateway %q web %q echo %q pinger %q", d.GatewayTCP, d.WebTCP, d.EchoTCP, d.PingerTCP)
	}
	var got []string
	for _, s := range d.Net.Sockets() {
		got = append(got, fmt.Sprintf("%s %s %s", s.Host, s.Addr, s.Tag))
	}
	want := []string{"gateway 0.0.0.0:22 sshd", "web 0.0.0.0:80 http", "echo 0.0.0.0:7 echo", "pinger 0.0.0.0:4444 pinger"}
	if !slices.Equal(got, want) {
		t.Errorf("demo network sockets %q, want %q", got, want)
	}
	if got := d.Allow(); !slices.Equal(got, []string{"gateway:22", "web:80", "echo:7", "pinger:4444"}) {
		t.Errorf("relay policy %q, want the gateway and the services by name", got)
	}
}

// The relay, with the demo's seams, reaches the gateway and the services
// by name inside the process and refuses everything else by policy.
func TestRelayReachesTheDemoByName(t *testing.T) {
	d := startDemo(t)
	base := demoRelay(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nc, err := client.Dial(ctx, base, d.GatewayAddr, nil)
	if err != nil {
		t.Fatalf("relay dial %s: %v", d.GatewayAddr, err)
	}
	c, err := sshOver(nc, d, d.Gateway.Password)
	if err != nil {
		t.Fatalf("log in to %s through the relay: %v", d.GatewayAddr, err)
	}
	defer c.Close()
	pc, err := c.Dial("tcp", d.Pinger)
	if err != nil {
		t.Fatal(err)
	}
	ping(t, pc, "through relay and gateway")
	pc.Close()

	// -R exits are dialed by the relay: the pinger by name.
	ex, err := client.Dial(ctx, base, d.Pinger, nil)
	if err != nil {
		t.Fatalf("relay dial %s: %v", d.Pinger, err)
	}
	ping(t, ex, "from the relay")
	ex.Close()

	for _, target := range []string{"127.0.0.1:1", "web:81", "198.51.100.3:80", "example.com:80", "192.0.2.1:22"} {
		if rc, err := client.Dial(ctx, base, target, nil); err == nil || !strings.Contains(err.Error(), "allow") {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("relay dial %s: err %v, want a policy refusal", target, err)
		}
	}
	// The page's own -L entry sockets bind on this machine's loopback.
	ln, err := client.Listen(ctx, base, "localhost:0", nil)
	if err != nil {
		t.Fatalf("relay listen on localhost:0: %v", err)
	}
	defer ln.Close()
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() || a.Port == 0 {
		t.Errorf("listen bridge bound %v, want a loopback port of this machine", ln.Addr())
	}
}

// The gateway's dials leave the demo network only for loopback, and the
// relay's only for what its policy allowed: both refuse an address that
// is neither, without dialing it.
func TestDemoDialersStayInside(t *testing.T) {
	n, err := newDemoNet()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, addr := range []string{"192.0.2.1:22", "10.0.0.1:80", "[fd00::5]:80"} {
		if c, err := n.relayDial(ctx, "tcp", addr); err == nil {
			c.Close()
			t.Errorf("relay dial %s: connected, want refused", addr)
		}
		var refused *ExitRefusedError
		if _, err := n.dialExit(ctx, "tcp", addr); !errors.As(err, &refused) || refused.Target != addr {
			t.Errorf("gateway dial %s: err %v, want an ExitRefusedError", addr, err)
		}
	}
	ln, err := n.web.Listen(ctx, "tcp", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, addr := range []string{"web:80", "WEB:80", "198.51.100.3:80"} {
		c, err := n.dialExit(ctx, "tcp", addr)
		if err != nil {
			t.Errorf("gateway dial %s: %v", addr, err)
			continue
		}
		c.Close()
		if from := c.LocalAddr().(*net.TCPAddr).IP.String(); from != "198.51.100.2" {
			t.Errorf("gateway dial %s came from %s, want the gateway's address", addr, from)
		}
	}
	if ips, err := n.relay.LookupNetIP(ctx, "ip", "gateway"); err != nil || len(ips) != 1 || ips[0].String() != "198.51.100.2" {
		t.Errorf("relay resolves gateway to %v (%v), want 198.51.100.2", ips, err)
	}
	if ips, err := n.relay.LookupNetIP(ctx, "ip", "localhost"); err != nil || len(ips) != 1 || ips[0] != lab.Loopback {
		t.Errorf("relay resolves localhost to %v (%v), want 127.0.0.1", ips, err)
	}
	if _, err := n.relay.LookupNetIP(ctx, "ip", "example.com"); err == nil {
		t.Error("relay resolved example.com: the demo looks up no name outside")
	}
}

// Options expose each part on loopback TCP as well; the relay may dial
// those addresses too.
func TestDemoExposesOnRequest(t *testing.T) {
	d := startDemoWith(t, Options{Gateway: "127.0.0.1:0", Web: "127.0.0.1:0", Echo: "127.0.0.1:0", Pinger: "127.0.0.1:0"})
	for name, a := range map[string]string{"gateway": d.GatewayTCP, "web": d.WebTCP, "echo": d.EchoTCP, "pinger": d.PingerTCP} {
		if ap, err := net.ResolveTCPAddr("tcp", a); err != nil || !ap.IP.IsLoopback() || ap.Port == 0 {
			t.Errorf("%s exposed at %q, want a loopback port", name, a)
		}
		if !slices.Contains(d.Allow(), a) {
			t.Errorf("relay policy %q lacks the exposed %s %s", d.Allow(), name, a)
		}
	}
	c, err := ssh.Dial("tcp", d.GatewayTCP, &ssh.ClientConfig{
		User: d.Gateway.User, Auth: []ssh.AuthMethod{ssh.Password(d.Gateway.Password)},
		HostKeyCallback: ssh.FixedHostKey(d.Gateway.HostKey), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh to the exposed gateway %s: %v", d.GatewayTCP, err)
	}
	defer c.Close()
	// The same gateway: its exits by name work from TCP too.
	pc, err := c.Dial("tcp", d.Pinger)
	if err != nil {
		t.Fatal(err)
	}
	ping(t, pc, "tcp gateway, in-process pinger")
	pc.Close()

	raw, err := net.DialTimeout("tcp", d.PingerTCP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ping(t, raw, "tcp pinger")
	raw.Close()
	ec, err := net.DialTimeout("tcp", d.EchoTCP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ec.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(ec, "echo?")
	ec.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(ec); err != nil || string(got) != "echo?" {
		t.Errorf("tcp echo: %q %v", got, err)
	}
	ec.Close()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + d.WebTCP + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from the exit socket") {
		t.Errorf("tcp web: %q", body)
	}

	base := demoRelay(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ex, err := client.Dial(ctx, base, d.PingerTCP, nil)
	if err != nil {
		t.Fatalf("relay dial to the exposed pinger %s: %v", d.PingerTCP, err)
	}
	ping(t, ex, "relay to tcp pinger")
	ex.Close()
	q := d.QuickStart("http://127.0.0.1:8080")
	for _, want := range []string{"gateway " + d.GatewayTCP, "pinger " + d.PingerTCP, fmt.Sprintf("-p %d demo@127.0.0.1", mustPort(t, d.GatewayTCP))} {
		if !strings.Contains(q, want) {
			t.Errorf("quick start lacks %q:\n%s", want, q)
		}
	}
}

// A taken address for an exposed part fails Start, naming it, and leaves
// nothing running.
func TestDemoExposeTaken(t *testing.T) {
	before := leakcheck.Take()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, o := range []Options{{Gateway: taken.Addr().String()}, {Pinger: taken.Addr().String()}, {Web: "192.0.2.1:80"}} {
		d, err := Start(ctx, o)
		if err == nil {
			d.Close()
			t.Errorf("Start(%+v) succeeded, want an error", o)
			continue
		}
		if !strings.Contains(err.Error(), "demo ") {
			t.Errorf("Start(%+v): %v, want it to name the part", o, err)
		}
	}
	cancel()
	before.Verify(t)
}

func mustPort(t *testing.T, hostport string) int {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	return a.Port
}
