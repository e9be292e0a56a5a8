package sshtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"tunnelkit/internal/tcpserve"
)

// StartPinger starts a TCP service on addr ("127.0.0.3:0" picks a port) that
// answers each line with "ACK <line>\n" and closes its side after the peer
// closes its write side. It returns the bound address.
func StartPinger(t testing.TB, addr string) string {
	return Serve(t, addr, func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if _, err := fmt.Fprintf(c, "ACK %s\n", sc.Text()); err != nil {
				return
			}
		}
	})
}

// Ping sends msg as one line to the pinger at addr, from the local address
// src unless it is "", and checks that the reply is "ACK <msg>".
func Ping(src, addr, msg string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if want := "ACK " + msg + "\n"; line != want {
		return fmt.Errorf("reply %q, want %q", line, want)
	}
	return nil
}

// StartEcho starts a TCP service that writes back everything it reads and
// half-closes back when its peer half-closes.
func StartEcho(t testing.TB, addr string) string {
	return Serve(t, addr, func(c net.Conn) { io.Copy(c, c) })
}

// StartSource starts a TCP service that sends each connection the first n
// bytes of Data(seed) and closes it.
func StartSource(t testing.TB, addr string, n int64, seed uint64) string {
	return Serve(t, addr, func(c net.Conn) { io.Copy(c, io.LimitReader(Data(seed), n)) })
}

// StartHasher starts a TCP service that reads until the peer closes its write
// side, then answers "<hex SHA-256> <byte count>\n" (see HashLine). A reply
// only ever arrives after a half-close, which makes it a half-close test too.
func StartHasher(t testing.TB, addr string) string {
	return Serve(t, addr, func(c net.Conn) {
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			return
		}
		io.WriteString(c, HashLine(hex.EncodeToString(h.Sum(nil)), n))
	})
}

// HashLine is StartHasher's reply for a stream with the given digest and length.
func HashLine(sum string, n int64) string { return fmt.Sprintf("%s %d\n", sum, n) }

// Data returns an endless deterministic pseudo-random stream for seed.
func Data(seed uint64) io.Reader {
	var s [32]byte
	for i := range 4 {
		s[i*8] = byte(seed >> (8 * i))
	}
	s[31] = 0x7e
	return rand.NewChaCha8(s)
}

// DataSum returns the hex SHA-256 of the first n bytes of Data(seed).
func DataSum(seed uint64, n int64) string {
	h := sha256.New()
	io.Copy(h, io.LimitReader(Data(seed), n))
	return hex.EncodeToString(h.Sum(nil))
}

// Serve listens on addr and runs handle for each connection. When handle
// returns, Serve half-closes the connection, reads until the peer closes, and
// closes it. When the test ends it closes the listener and open connections
// and waits for the handlers. It returns the bound address.
func Serve(t testing.TB, addr string, handle func(net.Conn)) string {
	t.Helper()
	s, err := tcpserve.Listen(addr, func(c net.Conn) {
		handle(c)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		// Read what the peer still sends, so that closing with unread
		// data does not turn the FIN into a reset.
		io.Copy(io.Discard, c)
	})
	if err != nil {
		t.Fatalf("sshtest: listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}
