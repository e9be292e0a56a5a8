package main

import (
	"context"
	"fmt"
	"strconv"
)

// relayProc is a running `tunnelkit serve`.
type relayProc struct {
	*Proc
	Addr string // 127.0.0.1:PORT
	WS   string // ws://127.0.0.1:PORT
}

// startRelay starts `tunnelkit serve` on a free loopback port, allowed to
// dial allow and listen on allowListen, with stream limits high enough for
// the idle-stream test.
func startRelay(ctx context.Context, e *Env, allow, allowListen []string, maxStreams int) (*relayProc, error) {
	if err := e.need("serve"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := loopback(port)
	args := []string{e.Tunnelkit, "serve", "--listen", addr}
	for _, a := range allow {
		args = append(args, "--allow", a)
	}
	for _, a := range allowListen {
		args = append(args, "--allow-listen", a)
	}
	if maxStreams > 0 {
		n := strconv.Itoa(maxStreams)
		args = append(args, "--max-streams", n, "--max-streams-per-client", n)
	}
	p, err := startProc(ctx, "tunnelkit serve", args, nil)
	if err != nil {
		return nil, err
	}
	if err := waitForwards(ctx, p, addr); err != nil {
		p.Stop()
		return nil, err
	}
	return &relayProc{Proc: p, Addr: addr, WS: "ws://" + addr}, nil
}

func (r *relayProc) dialURL(target string) string {
	return fmt.Sprintf("%s/v1/dial?target=%s", r.WS, target)
}
