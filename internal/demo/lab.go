package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"tunnelkit/internal/lab"
	"tunnelkit/internal/tcpserve"
	"tunnelkit/relay"
)

// The training lab of "SSH tunneling explained": four hosts and two SSH
// gateways on a network inside the process, a pinger on port 4444 where the
// scenarios need one, and one relay per host so that the page can act as
// any of them. Nothing of it listens on the machine: the page reaches it
// through the demo's own --listen address only.

// labHost is a machine of the lab and its external address (TEST-NET-1,
// RFC 5737: documentation addresses that no real network routes).
type labHost struct {
	name, addr string
	gateway    bool // runs sshd (user dev)
	pinger     bool // runs the pinger on 0.0.0.0:4444
}

var labHosts = []labHost{
	{name: "host1", addr: "192.0.2.1"},
	{name: "host2", addr: "192.0.2.2", pinger: true},
	{name: "host3", addr: "192.0.2.3", pinger: true},
	{name: "host4", addr: "192.0.2.4", pinger: true},
	{name: "gateway1", addr: "192.0.2.11", gateway: true},
	{name: "gateway2", addr: "192.0.2.12", gateway: true},
}

// LabUser is the lab gateways' user, as in the seed.
const LabUser = "dev"

// PingerPort is where the lab's pingers listen.
const PingerPort = 4444

// labDefaultPorts is GatewayPorts on a fresh (or reset) lab: the seed's R2
// and R3 need gateways that bind what the client asks.
const labDefaultPorts = GatewayPortsClientSpecified

// labDrain bounds how long closing the lab waits for its relay streams.
const labDrain = 2 * time.Second

// Lab is the running training lab.
type Lab struct {
	Net      *lab.Network
	Gateways map[string]*Gateway // by host name
	Password string              // the lab user's; the lab reaches nothing outside the process

	relays  map[string]*relay.Relay // by host name: the page acting as that host
	pingers []*tcpserve.Server
	log     *slog.Logger
}

// StartLab builds the lab network and starts its gateways, pingers and
// relays; on error nothing is left running.
func StartLab(ctx context.Context, logger *slog.Logger) (*Lab, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Lab{Net: lab.New(), Gateways: map[string]*Gateway{}, relays: map[string]*relay.Relay{}, Password: randomPassword(), log: logger}
	fail := func(what string, err error) (*Lab, error) {
		l.Close()
		return nil, fmt.Errorf("lab %s: %w", what, err)
	}
	for _, lh := range labHosts {
		h, err := l.Net.AddHost(lh.name, netip.MustParseAddr(lh.addr))
		if err != nil {
			return fail(lh.name, err)
		}
		if lh.pinger {
			ln, err := h.ListenAs(ctx, "pinger", "tcp", fmt.Sprintf("0.0.0.0:%d", PingerPort))
			if err != nil {
				return fail(lh.name+" pinger", err)
			}
			l.pingers = append(l.pingers, tcpserve.Serve(ln, pinger))
		}
		if lh.gateway {
			ln, err := h.ListenAs(ctx, "sshd", "tcp", "0.0.0.0:22")
			if err != nil {
				return fail(lh.name+" sshd", err)
			}
			g, err := StartGateway(ctx, GatewayConfig{
				Listener: ln, Net: h, GatewayPorts: labDefaultPorts,
				User: LabUser, Password: l.Password, Logger: logger.With("lab", lh.name),
			})
			if err != nil {
				ln.Close()
				return fail(lh.name+" sshd", err)
			}
			l.Gateways[lh.name] = g
		}
		rl, err := relay.New(relay.Config{
			// The lab's addresses only: the host's dialer cannot leave the lab anyway.
			Allow:       []string{"192.0.2.0/24:*", "127.0.0.0/8:*"},
			AllowListen: []string{"192.0.2.0/24:*", "127.0.0.0/8:*", "0.0.0.0:*"},
			Dial:        h.Dial,
			// Entry sockets the page opens as this host are the ssh client's.
			Listen: func(ctx context.Context, network, addr string) (net.Listener, error) {
				return h.ListenAs(ctx, "ssh", network, addr)
			},
			Resolver: h,
			Logger:   logger.With("lab", lh.name),
		})
		if err != nil {
			return fail(lh.name+" relay", err)
		}
		l.relays[lh.name] = rl
	}
	return l, nil
}

// Close stops the gateways, then the relays (their streams to the gateways
// have ended, so the drain is short) and the pingers.
func (l *Lab) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), labDrain)
	defer cancel()
	var errs []error
	for _, g := range l.Gateways {
		errs = append(errs, g.Close())
	}
	for _, rl := range l.relays {
		if err := rl.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
	}
	for _, p := range l.pingers {
		p.Close()
	}
	l.relays, l.Gateways, l.pingers = nil, nil, nil
	return errors.Join(errs...)
}

var _ io.Closer = (*Lab)(nil)
