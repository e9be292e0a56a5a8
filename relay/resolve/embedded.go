package resolve

import "net/netip"

// The IPv6 forms that carry an IPv4 address a packet may end up at.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 well-known prefix
	nat64l = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local-use NAT64
	sixTo4 = netip.MustParsePrefix("2002::/16")      // RFC 3056: 2002:AABB:CCDD::/48
	compat = netip.MustParsePrefix("::/96")          // IPv4-compatible ::a.b.c.d (deprecated)
)

// EmbeddedIPv4 returns the IPv4 address an IPv6 address carries: NAT64
// (64:ff9b::a.b.c.d, and 64:ff9b:1::/48 with the address in its last 32
// bits), 6to4 (2002:AABB:CCDD::) and IPv4-compatible (::a.b.c.d, except
// :: and ::1, which are IPv6's own). IPv4-mapped addresses are unmapped
// by ParseHost before this. false when a carries none.
func EmbeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, false
	}
	a = a.WithZone("")
	b := a.As16()
	switch {
	case nat64.Contains(a), nat64l.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case compat.Contains(a) && !a.IsUnspecified() && !a.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}
