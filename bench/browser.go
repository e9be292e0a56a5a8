package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"
)

const chromiumPath = "/usr/bin/chromium"

// Browser is headless Chromium with the tunnelkit page open and one SSH
// session to the bench's gateway through the relay, shared by the browser
// cases. It counts the bytes pushed through the page, for the heap figure.
type Browser struct {
	relay  *relayProc
	ctx    context.Context // the page's tab
	cancel func()
	pid    int
	opts   string // tunnelkit.connect options as JSON, key auth to the gateway
	Sent   int64  // bytes pushed through the page's forwards so far
}

// browser starts the shared Browser on first use.
func (e *Env) browser(ctx context.Context) (*Browser, error) {
	if e.browserErr != nil {
		return nil, e.browserErr
	}
	if e.brw == nil {
		e.brw, e.browserErr = startBrowser(ctx, e)
	}
	return e.brw, e.browserErr
}

func startBrowser(ctx context.Context, e *Env) (*Browser, error) {
	if _, err := os.Stat(chromiumPath); err != nil {
		return nil, na("Chromium not installed (%s): run make test-deps", chromiumPath)
	}
	if _, err := os.Stat(filepath.Join(e.Root, "web", "dist", "tunnelkit.wasm")); err != nil {
		return nil, na("web/dist/tunnelkit.wasm not built: run make wasm")
	}
	r, err := startRelay(ctx, e,
		[]string{e.Sshd.Addr, e.Sink.Addr(), e.Echo.Addr()}, // the gateway, and the exits of -R
		[]string{"127.0.0.1:*"},                             // entries of -L (port 0: the relay picks)
		0)
	if err != nil {
		return nil, err
	}
	b := &Browser{relay: r}
	udd, err := os.MkdirTemp(e.Dir, "chromium-")
	if err != nil {
		r.Stop()
		return nil, err
	}
	actx, acancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx),
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(udd),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("enable-precise-memory-info", true),
	)
	tctx, tcancel := chromedp.NewContext(actx)
	b.ctx = tctx
	b.cancel = func() { tcancel(); acancel(); r.Stop() }
	fail := func(err error) (*Browser, error) { b.cancel(); return nil, err }

	// The first action starts the browser and opens the tab; it must run on
	// the tab's own context, since ending its context closes the tab.
	if err := chromedp.Do(tctx); err != nil {
		return fail(fmt.Errorf("starting Chromium: %w", err))
	}
	// chromedp turns on DevTools network tracking, which makes Chromium copy
	// every WebSocket frame to us: it cut the page's throughput 2.5x.
	if err := chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.Disable, cdp.Empty{})
		return err
	})); err != nil {
		return fail(fmt.Errorf("turning off network tracking: %w", err))
	}
	lctx, lcancel := context.WithTimeout(tctx, 30*time.Second)
	defer lcancel()
	if err := chromedp.Do(lctx, chromedp.Navigate("http://"+r.Addr+"/")); err != nil {
		return fail(fmt.Errorf("opening the page in Chromium: %w", err))
	}
	if p := chromedp.FromContext(tctx).Browser.Process(); p != nil {
		b.pid = p.Pid
	}
	key, err := os.ReadFile(e.Sshd.KeyFile)
	if err != nil {
		return fail(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(e.Sshd.HostKey))
	if err != nil {
		return fail(err)
	}
	opts, _ := json.Marshal(map[string]any{
		"relay": "http://" + r.Addr, "host": "127.0.0.1", "port": e.Sshd.Port, "user": e.Sshd.User,
		"privateKey": string(key), "hostKey": ssh.FingerprintSHA256(pub),
	})
	b.opts = string(opts)
	_, err = chromedp.Run(lctx, chromedp.Evaluate[bool](`(async () => {
		if (!window.tunnelkit) throw new Error("the page has no window.tunnelkit");
		await tunnelkit.ready;
		window.benchErrors = [];
		const o = `+b.opts+`;
		o.onEvent = (ev) => { if (ev.error) benchErrors.push(ev.kind + " " + (ev.forward || "") + ": " + ev.error); };
		window.benchSession = await tunnelkit.connect(o);
		return true;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return fail(fmt.Errorf("tunnelkit.connect in the page: %w", err))
	}
	return b, nil
}

func (b *Browser) Close() { b.cancel() }

// forward asks the page for a forward and returns its entry socket.
func (b *Browser) forward(ctx context.Context, spec string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	q, _ := json.Marshal(spec)
	entry, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const f = await window.benchSession.forward(`+string(q)+`);
		(window.benchForwards ||= []).push(f);
		return f.entry;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return "", fmt.Errorf("forward %s in the page: %w", spec, err)
	}
	return entry, nil
}

// heap is the page's JavaScript heap in use, in bytes.
func (b *Browser) heap(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.memory.usedJSHeapSize`))
}

