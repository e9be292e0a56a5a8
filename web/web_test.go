package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"static/index.html":      {Data: []byte("<!doctype html><title>t</title>")},
		"static/app.js":          {Data: []byte("'use strict';")},
		"static/style.css":       {Data: []byte("body{}")},
		"dist/README.md":         {Data: []byte("build output")},
		"dist/tunnelkit.wasm":    {Data: []byte("\x00asm raw")},
		"dist/tunnelkit.wasm.gz": {Data: []byte("gzip bytes")},
		"dist/tunnelkit.wasm.br": {Data: []byte("brotli bytes")},
		"dist/wasm_exec.js":      {Data: []byte("// go")},
	}
}

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestContentTypes(t *testing.T) {
	h := newHandler(testFS())
	for path, want := range map[string]string{
		"/":               "text/html; charset=utf-8",
		"/index.html":     "text/html; charset=utf-8",
		"/app.js":         "text/javascript; charset=utf-8",
		"/style.css":      "text/css; charset=utf-8",
		"/wasm_exec.js":   "text/javascript; charset=utf-8",
		"/tunnelkit.wasm": "application/wasm",
	} {
		rec := get(t, h, path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", path, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") == "" {
			t.Errorf("GET %s: missing ETag or Cache-Control: %v", path, rec.Header())
		}
	}
	for _, path := range []string{"/README.md", "/tunnelkit.wasm.gz", "/nope", "/static/app.js"} {
		if rec := get(t, h, path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestPrecompressedSelection(t *testing.T) {
	h := newHandler(testFS())
	for _, tc := range []struct {
		accept, enc, body string
	}{
		{"gzip, deflate, br, zstd", "br", "brotli bytes"},
		{"br;q=1.0, gzip;q=0.8", "br", "brotli bytes"},
		{"gzip", "gzip", "gzip bytes"},
		{"br;q=0, gzip", "gzip", "gzip bytes"},
		{"br;q=0.000, gzip;q=0", "", "\x00asm raw"},
		{"*", "br", "brotli bytes"},
		{"*, br;q=0", "gzip", "gzip bytes"},
		{"identity", "", "\x00asm raw"},
		{"", "", "\x00asm raw"},
	} {
		rec := get(t, h, "/tunnelkit.wasm", map[string]string{"Accept-Encoding": tc.accept})
		if got := rec.Header().Get("Content-Encoding"); got != tc.enc {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.accept, got, tc.enc)
		}
		if rec.Body.String() != tc.body {
			t.Errorf("Accept-Encoding %q: body %q, want %q", tc.accept, rec.Body.String(), tc.body)
		}
		if got := rec.Header().Get("Content-Type"); got != "application/wasm" {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, got)
		}
		if got := rec.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q, want Accept-Encoding", tc.accept, got)
		}
	}
	// Each variant has its own ETag, and a matching If-None-Match is a 304.
	br := get(t, h, "/tunnelkit.wasm", map[string]string{"Accept-Encoding": "br"}).Header().Get("ETag")
	gz := get(t, h, "/tunnelkit.wasm", map[string]string{"Accept-Encoding": "gzip"}).Header().Get("ETag")
	raw := get(t, h, "/tunnelkit.wasm", nil).Header().Get("ETag")
	if br == gz || gz == raw || br == raw {
		t.Errorf("ETags not distinct per encoding: br %s gzip %s raw %s", br, gz, raw)
	}
	rec := get(t, h, "/tunnelkit.wasm", map[string]string{"Accept-Encoding": "br", "If-None-Match": br})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match %s: status %d body %d bytes, want 304 and no body", br, rec.Code, rec.Body.Len())
	}
	rec = get(t, h, "/tunnelkit.wasm", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": br})
	if rec.Code != http.StatusOK {
		t.Errorf("stale ETag: status %d, want 200", rec.Code)
	}
	// Files without variants do not vary.
	if v := get(t, h, "/app.js", map[string]string{"Accept-Encoding": "br"}).Header().Get("Vary"); v != "" {
		t.Errorf("app.js: Vary %q, want none", v)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHandler(testFS())
	for _, path := range []string{"/", "/app.js", "/tunnelkit.wasm", "/missing"} {
		rec := get(t, h, path, nil)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'", "connect-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("GET %s: CSP allows inline code or eval: %q", path, csp)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
		if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("GET %s: Referrer-Policy %q", path, got)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", rec.Code)
	}
}

func TestMissingWasmSaysHowToBuild(t *testing.T) {
	fsys := testFS()
	delete(fsys, "dist/tunnelkit.wasm")
	delete(fsys, "dist/tunnelkit.wasm.gz")
	delete(fsys, "dist/tunnelkit.wasm.br")
	rec := get(t, newHandler(fsys), "/tunnelkit.wasm", map[string]string{"Accept-Encoding": "br"})
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "make build") {
		t.Errorf("missing wasm: status %d body %q, want 404 naming make build", rec.Code, rec.Body.String())
	}
}

// The page must run under its own CSP: no inline scripts, styles or event
// handlers, no external resources.
func TestEmbeddedPageIsSelfContained(t *testing.T) {
	h := Handler()
	page := get(t, h, "/", nil).Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script>|<script [^>]*>[^<]`),                                       // inline script
		regexp.MustCompile(`<style|\sstyle=`),                                                   // inline style
		regexp.MustCompile(`\son[a-z]+=`),                                                       // inline handler
		regexp.MustCompile(`(src|href)="(https?:)?//`),                                          // external resource
		regexp.MustCompile(`<form[^>]*\saction=|<form[^>]*\smethod="(get|post)"`),               // a form that could send its fields (secrets have names, for password managers)
		regexp.MustCompile(`<input[^>]*type="file"[^>]*name=|<input[^>]*name=[^>]*type="file"`), // a key file that a submission could upload
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html: %q matches %v", m, bad)
		}
	}
	// The named password fields must never be submittable: CSP forbids any form action.
	if csp := get(t, h, "/", nil).Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'none'") {
		t.Errorf("CSP %q lacks form-action 'none'", csp)
	}
	paths := []string{"/loader.js", "/style.css"}
	scripts, _ := fs.Glob(files, "static/*.js")
	for _, s := range scripts {
		paths = append(paths, "/"+path.Base(s))
	}
	if len(scripts) < 5 {
		t.Errorf("static/ has %d scripts, want the page's modules: %v", len(scripts), scripts)
	}
	for _, path := range paths {
		rec := get(t, h, path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		body := rec.Body.String()
		for _, bad := range []string{"@import", "url(http", "eval(", "new Function", "innerHTML", "fetch(\"http"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
}
