package main

import (
	"cmp"
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

const serveUsage = `usage: tunnelkit serve [--config FILE] [--listen ADDR] [--allow RULE]... [flags]

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

--config FILE reads these settings from TOML whose keys are the flag
names below (listen = "0.0.0.0:443", allow = ["db.internal:5432"],
max-streams = 2048, idle-timeout = "15m"); a flag on the command line wins
over its key. SIGHUP, or a change of the config, rules or token file
(checked every 2 s), re-reads them and applies rules, tokens, origins and
limits to new streams; running streams stay. A file that does not check
out is logged and the running settings kept.

flags:
`

// serveOptions is the command line of tunnelkit serve.
type serveOptions struct {
	args                                              []string // as given: a reload parses them again
	listen, configFile, rules, tokenFile              string
	allow, allowListen, origins, proxies, publicHosts repeated
	maxStreams, maxPerClient, maxConns                int
	maxMsg, maxQueued                                 int64
	idle, dialTimeout, drain, reqTimeout, queueDrain  time.Duration
	resumeWindow                                      time.Duration
	logFormat, tlsCert, tlsKey                        string
	acme                                              acmeOptions
	metricsListen                                     string
	pageGateway, pageUser, pathPrefix                 string
	page                                              web.PageConfig
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
	o := &serveOptions{args: args}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "serve on `ADDR` (HOST:PORT)")
	fs.Var(&o.allow, "allow", "allow dialing `RULE` (repeatable)")
	fs.Var(&o.allowListen, "allow-listen", "allow listening on `RULE` (repeatable)")
	fs.StringVar(&o.configFile, "config", "", "read settings from TOML `FILE` whose keys are these flags' names; flags win")
	fs.StringVar(&o.rules, "rules", "", "read rules from `FILE`: one per line, RULE to dial, listen=RULE to listen, # comments")
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
	fs.DurationVar(&o.resumeWindow, "resume-window", relay.DefaultResumeWindow, "keep a resumable stream's connection this long after its WebSocket drops, for its client to come back")
	fs.DurationVar(&o.drain, "drain-timeout", 10*time.Second, "on SIGTERM, let streams finish for this long")
	fs.StringVar(&o.logFormat, "log-format", "text", "audit log format: `text` or json")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS/WSS with this certificate `FILE` (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` for --tls-cert")
	fs.StringVar(&o.pageGateway, "page-gateway", "", "preset the page's gateway to `HOST:PORT`")
	fs.StringVar(&o.pageUser, "page-user", "", "preset the page's user to `USER`")
	fs.StringVar(&o.pathPrefix, "path-prefix", "", "serve the page and the relay under `PATH` (e.g. /tunnel/), for a balancer routing by path")
	fs.Var(&o.acme.domains, "acme-domain", "get and renew a certificate for `NAME` by ACME (TLS-ALPN-01 on --listen; repeatable)")
	fs.StringVar(&o.acme.cache, "acme-cache", "", "keep ACME account and certificates in `DIR` (made 0700)")
	fs.StringVar(&o.acme.email, "acme-email", "", "contact `ADDRESS` for the ACME account")
	fs.StringVar(&o.acme.ca, "acme-ca", "", "ACME directory `URL` (default Let's Encrypt)")
	fs.StringVar(&o.acme.caRoot, "acme-ca-root", "", "trust root `PEMFILE` for talking to --acme-ca")
	if err := parseFlags(fs, serveUsage, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, badUsage("serve", "unexpected argument %q (rules go after --allow)", fs.Arg(0))
	}
	if o.configFile != "" {
		if err := applyConfigFile(fs, o.configFile); err != nil {
			return nil, err
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, badUsage("serve", "--tls-cert and --tls-key go together")
	}
	if err := o.acme.check(o.tlsCert); err != nil {
		return nil, err
	}
	var err error
	if o.page, err = o.pageConfig(); err != nil {
		return nil, err
	}
	if o.pathPrefix, err = cleanPrefix(o.pathPrefix); err != nil {
		return nil, err
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
// --rules and --token-file files, and checks it is safe to expose.
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
		ResumeWindow:        o.resumeWindow,
		Logger:              logger,
		ExtraPublicHosts:    o.acme.domains, // the names its certificates are for
	}
	if o.rules != "" {
		a, al, err := readRuleFile(o.rules)
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

// readRuleFile reads --rules FILE.
func readRuleFile(file string) (allow, allowListen []string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--rules: %w", err)
	}
	defer f.Close()
	allow, allowListen, err = relay.ParseRuleFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("--rules %s: %w", file, err)
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
	handler, stopMetrics, err := o.startMetrics(rl, o.publicHandler(rl, o.page))
	if err != nil {
		ln.Close()
		rl.Shutdown(context.Background())
		return err
	}
	defer stopMetrics()
	ln = rl.LimitListener(ln) // --max-conns-per-client
	srv := &http.Server{
		Handler: handler,
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
	if o.tlsCert != "" || o.acme.on() {
		scheme = "https"
	}
	if o.acme.on() {
		m, err := o.acme.manager()
		if err != nil {
			ln.Close()
			rl.Shutdown(context.Background())
			return err
		}
		srv.TLSConfig = acmeTLSConfig(m)
		o.acme.prefetch(m, cfg.Logger)
	}
	for _, line := range describePolicy(cfg) {
		fmt.Fprintln(os.Stderr, "tunnelkit serve: "+line)
	}
	if len(cfg.Allow)+len(cfg.AllowListen) == 0 && len(cfg.Tokens) == 0 {
		fmt.Fprintln(os.Stderr, "tunnelkit serve: no --allow or --allow-listen rules: the relay will refuse every stream")
	}
	// Last, so that whoever waits for this line has the policy too.
	fmt.Fprintf(os.Stderr, "tunnelkit serve: listening on %s://%s%s\n", scheme, ln.Addr(), cmp.Or(o.pathPrefix, "/"))
	stopReload := o.reloadOnHangup(ctx, rl, cfg)
	defer stopReload()
	return serveThenDrain(ctx, "serve", srv, rl, o.drain, func() error {
		if o.tlsCert != "" || o.acme.on() {
			return srv.ServeTLS(ln, o.tlsCert, o.tlsKey) // with ACME both are "": TLSConfig has them
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
