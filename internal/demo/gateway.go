// Package demo runs tunnelkit's demo world in one process: a small SSH
// gateway that does port forwarding and nothing else, sample exit services
// (a web page, an echo service, a pinger) to forward to, and the training
// lab. Their hosts live on networks inside the process (internal/lab), so
// the demo opens no port of the machine but the page's own.
package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/tunnel"
)

// GatewayConfig configures a Gateway.
type GatewayConfig struct {
	Addr     string // listen address; default 127.0.0.1:0
	User     string // default "demo"
	Password string // default: random
	Logger   *slog.Logger

	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// Also, when set, is served too: the same gateway on a second socket.
	Also net.Listener
	// DialExit, when set (without Net), dials the exit sockets of -L
	// instead of loopback TCP; it decides what is reachable, and an
	// *ExitRefusedError from it is a refusal the client is told about.
	DialExit func(ctx context.Context, network, addr string) (net.Conn, error)
	// Net, when set, dials the exit sockets of -L and binds the entry
	// sockets of -R instead of loopback TCP (a lab host); GatewayPorts and
	// PermitOpen then apply as in sshd_config.
	Net          Network
	GatewayPorts GatewayPorts
	PermitOpen   []string
}

// Gateway is an in-process SSH server for the demo. It accepts one user by
// password and supports exactly what port forwarding needs: direct-tcpip
// (-L) and tcpip-forward with forwarded-tcpip channels (-R), both limited to
// loopback addresses (-L exits: or what DialExit reaches; with Net, a lab
// host's network under GatewayPorts and PermitOpen), and
// keepalive@openssh.com. Sessions get a polite "no shell here".
type Gateway struct {
	User, Password string
	HostKey        ssh.PublicKey

	ln     net.Listener
	also   net.Listener // nil, or a second socket served as ln
	config *ssh.ServerConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	net        Network
	dialExit   func(ctx context.Context, network, addr string) (net.Conn, error)
	permitOpen atomic.Pointer[permitOpen] // switchable at run time, as ports
	ports      atomic.Int32               // GatewayPorts

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// handshakeTimeout bounds how long a client may take to authenticate.
const handshakeTimeout = 15 * time.Second

// dialTimeout bounds a direct-tcpip dial to an exit socket.
const dialTimeout = 5 * time.Second

// StartGateway listens and serves until ctx ends or Close is called.
func StartGateway(ctx context.Context, cfg GatewayConfig) (*Gateway, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.User == "" {
		cfg.User = "demo"
	}
	if cfg.Password == "" {
		cfg.Password = randomPassword()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listener == nil {
		if err := requireLoopback(cfg.Addr); err != nil {
			return nil, fmt.Errorf("demo gateway: %w", err)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo gateway: host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("demo gateway: host key: %w", err)
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("demo gateway: listen on %s: %w (choose another address)", cfg.Addr, err)
		}
	}
	g := &Gateway{
		User:     cfg.User,
		Password: cfg.Password,
		HostKey:  signer.PublicKey(),
		ln:       ln,
		log:      cfg.Logger,
		conns:    map[net.Conn]struct{}{},

		net:      cfg.Net,
		dialExit: cfg.DialExit,
		also:     cfg.Also,
	}
	g.ports.Store(int32(cfg.GatewayPorts))
	g.SetPermitOpen(cfg.PermitOpen)
	g.config = g.serverConfig(signer)
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.wg.Add(2)
	go g.acceptLoop(g.ln)
	if g.also != nil {
		g.wg.Add(1)
		go g.acceptLoop(g.also)
	}
	go g.closeOnDone()
	return g, nil
}

// serverConfig takes the demo user's password, as a password or through
// keyboard-interactive (what browsers' and OpenSSH's defaults try).
func (g *Gateway) serverConfig(signer ssh.Signer) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-tunnelkit_demo",
		MaxAuthTries:  6,
		PasswordCallback: func(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			return nil, g.checkPassword(md.User(), string(pw))
		},
		KeyboardInteractiveCallback: func(md ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errors.New("expected one answer")
			}
			return nil, g.checkPassword(md.User(), answers[0])
		},
	}
	cfg.AddHostKey(signer)
	return cfg
}

