package tunnel

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ParsePrivateKey parses an OpenSSH or PEM private key, decrypting it with
// passphrase when it is encrypted. An encrypted key without a passphrase
// gives an error wrapping *ssh.PassphraseMissingError, so callers can ask
// for one and retry.
func ParsePrivateKey(pem []byte, passphrase []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case !errors.As(err, &missing):
		return nil, fmt.Errorf("cannot parse private key: %w", err)
	case len(passphrase) == 0:
		return nil, fmt.Errorf("private key is encrypted: give its passphrase: %w", err)
	}
	signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, passphrase)
	if errors.Is(err, x509.IncorrectPasswordError) || err != nil && strings.Contains(err.Error(), "decryption") {
		return nil, fmt.Errorf("wrong passphrase for private key: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt private key: %w", err)
	}
	return signer, nil
}

// authMethod is an ssh.AuthMethod with the RFC 4252 name we know it by
// ("" for methods handed to us as opaque ssh.AuthMethods).
type authMethod struct {
	name string
	desc string
	m    ssh.AuthMethod
}

// namedAuth is an ssh.AuthMethod that says what it is, for the plan and its
// error message.
type namedAuth struct {
	ssh.AuthMethod
	name, desc string
}

// authPlan tries every configured method once, in order: keys, extra methods
// (such as the agent), keyboard-interactive, password. x/crypto/ssh alone
// would try only the first method of each name, so a second source of keys
// would never be offered.
type authPlan struct {
	methods []authMethod
	next    int
	tried   []string
	allowed []string
}

func newAuthPlan(cfg *Config) *authPlan {
	p := &authPlan{}
	if len(cfg.Signers) > 0 {
		desc := "publickey (1 key)"
		if len(cfg.Signers) > 1 {
			desc = fmt.Sprintf("publickey (%d keys)", len(cfg.Signers))
		}
		p.methods = append(p.methods, authMethod{"publickey", desc, ssh.PublicKeys(cfg.Signers...)})
	}
	for _, m := range cfg.AuthMethods {
		switch n := m.(type) {
		case namedAuth:
			p.methods = append(p.methods, authMethod{n.name, n.desc, n})
		case ssh.KeyboardInteractiveChallenge:
			p.methods = append(p.methods, authMethod{"keyboard-interactive", "keyboard-interactive", n})
		default:
			p.methods = append(p.methods, authMethod{"", "", m})
		}
	}
	if cfg.Password != "" {
		pw := cfg.Password
		p.methods = append(p.methods,
			authMethod{"keyboard-interactive", "keyboard-interactive", ssh.KeyboardInteractive(answerWith(pw))},
			authMethod{"password", "password", ssh.Password(pw)},
		)
	}
	return p
}

// callback is the ssh.ClientAuthCallback: the next configured method that the
// gateway still allows.
func (p *authPlan) callback(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	p.allowed = ctx.AllowedMethods
	for p.next < len(p.methods) {
		m := p.methods[p.next]
		p.next++
		if m.name != "" && !slices.Contains(ctx.AllowedMethods, m.name) {
			continue
		}
		desc := m.desc
		if desc == "" {
			desc = fmt.Sprintf("extra method %d", p.next)
		}
		p.tried = append(p.tried, desc)
		return m.m, nil
	}
	return nil, nil
}

// answerWith answers keyboard-interactive prompts: every prompt that does
// not echo (a password prompt) gets the password, others an empty answer.
func answerWith(password string) ssh.KeyboardInteractiveChallenge {
	rounds := 0
	return func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		asked := false
		for i := range questions {
			if !echos[i] {
				answers[i] = password
				asked = true
			}
		}
		if asked {
			rounds++
			// The gateway asking again means the password was wrong.
			if rounds > 2 {
				return nil, errors.New("keyboard-interactive: password rejected")
			}
		}
		return answers, nil
	}
}

// AuthError is a failed authentication: what was tried, what the gateway
// accepts.
type AuthError struct {
	User, Addr string
	Tried      []string // methods tried, e.g. "publickey (2 keys)", "password"
	Accepted   []string // methods the gateway accepts
	Err        error
}

func (e *AuthError) Error() string {
	tried := "nothing (no password, key or agent given)"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	accepts := strings.Join(e.Accepted, ", ")
	if accepts == "" {
		accepts = "no method"
	}
	return fmt.Sprintf("authentication as %q to gateway %s failed: tried %s; the gateway accepts %s: check the user name, the password or key (and its passphrase), or that the key is in the user's authorized_keys: %v",
		e.User, e.Addr, tried, accepts, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

func (p *authPlan) authError(addr, user string, err error) error {
	return &AuthError{User: user, Addr: addr, Tried: p.tried, Accepted: p.allowed, Err: err}
}

func isAuthFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}
