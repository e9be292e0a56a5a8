package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/internal/view"
)

// sha256JS defines window.SHA256, a streaming SHA-256 for the page (the
// browser's crypto.subtle has no streaming digest), and window.fill, a
// deterministic byte generator; the tests check both against Go's.
const sha256JS = `
if (!window.SHA256) {
  const K = new Uint32Array([0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
    0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,
    0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,
    0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,
    0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
    0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,
    0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2]);
  window.SHA256 = class {
    constructor() {
      this.h = new Uint32Array([0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19]);
      this.buf = new Uint8Array(64); this.n = 0; this.len = 0; this.w = new Uint32Array(64);
    }
    update(d) {
      let i = 0; this.len += d.length;
      if (this.n) {
        const k = Math.min(64 - this.n, d.length);
        this.buf.set(d.subarray(0, k), this.n); this.n += k; i = k;
        if (this.n === 64) { this.block(this.buf, 0); this.n = 0; }
      }
      for (; i + 64 <= d.length; i += 64) this.block(d, i);
      if (i < d.length) { this.buf.set(d.subarray(i), 0); this.n = d.length - i; }
    }
    block(d, o) {
      const w = this.w, h = this.h;
      for (let t = 0; t < 16; t++) w[t] = (d[o+4*t] << 24) | (d[o+4*t+1] << 16) | (d[o+4*t+2] << 8) | d[o+4*t+3];
      for (let t = 16; t < 64; t++) {
        const x = w[t-15], y = w[t-2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t-16] + s0 + w[t-7] + s1) | 0;
      }
      let a = h[0], b = h[1], c = h[2], e = h[4], f = h[5], g = h[6], hh = h[7], dd = h[3];
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    hex() {
      const len = this.len, pad = new Uint8Array(((this.n < 56) ? 56 : 120) - this.n + 8);
      pad[0] = 0x80;
      const hi = Math.floor(len / 0x20000000), lo = (len * 8) >>> 0, p = pad.length;
      pad[p-8] = hi >>> 24; pad[p-7] = hi >>> 16; pad[p-6] = hi >>> 8; pad[p-5] = hi;
      pad[p-4] = lo >>> 24; pad[p-3] = lo >>> 16; pad[p-2] = lo >>> 8; pad[p-1] = lo;
      this.update(pad);
      return Array.from(this.h, x => x.toString(16).padStart(8, "0")).join("");
    }
  };
  // fill(seed, n) yields chunks of n bytes in all from an xorshift32 stream.
  window.fill = function* (seed, n, chunk = 65536) {
    let x = seed >>> 0 || 1;
    for (let sent = 0; sent < n; sent += chunk) {
      const c = new Uint8Array(Math.min(chunk, n - sent));
      const w = new Uint32Array(c.buffer, 0, c.length >>> 2);
      for (let i = 0; i < w.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; w[i] = x; }
      yield c;
    }
  };
  window.readAllHashed = async (readable, onChunk) => {
    const h = new SHA256(), r = readable.getReader();
    let n = 0;
    for (;;) {
      const {value, done} = await r.read();
      if (done) break;
      h.update(value); n += value.length;
      if (onChunk) await onChunk(value, n);
    }
    return {sum: h.hex(), n};
  };
}
`

