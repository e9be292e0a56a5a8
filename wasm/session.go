//go:build js && wasm

package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

// A session is one authenticated SSH connection to a gateway, reached
// through the relay: the object tunnelkit.connect resolves to.
type session struct {
	id     int
	opts   *connectOptions
	client *tunnel.Client
	ctx    context.Context // ends with the session
	cancel context.CancelCauseFunc
	events *eventQueue // nil without onEvent
	ended  chan struct{}
	left   atomic.Bool // ended because the page went away
}

// registry maps the ids held by JavaScript objects to their Go side. The
// methods of those objects are a few shared js.Funcs bound to an id, so no
// per-object js.Func has to be released.
var registry = struct {
	sync.Mutex
	next     int
	sessions map[int]*session
	forwards map[int]*forwardHandle
}{sessions: map[int]*session{}, forwards: map[int]*forwardHandle{}}

func nextID() int {
	registry.Lock()
	defer registry.Unlock()
	registry.next++
	return registry.next
}

func lookupSession(id js.Value) *session {
	if id.Type() != js.TypeNumber {
		return nil
	}
	registry.Lock()
	defer registry.Unlock()
	return registry.sessions[id.Int()]
}

// connect is tunnelkit.connect(options).
func connect(_ js.Value, args []js.Value) any {
	o, err := parseConnectOptions(arg(args, 0))
	if err != nil {
		return rejected(err)
	}
	return async(func() (any, error) { return dial(o) })
}

func dial(o *connectOptions) (any, error) {
	what := "connect " + o.user + "@" + o.addr()
	var signers []ssh.Signer
	if o.privateKey != "" {
		signer, err := tunnel.ParsePrivateKey([]byte(o.privateKey), []byte(o.passphrase))
		if err != nil {
			return nil, wrap(what, err)
		}
		signers = append(signers, signer)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	s := &session{id: nextID(), opts: o, ctx: ctx, cancel: cancel, ended: make(chan struct{})}
	if o.onEvent.Type() == js.TypeFunction {
		s.events = newEventQueue(o.onEvent)
	}
	fail := func(err error) (any, error) {
		cancel(err)
		if s.events != nil {
			s.events.stop()
		}
		return nil, err
	}

	// Dial and handshake are bounded like sshd's LoginGraceTime, long
	// enough for a person to answer onHostKey.
	hsCtx, hsCancel := context.WithTimeoutCause(ctx, handshakeTimeout,
		errors.New("no SSH handshake within 2 minutes (is "+o.addr()+" an SSH server?)"))
	defer hsCancel()
	// Resumable: a blip of the link to the relay keeps the SSH session.
	conn, err := client.Dial(hsCtx, o.relay, o.firstAddr(), &client.Options{Token: o.token, Resume: true})
	if err != nil {
		return fail(wrap(what, err))
	}
	cfg := o.tunnelConfig(signers)
	if cfg.Jump, err = o.jumpHosts(); err != nil {
		conn.Close()
		return fail(wrap(what, err))
	}
	if s.events != nil {
		cfg.OnEvent = s.events.push
	}
	c, err := tunnel.Connect(hsCtx, newStream(conn), o.addr(), cfg)
	if err != nil {
		return fail(wrap(what, err))
	}
	s.client = c
	o.afterAuth()

	registry.Lock()
	registry.sessions[s.id] = s
	registry.Unlock()

	obj := jsObject.New()
	obj.Set("hostKey", c.HostKey())
	obj.Set("forward", bind(sessionForwardFunc, s.id))
	obj.Set("close", bind(sessionCloseFunc, s.id))
	setEndpointMethods(obj, s.id) // endpoint.go: openTCP, listenTCP, view, share
	closed, resolve, reject := deferred()
	closed.Call("catch", noopFunc) // a session may end without anyone awaiting s.closed
	obj.Set("closed", closed)
	go s.run(resolve, reject)
	return obj, nil
}

// tunnelConfig is the session's tunnel configuration: entry sockets on
// the relay host (listen bridge), exits dialled by the relay (dial bridge).
func (o *connectOptions) tunnelConfig(signers []ssh.Signer) tunnel.Config {
	relayOpts := &client.Options{Token: o.token}
	cfg := tunnel.Config{
		User:     o.user,
		Password: o.password,
		Signers:  signers,
		HostKey:  tunnel.HostKeyPolicy{Fingerprint: o.hostKey},
		Listen: func(ctx context.Context, _, addr string) (net.Listener, error) {
			// Resumable: a relay-host entry socket and its connections
			// outlive a short drop of the page's link to the relay.
			l, err := client.Listen(ctx, o.relay, addr, &client.Options{Token: o.token, Resume: true})
			if err != nil {
				return nil, err
			}
			return newListener(l), nil
		},
		Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := client.Dial(ctx, o.relay, addr, relayOpts)
			if err != nil {
				return nil, err
			}
			return newStream(c), nil
		},
	}
	// A pinned fingerprint decides alone; otherwise the page's onHostKey, if
	// any; with neither, tunnel refuses the key.
	if o.hostKey == "" && o.onHostKey.Type() == js.TypeFunction {
		cfg.HostKey.Confirm = o.confirmHostKey
	}
	return cfg
}