// entryAddr turns a forward's entry ("localhost:1234", "[::1]:1234",
// "127.0.0.1:1234") into a loopback address to dial.
func entryAddr(entry string) (string, error) {
	host, port, err := net.SplitHostPort(entry)
	if err != nil {
		return "", fmt.Errorf("forward entry %q: %w", entry, err)
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// browserCase runs a -L or -R forward in the page, one to the sink (or, for
// a download, the source) and one to the echo server.
func browserCase(name, label, peer string, kind byte, download bool) Case {
	return Case{Name: name, Label: label, Peer: peer, Browser: true, Setup: func(ctx context.Context, e *Env) (*Path, error) {
		b, err := e.browser(ctx)
		if err != nil {
			return nil, err
		}
		exits := []string{e.Sink.Addr(), e.Echo.Addr()}
		if download {
			exits[0] = e.Src.Addr()
		}
		var addrs []string
		for _, exit := range exits {
			entry, err := b.forward(ctx, fmt.Sprintf("-%c 127.0.0.1:0:%s", kind, exit))
			if err != nil {
				return nil, err
			}
			a, err := entryAddr(entry)
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, a)
		}
		counted := func(ctx context.Context) (net.Conn, error) {
			c, err := tcpDialer(addrs[0])(ctx)
			if err != nil {
				return nil, err
			}
			return &countConn{Conn: c, n: &b.Sent}, nil
		}
		p := &Path{
			DialSink: counted, DialEcho: tcpDialer(addrs[1]),
			Diagnose: b.diagnose,
			Pids:     []int{b.pid, b.relay.Pid(), e.Sshd.Pid()},
			Close: func() {
				ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
				defer cancel()
				chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => {
					for (const f of window.benchForwards || []) await f.close();
					window.benchForwards = [];
					return true;
				})()`, chromedp.EvalAwaitPromise))
			},
		}
		if download {
			p.DialSink, p.DialSource = nil, counted
		}
		return p, nil
	}}
}

type countConn struct {
	net.Conn
	n *int64
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	*c.n += int64(n)
	return n, err
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	*c.n += int64(n)
	return n, err
}

// heapFigure pushes bytes through a browser -L forward until HeapBytes have
// gone through the page in total, then reads the page's JS heap.
func heapFigure(ctx context.Context, e *Env) []Figure {
	const name, label = "browser-heap", "page JS heap after the browser runs"
	b, err := e.browser(ctx)
	if err != nil {
		return []Figure{figureNA(name, label, "MB", err)}
	}
	if more := e.Mode.HeapBytes - b.Sent; more > 0 {
		// Through -R: the page reads from SSH (flow-controlled by its
		// windows) and writes to the relay, so the push never outruns it.
		c := browserCase("browser-heap", "", "", 'R', false)
		p, err := c.Setup(ctx, e)
		if err != nil {
			return []Figure{figureNA(name, label, "MB", err)}
		}
		_, _, err = measureThroughput(ctx, e, p, more)
		p.Close()
		if err != nil {
			return []Figure{figureNA(name, label, "MB", fmt.Errorf("pushing %d more bytes: %w", more, err))}
		}
	}
	h, err := b.heap(ctx)
	if err != nil {
		return []Figure{figureNA(name, label, "MB", err)}
	}
	return []Figure{{Name: name, Label: "page JS heap after " + sizeLabel(b.Sent) + " through it", Unit: "MB",
		Values: []float64{h / 1e6}, Status: statusOK, Note: "performance.memory.usedJSHeapSize"}}
}

// chromiumVersion is for the report.
func chromiumVersion() string {
	out, err := exec.Command(chromiumPath, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// diagnose returns what the page and the relay said about failures, to
// append to a browser case's error.
func (b *Browser) diagnose() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	errs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(window.benchErrors || []).slice(-5)`))
	out := b.relay.Output()
	if len(out) > 1500 {
		out = "..." + out[len(out)-1500:]
	}
	return fmt.Sprintf("page events: %q; relay log: %s", errs, out)
}
