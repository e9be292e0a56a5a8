package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"

	"tunnelkit/relay/wire"
)

func TestParseRule(t *testing.T) {
	good := map[string]string{
		"127.0.0.1:22":             "127.0.0.1/32 22-22",
		"10.0.0.0/8:5432":          "10.0.0.0/8 5432-5432",
		"10.1.2.3/8:1-1024":        "10.0.0.0/8 1-1024",
		"[::1]:22":                 "::1/128 22-22",
		"[fd00::/8]:80":            "fd00::/8 80-80",
		"[::ffff:10.0.0.0/104]:80": "10.0.0.0/8 80-80",
		"db.internal:*":            "db.internal 0-65535",
		"DB.Internal.:5432":        "db.internal 5432-5432",
		"127.1:22":                 "127.0.0.1/32 22-22",
	}
	for in, want := range good {
		r, err := parseRule(in)
		if err != nil {
			t.Errorf("parseRule(%q): %v", in, err)
			continue
		}
		host := r.name
		if host == "" {
			host = r.prefix.String()
		}
		if got := fmt.Sprintf("%s %d-%d", host, r.lo, r.hi); got != want {
			t.Errorf("parseRule(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"", "22", "*:22", ":22", "::1:22", "10.0.0.0/33:1", "host:70000",
		"host:20-10", "host:", "[10.0.0.1]:22", "host:a", "[fe80::1%eth0/64]:1"} {
		if _, err := parseRule(in); err == nil {
			t.Errorf("parseRule(%q) succeeded, want an error", in)
		}
	}
}

func TestPolicySensitiveNeedsExplicitRule(t *testing.T) {
	meta := netip.MustParseAddr("169.254.169.254")
	ec2 := netip.MustParseAddr("fd00:ec2::254")
	ll := netip.MustParseAddr("fe80::1")
	broad, _ := parsePolicy([]string{"0.0.0.0/0:*", "[::/0]:*", "metadata.example:80"})
	for _, a := range []netip.Addr{meta, ec2, ll} {
		if broad.allowsAddr(a, 80) {
			t.Errorf("broad rules allow %s", a)
		}
		if broad.allowsResolved(true, a, 80) {
			t.Errorf("a name rule allows %s it resolves to", a)
		}
	}
	explicit, _ := parsePolicy([]string{"169.254.169.254:80", "[fd00:ec2::254]:80", "[fe80::/64]:22"})
	if !explicit.allowsAddr(meta, 80) || !explicit.allowsAddr(ec2, 80) || !explicit.allowsAddr(ll.WithZone("eth0"), 22) {
		t.Error("explicit rules do not allow what they name")
	}
	if explicit.allowsAddr(meta, 81) {
		t.Error("explicit rule allows another port")
	}
}

// countingDialer counts every dial; loopback dials go through, others are
// recorded and fail.
type countingDialer struct {
	rec   recordingDialer
	count atomic.Int64
}

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.count.Add(1)
	return loopbackOnly(&d.rec)(ctx, network, addr)
}

func TestRefusedTargets(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(echo)
	d := &countingDialer{}
	res := &fakeResolver{table: map[string][]netip.Addr{
		"localhost":        {netip.MustParseAddr("127.0.0.1")},
		"evil.example":     {netip.MustParseAddr("10.0.0.5")},
		"metadata.example": {netip.MustParseAddr("169.254.169.254")},
	}}
	tr := startRelay(t, Config{
		Allow:    []string{"localhost:" + port, "metadata.example:80", "127.0.0.0/8:5432", "[::/0]:80", "0.0.0.0/0:80"},
		Dial:     d.dial,
		Resolver: res,
	})
	ctx := testCtx(t, 60*time.Second)

	// Keep a healthy stream moving data through all the refusals.
	healthy := connect(t, ctx, tr.wsURL("/v1/dial?target=localhost:"+port), dialOpts{})
	if m, err := readMessage(ctx, healthy); err != nil || m.Addr != echo {
		t.Fatalf("open = %+v %v", m, err)
	}
	dialsBefore := d.count.Load()

	cases := []struct{ target, reason string }{
		{"10.0.0.5:22", "relay refused 10.0.0.5:22: not in allow list"},
		{"evil.example:5432", "relay refused evil.example:5432 (resolves to 10.0.0.5): not in allow list"},
		{"metadata.example:80", "relay refused metadata.example:80 (resolves to 169.254.169.254): link-local or metadata"},
		{"169.254.169.254:80", "relay refused 169.254.169.254:80: link-local or metadata address, allowed only by address"},
		{"0251.0376.0251.0376:80", "relay refused 169.254.169.254:80: link-local"},
		{"[fd00:ec2::254]:80", "relay refused [fd00:ec2::254]:80: link-local or metadata"},
		{"[fe80::1%lo]:80", "relay refused [fe80::1%lo]:80: link-local"},
		{"0.0.0.0:" + port, "unspecified address"},
		{"nosuch.example:80", "relay could not resolve nosuch.example:80: no such host"},
	}
	// Every numeric alias of the address localhost is allowed by name.
	for _, alias := range []string{"127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "127.1", "127.0.1",
		"017700000001", "0177.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"} {
		cases = append(cases, struct{ target, reason string }{alias + ":" + port, "relay refused 127.0.0.1:" + port + ": not in allow list"})
	}
	for _, c := range cases {
		code := wire.CloseRefused
		if strings.Contains(c.reason, "could not resolve") {
			code = wire.CloseDialFailed
		}
		refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+url.QueryEscape(c.target)), dialOpts{}, code, c.reason)
		// The healthy stream still carries data, unchanged.
		roundTrip(t, ctx, healthy, "still here after "+c.target)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target=1.2.3.4.5:80"), dialOpts{}, wire.CloseBadRequest, "bad target")
	if n := d.count.Load() - dialsBefore; n != 0 {
		t.Fatalf("refused targets caused %d dials (%v)", n, d.rec.calls())
	}
	for _, l := range res.lookups {
		if l == "10.0.0.5" || strings.HasPrefix(l, "0") || strings.HasPrefix(l, "1") {
			t.Fatalf("numeric target %q was handed to the resolver", l)
		}
	}
	healthy.Close(websocket.StatusNormalClosure, "")
	assertLog(t, tr, `"reason":"policy"`, `relay refused 10.0.0.5:22`)
	// The operator's flags are named in the audit log, never to the client.
	assertLog(t, tr, `"close_reason":"relay refused 10.0.0.5:22: not in allow list","reason":"policy","hint":"see --allow"`)
	assertLog(t, tr, `"hint":"allow it by address: --allow 169.254.169.254:80"`)
}

