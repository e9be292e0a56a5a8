package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"tunnelkit/relay"
	"tunnelkit/web"
)

func init() { commands["serve"] = runServe }

const serveUsage = `usage: tunnelkit serve [--listen ADDR] [--allow RULE]... [flags]

Serves the relay (WebSocket streams to TCP) and the web UI on one address.
The relay is deny by default: it dials only what --allow names and listens
only where --allow-listen says.

Rules: HOST:PORT, HOST:LOW-HIGH, HOST:*, CIDR:PORT, [IPv6]:PORT,
[IPv6CIDR]:PORT. A host name allows that name (and what it resolves to),
not numeric aliases of its address. Link-local and metadata addresses
(169.254.0.0/16, fe80::/10, fd00:ec2::254) and the relay host's own
loopback (127.0.0.0/8, ::1) need a rule naming them by address (or, for
loopback, the name localhost): 0.0.0.0/0:22 opens neither. 0.0.0.0/8 is
never dialed. IPv6 forms carrying an IPv4 address (64:ff9b::/96, 2002::/16,
::a.b.c.d) are checked as that address.

flags:
`

// serveOptions is the command line of tunnelkit serve.
type serveOptions struct {
	listen, config, tokenFile, metricsListen          string
	allow, allowListen, origins, proxies, publicHosts repeated
	maxStreams, maxPerClient, maxConns                int
	maxMsg, maxQueued                                 int64
	idle, dialTimeout, drain, reqTimeout, queueDrain  time.Duration
	logFormat, tlsCert, tlsKey                        string
}

func runServe(ctx context.Context, args []string) error {
	o, err := parseServeArgs(args)
	if err != nil {
		return err
	}
	logger, err := o.logger()
	if err != nil {
		return err
	}
	cfg, err := o.relayConfig(logger)
	if err != nil {
		return err
	}
	return o.serve(ctx, cfg)
}

