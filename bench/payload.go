package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"tunnelkit/internal/tcpserve"
)

// pattern is the payload every throughput run sends: random bytes of a prime
// length, repeated. The sink compares each byte against the pattern at its
// stream offset (a memcmp, far cheaper than hashing), so a tunnel that drops,
// duplicates, reorders or corrupts data is caught, and a fast wrong answer
// cannot win.
var pattern = func() []byte {
	const n = 1<<20 + 7 // prime-ish length: block boundaries never line up with it
	b := make([]byte, 2*n)
	r := rand.NewChaCha8([32]byte{'t', 'u', 'n', 'n', 'e', 'l', 'k', 'i', 't'})
	r.Read(b[:n])
	copy(b[n:], b[:n]) // doubled so any window of up to n bytes is contiguous
	return b
}()

const patternLen = 1<<20 + 7

// sendPattern writes total bytes of the pattern to w in chunk-sized writes.
func sendPattern(w io.Writer, total int64, chunk int) error {
	var off int64
	for off < total {
		n := int64(chunk)
		if rem := total - off; rem < n {
			n = rem
		}
		p := off % patternLen
		if _, err := w.Write(pattern[p : p+n]); err != nil {
			return fmt.Errorf("sending at byte %d of %d: %w", off, total, err)
		}
		off += n
	}
	return nil
}

// sendRun sends one throughput run to the sink: its token, then n bytes of
// the pattern in chunk-sized writes.
func sendRun(w io.Writer, tok runToken, n int64, chunk int) error {
	if _, err := w.Write(tok[:]); err != nil {
		return fmt.Errorf("sending the run's token: %w", err)
	}
	return sendPattern(w, n, chunk)
}

// sinkResult is what a sink saw on one connection.
type sinkResult struct {
	Bytes int64
	Err   error     // content mismatch or read error before the expected count
	Done  time.Time // when the expected count was reached (or the conn ended)
	Stray bool      // the connection did not start with the run's token
}

// runToken is what a throughput run sends before its pattern, so the sink
// tells the run's connection from any other that reaches its port (a
// readiness probe, or another program on the machine dialing a port it
// once had).
type runToken [16]byte

// Sink is a TCP server that reads each connection, checks its bytes against
// the pattern, and reports one result per connection once it has seen
// Expect bytes or the connection ended. Connections with no data at all
// (readiness probes) are reported too, with Bytes 0.
type Sink struct {
	*tcpserve.Server
	results chan sinkResult
	mu      sync.Mutex
	expect  int64
	token   runToken
}

func startSink(addr string) (*Sink, error) {
	s := &Sink{results: make(chan sinkResult, 64)}
	srv, err := tcpserve.Listen(addr, s.serve)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.Server = srv
	return s, nil
}

// Expect sets the byte count of the next run and drops stale results. It
// returns the token the run must send before its n bytes of pattern.
func (s *Sink) Expect(n int64) runToken {
	s.mu.Lock()
	s.expect = n
	crand.Read(s.token[:])
	tok := s.token
	s.mu.Unlock()
	s.drop()
	return tok
}

// drop discards results not waited for.
func (s *Sink) drop() {
	for {
		select {
		case <-s.results:
		default:
			return
		}
	}
}

// Wait returns the result of the run's connection, skipping empty probe
// connections and stray ones.
func (s *Sink) Wait(ctx context.Context) (sinkResult, error) {
	for {
		select {
		case r := <-s.results:
			if r.Stray {
				log.Printf("sink: ignored a connection that did not start with this run's token")
				continue
			}
			if r.Bytes == 0 && r.Err == nil {
				continue
			}
			return r, nil
		case <-ctx.Done():
			return sinkResult{}, fmt.Errorf("sink got nothing: %w", context.Cause(ctx))
		}
	}
}

func (s *Sink) serve(c net.Conn) {
	s.mu.Lock()
	expect, want := s.expect, s.token
	s.mu.Unlock()
	var r sinkResult
	var got runToken
	switch n, err := io.ReadFull(c, got[:]); {
	case n == 0 && err != nil: // a readiness probe
		r = sinkResult{Done: time.Now()}
	case got != want:
		r = sinkResult{Stray: true}
	default:
		r = s.check(c, expect)
	}
	select {
	case s.results <- r:
	default: // nobody is waiting for this one
	}
	io.Copy(io.Discard, c) // drain the rest so the sender is never stuck
}

func (s *Sink) check(c net.Conn, expect int64) sinkResult {
	buf := make([]byte, 256<<10)
	var off int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p := off % patternLen
			for done := 0; done < n; {
				k := n - done
				if k > patternLen {
					k = patternLen
				}
				if !bytes.Equal(buf[done:done+k], pattern[p:p+int64(k)]) {
					return sinkResult{Bytes: off, Err: fmt.Errorf("payload corrupted near byte %d", off+int64(done)), Done: time.Now()}
				}
				done += k
				p = (p + int64(k)) % patternLen
			}
			off += int64(n)
			if expect > 0 && off >= expect {
				if off > expect {
					return sinkResult{Bytes: off, Err: fmt.Errorf("got %d bytes, sent %d", off, expect), Done: time.Now()}
				}
				return sinkResult{Bytes: off, Done: time.Now()}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (expect == 0 || off == 0) {
				return sinkResult{Bytes: off, Done: time.Now()}
			}
			return sinkResult{Bytes: off, Err: fmt.Errorf("sink read after %d of %d bytes: %w", off, expect, err), Done: time.Now()}
		}
	}
}

// Echo is a TCP server that writes back whatever it reads.
type Echo struct{ *tcpserve.Server }

func startEcho(addr string) (*Echo, error) {
	srv, err := tcpserve.Listen(addr, func(c net.Conn) { io.Copy(c, c) })
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	return &Echo{srv}, nil
}

// Source is a TCP server that, for each connection, reads an 8-byte
// big-endian count and writes that many bytes of the pattern: the exit of
// the download cases, where data flows from the exit back to the entry.
type Source struct{ *tcpserve.Server }

func startSource(addr string) (*Source, error) {
	srv, err := tcpserve.Listen(addr, func(c net.Conn) {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err == nil {
			sendPattern(c, int64(binary.BigEndian.Uint64(hdr[:])), 64<<10)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return &Source{srv}, nil
}

// receivePattern asks the source at the far end of c for n bytes and checks them.
func receivePattern(c net.Conn, n int64) error {
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(n))
	if _, err := c.Write(hdr[:]); err != nil {
		return fmt.Errorf("asking the source for %d bytes: %w", n, err)
	}
	buf := make([]byte, 256<<10)
	var off int64
	for off < n {
		k, err := c.Read(buf[:min(int64(len(buf)), n-off)])
		if k > 0 {
			p := off % patternLen
			for done := 0; done < k; {
				m := min(k-done, patternLen)
				if !bytes.Equal(buf[done:done+m], pattern[p:p+int64(m)]) {
					return fmt.Errorf("payload corrupted near byte %d", off+int64(done))
				}
				done += m
				p = (p + int64(m)) % patternLen
			}
			off += int64(k)
		}
		if err != nil {
			return fmt.Errorf("receiving after %d of %d bytes: %w", off, n, err)
		}
	}
	return nil
}
