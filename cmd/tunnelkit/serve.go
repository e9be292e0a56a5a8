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
(169.254.0.0/16, fe80::/10, fd00:ec2::254) need a rule naming them by
address.

flags:
`

// serveOptions is the command line of tunnelkit serve.
type serveOptions struct {
	listen, config, tokenFile, publicHost string
	allow, allowListen, origins, proxies  repeated
	maxStreams, maxPerClient              int
	maxMsg                                int64
	idle, dialTimeout, drain              time.Duration
	resumeWindow                          time.Duration
	logFormat, tlsCert, tlsKey            string
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
	fs.StringVar(&o.tokenFile, "token-file", "", "require a token from `FILE`: per line TOKEN [name=NAME] [RULE|listen=RULE]...")
	fs.Var(&o.origins, "allow-origin", "also accept browser pages from `ORIGIN` (host pattern, repeatable)")
	fs.StringVar(&o.publicHost, "public-host", "", "answer only requests for `HOST[:PORT]` (the Host header)")
	fs.Var(&o.proxies, "trusted-proxy", "trust X-Forwarded-For from `CIDR` (repeatable)")
	fs.IntVar(&o.maxStreams, "max-streams", relay.DefaultMaxStreams, "streams at once, overall")
	fs.IntVar(&o.maxPerClient, "max-streams-per-client", relay.DefaultMaxStreamsPerClient, "streams at once per client IP")
	fs.Int64Var(&o.maxMsg, "max-message-size", relay.DefaultMaxMessageSize, "largest WebSocket message in `BYTES`")
	fs.DurationVar(&o.idle, "idle-timeout", relay.DefaultIdleTimeout, "close a stream after no data either way for this long")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", relay.DefaultDialTimeout, "resolve and connect within this long")
	fs.DurationVar(&o.resumeWindow, "resume-window", relay.DefaultResumeWindow, "keep a resumable stream's connection this long after its WebSocket drops, for its client to come back")
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
		PublicHost:          o.publicHost,
		TrustedProxies:      o.proxies,
		MaxStreams:          o.maxStreams,
		MaxStreamsPerClient: o.maxPerClient,
		MaxMessageSize:      o.maxMsg,
		IdleTimeout:         o.idle,
		DialTimeout:         o.dialTimeout,
		ResumeWindow:        o.resumeWindow,
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
	srv := &http.Server{
		Handler:           rl.WithUI(web.Handler()),
		ReadHeaderTimeout: rl.HandshakeTimeout(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		// No ReadTimeout or WriteTimeout: they would cut long streams.
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
