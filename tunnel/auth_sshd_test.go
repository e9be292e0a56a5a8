//go:build !js

package tunnel_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

func passwordConfig(t *testing.T, s *sshtest.Server, password string) tunnel.Config {
	cfg := keyConfig(t, s)
	cfg.User, cfg.Signers, cfg.Password = s.PasswordUser, nil, password
	return cfg
}

// Password auth, with keyboard-interactive switched off on the gateway.
func TestAuthPassword(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, Extra: []string{"KbdInteractiveAuthentication no"}})
	exit := sshtest.StartPinger(t, host3+":0")
	c := connect(t, ctx, gw, passwordConfig(t, gw, gw.Password))
	ping(t, "", forward(t, ctx, c, "-L 0:"+exit).Entry())
}

// Keyboard-interactive auth (PAM asks for the password), with plain password
// auth switched off on the gateway.
func TestAuthKeyboardInteractive(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, Extra: []string{"PasswordAuthentication no"}})
	exit := sshtest.StartPinger(t, host3+":0")
	c := connect(t, ctx, gw, passwordConfig(t, gw, gw.Password))
	ping(t, "", forward(t, ctx, c, "-L 0:"+exit).Entry())
}

// A wrong password is refused with an error that says authentication failed.
func TestAuthWrongPassword(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	c, err := tunnel.Dial(ctx, gw.Addr, passwordConfig(t, gw, "not-"+gw.Password))
	if err == nil {
		c.Close()
		t.Fatal("wrong password accepted")
	}
	t.Logf("wrong password: %v", err)
	if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "authenticat") || !strings.Contains(msg, gw.PasswordUser) {
		t.Errorf("error %q should say that authentication as %s failed", err, gw.PasswordUser)
	}
}

// An encrypted key needs its passphrase.
func TestAuthEncryptedKey(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, host3+":0")
	pem, err := os.ReadFile(gw.EncryptedKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "not-" + gw.KeyPassphrase} {
		if _, err := tunnel.ParsePrivateKey(pem, []byte(wrong)); err == nil {
			t.Errorf("encrypted key parsed with passphrase %q", wrong)
		}
	}
	signer, err := tunnel.ParsePrivateKey(pem, []byte(gw.KeyPassphrase))
	if err != nil {
		t.Fatalf("parse encrypted key with its passphrase: %v", err)
	}
	plain, err := os.ReadFile(gw.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tunnel.ParsePrivateKey(plain, nil); err != nil {
		t.Errorf("parse unencrypted key: %v", err)
	}
	cfg := keyConfig(t, gw)
	cfg.Signers = []ssh.Signer{signer}
	c := connect(t, ctx, gw, cfg)
	ping(t, "", forward(t, ctx, c, "-L 0:"+exit).Entry())
}

// Extra auth methods (natively: the SSH agent) are used too.
func TestAuthAgentMethod(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	pem, err := os.ReadFile(gw.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	cfg := keyConfig(t, gw)
	cfg.Signers = nil
	cfg.AuthMethods = []ssh.AuthMethod{ssh.PublicKeysCallback(keyring.Signers)}
	connect(t, ctx, gw, cfg).Close()
}
