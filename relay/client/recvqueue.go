package client

import (
	"fmt"

	"tunnelkit/relay/wire"
)

// Receiving: a WebSocket in the browser cannot push back on the relay, so
// the queue is bounded (by maxQueue and, with flow control, by the window
// the relay honours), and every message queued before the close is
// delivered before it.

// receive queues m, or ends the stream when m breaks a limit: then ok is
// false and the caller closes the socket with code and reason. An ack from
// the relay is taken at once (credit.go), not queued.
func (s *streamState[T]) receive(m received[T]) (code wire.CloseCode, reason string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr != nil {
		return 0, "", true // after the end: dropped
	}
	if m.binary {
		s.unacked += m.size // counted from the start: data may beat setFlow
	} else if s.credit > 0 {
		if isAck, code, reason := s.takeAckLocked(m.text); isAck {
			return code, reason, reason == ""
		}
	}
	switch {
	case m.size > s.limit:
		code, reason = wire.CloseTooBig, fmt.Sprintf("message of %d bytes over the %d limit", m.size, s.limit)
	case s.window > 0 && s.unacked > s.window:
		code, reason = wire.CloseBadRequest, fmt.Sprintf("relay sent %d bytes unacknowledged, over the %d flow window", s.unacked, s.window)
	case s.queued+m.size > s.maxQueue:
		code, reason = wire.CloseOverLimit, fmt.Sprintf("page fell %d MiB behind reading the stream", s.maxQueue>>20)
	default:
		s.queue = append(s.queue, m)
		s.queued += m.size
		s.notify()
		return 0, "", true
	}
	s.failLocked(reason)
	return code, reason, false
}

// pop takes the next message. With none queued it returns ok false and the
// stream's end, or nil: then wait on s.signal and try again.
func (s *streamState[T]) pop() (m received[T], ok bool, end error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head < len(s.queue) {
		m = s.queue[s.head]
		s.queue[s.head] = received[T]{}
		s.head++
		if s.head == len(s.queue) {
			s.queue, s.head = s.queue[:0], 0
		}
		s.queued -= m.size
		return m, true, nil
	}
	return m, false, s.closeErr
}

// consumed counts n payload bytes handed to the reader and returns the ack
// to send once they add up to a quarter of the window (nil before): few
// acks, and the relay never runs dry while the reader keeps up. The
// returned slice is valid until the next call.
func (s *streamState[T]) consumed(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window == 0 || s.closeErr != nil {
		return nil
	}
	s.unsent += n
	if s.unsent < s.window/4 {
		return nil
	}
	s.ackBuf = wire.AppendAck(s.ackBuf[:0], int64(s.unsent))
	s.unacked -= s.unsent
	s.unsent = 0
	return s.ackBuf
}
