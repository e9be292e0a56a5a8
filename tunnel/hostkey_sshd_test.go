//go:build !js

package tunnel_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// An unknown host key is refused unless the user asked to trust it; the
// refusal shows the fingerprint so it can be checked and pinned.
func TestHostKeyUnknownRefused(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, policy := range map[string]tunnel.HostKeyPolicy{
		"no policy":         {},
		"empty known_hosts": {KnownHostsFile: empty},
		"missing file":      {KnownHostsFile: filepath.Join(t.TempDir(), "none")},
	} {
		cfg := keyConfig(t, gw)
		cfg.HostKey = policy
		c, err := tunnel.Dial(ctx, gw.Addr, cfg)
		if err == nil {
			c.Close()
			t.Errorf("%s: unknown host key accepted", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), gw.HostKeyFingerprint) {
			t.Errorf("%s: error %q does not show the host key fingerprint %s", name, err, gw.HostKeyFingerprint)
		}
	}
	if data, _ := os.ReadFile(empty); len(data) != 0 {
		t.Errorf("known_hosts written without AcceptNew: %q", data)
	}
}

// A host key that differs from the known one is refused, even with
// AcceptNew, with both fingerprints in the error; ssh refuses it too.
func TestHostKeyChangedRefused(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	other := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway2})
	known := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(gw.Addr)}, other.HostKey)
	if err := os.WriteFile(known, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, acceptNew := range []bool{false, true} {
		cfg := keyConfig(t, gw)
		cfg.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: known, AcceptNew: acceptNew}
		c, err := tunnel.Dial(ctx, gw.Addr, cfg)
		if err == nil {
			c.Close()
			t.Fatalf("AcceptNew=%v: changed host key accepted", acceptNew)
		}
		t.Logf("AcceptNew=%v: %v", acceptNew, err)
		for _, fp := range []string{gw.HostKeyFingerprint, other.HostKeyFingerprint} {
			if !strings.Contains(err.Error(), fp) {
				t.Errorf("AcceptNew=%v: error %q lacks fingerprint %s", acceptNew, err, fp)
			}
		}
	}
	if data, _ := os.ReadFile(known); string(data) != line+"\n" {
		t.Errorf("known_hosts changed: %q", data)
	}
	if out, err := sshCommand(t, gw, known, "-o", "RemoteCommand=true").CombinedOutput(); err == nil {
		t.Errorf("ssh accepted the changed key: %s", out)
	}

	// A pinned fingerprint that does not match is refused the same way.
	cfg := keyConfig(t, gw)
	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: other.HostKeyFingerprint}
	if c, err := tunnel.Dial(ctx, gw.Addr, cfg); err == nil {
		c.Close()
		t.Error("host key accepted against a different pinned fingerprint")
	} else if !strings.Contains(err.Error(), gw.HostKeyFingerprint) || !strings.Contains(err.Error(), other.HostKeyFingerprint) {
		t.Errorf("pinned mismatch: error %q lacks a fingerprint", err)
	}
}

// Trust on first use writes known_hosts in OpenSSH's format: tunnelkit and
// ssh then both accept the key from that file alone.
func TestHostKeyAcceptNewWritesKnownHosts(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	known := filepath.Join(t.TempDir(), "known_hosts")

	cfg := keyConfig(t, gw)
	cfg.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: known, AcceptNew: true}
	c, err := tunnel.Dial(ctx, gw.Addr, cfg)
	if err != nil {
		t.Fatalf("AcceptNew: %v", err)
	}
	if c.HostKey() != gw.HostKeyFingerprint {
		t.Errorf("HostKey() = %q, want %q", c.HostKey(), gw.HostKeyFingerprint)
	}
	c.Close()
	data, err := os.ReadFile(known)
	if err != nil || !bytes.Contains(data, []byte(knownhosts.Normalize(gw.Addr))) {
		t.Fatalf("known_hosts after accept: %q, %v", data, err)
	}

	cfg.HostKey = tunnel.HostKeyPolicy{KnownHostsFile: known}
	c2 := connect(t, ctx, gw, cfg)
	c2.Close()
	if out, err := sshCommand(t, gw, known, "-o", "RemoteCommand=true").CombinedOutput(); err != nil {
		t.Errorf("ssh with the written known_hosts: %v: %s", err, out)
	}
}

// A pinned fingerprint and a Confirm callback each trust the key.
func TestHostKeyPinnedAndConfirm(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})

	cfg := keyConfig(t, gw)
	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: gw.HostKeyFingerprint}
	connect(t, ctx, gw, cfg).Close()

	for _, answer := range []bool{false, true} {
		var asked []string
		cfg.HostKey = tunnel.HostKeyPolicy{Confirm: func(ctx context.Context, hostport, fingerprint string) (bool, error) {
			asked = append(asked, hostport, fingerprint)
			return answer, nil
		}}
		c, err := tunnel.Dial(ctx, gw.Addr, cfg)
		if err == nil {
			c.Close()
		}
		if (err == nil) != answer {
			t.Errorf("Confirm answered %v: Dial error %v", answer, err)
		}
		if len(asked) != 2 || asked[1] != gw.HostKeyFingerprint || !strings.Contains(asked[0], gw.Host()) {
			t.Errorf("Confirm called with %q, want [%s %s]", asked, gw.Addr, gw.HostKeyFingerprint)
		}
	}
}
