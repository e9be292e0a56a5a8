package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"tunnelkit/relay/wire"
)

// ResumeError is a resumable stream that could not be re-attached: the
// relay no longer holds it (its window passed, it restarted, or this is
// another relay), refused it, or could not be reached within the window.
// The caller falls back to a new connection.
type ResumeError struct {
	Err error // the last attempt's error; a *CloseError when the relay refused
}

func (e *ResumeError) Error() string { return "stream could not be resumed: " + e.Err.Error() }
func (e *ResumeError) Unwrap() error { return e.Err }

// ResumeStats counts, for all resumable streams of this process, the
// re-attachments that worked and those that did not.
func ResumeStats() (resumed, failed int64) {
	resumeCount.Lock()
	defer resumeCount.Unlock()
	return resumeCount.ok, resumeCount.failed
}

var resumeCount struct {
	sync.Mutex
	ok, failed int64
}

// resumeConn is a dial stream that survives its WebSocket dropping: it
// keeps what it sent until the relay acknowledges it, counts what it
// received, and on a drop re-attaches (GET /v1/resume) and replays from
// where the relay's bytes stopped.
type resumeConn struct {
	relayURL string
	o        Options
	id       string
	window   time.Duration
	remote   net.Addr
	local    net.Addr
	maxWrite int

	writers sync.Mutex // one Write at a time, so room only grows while one waits
	wmu     sync.Mutex // held for every transport write: data, acks, replay

	mu   sync.Mutex
	cond *sync.Cond
	t    transport // nil while re-attaching

	rbuf     []byte // received, not yet read
	recvd    int64  // bytes received in all
	consumed int64  // bytes read by the caller
	ackedTo  int64  // consumed bytes acknowledged (or dropped by a resume)
	rEOF     bool   // the relay's zero-length message arrived

	ubuf  []byte // sent and not acknowledged, from ubase on
	ubase int64
	wFin  bool // CloseWrite was called

	err     error // final: reads after rbuf and writes fail with it
	closed  bool
	resumes int
	rdl     time.Time
	wdl     time.Time
	timers  []*time.Timer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dialResumable is Dial with ?resume=1.
func dialResumable(ctx context.Context, relayURL, target string, o *Options) (net.Conn, error) {
	q := url.Values{"target": {target}, wire.ResumeParam: {"1"}}
	t, m, err := openStream(ctx, relayURL, "dial", q, o)
	if err != nil {
		return nil, fmt.Errorf("dial %s through relay: %w", target, err)
	}
	if m.Type != wire.TypeOpen {
		t.close(wire.CloseBadRequest, "expected open")
		return nil, fmt.Errorf("dial %s through relay: got %q message, want open (is the relay tunnelkit v1?)", target, m.Type)
	}
	if m.Resume == "" { // a relay that does not resume: a plain stream
		return newConn(t, tcpAddr(m.Addr), relayAddr(relayURL), m.Max), nil
	}
	c := &resumeConn{relayURL: relayURL, o: *o, id: m.Resume, window: time.Duration(m.Window) * time.Millisecond,
		remote: tcpAddr(m.Addr), local: relayAddr(relayURL), maxWrite: wire.DefaultMaxMessage, t: t}
	if m.Max > 0 && m.Max < wire.DefaultMaxMessage {
		c.maxWrite = int(m.Max)
	}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.pump(t)
	return c, nil
}

// pump takes t's messages as they arrive: data into rbuf, acks trimming
// ubuf. It never waits on the reader: the relay sends no more than
// wire.ResumeBuffer past what the reader consumed.
func (c *resumeConn) pump(t transport) {
	defer c.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		text, r, err := t.next(context.Background())
		if err != nil {
			c.lost(t, err)
			return
		}
		if text {
			b, err := io.ReadAll(io.LimitReader(r, wire.MaxControl+1))
			if err != nil {
				c.lost(t, err)
				return
			}
			m, perr := wire.ParseMessage(b)
			if perr == nil && m.Type == wire.TypeAck {
				perr = c.acked(m.N)
			}
			if perr != nil {
				c.fail(fmt.Errorf("relay broke the resume protocol: %v", perr))
				t.close(wire.CloseBadRequest, perr.Error())
				return
			}
			continue
		}
		size := 0
		for {
			n, err := r.Read(buf)
			// Bytes that come with a read error may be incomplete frames:
			// not counted, the relay sends them again after resuming.
			if n > 0 && (err == nil || err == io.EOF) {
				size += n
				c.mu.Lock()
				c.rbuf = append(c.rbuf, buf[:n]...)
				c.recvd += int64(n)
				c.cond.Broadcast()
				c.mu.Unlock()
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				c.lost(t, err)
				return
			}
		}
		if size == 0 {
			c.mu.Lock()
			c.rEOF = true
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	}
}

func (c *resumeConn) acked(n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= 0 || n > int64(len(c.ubuf)) {
		return fmt.Errorf("ack of %d bytes: %d were sent and not acknowledged", n, len(c.ubuf))
	}
	c.ubuf = append(c.ubuf[:0], c.ubuf[n:]...)
	c.ubase += n
	c.cond.Broadcast()
	return nil
}

// lost handles the end of transport t: a drop starts re-attaching; a close
// by the relay (it ended or refused the stream) is final.
func (c *resumeConn) lost(t transport, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t != t {
		return
	}
	c.t = nil
	c.wg.Add(1)
	go func() { defer c.wg.Done(); t.close(wire.CloseGoingAway, "") }() // may wait on a dead link
	if c.closed || c.err != nil {
		return
	}
	var ce *CloseError
	if errors.As(err, &ce) && ce.Code != wire.CloseAbnormal && ce.Code != wire.CloseGoingAway {
		if ce.Code == wire.CloseNormal {
			err = io.EOF
		}
		c.err = err
		c.cond.Broadcast()
		return
	}
	c.wg.Add(1)
	go c.reattach(err)
}

// reattach opens /v1/resume until the relay takes it or the window passes.
func (c *resumeConn) reattach(cause error) {
	defer c.wg.Done()
	deadline := time.Now().Add(c.window)
	delay := 100 * time.Millisecond
	last := cause
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := c.recvd
		c.mu.Unlock()
		ctx, cancel := context.WithDeadline(c.ctx, deadline)
		t, m, err := openStream(ctx, c.relayURL, "resume", url.Values{"id": {c.id}, "n": {strconv.FormatInt(n, 10)}}, &c.o)
		cancel()
		if c.ctx.Err() != nil {
			if err == nil {
				t.close(wire.CloseNormal, "")
			}
			return
		}
		if err == nil && m.Type != wire.TypeResumed {
			t.close(wire.CloseBadRequest, "expected resumed")
			err = fmt.Errorf("relay answered a resume with %q", m.Type)
		}
		if err == nil {
			if err = c.replay(t, m.N); err == nil {
				return
			}
		}
		last = err
		if refusedForGood(err) {
			break
		}
		if !waitRetry(c.ctx, &delay) {
			return
		}
	}
	resumeCount.Lock()
	resumeCount.failed++
	resumeCount.Unlock()
	c.fail(&ResumeError{Err: last})
}

