package tunnel

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

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

// Fingerprint returns "SHA256:..." for key.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// HostKeyError is why a gateway's host key was refused. Callers can show
// Fingerprint to the user and retry with it pinned or with AcceptNew.
type HostKeyError struct {
	Addr        string   // gateway "host:port"
	KeyType     string   // offered key type, e.g. "ssh-ed25519"
	Fingerprint string   // offered key
	Known       []string // fingerprints on record (known_hosts or pinned); empty for an unknown key
	File        string   // known_hosts file holding the known keys, if any
	Line        int
	Revoked     bool
	msg         string
}

func (e *HostKeyError) Error() string { return e.msg }

// Changed reports whether the gateway offered a key different from a known one.
func (e *HostKeyError) Changed() bool { return len(e.Known) > 0 }

// hostKeyChecker verifies one gateway's key during one handshake.
type hostKeyChecker struct {
	policy HostKeyPolicy
	ctx    context.Context
	addr   string
	log    func(msg string, args ...any)
}

// knownKeys returns the known_hosts entries for addr (none when the file is
// missing). It asks knownhosts with a throwaway key: the KeyError lists every
// key on record for the host.
func (h *hostKeyChecker) knownKeys() ([]knownhosts.KnownKey, error) {
	if h.policy.KnownHostsFile == "" {
		return nil, nil
	}
	cb, err := knownhosts.New(h.policy.KnownHostsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read known hosts %s: %w", h.policy.KnownHostsFile, err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	var ke *knownhosts.KeyError
	if err := cb(h.addr, addrString(h.addr), probe); errors.As(err, &ke) {
		return ke.Want, nil
	}
	return nil, nil
}

// hostKeyAlgorithms puts the algorithms of the known keys first, so a gateway
// with several host keys shows the one on record instead of one that would
// look like a changed key. nil means the library default.
func hostKeyAlgorithms(known []knownhosts.KnownKey) []string {
	var first []string
	for _, k := range known {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !slices.Contains(first, a) {
				first = append(first, a)
			}
		}
	}
	if len(first) == 0 {
		return nil
	}
	for _, a := range []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
	} {
		if !slices.Contains(first, a) {
			first = append(first, a)
		}
	}
	return first
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

// check is the ssh.HostKeyCallback.
func (h *hostKeyChecker) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	fp := Fingerprint(key)
	e := &HostKeyError{Addr: h.addr, KeyType: key.Type(), Fingerprint: fp}

	if pin := h.policy.Fingerprint; pin != "" {
		if sameFingerprint(pin, fp) {
			return nil
		}
		e.Known = []string{pin}
		e.msg = fmt.Sprintf("host key for %s does not match the pinned fingerprint: pinned %s, gateway offered %s %s (possible man-in-the-middle; if the key really changed, pin the new fingerprint)",
			h.addr, pin, key.Type(), fp)
		return e
	}

	if file := h.policy.KnownHostsFile; file != "" {
		cb, err := knownhosts.New(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("cannot read known hosts %s: %w", file, err)
		default:
			err = cb(h.addr, addrString(h.addr), key)
			var ke *knownhosts.KeyError
			var re *knownhosts.RevokedError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &re):
				e.Revoked = true
				e.File, e.Line = re.Revoked.Filename, re.Revoked.Line
				e.msg = fmt.Sprintf("host key %s for %s is revoked in %s:%d: refusing to connect", fp, h.addr, e.File, e.Line)
				return e
			case errors.As(err, &ke) && len(ke.Want) > 0:
				var want []string
				for _, k := range ke.Want {
					e.Known = append(e.Known, Fingerprint(k.Key))
					want = append(want, k.Key.Type()+" "+Fingerprint(k.Key))
				}
				e.File, e.Line = ke.Want[0].Filename, ke.Want[0].Line
				e.msg = fmt.Sprintf("host key for %s changed: known_hosts has %s, gateway offered %s %s (possible man-in-the-middle; if the key really changed, remove the old line from %s:%d)",
					h.addr, strings.Join(want, ", "), key.Type(), fp, e.File, e.Line)
				return e
			case errors.As(err, &ke):
				// unknown host: decided below
			default:
				return fmt.Errorf("checking host key for %s against %s: %w", h.addr, file, err)
			}
		}
	}

	trust := h.policy.AcceptNew
	if !trust && h.policy.Confirm != nil {
		ok, err := h.policy.Confirm(h.ctx, h.addr, fp)
		if err != nil {
			return fmt.Errorf("confirming host key %s for %s: %w", fp, h.addr, err)
		}
		if !ok {
			e.msg = fmt.Sprintf("host key %s %s for %s was not accepted", key.Type(), fp, h.addr)
			return e
		}
		trust = true
	}
	if !trust {
		e.msg = fmt.Sprintf("unknown host key for %s: %s %s; check it with the gateway's administrator, then pass --accept-new-host-key or pin that fingerprint", h.addr, key.Type(), fp)
		return e
	}
	if file := h.policy.KnownHostsFile; file != "" {
		if err := appendKnownHost(file, h.addr, key); err != nil {
			return err
		}
		h.log("new host key trusted and saved", "key", key.Type()+" "+fp, "known_hosts", file)
	} else {
		h.log("new host key trusted for this connection only (no known_hosts file)", "key", key.Type()+" "+fp)
	}
	return nil
}

// sameFingerprint compares "SHA256:xyz" fingerprints, tolerating a missing
// prefix and base64 padding.
func sameFingerprint(pin, fp string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, "SHA256:")
		return strings.TrimRight(s, "=")
	}
	return norm(pin) != "" && norm(pin) == norm(fp)
}

// appendKnownHost records key for addr ("[host]:port" unless port 22),
// creating the file 0600 and its directory 0700 when needed.
func appendKnownHost(file, addr string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("cannot save host key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot save host key: %w", err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	// Start on a line of our own if the file does not end with a newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && !bytes.Equal(last, []byte("\n")) {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("cannot save host key to %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot save host key to %s: %w", file, err)
	}
	return nil
}

// addrString is a net.Addr for knownhosts, which parses the remote address:
// a relay conn's RemoteAddr is not the gateway's.
type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }
