//go:build js && wasm

package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall/js"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

// reconnectOptions are connect's {reconnect, keepCredentials, onState,
// onCredentials}: with reconnect, a session whose connection is lost
// connects again with backoff (1 s doubling to 30 s, ±20%), requires the
// host key accepted the first time, and restores its forwards.
//
// Credentials: by default the password, key and passphrase are dropped
// right after authentication; a reconnect then asks onCredentials() for
// them (async, resolving to {password, privateKey, passphrase}) and gives
// up without it. keepCredentials: true keeps them in memory for
// reconnects only, as the person chose.
type reconnectOptions struct {
	enabled       bool
	keep          bool
	onState       js.Value // (state) => void
	onCredentials js.Value // async () => {password, privateKey, passphrase}
}

func parseReconnectOptions(v js.Value) (reconnectOptions, error) {
	var r reconnectOptions
	if v.Type() != js.TypeObject {
		return r, nil
	}
	for name, dst := range map[string]*bool{"reconnect": &r.enabled, "keepCredentials": &r.keep} {
		switch f := v.Get(name); f.Type() {
		case js.TypeUndefined, js.TypeNull:
		case js.TypeBoolean:
			*dst = f.Bool()
		default:
			return r, errors.New("connect: option " + name + " must be true or false")
		}
	}
	for name, dst := range map[string]*js.Value{"onState": &r.onState, "onCredentials": &r.onCredentials} {
		switch f := v.Get(name); f.Type() {
		case js.TypeUndefined, js.TypeNull:
		case js.TypeFunction:
			*dst = f
		default:
			return r, errors.New("connect: option " + name + " must be a function")
		}
	}
	return r, nil
}

// afterAuth drops the credentials once authenticated, unless the person
// chose to keep them for reconnecting.
func (o *connectOptions) afterAuth() {
	if o.re.enabled && o.re.keep {
		return
	}
	o.password, o.privateKey, o.passphrase = "", "", ""
	for i := range o.jump {
		h := &o.jump[i]
		h.password, h.privateKey, h.passphrase = "", "", ""
	}
}

// resilience is what a reconnecting session keeps across connections.
type resilience struct {
	hostKey string           // accepted the first time; later connections must offer it
	handles []*forwardHandle // forwards to restore, in the order they were made
}

var (
	clientMu sync.Mutex // guards session.client and resil once a session is published
	resil    = map[int]*resilience{}
)

func (s *session) currentClient() *tunnel.Client {
	clientMu.Lock()
	defer clientMu.Unlock()
	return s.client
}

// trackForward remembers h for restoring after a reconnect.
func (s *session) trackForward(h *forwardHandle) {
	clientMu.Lock()
	defer clientMu.Unlock()
	if r := resil[s.id]; r != nil {
		r.handles = append(r.handles, h)
	}
}

// closeClient is s.close(): no reconnect after it.
func (s *session) closeClient() {
	s.cancel(errSessionClosed)
	s.currentClient().Close()
}

// run waits for the session's end (see wait); with reconnect, a lost
// connection is made again first, for as long as that can work.
func (s *session) run(resolve func(any), reject func(error)) {
	if !s.opts.re.enabled {
		s.wait(resolve, reject)
		return
	}
	clientMu.Lock()
	resil[s.id] = &resilience{hostKey: s.client.HostKey()}
	clientMu.Unlock()
	defer func() {
		clientMu.Lock()
		delete(resil, s.id)
		clientMu.Unlock()
	}()
	s.state("connected", 0, 0, nil)
	for {
		err := s.currentClient().Wait()
		if err == nil || s.ctx.Err() != nil || s.left.Load() {
			break
		}
		c, err := s.reconnect(err)
		if c == nil {
			if s.ctx.Err() == nil {
				s.state("gave-up", 0, 0, err)
			}
			break
		}
		clientMu.Lock()
		old := s.client
		s.client = c
		clientMu.Unlock()
		old.Close()
		s.restoreForwards(c)
		s.state("connected", 0, 0, nil)
	}
	s.wait(resolve, reject)
}

// errNeedCredentials: the credentials were dropped and the page gave none.
var errNeedCredentials = errors.New("the password or key was not kept for reconnecting, and onCredentials gave none: connect again")

// reconnect tries until a connection is up, an error that trying again
// would repeat (host key, authentication, no credentials), or the session
// is closed.
func (s *session) reconnect(cause error) (*tunnel.Client, error) {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		wait := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		s.state("reconnecting", attempt, wait, cause)
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return nil, context.Cause(s.ctx)
		}
		c, err := s.redial()
		if err == nil {
			return c, nil
		}
		var hke *tunnel.HostKeyError
		var ae *tunnel.AuthError
		if errors.As(err, &hke) || errors.As(err, &ae) || errors.Is(err, errNeedCredentials) {
			return nil, err
		}
		cause = err
		delay = min(2*delay, 30*time.Second)
	}
}

