package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/crypto/ssh"
)

// JumpHost is one hop on the way to the gateway, as in ssh -J: an SSH
// server the connection passes through. Each hop authenticates and verifies
// its host key on its own; the next hop (or the gateway) is reached by a
// direct-tcpip channel inside this hop's session, so only the first hop
// needs to be reachable from here (or allowed by the relay).
type JumpHost struct {
	Addr        string // "host:port"; port 22 when left out
	User        string
	Password    string       // for password and keyboard-interactive
	Signers     []ssh.Signer // keys, see ParsePrivateKey
	AuthMethods []ssh.AuthMethod
	HostKey     HostKeyPolicy
}

// config is the hop's handshake configuration; ciphers and logger come
// from the gateway's.
func (j *JumpHost) config(base *Config) *Config {
	return &Config{
		User: j.User, Password: j.Password, Signers: j.Signers, AuthMethods: j.AuthMethods,
		HostKey: j.HostKey, Ciphers: base.Ciphers, Logger: base.Logger,
	}
}

// connectJumps runs the handshake with each jump host of cfg in turn over
// conn, which reaches the first, and returns the hops and a connection to
// addr through the last. On error every hop is closed, and conn too.
func connectJumps(ctx context.Context, conn net.Conn, addr string, cfg *Config, log *slog.Logger) ([]*ssh.Client, net.Conn, error) {
	var hops []*ssh.Client
	for i := range cfg.Jump {
		j := &cfg.Jump[i]
		jaddr := withDefaultPort(j.Addr)
		jlog := log.With("jump", jaddr)
		hs, err := handshake(ctx, conn, jaddr, j.config(cfg), "jump host", jlog)
		if err != nil {
			closeJumps(hops)
			return nil, nil, err
		}
		hop := ssh.NewClient(hs.conn, hs.chans, hs.reqs)
		hops = append(hops, hop)
		jlog.Info("jump host connected", "user", j.User, "hostKey", hs.hostKey)

		next := addr
		if i+1 < len(cfg.Jump) {
			next = withDefaultPort(cfg.Jump[i+1].Addr)
		}
		if conn, err = hop.DialContext(ctx, "tcp", next); err != nil {
			closeJumps(hops)
			return nil, nil, &JumpError{Jump: jaddr, Next: next, Err: err}
		}
	}
	return hops, conn, nil
}

// JumpError is a jump host that could not open the way to the next hop or
// the gateway. Err is the SSH refusal (an *ssh.OpenChannelError when the
// jump host refused the direct-tcpip channel).
type JumpError struct {
	Jump string // the jump host's "host:port"
	Next string // the hop or gateway it could not reach
	Err  error
}

func (e *JumpError) Error() string {
	return fmt.Sprintf("jump host %s could not reach %s: %v", e.Jump, e.Next, openError(e.Next, e.Err))
}

func (e *JumpError) Unwrap() error { return e.Err }

// closeJumps closes the hops, the last first.
func closeJumps(hops []*ssh.Client) {
	for i := len(hops) - 1; i >= 0; i-- {
		hops[i].Close()
	}
}