// TestOpenTCP: s.openTCP to a pinger (hello -> ACK hello), 64 MiB both ways
// through an echo service with a half-close (SHA-256 in the page and, for
// what was sent, by a Go hasher), and a refused exit.
func TestOpenTCP(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	mustJS[any](t, ctx, connectJS(st, ""))
	mustJS[any](t, ctx, sha256JS)

	ph, pp := splitAddr(t, pinger)
	got := mustJS[string](t, ctx, `
		const sock = s.openTCP(`+jsString(ph)+`, `+pp+`);
		const {readable, writable, remoteAddress, remotePort} = await sock.opened;
		if (remoteAddress !== `+jsString(ph)+` || remotePort !== `+pp+`) throw new Error("remote " + remoteAddress + ":" + remotePort);
		const w = writable.getWriter();
		await w.write(new TextEncoder().encode("hello\n"));
		const r = readable.getReader();
		let text = "";
		while (!text.includes("\n")) { const {value, done} = await r.read(); if (done) break; text += new TextDecoder().decode(value); }
		await w.close(); // half-close: the pinger ends its side, the readable ends
		for (;;) { const {done} = await r.read(); if (done) break; }
		await sock.closed;
		return text;`)
	if got != "ACK hello\n" {
		t.Errorf("pinger answered %q, want %q", got, "ACK hello\n")
	}

	// The hasher's answer checks the page's SHA-256 and generator against Go's.
	hh, hp := splitAddr(t, hasher)
	type sums struct{ Sent, Line string }
	hs := mustJS[sums](t, ctx, `
		const sock = s.openTCP(`+jsString(hh)+`, `+hp+`);
		const {readable, writable} = await sock.opened;
		const w = writable.getWriter(), h = new SHA256();
		for (const c of fill(7, `+strconv.Itoa(transferSize)+`)) { h.update(c); await w.write(c); }
		await w.close();
		const text = await new Response(readable).text();
		await sock.close();
		return {sent: h.hex(), line: text};`)
	if want := hs.Sent + " " + strconv.Itoa(transferSize) + "\n"; hs.Line != want {
		t.Errorf("hasher saw %q, page sent %q", hs.Line, want)
	}

	eh, ep := splitAddr(t, echo)
	type echoed struct {
		Sent, Got string
		N         int
	}
	start := time.Now()
	e := mustJS[echoed](t, ctx, `
		const sock = s.openTCP(`+jsString(eh)+`, `+ep+`);
		const {readable, writable} = await sock.opened;
		const sent = new SHA256();
		const writing = (async () => {
			const w = writable.getWriter();
			for (const c of fill(9, `+strconv.Itoa(transferSize)+`)) { sent.update(c); await w.write(c); }
			await w.close();
		})();
		const got = await readAllHashed(readable);
		await writing;
		await sock.closed;
		return {sent: sent.hex(), got: got.sum, n: got.n};`)
	t.Logf("openTCP echo of %d MiB: %.1f MB/s each way", transferSize>>20, float64(transferSize)/time.Since(start).Seconds()/1e6)
	if e.N != transferSize || e.Sent != e.Got {
		t.Errorf("echo returned %d bytes, SHA-256 %s; sent %d, %s", e.N, e.Got, transferSize, e.Sent)
	}

	closedPort := freePort(t)
	type refusal struct {
		Message, Reason string
		ReasonCode      int
		Closed          bool
	}
	r := mustJS[refusal](t, ctx, `
		const sock = s.openTCP("127.0.0.1", `+strconv.Itoa(closedPort)+`);
		try { await sock.opened; } catch (e) {
			let closed = false;
			try { await sock.closed; } catch { closed = true; }
			return {message: e.message, reason: e.reason, reasonCode: e.reasonCode, closed};
		}
		throw new Error("opened a closed port");`)
	if r.Reason != "connect failed" || r.ReasonCode != 2 || !strings.Contains(r.Message, "127.0.0.1:"+strconv.Itoa(closedPort)) || !r.Closed {
		t.Errorf("refused exit: %+v, want reason \"connect failed\" (2), the exit in the message, closed rejected", r)
	}
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

// TestOpenTCPBackpressure: a reader that stops for 5 s while the exit keeps
// sending holds the exit back (SSH window), the page's heap stays bounded,
// and every byte arrives intact after.
func TestOpenTCPBackpressure(t *testing.T) {
	const size = 64 << 20
	var written atomic.Int64
	source := sshtest.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		n, _ := io.Copy(c, io.TeeReader(io.LimitReader(sshtest.Data(5), size), countWriter{&written}))
		_ = n
	})
	st := startStack(t)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)
	mustJS[any](t, ctx, sha256JS)
	sh, sp := splitAddr(t, source)
	heap0 := mustJS[float64](t, ctx, `
		window.sock = s.openTCP(`+jsString(sh)+`, `+sp+`);
		const {readable} = await sock.opened;
		window.reader = readable.getReader();
		window.hash = new SHA256(); window.got = 0;
		const {value} = await reader.read();
		hash.update(value); got += value.length;
		return performance.memory.usedJSHeapSize;`)
	time.Sleep(5 * time.Second) // the reader stops; the exit would send all 64 MiB in far less
	stalled := written.Load()
	heap1 := mustJS[float64](t, ctx, `return performance.memory.usedJSHeapSize;`)
	t.Logf("after a 5 s stall the exit had written %d of %d bytes; page heap %.1f -> %.1f MB", stalled, size, heap0/1e6, heap1/1e6)
	if stalled >= size/2 {
		t.Errorf("the exit wrote %d of %d bytes while the page read nothing: no backpressure", stalled, size)
	}
	if heap1-heap0 > 32<<20 {
		t.Errorf("page heap grew %.1f MB while its reader was stopped", (heap1-heap0)/1e6)
	}
	type result struct {
		Sum  string
		N    int
		Heap float64
	}
	res := mustJS[result](t, ctx, `
		let peak = 0;
		for (;;) {
			const {value, done} = await reader.read();
			if (done) break;
			hash.update(value); got += value.length;
			peak = Math.max(peak, performance.memory.usedJSHeapSize);
		}
		await sock.close();
		return {sum: hash.hex(), n: got, heap: peak};`)
	if res.N != size || res.Sum != sshtest.DataSum(5, size) {
		t.Errorf("after the stall the page read %d bytes, SHA-256 %s; want %d, %s", res.N, res.Sum, size, sshtest.DataSum(5, size))
	}
	if res.Heap > 256<<20 {
		t.Errorf("page heap peaked at %.0f MB reading %d MiB", res.Heap/1e6, size>>20)
	}
	mustJS[any](t, ctx, `await s.close();`)
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// TestListenTCP: s.listenTCP through a real sshd's tcpip-forward, on a
// given port and on port 0: connections made to the gateway's entry reach
// the page, which answers them.
func TestListenTCP(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	mustJS[any](t, ctx, connectJS(st, ""))
	fixed := freePort(t)
	for _, spec := range []string{"-R 127.0.0.1:0", "-R 127.0.0.1:" + strconv.Itoa(fixed)} {
		port := mustJS[int](t, ctx, `
			window.server = s.listenTCP(`+jsString(spec)+`);
			const {readable, localAddress, localPort} = await server.opened;
			if (localAddress !== "127.0.0.1") throw new Error("localAddress " + localAddress);
			window.serving = (async () => {
				for await (const conn of readable) {
					(async () => {
						const {readable, writable, remoteAddress} = await conn.opened;
						const w = writable.getWriter(), r = readable.getReader();
						let line = "";
						while (!line.includes("\n")) { const {value, done} = await r.read(); if (done) break; line += new TextDecoder().decode(value); }
						await w.write(new TextEncoder().encode("page got " + line));
						await w.close();
					})();
				}
			})();
			return localPort;`)
		if strings.HasSuffix(spec, ":0") {
			if port == 0 {
				t.Fatalf("%s: localPort 0, want the allocated port", spec)
			}
		} else if port != fixed {
			t.Errorf("%s: localPort %d", spec, port)
		}
		entry := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for i := range 3 {
			c, err := net.DialTimeout("tcp", entry, 5*time.Second)
			if err != nil {
				t.Fatalf("dial the gateway's entry %s: %v", entry, err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprintf(c, "hi %d\n", i)
			reply, err := io.ReadAll(bufio.NewReader(c))
			c.Close()
			if want := fmt.Sprintf("page got hi %d\n", i); string(reply) != want {
				t.Errorf("%s: reply %q, %v; want %q", spec, reply, err, want)
			}
		}
		// Closing ends the stream of connections: the for-await loop returns.
		mustJS[any](t, ctx, `await server.close(); await server.closed; await serving;`)
		if !waitFor(10*time.Second, func() bool { return !connectable(entry) }) {
			t.Errorf("%s: gateway still listens on %s after server.close()", spec, entry)
		}
	}
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

func splitAddr(t *testing.T, a string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// appServer is a web app of the test's own on loopback, using what real
// internal apps use: absolute paths for a stylesheet, a script's fetch and
// an iframe, a POST form, a cookie set and read later, a large download and
// an upload, both hashed.
func appServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><title>Test app</title>
<link rel="stylesheet" href="/style.css"><script src="/app.js" defer></script></head>
<body><h1>Test app</h1><a id="rel" href="page2">relative</a> <a id="abs" href="/page2">absolute</a>
<form id="login" method="post" action="/login"><input name="user" value="alice"><button>Log in</button></form>
<iframe id="frame" src="/frame.html"></iframe></body></html>`)
	})
	mux.HandleFunc("/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, "body { color: rgb(1, 2, 3); }")
	})
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, `fetch("/api/data").then(r => r.text()).then(t => { document.body.dataset.fetched = t; });
const x = new XMLHttpRequest();
x.open("GET", "/api/data?via=xhr");
x.onload = () => { document.body.dataset.xhr = x.status + " " + x.responseText; };
x.send();`)
	})
	mux.HandleFunc("/api/data", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data from the exit") })
	mux.HandleFunc("/frame.html", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><p id="f">framed</p>`)
	})
	mux.HandleFunc("/page2", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><p id="p2">page two</p>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "user", Value: r.FormValue("user"), Path: "/"})
		http.Redirect(w, r, "http://"+r.Host+"/whoami", http.StatusSeeOther) // absolute Location
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("user")
		name := "nobody"
		if err == nil {
			name = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><p id="who">logged in as %s</p>`, name)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(sshtest.Data(11), n))
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%s %d", hex.EncodeToString(h.Sum(nil)), n)
	})
	mux.HandleFunc("POST /upload-form", func(w http.ResponseWriter, r *http.Request) {
		f, hdr, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		defer f.Close()
		h := sha256.New()
		n, _ := io.Copy(h, f)
		fmt.Fprintf(w, "%s %s %d %s", r.FormValue("note"), hdr.Filename, n, hex.EncodeToString(h.Sum(nil)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// openView makes window[name] = await s.view(target) in the session's tab
// and returns its url.
func openView(t *testing.T, ctx context.Context, name, target string) string {
	t.Helper()
	return mustJS[string](t, ctx, `window.`+name+` = await s.view(`+jsString(target)+`); return `+name+`.url;`)
}

// viewerTab opens url in a new tab and waits until cond (a JavaScript
// expression) holds there.
func viewerTab(t *testing.T, ctx context.Context, url, cond string) context.Context {
	t.Helper()
	tab, _ := newTab(t, ctx)
	logConsole(t, tab)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	waitJS(t, tab, cond)
	return tab
}

// waitJS polls the JavaScript expression cond in the tab until it is true.
func waitJS(t *testing.T, tab context.Context, cond string) {
	t.Helper()
	waitJSFor(t, tab, 20*time.Second, cond)
}

func waitJSFor(t *testing.T, tab context.Context, d time.Duration, cond string) {
	t.Helper()
	var last string
	if !waitFor(d, func() bool {
		v, err := evalJS[bool](tab, `try { return !!(`+cond+`); } catch (e) { return false; }`)
		if err != nil {
			last = err.Error()
		}
		return err == nil && v
	}) {
		page, _ := evalJS[string](tab, `return location.href + "\n" + (document.body ? document.body.innerText : "")`)
		t.Fatalf("waiting for %s: %s\npage: %s", cond, last, page)
	}
}

// TestViewApp views a web app of the test's own in a second tab: subresources
// and a fetch by absolute path, an iframe, links, a POST form with a cookie
// and an absolute redirect, a 256 MiB download and a 64 MiB upload.
func TestViewApp(t *testing.T) {
	app := appServer(t)
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	mustJS[any](t, ctx, connectJS(st, ""))
	url := openView(t, ctx, "v", app.URL+"/")
	if !strings.HasPrefix(url, st.Server.URL+"/view/") {
		t.Fatalf("v.url = %q, want it under %s/view/", url, st.Server.URL)
	}
	tab := viewerTab(t, ctx, url, `document.body.dataset.fetched === "data from the exit"`)
	waitJS(t, tab, `document.body.dataset.xhr === "200 data from the exit"`)
	type page struct {
		Color, Frame, FramePath, Path string
	}
	p := mustJS[page](t, tab, `
		const f = document.getElementById("frame");
		for (let i = 0; i < 100 && !(f.contentDocument && f.contentDocument.getElementById("f")); i++) await new Promise(r => setTimeout(r, 100));
		return {color: getComputedStyle(document.body).color, frame: f.contentDocument.getElementById("f").textContent,
			framePath: f.contentWindow.location.pathname, path: location.pathname};`)
	prefix := strings.TrimPrefix(url, st.Server.URL)
	if p.Color != "rgb(1, 2, 3)" || p.Frame != "framed" || p.FramePath != prefix+"frame.html" || p.Path != prefix {
		t.Errorf("viewed page: %+v; want the stylesheet's color, the iframe under %s", p, prefix)
	}
	for _, link := range []string{"rel", "abs"} {
		mustJS[any](t, tab, `document.getElementById(`+jsString(link)+`).click();`)
		waitJS(t, tab, `document.getElementById("p2") && location.pathname === `+jsString(prefix+"page2"))
		mustJS[any](t, tab, `history.back();`)
		waitJS(t, tab, `document.getElementById("login")`)
	}
	mustJS[any](t, tab, `document.querySelector("#login input").value = "bob"; document.getElementById("login").submit();`)
	waitJS(t, tab, `document.getElementById("who") && document.getElementById("who").textContent === "logged in as bob"`)
	if path := mustJS[string](t, tab, `return location.pathname;`); path != prefix+"whoami" {
		t.Errorf("after the login redirect the tab is at %s, want %swhoami", path, prefix)
	}
	// The cookie is the view's: not the page origin's, nor another view's.
	if c := mustJS[string](t, tab, `return document.cookie;`); strings.Contains(c, "user=") {
		t.Errorf("the exit's cookie reached the page origin: %q", c)
	}
	other := openView(t, ctx, "w", app.URL+"/whoami")
	viewerTab(t, ctx, other, `document.getElementById("who") && document.getElementById("who").textContent === "logged in as nobody"`)
	mustJS[any](t, ctx, `await w.close();`)

	const down, up = 256 << 20, 64 << 20
	mustJS[any](t, tab, sha256JS)
	type hashed struct {
		Sum string
		N   int
	}
	var dl hashed
	var dlErr error
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		dl, dlErr = evalJS[hashed](tab, `const r = await fetch("big?n=`+strconv.Itoa(down)+`"); return await readAllHashed(r.body);`)
	}()
	peak := 0.0
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(500 * time.Millisecond):
			peak = max(peak, mustJS[float64](t, ctx, `return performance.memory.usedJSHeapSize;`))
		}
	}
	t.Logf("view download of %d MiB: %.1f MB/s; session page heap peak %.1f MB", down>>20, float64(down)/time.Since(start).Seconds()/1e6, peak/1e6)
	if dlErr != nil || dl.N != down || dl.Sum != sshtest.DataSum(11, down) {
		t.Errorf("download through the view: %d bytes, %s, %v; want %d, %s", dl.N, dl.Sum, dlErr, down, sshtest.DataSum(11, down))
	}
	if peak > 256<<20 {
		t.Errorf("session page heap peaked at %.0f MB during the download", peak/1e6)
	}
	type upload struct{ Sent, Got string }
	u := mustJS[upload](t, tab, `
		const h = new SHA256(), parts = [];
		for (const c of fill(3, `+strconv.Itoa(up)+`)) { h.update(c); parts.push(c); }
		const blob = new Blob(parts); parts.length = 0;
		const r = await fetch("/upload", {method: "POST", body: blob});
		return {sent: h.hex() + " `+strconv.Itoa(up)+`", got: await r.text()};`)
	if u.Sent != u.Got {
		t.Errorf("upload through the view: exit hashed %q, page sent %q", u.Got, u.Sent)
	}
	// A multipart form with a file, as an upload form sends it.
	form := mustJS[string](t, tab, `
		const fd = new FormData();
		fd.append("note", "report");
		fd.append("file", new Blob(["0123456789"]), "digits.txt");
		return await (await fetch("/upload-form", {method: "POST", body: fd})).text();`)
	if want := "report digits.txt 10 " + hex.EncodeToString(sha256Sum([]byte("0123456789"))); form != want {
		t.Errorf("multipart upload through the view: %q, want %q", form, want)
	}
	mustJS[any](t, ctx, `await v.close();`)
	mustJS[any](t, tab, `location.reload();`)
	waitJS(t, tab, `document.querySelector("[data-view-error]")`)
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

// goFill is window.fill in Go: the same xorshift32 words, little-endian.
func goFill(seed uint32, n int) []byte {
	b := make([]byte, n)
	x := seed
	if x == 0 {
		x = 1
	}
	for off := 0; off < n; off += 65536 {
		end := min(off+65536, n)
		for i := off; i+4 <= end; i += 4 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i], b[i+1], b[i+2], b[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		}
	}
	return b
}

// curl fetches url with extra curl arguments and returns the body.
func curl(t *testing.T, url string, args ...string) ([]byte, http.Header) {
	t.Helper()
	bin := sshtest.RequireBinary(t, "curl")
	dir := t.TempDir()
	body, head := filepath.Join(dir, "body"), filepath.Join(dir, "head")
	cmd := exec.Command(bin, append([]string{"-sS", "--max-time", "60", "-o", body, "-D", head}, append(args, url)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, out)
	}
	b, _ := os.ReadFile(body)
	hb, _ := os.ReadFile(head)
	h := http.Header{}
	for _, line := range strings.Split(string(hb), "\r\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	h.Set("Status", strings.Fields(string(hb) + " x x")[1])
	return b, h
}

// TestShare: s.share serves files from the page on the gateway's entry
// socket; curl at the entry gets the index, a 64 MiB file (SHA-256), Range
// and HEAD right.
func TestShare(t *testing.T) {
	const size = 64 << 20
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	mustJS[any](t, ctx, connectJS(st, ""))
	type shared struct {
		Entry   string
		Port    int
		URL     string
		Command string
	}
	mustJS[any](t, ctx, sha256JS)
	sh := mustJS[shared](t, ctx, `
		const parts = [];
		for (const c of fill(21, `+strconv.Itoa(size)+`)) parts.push(c);
		window.share = await s.share("-R 127.0.0.1:0", {
			"hello.txt": new Blob(["hello from the page\n"], {type: "text/plain"}),
			"data.bin": new Blob(parts),
		});
		return {entry: share.entry, port: share.port, url: share.url, command: share.command};`)
	if sh.Port == 0 || !strings.HasSuffix(sh.Entry, ":"+strconv.Itoa(sh.Port)) || !strings.Contains(sh.Command, "-R ") || !strings.Contains(sh.Command, "http.server") {
		t.Errorf("share = %+v", sh)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(sh.Port)
	index, _ := curl(t, base+"/")
	if !strings.Contains(string(index), `href="/hello.txt"`) || !strings.Contains(string(index), `href="/data.bin"`) {
		t.Errorf("index:\n%s", index)
	}
	hello, h := curl(t, base+"/hello.txt")
	if string(hello) != "hello from the page\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("hello.txt: %q, Content-Type %q", hello, h.Get("Content-Type"))
	}
	want := goFill(21, size)
	data, _ := curl(t, base+"/data.bin")
	if sha256.Sum256(data) != sha256.Sum256(want) {
		t.Errorf("data.bin through curl: %d bytes, SHA-256 differs from the page's %d", len(data), size)
	}
	part, h := curl(t, base+"/data.bin", "-r", "1000000-1000099")
	if h.Get("Status") != "206" || string(part) != string(want[1000000:1000100]) || h.Get("Content-Range") != "bytes 1000000-1000099/"+strconv.Itoa(size) {
		t.Errorf("Range: status %s, Content-Range %q, %d bytes", h.Get("Status"), h.Get("Content-Range"), len(part))
	}
	tail, h := curl(t, base+"/data.bin", "-r", "-10")
	if h.Get("Status") != "206" || string(tail) != string(want[size-10:]) {
		t.Errorf("suffix Range: status %s, %d bytes", h.Get("Status"), len(tail))
	}
	_, h = curl(t, base+"/data.bin", "-I")
	if h.Get("Content-Length") != strconv.Itoa(size) || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %v", h)
	}
	mustJS[any](t, ctx, `await share.close();`)
	if !waitFor(10*time.Second, func() bool { return !connectable(sh.Entry) && !connectable("127.0.0.1:"+strconv.Itoa(sh.Port)) }) {
		t.Errorf("gateway still listens on %s after share.close()", sh.Entry)
	}
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

// startPython runs python3 with args (its port last) in dir until the test
// ends and returns "127.0.0.1:port" once it accepts connections.
func startPython(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := sshtest.RequireBinary(t, "python3")
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, append(args, strconv.Itoa(port))...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe() // pydoc's server stops at EOF on stdin
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start python3 %v: %v", args, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	if !waitFor(20*time.Second, func() bool { return connectable(addr) }) {
		t.Fatalf("python3 %v does not listen on %s", args, addr)
	}
	return addr
}

// TestViewRealServers views servers the project did not write, in two
// tabs at once: Python's http.server (its directory redirect has an
// absolute-path Location) and pydoc -p (pages, stylesheet, search form).
// When the page holding the session closes, the viewer tab says so.
func TestViewRealServers(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs", "a.txt"), []byte("file a through the view\n"), 0o644)
	files := startPython(t, dir, "-m", "http.server", "--bind", "127.0.0.1")
	pydoc := startPython(t, dir, "-m", "pydoc", "-n", "127.0.0.1", "-p")

	st := startStack(t)
	browser := newBrowser(t)
	session, closeSession := newTab(t, browser)
	connectPage(t, session, st)
	filesURL := openView(t, session, "v1", "http://"+files+"/")
	pydocURL := openView(t, session, "v2", "http://"+pydoc+"/")
	if filesURL == pydocURL {
		t.Fatalf("two views got one url %s", filesURL)
	}

	ft := viewerTab(t, browser, filesURL+"docs", `document.querySelector('a[href="a.txt"]')`)
	pt := viewerTab(t, browser, pydocURL, `document.title.startsWith("Pydoc")`)
	prefix := strings.TrimPrefix(filesURL, st.Server.URL)
	if p := mustJS[string](t, ft, `return location.pathname;`); p != prefix+"docs/" {
		t.Errorf("http.server's directory redirect led to %s, want %sdocs/", p, prefix)
	}
	// Both tabs at once.
	errs := make(chan error, 2)
	go func() {
		_, err := evalJS[any](ft, `document.querySelector('a[href="a.txt"]').click();`)
		errs <- err
	}()
	go func() {
		_, err := evalJS[any](pt, `
			const f = document.querySelector('form[action="search"]');
			f.querySelector("input[name=key]").value = "json";
			f.submit();`)
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, ft, `document.body.innerText.includes("file a through the view")`)
	// pydoc's search imports every module it finds: slow on a busy machine.
	waitJSFor(t, pt, 2*time.Minute, `document.title === "Pydoc: Search Results" && document.querySelector('a[href="json.html"]')`)
	// pydoc's relative stylesheet link, read by the page as CSS rules.
	waitJS(t, pt, `[...document.styleSheets].some(s => s.href && s.href.endsWith("pydoc_data/_pydoc.css") && s.cssRules.length > 0)`)
	mustJS[any](t, pt, `document.querySelector('a[href="json.html"]').click();`)
	waitJS(t, pt, `document.title.includes("json")`)
	saveScreenshots(t, pt, "view-pydoc")

	closeSession() // the user closes the tunnelkit page
	mustJS[any](t, ft, `location.reload();`)
	waitJS(t, ft, `document.querySelector("[data-view-error]") && document.body.innerText.includes("no longer open")`)
	saveScreenshots(t, ft, "view-page-closed")
}

// saveScreenshots saves name-desktop.png and name-phone.png of the tab.
func saveScreenshots(t *testing.T, tab context.Context, name string) {
	t.Helper()
	do(t, tab, "set the viewport", chromedp.EmulateViewport(1280, 900))
	screenshot(t, tab, name+"-desktop.png")
	do(t, tab, "set a phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	screenshot(t, tab, name+"-phone.png")
	do(t, tab, "set the viewport", chromedp.EmulateViewport(1280, 900))
}

// TestViewHTTPS: an https:// exit is shown only with its certificate
// pinned (or accepted explicitly); otherwise the tab names its fingerprint.
func TestViewHTTPS(t *testing.T) {
	app := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><p id="secure">over TLS</p>`)
	}))
	t.Cleanup(app.Close)
	fp := view.CertFingerprint(app.Certificate().Raw)
	st := startStack(t)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)
	untrusted := openView(t, ctx, "v0", app.URL+"/")
	pinned := mustJS[string](t, ctx, `window.v1 = await s.view(`+jsString(app.URL+"/")+`, {tls: {fingerprint: `+jsString(fp)+`}}); return v1.url;`)
	accepted := mustJS[string](t, ctx, `window.v2 = await s.view(`+jsString(app.URL+"/")+`, {tls: {insecure: true}}); return v2.url;`)
	viewerTab(t, ctx, untrusted, `document.querySelector("[data-view-error]") && document.body.innerText.includes(`+jsString(fp)+`)`)
	viewerTab(t, ctx, pinned, `document.getElementById("secure")`)
	viewerTab(t, ctx, accepted, `document.getElementById("secure")`)
	_, err := evalJS[any](ctx, `await s.view("https://127.0.0.1:1/", {tls: {fingerprint: "nonsense"}});`)
	if err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("a bad fingerprint: %v, want an error naming the fingerprint", err)
	}
}

