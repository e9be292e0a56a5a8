package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

// The page's OpenSSH habits: -D (a SOCKS proxy on the relay host), jump
// hosts (ssh -J) in the connect form, and the relay token field shown from
// /healthz before any refusal.

// jsSetSpec sets the forward field as typing does and returns what the
// editor shows: the command, whether it is the placeholder, the selector.
type specView struct {
	Command, Explain, Kind string
	Invalid                bool
}

func showSpec(t *testing.T, ctx context.Context, kind, input string) specView {
	t.Helper()
	return mustJS[specView](t, ctx, `
		document.getElementById("kind-`+kind+`").click();
		const spec = document.getElementById("spec");
		spec.value = `+jsString(input)+`;
		spec.dispatchEvent(new Event("input"));
		const cmd = document.getElementById("spec-command");
		return {Command: cmd.textContent, Invalid: cmd.classList.contains("invalid"),
			Explain: document.getElementById("spec-explain").textContent,
			Kind: document.querySelector("input[name=kind]:checked").value};`)
}

// TestUIDynamicForward: a -D typed in the editor (or picked with the
// selector) shows ssh -N -D, starts a SOCKS entry on the relay host whose
// card says what to point at it, draws entry → relay → SSH → gateway →
// any exit, and curl --socks5-hostname through it fetches a file from a
// loopback web server, SHA-256 checked.
func TestUIDynamicForward(t *testing.T) {
	url, sum := webExit(t)
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)

	// Go parses: a -D flag typed with the -L selector wins and moves it; the
	// selector alone makes "1080" a -D; a bad -D gets the placeholder.
	if v := showSpec(t, ctx, "L", "-D 127.0.0.1:1080"); v.Invalid || v.Command != "ssh -N -D 127.0.0.1:1080 USER@GATEWAY" || v.Kind != "D" {
		t.Errorf("-D typed with -L selected: %+v", v)
	}
	if v := showSpec(t, ctx, "D", "1080"); v.Invalid || v.Command != "ssh -N -D 1080 USER@GATEWAY" || !strings.Contains(v.Explain, "SOCKS") || strings.Contains(v.Explain, "Remote forward") {
		t.Errorf("1080 with -D selected: %+v", v)
	}
	if v := showSpec(t, ctx, "D", "-L 8080:db:5432"); v.Invalid || v.Kind != "L" {
		t.Errorf("-L typed with -D selected: %+v, want the flag to win", v)
	}
	if v := showSpec(t, ctx, "D", "70000"); !v.Invalid {
		t.Errorf("-D 70000 accepted: %+v", v)
	}
	mustJS[any](t, ctx, `document.getElementById("spec").value = ""; document.getElementById("kind-L").click();`)

	connectViaUI(t, ctx, st, "")
	want := fmt.Sprintf("ssh -N -D 127.0.0.1:0 -p %d %s@%s", st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host())
	do(t, ctx, "pick -D", chromedp.Click(chromedp.CSS(`label[for="kind-D"]`)))
	if form := text(t, ctx, "#spec-form"); form != "[entry address:]port" {
		t.Errorf("the field's form for -D says %q", form)
	}
	// A bad -D: one message under the field, in -D's terms, the field marked.
	do(t, ctx, "add a bad -D", chromedp.SendKeys(chromedp.CSS("#spec"), "70000"), chromedp.Click(chromedp.CSS("#forward-btn")),
		chromedp.WaitVisible(chromedp.CSS("#spec-error")))
	if msg := text(t, ctx, "#spec-error"); !strings.Contains(msg, "SOCKS forward (-D) is [entry address:]port") || !strings.Contains(msg, "70000") {
		t.Errorf("a bad -D says %q", msg)
	}
	if errs := visibleErrors(t, ctx); len(errs) != 1 || mustJS[string](t, ctx, `return document.getElementById("spec").getAttribute("aria-invalid") || "";`) != "true" {
		t.Errorf("a bad -D: errors %q, want one with the field marked", errs)
	}
	mustJS[any](t, ctx, `document.getElementById("spec").value = "";`)
	entry := addForwardViaUI(t, ctx, st, "127.0.0.1:0", want)
	checkEntry(t, entry, "127.0.0.1")

	type card struct {
		Kind, Exit, Help, Curl, Command string
		Roles, Titles                   []string
		DiagramText                     string
	}
	c := mustJS[card](t, ctx, `const li = document.querySelector("#forwards > li");
		const svg = li.querySelector("svg.diagram-h");
		return {Kind: li.dataset.kind, Exit: li.querySelector(".row-name .exit").textContent,
			Help: li.querySelector(".socks-help").textContent, Curl: li.querySelector(".socks-curl").textContent,
			Command: li.querySelector(".command:not(.socks-curl)").textContent,
			Roles: [...svg.querySelectorAll(".node")].map(n => n.dataset.role),
			Titles: [...svg.querySelectorAll(".node-title")].map(n => n.textContent),
			DiagramText: svg.textContent};`)
	if c.Kind != "D" || !strings.Contains(c.Exit, "any exit") {
		t.Errorf("row: kind %q, exit %q", c.Kind, c.Exit)
	}
	if wantHelp := "set your browser's or curl's socks5 proxy to " + entry + "; host names are resolved by the gateway"; !strings.Contains(strings.ToLower(c.Help), wantHelp) {
		t.Errorf("card says %q, want %q", c.Help, wantHelp)
	}
	if wantCurl := "curl --socks5-hostname " + entry + " http://…"; c.Curl != wantCurl {
		t.Errorf("curl line %q, want %q", c.Curl, wantCurl)
	}
	if !strings.HasPrefix(c.Command, "ssh -N -D 127.0.0.1:0 ") {
		t.Errorf("card's OpenSSH command %q", c.Command)
	}
	if strings.Join(c.Roles, ",") != "entry,relay,client,gateway,exit" || c.Titles[len(c.Titles)-1] != "any exit" ||
		!strings.Contains(c.DiagramText, "the client asks for") || !strings.Contains(c.DiagramText, "SSH tunnel") {
		t.Errorf("diagram: roles %v, titles %v, text %q", c.Roles, c.Titles, c.DiagramText)
	}

	if got := curlSum(t, "--socks5-hostname", entry, url); got != sum {
		t.Errorf("curl --socks5-hostname through the page's -D entry: SHA-256 %q, want %s", got, sum)
	}
	if !waitFor(20*time.Second, func() bool {
		return mustJS[bool](t, ctx, `const li = document.querySelector("#forwards > li"); return Number(li.dataset.connections) >= 1 && Number(li.dataset.bytesIn) >= 2 << 20;`)
	}) {
		t.Errorf("the card's counters did not show the download: %+v", readDOMStats(t, ctx))
	}
	if errs := visibleErrors(t, ctx); len(errs) != 0 {
		t.Errorf("errors shown after a good -D: %q", errs)
	}
	shoot(t, ctx, "page2-socks")
	checkAccessibility(t, ctx, "a -D forward")
}

