package main

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// relayDialCase: the same Go WebSocket client as the websockify case, through
// the relay's dial bridge to the sink and the echo server.
func relayDialCase() Case {
	return Case{Name: "relay-dial", Label: "tunnelkit relay dial bridge", Peer: "websockify", Setup: func(ctx context.Context, e *Env) (*Path, error) {
		r, err := startRelay(ctx, e, []string{e.Sink.Addr(), e.Echo.Addr()}, nil, 0)
		if err != nil {
			return nil, err
		}
		return &Path{
			DialSink: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, r.dialURL(e.Sink.Addr()), wsTunnelkit) },
			DialEcho: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, r.dialURL(e.Echo.Addr()), wsTunnelkit) },
			Pids:     []int{r.Pid()},
			Close:    r.Stop,
		}, nil
	}}
}

// proxyCase: OpenSSH with `tunnelkit proxy` as its ProxyCommand, through the relay.
func proxyCase() Case {
	return opensshCase("openssh-L-proxy", "OpenSSH ssh -L via tunnelkit proxy", "openssh-L", 'L',
		func(e *Env) ([]string, []int, func(), error) {
			if err := e.need("proxy"); err != nil {
				return nil, nil, nil, err
			}
			r, err := startRelay(context.Background(), e, []string{e.Sshd.Addr}, nil, 0)
			if err != nil {
				return nil, nil, nil, err
			}
			pc := fmt.Sprintf("%s proxy --relay %s %%h:%%p", e.Tunnelkit, r.WS)
			return []string{"-o", "ProxyCommand=" + pc}, []int{r.Pid()}, r.Stop, nil
		})
}

// nativeCase runs `tunnelkit ssh` with two forwards, directly to the gateway
// or through the relay.
func nativeCase(name, label, peer string, kind byte, viaRelay bool) Case {
	return Case{Name: name, Label: label, Peer: peer, Setup: func(ctx context.Context, e *Env) (*Path, error) {
		if err := e.need("ssh"); err != nil {
			return nil, err
		}
		var pids []int
		cleanup := func() {}
		args := []string{e.Tunnelkit, "ssh", "-i", e.Sshd.KeyFile, "-p", fmt.Sprint(e.Sshd.Port),
			"--known-hosts", e.Sshd.KnownHosts}
		if viaRelay {
			r, err := startRelay(ctx, e, []string{e.Sshd.Addr}, nil, 0)
			if err != nil {
				return nil, err
			}
			args = append(args, "--relay", r.WS)
			pids = append(pids, r.Pid())
			cleanup = r.Stop
		}
		fwd, sinkEntry, echoEntry, err := twoForwards(e, kind)
		if err != nil {
			cleanup()
			return nil, err
		}
		args = append(args, fwd...)
		args = append(args, e.Sshd.User+"@127.0.0.1")
		p, err := forwardPath(ctx, e, "tunnelkit ssh", args, sinkEntry, echoEntry, pids, cleanup)
		if err != nil && strings.Contains(err.Error(), "flag provided but not defined") {
			return nil, fmt.Errorf("tunnelkit ssh flags changed (%s): update bench/cases_tunnelkit.go", oneLine(err.Error(), 200))
		}
		return p, err
	}}
}
