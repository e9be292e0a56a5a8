package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/relay"
	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

// labServer serves a fresh lab's /lab/ endpoints over loopback HTTP.
func labServer(t *testing.T) (*Lab, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := StartLab(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(func() {
		l.Close()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
	})
	return l, srv.URL
}

// labCommand is `ssh -N <spec> dev@<gateway>` issued on host.
type labCommand struct{ host, spec, gateway string }

// asHost logs into gateway as the lab user, acting as host: entry sockets
// of -L bind on host, exits of -R are dialled from host.
func asHost(t *testing.T, l *Lab, base, host, gateway string) *tunnel.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	relayURL := base + "/lab/relay/" + host
	conn, err := client.Dial(ctx, relayURL, gateway+":22", nil)
	if err != nil {
		t.Fatalf("%s: relay dial %s:22: %v", host, gateway, err)
	}
	c, err := tunnel.Connect(ctx, conn, gateway+":22", tunnel.Config{
		User: LabUser, Password: l.Password,
		HostKey: tunnel.HostKeyPolicy{Fingerprint: l.Gateways[gateway].Fingerprint()},
		Listen: func(ctx context.Context, _, addr string) (net.Listener, error) {
			return client.Listen(ctx, relayURL, addr, nil)
		},
		Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return client.Dial(ctx, relayURL, addr, nil)
		},
		KeepaliveInterval: -1,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("%s: ssh dev@%s: %v", host, gateway, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, l *Lab, base string, cmds ...labCommand) {
	t.Helper()
	for _, cmd := range cmds {
		c := asHost(t, l, base, cmd.host, cmd.gateway)
		spec, err := tunnel.ParseForward(cmd.spec)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err = c.Forward(ctx, spec)
		cancel()
		if err != nil {
			t.Fatalf("%s: ssh -N %s dev@%s: %v", cmd.host, cmd.spec, cmd.gateway, err)
		}
	}
}

// nc is `nc target` on lab host from: it sends hello and reads one line.
func nc(base, from, target string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, base+"/lab/relay/"+from, target, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprint(c, "hello\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// The seed's six scenarios, each on a fresh lab, answer ACK hello from the
// host the seed tests from.
func TestLabScenarios(t *testing.T) {
	for _, sc := range []struct {
		name         string
		cmds         []labCommand
		from, target string
	}{
		{"L1", []labCommand{{"host2", "-L localhost:8888:host3:4444", "gateway1"}}, "host2", "localhost:8888"},
		{"L2", []labCommand{{"host2", "-L host2:8888:host3:4444", "gateway1"}}, "host1", "host2:8888"},
		{"L3", []labCommand{{"host2", "-L host2:8888:host3:7777", "gateway1"}, {"host3", "-L host3:7777:host4:4444", "gateway2"}}, "host1", "host2:8888"},
		{"R1", []labCommand{{"host2", "-R 8888:localhost:4444", "gateway1"}}, "gateway1", "localhost:8888"},
		{"R2", []labCommand{{"host2", "-R gateway1:8888:localhost:4444", "gateway1"}}, "host1", "gateway1:8888"},
		{"R3", []labCommand{{"host2", "-R gateway1:8888:host2:4444", "gateway1"}, {"gateway1", "-R gateway2:7777:gateway1:8888", "gateway2"}}, "host1", "gateway2:7777"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			leakcheck.Check(t)
			l, base := labServer(t)
			run(t, l, base, sc.cmds...)
			got, err := nc(base, sc.from, sc.target)
			if err != nil || got != "ACK hello" {
				t.Fatalf("%s: nc %s: %q, %v; want ACK hello", sc.from, sc.target, got, err)
			}
		})
	}
}

// A -L entry socket on localhost is the issuing host's alone.
func TestLabLocalhostIsPerHost(t *testing.T) {
	l, base := labServer(t)
	run(t, l, base, labCommand{"host2", "-L localhost:8888:host3:4444", "gateway1"})
	for _, from := range []string{"host1", "gateway1"} {
		if got, err := nc(base, from, "host2:8888"); err == nil {
			t.Errorf("%s: nc host2 8888 reached %q; the entry socket is on host2's loopback", from, got)
		}
	}
	if got, err := nc(base, "host1", "localhost:8888"); err == nil {
		t.Errorf("host1: nc localhost 8888 reached %q; host1 has no entry socket", got)
	}
	if !hasSocket(l, "host2", "127.0.0.1:8888", "ssh") {
		t.Errorf("sockets %+v: want host2 127.0.0.1:8888 by ssh", l.Net.Sockets())
	}
}

func hasSocket(l *Lab, host, addr, tag string) bool {
	for _, s := range l.Net.Sockets() {
		if s.Host == host && s.Addr == addr && s.Tag == tag {
			return true
		}
	}
	return false
}

// GatewayPorts decides where sshd binds -R's entry socket, as OpenSSH does.
func TestLabGatewayPorts(t *testing.T) {
	for _, c := range []struct {
		mode, spec, bound string
		fromHost1         bool
	}{
		{"no", "-R gateway1:8888:localhost:4444", "127.0.0.1:8888", false},
		{"no", "-R *:8888:localhost:4444", "127.0.0.1:8888", false},
		{"yes", "-R 8888:localhost:4444", "0.0.0.0:8888", true},
		{"yes", "-R localhost:8888:localhost:4444", "0.0.0.0:8888", true},
		{"clientspecified", "-R 8888:localhost:4444", "127.0.0.1:8888", false},
		{"clientspecified", "-R *:8888:localhost:4444", "0.0.0.0:8888", true},
		{"clientspecified", "-R gateway1:8888:localhost:4444", "192.0.2.11:8888", true},
	} {
		t.Run(c.mode+" "+c.spec, func(t *testing.T) {
			l, base := labServer(t)
			mode, err := ParseGatewayPorts(c.mode)
			if err != nil {
				t.Fatal(err)
			}
			l.Gateways["gateway1"].SetGatewayPorts(mode)
			run(t, l, base, labCommand{"host2", c.spec, "gateway1"})
			if !hasSocket(l, "gateway1", c.bound, "sshd") {
				t.Fatalf("sockets %+v: want gateway1 %s by sshd", l.Net.Sockets(), c.bound)
			}
			got, err := nc(base, "host1", "gateway1:8888")
			if c.fromHost1 != (err == nil && got == "ACK hello") {
				t.Errorf("host1: nc gateway1 8888: %q, %v; reachable want %v", got, err, c.fromHost1)
			}
			// On gateway1 itself: loopback, unless bound to its address only.
			local := "localhost:8888"
			if c.bound == "192.0.2.11:8888" {
				local = "gateway1:8888"
			}
			if got, err := nc(base, "gateway1", local); err != nil || got != "ACK hello" {
				t.Errorf("gateway1: nc %s: %q, %v; want ACK hello", local, got, err)
			}
		})
	}
}

// A name that is not the gateway's own fails the forward, as bind(2) would.
func TestLabRemoteForwardForeignAddress(t *testing.T) {
	l, base := labServer(t)
	c := asHost(t, l, base, "host2", "gateway1")
	spec, _ := tunnel.ParseForward("-R host1:8888:localhost:4444")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Forward(ctx, spec); err == nil {
		t.Fatal("-R host1:8888 on gateway1 succeeded; gateway1 cannot bind host1's address")
	}
	if _, err := c.Forward(ctx, tunnel.Spec{}); err == nil {
		t.Fatal("empty spec accepted")
	}
}

// PermitOpen limits where the gateway dials -L's exit sockets.
func TestLabPermitOpen(t *testing.T) {
	l, base := labServer(t)
	po, err := ParsePermitOpen("host4:*")
	if err != nil {
		t.Fatal(err)
	}
	l.Gateways["gateway1"].SetPermitOpen(po)
	run(t, l, base,
		labCommand{"host2", "-L localhost:8888:host3:4444", "gateway1"},
		labCommand{"host2", "-L localhost:8889:host4:4444", "gateway1"})
	if got, err := nc(base, "host2", "localhost:8888"); err == nil {
		t.Errorf("nc through a PermitOpen-refused exit: %q", got)
	}
	if got, err := nc(base, "host2", "localhost:8889"); err != nil || got != "ACK hello" {
		t.Errorf("nc through a permitted exit: %q, %v", got, err)
	}
	for _, bad := range []string{"", "any host4:1", "host4", "host4:0"} {
		if _, err := ParsePermitOpen(bad); err == nil {
			t.Errorf("ParsePermitOpen(%q) accepted", bad)
		}
	}
}

// The API switches GatewayPorts, refuses cross-site changes, and a reset
// ends every forward.
func TestLabAPI(t *testing.T) {
	l, base := labServer(t)
	post := func(path, origin, body string) int {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/lab/api/gateway", "http://evil.example", `{"gateway":"gateway1","gatewayPorts":"no"}`); code != 403 {
		t.Errorf("cross-site change: %d, want 403", code)
	}
	if code := post("/lab/api/gateway", "", `{"gateway":"gateway1","gatewayPorts":"maybe"}`); code != 400 {
		t.Errorf("bad mode: %d, want 400", code)
	}
	if code := post("/lab/api/gateway", "", `{"gateway":"gateway1","gatewayPorts":"no"}`); code != 200 || l.Gateways["gateway1"].GatewayPorts() != GatewayPortsNo {
		t.Errorf("switch to no: %d, mode %v", code, l.Gateways["gateway1"].GatewayPorts())
	}
	run(t, l, base, labCommand{"host2", "-L host2:8888:host3:4444", "gateway1"})
	if got, err := nc(base, "host1", "host2:8888"); err != nil || got != "ACK hello" {
		t.Fatalf("before reset: %q, %v", got, err)
	}
	if code := post("/lab/api/reset", "", `{}`); code != 200 {
		t.Fatalf("reset: %d", code)
	}
	if l.Gateways["gateway1"].GatewayPorts() != labDefaultPorts {
		t.Error("reset kept GatewayPorts no")
	}
	gone := false
	for range 100 {
		if _, err := nc(base, "host1", "host2:8888"); err != nil {
			gone = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !gone {
		t.Error("the forward still answers after reset")
	}
	resp, err := http.Get(base + "/lab/api/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("state: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// The demo's handler serves the lab's page at /lab itself (no redirect to
// /lab/) next to its API and relays.
func TestDemoServesLab(t *testing.T) {
	d := startDemo(t)
	rl, err := relay.New(relay.Config{Allow: d.Allow()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler(rl))
	t.Cleanup(func() {
		rl.Shutdown(context.Background())
		srv.Close()
	})
	hc := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for path, want := range map[string]string{
		"/lab":                     "tunnelkit lab",
		"/lab/api/state":           `"user":"dev"`,
		"/lab/relay/host1/healthz": "ok",
	} {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.120q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	if !strings.Contains(d.QuickStart("http://127.0.0.1:8080"), "http://127.0.0.1:8080/lab") {
		t.Error("the quick start does not name the lab's URL")
	}
}