// TestEndpointUI is what a person does with the page as an endpoint: talk
// to the pinger in the TCP console (text, hex, half-close), open a web app
// in a tab, use a -L forward's "Open in browser" and "Console", share a
// file on the gateway, and answer an incoming connection by hand.
func TestEndpointUI(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	app := appServer(t)
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	// The panels start folded behind their buttons, so that they leave the
	// forwards in view; each button opens its panel.
	do(t, ctx, "wait for the endpoint buttons", chromedp.WaitVisible(chromedp.CSS("[data-tool=console]")))
	if visible := mustJS[bool](t, ctx, `return [...document.querySelectorAll("[data-panel]")].some(p => !p.hidden);`); visible {
		t.Error("an endpoint panel is open before its button was pressed")
	}
	do(t, ctx, "open the console panel", chromedp.Click(chromedp.CSS("[data-tool=console]")), chromedp.WaitVisible(chromedp.CSS("[data-panel=console]")))

	// The console: hello to the pinger shows ACK hello.
	do(t, ctx, "open a console connection",
		chromedp.SendKeys(chromedp.CSS("[data-console-target]"), pinger),
		chromedp.Click(chromedp.CSS("[data-console-open]")),
		chromedp.WaitVisible(chromedp.CSS(`[data-console-state="open"]`)),
		chromedp.SendKeys(chromedp.CSS("[data-console-input]"), "hello\r"),
	)
	if cmd := text(t, ctx, "[data-console-command]"); cmd != fmt.Sprintf("ssh -W %s %s@%s -p %d", pinger, st.SSHD.PasswordUser, st.SSHD.Host(), st.SSHD.Port()) {
		t.Errorf("console command %q", cmd)
	}
	waitJS(t, ctx, `document.querySelector("[data-console-output]").textContent === "ACK hello\n"`)
	waitJS(t, ctx, `document.querySelector("[data-console-bytes]").textContent === "10 B in · 6 B out"`)
	do(t, ctx, "switch to the hex view", chromedp.Click(chromedp.CSS("[data-console-hex]")))
	if out := text(t, ctx, "[data-console-output]"); !strings.Contains(out, "41 43 4b 20 68 65 6c 6c 6f 0a") || !strings.Contains(out, "ACK hello.") {
		t.Errorf("hex view: %q", out)
	}
	saveScreenshots(t, ctx, "ui-console")
	do(t, ctx, "half-close", chromedp.Click(chromedp.CSS("[data-console-halfclose]")))
	waitJS(t, ctx, `document.querySelector("[data-console-state]").dataset.consoleState === "closed"`)

	// "Open a web app": the view's link opens the app in a tab.
	mustJS[any](t, ctx, `window.realOpen = window.open; window.open = () => null;`) // the test opens this tab itself
	do(t, ctx, "open a web app",
		chromedp.Click(chromedp.CSS("[data-tool=viewer]")),
		chromedp.WaitVisible(chromedp.CSS("[data-panel=viewer]")),
		chromedp.SendKeys(chromedp.CSS("[data-viewer-url]"), app.URL+"/"),
		chromedp.Click(chromedp.CSS("[data-viewer-open]")),
		chromedp.WaitVisible(chromedp.CSS("[data-viewer-link]")),
	)
	if cmd := text(t, ctx, "[data-viewer-command]"); !strings.HasPrefix(cmd, "ssh -L 8080:127.0.0.1:"+app.URL[strings.LastIndexByte(app.URL, ':')+1:]) || !strings.HasSuffix(cmd, "then open http://localhost:8080/") {
		t.Errorf("viewer command %q", cmd)
	}
	link := mustJS[string](t, ctx, `return document.querySelector("[data-viewer-link]").href;`)
	viewerTab(t, ctx, link, `document.body.dataset.fetched === "data from the exit"`)

	// A -L forward gets "Open in browser" and "Console" for its exit.
	addForwardViaUI(t, ctx, st, "127.0.0.1:0:"+app.URL[len("http://"):],
		fmt.Sprintf("ssh -N -L 127.0.0.1:0:%s -p %d %s@%s", app.URL[len("http://"):], st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host()))
	// This one opens its own tab, which must have no handle on this page:
	// the viewed app runs on the page's origin.
	mustJS[any](t, ctx, `window.open = window.realOpen;`)
	opened := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return info.Type == "page" })
	do(t, ctx, "open the forward's exit in the browser",
		chromedp.Click(chromedp.CSS("#forwards li [data-open-in-browser]")),
	)
	var tid target.ID
	select {
	case tid = <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("Open in browser opened no tab")
	}
	popup, cancelPopup := chromedp.NewContext(ctx, chromedp.WithTargetID(tid))
	defer cancelPopup()
	if err := chromedp.Do(popup); err != nil { // attach without a deadline, or its end closes the tab
		t.Fatalf("attach to the view's tab: %v", err)
	}
	waitJS(t, popup, `document.body.dataset.fetched === "data from the exit"`)
	if hasOpener := mustJS[bool](t, popup, `return window.opener !== null;`); hasOpener {
		t.Errorf("the view's tab has window.opener: the viewed app could reach the tunnelkit page")
	}
	// The forward's "Console" opens a connection to its exit in the console.
	do(t, ctx, "open a console to the forward's exit", chromedp.Click(chromedp.CSS("#forwards li [data-open-console]")))
	if hidden := mustJS[bool](t, ctx, `return document.querySelector("[data-panel=console]").hidden;`); hidden {
		t.Error("the forward's Console button did not show the console panel")
	}
	appExit := app.URL[len("http://"):]
	waitJS(t, ctx, `(() => { const c = document.querySelector("[data-console-conn]");
		return c.querySelector(".console-label").textContent === `+jsString(appExit)+` && c.querySelector("[data-console-state]").dataset.consoleState === "open"; })()`)
	do(t, ctx, "send a request line", chromedp.SendKeys(chromedp.CSS("[data-console-conn] [data-console-input]"), "GET /api/data HTTP/1.0\r\r"))
	waitJS(t, ctx, `document.querySelector("[data-console-conn] [data-console-output]").textContent.endsWith("data from the exit")`)

	// Share a file on the gateway, fetched with curl at the entry.
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("shared from the page\n"), 0o644)
	do(t, ctx, "open the share panel", chromedp.Click(chromedp.CSS("[data-tool=share]")), chromedp.WaitVisible(chromedp.CSS("[data-panel=share]")))
	mustJS[any](t, ctx, `document.querySelector("[data-share-entry]").value = "-R 127.0.0.1:0"; document.querySelector("[data-share-entry]").dispatchEvent(new Event("input"));`)
	do(t, ctx, "share a file",
		chromedp.SetUploadFiles(chromedp.CSS("[data-share-files]"), []string{notes}),
		chromedp.WaitVisible(chromedp.CSS("[data-share-address]")),
	)
	shared := text(t, ctx, "[data-share-address]")
	_, port := splitAddr(t, shared)
	if body, _ := curl(t, "http://127.0.0.1:"+port+"/notes.txt"); string(body) != "shared from the page\n" {
		t.Errorf("shared notes.txt: %q", body)
	}

	// Take connections: a connection to the gateway's entry is answered by hand.
	do(t, ctx, "take connections",
		chromedp.Click(chromedp.CSS("[data-share-listen]")),
		chromedp.WaitVisible(chromedp.CSS("[data-incoming-address]")),
	)
	_, inPort := splitAddr(t, text(t, ctx, "[data-incoming-address]"))
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+inPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "is anyone there?\n")
	waitJS(t, ctx, `[...document.querySelectorAll("[data-incoming] [data-console-output]")].some(o => o.textContent === "is anyone there?\n")`)
	do(t, ctx, "answer the incoming connection",
		chromedp.SendKeys(chromedp.CSS("[data-incoming] [data-console-input]"), "yes, the page\r"),
	)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "yes, the page\n" {
		t.Errorf("the page answered %q, %v", line, err)
	}

	// Files dropped on a -R forward are shared on a port the gateway picks.
	addForwardViaUIKind(t, ctx, "R", "127.0.0.1:0:127.0.0.1:9")
	waitJS(t, ctx, `document.querySelector("#forwards li[data-kind=R] [data-drop-hint]")`)
	mustJS[any](t, ctx, `
		const dt = new DataTransfer();
		dt.items.add(new File(["dropped on the forward\n"], "dropped.txt", {type: "text/plain"}));
		document.querySelector("#forwards li[data-kind=R]").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));`)
	waitJS(t, ctx, `[...document.querySelectorAll("[data-share-item]")].some(i => i.textContent.includes("dropped.txt"))`)
	dropped := mustJS[string](t, ctx, `return [...document.querySelectorAll("[data-share-item]")].find(i => i.textContent.includes("dropped.txt")).querySelector("[data-share-address]").textContent;`)
	_, dport := splitAddr(t, dropped)
	if body, _ := curl(t, "http://127.0.0.1:"+dport+"/dropped.txt"); string(body) != "dropped on the forward\n" {
		t.Errorf("file dropped on the -R forward: %q at %s", body, dropped)
	}
	saveScreenshots(t, ctx, "ui-endpoint")
}

