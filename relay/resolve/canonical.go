// Package resolve parses relay targets the way the operating system would
// read them, so that policy is checked against the address that would really
// be dialed: inet_aton's numeric IPv4 forms (2130706433, 0x7f.1, 127.1,
// 017700000001), IPv4-mapped IPv6, and IPv6 zones all become one canonical
// address. Anything that looks numeric but is not a valid address is an
// error, never a name to be handed to DNS.
package resolve

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Host is a parsed target host: exactly one of Addr (an IP literal, possibly
// with an IPv6 zone) or Name (a lower-case DNS name without trailing dot).
type Host struct {
	Addr netip.Addr
	Name string
}

// IsAddr reports whether h is an IP literal.
func (h Host) IsAddr() bool { return h.Addr.IsValid() }

// String is the canonical form: the IP literal (IPv6 unbracketed) or the name.
func (h Host) String() string {
	if h.Addr.IsValid() {
		return h.Addr.String()
	}
	return h.Name
}

// JoinHostPort is the canonical HOST:PORT form, IPv6 in brackets.
func JoinHostPort(h Host, port uint16) string {
	if h.Addr.IsValid() {
		return netip.AddrPortFrom(h.Addr, port).String()
	}
	return h.Name + ":" + strconv.Itoa(int(port))
}

// ParseHostPort splits and canonicalizes "HOST:PORT" or "[IPv6]:PORT".
func ParseHostPort(s string) (Host, uint16, error) {
	host, portStr, err := SplitHostPort(s)
	if err != nil {
		return Host{}, 0, err
	}
	port, err := ParsePort(portStr)
	if err != nil {
		return Host{}, 0, fmt.Errorf("%q: %w", s, err)
	}
	h, err := ParseHost(host)
	if err != nil {
		return Host{}, 0, err
	}
	return h, port, nil
}

// SplitHostPort splits "HOST:PORT" at the last colon, or "[HOST]:PORT".
// Unlike net.SplitHostPort it refuses unbracketed IPv6.
func SplitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", "", fmt.Errorf("%q: want [IPv6]:PORT", s)
		}
		host, port = s[1:end], s[end+2:]
		if !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%q: only IPv6 addresses go in brackets", s)
		}
		return host, port, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("%q: want HOST:PORT", s)
	}
	host, port = s[:i], s[i+1:]
	if strings.Contains(host, ":") {
		return "", "", fmt.Errorf("%q: put IPv6 addresses in brackets, as in [::1]:22", s)
	}
	return host, port, nil
}

// ParsePort parses a decimal port 0-65535 (no sign, no spaces).
func ParsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q", s)
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("bad port %q: over 65535", s)
	}
	return uint16(n), nil
}

// ParseHost canonicalizes a host: an IPv6 literal (zone kept, IPv4-mapped
// unmapped), an IPv4 address in any inet_aton form, or a DNS name.
func ParseHost(s string) (Host, error) {
	if s == "" {
		return Host{}, errors.New("empty host")
	}
	if strings.Contains(s, ":") {
		a, err := parseIPv6(s)
		if err != nil {
			return Host{}, err
		}
		return Host{Addr: a}, nil
	}
	if strings.HasSuffix(s, ".") {
		s = s[:len(s)-1]
		if looksNumeric(s) {
			return Host{}, fmt.Errorf("%q: numeric address with a trailing dot", s+".")
		}
	}
	if looksNumeric(s) {
		a, ok := ParseInetAton(s)
		if !ok {
			return Host{}, fmt.Errorf("%q: not a valid IPv4 address (and not a host name)", s)
		}
		return Host{Addr: a}, nil
	}
	name, err := canonicalName(s)
	if err != nil {
		return Host{}, err
	}
	return Host{Name: name}, nil
}

func parseIPv6(s string) (netip.Addr, error) {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		zone := s[i+1:]
		if zone == "" || len(zone) > 32 {
			return netip.Addr{}, fmt.Errorf("%q: bad IPv6 zone", s)
		}
		for _, c := range []byte(zone) {
			if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
				return netip.Addr{}, fmt.Errorf("%q: bad IPv6 zone", s)
			}
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, fmt.Errorf("%q: not a valid IPv6 address", s)
	}
	if a.Is4In6() {
		// The kernel sends ::ffff:a.b.c.d to a.b.c.d: check that address.
		return a.Unmap(), nil
	}
	if a.Zone() != "" && !a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !a.IsInterfaceLocalMulticast() {
		// A zone only means something on link-local scopes; drop it so
		// every spelling of the address compares equal.
		a = a.WithZone("")
	}
	return a, nil
}

// looksNumeric reports whether a resolver would try to read s as a number:
// its last label starts with a digit (no top-level domain does).
func looksNumeric(s string) bool {
	last := s[strings.LastIndexByte(s, '.')+1:]
	return last == "" || (last[0] >= '0' && last[0] <= '9')
}

// ParseInetAton parses IPv4 the way inet_aton(3) does: one to four parts
// separated by dots, each decimal, octal (leading 0) or hex (leading 0x);
// the last part fills the remaining bytes (a, a.b with b 24-bit, a.b.c
// with c 16-bit, a.b.c.d). Trailing garbage, including spaces, is refused.
func ParseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		v, ok := parseAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	for i := 0; i < n-1; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] > uint64(0xffffffff)>>(8*(n-1)) {
		return netip.Addr{}, false
	}
	var ip uint32
	for i := 0; i < n-1; i++ {
		ip |= uint32(vals[i]) << (24 - 8*i)
	}
	ip |= uint32(vals[n-1])
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, false // a bare "0x": refuse rather than guess
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var v uint64
	for _, c := range []byte(p) {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

// canonicalName lower-cases and validates a DNS name (letters, digits,
// hyphen, underscore; labels of 1-63 bytes; at most 253 bytes).
func canonicalName(s string) (string, error) {
	if len(s) > 253 {
		return "", fmt.Errorf("host name too long (%d bytes)", len(s))
	}
	s = strings.ToLower(s)
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q: not a valid host name", s)
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' && c != '_' {
				return "", fmt.Errorf("%q: not a valid host name", s)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q: not a valid host name", s)
		}
	}
	return s, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
