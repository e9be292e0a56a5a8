package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestViewerRoutes: the viewer's worker may take the whole origin, and a
// view reached without it says why instead of a bare 404.
func TestViewerRoutes(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/sw.js", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Service-Worker-Allowed") != "/" || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Errorf("/sw.js: %d, Service-Worker-Allowed %q, type %q", rec.Code, rec.Header().Get("Service-Worker-Allowed"), rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/view/abc/x", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "tunnelkit page that opened it") {
		t.Errorf("/view/abc/x without the worker: %d %q", rec.Code, rec.Body.String())
	}
}
