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

	"tunnelkit/relay"
	"tunnelkit/web"
)

// Options chooses the demo's addresses; empty ones get a free loopback port.
type Options struct {
	Gateway, Web, Echo, Pinger string
	User, Password             string // default "demo" and a random password
	Logger                     *slog.Logger
}

// Demo is a running demo world: the gateway and the exit services.
type Demo struct {
	Gateway                   *Gateway
	WebAddr, EchoAddr, Pinger string
	Lab                       *Lab // the training lab, inside the process
	closers                   []io.Closer
}

// Start starts the gateway and the services; on error nothing is left running.
func Start(ctx context.Context, o Options) (*Demo, error) {
	d := &Demo{}
	fail := func(what string, err error) (*Demo, error) {
		d.Close()
		return nil, fmt.Errorf("demo %s: %w", what, err)
	}
	addr := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	web, err := startWeb(addr(o.Web))
	if err != nil {
		return fail("web service", err)
	}
	d.closers = append(d.closers, web)
	d.WebAddr = web.Addr()
	echoSvc, err := startService(addr(o.Echo), echo)
	if err != nil {
		return fail("echo service", err)
	}
	d.closers = append(d.closers, echoSvc)
	d.EchoAddr = echoSvc.Addr()
	ping, err := startService(addr(o.Pinger), pinger)
	if err != nil {
		return fail("pinger service", err)
	}
	d.closers = append(d.closers, ping)
	d.Pinger = ping.Addr()
	g, err := StartGateway(ctx, GatewayConfig{Addr: o.Gateway, User: o.User, Password: o.Password, Logger: o.Logger})
	if err != nil {
		return fail("gateway", err)
	}
	d.closers = append(d.closers, g)
	d.Gateway = g
	lb, err := StartLab(ctx, o.Logger)
	if err != nil {
		return fail("lab", err)
	}
	d.closers = append(d.closers, lb)
	d.Lab = lb
	return d, nil
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
// services, nothing else.
func (d *Demo) Allow() []string {
	return []string{d.Gateway.Addr(), d.WebAddr, d.EchoAddr, d.Pinger}
}

// AllowListen is the relay's listen policy for the demo: any port of
// 127.0.0.1 (entry sockets of -L forwards made in the page; "localhost"
// resolves to it).
func (d *Demo) AllowListen() []string {
	return []string{"127.0.0.1:*"}
}

// Suggestion is a forward the page offers as a one-click example.
type Suggestion struct {
	Spec  string `json:"spec"`
	Label string `json:"label"`
}

// Info is what the page may prefill: never the password.
type Info struct {
	Host     string       `json:"host"`
	Port     int          `json:"port"`
	User     string       `json:"user"`
	Note     string       `json:"note"`
	Forwards []Suggestion `json:"forwards"`
}

func (d *Demo) Info() Info {
	gw := d.Gateway.ln.Addr().(*net.TCPAddr)
	return Info{
		Host: gw.IP.String(),
		Port: gw.Port,
		User: d.Gateway.User,
		Note: "Demo mode: the gateway and the services below run inside tunnelkit on this machine. The password is printed in the terminal that started tunnelkit demo.",
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
	lab := d.Lab.Handler()
	ui.Handle("/lab/relay/", lab)
	ui.Handle("/lab/api/", lab)
	ui.Handle("/", web.Handler())
	return rl.WithUI(ui)
}

// QuickStart is the text printed at start: how to use the demo from pageURL.
func (d *Demo) QuickStart(pageURL string) string {
	return fmt.Sprintf(`tunnelkit demo is running (Ctrl-C to stop)

  1. open %s
  2. connect to gateway %s as %s / %s
     (host key %s)
  3. add forward -L 127.0.0.1:0:%s, then open the entry address it shows

exit services: web %s, echo %s, pinger %s (answers "ACK <line>")
training lab: %s/lab (six hosts inside this process, the seed's six scenarios)
same with OpenSSH: ssh -N -L 8081:%s -p %d %s@%s
`, pageURL, d.Gateway.Addr(), d.Gateway.User, d.Gateway.Password, d.Gateway.Fingerprint(),
		d.WebAddr, d.WebAddr, d.EchoAddr, d.Pinger, pageURL,
		d.WebAddr, d.Info().Port, d.Gateway.User, d.Info().Host)
}
