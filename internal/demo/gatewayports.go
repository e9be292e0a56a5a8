package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Network is where a gateway opens sockets when it is not on loopback TCP:
// a host of the lab network (see internal/lab) is one.
type Network interface {
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	ListenAs(ctx context.Context, tag, network, addr string) (net.Listener, error)
}

// GatewayPorts is sshd_config's GatewayPorts: where a gateway binds the
// entry socket of a remote forward (-R) for the address the client asks.
type GatewayPorts int

const (
	// GatewayPortsNo binds loopback only, whatever the client asks
	// (sshd's default): the entry socket is reachable from the gateway alone.
	GatewayPortsNo GatewayPorts = iota
	// GatewayPortsYes binds every address, whatever the client asks.
	GatewayPortsYes
	// GatewayPortsClientSpecified binds what the client asks: "" or "*" all
	// addresses, "localhost" loopback, anything else that address.
	GatewayPortsClientSpecified
)

func (m GatewayPorts) String() string {
	switch m {
	case GatewayPortsYes:
		return "yes"
	case GatewayPortsClientSpecified:
		return "clientspecified"
	}
	return "no"
}

// ParseGatewayPorts reads "no", "yes" or "clientspecified".
func ParseGatewayPorts(s string) (GatewayPorts, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "no":
		return GatewayPortsNo, nil
	case "yes":
		return GatewayPortsYes, nil
	case "clientspecified":
		return GatewayPortsClientSpecified, nil
	}
	return 0, fmt.Errorf("GatewayPorts %q: want no, yes or clientspecified", s)
}

// bindAddr is the address sshd binds for a tcpip-forward asking for
// requested (OpenSSH's channel_fwd_bind_addr, server side).
func (m GatewayPorts) bindAddr(requested string) string {
	switch {
	case m == GatewayPortsYes:
		return "0.0.0.0"
	case m == GatewayPortsClientSpecified && (requested == "" || requested == "*"):
		return "0.0.0.0"
	case m == GatewayPortsClientSpecified && requested != "localhost":
		return requested
	case requested == "127.0.0.1":
		return requested // an explicit loopback address is taken as asked
	}
	return "127.0.0.1"
}

// permitOpen is sshd_config's PermitOpen: which exit sockets direct-tcpip
// may reach, matched against the host as the client named it. Empty or
// "any" allows all, "none" nothing; entries are HOST:PORT, HOST:* or *:PORT.
type permitOpen []string

func (p permitOpen) allows(host string, port uint32) bool {
	if len(p) == 0 {
		return true
	}
	for _, e := range p {
		switch e {
		case "any":
			return true
		case "none":
			return false
		}
		h, ps, err := net.SplitHostPort(e)
		if err != nil {
			continue
		}
		if (h == "*" || strings.EqualFold(h, host)) && (ps == "*" || ps == strconv.Itoa(int(port))) {
			return true
		}
	}
	return false
}

// ParsePermitOpen reads sshd_config's PermitOpen value: "any", "none", or
// HOST:PORT entries (HOST or PORT may be "*") separated by spaces.
func ParsePermitOpen(s string) ([]string, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New(`PermitOpen is empty: give "any", "none" or HOST:PORT entries`)
	}
	for _, f := range fields {
		if f == "any" || f == "none" {
			if len(fields) > 1 {
				return nil, fmt.Errorf("PermitOpen %q: %s stands alone", s, f)
			}
			continue
		}
		_, p, err := net.SplitHostPort(f)
		if err != nil {
			return nil, fmt.Errorf("PermitOpen entry %q: want HOST:PORT, HOST:* or *:PORT", f)
		}
		if n, err := strconv.Atoi(p); p != "*" && (err != nil || n < 1 || n > 65535) {
			return nil, fmt.Errorf("PermitOpen entry %q: port must be 1-65535 or *", f)
		}
	}
	return fields, nil
}
