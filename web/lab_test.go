package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// /lab is the training lab's page, with its modules and the page's
// security headers.
func TestLabPage(t *testing.T) {
	h := Handler()
	for path, want := range map[string]string{
		"/lab":              "tunnelkit lab",
		"/lab.js":           "runScenario",
		"/lab.topology.js":  "createTopology",
		"/lab.scenarios.js": "ssh -N",
		"/lab.console.js":   "tunnelkit.v1",
		"/lab.sessions.js":  "tunnelkit.connect",
		"/lab.api.js":       "/lab/api/state",
		"/lab.share.js":     "Never the password",
		"/lab.css":          "body.large",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, rec.Code, want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	// No inline script or style: the page must work under the CSP.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/lab", nil))
	page := rec.Body.String()
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, "<style") {
		t.Error("lab.html has inline script or style, which the CSP blocks")
	}
}
