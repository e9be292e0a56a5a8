package relay

import (
	"fmt"
	"sync"

	"tunnelkit/relay/wire"
)

// The relay's memory for stream data has a bound whatever clients do:
//
//   - copy buffers: at most two of copyBufSize per stream (one each way),
//     so MaxStreams × 256 KiB;
//   - client bytes queued for a slow target (flow control's up queue): at
//     most the credit each stream was given, and every credit is reserved
//     from MaxQueuedBytes before the stream opens.
//
// A stream asks for wire.UpCredit; when the budget has less left it gets
// what is left, and none below minUpCredit: the stream is refused then.
// The credit goes back to the budget when the stream ends.

const minUpCredit = 64 << 10

type budget struct {
	mu        sync.Mutex
	max, used int64
}

// reserve takes up to want bytes, at least minUpCredit; 0 when the budget
// cannot give that much.
func (b *budget) reserve(want int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(want, b.max-b.used)
	if n < minUpCredit {
		return 0
	}
	b.used += n
	return n
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// reserveCredit gives s its up credit from the budget, or refuses it.
func (r *Relay) reserveCredit(s *stream) bool {
	n := r.budget.reserve(wire.UpCredit)
	if n == 0 {
		r.refuseHint(s, "limit", wire.CloseOverLimit, fmt.Sprintf("relay at its limit of %d bytes queued for targets", r.cfg.MaxQueuedBytes), "see --max-queued-bytes")
		return false
	}
	s.flow.credit = n
	return true
}

// releaseCredit returns s's credit to the budget once it ended.
func (r *Relay) releaseCredit(s *stream) {
	if s.flow != nil && s.flow.credit > 0 {
		r.budget.release(s.flow.credit)
		s.flow.credit = 0
	}
}
