package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
)

// The page's reconnecting session: the keep-credentials choice, the state
// on the session header and on each forward row, the password asked again
// when it was not kept, giving up and Reconnect. The relay is a real
// `tunnelkit serve` process, SIGKILLed and restarted on the same port.

// reconnectStack is a gateway, a page server, and a relay process the
// page connects through, with one fixed -L entry port it may bind.
type reconnectStack struct {
	st     *stack
	rp     *relayProc
	entry  string // the -L entry socket on the relay host
	pinger string // the -L exit
}

func startReconnectStack(t *testing.T) *reconnectStack {
	t.Helper()
	st := startStackWith(t, stackOptions{})
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	entry := "127.0.0.1:" + strconv.Itoa(sshtest.FreePort(t, "127.0.0.1"))
	origin := strings.TrimPrefix(st.Server.URL, "http://")
	rp := startRelayProc(t, "--allow", st.SSHD.Addr, "--allow-listen", entry, "--allow-origin", origin)
	return &reconnectStack{st: st, rp: rp, entry: entry, pinger: pinger}
}

// connectThroughRelay fills the form with the relay process and the
// gateway, ticks keep-credentials when keep, and accepts the host key.
func connectThroughRelay(t *testing.T, ctx context.Context, rs *reconnectStack, keep bool) {
	t.Helper()
	do(t, ctx, "wait for the connect button", chromedp.WaitEnabled(chromedp.CSS("#connect-btn")))
	if checked := mustJS[bool](t, ctx, `return document.querySelector('input[name="keep-credentials"]').checked;`); checked {
		t.Errorf("keep-credentials is checked by default")
	}
	label := mustJS[string](t, ctx, `return document.querySelector('label[for="keep-credentials"]').innerText;`)
	if !strings.Contains(label, "Keep my password/key in this tab so tunnelkit can reconnect by itself") {
		t.Errorf("keep-credentials label %q", label)
	}
	mustJS[any](t, ctx, `document.getElementById("relay").value = `+jsString(rs.rp.URL)+`;`)
	if keep {
		do(t, ctx, "keep credentials", chromedp.Click(chromedp.CSS("#keep-credentials")))
	}
	fillConnectForm(t, ctx, rs.st)
	do(t, ctx, "accept the host key",
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")),
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")),
	)
}

// sessionState is what the page shows for the session and its one forward.
type sessionState struct {
	State, Text, Row, Badge, Entry, Status string
	Asking, ReconnectBtn              bool
}

func readSessionState(t *testing.T, ctx context.Context) sessionState {
	t.Helper()
	return mustJS[sessionState](t, ctx, `const li = document.querySelector("#forwards > li");
		return {State: document.getElementById("session-state").dataset.state,
			Text: document.getElementById("session-state-text").innerText.trim(),
			Row: li ? li.dataset.state : "", Badge: li ? li.querySelector(".state-badge").innerText.trim().toLowerCase() : "",
			Entry: li ? li.dataset.entry : "", Status: document.getElementById("status").innerText.trim(),
			Asking: !document.getElementById("reauth").hidden,
			ReconnectBtn: !document.getElementById("reconnect-btn").hidden};`)
}

func waitSessionState(t *testing.T, ctx context.Context, what string, d time.Duration, cond func(sessionState) bool) sessionState {
	t.Helper()
	var s sessionState
	if !waitFor(d, func() bool { s = readSessionState(t, ctx); return cond(s) }) {
		t.Fatalf("page never showed %s; shows %+v", what, s)
	}
	return s
}

// carriesAgain waits until the -L carries once more (45 s after the relay is back).
func carriesAgain(t *testing.T, rs *reconnectStack, what string) {
	t.Helper()
	start := time.Now()
	if !waitFor(45*time.Second, func() bool {
		return sshtest.Ping("", rs.entry, what) == nil
	}) {
		t.Fatalf("%s: the page's -L %s does not carry again", what, rs.entry)
	}
	t.Logf("%s: the -L carries again after %v", what, time.Since(start).Round(time.Millisecond))
}

// TestUIReconnectKeptCredentials: with keep-credentials ticked, a relay
// restart shows "reconnecting, attempt k, next in N s" on the session and
// the row, then connected, and the -L carries again without asking.
func TestUIReconnectKeptCredentials(t *testing.T) {
	rs := startReconnectStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, rs.st.PageURL)
	connectThroughRelay(t, ctx, rs, true)
	addSpec(t, ctx, "-L "+rs.entry+":"+rs.pinger, 1)
	if err := sshtest.Ping("", rs.entry, "before"); err != nil {
		t.Fatalf("page -L before the restart: %v", err)
	}
	if s := readSessionState(t, ctx); s.State != "connected" || s.Text != "Connected" {
		t.Errorf("a fresh session shows %+v, want connected", s)
	}

	// A restarted relay has lost the resume state: the page reconnects.
	// Killed again once it does, it stays reconnecting long enough to look.
	rs.rp.kill()
	rs.rp.start(t)
	isReconnecting := func(s sessionState) bool { return s.State == "reconnecting" && s.Row == "reconnecting" }
	waitSessionState(t, ctx, "reconnecting", 45*time.Second, isReconnecting)
	rs.rp.kill()
	s := waitSessionState(t, ctx, "reconnecting while the relay is down", 60*time.Second, isReconnecting)
	if !strings.HasPrefix(s.Text, "Reconnecting, attempt ") || !strings.Contains(s.Text, ", next in ") || !strings.HasSuffix(s.Text, " s") {
		t.Errorf("reconnecting session says %q, want \"Reconnecting, attempt k, next in N s\"", s.Text)
	}
	if s.Asking {
		t.Errorf("the page asks for the password although it was kept")
	}
	if !strings.HasPrefix(s.Status, "Connection lost") || !strings.Contains(s.Status, "Reconnecting, attempt") {
		t.Errorf("status %q while reconnecting", s.Status)
	}
	checkAccessibility(t, ctx, "reconnecting")
	shoot(t, ctx, "page-reconnecting")

	rs.rp.start(t)
	carriesAgain(t, rs, "after")
	s = waitSessionState(t, ctx, "connected with the forward up", 15*time.Second, func(s sessionState) bool {
		return s.State == "connected" && s.Row == "up"
	})
	if s.Text != "Connected" || s.Entry != rs.entry || s.Badge != "up" || s.Asking {
		t.Errorf("after the reconnect the page shows %+v, want connected, the row up on %s", s, rs.entry)
	}
	if n := rs.st.SSHD.Logins(t); n != 2 {
		t.Errorf("%d logins at the gateway, want 2 (the first and the reconnect)", n)
	}
}

