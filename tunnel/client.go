package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Client is an authenticated SSH connection to a gateway.
type Client struct {
	cfg     Config
	addr    string
	ssh     *ssh.Client
	hostKey string
	jumps   []*ssh.Client // the jump hosts the connection passes through, first hop first
	log     *slog.Logger

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection-level goroutines
	done   chan struct{}  // closed when the connection has ended

	mu       sync.Mutex
	forwards []*Forward
	closed   bool  // Close was called
	ended    bool  // the connection has ended
	err      error // why the connection ended; nil after Close

	remoteMu sync.RWMutex // held for writing while a -R forward is being set up
	remotes  []*Forward
}

// Connect runs the SSH handshake over conn (TCP, or a WebSocket through the
// relay). addr is "host:port" of the gateway, used for host-key lookup.
// With Config.Jump, conn leads to the first jump host instead, and the
// gateway is reached through each hop in turn (see JumpHost).
// Connect owns conn from here on: it is closed when the Client is closed or on error.
func Connect(ctx context.Context, conn net.Conn, addr string, cfg Config) (*Client, error) {
	addr = withDefaultPort(addr)
	log := cfg.logger().With("gateway", addr)

	var jumps []*ssh.Client
	if len(cfg.Jump) > 0 {
		var err error
		if jumps, conn, err = connectJumps(ctx, conn, addr, &cfg, log); err != nil {
			return nil, err
		}
	}
	hs, err := handshake(ctx, conn, addr, &cfg, "gateway", log)
	if err != nil {
		closeJumps(jumps)
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		addr:    addr,
		ssh:     ssh.NewClient(hs.conn, hs.chans, hs.reqs),
		hostKey: hs.hostKey,
		jumps:   jumps,
		log:     log,
		done:    make(chan struct{}),
	}
	// Credentials are needed only to authenticate: the Client does not keep
	// them for its life (a caller that reconnects keeps its own, if allowed).
	c.cfg.Password, c.cfg.Signers, c.cfg.AuthMethods, c.cfg.Jump = "", nil, nil, nil
	c.ctx, c.cancel = context.WithCancel(context.Background())
	log.Info("connected", "user", cfg.User, "server", string(hs.conn.ServerVersion()), "hostKey", c.hostKey)

	// Registered before any -R forward exists, so no forwarded-tcpip channel is missed.
	forwarded := c.ssh.HandleChannelOpen("forwarded-tcpip")
	c.spawn(func() { c.acceptForwarded(forwarded) })
	c.wg.Add(1)
	go c.waitConn()
	c.startKeepalive()
	return c, nil
}

// handshaken is an SSH connection that passed the handshake.
type handshaken struct {
	conn    ssh.Conn
	chans   <-chan ssh.NewChannel
	reqs    <-chan *ssh.Request
	hostKey string // fingerprint of the host key the server offered
}

// handshake verifies the host key of the server at addr (role says which:
// "gateway" or "jump host") and authenticates with cfg. It owns conn: on
// error conn is closed.
func handshake(ctx context.Context, conn net.Conn, addr string, cfg *Config, role string, log *slog.Logger) (*handshaken, error) {
	hk := &hostKeyChecker{policy: cfg.HostKey, ctx: ctx, addr: addr, log: log.Info}
	known, hasCA, err := hk.knownKeys()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var offered ssh.PublicKey
	plan := newAuthPlan(cfg)
	ciphers := cfg.Ciphers
	if ciphers == nil {
		ciphers = defaultCiphers
	}
	sshCfg := &ssh.ClientConfig{
		Config: ssh.Config{Ciphers: ciphers},
		User:   cfg.User,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			offered = plainKey(key)
			return hk.check(host, remote, key)
		},
		HostKeyAlgorithms: hostKeyAlgorithms(known, hasCA),
		AuthCallback:      plan.callback,
		ClientVersion:     "SSH-2.0-tunnelkit",
	}

	// The handshake has no context of its own: closing conn aborts it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if !stop() {
		if err == nil {
			sconn.Close()
		}
		return nil, fmt.Errorf("connecting to %s %s: %w", role, addr, context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(err, plan, role, addr, cfg.User)
	}
	hs := &handshaken{conn: sconn, chans: chans, reqs: reqs}
	if offered != nil {
		hs.hostKey = Fingerprint(offered)
	}
	return hs, nil
}

