//go:build js && wasm

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall/js"

	"tunnelkit/internal/view"
	"tunnelkit/tunnel"
)

// The HTTP viewer: s.view(url, options) makes a view of an exit web app
// whose requests the page's Service Worker (web/static/sw.js) hands to this
// page (see internal/view for what is done to them).

var (
	sessionViewFunc = js.FuncOf(sessionView)
	viewCloseFunc   = js.FuncOf(viewClose)
	viewMessageFunc = js.FuncOf(viewMessage)
)

type viewHandle struct {
	v      *view.View
	ctx    context.Context // ends with close() or the session
	cancel context.CancelFunc
}

var views = struct {
	sync.Mutex
	byID map[string]*viewHandle
}{byID: map[string]*viewHandle{}}

// sessionView is s.view(url, {tls: {fingerprint, ca, insecure}}).
func sessionView(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	target, opts := arg(args, 1), arg(args, 2)
	switch {
	case s == nil:
		return rejected(errors.New("view: " + errSessionClosed.Error() + " (connect again)"))
	case target.Type() != js.TypeString:
		return rejected(errors.New(`view: expected the web app's address, e.g. view("http://10.0.0.5:3000/")`))
	}
	tlsOpts, err := parseTLSOptions(opts)
	if err != nil {
		return rejected(err)
	}
	return async(func() (any, error) { return s.view(target.String(), tlsOpts) })
}

func parseTLSOptions(o js.Value) (view.TLSOptions, error) {
	var t view.TLSOptions
	if o.Type() != js.TypeObject || o.Get("tls").Type() != js.TypeObject {
		return t, nil
	}
	v := o.Get("tls")
	if f := v.Get("fingerprint"); f.Type() == js.TypeString {
		t.Fingerprint = f.String()
	}
	if f := v.Get("ca"); f.Type() == js.TypeString {
		t.CAPEM = []byte(f.String())
	}
	t.Insecure = v.Get("insecure").Type() == js.TypeBoolean && v.Get("insecure").Bool()
	return t, nil
}

func (s *session) view(target string, t view.TLSOptions) (any, error) {
	base, err := startViewWorker(s.ctx)
	if err != nil {
		return nil, wrap("view "+target, err)
	}
	var b [6]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:]) // unguessable, and new after a reload
	v, err := view.New(target, view.Options{
		Origin: jsGlobal.Get("location").Get("origin").String(),
		Prefix: base + "view/" + id + "/",
		TLS:    t,
		Dial: func(ctx context.Context, host string, port int) (net.Conn, error) {
			return s.client.DialExit(ctx, host, port)
		},
	})
	if err != nil {
		return nil, wrap("view", err)
	}
	h := &viewHandle{v: v}
	h.ctx, h.cancel = context.WithCancel(s.ctx)
	views.Lock()
	views.byID[id] = h
	views.Unlock()
	go func() {
		<-h.ctx.Done()
		views.Lock()
		delete(views.byID, id)
		views.Unlock()
		v.Close()
	}()
	obj := jsObject.New()
	obj.Set("url", v.URL())
	obj.Set("target", v.Target())
	obj.Set("id", id)
	obj.Set("command", viewCommand(s.opts, v.Target()))
	closer := nextViewCloser(h)
	obj.Set("close", bind(viewCloseFunc, closer))
	context.AfterFunc(h.ctx, func() { // the session's end forgets the view too
		viewClosers.Lock()
		delete(viewClosers.byID, closer)
		viewClosers.Unlock()
	})
	return obj, nil
}

// viewCommand is the terminal equivalent of a view.
func viewCommand(o *connectOptions, target string) string {
	u, host, port := parseTarget(target)
	spec := tunnel.Spec{Kind: tunnel.Local, EntryPort: 8080, ExitHost: host, ExitPort: port}
	return spec.Command(o.user, o.host, o.port) + "  # then open " + u.Scheme + "://localhost:8080" + u.RequestURI()
}

var viewClosers = struct {
	sync.Mutex
	byID map[int]*viewHandle
}{byID: map[int]*viewHandle{}}

func nextViewCloser(h *viewHandle) int {
	id := nextID()
	viewClosers.Lock()
	viewClosers.byID[id] = h
	viewClosers.Unlock()
	return id
}

// viewClose is v.close(): the view's tabs then say it is gone.
func viewClose(_ js.Value, args []js.Value) any {
	viewClosers.Lock()
	h := viewClosers.byID[arg(args, 0).Int()]
	delete(viewClosers.byID, arg(args, 0).Int())
	viewClosers.Unlock()
	if h != nil {
		h.cancel()
	}
	return jsPromise.Call("resolve")
}