// addForwardViaUIKind adds a forward of kind ("L" or "R") through the
// forward editor and waits for it in the list.
func addForwardViaUIKind(t *testing.T, ctx context.Context, kind, spec string) {
	t.Helper()
	n := mustJS[int](t, ctx, `return document.querySelectorAll("#forwards li").length;`)
	do(t, ctx, "add a -"+kind+" forward",
		chromedp.Click(chromedp.CSS("label[for=kind-"+kind+"]")),
		chromedp.SendKeys(chromedp.CSS("#spec"), spec),
		chromedp.Click(chromedp.CSS("#forward-btn")),
	)
	waitJS(t, ctx, `document.querySelectorAll("#forwards li").length > `+strconv.Itoa(n))
}

// TestViewPageClosedMidDownload: a download through a view whose page is
// closed halfway fails in the viewer tab instead of hanging.
func TestViewPageClosedMidDownload(t *testing.T) {
	app := appServer(t)
	st := startStack(t)
	browser := newBrowser(t)
	session, closeSession := newTab(t, browser)
	connectPage(t, session, st)
	url := openView(t, session, "v", app.URL+"/")
	tab := viewerTab(t, browser, url, `document.body.dataset.fetched === "data from the exit"`)
	got := mustJS[int](t, tab, `
		const r = await fetch("big?n=`+strconv.Itoa(1<<30)+`");
		window.reader = r.body.getReader();
		let n = 0;
		while (n < (4 << 20)) { const {value, done} = await reader.read(); if (done) break; n += value.length; }
		return n;`)
	if got < 4<<20 {
		t.Fatalf("read %d bytes before closing the page", got)
	}
	closeSession()
	msg := mustJS[string](t, tab, `
		try { for (;;) { const {done} = await reader.read(); if (done) return "the download ended as if complete"; } }
		catch (e) { return "failed: " + e.message; }`)
	if !strings.HasPrefix(msg, "failed") {
		t.Errorf("after the page closed mid-download: %s", msg)
	}
	t.Logf("viewer tab after its page closed mid-download: %s", msg)
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
