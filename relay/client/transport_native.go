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

	"github.com/coder/websocket"
)

// wsTransport is a coder/websocket connection. Reads go through Reader,
// which streams each message from the connection's own buffers, and writes
// through Write, which frames p straight into the connection's buffered
// writer: no allocation per message either way.
type wsTransport struct {
	c *websocket.Conn
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
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
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
	c.SetReadLimit(maxMessage)
	return &wsTransport{c: c}, nil
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
	return nil
}

func (t *wsTransport) close(code int, reason string) error {
	err := t.c.Close(websocket.StatusCode(code), reason)
	if err != nil && (errors.Is(err, net.ErrClosed) || websocket.CloseStatus(err) != -1) {
		return nil // already closed, by either side
	}
	return err
}

func (t *wsTransport) setReadLimit(n int64) { t.c.SetReadLimit(n) }

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
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &CloseError{Code: closeAbnormal}
	}
	return err
}
