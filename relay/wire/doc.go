// Package wire is the Go form of the tunnelkit relay protocol
// (relay/PROTOCOL.md): its control messages, close codes, subprotocol
// names and limits, written once for the relay, its client and the page.
// It depends on nothing but the standard library, so every side can import
// it, natively and under GOOS=js.
package wire

const (
	// Subprotocol is the WebSocket subprotocol of every stream.
	Subprotocol = "tunnelkit.v1"
	// TokenPrefix carries a relay token as a second subprotocol,
	// TokenPrefix+TOKEN, so it never appears in a URL.
	TokenPrefix = "tunnelkit.token."

	// DefaultMaxMessage is the message size limit a side assumes until the
	// relay announces its own ("max" in its first message).
	DefaultMaxMessage = 1 << 20

	// MaxControl bounds a control message, in bytes.
	MaxControl = 4096

	// DefaultFlowWindow is the flow control window a client asks for
	// (?flow=WINDOW) when it cannot push back on the relay; the relay
	// clamps what is asked to MinFlowWindow..MaxFlowWindow.
	DefaultFlowWindow = 8 << 20
	MinFlowWindow     = 64 << 10
	MaxFlowWindow     = 64 << 20

	// DefaultAcceptWindow is the flow control window of each connection
	// accepted on a listen control stream unless the client asks for
	// another (?flow=WINDOW on /v1/listen, clamped to
	// MinFlowWindow..MaxAcceptWindow): connections share one WebSocket,
	// so each has its own window and the page's queue stays bounded.
	DefaultAcceptWindow = 256 << 10
	MaxAcceptWindow     = 1 << 20

	// MaxAccepted bounds the connections open at once on one listen
	// control stream; the relay closes more at once.
	MaxAccepted = 64

	// UpCredit is what the relay lets a client with flow control send
	// before acknowledging it ("credit" in the open message).
	UpCredit = 1 << 20
)
