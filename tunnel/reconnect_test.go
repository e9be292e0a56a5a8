//go:build !js

package tunnel

import (
	"context"
	"errors"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
)

func TestReconnect(t *testing.T) {
	leakcheck.Check(t)
	g := startGateway(t, nil, nil, nil)
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	cfg := g.config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type up struct {
		c *Client
		f []*Forward
	}
	ups := make(chan up, 4)
	done := make(chan error, 1)
	go func() {
		done <- Reconnect(ctx, func(ctx context.Context) (*Client, error) { return Dial(ctx, g.addr, cfg) },
			[]Spec{mustSpec(t, "-L 0:"+exit), mustSpec(t, "-R 0:"+exit)},
			func(c *Client, f []*Forward) { ups <- up{c, f} }, cfg.Logger)
	}()
	for round := range 2 {
		var u up
		select {
		case u = <-ups:
		case <-ctx.Done():
			t.Fatalf("round %d: no connection", round)
		}
		if len(u.f) != 2 {
			t.Fatalf("round %d: %d forwards, want 2", round, len(u.f))
		}
		if got := roundTrip(t, u.f[0].Entry(), "again"); got != "again" {
			t.Fatalf("round %d: echo %q", round, got)
		}
		g.dropConnections()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Reconnect after cancel = %v, want nil", err)
	}
}

func TestReconnectFirstFailure(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	cfg.Password = "wrong"
	err := Reconnect(testCtx(t), func(ctx context.Context) (*Client, error) { return Dial(ctx, g.addr, cfg) }, nil, nil, cfg.Logger)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an AuthError at once", err)
	}
	cfg = g.config(t)
	err = Reconnect(testCtx(t), func(ctx context.Context) (*Client, error) { return Dial(ctx, g.addr, cfg) },
		[]Spec{{Kind: Local, ExitHost: "h"}}, nil, cfg.Logger)
	if err == nil {
		t.Fatal("bad spec: no error")
	}
}
