//go:build !js

package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// events collects a client's events for assertions.
type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []EventKind
	for _, ev := range e.ev {
		k = append(k, ev.Kind)
	}
	return k
}

// waitFor polls cond for up to 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestLocalForward(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	var ev events
	cfg := g.config(t)
	cfg.OnEvent = ev.add
	c := g.connect(t, cfg)

	f, err := c.Forward(testCtx(t), mustSpec(t, "-L 0:"+exit))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.Entry(), "127.0.0.1:") || portOf(t, f.Entry()) == 0 {
		t.Fatalf("Entry() = %q, want 127.0.0.1 with the bound port", f.Entry())
	}
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if got := roundTrip(t, f.Entry(), msg); got != msg {
			t.Fatalf("echo through -L: got %q, want %q", got, msg)
		}
	}
	waitFor(t, "connections to close", func() bool { return f.Stats().Active == 0 })
	st := f.Stats()
	if st.Connections != 3 || st.BytesOut != 21 || st.BytesIn != 21 {
		t.Errorf("Stats() = %+v, want 3 connections, 21 bytes each way", st)
	}
	if got := c.Forwards(); len(got) != 1 || got[0] != f {
		t.Errorf("Forwards() = %v, want [f]", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if _, err := net.Dial("tcp", f.Entry()); err == nil {
		t.Error("entry socket still accepts after Close")
	}
	if len(c.Forwards()) != 0 {
		t.Error("closed forward still listed")
	}
	// Connections overlap in time, so only count per kind and check the ends.
	got := ev.kinds()
	count := map[EventKind]int{}
	for _, k := range got {
		count[k]++
	}
	if len(got) != 8 || got[0] != EventForwardUp || got[7] != EventForwardDown || count[EventOpened] != 3 || count[EventClosed] != 3 {
		t.Errorf("events = %v, want forward-up, 3 opened, 3 closed, forward-down", got)
	}
}

func TestLocalForwardBindInUse(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	c := g.connect(t, g.config(t))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = c.Forward(testCtx(t), mustSpec(t, fmt.Sprintf("-L %d:127.0.0.1:9", portOf(t, taken.Addr().String()))))
	if err == nil || !strings.Contains(err.Error(), "cannot bind entry socket") {
		t.Fatalf("Forward on a taken port: err = %v, want a bind error", err)
	}
}

// A channel the gateway refuses resets the entry connection, like OpenSSH.
func TestLocalForwardRefused(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	g.denyDirect.Store(true)
	var ev events
	cfg := g.config(t)
	cfg.OnEvent = ev.add
	c := g.connect(t, cfg)
	f, err := c.Forward(testCtx(t), mustSpec(t, "-L 0:127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	// The reset can come before the dial even returns.
	conn, err := net.Dial("tcp", f.Entry())
	if err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("refused entry connection: %v, want connection reset", err)
	}
	waitFor(t, "the error event", func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for _, e := range ev.ev {
			if e.Kind == EventError && e.Err != nil && strings.Contains(e.Err.Error(), "administratively prohibited") {
				return true
			}
		}
		return false
	})
	c.Close()
}

func TestRemoteForward(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	c := g.connect(t, g.config(t))

	f, err := c.Forward(testCtx(t), mustSpec(t, "-R 0:"+exit))
	if err != nil {
		t.Fatal(err)
	}
	if f.Entry() != fmt.Sprintf("localhost:%d", portOf(t, f.Entry())) || portOf(t, f.Entry()) == 0 {
		t.Fatalf("Entry() = %q, want localhost with the gateway's allocated port", f.Entry())
	}
	entry := fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry()))
	if got := roundTrip(t, entry, "ping"); got != "ping" {
		t.Fatalf("echo through -R: got %q", got)
	}
	waitFor(t, "the connection to close", func() bool { return f.Stats().Active == 0 })
	if st := f.Stats(); st.Connections != 1 || st.BytesIn != 4 || st.BytesOut != 4 {
		t.Errorf("Stats() = %+v, want 1 connection with 4 bytes each way", st)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// cancel-tcpip-forward made the gateway stop listening.
	waitFor(t, "the gateway to stop listening", func() bool {
		c, err := net.Dial("tcp", entry)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

// Gateways differ in the address they name in forwarded-tcpip: a forward
// is still found by its port.
func TestRemoteForwardOtherAddress(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	g.echoAddr.Store("127.0.0.1")
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	c := g.connect(t, g.config(t))
	f, err := c.Forward(testCtx(t), mustSpec(t, "-R 0:"+exit))
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry())), "hi"); got != "hi" {
		t.Fatalf("echo = %q", got)
	}
}

func TestRemoteForwardDenied(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	g.denyForward.Store(true)
	c := g.connect(t, g.config(t))
	_, err := c.Forward(testCtx(t), mustSpec(t, "-R 8022:127.0.0.1:22"))
	if err == nil || !strings.Contains(err.Error(), "localhost:8022") || !strings.Contains(err.Error(), "GatewayPorts") {
		t.Fatalf("err = %v, want a refusal naming the entry socket and the sshd options", err)
	}
	if len(c.Forwards()) != 0 {
		t.Error("refused forward is listed")
	}
}

