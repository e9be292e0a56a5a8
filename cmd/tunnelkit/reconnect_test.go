package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/linkcut"
	"tunnelkit/internal/relaytest"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

// carriesAgain pings through addr until it answers, for at most d.
func carriesAgain(t *testing.T, p *tunnelkitProc, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = sshtest.Ping("", addr, "again"); err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("tunnelkit exited (%v) instead of reconnecting", p.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("%s does not carry again %v after the gateway came back: %v", addr, d, err)
}

// TestSSHReconnect kills the gateway's sshd with its sessions, restarts it
// with the same host key, and checks that tunnelkit ssh's -L and -R carry
// again, the -L entry socket bound all along.
func TestSSHReconnect(t *testing.T) {
	gw := sshtest.StartOpenSSH(t, sshtest.Options{})
	bin := buildTunnelkit(t)
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	remote := sshtest.FreePort(t, "127.0.0.1")
	p := startTunnelkit(t, bin, nil, "-i", gw.ClientKeyFile, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()),
		"-L", "0:"+pinger, "-R", fmt.Sprintf("%d:%s", remote, pinger), "-R", "0:"+pinger, gw.User+"@"+gw.Host())
	entries := p.forwardsUp(t, 3)
	for _, e := range entries {
		sshPing(t, e)
	}
	for round := 1; round <= 2; round++ {
		gw.Kill()
		p.waitLog(t, regexp.MustCompile(`msg=reconnecting attempt=1 `))
		// The -L entry socket stays bound: a connection now is held until
		// the gateway is back, then carried.
		held := make(chan error, 1)
		go func() { held <- sshtest.Ping("", entries[0], "held") }()
		p.waitLog(t, regexp.MustCompile(`msg="holding connection until the gateway is back"`))
		gw.Restart(t)
		back := time.Now()
		if err := <-held; err != nil {
			t.Fatalf("round %d: the connection held during the outage: %v", round, err)
		}
		now := p.forwardsUp(t, 3*(round+1))[3*round:]
		if now[0] != entries[0] || now[1] != entries[1] {
			t.Fatalf("round %d: forwards came back on %v, want %s and %s as before", round, now, entries[0], entries[1])
		}
		carriesAgain(t, p, entries[0], 40*time.Second)
		carriesAgain(t, p, now[1], 40*time.Second)
		carriesAgain(t, p, now[2], 40*time.Second)
		t.Logf("round %d: -L and both -R carry again %v after sshd restarted", round, time.Since(back).Round(time.Millisecond))
		if now[2] != entries[2] && !strings.Contains(p.output(), `msg="forward came back on another entry socket"`) {
			t.Errorf("round %d: -R 0 moved from %s to %s and the log did not say so", round, entries[2], now[2])
		}
		entries[2] = now[2]
	}
	if n := strings.Count(p.output(), `msg=reconnected `); n != 2 {
		t.Errorf("%d reconnections logged, want 2", n)
	}
	p.interrupt(t)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after interrupt: %v", err)
	}
	if c, err := net.DialTimeout("tcp", entries[0], time.Second); err == nil {
		c.Close()
		t.Errorf("-L entry %s still bound after exit", entries[0])
	}
}

// TestSSHReconnectFirstFailure: a gateway that is not there at the start
// is an error exit, not a loop.
func TestSSHReconnectFirstFailure(t *testing.T) {
	bin := buildTunnelkit(t)
	port := sshtest.FreePort(t, "127.0.0.1")
	startTunnelkit(t, bin, nil, "-p", strconv.Itoa(port), "--known-hosts", "/dev/null", "-L", "0:127.0.0.1:9", "root@127.0.0.1").
		failsWith(t, "127.0.0.1:"+strconv.Itoa(port))
}

// TestSSHRelayResume moves 256 MiB through tunnelkit ssh --relay -L while
// the link to the relay is cut for 2 s: the SSH session resumes (one login
// at the gateway) and every byte arrives.
func TestSSHRelayResume(t *testing.T) {
	gw := sshtest.StartOpenSSH(t, sshtest.Options{})
	bin := buildTunnelkit(t)
	const size = 256 << 20
	src := sshtest.StartSource(t, "127.0.0.1:0", size, 11)
	u := relaytest.Start(t, relay.Config{Allow: []string{gw.Addr}})
	link, err := linkcut.Start(strings.TrimPrefix(u, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	p := startTunnelkit(t, bin, nil, "--relay", "ws://"+link.Addr, "-i", gw.ClientKeyFile, "--known-hosts", gw.KnownHostsFile,
		"-p", strconv.Itoa(gw.Port()), "-L", "0:"+src, gw.User+"@"+gw.Host())
	entry := p.forwardsUp(t, 1)[0]
	c, err := net.DialTimeout("tcp", entry, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var got int64
	var cutAt time.Time
	restored := make(chan time.Time, 1)
	for got < size {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		if cutAt.IsZero() && got > size/4 {
			cutAt = time.Now()
			link.Cut()
			go func() { time.Sleep(2 * time.Second); link.Restore(); restored <- time.Now() }()
		}
	}
	back := <-restored
	t.Logf("256 MiB across a 2 s cut; the transfer ended %v after the link came back", time.Since(back).Round(time.Millisecond))
	if fmt.Sprintf("%x", h.Sum(nil)) != sshtest.DataSum(11, size) {
		t.Fatal("bytes differ after the cut")
	}
	if n := gw.Logins(t); n != 1 {
		t.Fatalf("%d SSH logins at the gateway, want 1: the session should have resumed", n)
	}
	if strings.Contains(p.output(), "msg=reconnected") {
		t.Fatal("tunnelkit reconnected instead of resuming")
	}
}

// TestProxyResume is OpenSSH's ssh -L with tunnelkit proxy as its
// ProxyCommand: a 2 s cut of the link to the relay mid-download is resumed
// inside tunnelkit proxy, so ssh never notices (one login, every byte).
func TestProxyResume(t *testing.T) {
	sshBin := sshtest.RequireBinary(t, "ssh")
	srv := sshtest.StartOpenSSH(t, sshtest.Options{})
	const size = 128 << 20
	source := sshtest.StartSource(t, "127.0.0.1:0", size, 5)
	u := relaytest.Start(t, relay.Config{Allow: []string{srv.Addr}})
	link, err := linkcut.Start(strings.TrimPrefix(u, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	bin := buildTunnelkit(t)
	port := sshtest.FreePort(t, "127.0.0.1")
	fwd := exec.Command(sshBin, append(sshArgs(srv, bin, "ws://"+link.Addr), "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", port, source), srv.Host())...)
	var stderr bytes.Buffer
	fwd.Stderr = &stderr
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fwd.Wait() }()
	defer func() { fwd.Process.Kill(); <-exited }()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	down := dialWhenUp(ctx, t, fmt.Sprintf("127.0.0.1:%d", port), exited, &stderr)
	defer down.Close()
	down.SetDeadline(time.Now().Add(120 * time.Second))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var got int64
	for got < size {
		n, err := down.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if err != nil {
			t.Fatalf("after %d bytes: %v\n%s", got, err, stderr.String())
		}
		if got > size/4 && link.Cuts() == 0 {
			link.Cut()
			go func() { time.Sleep(2 * time.Second); link.Restore() }()
		}
	}
	if fmt.Sprintf("%x", h.Sum(nil)) != sshtest.DataSum(5, size) {
		t.Fatal("bytes differ after the cut")
	}
	if n := srv.Logins(t); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}
