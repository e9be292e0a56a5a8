// Package share serves a set of files over HTTP with net/http's server: an
// index page, each file with its Content-Type, Range and HEAD (via
// http.ServeContent). The page runs it on a -R forward whose exit is the
// page, so the files never leave the browser until someone asks for them.
package share

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// File is one shared file. Open returns a reader positioned at 0 for one
// request; it is closed after the request if it is an io.Closer.
type File struct {
	Name    string
	Size    int64
	Type    string // MIME type; "" guesses from the name
	ModTime time.Time
	Open    func() io.ReadSeeker
}

// Handler serves files at "/<name>" and an index at "/". Names are made
// unique and freed of slashes.
func Handler(files []File) http.Handler {
	h := &handler{byName: map[string]*File{}}
	for i := range files {
		f := files[i]
		name := strings.NewReplacer("/", "_", "\\", "_").Replace(f.Name)
		if name == "" || name == "." || name == ".." {
			name = "file"
		}
		base, ext := strings.TrimSuffix(name, path.Ext(name)), path.Ext(name)
		for n := 2; h.byName[name] != nil; n++ {
			name = base + "-" + strconv.Itoa(n) + ext
		}
		f.Name = name
		h.byName[name] = &f
		h.files = append(h.files, &f)
	}
	return h
}

type handler struct {
	files  []*File
	byName map[string]*File
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: this share only serves files", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		h.index(w, r)
		return
	}
	f := h.byName[strings.TrimPrefix(r.URL.Path, "/")]
	if f == nil {
		http.Error(w, "no such file in this share; see / for the list", http.StatusNotFound)
		return
	}
	ctype := f.Type
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(f.Name))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	content := f.Open()
	if c, ok := content.(io.Closer); ok {
		defer c.Close()
	}
	http.ServeContent(w, r, f.Name, f.ModTime, content)
}

// index lists the files. Written out by hand: html/template would add
// megabytes to the WebAssembly client for one table.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Shared files</title></head>
<body><h1>Shared files</h1>
<table><thead><tr><th>Name</th><th>Size</th></tr></thead><tbody>
`)
	for _, f := range h.files {
		fmt.Fprintf(&b, "<tr><td><a href=\"/%s\">%s</a></td><td>%d</td></tr>\n",
			html.EscapeString(url.PathEscape(f.Name)), html.EscapeString(f.Name), f.Size)
	}
	b.WriteString("</tbody></table></body></html>\n")
	io.WriteString(w, b.String())
}

// Serve runs an HTTP server for h on ln until ctx ends, then closes ln and
// the server's connections; it returns ctx's cause, or why serving failed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("serving the share: %w", err)
}
