//go:build !js

package tunnel_test

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// TestDialExit talks to a pinger and an echo service through DialExit,
// half-closing the echo, and checks a refused exit's typed error.
func TestDialExit(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{})
	ctx := testContext(t, 30*time.Second)
	c := connect(t, ctx, s, keyConfig(t, s))

	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(pinger)
	p, _ := strconv.Atoi(port)
	conn, err := c.DialExit(ctx, host, p)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ACK hello\n" {
		t.Fatalf("pinger said %q, %v", line, err)
	}
	conn.Close()

	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	conn, err = c.DialExit(ctx, "127.0.0.1", portOf(t, echo))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8 << 20
	sent := sha256.New()
	go func() {
		io.Copy(conn, io.TeeReader(io.LimitReader(sshtest.Data(7), n), sent))
		conn.CloseWrite()
	}()
	got := sha256.New()
	m, err := io.Copy(got, conn)
	if err != nil || m != n {
		t.Fatalf("echo gave back %d bytes, %v; want %d", m, err, n)
	}
	if string(got.Sum(nil)) != string(sent.Sum(nil)) {
		t.Errorf("echo returned other bytes than sent")
	}
	if r, w := conn.Counts(); r != n || w != n {
		t.Errorf("Counts() = %d, %d; want %d each", r, w, n)
	}
	conn.Close()

	closed := freePort(t)
	_, err = c.DialExit(ctx, "127.0.0.1", closed)
	var re *tunnel.RefusedError
	if !errors.As(err, &re) || re.Reason != ssh.ConnectionFailed || re.Exit != net.JoinHostPort("127.0.0.1", strconv.Itoa(closed)) {
		t.Fatalf("DialExit to a closed port: %v (%#v), want a RefusedError with ConnectionFailed", err, re)
	}
}

// TestConnReadDeadline checks that a read deadline interrupts a waiting Read
// and that the data arriving later is still read in order.
func TestConnReadDeadline(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{})
	ctx := testContext(t, 30*time.Second)
	c := connect(t, ctx, s, keyConfig(t, s))
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	conn, err := c.DialExit(ctx, "127.0.0.1", portOf(t, pinger))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 64)
	if _, err := conn.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a deadline and nothing sent: %v, want ErrDeadlineExceeded", err)
	}
	conn.SetReadDeadline(time.Time{})
	fmt.Fprintf(conn, "a\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ACK a\n" {
		t.Fatalf("after the deadline: %q, %v", line, err)
	}
}

// TestListenRemote has the gateway listen on a port it picks and answers
// connections made to it from the gateway's side.
func TestListenRemote(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{})
	ctx := testContext(t, 30*time.Second)
	c := connect(t, ctx, s, keyConfig(t, s))
	l, err := c.ListenRemote(ctx, "127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Port() == 0 {
		t.Fatalf("Port() = 0 after asking for port 0")
	}
	done := make(chan error, 1)
	go func() {
		for range 2 {
			conn, err := l.Accept()
			if err != nil {
				done <- err
				return
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			fmt.Fprintf(conn, "page got %s", line)
			conn.Close()
		}
		done <- nil
	}()
	entry := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port()))
	for i := range 2 {
		nc, err := net.DialTimeout("tcp", entry, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(nc, "hi %d\n", i)
		reply, err := io.ReadAll(nc)
		nc.Close()
		if want := fmt.Sprintf("page got hi %d\n", i); string(reply) != want || err != nil {
			t.Errorf("reply %q, %v; want %q", reply, err, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := l.Forward().Stats(); st.Connections != 2 {
		t.Errorf("stats %+v, want 2 connections", st)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if err := eventually(5*time.Second, func() error {
		if listening(t, entry) {
			return errors.New("still listening")
		}
		return nil
	}); err != nil {
		t.Errorf("entry %s after Close: %v", entry, err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