// TestUIReconnectAsksPassword: without keep-credentials the password is not
// kept (the field is empty, no storage holds it); after a relay restart the
// page asks for it, naming the gateway, and typing it reconnects; giving up
// shows "Gave up: ..." with a Reconnect button, which asks again and
// brings the session and its forward back.
func TestUIReconnectAsksPassword(t *testing.T) {
	rs := startReconnectStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, rs.st.PageURL)
	connectThroughRelay(t, ctx, rs, false)
	addSpec(t, ctx, "-L "+rs.entry+":"+rs.pinger, 1)
	password := rs.st.SSHD.Password
	if v := mustJS[string](t, ctx, `return document.getElementById("password").value;`); v != "" {
		t.Errorf("the password field still holds %d characters after connecting", len(v))
	}
	if where := mustJS[string](t, ctx, `const pw = `+jsString(password)+`, hits = [];
		for (const [name, st] of [["sessionStorage", sessionStorage], ["localStorage", localStorage]])
			for (let i = 0; i < st.length; i++) if ((st.getItem(st.key(i)) || "").includes(pw) || st.key(i).includes(pw)) hits.push(name + ":" + st.key(i));
		return hits.join(", ");`); where != "" {
		t.Errorf("the password is stored in %s", where)
	}
	target := rs.st.SSHD.PasswordUser + "@" + rs.st.SSHD.Addr

	// Asked after the drop; the password typed reconnects.
	rs.rp.kill()
	rs.rp.start(t)
	waitSessionState(t, ctx, "the password prompt", 45*time.Second, func(s sessionState) bool { return s.Asking })
	if head := text(t, ctx, "#session-state-text"); head != "Reconnecting: waiting for you to sign in again" {
		t.Errorf("while asking the session says %q", head)
	}
	if ask := text(t, ctx, "#reauth-text"); !strings.Contains(ask, target) {
		t.Errorf("the prompt says %q, want it to name %s", ask, target)
	}
	if focused := mustJS[string](t, ctx, `return document.activeElement.id;`); focused != "reauth-password" {
		t.Errorf("focus on %q while asking, want the password field", focused)
	}
	shoot(t, ctx, "page-reconnect-asking")
	do(t, ctx, "type the password again",
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), password),
		chromedp.Click(chromedp.CSS("#reauth-ok")))
	carriesAgain(t, rs, "after the password")
	waitSessionState(t, ctx, "connected with the forward up", 15*time.Second, func(s sessionState) bool {
		return s.State == "connected" && s.Row == "up" && !s.Asking
	})

	// Asked again; giving up shows why, with Reconnect.
	rs.rp.kill()
	rs.rp.start(t)
	waitSessionState(t, ctx, "the password prompt again", 45*time.Second, func(s sessionState) bool { return s.Asking })
	do(t, ctx, "give up", chromedp.Click(chromedp.CSS("#reauth-cancel")))
	s := waitSessionState(t, ctx, "gave up", 20*time.Second, func(s sessionState) bool { return s.State == "gave-up" && s.Badge == "gave up" })
	if s.Text != "Gave up: you did not sign in again." || !s.ReconnectBtn || s.Status != "Connection lost" {
		t.Errorf("gave up shows %+v, want the reason in words, a Reconnect button, status Connection lost", s)
	}
	if !mustJS[bool](t, ctx, `return !document.getElementById("session-card").hidden;`) {
		t.Errorf("the session card is gone after giving up")
	}
	shoot(t, ctx, "page-reconnect-gave-up")

	// Reconnect asks once more and brings the forward back.
	do(t, ctx, "reconnect", chromedp.Click(chromedp.CSS("#reconnect-btn")))
	waitSessionState(t, ctx, "the prompt after Reconnect", 10*time.Second, func(s sessionState) bool { return s.Asking })
	do(t, ctx, "type the password after Reconnect",
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), password),
		chromedp.Click(chromedp.CSS("#reauth-ok")))
	carriesAgain(t, rs, "after Reconnect")
	s = waitSessionState(t, ctx, "a new session with the forward", 20*time.Second, func(s sessionState) bool {
		return s.State == "connected" && s.Row == "up"
	})
	if s.Entry != rs.entry || s.ReconnectBtn || s.Asking {
		t.Errorf("after Reconnect the page shows %+v", s)
	}
	if n := mustJS[int](t, ctx, `return document.querySelectorAll("#forwards > li").length;`); n != 1 {
		t.Errorf("%d forward rows after Reconnect, want 1", n)
	}
}