func TestExplicitMetadataRuleDialsExactlyThat(t *testing.T) {
	rec := &recordingDialer{}
	tr := startRelay(t, Config{Allow: []string{"169.254.169.254:80"}, Dial: rec.Dial})
	ctx := testCtx(t, 20*time.Second)
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target=169.254.169.254:80"), dialOpts{}, wire.CloseDialFailed, "relay could not connect to 169.254.169.254:80")
	if got := rec.calls(); len(got) != 1 || got[0] != "169.254.169.254:80" {
		t.Fatalf("dials = %v, want exactly [169.254.169.254:80] (to the recording dialer)", got)
	}
}

func TestNameResolvingToManyDialsOnlyAllowed(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(echo)
	d := &countingDialer{}
	res := &fakeResolver{table: map[string][]netip.Addr{
		"mixed.example": {netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("127.0.0.1")},
	}}
	tr := startRelay(t, Config{Allow: []string{"127.0.0.0/8:" + port}, Dial: d.dial, Resolver: res})
	ctx := testCtx(t, 20*time.Second)
	ws := connect(t, ctx, tr.wsURL("/v1/dial?target=mixed.example:"+port), dialOpts{})
	m, err := readMessage(ctx, ws)
	if err != nil || m.Addr != "127.0.0.1:"+port {
		t.Fatalf("open = %+v %v, want addr 127.0.0.1:%s", m, err, port)
	}
	roundTrip(t, ctx, ws, "x")
	ws.Close(websocket.StatusNormalClosure, "")
	if got := d.rec.calls(); len(got) != 0 {
		t.Fatalf("dialed refused addresses %v", got)
	}
}

// roundTrip sends s on an echo stream and expects it back.
func roundTrip(t *testing.T, ctx context.Context, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
	var got []byte
	for len(got) < len(s) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read echo of %q: %v", s, err)
		}
		got = append(got, b...)
	}
	if string(got) != s {
		t.Fatalf("echo = %q, want %q", got, s)
	}
}
