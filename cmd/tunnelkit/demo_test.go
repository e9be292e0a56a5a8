package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/relay/client"
)

// startDemoCmd runs `tunnelkit demo args...` and returns its quick start,
// a channel with its result, and the cancel that stands for Ctrl-C.
func startDemoCmd(t *testing.T, args ...string) (string, <-chan error, context.CancelFunc) {
	t.Helper()
	pr, pw := io.Pipe()
	demoOut = pw
	t.Cleanup(func() { demoOut = os.Stdout })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, args)
		pw.Close()
	}()
	var quick strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		quick.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "same with OpenSSH") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	return quick.String(), errc, cancel
}

func waitStopped(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("demo returned %v after Ctrl-C", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s of Ctrl-C")
	}
}

// TestDemo runs `tunnelkit demo`: it prints a quick start whose URL serves
// the page and /demo.json, whose gateway (inside the process, reached
// through the relay as the page does) takes the printed password, and it
// stops cleanly, goroutines and all, when its context ends (Ctrl-C).
func TestDemo(t *testing.T) {
	before := leakcheck.Take()
	out, errc, cancel := startDemoCmd(t, "--listen", "127.0.0.1:0")
	ctx := context.Background()
	page := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	login := regexp.MustCompile(`connect to gateway (gateway:22) as (\S+) / (\S+)`).FindStringSubmatch(out)
	if page == nil || login == nil || !strings.Contains(out, "add forward -L 127.0.0.1:0:web:80,") {
		t.Fatalf("quick start lacks the URL, the login or the first forward:\n%s", out)
	}
	if strings.Contains(out, "also on this machine") {
		t.Errorf("quick start says something is exposed on TCP though nothing was asked:\n%s", out)
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]string{"/": "tunnelkit", "/demo.json": `"user":"` + login[2] + `"`, "/healthz": "ok"} {
		resp, err := hc.Get(page[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %.200q, want 200 with %q", path, resp.StatusCode, body, want)
		}
		if path == "/demo.json" && strings.Contains(string(body), login[3]) {
			t.Errorf("/demo.json carries the password: %s", body)
		}
	}
	// The relay dials the gateway and the services, nothing else.
	dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
	defer dcancel()
	rc, err := client.Dial(dctx, page[1], login[1], nil)
	if err != nil {
		t.Fatalf("relay refused the demo gateway %s: %v", login[1], err)
	}
	rc.Close()
	if rc, err := client.Dial(dctx, page[1], "127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "allow") {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("relay dial to 127.0.0.1:1: err %v, want a policy refusal", err)
	}

	nc, err := client.Dial(dctx, page[1], login[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(nc, login[1], &ssh.ClientConfig{
		User: login[2], Auth: []ssh.AuthMethod{ssh.Password(login[3])},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the printed fingerprint is checked by the page tests
	})
	if err != nil {
		t.Fatalf("log in to the demo gateway with the printed password: %v", err)
	}
	nc.SetDeadline(time.Time{})
	c := ssh.NewClient(sc, chans, reqs)
	defer c.Close()

	cancel()
	waitStopped(t, errc)
	c.Close()
	hc.CloseIdleConnections()
	before.Verify(t)
}

// TestDemoExpose: --gateway puts the same gateway on a loopback TCP port
// too, printed with the OpenSSH command that uses it; a non-loopback
// address is refused before anything starts.
func TestDemoExpose(t *testing.T) {
	out, errc, cancel := startDemoCmd(t, "--listen", "127.0.0.1:0", "--gateway", "127.0.0.1:0")
	m := regexp.MustCompile(`also on this machine's loopback, as asked: gateway (127\.0\.0\.1:(\d+))\n`).FindStringSubmatch(out)
	login := regexp.MustCompile(`connect to gateway gateway:22 as (\S+) / (\S+)`).FindStringSubmatch(out)
	if m == nil || login == nil || !strings.Contains(out, "same with OpenSSH: ssh -N -L 8081:web:80 -p "+m[2]+" demo@127.0.0.1") {
		t.Fatalf("quick start lacks the exposed gateway or its OpenSSH command:\n%s", out)
	}
	c, err := ssh.Dial("tcp", m[1], &ssh.ClientConfig{
		User: login[1], Auth: []ssh.AuthMethod{ssh.Password(login[2])},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh to the exposed gateway %s: %v", m[1], err)
	}
	c.Close()
	cancel()
	waitStopped(t, errc)

	err = runDemo(context.Background(), []string{"--listen", "127.0.0.1:0", "--pinger", "192.0.2.1:4444"})
	if err == nil || !strings.Contains(err.Error(), "loopback") || !strings.Contains(err.Error(), "pinger") {
		t.Errorf("--pinger 192.0.2.1:4444: %v, want a refusal naming the pinger and loopback", err)
	}
}
