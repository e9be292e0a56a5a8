//go:build !js

package client_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tunnelkit/relay"
	"tunnelkit/relay/client"
)

// BenchmarkRoundTripResume sends 64 bytes to a loopback echo service
// through a relay dial stream and waits for them to come back, on a plain
// stream and on a resumable one. The two share one relay and alternate
// (-count N), so a shared machine loads both alike.
func BenchmarkRoundTripResume(b *testing.B) {
	url, echo := echoThroughRelay(b)
	for _, resume := range []bool{false, true} {
		name := "plain"
		if resume {
			name = "resume"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := client.Dial(ctx, url, echo, &client.Options{Resume: resume})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			p := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(p); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThroughputResume writes 32 KiB at a time to an echo service
// through a resumable stream and a plain one while reading the echo.
func BenchmarkThroughputResume(b *testing.B) {
	url, echo := echoThroughRelay(b)
	for _, resume := range []bool{false, true} {
		name := "plain"
		if resume {
			name = "resume"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := client.Dial(ctx, url, echo, &client.Options{Resume: resume})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			p := make([]byte, 32<<10)
			done := make(chan error, 1)
			n := int64(b.N) * int64(len(p))
			go func() {
				_, err := io.CopyN(io.Discard, c, n)
				done <- err
			}()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for range b.N { // not b.Loop: the reader needs b.N up front
				if _, err := c.Write(p); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTripResumeAB alternates one round trip on a plain stream
// and one on a resumable stream in each iteration and reports each's
// mean, for an A/B comparison that a busy machine loads alike.
func BenchmarkRoundTripResumeAB(b *testing.B) {
	url, echo := echoThroughRelay(b)
	var conns [2]net.Conn
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, url, echo, &client.Options{Resume: i == 1})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	p := make([]byte, 64)
	var spent [2]time.Duration
	for b.Loop() {
		for i, c := range conns {
			start := time.Now()
			if _, err := c.Write(p); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, p); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "plain-ns/rt")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "resume-ns/rt")
}

// echoThroughRelay starts a loopback echo service and a relay allowed to
// dial it, for the benchmark's life: the relay's URL and the echo's address.
func echoThroughRelay(b *testing.B) (url, echo string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	r, err := relay.New(relay.Config{Allow: []string{ln.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ln.Addr().String()
}
