//go:build !js

package tunnel_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// jumpVia is a hop through s as s.User with its key and known_hosts.
func jumpVia(s *sshtest.Server) tunnel.JumpHost {
	return tunnel.JumpHost{Addr: s.Addr, User: s.User, Signers: []ssh.Signer{s.Signer},
		HostKey: tunnel.HostKeyPolicy{KnownHostsFile: s.KnownHostsFile}}
}

// hopRE matches sshd's log line for a direct-tcpip channel to addr's host and port.
func hopRE(t *testing.T, addr string) *regexp.Regexp {
	host, _, _ := net.SplitHostPort(addr)
	return regexp.MustCompile(fmt.Sprintf(`server_request_direct_tcpip: originator .*, target %s port %d`,
		regexp.QuoteMeta(host), portOf(t, addr)))
}

// TestJumpHosts: the gateway on 127.0.0.2 is reached through two jump
// hosts (ssh -J b1,b2), each hop a direct-tcpip in the previous session,
// each host key checked against its own known_hosts; forwards run as usual.
func TestJumpHosts(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	b1 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.1"})
	b2 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: host2})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")

	cfg := keyConfig(t, gw)
	cfg.Jump = []tunnel.JumpHost{jumpVia(b1), jumpVia(b2)}
	c := connect(t, ctx, gw, cfg)
	if c.HostKey() != gw.HostKeyFingerprint {
		t.Errorf("HostKey() = %s, want the gateway's %s", c.HostKey(), gw.HostKeyFingerprint)
	}
	ping(t, "", forward(t, ctx, c, "-L 0:"+exit).Entry())

	// Each jump host's log shows the hop to the next.
	for _, hop := range []struct{ via, to *sshtest.Server }{{b1, b2}, {b2, gw}} {
		log, _ := os.ReadFile(hop.via.LogFile)
		if !hopRE(t, hop.to.Addr).Match(log) {
			t.Errorf("%s's log shows no direct-tcpip to %s", hop.via.Addr, hop.to.Addr)
		}
	}
	// The client closes every hop with the connection.
	c.Close()
	if err := eventually(5*time.Second, func() error {
		log, _ := os.ReadFile(b1.LogFile)
		if !regexp.MustCompile(`Connection closed by|Disconnected from`).Match(log) {
			return errors.New("b1 still has the session")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestJumpHostKeyChanged: a jump host whose key differs from known_hosts is
// refused before any hop is opened, with its own address in the error.
func TestJumpHostKeyChanged(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	bastion := sshtest.StartOpenSSH(t, sshtest.Options{})
	other := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: host2})

	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(bastion.Addr)}, other.HostKey)
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := jumpVia(bastion)
	j.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: kh, AcceptNew: true}
	cfg := keyConfig(t, gw)
	cfg.Jump = []tunnel.JumpHost{j}
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("connected through a jump host with a changed key")
	}
	var hke *tunnel.HostKeyError
	if !errors.As(err, &hke) || hke.Kind != tunnel.HostKeyChanged || hke.Addr != bastion.Addr ||
		hke.Fingerprint != bastion.HostKeyFingerprint || len(hke.Known) != 1 || hke.Known[0] != other.HostKeyFingerprint {
		t.Fatalf("err = %v (%+v), want the jump host's changed key", err, hke)
	}
	log, _ := os.ReadFile(bastion.LogFile)
	if hopRE(t, gw.Addr).Match(log) {
		t.Error("the refused jump host was asked to open the hop")
	}

	// The gateway's key is checked on its own too, through a good jump host.
	cfg.Jump = []tunnel.JumpHost{jumpVia(bastion)}
	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: other.HostKeyFingerprint}
	if c, err := tunnel.Dial(ctx, gw.Addr, cfg); err == nil || !errors.As(err, &hke) || hke.Addr != gw.Addr {
		if c != nil {
			c.Close()
		}
		t.Errorf("gateway with a wrong pin behind a good jump host: err = %v", err)
	}
	// A hop the jump host cannot reach is a JumpError naming both.
	cfg.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: gw.KnownHostsFile}
	closed := hostPort(host2, sshtest.FreePort(t, host2))
	var je *tunnel.JumpError
	if c, err := tunnel.Dial(ctx, closed, cfg); !errors.As(err, &je) || je.Jump != bastion.Addr || je.Next != closed {
		if c != nil {
			c.Close()
		}
		t.Errorf("unreachable gateway behind a jump host: err = %v, want a JumpError", err)
	}
}
