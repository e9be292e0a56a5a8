package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

// The page for people: errors where they happen, rows that hold ten
// forwards, the relay in the diagram, live numbers, visible loading, tokens,
// restore after a reload. Each test leaves screenshots in the artifacts.

// visibleTexts returns the texts of the visible error boxes of the page.
func visibleErrors(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return mustJS[[]string](t, ctx, `return [...document.querySelectorAll(".error, .field-error, .banner")]
		.filter(e => e.offsetParent !== null && e.innerText.trim() !== "").map(e => e.innerText.trim());`)
}

// shoot saves name at desktop and phone sizes, light and dark.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, dark := range []bool{false, true} {
		scheme, suffix := "light", ""
		if dark {
			scheme, suffix = "dark", "-dark"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			t.Fatalf("emulate %s: %v", scheme, err)
		}
		do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
		screenshot(t, ctx, name+suffix+".png")
		do(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		screenshot(t, ctx, name+"-phone"+suffix+".png")
	}
	do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		t.Fatal(err)
	}
}

// checkAccessibility runs axe-core (e2e/testdata/axe.min.js, MPL-2.0) on
// the page and fails on serious or critical violations.
func checkAccessibility(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](string(src)+";0")); err != nil {
		t.Fatalf("inject axe-core: %v", err)
	}
	type violation struct {
		ID, Impact, Help string
		Nodes            int
		Targets          []string
	}
	vs := mustJS[[]violation](t, ctx, `const r = await axe.run(document, {resultTypes: ["violations"]});
		return r.violations.map(v => ({ID: v.id, Impact: v.impact || "", Help: v.help, Nodes: v.nodes.length,
			Targets: v.nodes.slice(0, 5).map(n => String(n.target))}));`)
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: accessibility (%s) %s: %s on %d nodes %v", view, v.Impact, v.ID, v.Help, v.Nodes, v.Targets)
		} else {
			t.Logf("%s: accessibility (%s) %s: %s on %d nodes", view, v.Impact, v.ID, v.Help, v.Nodes)
		}
	}
}

