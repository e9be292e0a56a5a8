package client

import (
	"math"
	"strings"
	"testing"

	"tunnelkit/relay/wire"
)

// TestSendCredit: without flow control sending is unbounded; with it,
// writable is the credit left, spending lowers it, acks from the relay
// restore it without being queued for the reader.
func TestSendCredit(t *testing.T) {
	s := newStreamState[[]byte](1 << 20)
	if n, err := s.writable(); n != math.MaxInt || err != nil {
		t.Fatalf("writable without flow control = %d %v, want unbounded", n, err)
	}
	s.setFlow(wire.DefaultFlowWindow, wire.UpCredit)
	s.spend(wire.UpCredit - 10)
	if n, _ := s.writable(); n != 10 {
		t.Fatalf("writable = %d, want the 10 left", n)
	}
	s.spend(10)
	if n, err := s.writable(); n != 0 || err != nil {
		t.Fatalf("writable out of credit = %d %v, want 0 (wait)", n, err)
	}
	ack := string(wire.AppendAck(nil, 4096))
	if _, reason, ok := s.receive(text(ack)); !ok {
		t.Fatalf("ack refused: %s", reason)
	}
	select {
	case <-s.credits:
	default:
		t.Fatal("an ack did not wake the writer")
	}
	if n, _ := s.writable(); n != 4096 {
		t.Fatalf("writable after an ack of 4096 = %d", n)
	}
	if _, ok, _ := s.pop(); ok {
		t.Fatal("the ack was queued for the reader")
	}
	// Other text still reaches the reader.
	if _, _, ok := s.receive(text(`{"type":"future"}`)); !ok {
		t.Fatal("unknown control message ended the stream")
	}
	if m, ok, _ := s.pop(); !ok || m.text != `{"type":"future"}` {
		t.Fatalf("pop = %+v %v, want the unknown message", m, ok)
	}
}

// TestSendCreditOverAck: an ack of more than was sent ends the stream.
func TestSendCreditOverAck(t *testing.T) {
	for _, n := range []int64{0, -1, 11} {
		s := newStreamState[[]byte](1 << 20)
		s.setFlow(wire.DefaultFlowWindow, wire.UpCredit)
		s.spend(10)
		code, reason, ok := s.receive(text(string(wire.AppendAck(nil, n))))
		if ok || code != wire.CloseBadRequest || !strings.Contains(reason, "only 10 sent") {
			t.Fatalf("ack of %d: %d %q %v, want 4400 only 10 sent", n, code, reason, ok)
		}
		if _, err := s.writable(); err == nil {
			t.Fatalf("ack of %d: writable after the end, want its error", n)
		}
	}
}

// TestRelayMaxBoundsMessages: the relay's announced limit bounds what is
// accepted (never under the default) and what one write sends.
func TestRelayMaxBoundsMessages(t *testing.T) {
	s := newStreamState[[]byte](1 << 20)
	s.setRelayMax(64<<10, 32<<20)
	if s.limit != wire.DefaultMaxMessage || s.gatherLimit(256<<10) != 64<<10 {
		t.Fatalf("limit %d, gather %d: want the default accepted and 64 KiB sent", s.limit, s.gatherLimit(256<<10))
	}
	s.setRelayMax(4<<20, 32<<20)
	if s.limit != 4<<20 || s.maxQueue != 32<<20 || s.gatherLimit(256<<10) != 256<<10 {
		t.Fatalf("limit %d, queue %d, gather %d", s.limit, s.maxQueue, s.gatherLimit(256<<10))
	}
	s.setRelayMax(0, 32<<20)
	if s.gatherLimit(2<<20) != wire.DefaultMaxMessage {
		t.Fatalf("no announced limit: gather %d, want the default", s.gatherLimit(2<<20))
	}
}
