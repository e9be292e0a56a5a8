package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// hostStatus sends GET path to base with the Host header host; for
// /v1/ paths as a WebSocket upgrade. It returns the status code.
func hostStatus(t *testing.T, base, path, host string) int {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if strings.HasPrefix(path, "/v1/") {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", "tunnelkit.v1")
		req.Header.Set("Origin", "http://"+host)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s Host %q: %v", path, host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkHosts checks that every route refuses the rebinding spellings with
// 421 and answers the others (anything but 421).
func checkHosts(t *testing.T, base string, refused, answered []string) {
	t.Helper()
	for _, path := range []string{"/", "/metrics", "/v1/dial?target=127.0.0.1:1", "/v1/listen?addr=127.0.0.1:0"} {
		for _, h := range refused {
			if got := hostStatus(t, base, path, h); got != http.StatusMisdirectedRequest {
				t.Errorf("%s with Host %q: status %d, want 421", path, h, got)
			}
		}
		for _, h := range answered {
			if got := hostStatus(t, base, path, h); got == http.StatusMisdirectedRequest {
				t.Errorf("%s with Host %q: refused with 421, want it answered", path, h)
			}
		}
	}
	// Load balancers probe /healthz by whatever name: it stays open.
	if got := hostStatus(t, base, "/healthz", "evil.example"); got != http.StatusOK {
		t.Errorf("/healthz with a foreign Host: %d, want 200", got)
	}
}

// rebindingHosts are names an attacker's DNS could point at 127.0.0.1.
func rebindingHosts(port string) []string {
	return []string{
		"evil.example", "evil.example:" + port, "EVIL.Example:" + port, "127.0.0.1.nip.io:" + port,
		"localhost.evil.example:" + port, "relay:" + port, "evil.example.:" + port, "xn--e1afmkfd.example",
		"127.0.0.1:" + port + ".evil.example", "[::1", "[127.0.0.1]:" + port,
	}
}

// TestServeRefusesRebindingHosts: with no --public-host, serve answers IP
// literals and localhost only; --public-host names the hosts it answers.
func TestServeRefusesRebindingHosts(t *testing.T) {
	bin := buildTunnelkit(t)
	base := startRelayProc(t, bin, "", "serve", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:1")
	port := base[strings.LastIndexByte(base, ':')+1:]
	checkHosts(t, base, rebindingHosts(port), []string{
		"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LOCALHOST:" + port, "localhost",
		"[::1]:" + port, "[::1]", "2130706433:" + port, "127.1:" + port,
	})

	pub := startRelayProc(t, bin, "", "serve", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:1",
		"--public-host", "relay.example", "--public-host", "tunnel.example:8443")
	checkHosts(t, pub, []string{"evil.example", "localhost", "tunnel.example:9999", "127.0.0.1"},
		[]string{"relay.example", "RELAY.example:443", "tunnel.example:8443"})
}

// TestDemoRefusesRebindingHosts: the demo, on loopback by design, is the
// relay a rebinding page would aim at first.
func TestDemoRefusesRebindingHosts(t *testing.T) {
	bin := buildTunnelkit(t)
	base := startRelayProc(t, bin, "", "demo", "--listen", "127.0.0.1:0")
	u, _ := url.Parse(base)
	checkHosts(t, base, append(rebindingHosts(u.Port()), "demo.example:"+u.Port()), []string{
		u.Host, "localhost:" + u.Port(), "[::1]:" + u.Port(),
	})
	for _, path := range []string{"/demo.json"} {
		if got := hostStatus(t, base, path, "evil.example:"+u.Port()); got != http.StatusMisdirectedRequest {
			t.Errorf("%s with a foreign Host: %d, want 421", path, got)
		}
	}
}