// TestUIErrorsInPlace: a wrong password, a bad spec and a refused listen
// each give one message, in the reader's words, where it happened, with
// the field marked and described; a later success clears them.
func TestUIErrorsInPlace(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	st := startStackWith(t, stackOptions{AllowListen: []string{"127.0.0.1:0", "127.0.0.1:" + busyPort, "127.0.0.1:30000-60999"}})
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	for _, name := range []string{"host", "port", "user", "spec", "password", "passphrase", "token", "relay"} {
		if n := mustJS[int](t, ctx, `return document.querySelectorAll("input[name=`+name+`]").length;`); n != 1 {
			t.Errorf("%d inputs named %q, want 1", n, name)
		}
	}
	checkAccessibility(t, ctx, "connect form")

	// A wrong password.
	do(t, ctx, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	mustJS[any](t, ctx, `for (const id of ["host", "port", "user", "password"]) document.getElementById(id).value = "";`)
	do(t, ctx, "log in with a wrong password",
		chromedp.SendKeys(chromedp.CSS("#host"), st.SSHD.Host()),
		chromedp.SendKeys(chromedp.CSS("#port"), fmt.Sprint(st.SSHD.Port())),
		chromedp.SendKeys(chromedp.CSS("#user"), st.SSHD.PasswordUser),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")),
	)
	if id := mustJS[string](t, ctx, `return document.activeElement.id;`); id != "hostkey-accept" {
		t.Errorf("the host-key dialog focuses %q first, want its primary action", id)
	}
	if label := text(t, ctx, "#hostkey-accept"); label != "Trust" {
		t.Errorf("accept button says %q, want Trust", label)
	}
	checkAccessibility(t, ctx, "host-key dialog")
	do(t, ctx, "trust", chromedp.Click(chromedp.CSS("#hostkey-accept")), chromedp.WaitVisible(chromedp.CSS("#connect-error")))
	want := "Wrong user name or password for " + st.SSHD.PasswordUser + "@" + st.SSHD.Addr + "."
	if got := text(t, ctx, "#connect-error-text"); got != want {
		t.Errorf("wrong password: %q, want %q", got, want)
	}
	marked := mustJS[map[string]string](t, ctx, `const p = document.getElementById("password");
		return {invalid: p.getAttribute("aria-invalid") || "", described: p.getAttribute("aria-describedby") || "",
			details: document.getElementById("connect-error-details").hidden ? "" : document.getElementById("connect-error-detail").textContent};`)
	if marked["invalid"] != "true" || !strings.Contains(marked["described"], "connect-error-text") {
		t.Errorf("password field not marked: %v", marked)
	}
	if !strings.Contains(marked["details"], "authenticate") {
		t.Errorf("details %q, want the gateway's exact words behind the toggle", marked["details"])
	}
	if errs := visibleErrors(t, ctx); len(errs) != 1 || strings.Contains(errs[0], "handshake") || strings.Contains(errs[0], "--") {
		t.Errorf("visible errors %q, want one sentence without the log's detail", errs)
	}
	shoot(t, ctx, "page-wrong-password")

	// The right password: the error goes, the session comes.
	mustJS[any](t, ctx, `document.getElementById("password").value = "";`)
	do(t, ctx, "log in", chromedp.SendKeys(chromedp.CSS("#password"), st.SSHD.Password), chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")))

	// A bad spec: one message under the field, with the parser's hint.
	for spec, words := range map[string]string{"8080:db": "exit", "0:fd00::5:80": "brackets"} {
		mustJS[any](t, ctx, `document.getElementById("spec").value = "";`)
		do(t, ctx, "type "+spec, chromedp.SendKeys(chromedp.CSS("#spec"), spec), chromedp.Click(chromedp.CSS("#forward-btn")),
			chromedp.WaitVisible(chromedp.CSS("#spec-error")))
		got := mustJS[map[string]string](t, ctx, `const s = document.getElementById("spec");
			return {invalid: s.getAttribute("aria-invalid") || "", described: s.getAttribute("aria-describedby") || "",
				msg: document.getElementById("spec-error").textContent};`)
		if got["invalid"] != "true" || !strings.HasPrefix(got["described"], "spec-error") || !strings.Contains(got["msg"], words) {
			t.Errorf("%s: field %v, want it marked and described by a message about %q", spec, got, words)
		}
		if errs := visibleErrors(t, ctx); len(errs) != 1 {
			t.Errorf("%s: visible errors %q, want one", spec, errs)
		}
		if spec == "0:fd00::5:80" {
			shoot(t, ctx, "page-bad-spec")
		}
	}

	// A refused listen (the entry socket is taken): said once, no flags.
	mustJS[any](t, ctx, `document.getElementById("spec").value = "";`)
	taken := "127.0.0.1:" + busyPort + ":" + pinger
	do(t, ctx, "add "+taken, chromedp.SendKeys(chromedp.CSS("#spec"), taken), chromedp.Click(chromedp.CSS("#forward-btn")))
	var errs []string
	waitFor(20*time.Second, func() bool { errs = visibleErrors(t, ctx); return len(errs) > 0 })
	if len(errs) != 1 || !strings.Contains(errs[0], "127.0.0.1:"+busyPort) || strings.Contains(errs[0], "--") {
		t.Errorf("refused listen: visible errors %q, want one message naming the entry socket, no operator flags", errs)
	}
	if n := strings.Count(strings.Join(errs, " "), busyPort); n != 1 {
		t.Errorf("the refused entry socket is named %d times in the error, want once: %q", n, errs)
	}
	// A later success clears it.
	mustJS[any](t, ctx, `document.getElementById("spec").value = "";`)
	addForwardViaUI(t, ctx, st, "127.0.0.1:0:"+pinger, fmt.Sprintf("ssh -N -L 127.0.0.1:0:%s -p %d %s@%s", pinger, st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host()))
	if errs := visibleErrors(t, ctx); len(errs) != 0 {
		t.Errorf("errors still shown after a later success: %q", errs)
	}
	if v := mustJS[string](t, ctx, `return document.getElementById("spec").getAttribute("aria-invalid") || "";`); v != "" {
		t.Errorf("spec still marked invalid (%q) after a success", v)
	}
}

// addSpec adds spec through the form and waits until n forwards are shown.
func addSpec(t *testing.T, ctx context.Context, spec string, n int) {
	t.Helper()
	mustJS[any](t, ctx, `document.getElementById("spec").value = "";`)
	do(t, ctx, "add "+spec, chromedp.SendKeys(chromedp.CSS("#spec"), spec), chromedp.Click(chromedp.CSS("#forward-btn")))
	if !waitFor(20*time.Second, func() bool {
		return mustJS[int](t, ctx, `return document.querySelectorAll("#forwards > li").length;`) == n
	}) {
		t.Fatalf("%s: no forward %d shown (error: %q)", spec, n, visibleErrors(t, ctx))
	}
}

// TestUITenForwards: ten forwards fit as compact rows, each titled with its
// bound entry; the newest is open and focused; rows expand on click.
func TestUITenForwards(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	for i := 1; i <= 10; i++ {
		addSpec(t, ctx, "127.0.0.1:0:"+pinger, i)
	}
	rows := mustJS[[]map[string]string](t, ctx, `return [...document.querySelectorAll("#forwards > li")].map(li => ({
		title: li.querySelector(".forward-title").textContent, entry: li.dataset.entry, state: li.dataset.state,
		badge: li.querySelector(".state-badge").textContent, open: String(!li.querySelector(".forward-body").hidden)}));`)
	opened := 0
	for i, r := range rows {
		if r["entry"] == "" || strings.HasSuffix(r["entry"], ":0") || !strings.Contains(r["title"], r["entry"]) {
			t.Errorf("row %d title %q, want the bound entry %q", i, r["title"], r["entry"])
		}
		if r["state"] != "up" || r["badge"] != "up" {
			t.Errorf("row %d state %q badge %q, want up", i, r["state"], r["badge"])
		}
		if r["open"] == "true" {
			opened++
		}
	}
	if opened != 1 || rows[0]["open"] != "true" {
		t.Errorf("open rows: %d (first open: %s), want only the newest", opened, rows[0]["open"])
	}
	if focused := mustJS[bool](t, ctx, `return document.querySelector("#forwards > li").contains(document.activeElement);`); !focused {
		t.Error("the new forward is not focused")
	}
	h := mustJS[float64](t, ctx, `return document.documentElement.scrollHeight;`)
	if h > 2400 {
		t.Errorf("ten forwards make a %v px page at desktop size, want them compact", h)
	}
	t.Logf("ten forwards: %v px at 1280x900", h)
	// A collapsed row opens on click.
	do(t, ctx, "expand the last row", chromedp.Click(chromedp.CSS("#forwards > li:last-child .row-toggle")))
	if open := mustJS[bool](t, ctx, `return !document.querySelector("#forwards > li:last-child .forward-body").hidden;`); !open {
		t.Error("clicking a row does not expand it")
	}
	shoot(t, ctx, "page-ten-forwards")
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if hp := mustJS[float64](t, ctx, `return document.documentElement.scrollHeight;`); hp > 5000 {
		t.Errorf("ten forwards make a %v CSS px page on a phone", hp)
	} else {
		t.Logf("ten forwards: %v CSS px on a phone", hp)
	}
	if w := mustJS[float64](t, ctx, `return document.documentElement.scrollWidth;`); w > 390 {
		t.Errorf("page is %v px wide on a 390 px screen", w)
	}
	do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
	checkAccessibility(t, ctx, "ten forwards")
}

// TestUIDiagramAndLive: the relay and the SSH tunnel are in the diagram, a
// chain is drawn as one path, a refused exit makes a card "failing", and
// traffic shows a rate, a sparkline, open connections and recent events.
func TestUIDiagramAndLive(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t, pinger)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")

	// A -R to the pinger, then a -L whose exit is that -R's entry: a chain.
	addSpec(t, ctx, "-R 127.0.0.1:0:"+pinger, 1)
	rEntry := mustJS[string](t, ctx, `return document.querySelector("#forwards > li").dataset.entry;`)
	addSpec(t, ctx, "-L 127.0.0.1:0:"+rEntry, 2)
	d := mustJS[map[string]any](t, ctx, `const li = document.querySelector("#forwards > li");
		const svg = li.querySelector("svg.diagram-h");
		return {roles: [...svg.querySelectorAll(".node")].map(n => n.dataset.role).join(","),
			ssh: svg.querySelectorAll(".link-ssh .pipe").length, chain: li.dataset.chain || "",
			label: svg.querySelector(".link-label-ssh").textContent};`)
	if roles := d["roles"].(string); roles != "entry,relay,client,gateway,joint,gateway,client,relay,exit" {
		t.Errorf("chain diagram nodes %q, want the -L path joined to the -R path at the shared socket", roles)
	}
	if d["ssh"].(float64) != 2 || !strings.Contains(d["label"].(string), "encrypted") || d["chain"] == "" {
		t.Errorf("diagram %v, want two encrypted SSH tunnels and a chain", d)
	}

	// Traffic through the chain: pinger answers through -L then -R.
	entry := mustJS[string](t, ctx, `return document.querySelector("#forwards > li").dataset.entry;`)
	conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 4096)
	var live map[string]any
	ok := waitFor(20*time.Second, func() bool {
		fmt.Fprintf(conn, "%s\n", strings.Repeat("x", 1000))
		if _, err := conn.Read(buf); err != nil {
			t.Fatalf("through the chain: %v", err)
		}
		live = mustJS[map[string]any](t, ctx, `const li = document.querySelector("#forwards > li");
			return {rate: Number(li.dataset.rate || 0), spark: (li.querySelector(".spark polyline") || {getAttribute: () => ""}).getAttribute("points") || "",
				open: li.querySelectorAll(".conn-open").length, age: (li.querySelector(".conn-open .conn-age") || {}).textContent || "",
				rowRate: li.querySelector(".row-rate").textContent};`)
		return live["rate"].(float64) > 0 && live["open"].(float64) == 1 && strings.Contains(live["age"].(string), "open")
	})
	if !ok {
		t.Errorf("live numbers: %v, want a rate, a sparkline and one open connection with its age", live)
	}
	shoot(t, ctx, "page-chain-live")
	conn.Close()
	if !waitFor(20*time.Second, func() bool {
		return mustJS[int](t, ctx, `return document.querySelectorAll("#forwards > li:first-child .event:not(.event-none)").length;`) >= 2
	}) {
		t.Error("recent events: want opened and closed listed")
	}

	// A -L whose exit refuses: the card turns "failing".
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	addSpec(t, ctx, "-L 127.0.0.1:0:"+deadAddr, 3)
	fEntry := mustJS[string](t, ctx, `return document.querySelector("#forwards > li").dataset.entry;`)
	if c, err := net.DialTimeout("tcp", fEntry, 5*time.Second); err == nil {
		c.Read(buf)
		c.Close()
	}
	var st3 map[string]string
	if !waitFor(20*time.Second, func() bool {
		st3 = mustJS[map[string]string](t, ctx, `const li = document.querySelector("#forwards > li");
			return {state: li.dataset.state, badge: li.querySelector(".state-badge").textContent, err: li.querySelector(".forward-error").textContent};`)
		return st3["state"] == "failing"
	}) {
		t.Errorf("refused exit: card %v, want failing", st3)
	}
	if st3["badge"] != "failing" || !strings.Contains(st3["err"], deadAddr) || strings.Contains(st3["err"], "--") {
		t.Errorf("failing card %v, want a badge and a message naming the exit", st3)
	}
	shoot(t, ctx, "page-failing")
	checkAccessibility(t, ctx, "session with a chain")
	setScheme(t, ctx, "dark")
	checkAccessibility(t, ctx, "session with a chain, dark")
	setScheme(t, ctx, "light")
}

