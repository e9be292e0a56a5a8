//go:build !js

package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"

	"tunnelkit/relay/wire"
)

const probePage = `<!doctype html>
<script src="wasm_exec.js"></script>
<script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("probe.wasm"), go.importObject).then(r => go.run(r.instance));
</script>`

// TestBrowser runs testdata/jsprobe in headless Chromium: the js build of
// this package, with the page's server as the relay, carries 64 MiB each
// way, half-closes, reports a refusal, serves a listen bridge, and with
// flow control keeps a stream whose reader paused open, the relay sending
// no more than the window meanwhile, and delivers all of it once the
// reader resumes.
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
	flood := sshtest.StartSource(t, "127.0.0.1:0", floodSize, 11)
	talker := startTalker(t)
	r, err := relay.New(relay.Config{Allow: []string{echo, hasher, source, flood, talker}, AllowListen: []string{"127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	// Everything lives below /tk/, as behind a reverse proxy: the probe's
	// default relay ("") must keep the prefix.
	mux := http.NewServeMux()
	mux.Handle("/tk/v1/", http.StripPrefix("/tk", r.Handler()))
	mux.Handle("/tk/metrics", http.StripPrefix("/tk", r.Handler()))
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
		"echo": {echo}, "hasher": {hasher}, "source": {source}, "refused": {refused}, "flood": {flood}, "talker": {talker},
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

	// The page reads nothing from the flood until the relay has stopped
	// sending: then the relay must have sent at most the flow window, and
	// the stream must still be open to deliver the rest.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`globalThis.probeFloodReady || !!globalThis.probeResult`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("wait for the probe's flood stream: %v", err)
	}
	sentPaused := waitStill(t, ctx, srv.URL+"/tk/metrics")
	heapPaused, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.memory ? performance.memory.usedJSHeapSize / 1e6 : 0`))
	if err != nil {
		t.Fatalf("read the page's JS heap: %v", err)
	}
	// Before the flood the relay sent the page only the listen echo.
	if sentPaused > wire.DefaultFlowWindow+wire.DefaultMaxMessage+1024 {
		t.Errorf("relay sent %d bytes to a page that read nothing, want at most the %d flow window (and one message)", sentPaused, wire.DefaultFlowWindow)
	}
	// What the relay sent is queued in the page as ArrayBuffers, which the
	// JS heap counts: it must stay near the window, not grow with the data.
	if heapPaused > maxPausedHeapMB {
		t.Errorf("JS heap of the paused page: %.0f MB, want under %d MB", heapPaused, maxPausedHeapMB)
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
		FloodSum                   string
		FloodError                 string
		TalkSum, TalkReply         string
		TalkSent                   string
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
	if res.FloodError != "" || res.FloodRead != floodSize || res.FloodSum != sshtest.DataSum(11, floodSize) {
		t.Errorf("page that paused reading: read %d bytes with SHA-256 %s, then %q; want all %d with %s and no error", res.FloodRead, res.FloodSum, res.FloodError, floodSize, sshtest.DataSum(11, floodSize))
	}

	if want := sshtest.DataSum(13, talkSize); res.TalkSum != want || res.TalkReply != sshtest.HashLine(res.TalkSent, sendSize) {
		t.Errorf("talker: page got SHA-256 %s and reply %q, want %s and %q", res.TalkSum, res.TalkReply, want, sshtest.HashLine(res.TalkSent, sendSize))
	}
	if res.Leaked > 0 {
		t.Errorf("%d goroutines left in the page after every stream closed:\n%s", res.Leaked, res.Stacks)
	}
	t.Logf("flood: relay sent %d KiB to the paused page (window %d KiB; JS heap %.0f MB), then all %d MiB once it read", sentPaused>>10, wire.DefaultFlowWindow>>10, heapPaused, res.FloodRead>>20)
	t.Logf("in Chromium: echo %.0f MB/s each way, upload %.0f MB/s, download %.0f MB/s (generating and hashing alone: %.0f MB/s); JS heap peak %.0f MB",
		res.EchoMBps, res.UpMBps, res.DownMBps, res.HashMBps, res.MaxHeapMB)
}

// startTalker starts a TCP service that first sends talkSize bytes of
// Data(13) without reading, then reads to the end and answers with
// HashLine. With the page writing at the same time, acks and data share
// the stream both ways: neither side may wait on the other for good.
func startTalker(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := io.Copy(c, io.LimitReader(sshtest.Data(13), talkSize)); err != nil {
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil {
			io.WriteString(c, sshtest.HashLine(hex.EncodeToString(h.Sum(nil)), n))
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

const (
	talkSize = 32 << 20
	sendSize = 64 << 20 // what the probe's send writes

	floodSize = 48 << 20 // far more than the window and TCP's buffers
	// maxPausedHeapMB bounds the paused page's JS heap: the window plus
	// what the page uses anyway (about 2 MB). Without flow control the
	// queue grew to 32 MiB and the heap past 35 MB.
	maxPausedHeapMB = 24
)

// waitStill polls the relay's bytes sent to clients until they stop
// growing for a second (at most 60 tries, 30 s) and returns them.
func waitStill(t *testing.T, ctx context.Context, metricsURL string) int64 {
	t.Helper()
	last, still := int64(-1), 0
	for i := 0; i < 60 && still < 2; i++ {
		n := bytesDown(t, ctx, metricsURL)
		if n == last {
			still++
		} else {
			still = 0
		}
		last = n
		select {
		case <-ctx.Done():
			t.Fatal("relay never stopped sending to the paused page")
		case <-time.After(500 * time.Millisecond):
		}
	}
	if still < 2 {
		t.Fatalf("relay was still sending to the paused page after 30 s (%d bytes)", last)
	}
	return last
}

// bytesDown reads tunnelkit_relay_bytes_total{direction="down"}.
func bytesDown(t *testing.T, ctx context.Context, metricsURL string) int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", metricsURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("read relay metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read relay metrics: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `tunnelkit_relay_bytes_total{direction="down"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("relay metrics line %q: %v", line, err)
			}
			return int64(f)
		}
	}
	return 0
}
