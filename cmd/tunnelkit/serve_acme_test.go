package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
	"tunnelkit/internal/syncbuf"
	"tunnelkit/relay/wire"
)

// writeSelfSigned writes a certificate for 127.0.0.1 (its own root) and
// its key, for pebble's API.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pebble test API"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// pebbleCA is Debian's pebble on loopback with validation turned off by
// its own settings (no DNS, no challenge connections).
type pebbleCA struct {
	Dir      string // ACME directory URL
	APIRoot  string // PEM file trusting pebble's API
	mgmt     string
	cmd      *exec.Cmd
	exited   chan struct{}
	apiRoots *x509.CertPool
}

func startPebble(t *testing.T) *pebbleCA {
	t.Helper()
	bin := sshtest.RequireBinary(t, "pebble")
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	api, mgmt := loopbackAddr(t), loopbackAddr(t)
	_, httpPort, _ := net.SplitHostPort(loopbackAddr(t))
	_, tlsPort, _ := net.SplitHostPort(loopbackAddr(t))
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q,
  "certificate": %q, "privateKey": %q, "httpPort": %s, "tlsPort": %s,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}`, api, mgmt, certFile, keyFile, httpPort, tlsPort)
	file := filepath.Join(dir, "pebble.json")
	os.WriteFile(file, []byte(conf), 0o644)
	// -dnsserver on loopback: should pebble look anything up, it stays here.
	cmd := exec.Command(bin, "-config", file, "-dnsserver", loopbackAddr(t))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pebbleCA{Dir: "https://" + api + "/dir", APIRoot: certFile, mgmt: mgmt, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble:\n%s", out.String())
		}
	})
	for i := 0; i < 200 && !dialable(api); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	b, _ := os.ReadFile(certFile)
	p.apiRoots = x509.NewCertPool()
	p.apiRoots.AppendCertsFromPEM(b)
	return p
}

func (p *pebbleCA) stop() {
	p.cmd.Process.Kill()
	<-p.exited
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// issuingRoot is the root pebble signs with (made anew at each start).
func (p *pebbleCA) issuingRoot(t *testing.T) *x509.CertPool {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.apiRoots}}}
	resp, err := hc.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: %q", b)
	}
	return pool
}

// clientFor reaches addr as domain (no DNS: the dial goes to addr),
// trusting only roots.
func clientFor(addr, domain string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: domain},
	}}
}

// TestServeACME: serve --acme-domain gets its certificate from a real ACME
// server (pebble) and serves it over https and wss; the cache dir is 0700;
// restarted with pebble gone, it serves the cached certificate.
func TestServeACME(t *testing.T) {
	bin := buildTunnelkit(t)
	ca := startPebble(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	const domain = "relay.tunnelkit.test"
	cache := filepath.Join(t.TempDir(), "acme")
	addr := loopbackAddr(t)
	args := []string{"--listen", addr, "--allow", echo, "--acme-domain", domain, "--acme-cache", cache,
		"--acme-email", "ops@tunnelkit.test", "--acme-ca", ca.Dir, "--acme-ca-root", ca.APIRoot}
	p := startServe(t, bin, args...)
	p.waitFor(t, func(out string) bool {
		return strings.Contains(out, "acme: certificate ready") || strings.Contains(out, "acme: no certificate")
	})
	if !strings.Contains(p.output(), "certificate ready") {
		t.Fatalf("no certificate from pebble:\n%s", p.output())
	}
	if !strings.Contains(p.output(), "listening on https://") {
		t.Errorf("start-up does not say https:\n%s", p.output())
	}
	roots := ca.issuingRoot(t)
	hc := clientFor(addr, domain, roots)
	serial := func() string {
		t.Helper()
		resp, err := hc.Get("https://" + domain + "/healthz")
		if err != nil {
			t.Fatalf("https with pebble's root: %v", err)
		}
		defer resp.Body.Close()
		leaf := resp.TLS.PeerCertificates[0]
		if resp.StatusCode != 200 || leaf.Subject.CommonName != domain && !strings.Contains(strings.Join(leaf.DNSNames, ","), domain) {
			t.Fatalf("healthz %d, certificate for %v", resp.StatusCode, leaf.DNSNames)
		}
		return leaf.SerialNumber.String()
	}
	first := serial()

	// wss with the same certificate: a dial stream echoes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+domain+"/v1/dial?target="+echo, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	ws.Read(ctx) // open
	ws.Write(ctx, websocket.MessageBinary, []byte("over wss"))
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "over wss" {
		t.Fatalf("wss echo = %q %v", b, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir: %v %v, want 0700", fi.Mode(), err)
	}
	// The Host rule: the ACME domain is a public host, another name is not.
	req, _ := http.NewRequest("GET", "https://"+domain+"/", nil)
	req.Host = "other.example"
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("page for Host other.example: %v %v, want 421", resp.Status, err)
	}

	// Restart with the CA gone: the cached certificate is served.
	p.interrupt(t)
	p.wait(t)
	ca.stop()
	p2 := startServe(t, bin, args...)
	p2.waitFor(t, func(out string) bool { return strings.Contains(out, "listening on") })
	hc.CloseIdleConnections()
	if again := serial(); again != first {
		t.Errorf("after a restart: certificate %s, want the cached %s", again, first)
	}
}

// TestServeACMERefused: a CA that cannot be reached (or refuses) is
// logged with what went wrong, and serve keeps running.
func TestServeACMERefused(t *testing.T) {
	bin := buildTunnelkit(t)
	dir := t.TempDir()
	root, _ := writeSelfSigned(t, dir)
	addr := loopbackAddr(t)
	p := startServe(t, bin, "--listen", addr, "--acme-domain", "relay.tunnelkit.test", "--acme-cache", filepath.Join(dir, "acme"),
		"--acme-ca", "https://"+loopbackAddr(t)+"/dir", "--acme-ca-root", root)
	p.waitFor(t, func(out string) bool { return strings.Contains(out, "acme: no certificate yet") })
	if out := p.output(); !strings.Contains(out, "relay.tunnelkit.test") || !strings.Contains(out, "connection refused") {
		t.Errorf("the failure does not say which domain and why:\n%s", out)
	}
	select {
	case <-p.done:
		t.Fatalf("serve exited after the CA failed: %v", p.err)
	case <-time.After(300 * time.Millisecond):
	}
	if !dialable(addr) {
		t.Error("serve stopped listening after the CA failed")
	}
}
