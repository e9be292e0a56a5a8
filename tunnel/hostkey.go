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

// HostKeyErrorKind says why a host key was refused.
type HostKeyErrorKind int

const (
	HostKeyUnknown  HostKeyErrorKind = iota + 1 // no key on record and nothing allowed trusting it
	HostKeyChanged                              // differs from the pinned or known_hosts key
	HostKeyRevoked                              // the key, or the CA that signed it, is @revoked
	HostKeyDeclined                             // Confirm said no
)

func (k HostKeyErrorKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	case HostKeyDeclined:
		return "declined"
	}
	return fmt.Sprintf("HostKeyErrorKind(%d)", int(k))
}

// HostKeyError is why a gateway's host key was refused. It carries data
// and names no command-line flag: callers word the remedy for their users
// (trust on first use, pinning Fingerprint, editing File at Line).
type HostKeyError struct {
	Kind        HostKeyErrorKind
	Addr        string   // gateway "host:port"
	KeyType     string   // offered key type, e.g. "ssh-ed25519"
	Fingerprint string   // offered key
	Known       []string // fingerprints on record (known_hosts or pinned); empty for an unknown key
	KnownTypes  []string // key types of Known, in the same order ("" when pinned)
	Pinned      bool     // Known is the pinned fingerprint, not known_hosts
	File        string   // known_hosts file holding the known or revoked key, if any
	Line        int
	CA          string // fingerprint of the revoked CA, for a revoked host certificate
}

func (e *HostKeyError) Error() string {
	switch e.Kind {
	case HostKeyChanged:
		if e.Pinned {
			return fmt.Sprintf("host key for %s does not match the pinned fingerprint: pinned %s, gateway offered %s %s (possible man-in-the-middle)",
				e.Addr, strings.Join(e.Known, ", "), e.KeyType, e.Fingerprint)
		}
		want := make([]string, len(e.Known))
		for i, fp := range e.Known {
			want[i] = strings.TrimSpace(e.knownType(i) + " " + fp)
		}
		return fmt.Sprintf("host key for %s changed: known_hosts has %s, gateway offered %s %s (possible man-in-the-middle; if the key really changed, remove the old line from %s:%d)",
			e.Addr, strings.Join(want, ", "), e.KeyType, e.Fingerprint, e.File, e.Line)
	case HostKeyRevoked:
		if e.CA != "" {
			return fmt.Sprintf("host certificate for %s (key %s) is signed by CA %s, which is revoked in %s:%d: refusing to connect",
				e.Addr, e.Fingerprint, e.CA, e.File, e.Line)
		}
		return fmt.Sprintf("host key %s for %s is revoked in %s:%d: refusing to connect", e.Fingerprint, e.Addr, e.File, e.Line)
	case HostKeyDeclined:
		return fmt.Sprintf("host key %s %s for %s was not accepted", e.KeyType, e.Fingerprint, e.Addr)
	}
	return fmt.Sprintf("unknown host key for %s: %s %s; check it with the gateway's administrator before trusting it or pinning that fingerprint", e.Addr, e.KeyType, e.Fingerprint)
}

func (e *HostKeyError) knownType(i int) string {
	if i < len(e.KnownTypes) {
		return e.KnownTypes[i]
	}
	return ""
}

// Changed reports whether the gateway offered a key different from a known one.
func (e *HostKeyError) Changed() bool { return e.Kind == HostKeyChanged }

// hostKeyChecker verifies one gateway's key during one handshake.
type hostKeyChecker struct {
	policy HostKeyPolicy
	ctx    context.Context
	addr   string
	log    func(msg string, args ...any)
}

// knownHosts reads the known_hosts file into a knownhosts callback; nil
// when there is no file. It reads the file on every call: x/crypto checks
// the host key again at each re-key, and the file may have changed (trust
// on first use appends to it).
func (h *hostKeyChecker) knownHosts() (ssh.HostKeyCallback, error) {
	file := h.policy.KnownHostsFile
	if file == "" {
		return nil, nil
	}
	cb, err := knownhosts.New(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read known hosts %s: %w", file, err)
	}
	return cb, nil
}

