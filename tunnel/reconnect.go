package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Reconnect keeps specs forwarded through a gateway until ctx ends. connect
// makes one authenticated Client (typically Dial, or Connect over a new relay
// conn); when the connection is lost, Reconnect connects again with backoff
// (1s doubling to 30s) and starts the same forwards again. onUp, if set, is
// called with each new Client and its forwards.
//
// The first connection and its forwards must succeed: their error is
// returned at once (like OpenSSH's ExitOnForwardFailure). Later, only errors
// that another try would not fix end it: a refused host key or failed
// authentication. It returns nil when ctx ends.
//
// No command uses it yet: it is kept, with its tests, for the reliability
// work (reconnect after an outage), which will build on it.
func Reconnect(ctx context.Context, connect func(context.Context) (*Client, error), specs []Spec, onUp func(*Client, []*Forward), log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	const minDelay, maxDelay = time.Second, 30 * time.Second
	delay, connected := minDelay, false
	for {
		c, err := connect(ctx)
		if err == nil {
			var fwds []*Forward
			fwds, err = startAll(ctx, c, specs)
			if err == nil {
				connected, delay = true, minDelay
				if onUp != nil {
					onUp(c, fwds)
				}
				select {
				case <-c.Done():
					err = c.Wait()
				case <-ctx.Done():
				}
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if !connected {
			return err
		}
		if permanent(err) {
			return err
		}
		log.Warn("reconnecting", "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil
		}
		delay = min(2*delay, maxDelay)
	}
}

func startAll(ctx context.Context, c *Client, specs []Spec) ([]*Forward, error) {
	var fwds []*Forward
	for _, s := range specs {
		f, err := c.Forward(ctx, s)
		if err != nil {
			for _, f := range fwds {
				f.Close()
			}
			return nil, err
		}
		fwds = append(fwds, f)
	}
	return fwds, nil
}

// permanent reports errors that reconnecting would only repeat.
func permanent(err error) bool {
	var hke *HostKeyError
	var ae *AuthError
	return errors.As(err, &hke) || errors.As(err, &ae)
}
