package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"tunnelkit/internal/demo"
	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/tunnel"
	"tunnelkit/web"
)

// artifactsDir is where UI tests leave screenshots: $TUNNELKIT_ARTIFACTS,
// or e2e/artifacts (kept out of git by its own .gitignore).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TUNNELKIT_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*\n"), 0o644)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// fillConnectForm types the gateway's password login into the page's form
// and presses Connect.
func fillConnectForm(t *testing.T, ctx context.Context, st *stack) {
	t.Helper()
	do(t, ctx, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	mustJS[any](t, ctx, `for (const id of ["host", "port", "user", "password"]) document.getElementById(id).value = "";`)
	do(t, ctx, "fill the connect form",
		chromedp.SendKeys(chromedp.CSS("#host"), st.SSHD.Host()),
		chromedp.SendKeys(chromedp.CSS("#port"), fmt.Sprint(st.SSHD.Port())),
		chromedp.SendKeys(chromedp.CSS("#user"), st.SSHD.PasswordUser),
		chromedp.SendKeys(chromedp.CSS("#password"), st.SSHD.Password),
		chromedp.Click(chromedp.CSS("#connect-btn")),
	)
}

// connectViaUI logs in through the form and accepts the host key in the dialog.
func connectViaUI(t *testing.T, ctx context.Context, st *stack, shot string) {
	t.Helper()
	if relay := mustJS[string](t, ctx, `return document.getElementById("relay").value;`); relay != st.RelayURL {
		t.Errorf("relay field %q, want the page's origin %q", relay, st.RelayURL)
	}
	fillConnectForm(t, ctx, st)
	do(t, ctx, "wait for the host-key dialog", chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")))
	if fp := text(t, ctx, "#hostkey-fp"); fp != st.SSHD.HostKeyFingerprint {
		t.Fatalf("dialog shows fingerprint %q, want %q", fp, st.SSHD.HostKeyFingerprint)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	do(t, ctx, "accept the host key",
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")),
	)
	if fp := text(t, ctx, "#session-hostkey"); fp != st.SSHD.HostKeyFingerprint {
		t.Errorf("session shows host key %q, want %q", fp, st.SSHD.HostKeyFingerprint)
	}
}

// addForwardViaUI types spec into the forward editor, checks the live ssh
// command, adds it and returns the entry socket the page shows.
func addForwardViaUI(t *testing.T, ctx context.Context, st *stack, spec, wantCommand string) string {
	t.Helper()
	do(t, ctx, "type the forward", chromedp.SendKeys(chromedp.CSS("#spec"), spec))
	if cmd := text(t, ctx, "#spec-command"); cmd != wantCommand {
		t.Errorf("live command %q, want %q", cmd, wantCommand)
	}
	do(t, ctx, "add the forward",
		chromedp.Click(chromedp.CSS("#forward-btn")),
		chromedp.WaitVisible(chromedp.CSS("#forwards li .entry")),
	)
	entry := text(t, ctx, "#forwards li .entry")
	if _, _, err := net.SplitHostPort(entry); err != nil {
		t.Fatalf("entry socket shown as %q: %v (spec error: %q)", entry, err, text(t, ctx, "#spec-error"))
	}
	return entry
}

// domStats reads the first forward's counters as the page shows them.
type domStats struct {
	BytesIn, BytesOut, Connections string
	OutText, InText                string
	FlowOut, FlowIn                bool
}

func readDOMStats(t *testing.T, ctx context.Context) domStats {
	t.Helper()
	return mustJS[domStats](t, ctx, `
		const li = document.querySelector("#forwards li");
		const svg = li.querySelector("svg.diagram-h");
		return {BytesIn: li.dataset.bytesIn || "0", BytesOut: li.dataset.bytesOut || "0",
			Connections: li.dataset.connections || "0",
			OutText: li.querySelector("[data-stat=bytesOut] .stat-value").textContent,
			InText: li.querySelector("[data-stat=bytesIn] .stat-value").textContent,
			FlowOut: svg.classList.contains("flow-out"), FlowIn: svg.classList.contains("flow-in")};`)
}

// TestUIForward is what a person does: fill the form, trust the host key,
// add a -L forward, use its entry socket, and watch its counters move.
func TestUIForward(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)

	connectViaUI(t, ctx, st, "ui-hostkey-dialog.png")
	known := mustJS[map[string]string](t, ctx, `return JSON.parse(localStorage.getItem("tunnelkit.knownHosts"));`)
	if got := known[st.SSHD.Addr]; got != st.SSHD.HostKeyFingerprint {
		t.Errorf("remembered host key for %s: %q, want %q (all: %v)", st.SSHD.Addr, got, st.SSHD.HostKeyFingerprint, known)
	}
	if stored := mustJS[string](t, ctx, `return JSON.stringify(localStorage) + location.href;`); strings.Contains(stored, st.SSHD.Password) {
		t.Fatalf("the password ended up in local storage or the URL: %s", stored)
	}

	spec := "127.0.0.1:0:" + pinger
	wantCmd := fmt.Sprintf("ssh -N -L %s -p %d %s@%s", spec, st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host())
	entry := addForwardViaUI(t, ctx, st, spec, wantCmd)
	if cmd := text(t, ctx, "#forwards li .command"); !strings.Contains(cmd, "-L "+spec) {
		t.Errorf("forward's command %q lacks -L %s", cmd, spec)
	}
	// The pinger does not speak HTTP: no "open as http://" for it (TestUIDemo checks the web exit has one).
	if href := mustJS[string](t, ctx, `const a = document.querySelector("#forwards li .open-link"); return a ? a.href : "";`); href != "" {
		t.Errorf("open link %q for the pinger, which does not speak HTTP", href)
	}

	// Move data through the entry socket; keep it flowing while we look.
	conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to entry socket %s: %v", entry, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	line := strings.Repeat("tunnelkit ", 100)
	sent := 0
	pingOnce := func() {
		fmt.Fprintf(conn, "%s\n", line)
		got, err := r.ReadString('\n')
		if err != nil || got != "ACK "+line+"\n" {
			t.Fatalf("through %s: got %q, %v; want the pinger's ACK", entry, got, err)
		}
		sent += len(line) + 1
	}
	for range 20 {
		pingOnce()
	}
	var s domStats
	moved := waitFor(20*time.Second, func() bool {
		pingOnce()
		s = readDOMStats(t, ctx)
		return s.BytesOut != "0" && s.BytesIn != "0" && s.FlowOut && s.FlowIn
	})
	if !moved {
		t.Fatalf("the page's counters did not move after %d bytes: %+v", sent, s)
	}
	if s.OutText == "0 B" || s.InText == "0 B" || s.Connections != "1" {
		t.Errorf("shown counters: %+v, want bytes both ways and 1 connection", s)
	}
	t.Logf("page shows %s out, %s in after %d bytes sent", s.OutText, s.InText, sent)
	pingOnce()
	screenshot(t, ctx, "ui-forward.png")
	conn.Close()

	// Close the forward from its card: the entry socket goes away.
	do(t, ctx, "close the forward", chromedp.Click(chromedp.CSS("#forwards li .forward-head button")))
	if !waitFor(20*time.Second, func() bool { return !connectable(entry) }) {
		t.Errorf("entry socket %s still accepts after closing the forward", entry)
	}
	var n string
	if !waitFor(20*time.Second, func() bool { n = text(t, ctx, "#forward-count"); return n == "0" }) {
		t.Errorf("forward count %q after close, want 0", n)
	}
}

// TestUIHostKeyChanged: a gateway whose key differs from the remembered one
// gets a loud warning with both fingerprints, and no connection.
func TestUIHostKeyChanged(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	const old = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	mustJS[any](t, ctx, `localStorage.setItem("tunnelkit.knownHosts", JSON.stringify({`+jsString(st.SSHD.Addr)+`: `+jsString(old)+`}));`)

	fillConnectForm(t, ctx, st)
	do(t, ctx, "wait for the warning", chromedp.WaitVisible(chromedp.CSS("#mismatch-dialog")))
	if got := text(t, ctx, "#mismatch-known"); got != old {
		t.Errorf("warning shows remembered key %q, want %q", got, old)
	}
	if got := text(t, ctx, "#mismatch-got"); got != st.SSHD.HostKeyFingerprint {
		t.Errorf("warning shows presented key %q, want %q", got, st.SSHD.HostKeyFingerprint)
	}
	screenshot(t, ctx, "ui-hostkey-changed.png")
	do(t, ctx, "close the warning",
		chromedp.Click(chromedp.CSS("#mismatch-dialog button[value=close]")),
		chromedp.WaitVisible(chromedp.CSS("#connect-error")),
	)
	if msg := text(t, ctx, "#connect-error"); !strings.Contains(msg, "changed") || !strings.Contains(msg, old) {
		t.Errorf("form error %q, want it to say the key changed, naming both keys", msg)
	}
	if visible := mustJS[bool](t, ctx, `return !document.getElementById("session-card").hidden;`); visible {
		t.Fatal("connected despite a changed host key")
	}
}

// TestUIPhone renders a connected session with a forward on a phone-sized
// screen (the diagram turns vertical) and checks nothing overflows sideways.
func TestUIPhone(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set a phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	openPage(t, ctx, st.PageURL)
	screenshot(t, ctx, "ui-phone-connect.png")
	connectViaUI(t, ctx, st, "")
	spec := "127.0.0.1:0:" + pinger
	addForwardViaUI(t, ctx, st, spec, fmt.Sprintf("ssh -N -L %s -p %d %s@%s", spec, st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host()))
	if v := mustJS[bool](t, ctx, `return getComputedStyle(document.querySelector("#forwards svg.diagram-v")).display !== "none";`); !v {
		t.Error("the vertical diagram is not shown on a phone-sized screen")
	}
	if w := mustJS[float64](t, ctx, `return document.documentElement.scrollWidth;`); w > 390 {
		t.Errorf("page is %v px wide on a 390 px screen: it scrolls sideways", w)
	}
	screenshot(t, ctx, "ui-phone.png")
}

// TestUISpecPreview checks the forward editor's live command against the Go
// parser (tunnel.ParseSpec and Spec.Command) for OpenSSH syntax: the page
// shows what tunnelkit will run, and flags what it would refuse.
func TestUISpecPreview(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	type preview struct {
		Command string
		Invalid bool
		Kind    string
	}
	show := func(kind tunnel.Kind, input string) preview {
		return mustJS[preview](t, ctx, `
			document.getElementById("kind-`+string(rune(kind))+`").click();
			const spec = document.getElementById("spec");
			spec.value = `+jsString(input)+`;
			spec.dispatchEvent(new Event("input"));
			const cmd = document.getElementById("spec-command");
			return {Command: cmd.textContent, Invalid: cmd.classList.contains("invalid"),
				Kind: document.getElementById("kind-R").checked ? "R" : "L"};`)
	}
	for _, tc := range []struct {
		kind  tunnel.Kind
		input string
	}{
		{tunnel.Local, "8080:db.internal:5432"},
		{tunnel.Local, "-L 8080:db:5432"},
		{tunnel.Local, "-L8080:db:5432"},
		{tunnel.Local, "-R 0:localhost:80"},
		{tunnel.Remote, "R 0:localhost:80"},
		{tunnel.Local, "127.0.0.1:0:10.0.0.5:80"},
		{tunnel.Local, "[::1]:8080:[fd00::5]:80"},
		{tunnel.Local, "*:8080:db:5432"},
		{tunnel.Local, ":8080:db:5432"},
		{tunnel.Remote, "8080/db/5432"},
		{tunnel.Local, "8080:db:0"},
		{tunnel.Local, "70000:db:80"},
		{tunnel.Local, "8080:db"},
		{tunnel.Local, "8080:[fd00::5:80"},
		{tunnel.Local, "8080:fd00::5:80"},
		{tunnel.Local, "8080:d b:80"},
		{tunnel.Local, "x:db:80"},
	} {
		got := show(tc.kind, tc.input)
		// A flag typed in the box wins over the selector (which follows it).
		kind := tc.kind
		if strings.HasPrefix(tc.input, "-") || strings.HasPrefix(tc.input, "R ") || strings.HasPrefix(tc.input, "L ") {
			kind = 0
		}
		spec, err := tunnel.ParseSpec(kind, tc.input)
		if err != nil {
			if !got.Invalid {
				t.Errorf("%c %q: Go refuses it (%v) but the page shows %q", tc.kind, tc.input, err, got.Command)
			}
			continue
		}
		if want := spec.Command("USER", "GATEWAY", 22); got.Invalid || got.Command != want {
			t.Errorf("%c %q: page shows %q (invalid %v), want %q", tc.kind, tc.input, got.Command, got.Invalid, want)
		}
		if got.Kind != string(rune(spec.Kind)) {
			t.Errorf("%c %q: selector shows %s, want %c", tc.kind, tc.input, got.Kind, spec.Kind)
		}
	}
	// The page's own shorthand: entry and exit sockets separated by a space or an arrow.
	if got := show(tunnel.Local, "127.0.0.1:0 -> db:5432"); got.Command != "ssh -N -L 127.0.0.1:0:db:5432 USER@GATEWAY" {
		t.Errorf("arrow notation: page shows %q", got.Command)
	}
}

// TestUIDemo runs what `tunnelkit demo` serves: the page comes prefilled
// from /demo.json (never with the password), logs in to the in-process
// gateway (gateway:22, on the demo's network inside the process, through
// the relay's seams), and the suggested forwards reach the demo's web page
// both ways. A key remembered from an earlier demo run does not block it.
func TestUIDemo(t *testing.T) {
	dir := buildWasm(t)
	ctx0, cancel := context.WithCancel(context.Background())
	d, err := demo.Start(ctx0, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.Close() })
	rl, err := relay.New(d.RelayConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, name := range []string{"tunnelkit.wasm", "wasm_exec.js"} {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(dir, name)) })
	}
	mux.Handle("/", d.Handler(rl))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		rl.Shutdown(sctx)
		srv.CloseClientConnections()
		srv.Close()
	})

	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, srv.URL+"/")
	// An earlier run's gateway:22 had another key; a key of some other gateway stays.
	mustJS[any](t, ctx, `localStorage.setItem("tunnelkit.knownHosts", JSON.stringify({"gateway:22": "SHA256:earlier-run", "other:22": "SHA256:kept"}));`)
	openPage(t, ctx, srv.URL+"/")
	if !waitFor(20*time.Second, func() bool {
		return mustJS[bool](t, ctx, `return document.querySelectorAll("#suggestions .chip").length > 0;`)
	}) {
		t.Fatal("the page did not pick up /demo.json")
	}
	if known := mustJS[string](t, ctx, `return localStorage.getItem("tunnelkit.knownHosts");`); known != `{"other:22":"SHA256:kept"}` {
		t.Errorf("known hosts after loading the demo: %s, want the earlier run's gateway:22 key forgotten and the other kept", known)
	}
	// The demo's note comes beside the privacy line, not instead of it.
	if both := mustJS[bool](t, ctx, `const n = document.getElementById("demo-note"), p = document.querySelector(".privacy");
		return !n.hidden && n.textContent.includes("Demo") && p.offsetParent !== null && p.textContent.includes("stay in this tab");`); !both {
		t.Error("the demo note and the privacy line are not both shown")
	}
	gw := d.Info()
	form := mustJS[map[string]string](t, ctx, `const v = id => document.getElementById(id).value;
		return {host: v("host"), port: v("port"), user: v("user"), password: v("password")};`)
	if form["host"] != "gateway" || form["port"] != "22" || form["host"] != gw.Host || form["port"] != fmt.Sprint(gw.Port) || form["user"] != gw.User || form["password"] != "" {
		t.Fatalf("prefilled form %v, want host %s port %d user %s and no password", form, gw.Host, gw.Port, gw.User)
	}
	do(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#password"), d.Gateway.Password),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")),
	)
	if fp := text(t, ctx, "#hostkey-fp"); fp != d.Gateway.Fingerprint() {
		t.Fatalf("dialog shows %q, want the demo gateway's %q", fp, d.Gateway.Fingerprint())
	}
	do(t, ctx, "trust the key",
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")),
	)

	// Each suggestion, clicked then added, gives an entry socket that serves the web page.
	get := func(entry string) string {
		hc := &http.Client{Timeout: 10 * time.Second}
		resp, err := hc.Get("http://" + entry + "/")
		if err != nil {
			t.Fatalf("GET through entry %s: %v", entry, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i, want := range []string{"-L 127.0.0.1:0:" + d.WebAddr, "-R 127.0.0.1:0:" + d.WebAddr} {
		// A chip leads with its label and adds its forward on click.
		chip := fmt.Sprintf(`[...document.querySelectorAll("#suggestions .chip")].find(b => b.dataset.spec === %s)`, jsString(want))
		if label := mustJS[string](t, ctx, `const b = `+chip+`; if (!b) throw new Error("no suggestion "+`+jsString(want)+`); return b.firstChild.textContent;`); label == want || label == "" {
			t.Errorf("chip for %s leads with %q, want its human label", want, label)
		}
		mustJS[any](t, ctx, chip+`.click();`)
		do(t, ctx, "add "+want, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#forwards li:nth-child(%d) .entry", 1))))
		var entry string
		if !waitFor(20*time.Second, func() bool {
			entry = mustJS[string](t, ctx, `return document.querySelectorAll("#forwards li").length === `+fmt.Sprint(i+1)+` ? document.querySelector("#forwards li").dataset.entry : "";`)
			return entry != ""
		}) {
			t.Fatalf("%s: no forward shown (error: %q)", want, text(t, ctx, "#spec-error"))
		}
		if body := get(entry); !strings.Contains(body, "hello from the exit socket") {
			t.Fatalf("%s: entry %s served %q", want, entry, body)
		}
		if i == 0 {
			if href := mustJS[string](t, ctx, `const a = document.querySelector("#forwards li .open-link"); return a ? a.href : "";`); href != "http://"+entry+"/" {
				t.Errorf("open link %q, want http://%s/ (a web exit, the relay on this machine)", href, entry)
			}
		}
		if !waitFor(20*time.Second, func() bool { return readDOMStats(t, ctx).BytesIn != "0" }) {
			t.Errorf("%s: the page's counters did not move", want)
		}
	}
	screenshot(t, ctx, "ui-demo.png")
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	screenshot(t, ctx, "ui-demo-dark.png")
}

// TestUIMissingWasm: a server built without `make build` has no
// tunnelkit.wasm; the page says how to fix that instead of hanging.
func TestUIMissingWasm(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "tunnelkit.wasm is not built", http.StatusNotFound)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(buildWasm(t), "wasm_exec.js"))
	})
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)
	do(t, ctx, "load the page",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#load-error")),
	)
	if msg := text(t, ctx, "#load-error"); !strings.Contains(msg, "make build") {
		t.Errorf("banner %q, want it to say: run make build", msg)
	}
	if disabled := mustJS[bool](t, ctx, `return document.getElementById("connect-btn").disabled;`); !disabled {
		t.Error("Connect is enabled without an SSH client")
	}
}

