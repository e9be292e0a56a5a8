package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

const probePage = `<!doctype html>
<script src="wasm_exec.js"></script>
<script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("probe.wasm"), go.importObject).then(r => go.run(r.instance));
</script>`

// TestBrowser runs testdata/jsprobe in headless Chromium: the js build of
// this package, with the page's server as the relay, carries 64 MiB each
// way, half-closes, reports a refusal and serves a listen bridge.
func TestBrowser(t *testing.T) {
	chromium := sshtest.RequireBinary(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "probe.wasm"), "./testdata/jsprobe")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}

	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	source := sshtest.StartSource(t, "127.0.0.1:0", bigSize, 9)
	r, err := relay.New(relay.Config{Allow: []string{echo, hasher, source}, AllowListen: []string{"127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	// Everything lives below /tk/, as behind a reverse proxy: the probe's
	// default relay ("") must keep the prefix.
	mux := http.NewServeMux()
	mux.Handle("/tk/v1/", http.StripPrefix("/tk", r.Handler()))
	mux.HandleFunc("/tk/{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, probePage) })
	mux.HandleFunc("/tk/wasm_exec.js", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/tk/probe.wasm", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, req, filepath.Join(dir, "probe.wasm"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		r.Shutdown(sctx)
	}()

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("enable-precise-memory-info", true),
		chromedp.UserDataDir(t.TempDir()),
	)...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	refused := "127.0.0.1:1"
	page := srv.URL + "/tk/?" + url.Values{
		"echo": {echo}, "hasher": {hasher}, "source": {source}, "refused": {refused},
		"relay": {"ws" + strings.TrimPrefix(srv.URL, "http") + "/tk"},
	}.Encode()
	if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("load the probe page: %v", err)
	}

	// The probe listens first: be the TCP client on the relay host.
	listenAddr, err := chromedp.Run(bctx, chromedp.Poll[string](`globalThis.probeListen || (globalThis.probeResult && "failed")`, chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("wait for the probe's listener: %v", err)
	}
	if listenAddr != "failed" {
		c, err := net.Dial("tcp", listenAddr)
		if err != nil {
			t.Fatalf("connect to the listen bridge at %s: %v", listenAddr, err)
		}
		context.AfterFunc(ctx, func() { c.Close() })
		io.WriteString(c, "hello through the page\n")
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hello through the page\n" {
			t.Errorf("echo through the page's listener: %q, %v", got, err)
		}
	}

	raw, err := chromedp.Run(bctx, chromedp.Poll[string](`globalThis.probeResult`, chromedp.WithPollingTimeout(120*time.Second)))
	if err != nil {
		t.Fatalf("wait for the probe's result: %v", err)
	}
	var res struct {
		EchoMBps, UpMBps, DownMBps float64
		HashMBps                   float64
		DownSum                    string
		DownBytes                  int64
		RefusedCode                int
		RefusedReason              string
		MaxHeapMB                  float64
		Error                      string
	}
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatalf("probe result %q: %v", raw, err)
	}
	if res.Error != "" {
		t.Fatalf("probe: %s", res.Error)
	}
	if res.DownBytes != bigSize || res.DownSum != sshtest.DataSum(9, bigSize) {
		t.Errorf("page downloaded %d bytes with SHA-256 %s, want %d with %s", res.DownBytes, res.DownSum, bigSize, sshtest.DataSum(9, bigSize))
	}
	if res.RefusedCode != 4403 || !strings.Contains(res.RefusedReason, refused) {
		t.Errorf("refusal in the page: %d %q, want 4403 naming %s", res.RefusedCode, res.RefusedReason, refused)
	}
	t.Logf("in Chromium: echo %.0f MB/s each way, upload %.0f MB/s, download %.0f MB/s (generating and hashing alone: %.0f MB/s); JS heap peak %.0f MB",
		res.EchoMBps, res.UpMBps, res.DownMBps, res.HashMBps, res.MaxHeapMB)
}