// knownKeys returns the plain known_hosts keys for addr (none when the
// file is missing) and whether a @cert-authority line covers it. It asks
// knownhosts with a throwaway key: the KeyError lists every entry for the
// host, CA lines among them.
func (h *hostKeyChecker) knownKeys() ([]knownhosts.KnownKey, bool, error) {
	cb, err := h.knownHosts()
	if cb == nil {
		return nil, false, err
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	var ke *knownhosts.KeyError
	if err := cb(h.addr, addrString(h.addr), probe); errors.As(err, &ke) {
		plain, hasCA := splitCA(ke.Want)
		return plain, hasCA, nil
	}
	return nil, false, nil
}

// splitCA separates known_hosts entries into plain host keys and CA keys,
// which knownhosts reports alike: it looks at each entry's line.
func splitCA(keys []knownhosts.KnownKey) (plain []knownhosts.KnownKey, hasCA bool) {
	files := map[string][]string{}
	for _, k := range keys {
		lines, ok := files[k.Filename]
		if !ok {
			b, _ := os.ReadFile(k.Filename)
			lines = strings.Split(string(b), "\n")
			files[k.Filename] = lines
		}
		if k.Line >= 1 && k.Line <= len(lines) && strings.HasPrefix(strings.TrimSpace(lines[k.Line-1]), "@cert-authority") {
			hasCA = true
			continue
		}
		plain = append(plain, k)
	}
	return plain, hasCA
}

// hostKeyAlgorithms puts the algorithms of the known keys first, so a gateway
// with several host keys shows the one on record instead of one that would
// look like a changed key; host certificates go first when a CA is known
// for the gateway, as in OpenSSH. nil means the library default.
func hostKeyAlgorithms(known []knownhosts.KnownKey, hasCA bool) []string {
	var first []string
	if hasCA {
		first = []string{
			ssh.CertAlgoED25519v01,
			ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
			ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
		}
	}
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

// check is the ssh.HostKeyCallback: a pinned fingerprint decides alone;
// otherwise known_hosts, then trust of a new key if the policy allows it.
func (h *hostKeyChecker) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	if cert, ok := key.(*ssh.Certificate); ok {
		if trusted, err := h.checkCert(cert); trusted || err != nil {
			return err
		}
		// As OpenSSH does: a certificate no known CA vouches for is
		// checked as the plain key it certifies.
		key = cert.Key
	}
	e := &HostKeyError{Addr: h.addr, KeyType: key.Type(), Fingerprint: Fingerprint(key)}
	if pin := h.policy.Fingerprint; pin != "" {
		if sameFingerprint(pin, e.Fingerprint) {
			return nil
		}
		e.Kind, e.Known, e.Pinned = HostKeyChanged, []string{pin}, true
		return e
	}
	known, err := h.checkKnownHosts(key, e)
	if known || err != nil {
		return err
	}
	return h.trustNew(key, e)
}

// checkKnownHosts looks key up in known_hosts: true when it is on record,
// e filled in and returned when a different key is (or this one is revoked).
func (h *hostKeyChecker) checkKnownHosts(key ssh.PublicKey, e *HostKeyError) (bool, error) {
	cb, err := h.knownHosts()
	if cb == nil {
		return false, err
	}
	err = cb(h.addr, addrString(h.addr), key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &re):
		e.Kind = HostKeyRevoked
		e.File, e.Line = re.Revoked.Filename, re.Revoked.Line
		return false, e
	case errors.As(err, &ke):
		known, _ := splitCA(ke.Want)
		if len(known) == 0 {
			return false, nil // unknown host (at most a CA on record)
		}
		e.Kind = HostKeyChanged
		for _, k := range known {
			e.Known = append(e.Known, Fingerprint(k.Key))
			e.KnownTypes = append(e.KnownTypes, k.Key.Type())
		}
		e.File, e.Line = known[0].Filename, known[0].Line
		return false, e
	}
	return false, fmt.Errorf("checking host key for %s against %s: %w", h.addr, h.policy.KnownHostsFile, err)
}

// trustNew decides on a key with nothing on record: AcceptNew or Confirm
// trusts it (saved to known_hosts when there is one), else it is refused.
func (h *hostKeyChecker) trustNew(key ssh.PublicKey, e *HostKeyError) error {
	fp := e.Fingerprint
	trust := h.policy.AcceptNew
	if !trust && h.policy.Confirm != nil {
		ok, err := h.policy.Confirm(h.ctx, h.addr, fp)
		if err != nil {
			return fmt.Errorf("confirming host key %s for %s: %w", fp, h.addr, err)
		}
		if !ok {
			e.Kind = HostKeyDeclined
			return e
		}
		trust = true
	}
	if !trust {
		e.Kind = HostKeyUnknown
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

// checkCert reports whether a @cert-authority line of known_hosts vouches
// for the gateway's host certificate. A revoked CA is an error; any other
// failure (no CA for this host, wrong principal, expired) is logged and the
// caller checks the certified key as a plain key.
func (h *hostKeyChecker) checkCert(cert *ssh.Certificate) (bool, error) {
	cb, err := h.knownHosts()
	if cb == nil {
		return false, err
	}
	// A revoked CA refuses the gateway outright, as in OpenSSH; the
	// callback reports a revoked plain key, so ask it about the CA's key.
	// (A revoked certified key is caught when it is checked as plain.)
	var re *knownhosts.RevokedError
	if err := cb(h.addr, addrString(h.addr), cert.SignatureKey); errors.As(err, &re) {
		return false, &HostKeyError{Kind: HostKeyRevoked, Addr: h.addr, KeyType: cert.Type(), Fingerprint: Fingerprint(cert.Key),
			CA: Fingerprint(cert.SignatureKey), File: re.Revoked.Filename, Line: re.Revoked.Line}
	}
	if err := cb(h.addr, addrString(h.addr), cert); err != nil {
		h.log("host certificate not accepted; checking its key as a plain host key", "reason", err.Error())
		return false, nil
	}
	h.log("host certificate accepted", "key", cert.Key.Type()+" "+Fingerprint(cert.Key), "ca", Fingerprint(cert.SignatureKey), "id", cert.KeyId)
	return true, nil
}

// plainKey is the key a host certificate certifies, or key itself.
func plainKey(key ssh.PublicKey) ssh.PublicKey {
	if cert, ok := key.(*ssh.Certificate); ok {
		return cert.Key
	}
	return key
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
