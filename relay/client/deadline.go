package client

import (
	"context"
	"os"
	"sync"
	"time"
)

// deadline implements one direction of SetDeadline. A WebSocket cannot
// abandon a message half-read or half-written, so a deadline that expires
// during an operation closes the connection (as coder/websocket's NetConn
// does); one that expires between operations fails the next with
// os.ErrDeadlineExceeded until it is moved.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired bool
	active  int
	onFire  func() // called, without mu, when the deadline passes mid-operation
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.expired = false
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.expired = true
		if d.active > 0 {
			go d.onFire()
		}
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
	} else {
		d.timer.Reset(dur)
	}
}

func (d *deadline) fire() {
	d.mu.Lock()
	d.expired = true
	active := d.active > 0
	d.mu.Unlock()
	if active {
		d.onFire()
	}
}

// begin marks an operation started; end must follow.
func (d *deadline) begin() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired {
		return os.ErrDeadlineExceeded
	}
	d.active++
	return nil
}

func (d *deadline) end() {
	d.mu.Lock()
	d.active--
	d.mu.Unlock()
}

// err maps an operation's failure after the deadline fired.
func (d *deadline) err(ctx context.Context, err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired && ctx.Err() != nil {
		return os.ErrDeadlineExceeded
	}
	return err
}

func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}
