package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// traceFigures follow 64-byte round trips through a browser -L forward hop
// by hop, to show where one waits. The page timestamps, with
// performance.now(), every WebSocket message as its event handler starts
// (Go's wake-up) and ends (Go has run every goroutine it woke and is idle
// again) and every send; a round trip through the page is then:
//
//	bench -> relay -> [in: entry stream] Go [send: SSH stream] -> relay -> sshd -> echo
//	echo -> sshd -> relay -> [in: SSH stream] Go [send: entry stream] -> relay -> bench
//
// "page in" and "page out" are the Go time between a message and the send it
// causes; "gateway" is from the SSH packet's send to the answer's message
// (relay, sshd, echo server and Chromium's network process both ways); the
// rest of the bench's round trip is the entry legs (bench to relay to
// Chromium and back). A JavaScript-only ping through the relay to the echo
// server, interleaved, is the floor of one WebSocket round trip from the
// page. Timers in a page that is not cross-origin isolated tick in 100 µs
// steps with jitter, so these are means of the middle 80% of many round
// trips.
func traceFigures(ctx context.Context, e *Env) []Figure {
	const name, label = "browser-rtt-trace", "browser -L round trip, where it waits"
	b, err := e.browser(ctx)
	if err != nil {
		return []Figure{figureNA(name, label, "µs", err)}
	}
	t, err := b.traceRTT(ctx, e, min(e.Mode.RTTRounds, 500))
	if err != nil {
		return []Figure{figureNA(name, label, "µs", err)}
	}
	fig := func(n, l string, v float64, note string) Figure {
		return Figure{Name: n, Label: l, Unit: "µs", Values: []float64{v}, Status: statusOK, Note: note}
	}
	return []Figure{
		fig("trace-total", "traced browser -L RTT (trimmed mean)", t.total, fmt.Sprintf("%d round trips, p50 %.0f µs", t.n, t.p50)),
		fig("trace-page-in", "  page: entry message to SSH send (Go)", t.pageIn, "handler start to ws.send"),
		fig("trace-page-out", "  page: SSH message to entry send (Go)", t.pageOut, "handler start to ws.send"),
		fig("trace-handler", "  page: message handler, start to idle", t.handler, "Go resumed until all goroutines block"),
		fig("trace-gateway", "  SSH send to SSH answer", t.gateway, "relay, sshd, echo, Chromium's network process"),
		fig("trace-entry", "  entry legs (bench-relay-page, both ways)", t.total-t.pageIn-t.pageOut-t.gateway, "the rest"),
		fig("trace-js-ping", "JS-only WebSocket ping page-relay-echo", t.jsPing, "the floor of one WebSocket round trip from the page"),
	}
}

type rttTrace struct {
	n                                             int
	total, p50, pageIn, pageOut, handler, gateway float64
	jsPing                                        float64
}

// traceHooks wrap WebSocket.prototype's onmessage setter and send, so the
// sockets Go opens from now on are timed. Go keeps the WebSocket constructor
// it found at start, but sets handlers and calls send through the prototype.
const traceHooks = `(() => {
	if (window.benchTrace) return true;
	const T = window.benchTrace = { on: false, ev: [] };
	const kind = (ws) => ws.url.includes("/v1/dial") ? "ssh" : "entry";
	const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
	Object.defineProperty(WebSocket.prototype, "onmessage", {
		configurable: true, get: desc.get,
		set(fn) {
			if (typeof fn !== "function") return desc.set.call(this, fn);
			desc.set.call(this, function (e) {
				const rec = T.on && typeof e.data !== "string" && e.data.byteLength > 0 ? ["in", kind(this), performance.now()] : null;
				if (rec) T.ev.push(rec);
				const r = fn.call(this, e);
				if (rec) rec.push(performance.now());
				return r;
			});
		},
	});
	const send = WebSocket.prototype.send;
	WebSocket.prototype.send = function (d) {
		if (T.on && typeof d !== "string" && d.byteLength > 0) T.ev.push(["send", kind(this), performance.now()]);
		return send.call(this, d);
	};
	return true;
})()`

