//go:build !js

package client_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/relaytest"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/relay/client"
	"tunnelkit/relay/wire"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const bigSize = 64 << 20

// TestDialEcho carries 64 MiB each way at once through an echo service.
func TestDialEcho(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	url := relaytest.Start(t, relay.Config{Allow: []string{echo}})

	c, err := client.Dial(ctx, url, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != echo {
		t.Errorf("RemoteAddr = %s, want %s", got, echo)
	}
	stopOnDone(ctx, c)

	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.LimitReader(sshtest.Data(1), bigSize))
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		sent <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("write: %v", err)
	}
	logRate(t, "dial echo, each way", n, time.Since(start))
	if n != bigSize || hex.EncodeToString(h.Sum(nil)) != sshtest.DataSum(1, bigSize) {
		t.Fatalf("echoed %d bytes, want %d with the same SHA-256", n, bigSize)
	}
}

// TestDialHalfClose sends 64 MiB to a service that answers with their
// SHA-256 only after the client's half-close, then reads the answer.
func TestDialHalfClose(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	source := sshtest.StartSource(t, "127.0.0.1:0", bigSize, 2)
	url := relaytest.Start(t, relay.Config{Allow: []string{hasher, source}})

	c, err := client.Dial(ctx, url, hasher, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stopOnDone(ctx, c)
	start := time.Now()
	if _, err := io.Copy(c, io.LimitReader(sshtest.Data(2), bigSize)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(*client.Conn).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read reply after half-close: %v", err)
	}
	logRate(t, "dial upload", bigSize, time.Since(start))
	if want := sshtest.HashLine(sshtest.DataSum(2, bigSize), bigSize); string(reply) != want {
		t.Fatalf("hasher replied %q, want %q", reply, want)
	}

	// Download: the source sends 64 MiB and closes.
	d, err := client.Dial(ctx, url, source, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stopOnDone(ctx, d)
	start = time.Now()
	h := sha256.New()
	n, err := io.Copy(h, d)
	if err != nil {
		t.Fatalf("download after %d bytes: %v", n, err)
	}
	logRate(t, "dial download", n, time.Since(start))
	if n != bigSize || hex.EncodeToString(h.Sum(nil)) != sshtest.DataSum(2, bigSize) {
		t.Fatalf("downloaded %d bytes, want %d with the same SHA-256", n, bigSize)
	}
	// EOF stays EOF.
	if _, err := d.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after EOF = %v, want io.EOF", err)
	}
}

// TestDialRefused checks that a refusal surfaces as a *CloseError with
// the relay's reason, and that the relay never dials a refused target.
func TestDialRefused(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	var mu sync.Mutex
	var dialed []string
	url := relaytest.Start(t, relay.Config{
		Allow: []string{"127.0.0.1:1"},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			return nil, errors.New("test dialer refuses every dial")
		},
	})

	_, err := client.Dial(ctx, url, "10.0.0.5:5432", nil)
	var ce *client.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("Dial to a target not allowed: err = %v, want a *CloseError", err)
	}
	t.Logf("refusal: %v", err)
	if ce.Code != wire.CloseRefused || ce.Refusal() != client.RefusedPolicy || !strings.Contains(ce.Reason, "10.0.0.5:5432: not in allow list") {
		t.Errorf("CloseError = %d %q (refusal %v), want 4403, a policy refusal naming the target and the allow list", ce.Code, ce.Reason, ce.Refusal())
	}
	// A library names no flag: the page and the terminal word the hint.
	if strings.Contains(err.Error(), "--") {
		t.Errorf("refusal %q names a flag", err)
	}

	// Allowed, but the dial fails: 4502 with the dialer's error.
	_, err = client.Dial(ctx, url, "127.0.0.1:1", nil)
	if !errors.As(err, &ce) || ce.Code != 4502 {
		t.Fatalf("Dial whose TCP dial fails: err = %v, want a *CloseError with 4502", err)
	}
	t.Logf("dial failure: %v", err)
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || dialed[0] != "127.0.0.1:1" {
		t.Errorf("relay dialed %q, want only 127.0.0.1:1", dialed)
	}
}

// TestToken checks both sides of token auth.
func TestToken(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	secret := "s3cret-token-0123456789abcdef"
	url := relaytest.Start(t, relay.Config{Tokens: []relay.Token{{Secret: secret, Allow: []string{echo}}}})

	_, err := client.Dial(ctx, url, echo, nil)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 4401 || ce.Refusal() != client.RefusedToken {
		t.Fatalf("Dial without token: err = %v, want a *CloseError with 4401, a token refusal", err)
	}
	_, err = client.Dial(ctx, url, echo, &client.Options{Token: "wrong-token-0123456789abcdef"})
	if !errors.As(err, &ce) || ce.Code != 4401 {
		t.Fatalf("Dial with a wrong token: err = %v, want a *CloseError with 4401", err)
	}
	c, err := client.Dial(ctx, url, echo, &client.Options{Token: secret})
	if err != nil {
		t.Fatalf("Dial with the token: %v", err)
	}
	defer c.Close()
	pingEcho(t, c)
}