// replay makes t the stream's transport and sends again what the relay
// had not received (it had from), then the FIN if one was sent.
func (c *resumeConn) replay(t transport, from int64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if from < c.ubase || from > c.ubase+int64(len(c.ubuf)) {
		c.mu.Unlock()
		t.close(wire.CloseBadRequest, "bad resume position")
		return fmt.Errorf("relay resumed at %d, outside %d-%d", from, c.ubase, c.ubase+int64(len(c.ubuf)))
	}
	c.ubuf = append(c.ubuf[:0], c.ubuf[from-c.ubase:]...)
	c.ubase = from
	c.ackedTo = max(c.ackedTo, c.recvd) // the relay dropped what we had received
	pending := append([]byte(nil), c.ubuf...)
	fin := c.wFin
	c.t = t
	c.resumes++
	c.cond.Broadcast()
	c.mu.Unlock()
	resumeCount.Lock()
	resumeCount.ok++
	resumeCount.Unlock()
	c.wg.Add(1)
	go c.pump(t)
	for len(pending) > 0 {
		m := pending[:min(len(pending), c.maxWrite)]
		if err := t.write(context.Background(), false, m); err != nil {
			return nil // the pump sees the drop and re-attaches again
		}
		pending = pending[len(m):]
	}
	if fin {
		t.write(context.Background(), false, nil)
	}
	return nil
}

func (c *resumeConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	t := c.t
	c.cond.Broadcast()
	c.mu.Unlock()
	if t != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); t.close(wire.CloseBadRequest, "") }()
	}
}