// TestUILoadProgress: on a throttled link the page shows a progress bar
// with the bytes loaded of the total while the SSH client downloads.
func TestUILoadProgress(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "blank", chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("network: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: 2e6, UploadThroughput: 1e6, Latency: 20}},
	}); err != nil {
		t.Fatalf("throttle: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: st.PageURL}); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	var seen []string
	var mid bool
	waitFor(60*time.Second, func() bool {
		p, err := evalJS[map[string]string](ctx, `const b = document.getElementById("load-progress"), l = document.getElementById("load-text");
			return b ? {loaded: b.dataset.loaded || "", total: b.dataset.total || "", text: l.textContent, hidden: String(document.getElementById("load-box").hidden)} : null;`)
		if err != nil || p == nil {
			return false
		}
		if len(seen) == 0 || seen[len(seen)-1] != p["text"] {
			seen = append(seen, p["text"])
		}
		if p["loaded"] != "" && p["loaded"] != "0" && p["loaded"] != p["total"] && strings.Contains(p["text"], " of ") && strings.HasSuffix(p["text"], " MB") {
			if !mid {
				screenshot(t, ctx, "page-loading.png")
			}
			mid = true
		}
		return p["hidden"] == "true"
	})
	if !mid {
		t.Errorf("no progress shown while loading: texts %q", seen)
	}
	t.Logf("loading texts: %d, e.g. %q", len(seen), seen[min(2, len(seen)-1)])
	chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: -1}},
	})
}

