package tunnel

import "sync/atomic"

// Stats are a forward's live counters. BytesOut flows entry -> exit, BytesIn exit -> entry.
type Stats struct {
	Connections int64 `json:"connections"` // total accepted
	Active      int64 `json:"active"`
	BytesIn     int64 `json:"bytesIn"`
	BytesOut    int64 `json:"bytesOut"`
}

type counters struct {
	connections, active, bytesIn, bytesOut atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Connections: c.connections.Load(),
		Active:      c.active.Load(),
		BytesIn:     c.bytesIn.Load(),
		BytesOut:    c.bytesOut.Load(),
	}
}
