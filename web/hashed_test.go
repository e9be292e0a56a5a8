package web

import (
	"regexp"
	"testing"
)

var wasmMetaRE = regexp.MustCompile(`<meta name="tunnelkit-wasm" content="(tunnelkit\.wasm\?v=[0-9a-f]{16})">`)

// TestHashedWasmIsImmutable: index.html names the .wasm with its content
// hash; that URL serves the same bytes and variants, cached as immutable,
// while the plain URL, another hash and the page itself still revalidate.
func TestHashedWasmIsImmutable(t *testing.T) {
	h := newHandler(testFS())
	page := get(t, h, "/", nil)
	m := wasmMetaRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("index.html names no hashed .wasm: %q", page.Body.String())
	}
	if cc := page.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index.html Cache-Control = %q, want no-cache", cc)
	}
	for enc, want := range map[string]string{"br": "brotli bytes", "gzip": "gzip bytes", "": "\x00asm raw"} {
		rec := get(t, h, "/"+m[1], map[string]string{"Accept-Encoding": enc})
		if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get("Content-Encoding") != enc {
			t.Errorf("GET /%s (%q): %d %q encoding %q, want %q", m[1], enc, rec.Code, rec.Body.String(), rec.Header().Get("Content-Encoding"), want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != immutableCache {
			t.Errorf("GET /%s (%q): Cache-Control %q, want %q", m[1], enc, cc, immutableCache)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("GET /%s: Content-Type %q", m[1], ct)
		}
	}
	for _, u := range []string{"/tunnelkit.wasm", "/tunnelkit.wasm?v=0123456789abcdef", "/app.js?" + m[1][len("tunnelkit.wasm?"):]} {
		if cc := get(t, h, u, nil).Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control = %q, want no-cache", u, cc)
		}
	}

	// Another build gets another name.
	fsys := testFS()
	fsys["dist/tunnelkit.wasm"].Data = []byte("\x00asm other")
	m2 := wasmMetaRE.FindStringSubmatch(get(t, newHandler(fsys), "/", nil).Body.String())
	if m2 == nil || m2[1] == m[1] {
		t.Errorf("a different .wasm is named %v, the first %q", m2, m[1])
	}
}

// TestNoWasmNoMeta: without a built .wasm the page names none, and the
// loader falls back to the plain name, whose 404 says how to build it.
func TestNoWasmNoMeta(t *testing.T) {
	fsys := testFS()
	delete(fsys, "dist/tunnelkit.wasm")
	if body := get(t, newHandler(fsys), "/", nil).Body.String(); wasmMetaRE.MatchString(body) {
		t.Errorf("page names a .wasm that is not there: %q", body)
	}
}
