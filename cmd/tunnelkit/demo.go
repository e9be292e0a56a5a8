package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"tunnelkit/internal/demo"
	"tunnelkit/relay"
)

func init() { commands["demo"] = runDemo }

const demoUsage = `usage: tunnelkit demo [--listen ADDR] [flags]

Runs everything in one process: the relay and the web UI on --listen, a
demo SSH gateway (gateway:22, user "demo", a fresh password and host key
each run), and sample exit services to forward to: a web page (web:80), an
echo service (echo:7) and a pinger that answers "ACK <line>" (pinger:4444).
The gateway and the services live on a network inside the process: the demo
itself listens on --listen only (the page's -L entry sockets bind on
loopback when you open them). Open the printed URL and follow the three steps.
A training lab (six hosts inside the process, the six scenarios of "SSH
tunneling explained") is at /lab. Ctrl-C stops it all.

--gateway, --web, --echo and --pinger also expose that part on a loopback
TCP address (port 0: a free port), e.g. --gateway 127.0.0.1:2222 for
OpenSSH's ssh.

flags:
`

// demoOut receives the quick start (a variable for tests).
var demoOut io.Writer = os.Stdout

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "serve the page and relay on `ADDR` (loopback only)")
	gateway := fs.String("gateway", "", "also serve the demo SSH gateway on loopback `ADDR` (port 0: a free port)")
	webAddr := fs.String("web", "", "also serve the demo web service on loopback `ADDR`")
	echoAddr := fs.String("echo", "", "also serve the demo echo service on loopback `ADDR`")
	pingerAddr := fs.String("pinger", "", "also serve the demo pinger on loopback `ADDR`")
	password := fs.String("password", "", "demo user's password (default: random)")
	verbose := fs.Bool("v", false, "log the relay's and the gateway's activity to stderr")
	if err := parseFlags(fs, demoUsage, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage("demo", "unexpected argument %q", fs.Arg(0))
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", *listen, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("--listen %s: the demo serves loopback only (use tunnelkit serve for anything else)", *listen)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Gateway: *gateway, Web: *webAddr, Echo: *echoAddr, Pinger: *pingerAddr,
		Password: *password, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer d.Close()

	rcfg := d.RelayConfig(logger)
	rcfg.ServedOn = *listen // the Host rule: the demo answers its own --listen address
	rl, err := relay.New(rcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		rl.Shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w (try --listen 127.0.0.1:0; with make: make run LISTEN=127.0.0.1:9000)", *listen, err)
	}
	ln = rl.LimitListener(ln)
	srv := &http.Server{
		Handler:           d.Handler(rl),
		ReadHeaderTimeout: rl.HandshakeTimeout(),
		ReadTimeout:       rl.HandshakeTimeout(), // cleared when a stream hijacks the connection
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprint(demoOut, d.QuickStart("http://"+ln.Addr().String()))
	// The deferred d.Close then stops the gateway and the services.
	return serveThenDrain(ctx, "demo", srv, rl, 3*time.Second, func() error { return srv.Serve(ln) })
}
