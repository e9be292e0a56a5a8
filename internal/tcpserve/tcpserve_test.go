package tcpserve_test

import (
	"io"
	"net"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/tcpserve"
)

// Close ends connections still open, with their handlers blocked reading,
// and waits for the handlers.
func TestCloseEndsOpenConnections(t *testing.T) {
	leakcheck.Check(t)
	s, err := tcpserve.Listen("127.0.0.1:0", func(c net.Conn) { io.Copy(c, c) })
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v; want ping", buf, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %d bytes after Close, want the connection closed", n)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Close", s.Addr())
	}
}
