package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Control message types: the "type" of a text message.
const (
	TypeOpen      = "open"      // relay: a data stream is connected
	TypeListening = "listening" // relay: the listen bridge is bound
	TypeAccept    = "accept"    // relay: the listener accepted a connection
	TypeAck       = "ack"       // either side: bytes consumed (flow control)
)

// Message is a control message: one JSON object in a text message.
// Unknown fields are ignored, so newer sides can add some.
type Message struct {
	Type   string `json:"type"`
	Addr   string `json:"addr,omitempty"`
	ID     string `json:"id,omitempty"`
	Remote string `json:"remote,omitempty"`
	Max    int64  `json:"max,omitempty"`    // the relay's message size limit
	Flow   int64  `json:"flow,omitempty"`   // open: the flow control window granted
	Credit int64  `json:"credit,omitempty"` // open: what the client may send unacknowledged
	N      int64  `json:"n,omitempty"`      // ack: bytes consumed since the last ack; resumed: bytes the relay had received
	Resume string `json:"resume,omitempty"` // open: the stream's resume id (see resume.go)
	Window int64  `json:"window,omitempty"` // open: the resume window, in milliseconds
}

// ParseMessage reads a control message: at most MaxControl bytes, a JSON
// object whose type is 1 to 32 lower-case letters.
func ParseMessage(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxControl {
		return m, fmt.Errorf("control message over %d bytes", MaxControl)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Message{}, fmt.Errorf("malformed control message: %v", err)
	}
	if m.Type == "" || len(m.Type) > 32 {
		return Message{}, errors.New("control message without a valid type")
	}
	for _, c := range []byte(m.Type) {
		if c < 'a' || c > 'z' {
			return Message{}, fmt.Errorf("control message type %q: want lower-case letters", m.Type)
		}
	}
	return m, nil
}

// AppendAck appends the ack of n bytes to dst without allocating, for the
// per-stream ack paths that run once per quarter window.
func AppendAck(dst []byte, n int64) []byte {
	dst = append(dst, `{"type":"ack","n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '}')
}
