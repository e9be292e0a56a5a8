//go:build !js

package tunnel_test

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/tunnel"
)

// These tests run OpenSSH's ssh side by side with tunnelkit against the same
// sshd and compare what a user of the forward observes.

// A -L whose exit the gateway refuses (PermitOpen): the entry connection is
// accepted, then closed without data; tunnelkit logs why.
func TestOpenSSHParityPermitOpenRefused(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	allowed := sshtest.StartPinger(t, host3+":0")
	denied := sshtest.StartPinger(t, host3+":0")
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1, PermitOpen: allowed})
	cfg := keyConfig(t, gw)
	logger, logs := testLogger(t)
	cfg.Logger = logger
	var events eventLog
	cfg.OnEvent = events.add
	c := connect(t, ctx, gw, cfg)

	ok := forward(t, ctx, c, "-L localhost:0:"+allowed)
	ping(t, "", ok.Entry())
	f := forward(t, ctx, c, "-L localhost:0:"+denied)
	got := entryOutcome(f.Entry())

	sshPort := sshtest.FreePort(t, "127.0.0.1")
	startOpenSSH(t, gw, "-L", fmt.Sprintf("%d:%s", sshPort, denied))
	want := waitOutcome(t, hostPort("127.0.0.1", sshPort))

	if got != want || got != "closed without reply" {
		t.Errorf("entry connection to a refused exit: tunnelkit %q, ssh %q, want both %q", got, want, "closed without reply")
	}
	if err := eventually(5*time.Second, func() error {
		if !strings.Contains(logs.String(), "prohibited") && !events.errContains("prohibited") {
			return fmt.Errorf("the gateway's reason (administratively prohibited) is not in the log or events")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// A -L whose exit is not listening: same as a refusal for the entry client.
func TestOpenSSHParityExitNotListening(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	cfg := keyConfig(t, gw)
	var events eventLog
	cfg.OnEvent = events.add
	c := connect(t, ctx, gw, cfg)
	exit := hostPort(host3, sshtest.FreePort(t, host3))

	f := forward(t, ctx, c, "-L localhost:0:"+exit)
	got := entryOutcome(f.Entry())
	sshPort := sshtest.FreePort(t, "127.0.0.1")
	startOpenSSH(t, gw, "-L", fmt.Sprintf("%d:%s", sshPort, exit))
	want := waitOutcome(t, hostPort("127.0.0.1", sshPort))
	if got != want || got != "closed without reply" {
		t.Errorf("entry connection to a dead exit: tunnelkit %q, ssh %q, want both %q", got, want, "closed without reply")
	}
	if err := eventually(5*time.Second, func() error {
		if !events.has(tunnel.EventError) {
			return fmt.Errorf("no %s event for the failed connection", tunnel.EventError)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	// The forward itself keeps running, as ssh's does.
	select {
	case <-f.Done():
		t.Error("forward stopped after one failed connection")
	default:
	}
}

// Binding an entry socket that is taken is an error for both, for -L (local
// bind) and -R (the gateway refuses tcpip-forward).
func TestOpenSSHParityBindInUse(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	// Taken on both loopbacks: sshd binds "localhost" as 127.0.0.1 and ::1
	// and is content when either bind succeeds.
	port := takePort(t, "127.0.0.1", "::1")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	for _, spec := range []string{
		fmt.Sprintf("-L 127.0.0.1:%d:%s", port, exit),
		fmt.Sprintf("-R %d:%s", port, exit),
	} {
		sp, err := tunnel.ParseForward(spec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.Forward(ctx, sp)
		if err == nil {
			f.Close()
			t.Errorf("tunnelkit %s: no error, want one (port %d is taken)", spec, port)
		} else {
			t.Logf("tunnelkit %s: %v", spec, err)
			if !strings.Contains(err.Error(), strconv.Itoa(port)) {
				t.Errorf("tunnelkit %s: error %q does not name the port", spec, err)
			}
		}
		p := startOpenSSH(t, gw, strings.Fields(spec)...)
		done, err := p.exited(10 * time.Second)
		if !done || err == nil {
			t.Errorf("ssh %s: exited %v with %v, want a failure exit", spec, done, err)
		}
		t.Logf("ssh %s: %v: %s", spec, err, strings.TrimSpace(p.stderr.String()))
	}
	// The client stays usable after a refused forward.
	ping(t, "", forward(t, ctx, c, "-L localhost:0:"+exit).Entry())
}

var allocatedRE = regexp.MustCompile(`Allocated port (\d+) for remote forward`)

// Port 0: the listener picks the port and it is reported. OpenSSH's ssh
// accepts port 0 for -R only ("Allocated port N"); tunnelkit for both.
func TestOpenSSHParityPortZero(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	exit := sshtest.StartPinger(t, "127.0.0.1:0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	l := forward(t, ctx, c, "-L 0:"+exit)
	if portOf(t, l.Entry()) == 0 {
		t.Fatalf("-L 0: Entry() = %q, want the bound port", l.Entry())
	}
	ping(t, "", l.Entry())

	r := forward(t, ctx, c, "-R 0:"+exit)
	rport := portOf(t, r.Entry())
	if rport == 0 {
		t.Fatalf("-R 0: Entry() = %q, want the gateway's allocated port", r.Entry())
	}
	ping(t, "", hostPort("127.0.0.1", rport))

	p := startOpenSSH(t, gw, "-R", "0:"+exit)
	var sshPort int
	if err := eventually(10*time.Second, func() error {
		m := allocatedRE.FindStringSubmatch(p.stderr.String())
		if m == nil {
			return fmt.Errorf("ssh -R 0 reported no allocated port: %q", p.stderr.String())
		}
		sshPort, _ = strconv.Atoi(m[1])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ping(t, "", hostPort("127.0.0.1", sshPort))
	t.Logf("-R 0: tunnelkit got %s, ssh got port %d", r.Entry(), sshPort)
}

// IPv6: gateway on [::1], entry and exit sockets on [::1], -L and -R.
func TestOpenSSHParityIPv6(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "::1"})
	exit := sshtest.StartPinger(t, "[::1]:0")
	c := connect(t, ctx, gw, keyConfig(t, gw))

	port := sshtest.FreePort(t, "::1")
	l := forward(t, ctx, c, fmt.Sprintf("-L [::1]:%d:%s", port, exit))
	if l.Entry() != hostPort("::1", port) {
		t.Errorf("-L Entry() = %q, want %q", l.Entry(), hostPort("::1", port))
	}
	ping(t, "", hostPort("::1", port))

	rport := sshtest.FreePort(t, "::1")
	forward(t, ctx, c, fmt.Sprintf("-R [::1]:%d:%s", rport, exit))
	ping(t, "", hostPort("::1", rport))

	sshL, sshR := sshtest.FreePort(t, "::1"), sshtest.FreePort(t, "::1")
	startOpenSSH(t, gw, "-L", fmt.Sprintf("[::1]:%d:%s", sshL, exit), "-R", fmt.Sprintf("[::1]:%d:%s", sshR, exit))
	for _, addr := range []string{hostPort("::1", sshL), hostPort("::1", sshR)} {
		if err := eventually(10*time.Second, func() error { return sshtest.Ping("", addr, "v6") }); err != nil {
			t.Errorf("ssh forward on %s: %v", addr, err)
		}
	}
	// Neither bound the IPv4 loopback.
	for _, p := range []int{port, rport, sshL, sshR} {
		if listening(t, hostPort("127.0.0.1", p)) {
			t.Errorf("port %d is also bound on 127.0.0.1", p)
		}
	}
}

// takePort listens on the same free port on each host until the test ends.
func takePort(t *testing.T, hosts ...string) int {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		port := sshtest.FreePort(t, hosts[0])
		var ls []net.Listener
		for _, h := range hosts {
			l, err := net.Listen("tcp", hostPort(h, port))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == len(hosts) {
			t.Cleanup(func() {
				for _, l := range ls {
					l.Close()
				}
			})
			return port
		}
		for _, l := range ls {
			l.Close()
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return 0
}

// waitOutcome waits for ssh's -L entry socket to accept, then returns what a
// client observes on it.
func waitOutcome(t *testing.T, addr string) string {
	t.Helper()
	if err := eventually(10*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("ssh -L did not come up on %s: %v", addr, err)
	}
	return entryOutcome(addr)
}

// eventLog records a client's events.
type eventLog struct {
	mu     sync.Mutex
	events []tunnel.Event
}

func (l *eventLog) add(e tunnel.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) has(kind tunnel.EventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func (l *eventLog) errContains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Err != nil && strings.Contains(e.Err.Error(), s) {
			return true
		}
	}
	return false
}
