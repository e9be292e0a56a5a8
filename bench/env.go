package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Env is what every case shares: the SSH gateway, the exit services, the
// built tunnelkit binary, a scratch directory.
type Env struct {
	Mode  Mode
	Root  string // repository root
	Dir   string // scratch directory, removed at the end
	Out   string // results directory
	Sshd  *Sshd
	Sink  *Sink
	Echo  *Echo
	Src   *Source
	Start time.Time

	Tunnelkit    string // built binary; "" when it did not build
	TunnelkitErr error
	commands     map[string]error // subcommand -> nil when registered

	brw        *Browser // shared by the browser cases, started on first use
	browserErr error
}

// notAvailable marks a case whose component does not exist (yet): reported
// as "n/a: reason", not as a failure, except under CI.
type notAvailable struct{ reason string }

func (n notAvailable) Error() string { return n.reason }

func na(format string, args ...any) error { return notAvailable{fmt.Sprintf(format, args...)} }

func isNA(err error) bool {
	var n notAvailable
	return errors.As(err, &n)
}

func newEnv(ctx context.Context, m Mode, out string) (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tunnelkit-bench-")
	if err != nil {
		return nil, err
	}
	e := &Env{Mode: m, Root: root, Dir: dir, Out: out, Start: time.Now(), commands: map[string]error{}}
	raiseFileLimit()
	if e.Sink, err = startSink("127.0.0.1:0"); err != nil {
		e.Close()
		return nil, err
	}
	if e.Echo, err = startEcho("127.0.0.1:0"); err != nil {
		e.Close()
		return nil, err
	}
	if e.Src, err = startSource("127.0.0.1:0"); err != nil {
		e.Close()
		return nil, err
	}
	if e.Sshd, err = startSshd(ctx, dir); err != nil {
		e.Close()
		return nil, err
	}
	e.buildTunnelkit(ctx)
	return e, nil
}

func (e *Env) Close() {
	if e.brw != nil {
		e.brw.Close()
	}
	if e.Sshd != nil {
		e.Sshd.Stop()
	}
	if e.Sink != nil {
		e.Sink.Close()
	}
	if e.Echo != nil {
		e.Echo.Close()
	}
	if e.Src != nil {
		e.Src.Close()
	}
	os.RemoveAll(e.Dir)
}

// buildTunnelkit builds cmd/tunnelkit into the scratch directory. The web UI
// and the .wasm are embedded from web/dist, which `make wasm` fills.
func (e *Env) buildTunnelkit(ctx context.Context) {
	bin := filepath.Join(e.Dir, "tunnelkit")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/tunnelkit")
	cmd.Dir = e.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		e.TunnelkitErr = fmt.Errorf("cmd/tunnelkit does not build: %v: %s", err, firstLines(string(out), 6))
		return
	}
	e.Tunnelkit = bin
}

// need returns nil when the tunnelkit binary has the subcommand.
func (e *Env) need(sub string) error {
	if e.Tunnelkit == "" {
		return na("%v", e.TunnelkitErr)
	}
	if err, ok := e.commands[sub]; ok {
		return err
	}
	out, _ := exec.Command(e.Tunnelkit, sub, "-h").CombinedOutput()
	var err error
	if strings.Contains(string(out), "unknown command") {
		err = na("tunnelkit %s does not exist yet", sub)
	}
	e.commands[sub] = err
	return err
}

// left is the time left in the bench's budget.
func (e *Env) left() time.Duration { return e.Mode.Budget - time.Since(e.Start) }

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module tunnelkit") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench from the tunnelkit repository (go.mod not found)")
		}
		dir = parent
	}
}

// wantFiles is the open-file limit the idle-stream test needs: the relay
// holds two sockets per stream, and so does the bench (client and target).
const wantFiles = 32768

// raiseFileLimit lifts the open-file limit for this process and every child
// it starts: to wantFiles where it may raise the hard limit too (as root),
// else the soft limit to the hard one.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Max < wantFiles {
		up := syscall.Rlimit{Cur: wantFiles, Max: wantFiles}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return wantFiles
		}
	}
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Max
}

func fileLimit() uint64 {
	var l syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
