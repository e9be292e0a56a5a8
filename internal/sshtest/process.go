package sshtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is a running server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startAndWait starts cmd, waits until s.Addr accepts connections and
// registers the cleanup that stops the server. It returns an error when the
// server exits first (typically: port taken) or does not come up in time.
func startAndWait(t testing.TB, cmd *exec.Cmd, s *Server, name string) error {
	t.Helper()
	log, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before accepting connections on %s: %v (log: %s)", name, s.Addr, waitErr, s.LogFile)
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("%s not accepting connections on %s after 10s: %v", name, s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.proc = p
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			dumpLog(t, s.LogFile)
		}
	})
	return nil
}

// stop asks the server to exit, and kills it after a grace period.
// Per-connection processes end with their clients.
func (p *process) stop() {
	p.signalAll(syscall.SIGCONT) // in case it was paused
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// kill kills the server and every process it forked, and waits for it.
func (p *process) kill() {
	p.signalAll(syscall.SIGKILL)
	<-p.exited
}

// signalAll signals the processes serving connections, then the server.
func (p *process) signalAll(sig syscall.Signal) {
	for _, pid := range descendants(p.cmd.Process.Pid) {
		syscall.Kill(pid, sig)
	}
	p.cmd.Process.Signal(sig)
}

// Pause stops the server and the processes serving its connections
// (SIGSTOP): connections stay open but nothing answers, as when a gateway
// hangs or the network drops packets (for keepalive tests). Resume, or the
// end of the test, continues them.
func (s *Server) Pause() {
	if s.proc != nil {
		s.proc.signalAll(syscall.SIGSTOP)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	if s.proc != nil {
		s.proc.signalAll(syscall.SIGCONT)
	}
}

// Kill kills the server at once, with the processes serving its open
// connections: clients see the gateway die (for keepalive and
// connection-loss tests). Cleanup still runs as usual.
func (s *Server) Kill() {
	if s.proc != nil {
		s.proc.kill()
	}
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		child, _ := strconv.Atoi(strings.Fields(s)[0])
		parent, _ := strconv.Atoi(fields[1])
		children[parent] = append(children[parent], child)
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		out = append(out, c)
		queue = append(queue, children[c]...)
	}
	return out
}
