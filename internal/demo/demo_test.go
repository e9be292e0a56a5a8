package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
)

func startDemo(t *testing.T) *Demo {
	t.Helper()
	return startDemoWith(t, Options{})
}

func startDemoWith(t *testing.T, o Options) *Demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		d.Close()
	})
	return d
}

// dialGateway logs into the demo gateway from the relay's host of the demo
// network, by name, as the relay does for the page.
func dialGateway(t *testing.T, d *Demo, password string) (*ssh.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := d.net.relay.Dial(ctx, "tcp", d.GatewayAddr)
	if err != nil {
		return nil, err
	}
	return sshOver(nc, d, password)
}

func sshOver(nc net.Conn, d *Demo, password string) (*ssh.Client, error) {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(nc, d.GatewayAddr, &ssh.ClientConfig{
		User:            d.Gateway.User,
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.FixedHostKey(d.Gateway.HostKey),
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

func connect(t *testing.T, d *Demo) *ssh.Client {
	t.Helper()
	c, err := dialGateway(t, d, d.Gateway.Password)
	if err != nil {
		t.Fatalf("connect to demo gateway: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ping writes lines to c and checks the pinger's "ACK <line>" answers.
func ping(t *testing.T, c net.Conn, lines ...string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, l := range lines {
		fmt.Fprintf(c, "%s\n", l)
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read answer to %q: %v", l, err)
		}
		if want := "ACK " + l + "\n"; got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
}

func TestLocalForward(t *testing.T) {
	d := startDemo(t)
	c := connect(t, d)
	// What -L does for each entry connection: a direct-tcpip channel to the exit.
	conn, err := c.Dial("tcp", d.Pinger)
	if err != nil {
		t.Fatalf("direct-tcpip to pinger %s: %v", d.Pinger, err)
	}
	defer conn.Close()
	ping(t, conn, "one", "two", strings.Repeat("x", 3000))

	echoConn, err := c.Dial("tcp", d.EchoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer echoConn.Close()
	echoConn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("echo through the gateway ", 4000)
	go func() {
		io.WriteString(echoConn, msg)
		echoConn.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(echoConn)
	if err != nil || string(got) != msg {
		t.Fatalf("echo: got %d bytes (err %v), want %d bytes back and EOF after half-close", len(got), err, len(msg))
	}

	// The web page, over HTTP through a direct-tcpip channel.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return c.DialContext(ctx, "tcp", addr)
	}}, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + d.WebAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from the exit socket") {
		t.Fatalf("web page through the gateway: %q", body)
	}
}

// The gateway reaches its exit services and loopback, nothing else: no
// other address is dialed, no other name looked up.
func TestLocalForwardRefusesOthers(t *testing.T) {
	d := startDemo(t)
	c := connect(t, d)
	for _, target := range []string{"10.0.0.5:80", "192.0.2.1:22", "example.com:80", "[fd00::5]:80", "webx:80"} {
		_, err := c.Dial("tcp", target)
		if err == nil || !strings.Contains(err.Error(), "reaches its exit services (web:80, echo:7, pinger:4444) and this machine's loopback only") {
			t.Errorf("direct-tcpip to %s: err %v, want a refusal naming the exit services and loopback", target, err)
		}
	}
	// A demo host's port where nothing listens is refused by the host, as TCP would.
	if _, err := c.Dial("tcp", "web:81"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("direct-tcpip to web:81: err %v, want connection refused", err)
	}
	// The connection survives refusals.
	conn, err := c.Dial("tcp", d.Pinger)
	if err != nil {
		t.Fatal(err)
	}
	ping(t, conn, "still here")
	conn.Close()
}

func TestRemoteForward(t *testing.T) {
	d := startDemo(t)
	c := connect(t, d)
	// -R 127.0.0.1:0:...: the gateway picks the port and reports it.
	ln, err := c.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tcpip-forward: %v", err)
	}
	entry := ln.Addr().String()
	if ln.Addr().(*net.TCPAddr).Port == 0 {
		t.Fatalf("gateway reported port 0 for %s", entry)
	}
	// The client's side of -R: each forwarded connection goes to the pinger.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer fc.Close()
				exit, err := d.net.relay.Dial(context.Background(), "tcp", d.Pinger)
				if err != nil {
					return
				}
				defer exit.Close()
				go io.Copy(exit, fc)
				io.Copy(fc, exit)
			}()
		}
	}()
	for i := range 3 {
		conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
		if err != nil {
			t.Fatalf("connect to entry socket %s: %v", entry, err)
		}
		ping(t, conn, fmt.Sprint("remote ", i))
		conn.Close()
	}
	// cancel-tcpip-forward releases the entry socket.
	ln.Close()
	<-done
	for i := 0; ; i++ {
		conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if i == 100 {
			t.Fatalf("entry socket %s still accepts after cancel-tcpip-forward", entry)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A non-loopback bind is refused.
	if _, err := c.Listen("tcp", "0.0.0.0:0"); err == nil {
		t.Fatal("tcpip-forward on 0.0.0.0 accepted, want refused")
	}
}

func TestAuthAndSession(t *testing.T) {
	d := startDemo(t)
	if _, err := dialGateway(t, d, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c := connect(t, d)
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || ok {
		t.Fatalf("keepalive: ok=%v err=%v, want a failure reply like OpenSSH's", ok, err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stderr strings.Builder
	s.Stderr = &stderr
	err = s.Run("id")
	if ee, ok := err.(*ssh.ExitError); !ok || ee.ExitStatus() != 1 {
		t.Fatalf("exec: err %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "no shell") {
		t.Fatalf("exec stderr %q, want a note that there is no shell", stderr.String())
	}
}

// OpenSSH's own client does -L and -R through the demo gateway.
func TestOpenSSHClient(t *testing.T) {
	sshBin := sshtest.RequireBinary(t, "ssh")
	// OpenSSH reaches the gateway on TCP, and dials -R exits itself.
	d := startDemoWith(t, Options{Gateway: "127.0.0.1:0", Pinger: "127.0.0.1:0"})
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+d.Gateway.Password+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	gw, err := net.ResolveTCPAddr("tcp", d.GatewayTCP)
	if err != nil {
		t.Fatalf("gateway exposed at %q: %v", d.GatewayTCP, err)
	}
	line := fmt.Sprintf("[127.0.0.1]:%d %s", gw.Port, ssh.MarshalAuthorizedKey(d.Gateway.HostKey))
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	lport := sshtest.FreePort(t, "127.0.0.1")
	rport := sshtest.FreePort(t, "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, "-N", "-F", "/dev/null",
		"-o", "UserKnownHostsFile="+known, "-o", "StrictHostKeyChecking=yes",
		"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no",
		"-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=no",
		"-p", fmt.Sprint(gw.Port),
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", lport, d.Pinger), // by name, inside the process
		"-R", fmt.Sprintf("127.0.0.1:%d:%s", rport, d.PingerTCP),
		d.Gateway.User+"@127.0.0.1")
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for _, entry := range []string{fmt.Sprintf("127.0.0.1:%d", lport), fmt.Sprintf("127.0.0.1:%d", rport)} {
		var conn net.Conn
		for i := 0; ; i++ {
			var err error
			if conn, err = net.DialTimeout("tcp", entry, 5*time.Second); err == nil {
				break
			}
			if i == 200 || ctx.Err() != nil {
				t.Fatalf("entry %s never came up: %v\nssh output:\n%s", entry, err, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		ping(t, conn, "openssh via "+entry)
		conn.Close()
	}
}

// Closing the demo ends every goroutine it started, with clients still connected.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := leakcheck.Take()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialGateway(t, d, d.Gateway.Password)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Dial("tcp", d.Pinger)
	if err != nil {
		t.Fatal(err)
	}
	ping(t, conn, "before shutdown")
	ln, err := c.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cancel() // like Ctrl-C
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	raw.Close()
	before.Verify(t)
}

func TestInfoHasNoPassword(t *testing.T) {
	d := startDemo(t)
	rec := httptest.NewRecorder()
	d.InfoHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo.json", nil))
	if strings.Contains(rec.Body.String(), d.Gateway.Password) {
		t.Fatalf("demo.json leaks the password: %s", rec.Body.String())
	}
	for _, want := range []string{`"user":"demo"`, `"host":"gateway"`, `"port":22`, `"-L 127.0.0.1:0:web:80"`, `"hostKey":"` + d.Gateway.Fingerprint() + `"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("demo.json %s lacks %s", rec.Body.String(), want)
		}
	}
	q := d.QuickStart("http://127.0.0.1:8080")
	for _, want := range []string{"open http://127.0.0.1:8080", "connect to gateway gateway:22 as demo / " + d.Gateway.Password,
		"add forward -L 127.0.0.1:0:web:80", "pinger:4444", "open no port", "start with --gateway 127.0.0.1:2222"} {
		if !strings.Contains(q, want) {
			t.Errorf("quick start lacks %q:\n%s", want, q)
		}
	}
}