// TestUIKeyFile signs in with an encrypted private key chosen in the file
// picker (read in the page, never uploaded), then disconnects.
func TestUIKeyFile(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	do(t, ctx, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	mustJS[any](t, ctx, `for (const id of ["host", "port", "user"]) document.getElementById(id).value = "";`)
	do(t, ctx, "sign in with a key file",
		chromedp.SendKeys(chromedp.CSS("#host"), st.SSHD.Host()),
		chromedp.SendKeys(chromedp.CSS("#port"), fmt.Sprint(st.SSHD.Port())),
		chromedp.SendKeys(chromedp.CSS("#user"), st.SSHD.User),
		chromedp.Click(chromedp.CSS(`label[for="auth-key"]`)),
		chromedp.WaitVisible(chromedp.CSS("#keyfile")),
		chromedp.SetUploadFiles(chromedp.CSS("#keyfile"), []string{st.SSHD.EncryptedKeyFile}),
		chromedp.SendKeys(chromedp.CSS("#passphrase"), "wrong "+st.SSHD.KeyPassphrase),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#connect-error")),
	)
	if msg := text(t, ctx, "#connect-error"); !strings.Contains(strings.ToLower(msg), "passphrase") {
		t.Errorf("wrong passphrase: form says %q, want it to name the passphrase", msg)
	}
	mustJS[any](t, ctx, `document.getElementById("passphrase").value = "";`)
	do(t, ctx, "retry with the right passphrase",
		chromedp.SendKeys(chromedp.CSS("#passphrase"), st.SSHD.KeyPassphrase),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")),
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")),
	)
	if got := text(t, ctx, "#session-target"); got != st.SSHD.User+"@"+st.SSHD.Addr {
		t.Errorf("session shows %q, want %s@%s", got, st.SSHD.User, st.SSHD.Addr)
	}
	if v := mustJS[string](t, ctx, `return document.getElementById("passphrase").value;`); v != "" {
		t.Error("the passphrase stays in the form after connecting")
	}
	do(t, ctx, "disconnect",
		chromedp.Click(chromedp.CSS("#disconnect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#connect-card")),
	)
	if status := text(t, ctx, "#status"); status != "Disconnected" {
		t.Errorf("status %q after Disconnect, want Disconnected", status)
	}
	if shown := mustJS[bool](t, ctx, `return !document.getElementById("connect-error").hidden;`); shown {
		t.Errorf("an error is shown after a deliberate disconnect: %q", text(t, ctx, "#connect-error"))
	}
}
