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

// benchDial opens a dial stream through a real relay to a loopback service
// that serve runs on each accepted connection.
func benchDial(b *testing.B, serve func(net.Conn)) net.Conn {
	b.Helper()
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
			go func() { serve(c); c.Close() }()
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), ln.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkConnWrite writes 32 KiB at a time, as an SSH connection does,
// to a TCP sink.
func BenchmarkConnWrite(b *testing.B) {
	c := benchDial(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := make([]byte, 32<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnRead reads 4 KiB at a time, as an SSH connection does, from
// a TCP source.
func BenchmarkConnRead(b *testing.B) {
	c := benchDial(b, func(c net.Conn) {
		p := make([]byte, 128<<10)
		for {
			if _, err := c.Write(p); err != nil {
				return
			}
		}
	})
	p := make([]byte, 4<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.ReadFull(c, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnRoundTrip sends 64 bytes to an echo service and waits for
// them to come back.
func BenchmarkConnRoundTrip(b *testing.B) {
	c := benchDial(b, func(c net.Conn) { io.Copy(c, c) })
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
}
