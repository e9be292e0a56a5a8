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
// way, half-closes, reports a refusal, serves a listen bridge, and bounds
// what it queues for a reader that stopped reading.
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
	flood, flooded := startFlood(t)
	r, err := relay.New(relay.Config{Allow: []string{echo, hasher, source, flood}, AllowListen: []string{"127.0.0.1:*"}})
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
		"echo": {echo}, "hasher": {hasher}, "source": {source}, "refused": {refused}, "flood": {flood},
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

	// The page reads nothing from the flood until the relay has sent it
	// more than the page may queue; then it must find the stream closed.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`globalThis.probeFloodReady || !!globalThis.probeResult`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("wait for the probe's flood stream: %v", err)
	}
	select {
	case <-flooded:
	case <-ctx.Done():
		t.Fatal("the flood service never sent 64 MiB nor saw its connection closed")
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`globalThis.probeFloodGo = true`)); err != nil {
		t.Fatalf("release the probe's flood reader: %v", err)
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
		FloodRead                  int64
		FloodError                 string
		Leaked                     int
		Stacks                     string
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
	if !strings.Contains(res.FloodError, "behind") || res.FloodRead > 40<<20 {
		t.Errorf("page that stopped reading: read %d bytes, then %q; want the stream closed after at most the 32 MiB queue", res.FloodRead, res.FloodError)
	}
	if res.Leaked > 0 {
		t.Errorf("%d goroutines left in the page after every stream closed:\n%s", res.Leaked, res.Stacks)
	}
	t.Logf("flood: the page read %d MiB, then: %s", res.FloodRead>>20, res.FloodError)
	t.Logf("in Chromium: echo %.0f MB/s each way, upload %.0f MB/s, download %.0f MB/s (generating and hashing alone: %.0f MB/s); JS heap peak %.0f MB",
		res.EchoMBps, res.UpMBps, res.DownMBps, res.HashMBps, res.MaxHeapMB)
}

// startFlood starts a TCP service sending 128 MiB to one connection; the
// channel closes once it has sent 64 MiB or its connection failed.
func startFlood(t *testing.T) (string, <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flooded := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			close(flooded)
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		signalled := false
		for sent := 0; sent < 128<<20; sent += len(buf) {
			if sent >= 64<<20 && !signalled {
				close(flooded)
				signalled = true
			}
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		if !signalled {
			close(flooded)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String(), flooded
}
