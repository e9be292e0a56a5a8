package relay

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHostRule(t *testing.T) {
	def := newHostRule(Config{ServedOn: "relay.lan:8080"})
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.1": true, "[::1]:8080": true, "[::1]": true,
		"localhost:8080": true, "LocalHost": true, "relay.lan:8080": true, "RELAY.lan": true,
		"10.0.0.5:80": true, "2130706433:8080": true,
		"evil.example": false, "evil.example:8080": false, "relay.lan.evil.example": false,
		"localhost.evil.example": false, "127.0.0.1.nip.io": false, "": false, ":8080": false,
		"127.0.0.1:80x": false, "[127.0.0.1]:80": false, "::1": false, "[::1": false,
		"0x7f.1.evil": false, "127.0.0.1:99999": false,
	} {
		if got := def.allows(host); got != want {
			t.Errorf("without public hosts, Host %q: allowed %v, want %v", host, got, want)
		}
	}
	pub := newHostRule(Config{PublicHosts: []string{"relay.example", "b.example:8443"}, PublicHost: "c.example", ServedOn: "127.0.0.1:8080"})
	for host, want := range map[string]bool{
		"relay.example": true, "relay.example:443": true, "b.example:8443": true, "c.example": true,
		"b.example:443": false, "127.0.0.1:8080": false, "localhost": false, "evil.example": false,
	} {
		if got := pub.allows(host); got != want {
			t.Errorf("with public hosts, Host %q: allowed %v, want %v", host, got, want)
		}
	}
}

// TestHostCheckEveryRoute: a rebinding name gets 421 on the relay's routes
// and the UI, before any upgrade; /healthz stays open.
func TestHostCheckEveryRoute(t *testing.T) {
	r, err := New(Config{Allow: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	h := r.WithUI(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ui")) }))
	for path, open := range map[string]bool{"/": false, "/index.html": false, "/metrics": false, "/v1/dial": false, "/v1/listen": false, "/v1/accept": false, "/healthz": true} {
		req := httptest.NewRequest("GET", path, nil)
		req.Host = "attacker.example:8080"
		req.Header.Set("Upgrade", "websocket")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if open && w.Code != http.StatusOK || !open && w.Code != http.StatusMisdirectedRequest {
			t.Errorf("%s for a rebinding Host: %d", path, w.Code)
		}
	}
}
