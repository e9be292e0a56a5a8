package sshtest

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// StartDropbear starts /usr/sbin/dropbear on a free port of o.ListenAddr.
// Dropbear reads authorized keys from the user's home only, so key auth (and
// password auth) is for TestUser, whose ~/.ssh/authorized_keys holds the
// client key while the test runs. Options map to flags: GatewayPorts "yes" or
// "clientspecified" to -a, AllowTcpForwarding "no"/"local"/"remote" to -j/-k;
// Extra lines are passed as extra flags. PermitOpen is not supported.
func StartDropbear(t testing.TB, o Options) *Server {
	t.Helper()
	dropbear := RequireBinary(t, "/usr/sbin/dropbear")
	keygen := RequireBinary(t, "dropbearkey")
	if o.PermitOpen != "" {
		t.Fatal("sshtest: Dropbear has no PermitOpen option")
	}
	dir := t.TempDir()
	s := &Server{User: TestUser, PasswordUser: TestUser, Dir: dir}
	s.Password = testUserPassword(t)
	client := clientKeys(t, dir, s)
	authorizeTestUserKey(t, client.authorizedKey())
	// An ECDSA host key: Dropbear 2022.83 with only an ed25519 key still
	// offers rsa-sha2-256 and aborts when a client (Go's x/crypto/ssh
	// prefers RSA to ed25519) picks it; both Go and OpenSSH pick ECDSA first.
	hostKeyFile := filepath.Join(dir, "dropbear_ecdsa_host_key")
	if out, err := exec.Command(keygen, "-t", "ecdsa", "-s", "256", "-f", hostKeyFile).CombinedOutput(); err != nil {
		t.Fatalf("sshtest: generate Dropbear host key: %v: %s", err, out)
	}
	out, err := exec.Command(keygen, "-y", "-f", hostKeyFile).Output()
	if err != nil {
		t.Fatalf("sshtest: read Dropbear host key: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "ecdsa-") {
			s.HostKey, _, _, _, err = ssh.ParseAuthorizedKey([]byte(l))
			break
		}
	}
	if s.HostKey == nil {
		t.Fatalf("sshtest: no public key in dropbearkey -y output (%v): %s", err, out)
	}
	s.LogFile = filepath.Join(dir, "dropbear.log")

	listen := o.ListenAddr
	if listen == "" {
		listen = "127.0.0.1"
	}
	var flags []string
	switch o.GatewayPorts {
	case "yes", "clientspecified":
		flags = append(flags, "-a")
	}
	switch o.AllowTcpForwarding {
	case "no":
		flags = append(flags, "-j", "-k")
	case "local":
		flags = append(flags, "-k")
	case "remote":
		flags = append(flags, "-j")
	}
	flags = append(flags, o.Extra...)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.Addr = net.JoinHostPort(listen, strconv.Itoa(FreePort(t, listen)))
		args := append([]string{"-F", "-E", "-m", "-p", s.Addr, "-r", hostKeyFile, "-P", filepath.Join(dir, "dropbear.pid")}, flags...)
		if lastErr = startAndWait(t, exec.Command(dropbear, args...), s, "dropbear"); lastErr == nil {
			writeKnownHosts(t, dir, s)
			return s
		}
	}
	dumpLog(t, s.LogFile)
	t.Fatalf("sshtest: start dropbear: %v", lastErr)
	return nil
}
