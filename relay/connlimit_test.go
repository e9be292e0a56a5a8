package relay

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestLimitListener: an address holds at most MaxConnsPerClient
// connections; more are closed unanswered; a closed one frees its slot;
// other addresses and trusted proxies are not held to it.
func TestLimitListener(t *testing.T) {
	r, err := New(Config{MaxConnsPerClient: 2, TrustedProxies: []string{"127.0.0.4"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(r.LimitListener(ln))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// answered reports whether a new connection from ip gets /healthz.
	answered := func(ip string) bool {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
		b, _ := io.ReadAll(c)
		return len(b) > 0
	}
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) // keep-alive: stays open
		buf := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("connection %d within the cap: %v", i+1, err)
		}
	}
	if answered("127.0.0.2") {
		t.Fatal("a third connection from 127.0.0.2 was answered over a cap of 2")
	}
	if !answered("127.0.0.3") || !answered("127.0.0.4") || !answered("127.0.0.4") || !answered("127.0.0.4") {
		t.Fatal("another address, or a trusted proxy, was refused")
	}
	held[0].Close()
	for i := 0; ; i++ { // the server sees the close soon: poll, bounded
		if answered("127.0.0.2") {
			break
		}
		if i == 100 {
			t.Fatal("a closed connection never gave its slot back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	held[1].Close()
}