// An exit that cannot be reached closes the gateway's connection and is reported.
func TestRemoteForwardExitDown(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	var ev events
	cfg := g.config(t)
	cfg.OnEvent = ev.add
	var dialed []string
	var mu sync.Mutex
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		return nil, errors.New("refused by test")
	}
	c := g.connect(t, cfg)
	f, err := c.Forward(testCtx(t), mustSpec(t, "-R 0:10.1.2.3:5432"))
	if err != nil {
		t.Fatal(err)
	}
	// Closed, or reset before the dial even returns.
	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry()))); err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatalf("read %d bytes from a forward whose exit is down", n)
		}
	}
	waitFor(t, "the error event", func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for _, e := range ev.ev {
			if e.Kind == EventError && strings.Contains(e.Err.Error(), "10.1.2.3:5432") {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || dialed[0] != "10.1.2.3:5432" {
		t.Errorf("dialed %v, want [10.1.2.3:5432]", dialed)
	}
}

// Half-close passes through in both directions: the client's EOF reaches the
// exit while the exit keeps sending, and the exit's EOF comes back.
func TestHalfCloseBothWays(t *testing.T) {
	for _, kind := range []string{"-L", "-R"} {
		t.Run(kind, func(t *testing.T) {
			leakcheck.Check(t)
			g := startGateway(t, nil, nil, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			exitDone := make(chan error, 1)
			go func() {
				exitDone <- func() error {
					c, err := ln.Accept()
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(15 * time.Second))
					got, err := io.ReadAll(c) // until the client's half-close
					if err != nil {
						return fmt.Errorf("exit read: %w", err)
					}
					// Still writable after the client's EOF.
					if _, err := fmt.Fprintf(c, "got %d bytes", len(got)); err != nil {
						return fmt.Errorf("exit write after EOF: %w", err)
					}
					return c.(*net.TCPConn).CloseWrite()
				}()
			}()
			c := g.connect(t, g.config(t))
			f, err := c.Forward(testCtx(t), mustSpec(t, kind+" 0:"+ln.Addr().String()))
			if err != nil {
				t.Fatal(err)
			}
			entry := fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry()))
			payload := strings.Repeat("x", 100000)
			if got := roundTrip(t, entry, payload); got != "got 100000 bytes" {
				t.Fatalf("reply after half-close = %q", got)
			}
			if err := <-exitDone; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Hundreds of concurrent connections through one forward each get their own bytes back.
func TestManyConnections(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	c := g.connect(t, g.config(t))
	for _, kind := range []string{"-L", "-R"} {
		f, err := c.Forward(testCtx(t), mustSpec(t, kind+" 0:"+exit))
		if err != nil {
			t.Fatal(err)
		}
		entry := fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry()))
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.DialTimeout("tcp", entry, 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(20 * time.Second))
				msg := strings.Repeat(fmt.Sprintf("%d,", i), 1000)
				if _, err := io.WriteString(conn, msg); err != nil {
					errs <- err
					return
				}
				conn.(*net.TCPConn).CloseWrite()
				got, err := io.ReadAll(conn)
				if err != nil || string(got) != msg {
					errs <- fmt.Errorf("conn %d: %d bytes back, err %v", i, len(got), err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", kind, err)
		}
		waitFor(t, "connections to close", func() bool { return f.Stats().Active == 0 })
		if st := f.Stats(); st.Connections != n || st.BytesIn != st.BytesOut {
			t.Errorf("%s: Stats() = %+v, want %d connections, equal bytes both ways", kind, st, n)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close stops forwards with open connections and leaves no goroutine behind.
func TestCloseWithActiveConnections(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	c := g.connect(t, g.config(t))
	var conns []net.Conn
	for _, kind := range []string{"-L", "-R"} {
		f, err := c.Forward(testCtx(t), mustSpec(t, kind+" 0:"+exit))
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", portOf(t, f.Entry())))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "x")
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
		}
		if a := f.Stats().Active; a != 5 {
			t.Fatalf("%s: Active = %d, want 5", kind, a)
		}
	}
	fwds := c.Forwards()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait after Close = %v, want nil", err)
	}
	for _, f := range fwds {
		select {
		case <-f.Done():
		default:
			t.Errorf("%v: Done not closed after Client.Close", f.Spec())
		}
	}
	for _, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("entry connection still open after Close")
		}
	}
}

// When the gateway goes away, forwards end and Wait says why.
func TestConnectionLost(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	var ev events
	cfg := g.config(t)
	cfg.OnEvent = ev.add
	c := g.connect(t, cfg)
	f, err := c.Forward(testCtx(t), mustSpec(t, "-L 0:127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	g.dropConnections()
	select {
	case <-f.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("forward still running after the connection was lost")
	}
	if err := c.Wait(); err == nil || !strings.Contains(err.Error(), g.addr) {
		t.Errorf("Wait() = %v, want an error naming the gateway", err)
	}
	if f.Err() == nil {
		t.Error("Forward.Err() = nil after the connection was lost")
	}
	if k := ev.kinds(); k[len(k)-1] != EventForwardDown {
		t.Errorf("last event %v, want forward-down", k[len(k)-1])
	}
	if _, err := c.Forward(testCtx(t), mustSpec(t, "-L 0:127.0.0.1:9")); err == nil {
		t.Error("Forward on a lost connection succeeded")
	}
	c.Close()
}

func TestKeepaliveDeclaresGatewayDead(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	cfg.KeepaliveInterval = 20 * time.Millisecond
	cfg.KeepaliveMax = 3
	c := g.connect(t, cfg)
	g.silent.Store(true)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped answering") {
			t.Fatalf("Wait() = %v, want the gateway to be declared dead", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("keepalive never gave up on a silent gateway")
	}
	c.Close()
}

// Keepalives go out and a gateway that answers them keeps the connection.
func TestKeepaliveAnswered(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	cfg.KeepaliveInterval = 5 * time.Millisecond
	cfg.KeepaliveMax = 1000 // never reached on a busy machine either
	c := g.connect(t, cfg)
	waitFor(t, "10 keepalives", func() bool { return g.keepalives.Load() >= 10 })
	select {
	case <-c.Done():
		t.Fatalf("connection ended: %v", c.Wait())
	default:
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
