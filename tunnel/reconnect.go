package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// ReconnectConfig is what Reconnect keeps up.
type ReconnectConfig struct {
	// Connect makes one authenticated Client with cfg: Dial, or Connect
	// over a new conn through a relay. It should bound its own time (a
	// gateway that accepts TCP and never answers SSH must not stall it).
	Connect func(ctx context.Context, cfg Config) (*Client, error)
	Config  Config
	Specs   []Spec

	// Hold is what -L and -D entry sockets, which stay bound, do with
	// connections that arrive between two gateway connections.
	Hold HoldPolicy

	MinDelay, MaxDelay time.Duration // backoff between attempts; 0: 1s doubling to 30s, each ±20%
	MaxAttempts        int           // attempts in a row before giving up; 0: never give up

	// OnState, if set, is called as the state changes (connected, each
	// wait before an attempt, gave up). It runs on Reconnect's goroutine
	// and must not block.
	OnState func(ReconnectState)
}

// ReconnectPhase names where Reconnect is.
type ReconnectPhase string

const (
	PhaseConnected    ReconnectPhase = "connected"
	PhaseReconnecting ReconnectPhase = "reconnecting" // waiting for the next attempt
	PhaseGaveUp       ReconnectPhase = "gave-up"      // Reconnect returns Err
)

// ReconnectState is one change of Reconnect's state.
type ReconnectState struct {
	Phase      ReconnectPhase
	Attempt    int           // reconnecting: the attempt about to be made (1, 2, ...)
	Next       time.Duration // reconnecting: the wait before it
	Err        error         // reconnecting, gave up: why the connection or the last attempt failed
	Reconnects int           // connections made after the first
	Client     *Client       // connected
	Forwards   []*Forward    // connected: one per spec, in order
}

const (
	defaultMinDelay = time.Second
	defaultMaxDelay = 30 * time.Second
)

// Reconnect keeps rc.Specs forwarded through a gateway until ctx ends.
// When the connection is lost, or one of its forwards stops, it connects
// again with backoff and starts the same forwards again:
//
//   - the gateway must offer the host key it offered the first time (a
//     changed key ends Reconnect with the *HostKeyError);
//   - -L and -D entry sockets stay bound through the outage (same port,
//     port 0 included), holding or refusing what arrives meanwhile (see
//     HoldPolicy), each case logged;
//   - -R forwards are asked for again; a port 0 that comes back as another
//     port is logged.
//
// The first connection and its forwards must succeed: their error is
// returned at once (like OpenSSH's ExitOnForwardFailure), so a typo does
// not loop. Later only errors that another try would not fix end it: a
// refused host key or failed authentication, or MaxAttempts failures in a
// row. It returns nil when ctx ends, after closing the forwards and the
// connection.
func Reconnect(ctx context.Context, rc ReconnectConfig) error {
	r := &reconnector{rc: rc, cfg: rc.Config, log: rc.Config.logger()}
	r.entries = newEntrySockets(r.cfg.listen(), rc.Hold, r.log)
	defer r.entries.close()
	r.cfg.Listen = r.entries.listen
	return r.run(ctx)
}

type reconnector struct {
	rc      ReconnectConfig
	cfg     Config // rc.Config with the entry sockets, and the host key pinned once known
	log     *slog.Logger
	entries *entrySockets

	hostKey    string   // accepted the first time
	lastEntry  []string // the entries of the last connection, by spec
	reconnects int
}

