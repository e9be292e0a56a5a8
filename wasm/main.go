//go:build js && wasm

// Command wasm is tunnelkit's browser client: a thin JavaScript API of
// promises over package tunnel, reaching gateways and exits through the
// relay (package relay/client).
//
// The page loads wasm_exec.js and this module; the module fills in
// window.tunnelkit:
//
//	await tunnelkit.ready;
//	const s = await tunnelkit.connect({relay, host, port, user, password | privateKey + passphrase,
//	                                   hostKey | onHostKey, token, onEvent});
//	const f = await s.forward("-L 127.0.0.1:0:10.0.0.5:80");
//	f.entry; f.spec; f.command; f.stats(); await f.close();
//	s.hostKey; await s.close(); s.closed;
//
// The page's loader (web/static/loader.js) creates window.tunnelkit with its
// ready promise before starting the module and resolves it once connect
// exists; without a loader, ready is a resolved Promise.
package main

import (
	"sync/atomic"
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

// leaving is set once the page has been hidden for good (pagehide).
var leaving atomic.Bool

func main() {
	// A page that goes away (closed, reloaded, navigated from, frozen in
	// the back/forward cache) ends its sessions: no relay port or gateway
	// forward outlives it.
	jsGlobal.Call("addEventListener", "pagehide", js.FuncOf(func(js.Value, []js.Value) any {
		leaving.Store(true)
		closeStreams()
		return nil
	}))

	tk := jsGlobal.Get("tunnelkit")
	if tk.Type() != js.TypeObject {
		tk = jsObject.New()
		jsGlobal.Set("tunnelkit", tk)
	}
	tk.Set("connect", js.FuncOf(connect))
	if tk.Get("ready").Type() != js.TypeObject {
		tk.Set("ready", jsPromise.Call("resolve"))
	}
	select {} // serve calls from the page until it goes away
}
