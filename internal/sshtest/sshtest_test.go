package sshtest_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"tunnelkit/internal/sshtest"
)

// forwardPing logs in with cfg and pings the pinger through a direct-tcpip channel.
func forwardPing(t *testing.T, s *sshtest.Server, cfg *ssh.ClientConfig, pinger string) {
	t.Helper()
	cfg.Timeout = 10 * time.Second
	c, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", s.Addr, cfg.User, err)
	}
	defer c.Close()
	conn, err := c.Dial("tcp", pinger)
	if err != nil {
		t.Fatalf("direct-tcpip to %s: %v", pinger, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "hello\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ACK hello\n" {
		t.Fatalf("ping through %s: got %q, %v", s.Addr, line, err)
	}
}

func TestOpenSSH(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{})
	pinger := sshtest.StartPinger(t, "127.0.0.3:0")

	hk, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.ClientConfig()
	cfg.HostKeyCallback = hk
	forwardPing(t, s, cfg, pinger)

	pem, _ := os.ReadFile(s.EncryptedKeyFile)
	if _, err := ssh.ParsePrivateKey(pem); err == nil {
		t.Fatal("encrypted key parsed without passphrase")
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(pem, []byte(s.KeyPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if string(signer.PublicKey().Marshal()) != string(s.Signer.PublicKey().Marshal()) {
		t.Fatal("encrypted key differs from the client key")
	}

	forwardPing(t, s, &ssh.ClientConfig{User: s.PasswordUser, Auth: []ssh.AuthMethod{ssh.Password(s.Password)}, HostKeyCallback: ssh.FixedHostKey(s.HostKey)}, pinger)
	ki := ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range answers {
			answers[i] = s.Password
		}
		return answers, nil
	})
	forwardPing(t, s, &ssh.ClientConfig{User: s.PasswordUser, Auth: []ssh.AuthMethod{ki}, HostKeyCallback: ssh.FixedHostKey(s.HostKey)}, pinger)

	_, err = ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: s.PasswordUser, Auth: []ssh.AuthMethod{ssh.Password("wrong")}, HostKeyCallback: ssh.FixedHostKey(s.HostKey), Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("wrong password: got %v, want an auth failure", err)
	}
}

func TestOpenSSHIPv6(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "::1"})
	if !strings.HasPrefix(s.Addr, "[::1]:") {
		t.Fatalf("Addr = %q", s.Addr)
	}
	forwardPing(t, s, s.ClientConfig(), sshtest.StartPinger(t, "[::1]:0"))
}

func TestDropbear(t *testing.T) {
	s := sshtest.StartDropbear(t, sshtest.Options{})
	pinger := sshtest.StartPinger(t, "127.0.0.3:0")
	forwardPing(t, s, s.ClientConfig(), pinger)
	forwardPing(t, s, &ssh.ClientConfig{User: s.PasswordUser, Auth: []ssh.AuthMethod{ssh.Password(s.Password)}, HostKeyCallback: ssh.FixedHostKey(s.HostKey)}, pinger)
}

func TestServices(t *testing.T) {
	const n = 1 << 20
	src := sshtest.StartSource(t, "127.0.0.1:0", n, 7)
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	in, err := net.Dial("tcp", src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := net.Dial("tcp", hasher)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := sshtest.HashLine(sshtest.DataSum(7, n), n); string(reply) != want {
		t.Fatalf("hasher replied %q, want %q", reply, want)
	}
	if sshtest.DataSum(7, n) == sshtest.DataSum(8, n) {
		t.Fatal("seeds 7 and 8 give the same data")
	}
}

func TestKill(t *testing.T) {
	s := sshtest.StartOpenSSH(t, sshtest.Options{})
	cfg := s.ClientConfig()
	cfg.Timeout = 10 * time.Second
	c, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Kill()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still up after Kill")
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Fatal("server still accepting after Kill")
	}
}

// Two Dropbear servers share the client key: stopping one keeps the other usable.
func TestDropbearTwice(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.3:0")
	a := sshtest.StartDropbear(t, sshtest.Options{})
	t.Run("first", func(t *testing.T) {
		b := sshtest.StartDropbear(t, sshtest.Options{})
		forwardPing(t, b, b.ClientConfig(), pinger)
	})
	forwardPing(t, a, a.ClientConfig(), pinger)
}
