//go:build js && wasm

package main

import "syscall/js"

// setEndpointMethods adds the methods that make the page an endpoint to a
// session object: sockets (sockets.go), the HTTP viewer (view.go) and file
// shares (share.go).
func setEndpointMethods(obj js.Value, id int) {
	obj.Set("openTCP", bind(sessionOpenTCPFunc, id))
	obj.Set("listenTCP", bind(sessionListenTCPFunc, id))
	obj.Set("view", bind(sessionViewFunc, id))
	obj.Set("share", bind(sessionShareFunc, id))
}
