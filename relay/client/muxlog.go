package client

import (
	"context"
	"fmt"

	"tunnelkit/relay/wire"
)

// A resumable listen stream (PROTOCOL.md, "Resume") outlives its
// WebSocket: both sides count the bytes of the whole messages they
// received and keep the messages they sent until the other acknowledges
// them ({"type":"ack","n":BYTES} without a conn). After a drop the client
// re-attaches with its count, the relay answers with its own, and each
// sends again what the other had not received: frames, half-closes, acks
// and closes of every connection alike, in order, so each connection's
// bytes and credit stay exact. Counting bytes, not messages, lets the
// browser gather several frame messages into one.

// muxAckEvery: each side acks once it received this many messages or a
// quarter of wire.ResumeBuffer.
const muxAckEvery = 64

type loggedMsg struct {
	text bool
	b    []byte
}

// msgLog is the resume state of a mux, guarded by mux.mu.
type msgLog struct {
	entries []loggedMsg // sent, not acknowledged, from byte base on
	size    int64
	base    int64
	changed chan struct{} // closed and replaced when the log shrinks

	recvd   int64 // bytes of whole messages received
	unacked int64 // of those, not acknowledged
	unMsgs  int
	ackDue  int64 // an ack the reader left for whoever frees the writes
}

func (g *msgLog) add(text bool, p []byte) {
	g.entries = append(g.entries, loggedMsg{text: text, b: append([]byte(nil), p...)})
	g.size += int64(len(p))
}

// trim drops the messages before byte position to, where one must start.
func (g *msgLog) trim(to int64) error {
	k, pos := 0, g.base
	for k < len(g.entries) && pos < to {
		pos += int64(len(g.entries[k].b))
		k++
	}
	if pos != to {
		return fmt.Errorf("position %d is not where a message starts (%d-%d held)", to, g.base, g.base+g.size)
	}
	g.size -= to - g.base
	g.entries = append(g.entries[:0], g.entries[k:]...)
	clear(g.entries[len(g.entries):cap(g.entries)])
	g.base = to
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
	return nil
}

// waitRoom waits while the log is at its bound: data waits for the
// relay's acks. False when the connection (done) or the stream ended.
func (m *mux) waitRoom(done <-chan struct{}) bool {
	if !m.resumable {
		return true
	}
	for {
		m.mu.Lock()
		if m.log.changed == nil {
			m.log.changed = make(chan struct{})
		}
		if m.log.size < wire.ResumeBuffer {
			m.mu.Unlock()
			return true
		}
		ch := m.log.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		case <-m.ended:
			return false
		}
	}
}

// unlockWrites releases wmu, sending first an ack the reader could not
// send while the writes were busy.
func (m *mux) unlockWrites() {
	for {
		m.wmu.Unlock()
		m.mu.Lock()
		due := m.log.ackDue
		m.mu.Unlock()
		if due == 0 || !m.wmu.TryLock() {
			return
		}
		m.flushAck()
	}
}

// flushAck sends the due ack; wmu is held.
func (m *mux) flushAck() {
	m.mu.Lock()
	n, t := m.log.ackDue, m.ctl
	m.log.ackDue = 0
	m.mu.Unlock()
	if n > 0 && t != nil {
		t.write(context.Background(), true, wire.AppendAck(nil, n)) // not logged: the relay counts from what it is told
	}
}

// received counts a whole message from the relay and acknowledges every
// muxAckEvery messages or quarter of the bound. The reader never waits
// for the writes: busy, they send the ack when they are done.
func (m *mux) received(size int) {
	if !m.resumable {
		return
	}
	m.mu.Lock()
	m.log.recvd += int64(size)
	m.log.unacked += int64(size)
	m.log.unMsgs++
	if m.log.unMsgs >= muxAckEvery || m.log.unacked >= wire.ResumeBuffer/4 {
		m.log.ackDue += m.log.unacked
		m.log.unacked, m.log.unMsgs = 0, 0
	}
	due := m.log.ackDue > 0
	m.mu.Unlock()
	if due && m.wmu.TryLock() {
		m.flushAck()
		m.unlockWrites()
	}
}

// acked drops n bytes of messages the relay acknowledged.
func (m *mux) acked(n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n <= 0 || n > m.log.size {
		return fmt.Errorf("relay acknowledged %d bytes of messages, %d were sent and not acknowledged", n, m.log.size)
	}
	return m.log.trim(m.log.base + n)
}

func (m *mux) current() transport {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctl
}

// detach forgets the transport that dropped: writes only log until resume.
func (m *mux) detach() {
	m.mu.Lock()
	m.ctl = nil
	m.mu.Unlock()
}

func (m *mux) receivedCount() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.recvd
}

// resume makes t the stream's transport: from is what the relay had
// received. It sends again the rest of the log in the background, ahead
// of any new message, so the caller goes on reading t meanwhile (the
// relay replays its own side at the same time).
func (m *mux) resume(t transport, from int64, done func()) error {
	m.wmu.Lock()
	m.mu.Lock()
	if from < m.log.base || from > m.log.base+m.log.size {
		err := fmt.Errorf("relay resumed at %d, outside the %d-%d held", from, m.log.base, m.log.base+m.log.size)
		m.mu.Unlock()
		m.wmu.Unlock()
		return err
	}
	if err := m.log.trim(from); err != nil {
		m.mu.Unlock()
		m.wmu.Unlock()
		return err
	}
	m.log.unacked, m.log.unMsgs, m.log.ackDue = 0, 0, 0 // the relay counts from what it told us
	pending := append([]loggedMsg(nil), m.log.entries...)
	m.ctl = t
	m.mu.Unlock()
	go func() {
		defer done()
		for _, e := range pending {
			if err := t.write(context.Background(), e.text, e.b); err != nil {
				break // the reader sees the drop
			}
		}
		m.unlockWrites()
	}()
	return nil
}
