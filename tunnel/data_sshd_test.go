//go:build !js

package tunnel_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// 200 connections at once through one -L forward, each echoing its own data.
func TestConcurrentConnections(t *testing.T) {
	const conns, size = 200, 128 << 10
	ctx := testContext(t, 60*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	echo := sshtest.StartEcho(t, host3+":0")
	c := connect(t, ctx, gw, keyConfig(t, gw))
	f := forward(t, ctx, c, "-L localhost:0:"+echo)

	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoThrough(ctx, f.Entry(), uint64(i), size)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d connections failed", failed, conns)
	}
	var st tunnel.Stats
	if err := eventually(5*time.Second, func() error {
		if st = f.Stats(); st.Connections != conns || st.BytesOut != conns*size || st.BytesIn != conns*size || st.Active != 0 {
			return fmt.Errorf("Stats() = %+v, want %d connections, none active, %d bytes each way", st, conns, conns*size)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// echoThrough sends size bytes of Data(seed) to an echo service at addr,
// half-closes, and checks that exactly the same bytes come back.
func echoThrough(ctx context.Context, addr string, seed uint64, size int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.LimitReader(sshtest.Data(seed), size))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err := <-werr; err != nil {
		return fmt.Errorf("connection %d: write: %w", seed, err)
	}
	if err != nil {
		return fmt.Errorf("connection %d: read after %d bytes: %w", seed, n, err)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), sshtest.DataSum(seed, size); n != size || got != want {
		return fmt.Errorf("connection %d: echoed %d bytes with SHA-256 %s, want %d bytes with %s", seed, n, got, size, want)
	}
	return nil
}

// 256 MiB each way through one -L forward, checked with SHA-256, and the
// same through OpenSSH's ssh -L for comparison (logged, not asserted).
func TestLargeTransfer(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	ctx := testContext(t, 90*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	source := sshtest.StartSource(t, host3+":0", size, 1)
	hasher := sshtest.StartHasher(t, host3+":0")
	downSum, upSum := sshtest.DataSum(1, size), sshtest.DataSum(2, size)
	c := connect(t, ctx, gw, keyConfig(t, gw))
	down := forward(t, ctx, c, "-L localhost:0:"+source)
	up := forward(t, ctx, c, "-L localhost:0:"+hasher)

	mb := float64(size) / (1 << 20)
	d := receive(t, ctx, down.Entry(), size, downSum)
	u := send(t, ctx, up.Entry(), size, upSum)
	t.Logf("tunnelkit -L, %.0f MiB: exit->entry %v (%.0f MiB/s), entry->exit %v (%.0f MiB/s)", mb, d, mb/d.Seconds(), u, mb/u.Seconds())
	if err := eventually(5*time.Second, func() error {
		if st := down.Stats(); st.BytesIn != size {
			return fmt.Errorf("download Stats() = %+v, want BytesIn %d", st, size)
		}
		if st := up.Stats(); st.BytesOut != size {
			return fmt.Errorf("upload Stats() = %+v, want BytesOut %d", st, size)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// OpenSSH with its default cipher (chacha20-poly1305) and with AES-GCM,
	// which tunnelkit prefers natively.
	for _, cipher := range []string{"default", "aes128-gcm@openssh.com"} {
		pd, pu := sshtest.FreePort(t, "127.0.0.1"), sshtest.FreePort(t, "127.0.0.1")
		args := []string{"-L", fmt.Sprintf("%d:%s", pd, source), "-L", fmt.Sprintf("%d:%s", pu, hasher)}
		if cipher != "default" {
			args = append(args, "-c", cipher)
		}
		p := startOpenSSH(t, gw, args...)
		for _, port := range []int{pd, pu} {
			if err := eventually(10*time.Second, func() error {
				c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
				if err == nil {
					c.Close()
				}
				return err
			}); err != nil {
				t.Fatalf("ssh -L did not come up: %v", err)
			}
		}
		d = receive(t, ctx, hostPort("127.0.0.1", pd), size, downSum)
		u = send(t, ctx, hostPort("127.0.0.1", pu), size, upSum)
		t.Logf("OpenSSH ssh -L (cipher %s), %.0f MiB: exit->entry %v (%.0f MiB/s), entry->exit %v (%.0f MiB/s)", cipher, mb, d, mb/d.Seconds(), u, mb/u.Seconds())
		p.cmd.Process.Kill()
		<-p.done
	}
}

// receive reads everything from a source behind addr and checks it.
func receive(t *testing.T, ctx context.Context, addr string, size int64, sum string) time.Duration {
	t.Helper()
	c := dialCtx(t, ctx, addr)
	defer c.Close()
	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("receive from %s: %v after %d bytes", addr, err, n)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
		t.Fatalf("received %d bytes with SHA-256 %s, want %d bytes with %s", n, got, size, sum)
	}
	return elapsed
}

// send writes size bytes of Data(2) to a hasher behind addr, half-closes and
// checks its verdict.
func send(t *testing.T, ctx context.Context, addr string, size int64, sum string) time.Duration {
	t.Helper()
	c := dialCtx(t, ctx, addr)
	defer c.Close()
	start := time.Now()
	if n, err := io.Copy(c, io.LimitReader(sshtest.Data(2), size)); err != nil {
		t.Fatalf("send to %s: %v after %d bytes", addr, err, n)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("read verdict from %s: %v", addr, err)
	}
	if want := sshtest.HashLine(sum, size); string(reply) != want {
		t.Fatalf("exit received %q, want %q", reply, want)
	}
	return elapsed
}

func dialCtx(t *testing.T, ctx context.Context, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c
}

// A client that shuts down its write side still gets the whole reply, through
// -L and -R: the hasher answers only after it has seen EOF.
func TestHalfClose(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	msg := []byte("the request, then EOF\n")
	sum := sha256.Sum256(msg)
	want := sshtest.HashLine(hex.EncodeToString(sum[:]), int64(len(msg)))
	for _, spec := range []string{"-L localhost:0:" + hasher, "-R localhost:0:" + hasher} {
		f := forward(t, ctx, c, spec)
		conn := dialCtx(t, ctx, hostPort("127.0.0.1", portOf(t, f.Entry())))
		conn.Write(msg)
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		reply, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || string(reply) != want {
			t.Errorf("%s: after half-close got %q, %v; want %q", spec, reply, err, want)
		}
	}
	// And an echo: everything sent before the half-close comes back, then EOF.
	f := forward(t, ctx, c, "-L localhost:0:"+echo)
	conn := dialCtx(t, ctx, f.Entry())
	defer conn.Close()
	conn.Write(msg)
	conn.(*net.TCPConn).CloseWrite()
	if reply, err := io.ReadAll(conn); err != nil || !bytes.Equal(reply, msg) {
		t.Errorf("echo after half-close: got %q, %v; want %q", reply, err, msg)
	}
}
