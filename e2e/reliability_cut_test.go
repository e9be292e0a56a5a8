package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/linkcut"
	"tunnelkit/internal/sshtest"
)

// TestPageResumesAcrossCut: a 2 s cut of the page-to-relay link. The
// page's SSH session resumes (one login at the gateway); its -L on the
// relay host, whose listener went away with the cut, is bound again on the
// same session and carries.
func TestPageResumesAcrossCut(t *testing.T) {
	st := startStackWith(t, stackOptions{})
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	entry := "127.0.0.1:" + strconv.Itoa(sshtest.FreePort(t, "127.0.0.1"))
	rp := startRelayProc(t, "--allow", st.SSHD.Addr, "--allow-listen", entry, "--allow-origin", strings.TrimPrefix(st.Server.URL, "http://"))
	link, err := linkcut.Start(strings.TrimPrefix(rp.URL, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	mustJS[any](t, ctx, `window.states = [];
		window.s = await tunnelkit.connect({relay: `+jsString("ws://"+link.Addr)+`,
			host: `+jsString(st.SSHD.Host())+`, port: `+fmt.Sprint(st.SSHD.Port())+`,
			user: `+jsString(st.SSHD.PasswordUser)+`, password: `+jsString(st.SSHD.Password)+`,
			hostKey: `+jsString(st.SSHD.HostKeyFingerprint)+`,
			reconnect: true, onState: st => states.push(st)});
		window.f = await s.forward(`+jsString("-L "+entry+":"+pinger)+`);
		return null;`)
	if err := sshtest.Ping("", entry, "before"); err != nil {
		t.Fatal(err)
	}
	link.Cut()
	time.Sleep(2 * time.Second)
	link.Restore()
	back := time.Now()
	if !waitFor(45*time.Second, func() bool { return sshtest.Ping("", entry, "after") == nil }) {
		t.Fatalf("page -L does not carry 45 s after the cut; states %s", mustJS[string](t, ctx, `return JSON.stringify(states);`))
	}
	t.Logf("page -L carries again %v after the link came back", time.Since(back).Round(time.Millisecond))
	if n := st.SSHD.Logins(t); n != 1 {
		t.Fatalf("%d logins at the gateway, want 1: the session should have resumed", n)
	}
}