// TestUIToken: a relay that wants a token refuses the first try (4401); the
// page then shows the token field, and the token gets the person in. The
// token never lands in storage or the URL unless asked to.
func TestUIToken(t *testing.T) {
	const token = "s3cret-relay-token-for-the-page"
	st := startStackWith(t, stackOptions{Tokens: []relay.Token{{Name: "page", Secret: token}}})
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	// The relay's /healthz says it needs a token: the field shows before any refusal.
	do(t, ctx, "wait for the token field from /healthz", chromedp.WaitVisible(chromedp.CSS("#token")))
	fillConnectForm(t, ctx, st)
	do(t, ctx, "wait for the token field", chromedp.WaitVisible(chromedp.CSS("#token")))
	if msg := text(t, ctx, "#connect-error-text"); !strings.Contains(msg, "token") || strings.Contains(msg, "--") {
		t.Errorf("refusal says %q, want it to ask for the token, naming no flag", msg)
	}
	if v := mustJS[string](t, ctx, `return document.getElementById("token").getAttribute("aria-invalid") || "";`); v != "true" {
		t.Error("token field not marked")
	}
	shoot(t, ctx, "page-token")
	do(t, ctx, "enter the token",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")),
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")),
	)
	if stored := mustJS[string](t, ctx, `return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href;`); strings.Contains(stored, token) || strings.Contains(stored, st.SSHD.Password) {
		t.Errorf("a secret ended up in storage or the URL: %s", stored)
	}
}

