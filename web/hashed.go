package web

import (
	"bytes"
	"html"
	"path"
	"strings"
)

// The .wasm is 8 MB (1.6 MB brotli). Under its plain name a browser must
// revalidate it on every visit; under a name carrying its content hash it
// never changes, so the response is cached as immutable and a second visit
// takes it, and V8's compiled code for it, from the cache without asking.
// The page learns the name from a meta tag in index.html, which stays
// no-cache (revalidated by ETag) so a new build is seen at once.

// immutableCache is the Cache-Control of content-hashed names.
const immutableCache = "public, max-age=31536000, immutable"

// wasmMeta names the meta tag loader.js reads the .wasm's URL from.
const wasmMeta = "tunnelkit-wasm"

// addHashed serves /tunnelkit.wasm also as /tunnelkit.<hash>.wasm, cached
// as immutable, and names it in index.html.
func (assets handler) addHashed() {
	wasm, page := assets["/tunnelkit.wasm"], assets["/index.html"]
	if wasm == nil || page == nil {
		return
	}
	name := hashedName("tunnelkit.wasm", wasm.etag)
	assets["/"+name] = immutableCopy(wasm)
	tag := `<meta name="` + wasmMeta + `" content="` + html.EscapeString(name) + `">` + "\n"
	body := page.body
	if i := bytes.Index(bytes.ToLower(body), []byte("</head>")); i >= 0 {
		body = append(append(append([]byte{}, body[:i]...), tag...), body[i:]...)
	} else {
		body = append([]byte(tag), body...)
	}
	assets["/index.html"] = newAsset(body, page.ctype) // a page with no variants: none to keep
}

// hashedName puts the first 16 hex digits of the ETag's hash before the
// extension: tunnelkit.wasm -> tunnelkit.0123456789abcdef.wasm.
func hashedName(name, etag string) string {
	h := strings.Trim(etag, `"`)
	h = h[:min(len(h), 16)]
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + h + ext
}

func immutableCopy(a *asset) *asset {
	c := *a
	c.immutable = true
	if a.variants != nil {
		c.variants = map[string]*asset{}
		for enc, v := range a.variants {
			vc := *v
			vc.immutable = true
			c.variants[enc] = &vc
		}
	}
	return &c
}
