//go:build !js

package tunnel_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

// startWebExit serves a random file of n bytes at /blob on addr (loopback)
// and returns the server's port and the file's SHA-256.
func startWebExit(t *testing.T, addr string, n int) (port int, sum string) {
	t.Helper()
	blob := make([]byte, n)
	rand.Read(blob)
	h := sha256.Sum256(blob)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/blob" {
			http.NotFound(w, r)
			return
		}
		w.Write(blob)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return portOf(t, ln.Addr().String()), hex.EncodeToString(h[:])
}

// curlSOCKS fetches url with curl through the SOCKS proxy at proxy, using
// proxyFlag (--socks5-hostname, --socks4a, ...), and returns the body's SHA-256.
func curlSOCKS(t *testing.T, proxyFlag, proxy, url string) (string, error) {
	t.Helper()
	curl := sshtest.RequireBinary(t, "curl")
	out := filepath.Join(t.TempDir(), "body")
	cmd := exec.Command(curl, "-sS", "--fail", "--max-time", "30", proxyFlag, proxy, "-o", out, url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no *_proxy from the environment
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("curl %s %s %s: %v: %s", proxyFlag, proxy, url, err, bytes.TrimSpace(msg))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// TestDynamicForwardCurl: curl through tunnelkit's -D and OpenSSH's -D, side
// by side, fetches a file by a host name the gateway resolves (socks5h,
// SOCKS4a) and by address (SOCKS4, SOCKS5), SHA-256 checked.
func TestDynamicForwardCurl(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	webPort, sum := startWebExit(t, "127.0.0.1:0", 3<<20+12345)
	c := connect(t, ctx, gw, keyConfig(t, gw))

	d := forward(t, ctx, c, "-D 127.0.0.1:0")
	if portOf(t, d.Entry()) == 0 || d.Spec().String() != "-D 127.0.0.1:0" {
		t.Fatalf("-D: entry %q, spec %q", d.Entry(), d.Spec())
	}
	sshPort := sshtest.FreePort(t, "127.0.0.1")
	startOpenSSH(t, gw, "-D", hostPort("127.0.0.1", sshPort))
	sshEntry := hostPort("127.0.0.1", sshPort)
	if err := eventually(10*time.Second, func() error {
		c, err := net.Dial("tcp", sshEntry)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("ssh -D did not come up: %v", err)
	}

	byName := fmt.Sprintf("http://localhost:%d/blob", webPort)
	byAddr := fmt.Sprintf("http://127.0.0.1:%d/blob", webPort)
	for _, proxy := range []struct{ who, addr string }{{"tunnelkit", d.Entry()}, {"ssh", sshEntry}} {
		for _, tc := range []struct{ flag, url string }{
			{"--socks5-hostname", byName}, {"--socks4a", byName}, {"--socks5", byAddr}, {"--socks4", byAddr},
		} {
			got, err := curlSOCKS(t, tc.flag, proxy.addr, tc.url)
			if err != nil {
				t.Errorf("%s -D: %v", proxy.who, err)
				continue
			}
			if got != sum {
				t.Errorf("%s -D, curl %s %s: SHA-256 %s, want %s", proxy.who, tc.flag, tc.url, got, sum)
			}
		}
	}
	if st := d.Stats(); st.Connections < 4 || st.BytesIn < 4*(3<<20) {
		t.Errorf("-D stats %+v: want 4 connections and the files' bytes", st)
	}
	// The gateway resolved the name: sshd saw "localhost", not an address.
	log, _ := os.ReadFile(gw.LogFile)
	if !regexp.MustCompile(`direct_tcpip: originator .*, target localhost port ` + fmt.Sprint(webPort)).Match(log) {
		t.Errorf("sshd log shows no direct-tcpip to localhost port %d", webPort)
	}
}

// TestDynamicForwardRefusals: what the gateway refuses comes back as a SOCKS
// reply, and the gateway's reason is logged; other SOCKS commands are refused.
func TestDynamicForwardRefusals(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, PermitOpen: "127.0.0.1:1"})
	cfg := keyConfig(t, gw)
	logger, logs := testLogger(t)
	cfg.Logger = logger
	c := connect(t, ctx, gw, cfg)
	d := forward(t, ctx, c, "-D 0")
	closed := sshtest.FreePort(t, "127.0.0.1")

	for _, tc := range []struct {
		name      string
		send      []byte
		wantReply []byte // prefix of what comes back
	}{
		{"socks5 prohibited", socks5Connect("127.0.0.1", closed), []byte{5, 0, 5, 2}},
		{"socks4 prohibited", socks4Connect(127, 0, 0, 1, closed, ""), []byte{0, 0x5b}},
		{"socks4a prohibited", socks4Connect(0, 0, 0, 1, closed, "localhost"), []byte{0, 0x5b}},
		{"socks5 bind", append([]byte{5, 1, 0}, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80), []byte{5, 0, 5, 7}},
		{"socks5 needs auth", []byte{5, 1, 2}, []byte{5, 0xff}},
	} {
		got, err := socksExchange(d.Entry(), tc.send)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.HasPrefix(got, tc.wantReply) {
			t.Errorf("%s: reply % x, want it to start % x", tc.name, got, tc.wantReply)
		}
	}
	if err := eventually(5*time.Second, func() error {
		if !strings.Contains(logs.String(), "administratively prohibited") {
			return fmt.Errorf("no gateway reason in the log")
		}
		return nil
	}); err != nil {
		t.Errorf("%v:\n%s", err, logs.String())
	}

	// Allowed but nothing listening: "connection refused" (SOCKS5 code 5).
	gw2 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway2})
	d2 := forward(t, ctx, connect(t, ctx, gw2, keyConfig(t, gw2)), "-D 0")
	if got, err := socksExchange(d2.Entry(), socks5Connect("127.0.0.1", closed)); err != nil || !bytes.HasPrefix(got, []byte{5, 0, 5, 5}) {
		t.Errorf("socks5 to a closed port: reply % x, %v; want code 5", got, err)
	}
}

func socks5Connect(ip string, port int) []byte {
	a := net.ParseIP(ip).To4()
	return append([]byte{5, 1, 0, 5, 1, 0, 1}, a[0], a[1], a[2], a[3], byte(port>>8), byte(port))
}

func socks4Connect(a, b, c, d byte, port int, name string) []byte {
	msg := []byte{4, 1, byte(port >> 8), byte(port), a, b, c, d, 'u', 0}
	if name != "" {
		msg = append(append(msg, name...), 0)
	}
	return msg
}

// socksExchange sends req to a SOCKS server and returns all it answers
// until it closes the connection (or 5s pass).
func socksExchange(addr string, req []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(c)
	if len(b) > 0 {
		err = nil
	}
	return b, err
}
