package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tunnelkit/web"
)

// presetServer serves the page with pc as its preset (as `tunnelkit serve
// --page-gateway --page-user --path-prefix /team/` does) next to st's
// relay, under /team/: the page must ask for page-config.json relative to
// itself, since nothing answers it at the root. The answer to the second
// page-config.json request waits for release, so a test can type first.
func presetServer(t *testing.T, st *stack, pc web.PageConfig) (pageURL string, release func()) {
	t.Helper()
	dir := buildWasm(t)
	gate := make(chan struct{})
	var asked atomic.Int32
	ui := web.HandlerWith(pc)
	inner := http.NewServeMux()
	rh := st.Relay.Handler()
	inner.Handle("/v1/", rh)
	inner.Handle("/healthz", rh)
	inner.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "tunnelkit.wasm"))
	})
	inner.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(dir, "wasm_exec.js"))
	})
	inner.HandleFunc("/page-config.json", func(w http.ResponseWriter, req *http.Request) {
		if asked.Add(1) == 2 {
			select {
			case <-gate:
			case <-req.Context().Done():
				return
			case <-time.After(30 * time.Second):
			}
		}
		ui.ServeHTTP(w, req)
	})
	inner.Handle("/", ui)
	outer := http.NewServeMux()
	outer.Handle("/team/", http.StripPrefix("/team", inner))
	srv := httptest.NewServer(outer)
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(gate)
		}
	}
	t.Cleanup(func() {
		release()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL + "/team/", release
}

type connectForm struct{ Host, Port, User, Relay string }

func readConnectForm(t *testing.T, ctx context.Context) connectForm {
	t.Helper()
	return mustJS[connectForm](t, ctx, `const v = (id) => document.getElementById(id).value;
		return {Host: v("host"), Port: v("port"), User: v("user"), Relay: v("relay")};`)
}

// TestPresetFillsConnectForm: a relay serving a preset (--page-gateway,
// --page-user) under a path prefix fills the page's empty host, port and
// user; a connect with only the password typed reaches the real sshd. A
// host typed before the preset arrives wins (with its port), and the
// empty user is still filled.
func TestPresetFillsConnectForm(t *testing.T) {
	st := startStack(t)
	pc := web.PageConfig{Host: st.SSHD.Host(), Port: st.SSHD.Port(), User: st.SSHD.PasswordUser}
	pageURL, release := presetServer(t, st, pc)
	ctx := newBrowser(t)
	openPage(t, ctx, pageURL)

	want := connectForm{Host: pc.Host, Port: fmt.Sprint(pc.Port), User: pc.User}
	var got connectForm
	if !waitFor(10*time.Second, func() bool {
		got = readConnectForm(t, ctx)
		return got.Host == want.Host && got.Port == want.Port && got.User == want.User
	}) {
		t.Fatalf("connect form %+v, want the preset %+v", got, pc)
	}
	if wantRelay := "ws" + strings.TrimPrefix(strings.TrimSuffix(pageURL, "/"), "http"); got.Relay != wantRelay {
		t.Errorf("relay field %q, want the page's directory %q", got.Relay, wantRelay)
	}
	saveScreenshots(t, ctx, "preset")

	// Only the password is typed.
	do(t, ctx, "type the password and connect",
		chromedp.WaitEnabled(chromedp.CSS("#connect-btn")),
		chromedp.SendKeys(chromedp.CSS("#password"), st.SSHD.Password),
		chromedp.Click(chromedp.CSS("#connect-btn")),
		chromedp.WaitVisible(chromedp.CSS("#hostkey-dialog")))
	if fp := text(t, ctx, "#hostkey-fp"); fp != st.SSHD.HostKeyFingerprint {
		t.Fatalf("dialog shows fingerprint %q, want %q", fp, st.SSHD.HostKeyFingerprint)
	}
	do(t, ctx, "accept the host key",
		chromedp.Click(chromedp.CSS("#hostkey-accept")),
		chromedp.WaitVisible(chromedp.CSS("#session-card")))
	if fp := text(t, ctx, "#session-hostkey"); fp != st.SSHD.HostKeyFingerprint {
		t.Errorf("session shows host key %q, want %q", fp, st.SSHD.HostKeyFingerprint)
	}

	// A second tab: the host is typed while the preset is on its way.
	tab, _ := newTab(t, ctx)
	openPage(t, tab, pageURL)
	do(t, tab, "type a host", chromedp.SendKeys(chromedp.CSS("#host"), "typed.example"))
	release()
	if !waitFor(10*time.Second, func() bool { return readConnectForm(t, tab).User == pc.User }) {
		t.Fatalf("user not filled from the preset: %+v", readConnectForm(t, tab))
	}
	if f := readConnectForm(t, tab); f.Host != "typed.example" || f.Port != "22" {
		t.Errorf("typed host: form %+v, want host typed.example with its own port 22 kept", f)
	}
}
