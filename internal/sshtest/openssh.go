package sshtest

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// StartOpenSSH starts /usr/sbin/sshd on a free port of o.ListenAddr with a
// temporary config: key auth for root with the test process's ed25519 client key,
// password and keyboard-interactive auth (through PAM) for TestUser, and the
// forwarding options of o. The server stops when the test ends.
func StartOpenSSH(t testing.TB, o Options) *Server {
	t.Helper()
	sshd := RequireBinary(t, "/usr/sbin/sshd")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		t.Fatalf("sshtest: create /run/sshd: %v", err)
	}
	dir := t.TempDir()
	s := &Server{User: "root", PasswordUser: TestUser, Dir: dir}
	s.Password = testUserPassword(t)
	client := clientKeys(t, dir, s)
	writeFile(t, filepath.Join(dir, "authorized_keys"), client.authorizedKey(), 0o600)
	host := newKeyPair(t)
	s.HostKey = host.signer.PublicKey()
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	host.writePrivate(t, hostKeyFile)
	s.LogFile = filepath.Join(dir, "sshd.log")

	listen := o.ListenAddr
	if listen == "" {
		listen = "127.0.0.1"
	}
	if o.HostCA != nil {
		o.Extra = append([]string{"HostCertificate " + hostCertificate(t, s.HostKey, o.HostCA, listen, hostKeyFile)}, o.Extra...)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken before sshd binds it
		s.Addr = net.JoinHostPort(listen, strconv.Itoa(FreePort(t, listen)))
		config := filepath.Join(dir, "sshd_config")
		writeFile(t, config, []byte(sshdConfig(s, o, hostKeyFile)), 0o600)
		cmd := exec.Command(sshd, "-D", "-E", s.LogFile, "-f", config)
		if lastErr = startAndWait(t, cmd, s, "sshd"); lastErr == nil {
			writeKnownHosts(t, dir, s)
			return s
		}
	}
	dumpLog(t, s.LogFile)
	t.Fatalf("sshtest: start sshd: %v", lastErr)
	return nil
}

// hostCertificate signs key as a host certificate for host with ca, writes
// it beside keyFile as OpenSSH names it, and returns its path.
func hostCertificate(t testing.TB, key ssh.PublicKey, ca ssh.Signer, host, keyFile string) string {
	t.Helper()
	cert := &ssh.Certificate{
		Key: key, CertType: ssh.HostCert, KeyId: "sshtest host",
		ValidPrincipals: []string{host}, ValidBefore: ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatalf("sshtest: sign host certificate: %v", err)
	}
	path := keyFile + "-cert.pub"
	writeFile(t, path, ssh.MarshalAuthorizedKey(cert), 0o644)
	return path
}

func sshdConfig(s *Server, o Options, hostKeyFile string) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// sshd_config keeps the first value of an option: Extra lines come first
	// so they override the defaults below, except a Match block, which must be last.
	var extra, match []string
	for i, l := range o.Extra {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(l)), "match ") {
			match = o.Extra[i:]
			break
		}
		extra = append(extra, l)
	}
	for _, l := range extra {
		line("%s", l)
	}
	line("ListenAddress %s", s.Addr)
	line("HostKey %s", hostKeyFile)
	line("PidFile %s", filepath.Join(s.Dir, "sshd.pid"))
	line("AuthorizedKeysFile %s", filepath.Join(s.Dir, "authorized_keys"))
	line("PermitRootLogin yes")
	line("StrictModes no")
	line("UsePAM yes")
	line("PubkeyAuthentication yes")
	line("PasswordAuthentication yes")
	line("KbdInteractiveAuthentication yes")
	line("AllowTcpForwarding %s", or(o.AllowTcpForwarding, "yes"))
	line("GatewayPorts %s", or(o.GatewayPorts, "no"))
	line("PermitOpen %s", or(o.PermitOpen, "any"))
	line("UseDNS no")
	line("PrintMotd no")
	line("MaxStartups 200")
	line("LogLevel DEBUG1")
	for _, l := range match {
		line("%s", l)
	}
	return b.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dumpLog writes the tail of a server log into the test output.
func dumpLog(t testing.TB, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Logf("sshtest: read server log: %v", err)
		return
	}
	const max = 64 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	t.Logf("server log %s:\n%s", file, data)
}