// handshakeError explains a failed handshake: a *HostKeyError, an
// *AuthError, or what the transport said.
func handshakeError(err error, plan *authPlan, role, addr, user string) error {
	var hke *HostKeyError
	switch {
	case errors.As(err, &hke):
		return hke
	case isAuthFailure(err):
		return plan.authError(addr, user, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("SSH handshake with %s %s failed: it closed the connection (is it an SSH server, and does it accept this client?): %w", role, addr, err)
	}
	return fmt.Errorf("SSH handshake with %s %s failed: %w", role, addr, err)
}

// waitConn notices the end of the connection and stops every forward.
func (c *Client) waitConn() {
	defer c.wg.Done()
	err := c.ssh.Wait()
	c.mu.Lock()
	if c.closed {
		c.err = nil
	} else if c.err == nil {
		c.err = fmt.Errorf("connection to gateway %s lost: %w", c.addr, err)
		if err == nil {
			c.err = fmt.Errorf("connection to gateway %s closed by the gateway", c.addr)
		}
	}
	c.ended = true
	connErr := c.err
	closeJumps(c.jumps)
	fwds := slices.Clone(c.forwards)
	c.mu.Unlock()
	if connErr != nil {
		c.log.Warn("disconnected", "err", connErr)
	}
	// Forwards learn why before their context ends.
	for _, f := range fwds {
		cause := connErr
		if cause == nil {
			cause = errClientClosed
		}
		f.stop(cause)
	}
	c.cancel()
	close(c.done)
}

var errClientClosed = errors.New("client closed")

// fail ends the connection with err as the reason Wait reports.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil && !c.closed {
		c.err = err
	}
	c.mu.Unlock()
	c.ssh.Close()
}

// HostKey returns the fingerprint of the gateway's host key, "SHA256:...".
func (c *Client) HostKey() string { return c.hostKey }

// Addr returns the gateway's "host:port".
func (c *Client) Addr() string { return c.addr }

// SSH returns the underlying connection, for sessions and the like. Start
// remote forwards with Forward, not its Listen: the Client already handles
// the gateway's forwarded-tcpip channels.
func (c *Client) SSH() *ssh.Client { return c.ssh }

// Forwards returns the running forwards.
func (c *Client) Forwards() []*Forward {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Forward(nil), c.forwards...)
}

// Done is closed when the connection has ended and its forwards have stopped.
func (c *Client) Done() <-chan struct{} { return c.done }

// Wait returns when the connection ends: nil after Close, otherwise why
// (for example the gateway stopped answering keepalives).
func (c *Client) Wait() error {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the forwards and the connection, and waits for their goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	fwds := slices.Clone(c.forwards)
	c.mu.Unlock()
	if already {
		<-c.done
		return nil
	}
	// Closing the connection first: the gateway drops its -R listeners
	// with it, and nothing waits on a reply from a gateway that may be gone.
	c.ssh.Close() // an error here only says the connection was already gone
	for _, f := range fwds {
		f.stop(errClientClosed)
	}
	c.wg.Wait() // every forward's goroutines too
	<-c.done
	return nil
}

// spawn runs fn in a goroutine that Close waits for, unless the connection
// is closing or has ended.
func (c *Client) spawn(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spawnLocked(fn)
}

func (c *Client) spawnLocked(fn func()) bool {
	if c.closed || c.ended {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// addForward registers f and starts its main goroutine, unless the
// connection is closing or has ended.
func (c *Client) addForward(f *Forward, main func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.spawnLocked(main) {
		return false
	}
	c.forwards = append(c.forwards, f)
	return true
}

func (c *Client) removeForward(f *Forward) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range c.forwards {
		if g == f {
			c.forwards = append(c.forwards[:i], c.forwards[i+1:]...)
			return
		}
	}
}

// withDefaultPort adds ":22" to an address without a port.
func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		h := addr
		if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
		return net.JoinHostPort(h, "22")
	}
	return addr
}