// TestUIRestore: forwards survive a reload (offered back, never with the
// password), leaving asks first, and a share link carries the forward set.
func TestUIRestore(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	specs := []string{"-L 127.0.0.1:0:" + pinger, "-L 127.0.0.1:0:" + st.SSHD.Addr, "-R 127.0.0.1:0:" + st.SSHD.Addr}
	for i, s := range specs {
		addSpec(t, ctx, s, i+1)
	}
	if asks := mustJS[bool](t, ctx, `const e = new Event("beforeunload", {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented;`); !asks {
		t.Error("leaving a page with live forwards does not ask first")
	}
	saved := mustJS[string](t, ctx, `return sessionStorage.getItem("tunnelkit.restore") || "";`)
	if strings.Contains(saved, st.SSHD.Password) || !strings.Contains(saved, pinger) {
		t.Errorf("saved set %s: want the forwards, never the password", saved)
	}
	do(t, ctx, "share link", chromedp.Click(chromedp.CSS("#share-link-btn")))
	link := mustJS[string](t, ctx, `return document.getElementById("share-link-btn").dataset.link || "";`)
	_, frag, _ := strings.Cut(link, "#share=")
	raw, err := base64.RawURLEncoding.DecodeString(frag)
	var shared struct {
		Host     string
		Port     int
		User     string
		Forwards []string
	}
	if err != nil || json.Unmarshal(raw, &shared) != nil || len(shared.Forwards) != 3 || shared.Host != st.SSHD.Host() || strings.Contains(string(raw), st.SSHD.Password) {
		t.Errorf("share link %q carries %s (%v), want the gateway and 3 forwards, no secrets", link, raw, err)
	}

	// Reload: accept the leave prompt when Chromium shows it.
	dialogs := make(chan struct{}, 4)
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	if err := chromedp.Listen(lctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case dialogs <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-dialogs:
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		case <-lctx.Done():
		}
	}()
	if _, err := chromedp.Call(ctx, page.Reload, page.ReloadParams{}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !waitFor(30*time.Second, func() bool {
		_, err := evalJS[any](ctx, `if (!document.getElementById("restore-box") || document.getElementById("restore-box").hidden) throw new Error("not yet"); await tunnelkit.ready;`)
		return err == nil
	}) {
		t.Fatal("after reload: no offer to restore")
	}
	do(t, ctx, "wait for the offer", chromedp.WaitVisible(chromedp.CSS("#restore-box")))
	if title := text(t, ctx, "#restore-title"); title != "Reconnect and restore 3 forwards?" {
		t.Errorf("offer says %q", title)
	}
	shoot(t, ctx, "page-restore")
	do(t, ctx, "restore", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")), chromedp.Click(chromedp.CSS("#restore-yes")))
	if v := mustJS[string](t, ctx, `return document.getElementById("host").value + " " + document.getElementById("user").value + " " + document.getElementById("password").value;`); v != st.SSHD.Host()+" "+st.SSHD.PasswordUser+" " {
		t.Errorf("restored form %q, want host and user, no password", v)
	}
	do(t, ctx, "connect", chromedp.SendKeys(chromedp.CSS("#password"), st.SSHD.Password), chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")))
	var got []string
	if !waitFor(30*time.Second, func() bool {
		got = mustJS[[]string](t, ctx, `return [...document.querySelectorAll("#forwards > li")].map(li => li.dataset.spec);`)
		return len(got) == 3
	}) {
		t.Fatalf("restored forwards %q, want %q", got, specs)
	}
	for _, s := range specs {
		if !strings.Contains(strings.Join(got, "|"), s) {
			t.Errorf("forward %s not restored (have %q)", s, got)
		}
	}

	// The share link in another tab offers the same set.
	tab, _ := newTab(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	do(t, tab, "wait for the offer", chromedp.WaitVisible(chromedp.CSS("#restore-box")))
	if title := text(t, tab, "#restore-title"); title != "Reconnect and restore 3 forwards?" {
		t.Errorf("share link offers %q", title)
	}
	if href := mustJS[string](t, tab, `return location.href;`); strings.Contains(href, "#share") {
		t.Errorf("the share fragment stays in the address bar: %s", href)
	}
}

// setScheme emulates prefers-color-scheme.
func setScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		t.Fatalf("emulate %s: %v", scheme, err)
	}
}

// TestUIRefusedByRelay: a -R whose exit the relay's policy refuses turns
// its card "failing" with what it means for the person at the page (ask the
// relay's operator), never the operator's flag.
func TestUIRefusedByRelay(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0") // not in the relay's allow list
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	addSpec(t, ctx, "-R 127.0.0.1:0:"+pinger, 1)
	entry := mustJS[string](t, ctx, `return document.querySelector("#forwards > li").dataset.entry;`)
	if c, err := net.DialTimeout("tcp", entry, 5*time.Second); err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	} else {
		t.Fatalf("connect to the gateway's entry %s: %v", entry, err)
	}
	var card map[string]string
	if !waitFor(20*time.Second, func() bool {
		card = mustJS[map[string]string](t, ctx, `const li = document.querySelector("#forwards > li");
			return {state: li.dataset.state, err: li.querySelector(".forward-error").innerText, page: document.body.innerText};`)
		return card["state"] == "failing"
	}) {
		t.Fatalf("card %q after a refused exit, want failing", card["state"])
	}
	if want := "This relay does not allow reaching " + pinger + ". Ask its operator"; !strings.Contains(card["err"], want) {
		t.Errorf("card says %q, want %q", card["err"], want)
	}
	if strings.Contains(card["page"], "--allow") {
		t.Errorf("the page names an operator flag: %q", card["page"])
	}
	if errs := visibleErrors(t, ctx); len(errs) != 1 {
		t.Errorf("visible errors %q, want the card's only", errs)
	}
}

