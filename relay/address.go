package relay

import (
	"net"
	"net/netip"

	"tunnelkit/relay/resolve"
)

// parseListenAddr reads the listen bridge's addr: HOST:PORT, where an empty
// host or "*" means every IPv4 interface, as in OpenSSH.
func parseListenAddr(s string) (resolve.Host, uint16, error) {
	host, portStr, err := resolve.SplitHostPort(s)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	port, err := resolve.ParsePort(portStr)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	if host == "" || host == "*" {
		return resolve.Host{Addr: netip.IPv4Unspecified()}, port, nil
	}
	h, err := resolve.ParseHost(host)
	if err != nil {
		return resolve.Host{}, 0, err
	}
	return h, port, nil
}

// canonicalAddr prints a TCP address as IP:PORT, IPv4 unmapped.
func canonicalAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
