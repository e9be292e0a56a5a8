package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/relaytest"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

// sshArgs are the options for OpenSSH's ssh to log in to srv, with
// tunnelkit proxy as its ProxyCommand, and no user configuration.
func sshArgs(srv *sshtest.Server, bin, relayURL string) []string {
	return []string{
		"-F", "/dev/null",
		"-i", srv.ClientKeyFile,
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + srv.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "ProxyCommand=" + bin + " proxy --relay " + relayURL + " %h:%p",
		"-p", strconv.Itoa(srv.Port()),
		"-l", srv.User,
	}
}

// TestProxyOpenSSH is OpenSSH's own ssh reaching a real sshd through the
// relay with tunnelkit proxy as its ProxyCommand: a command runs, and -L
// forwards carry 64 MiB each way.
func TestProxyOpenSSH(t *testing.T) {
	sshBin := sshtest.RequireBinary(t, "ssh")
	srv := sshtest.StartOpenSSH(t, sshtest.Options{})
	const size = 64 << 20
	source := sshtest.StartSource(t, "127.0.0.1:0", size, 7)
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	relayURL := relaytest.Start(t, relay.Config{Allow: []string{srv.Addr}})
	bin := buildTunnelkit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := sshArgs(srv, bin, relayURL)

	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, sshBin, append(args, srv.Host(), "echo", "hello")...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("ssh echo hello through the relay: output %q, %v\n%s", out, err, stderr.String())
	}

	downPort := sshtest.FreePort(t, "127.0.0.1")
	upPort := sshtest.FreePort(t, "127.0.0.1")
	stderr.Reset()
	fwd := exec.CommandContext(ctx, sshBin, append(args, "-N",
		"-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", downPort, source),
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", upPort, hasher),
		srv.Host())...)
	fwd.Stderr = &stderr
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fwd.Wait() }()
	defer func() {
		fwd.Process.Kill()
		<-exited
	}()
	down := dialWhenUp(ctx, t, fmt.Sprintf("127.0.0.1:%d", downPort), exited, &stderr)
	defer down.Close()

	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, down)
	if err != nil {
		t.Fatalf("download through ssh -L after %d bytes: %v", n, err)
	}
	t.Logf("ssh -L download through tunnelkit proxy: %d MiB in %v: %.0f MB/s", n>>20, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds()/1e6)
	if n != size || hex.EncodeToString(h.Sum(nil)) != sshtest.DataSum(7, size) {
		t.Fatalf("downloaded %d bytes, want %d with the same SHA-256", n, size)
	}

	up, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	context.AfterFunc(ctx, func() { up.Close() })
	start = time.Now()
	if _, err := io.Copy(up, io.LimitReader(sshtest.Data(8), size)); err != nil {
		t.Fatalf("upload through ssh -L: %v", err)
	}
	up.(*net.TCPConn).CloseWrite()
	reply, err := bufio.NewReader(up).ReadString('\n')
	if err != nil {
		t.Fatalf("upload through ssh -L: reply: %v\n%s", err, stderr.String())
	}
	t.Logf("ssh -L upload through tunnelkit proxy: %d MiB in %v: %.0f MB/s", size>>20, time.Since(start).Round(time.Millisecond), float64(size)/time.Since(start).Seconds()/1e6)
	if want := sshtest.HashLine(sshtest.DataSum(8, size), size); reply != want {
		t.Fatalf("hasher replied %q, want %q", reply, want)
	}
}

// dialWhenUp connects to addr once ssh's -L listener is up.
func dialWhenUp(ctx context.Context, t *testing.T, addr string, exited <-chan error, stderr *bytes.Buffer) net.Conn {
	t.Helper()
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			context.AfterFunc(ctx, func() { c.Close() })
			return c
		}
		select {
		case err := <-exited:
			t.Fatalf("ssh -L exited: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("ssh -L not listening on %s: %v", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("ssh -L not listening on %s after 10s\n%s", addr, stderr.String())
	return nil
}

// TestProxyRefused checks that the relay's reason reaches the user: from
// tunnelkit proxy directly, and through ssh, which shows its ProxyCommand's
// stderr.
func TestProxyRefused(t *testing.T) {
	sshBin := sshtest.RequireBinary(t, "ssh")
	srv := sshtest.StartOpenSSH(t, sshtest.Options{})
	relayURL := relaytest.Start(t, relay.Config{Allow: []string{"127.0.0.1:1"}})
	bin := buildTunnelkit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, "proxy", "--relay", relayURL, srv.Addr)
	out, err := cmd.CombinedOutput()
	want := "relay refused " + srv.Addr + ": not in allow list (see --allow)"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Errorf("tunnelkit proxy to a refused target: %v, output %q; want exit status 1 and %q", err, out, want)
	}

	cmd = exec.CommandContext(ctx, sshBin, append(sshArgs(srv, bin, relayURL), srv.Host(), "true")...)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("ssh through a refused target: %v, output %q; want a failure showing %q", err, out, want)
	}

	cmd = exec.CommandContext(ctx, bin, "proxy", srv.Addr)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--relay is required") {
		t.Errorf("tunnelkit proxy without --relay: %v, output %q", err, out)
	}
}

// TestProxyToken runs tunnelkit proxy against an echo service behind a
// relay that needs a token, from the environment and from a file: stdin
// EOF half-closes, the echo closes, and the proxy exits. The target is
// given in each form ssh's ProxyCommand can write it.
func TestProxyToken(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	echo6 := sshtest.StartEcho(t, "[::1]:0")
	_, port6, _ := net.SplitHostPort(echo6)
	const secret = "proxy-test-token-0123456789"
	relayURL := relaytest.Start(t, relay.Config{Tokens: []relay.Token{{Secret: secret, Allow: []string{echo, echo6}}}})
	bin := buildTunnelkit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		args []string
		env  string
		fail bool
	}{
		{"env", []string{echo}, "TUNNELKIT_TOKEN=" + secret, false},
		{"file", []string{"--token-file", tokenFile, echo}, "", false},
		{"none", []string{echo}, "", true},
		{"%h %p", []string{"--token-file", tokenFile, "::1", port6}, "", false},
		{"%h:%p", []string{"--token-file", tokenFile, "::1:" + port6}, "", false},
	} {
		cmd := exec.CommandContext(ctx, bin, append([]string{"proxy", "--relay", relayURL}, c.args...)...)
		cmd.Env = append(os.Environ(), "TUNNELKIT_TOKEN=")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		cmd.Stdin = strings.NewReader("ping\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if c.fail {
			if err == nil || !strings.Contains(stderr.String(), "token") {
				t.Errorf("%s: no token: %v, stderr %q; want a failure about the token", c.name, err, stderr.String())
			}
			continue
		}
		if err != nil || string(out) != "ping\n" {
			t.Errorf("%s: echo through tunnelkit proxy: output %q, %v\n%s", c.name, out, err, stderr.String())
		}
	}
}
