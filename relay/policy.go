package relay

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"tunnelkit/relay/resolve"
)

// A rule allows a host, an IP address or a CIDR block on a range of ports.
//
//	HOST:PORT  HOST:LOW-HIGH  HOST:*  CIDR:PORT  [IPv6]:PORT  [IPv6CIDR]:PORT
//
// A name rule allows that name and whatever it resolves to at dial time,
// but not a numeric address given as the target. "*" as the port means
// every port (for listen rules, port 0 too).
type rule struct {
	raw    string
	name   string       // a DNS name rule, or
	prefix netip.Prefix // an address (/32, /128) or CIDR rule
	lo, hi uint16
}

// parseRule parses one allow rule.
func parseRule(s string) (rule, error) {
	s = strings.TrimSpace(s)
	r := rule{raw: s}
	var host, ports string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return r, fmt.Errorf("rule %q: want [IPv6]:PORT or [IPv6/BITS]:PORT", s)
		}
		host, ports = s[1:end], s[end+2:]
		if !strings.Contains(host, ":") {
			return r, fmt.Errorf("rule %q: only IPv6 goes in brackets", s)
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return r, fmt.Errorf("rule %q: want HOST:PORT, HOST:LOW-HIGH or HOST:*", s)
		}
		host, ports = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return r, fmt.Errorf("rule %q: put IPv6 in brackets, as in [::1]:22", s)
		}
	}
	if err := r.parsePorts(ports); err != nil {
		return r, err
	}
	switch {
	case host == "" || host == "*":
		return r, fmt.Errorf("rule %q: no wildcard host; name the networks, e.g. 0.0.0.0/0:%s and [::/0]:%s", s, ports, ports)
	case strings.Contains(host, "/"):
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return r, fmt.Errorf("rule %q: %v", s, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.prefix = p.Masked()
	default:
		h, err := resolve.ParseHost(host)
		if err != nil {
			return r, fmt.Errorf("rule %q: %v", s, err)
		}
		if h.IsAddr() {
			a := h.Addr.WithZone("")
			r.prefix = netip.PrefixFrom(a, a.BitLen())
		} else {
			r.name = h.Name
		}
	}
	return r, nil
}

func (r *rule) parsePorts(s string) error {
	if s == "*" {
		r.lo, r.hi = 0, 65535
		return nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := resolve.ParsePort(lo)
	if err != nil {
		return fmt.Errorf("rule %q: %v", r.raw, err)
	}
	h := l
	if isRange {
		if h, err = resolve.ParsePort(hi); err != nil {
			return fmt.Errorf("rule %q: %v", r.raw, err)
		}
		if h < l {
			return fmt.Errorf("rule %q: port range %s is backwards", r.raw, s)
		}
	}
	r.lo, r.hi = l, h
	return nil
}

func (r *rule) hasPort(p uint16) bool { return p >= r.lo && p <= r.hi }

// sensitive are ranges no broad rule may open: link-local (where cloud
// metadata services live) and the metadata addresses themselves. Only a
// rule whose own address or CIDR lies inside the range allows them.
var sensitive = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"),
}

// sensitiveRange returns the link-local or metadata range a lies in.
func sensitiveRange(a netip.Addr) (netip.Prefix, bool) {
	for _, p := range sensitive {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// policy is an ordered list of rules; it allows what any rule allows.
type policy []rule

func parsePolicy(rules []string) (policy, error) {
	var p policy
	for _, s := range rules {
		r, err := parseRule(s)
		if err != nil {
			return nil, err
		}
		p = append(p, r)
	}
	return p, nil
}

// allowsName reports whether a name rule allows name:port.
func (p policy) allowsName(name string, port uint16) bool {
	for i := range p {
		if p[i].name != "" && p[i].name == name && p[i].hasPort(port) {
			return true
		}
	}
	return false
}

// allowsAddr reports whether an address or CIDR rule allows a:port for
// dialing.
func (p policy) allowsAddr(a netip.Addr, port uint16) bool { return p.allowsAddrFor(a, port, forDial) }

// allowsAddrFor reports whether an address or CIDR rule allows a:port for
// use u. Guarded addresses need a rule inside their own range; an IPv6
// address carrying an IPv4 one is checked as that IPv4 address too.
func (p policy) allowsAddrFor(a netip.Addr, port uint16, u use) bool {
	a = a.WithZone("").Unmap()
	if v4, ok := resolve.EmbeddedIPv4(a); ok {
		if p.allowsPlain(v4, port, u) {
			return true
		}
		if _, g := guardedRange(v4, u); g || neverTarget(v4, u) {
			return false
		}
	}
	return p.allowsPlain(a, port, u)
}

func (p policy) allowsPlain(a netip.Addr, port uint16, u use) bool {
	if neverTarget(a, u) {
		return false
	}
	g, isGuarded := guardedRange(a, u)
	for i := range p {
		r := &p[i]
		if r.name != "" || !r.hasPort(port) || !r.prefix.Contains(a) {
			continue
		}
		if isGuarded && (r.prefix.Bits() < g.Bits() || !g.Contains(r.prefix.Addr())) {
			continue
		}
		return true
	}
	return false
}

// allowsResolved reports whether an address that a name resolved to may
// be dialed: a name rule covers it unless it is guarded or unspecified.
func (p policy) allowsResolved(nameAllowed bool, a netip.Addr, port uint16) bool {
	return p.allowsResolvedFor("", nameAllowed, a, port, forDial)
}

// allowsResolvedFor is allowsResolved for use u and the name asked for:
// the name localhost covers the loopback addresses it resolves to.
func (p policy) allowsResolvedFor(name string, nameAllowed bool, a netip.Addr, port uint16, u use) bool {
	a = a.WithZone("").Unmap()
	if a.IsUnspecified() || neverTarget(a, u) {
		return false
	}
	if isGuarded(a, u) {
		if nameAllowed && u == forDial && isLocalhostName(name) && isLoopback(a) {
			return true
		}
		return p.allowsAddrFor(a, port, u)
	}
	return nameAllowed || p.allowsAddrFor(a, port, u)
}

// hasAddrRuleFor reports whether any address rule covers port, i.e.
// whether resolving a name not allowed by name could still lead anywhere.
func (p policy) hasAddrRuleFor(port uint16) bool {
	for i := range p {
		if p[i].name == "" && p[i].hasPort(port) {
			return true
		}
	}
	return false
}

// ParseRuleFile reads allow rules, one per line: "RULE" for dialing,
// "listen=RULE" for listening; "#" starts a comment. Each rule is checked.
func ParseRuleFile(r io.Reader) (allow, allowListen []string, err error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := stripComment(sc.Text())
		for f := range strings.FieldsSeq(line) {
			dst := &allow
			if v, ok := strings.CutPrefix(f, "listen="); ok {
				f, dst = v, &allowListen
			}
			if _, err := parseRule(f); err != nil {
				return nil, nil, fmt.Errorf("line %d: %v", n, err)
			}
			*dst = append(*dst, f)
		}
	}
	return allow, allowListen, sc.Err()
}

func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}
