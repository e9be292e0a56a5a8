package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
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

// writePrivate writes the key unencrypted in OpenSSH format.
func (k keyPair) writePrivate(t testing.TB, path string) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k.priv, "tunnelkit-test")
	if err != nil {
		t.Fatalf("sshtest: marshal private key: %v", err)
	}
	writeFile(t, path, pem.EncodeToMemory(block), 0o600)
}

func (k keyPair) authorizedKey() []byte { return ssh.MarshalAuthorizedKey(k.signer.PublicKey()) }

// clientKey is the client key of every server a test process starts:
// encrypting a key (bcrypt KDF) takes seconds under the race detector, so it
// is done once.
var clientKey struct {
	once             sync.Once
	key              keyPair
	plain, encrypted []byte
	passphrase       string
	err              error
}

// clientKeys writes the client key, unencrypted and encrypted, into dir and
// fills the matching Server fields.
func clientKeys(t testing.TB, dir string, s *Server) keyPair {
	t.Helper()
	ck := &clientKey
	ck.once.Do(func() {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			ck.err = err
			return
		}
		if ck.key.signer, ck.err = ssh.NewSignerFromKey(priv); ck.err != nil {
			return
		}
		ck.key.priv = priv
		b := make([]byte, 12)
		rand.Read(b)
		ck.passphrase = hex.EncodeToString(b)
		plain, err := ssh.MarshalPrivateKey(priv, "tunnelkit-test")
		if err != nil {
			ck.err = err
			return
		}
		enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "tunnelkit-test", []byte(ck.passphrase))
		if err != nil {
			ck.err = err
			return
		}
		ck.plain, ck.encrypted = pem.EncodeToMemory(plain), pem.EncodeToMemory(enc)
	})
	if ck.err != nil {
		t.Fatalf("sshtest: client key: %v", ck.err)
	}
	s.Signer = ck.key.signer
	s.KeyPassphrase = ck.passphrase
	s.ClientKeyFile = filepath.Join(dir, "id_ed25519")
	s.EncryptedKeyFile = filepath.Join(dir, "id_ed25519_encrypted")
	writeFile(t, s.ClientKeyFile, ck.plain, 0o600)
	writeFile(t, s.EncryptedKeyFile, ck.encrypted, 0o600)
	writeFile(t, s.ClientKeyFile+".pub", ck.key.authorizedKey(), 0o644)
	return ck.key
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
