package tunnel

import (
	"io"
	"sync/atomic"
	"testing"
)

// chunks is a source of n reads of size bytes each.
type chunks struct {
	n, size int
}

func (c *chunks) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	c.n--
	return min(len(p), c.size), nil
}
func (c *chunks) Write(p []byte) (int, error) { return len(p), nil }
func (c *chunks) Close() error                { return nil }

// The copy loop counts every chunk into both the forward's total and the
// connection's own counter, and allocates nothing per chunk for it.
func TestCopyHalfCountsPerConnection(t *testing.T) {
	var total, conn atomic.Int64
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(20, func() {
			copyHalf(&chunks{}, &chunks{n: n, size: 1000}, counter{&total, &conn})
		})
	}
	few, many := allocs(10), allocs(1000)
	if many > few {
		t.Errorf("copying 1000 chunks allocated %v times, 10 chunks %v: want no allocation per chunk", many, few)
	}
	total.Store(0)
	conn.Store(0)
	if n := copyHalf(&chunks{}, &chunks{n: 7, size: 1000}, counter{&total, &conn}); n != 7000 || total.Load() != 7000 || conn.Load() != 7000 {
		t.Errorf("copied %d, total counter %d, connection counter %d; want 7000 each", n, total.Load(), conn.Load())
	}
	if n := copyHalf(&chunks{}, &chunks{n: 3, size: 10}, counter{}); n != 30 {
		t.Errorf("copied %d without counters, want 30", n)
	}
}
