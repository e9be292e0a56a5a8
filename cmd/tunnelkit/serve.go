package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
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

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var allow, allowListen, origins, proxies listFlag
	listen := fs.String("listen", "127.0.0.1:8080", "serve on `ADDR` (HOST:PORT)")
	fs.Var(&allow, "allow", "allow dialing `RULE` (repeatable)")
	fs.Var(&allowListen, "allow-listen", "allow listening on `RULE` (repeatable)")
	config := fs.String("config", "", "read rules from `FILE`: one per line, RULE to dial, listen=RULE to listen, # comments")
	tokenFile := fs.String("token-file", "", "require a token from `FILE`: per line TOKEN [name=NAME] [RULE|listen=RULE]...")
	fs.Var(&origins, "allow-origin", "also accept browser pages from `ORIGIN` (host pattern, repeatable)")
	publicHost := fs.String("public-host", "", "answer only requests for `HOST[:PORT]` (the Host header)")
	fs.Var(&proxies, "trusted-proxy", "trust X-Forwarded-For from `CIDR` (repeatable)")
	maxStreams := fs.Int("max-streams", relay.DefaultMaxStreams, "streams at once, overall")
	maxPerClient := fs.Int("max-streams-per-client", relay.DefaultMaxStreamsPerClient, "streams at once per client IP")
	maxMsg := fs.Int64("max-message-size", relay.DefaultMaxMessageSize, "largest WebSocket message in `BYTES`")
	idle := fs.Duration("idle-timeout", relay.DefaultIdleTimeout, "close a stream after no data either way for this long")
	dialTimeout := fs.Duration("dial-timeout", relay.DefaultDialTimeout, "resolve and connect within this long")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGTERM, let streams finish for this long")
	logFormat := fs.String("log-format", "text", "audit log format: `text` or json")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS/WSS with this certificate `FILE` (with --tls-key)")
	tlsKey := fs.String("tls-key", "", "private key `FILE` for --tls-cert")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (rules go after --allow)", fs.Arg(0))
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}

	var logger *slog.Logger
	switch *logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	case "json":
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	default:
		return fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}

	cfg := relay.Config{
		Allow:               allow,
		AllowListen:         allowListen,
		AllowOrigins:        origins,
		PublicHost:          *publicHost,
		TrustedProxies:      proxies,
		MaxStreams:          *maxStreams,
		MaxStreamsPerClient: *maxPerClient,
		MaxMessageSize:      *maxMsg,
		IdleTimeout:         *idle,
		DialTimeout:         *dialTimeout,
		Logger:              logger,
	}
	if *config != "" {
		f, err := os.Open(*config)
		if err != nil {
			return err
		}
		a, al, err := relay.ParseRuleFile(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *config, err)
		}
		cfg.Allow = append(cfg.Allow, a...)
		cfg.AllowListen = append(cfg.AllowListen, al...)
	}
	if *tokenFile != "" {
		f, err := os.Open(*tokenFile)
		if err != nil {
			return err
		}
		cfg.Tokens, err = relay.ParseTokenFile(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *tokenFile, err)
		}
		if len(cfg.Tokens) == 0 {
			return fmt.Errorf("%s has no tokens", *tokenFile)
		}
	}
	if err := checkExposure(*listen, len(cfg.Tokens) > 0, len(cfg.Allow)+len(cfg.AllowListen) > 0); err != nil {
		return err
	}

	rl, err := relay.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           rl.WithUI(web.Handler()),
		ReadHeaderTimeout: rl.HandshakeTimeout(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// No ReadTimeout or WriteTimeout: they would cut long streams.
	}
	// WebSocket streams need HTTP/1.1 (they take over the connection).
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "tunnelkit serve: listening on %s://%s/\n", scheme, ln.Addr())
	if len(cfg.Allow)+len(cfg.AllowListen) == 0 && len(cfg.Tokens) == 0 {
		fmt.Fprintln(os.Stderr, "tunnelkit serve: no --allow or --allow-listen rules: the relay will refuse every stream")
	}

	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		rl.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(os.Stderr, "tunnelkit serve: shutting down, draining streams for up to %v\n", *drain)
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	go srv.Shutdown(dctx) // stops accepting; WebSocket streams are the relay's
	if err := rl.Shutdown(dctx); err != nil {
		fmt.Fprintln(os.Stderr, "tunnelkit serve: drain timeout: closed the remaining streams")
	}
	srv.Close()
	<-errc
	return nil
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
