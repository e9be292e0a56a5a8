package relay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func statusOf(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsWithheld: on a token relay /metrics wants a token; with a
// private metrics listener the public one serves none; /healthz stays
// open for load balancers either way.
func TestMetricsWithheld(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tr := startRelay(t, Config{Tokens: []Token{{Secret: secret}}})
	for _, h := range []http.Header{{}, {"Authorization": {"Bearer wrong-0123456789abcdef"}}, {"Authorization": {"Basic " + secret}}} {
		if code, body := statusOf(t, tr.srv.URL+"/metrics", h); code != http.StatusUnauthorized || strings.Contains(body, "tunnelkit_relay_") {
			t.Errorf("/metrics with %v: %d, want 401 and no metrics", h, code)
		}
	}
	for _, h := range []http.Header{{"Authorization": {"Bearer " + secret}}, {"Cookie": {tokenCookie + "=" + secret}}} {
		if code, body := statusOf(t, tr.srv.URL+"/metrics", h); code != 200 || !strings.Contains(body, "tunnelkit_relay_bytes_total") {
			t.Errorf("/metrics with %v: %d, want the metrics", h, code)
		}
	}
	if code, _ := statusOf(t, tr.srv.URL+"/healthz", nil); code != 200 {
		t.Errorf("/healthz on a token relay: %d", code)
	}

	priv := startRelay(t, Config{Tokens: []Token{{Secret: secret}}, MetricsListen: "127.0.0.1:9100"})
	if code, body := statusOf(t, priv.srv.URL+"/metrics", http.Header{"Authorization": {"Bearer " + secret}}); code != http.StatusNotFound || strings.Contains(body, "tunnelkit_relay_") {
		t.Errorf("public /metrics beside a private listener: %d, want 404", code)
	}
	ms := httptest.NewServer(priv.MetricsHandler())
	defer ms.Close()
	if code, body := statusOf(t, ms.URL+"/metrics", nil); code != 200 || !strings.Contains(body, "tunnelkit_relay_bytes_total") {
		t.Errorf("private /metrics: %d", code)
	}
	req, _ := http.NewRequest("GET", ms.URL+"/metrics", nil)
	req.Host = "rebind.example:9100"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("private /metrics for a rebinding Host: %v %v, want 421", resp.StatusCode, err)
	}
	for _, u := range []string{priv.srv.URL, ms.URL} {
		if code, _ := statusOf(t, u+"/healthz", nil); code != 200 {
			t.Errorf("%s/healthz: %d", u, code)
		}
	}
}
