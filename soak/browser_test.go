package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/web"
)

// pageServer serves the UI with the .wasm built from this tree.
func pageServer(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "tunnelkit.wasm"), "../wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soak: build wasm: %v\n%s", err, out)
	}
	execJS, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644)
	mux := http.NewServeMux()
	mux.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "tunnelkit.wasm"))
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(dir, "wasm_exec.js")) })
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browserTab starts headless Chromium and opens url in it.
func browserTab(t *testing.T, url string) context.Context {
	t.Helper()
	path := sshtest.RequireBinary(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("soak: start chromium: %v", err)
	}
	// DevTools network tracking copies every WebSocket frame to the test.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Disable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("soak: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("soak: load %s: %v", url, err)
	}
	if _, err := evalJS[any](ctx, `await tunnelkit.ready; return null;`); err != nil {
		t.Fatalf("soak: tunnelkit.ready: %v", err)
	}
	return ctx
}

// evalJS runs async JavaScript in the tab and decodes its result.
func evalJS[T any](ctx context.Context, body string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	script := `(async () => {` + body + `
	})().then(v => JSON.stringify({v: v === undefined ? null : v}), e => JSON.stringify({err: String(e && e.message || e)}))`
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		return zero, err
	}
	var r struct {
		V   json.RawMessage
		Err *string
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return zero, err
	}
	if r.Err != nil {
		return zero, fmt.Errorf("%s", *r.Err)
	}
	var v T
	if len(r.V) > 0 && string(r.V) != "null" {
		err := json.Unmarshal(r.V, &v)
		return v, err
	}
	return v, nil
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
