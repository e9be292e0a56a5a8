package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"tunnelkit/internal/lab"
	"tunnelkit/relay"
	"tunnelkit/web"
)

// Options configures the demo. By default its gateway and exit services
// live only on the demo's network inside the process; Gateway, Web, Echo
// and Pinger, when set, also expose that part on that loopback TCP address
// (port 0: a free port), e.g. for OpenSSH's ssh.
type Options struct {
	Gateway, Web, Echo, Pinger string
	User, Password             string // default "demo" and a random password
	Logger                     *slog.Logger
}

// Demo is a running demo world: the gateway and the exit services.
type Demo struct {
	Gateway *Gateway
	// GatewayAddr and the exits, as the page, the gateway and the relay
	// name them on the demo's network: "gateway:22", "web:80", ...
	GatewayAddr, WebAddr, EchoAddr, Pinger string
	// The loopback TCP addresses of the parts Options exposed, else "".
	GatewayTCP, WebTCP, EchoTCP, PingerTCP string
	Net                                    *lab.Network // the demo's hosts
	Lab                                    *Lab         // the training lab, inside the process

	net     *demoNet
	closers []io.Closer
}

// Start starts the gateway and the services; on error nothing is left running.
func Start(ctx context.Context, o Options) (*Demo, error) {
	d := &Demo{
		GatewayAddr: hostPort(GatewayHost, GatewayPort),
		WebAddr:     hostPort(WebHost, WebPort),
		EchoAddr:    hostPort(EchoHost, EchoPort),
		Pinger:      hostPort(PingerHost, PingerPort),
	}
	fail := func(what string, err error) (*Demo, error) {
		d.Close()
		return nil, fmt.Errorf("demo %s: %w", what, err)
	}
	n, err := newDemoNet()
	if err != nil {
		return fail("network", err)
	}
	d.net, d.Net = n, n.net
	in, ext, err := listenPart(ctx, n.web, "http", WebPort, o.Web)
	if err != nil {
		return fail("web service", err)
	}
	d.closers = append(d.closers, startWeb(in, ext))
	d.WebTCP = addrOf(ext)
	in, ext, err = listenPart(ctx, n.echo, "echo", EchoPort, o.Echo)
	if err != nil {
		return fail("echo service", err)
	}
	for _, s := range serveEach(echo, in, ext) {
		d.closers = append(d.closers, s)
	}
	d.EchoTCP = addrOf(ext)
	in, ext, err = listenPart(ctx, n.p, "pinger", PingerPort, o.Pinger)
	if err != nil {
		return fail("pinger service", err)
	}
	for _, s := range serveEach(pinger, in, ext) {
		d.closers = append(d.closers, s)
	}
	d.PingerTCP = addrOf(ext)
	in, ext, err = listenPart(ctx, n.gateway, "sshd", GatewayPort, o.Gateway)
	if err != nil {
		return fail("gateway", err)
	}
	g, err := StartGateway(ctx, GatewayConfig{
		Listener: in, Also: ext, DialExit: n.dialExit,
		User: o.User, Password: o.Password, Logger: o.Logger,
	})
	if err != nil {
		in.Close()
		if ext != nil {
			ext.Close()
		}
		return fail("gateway", err)
	}
	d.closers = append(d.closers, g)
	d.Gateway = g
	d.GatewayTCP = addrOf(ext)
	lb, err := StartLab(ctx, o.Logger)
	if err != nil {
		return fail("lab", err)
	}
	d.closers = append(d.closers, lb)
	d.Lab = lb
	return d, nil
}

// listenPart binds a part of the demo on its host of the demo network and,
// when expose is set, on that loopback TCP address too (ext; else nil).
func listenPart(ctx context.Context, h *lab.Host, tag string, port int, expose string) (in, ext net.Listener, err error) {
	if in, err = h.ListenAs(ctx, tag, "tcp", hostPort("0.0.0.0", port)); err != nil {
		return nil, nil, err
	}
	if expose == "" {
		return in, nil, nil
	}
	if requireLoopback(expose) != nil {
		in.Close()
		return nil, nil, fmt.Errorf("expose on %s: the demo exposes its parts on loopback only (127.0.0.1, ::1)", expose)
	}
	if ext, err = net.Listen("tcp", expose); err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("listen on %s: %w (choose another address)", expose, err)
	}
	return in, ext, nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Close stops everything and waits for it.
func (d *Demo) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i].Close())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// Allow is the relay's dial policy for the demo: the gateway and the
// services by name (and where Options exposed them), nothing else.
func (d *Demo) Allow() []string {
	allow := []string{d.GatewayAddr, d.WebAddr, d.EchoAddr, d.Pinger}
	for _, a := range []string{d.GatewayTCP, d.WebTCP, d.EchoTCP, d.PingerTCP} {
		if a != "" {
			allow = append(allow, a)
		}
	}
	return allow
}

