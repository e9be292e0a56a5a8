package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// A flow-controlled stream whose target stopped reading holds its queue
// (up to its credit) while nothing moves. If its client then vanishes
// without a close (a dropped network, a suspended laptop), no read or
// write fails, and only the idle timeout would free it. So while the
// queue is stuck the relay pings the client every QueueDrainTimeout; a
// client that does not answer within that is gone, and the stream ends.
// A live client answers: its reader runs, as flow control lets it.

// stallCheckEvery is how often watchIdle looks for a stuck queue; 0 when
// the stream has no queue to watch.
func (r *Relay) stallCheckEvery(s *stream) time.Duration {
	if s.flow == nil || r.cfg.QueueDrainTimeout >= r.cfg.IdleTimeout {
		return 0
	}
	return r.cfg.QueueDrainTimeout
}

// goneWhileStalled reports whether s's queue made no progress since the
// last check (*taken: bytes the target had taken then) and its client did
// not answer a ping; it then finishes s.
func (r *Relay) goneWhileStalled(s *stream, ws *websocket.Conn, taken *int64) bool {
	q := s.flow.up.Load()
	if q == nil {
		return false
	}
	queued, now := q.progress()
	if queued == 0 || now != *taken {
		*taken = now
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, r.cfg.QueueDrainTimeout)
	err := ws.Ping(ctx)
	cancel()
	if err == nil || s.ctx.Err() != nil {
		return false
	}
	r.metrics.refusals.WithLabelValues("drain_timeout").Inc()
	s.finishHint(wire.CloseGoingAway, fmt.Sprintf("client stopped answering pings while the target did not take the %d bytes queued for it", queued), "see --queue-drain-timeout")
	return true
}
