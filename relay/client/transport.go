package client

import (
	"context"
	"io"

	"tunnelkit/relay/wire"
)

// transport is one WebSocket seen as messages. transport_notjs.go wraps
// coder/websocket; transport_js.go drives the browser's WebSocket directly.
type transport interface {
	// next waits for the next message. Its payload reader is valid until
	// the following call. A close by the peer is a *CloseError; after a
	// local close, net.ErrClosed.
	next(ctx context.Context) (text bool, payload io.Reader, err error)

	// write sends p as one message within the relay's limit. Under js it
	// waits while the browser has too much queued.
	write(ctx context.Context, text bool, p []byte) error

	// close sends a close with code and reason and waits, bounded, for the
	// peer's. It is safe to call more than once and concurrently with next.
	close(code wire.CloseCode, reason string) error

	// setRelayMax takes the message size limit the relay announced in its
	// first message (0: none, the protocol's wire.DefaultMaxMessage). The largest
	// message accepted is the larger of the two; under js the limit also
	// bounds the writes gathered into one message.
	setRelayMax(n int64)

	// setFlow turns on flow control with the window the relay granted and
	// the credit it gives for sending.
	setFlow(window, credit int64)

	// writable waits until data may be sent and returns how many bytes at
	// most: with flow control, the credit left.
	writable(ctx context.Context) (int, error)

	// consumed tells the transport that n payload bytes were handed to
	// the reader; with flow control on, it acknowledges them to the relay.
	consumed(n int)

	subprotocol() string
}
