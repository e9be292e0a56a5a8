//go:build !js

package client_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/relay/client"
)

// serveEcho answers every accepted connection with the SHA-256 and count
// of what it sent, after its half-close (as TestListen's page side).
func serveEcho(ln net.Listener, served *sync.WaitGroup) {
	defer served.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		served.Add(1)
		go func() {
			defer served.Done()
			defer c.Close()
			h := sha256.New()
			n, err := io.Copy(h, c)
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%x %d %s\n", h.Sum(nil), n, c.RemoteAddr())
		}()
	}
}

// TestListenResumeAcrossCut: connections accepted on a resumable listen
// stream carry on byte-exact while the link to the relay is cut for 2 s,
// and a connection that arrives during the cut is delivered after it.
func TestListenResumeAcrossCut(t *testing.T) {
	leakcheck.Check(t)
	u, link := relayBehindCut(t, relay.Config{AllowListen: []string{"127.0.0.1:*"}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := client.Listen(ctx, u, "127.0.0.1:0", &client.Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var served sync.WaitGroup
	served.Add(1)
	go serveEcho(ln, &served)

	// Four connections of 24 MiB, and the cut in the middle of them.
	const conns, size = 4, 24 << 20
	errs := make(chan error, conns+1)
	var wg sync.WaitGroup
	progress := make(chan struct{}, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendAndCheckProgress(ctx, addr, uint64(200+i), size, progress)
		}()
	}
	for range conns { // every connection has sent a third
		<-progress
	}
	link.Cut()
	// A connection that arrives while the page is away: the relay accepts
	// it, and the client hears of it once the stream is back.
	wg.Add(1)
	go func() { defer wg.Done(); errs <- sendAndCheck(ctx, addr, 299, 1<<20) }()
	time.Sleep(2 * time.Second)
	if err := link.Restore(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := ln.(interface{ Resumes() int }).Resumes(); n < 1 {
		t.Fatalf("listen stream resumed %d times, want at least 1", n)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	served.Wait()
}

// sendAndCheckProgress is sendAndCheck that signals once a third is sent.
func sendAndCheckProgress(ctx context.Context, addr string, seed uint64, size int64, third chan<- struct{}) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stopOnDone(ctx, c)
	src := io.LimitReader(sshtest.Data(seed), size)
	if _, err := io.CopyN(c, src, size/3); err != nil {
		return fmt.Errorf("conn %d: write: %v", seed, err)
	}
	third <- struct{}{}
	if _, err := io.Copy(c, src); err != nil {
		return fmt.Errorf("conn %d: write: %v", seed, err)
	}
	c.(*net.TCPConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("conn %d: reply: %v", seed, err)
	}
	if want := fmt.Sprintf("%s %d %s\n", sshtest.DataSum(seed, size), size, c.LocalAddr()); line != want {
		return fmt.Errorf("conn %d: reply %q, want %q", seed, line, want)
	}
	return nil
}

// TestListenResumeExpired: past the relay's window the listener fails
// with a *ResumeError (its owner binds again) and the port is released.
func TestListenResumeExpired(t *testing.T) {
	leakcheck.Check(t)
	u, link := relayBehindCut(t, relay.Config{AllowListen: []string{"127.0.0.1:*"}, ResumeWindow: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := client.Listen(ctx, u, "127.0.0.1:0", &client.Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	link.Cut()
	time.Sleep(time.Second)
	link.Restore()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("Accept never failed")
	}
	var re *client.ResumeError
	if !errors.As(err, &re) {
		t.Fatalf("Accept after the window: %v, want a *client.ResumeError", err)
	}
	var l net.Listener
	for range 100 {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("port still bound after the window: %v", err)
	}
	l.Close()
}
