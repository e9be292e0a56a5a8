//go:build !js

package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/sshtest"
	"tunnelkit/internal/syncbuf"
	"tunnelkit/tunnel"
)

// Loopback addresses standing in for different hosts (Linux routes all of
// 127.0.0.0/8 to lo). The client runs on 127.0.0.1.
const (
	host2    = "127.0.0.2"
	gateway1 = "127.0.0.3"
	gateway2 = "127.0.0.4"
	host3    = "127.0.0.5"
)

// testContext is the bounded context of one test.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger returns a debug logger whose output is shown if the test fails:
// goroutines may outlive t.Log's window, so it goes to a buffer first.
func testLogger(t *testing.T) (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tunnel log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// keyConfig is key auth as s.User, trusting exactly s's known_hosts file.
func keyConfig(t *testing.T, s *sshtest.Server) tunnel.Config {
	logger, _ := testLogger(t)
	return tunnel.Config{
		User:    s.User,
		Signers: []ssh.Signer{s.Signer},
		HostKey: tunnel.HostKeyPolicy{KnownHostsFile: s.KnownHostsFile},
		Logger:  logger,
	}
}

// connect dials s with cfg and closes the client when the test ends.
func connect(t *testing.T, ctx context.Context, s *sshtest.Server, cfg tunnel.Config) *tunnel.Client {
	t.Helper()
	c, err := tunnel.Dial(ctx, s.Addr, cfg)
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", s.Addr, cfg.User, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// forward starts "-L spec" or "-R spec" on c.
func forward(t *testing.T, ctx context.Context, c *tunnel.Client, spec string) *tunnel.Forward {
	t.Helper()
	sp, err := tunnel.ParseForward(spec)
	if err != nil {
		t.Fatalf("parse %q: %v", spec, err)
	}
	f, err := c.Forward(ctx, sp)
	if err != nil {
		t.Fatalf("forward %s: %v", spec, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

// ping sends a line to a pinger at addr (from source address src, if set)
// and checks the reply.
func ping(t *testing.T, src, addr string) {
	t.Helper()
	if err := sshtest.Ping(src, addr, "ping "+addr); err != nil {
		t.Fatalf("ping %s: %v", addr, err)
	}
}

// eventually retries f every 20ms until it succeeds or d passes.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listening reports whether addr accepts TCP connections; a refusal is false.
func listening(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	t.Fatalf("probe %s: %v", addr, err)
	return false
}

// entryOutcome is what a client of an entry socket observes when it sends a
// line: the reply, or how the connection ended.
func entryOutcome(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if errors.Is(err, syscall.ECONNRESET) {
		// Accepted, then reset before this goroutine saw the connect
		// complete (a loaded machine): the same outcome for the client.
		return "closed without reply"
	}
	if err != nil {
		return "dial error: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hello\n")
	data, err := io.ReadAll(c)
	switch {
	case len(data) > 0:
		return fmt.Sprintf("reply %q", data)
	case err == nil, errors.Is(err, syscall.ECONNRESET):
		return "closed without reply"
	default:
		return "read error: " + err.Error()
	}
}

// waitLog waits until the server log file contains substr.
func waitLog(t *testing.T, file, substr string) {
	t.Helper()
	err := eventually(5*time.Second, func() error {
		data, _ := os.ReadFile(file)
		if !bytes.Contains(data, []byte(substr)) {
			return fmt.Errorf("%s does not contain %q", file, substr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openSSH is a running /usr/bin/ssh -N.
type openSSH struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error
}

// startOpenSSH runs the real OpenSSH client against s with key auth as
// s.User, the forwards in args, and ExitOnForwardFailure, side by side with
// tunnelkit.
func startOpenSSH(t *testing.T, s *sshtest.Server, args ...string) *openSSH {
	t.Helper()
	p := &openSSH{stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = sshCommand(t, s, s.KnownHostsFile, append([]string{"-N", "-o", "ExitOnForwardFailure=yes"}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ssh: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("ssh %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// sshCommand is OpenSSH's ssh logging in to s as s.User with its key,
// checking the host key strictly against knownHosts, with args before the host.
func sshCommand(t *testing.T, s *sshtest.Server, knownHosts string, args ...string) *exec.Cmd {
	t.Helper()
	bin := sshtest.RequireBinary(t, "ssh")
	base := []string{"-F", "/dev/null", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-i", s.ClientKeyFile,
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-p", strconv.Itoa(s.Port()), "-l", s.User}
	return exec.Command(bin, append(append(base, args...), s.Host())...)
}

// exited waits up to d for ssh to exit and returns its error (nil if still running).
func (p *openSSH) exited(d time.Duration) (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}