var worker struct {
	sync.Mutex
	base string // the page's base path, once the worker is ready
}

// startViewWorker registers sw.js for the whole origin (web/web.go allows
// it with Service-Worker-Allowed) and listens for its requests; it returns
// the page's base path, e.g. "/".
func startViewWorker(ctx context.Context) (string, error) {
	worker.Lock()
	defer worker.Unlock()
	if worker.base != "" {
		return worker.base, nil
	}
	sw := jsGlobal.Get("navigator").Get("serviceWorker")
	if sw.Type() != js.TypeObject {
		return "", errors.New("this browser offers no Service Worker here (a private window, or a page not served over https or from localhost)")
	}
	base := jsGlobal.Get("URL").New("./", jsGlobal.Get("document").Get("baseURI")).Get("pathname").String()
	sw.Call("addEventListener", "message", viewMessageFunc)
	opts := jsObject.New()
	opts.Set("scope", "/")
	if _, err := await(ctx, sw.Call("register", base+"sw.js", opts)); err != nil {
		return "", errors.New("cannot start the viewer's Service Worker: " + err.Error())
	}
	if _, err := await(ctx, sw.Get("ready")); err != nil {
		return "", err
	}
	worker.base = base
	return base, nil
}

// viewMessage receives the Service Worker's requests for views.
func viewMessage(_ js.Value, args []js.Value) any {
	ev := arg(args, 0)
	data := ev.Get("data")
	if data.Type() != js.TypeObject || data.Get("type").String() != "tunnelkit-view" {
		return nil
	}
	port := ev.Get("ports").Index(0)
	views.Lock()
	h := views.byID[data.Get("view").String()]
	views.Unlock()
	if h == nil {
		port.Call("postMessage", map[string]any{"type": "not-mine"})
		return nil
	}
	port.Call("postMessage", map[string]any{"type": "accepted"})
	go h.serve(data, port)
	return nil
}

func (h *viewHandle) serve(data, port js.Value) {
	req := view.Request{
		Method: data.Get("method").String(),
		Path:   data.Get("path").String(),
		Header: http.Header{},
		Size:   -1,
	}
	hs := data.Get("headers")
	for i := range hs.Length() {
		kv := hs.Index(i)
		req.Header.Add(kv.Index(0).String(), kv.Index(1).String())
	}
	if body := data.Get("body"); body.Type() == js.TypeObject {
		r := newJSStreamReader(h.ctx, body.Call("stream"))
		defer r.Close()
		req.Body, req.Size = r, int64(body.Get("size").Float())
	}
	resp, err := h.v.Do(h.ctx, req)
	if err != nil {
		title, msg := viewError(h, err)
		port.Call("postMessage", map[string]any{"type": "error", "status": http.StatusBadGateway, "title": title, "message": msg})
		return
	}
	headers := jsGlobal.Get("Array").New()
	for k, vs := range resp.Header {
		for _, v := range vs {
			headers.Call("push", []any{k, v})
		}
	}
	m := jsObject.New()
	m.Set("type", "response")
	m.Set("status", resp.StatusCode)
	m.Set("statusText", http.StatusText(resp.StatusCode))
	m.Set("headers", headers)
	if req.Method == http.MethodHead || resp.StatusCode == 204 || resp.StatusCode == 205 || resp.StatusCode == 304 {
		resp.Body.Close()
		port.Call("postMessage", m)
		return
	}
	body := newReadable(resp.Body, func(error) { resp.Body.Close() })
	m.Set("body", body)
	port.Call("postMessage", m, []any{body})
}

// viewError words a failed request for the viewer tab.
func viewError(h *viewHandle, err error) (title, msg string) {
	if h.ctx.Err() != nil {
		return "This view is closed", "The tunnelkit page closed this view or its session. Open the web app again from tunnelkit."
	}
	var re *tunnel.RefusedError
	var ce *view.CertError
	switch {
	case errors.As(err, &re):
		return "The gateway could not reach " + re.Exit, re.Error()
	case errors.As(err, &ce):
		return "The web app's certificate is not trusted", ce.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The web app closed the connection", err.Error()
	}
	return "The request to " + h.v.Target() + " failed", err.Error()
}

// parseTarget splits a view's target URL into its host and port, with the
// scheme's default port.
func parseTarget(target string) (u *url.URL, host string, port int) {
	u, _ = url.Parse(target) // view.New has checked it
	host = u.Hostname()
	port, _ = strconv.Atoi(u.Port())
	if port == 0 {
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	return u, host, port
}
