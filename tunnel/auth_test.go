//go:build !js

package tunnel

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestPasswordAuth(t *testing.T) {
	g := startGateway(t, nil, nil, nil)
	cfg := g.config(t)
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Password = "wrong"
	err := dialErr(t, g, cfg)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	for _, want := range []string{`authentication as "alice" to gateway ` + g.addr + " failed", "tried password", "accepts password, publickey"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestAuthKeyboardInteractive(t *testing.T) {
	var prompts int
	g := startGateway(t, nil, nil, func(c *ssh.ServerConfig) {
		c.PasswordCallback = nil
		c.KeyboardInteractiveCallback = func(meta ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			// An info round, then a visible and a hidden question.
			if _, err := ask("", "Welcome", nil, nil); err != nil {
				return nil, err
			}
			ans, err := ask("login", "", []string{"Token name: ", "Password: "}, []bool{true, false})
			if err != nil {
				return nil, err
			}
			prompts++
			if ans[0] == "" && ans[1] == testPassword {
				return nil, nil
			}
			return nil, errors.New("no")
		}
	})
	cfg := g.config(t)
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	if prompts != 1 {
		t.Errorf("%d prompts answered, want 1", prompts)
	}
}

func TestAuthKeys(t *testing.T) {
	good, bad := newSigner(t, "ed25519"), newSigner(t, "ecdsa")
	g := startGateway(t, good.PublicKey(), nil, nil)
	cfg := g.config(t)
	cfg.Password = ""
	cfg.Signers = []ssh.Signer{bad, good}
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatal(err)
	}
	// A second source of keys (like the agent) is still offered after the first fails.
	cfg.Signers = []ssh.Signer{bad}
	cfg.AuthMethods = []ssh.AuthMethod{ssh.PublicKeys(good)}
	if err := dialErr(t, g, cfg); err != nil {
		t.Fatalf("key from an extra AuthMethod not tried: %v", err)
	}
	cfg.AuthMethods = nil
	err := dialErr(t, g, cfg)
	if err == nil || !strings.Contains(err.Error(), "tried publickey (1 key)") {
		t.Fatalf("err = %v, want it to list the tried key", err)
	}
	cfg.Signers = nil
	if err := dialErr(t, g, cfg); err == nil || !strings.Contains(err.Error(), "tried nothing") {
		t.Fatalf("no credentials: err = %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("s3cret")
	encode := func(b *pem.Block, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(b)
	}
	//lint:ignore SA1019 legacy encrypted PEM is what old keys look like
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), pass, x509.PEMCipherAES128) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]struct {
		pem       []byte
		encrypted bool
	}{
		"openssh":           {encode(ssh.MarshalPrivateKey(edKey, "")), false},
		"openssh encrypted": {encode(ssh.MarshalPrivateKeyWithPassphrase(edKey, "", pass)), true},
		"pem pkcs1":         {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), false},
		"pem encrypted":     {pem.EncodeToMemory(legacy), true},
	}
	for name, k := range keys {
		s, err := ParsePrivateKey(k.pem, nil)
		if !k.encrypted {
			if err != nil || s == nil {
				t.Errorf("%s: %v", name, err)
			}
			// A passphrase for an unencrypted key is ignored.
			if _, err := ParsePrivateKey(k.pem, pass); err != nil {
				t.Errorf("%s with a passphrase: %v", name, err)
			}
			continue
		}
		var missing *ssh.PassphraseMissingError
		if !errors.As(err, &missing) || !strings.Contains(err.Error(), "passphrase") {
			t.Errorf("%s without passphrase: err = %v, want PassphraseMissingError", name, err)
		}
		if _, err := ParsePrivateKey(k.pem, pass); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := ParsePrivateKey(k.pem, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Errorf("%s with a wrong passphrase: err = %v", name, err)
		}
	}
	if _, err := ParsePrivateKey([]byte("not a key"), nil); err == nil || !strings.Contains(err.Error(), "cannot parse private key") {
		t.Errorf("garbage: err = %v", err)
	}
}
