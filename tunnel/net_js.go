package tunnel

import (
	"context"
	"errors"
	"net"
)

// copyBufSize is the per-direction buffer of a forwarded connection: small
// in the browser, where memory is tight and a WebSocket message is at most
// 32 KiB by default anyway.
const copyBufSize = 32 << 10

// Dial is not available in the browser: there is no TCP. Open a conn through
// the relay's dial bridge and pass it to Connect.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	return nil, errors.New("tunnel.Dial: no TCP in the browser: dial " + addr + " through the relay and call tunnel.Connect with that conn")
}

func defaultListen(ctx context.Context, network, address string) (net.Listener, error) {
	return nil, errors.New("no local listener in the browser for entry socket " + address + ": set Config.Listen (for example the relay's listen bridge)")
}

func defaultDial(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errors.New("no TCP in the browser to reach exit socket " + address + ": set Config.Dial (for example the relay's dial bridge)")
}
