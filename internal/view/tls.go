package view

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TLSOptions say how an https:// exit's certificate is checked: against a
// pinned fingerprint, a CA, or not at all when the user accepted that. With
// none of them the platform's roots decide (in a browser page there are
// none, so the error names the fingerprint to pin).
type TLSOptions struct {
	Fingerprint string // the leaf certificate's SHA-256: "SHA256:<base64>" or hex (colons allowed)
	CAPEM       []byte // PEM certificates to trust
	Insecure    bool   // accept any certificate: the user said so
}

// CertError is an exit certificate that was not accepted. Fingerprint is
// the certificate's, in the form TLSOptions.Fingerprint takes.
type CertError struct {
	Host        string
	Fingerprint string
	Err         error
}

func (e *CertError) Error() string {
	return fmt.Sprintf("the certificate of %s is not trusted (%v); its fingerprint is %s: check it, then pin it or give its CA", e.Host, e.Err, e.Fingerprint)
}

func (e *CertError) Unwrap() error { return e.Err }

// CertFingerprint is "SHA256:<base64>" of a DER certificate, as OpenSSH writes key fingerprints.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func parseFingerprint(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "SHA256:"); ok {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err == nil && len(b) == sha256.Size {
			return b, nil
		}
	} else if b, err := hex.DecodeString(strings.ReplaceAll(s, ":", "")); err == nil && len(b) == sha256.Size {
		return b, nil
	}
	return nil, fmt.Errorf("bad certificate fingerprint %q: want SHA256:<base64> or 64 hex digits", s)
}

func (o TLSOptions) config(serverName string) (*tls.Config, error) {
	var pin []byte
	if o.Fingerprint != "" {
		var err error
		if pin, err = parseFingerprint(o.Fingerprint); err != nil {
			return nil, err
		}
	}
	var roots *x509.CertPool
	if len(o.CAPEM) > 0 {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(o.CAPEM) {
			return nil, errors.New("bad CA: no PEM certificate found in it")
		}
	}
	return &tls.Config{
		ServerName: serverName,
		// Verification is ours (VerifyConnection) so that a refusal can name
		// the certificate's fingerprint.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &CertError{Host: serverName, Err: errors.New("no certificate")}
			}
			leaf := cs.PeerCertificates[0]
			fp := CertFingerprint(leaf.Raw)
			switch {
			case o.Insecure:
				return nil
			case pin != nil:
				sum := sha256.Sum256(leaf.Raw)
				if string(sum[:]) != string(pin) {
					return &CertError{Host: serverName, Fingerprint: fp, Err: errors.New("fingerprint differs from the pinned one")}
				}
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: serverName, Roots: roots, Intermediates: inter}); err != nil {
				return &CertError{Host: serverName, Fingerprint: fp, Err: err}
			}
			return nil
		},
	}, nil
}
