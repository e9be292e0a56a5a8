package client

import "context"

// Writes gather into one message: each send crosses into the browser and
// out to its network process, a cost per message, while SSH writes one
// packet (at most 32 KiB) at a time. The js transport flushes once the
// writer yields (the page runs one goroutine at a time, so by then it has
// produced all it can for now) or the buffer is full. Gathering pays only
// under load: a small write to an idle link (nothing gathered, nothing in
// flight) goes at once, so a keystroke does not wait for the writer to
// yield; bulk data (SSH's full 32 KiB packets) still gathers.

// smallWrite is the largest write sent at once to an idle link: an SSH
// packet carrying a few KiB, far below the 32 KiB packets of a bulk copy.
const smallWrite = 8 << 10

// gatherer holds written bytes not sent yet.
type gatherer struct {
	pend []byte
	send func(ctx context.Context, p []byte) error // sends p as one message
	idle func() bool                               // optional: nothing in flight, so a lone write goes at once
}

// write gathers p, or sends it alone when it does not fit in a message of
// limit bytes or is the zero-length message of a half-close, after what is
// gathered. gathered says p waits for a flush.
func (g *gatherer) write(ctx context.Context, p []byte, limit int) (gathered bool, err error) {
	if len(p) == 0 || len(g.pend)+len(p) > limit {
		if err := g.flush(ctx); err != nil {
			return false, err
		}
	}
	if len(p) == 0 || len(p) > limit || (len(p) <= smallWrite && len(g.pend) == 0 && g.idle != nil && g.idle()) {
		return false, g.send(ctx, p)
	}
	if g.pend == nil {
		g.pend = make([]byte, 0, limit)
	}
	g.pend = append(g.pend, p...)
	return true, nil
}

// flush sends what is gathered, as one message.
func (g *gatherer) flush(ctx context.Context) error {
	if len(g.pend) == 0 {
		return nil
	}
	err := g.send(ctx, g.pend)
	g.pend = g.pend[:0]
	return err
}

// drop forgets what is gathered (the socket is gone).
func (g *gatherer) drop() { g.pend = g.pend[:0] }
