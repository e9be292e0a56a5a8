package tunnel

import (
	"context"
	"fmt"
	"net"
	"time"
)

// socksHandshakeTimeout bounds how long a SOCKS client may take to say
// where it wants to go.
const socksHandshakeTimeout = 30 * time.Second

// serveDynamic reads one SOCKS request from an entry connection of a -D
// forward and opens a direct-tcpip channel to what it asks for. The
// gateway resolves host names (socks5h, SOCKS4a).
func (f *Forward) serveDynamic(id uint64, conn net.Conn) {
	defer f.untrack(id)
	remote := conn.RemoteAddr().String()
	// No deadlines: an entry conn from the relay's listen bridge may not
	// support them. Closing conn ends a stalled handshake.
	hctx, cancel := context.WithTimeout(f.ctx, socksHandshakeTimeout)
	stop := context.AfterFunc(hctx, func() { conn.Close() })
	req, err := readSOCKS(conn)
	if !stop() || err != nil {
		cancel()
		conn.Close()
		if f.ctx.Err() == nil {
			f.connFailed(id, remote, socksReadError(err))
		}
		return
	}
	cancel()

	ctx, cancel := context.WithTimeout(f.ctx, exitDialTimeout)
	exit, err := f.c.openDirect(ctx, req.host, req.port, conn.RemoteAddr())
	cancel()
	if err != nil {
		req.reply(conn, err)
		conn.Close()
		if f.ctx.Err() == nil {
			f.connFailed(id, remote, openError(req.addr(), err))
		}
		return
	}
	if err := req.reply(conn, nil); err != nil {
		exit.Close()
		conn.Close()
		return
	}
	f.log.Debug("SOCKS request", "conn", id, "remote", remote, "exit", req.addr(), "socks", req.version)
	f.relay(id, remote, conn, exit)
}

// socksReadError is why a SOCKS handshake did not finish.
func socksReadError(err error) error {
	if err == nil {
		return fmt.Errorf("no SOCKS request within %v", socksHandshakeTimeout)
	}
	return fmt.Errorf("SOCKS handshake: %w", err)
}