// fillJumpConnect fills the connect form for gw through one jump host b,
// with hopPassword for b, and presses Connect.
func fillJumpConnect(t *testing.T, ctx context.Context, gw, b *sshtest.Server, hopPassword string) {
	t.Helper()
	mustJS[any](t, ctx, `for (const id of ["host", "port", "user", "password"]) document.getElementById(id).value = "";
		if (!document.querySelector("input[name=jump-host]")) document.getElementById("jump-add").click();
		for (const n of ["jump-host", "jump-port", "jump-user", "jump-password"]) document.querySelector("input[name=" + n + "]").value = "";`)
	do(t, ctx, "fill the form with a jump host",
		chromedp.SendKeys(chromedp.CSS("#host"), gw.Host()),
		chromedp.SendKeys(chromedp.CSS("#port"), fmt.Sprint(gw.Port())),
		chromedp.SendKeys(chromedp.CSS("#user"), gw.PasswordUser),
		chromedp.SendKeys(chromedp.CSS("#password"), gw.Password),
		chromedp.SendKeys(chromedp.CSS("input[name=jump-host]"), b.Host()),
		chromedp.SendKeys(chromedp.CSS("input[name=jump-port]"), fmt.Sprint(b.Port())),
		chromedp.SendKeys(chromedp.CSS("input[name=jump-user]"), b.PasswordUser),
		chromedp.SendKeys(chromedp.CSS("input[name=jump-password]"), hopPassword),
		chromedp.Click(chromedp.CSS("#connect-btn")),
	)
}