// AllowListen is the relay's listen policy for the demo: any port of
// 127.0.0.1 (entry sockets of -L forwards made in the page; "localhost"
// resolves to it). These are the person's own forwards, on this machine.
func (d *Demo) AllowListen() []string {
	return []string{"127.0.0.1:*"}
}

// RelayConfig is the main relay's configuration for the demo: its policy,
// and dials and name lookups that stay on the demo's network inside the
// process (loopback for the parts Options exposed). Its listen bridge
// binds on this machine's loopback, where a browser tab can open it.
func (d *Demo) RelayConfig(logger *slog.Logger) relay.Config {
	return relay.Config{
		Allow:       d.Allow(),
		AllowListen: d.AllowListen(),
		Dial:        d.net.relayDial,
		Resolver:    d.net.relay,
		Logger:      logger,
	}
}

// Suggestion is a forward the page offers as a one-click example.
type Suggestion struct {
	Spec  string `json:"spec"`
	Label string `json:"label"`
}

// Info is what the page may prefill: never the password.
type Info struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
	// HostKey is the gateway's fingerprint: each run makes a fresh key
	// for the same gateway:22, so the page forgets a key it remembered from
	// an earlier run (and still asks the person to compare the printed one).
	HostKey  string       `json:"hostKey"`
	Note     string       `json:"note"`
	Forwards []Suggestion `json:"forwards"`
}

func (d *Demo) Info() Info {
	return Info{
		Host:    GatewayHost,
		Port:    GatewayPort,
		User:    d.Gateway.User,
		HostKey: d.Gateway.Fingerprint(),
		Note: fmt.Sprintf("Demo mode: the gateway and its exit services (%s, %s, %s) run inside tunnelkit, on a network of their own that opens no port on this machine. The password is printed in the terminal that started tunnelkit demo.",
			d.WebAddr, d.EchoAddr, d.Pinger),
		Forwards: []Suggestion{
			{"-L 127.0.0.1:0:" + d.WebAddr, "web page: open the entry address"},
			{"-L 127.0.0.1:0:" + d.Pinger, "pinger: each line gets ACK <line>"},
			{"-L 127.0.0.1:0:" + d.EchoAddr, "echo service"},
			{"-R 127.0.0.1:0:" + d.WebAddr, "publish the web page on the gateway"},
		},
	}
}

// InfoHandler serves Info as JSON (the page's /demo.json).
func (d *Demo) InfoHandler() http.Handler {
	body, _ := json.Marshal(d.Info())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	})
}

// Handler serves the demo's page: the relay's routes, /demo.json, and the UI.
func (d *Demo) Handler(rl *relay.Relay) http.Handler {
	ui := http.NewServeMux()
	ui.Handle("/demo.json", d.InfoHandler())
	// Not "/lab/": ServeMux would redirect the page's /lab to /lab/.
	lh := d.Lab.Handler()
	ui.Handle("/lab/relay/", lh)
	ui.Handle("/lab/api/", lh)
	ui.Handle("/", web.Handler())
	return rl.WithUI(ui)
}

// QuickStart is the text printed at start: how to use the demo from pageURL.
func (d *Demo) QuickStart(pageURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `tunnelkit demo is running (Ctrl-C to stop)

  1. open %s
  2. connect to gateway %s as %s / %s
     (host key %s)
  3. add forward -L 127.0.0.1:0:%s, then open the entry address it shows

exit services: %s (a web page), %s (echo), %s (answers "ACK <line>")
  the gateway and these run inside this process and open no port on this machine
`, pageURL, d.GatewayAddr, d.Gateway.User, d.Gateway.Password, d.Gateway.Fingerprint(),
		d.WebAddr, d.WebAddr, d.EchoAddr, d.Pinger)
	var exposed []string
	for _, e := range []struct{ name, addr string }{
		{"gateway", d.GatewayTCP}, {"web", d.WebTCP}, {"echo", d.EchoTCP}, {"pinger", d.PingerTCP},
	} {
		if e.addr != "" {
			exposed = append(exposed, e.name+" "+e.addr)
		}
	}
	if len(exposed) > 0 {
		fmt.Fprintf(&b, "  also on this machine's loopback, as asked: %s\n", strings.Join(exposed, ", "))
	}
	fmt.Fprintf(&b, "training lab: %s/lab (six hosts inside this process, the seed's six scenarios)\n", pageURL)
	if ap, err := netip.ParseAddrPort(d.GatewayTCP); err == nil {
		fmt.Fprintf(&b, "same with OpenSSH: ssh -N -L 8081:%s -p %d %s@%s\n", d.WebAddr, ap.Port(), d.Gateway.User, ap.Addr())
	} else {
		fmt.Fprintf(&b, "same with OpenSSH: start with --gateway 127.0.0.1:2222, then ssh -N -L 8081:%s -p 2222 %s@127.0.0.1\n", d.WebAddr, d.Gateway.User)
	}
	return b.String()
}
