package relay

import (
	"context"
	"time"

	"tunnelkit/relay/wire"
)

// Shutdown stops taking streams and listeners, lets data streams drain
// until ctx ends, then closes what is left with 4503 and waits for every
// goroutine of the relay to return. It returns ctx's error if it had to
// cut streams short.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	listeners := make([]*listenBridge, 0, len(r.listens))
	for lb := range r.listens {
		listeners = append(listeners, lb)
	}
	r.mu.Unlock()
	for _, lb := range listeners {
		lb.stopAccepting()
	}

	err := r.drain(ctx)
	r.mu.Lock()
	for s := range r.streams {
		s.finish(wire.CloseShuttingDown, errShuttingDown.Error())
	}
	r.mu.Unlock()
	for _, lb := range listeners {
		lb.close()
	}
	r.wg.Wait()
	return err
}

// drain waits until no data stream is left or ctx ends.
func (r *Relay) drain(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if r.dataStreams() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (r *Relay) dataStreams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for s := range r.streams {
		if s.dataBound {
			n++
		}
	}
	return n
}

// enter counts an HTTP handler the relay must wait for; false once the
// relay is shutting down.
func (r *Relay) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Add(1)
	return true
}
