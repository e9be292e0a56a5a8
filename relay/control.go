package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/coder/websocket"

	"tunnelkit/relay/resolve"
)

// message is a control message: one JSON object in a text message.
type message struct {
	Type   string `json:"type"`
	Addr   string `json:"addr,omitempty"`
	ID     string `json:"id,omitempty"`
	Remote string `json:"remote,omitempty"`
	Max    int64  `json:"max,omitempty"`    // the relay's message size limit
	Flow   int64  `json:"flow,omitempty"`   // open: the flow control window granted
	Credit int64  `json:"credit,omitempty"` // open: what the client may send unacknowledged
	N      int64  `json:"n,omitempty"`      // ack: bytes consumed since the last ack
}

const maxControlMessage = 4096

// parseMessage reads a control message. Unknown fields are ignored, so
// newer clients can add some.
func parseMessage(b []byte) (message, error) {
	var m message
	if len(b) > maxControlMessage {
		return m, fmt.Errorf("control message over %d bytes", maxControlMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, fmt.Errorf("malformed control message: %v", err)
	}
	if m.Type == "" || len(m.Type) > 32 {
		return message{}, errors.New("control message without a valid type")
	}
	for _, c := range []byte(m.Type) {
		if c < 'a' || c > 'z' {
			return message{}, fmt.Errorf("control message type %q: want lower-case letters", m.Type)
		}
	}
	return m, nil
}

// writeMessage sends a control message.
func writeMessage(ctx context.Context, ws *websocket.Conn, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

const acceptIDLen = 32 // 128 bits in hex

// parseAcceptID checks an accept id: 32 lower-case hex digits.
func parseAcceptID(s string) (string, error) {
	if len(s) != acceptIDLen {
		return "", fmt.Errorf("bad accept id %q: want %d hex digits", truncate(s, 40), acceptIDLen)
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("bad accept id %q: want %d hex digits", s, acceptIDLen)
		}
	}
	return s, nil
}

// parseListenAddr reads the listen bridge's addr: HOST:PORT, where an empty
// host or "*" means every IPv4 interface, as in OpenSSH.
func parseListenAddr(s string) (resolve.Host, uint16, error) {
	host, portStr, err := resolve.SplitHostPort(s)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	port, err := resolve.ParsePort(portStr)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	if host == "" || host == "*" {
		return resolve.Host{Addr: netip.IPv4Unspecified()}, port, nil
	}
	h, err := resolve.ParseHost(host)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	return h, port, nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
