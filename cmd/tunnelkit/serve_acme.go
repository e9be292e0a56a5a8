package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeOptions are serve's --acme-* flags: certificates the relay gets and
// renews itself, answering the CA's TLS-ALPN-01 challenge on its own
// listener (so that listener must be what the domain's port 443 reaches).
type acmeOptions struct {
	domains      repeated
	cache, email string
	ca, caRoot   string
}

func (a *acmeOptions) on() bool { return len(a.domains) > 0 }

// check reports flag combinations that cannot work.
func (a *acmeOptions) check(tlsCert string) error {
	switch {
	case !a.on() && (a.cache != "" || a.email != "" || a.ca != "" || a.caRoot != ""):
		return badUsage("serve", "--acme-cache, --acme-email, --acme-ca and --acme-ca-root need --acme-domain")
	case !a.on():
		return nil
	case tlsCert != "":
		return badUsage("serve", "--acme-domain and --tls-cert exclude each other: the certificate comes from one of them")
	case a.cache == "":
		return badUsage("serve", "--acme-domain needs --acme-cache DIR: without a cache every restart asks the CA again, and CAs limit how often")
	}
	for _, d := range a.domains {
		if d == "" || strings.ContainsAny(d, ":/ ") {
			return badUsage("serve", "--acme-domain %q: want a host name, e.g. relay.example.com", d)
		}
	}
	return nil
}

// manager builds the autocert manager: the cache directory is made 0700
// (it holds private keys), the CA is --acme-ca or Let's Encrypt's.
func (a *acmeOptions) manager() (*autocert.Manager, error) {
	if err := os.MkdirAll(a.cache, 0o700); err != nil {
		return nil, fmt.Errorf("--acme-cache: %w", err)
	}
	if err := os.Chmod(a.cache, 0o700); err != nil {
		return nil, fmt.Errorf("--acme-cache %s: %w", a.cache, err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.cache),
		HostPolicy: autocert.HostWhitelist(a.domains...),
		Email:      a.email,
	}
	if a.ca != "" || a.caRoot != "" {
		c := &acme.Client{DirectoryURL: a.ca}
		if a.caRoot != "" {
			pem, err := os.ReadFile(a.caRoot)
			if err != nil {
				return nil, fmt.Errorf("--acme-ca-root: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--acme-ca-root %s: no PEM certificate in it", a.caRoot)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			c.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
		}
		m.Client = c
	}
	return m, nil
}

// tlsConfig serves the manager's certificates over HTTP/1.1 (WebSocket
// streams take over their connection) and answers TLS-ALPN-01.
func acmeTLSConfig(m *autocert.Manager) *tls.Config {
	c := m.TLSConfig()
	c.NextProtos = []string{"http/1.1", acme.ALPNProto}
	return c
}

// prefetch gets each domain's certificate now rather than at the first
// visitor's handshake, and says in the log whether it worked: a CA that
// refuses, or a domain that does not reach this listener, is logged with
// the CA's words. Serving goes on either way (streams already running are
// not touched); the next handshake for the domain tries again.
func (a *acmeOptions) prefetch(m *autocert.Manager, log *slog.Logger) {
	for _, d := range a.domains {
		go func() {
			hello := &tls.ClientHelloInfo{
				ServerName:       d,
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256},
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			}
			cert, err := m.GetCertificate(hello)
			if err != nil {
				log.Error("acme: no certificate yet", "domain", d, "ca", a.caName(), "err", acmeErrText(err),
					"hint", "check that "+d+" resolves to this host and its port 443 reaches --listen, and the CA's message above; the next TLS handshake for it tries again")
				return
			}
			until := ""
			if cert.Leaf != nil {
				until = cert.Leaf.NotAfter.UTC().Format(time.RFC3339)
			}
			log.Info("acme: certificate ready", "domain", d, "ca", a.caName(), "not_after", until)
		}()
	}
}

func (a *acmeOptions) caName() string {
	if a.ca == "" {
		return autocert.DefaultACMEDirectory
	}
	return a.ca
}

// acmeErrText keeps the CA's own problem document when there is one.
func acmeErrText(err error) string {
	var ae *acme.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("CA refused (%d %s): %s", ae.StatusCode, ae.ProblemType, ae.Detail)
	}
	return err.Error()
}
