package relay

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/syncbuf"

	"tunnelkit/relay/wire"
)

// testRelay is a relay behind a real loopback HTTP server.
type testRelay struct {
	*Relay
	srv  *httptest.Server
	logs *syncbuf.Buffer
}

func (tr *testRelay) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(tr.srv.URL, "http") + path
}

func startRelay(t *testing.T, cfg Config) *testRelay {
	t.Helper()
	logs := &syncbuf.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Close()
	})
	return &testRelay{Relay: r, srv: srv, logs: logs}
}

type dialOpts struct {
	token  string
	origin string
	header http.Header
}

// connect opens a WebSocket to path; it fails the test if the handshake
// fails.
func connect(t *testing.T, ctx context.Context, url string, o dialOpts) *websocket.Conn {
	t.Helper()
	ws, err := tryConnect(ctx, url, o)
	if err != nil {
		t.Fatalf("websocket dial %s: %v", url, err)
	}
	return ws
}

func tryConnect(ctx context.Context, url string, o dialOpts) (*websocket.Conn, error) {
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	protos := []string{"tunnelkit.v1"}
	if o.token != "" {
		protos = append(protos, "tunnelkit.token."+o.token)
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, Subprotocols: protos})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(-1)
	return ws, nil
}

// readMessage reads one control message, or returns the close error.
func readMessage(ctx context.Context, ws *websocket.Conn) (wire.Message, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return wire.Message{}, err
	}
	if typ != websocket.MessageText {
		return wire.Message{}, errors.New("expected a control message, got binary")
	}
	var m wire.Message
	return m, json.Unmarshal(b, &m)
}

// expectClose reads until the stream closes and returns code and reason.
func expectClose(t *testing.T, ctx context.Context, ws *websocket.Conn) (wire.CloseCode, string) {
	t.Helper()
	defer ws.CloseNow()
	for i := 0; i < 1000; i++ {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return wire.CloseCode(ce.Code), ce.Reason
		}
		t.Fatalf("stream ended without a close frame: %v", err)
	}
	t.Fatal("stream never closed")
	return 0, ""
}

// dialOpen opens a dial stream to target and waits for the relay's open
// message.
func dialOpen(t *testing.T, ctx context.Context, tr *testRelay, target string) *websocket.Conn {
	t.Helper()
	ws := connect(t, ctx, tr.wsURL("/v1/dial?target="+target), dialOpts{})
	if _, err := readMessage(ctx, ws); err != nil {
		t.Fatal(err)
	}
	return ws
}

// refusedWith opens a stream expecting the relay to close it with code and
// a reason containing want.
func refusedWith(t *testing.T, ctx context.Context, url string, o dialOpts, code wire.CloseCode, want string) {
	t.Helper()
	ws := connect(t, ctx, url, o)
	got, reason := expectClose(t, ctx, ws)
	if got != code || !strings.Contains(reason, want) {
		t.Fatalf("%s: closed with %d %q, want %d containing %q", url, got, reason, code, want)
	}
	// Reasons reach pages and other clients, which have no flags: the
	// operator's settings are named in the audit log only.
	if strings.Contains(reason, "--") {
		t.Fatalf("%s: close reason %q names a flag", url, reason)
	}
}

// recordingDialer records every dial and fails it: nothing leaves the host.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) Dial(_ context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, addr)
	return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("recording dialer: no network in tests")}
}

func (d *recordingDialer) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// loopbackOnly dials loopback addresses and records-and-fails the rest.
func loopbackOnly(rec *recordingDialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err == nil && ap.Addr().Unmap().IsLoopback() {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return rec.Dial(ctx, network, addr)
	}
}

// fakeResolver answers from a table and records lookups.
type fakeResolver struct {
	mu      sync.Mutex
	table   map[string][]netip.Addr
	lookups []string
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, host)
	if a, ok := f.table[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newRawClient is an HTTP client whose connections come from dial, so a
// test can hold the TCP connection under a WebSocket.
func newRawClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: dial}}
}

// startRelayB serves r for a benchmark and returns its ws:// URL.
func startRelayB(b *testing.B, r *Relay) string {
	srv := httptest.NewServer(r.Handler())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