// trustPrompt waits for the host-key dialog to ask about hostport and
// checks the fingerprint it shows, then trusts it.
func trustPrompt(t *testing.T, ctx context.Context, hostport, fp, shot string) {
	t.Helper()
	var got string
	if !waitFor(30*time.Second, func() bool {
		got = mustJS[string](t, ctx, `const d = document.getElementById("hostkey-dialog");
			return d.open ? document.getElementById("hostkey-host").textContent + " " + document.getElementById("hostkey-fp").textContent : "";`)
		return strings.HasPrefix(got, hostport+" ") || strings.HasPrefix(got, hostport+" (")
	}) {
		t.Fatalf("no host-key prompt for %s (dialog shows %q, errors %q)", hostport, got, visibleErrors(t, ctx))
	}
	if !strings.HasSuffix(got, " "+fp) {
		t.Fatalf("prompt for %s shows %q, want fingerprint %s", hostport, got, fp)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	do(t, ctx, "trust "+hostport, chromedp.Click(chromedp.CSS("#hostkey-accept")))
}

// TestUIJumpHost: the connect form reaches a gateway on 127.0.0.2 through
// a bastion, the only address the relay allows. Each hop's host key gets
// its own prompt; a wrong hop password is said and marked on that hop; the
// session header shows the path, the equivalent command -J; the bastion's
// log shows the hop; a reload offers the hops back without secrets.
func TestUIJumpHost(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t) // st.SSHD is the bastion, and all the relay may dial
	b := st.SSHD
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.2"})
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)

	do(t, ctx, "add a jump host", chromedp.Click(chromedp.CSS("#jump-add")))
	if focused := mustJS[string](t, ctx, `return document.activeElement.name || "";`); focused != "jump-host" {
		t.Errorf("after Add a jump host, focus is on %q, want the hop's host field", focused)
	}
	mustJS[any](t, ctx, `document.getElementById("connect-btn").disabled = false;`)
	checkAccessibility(t, ctx, "connect form with a jump host")

	// A wrong password for the jump host: said once, for that hop, its field marked.
	fillJumpConnect(t, ctx, gw, b, "not-the-password")
	trustPrompt(t, ctx, b.Addr, b.HostKeyFingerprint, "page2-jump-hostkey.png")
	if title := mustJS[string](t, ctx, `return document.getElementById("hostkey-title").textContent;`); title != "Trust this jump host?" {
		t.Errorf("the prompt for the jump host says %q", title)
	}
	var msg string
	if !waitFor(30*time.Second, func() bool {
		msg = mustJS[string](t, ctx, `const e = document.getElementById("connect-error"); return e.hidden ? "" : document.getElementById("connect-error-text").textContent;`)
		return msg != ""
	}) {
		t.Fatal("no message after a wrong jump host password")
	}
	if want := "Wrong user name or password for " + b.PasswordUser + "@" + b.Addr + " (jump host 1)."; msg != want {
		t.Errorf("wrong hop password says %q, want %q", msg, want)
	}
	if marked := mustJS[[]string](t, ctx, `return [...document.querySelectorAll("[aria-invalid=true]")].map(e => e.name || e.id);`); len(marked) != 1 || marked[0] != "jump-password" {
		t.Errorf("marked fields %q, want only the hop's password", marked)
	}
	if errs := visibleErrors(t, ctx); len(errs) != 1 {
		t.Errorf("visible errors %q, want one", errs)
	}
	shoot(t, ctx, "page2-jump-wrong-password")

	// The right password: the bastion's key is remembered now; only the gateway's is asked.
	fillJumpConnect(t, ctx, gw, b, b.Password)
	trustPrompt(t, ctx, gw.Addr, gw.HostKeyFingerprint, "")
	do(t, ctx, "wait for the session", chromedp.WaitVisible(chromedp.CSS("#session-card")))
	if hk := text(t, ctx, "#session-hostkey"); hk != gw.HostKeyFingerprint {
		t.Errorf("session shows host key %q, want the gateway's %q", hk, gw.HostKeyFingerprint)
	}
	path := text(t, ctx, "#session-path")
	if !strings.Contains(path, b.PasswordUser+"@"+b.Addr) || !strings.Contains(path, gw.PasswordUser+"@"+gw.Addr) || strings.Index(path, b.Addr) > strings.Index(path, gw.Addr) {
		t.Errorf("session path %q, want the bastion then the gateway", path)
	}
	known := mustJS[map[string]string](t, ctx, `return JSON.parse(localStorage.getItem("tunnelkit.knownHosts"));`)
	if known[b.Addr] != b.HostKeyFingerprint || known[gw.Addr] != gw.HostKeyFingerprint {
		t.Errorf("remembered host keys %v, want the bastion's and the gateway's", known)
	}

	spec := "127.0.0.1:0:" + pinger
	wantCmd := fmt.Sprintf("ssh -N -L %s -J %s@%s:%d -p %d %s@%s", spec, b.PasswordUser, b.Host(), b.Port(), gw.Port(), gw.PasswordUser, gw.Host())
	entry := addForwardViaUI(t, ctx, st, spec, wantCmd)
	if cmd := text(t, ctx, "#forwards li .command"); !strings.Contains(cmd, fmt.Sprintf("-J %s@%s:%d ", b.PasswordUser, b.Host(), b.Port())) {
		t.Errorf("the card's OpenSSH command %q lacks -J", cmd)
	}
	roles := mustJS[string](t, ctx, `return [...document.querySelectorAll("#forwards > li svg.diagram-h .node")].map(n => n.dataset.role + " " + n.querySelector(".node-sub").textContent).join(", ");`)
	if want := "entry " + entry + ", relay " + strings.TrimPrefix(st.PageURL[:len(st.PageURL)-1], "http://") + ", client this page, jump " + b.Addr + ", gateway " + gw.Addr + ", exit " + pinger; roles != want {
		t.Errorf("diagram %q, want %q", roles, want)
	}
	if err := sshtest.Ping("", entry, "through the bastion"); err != nil {
		t.Errorf("ping through the jump host: %v", err)
	}
	hopRE := regexp.MustCompile(fmt.Sprintf(`server_request_direct_tcpip: originator .*, target %s port %d`, regexp.QuoteMeta(gw.Host()), gw.Port()))
	if log, _ := os.ReadFile(b.LogFile); !hopRE.Match(log) {
		t.Errorf("the bastion's log shows no hop to %s", gw.Addr)
	}
	shoot(t, ctx, "page2-jump")
	checkAccessibility(t, ctx, "a session through a jump host")

	saved := mustJS[string](t, ctx, `return sessionStorage.getItem("tunnelkit.restore") || "";`)
	if !strings.Contains(saved, `"jump":[{"host":"`+b.Host()+`"`) || strings.Contains(saved, b.Password) || strings.Contains(saved, gw.Password) {
		t.Errorf("saved set %s: want the jump host, never a password", saved)
	}
	// A reload offers the hops back, without their passwords.
	tab, _ := newTab(t, ctx)
	openPage(t, tab, st.PageURL)
	mustJS[any](t, tab, `sessionStorage.setItem("tunnelkit.restore", `+jsString(saved)+`); location.reload();`)
	do(t, tab, "wait for the offer", chromedp.WaitVisible(chromedp.CSS("#restore-box")))
	if offer := text(t, tab, "#restore-text"); !strings.Contains(offer, "through "+b.PasswordUser+"@"+b.Host()) {
		t.Errorf("the offer says %q, want it to name the jump host", offer)
	}
	do(t, tab, "restore", chromedp.Click(chromedp.CSS("#restore-yes")))
	hop := mustJS[map[string]string](t, tab, `const v = n => document.querySelector("input[name=" + n + "]").value;
		return {host: v("jump-host"), port: v("jump-port"), user: v("jump-user"), password: v("jump-password")};`)
	if hop["host"] != b.Host() || hop["port"] != fmt.Sprint(b.Port()) || hop["user"] != b.PasswordUser || hop["password"] != "" {
		t.Errorf("restored hop %v, want host, port and user, no password", hop)
	}
}

