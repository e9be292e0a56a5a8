package main

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// pageLoadFigures: how long a person waits from opening the page to
// tunnelkit.ready and to an authenticated SSH session, each sample in a fresh
// tab with the HTTP cache off, so the page and the .wasm come over the wire.
func pageLoadFigures(ctx context.Context, e *Env) []Figure {
	const readyName, readyLabel = "page-ready", "page load to tunnelkit.ready"
	const connName, connLabel = "page-connected", "page load to connected session"
	fail := func(err error) []Figure {
		return []Figure{figureNA(readyName, readyLabel, "ms", err), figureNA(connName, connLabel, "ms", err)}
	}
	b, err := e.browser(ctx)
	if err != nil {
		return fail(err)
	}
	var ready, connected []float64
	for i := range e.Mode.PageLoads {
		r, c, _, err := b.pageLoad(ctx, false)
		if err != nil {
			return fail(fmt.Errorf("page load %d: %w", i+1, err))
		}
		ready, connected = append(ready, r), append(connected, c)
	}
	note := fmt.Sprintf("%d fresh tab(s), cache off, key auth via the relay", len(connected))
	return []Figure{
		{Name: readyName, Label: readyLabel, Unit: "ms", Values: ready, Status: statusOK, Note: note},
		{Name: connName, Label: connLabel, Unit: "ms", Values: connected, Status: statusOK, Note: note},
	}
}

// pageLoad opens the page in a new tab and returns performance.now() (ms
// since navigation start) when tunnelkit.ready resolved and when
// tunnelkit.connect resolved. The timing runs in the page, from a script
// installed before navigation, so DevTools round trips do not count. With
// profile, the DevTools profiler samples the tab from before navigation.
func (b *Browser) pageLoad(ctx context.Context, profile bool) (ready, connected float64, prof *profiler.Profile, err error) {
	lctx, lcancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer lcancel()
	tctx, tcancel := chromedp.NewContext(lctx) // a new tab in the same browser; closed on return
	defer tcancel()
	// Deferred scripts (the loader among them) have run by DOMContentLoaded.
	script := `window.benchLoad = new Promise((resolve, reject) => addEventListener("DOMContentLoaded", async () => {
		try {
			await tunnelkit.ready;
			const ready = performance.now();
			const s = await tunnelkit.connect(` + b.opts + `);
			const connected = performance.now();
			await s.close();
			resolve([ready, connected]);
		} catch (e) { reject(e); }
	}));`
	err = chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
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
	var t []float64
	if err == nil {
		t, err = chromedp.Run(tctx, chromedp.Evaluate[[]float64](`window.benchLoad`, chromedp.EvalAwaitPromise))
	}
	if err == nil && profile {
		res, serr := chromedp.Call(tctx, profiler.Stop, cdp.Empty{})
		if err = serr; err == nil {
			prof = res.Profile
		}
	}
	if err != nil {
		return 0, 0, nil, fmt.Errorf("loading the page and connecting in a new tab: %w", err)
	}
	if len(t) != 2 {
		return 0, 0, nil, fmt.Errorf("page returned %v, want [ready, connected]", t)
	}
	return t[0], t[1], prof, nil
}