func parseServeArgs(args []string) (*serveOptions, error) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "serve on `ADDR` (HOST:PORT)")
	fs.Var(&o.allow, "allow", "allow dialing `RULE` (repeatable)")
	fs.Var(&o.allowListen, "allow-listen", "allow listening on `RULE` (repeatable)")
	fs.StringVar(&o.config, "config", "", "read rules from `FILE`: one per line, RULE to dial, listen=RULE to listen, # comments")
	fs.StringVar(&o.tokenFile, "token-file", "", "require a token from `FILE`: per line TOKEN or sha256:HEX (see tunnelkit token new), [name=NAME] [RULE|listen=RULE]...")
	fs.Var(&o.origins, "allow-origin", "also accept browser pages from `ORIGIN` (host pattern, repeatable)")
	fs.Var(&o.publicHosts, "public-host", "answer only requests for `HOST[:PORT]` (the Host header; repeatable); without it: IP literals, localhost and the --listen host")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve /metrics on `ADDR` only (a private listener), not on --listen")
	fs.Var(&o.proxies, "trusted-proxy", "trust X-Forwarded-For from `CIDR` (repeatable)")
	fs.IntVar(&o.maxStreams, "max-streams", relay.DefaultMaxStreams, "streams at once, overall")
	fs.IntVar(&o.maxPerClient, "max-streams-per-client", relay.DefaultMaxStreamsPerClient, "streams at once per client IP")
	fs.IntVar(&o.maxConns, "max-conns-per-client", 0, "TCP connections at once per client IP, streams included (default 2x --max-streams-per-client)")
	fs.DurationVar(&o.reqTimeout, "request-timeout", relay.DefaultHandshakeTimeout, "request headers and body must arrive within this long (never cuts streams)")
	fs.Int64Var(&o.maxMsg, "max-message-size", relay.DefaultMaxMessageSize, "largest WebSocket message in `BYTES`")
	fs.Int64Var(&o.maxQueued, "max-queued-bytes", relay.DefaultMaxQueuedBytes, "client `BYTES` the relay may hold for slow targets, all streams together")
	fs.DurationVar(&o.queueDrain, "queue-drain-timeout", relay.DefaultQueueDrainTimeout, "when a client is gone, deliver what it queued for this long at most")
	fs.DurationVar(&o.idle, "idle-timeout", relay.DefaultIdleTimeout, "close a stream after no data either way for this long")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", relay.DefaultDialTimeout, "resolve and connect within this long")
	fs.DurationVar(&o.drain, "drain-timeout", 10*time.Second, "on SIGTERM, let streams finish for this long")
	fs.StringVar(&o.logFormat, "log-format", "text", "audit log format: `text` or json")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS/WSS with this certificate `FILE` (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` for --tls-cert")
	if err := parseFlags(fs, serveUsage, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, badUsage("serve", "unexpected argument %q (rules go after --allow)", fs.Arg(0))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, badUsage("serve", "--tls-cert and --tls-key go together")
	}
	return o, nil
}

func (o *serveOptions) logger() (*slog.Logger, error) {
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, badUsage("serve", "--log-format %q: want text or json", o.logFormat)
}

// relayConfig builds the relay's configuration from the flags and the
// --config and --token-file files, and checks it is safe to expose.
func (o *serveOptions) relayConfig(logger *slog.Logger) (relay.Config, error) {
	cfg := relay.Config{
		Allow:               o.allow,
		AllowListen:         o.allowListen,
		AllowOrigins:        o.origins,
		PublicHosts:         o.publicHosts,
		ServedOn:            o.listen,
		MetricsListen:       o.metricsListen,
		TrustedProxies:      o.proxies,
		MaxStreams:          o.maxStreams,
		MaxStreamsPerClient: o.maxPerClient,
		MaxConnsPerClient:   o.maxConns,
		HandshakeTimeout:    o.reqTimeout,
		MaxMessageSize:      o.maxMsg,
		MaxQueuedBytes:      o.maxQueued,
		QueueDrainTimeout:   o.queueDrain,
		IdleTimeout:         o.idle,
		DialTimeout:         o.dialTimeout,
		Logger:              logger,
	}
	if o.config != "" {
		a, al, err := readRuleFile(o.config)
		if err != nil {
			return cfg, err
		}
		cfg.Allow = append(cfg.Allow, a...)
		cfg.AllowListen = append(cfg.AllowListen, al...)
	}
	if o.tokenFile != "" {
		tokens, err := readTokenFile(o.tokenFile)
		if err != nil {
			return cfg, err
		}
		cfg.Tokens = tokens
		for _, w := range shortTokenWarnings(tokens) {
			fmt.Fprintln(os.Stderr, "tunnelkit serve: "+w)
		}
	}
	err := checkExposure(o.listen, len(cfg.Tokens) > 0, len(cfg.Allow)+len(cfg.AllowListen) > 0)
	return cfg, err
}

// readRuleFile reads --config FILE.
func readRuleFile(file string) (allow, allowListen []string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	allow, allowListen, err = relay.ParseRuleFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("--config %s: %w", file, err)
	}
	return allow, allowListen, nil
}

// readTokenFile reads --token-file FILE, which must hold a token.
func readTokenFile(file string) ([]relay.Token, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	defer f.Close()
	tokens, err := relay.ParseTokenFile(f)
	if err != nil {
		return nil, fmt.Errorf("--token-file %s: %w", file, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("--token-file %s has no tokens", file)
	}
	return tokens, nil
}

// serve runs the relay and the UI until ctx ends, then drains.
func (o *serveOptions) serve(ctx context.Context, cfg relay.Config) error {
	rl, err := relay.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		rl.Shutdown(context.Background())
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	ln = rl.LimitListener(ln) // --max-conns-per-client
	srv := &http.Server{
		Handler: rl.WithUI(web.Handler()),
		// Headers and bodies within --request-timeout. Streams are not
		// cut: net/http clears a connection's deadlines when the
		// WebSocket upgrade hijacks it.
		ReadHeaderTimeout: rl.HandshakeTimeout(),
		ReadTimeout:       rl.HandshakeTimeout(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		// No WriteTimeout: a page on a slow link may take long to load
		// the WebAssembly; the per-client cap bounds who can hold on.
	}
	// WebSocket streams need HTTP/1.1 (they take over the connection).
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "tunnelkit serve: listening on %s://%s/\n", scheme, ln.Addr())
	if len(cfg.Allow)+len(cfg.AllowListen) == 0 && len(cfg.Tokens) == 0 {
		fmt.Fprintln(os.Stderr, "tunnelkit serve: no --allow or --allow-listen rules: the relay will refuse every stream")
	}
	if o.metricsListen != "" {
		stop, err := serveMetrics(o.metricsListen, rl, cfg.Logger)
		if err != nil {
			ln.Close()
			rl.Shutdown(context.Background())
			return err
		}
		defer stop()
	}
	return serveThenDrain(ctx, "serve", srv, rl, o.drain, func() error {
		if o.tlsCert != "" {
			return srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		}
		return srv.Serve(ln)
	})
}

// checkExposure refuses to run an open relay on a network address: with
// no token and no rule of its own choosing, anyone who reaches it would
// find it serving, and its operator likely did not mean to expose it.
func checkExposure(listen string, tokens, rules bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", listen, err)
	}
	if tokens || rules || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing to serve on %s without --token-file or an explicit --allow: "+
		"it is not a loopback address, so anyone who can reach it could use the relay; "+
		"add --token-file FILE, or name what may be reached with --allow, or listen on 127.0.0.1", listen)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// serveMetrics serves /metrics and /healthz on their own (private)
// listener until stop.
func serveMetrics(addr string, rl *relay.Relay, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           rl.MetricsHandler(),
		ReadHeaderTimeout: rl.HandshakeTimeout(),
		ReadTimeout:       rl.HandshakeTimeout(),
		WriteTimeout:      time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(os.Stderr, "tunnelkit serve: metrics on http://%s/metrics\n", ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return func() { srv.Close(); <-done }, nil
}
