//go:build js && wasm

// Command wasm is tunnelkit's browser client: a thin JavaScript API of
// promises over package tunnel, reaching gateways and exits through the
// relay (package relay/client). The page loads wasm_exec.js and this module;
// the module fills in window.tunnelkit: connect, parseForward, debug. The API
// is described once, in tunnelkit.d.ts beside this file.
//
// -L entry sockets are bound on the relay host (the relay's listen bridge);
// the exits of -R are dialed by the relay (dial bridge); both follow the
// relay's policy. When the page goes away, every relay stream is closed at
// once.
//
// The page as an endpoint (sockets.go, view.go, share.go: s.openTCP,
// s.listenTCP, s.view, s.share) is typed in endpoint.d.ts.
//
// The page's loader (web/static/loader.js) creates window.tunnelkit with its
// ready promise before starting the module, resolves it once connect exists,
// and wraps parseForward so that it throws (a Go function cannot); without
// a loader, ready is a resolved Promise and parseForward returns its Error.
package main

import (
	"runtime"
	"syscall/js"
)

// The methods of every session and forward object: created once, bound per
// object to its id, never released.
var (
	sessionForwardFunc = js.FuncOf(sessionForward)
	sessionCloseFunc   = js.FuncOf(sessionClose)
	forwardStatsFunc   = js.FuncOf(forwardStats)
	forwardCloseFunc   = js.FuncOf(forwardClose)
	noopFunc           = js.FuncOf(func(js.Value, []js.Value) any { return nil })
)

// debugInfo is tunnelkit.debug(): what the client holds right now, for
// leak checks in tests and for bug reports.
func debugInfo(js.Value, []js.Value) any {
	registry.Lock()
	sessions := len(registry.sessions)
	registry.Unlock()
	streams.Lock()
	open := len(streams.open)
	streams.Unlock()
	o := jsObject.New()
	o.Set("goroutines", runtime.NumGoroutine())
	o.Set("sessions", sessions)
	o.Set("streams", open)
	return o
}

func main() {
	// A page that goes away (closed, reloaded, navigated from, frozen in
	// the back/forward cache) ends its sessions: no relay port or gateway
	// forward outlives it.
	jsGlobal.Call("addEventListener", "pagehide", js.FuncOf(func(js.Value, []js.Value) any {
		leavePage()
		return nil
	}))

	tk := jsGlobal.Get("tunnelkit")
	if tk.Type() != js.TypeObject {
		tk = jsObject.New()
		jsGlobal.Set("tunnelkit", tk)
	}
	tk.Set("parseForward", js.FuncOf(parseForward))
	tk.Set("connect", js.FuncOf(connect))
	tk.Set("debug", js.FuncOf(debugInfo))
	if tk.Get("ready").Type() != js.TypeObject {
		tk.Set("ready", jsPromise.Call("resolve"))
	}
	select {} // serve calls from the page until it goes away
}
