// Package sshtest starts real SSH servers (OpenSSH sshd, Dropbear) and small
// TCP services on loopback for tests. Every server gets a temporary config,
// fresh keys and a free port, and is stopped when the test ends.
//
// Addresses 127.0.0.x stand in for different hosts: Linux routes all of
// 127.0.0.0/8 to the loopback interface.
package sshtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Options shape a server's configuration. Empty fields keep the defaults
// noted on each.
type Options struct {
	GatewayPorts       string     // sshd GatewayPorts: "no" (default), "yes", "clientspecified"; Dropbear: "yes" adds -a
	PermitOpen         string     // sshd PermitOpen, e.g. "127.0.0.3:4444" (default any)
	AllowTcpForwarding string     // sshd AllowTcpForwarding (default "yes"); Dropbear: "no", "local", "remote" map to -j/-k
	ListenAddr         string     // default "127.0.0.1"; "::1" for IPv6
	Extra              []string   // raw sshd_config lines (OpenSSH) or extra command-line flags (Dropbear)
	HostCA             ssh.Signer // OpenSSH: also present a host certificate signed by this CA, for the listen host
}

// Server is a running SSH server and what a client needs to log in.
type Server struct {
	Addr string // "host:port"

	User          string     // key auth user
	ClientKeyFile string     // unencrypted OpenSSH private key of User (one ed25519 key per test process)
	Signer        ssh.Signer // the same key

	EncryptedKeyFile string // the same key, encrypted with KeyPassphrase
	KeyPassphrase    string

	PasswordUser string // system user allowed password (and, on OpenSSH, keyboard-interactive) auth
	Password     string

	HostKey            ssh.PublicKey
	HostKeyFingerprint string // "SHA256:..."
	KnownHostsFile     string // holds the host key for Addr ("[127.0.0.1]:PORT")

	LogFile string // server log, dumped when the test fails
	Dir     string // temporary directory holding config, keys and log

	proc *process
}

// Host returns the host part of Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port returns the port of Addr.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// ClientConfig returns an ssh.ClientConfig for key auth as User that accepts
// exactly this server's host key.
func (s *Server) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
	}
}

// RequireBinary stops the test when the program at path (or on PATH) is
// missing: a failure under CI=true, where it must be installed, a skip elsewhere.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found (%v): install it (Debian: openssh-server, openssh-client, dropbear-bin)", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port that is free on host at the time of the call.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("sshtest: find a free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
