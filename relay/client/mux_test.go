package client

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"tunnelkit/relay/wire"
)

// sentTransport records what a mux writes on its control stream; the mux
// is fed the relay's side by calling its methods, as Listener.control does.
type sentTransport struct {
	mu   sync.Mutex
	sent []sentMsg
}

type sentMsg struct {
	text bool
	b    []byte
}

func (t *sentTransport) next(ctx context.Context) (bool, io.Reader, error) {
	<-ctx.Done()
	return false, nil, ctx.Err()
}

func (t *sentTransport) write(_ context.Context, text bool, p []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent = append(t.sent, sentMsg{text, append([]byte{}, p...)})
	return nil
}

func (t *sentTransport) close(wire.CloseCode, string) error    { return nil }
func (t *sentTransport) setRelayMax(int64)                     {}
func (t *sentTransport) setFlow(int64, int64)                  {}
func (t *sentTransport) writable(context.Context) (int, error) { return 1 << 30, nil }
func (t *sentTransport) consumed(int)                          {}
func (t *sentTransport) subprotocol() string                   { return wire.Subprotocol }
func (t *sentTransport) last() sentMsg {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent[len(t.sent)-1]
}
func (t *sentTransport) count() int { t.mu.Lock(); defer t.mu.Unlock(); return len(t.sent) }
func frameOf(conn uint32, p []byte) []byte {
	b := make([]byte, wire.FrameHeader, wire.FrameHeader+len(p))
	wire.PutFrameHeader(b, conn, len(p))
	return append(b, p...)
}

// TestMuxConnAsConn: frames reach the right Conn, the relay's half-close
// is EOF, acks go out per connection each quarter window, and the Conn's
// writes, half-close and close are frames and messages for its id.
func TestMuxConnAsConn(t *testing.T) {
	tr := &sentTransport{}
	m := newMux(tr, 64<<10, 1<<20)
	a, b := m.accept(1), m.accept(2)
	if a == nil || b == nil || m.accept(2) != nil {
		t.Fatal("accept: want two connections and a taken id refused")
	}
	ca := newConn(a, nil, nil, wire.DefaultMaxMessage-wire.FrameHeader)
	cb := newConn(b, nil, nil, wire.DefaultMaxMessage-wire.FrameHeader)
	msg := append(frameOf(2, []byte("for b")), frameOf(1, make([]byte, 16<<10))...)
	msg = append(msg, frameOf(7, []byte("nobody's"))...)
	msg = append(msg, frameOf(1, nil)...)
	if err := m.frames(msg); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(ca)
	if err != nil || len(got) != 16<<10 {
		t.Fatalf("conn 1 read %d bytes, %v; want 16 KiB then EOF", len(got), err)
	}
	ack := tr.last()
	if am, err := wire.ParseMessage(ack.b); !ack.text || err != nil || am.Type != "ack" || am.Conn != 1 || am.N != 16<<10 {
		t.Fatalf("after a quarter window read: sent %q, want an ack of 16384 for conn 1", ack.b)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "for b" {
		t.Fatalf("conn 2 read %q %v", buf, err)
	}

	if _, err := cb.Write([]byte("up")); err != nil {
		t.Fatal(err)
	}
	if s := tr.last(); s.text || string(s.b) != string(frameOf(2, []byte("up"))) {
		t.Fatalf("Write sent %q, want a frame for conn 2", s.b)
	}
	cb.CloseWrite()
	if s := tr.last(); string(s.b) != string(frameOf(2, nil)) {
		t.Fatalf("CloseWrite sent %q, want an empty frame for conn 2", s.b)
	}
	cb.Close()
	if cm, _ := wire.ParseMessage(tr.last().b); cm.Type != "close" || cm.Conn != 2 || cm.Code != 1000 {
		t.Fatalf("Close sent %q, want close of conn 2 with 1000", tr.last().b)
	}
	// Frames for a connection closed here are dropped, not an error.
	if err := m.frames(frameOf(2, []byte("late"))); err != nil {
		t.Fatal(err)
	}
	if err := m.frames([]byte{0, 0, 0, 1, 0, 0, 0, 9, 'x'}); err == nil {
		t.Fatal("a frame running past its message: want an error")
	}

	// The relay's close of a connection reaches its reader.
	cc := newConn(m.accept(3), nil, nil, wire.DefaultMaxMessage-wire.FrameHeader)
	m.control(wire.Message{Type: "close", Conn: 3, Code: 4408, Reason: "idle timeout"})
	var ce *CloseError
	if _, err := cc.Read(buf); !errors.As(err, &ce) || ce.Code != 4408 {
		t.Fatalf("read after the relay's close: %v, want its CloseError", err)
	}
}

// TestMuxConnLimits: a relay overrunning a connection's window, or acking
// more than was sent, ends that connection only, with a 4400 for it.
func TestMuxConnLimits(t *testing.T) {
	tr := &sentTransport{}
	m := newMux(tr, 64<<10, 1<<20)
	a, b := m.accept(1), m.accept(2)
	m.frames(frameOf(1, make([]byte, 64<<10+1)))
	cm, _ := wire.ParseMessage(tr.last().b)
	if cm.Type != "close" || cm.Conn != 1 || cm.Code != 4400 || !strings.Contains(cm.Reason, "window") {
		t.Fatalf("overrun: sent %q, want close of conn 1 with 4400", tr.last().b)
	}
	if _, _, err := a.next(context.Background()); err == nil {
		t.Fatal("conn 1 after the overrun: want its end")
	}
	m.control(wire.Message{Type: "ack", Conn: 2, N: 5})
	cm, _ = wire.ParseMessage(tr.last().b)
	if cm.Conn != 2 || cm.Code != 4400 || !strings.Contains(cm.Reason, "acknowledged") {
		t.Fatalf("bad ack: sent %q, want close of conn 2 with 4400", tr.last().b)
	}
	n := tr.count()
	m.frames(frameOf(2, []byte("dropped")))
	if _, err := b.writable(context.Background()); err == nil || tr.count() != n {
		t.Fatal("conn 2 after the bad ack: want its end and nothing sent")
	}
	// Credit: a writer waits once it is spent, until the relay acks.
	c := m.accept(3)
	c.write(context.Background(), false, make([]byte, 1<<20))
	done := make(chan int)
	go func() { n, _ := c.writable(context.Background()); done <- n }()
	m.control(wire.Message{Type: "ack", Conn: 3, N: 1000})
	if n := <-done; n != 1000 {
		t.Fatalf("writable after an ack of 1000 = %d", n)
	}
	m.shutdown(&CloseError{Code: wire.CloseGoingAway, Reason: "listener closed"})
	if _, err := c.writable(context.Background()); err == nil {
		t.Fatal("after the stream ended: want an error")
	}
}
