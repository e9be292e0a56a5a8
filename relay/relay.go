// Package relay bridges WebSocket streams to TCP for tunnelkit: a dial
// bridge (a stream becomes a TCP connection the relay opens) and a listen
// bridge (the relay listens, each accepted connection becomes a stream).
// Every stream is checked against a deny-by-default policy at the address
// actually dialed. The wire protocol is in PROTOCOL.md.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Relay. The zero value relays nothing: deny by default.
type Config struct {
	// Allow lists what may be dialed, AllowListen where the relay may
	// listen: "HOST:PORT", "HOST:LOW-HIGH", "HOST:*", "CIDR:PORT",
	// "[IPv6]:PORT", "[IPv6CIDR]:PORT".
	Allow, AllowListen []string
	// Tokens, when set, are required on every stream; each token may also
	// reach its own targets on top of Allow and AllowListen.
	Tokens []Token
	// AllowOrigins are extra browser origins allowed (host patterns as in
	// websocket.AcceptOptions.OriginPatterns). The relay's own is always.
	AllowOrigins []string
	// PublicHost, when set, is the only Host header the relay answers.
	PublicHost string
	// TrustedProxies are CIDRs (or addresses) whose X-Forwarded-For is used.
	TrustedProxies []string

	MaxStreams          int   // all streams at once (default 1024)
	MaxStreamsPerClient int   // per client IP (default 64)
	MaxMessageSize      int64 // bytes per WebSocket message (default 1 MiB)

	IdleTimeout      time.Duration // no bytes either way (default 10m)
	HandshakeTimeout time.Duration // request headers, for the http.Server (default 10s)
	DialTimeout      time.Duration // resolve + connect (default 10s)
	AcceptTimeout    time.Duration // an accepted conn awaits its stream (default 10s)
	ResumeWindow     time.Duration // a resumable stream awaits its client after a drop (default 30s)

	Logger *slog.Logger // audit log (default: discard)

	// Dial, Listen and Resolver default to the net package's.
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Listen   func(ctx context.Context, network, addr string) (net.Listener, error)
	Resolver Resolver
}

// Defaults applied by New for zero fields.
const (
	DefaultMaxStreams          = 1024
	DefaultMaxStreamsPerClient = 64
	DefaultMaxMessageSize      = wire.DefaultMaxMessage
	DefaultIdleTimeout         = 10 * time.Minute
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultDialTimeout         = 10 * time.Second
	DefaultAcceptTimeout       = 10 * time.Second
)

// Relay is the relay server. Mount Handler; call Shutdown to drain.
type Relay struct {
	cfg        Config
	allow      policy // dial rules for everyone
	allowLn    policy // listen rules for everyone
	tokens     []*token
	trusted    []netip.Prefix
	acceptOpts *websocket.AcceptOptions
	log        *slog.Logger
	metrics    *metrics
	handler    http.Handler

	mu      sync.Mutex
	closing bool
	streams map[*stream]struct{}
	perIP   map[netip.Prefix]int    // streams per client (IPv6: per /64)
	pending map[string]*pendingConn // accept id -> accepted TCP conn
	wg      sync.WaitGroup          // WebSocket handlers; each waits for its own goroutines
	nextID  uint64
	listens map[*listenBridge]struct{}
	resumes resumeTable // resumable streams by id
}

// New checks cfg and returns a Relay.
func New(cfg Config) (*Relay, error) {
	setDefault(&cfg.MaxStreams, DefaultMaxStreams)
	setDefault(&cfg.MaxStreamsPerClient, DefaultMaxStreamsPerClient)
	setDefault(&cfg.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
	setDefault(&cfg.AcceptTimeout, DefaultAcceptTimeout)
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerClient < 0 || cfg.MaxMessageSize < 0 ||
		cfg.IdleTimeout < 0 || cfg.DialTimeout < 0 || cfg.AcceptTimeout < 0 || cfg.HandshakeTimeout < 0 {
		return nil, errors.New("relay limits and timeouts must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.Listen == nil {
		cfg.Listen = (&net.ListenConfig{}).Listen
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	r := &Relay{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newMetrics(),
		streams: map[*stream]struct{}{},
		perIP:   map[netip.Prefix]int{},
		pending: map[string]*pendingConn{},
		listens: map[*listenBridge]struct{}{},
	}
	var err error
	if r.allow, err = parsePolicy(cfg.Allow); err != nil {
		return nil, fmt.Errorf("allow: %w", err)
	}
	if r.allowLn, err = parsePolicy(cfg.AllowListen); err != nil {
		return nil, fmt.Errorf("allow-listen: %w", err)
	}
	if r.tokens, err = r.compileTokens(cfg.Tokens); err != nil {
		return nil, err
	}
	if r.trusted, err = parsePrefixes(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted-proxy: %w", err)
	}
	if r.acceptOpts, err = acceptOptions(cfg.AllowOrigins); err != nil {
		return nil, err
	}
	r.handler = r.routes()
	return r, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Handler is the relay's HTTP handler: /v1/dial, /v1/listen, /v1/accept,
// /healthz, /metrics.
func (r *Relay) Handler() http.Handler { return r.handler }

// HandshakeTimeout is the header read timeout to give the http.Server.
func (r *Relay) HandshakeTimeout() time.Duration { return r.cfg.HandshakeTimeout }

var errShuttingDown = errors.New("relay shutting down")
