// Package web is tunnelkit's embedded browser UI: the page, its script, and
// the WebAssembly client built by `make wasm`.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static dist
var files embed.FS

// Handler serves the UI (stub: replaced by the real handler).
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static")
	return http.FileServerFS(static)
}
