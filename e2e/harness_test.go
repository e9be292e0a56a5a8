// Package e2e drives tunnelkit's browser client end to end: headless
// Chromium loads the real page from an in-process server that also mounts
// the relay, and the page's window.tunnelkit talks to a real OpenSSH sshd.
//
// The harness (this file) is shared by every browser test of the package:
// startStack brings up sshd, relay and page; newBrowser starts Chromium;
// openPage loads the page in a tab; evalJS runs async JavaScript in it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/web"
)

// wasmDir holds tunnelkit.wasm and wasm_exec.js built from this tree for the
// whole test binary (see TestMain and buildWasm).
var (
	wasmOnce sync.Once
	wasmDir  string
	wasmErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if wasmDir != "" {
		os.RemoveAll(wasmDir)
	}
	os.Exit(code)
}

// buildWasm compiles ./wasm exactly as `make wasm` does, once per test
// binary, so the tests never run a stale web/dist. The go build cache makes
// repeated runs cheap.
func buildWasm(t testing.TB) string {
	t.Helper()
	wasmOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			wasmErr = err
			return
		}
		dir, err := os.MkdirTemp("", "tunnelkit-e2e-wasm-")
		if err != nil {
			wasmErr = err
			return
		}
		wasmDir = dir
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(goBin, "build", "-tags", "nethttpomithttp2", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "tunnelkit.wasm"), "./wasm")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			wasmErr = fmt.Errorf("build ./wasm for GOOS=js: %v\n%s", err, out)
			return
		}
		execJS, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644)
		}
		wasmErr = err
	})
	if wasmErr != nil {
		t.Fatalf("e2e: %v", wasmErr)
	}
	return wasmDir
}

// stackOptions shape startStackWith.
type stackOptions struct {
	SSHD  sshtest.Options // the gateway's sshd configuration
	Allow []string        // relay dial targets besides the gateway (exits of -R)
	// AllowListen is where the relay may bind -L entry sockets; nil means
	// any port of 127.0.0.1.
	AllowListen []string
	Tokens      []relay.Token // when set, the relay requires one
}

// stack is a running gateway, relay and page server.
type stack struct {
	SSHD     *sshtest.Server
	Relay    *relay.Relay
	RelayURL string // "ws://127.0.0.1:PORT": the page's own origin
	PageURL  string // "http://127.0.0.1:PORT/": the real UI page
	Server   *httptest.Server
	// MetricsToken reads /metrics on a relay with tokens (which serves
	// metrics only with one); "" without tokens.
	MetricsToken string
}

// startStack starts sshd, and an HTTP server that mounts the relay
// (allowing the gateway and allow) next to the UI. The wasm client served
// is built from this tree.
func startStack(t *testing.T, allow ...string) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{Allow: allow})
}

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	dir := buildWasm(t)
	sshd := sshtest.StartOpenSSH(t, o.SSHD)
	listen := o.AllowListen
	if listen == nil {
		listen = []string{"127.0.0.1:0-65535"}
	}
	r, err := relay.New(relay.Config{
		Allow:       append([]string{sshd.Addr}, o.Allow...),
		AllowListen: listen,
		Tokens:      o.Tokens,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("e2e: relay.New: %v", err)
	}
	mux := http.NewServeMux()
	rh := r.Handler()
	mux.Handle("/v1/", rh)
	mux.Handle("/healthz", rh)
	mux.Handle("/metrics", rh)
	mux.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "tunnelkit.wasm")) // application/wasm, by extension
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "wasm_exec.js"))
	})
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Logf("e2e: relay shutdown: %v", err)
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	st := &stack{
		SSHD:     sshd,
		Relay:    r,
		RelayURL: "ws" + strings.TrimPrefix(srv.URL, "http"),
		PageURL:  srv.URL + "/",
		Server:   srv,
	}
	if len(o.Tokens) > 0 {
		st.MetricsToken = o.Tokens[0].Secret
	}
	return st
}

// newBrowser starts headless Chromium with a fresh profile and returns the
// context of its first tab; it stops when the test ends. Under CI=true a
// missing Chromium fails the test, elsewhere it skips it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserWith(t)
}

// newBrowserWith is newBrowser with extra Chromium options.
func newBrowserWith(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := sshtest.RequireBinary(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("enable-precise-memory-info", true), // performance.memory without bucketing
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // start the browser now, without a deadline
		cancel()
		cancelAlloc()
		t.Fatalf("e2e: start chromium: %v", err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
	})
	return ctx
}

// newTab opens another tab of the browser of ctx. Closing it (cancel)
// closes the page, as a user closing the tab does.
func newTab(t *testing.T, ctx context.Context) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("e2e: open tab: %v", err)
	}
	// chromedp turns on DevTools network tracking, which copies every
	// WebSocket frame to the test: it slowed the page's transfers 2.5x.
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Disable, cdp.Empty{})
		return err
	})); err != nil {
		cancel()
		t.Fatalf("e2e: turn off network tracking: %v", err)
	}
	t.Cleanup(cancel)
	return tab, cancel
}

// openPage loads url in the tab of ctx, copies the page's console to the
// test log, and waits for tunnelkit.ready. It returns ms from navigation
// start to ready.
func openPage(t *testing.T, ctx context.Context, url string) float64 {
	t.Helper()
	logConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("e2e: load %s: %v", url, err)
	}
	readyMS, err := evalJS[float64](ctx, `await tunnelkit.ready; return performance.now();`)
	if err != nil {
		t.Fatalf("e2e: tunnelkit.ready: %v", err)
	}
	return readyMS
}

