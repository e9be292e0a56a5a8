package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// writeMessage sends a control message.
func writeMessage(ctx context.Context, ws *websocket.Conn, m wire.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

// readControl reads a text message from the client into buf and parses it.
func readControl(msg io.Reader, buf []byte) (wire.Message, error) {
	n, err := io.ReadFull(msg, buf[:wire.MaxControl+1])
	if err != io.ErrUnexpectedEOF && err != io.EOF {
		if err == nil {
			return wire.Message{}, fmt.Errorf("control message over %d bytes", wire.MaxControl)
		}
		return wire.Message{}, err
	}
	return wire.ParseMessage(buf[:n])
}