// redial makes one new connection like the first, pinned to its host key.
func (s *session) redial() (*tunnel.Client, error) {
	o := s.opts
	password, key, passphrase := o.password, o.privateKey, o.passphrase
	if password == "" && key == "" {
		if o.re.onCredentials.Type() != js.TypeFunction {
			return nil, errNeedCredentials
		}
		v, err := call(o.re.onCredentials, jsObject.New())
		if err == nil {
			v, err = await(s.ctx, v)
		}
		if err != nil {
			return nil, wrap("onCredentials", err)
		}
		if v.Type() != js.TypeObject {
			return nil, errNeedCredentials
		}
		get := func(name string) string {
			if f := v.Get(name); f.Type() == js.TypeString {
				return f.String()
			}
			return ""
		}
		password, key, passphrase = get("password"), get("privateKey"), get("passphrase")
		if password == "" && key == "" {
			return nil, errNeedCredentials
		}
	}
	var signers []ssh.Signer
	if key != "" {
		signer, err := tunnel.ParsePrivateKey([]byte(key), []byte(passphrase))
		if err != nil {
			return nil, err
		}
		signers = append(signers, signer)
	}
	clientMu.Lock()
	pinned := resil[s.id].hostKey
	clientMu.Unlock()
	// Bounded: a gateway that takes TCP and never answers SSH must not
	// hold the session's reconnecting for long.
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, o.relay, o.firstAddr(), &client.Options{Token: o.token, Resume: true})
	if err != nil {
		return nil, err
	}
	cfg := o.tunnelConfig(signers)
	cfg.Password = password
	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: pinned}
	if cfg.Jump, err = o.jumpHosts(); err != nil {
		conn.Close()
		return nil, err
	}
	if s.events != nil {
		cfg.OnEvent = s.events.push
	}
	return tunnel.Connect(ctx, newStream(conn), o.addr(), cfg)
}

// restoreForwards starts every forward the page had, and has not closed,
// on the new connection.
func (s *session) restoreForwards(c *tunnel.Client) {
	clientMu.Lock()
	handles := append([]*forwardHandle(nil), resil[s.id].handles...)
	clientMu.Unlock()
	for _, h := range handles {
		h.mu.Lock()
		closed := h.userClosed
		h.mu.Unlock()
		if closed {
			continue
		}
		f, err := c.Forward(s.ctx, h.spec)
		if err != nil {
			h.mu.Lock()
			h.lastErr = err
			h.mu.Unlock()
			continue
		}
		h.mu.Lock()
		h.f, h.lastErr = f, nil // shown as up at once; the watcher takes it from next
		h.mu.Unlock()
		select {
		case h.next <- f:
		default:
			f.Close()
		}
	}
}

// state tells the page's onState where the session is, and each forward.
func (s *session) state(phase string, attempt int, next time.Duration, err error) {
	fn := s.opts.re.onState
	if fn.Type() != js.TypeFunction {
		return
	}
	o := jsObject.New()
	o.Set("state", phase)
	o.Set("attempt", attempt)
	o.Set("nextInMs", float64(next.Milliseconds()))
	if err != nil {
		o.Set("error", err.Error())
	}
	clientMu.Lock()
	var handles []*forwardHandle
	if r := resil[s.id]; r != nil {
		handles = append(handles, r.handles...)
	}
	clientMu.Unlock()
	fwds := jsGlobal.Get("Array").New()
	for _, h := range handles {
		h.mu.Lock()
		fo := jsObject.New()
		fo.Set("spec", h.spec.String())
		switch {
		case h.userClosed:
			fo.Set("state", "closed")
		case h.f != nil && !isDone(h.f.Done()):
			fo.Set("state", "up")
			fo.Set("entry", h.f.Entry())
		case phase == "reconnecting":
			fo.Set("state", "reconnecting")
		default:
			fo.Set("state", "down")
		}
		if h.lastErr != nil && h.f == nil {
			fo.Set("error", h.lastErr.Error())
		}
		h.mu.Unlock()
		fwds.Call("push", fo)
	}
	o.Set("forwards", fwds)
	if _, err := call(fn, o); err != nil {
		jsGlobal.Get("console").Call("error", "tunnelkit onState threw: "+err.Error())
	}
}

// watchReconnecting is watch for a reconnecting session: a forward that
// stopped with its connection waits for its successor on the next one.
func (h *forwardHandle) watchReconnecting(s *session) {
	for {
		h.mu.Lock()
		f := h.f
		h.mu.Unlock()
		select {
		case <-f.Done():
		case <-s.ctx.Done():
			f.Close()
		}
		st := f.Stats()
		h.mu.Lock()
		h.base.Connections += st.Connections
		h.base.BytesIn += st.BytesIn
		h.base.BytesOut += st.BytesOut
		if h.f == f { // restoreForwards may have put its successor there already
			h.f = nil
		}
		final := h.userClosed || s.ctx.Err() != nil
		if final {
			h.final = h.base
		}
		h.mu.Unlock()
		if final {
			return
		}
		nf, ok := h.successor(s)
		if !ok {
			h.mu.Lock()
			h.final = h.base
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		h.f = nf
		h.mu.Unlock()
	}
}

// successor waits for the forward that replaces a stopped one: made by
// restoreForwards on a new connection, or, when the connection is still
// up (a relay listener that went away with a blip), started again here
// with backoff. false when the session ended.
func (h *forwardHandle) successor(s *session) (*tunnel.Forward, bool) {
	delay := time.Second
	for {
		t := time.NewTimer(delay)
		select {
		case nf := <-h.next:
			t.Stop()
			return nf, true
		case <-s.ctx.Done():
			t.Stop()
			return nil, false
		case <-t.C:
		}
		c := s.currentClient()
		if isDone(c.Done()) {
			continue // reconnecting: restoreForwards brings it back
		}
		nf, err := c.Forward(s.ctx, h.spec)
		if err == nil {
			return nf, true
		}
		h.mu.Lock()
		h.lastErr = err
		h.mu.Unlock()
		delay = min(2*delay, 30*time.Second)
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
