//go:build !js

package tunnel_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// A gateway with a host certificate is trusted through a @cert-authority
// line, as OpenSSH's ssh trusts it. A certificate no known CA vouches for is
// checked as its plain key, and a revoked CA is refused, as in OpenSSH.
func TestHostCertificate(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	ca, otherCA := newCA(t), newCA(t)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, HostCA: ca})
	host := knownhosts.Normalize(gw.Addr)
	caLine := "@cert-authority " + knownhosts.Line([]string{host}, ca.PublicKey())
	otherCALine := "@cert-authority " + knownhosts.Line([]string{host}, otherCA.PublicKey())
	plainLine := knownhosts.Line([]string{host}, gw.HostKey)
	revokedCA := "@revoked * " + string(ssh.MarshalAuthorizedKey(ca.PublicKey()))

	for _, tc := range []struct {
		name    string
		lines   []string
		ok      bool
		revoked bool
	}{
		{"trusted CA only", []string{caLine}, true, false},
		{"other CA only", []string{otherCALine}, false, false},
		{"other CA, plain key known", []string{otherCALine, plainLine}, true, false},
		{"trusted CA revoked", []string{caLine, plainLine, revokedCA}, false, true},
	} {
		known := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(known, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := keyConfig(t, gw)
		cfg.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: known}
		c, err := tunnel.Dial(ctx, gw.Addr, cfg)
		if err == nil {
			if c.HostKey() != gw.HostKeyFingerprint {
				t.Errorf("%s: HostKey() = %s, want the certified key %s", tc.name, c.HostKey(), gw.HostKeyFingerprint)
			}
			c.Close()
		}
		_, sshErr := sshCommand(t, gw, known, "-o", "RemoteCommand=true").CombinedOutput()
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.ok:
			t.Logf("%s: %v", tc.name, err)
			var hke *tunnel.HostKeyError
			if !errors.As(err, &hke) || (hke.Kind == tunnel.HostKeyRevoked) != tc.revoked || !strings.Contains(err.Error(), gw.HostKeyFingerprint) {
				t.Errorf("%s: error %q: want a HostKeyError (revoked %v) naming the key %s", tc.name, err, tc.revoked, gw.HostKeyFingerprint)
			}
		}
		if (sshErr == nil) != tc.ok {
			t.Errorf("%s: OpenSSH ssh disagrees (its error: %v)", tc.name, sshErr)
		}
	}

	// A pinned fingerprint is the plain key's, certificate or not.
	cfg := keyConfig(t, gw)
	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: gw.HostKeyFingerprint}
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err != nil {
		t.Fatalf("pinned plain fingerprint, gateway with a certificate: %v", err)
	}
	c.Close()
}

func newCA(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
