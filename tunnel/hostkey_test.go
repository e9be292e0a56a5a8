//go:build !js

package tunnel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dialErr(t *testing.T, g *testGateway, cfg Config) error {
	t.Helper()
	c, err := Dial(testCtx(t), g.addr, cfg)
	if err == nil {
		c.Close()
	}
	return err
}

func TestUnknownHostKeyRefused(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts")}
	err := dialErr(t, g, cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() || hke.Kind != HostKeyUnknown {
		t.Fatalf("err = %v, want an unknown-key HostKeyError", err)
	}
	fp := Fingerprint(g.keys[0].PublicKey())
	for _, want := range []string{"unknown host key for " + g.addr, fp, "pin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The library names no flag: tunnelkit ssh adds its own hint (see cmd/tunnelkit).
	if strings.Contains(err.Error(), "--") {
		t.Errorf("error %q names a command-line flag", err)
	}
	if hke.Fingerprint != fp {
		t.Errorf("HostKeyError.Fingerprint = %q, want %q", hke.Fingerprint, fp)
	}
	// No policy at all fails closed too.
	cfg.HostKey = HostKeyPolicy{}
	if err := dialErr(t, g, cfg); !errors.As(err, &hke) {
		t.Errorf("no host key policy: err = %v, want a refusal", err)
	}
}

func TestHostKeyAcceptNewThenChanged(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	file := filepath.Join(t.TempDir(), "dir", "known_hosts")
	cfg := g.config(t)
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: file, AcceptNew: true}
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(file)); dst.Mode().Perm() != 0o700 {
		t.Errorf("known_hosts dir mode %v, want 0700", dst.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	if want := knownhosts.Line([]string{knownhosts.Normalize(g.addr)}, g.keys[0].PublicKey()) + "\n"; string(b) != want || !strings.HasPrefix(want, "[127.0.0.1]:") {
		t.Errorf("known_hosts = %q, want %q", b, want)
	}

	// Known now: accepted without AcceptNew.
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: file}
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatalf("known key refused: %v", err)
	}

	// Another gateway on the same address with a different key: always refused.
	g2 := startGateway(t, nil, nil, nil)
	other := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(other, []byte(strings.Replace(string(b), g.addr[len("127.0.0.1:"):], g2.addr[len("127.0.0.1:"):], 1)), 0o600)
	for _, acceptNew := range []bool{false, true} {
		cfg.HostKey = HostKeyPolicy{KnownHostsFile: other, AcceptNew: acceptNew,
			Confirm: func(context.Context, string, string) (bool, error) { return true, nil }}
		err := dialErr(t, g2, cfg)
		var hke *HostKeyError
		if !errors.As(err, &hke) || !hke.Changed() {
			t.Fatalf("changed key (AcceptNew %v): err = %v, want a changed-key refusal", acceptNew, err)
		}
		for _, want := range []string{
			"host key for " + g2.addr + " changed",
			"known_hosts has ssh-ed25519 " + Fingerprint(g.keys[0].PublicKey()),
			"gateway offered ssh-ed25519 " + Fingerprint(g2.keys[0].PublicKey()),
			"man-in-the-middle", other + ":1",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	if b2, _ := os.ReadFile(other); strings.Count(string(b2), "\n") != 1 {
		t.Errorf("a changed key was written to known_hosts:\n%s", b2)
	}
}

func TestHostKeyAppendsOnOwnLine(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	file := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(file, []byte("# no newline at the end"), 0o600)
	cfg := g.config(t)
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: file, AcceptNew: true}
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.HostKey.AcceptNew = false
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatalf("key saved after a line without newline not found: %v", err)
	}
}

func TestHostKeyPinned(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	fp := Fingerprint(g.keys[0].PublicKey())
	for _, pin := range []string{fp, strings.TrimPrefix(fp, "SHA256:"), fp + "="} {
		cfg.HostKey = HostKeyPolicy{Fingerprint: pin}
		if err := dialErr(t, g, cfg); err != nil {
			t.Errorf("pin %q: %v", pin, err)
		}
	}
	wrong := Fingerprint(newSigner(t, "ed25519").PublicKey())
	cfg.HostKey = HostKeyPolicy{Fingerprint: wrong, AcceptNew: true}
	err := dialErr(t, g, cfg)
	if err == nil || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), fp) {
		t.Fatalf("wrong pin: err = %v, want both fingerprints", err)
	}
}

func TestHostKeyConfirm(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	file := filepath.Join(t.TempDir(), "known_hosts")
	cfg := g.config(t)
	var asked []string
	answer := false
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: file, Confirm: func(_ context.Context, hostport, fp string) (bool, error) {
		asked = append(asked, hostport+" "+fp)
		return answer, nil
	}}
	if err := dialErr(t, g, cfg); err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("declined key: err = %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("declined key was saved")
	}
	answer = true
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	want := g.addr + " " + Fingerprint(g.keys[0].PublicKey())
	if len(asked) != 2 || asked[0] != want {
		t.Errorf("Confirm calls %q, want twice %q", asked, want)
	}
	// Saved: not asked again.
	if err := dialErr(t, g, cfg); err != nil || len(asked) != 2 {
		t.Errorf("known key: err %v, %d Confirm calls", err, len(asked))
	}
}

// A gateway with ecdsa and ed25519 keys, known by its ed25519 key: the
// client must ask for ed25519 first or it would see a "changed" ecdsa key.
func TestHostKeyAlgorithmOrder(t *testing.T) {
	ed, ec := newSigner(t, "ed25519"), newSigner(t, "ecdsa")
	g := startGateway(t, nil, []ssh.Signer{ec, ed}, nil)
	file := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(file, []byte(knownhosts.Line([]string{knownhosts.Normalize(g.addr)}, ed.PublicKey())+"\n"), 0o600)
	cfg := g.config(t)
	cfg.HostKey = HostKeyPolicy{KnownHostsFile: file}
	c, err := Dial(testCtx(t), g.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.HostKey() != Fingerprint(ed.PublicKey()) {
		t.Errorf("HostKey() = %s, want the ed25519 key %s", c.HostKey(), Fingerprint(ed.PublicKey()))
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	rsa := ssh.KeyAlgoRSA
	got := hostKeyAlgorithms([]knownhosts.KnownKey{{Key: fakeKey(rsa)}, {Key: fakeKey(ssh.KeyAlgoED25519)}}, false)
	want := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA, ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hostKeyAlgorithms = %v, want %v", got, want)
	}
	if hostKeyAlgorithms(nil, false) != nil {
		t.Error("no known keys should keep the default algorithms")
	}
	if got := hostKeyAlgorithms(nil, true); len(got) == 0 || got[0] != ssh.CertAlgoED25519v01 {
		t.Errorf("with a known CA, hostKeyAlgorithms = %v, want host certificates first", got)
	}
}

type fakeKey string

func (k fakeKey) Type() string                        { return string(k) }
func (k fakeKey) Marshal() []byte                     { return []byte(k) }
func (k fakeKey) Verify([]byte, *ssh.Signature) error { return errors.New("fake") }
