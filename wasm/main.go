//go:build js && wasm

// Command wasm is tunnelkit's browser client: a thin JavaScript API of
// promises over package tunnel, reaching gateways and exits through the
// relay (package relay/client). The page loads wasm_exec.js and this module;
// the module fills in window.tunnelkit:
//
//	await tunnelkit.ready;
//	const s = await tunnelkit.connect({
//	  relay: "ws://127.0.0.1:8080",      // default: the page's own origin; relative URLs work
//	  host: "127.0.0.1", port: 22, user: "alice",
//	  password: "...",                   // or privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----...", passphrase
//	  hostKey: "SHA256:...",             // pinned fingerprint: it alone decides
//	  onHostKey: async (fingerprint, hostport) => true, // without hostKey; only true accepts; absent: refuse
//	  token: "...",                      // relay token, if the relay requires one
//	  onEvent: (ev) => {},               // {kind, time, forward, entry, conn, remote, bytesIn, bytesOut, error}
//	});
//	s.hostKey;                           // "SHA256:..."
//	const f = await s.forward("-L 127.0.0.1:0:10.0.0.5:80"); // or "-R ..."
//	f.kind; f.spec; f.command; f.entry;  // "L", canonical spec, equivalent ssh command, bound entry socket
//	f.stats();                           // {connections, active, bytesIn, bytesOut}; final counters once closed
//	await f.close();
//	await s.close();                     // resolves once the session has ended
//	s.closed;                            // resolves after close(), rejects when the connection is lost
//	tunnelkit.debug();                   // {goroutines, sessions, streams}: for leak checks
//
// The page as an endpoint (sockets.go, view.go, share.go; types in endpoint.d.ts):
//
//	const sock = s.openTCP("10.0.0.5", 6379); // at once; the gateway dials the exit (direct-tcpip)
//	const {readable, writable, remoteAddress, remotePort} = await sock.opened; // Direct Sockets' TCPSocket
//	// readable: ReadableStream<Uint8Array>, read from the SSH channel only as pulled (a slow
//	// reader closes the window); writable: WritableStream<BufferSource>, write() resolves once
//	// the channel took the bytes; writable.close() half-closes (FIN)
//	await sock.close(); await sock.closed;  // closed settles when both streams are done or on close()
//	// a refusal rejects opened (and closed): error.reason "connect failed", error.reasonCode 2, error.gatewayMessage
//	const server = s.listenTCP("-R 0.0.0.0:0"); // the gateway listens (tcpip-forward); exit: the page
//	const {readable: incoming, localAddress, localPort} = await server.opened; // localPort: allocated for 0
//	for await (const conn of incoming) { const {readable, writable, remoteAddress} = await conn.opened; }
//	await server.close();
//	const v = await s.view("http://10.0.0.5:3000/", {tls: {fingerprint: "SHA256:...", ca: "PEM", insecure: false}});
//	v.url; v.target; v.command;          // open v.url in a tab: sw.js hands its requests to this page
//	await v.close();
//	const share = await s.share("-R 8080", files); // FileList, File[] or {name: Blob}: HTTP on the gateway's entry
//	share.entry; share.port; share.url; share.command; await share.close();
//
// Every failure rejects with an Error whose message says what failed and
// why; a refusal by the relay also sets error.code to the relay's close code
// (4403 policy, 4401 token, 4502 dial or listen failed, ...).
//
// -L entry sockets are bound on the relay host (listen bridge, relay
// --allow-listen); the exits of -R are dialed by the relay (dial bridge,
// --allow). When the page goes away, every relay stream is closed at once.
//
// The page's loader (web/static/loader.js) creates window.tunnelkit with its
// ready promise before starting the module and resolves it once connect
// exists; without a loader, ready is a resolved Promise.
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
	tk.Set("connect", js.FuncOf(connect))
	tk.Set("debug", js.FuncOf(debugInfo))
	if tk.Get("ready").Type() != js.TypeObject {
		tk.Set("ready", jsPromise.Call("resolve"))
	}
	select {} // serve calls from the page until it goes away
}
