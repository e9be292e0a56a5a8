package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/linkcut"
	"tunnelkit/internal/sshtest"
)

// relayProc is a `tunnelkit serve` process, for faults an in-process relay
// cannot have (SIGKILL).
type relayProc struct {
	bin, log string
	args     []string
	cmd      *exec.Cmd
	URL      string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tunnelkit")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tunnelkit").CombinedOutput(); err != nil {
		t.Fatalf("e2e: go build ./cmd/tunnelkit: %v\n%s", err, out)
	}
	return bin
}

func startRelayProc(t *testing.T, args ...string) *relayProc {
	t.Helper()
	port := sshtest.FreePort(t, "127.0.0.1")
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p := &relayProc{bin: buildBinary(t), log: filepath.Join(t.TempDir(), "relay.log"),
		args: append([]string{"serve", "--listen", listen}, args...), URL: "ws://" + listen}
	p.start(t)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("relay log:\n%s", b)
		}
	})
	return p
}

func (p *relayProc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	health := "http" + strings.TrimPrefix(p.URL, "ws") + "/healthz"
	if !waitFor(15*time.Second, func() bool {
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("e2e: relay %v not up", p.args)
	}
}

// kill is SIGKILL: no drain, no close frames.
func (p *relayProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// TestPageReconnectsAfterRelayRestart: the page's -L on the relay host
// (a fixed entry port) carries again after the relay is SIGKILLed and
// restarted, through a new SSH session with the same host key.
func TestPageReconnectsAfterRelayRestart(t *testing.T) {
	st := startStackWith(t, stackOptions{})
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	entry := "127.0.0.1:" + strconv.Itoa(sshtest.FreePort(t, "127.0.0.1"))
	origin := strings.TrimPrefix(st.Server.URL, "http://")
	rp := startRelayProc(t, "--allow", st.SSHD.Addr, "--allow-listen", entry, "--allow-origin", origin)

	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	mustJS[any](t, ctx, `window.states = [];
		window.s = await tunnelkit.connect({relay: `+jsString(rp.URL)+`,
			host: `+jsString(st.SSHD.Host())+`, port: `+fmt.Sprint(st.SSHD.Port())+`,
			user: `+jsString(st.SSHD.PasswordUser)+`, password: `+jsString(st.SSHD.Password)+`,
			hostKey: `+jsString(st.SSHD.HostKeyFingerprint)+`,
			reconnect: true, keepCredentials: true, onState: st => states.push(st)});
		window.f = await s.forward(`+jsString("-L "+entry+":"+pinger)+`);
		return null;`)
	if err := sshtest.Ping("", entry, "before"); err != nil {
		t.Fatalf("page -L before the restart: %v", err)
	}
	rp.kill()
	rp.start(t)
	back := time.Now()
	if !waitFor(45*time.Second, func() bool { return sshtest.Ping("", entry, "after") == nil }) {
		states := mustJS[string](t, ctx, `return JSON.stringify(states);`)
		t.Fatalf("page -L %s does not carry 45 s after the relay restarted; states: %s", entry, states)
	}
	t.Logf("page -L carries again %v after the relay restarted", time.Since(back).Round(time.Millisecond))
	type state struct {
		State    string `json:"state"`
		Attempt  int    `json:"attempt"`
		NextInMs int    `json:"nextInMs"`
		Forwards []struct {
			Spec, State, Entry string
		} `json:"forwards"`
	}
	var states []state
	waitFor(10*time.Second, func() bool {
		states = mustJS[[]state](t, ctx, `return states;`)
		return len(states) > 0 && states[len(states)-1].State == "connected" && len(states[len(states)-1].Forwards) == 1 && states[len(states)-1].Forwards[0].State == "up"
	})
	saw := map[string]bool{}
	for _, s := range states {
		saw[s.State] = true
		if s.State == "reconnecting" && (s.Attempt < 1 || s.NextInMs <= 0) {
			t.Errorf("reconnecting state without attempt and delay: %+v", s)
		}
	}
	last := states[len(states)-1]
	if !saw["reconnecting"] || last.State != "connected" || len(last.Forwards) != 1 || last.Forwards[0].State != "up" || last.Forwards[0].Entry != entry {
		t.Fatalf("states %+v: want reconnecting, then connected with the forward up on %s", states, entry)
	}
	if n := st.SSHD.Logins(t); n != 2 {
		t.Errorf("%d logins at the gateway, want 2 (the first and the reconnect)", n)
	}
}

// TestPageDropsCredentials: without keepCredentials the page keeps no
// password to reconnect with: a lost connection asks onCredentials, and
// without it the session gives up, saying why.
func TestPageDropsCredentials(t *testing.T) {
	st := startStackWith(t, stackOptions{})
	origin := strings.TrimPrefix(st.Server.URL, "http://")
	rp := startRelayProc(t, "--allow", st.SSHD.Addr, "--allow-origin", origin)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	mustJS[any](t, ctx, `window.states = []; window.asked = 0;
		window.s = await tunnelkit.connect({relay: `+jsString(rp.URL)+`,
			host: `+jsString(st.SSHD.Host())+`, port: `+fmt.Sprint(st.SSHD.Port())+`,
			user: `+jsString(st.SSHD.PasswordUser)+`, password: `+jsString(st.SSHD.Password)+`,
			hostKey: `+jsString(st.SSHD.HostKeyFingerprint)+`,
			reconnect: true, onState: st => states.push(st),
			onCredentials: async () => { asked++; return asked > 1 ? null : {password: `+jsString(st.SSHD.Password)+`}; }});
		return null;`)
	rp.kill()
	rp.start(t)
	// Asked once: the reconnect works with what the page gave.
	if !waitFor(45*time.Second, func() bool {
		return mustJS[bool](t, ctx, `return asked === 1 && states.length > 0 && states[states.length-1].state === "connected";`)
	}) {
		t.Fatalf("no reconnect with asked credentials: %s", mustJS[string](t, ctx, `return JSON.stringify(states) + " asked " + asked;`))
	}
	// Asked again, given nothing: gave up, and says the credentials were not kept.
	rp.kill()
	rp.start(t)
	if !waitFor(45*time.Second, func() bool {
		return mustJS[bool](t, ctx, `return states.length > 0 && states[states.length-1].state === "gave-up";`)
	}) {
		t.Fatalf("did not give up: %s", mustJS[string](t, ctx, `return JSON.stringify(states);`))
	}
	if why := mustJS[string](t, ctx, `return states[states.length-1].error;`); !strings.Contains(why, "not kept") {
		t.Fatalf("gave up with %q, want it to say the credentials were not kept", why)
	}
}

// TestPageLocalForwardSurvivesCut: 256 MiB through the page's -L, whose
// entry socket is on the relay host, while the page-to-relay link is cut
// for 2 s mid-transfer. The listen stream and the SSH session both resume:
// the same TCP connection gets every byte (SHA-256), and the gateway sees
// one login.
func TestPageLocalForwardSurvivesCut(t *testing.T) {
	st := startStackWith(t, stackOptions{})
	const size = 256 << 20
	src := sshtest.StartSource(t, "127.0.0.1:0", size, 13)
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
		window.f = await s.forward(`+jsString("-L "+entry+":"+src)+`);
		return null;`)
	c, err := net.Dial("tcp", entry)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(4 * time.Minute)) // bounds a stall; not an assertion on speed
	h := sha256.New()
	var got int64
	buf := make([]byte, 256<<10)
	restored := make(chan error, 1)
	cut := false
	for {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if !cut && got > size/3 {
			cut = true
			link.Cut()
			t.Logf("link cut after %d MiB", got>>20)
			go func() { time.Sleep(2 * time.Second); restored <- link.Restore() }()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v; states %s", got, err, mustJS[string](t, ctx, `return JSON.stringify(states);`))
		}
	}
	if err := <-restored; err != nil {
		t.Fatal(err)
	}
	if got != size || hex.EncodeToString(h.Sum(nil)) != sshtest.DataSum(13, size) {
		t.Fatalf("got %d bytes (want %d), SHA-256 match %v", got, size, hex.EncodeToString(h.Sum(nil)) == sshtest.DataSum(13, size))
	}
	if n := st.SSHD.Logins(t); n != 1 {
		t.Fatalf("%d logins at the gateway, want 1: the session should have resumed", n)
	}
}
