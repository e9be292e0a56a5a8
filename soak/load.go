// Package soak runs tunnelkit's forwards under steady churn while faults
// are injected (see soak_test.go: `make soak`), and reports what moved,
// what broke and what the relay process used.
package soak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"
)

// Counters are one load's results.
type Counters struct {
	Bytes      atomic.Int64 // payload bytes that came back intact
	Short      atomic.Int64 // short connections that completed
	Long       atomic.Int64 // long transfers that completed, byte-checked
	NotStarted atomic.Int64 // could not connect or were refused at once (an outage)
	Lost       atomic.Int64 // broke after data had moved, or came back wrong
	LongLost   atomic.Int64 // of Lost, long transfers
	Corrupt    atomic.Int64 // came back with other bytes: never acceptable
}

func (c *Counters) add(o *Counters) {
	c.Bytes.Add(o.Bytes.Load())
	c.Short.Add(o.Short.Load())
	c.Long.Add(o.Long.Load())
	c.NotStarted.Add(o.NotStarted.Load())
	c.Lost.Add(o.Lost.Load())
	c.LongLost.Add(o.LongLost.Load())
	c.Corrupt.Add(o.Corrupt.Load())
}

// Churn opens short connections to the echo behind entry one after the
// other until ctx ends: 1-16 KiB each way, checked.
func Churn(ctx context.Context, entry string, c *Counters) {
	buf := make([]byte, 16<<10)
	got := make([]byte, 16<<10)
	for ctx.Err() == nil {
		n := 1024 + rand.IntN(15<<10)
		for i := range buf[:n] {
			buf[i] = byte(rand.Uint32())
		}
		conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
		if err != nil {
			c.NotStarted.Add(1)
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		_, werr := conn.Write(buf[:n])
		k, rerr := io.ReadFull(conn, got[:n])
		conn.Close()
		switch {
		case werr == nil && rerr == nil && bytes.Equal(buf[:n], got[:n]):
			c.Short.Add(1)
			c.Bytes.Add(int64(2 * n))
		case k == 0:
			c.NotStarted.Add(1) // reset at once: refused during an outage
			sleep(ctx, 200*time.Millisecond)
		case rerr == nil:
			c.Corrupt.Add(1)
			c.Lost.Add(1)
		default:
			c.Lost.Add(1)
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

// Long sends size bytes through the echo behind entry and checks the
// SHA-256 of what comes back, again and again until ctx ends.
func Long(ctx context.Context, entry string, size int64, c *Counters) {
	for seed := uint64(1); ctx.Err() == nil; seed++ {
		conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
		if err != nil {
			c.NotStarted.Add(1)
			sleep(ctx, time.Second)
			continue
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		want := sha256.New()
		sent := make(chan error, 1)
		go func() {
			_, err := io.Copy(conn, io.TeeReader(io.LimitReader(pattern(seed), size), want))
			if err == nil {
				err = conn.(*net.TCPConn).CloseWrite()
			}
			sent <- err
		}()
		h := sha256.New()
		n, rerr := io.Copy(h, conn)
		werr := <-sent
		stop()
		conn.Close()
		switch {
		case ctx.Err() != nil:
			return // cut short by the end of the soak: not a loss
		case rerr == nil && werr == nil && n == size && bytes.Equal(h.Sum(nil), want.Sum(nil)):
			c.Long.Add(1)
			c.Bytes.Add(2 * size)
		case rerr == nil && werr == nil && n == size:
			c.Corrupt.Add(1)
			c.Lost.Add(1)
			c.LongLost.Add(1)
		case n == 0 && werr != nil:
			c.NotStarted.Add(1)
		default:
			c.Lost.Add(1)
			c.LongLost.Add(1)
		}
	}
}

// pattern is a deterministic byte stream for a seed.
func pattern(seed uint64) io.Reader {
	return &patternReader{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

type patternReader struct{ r *rand.Rand }

func (p *patternReader) Read(b []byte) (int, error) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := p.r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}

// Carries reports whether a short echo through entry works now.
func Carries(entry string) bool {
	conn, err := net.DialTimeout("tcp", entry, 3*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("soak probe")
	if _, err := conn.Write(msg); err != nil {
		return false
	}
	got := make([]byte, len(msg))
	_, err = io.ReadFull(conn, got)
	return err == nil && bytes.Equal(got, msg)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
