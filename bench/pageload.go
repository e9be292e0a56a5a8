package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// pageLoadFigures: how long a person waits from opening the page to
// tunnelkit.ready and to an authenticated SSH session, cold (each sample in a
// fresh tab with the HTTP cache off, so the page and the .wasm come over the
// wire) and warm (a second visit: fresh tab, HTTP cache on and primed), each
// with its parts.
func pageLoadFigures(ctx context.Context, e *Env) []Figure {
	b, err := e.browser(ctx)
	if err != nil {
		err = fmt.Errorf("no browser: %w", err)
	}
	var figs []Figure
	for _, warm := range []bool{false, true} {
		figs = append(figs, pageLoadSeries(ctx, e, b, err, warm)...)
	}
	return figs
}

// loadParts are the times of one page load, in ms from navigation start.
type loadParts struct {
	Fetched   float64 // the .wasm's responseEnd (resource timing)
	Compiled  float64 // loader.js's tunnelkit:compiled mark
	Ready     float64 // tunnelkit.ready resolved
	WSOpen    float64 // the SSH connection's WebSocket to the relay opened
	HostKey   float64 // onHostKey called: key exchange done
	Connected float64 // tunnelkit.connect resolved: authenticated
	Start     float64 // tunnelkit.connect called
	Transfer  float64 // the .wasm's transferSize: 0 when it came from the cache
	Asked     float64 // the .wasm's fetch started
	Answered  float64 // its first byte
}

func pageLoadSeries(ctx context.Context, e *Env, b *Browser, berr error, warm bool) []Figure {
	suffix, how := "", "cold: fresh tab, cache off"
	if warm {
		suffix, how = "-warm", "warm: second visit, fresh tab, HTTP cache on"
	}
	names := []struct{ name, label string }{
		{"page-ready" + suffix, "page load to tunnelkit.ready (" + how + ")"},
		{"page-connected" + suffix, "page load to connected session (" + how + ")"},
		{"page-asked" + suffix, "  page parsed, loader asks for the .wasm"},
		{"page-fetch" + suffix, "  then .wasm fetched (compiling as it streams)"},
		{"page-compile" + suffix, "  then compiled and instantiated"},
		{"page-gostart" + suffix, "  then Go started (tunnelkit.ready)"},
		{"page-wsopen" + suffix, "  connect: WebSocket to the relay open"},
		{"page-handshake" + suffix, "  then SSH key exchange"},
		{"page-auth" + suffix, "  then authenticated"},
	}
	fail := func(err error) []Figure {
		var out []Figure
		for _, n := range names {
			out = append(out, figureNA(n.name, n.label, "ms", err))
		}
		return out
	}
	if berr != nil {
		return fail(berr)
	}
	if warm {
		// Prime the HTTP cache and V8's code cache. V8 writes compiled code to
		// the cache a while (2 s) after the first functions tier up: the
		// priming tab stays open past that.
		for i := range 2 {
			if _, _, err := b.pageLoad(ctx, false, true, 3*time.Second); err != nil {
				return fail(fmt.Errorf("priming load %d: %w", i+1, err))
			}
		}
	}
	vals := make([][]float64, len(names))
	var transfer float64
	for i := range e.Mode.PageLoads {
		p, _, err := b.pageLoad(ctx, false, warm, 0)
		if err != nil {
			return fail(fmt.Errorf("page load %d: %w", i+1, err))
		}
		transfer = p.Transfer
		for j, v := range []float64{p.Ready, p.Connected, p.Asked, p.Fetched - p.Asked, p.Compiled - p.Fetched, p.Ready - p.Compiled,
			p.WSOpen - p.Start, p.HostKey - p.WSOpen, p.Connected - p.HostKey} {
			vals[j] = append(vals[j], v)
		}
	}
	note := fmt.Sprintf("%d load(s), key auth via the relay, .wasm over the wire %.0f KB", e.Mode.PageLoads, transfer/1e3)
	var out []Figure
	for j, n := range names {
		out = append(out, Figure{Name: n.name, Label: n.label, Unit: "ms", Values: vals[j], Status: statusOK, Note: note})
		note = ""
	}
	return out
}

// pageScript runs in every new document of a page-load tab, before the
// page's own scripts: it times the relay WebSocket (Go keeps the WebSocket
// constructor it finds at start, so it gets this one) and, after
// DOMContentLoaded (by then the deferred loader has run), connects.
const pageScript = `(() => {
	const W = window.WebSocket, ws = window.benchWS = [];
	window.WebSocket = class extends W {
		constructor(u, p) { super(u, p); const r = { t0: performance.now() }; ws.push(r); this.addEventListener("open", () => { r.t1 = performance.now(); }); }
	};
	window.benchLoad = new Promise((resolve, reject) => addEventListener("DOMContentLoaded", async () => {
		try {
			await tunnelkit.ready;
			const ready = performance.now();
			const o = BENCH_OPTS, fp = o.hostKey;
			let hostKey = 0;
			delete o.hostKey;
			o.onHostKey = async (f) => { hostKey = performance.now(); return f === fp; };
			const start = performance.now();
			const s = await tunnelkit.connect(o);
			const connected = performance.now();
			await s.close();
			const res = performance.getEntriesByType("resource").find((r) => /\.wasm(\?|$)/.test(r.name));
			const mark = performance.getEntriesByName("tunnelkit:compiled")[0];
			const open = ws.find((r) => r.t0 >= start);
			resolve({ Fetched: res ? res.responseEnd : 0, Compiled: mark ? mark.startTime : (res ? res.responseEnd : 0),
				Ready: ready, Start: start, WSOpen: open && open.t1 ? open.t1 : start, HostKey: hostKey || connected, Connected: connected, Transfer: res ? res.transferSize : -1,
				Asked: res ? res.startTime : 0, Answered: res ? res.responseStart : 0 });
		} catch (e) { reject(e); }
	}));
})()`

// pageLoad opens the page in a new tab and returns when, in ms since
// navigation start, each part of the load was done. The timing runs in the
// page, from a script installed before navigation, so DevTools round trips
// do not count. With cache false the tab's HTTP cache is off; with profile,
// the DevTools profiler samples the tab from before navigation. The tab
// stays open for linger after the load.
func (b *Browser) pageLoad(ctx context.Context, profile, cache bool, linger time.Duration) (parts loadParts, prof *profiler.Profile, err error) {
	lctx, lcancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer lcancel()
	tctx, tcancel := chromedp.NewContext(lctx) // a new tab in the same browser; closed on return
	defer tcancel()
	script := replaceOnce(pageScript, "BENCH_OPTS", b.opts)
	err = chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: !cache}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	}))
	if err == nil && profile {
		err = startProfiler(tctx)
	}
	if err == nil {
		err = chromedp.Do(tctx, chromedp.Navigate("http://"+b.relay.Addr+"/"))
	}
	if err == nil {
		parts, err = chromedp.Run(tctx, chromedp.Evaluate[loadParts](`window.benchLoad`, chromedp.EvalAwaitPromise))
	}
	if err == nil && profile {
		res, serr := chromedp.Call(tctx, profiler.Stop, cdp.Empty{})
		if err = serr; err == nil {
			prof = res.Profile
		}
	}
	if err != nil {
		return parts, nil, fmt.Errorf("loading the page and connecting in a new tab: %w", err)
	}
	if parts.Connected == 0 {
		return parts, nil, fmt.Errorf("page returned %+v, want the times of its load", parts)
	}
	select {
	case <-time.After(linger):
	case <-ctx.Done():
	}
	return parts, prof, nil
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
