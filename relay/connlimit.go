package relay

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// A client that opens connection after connection and never finishes a
// request would hold every file descriptor of the relay: under a 1024
// open-file limit, 1000 requests that promised a body and sent none left
// other clients without even /healthz. So each client address (IPv6: its
// /64) may hold MaxConnsPerClient connections at once, upgraded streams
// included; connections over that are closed as soon as they are
// accepted. It counts the TCP peer, not X-Forwarded-For: a raw connection
// has sent no header yet. Trusted proxies carry many clients and are not
// counted (the streams behind them still are, per forwarded client).

// LimitListener wraps ln, the relay's public listener, with the
// per-client connection cap.
func (r *Relay) LimitListener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, r: r, conns: map[netip.Prefix]*connCount{}}
}

type limitListener struct {
	net.Listener
	r     *Relay
	mu    sync.Mutex
	conns map[netip.Prefix]*connCount
}

type connCount struct {
	n      int
	logged bool // the cap was reported since the count was last under it
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted, ok := l.admit(c)
		switch {
		case !ok:
			c.Close()
		case !counted: // a trusted proxy, or not an IP peer
			return c, nil
		default:
			return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
		}
	}
}

// admit counts c against its client's cap; ok is false when over it.
func (l *limitListener) admit(c net.Conn) (key netip.Prefix, counted, ok bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Prefix{}, false, true
	}
	ip := ap.Addr().Unmap().WithZone("")
	if inPrefixes(ip, l.r.trusted) {
		return netip.Prefix{}, false, true
	}
	key = clientKey(ip)
	max := l.r.cfg.MaxConnsPerClient
	l.mu.Lock()
	cc := l.conns[key]
	if cc == nil {
		cc = &connCount{}
		l.conns[key] = cc
	}
	if cc.n >= max {
		first := !cc.logged
		cc.logged = true
		l.mu.Unlock()
		l.r.metrics.refusals.WithLabelValues("conn_limit").Inc()
		if first {
			l.r.log.Warn("refused", "reason", "conn_limit", "from", clientLabel(ip),
				"close_reason", fmt.Sprintf("too many connections from %s: limit %d; further ones are closed unanswered", clientLabel(ip), max),
				"hint", "see --max-conns-per-client")
		}
		return key, false, false
	}
	cc.n++
	l.mu.Unlock()
	return key, true, true
}

func (l *limitListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cc := l.conns[key]
	if cc == nil {
		return
	}
	if cc.n--; cc.n <= 0 {
		delete(l.conns, key)
	} else if cc.n < l.r.cfg.MaxConnsPerClient {
		cc.logged = false
	}
}

// limitedConn gives its slot back once, on its first Close: net/http and
// the WebSocket it may become both close it.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
