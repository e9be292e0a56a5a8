package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

// webExit serves a random file on a loopback port and returns its URL by
// the name "localhost" (for the gateway to resolve) and its SHA-256.
func webExit(t *testing.T) (url, sum string) {
	t.Helper()
	blob := make([]byte, 2<<20+99)
	rand.Read(blob)
	h := sha256.Sum256(blob)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://localhost:" + port + "/blob", hex.EncodeToString(h[:])
}

// curlSum fetches url with curl through the SOCKS proxy and returns the body's SHA-256.
func curlSum(t *testing.T, proxyFlag, proxy, url string) string {
	t.Helper()
	curl := sshtest.RequireBinary(t, "curl")
	cmd := exec.Command(curl, "-sS", "--fail", "--max-time", "30", proxyFlag, proxy, url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	body, err := cmd.Output()
	if err != nil {
		t.Errorf("curl %s %s %s: %v", proxyFlag, proxy, url, err)
		return ""
	}
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// TestPageDynamicForward: s.forward("-D 127.0.0.1:0") puts a SOCKS entry on
// the relay host; curl through it (socks5h and SOCKS4a: the gateway resolves
// the name) fetches a file, SHA-256 checked.
func TestPageDynamicForward(t *testing.T) {
	url, sum := webExit(t)
	st := startStack(t)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)

	entry := jsForward(t, ctx, "d", "-D 127.0.0.1:0")
	checkEntry(t, entry, "127.0.0.1")
	if kind := mustJS[string](t, ctx, `return d.kind;`); kind != "D" {
		t.Errorf("f.kind = %q, want D", kind)
	}
	if cmd := mustJS[string](t, ctx, `return d.command;`); !strings.HasPrefix(cmd, "ssh -N -D 127.0.0.1:0 ") {
		t.Errorf("f.command = %q", cmd)
	}
	for _, flag := range []string{"--socks5-hostname", "--socks4a"} {
		if got := curlSum(t, flag, entry, url); got != sum {
			t.Errorf("curl %s through the page's -D: SHA-256 %q, want %s", flag, got, sum)
		}
	}
	if s := jsStats(t, ctx, "d"); s.Connections != 2 || s.BytesIn < 2*(2<<20) {
		t.Errorf("d.stats() = %+v, want 2 connections and both files", s)
	}
	mustJS[any](t, ctx, `await d.close(); await s.close();`)
	checkNoStreams(t, st)
}

// TestPageJumpHost: the page reaches a gateway on 127.0.0.2 through a
// bastion, the only address the relay allows; the bastion's log shows the
// hop; a wrong key for the jump host is refused with the hop's data.
func TestPageJumpHost(t *testing.T) {
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	st := startStack(t) // st.SSHD is the bastion, and all the relay may dial
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.2"})
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)

	b := st.SSHD
	hop := func(hostKey string) string {
		return `jump: [{host: ` + jsString(b.Host()) + `, port: ` + fmt.Sprint(b.Port()) + `, user: ` + jsString(b.PasswordUser) +
			`, password: ` + jsString(b.Password) + `, hostKey: ` + jsString(hostKey) + `}]`
	}
	opts := `host: ` + jsString(gw.Host()) + `, port: ` + fmt.Sprint(gw.Port()) + `, user: ` + jsString(gw.PasswordUser) +
		`, password: ` + jsString(gw.Password) + `, hostKey: ` + jsString(gw.HostKeyFingerprint) + `, `
	// Without the jump host the relay refuses the gateway: it allows only the bastion.
	if _, err := evalJS[any](ctx, `await tunnelkit.connect({`+opts+`});`); err == nil {
		t.Fatal("the relay let the page reach the gateway directly")
	} else if je, ok := err.(*jsError); !ok || je.Code == nil || *je.Code != 4403 {
		t.Errorf("direct connect: %v, want the relay's policy refusal (4403)", err)
	}
	mustJS[any](t, ctx, `window.s = await tunnelkit.connect({`+opts+hop(b.HostKeyFingerprint)+`});`)
	if hk := mustJS[string](t, ctx, `return s.hostKey;`); hk != gw.HostKeyFingerprint {
		t.Errorf("s.hostKey = %s, want the gateway's %s", hk, gw.HostKeyFingerprint)
	}
	entry := jsForward(t, ctx, "l", "-L 127.0.0.1:0:"+pinger)
	if err := sshtest.Ping("", entry, "through the bastion"); err != nil {
		t.Errorf("ping through the jump host: %v", err)
	}
	want := fmt.Sprintf("-J %s@%s:%d ", b.PasswordUser, b.Host(), b.Port())
	if cmd := mustJS[string](t, ctx, `return l.command;`); !strings.Contains(cmd, want) {
		t.Errorf("f.command = %q, want it to say %q", cmd, want)
	}
	hopRE := regexp.MustCompile(fmt.Sprintf(`server_request_direct_tcpip: originator .*, target %s port %d`, regexp.QuoteMeta(gw.Host()), gw.Port()))
	if log, _ := os.ReadFile(b.LogFile); !hopRE.Match(log) {
		t.Errorf("the bastion's log shows no hop to %s", gw.Addr)
	}
	mustJS[any](t, ctx, `await l.close(); await s.close();`)

	type refusal struct {
		Kind, Hostport, Fingerprint, Message string
		Known                                []string
	}
	wrong := otherFingerprint(t)
	r := mustJS[refusal](t, ctx, `try { await tunnelkit.connect({`+opts+hop(wrong)+`}); return {}; }
		catch (e) { return {kind: e.kind, hostport: e.hostport, fingerprint: e.fingerprint, known: e.known, message: e.message}; }`)
	if r.Kind != "changed" || r.Hostport != b.Addr || r.Fingerprint != b.HostKeyFingerprint || len(r.Known) != 1 || r.Known[0] != wrong {
		t.Errorf("wrong jump host key: %+v, want kind changed for %s", r, b.Addr)
	}
	checkNoStreams(t, st)
}
