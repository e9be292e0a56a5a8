package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// keyPair is a fresh ed25519 key with its OpenSSH encodings.
type keyPair struct {
	priv   ed25519.PrivateKey
	signer ssh.Signer
}

func newKeyPair(t testing.TB) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshtest: generate ed25519 key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("sshtest: signer: %v", err)
	}
	return keyPair{priv: priv, signer: signer}
}

// writePrivate writes the key in OpenSSH format, encrypted when passphrase is set.
func (k keyPair) writePrivate(t testing.TB, path, passphrase string) {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(k.priv, "tunnelkit-test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k.priv, "tunnelkit-test", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("sshtest: marshal private key: %v", err)
	}
	writeFile(t, path, pem.EncodeToMemory(block), 0o600)
}

func (k keyPair) authorizedKey() []byte { return ssh.MarshalAuthorizedKey(k.signer.PublicKey()) }

// clientKeys writes the client key, unencrypted and encrypted, into dir and
// fills the matching Server fields.
func clientKeys(t testing.TB, dir string, s *Server) keyPair {
	k := newKeyPair(t)
	s.Signer = k.signer
	s.ClientKeyFile = filepath.Join(dir, "id_ed25519")
	k.writePrivate(t, s.ClientKeyFile, "")
	s.KeyPassphrase = randomString(t, 12)
	s.EncryptedKeyFile = filepath.Join(dir, "id_ed25519_encrypted")
	k.writePrivate(t, s.EncryptedKeyFile, s.KeyPassphrase)
	writeFile(t, s.ClientKeyFile+".pub", k.authorizedKey(), 0o644)
	return k
}

// writeKnownHosts records the host key for s.Addr in dir/known_hosts.
func writeKnownHosts(t testing.TB, dir string, s *Server) {
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostKey)
	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
	writeFile(t, s.KnownHostsFile, []byte(line+"\n"), 0o600)
}

func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}

func randomString(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("sshtest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
