package relay

import (
	"net/netip"
	"strings"

	"tunnelkit/relay/resolve"
)

// Addresses that are not a host to dial, or that a broad rule must not
// open. 0.0.0.0/8 is "this network": Linux sends 0.0.0.1 out of the
// default route, so it is never a target. The relay host's own loopback
// is where its local services live: a rule for "any SSH host" such as
// 0.0.0.0/0:22 must not reach them, so, like link-local and metadata
// addresses, only a rule naming an address inside it (127.0.0.1:22,
// 127.0.0.0/8:5432, [::1]:22) or the name localhost opens it for dialing.
// Listening on loopback is what listen rules are usually for: it stays
// as the rules say.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	loopbacks   = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
)

// neverTarget reports whether a may not be dialed whatever the rules.
func neverTarget(a netip.Addr, u use) bool {
	return u == forDial && thisNetwork.Contains(a)
}

// guardedRange returns the range a lies in that only a rule inside it
// opens: link-local and metadata addresses, and for dialing loopback.
func guardedRange(a netip.Addr, u use) (netip.Prefix, bool) {
	if p, ok := sensitiveRange(a); ok {
		return p, true
	}
	if u == forDial {
		for _, p := range loopbacks {
			if p.Contains(a) {
				return p, true
			}
		}
	}
	return netip.Prefix{}, false
}

// isGuarded reports whether a, or the IPv4 address it carries, is guarded
// or never a target.
func isGuarded(a netip.Addr, u use) bool {
	if _, g := guardedRange(a, u); g {
		return true
	}
	if v4, ok := resolve.EmbeddedIPv4(a); ok {
		_, g := guardedRange(v4, u)
		return g || neverTarget(v4, u)
	}
	return false
}

// carried is the address policy judges a by: the IPv4 address an IPv6 one
// carries, or a itself.
func carried(a netip.Addr) netip.Addr {
	if v4, ok := resolve.EmbeddedIPv4(a); ok {
		return v4
	}
	return a
}

func isLoopback(a netip.Addr) bool {
	for _, p := range loopbacks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isLocalhostName: "localhost" and names under it (RFC 6761) are the
// relay host itself by definition.
func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}
