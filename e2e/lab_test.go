package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// labDemo is a running `tunnelkit demo` process and a page server in front
// of it that serves the wasm client built from this tree (the binary's
// embedded one may not be built) and passes everything else on.
type labDemo struct {
	cmd                   *exec.Cmd
	listen                string // the demo's --listen address
	PageURL               string
	gateway, user         string // the main demo's gateway and login, as printed
	password, fingerprint string
}

// startLabDemo builds tunnelkit and runs `tunnelkit demo --listen 127.0.0.1:0`.
func startLabDemo(t *testing.T) *labDemo {
	t.Helper()
	dir := buildWasm(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tunnelkit")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/tunnelkit")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tunnelkit: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &labDemo{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tunnelkit demo exited with %v after Ctrl-C", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("tunnelkit demo did not stop within 15 s of Ctrl-C")
		}
	})
	sc := bufio.NewScanner(stdout)
	var quick strings.Builder
	for sc.Scan() {
		quick.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "same with OpenSSH") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	out := quick.String()
	page := regexp.MustCompile(`open http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	gw := regexp.MustCompile(`connect to gateway (gateway:22) as (\S+) / (\S+)\n\s+\(host key (\S+)\)`).FindStringSubmatch(out)
	if page == nil || gw == nil || !strings.Contains(out, "exit services: web:80") || !strings.Contains(out, "/lab") {
		t.Fatalf("quick start lacks the URL, the gateway, the services or the lab:\n%s", out)
	}
	d.listen = page[1]
	d.gateway, d.user, d.password, d.fingerprint = gw[1], gw[2], gw[3], gw[4]

	target, _ := url.Parse("http://" + d.listen)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the relay checks Origin against Host
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "tunnelkit.wasm"))
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "wasm_exec.js"))
	})
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	d.PageURL = srv.URL
	return d
}

// listening returns the TCP addresses the demo process listens on, read
// from its file descriptors and /proc/net/tcp{,6}.
func (d *labDemo) listening(t *testing.T) []string {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		// Linux has it; under CI a missing check is a failure, not a skip.
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot read %s: %v", fdDir, err)
		}
		t.Skipf("cannot read %s (no procfs?): %v", fdDir, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		body, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(body), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, procAddr(t, f[1]))
		}
	}
	slices.Sort(out)
	return out
}

// procAddr decodes /proc/net/tcp's "0100007F:1F90" (IPv4 little-endian)
// or the 32-hex-digit IPv6 form.
func procAddr(t *testing.T, s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	var ip []byte
	for i := 0; i+8 <= len(hexIP); i += 8 {
		w, err := strconv.ParseUint(hexIP[i:i+8], 16, 32)
		if err != nil {
			t.Fatalf("bad /proc address %q", s)
		}
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	if len(ip) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], port)
	}
	return fmt.Sprintf("[%x]:%d", ip, port)
}

// checkSockets fails unless the demo listens on exactly its --listen
// address (and the entry sockets the page's own -L forwards opened, in
// pageEntries): the main demo's gateway and services and the lab, with all
// its hosts and forwards, add no socket of the machine.
func (d *labDemo) checkSockets(t *testing.T, when string, pageEntries ...string) {
	t.Helper()
	got := d.listening(t)
	want := slices.Sorted(slices.Values(append([]string{d.listen}, pageEntries...)))
	if !slices.Equal(got, want) {
		t.Errorf("%s: tunnelkit demo listens on %v, want only %v (--listen %s, and the page's own entry sockets %v)", when, got, want, d.listen, pageEntries)
	}
}

// labResult waits until the element data-result=id has a result.
func labResult(t *testing.T, ctx context.Context, id string) (state, text string) {
	t.Helper()
	r := mustJS[[]string](t, ctx, `
		const el = document.querySelector('[data-result="`+id+`"]');
		for (let i = 0; i < 800; i++) {
			const st = el.dataset.state;
			if (st && st !== "running") return [st, el.textContent];
			await new Promise((r) => setTimeout(r, 50));
		}
		return ["timeout", el.textContent];`)
	return r[0], r[1]
}

func runScenario(t *testing.T, ctx context.Context, id string) (string, string) {
	t.Helper()
	do(t, ctx, "press Run "+id, chromedp.Click(chromedp.CSS(`[data-run="`+id+`"]`), chromedp.NodeVisible))
	return labResult(t, ctx, id)
}

var labScenarios = []struct{ id, command string }{
	{"L1", "ssh -N -L localhost:8888:host3:4444 dev@gateway1"},
	{"L2", "ssh -N -L host2:8888:host3:4444 dev@gateway1"},
	{"L3", "ssh -N -L host2:8888:host3:7777 dev@gateway1\nssh -N -L host3:7777:host4:4444 dev@gateway2"},
	{"R1", "ssh -N -R 8888:localhost:4444 dev@gateway1"},
	{"R2", "ssh -N -R gateway1:8888:localhost:4444 dev@gateway1"},
	{"R3", "ssh -N -R gateway1:8888:host2:4444 dev@gateway1\nssh -N -R gateway2:7777:gateway1:8888 dev@gateway2"},
}

func openLab(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	openPage(t, ctx, url)
	mustJS[any](t, ctx, `
		for (let i = 0; i < 400; i++) {
			if (document.querySelectorAll("[data-run]").length === 6 &&
			    document.querySelector('input[data-gatewayports="gateway1"]:checked') &&
			    document.getElementById("lab-status").dataset.state === "ready") return;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error("the lab page did not get ready: " + document.getElementById("lab-status").textContent);`)
}

func consoleSend(t *testing.T, ctx context.Context, from, target string) (string, string) {
	t.Helper()
	mustJS[any](t, ctx, `
		document.getElementById("console-from").value = `+jsString(from)+`;
		document.getElementById("console-target").value = `+jsString(target)+`;
		delete document.getElementById("console-result").dataset.state;`)
	do(t, ctx, "send on the console", chromedp.Click(chromedp.CSS(`#console-form button[type="submit"]`), chromedp.NodeVisible))
	return labResult(t, ctx, "console")
}

func freeForward(t *testing.T, ctx context.Context, host, command string) {
	t.Helper()
	mustJS[any](t, ctx, `
		document.getElementById("free-host").value = `+jsString(host)+`;
		document.getElementById("free-command").value = "";
		delete document.getElementById("free-result").dataset.state;`)
	do(t, ctx, "type a forward in free mode",
		chromedp.SendKeys(chromedp.CSS("#free-command"), command),
		chromedp.Click(chromedp.CSS(`#free-form button[type="submit"]`), chromedp.NodeVisible))
	if st, txt := labResult(t, ctx, "free-forward"); st != "ok" {
		t.Fatalf("free mode on %s: %s: %s %q", host, command, st, txt)
	}
}

// TestLab runs the training lab of a fresh `tunnelkit demo` in the page:
// the six scenarios from their Run buttons at desktop and projector sizes,
// R2 under GatewayPorts no, a chain typed by hand in free mode, a shared
// link, and the demo's sockets before and after.
func TestLab(t *testing.T) {
	d := startLabDemo(t)
	d.checkSockets(t, "at start")
	browser := newBrowser(t)
	tab, closeTab := newTab(t, browser)
	do(t, tab, "set a desktop viewport", chromedp.EmulateViewport(1280, 900))
	openLab(t, tab, d.PageURL+"/lab")

	for _, sc := range labScenarios {
		got := mustJS[string](t, tab, `return document.querySelector('[data-command="`+sc.id+`"]').textContent;`)
		if got != sc.command {
			t.Errorf("%s shows %q, want the seed's %q", sc.id, got, sc.command)
		}
	}
	for _, sc := range labScenarios {
		if st, txt := runScenario(t, tab, sc.id); st != "ok" || txt != "ACK hello" {
			t.Errorf("desktop: %s: %s %q, want ACK hello", sc.id, st, txt)
		}
		screenshot(t, tab, "lab-"+sc.id+"-desktop.png")
	}

	do(t, tab, "set a projector viewport", chromedp.EmulateViewport(1920, 1080))
	do(t, tab, "turn on large mode", chromedp.Click(chromedp.CSS("#large"), chromedp.NodeVisible))
	for _, sc := range labScenarios {
		if st, txt := runScenario(t, tab, sc.id); st != "ok" || txt != "ACK hello" {
			t.Errorf("projector: %s: %s %q, want ACK hello", sc.id, st, txt)
		}
		screenshot(t, tab, "lab-"+sc.id+"-projector.png")
	}
	do(t, tab, "turn off large mode", chromedp.Click(chromedp.CSS("#large"), chromedp.NodeVisible))

	// Keyboard: 3 picks L3, r runs it.
	mustJS[any](t, tab, `delete document.querySelector('[data-result="L3"]').dataset.state;`)
	do(t, tab, "press 3 then r", chromedp.KeyEvent("3"), chromedp.KeyEvent("r"))
	if st, txt := labResult(t, tab, "L3"); st != "ok" || txt != "ACK hello" {
		t.Errorf("keyboard: L3: %s %q, want ACK hello", st, txt)
	}
	do(t, tab, "set a phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if st, txt := runScenario(t, tab, "R3"); st != "ok" || txt != "ACK hello" {
		t.Errorf("phone: R3: %s %q, want ACK hello", st, txt)
	}
	screenshot(t, tab, "lab-R3-phone.png")
	do(t, tab, "back to desktop", chromedp.EmulateViewport(1280, 900))

	// R2 under GatewayPorts no: gateway1 binds loopback whatever host2 asks,
	// so host1 is refused and gateway1 itself gets through.
	do(t, tab, "GatewayPorts no on gateway1", chromedp.Click(chromedp.CSS(`input[data-gatewayports="gateway1"][value="no"]`), chromedp.NodeVisible))
	mustJS[any](t, tab, `
		for (let i = 0; i < 200; i++) {
			const st = await (await fetch("/lab/api/state")).json();
			if (st.gateways.gateway1.gatewayPorts === "no") return;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error("GatewayPorts did not switch to no");`)
	if st, txt := runScenario(t, tab, "R2"); st != "error" || !strings.Contains(txt, "refused") {
		t.Errorf("R2 under GatewayPorts no from host1: %s %q, want connection refused", st, txt)
	}
	if b := text(t, tab, `[data-bound="R2"]`); !strings.Contains(b, "127.0.0.1:8888 on gateway1") {
		t.Errorf("R2 under no shows bound %q, want 127.0.0.1:8888 on gateway1", b)
	}
	if steps := text(t, tab, "#steps"); !strings.Contains(steps, "asked for gateway1 (GatewayPorts no: loopback only") {
		t.Errorf("R2 under no: the steps do not say gateway1 bound loopback though host2 asked for gateway1:\n%s", steps)
	}
	screenshot(t, tab, "lab-R2-gatewayports-no.png")
	if st, txt := consoleSend(t, tab, "gateway1", "localhost:8888"); st != "ok" || txt != "ACK hello" {
		t.Errorf("R2 under no from gateway1: %s %q, want ACK hello", st, txt)
	}

	// Free mode: L3's chain typed by hand, after a reset.
	do(t, tab, "reset the lab", chromedp.Click(chromedp.CSS("[data-reset]"), chromedp.NodeVisible))
	mustJS[any](t, tab, `
		for (let i = 0; i < 200; i++) {
			const st = await (await fetch("/lab/api/state")).json();
			if (st.gateways.gateway1.gatewayPorts === "clientspecified" && !st.sockets.some((s) => s.port === 8888) &&
			    document.querySelectorAll("#forward-list li").length === 0) return;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error("reset left forwards or settings behind");`)
	freeForward(t, tab, "host2", "ssh -N -L host2:9999:host3:7070 dev@gateway1")
	freeForward(t, tab, "host3", "ssh -N -L host3:7070:host4:4444 dev@gateway2")
	if st, txt := consoleSend(t, tab, "host1", "host2:9999"); st != "ok" || txt != "ACK hello" {
		t.Errorf("free mode chain from host1: %s %q, want ACK hello", st, txt)
	}
	screenshot(t, tab, "lab-free-chain.png")

	// The link holds the forwards, never the password; opened in a new tab
	// (after this one closed, so the ports are free) it brings them back.
	link := mustJS[string](t, tab, `document.getElementById("share").click(); return document.getElementById("share-link").value;`)
	password := mustJS[string](t, tab, `return (await (await fetch("/lab/api/state")).json()).password;`)
	if !strings.Contains(link, "forward=host2") || !strings.Contains(link, "host3%3A7070%3Ahost4%3A4444") || strings.Contains(link, password) {
		t.Errorf("share link %q: want both forwards and no password", link)
	}
	closeTab()
	// The old tab's sessions end with it; wait until the lab has freed its ports.
	waitFor(20*time.Second, func() bool {
		resp, err := http.Get(d.PageURL + "/lab/api/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return !strings.Contains(b.String(), `"port":9999`)
	})
	tab2, _ := newTab(t, browser)
	do(t, tab2, "set a desktop viewport", chromedp.EmulateViewport(1280, 900))
	openLab(t, tab2, link)
	mustJS[any](t, tab2, `
		for (let i = 0; i < 400; i++) {
			if (document.querySelectorAll("#forward-list li").length === 2) return;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error("the shared link did not reopen its two forwards");`)
	if st, txt := consoleSend(t, tab2, "host1", "host2:9999"); st != "ok" || txt != "ACK hello" {
		t.Errorf("shared link's chain from host1: %s %q, want ACK hello", st, txt)
	}
	d.checkSockets(t, "after the lab ran")

	// The main page logs in to the demo's own gateway (inside the process
	// too); only the -L entry socket the person opens binds on the machine.
	tab3, _ := newTab(t, browser)
	do(t, tab3, "set a desktop viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, tab3, d.PageURL+"/")
	do(t, tab3, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	if !waitFor(20*time.Second, func() bool {
		return mustJS[bool](t, tab3, `return document.getElementById("host").value === "gateway" && document.getElementById("port").value === "22";`)
	}) {
		t.Fatalf("the main page is not prefilled with gateway:22: host %q", mustJS[string](t, tab3, `return document.getElementById("host").value + ":" + document.getElementById("port").value;`))
	}
	do(t, tab3, "log in to the demo gateway",
		chromedp.SendKeys(chromedp.CSS("#password"), d.password),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")))
	if fp := text(t, tab3, "#hostkey-fp"); fp != d.fingerprint {
		t.Errorf("the page shows host key %q, the quick start printed %q", fp, d.fingerprint)
	}
	do(t, tab3, "trust the key",
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")))
	d.checkSockets(t, "after the main page connected to the demo gateway")
	mustJS[any](t, tab3, `[...document.querySelectorAll("#suggestions .chip")].find((b) => b.dataset.spec === "-L 127.0.0.1:0:pinger:4444").click();`)
	var entry string
	if !waitFor(20*time.Second, func() bool {
		entry = mustJS[string](t, tab3, `const li = document.querySelector("#forwards li"); return li ? li.dataset.entry || "" : "";`)
		return entry != ""
	}) {
		t.Fatalf("the pinger suggestion made no forward: %q", text(t, tab3, "#spec-error"))
	}
	conn, err := net.DialTimeout("tcp", entry, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the page's entry socket %s: %v", entry, err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "hello\n")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "ACK hello\n" {
		t.Errorf("entry %s -> pinger:4444: %q %v, want ACK hello", entry, line, err)
	}
	conn.Close()
	d.checkSockets(t, "with the page's -L to pinger:4444 open", entry)
}
