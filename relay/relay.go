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
	"sync/atomic"
	"time"

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
	// PublicHosts, when set, are the only Host headers the relay answers
	// ("HOST" matches any port, "HOST:PORT" that port). Without them it
	// answers IP literals, localhost and the host of Listen: a name a
	// DNS-rebinding page could have pointed at the relay is refused.
	PublicHosts []string
	// PublicHost is one more public host (older form of PublicHosts).
	PublicHost string
	// ServedOn is the address the relay is served on (HOST:PORT): its
	// host is answered without PublicHosts. Optional.
	ServedOn string
	// MetricsListen, when set, is the private address /metrics is served
	// on (by MetricsHandler); Handler then serves no /metrics.
	MetricsListen string
	// TokenBackoff is the first wait of an address after wrong tokens
	// (default 1s); it doubles with each further one.
	TokenBackoff time.Duration
	// ExtraPublicHosts are more names answered as PublicHost is (the
	// names of the relay's ACME certificates); any of them turns the Host
	// check on.
	ExtraPublicHosts []string
	// TrustedProxies are CIDRs (or addresses) whose X-Forwarded-For is used.
	TrustedProxies []string

	MaxStreams          int   // all streams at once (default 1024)
	MaxStreamsPerClient int   // per client IP (default 64)
	MaxConnsPerClient   int   // TCP connections per client IP, for LimitListener (default 2x MaxStreamsPerClient)
	MaxMessageSize      int64 // bytes per WebSocket message (default 1 MiB)
	MaxQueuedBytes      int64 // client bytes queued for slow targets, all streams (default 256 MiB)

	IdleTimeout      time.Duration // no bytes either way (default 10m)
	HandshakeTimeout time.Duration // request headers and body, for the http.Server (default 10s)
	DialTimeout      time.Duration // resolve + connect (default 10s)
	// AcceptTimeout is unused: accepted connections travel on their
	// listen control stream and wait for nothing. Kept for callers.
	AcceptTimeout time.Duration
	// QueueDrainTimeout is how long a stream whose client is gone may go
	// on writing what it queued to a target that does not read (default
	// 10s); then it ends, and its buffers and slot are freed.
	QueueDrainTimeout time.Duration
	ResumeWindow      time.Duration // a resumable stream awaits its client after a drop (default 30s)

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
	DefaultTokenBackoff        = time.Second
	DefaultMaxQueuedBytes      = 256 << 20
	DefaultQueueDrainTimeout   = 10 * time.Second
)

// Relay is the relay server. Mount Handler; call Shutdown to drain.
type Relay struct {
	cfg     Config
	cur     atomic.Pointer[live] // rules, tokens, origins, limits: Reload swaps them
	trusted []netip.Prefix
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	hosts   hostRule
	backoff *backoff
	budget  *budget

	mu      sync.Mutex
	closing bool
	streams map[*stream]struct{}
	perIP   map[netip.Prefix]int // streams per client (IPv6: per /64)
	wg      sync.WaitGroup       // WebSocket handlers; each waits for its own goroutines
	nextID  uint64
	listens map[*listenBridge]struct{}
	resumes resumeTable // resumable streams by id
}

// New checks cfg and returns a Relay.
func New(cfg Config) (*Relay, error) {
	applyLiveDefaults(&cfg)
	setDefault(&cfg.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&cfg.MaxConnsPerClient, 2*cfg.MaxStreamsPerClient)
	setDefault(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&cfg.AcceptTimeout, DefaultAcceptTimeout)
	setDefault(&cfg.TokenBackoff, DefaultTokenBackoff)
	setDefault(&cfg.MaxQueuedBytes, DefaultMaxQueuedBytes)
	setDefault(&cfg.QueueDrainTimeout, DefaultQueueDrainTimeout)
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerClient < 0 || cfg.MaxConnsPerClient < 0 || cfg.MaxMessageSize < 0 ||
		cfg.IdleTimeout < 0 || cfg.DialTimeout < 0 || cfg.AcceptTimeout < 0 || cfg.HandshakeTimeout < 0 || cfg.TokenBackoff < 0 ||
		cfg.MaxQueuedBytes < 0 || cfg.QueueDrainTimeout < 0 {
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
		hosts:   newHostRule(cfg),
		backoff: newBackoff(cfg.TokenBackoff),
		budget:  &budget{max: cfg.MaxQueuedBytes},
		log:     cfg.Logger,
		metrics: newMetrics(),
		streams: map[*stream]struct{}{},
		perIP:   map[netip.Prefix]int{},
		listens: map[*listenBridge]struct{}{},
	}
	lv, err := compileLive(cfg)
	if err != nil {
		return nil, err
	}
	r.cur.Store(lv)
	if r.trusted, err = parsePrefixes(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted-proxy: %w", err)
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

// Handler is the relay's HTTP handler: /v1/dial, /v1/listen,
// /healthz, /metrics.
func (r *Relay) Handler() http.Handler { return r.handler }

// HandshakeTimeout is the http.Server's ReadHeaderTimeout and ReadTimeout:
// request headers and bodies must arrive within it. It never cuts a
// stream: net/http clears a connection's deadlines when a handler hijacks
// it, as the WebSocket upgrade does.
func (r *Relay) HandshakeTimeout() time.Duration { return r.cfg.HandshakeTimeout }

var errShuttingDown = errors.New("relay shutting down")
