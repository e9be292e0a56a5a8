package wire

import (
	"encoding/binary"
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
	TypeClose     = "close"     // either side, listen stream: one accepted connection ends
	TypeResumed   = "resumed"   // relay: a resume re-attached; n is what it had received
)

// Message is a control message: one JSON object in a text message.
// Unknown fields are ignored, so newer sides can add some.
type Message struct {
	Type   string `json:"type"`
	Addr   string `json:"addr,omitempty"`
	Remote string `json:"remote,omitempty"`
	Max    int64  `json:"max,omitempty"`    // the relay's message size limit
	Flow   int64  `json:"flow,omitempty"`   // open: the flow control window granted
	Credit int64  `json:"credit,omitempty"` // open: what the client may send unacknowledged
	N      int64  `json:"n,omitempty"`      // ack: bytes consumed since the last ack; resumed: bytes the relay had received

	// On the listen control stream: the accepted connection an accept,
	// ack or close is about, and a close's code and reason.
	Conn   uint32 `json:"conn,omitempty"`
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
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

// AppendConnAck appends the ack of n bytes of accepted connection conn on
// a listen control stream.
func AppendConnAck(dst []byte, conn uint32, n int64) []byte {
	dst = append(dst, `{"type":"ack","conn":`...)
	dst = strconv.AppendUint(dst, uint64(conn), 10)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '}')
}

// AppendAck appends the ack of n bytes to dst without allocating, for the
// per-stream ack paths that run once per quarter window.
func AppendAck(dst []byte, n int64) []byte {
	dst = append(dst, `{"type":"ack","n":`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '}')
}

// Frames: on a listen control stream a binary message holds one or more
// frames, each the data of one accepted connection: a 4-byte connection id
// and a 4-byte length (big-endian), then that many bytes. A frame of length
// zero is that connection's half-close.

// FrameHeader is the size of a frame's header.
const FrameHeader = 8

// PutFrameHeader writes the header of a frame of n bytes for conn into
// b[:FrameHeader].
func PutFrameHeader(b []byte, conn uint32, n int) {
	binary.BigEndian.PutUint32(b, conn)
	binary.BigEndian.PutUint32(b[4:], uint32(n))
}

// ParseFrameHeader reads the header in b[:FrameHeader]: the connection and
// the payload's length.
func ParseFrameHeader(b []byte) (conn uint32, n uint32) {
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
}

// NextFrame splits the first frame off b: its connection, its payload
// (empty for a half-close) and what follows it.
func NextFrame(b []byte) (conn uint32, payload, rest []byte, err error) {
	if len(b) < FrameHeader {
		return 0, nil, nil, fmt.Errorf("frame of %d bytes, shorter than its %d-byte header", len(b), FrameHeader)
	}
	conn, n := ParseFrameHeader(b)
	if conn == 0 {
		return 0, nil, nil, errors.New("frame for connection 0")
	}
	if uint64(n) > uint64(len(b)-FrameHeader) {
		return 0, nil, nil, fmt.Errorf("frame of %d bytes, only %d in the message", n, len(b)-FrameHeader)
	}
	return conn, b[FrameHeader : FrameHeader+int(n)], b[FrameHeader+int(n):], nil
}

// CheckFrames reports whether b holds whole frames only, without handing
// any on: a message the websocket package reports whole can be cut short by
// a dropped connection (its reader takes the connection's end at a read
// boundary inside a frame for the message's end).
func CheckFrames(b []byte) error {
	for len(b) > 0 {
		_, _, rest, err := NextFrame(b)
		if err != nil {
			return err
		}
		b = rest
	}
	return nil
}
