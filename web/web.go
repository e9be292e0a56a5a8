// Package web is tunnelkit's embedded browser UI: the page, its scripts, and
// the WebAssembly client built by `make wasm`.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed static dist
var files embed.FS

// asset is one file ready to serve: its bytes, type, strong ETag and any
// precompressed variants (keyed by content coding).
type asset struct {
	body     []byte
	ctype    string
	etag     string
	variants map[string]*asset // "br", "gzip"

	version string // content hash a ?v= must name for the response to be immutable (hashed.go)
}

var embedded = sync.OnceValue(func() http.Handler { return newHandler(files) })

// Handler serves the UI: the page and its scripts from static/, and
// tunnelkit.wasm (precompressed) and wasm_exec.js from dist/. Every response
// carries the security headers; assets revalidate by ETag.
func Handler() http.Handler { return embedded() }

// handler serves assets by URL path, e.g. "/app.js".
type handler map[string]*asset

func newHandler(fsys fs.FS) handler {
	h := handler{}
	h.add(fsys, "static")
	h.add(fsys, "dist")
	h.addHashed()
	return h
}

func (assets handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/" {
		p = "/index.html"
	}
	if p == "/lab" {
		p = "/lab.html" // the training lab (its API and relays are tunnelkit demo's)
	}
	if strings.HasPrefix(p, "/view/") {
		serveViewWithoutWorker(w)
		return
	}
	if p == "/sw.js" {
		// The viewer's worker serves the views' absolute paths too, so it
		// takes the whole origin even when the page sits under a prefix.
		w.Header().Set("Service-Worker-Allowed", "/")
	}
	a, ok := assets[p]
	if !ok && (p == "/demo.json" || p == "/page-config.json") {
		// Only `tunnelkit demo` has defaults for the form; elsewhere the
		// page asks and gets nothing, without an error in its console.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !ok {
		if p == "/tunnelkit.wasm" || p == "/wasm_exec.js" {
			// The page shows this to the user: say how to fix it.
			http.Error(w, p[1:]+" is not built: run make build (or make wasm) and rebuild tunnelkit", http.StatusNotFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", a.cacheControl(r.URL.Query().Get("v")))
	if len(a.variants) > 0 {
		h.Add("Vary", "Accept-Encoding")
		if enc := pickEncoding(r.Header.Get("Accept-Encoding"), a.variants); enc != "" {
			// The page's loader shows download progress: it counts decoded
			// bytes, and this says how many there will be.
			h.Set("X-Decoded-Length", strconv.Itoa(len(a.body)))
			a = a.variants[enc]
			h.Set("Content-Encoding", enc)
		}
	}
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(a.body)
}

// setSecurityHeaders locks the page down: scripts only from this origin (no
// inline code), WebAssembly compilation allowed, WebSockets to any relay the
// user types, no framing, no sniffing, no referrers.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; "+
		"script-src 'self' 'wasm-unsafe-eval'; "+
		"style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self' ws: wss:; "+
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// add loads every file of dir, pairing it with its .br and .gz twins.
func (assets handler) add(fsys fs.FS, dir string) {
	fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		base := path.Base(name)
		if base == "README.md" || strings.HasSuffix(base, ".gz") || strings.HasSuffix(base, ".br") {
			return nil
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		a := newAsset(body, contentType(base))
		for enc, ext := range map[string]string{"br": ".br", "gzip": ".gz"} {
			if zb, err := fs.ReadFile(fsys, name+ext); err == nil {
				if a.variants == nil {
					a.variants = map[string]*asset{}
				}
				z := newAsset(zb, a.ctype)
				z.etag = strings.TrimSuffix(a.etag, `"`) + "-" + enc + `"`
				a.variants[enc] = z
			}
		}
		assets["/"+base] = a
		return nil
	})
}

func newAsset(body []byte, ctype string) *asset {
	sum := sha256.Sum256(body)
	return &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".wasm":
		return "application/wasm"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// pickEncoding returns the best coding the client accepts among the ones we
// have: brotli, then gzip; "" means identity.
func pickEncoding(accept string, have map[string]*asset) string {
	q := map[string]bool{}
	star := false
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		ok := true
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") && isZeroQ(strings.TrimSpace(v)) {
				ok = false
			}
		}
		if coding == "*" {
			star = ok
			continue
		}
		q[coding] = ok
	}
	for _, enc := range []string{"br", "gzip"} {
		if have[enc] == nil {
			continue
		}
		if ok, listed := q[enc]; ok || (!listed && star) {
			return enc
		}
	}
	return ""
}

// isZeroQ reports whether a qvalue is 0 ("0", "0.", "0.000").
func isZeroQ(v string) bool {
	return v != "" && strings.Trim(v, "0.") == "" && v[0] == '0'
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// serveViewWithoutWorker answers a viewer tab that its page's Service
// Worker did not reach (another browser, a private window, a cleared
// site): only the page that opened a view can carry it.
func serveViewWithoutWorker(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>View not available</title>`+
		`<h1 data-view-error>This view is not available here</h1>`+
		`<p>A view of a web app is carried by the SSH session of the tunnelkit page that opened it, in that browser. `+
		`Open tunnelkit, connect, and open the web app again from there.</p>`)
}
