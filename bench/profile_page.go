package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// pageProfile samples the page's JavaScript and WebAssembly with the
// DevTools profiler while bytes go through a browser -L forward (the case with a target), and
// returns the functions with the most samples on top of the stack.
func pageProfile(ctx context.Context, e *Env) Profile {
	n := e.Mode.BrowserBytes / 2
	p := Profile{Name: "page (Chromium) -L", Load: sizeLabel(n) + " through a browser -L forward"}
	b, err := e.browser(ctx)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	c := browserCase("page-profile", "", "", 'L', false)
	path, err := c.Setup(ctx, e)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	defer path.Close()
	pctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := startProfiler(pctx); err != nil {
		p.Err = err.Error()
		return p
	}
	_, _, lerr := measureThroughput(ctx, e, path, n)
	sctx, scancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer scancel()
	res, err := chromedp.Call(sctx, profiler.Stop, cdp.Empty{})
	if lerr != nil {
		p.Err = lerr.Error()
		return p
	}
	if err != nil || res.Profile == nil {
		p.Err = fmt.Sprintf("DevTools profiler stop: %v", err)
		return p
	}
	p.TopCPU = topSelf(ctx, e, res.Profile)
	p.CPUFile = saveProfileText(e, "page-cpu", p.TopCPU)
	return p
}

// startProfiler starts the DevTools profiler of the tab of ctx, sampling
// every 200 µs.
func startProfiler(ctx context.Context) error {
	if _, err := chromedp.Call(ctx, profiler.Enable, cdp.Empty{}); err != nil {
		return fmt.Errorf("DevTools profiler: %w", err)
	}
	chromedp.Call(ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200})
	if _, err := chromedp.Call(ctx, profiler.Start, cdp.Empty{}); err != nil {
		return fmt.Errorf("DevTools profiler: %w", err)
	}
	return nil
}

// saveProfileText writes text to bench/results/NAME-STAMP.txt and returns
// the path.
func saveProfileText(e *Env, name, text string) string {
	path := filepath.Join(e.Out, name+"-"+time.Now().UTC().Format("20060102-150405")+".txt")
	os.MkdirAll(e.Out, 0o755)
	os.WriteFile(path, []byte(text), 0o644)
	return path
}

// topSelf lists the functions with the most samples on top of the stack,
// with Go names for the WebAssembly functions when they can be known.
func topSelf(ctx context.Context, e *Env, prof *profiler.Profile) string {
	names, nerr := wasmFuncNames(ctx, e)
	self := map[string]int64{}
	var total int64
	for _, nd := range prof.Nodes {
		name := "(anonymous)"
		if nd.CallFrame != nil && nd.CallFrame.FunctionName != "" {
			name = nd.CallFrame.FunctionName
		}
		var idx int
		if _, err := fmt.Sscanf(name, "wasm-function[%d]", &idx); err == nil && names[idx] != "" {
			name = names[idx]
		}
		self[name] += nd.HitCount
		total += nd.HitCount
	}
	type kv struct {
		k string
		v int64
	}
	var list []kv
	for k, v := range self {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d samples; self share by function:\n", total)
	if nerr != nil {
		fmt.Fprintf(&sb, "(wasm function names unavailable: %v)\n", nerr)
	}
	for i, x := range list {
		if i == 20 {
			break
		}
		fmt.Fprintf(&sb, "%6.2f%%  %s\n", 100*float64(x.v)/float64(max(total, 1)), x.k)
	}
	return sb.String()
}

// pageLoadProfile samples one page load, from navigation to a connected
// session, in a fresh tab with the cache off.
func pageLoadProfile(ctx context.Context, e *Env) Profile {
	p := Profile{Name: "page load (Chromium)", Load: "navigation to a connected session, fresh tab, cache off"}
	b, err := e.browser(ctx)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	parts, prof, err := b.pageLoad(ctx, true, false, 0)
	if err != nil || prof == nil {
		p.Err = fmt.Sprintf("profiled page load: %v", err)
		return p
	}
	p.Load += fmt.Sprintf(": ready at %.0f ms, connected at %.0f ms", parts.Ready, parts.Connected)
	p.TopCPU = topSelf(ctx, e, prof)
	p.CPUFile = saveProfileText(e, "pageload-cpu", p.Load+"\n"+p.TopCPU)
	return p
}