// closeOnDone closes the listeners and every connection once the
// gateway's context ends.
func (g *Gateway) closeOnDone() {
	defer g.wg.Done()
	<-g.ctx.Done()
	g.ln.Close()
	if g.also != nil {
		g.also.Close()
	}
	g.mu.Lock()
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
}

// Addr is the gateway's listening address (of Listener, not Also).
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// GatewayPorts is the current GatewayPorts setting (used with Net).
func (g *Gateway) GatewayPorts() GatewayPorts { return GatewayPorts(g.ports.Load()) }

// SetGatewayPorts changes GatewayPorts for the remote forwards asked from
// now on; bound ones stay where they are.
func (g *Gateway) SetGatewayPorts(m GatewayPorts) { g.ports.Store(int32(m)) }

// PermitOpen is the current PermitOpen list (nil: any).
func (g *Gateway) PermitOpen() []string { return []string(*g.permitOpen.Load()) }

// SetPermitOpen changes PermitOpen for the -L connections opened from now on.
func (g *Gateway) SetPermitOpen(p []string) {
	po := permitOpen(slices.Clone(p))
	g.permitOpen.Store(&po)
}

// Disconnect closes every SSH connection (their forwards with them) and
// keeps serving new ones.
func (g *Gateway) Disconnect() {
	g.mu.Lock()
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
}

// Fingerprint is the host key's "SHA256:..." fingerprint.
func (g *Gateway) Fingerprint() string { return ssh.FingerprintSHA256(g.HostKey) }

// Close stops the gateway, closes every connection and waits for all of
// its goroutines.
func (g *Gateway) Close() error {
	g.cancel()
	g.wg.Wait()
	return nil
}

func (g *Gateway) checkPassword(user, pw string) error {
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(g.User))
	okPw := subtle.ConstantTimeCompare([]byte(pw), []byte(g.Password))
	if okUser&okPw == 1 {
		return nil
	}
	return errors.New("wrong user or password")
}

func (g *Gateway) acceptLoop(ln net.Listener) {
	defer g.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if g.ctx.Err() == nil {
				g.log.Error("demo gateway: accept", "err", err)
				g.cancel()
			}
			return
		}
		if !g.track(c) {
			c.Close()
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.untrack(c)
			g.serveConn(c)
		}()
	}
}

// track registers c to be closed on shutdown; false if shutdown began.
func (g *Gateway) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gateway) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

// conn is one SSH connection: its remote forwards and open TCP connections,
// all closed when it ends.
type conn struct {
	g   *Gateway
	ssh *ssh.ServerConn
	log *slog.Logger
	wg  sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners map[string]*remoteForward // by "bindaddr:port" as requested
	closers   map[io.Closer]struct{}
}

type remoteForward struct {
	bindAddr string // as the client sent it: echoed in forwarded-tcpip
	port     uint32 // bound port
	ln       net.Listener
}

func (g *Gateway) serveConn(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(nc, g.config)
	if err != nil {
		g.log.Info("demo gateway: handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	nc.SetDeadline(time.Time{})
	c := &conn{
		g:         g,
		ssh:       sc,
		log:       g.log.With("remote", nc.RemoteAddr().String(), "user", sc.User()),
		listeners: map[string]*remoteForward{},
		closers:   map[io.Closer]struct{}{},
	}
	c.log.Info("demo gateway: connected")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.globalRequests(reqs)
	}()
	for nch := range chans {
		c.channel(nch)
	}
	// The connection is gone: stop its listeners and connections.
	c.mu.Lock()
	c.closed = true
	for _, rf := range c.listeners {
		rf.ln.Close()
	}
	for cl := range c.closers {
		cl.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.log.Info("demo gateway: disconnected")
}

// hold registers cl to be closed with the connection; false if it ended.
func (c *conn) hold(cl io.Closer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closers[cl] = struct{}{}
	return true
}

func (c *conn) release(cl io.Closer) {
	c.mu.Lock()
	delete(c.closers, cl)
	c.mu.Unlock()
	cl.Close()
}

func (c *conn) channel(nch ssh.NewChannel) {
	switch nch.ChannelType() {
	case "direct-tcpip":
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.directTCPIP(nch)
		}()
	case "session":
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.session(nch)
		}()
	default:
		nch.Reject(ssh.UnknownChannelType, "the demo gateway only forwards ports")
	}
}

