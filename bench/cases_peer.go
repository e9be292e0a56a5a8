package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"
)

// The peers: what tunnelkit is measured against, all on loopback.

func tcpDialer(addr string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func directCase() Case {
	return Case{Name: "direct", Label: "direct TCP (ceiling)", Setup: func(ctx context.Context, e *Env) (*Path, error) {
		return &Path{DialSink: tcpDialer(e.Sink.Addr()), DialEcho: tcpDialer(e.Echo.Addr()), Close: func() {}}, nil
	}}
}

// opensshCase runs `ssh -N -L` or `ssh -N -R` with two forwards, one to the
// sink and one to the echo server. extra are added ssh options (a cipher, a
// ProxyCommand).
func opensshCase(name, label, peer string, kind byte, extra func(e *Env) ([]string, []int, func(), error)) Case {
	return Case{Name: name, Label: label, Peer: peer, Setup: func(ctx context.Context, e *Env) (*Path, error) {
		if _, err := exec.LookPath("ssh"); err != nil {
			return nil, na("OpenSSH client not installed")
		}
		var more []string
		var morePids []int
		cleanup := func() {}
		if extra != nil {
			var err error
			if more, morePids, cleanup, err = extra(e); err != nil {
				return nil, err
			}
		}
		fwd, sinkEntry, echoEntry, err := twoForwards(e, kind)
		if err != nil {
			cleanup()
			return nil, err
		}
		args := append([]string{"ssh"}, e.Sshd.sshArgs()...)
		args = append(args, more...)
		args = append(args, fwd...)
		args = append(args, "127.0.0.1")
		return forwardPath(ctx, e, "ssh", args, sinkEntry, echoEntry, morePids, cleanup)
	}}
}

// forwardPath runs the forwarding process name with args, waits for its two
// entry sockets, and returns the path through them; closing the path stops
// the process and runs cleanup, and so does a failure.
func forwardPath(ctx context.Context, e *Env, name string, args []string, sinkEntry, echoEntry string, pids []int, cleanup func()) (*Path, error) {
	proc, err := startProc(ctx, name, args, nil)
	if err != nil {
		cleanup()
		return nil, err
	}
	stop := func() { proc.Stop(); cleanup() }
	if err := waitForwards(ctx, proc, sinkEntry, echoEntry); err != nil {
		stop()
		return nil, err
	}
	return &Path{
		DialSink: tcpDialer(sinkEntry), DialEcho: tcpDialer(echoEntry),
		Pids: append([]int{proc.Pid(), e.Sshd.Pid()}, pids...), Close: stop,
	}, nil
}

// twoForwards picks two free loopback ports and returns the ssh flags (-L
// or -R, after kind) that forward them to the sink and to the echo server,
// and the two entry addresses.
func twoForwards(e *Env, kind byte) (flags []string, sinkEntry, echoEntry string, err error) {
	p1, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	p2, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	flag := "-" + string(kind)
	flags = []string{
		flag, fmt.Sprintf("127.0.0.1:%d:%s", p1, e.Sink.Addr()),
		flag, fmt.Sprintf("127.0.0.1:%d:%s", p2, e.Echo.Addr()),
	}
	return flags, loopback(p1), loopback(p2), nil
}

// waitForwards waits until both entry sockets accept connections, failing
// early when the forwarding process exits.
func waitForwards(ctx context.Context, p *Proc, addrs ...string) error {
	deadline := time.Now().Add(15 * time.Second)
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if p.Exited() {
				return p.Failure("forward setup failed")
			}
			if time.Now().After(deadline) {
				return p.Failure(fmt.Sprintf("entry socket %s not up after 15s", a))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	return nil
}

func cipher(c string) func(e *Env) ([]string, []int, func(), error) {
	return func(*Env) ([]string, []int, func(), error) { return []string{"-c", c}, nil, func() {}, nil }
}

// startWebsockify bridges a WebSocket port to target.
func startWebsockify(ctx context.Context, target string) (*Proc, string, error) {
	bin, err := exec.LookPath("websockify")
	if err != nil {
		return nil, "", na("websockify not installed (run make test-deps)")
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, "websockify", []string{bin, loopback(port), target}, nil)
	if err != nil {
		return nil, "", err
	}
	if err := waitForwards(ctx, p, loopback(port)); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, loopback(port), nil
}

func websockifyCase() Case {
	return Case{Name: "websockify", Label: "websockify (WS->TCP)", Peer: "direct", Setup: func(ctx context.Context, e *Env) (*Path, error) {
		ps, sinkAddr, err := startWebsockify(ctx, e.Sink.Addr())
		if err != nil {
			return nil, err
		}
		pe, echoAddr, err := startWebsockify(ctx, e.Echo.Addr())
		if err != nil {
			ps.Stop()
			return nil, err
		}
		return &Path{
			DialSink: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, "ws://"+sinkAddr+"/", wsWebsockify) },
			DialEcho: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, "ws://"+echoAddr+"/", wsWebsockify) },
			Pids:     []int{ps.Pid(), pe.Pid()},
			Close:    func() { ps.Stop(); pe.Stop() },
		}, nil
	}}
}