// TestUITokenFromHealthz: on a relay started with tokens the page asks
// /healthz (JSON) and shows the token field before any refusal; connecting
// with the token then works without one refusal; on a relay without
// tokens the field stays hidden.
func TestUITokenFromHealthz(t *testing.T) {
	const token = "healthz-tells-the-page-a-token-is-needed"
	st := startStackWith(t, stackOptions{Tokens: []relay.Token{{Name: "page", Secret: token}}})
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	do(t, ctx, "the token field shows before any connect", chromedp.WaitVisible(chromedp.CSS("#token")))
	if errs := visibleErrors(t, ctx); len(errs) != 0 {
		t.Errorf("errors shown before connecting: %q", errs)
	}
	if n := refusals(t, st, "token"); n != 0 {
		t.Fatalf("the relay refused %d streams before the page connected", n)
	}
	shoot(t, ctx, "page2-token-healthz")
	do(t, ctx, "enter the token", chromedp.SendKeys(chromedp.CSS("#token"), token))
	connectViaUI(t, ctx, st, "")
	if n := refusals(t, st, "token"); n != 0 {
		t.Errorf("the relay refused %d streams for a missing token: the page should have sent it the first time", n)
	}
	// The count is real: a connect without the token is refused and counted.
	if _, err := evalJS[any](ctx, `await tunnelkit.connect({host: `+jsString(st.SSHD.Host())+`, port: `+fmt.Sprint(st.SSHD.Port())+`, user: "x", password: "x"});`); err == nil {
		t.Error("a connect without the token was not refused")
	}
	if !waitFor(10*time.Second, func() bool { return refusals(t, st, "token") == 1 }) {
		t.Errorf("refusals for a missing token: %d, want 1 after one connect without it", refusals(t, st, "token"))
	}

	plain := startStack(t)
	tab, _ := newTab(t, ctx)
	openPage(t, tab, plain.PageURL)
	asked := mustJS[map[string]any](t, tab, `const r = await fetch("healthz", {headers: {Accept: "application/json"}}); return await r.json();`)
	if asked["token"] != false || asked["status"] != "ok" {
		t.Errorf("/healthz of a relay without tokens answers %v", asked)
	}
	if hidden := mustJS[bool](t, tab, `return document.getElementById("token-field").hidden;`); !hidden {
		t.Error("the token field shows on a relay without tokens")
	}
}

