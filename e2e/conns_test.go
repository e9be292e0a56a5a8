package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/internal/sshtest"
)

// openConn is an open connection's row in a forward's card.
type openConn struct {
	Conn, Name, Bytes string
	BytesIn, BytesOut int64
}

func readOpenConns(t *testing.T, ctx context.Context, entry string) []openConn {
	t.Helper()
	return mustJS[[]openConn](t, ctx, `
		const li = [...document.querySelectorAll("#forwards li")].find(l => l.dataset.entry === `+jsString(entry)+`);
		if (!li) throw new Error("no forward for `+entry+`");
		return [...li.querySelectorAll(".conn-open")].map(c => ({
			Conn: c.dataset.conn || "", Name: c.querySelector(".conn-name").textContent,
			Bytes: (c.querySelector(".conn-bytes") || {}).textContent || "",
			BytesIn: Number(c.dataset.bytesIn || -1), BytesOut: Number(c.dataset.bytesOut || -1)}));`)
}

// TestUIConnBytes: an open connection's row shows its own bytes, and they
// grow in the card while data flows, with the page's usual poll.
func TestUIConnBytes(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")
	spec := "127.0.0.1:0:" + pinger
	entry := addForwardViaUI(t, ctx, st, spec, fmt.Sprintf("ssh -N -L %s -p %d %s@%s", spec, st.SSHD.Port(), st.SSHD.PasswordUser, st.SSHD.Host()))

	conn, err := net.DialTimeout("tcp", entry, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to entry socket %s: %v", entry, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	line := strings.Repeat("bytes ", 50)
	sent, back := int64(0), int64(0)
	ping := func() {
		fmt.Fprintf(conn, "%s\n", line)
		if got, err := r.ReadString('\n'); err != nil || got != "ACK "+line+"\n" {
			t.Fatalf("through %s: got %q, %v; want the pinger's ACK", entry, got, err)
		}
		sent += int64(len(line) + 1)
		back += int64(len("ACK ") + len(line) + 1)
	}
	ping()

	// The row shows exactly what went through so far, both ways.
	var rows []openConn
	if !waitFor(20*time.Second, func() bool {
		rows = readOpenConns(t, ctx, entry)
		return len(rows) == 1 && rows[0].BytesOut == sent && rows[0].BytesIn == back
	}) {
		t.Fatalf("open connections %+v, want one with %d bytes out and %d back", rows, sent, back)
	}
	first := rows[0]
	if !strings.Contains(first.Bytes, "out") || !strings.Contains(first.Bytes, "back") {
		t.Errorf("open connection %+v: its bytes are not in words", first)
	}

	for range 10 {
		ping()
	}
	if !waitFor(20*time.Second, func() bool {
		rows = readOpenConns(t, ctx, entry)
		return len(rows) == 1 && rows[0].BytesOut == sent && rows[0].BytesIn == back
	}) {
		t.Fatalf("open connections %+v, want the same one grown to %d bytes out and %d back", rows, sent, back)
	}
	if rows[0].Conn != first.Conn || rows[0].Bytes == first.Bytes {
		t.Errorf("after more data: %+v, was %+v; want the same connection with more bytes shown", rows[0], first)
	}
	t.Logf("open connection row: %s: %s", rows[0].Name, rows[0].Bytes)
	shoot(t, ctx, "conns-open-bytes")
	checkAccessibility(t, ctx, "a card with an open connection and its bytes")

	conn.Close()
	if !waitFor(20*time.Second, func() bool { return len(readOpenConns(t, ctx, entry)) == 0 }) {
		t.Errorf("the closed connection still listed as open: %+v", readOpenConns(t, ctx, entry))
	}
}

// TestUIHTTPProbe: "open as http://" is offered for a -L whose exit answers
// a HEAD with HTTP (asked once per exit), and not for the pinger.
func TestUIHTTPProbe(t *testing.T) {
	var heads atomic.Int64
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		fmt.Fprintln(w, "a web exit")
	}))
	defer web.Close()
	webAddr := strings.TrimPrefix(web.URL, "http://")
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	do(t, ctx, "set the viewport", chromedp.EmulateViewport(1280, 900))
	openPage(t, ctx, st.PageURL)
	connectViaUI(t, ctx, st, "")

	add := func(exit string) (entry string) {
		t.Helper()
		n := mustJS[int](t, ctx, `return document.querySelectorAll("#forwards li").length;`)
		mustJS[any](t, ctx, `const s = document.getElementById("spec"); s.value = ""; s.dispatchEvent(new Event("input", {bubbles: true}));`)
		do(t, ctx, "add -L to "+exit,
			chromedp.SendKeys(chromedp.CSS("#spec"), "127.0.0.1:0:"+exit),
			chromedp.Click(chromedp.CSS("#forward-btn")))
		waitJS(t, ctx, `document.querySelectorAll("#forwards li").length > `+fmt.Sprint(n))
		return mustJS[string](t, ctx, `return document.querySelector("#forwards li").dataset.entry;`)
	}
	// verdict waits for the probe and returns the card's link, "" for none.
	verdict := func(entry, want string) string {
		t.Helper()
		card := `[...document.querySelectorAll("#forwards li")].find(l => l.dataset.entry === ` + jsString(entry) + `)`
		waitJS(t, ctx, card+`.dataset.http === `+jsString(want))
		return mustJS[string](t, ctx, `const a = `+card+`.querySelector(".open-link"); return a ? a.href : "";`)
	}

	// An exit that takes the HEAD and never answers: the probe gives up and
	// closes its socket (the exit reads EOF).
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentEOF := make(chan string, 1)
	go func() {
		c, err := silent.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			got = append(got, " (then "+err.Error()+")"...)
		}
		silentEOF <- string(got)
	}()

	webEntry := add(webAddr)
	if href := verdict(webEntry, "yes"); href != "http://"+webEntry+"/" {
		t.Errorf("link %q for a -L to an HTTP server, want http://%s/", href, webEntry)
	}
	pingEntry := add(pinger)
	if href := verdict(pingEntry, "no"); href != "" {
		t.Errorf("link %q for the pinger, which does not speak HTTP", href)
	}
	silentEntry := add(silent.Addr().String())
	if href := verdict(silentEntry, "no"); href != "" {
		t.Errorf("link %q for an exit that never answers", href)
	}
	select {
	case got := <-silentEOF:
		if !strings.HasPrefix(got, "HEAD / HTTP/1.0\r\nHost: "+silent.Addr().String()+"\r\n\r\n") || strings.Contains(got, "(then") {
			t.Errorf("the silent exit read %q, want the HEAD and then EOF", got)
		}
	case <-time.After(20 * time.Second):
		t.Error("the probe's socket to the silent exit was not closed")
	}
	again := add(webAddr) // the same exit: its answer is kept
	if href := verdict(again, "yes"); href != "http://"+again+"/" {
		t.Errorf("link %q for a second -L to the HTTP server, want http://%s/", href, again)
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("the HTTP exit got %d HEAD requests for two forwards, want 1 (one probe per exit)", n)
	}
	if err := sshtest.Ping("", pinger, "still here"); err != nil {
		t.Errorf("the pinger after the probe: %v", err)
	}
	shoot(t, ctx, "conns-http-probe")
	checkAccessibility(t, ctx, "cards with and without an open-as-http link")
}
