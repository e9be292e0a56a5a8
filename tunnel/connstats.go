package tunnel

import (
	"sort"
	"sync/atomic"
	"time"
)

// ConnStats describe one open connection of a forward. BytesOut flows
// entry -> exit, BytesIn exit -> entry, as in Stats.
type ConnStats struct {
	ID       uint64    `json:"id"`
	Remote   string    `json:"remote"` // the entry side's peer, e.g. "127.0.0.1:51234"
	Opened   time.Time `json:"opened"`
	BytesIn  int64     `json:"bytesIn"`
	BytesOut int64     `json:"bytesOut"`
}

// connCounters are one connection's live counters: the copy loop adds to
// them per chunk, next to the forward's totals.
type connCounters struct {
	id                uint64
	remote            string
	opened            time.Time
	bytesIn, bytesOut atomic.Int64
}

func (c *connCounters) snapshot() ConnStats {
	return ConnStats{ID: c.id, Remote: c.remote, Opened: c.opened,
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load()}
}

// Conns lists the forward's open connections, oldest first. Connections the
// caller holds itself (DialExit, Listener) are not among them.
func (f *Forward) Conns() []ConnStats {
	f.mu.Lock()
	out := make([]ConnStats, 0, len(f.open))
	for _, c := range f.open {
		out = append(out, c.snapshot())
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// openConn registers connection id's counters while it is piped.
func (f *Forward) openConn(id uint64, remote string) *connCounters {
	c := &connCounters{id: id, remote: remote, opened: time.Now()}
	f.mu.Lock()
	if f.open == nil {
		f.open = make(map[uint64]*connCounters)
	}
	f.open[id] = c
	f.mu.Unlock()
	return c
}

func (f *Forward) closeConn(id uint64) {
	f.mu.Lock()
	delete(f.open, id)
	f.mu.Unlock()
}
