package relay

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// BenchmarkDialBridge measures one direction through the dial bridge:
// client messages of 256 KiB to a TCP sink.
func BenchmarkDialBridge(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	r, err := New(Config{Allow: []string{ln.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	tr := startRelayB(b, r)
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, tr+"/v1/dial?target="+ln.Addr().String(), &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 256<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
	}
}
