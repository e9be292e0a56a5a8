package tunnel

import (
	"context"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialFunc dials an exit socket (natively net.Dialer; in the browser the relay's dial bridge).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ListenFunc binds an entry socket (natively net.ListenConfig; in the browser
// the relay's listen bridge). address has the defaults of Spec.EntryAddr
// applied: "localhost:8080", ":8080" for all interfaces.
type ListenFunc func(ctx context.Context, network, address string) (net.Listener, error)

// Config configures a Client.
type Config struct {
	User        string
	Password    string       // for password and keyboard-interactive
	Signers     []ssh.Signer // keys, see ParsePrivateKey
	AuthMethods []ssh.AuthMethod
	HostKey     HostKeyPolicy

	// Jump lists the jump hosts to pass through, first hop first (ssh -J).
	// The conn given to Connect then leads to Jump[0]; Dial dials it.
	Jump []JumpHost

	Ciphers []string // nil: platform default (AES-GCM first natively, chacha20 first under js)

	KeepaliveInterval time.Duration // 0: 15s; negative: off
	KeepaliveMax      int           // missed replies before the gateway is declared dead; 0: 3

	Listen ListenFunc // entry sockets of -L; nil: net natively, error under js
	Dial   DialFunc   // exits of -R; nil: net natively, error under js

	Logger  *slog.Logger // nil: slog.Default()
	OnEvent func(Event)  // optional; called synchronously, must not block
}

const (
	defaultKeepaliveInterval = 15 * time.Second
	defaultKeepaliveMax      = 3
	exitDialTimeout          = 30 * time.Second
)

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Config) listen() ListenFunc {
	if c.Listen != nil {
		return c.Listen
	}
	return defaultListen
}

func (c *Config) dial() DialFunc {
	if c.Dial != nil {
		return c.Dial
	}
	return defaultDial
}