// directTCPIP is one -L connection: dial the exit socket, then copy.
func (c *conn) directTCPIP(nch ssh.NewChannel) {
	var m struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &m); err != nil {
		nch.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	target := net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port)))
	if err := c.g.mayOpen(m.Host, m.Port); err != nil {
		c.log.Info("demo gateway: refused direct-tcpip", "target", target)
		nch.Reject(ssh.Prohibited, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(c.g.ctx, dialTimeout)
	tc, err := c.g.dial(ctx, target)
	cancel()
	if refused := (*ExitRefusedError)(nil); errors.As(err, &refused) {
		c.log.Info("demo gateway: refused direct-tcpip", "target", target)
		nch.Reject(ssh.Prohibited, err.Error())
		return
	}
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, fmt.Sprintf("connect to %s failed: %v", target, err))
		return
	}
	if !c.hold(tc) {
		tc.Close()
		nch.Reject(ssh.ConnectionFailed, "gateway connection is closing")
		return
	}
	defer c.release(tc)
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	c.log.Info("demo gateway: direct-tcpip", "target", target)
	tunnel.Join(ch, tc)
}

// session answers shells and commands with a short note: the demo gateway
// is for forwarding only (use ssh -N).
func (c *conn) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "shell", "exec", "subsystem":
			req.Reply(true, nil)
			io.WriteString(ch.Stderr(), "This is the tunnelkit demo gateway: it forwards ports (ssh -N -L ... / -R ...) and has no shell.\r\n")
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
			return
		default: // pty-req, env, ...: fine, but nothing to do
			req.Reply(req.Type == "pty-req" || req.Type == "env", nil)
		}
	}
}

func (c *conn) globalRequests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		switch req.Type {
		case "tcpip-forward":
			ok, payload := c.tcpipForward(req.Payload)
			req.Reply(ok, payload)
		case "cancel-tcpip-forward":
			req.Reply(c.cancelForward(req.Payload), nil)
		default:
			// keepalive@openssh.com and anything unknown: answer, as
			// OpenSSH does, with a failure reply that proves we are alive.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

type forwardRequest struct {
	BindAddr string
	BindPort uint32
}

func (c *conn) tcpipForward(payload []byte) (bool, []byte) {
	var m forwardRequest
	if err := ssh.Unmarshal(payload, &m); err != nil || m.BindPort > 65535 {
		return false, nil
	}
	addr, err := c.g.entryAddr(m.BindAddr, m.BindPort)
	if err != nil {
		c.log.Info("demo gateway: refused tcpip-forward", "addr", m.BindAddr, "port", m.BindPort, "err", err)
		return false, nil
	}
	ln, err := c.g.listen(addr)
	if err != nil {
		c.log.Info("demo gateway: tcpip-forward failed", "addr", addr, "err", err)
		return false, nil
	}
	rf := &remoteForward{bindAddr: m.BindAddr, port: uint32(ln.Addr().(*net.TCPAddr).Port), ln: ln}
	key := net.JoinHostPort(m.BindAddr, strconv.Itoa(int(rf.port)))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ln.Close()
		return false, nil
	}
	c.listeners[key] = rf
	c.mu.Unlock()
	c.log.Info("demo gateway: tcpip-forward", "entry", ln.Addr().String())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.acceptForwarded(rf)
	}()
	if m.BindPort == 0 {
		return true, binary.BigEndian.AppendUint32(nil, rf.port)
	}
	return true, nil
}

