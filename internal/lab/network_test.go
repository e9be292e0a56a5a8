package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
)

// twoHosts is a lab of host1 (192.0.2.1) and host2 (192.0.2.2).
func twoHosts(t *testing.T) (*Network, *Host, *Host) {
	t.Helper()
	n := New()
	h1, err := n.AddHost("host1", netip.MustParseAddr("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := n.AddHost("host2", netip.MustParseAddr("192.0.2.2"))
	if err != nil {
		t.Fatal(err)
	}
	return n, h1, h2
}

// serveEcho answers each line with "<tag> <line>" until ln closes.
func serveEcho(t *testing.T, ln net.Listener, tag string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s %s\n", tag, sc.Text())
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

func ask(t *testing.T, h *Host, addr string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func listen(t *testing.T, h *Host, addr string) net.Listener {
	t.Helper()
	ln, err := h.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("%s listen %s: %v", h, addr, err)
	}
	return ln
}

// Each host has its own localhost; its external address is reachable from
// every host, and 0.0.0.0 is both.
func TestReachability(t *testing.T) {
	leakcheck.Check(t)
	_, h1, h2 := twoHosts(t)
	serveEcho(t, listen(t, h2, "localhost:8888"), "lo")
	serveEcho(t, listen(t, h2, "host2:8889"), "ext")
	serveEcho(t, listen(t, h2, "0.0.0.0:8890"), "all")
	for _, c := range []struct {
		from *Host
		addr string
		want string // "" means refused
	}{
		{h2, "localhost:8888", "lo hello"},
		{h2, "127.0.0.1:8888", "lo hello"},
		{h1, "localhost:8888", ""},
		{h1, "host2:8888", ""},
		{h1, "host2:8889", "ext hello"},
		{h2, "host2:8889", "ext hello"},
		{h2, "localhost:8889", ""},
		{h1, "192.0.2.2:8890", "all hello"},
		{h2, "localhost:8890", "all hello"},
		{h1, "localhost:8890", ""},
	} {
		got, err := ask(t, c.from, c.addr)
		if c.want == "" {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s -> %s: %q, %v; want connection refused", c.from, c.addr, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s -> %s: %q, %v; want %q", c.from, c.addr, got, err, c.want)
		}
	}
	if _, err := ask(t, h1, "192.0.2.77:80"); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("dial outside the lab: %v, want no route to host", err)
	}
	if _, err := ask(t, h1, "example.com:80"); err == nil || !strings.Contains(err.Error(), "no such host in the lab") {
		t.Errorf("dial an unknown name: %v, want a lookup error", err)
	}
}

func TestBindRules(t *testing.T) {
	n, h1, h2 := twoHosts(t)
	ctx := context.Background()
	lo := listen(t, h2, "127.0.0.1:7000")
	defer lo.Close()
	ext := listen(t, h2, "host2:7000") // another address, same port: fine
	defer ext.Close()
	for _, addr := range []string{"localhost:7000", "0.0.0.0:7000", ":7000"} {
		if _, err := h2.Listen(ctx, "tcp", addr); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("listen %s over a bound port: %v, want address in use", addr, err)
		}
	}
	if _, err := h1.Listen(ctx, "tcp", "host2:7001"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("host1 binding host2's address: %v, want cannot assign", err)
	}
	p0 := listen(t, h1, "localhost:0")
	defer p0.Close()
	if port := p0.Addr().(*net.TCPAddr).Port; port < firstEphemeral {
		t.Errorf("port 0 got %d, want an ephemeral port", port)
	}
	socks := n.Sockets()
	if len(socks) != 3 || socks[0].Host != "host1" || socks[1].Bind != "loopback" || socks[2].Addr != "192.0.2.2:7000" {
		t.Errorf("sockets %+v", socks)
	}
	lo.Close()
	if err := lo.Close(); err == nil {
		t.Error("second Close of a listener: no error")
	}
	again := listen(t, h2, "localhost:7000") // the port is free once closed
	again.Close()
	if _, err := h1.Listen(ctx, "udp", ":53"); err == nil {
		t.Error("udp listen accepted")
	}
}

// A connection carries bytes both ways with half-close, bounded buffers,
// deadlines, and TCP addresses of the hosts.
func TestConn(t *testing.T) {
	leakcheck.Check(t)
	_, h1, h2 := twoHosts(t)
	ln := listen(t, h2, "host2:9000")
	defer ln.Close()
	got := make(chan []byte, 1)
	var server net.Conn
	accepted := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			got <- nil
			return
		}
		server = c
		close(accepted)
		b, _ := io.ReadAll(c)
		got <- b
		c.Write([]byte("bye"))
		c.Close()
	}()
	c, err := h1.Dial(context.Background(), "tcp", "host2:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	if ra := server.RemoteAddr().(*net.TCPAddr); ra.IP.String() != "192.0.2.1" || ra.Port < firstEphemeral {
		t.Errorf("server sees the client at %v, want 192.0.2.1:ephemeral", ra)
	}
	msg := strings.Repeat("x", 5*pipeBuffer) // more than the buffer: the writer waits for the reader
	if n, err := c.Write([]byte(msg)); n != len(msg) || err != nil {
		t.Fatalf("write %d, %v", n, err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if b := <-got; string(b) != msg {
		t.Fatalf("server read %d bytes, want %d then EOF", len(b), len(msg))
	}
	reply, err := io.ReadAll(c)
	if string(reply) != "bye" || err != nil {
		t.Fatalf("reply %q, %v", reply, err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past deadline: %v", err)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Error("write after the peer closed: no error")
	}
}

// A read waiting for data ends at its deadline, and on Close.
func TestConnDeadlineAndClose(t *testing.T) {
	leakcheck.Check(t)
	a, _ := newPair(&net.TCPAddr{}, &net.TCPAddr{})
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want deadline exceeded", err)
	}
	a.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 1)); done <- err }()
	a.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) && err != io.EOF {
		t.Fatalf("read after Close: %v", err)
	}
}

// Closing a listener resets the connections it had not accepted.
func TestListenerCloseResetsBacklog(t *testing.T) {
	_, h1, h2 := twoHosts(t)
	ln := listen(t, h2, "host2:9100")
	c, err := h1.Dial(context.Background(), "tcp", "host2:9100")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on a connection never accepted: %v, want EOF", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if _, err := h1.Dial(context.Background(), "tcp", "host2:9100"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a closed port: %v", err)
	}
}
