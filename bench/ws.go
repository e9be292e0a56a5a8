package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/coder/websocket"
)

// wsKind says which WebSocket-to-TCP bridge a client talks to.
type wsKind int

const (
	wsWebsockify wsKind = iota // websockify: subprotocol "binary", data from the first message
	wsTunnelkit                // tunnelkit relay: subprotocol "tunnelkit.v1", an "open" control message first
)

// dialWS opens one WebSocket stream and returns it as a net.Conn that sends
// each Write as one binary message. The same client drives websockify and the
// tunnelkit relay, so the comparison is between the bridges alone.
func dialWS(ctx context.Context, url string, kind wsKind) (net.Conn, error) {
	proto := "binary"
	if kind == wsTunnelkit {
		proto = "tunnelkit.v1"
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(hctx, url, &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		return nil, fmt.Errorf("websocket %s: %w", url, err)
	}
	if kind == wsTunnelkit {
		typ, msg, err := c.Read(hctx)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("relay stream %s: %w", url, err)
		}
		var open struct{ Type, Addr string }
		if typ != websocket.MessageText || json.Unmarshal(msg, &open) != nil || open.Type != "open" {
			c.CloseNow()
			return nil, fmt.Errorf("relay stream %s: want an open message first, got %q", url, msg)
		}
	}
	return websocket.NetConn(ctx, c, websocket.MessageBinary), nil
}
