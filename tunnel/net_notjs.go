//go:build !js

package tunnel

import (
	"context"
	"fmt"
	"net"
)

// copyBufSize is the per-direction buffer of a forwarded connection. Larger
// reads from the entry socket mean fewer syscalls: on loopback 128 KiB moved
// -L uploads noticeably faster than 32 KiB.
const copyBufSize = 128 << 10

// Dial dials the gateway at addr ("host:port"; port 22 when left out) over
// TCP, or the first of Config.Jump, and calls Connect.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	addr = withDefaultPort(addr)
	first, role := addr, "gateway"
	if len(cfg.Jump) > 0 {
		first, role = withDefaultPort(cfg.Jump[0].Addr), "jump host"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", first)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s %s: %w", role, first, err)
	}
	return Connect(ctx, conn, addr, cfg)
}

// defaultListen binds -L entry sockets on this host. Like OpenSSH, the
// default address binds loopback only; "localhost" is taken as 127.0.0.1 so
// that port 0 gives one socket, not one per address family.
func defaultListen(ctx context.Context, network, address string) (net.Listener, error) {
	if host, port, err := net.SplitHostPort(address); err == nil && host == "localhost" {
		address = net.JoinHostPort("127.0.0.1", port)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, network, address)
}

// defaultDial dials -R exit sockets from this host.
func defaultDial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
