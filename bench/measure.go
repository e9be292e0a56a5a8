package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Path is a running tunnel set up by a case: two routes from the bench
// through the tunnel, one to the sink and one to the echo server.
type Path struct {
	DialSink func(ctx context.Context) (net.Conn, error)
	DialEcho func(ctx context.Context) (net.Conn, error)
	// DialSource, when set, makes throughput a download: bytes flow from
	// the source at the exit back to the bench at the entry.
	DialSource func(ctx context.Context) (net.Conn, error)
	Pids       []int         // roots of the process trees that make up the tunnel (CPU)
	Chunk      int           // write size; 0: 64 KiB
	Close      func()        // stops what the case started
	Diagnose   func() string // optional: what the tunnel's parts said, for a failed run
}

// runSample is what one run of a case measured.
type runSample struct {
	MBps      float64 `json:"mbps"`
	CPUPerGiB float64 `json:"cpu_s_per_gib"`
	RTTp50    float64 `json:"rtt_p50_us"`
	RTTp99    float64 `json:"rtt_p99_us"`
}

// measureThroughput pushes n bytes through the path to the sink and returns
// MB/s (10^6 bytes) and the tunnel's CPU seconds per GiB.
func measureThroughput(ctx context.Context, e *Env, p *Path, n int64) (mbps, cpuPerGiB float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.Mode.RunTimeout)
	defer cancel()
	if p.DialSource != nil {
		return measureDownload(ctx, p, n)
	}
	tok := e.Sink.Expect(n)
	c, err := p.DialSink(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("dialing the sink through the tunnel: %w", err)
	}
	defer c.Close()
	stopOnCancel := context.AfterFunc(ctx, func() { c.Close() })
	defer stopOnCancel()
	chunk := p.Chunk
	if chunk == 0 {
		chunk = 64 << 10
	}
	cpu := newCPUMeter(p.Pids...)
	cpu.Start()
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendRun(c, tok, n, chunk) }()
	r, err := e.Sink.Wait(ctx)
	if err != nil {
		if se := <-sendErr; se != nil {
			return 0, 0, se
		}
		return 0, 0, err
	}
	cpuSec := cpu.Seconds()
	if err := <-sendErr; err != nil {
		return 0, 0, err
	}
	if r.Err != nil {
		return 0, 0, r.Err
	}
	if r.Bytes != n {
		return 0, 0, fmt.Errorf("sink got %d bytes, sent %d", r.Bytes, n)
	}
	secs := r.Done.Sub(start).Seconds()
	return float64(n) / 1e6 / secs, cpuSec / (float64(n) / (1 << 30)), nil
}

// measureRTT sends 64-byte messages through the path to the echo server, one
// at a time, and returns the p50 and p99 round-trip times in microseconds.
func measureRTT(ctx context.Context, e *Env, p *Path, rounds int) (p50, p99 float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.Mode.RunTimeout)
	defer cancel()
	c, err := p.DialEcho(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("dialing the echo server through the tunnel: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	msg, back := pattern[:64], make([]byte, 64)
	times := make([]time.Duration, 0, rounds)
	const warmup = 20
	for i := range rounds + warmup {
		d, err := roundTrip(c, msg, back)
		if err != nil {
			return 0, 0, fmt.Errorf("round %d: %w", i, err)
		}
		if i >= warmup {
			times = append(times, d)
		}
	}
	return quantile(times, 0.50), quantile(times, 0.99), nil
}

// roundTrip writes msg to the echo server through c and reads it back into
// back, which must be as long.
func roundTrip(c net.Conn, msg, back []byte) (time.Duration, error) {
	t := time.Now()
	if _, err := c.Write(msg); err != nil {
		return 0, fmt.Errorf("echo write: %w", err)
	}
	if _, err := io.ReadFull(c, back); err != nil {
		return 0, fmt.Errorf("echo read: %w", err)
	}
	d := time.Since(t)
	if string(back) != string(msg) {
		return 0, fmt.Errorf("echo returned different bytes")
	}
	return d, nil
}

// measureDownload asks the source at the exit for n bytes and times their
// arrival at the entry.
func measureDownload(ctx context.Context, p *Path, n int64) (mbps, cpuPerGiB float64, err error) {
	c, err := p.DialSource(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("dialing the source through the tunnel: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	cpu := newCPUMeter(p.Pids...)
	cpu.Start()
	start := time.Now()
	if err := receivePattern(c, n); err != nil {
		return 0, 0, err
	}
	secs := time.Since(start).Seconds()
	return float64(n) / 1e6 / secs, cpu.Seconds() / (float64(n) / (1 << 30)), nil
}
