package demo

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"tunnelkit/internal/lab"
)

// The main demo's machines live on a network inside the process, as the
// training lab's do: the SSH gateway and each exit service is a host of its
// own, reached by name, and the relay is one more host that dials them for
// the page. Nothing of it listens on the machine; Options can expose any
// part on loopback TCP as well (for OpenSSH's ssh, say).

// The demo's hosts and ports, as the page and the quick start name them.
const (
	GatewayHost = "gateway"
	WebHost     = "web"
	EchoHost    = "echo"
	PingerHost  = "pinger"
	relayHost   = "relay" // where the relay's dials come from

	GatewayPort = 22
	WebPort     = 80
	EchoPort    = 7 // the echo protocol's port (RFC 862)
	// PingerPort (4444) is the lab's, as in the seed.
)

// demoHosts gives each host an address from TEST-NET-2 (RFC 5737), which
// no real network routes and the lab's TEST-NET-1 does not overlap.
var demoHosts = []struct{ name, addr string }{
	{relayHost, "198.51.100.1"},
	{GatewayHost, "198.51.100.2"},
	{WebHost, "198.51.100.3"},
	{EchoHost, "198.51.100.4"},
	{PingerHost, "198.51.100.5"},
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// demoNet is the main demo's network and its hosts.
type demoNet struct {
	net                          *lab.Network
	relay, gateway, web, echo, p *lab.Host
}

func newDemoNet() (*demoNet, error) {
	n := &demoNet{net: lab.New()}
	hosts := map[string]*lab.Host{}
	for _, dh := range demoHosts {
		h, err := n.net.AddHost(dh.name, netip.MustParseAddr(dh.addr))
		if err != nil {
			return nil, err
		}
		hosts[dh.name] = h
	}
	n.relay, n.gateway, n.web, n.echo, n.p = hosts[relayHost], hosts[GatewayHost], hosts[WebHost], hosts[EchoHost], hosts[PingerHost]
	return n, nil
}

// isDemoHost reports whether host names a host of the demo network, by
// name or by address.
func (n *demoNet) isDemoHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		for _, h := range n.net.Hosts() {
			if h.Addr == a.Unmap() {
				return true
			}
		}
		return false
	}
	return n.net.Host(strings.TrimSuffix(host, ".")) != nil
}

// ExitRefusedError is the demo gateway's refusal of a -L exit socket it
// does not reach.
type ExitRefusedError struct {
	Target string // host:port as the client asked
}

func (e *ExitRefusedError) Error() string {
	return fmt.Sprintf("the demo gateway reaches its exit services (%s, %s, %s) and this machine's loopback only, not %s",
		hostPort(WebHost, WebPort), hostPort(EchoHost, EchoPort), hostPort(PingerHost, PingerPort), e.Target)
}

// dialExit is the demo gateway's dialer for -L exits: the demo's hosts
// inside the process, and this machine's loopback (where the gateway binds
// the entry sockets of -R), nothing else; no name is looked up outside.
func (n *demoNet) dialExit(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case requireLoopback(addr) == nil:
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	case n.isDemoHost(host):
		return n.gateway.Dial(ctx, network, addr)
	}
	return nil, &ExitRefusedError{Target: addr}
}

// relayDial is the relay's dialer: the relay has resolved and checked the
// address already; the demo's go inside the process, loopback ones (the
// parts exposed on TCP) to the machine, and nothing goes anywhere else.
func (n *demoNet) relayDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case n.isDemoHost(host):
		return n.relay.Dial(ctx, network, addr)
	case requireLoopback(addr) == nil:
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%s is neither a demo host nor loopback", addr)}
}
