//go:build !js

package client

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// corkPair is a corkConn on one end of a loopback TCP connection and the
// plain other end.
func corkPair(t *testing.T) (*corkConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	peer.SetDeadline(time.Now().Add(20 * time.Second)) // a held byte fails the test instead of hanging it
	return &corkConn{Conn: c}, peer
}

// TestCorkNeverHolds checks that whatever was written before a write of
// another size than corkChunk, or before Flush, has reached the peer, in
// order.
func TestCorkNeverHolds(t *testing.T) {
	cc, peer := corkPair(t)
	cc.cork()
	rng := rand.New(rand.NewPCG(1, 2))
	var sent []byte
	got := 0
	check := func(step string) {
		t.Helper()
		want := sent[got:]
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatalf("%s: %d bytes not delivered: %v", step, len(want), err)
		}
		if !bytes.Equal(buf, want) {
			t.Fatalf("%s: bytes out of order", step)
		}
		got = len(sent)
	}
	write := func(n int) {
		t.Helper()
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if m, err := cc.Write(p); m != n || err != nil {
			t.Fatalf("Write(%d) = %d, %v", n, m, err)
		}
		sent = append(sent, p...)
	}
	// 70 chunks overflow the gathering buffer once on the way.
	for _, frame := range [][]int{{4096, 4096, 14}, {6}, {4096, 5000}, {100, 4096, 4096, 1}, {70 * 4096, 2}} {
		for _, n := range frame {
			if n == 70*4096 {
				for range 70 {
					write(corkChunk)
				}
				continue
			}
			write(n)
		}
		check("after a short write")
	}
	write(corkChunk)
	write(corkChunk)
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	check("after Flush")
	if cc.buf != nil {
		t.Error("the gathering buffer is kept after a flush")
	}
}

// TestCorkOffUntilUpgraded checks that before cork (during the HTTP
// upgrade) a write of corkChunk bytes goes straight through.
func TestCorkOffUntilUpgraded(t *testing.T) {
	cc, peer := corkPair(t)
	p := bytes.Repeat([]byte{7}, corkChunk)
	if _, err := cc.Write(p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, corkChunk)
	if _, err := io.ReadFull(peer, buf); err != nil || !bytes.Equal(buf, p) {
		t.Fatalf("read %v, want the write delivered at once", err)
	}
}

// TestReadAhead reads a stream in small and large pieces through the
// read-ahead buffer and checks every byte, then the peer's EOF.
func TestReadAhead(t *testing.T) {
	cc, peer := corkPair(t)
	cc.Conn.SetDeadline(time.Now().Add(20 * time.Second))
	want := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	go func() {
		peer.Write(want)
		peer.Close()
	}()
	var got []byte
	for _, size := range []int{1, 4096, 100, readAhead, 3 * readAhead, 7} {
		buf := make([]byte, size)
		n, err := io.ReadFull(cc, buf)
		if err != nil {
			t.Fatalf("read of %d after %d bytes: %v", size, len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	rest, err := io.ReadAll(cc)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the %d sent", len(got), len(want))
	}
}