func (c *resumeConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	for len(c.rbuf) == 0 && !c.rEOF && c.err == nil && !c.closed && !expired(c.rdl) {
		c.cond.Wait()
	}
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case len(c.rbuf) == 0 && c.rEOF:
		c.mu.Unlock()
		return 0, io.EOF
	case len(c.rbuf) == 0 && c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	case len(c.rbuf) == 0:
		c.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, c.rbuf)
	// Reslice, not move the rest down: rbuf holds up to ResumeBuffer and
	// a move per small read made a download quadratic. The pump's append
	// reallocates the live bytes once the tail's room runs out.
	c.rbuf = c.rbuf[n:]
	c.consumed += int64(n)
	ack := c.consumed - c.ackedTo
	t := c.t
	if ack < wire.ResumeBuffer/4 || t == nil {
		ack = 0
	} else {
		c.ackedTo = c.consumed
	}
	c.mu.Unlock()
	if ack > 0 {
		c.wmu.Lock()
		t.write(context.Background(), true, wire.AppendAck(nil, ack)) // a failure is the pump's to see
		c.wmu.Unlock()
	}
	return n, nil
}

func (c *resumeConn) Write(p []byte) (int, error) {
	c.writers.Lock()
	defer c.writers.Unlock()
	n := 0
	for len(p) > 0 {
		c.mu.Lock()
		for len(c.ubuf) >= wire.ResumeBuffer && c.err == nil && !c.closed && !c.wFin && !expired(c.wdl) {
			c.cond.Wait()
		}
		err := c.writeErrLocked()
		room := wire.ResumeBuffer - len(c.ubuf)
		c.mu.Unlock()
		if err != nil {
			return n, err
		}
		m := p[:min(len(p), room, c.maxWrite)]
		c.wmu.Lock()
		c.mu.Lock()
		c.ubuf = append(c.ubuf, m...)
		t := c.t
		c.mu.Unlock()
		if t != nil {
			t.write(context.Background(), false, m) // on a drop, m is replayed from ubuf
		}
		c.wmu.Unlock()
		n += len(m)
		p = p[len(m):]
	}
	return n, nil
}

func (c *resumeConn) writeErrLocked() error {
	switch {
	case c.closed:
		return net.ErrClosed
	case c.wFin:
		return errWriteClosed
	case c.err != nil:
		return c.err
	case len(c.ubuf) >= wire.ResumeBuffer:
		return os.ErrDeadlineExceeded
	}
	return nil
}

// CloseWrite sends the FIN; a resume sends it again.
func (c *resumeConn) CloseWrite() error {
	c.writers.Lock()
	defer c.writers.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.wFin || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.wFin = true
	t := c.t
	c.mu.Unlock()
	if t != nil {
		t.write(context.Background(), false, nil)
	}
	return nil
}

func (c *resumeConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	t := c.t
	c.t = nil
	for _, tm := range c.timers {
		tm.Stop()
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel()
	if t != nil {
		t.close(wire.CloseNormal, "")
	}
	c.wg.Wait()
	return nil
}

func (c *resumeConn) RemoteAddr() net.Addr { return c.remote }
func (c *resumeConn) LocalAddr() net.Addr  { return c.local }

func (c *resumeConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *resumeConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, t)
	return nil
}

func (c *resumeConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, t)
	return nil
}

// setDeadline wakes waiting reads and writes when t passes.
func (c *resumeConn) setDeadline(dl *time.Time, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*dl = t
	c.cond.Broadcast()
	if !t.IsZero() {
		c.timers = append(c.timers[:0:0], time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		}))
	}
}

func expired(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

// Resumes says how many times the stream was re-attached.
func (c *resumeConn) Resumes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumes
}

// refusedForGood reports whether the relay said no to a resume in a way
// that trying again would not change: anything but a drop or a restart.
func refusedForGood(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce) && ce.Code != wire.CloseAbnormal && ce.Code != wire.CloseGoingAway && ce.Code != wire.CloseShuttingDown
}

// waitRetry waits *delay, then doubles it (to 2 s at most); false when ctx
// ended first.
func waitRetry(ctx context.Context, delay *time.Duration) bool {
	select {
	case <-time.After(*delay):
	case <-ctx.Done():
		return false
	}
	*delay = min(2**delay, 2*time.Second)
	return true
}
