package tunnel

// API CONTRACT (stub; replaced by the real implementation file by file).

import (
	"context"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Kind says which side owns the entry socket.
type Kind byte

const (
	Local  Kind = 'L' // -L: the client listens on the entry socket, the gateway dials the exit.
	Remote Kind = 'R' // -R: the gateway listens on the entry socket, the client dials the exit.
)

// Spec is one parsed forward: "-L [entry address:]entry port:exit host:exit port".
type Spec struct {
	Kind      Kind
	EntryHost string // as written: "" (default), "*", "localhost", "::1", ...
	EntryPort int    // 0: let the listener pick
	ExitHost  string
	ExitPort  int
}

// ParseSpec parses OpenSSH -L/-R syntax, with or without the flag:
// "-L 8080:db:5432", "-L8080:db:5432", "L 8080:db:5432", or kind given and s
// being "[bind_address:]port:host:hostport" (IPv6 in brackets).
func ParseSpec(kind Kind, s string) (Spec, error) { panic("todo") }

// ParseForward parses "-L spec" / "-R spec" where the flag names the kind.
func ParseForward(s string) (Spec, error) { panic("todo") }

func (s Spec) String() string                             { panic("todo") } // "-L 127.0.0.1:8080:db:5432" (canonical, re-parsable)
func (s Spec) EntryAddr() string                          { panic("todo") } // the entry socket to bind, defaults applied ("localhost:8080", ":8080" for *)
func (s Spec) ExitAddr() string                           { panic("todo") } // "db:5432" (IPv6 bracketed)
func (s Spec) Command(user, host string, port int) string { panic("todo") } // equivalent "ssh -N -L ... user@host"

// DialFunc dials an exit socket (natively net.Dialer; in the browser the relay's dial bridge).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ListenFunc binds an entry socket (natively net.ListenConfig; in the browser the relay's listen bridge).
type ListenFunc func(ctx context.Context, network, address string) (net.Listener, error)

// HostKeyPolicy decides whether to trust the gateway's host key. It fails
// closed: an unknown key is refused unless Fingerprint matches, the key is in
// KnownHostsFile, AcceptNew is set (trust on first use, written to
// KnownHostsFile), or Confirm returns true. A key that differs from a known
// one is always refused, with both fingerprints in the error.
type HostKeyPolicy struct {
	Fingerprint    string // pinned "SHA256:..."
	KnownHostsFile string // OpenSSH known_hosts format
	AcceptNew      bool
	Confirm        func(ctx context.Context, hostport, fingerprint string) (bool, error)
}

// Config configures a Client.
type Config struct {
	User        string
	Password    string       // for password and keyboard-interactive
	Signers     []ssh.Signer // keys, see ParsePrivateKey
	AuthMethods []ssh.AuthMethod
	HostKey     HostKeyPolicy

	Ciphers []string // nil: platform default (AES-GCM first natively, chacha20 first under js)

	KeepaliveInterval time.Duration // 0: 15s; negative: off
	KeepaliveMax      int           // missed replies before the gateway is declared dead; 0: 3

	Listen ListenFunc // entry sockets of -L; nil: net natively, error under js
	Dial   DialFunc   // exits of -R; nil: net natively, error under js

	Logger  *slog.Logger // nil: slog.Default()
	OnEvent func(Event)  // optional; called synchronously, must not block
}

// ParsePrivateKey parses an OpenSSH or PEM private key, decrypting it with passphrase when it is encrypted.
func ParsePrivateKey(pem []byte, passphrase []byte) (ssh.Signer, error) { panic("todo") }

// Fingerprint returns "SHA256:..." for key.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// Client is an authenticated SSH connection to a gateway.
type Client struct{}

// Connect runs the SSH handshake over conn (TCP, or a WebSocket through the
// relay). addr is "host:port" of the gateway, used for host-key lookup.
// Connect owns conn from here on: it is closed when the Client is closed or on error.
func Connect(ctx context.Context, conn net.Conn, addr string, cfg Config) (*Client, error) {
	panic("todo")
}

// Dial dials addr over TCP and calls Connect (native convenience).
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) { panic("todo") }

func (c *Client) HostKey() string                                          { panic("todo") } // "SHA256:..."
func (c *Client) SSH() *ssh.Client                                         { panic("todo") }
func (c *Client) Forward(ctx context.Context, spec Spec) (*Forward, error) { panic("todo") }
func (c *Client) Forwards() []*Forward                                     { panic("todo") }
func (c *Client) Wait() error                                              { panic("todo") } // returns when the connection ends (nil after Close)
func (c *Client) Close() error                                             { panic("todo") } // closes forwards and waits for their goroutines

// Forward is a running -L or -R forward.
type Forward struct{}

func (f *Forward) Spec() Spec            { panic("todo") }
func (f *Forward) Entry() string         { panic("todo") } // entry socket actually bound, e.g. "127.0.0.1:34567" (for -R the gateway's allocated port)
func (f *Forward) Stats() Stats          { panic("todo") }
func (f *Forward) Close() error          { panic("todo") } // stops listening, closes its connections, waits for goroutines
func (f *Forward) Done() <-chan struct{} { panic("todo") }

// Stats are a forward's live counters. BytesOut flows entry -> exit, BytesIn exit -> entry.
type Stats struct {
	Connections int64 `json:"connections"` // total accepted
	Active      int64 `json:"active"`
	BytesIn     int64 `json:"bytesIn"`
	BytesOut    int64 `json:"bytesOut"`
}

// EventKind names what happened.
type EventKind string

const (
	EventForwardUp   EventKind = "forward-up"   // the entry socket is bound
	EventForwardDown EventKind = "forward-down" // the forward stopped
	EventOpened      EventKind = "opened"       // a connection was accepted and its exit reached
	EventClosed      EventKind = "closed"       // a connection ended
	EventError       EventKind = "error"        // a connection or forward failed; Err says why
)

// Event is one entry of a client's event stream (for logs and the UI).
type Event struct {
	Time              time.Time
	Kind              EventKind
	Forward           Spec
	Entry             string // bound entry socket
	Conn              uint64 // connection number within the forward (0 for forward events)
	Remote            string // peer of the entry connection, when known
	BytesIn, BytesOut int64
	Err               error
}