// traceRTT opens a second SSH session in the page (its sockets hooked), a
// -L forward to the echo server on it, and times rounds round trips.
func (b *Browser) traceRTT(ctx context.Context, e *Env, rounds int) (*rttTrace, error) {
	tctx, cancel := context.WithTimeout(b.ctx, e.Mode.RunTimeout)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](traceHooks)); err != nil {
		return nil, fmt.Errorf("installing the trace hooks: %w", err)
	}
	entry, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(async () => {
		const o = `+b.opts+`;
		window.benchTraceSession = await tunnelkit.connect(o);
		window.benchTraceForward = await benchTraceSession.forward("-L 127.0.0.1:0:`+e.Echo.Addr()+`");
		return benchTraceForward.entry;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("a second session and -L in the page: %w", err)
	}
	defer chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(async () => {
		benchTrace.on = false; benchTrace.ev = [];
		await benchTraceForward.close(); await benchTraceSession.close(); return true;
	})()`, chromedp.EvalAwaitPromise))
	addr, err := entryAddr(entry)
	if err != nil {
		return nil, err
	}
	c, err := tcpDialer(addr)(tctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msg, back := pattern[:64], make([]byte, 64)
	for range 20 { // warm up
		if _, err := roundTrip(c, msg, back); err != nil {
			return nil, err
		}
	}
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`benchTrace.ev = []; benchTrace.on = true`)); err != nil {
		return nil, err
	}
	times := make([]time.Duration, 0, rounds)
	for range rounds {
		d, err := roundTrip(c, msg, back)
		if err != nil {
			return nil, err
		}
		times = append(times, d)
		time.Sleep(200 * time.Microsecond) // keeps each round trip's events apart
	}
	evs, err := chromedp.Run(tctx, chromedp.Evaluate[[][]any](`(() => { benchTrace.on = false; const ev = benchTrace.ev; benchTrace.ev = []; return ev; })()`))
	if err != nil {
		return nil, err
	}
	t, err := foldTrace(evs, times)
	if err != nil {
		return nil, err
	}
	if t.jsPing, err = b.jsPing(tctx, e, rounds); err != nil {
		return nil, err
	}
	return t, nil
}

// foldTrace matches each round trip's four events: in entry, send ssh, in
// ssh, send entry. Round trips whose events do not line up (an ack or a
// window adjust between them) are skipped.
func foldTrace(evs [][]any, times []time.Duration) (*rttTrace, error) {
	type ev struct {
		op, kind string
		t0, t1   float64
	}
	var es []ev
	for _, r := range evs {
		if len(r) < 3 {
			continue
		}
		x := ev{op: fmt.Sprint(r[0]), kind: fmt.Sprint(r[1])}
		x.t0, _ = r[2].(float64)
		x.t1 = x.t0
		if len(r) > 3 {
			x.t1, _ = r[3].(float64)
		}
		es = append(es, x)
	}
	var in, gw, out, hd []float64
	for i := 0; i+3 < len(es); i++ {
		a, s1, c, s2 := es[i], es[i+1], es[i+2], es[i+3]
		if a.op+a.kind != "inentry" || s1.op+s1.kind != "sendssh" || c.op+c.kind != "inssh" || s2.op+s2.kind != "sendentry" {
			continue
		}
		in, gw, out = append(in, s1.t0-a.t0), append(gw, c.t0-s1.t0), append(out, s2.t0-c.t0)
		hd = append(hd, a.t1-a.t0, c.t1-c.t0)
		i += 3
	}
	if len(in) < len(times)/2 {
		return nil, fmt.Errorf("only %d of %d round trips traced (%d events): %s", len(in), len(times), len(es), sampleOps(evs))
	}
	var total []float64
	for _, d := range times {
		total = append(total, float64(d.Nanoseconds())/1e3)
	}
	ms := func(v []float64) float64 { return trimmedMean(v) * 1e3 }
	return &rttTrace{n: len(in), total: trimmedMean(total), p50: quantile(slices.Clone(times), 0.5),
		pageIn: ms(in), gateway: ms(gw), pageOut: ms(out), handler: ms(hd)}, nil
}

// trimmedMean is the mean of the middle 80%: the page's clock ticks in
// coarse, jittered steps (a median would snap to them), and a shared
// machine adds outliers of milliseconds (a mean would follow them).
func trimmedMean(v []float64) float64 {
	slices.Sort(v)
	cut := len(v) / 10
	v = v[cut : len(v)-cut]
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(max(len(v), 1))
}

func sampleOps(evs [][]any) string {
	var s []string
	for _, r := range evs[:min(len(evs), 12)] {
		if len(r) >= 2 {
			s = append(s, fmt.Sprint(r[0], " ", r[1]))
		}
	}
	return strings.Join(s, ", ")
}

// jsPing is the round trip, in µs, of 64-byte messages from page
// JavaScript through the relay's dial bridge to the echo server.
func (b *Browser) jsPing(ctx context.Context, e *Env, rounds int) (float64, error) {
	u := b.relay.dialURL(e.Echo.Addr())
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(async () => {
		const ws = new WebSocket(`+jsString(u)+`, ["tunnelkit.v1"]);
		ws.binaryType = "arraybuffer";
		const next = () => new Promise((res, rej) => { ws.onmessage = (e) => res(e.data); ws.onclose = () => rej(new Error("closed")); });
		let m = next();
		await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("no WebSocket to the relay")); });
		await m; // the open message
		const msg = new Uint8Array(64);
		const out = [];
		for (let i = 0; i < `+fmt.Sprint(rounds)+` + 20; i++) {
			m = next();
			const t0 = performance.now();
			ws.send(msg);
			await m;
			if (i >= 20) out.push(performance.now() - t0);
		}
		ws.close();
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return 0, fmt.Errorf("JavaScript ping through the relay: %w", err)
	}
	return trimmedMean(ms) * 1e3, nil
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }
