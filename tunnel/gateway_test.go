//go:build !js

package tunnel

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testGateway is a small in-process SSH server on loopback for fast unit
// tests: direct-tcpip, tcpip-forward and keepalive, with knobs to refuse
// and to go silent. Real sshd and Dropbear are exercised by the
// *_sshd_test.go scenarios.
type testGateway struct {
	t      testing.TB
	addr   string
	ln     net.Listener
	cfg    *ssh.ServerConfig
	keys   []ssh.Signer
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	denyDirect  atomic.Bool // refuse direct-tcpip (administratively prohibited)
	denyForward atomic.Bool // refuse tcpip-forward
	silent      atomic.Bool // stop answering global requests (a dead gateway)
	directs     atomic.Int64
	echoAddr    atomic.Value // string: address to name in forwarded-tcpip instead of the requested one
	keepalives  atomic.Int64

	mu    sync.Mutex
	conns []net.Conn // raw, registered before the handshake
}

const (
	testUser     = "alice"
	testPassword = "correct horse"
)

func newSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	var key any
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	default:
		t.Fatalf("no key kind %q", kind)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startGateway serves until the test ends. clientKey may be nil; setup may
// adjust the server config (auth methods) before it starts.
func startGateway(t testing.TB, clientKey ssh.PublicKey, hostKeys []ssh.Signer, setup func(*ssh.ServerConfig)) *testGateway {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{newSigner(t, "ed25519")}
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pw) == testPassword {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if clientKey != nil && c.User() == testUser && string(key.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	if setup != nil {
		setup(cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &testGateway{t: t, addr: ln.Addr().String(), ln: ln, cfg: cfg, keys: hostKeys}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(g.close)
	return g
}

func (g *testGateway) close() {
	g.cancel()
	g.ln.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *testGateway) go_(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

func (g *testGateway) serve() {
	defer g.wg.Done()
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.go_(func() { g.handle(nc) })
	}
}

func (g *testGateway) handle(nc net.Conn) {
	g.mu.Lock()
	g.conns = append(g.conns, nc)
	g.mu.Unlock()
	sc, chans, reqs, err := ssh.NewServerConn(nc, g.cfg)
	if err != nil {
		nc.Close()
		return
	}
	listeners := map[string]net.Listener{}
	var lmu sync.Mutex
	defer func() {
		lmu.Lock()
		for _, l := range listeners {
			l.Close()
		}
		lmu.Unlock()
	}()
	g.go_(func() {
		for nch := range chans {
			g.channel(nch)
		}
	})
	for req := range reqs {
		if g.silent.Load() {
			continue // never reply: the client's keepalives go unanswered
		}
		switch req.Type {
		case "tcpip-forward":
			var m tcpipForwardMsg
			if ssh.Unmarshal(req.Payload, &m) != nil || g.denyForward.Load() {
				req.Reply(false, nil)
				continue
			}
			host := m.Addr
			if host == "localhost" || host == "" {
				host = "127.0.0.1"
			}
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(int(m.Port))))
			if err != nil {
				req.Reply(false, nil)
				continue
			}
			port := l.Addr().(*net.TCPAddr).Port
			lmu.Lock()
			listeners[net.JoinHostPort(m.Addr, strconv.Itoa(port))] = l
			lmu.Unlock()
			var reply []byte
			if m.Port == 0 {
				reply = ssh.Marshal(struct{ Port uint32 }{uint32(port)})
			}
			req.Reply(true, reply)
			echo := m.Addr
			if a, ok := g.echoAddr.Load().(string); ok {
				echo = a
			}
			g.go_(func() { g.forwardFrom(sc, l, echo, port) })
		case "cancel-tcpip-forward":
			var m tcpipForwardMsg
			ssh.Unmarshal(req.Payload, &m)
			key := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
			lmu.Lock()
			l, ok := listeners[key]
			delete(listeners, key)
			lmu.Unlock()
			if ok {
				l.Close()
			}
			req.Reply(ok, nil)
		default:
			if req.Type == "keepalive@openssh.com" {
				g.keepalives.Add(1)
			}
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

// forwardFrom accepts on a -R listener and opens forwarded-tcpip channels.
func (g *testGateway) forwardFrom(sc ssh.Conn, l net.Listener, addr string, port int) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		g.go_(func() {
			ra := c.RemoteAddr().(*net.TCPAddr)
			payload := ssh.Marshal(forwardedTCPPayload{addr, uint32(port), ra.IP.String(), uint32(ra.Port)})
			ch, reqs, err := sc.OpenChannel("forwarded-tcpip", payload)
			if err != nil {
				reset(c)
				return
			}
			g.go_(func() { ssh.DiscardRequests(reqs) })
			Join(c, ch)
		})
	}
}

func (g *testGateway) channel(nch ssh.NewChannel) {
	if nch.ChannelType() != "direct-tcpip" {
		nch.Reject(ssh.UnknownChannelType, "only direct-tcpip")
		return
	}
	var p struct {
		Host       string
		Port       uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	g.directs.Add(1)
	if g.denyDirect.Load() {
		nch.Reject(ssh.Prohibited, "open failed")
		return
	}
	// Loopback only, whatever the test asks for.
	if ip, err := netip.ParseAddr(p.Host); p.Host != "localhost" && (err != nil || !ip.IsLoopback()) {
		nch.Reject(ssh.Prohibited, "test gateway dials loopback only")
		return
	}
	g.go_(func() {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(g.ctx, 5*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
		if err != nil {
			nch.Reject(ssh.ConnectionFailed, err.Error())
			return
		}
		ch, reqs, err := nch.Accept()
		if err != nil {
			c.Close()
			return
		}
		g.go_(func() { ssh.DiscardRequests(reqs) })
		Join(ch, c)
	})
}

// dropConnections closes every server-side connection (the gateway going away).
func (g *testGateway) dropConnections() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
}

// testConfig trusts g's first host key by fingerprint and logs to the test.
func (g *testGateway) config(t testing.TB) Config {
	return Config{
		User:              testUser,
		Password:          testPassword,
		HostKey:           HostKeyPolicy{Fingerprint: Fingerprint(g.keys[0].PublicKey())},
		KeepaliveInterval: -1,
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (g *testGateway) connect(t testing.TB, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, g.addr, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// roundTrip sends msg through addr, half-closes, and returns the reply.
func roundTrip(t testing.TB, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b)
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}
