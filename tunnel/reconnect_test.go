//go:build !js

package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
)

// gatedConnect dials g, first waiting while gate is closed to it: the
// test holds the gateway away for as long as it likes.
func gatedConnect(addr func() string, gate chan struct{}) func(context.Context, Config) (*Client, error) {
	return func(ctx context.Context, cfg Config) (*Client, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		gate <- struct{}{} // open for the next one too
		return Dial(ctx, addr(), cfg)
	}
}

func fastReconnect(cfg Config, specs []Spec, connect func(context.Context, Config) (*Client, error), states chan ReconnectState) ReconnectConfig {
	return ReconnectConfig{Connect: connect, Config: cfg, Specs: specs, MinDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		OnState: func(s ReconnectState) {
			select {
			case states <- s:
			default:
			}
		}}
}

func nextConnected(t *testing.T, ctx context.Context, states chan ReconnectState) ReconnectState {
	t.Helper()
	for {
		select {
		case s := <-states:
			if s.Phase == PhaseConnected {
				return s
			}
			if s.Phase == PhaseGaveUp {
				t.Fatalf("gave up: %v", s.Err)
			}
		case <-ctx.Done():
			t.Fatal("no connection")
		}
	}
}

func TestReconnect(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	cfg := g.config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gate := make(chan struct{}, 1)
	gate <- struct{}{}
	states := make(chan ReconnectState, 16)
	done := make(chan error, 1)
	go func() {
		done <- Reconnect(ctx, fastReconnect(cfg, []Spec{mustSpec(t, "-L 0:"+exit), mustSpec(t, "-R 0:"+exit)},
			gatedConnect(func() string { return g.addr }, gate), states))
	}()
	var entry string
	for round := range 3 {
		s := nextConnected(t, ctx, states)
		if len(s.Forwards) != 2 || s.Reconnects != round {
			t.Fatalf("round %d: %d forwards, %d reconnects", round, len(s.Forwards), s.Reconnects)
		}
		if round == 0 {
			entry = s.Forwards[0].Entry()
		} else if got := s.Forwards[0].Entry(); got != entry {
			t.Fatalf("round %d: -L entry socket %s, want the same %s as before", round, got, entry)
		}
		if got := roundTrip(t, s.Forwards[0].Entry(), "again"); got != "again" {
			t.Fatalf("round %d: -L echo %q", round, got)
		}
		if got := roundTrip(t, s.Forwards[1].Entry(), "back"); got != "back" {
			t.Fatalf("round %d: -R echo %q", round, got)
		}
		if round == 1 {
			// An outage: a connection to the entry socket meanwhile is
			// held, and carried once the gateway is back.
			<-gate
			g.dropConnections()
			waitPhase(t, ctx, states, PhaseReconnecting)
			held := make(chan string, 1)
			go func() { held <- roundTripQuiet(entry, "held") }()
			time.Sleep(50 * time.Millisecond) // let it arrive during the outage
			gate <- struct{}{}
			if got := <-held; got != "held" {
				t.Fatalf("held connection: %q, want the echo", got)
			}
			continue
		}
		g.dropConnections()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Reconnect after cancel = %v, want nil", err)
	}
	if entryBound(entry) {
		t.Fatalf("entry socket %s still bound after Reconnect returned", entry)
	}
}

func TestReconnectRefusesDuringOutage(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gate := make(chan struct{}, 1)
	gate <- struct{}{}
	states := make(chan ReconnectState, 16)
	rc := fastReconnect(g.config(t), []Spec{mustSpec(t, "-L 0:"+exit)}, gatedConnect(func() string { return g.addr }, gate), states)
	rc.Hold = HoldPolicy{Max: -1}
	done := make(chan error, 1)
	go func() { done <- Reconnect(ctx, rc) }()
	entry := nextConnected(t, ctx, states).Forwards[0].Entry()
	<-gate
	g.dropConnections()
	waitPhase(t, ctx, states, PhaseReconnecting)
	// Still bound (the dial succeeds), but refused at once: no echo.
	if got := roundTripQuiet(entry, "refused"); got != "" {
		t.Fatalf("connection during the outage got %q, want it refused", got)
	}
	gate <- struct{}{}
	nextConnected(t, ctx, states)
	if got := roundTrip(t, entry, "back"); got != "back" {
		t.Fatalf("after the outage: %q", got)
	}
	cancel()
	<-done
}

func TestReconnectChangedHostKeyStops(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	other := startGateway(t, nil, nil, nil) // another host key
	cfg := g.config(t)
	cfg.HostKey = HostKeyPolicy{AcceptNew: true, KnownHostsFile: t.TempDir() + "/known_hosts"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := g.addr
	states := make(chan ReconnectState, 16)
	gate := make(chan struct{}, 1)
	gate <- struct{}{}
	rc := fastReconnect(cfg, nil, gatedConnect(func() string { return addr }, gate), states)
	done := make(chan error, 1)
	go func() { done <- Reconnect(ctx, rc) }()
	nextConnected(t, ctx, states)
	<-gate
	addr = other.addr // the same name now answers with another key
	gate <- struct{}{}
	g.dropConnections()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("Reconnect went on with a changed host key")
	}
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyChanged {
		t.Fatalf("err = %v, want a changed host key", err)
	}
}

func TestReconnectFirstFailure(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	cfg.Password = "wrong"
	dial := func(ctx context.Context, cfg Config) (*Client, error) { return Dial(ctx, g.addr, cfg) }
	err := Reconnect(testCtx(t), ReconnectConfig{Connect: dial, Config: cfg})
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an AuthError at once", err)
	}
	err = Reconnect(testCtx(t), ReconnectConfig{Connect: dial, Config: g.config(t), Specs: []Spec{{Kind: Local, ExitHost: "h"}}})
	if err == nil {
		t.Fatal("bad spec: no error")
	}
}

func waitPhase(t *testing.T, ctx context.Context, states chan ReconnectState, want ReconnectPhase) {
	t.Helper()
	for {
		select {
		case s := <-states:
			if s.Phase == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("never %s", want)
		}
	}
}

// roundTripQuiet is roundTrip that reports a failed exchange as "".
func roundTripQuiet(addr, msg string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, msg)
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	return string(b)
}

func entryBound(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
