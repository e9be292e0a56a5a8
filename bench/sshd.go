package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sshd is a private OpenSSH server on loopback: its own host key, root login
// with one generated client key, forwarding allowed, nothing from the system
// configuration.
type Sshd struct {
	Addr       string // 127.0.0.1:PORT
	Port       int
	User       string
	KeyFile    string // client private key, unencrypted OpenSSH format
	KnownHosts string // known_hosts line for Addr
	HostKey    string // host public key, "ssh-ed25519 AAAA..."
	proc       *Proc
}

func keygen(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen %s: %v: %s", path, err, out)
	}
	return nil
}

func startSshd(ctx context.Context, dir string) (*Sshd, error) {
	const bin = "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("OpenSSH server not installed (%s): run make test-deps", bin)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshd needs /run/sshd: %w", err)
	}
	dir = filepath.Join(dir, "sshd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if err := keygen(ctx, k); err != nil {
			return nil, err
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return nil, err
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	hostPubFields := strings.Fields(string(hostPub))

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile none
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding no
GatewayPorts no
PermitOpen any
PermitListen any
X11Forwarding no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 200
LogLevel ERROR
`, port, hostKey, auth)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc(ctx, "sshd", []string{bin, "-D", "-e", "-f", cfg}, nil)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitListening(ctx, addr, 5*time.Second); err != nil {
		p.Stop()
		return nil, p.Failure("sshd did not start")
	}
	s := &Sshd{
		Addr: addr, Port: port, User: "root", KeyFile: clientKey,
		HostKey: hostPubFields[0] + " " + hostPubFields[1],
		proc:    p,
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s\n", port, s.HostKey)
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sshd) Pid() int { return s.proc.Pid() }
func (s *Sshd) Stop()    { s.proc.Stop() }

// sshArgs are the OpenSSH client options shared by every OpenSSH case.
func (s *Sshd) sshArgs() []string {
	return []string{
		"-N", "-F", "none",
		"-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + s.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-o", "ServerAliveInterval=0", "-o", "LogLevel=ERROR",
		"-i", s.KeyFile, "-p", strconv.Itoa(s.Port), "-l", s.User,
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls addr until it accepts a TCP connection.
func waitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
