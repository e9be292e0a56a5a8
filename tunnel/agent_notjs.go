//go:build !js

package tunnel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AgentAuth offers the keys of the ssh-agent at $SSH_AUTH_SOCK. Add it to
// Config.AuthMethods; close the returned io.Closer once connected. It fails
// when no agent is running.
func AgentAuth() (ssh.AuthMethod, io.Closer, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("no ssh-agent: SSH_AUTH_SOCK is not set")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach ssh-agent at %s: %w", sock, err)
	}
	m := ssh.PublicKeysCallback(agent.NewClient(conn).Signers)
	return namedAuth{m, "publickey", "publickey (ssh-agent)"}, conn, nil
}