// logConsole copies the console of the tab of ctx to the test log until
// the test ends.
func logConsole(t *testing.T, ctx context.Context) {
	t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	messages := chromedp.Console(lctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 0
		for m, err := range messages {
			if err != nil {
				return
			}
			if n++; n <= 200 { // a noisy page must not drown the log
				t.Logf("console %s %s", m, m.URL)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// jsTimeout bounds one evalJS call.
const jsTimeout = 60 * time.Second

// evalJS runs body, the body of an async JavaScript function, in the page of
// ctx and decodes its JSON result into T. A rejection or exception becomes
// an error carrying the JavaScript message.
func evalJS[T any](ctx context.Context, body string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, jsTimeout)
	defer cancel()
	script := `(async () => {` + body + `
	})().then(v => JSON.stringify({v: v === undefined ? null : v}),
	          e => JSON.stringify({err: String(e && e.message !== undefined ? e.message : e), code: e && e.code}))`
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		return zero, fmt.Errorf("evaluate: %w", err)
	}
	var r struct {
		V    json.RawMessage
		Err  *string
		Code *int
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return zero, fmt.Errorf("decode %q: %w", raw, err)
	}
	if r.Err != nil {
		return zero, &jsError{Message: *r.Err, Code: r.Code}
	}
	if len(r.V) == 0 || bytes.Equal(r.V, []byte("null")) {
		return zero, nil
	}
	var v T
	if err := json.Unmarshal(r.V, &v); err != nil {
		return zero, fmt.Errorf("decode result %s: %w", r.V, err)
	}
	return v, nil
}

// jsError is a JavaScript Error that rejected an evalJS call.
type jsError struct {
	Message string
	Code    *int // error.code, when set (relay close codes)
}

func (e *jsError) Error() string { return e.Message }

// mustJS is evalJS that fails the test on error.
func mustJS[T any](t *testing.T, ctx context.Context, body string) T {
	t.Helper()
	v, err := evalJS[T](ctx, body)
	if err != nil {
		t.Fatalf("e2e: %v\nscript: %s", err, body)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// connectJS returns a script connecting window.s to st's gateway as its
// password user, pinning the host key; extra is appended to the options
// object literal (e.g. `onEvent: ev => events.push(ev)`).
func connectJS(st *stack, extra string) string {
	return `window.s = await tunnelkit.connect({
		host: ` + jsString(st.SSHD.Host()) + `, port: ` + fmt.Sprint(st.SSHD.Port()) + `,
		user: ` + jsString(st.SSHD.PasswordUser) + `, password: ` + jsString(st.SSHD.Password) + `,
		hostKey: ` + jsString(st.SSHD.HostKeyFingerprint) + `,` + extra + `
	});`
}

// connectPage loads st's page in the tab of ctx and connects window.s; it
// logs page-load-to-connected time.
func connectPage(t *testing.T, ctx context.Context, st *stack) {
	t.Helper()
	ready := openPage(t, ctx, st.PageURL)
	connected := mustJS[float64](t, ctx, connectJS(st, "")+` return performance.now();`)
	t.Logf("page load to tunnelkit.ready %.0f ms, to connected %.0f ms", ready, connected)
}

// jsForward runs s.forward(spec) in the page as window[name] and returns its entry socket.
func jsForward(t *testing.T, ctx context.Context, name, spec string) string {
	t.Helper()
	return mustJS[string](t, ctx, `window.`+name+` = await s.forward(`+jsString(spec)+`); return `+name+`.entry;`)
}

// forwardStats is f.stats() of window[name].
type forwardStats struct {
	Connections int64 `json:"connections"`
	Active      int64 `json:"active"`
	BytesIn     int64 `json:"bytesIn"`
	BytesOut    int64 `json:"bytesOut"`
}

func jsStats(t *testing.T, ctx context.Context, name string) forwardStats {
	t.Helper()
	return mustJS[forwardStats](t, ctx, `return `+name+`.stats();`)
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connectable reports whether a TCP connection to addr succeeds now.
func connectable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// relayStreams returns how many streams the relay has open, from /metrics.
func relayStreams(t *testing.T, st *stack) int {
	t.Helper()
	resp, err := http.Get(st.Server.URL + "/metrics")
	if err != nil {
		t.Fatalf("e2e: relay metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("e2e: relay metrics: %v", err)
	}
	n := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "tunnelkit_relay_streams_active"); ok {
			var v float64
			if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
				n += v
			}
		}
	}
	return int(n)
}

// checkNoStreams checks that the relay's streams all end soon: whatever
// the page opened, it closed.
func checkNoStreams(t *testing.T, st *stack) {
	t.Helper()
	var n int
	if !waitFor(10*time.Second, func() bool { n = relayStreams(t, st); return n == 0 }) {
		t.Errorf("relay still has %d streams open", n)
	}
}

// pageState is tunnelkit.debug().
type pageState struct {
	Goroutines int `json:"goroutines"`
	Sessions   int `json:"sessions"`
	Streams    int `json:"streams"`
}

func jsPageState(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	return mustJS[pageState](t, ctx, `return tunnelkit.debug();`)
}

// checkPageIdle checks that the client in the page returns to idle soon:
// no session, no relay stream, and no more goroutines than at baseline.
func checkPageIdle(t *testing.T, ctx context.Context, baseline pageState) {
	t.Helper()
	var now pageState
	if !waitFor(10*time.Second, func() bool {
		now = jsPageState(t, ctx)
		return now.Sessions == 0 && now.Streams == 0 && now.Goroutines <= baseline.Goroutines
	}) {
		t.Errorf("page client not idle: %+v, baseline %+v", now, baseline)
	}
}

// copyN copies exactly n bytes, reporting a short stream as an error.
func copyN(dst io.Writer, src io.Reader, n int64) error {
	m, err := io.CopyN(dst, src, n)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if m != n {
		return fmt.Errorf("stream ended after %d of %d bytes", m, n)
	}
	return nil
}
