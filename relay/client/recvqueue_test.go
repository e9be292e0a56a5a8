package client

import (
	"errors"
	"strings"
	"testing"

	"tunnelkit/relay/wire"
)

func data(n int) received[[]byte] {
	return received[[]byte]{data: make([]byte, n), binary: true, size: n}
}

func text(s string) received[[]byte] { return received[[]byte]{text: s, size: len(s)} }

// TestRecvQueueDeliversBeforeClose: messages queued before the peer's
// close come out, in order, before the close does.
func TestRecvQueueDeliversBeforeClose(t *testing.T) {
	s := newStreamState[[]byte](1 << 20)
	for _, m := range []received[[]byte]{data(3), text(`{"type":"later"}`), data(5)} {
		if _, reason, ok := s.receive(m); !ok {
			t.Fatalf("receive: %s", reason)
		}
	}
	closed := &CloseError{Code: wire.CloseNormal}
	if !s.ended(closed) || s.ended(errors.New("second")) {
		t.Fatal("ended: want the first end only")
	}
	if _, _, ok := s.receive(data(1)); !ok {
		t.Fatal("a message after the end must be dropped, not fail")
	}
	var got []int
	for range 4 {
		m, ok, end := s.pop()
		if !ok {
			if end != closed {
				t.Fatalf("end = %v, want the close", end)
			}
			break
		}
		got = append(got, m.size)
	}
	if len(got) != 3 || got[0] != 3 || got[1] != 16 || got[2] != 5 {
		t.Fatalf("delivered sizes %v, want [3 16 5] then the close", got)
	}
	if s.queued != 0 {
		t.Fatalf("queued = %d after draining, want 0", s.queued)
	}
}

// TestRecvQueueBounds: a message over the limit, the flow window broken,
// and a reader too far behind each end the stream with their code, after
// what was queued.
func TestRecvQueueBounds(t *testing.T) {
	for _, c := range []struct {
		name   string
		setup  func(s *streamState[[]byte])
		msgs   []int
		code   wire.CloseCode
		reason string
	}{
		{"over the limit", func(s *streamState[[]byte]) {}, []int{10, wire.DefaultMaxMessage + 1}, wire.CloseTooBig, "over the 1048576 limit"},
		{"over the window", func(s *streamState[[]byte]) { s.setFlow(wire.MinFlowWindow, 0) }, []int{wire.MinFlowWindow, 1}, wire.CloseBadRequest, "over the 65536 flow window"},
		{"reader behind", func(s *streamState[[]byte]) {}, []int{1 << 20, 1 << 20, 1}, wire.CloseOverLimit, "behind reading"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStreamState[[]byte](2 << 20)
			c.setup(s)
			var code wire.CloseCode
			var reason string
			ok := true
			for _, n := range c.msgs {
				if code, reason, ok = s.receive(data(n)); !ok {
					break
				}
			}
			if ok || code != c.code || !strings.Contains(reason, c.reason) {
				t.Fatalf("receive = %d %q %v, want %d containing %q", code, reason, ok, c.code, c.reason)
			}
			if m, ok, _ := s.pop(); !ok || m.size != c.msgs[0] {
				t.Fatalf("first message lost: %v %v", m.size, ok)
			}
			for {
				_, ok, end := s.pop()
				if !ok {
					if end == nil || !strings.Contains(end.Error(), c.reason) {
						t.Fatalf("end = %v, want the page's reason", end)
					}
					break
				}
			}
		})
	}
}

// TestConsumedAcksQuarterWindow: the reader's consumption is acknowledged
// in quarters of the window, and the acks keep the relay within it.
func TestConsumedAcksQuarterWindow(t *testing.T) {
	const window = wire.MinFlowWindow
	s := newStreamState[[]byte](1 << 20)
	s.setFlow(window, 0)
	if ack := s.consumed(100); ack != nil {
		t.Fatalf("ack %s before the window is idle without flow: want none", ack)
	}
	sent, acked := 0, int64(0)
	for range 40 { // 40 KiB messages: 25 windows' worth
		if _, reason, ok := s.receive(data(40 << 10)); !ok {
			t.Fatalf("receive after %d bytes, %d acked: %s", sent, acked, reason)
		}
		sent += 40 << 10
		if _, ok, _ := s.pop(); !ok {
			t.Fatal("pop: nothing queued")
		}
		if ack := s.consumed(40 << 10); ack != nil {
			m, err := wire.ParseMessage(ack)
			if err != nil || m.Type != wire.TypeAck || m.N < window/4 {
				t.Fatalf("ack %s: %+v %v, want an ack of at least a quarter window", ack, m, err)
			}
			acked += m.N
		}
	}
	// 100 bytes were consumed before any data arrived; they are acked too.
	if unacked := int64(sent) + 100 - acked; unacked < 0 || unacked >= window/4 {
		t.Fatalf("%d bytes consumed and not acknowledged, want under a quarter window", unacked)
	}
}
