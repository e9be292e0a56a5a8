package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The bench binary doubles as a helper process, chosen by BENCH_ROLE. The
// idle-stream test needs one: the relay holds two sockets per stream and the
// bench one, so the exit end lives in a process of its own to stay within
// the open-file limit.

const roleEnv = "BENCH_ROLE"

// runRole runs the helper named by BENCH_ROLE and reports whether it did.
func runRole() bool {
	switch os.Getenv(roleEnv) {
	case "":
		return false
	case "hold":
		holdServer()
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown %s %q\n", roleEnv, os.Getenv(roleEnv))
		os.Exit(2)
	}
	return true
}

// holdServer accepts TCP connections and keeps them open, reading and
// discarding, until its parent goes away (stdin closes).
func holdServer() {
	raiseFileLimit()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(10 * time.Millisecond) // out of files: keep what is held
			continue
		}
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
}

// startHold starts the hold helper and returns it with its address.
func startHold(e *Env) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=hold")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting the hold helper: %w", err)
	}
	_ = stdin // closed when the bench exits or stopHold runs
	buf := make([]byte, 128)
	n, _ := out.Read(buf)
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(buf[:n])), "listening ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("hold helper said %q", buf[:n])
	}
	return cmd, addr, nil
}

func stopHold(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}
