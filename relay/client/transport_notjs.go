//go:build !js

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// wsTransport is a coder/websocket connection. Reads go through Reader,
// which streams each message from the connection's own buffers, and writes
// through Write, which frames p straight into the connection's buffered
// writer: no allocation per message either way. The connection underneath
// is a corkConn, so a message reaches the socket in one write, not one per
// 4 KiB.
type wsTransport struct {
	c    *websocket.Conn
	cork *corkConn // the TCP connection under c (and under TLS for wss)
}

func resolveRelayURL(relayURL string) (*url.URL, error) {
	u, err := url.Parse(relayURL)
	if err != nil {
		return nil, fmt.Errorf("relay URL %q: %v", relayURL, err)
	}
	return u, nil
}

func dialTransport(ctx context.Context, u string, protocols []string, o *Options) (transport, error) {
	h := http.Header{}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	hc, conn := corkedHTTPClient()
	defer hc.CloseIdleConnections()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:      hc,
		Subprotocols:    protocols,
		HTTPHeader:      h,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body := ""
			if resp.Body != nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				body = strings.TrimSpace(string(b))
			}
			if body != "" {
				body = ": " + body
			}
			return nil, fmt.Errorf("relay %s refused the WebSocket upgrade: %s%s", redact(u), resp.Status, body)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("could not reach relay %s: %w", redact(u), ctx.Err())
		}
		return nil, fmt.Errorf("could not reach relay %s: %v", redact(u), unwrapDial(err))
	}
	c.SetReadLimit(wire.DefaultMaxMessage)
	t := &wsTransport{c: c, cork: conn()}
	if t.cork != nil {
		t.cork.cork()
	}
	return t, nil
}

// corkedHTTPClient is an HTTP client like the default one whose
// connections are corkConns; conn returns the last one it dialed.
func corkedHTTPClient() (hc *http.Client, conn func() *corkConn) {
	var mu sync.Mutex
	var last *corkConn
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &corkConn{Conn: nc}
		mu.Lock()
		last = cc
		mu.Unlock()
		return cc, nil
	}
	return &http.Client{Transport: tr}, func() *corkConn {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// unwrapDial keeps the innermost useful part of a dial error (the
// net.OpError), dropping the wrapping that repeats the URL.
func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	return err
}

func (t *wsTransport) next(ctx context.Context) (bool, io.Reader, error) {
	typ, r, err := t.c.Reader(ctx)
	if err != nil {
		return false, nil, closeErr(err)
	}
	return typ == websocket.MessageText, r, nil
}

func (t *wsTransport) write(ctx context.Context, text bool, p []byte) error {
	typ := websocket.MessageBinary
	if text {
		typ = websocket.MessageText
	}
	if err := t.c.Write(ctx, typ, p); err != nil {
		return closeErr(err)
	}
	if t.cork != nil {
		// A frame whose tail was exactly corkChunk bytes is still held.
		if err := t.cork.Flush(); err != nil {
			return closeErr(err)
		}
	}
	return nil
}

func (t *wsTransport) close(code wire.CloseCode, reason string) error {
	err := t.c.Close(websocket.StatusCode(code), reason)
	if err != nil && (errors.Is(err, net.ErrClosed) || websocket.CloseStatus(err) != -1) {
		return nil // already closed, by either side
	}
	return err
}

func (t *wsTransport) setRelayMax(n int64) { t.c.SetReadLimit(max(n, wire.DefaultMaxMessage)) }

// flowWindow is 0: natively TCP already pushes back on the relay when the
// reader is slow, and an ack written here could wait behind a blocked data
// write.
const flowWindow = 0

func (t *wsTransport) setFlow(int64, int64) {}
func (t *wsTransport) consumed(int)         {}

func (t *wsTransport) writable(context.Context) (int, error) { return math.MaxInt, nil }

func (t *wsTransport) subprotocol() string { return t.c.Subprotocol() }

// closeErr turns a received close into a *CloseError.
func closeErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: wire.CloseCode(ce.Code), Reason: ce.Reason}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &CloseError{Code: wire.CloseAbnormal}
	}
	return err
}