// confirmHostKey asks the page's onHostKey(fingerprint, "host:port"), which
// may be async; only a literal true accepts the key.
func (o *connectOptions) confirmHostKey(ctx context.Context, hostport, fingerprint string) (bool, error) {
	v, err := call(o.onHostKey, fingerprint, hostport)
	if err == nil {
		v, err = await(ctx, v)
	}
	if err != nil {
		return false, wrap("onHostKey", err)
	}
	return v.Type() == js.TypeBoolean && v.Bool(), nil
}

// wait settles s.closed when the connection ends: resolved after close(),
// rejected with the reason when the gateway or the relay dropped it.
func (s *session) wait(resolve func(any), reject func(error)) {
	err := s.currentClient().Wait()
	s.cancel(errSessionClosed)
	registry.Lock()
	delete(registry.sessions, s.id)
	registry.Unlock()
	if s.events != nil {
		s.events.stop()
	}
	close(s.ended)
	if s.left.Load() {
		err = errors.New("the page was left (closed, reloaded or navigated away)")
	}
	if err != nil {
		reject(wrap("session "+s.opts.user+"@"+s.opts.addr()+" ended", err))
		return
	}
	resolve(js.Undefined())
}

var errSessionClosed = errors.New("session is closed")

const handshakeTimeout = 2 * time.Minute

// leavePage ends every session of a page that is going away by closing its
// relay streams at once (see streams.go).
func leavePage() {
	registry.Lock()
	for _, s := range registry.sessions {
		s.left.Store(true)
	}
	registry.Unlock()
	closeStreams()
}

// sessionForward is s.forward(spec).
func sessionForward(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	spec := arg(args, 1)
	switch {
	case s == nil:
		return rejected(errors.New("forward: " + errSessionClosed.Error() + " (connect again)"))
	case spec.Type() != js.TypeString:
		return rejected(errors.New(`forward: expected an OpenSSH spec such as "-L 8080:db:5432" or "-R 0:localhost:3000"`))
	}
	return async(func() (any, error) { return s.forward(spec.String()) })
}

// sessionClose is s.close(): it resolves once the session has ended.
func sessionClose(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	if s == nil {
		return jsPromise.Call("resolve") // already closed
	}
	return async(func() (any, error) {
		s.closeClient() // a connection that already failed reports it through s.closed
		<-s.ended
		return js.Undefined(), nil
	})
}

func rejected(err error) js.Value { return jsPromise.Call("reject", newError(err)) }

func bind(fn js.Func, id int) js.Value { return fn.Call("bind", js.Null(), id) }

// wrap prefixes err with what failed, keeping err for errors.As.
func wrap(what string, err error) error { return &wrapped{what + ": " + err.Error(), err} }

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
