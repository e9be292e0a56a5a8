package client

import (
	"encoding/json"
	"fmt"
	"math"

	"tunnelkit/relay/wire"
)

// Sending with flow control: the page writes at most the credit the relay
// gave in its open message, less what it sent and the relay has not
// acknowledged; the relay's acks return it.

// takeAckLocked takes the relay's ack of bytes the page sent, at once: the
// writer waiting for it must not wait for the reader too. isAck is false
// for any other text (the reader sees it, and skips it); a reason is set
// when the ack broke the protocol and ended the stream.
func (s *streamState[T]) takeAckLocked(text string) (isAck bool, code wire.CloseCode, reason string) {
	var m wire.Message
	if json.Unmarshal([]byte(text), &m) != nil || m.Type != wire.TypeAck {
		return false, 0, ""
	}
	if m.N <= 0 || s.avail+int(m.N) > s.credit {
		reason = fmt.Sprintf("relay acknowledged %d bytes, only %d sent and not acknowledged", m.N, s.credit-s.avail)
		s.failLocked(reason)
		return true, wire.CloseBadRequest, reason
	}
	s.avail += int(m.N)
	select {
	case s.credits <- struct{}{}:
	default:
	}
	return true, 0, ""
}

// spend takes n bytes of data about to be sent from the credit (writable
// said they may go).
func (s *streamState[T]) spend(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.credit > 0 {
		s.avail -= n
	}
}

// writable says how many bytes may be sent now: math.MaxInt without flow
// control, else the credit left. With none left it returns 0 and no
// error: wait on s.credits and ask again.
func (s *streamState[T]) writable() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closeErr != nil:
		return 0, s.closeErr
	case s.credit == 0:
		return math.MaxInt, nil
	}
	return max(s.avail, 0), nil
}
