//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"

	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

var (
	jsGlobal  = js.Global()
	jsObject  = jsGlobal.Get("Object")
	jsPromise = jsGlobal.Get("Promise")
	jsError   = jsGlobal.Get("Error")
)

// async runs fn on its own goroutine and returns a Promise of its result:
// a Go function called from JavaScript must return at once, or the page's
// event loop (which drives every WebSocket) stops.
func async(fn func() (any, error)) js.Value {
	p, resolve, reject := deferred()
	go func() {
		v, err := protect(fn)
		if err != nil {
			reject(err)
			return
		}
		resolve(v)
	}()
	return p
}

// deferred returns a pending Promise and the functions that settle it.
func deferred() (p js.Value, resolve func(any), reject func(error)) {
	var res, rej js.Value
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		res, rej = args[0], args[1]
		return nil
	})
	p = jsPromise.New(executor) // runs executor synchronously
	executor.Release()
	return p, func(v any) { res.Invoke(v) }, func(err error) { rej.Invoke(newError(err)) }
}

// protect runs fn, turning a panic (a Go bug, or a JavaScript exception
// thrown into a syscall/js call) into an error instead of ending the program.
func protect(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return fn()
}

func panicError(r any) error {
	switch r := r.(type) {
	case js.Error:
		return errors.New(r.Get("message").String())
	case error:
		return errors.New("internal error: " + r.Error())
	case string:
		return errors.New("internal error: " + r)
	}
	return errors.New("internal error")
}

// newError makes a JavaScript Error whose message is err's. Refusals by the
// relay also carry the relay's close code as error.code (e.g. 4403); a
// refused host key carries its data (see setHostKeyError), so the page words
// the remedy for a person instead of showing a library's message.
func newError(err error) js.Value {
	e := jsError.New(err.Error())
	var ce *client.CloseError
	if errors.As(err, &ce) {
		e.Set("code", int(ce.Code))
	}
	var hke *tunnel.HostKeyError
	if errors.As(err, &hke) {
		setHostKeyError(e, hke)
	}
	setRefusal(e, err) // sockets.go
	return e
}

// setHostKeyError sets error.kind ("unknown", "changed", "revoked",
// "declined"), error.hostport, error.keyType, error.fingerprint (offered)
// and error.known (fingerprints on record; pinned says whether they were
// pinned rather than from known_hosts).
func setHostKeyError(e js.Value, hke *tunnel.HostKeyError) {
	e.Set("kind", hke.Kind.String())
	e.Set("hostport", hke.Addr)
	e.Set("keyType", hke.KeyType)
	e.Set("fingerprint", hke.Fingerprint)
	known := make([]any, len(hke.Known))
	for i, k := range hke.Known {
		known[i] = k
	}
	e.Set("known", known)
	e.Set("pinned", hke.Pinned)
}

// await waits for v, a Promise or a plain value, without blocking the event
// loop: the calling goroutine parks while JavaScript runs.
func await(ctx context.Context, v js.Value) (js.Value, error) {
	if v.Type() != js.TypeObject || v.Get("then").Type() != js.TypeFunction {
		return v, nil
	}
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onValue := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args, 0)}
		return nil
	})
	onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: jsReason(arg(args, 0))}
		return nil
	})
	defer onValue.Release()
	defer onError.Release()
	v.Call("then", onValue, onError)
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), context.Cause(ctx)
	}
}

// call invokes a user's JavaScript function, turning a thrown exception into an error.
func call(fn js.Value, args ...any) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = js.Undefined(), panicError(r)
		}
	}()
	return fn.Invoke(args...), nil
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// jsReason turns a rejection reason (usually an Error) into a Go error.
func jsReason(r js.Value) error {
	if r.Type() == js.TypeObject {
		if m := r.Get("message"); m.Type() == js.TypeString {
			return errors.New(m.String())
		}
	}
	if r.Type() == js.TypeString {
		return errors.New(r.String())
	}
	return errors.New("rejected")
}
