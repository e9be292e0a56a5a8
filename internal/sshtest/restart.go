package sshtest

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// Restart starts the server again after Kill, on the same address with the
// same host key and config, as a gateway that rebooted. It kills the
// server first if it still runs. The port may have been taken meanwhile:
// then the test fails.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatal("sshtest: Restart of a server that never started")
	}
	old := s.proc.cmd
	select {
	case <-s.proc.exited:
	default:
		s.proc.kill()
	}
	cmd := exec.Command(old.Path, old.Args[1:]...)
	cmd.Env, cmd.Dir = old.Env, old.Dir
	if err := startAndWait(t, cmd, s, "sshd"); err != nil {
		t.Fatalf("sshtest: restart: %v", err)
	}
}

// Logins counts the successful logins in the server's log so far
// (OpenSSH's "Accepted <method> for <user>" lines).
func (s *Server) Logins(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(s.LogFile)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return len(loginRE.FindAll(data, -1))
}

// loginRE is the line sshd logs for a successful authentication (at
// DEBUG1 it also logs "Accepted key ..." lines, which are not logins).
var loginRE = regexp.MustCompile(`(?m)Accepted (publickey|password|keyboard-interactive/pam|keyboard-interactive) for `)
