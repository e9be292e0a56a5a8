package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"tunnelkit/tunnel"
)

// sshAuth is what tunnelkit ssh authenticates with.
type sshAuth struct {
	signers  []ssh.Signer
	agent    ssh.AuthMethod // nil without an agent
	password string         // from $TUNNELKIT_PASSWORD
	conn     io.Closer      // the agent connection
}

func (a *sshAuth) close() {
	if a.conn != nil {
		a.conn.Close()
	}
}

// keySource says where key files come from: -i files must all load; the
// defaults and ssh config's IdentityFile are skipped when missing.
type keySource struct {
	files    []string
	explicit bool // from -i
	noAgent  bool // IdentitiesOnly: offer only these keys
}

// loadAuth reads the keys (the -i files, else those of the ssh config, else
// the default ones that exist), connects to the agent if there is one, and
// sets up the password.
func loadAuth(src keySource, log *slog.Logger) (*sshAuth, error) {
	a := &sshAuth{password: os.Getenv("TUNNELKIT_PASSWORD")}
	keyFiles := src.files
	if len(keyFiles) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				keyFiles = append(keyFiles, filepath.Join(home, ".ssh", name))
			}
		}
	}
	for _, file := range keyFiles {
		s, err := loadKey(file)
		switch {
		case err == nil:
			a.signers = append(a.signers, s)
		case src.explicit:
			return nil, err
		case !errors.Is(err, fs.ErrNotExist):
			log.Warn("skipping key", "file", file, "err", err)
		}
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" && !src.noAgent {
		m, conn, err := tunnel.AgentAuth()
		if err != nil {
			log.Warn("going on without the SSH agent", "err", err)
		} else {
			a.conn, a.agent = conn, m
		}
	}
	return a, nil
}

// methods are the agent, then terminal password prompts for one server;
// prompt is what to ask ("Password: ").
func (a *sshAuth) methods(prompt string) []ssh.AuthMethod {
	var ms []ssh.AuthMethod
	if a.agent != nil {
		ms = append(ms, a.agent)
	}
	if a.password != "" || !isTerminal() {
		return ms
	}
	// Asked at most once, and only if the server gets that far.
	ask := sync.OnceValues(func() (string, error) { return readSecret(prompt) })
	return append(ms,
		ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
			answers := make([]string, len(questions))
			for i := range questions {
				if echos[i] {
					continue
				}
				pw, err := ask()
				if err != nil {
					return nil, err
				}
				answers[i] = pw
			}
			return answers, nil
		}),
		ssh.PasswordCallback(ask),
	)
}

// loadKey reads a private key, asking for its passphrase when it is
// encrypted ($TUNNELKIT_PASSPHRASE, else the terminal).
func loadKey(file string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	s, err := tunnel.ParsePrivateKey(pem, nil)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", file, err)
		}
		return s, nil
	}
	pass, ok := os.LookupEnv("TUNNELKIT_PASSPHRASE")
	if !ok {
		if !isTerminal() {
			return nil, fmt.Errorf("key %s is encrypted: set TUNNELKIT_PASSPHRASE or run in a terminal to be asked", file)
		}
		if pass, err = readSecret(fmt.Sprintf("Passphrase for %s: ", file)); err != nil {
			return nil, err
		}
	}
	s, err = tunnel.ParsePrivateKey(pem, []byte(pass))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	return s, nil
}

func isTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// readSecret asks on the terminal without echo.
func readSecret(prompt string) (string, error) {
	fmt.Fprint(os.Stderr, prompt)
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(prompt, ": "), err)
	}
	return string(b), nil
}

// confirmHostKey asks, as ssh does, whether to trust an unknown host key.
func confirmHostKey(ctx context.Context, hostport, fingerprint string) (bool, error) {
	fmt.Fprintf(os.Stderr, "The authenticity of host %s can't be established.\nIts host key fingerprint is %s.\nAre you sure you want to continue connecting (yes/no)? ", hostport, fingerprint)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return false, err
	}
	return strings.EqualFold(strings.TrimSpace(line), "yes"), nil
}
