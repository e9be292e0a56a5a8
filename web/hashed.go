package web

import (
	"bytes"
	"html"
	"strings"
)

// The .wasm is 8 MB (1.6 MB brotli). Under a plain URL a browser must
// revalidate it on every visit; under a URL carrying its content hash,
// tunnelkit.wasm?v=<hash>, the response never changes, so it is cached as
// immutable and a second visit takes it from the cache without asking. The
// page learns the URL from a meta tag in index.html, which stays no-cache
// (revalidated by ETag) so a new build is seen at once. The hash is in the
// query, not the path, so whatever serves /tunnelkit.wasm in front of this
// handler (a test serving a fresh build) still serves the page's request.

// immutableCache is the Cache-Control of a content-hashed URL.
const immutableCache = "public, max-age=31536000, immutable"

// wasmMeta names the meta tag loader.js reads the .wasm's URL from.
const wasmMeta = "tunnelkit-wasm"

// addHashed gives /tunnelkit.wasm its version (the first 16 hex digits of
// its ETag's hash) and names tunnelkit.wasm?v=<version> in index.html.
func (assets handler) addHashed() {
	wasm, page := assets["/tunnelkit.wasm"], assets["/index.html"]
	if wasm == nil || page == nil {
		return
	}
	v := strings.Trim(wasm.etag, `"`)
	wasm.version = v[:min(len(v), 16)]
	tag := `<meta name="` + wasmMeta + `" content="tunnelkit.wasm?v=` + html.EscapeString(wasm.version) + `">` + "\n"
	body := page.body
	if i := bytes.Index(bytes.ToLower(body), []byte("</head>")); i >= 0 {
		body = append(append(append([]byte{}, body[:i]...), tag...), body[i:]...)
	} else {
		body = append([]byte(tag), body...)
	}
	assets["/index.html"] = newAsset(body, page.ctype) // a page with no variants: none to keep
}

// cacheControl is a's Cache-Control for a request with query v.
func (a *asset) cacheControl(v string) string {
	if a.version != "" && v == a.version {
		return immutableCache
	}
	// Other URLs are not content-hashed, so browsers revalidate every
	// time; a matching ETag makes that a 304 with no body.
	return "no-cache"
}
