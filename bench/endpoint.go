package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// endpointFigures: the page as an endpoint against a browser -L through the
// relay host's entry, in the same browser and run. Downloads: s.openTCP
// (the page reads from the exit itself) and s.view (an HTTP download in a
// viewer tab, through sw.js and Go's net/http) against the same source
// through -L; the 64-byte round trip of s.openTCP against -L's.
func endpointFigures(ctx context.Context, e *Env) []Figure {
	const (
		lDown, lDownLabel     = "endpoint-L-down", "browser -L download, Go at the relay host's entry"
		tcpDown, tcpDownLabel = "endpoint-openTCP-down", "s.openTCP download, read in the page"
		viewDown, viewLabel   = "endpoint-view-down", "s.view download, read in a viewer tab"
		lRTT, lRTTLabel       = "endpoint-L-rtt", "browser -L 64-byte RTT p50"
		tcpRTT, tcpRTTLabel   = "endpoint-openTCP-rtt", "s.openTCP 64-byte RTT p50, in the page"
	)
	fail := func(err error) []Figure {
		return []Figure{figureNA(lDown, lDownLabel, "MB/s", err), figureNA(tcpDown, tcpDownLabel, "MB/s", err),
			figureNA(viewDown, viewLabel, "MB/s", err), figureNA(lRTT, lRTTLabel, "µs", err), figureNA(tcpRTT, tcpRTTLabel, "µs", err)}
	}
	b, err := e.browser(ctx)
	if err != nil {
		return fail(err)
	}
	web, err := startPatternServer()
	if err != nil {
		return fail(err)
	}
	defer web.Close()
	m, err := b.endpointSetup(ctx, e, web.Addr().String())
	if err != nil {
		return fail(err)
	}
	defer m.close()
	n := e.Mode.BrowserBytes
	var ld, td, vd, lr, tr []float64
	for run := range e.Mode.Runs {
		v, _, err := measureThroughput(ctx, e, &Path{DialSource: tcpDialer(m.srcEntry)}, n)
		if err != nil {
			return fail(fmt.Errorf("run %d, -L download: %w", run+1, err))
		}
		ld = append(ld, v)
		if v, err = b.pageMBps(ctx, b.ctx, `const sock = benchSession.openTCP(`+jsQuote(e.Src.Addr())+`.split(":")[0], +`+jsQuote(e.Src.Addr())+`.split(":")[1]);
			const {readable, writable} = await sock.opened;
			const w = writable.getWriter(), hdr = new DataView(new ArrayBuffer(8));
			hdr.setBigUint64(0, BigInt(N));
			const t0 = performance.now();
			await w.write(new Uint8Array(hdr.buffer));
			const n = await count(readable.getReader(), N);
			const mbps = n / (performance.now() - t0) / 1000;
			await sock.close();
			return n === N ? mbps : -n;`, n); err != nil {
			return fail(fmt.Errorf("run %d, openTCP download: %w", run+1, err))
		}
		td = append(td, v)
		if v, err = b.pageMBps(ctx, m.viewer, `const t0 = performance.now();
			const r = await fetch("big?n=" + N);
			const n = await count(r.body.getReader(), N);
			return n === N ? n / (performance.now() - t0) / 1000 : -n;`, n); err != nil {
			return fail(fmt.Errorf("run %d, view download: %w", run+1, err))
		}
		vd = append(vd, v)
		p50, _, err := measureRTT(ctx, e, &Path{DialEcho: tcpDialer(m.echoEntry)}, e.Mode.RTTRounds)
		if err != nil {
			return fail(fmt.Errorf("run %d, -L RTT: %w", run+1, err))
		}
		lr = append(lr, p50)
		if p50, err = b.openTCPRTT(ctx, e.Echo.Addr(), e.Mode.RTTRounds); err != nil {
			return fail(fmt.Errorf("run %d, openTCP RTT: %w", run+1, err))
		}
		tr = append(tr, p50)
	}
	note := sizeLabel(n) + " per run; in-page figures count bytes (the -L one checks them)"
	return []Figure{
		{Name: lDown, Label: lDownLabel, Unit: "MB/s", Values: ld, Status: statusOK, Note: note},
		{Name: tcpDown, Label: tcpDownLabel, Unit: "MB/s", Values: td, Status: statusOK, Peer: lDown, Note: note},
		{Name: viewDown, Label: viewLabel, Unit: "MB/s", Values: vd, Status: statusOK, Peer: lDown, Note: note},
		{Name: lRTT, Label: lRTTLabel, Unit: "µs", Values: lr, Status: statusOK},
		{Name: tcpRTT, Label: tcpRTTLabel, Unit: "µs", Values: tr, Status: statusOK, Peer: lRTT},
	}
}

