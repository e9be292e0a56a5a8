package relay

import (
	"net/netip"
	"net/url"
	"testing"
	"time"

	"tunnelkit/relay/wire"
)

func TestGuardedAddressesUnderBroadRules(t *testing.T) {
	broad, _ := parsePolicy([]string{"0.0.0.0/0:*", "[::/0]:*", "gw.example:22", "localhost:22"})
	for _, s := range []string{
		"127.0.0.1", "127.5.5.5", "::1", "0.0.0.1", "0.1.2.3", "0.0.0.0",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::1", "2002:7f00:1::", "2002:a9fe:a9fe::",
		"::127.0.0.1", "::0.0.0.2", "::169.254.169.254", "64:ff9b:1::7f00:1",
	} {
		a := netip.MustParseAddr(s)
		if broad.allowsAddr(a, 22) {
			t.Errorf("broad rules allow dialing %s", a)
		}
		if broad.allowsResolvedFor("gw.example", true, a, 22, forDial) {
			t.Errorf("a name rule allows %s it resolves to", a)
		}
	}
	for _, s := range []string{"10.0.0.5", "192.0.2.7", "2001:db8::5", "64:ff9b::a00:5", "2002:a00:5::1"} {
		if !broad.allowsAddr(netip.MustParseAddr(s), 22) {
			t.Errorf("broad rules refuse %s", s)
		}
	}
	if !broad.allowsResolvedFor("localhost", true, netip.MustParseAddr("127.0.0.1"), 22, forDial) ||
		!broad.allowsResolvedFor("localhost", true, netip.MustParseAddr("::1"), 22, forDial) {
		t.Error("the name localhost does not open the loopback it resolves to")
	}
	if !broad.allowsAddrFor(netip.MustParseAddr("127.0.0.1"), 8000, forListen) {
		t.Error("a broad listen rule no longer allows listening on loopback")
	}

	named, _ := parsePolicy([]string{"127.0.0.1:22", "[::1]:22", "127.0.0.0/8:5432", "0.0.0.0/8:22", "10.0.0.5:22"})
	for _, c := range []struct {
		addr string
		port uint16
		want bool
	}{
		{"127.0.0.1", 22, true}, {"::1", 22, true}, {"127.9.9.9", 5432, true},
		{"127.0.0.2", 22, false}, {"0.0.0.1", 22, false},
		// An embedded form is the IPv4 address it carries.
		{"64:ff9b::7f00:1", 22, true}, {"::127.0.0.1", 22, true}, {"64:ff9b::a00:5", 22, true},
		{"2002:7f00:2::", 22, false},
	} {
		if got := named.allowsAddr(netip.MustParseAddr(c.addr), c.port); got != c.want {
			t.Errorf("rules naming loopback: %s:%d allowed %v, want %v", c.addr, c.port, got, c.want)
		}
	}
}

// TestGuardedTargetsNeverDialed: under rules for "any host on port 22",
// 0.0.0.0/8, the relay's loopback and IPv6 forms carrying them are refused
// without a dial; other hosts reach the (recording) dialer.
func TestGuardedTargetsNeverDialed(t *testing.T) {
	rec := &recordingDialer{}
	res := &fakeResolver{table: map[string][]netip.Addr{
		"rebind.example": {netip.MustParseAddr("127.0.0.1")},
		"zero.example":   {netip.MustParseAddr("0.0.0.1")},
		"nat64.example":  {netip.MustParseAddr("64:ff9b::7f00:1")},
	}}
	tr := startRelay(t, Config{Allow: []string{"0.0.0.0/0:22", "[::/0]:22", "rebind.example:22", "zero.example:22", "nat64.example:22"}, Dial: rec.Dial, Resolver: res})
	ctx := testCtx(t, 60*time.Second)
	for target, reason := range map[string]string{
		"0.0.0.1:22":              "0.0.0.0/8 is not a host to dial",
		"0.255.0.1:22":            "0.0.0.0/8 is not a host to dial",
		"1:22":                    "0.0.0.0/8 is not a host to dial", // inet_aton: 0.0.0.1
		"127.0.0.1:22":            "the relay's own loopback",
		"127.1:22":                "the relay's own loopback",
		"[::1]:22":                "the relay's own loopback",
		"[::ffff:127.0.0.1]:22":   "the relay's own loopback",
		"[64:ff9b::127.0.0.1]:22": "relay refused [64:ff9b::7f00:1]:22: the relay's own loopback",
		"[2002:7f00:1::]:22":      "the relay's own loopback",
		"[::127.0.0.1]:22":        "the relay's own loopback",
		"[64:ff9b::a9fe:a9fe]:22": "link-local or metadata",
		"[64:ff9b::0.0.0.1]:22":   "0.0.0.0/8 is not a host to dial",
		"rebind.example:22":       "relay refused rebind.example:22 (resolves to 127.0.0.1): the relay's own loopback",
		"zero.example:22":         "0.0.0.0/8 is not a host to dial",
		"nat64.example:22":        "the relay's own loopback",
	} {
		refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+url.QueryEscape(target)), dialOpts{}, wire.CloseRefused, reason)
	}
	if got := rec.calls(); len(got) != 0 {
		t.Fatalf("guarded targets were dialed: %v", got)
	}
	// Any other host is still what the broad rule allows: it is dialed
	// (by the recording dialer, which fails it).
	for _, target := range []string{"10.0.0.5:22", "[64:ff9b::a00:5]:22", "[2001:db8::5]:22"} {
		refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+url.QueryEscape(target)), dialOpts{}, wire.CloseDialFailed, "relay could not connect")
	}
	if got := rec.calls(); len(got) != 3 || got[0] != "10.0.0.5:22" || got[1] != "[64:ff9b::a00:5]:22" {
		t.Fatalf("dials = %v, want the three allowed targets", got)
	}
	assertLog(t, tr, `"hint":"allow it by address: --allow 127.0.0.1:22"`)
}
