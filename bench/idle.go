package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Idle streams: how much memory a bridge keeps per open, silent stream, and
// how fast it accepts new ones. The relay is a single Go process (RSS);
// websockify forks one Python process per stream, so its figure is the
// proportional set size (PSS) of the whole process tree, which counts pages
// shared between the forks once.

type idleResult struct {
	perStreamKiB float64
	streamsPerS  float64
	n            int
}

// openIdle opens n streams with dial, measures memory before and after with
// mem, and closes them all.
func openIdle(ctx context.Context, n int, dial func(context.Context) (net.Conn, error), mem func() int64) (idleResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// One stream first, so the bridge's lazily built state is not counted.
	if c, err := dial(ctx); err != nil {
		return idleResult{}, fmt.Errorf("first stream: %w", err)
	} else {
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	before := mem()

	conns := make([]net.Conn, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("stream %d of %d: %w", i+1, n, err); cancel() })
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if firstErr != nil {
		return idleResult{}, firstErr
	}
	time.Sleep(time.Second) // let the bridge finish setting up the last ones
	after := mem()
	return idleResult{
		perStreamKiB: float64(after-before) / float64(n) / 1024,
		streamsPerS:  float64(n) / elapsed.Seconds(),
		n:            n,
	}, nil
}

func idleFigures(ctx context.Context, e *Env) []Figure {
	relayMem := Figure{Name: "relay-idle-mem", Label: "relay memory per idle stream", Unit: "KiB", Peer: "websockify-idle-mem"}
	relayRate := Figure{Name: "relay-stream-rate", Label: "relay new streams per second", Unit: "/s", Peer: "websockify-stream-rate"}
	wsMem := Figure{Name: "websockify-idle-mem", Label: "websockify memory per idle stream", Unit: "KiB"}
	wsRate := Figure{Name: "websockify-stream-rate", Label: "websockify new streams per second", Unit: "/s"}

	// Two sockets per stream in the relay, one in the bench.
	n := e.Mode.IdleStreams
	if lim := int(fileLimit()-200) / 2; n > lim {
		n = lim
	}
	hold, holdAddr, err := startHold(e)
	if err != nil {
		return []Figure{figureNA(relayMem.Name, relayMem.Label, "KiB", err)}
	}
	defer stopHold(hold)

	relayErr := func() error {
		for i := range e.Mode.Runs {
			if e.left() < 20*time.Second {
				return nil
			}
			r, err := startRelay(ctx, e, []string{holdAddr}, nil, n+100)
			if err != nil {
				return err
			}
			res, err := openIdle(ctx, n, func(ctx context.Context) (net.Conn, error) {
				return dialWS(ctx, r.dialURL(holdAddr), wsTunnelkit)
			}, func() int64 { return rssBytes(r.Pid()) })
			r.Stop()
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			relayMem.Values = append(relayMem.Values, res.perStreamKiB)
			relayRate.Values = append(relayRate.Values, res.streamsPerS)
		}
		return nil
	}()
	note := fmt.Sprintf("%d streams, RSS", n)
	if n < e.Mode.IdleStreams {
		note += fmt.Sprintf(" (not %d: open-file limit %d, 2 per stream)", e.Mode.IdleStreams, fileLimit())
	}
	relayMem.Note, relayRate.Note = note, fmt.Sprintf("%d streams, 32 at a time", n)

	wsErr := func() error {
		for i := range e.Mode.Runs {
			if e.left() < 20*time.Second {
				return nil
			}
			p, addr, err := startWebsockify(ctx, holdAddr)
			if err != nil {
				return err
			}
			res, err := openIdle(ctx, e.Mode.IdleWsockify, func(ctx context.Context) (net.Conn, error) {
				return dialWS(ctx, "ws://"+addr+"/", wsWebsockify)
			}, func() int64 { return pssTreeBytes(p.Pid()) })
			p.Stop()
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			wsMem.Values = append(wsMem.Values, res.perStreamKiB)
			wsRate.Values = append(wsRate.Values, res.streamsPerS)
		}
		return nil
	}()
	wsMem.Note = fmt.Sprintf("%d streams, PSS of its forks", e.Mode.IdleWsockify)
	wsRate.Note = fmt.Sprintf("%d streams, 32 at a time", e.Mode.IdleWsockify)

	out := []Figure{}
	for _, f := range []struct {
		fig *Figure
		err error
	}{{&relayMem, relayErr}, {&relayRate, relayErr}, {&wsMem, wsErr}, {&wsRate, wsErr}} {
		switch {
		case f.err != nil:
			out = append(out, figureNA(f.fig.Name, f.fig.Label, f.fig.Unit, f.err))
		case len(f.fig.Values) == 0:
			out = append(out, figureNA(f.fig.Name, f.fig.Label, f.fig.Unit, na("out of time")))
		default:
			f.fig.Status = statusOK
			out = append(out, *f.fig)
		}
	}
	return out
}