func (c *conn) cancelForward(payload []byte) bool {
	var m forwardRequest
	if err := ssh.Unmarshal(payload, &m); err != nil {
		return false
	}
	key := net.JoinHostPort(m.BindAddr, strconv.Itoa(int(m.BindPort)))
	c.mu.Lock()
	rf := c.listeners[key]
	delete(c.listeners, key)
	c.mu.Unlock()
	if rf == nil {
		return false
	}
	rf.ln.Close()
	return true
}

// acceptForwarded serves one -R entry socket: each connection becomes a
// forwarded-tcpip channel back to the client.
func (c *conn) acceptForwarded(rf *remoteForward) {
	for {
		tc, err := rf.ln.Accept()
		if err != nil {
			return
		}
		if !c.hold(tc) {
			tc.Close()
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.release(tc)
			origin := tc.RemoteAddr().(*net.TCPAddr)
			ch, reqs, err := c.ssh.OpenChannel("forwarded-tcpip", ssh.Marshal(struct {
				Addr       string
				Port       uint32
				OriginAddr string
				OriginPort uint32
			}{rf.bindAddr, rf.port, origin.IP.String(), uint32(origin.Port)}))
			if err != nil {
				c.log.Info("demo gateway: client refused forwarded-tcpip", "err", err)
				return
			}
			go ssh.DiscardRequests(reqs)
			tunnel.Join(ch, tc)
		}()
	}
}

// mayOpen checks a direct-tcpip exit: loopback only on TCP (DialExit
// decides for itself), PermitOpen on Net.
func (g *Gateway) mayOpen(host string, port uint32) error {
	if g.net == nil && g.dialExit != nil {
		return nil
	}
	if g.net == nil {
		return requireLoopback(net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	if !g.permitOpen.Load().allows(host, port) {
		return errors.New("open failed") // sshd's words for a PermitOpen refusal
	}
	return nil
}

func (g *Gateway) dial(ctx context.Context, target string) (net.Conn, error) {
	if g.net == nil && g.dialExit != nil {
		return g.dialExit(ctx, "tcp", target)
	}
	if g.net == nil {
		return (&net.Dialer{}).DialContext(ctx, "tcp", target)
	}
	return g.net.Dial(ctx, "tcp", target)
}

// entryAddr is where a tcpip-forward asking for bindAddr:port binds: on
// TCP loopback only (other addresses refused); on Net as GatewayPorts says.
func (g *Gateway) entryAddr(bindAddr string, port uint32) (string, error) {
	p := strconv.Itoa(int(port))
	if g.net == nil {
		host := bindAddr
		if host == "" || host == "localhost" {
			host = "127.0.0.1"
		}
		addr := net.JoinHostPort(host, p)
		return addr, requireLoopback(addr)
	}
	if port != 0 && port < 1024 {
		// sshd: only root may forward privileged ports, and the lab's user is dev.
		return "", fmt.Errorf("port %d is privileged", port)
	}
	return net.JoinHostPort(g.GatewayPorts().bindAddr(bindAddr), p), nil
}

func (g *Gateway) listen(addr string) (net.Listener, error) {
	if g.net == nil {
		return net.Listen("tcp", addr)
	}
	ctx, cancel := context.WithTimeout(g.ctx, dialTimeout)
	defer cancel()
	return g.net.ListenAs(ctx, "sshd", "tcp", addr)
}

// requireLoopback refuses any address that is not a loopback IP literal (or
// "localhost"): the demo never reaches beyond this machine, and never
// resolves names.
func requireLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("bad address %q: %v", hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("the demo gateway only reaches loopback addresses (127.0.0.1, ::1), not %s", hostport)
	}
	return nil
}

func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // no look-alikes
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:8]) + "-" + string(b[8:])
}
