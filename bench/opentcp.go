package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// openTCPFigure: 64-byte round trips through a socket the page opens itself
// (s.openTCP(host, port), a Direct Sockets shaped socket whose entry is in
// the page), to the echo server through the gateway. Timed in the page, so
// the figure has the page clock's 100 µs steps; its peer is OpenSSH -L.
// A build without s.openTCP reports n/a.
func openTCPFigure(ctx context.Context, e *Env) []Figure {
	const name, label = "browser-opentcp-rtt", "browser openTCP 64-byte RTT p50"
	b, err := e.browser(ctx)
	if err != nil {
		return []Figure{figureNA(name, label, "µs", err)}
	}
	rctx, cancel := context.WithTimeout(b.ctx, e.Mode.RunTimeout)
	defer cancel()
	host, port, _ := strings.Cut(e.Echo.Addr(), ":")
	rounds := e.Mode.RTTRounds
	ms, err := chromedp.Run(rctx, chromedp.Evaluate[[]float64](`(async () => {
		const s = window.benchSession;
		if (typeof s.openTCP !== "function") return null;
		let sock = await s.openTCP(`+jsString(host)+`, `+port+`);
		const { readable, writable } = sock.opened ? await sock.opened : sock;
		const w = writable.getWriter(), r = readable.getReader();
		const msg = new Uint8Array(64).fill(7), out = [];
		for (let i = 0; i < `+fmt.Sprint(rounds)+` + 20; i++) {
			const t0 = performance.now();
			await w.write(msg);
			for (let got = 0; got < 64; ) {
				const { value, done } = await r.read();
				if (done) throw new Error("the echo server closed after " + got + " bytes");
				got += value.byteLength;
			}
			if (i >= 20) out.push((performance.now() - t0) * 1000);
		}
		await w.close().catch(() => {});
		if (sock.close) await sock.close();
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return []Figure{figureNA(name, label, "µs", fmt.Errorf("s.openTCP round trips: %w", err))}
	}
	if ms == nil {
		return []Figure{figureNA(name, label, "µs", na("this build has no s.openTCP"))}
	}
	times := make([]time.Duration, len(ms))
	for i, us := range ms {
		times[i] = time.Duration(us * 1e3)
	}
	return []Figure{{Name: name, Label: label, Unit: "µs", Values: []float64{quantile(times, 0.5)}, Status: statusOK,
		Note: fmt.Sprintf("%d round trips, timed in the page (100 µs clock steps)", len(ms))}}
}
