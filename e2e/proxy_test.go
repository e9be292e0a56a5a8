package e2e

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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/relay/wire"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// in dir and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o644)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// deployNginx runs deploy/nginx.conf as shipped, but for its paths and
// ports: its upstream becomes upstreams, its TLS listener addr, its
// certificate one made for 127.0.0.1. A line the test must rewrite and
// cannot find fails it, so the test follows the file.
func deployNginx(t *testing.T, upstreams []string) (addr string, pool *x509.CertPool) {
	t.Helper()
	b, err := os.ReadFile("../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "server %s;\n", u)
	}
	site := string(b)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;\n", servers.String()},
		{"listen 443 ssl;", "listen " + addr + " ssl;"},
		{"/etc/ssl/tunnelkit/fullchain.pem", certFile},
		{"/etc/ssl/tunnelkit/privkey.pem", keyFile},
	} {
		if !strings.Contains(site, r[0]) {
			t.Fatalf("deploy/nginx.conf has no %q for the test to rewrite", r[0])
		}
		site = strings.ReplaceAll(site, r[0], r[1])
	}
	os.WriteFile(filepath.Join(dir, "tunnelkit.conf"), []byte(site), 0o644)
	conf := nginxPreamble(dir) + "http {\n" + nginxTempPaths(dir) + "access_log " + dir + "/access.log;\ninclude " + dir + "/tunnelkit.conf;\n}\n"
	startNginx(t, dir, conf, addr)
	return addr, pool
}

// TestBehindNginx runs deploy/nginx.conf in front of a relay started
// with --trusted-proxy 127.0.0.1: a dial stream from 127.0.0.2 through
// nginx over wss is logged with 127.0.0.2, not nginx's address; the page,
// loaded over https through nginx, runs a -L forward whose connections
// come back through nginx's WebSocket upgrade.
func TestBehindNginx(t *testing.T) {
	dir := buildWasm(t)
	sshd := sshtest.StartOpenSSH(t, sshtest.Options{})
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	rs := startRelayServer(t, dir, relay.Config{
		Allow:          []string{sshd.Addr, echo},
		AllowListen:    []string{"127.0.0.1:*"},
		TrustedProxies: []string{"127.0.0.1"},
	})
	addr, pool := deployNginx(t, []string{strings.TrimPrefix(rs.Server.URL, "http://")})

	// A client of its own address, 127.0.0.2, over wss through nginx.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/v1/dial?target="+echo, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		t.Fatalf("wss through nginx: %v", err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"open"`) {
		t.Fatalf("open = %q %v", b, err)
	}
	ws.Write(ctx, websocket.MessageBinary, []byte("hello"))
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "hello" {
		t.Fatalf("echo through nginx = %q %v", b, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	if !waitFor(10*time.Second, func() bool {
		return len(rs.Log.lines(`"kind":"dial"`, `"target":"`+echo+`"`, `"from":"127.0.0.2"`)) == 1
	}) {
		t.Fatalf("relay log has no dial stream from 127.0.0.2:\n%s", rs.Log.String())
	}

	// The page over https through nginx, a -L on the relay host.
	bctx := newBrowserWith(t, chromedp.Flag("ignore-certificate-errors", true))
	openPage(t, bctx, "https://"+addr+"/")
	mustJS[any](t, bctx, connectJS(&stack{SSHD: sshd}, ""))
	entry := jsForward(t, bctx, "f", "-L 127.0.0.1:0:"+echo)
	for i := range 5 {
		if err := echoOnce(entry, 256<<10, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := jsStats(t, bctx, "f"); s.Connections != 5 {
		t.Errorf("f.stats() = %+v, want 5 connections", s)
	}
	mustJS[any](t, bctx, `await s.close();`)
	if !waitFor(10*time.Second, func() bool { return len(rs.Log.lines(`"kind":"accept"`, `"from":"127.0.0.1"`)) >= 5 }) {
		t.Errorf("relay log has no accepted connections of the page's listener:\n%s", tail(rs.Log.String(), 3000))
	}
}
