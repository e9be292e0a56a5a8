package tunnel

import (
	"fmt"
	"time"
)

// startKeepalive sends keepalive@openssh.com with want-reply every interval,
// like OpenSSH's ServerAliveInterval. Any reply counts, a failure too (sshd
// answers unknown requests with one). After max intervals without a reply
// the connection is closed and Wait says the gateway stopped answering.
func (c *Client) startKeepalive() {
	interval, max := c.cfg.KeepaliveInterval, c.cfg.KeepaliveMax
	if interval < 0 {
		return
	}
	if interval == 0 {
		interval = defaultKeepaliveInterval
	}
	if max <= 0 {
		max = defaultKeepaliveMax
	}
	c.spawn(func() { c.keepalive(interval, max) })
}

func (c *Client) keepalive(interval time.Duration, max int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	replies := make(chan struct{}, 1)
	inflight, missed := false, 0
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-replies:
			inflight, missed = false, 0
		case <-t.C:
			if inflight {
				missed++
				if missed >= max {
					c.fail(fmt.Errorf("gateway %s stopped answering: no reply to keepalives for %v (%d x %v); closing the connection",
						c.addr, time.Duration(missed)*interval, missed, interval))
					return
				}
				continue
			}
			inflight = true
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				// Returns with an error once the connection closes.
				if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err != nil {
					return
				}
				select {
				case replies <- struct{}{}:
				default:
				}
			}()
		}
	}
}
