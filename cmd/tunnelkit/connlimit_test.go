package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/client"
)

func dialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// TestSlowClientsDoNotStarveOthers runs the real binary under a 256
// open-file limit: 400 connections from 127.0.0.2 that promise a body and
// never send it do not keep 127.0.0.1 from being served, and the address
// that misbehaves is the one turned away.
func TestSlowClientsDoNotStarveOthers(t *testing.T) {
	bin := buildTunnelkit(t)
	// A request timeout longer than the wait below: only the cap can help.
	base := startRelayProc(t, bin, "ulimit -n 256", "serve", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:1", "--request-timeout", "2m")
	addr := strings.TrimPrefix(base, "http://")
	slow := dialerFrom("127.0.0.2")
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := 0; i < 400; i++ {
		c, err := slow.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		held = append(held, c)
		if i%2 == 0 { // a body promised and never sent (under net/http's 256 KiB discard limit)
			c.Write([]byte("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nx"))
		} else { // headers never finished
			c.Write([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
		}
	}
	other := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: dialerFrom("127.0.0.1").DialContext}}
	for _, path := range []string{"/healthz", "/"} {
		resp, err := other.Get(base + path)
		if err != nil {
			t.Fatalf("another client, GET %s, while one address holds 400 connections: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("another client, GET %s: %d", path, resp.StatusCode)
		}
	}
	// The misbehaving address gets no answer on a new connection.
	capped := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: slow.DialContext}}
	if resp, err := capped.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("127.0.0.2 over its connection cap was answered: %d", resp.StatusCode)
	}
}

// TestRequestTimeoutSparesStreams: --request-timeout closes a request
// whose body never comes, and a WebSocket stream outlives it many times.
func TestRequestTimeoutSparesStreams(t *testing.T) {
	bin := buildTunnelkit(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	base := startRelayProc(t, bin, "", "serve", "--listen", "127.0.0.1:0", "--allow", echo, "--request-timeout", "300ms")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := client.Dial(ctx, base, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nx"))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a request whose body never came was still open after 20s")
	}

	time.Sleep(time.Second) // over three request timeouts
	if _, err := stream.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("still here"))
	stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(stream, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("the stream after the request timeout: %q %v", buf, err)
	}
}
