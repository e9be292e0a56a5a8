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

// TestDemo runs `tunnelkit demo`: it prints a quick start whose URL serves
// the page and /demo.json, whose gateway takes the printed password, and it
// stops cleanly, goroutines and all, when its context ends (Ctrl-C).
func TestDemo(t *testing.T) {
	before := leakcheck.Take()
	pr, pw := io.Pipe()
	demoOut = pw
	t.Cleanup(func() { demoOut = os.Stdout })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(ctx, []string{"--listen", "127.0.0.1:0"})
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
	out := quick.String()
	page := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	login := regexp.MustCompile(`connect to gateway (127\.0\.0\.1:\d+) as (\S+) / (\S+)`).FindStringSubmatch(out)
	if page == nil || login == nil || !strings.Contains(out, "add forward -L 127.0.0.1:0:127.0.0.1:") {
		t.Fatalf("quick start lacks the URL, the login or the first forward:\n%s", out)
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
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
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

	c, err := ssh.Dial("tcp", login[1], &ssh.ClientConfig{
		User: login[2], Auth: []ssh.AuthMethod{ssh.Password(login[3])},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the printed fingerprint is checked by the page tests
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("log in to the demo gateway with the printed password: %v", err)
	}
	defer c.Close()

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("demo returned %v after Ctrl-C", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s of Ctrl-C")
	}
	c.Close()
	hc.CloseIdleConnections()
	before.Verify(t)
}