func (r *reconnector) run(ctx context.Context) error {
	minDelay, maxDelay := orDefault(r.rc.MinDelay, defaultMinDelay), orDefault(r.rc.MaxDelay, defaultMaxDelay)
	delay, attempt := minDelay, 0
	for {
		c, fwds, err := r.connect(ctx)
		if err == nil {
			r.up(c, fwds)
			attempt, delay = 0, minDelay
			err = waitLost(ctx, c, fwds)
			if ctx.Err() != nil {
				closeGracefully(c)
				return nil
			}
			c.Close()
			r.entries.detachAll()
			r.log.Warn("connection to the gateway lost", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if r.hostKey == "" || permanent(err) {
			if r.hostKey != "" {
				r.state(ReconnectState{Phase: PhaseGaveUp, Err: err})
			}
			return err
		}
		attempt++
		if r.rc.MaxAttempts > 0 && attempt > r.rc.MaxAttempts {
			r.log.Error("giving up reconnecting", "attempts", attempt-1, "err", err)
			r.state(ReconnectState{Phase: PhaseGaveUp, Err: err})
			return err
		}
		wait := jitter(delay)
		r.log.Warn("reconnecting", "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		r.state(ReconnectState{Phase: PhaseReconnecting, Attempt: attempt, Next: wait, Err: err})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		delay = min(2*delay, maxDelay)
	}
}

// connect makes one Client and starts every forward on it.
func (r *reconnector) connect(ctx context.Context) (*Client, []*Forward, error) {
	c, err := r.rc.Connect(ctx, r.cfg)
	if err != nil {
		return nil, nil, err
	}
	fwds, err := startAll(ctx, c, r.rc.Specs)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, fwds, nil
}

// up records a new connection: the host key pinned after the first, the
// -R ports that moved logged.
func (r *reconnector) up(c *Client, fwds []*Forward) {
	if r.hostKey == "" {
		r.hostKey = c.HostKey()
		// Every later connection must offer this key, whatever the policy
		// allowed the first time (trust on first use, a prompt).
		r.cfg.HostKey = HostKeyPolicy{Fingerprint: r.hostKey, KnownHostsFile: r.cfg.HostKey.KnownHostsFile}
	} else {
		r.reconnects++
		r.log.Info("reconnected", "gateway", c.Addr(), "reconnects", r.reconnects)
	}
	for i, f := range fwds {
		if i < len(r.lastEntry) && r.lastEntry[i] != f.Entry() {
			r.log.Warn("forward came back on another entry socket", "forward", f.Spec().String(), "was", r.lastEntry[i], "now", f.Entry())
		}
	}
	r.lastEntry = r.lastEntry[:0]
	for _, f := range fwds {
		r.lastEntry = append(r.lastEntry, f.Entry())
	}
	r.state(ReconnectState{Phase: PhaseConnected, Reconnects: r.reconnects, Client: c, Forwards: fwds})
}

func (r *reconnector) state(s ReconnectState) {
	if s.Reconnects == 0 {
		s.Reconnects = r.reconnects
	}
	if r.rc.OnState != nil {
		r.rc.OnState(s)
	}
}

// waitLost returns why c, or one of its forwards, stopped; nil when ctx ended.
func waitLost(ctx context.Context, c *Client, fwds []*Forward) error {
	stopped := make(chan *Forward, len(fwds))
	for _, f := range fwds {
		go func() { // ends with the forward, which ends with c
			<-f.Done()
			stopped <- f
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case <-c.Done():
		return c.Wait()
	case f := <-stopped:
		if err := f.Err(); err != nil {
			return err
		}
		return c.Wait()
	}
}

// closeGracefully closes each forward before the connection, so the
// gateway confirms it stopped listening on every -R entry socket.
func closeGracefully(c *Client) {
	var wg sync.WaitGroup
	for _, f := range c.Forwards() {
		wg.Go(func() { f.Close() })
	}
	wg.Wait()
	c.Close()
}

func startAll(ctx context.Context, c *Client, specs []Spec) ([]*Forward, error) {
	var fwds []*Forward
	for _, s := range specs {
		f, err := c.Forward(ctx, s)
		if err != nil {
			for _, f := range fwds {
				f.Close()
			}
			return nil, &ForwardError{Spec: s, Err: err}
		}
		fwds = append(fwds, f)
	}
	return fwds, nil
}

// ForwardError is a forward that could not be set up on a new connection.
type ForwardError struct {
	Spec Spec
	Err  error
}

func (e *ForwardError) Error() string { return e.Err.Error() }
func (e *ForwardError) Unwrap() error { return e.Err }

// permanent reports errors that reconnecting would only repeat.
func permanent(err error) bool {
	var hke *HostKeyError
	var ae *AuthError
	return errors.As(err, &hke) || errors.As(err, &ae)
}

// jitter spreads d by ±20%, so that many clients of one gateway that
// went away do not all come back at the same instant.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