// TestDialContext checks that ctx bounds the dial only, as with net.Dialer.
func TestDialContext(t *testing.T) {
	leakcheck.Check(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	url := relaytest.Start(t, relay.Config{Allow: []string{echo}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := client.Dial(ctx, url, echo, nil)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pingEcho(t, c)

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if _, err := client.Dial(done, url, echo, nil); err == nil {
		t.Error("Dial with a cancelled context succeeded")
	}
}

// TestDeadline checks that an expired deadline fails Read with a timeout.
func TestDeadline(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	url := relaytest.Start(t, relay.Config{Allow: []string{echo}})
	c, err := client.Dial(ctx, url, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Expired before the call: the conn stays usable once it is moved.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	pingEcho(t, c)

	// Expiring during a blocked Read: a timeout, and the stream is gone.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blocked Read past its deadline = %v, want a timeout", err)
	}
}

// TestListen binds port 0 on the relay host, carries several concurrent
// connections, and frees the port on Close.
func TestListen(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	url := relaytest.Start(t, relay.Config{AllowListen: []string{"127.0.0.1:*"}})

	ln, err := client.Listen(ctx, url, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || addr.Port == 0 || !addr.IP.IsLoopback() {
		t.Fatalf("Addr = %v, want 127.0.0.1 with the bound port", ln.Addr())
	}

	// The page side: hash what arrives, answer after the half-close.
	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				defer c.Close()
				h := sha256.New()
				n, err := io.Copy(h, c)
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%x %d %s\n", h.Sum(nil), n, c.RemoteAddr())
			}()
		}
	}()

	const conns, size = 8, 4 << 20
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendAndCheck(ctx, addr.String(), uint64(100+i), size)
		}()
	}
	wg.Wait()
	logRate(t, fmt.Sprintf("listen bridge, %d connections", conns), conns*size, time.Since(start))
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	served.Wait()

	// The port is free again (the relay closes it asynchronously).
	var l net.Listener
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", addr.String()); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("port %d still bound after Close: %v", addr.Port, err)
	}
	l.Close()
}

// sendAndCheck connects to addr as a TCP client on the relay host, sends
// size bytes of Data(seed), half-closes and checks the reply.
func sendAndCheck(ctx context.Context, addr string, seed uint64, size int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stopOnDone(ctx, c)
	if _, err := io.Copy(c, io.LimitReader(sshtest.Data(seed), size)); err != nil {
		return fmt.Errorf("conn %d: write: %v", seed, err)
	}
	c.(*net.TCPConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("conn %d: reply: %v", seed, err)
	}
	want := fmt.Sprintf("%s %d %s\n", sshtest.DataSum(seed, size), size, c.LocalAddr())
	if line != want {
		return fmt.Errorf("conn %d: reply %q, want %q", seed, line, want)
	}
	return nil
}

// TestListenRefused checks listen policy refusals.
func TestListenRefused(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	url := relaytest.Start(t, relay.Config{})
	_, err := client.Listen(ctx, url, "127.0.0.1:0", nil)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 4403 {
		t.Fatalf("Listen not allowed: err = %v, want a *CloseError with 4403", err)
	}
	t.Logf("refusal: %v", err)
}

// TestBadURL checks errors that never reach a relay.
func TestBadURL(t *testing.T) {
	ctx := testContext(t)
	for _, u := range []string{"ftp://127.0.0.1:1", "ws://", "://x"} {
		if _, err := client.Dial(ctx, u, "127.0.0.1:1", nil); err == nil {
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
	if _, err := client.Dial(ctx, "ws://127.0.0.1:1", "127.0.0.1:1", &client.Options{Token: "has space"}); err == nil {
		t.Error("Dial with a token that is no subprotocol token succeeded")
	}
}

// TestBuildJS checks that the package builds for the browser.
func TestBuildJS(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	cmd := exec.Command(goBin, "build", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
}

func pingEcho(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo read %q, %v; want ping", b, err)
	}
}

// stopOnDone closes c when ctx ends, so no read blocks past the test.
func stopOnDone(ctx context.Context, c io.Closer) {
	context.AfterFunc(ctx, func() { c.Close() })
}

func logRate(t *testing.T, what string, n int64, d time.Duration) {
	t.Helper()
	t.Logf("%s: %d MiB in %v: %.0f MB/s", what, n>>20, d.Round(time.Millisecond), float64(n)/d.Seconds()/1e6)
}

// TestMessageLimit checks that writes follow the relay's announced message
// size limit when it is below the 1 MiB default.
func TestMessageLimit(t *testing.T) {
	leakcheck.Check(t)
	ctx := testContext(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	url := relaytest.Start(t, relay.Config{Allow: []string{echo}, MaxMessageSize: 16 << 10})
	c, err := client.Dial(ctx, url, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stopOnDone(ctx, c)
	msg := make([]byte, 1<<20)
	io.ReadFull(sshtest.Data(3), msg)
	go func() {
		c.Write(msg)
		c.(*client.Conn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo of one 1 MiB write through a relay limited to 16 KiB messages: %d bytes, %v", len(got), err)
	}
}