// endpointRun is what endpointFigures set up in the page.
type endpointRun struct {
	srcEntry, echoEntry string          // -L entries on the relay host
	viewer              context.Context // the viewer tab, at the view of the pattern server
	close               func()
}

func (b *Browser) endpointSetup(ctx context.Context, e *Env, web string) (*endpointRun, error) {
	m := &endpointRun{close: func() {}}
	var err error
	if m.srcEntry, err = b.forward(ctx, "-L 127.0.0.1:0:"+e.Src.Addr()); err == nil {
		m.echoEntry, err = b.forward(ctx, "-L 127.0.0.1:0:"+e.Echo.Addr())
	}
	if err == nil {
		m.srcEntry, err = entryAddr(m.srcEntry)
	}
	if err == nil {
		m.echoEntry, err = entryAddr(m.echoEntry)
	}
	if err != nil {
		return nil, err
	}
	url, err := b.eval(ctx, b.ctx, `window.benchView = await benchSession.view("http://`+web+`/"); return benchView.url;`)
	if err != nil {
		return nil, fmt.Errorf("s.view in the page: %w", err)
	}
	tab, cancel := chromedp.NewContext(b.ctx)
	m.viewer = tab
	m.close = func() {
		cancel()
		b.eval(context.Background(), b.ctx, `await benchView.close();
			for (const f of window.benchForwards || []) await f.close();
			window.benchForwards = [];`)
	}
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.Disable, cdp.Empty{})
		return err
	})); err != nil {
		m.close()
		return nil, fmt.Errorf("opening the viewer tab: %w", err)
	}
	lctx, lcancel := context.WithTimeout(tab, 30*time.Second)
	defer lcancel()
	var u string
	json.Unmarshal([]byte(url), &u)
	if err := chromedp.Do(lctx, chromedp.Navigate(u)); err != nil {
		m.close()
		return nil, fmt.Errorf("opening the view %s: %w", u, err)
	}
	return m, nil
}

// countJS defines count(reader, max): bytes read until the stream ends.
const countJS = `const count = async (r, max) => { let n = 0; for (;;) { const {value, done} = await r.read(); if (done) return n; n += value.length; } };`

// pageMBps runs body (which sees N and count) in tab and returns its number.
func (b *Browser) pageMBps(ctx context.Context, tab context.Context, body string, n int64) (float64, error) {
	out, err := b.eval(ctx, tab, countJS+`const N = `+strconv.FormatInt(n, 10)+`; `+body)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(out, 64)
	if err != nil {
		return 0, fmt.Errorf("page returned %q", out)
	}
	if v < 0 {
		return 0, fmt.Errorf("the page read %.0f of %d bytes", -v, n)
	}
	return v, nil
}

// openTCPRTT times rounds 64-byte round trips to the echo server from the page; p50 in µs.
func (b *Browser) openTCPRTT(ctx context.Context, echo string, rounds int) (float64, error) {
	host, port, _ := net.SplitHostPort(echo)
	out, err := b.eval(ctx, b.ctx, `const sock = benchSession.openTCP(`+jsQuote(host)+`, `+port+`);
		const {readable, writable} = await sock.opened;
		const w = writable.getWriter(), r = readable.getReader(), msg = new Uint8Array(64), rtts = [];
		for (let i = 0; i < `+strconv.Itoa(rounds)+`; i++) {
			const t0 = performance.now();
			await w.write(msg);
			for (let got = 0; got < 64;) { const {value, done} = await r.read(); if (done) throw new Error("echo ended"); got += value.length; }
			rtts.push(performance.now() - t0);
		}
		await sock.close();
		rtts.sort((a, b) => a - b);
		return rtts[rtts.length >> 1] * 1000;`)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(out, 64)
}

// eval runs body, the body of an async function, in tab and returns its
// result as JSON text.
func (b *Browser) eval(ctx context.Context, tab context.Context, body string) (string, error) {
	ctx, cancel := context.WithTimeout(tab, 5*time.Minute)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => { const v = await (async () => {`+body+`
	})(); return JSON.stringify(v); })()`, chromedp.EvalAwaitPromise))
}

func jsQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// startPatternServer serves GET /big?n=N: N bytes of the pattern, the
// view's exit.
func startPatternServer() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pattern server: %w", err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		sendPattern(w, n, 64<<10)
	}))
	return l, nil
}
