package client

import (
	"fmt"
	"math"
	"net"
	"sync"

	"tunnelkit/relay/wire"
)

// streamState is what the browser transport (transport_js.go) knows about
// its stream, without the browser: the queue of received messages, the
// flow control accounting both ways, and how the stream ended. The
// bindings feed it events and act on what it returns; T is the payload of
// a binary message (a JavaScript ArrayBuffer there, anything in tests).
type streamState[T any] struct {
	mu       sync.Mutex
	queue    []received[T]
	head     int
	queued   int           // bytes in queue
	limit    int           // largest message accepted
	maxQueue int           // largest queued allowed
	signal   chan struct{} // cap 1: a message arrived or the stream ended
	closeErr error         // why the stream ended; no message is queued after it

	window  int // flow control window granted by the relay; 0: off
	unacked int // data bytes received and not acknowledged yet
	unsent  int // of those, consumed by the reader: the next ack
	ackBuf  []byte

	credit  int           // what the relay lets the page send unacknowledged; 0: off
	avail   int           // of it, not spent
	credits chan struct{} // cap 1: the relay acknowledged sent bytes
	sendMax int           // the relay's message limit (setRelayMax); 0: not known yet
}

// received is one message from the relay: text, or a binary payload.
type received[T any] struct {
	text   string
	data   T
	binary bool
	size   int
}

func newStreamState[T any](maxQueue int) *streamState[T] {
	return &streamState[T]{
		limit:    wire.DefaultMaxMessage,
		maxQueue: maxQueue,
		signal:   make(chan struct{}, 1),
		credits:  make(chan struct{}, 1),
	}
}

func (s *streamState[T]) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// failLocked ends the stream for a local reason; readers see it after the
// messages queued before it. The caller closes the socket with code.
func (s *streamState[T]) failLocked(reason string) {
	s.closeErr = fmt.Errorf("closed by the page: %s", reason)
	s.notify()
}

// ended records how the stream ended (the peer's close, or a local one),
// unless it had already; false if it had.
func (s *streamState[T]) ended(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr != nil {
		return false
	}
	s.closeErr = err
	s.notify()
	return true
}

// err is why the stream ended, net.ErrClosed if it has not said.
func (s *streamState[T]) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeErr != nil {
		return s.closeErr
	}
	return net.ErrClosed
}

// setRelayMax takes the relay's announced message limit: the largest
// message accepted, what may queue, and the largest message sent.
func (s *streamState[T]) setRelayMax(n int64, minQueue int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = int(min(max(n, wire.DefaultMaxMessage), math.MaxInt32))
	s.maxQueue = max(minQueue, 2*s.limit)
	s.sendMax = wire.DefaultMaxMessage
	if n > 0 {
		s.sendMax = int(min(n, math.MaxInt32))
	}
}

// setFlow turns on flow control with the window the relay granted and the
// credit it gives for sending (0: sending is not windowed).
func (s *streamState[T]) setFlow(window, credit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = int(window)
	s.credit, s.avail = int(credit), int(credit)
}

// gatherLimit bounds one message sent: the relay's limit, at most max.
func (s *streamState[T]) gatherLimit(max int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(max, s.sendMax)
}