// TestUIConnectionLost: when the gateway dies the page says so in a
// sentence (the detail behind the toggle), and the phone header keeps the
// whole status visible.
func TestUIConnectionLost(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	if clipped := mustJS[bool](t, ctx, `const s = document.getElementById("status"); return s.scrollWidth > s.clientWidth + 1;`); clipped {
		t.Errorf("the phone header clips the status %q", text(t, ctx, "#status"))
	}
	st.SSHD.Kill()
	// The page's sessions reconnect: without kept credentials it asks for
	// the password; giving up ends it, said in a sentence.
	do(t, ctx, "wait for the password prompt", chromedp.WaitVisible(chromedp.CSS("#reauth")))
	if status := text(t, ctx, "#status"); !strings.HasPrefix(status, "Connection lost. Reconnecting, attempt ") {
		t.Errorf("status %q while reconnecting", status)
	}
	do(t, ctx, "give up", chromedp.Click(chromedp.CSS("#reauth-cancel")),
		chromedp.WaitVisible(chromedp.CSS(`#session-state[data-state="gave-up"] #reconnect-btn`)))
	if got := text(t, ctx, "#session-state-text"); got != "Gave up: you did not sign in again." {
		t.Errorf("lost connection says %q", got)
	}
	if status := text(t, ctx, "#status"); status != "Connection lost" {
		t.Errorf("status %q, want Connection lost", status)
	}
	shoot(t, ctx, "page-connection-lost")
}
