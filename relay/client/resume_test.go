//go:build !js

package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/leakcheck"
	"tunnelkit/internal/linkcut"
	"tunnelkit/internal/relaytest"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/relay/client"
)

// relayBehindCut starts a relay allowing target and a cuttable link to it;
// it returns the relay URL through the link.
func relayBehindCut(t *testing.T, cfg relay.Config) (string, *linkcut.Proxy) {
	t.Helper()
	u := relaytest.Start(t, cfg)
	p, err := linkcut.Start(strings.TrimPrefix(u, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return "ws://" + p.Addr, p
}

// TestResumeAcrossCut sends 64 MiB through an echo while the link to the
// relay is cut for 2 s: the same conn goes on and every byte comes back.
func TestResumeAcrossCut(t *testing.T) {
	leakcheck.Check(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	u, link := relayBehindCut(t, relay.Config{Allow: []string{echo}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, u, echo, &client.Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 64 << 20
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, io.LimitReader(sshtest.Data(3), size))
		if err == nil {
			err = conn.(interface{ CloseWrite() error }).CloseWrite()
		}
		sent <- err
	}()
	h := sha256.New()
	var got int64
	buf := make([]byte, 64<<10)
	cut := false
	for got < size {
		n, err := conn.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		if !cut && got > size/3 {
			cut = true
			link.Cut()
			go func() { time.Sleep(2 * time.Second); link.Restore() }()
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("write: %v", err)
	}
	if sum := sha256Hex(h); sum != sshtest.DataSum(3, size) {
		t.Fatal("bytes differ after the cut")
	}
	if _, err := conn.Read(buf); err != io.EOF {
		t.Fatalf("after the echo: %v, want EOF", err)
	}
	if ok, _ := client.ResumeStats(); ok < 1 {
		t.Fatalf("%d resumes, want at least 1", ok)
	}
}

// TestResumeExpired: past the relay's window the conn fails with a
// *ResumeError, so its user reconnects.
func TestResumeExpired(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	u, link := relayBehindCut(t, relay.Config{Allow: []string{echo}, ResumeWindow: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, u, echo, &client.Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	link.Cut()
	time.Sleep(time.Second)
	link.Restore()
	done := make(chan error, 1)
	go func() { _, err := conn.Read(make([]byte, 1)); done <- err }()
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("read never failed")
	}
	var re *client.ResumeError
	if !errors.As(err, &re) {
		t.Fatalf("read after the window: %v, want a *client.ResumeError", err)
	}
}

func sha256Hex(h interface{ Sum([]byte) []byte }) string {
	const hexd = "0123456789abcdef"
	s := h.Sum(nil)
	out := make([]byte, 0, 2*len(s))
	for _, b := range s {
		out = append(out, hexd[b>>4], hexd[b&15])
	}
	return string(out)
}