// refusals is the relay's tunnelkit_relay_refusals_total for reason.
func refusals(t *testing.T, st *stack, reason string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", st.Server.URL+"/metrics", nil)
	if st.MetricsToken != "" {
		req.Header.Set("Authorization", "Bearer "+st.MetricsToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("metrics: %s", resp.Status)
	}
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	m := regexp.MustCompile(`tunnelkit_relay_refusals_total\{reason="` + regexp.QuoteMeta(reason) + `"\} (\d+)`).FindStringSubmatch(string(body))
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// TestUIJumpHostsTwoHops: two jump hosts in the form, first hop first:
// each hop's key and then the gateway's get their own prompt, in path
// order; the command says -J a,b and the pinger answers through both.
func TestUIJumpHostsTwoHops(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t) // the relay allows only the first hop
	hops := []*sshtest.Server{st.SSHD, sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.2"})}
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.3"})
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	do(t, ctx, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	mustJS[any](t, ctx, `document.getElementById("port").value = "";`)
	do(t, ctx, "fill the gateway",
		chromedp.SendKeys(chromedp.CSS("#host"), gw.Host()),
		chromedp.SendKeys(chromedp.CSS("#port"), fmt.Sprint(gw.Port())),
		chromedp.SendKeys(chromedp.CSS("#user"), gw.PasswordUser),
		chromedp.SendKeys(chromedp.CSS("#password"), gw.Password))
	var jump []string
	for i, h := range hops {
		row := fmt.Sprintf("#jump-list > li:nth-child(%d) ", i+1)
		do(t, ctx, fmt.Sprintf("add jump host %d", i+1), chromedp.Click(chromedp.CSS("#jump-add")))
		mustJS[any](t, ctx, `document.querySelector(`+jsString(row+"input[name=jump-port]")+`).value = "";`)
		do(t, ctx, fmt.Sprintf("fill jump host %d", i+1),
			chromedp.SendKeys(chromedp.CSS(row+"input[name=jump-host]"), h.Host()),
			chromedp.SendKeys(chromedp.CSS(row+"input[name=jump-port]"), fmt.Sprint(h.Port())),
			chromedp.SendKeys(chromedp.CSS(row+"input[name=jump-user]"), h.PasswordUser),
			chromedp.SendKeys(chromedp.CSS(row+"input[name=jump-password]"), h.Password))
		jump = append(jump, fmt.Sprintf("%s@%s:%d", h.PasswordUser, h.Host(), h.Port()))
	}
	do(t, ctx, "connect", chromedp.Click(chromedp.CSS("#connect-btn")))
	trustPrompt(t, ctx, hops[0].Addr, hops[0].HostKeyFingerprint, "")
	trustPrompt(t, ctx, hops[1].Addr, hops[1].HostKeyFingerprint, "")
	trustPrompt(t, ctx, gw.Addr, gw.HostKeyFingerprint, "")
	do(t, ctx, "wait for the session", chromedp.WaitVisible(chromedp.CSS("#session-card")))
	spec := "127.0.0.1:0:" + pinger
	wantCmd := fmt.Sprintf("ssh -N -L %s -J %s -p %d %s@%s", spec, strings.Join(jump, ","), gw.Port(), gw.PasswordUser, gw.Host())
	entry := addForwardViaUI(t, ctx, st, spec, wantCmd)
	if err := sshtest.Ping("", entry, "through two jump hosts"); err != nil {
		t.Errorf("ping through two jump hosts: %v", err)
	}
	if n := mustJS[int](t, ctx, `return document.querySelectorAll("#forwards > li svg.diagram-h .node-jump").length;`); n != 2 {
		t.Errorf("the diagram draws %d jump hosts, want 2", n)
	}
}
