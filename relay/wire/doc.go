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

	// UpCredit is what the relay lets a client with flow control send
	// before acknowledging it ("credit" in the open message).
	UpCredit = 1 << 20
)
