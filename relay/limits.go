package relay

import (
	"fmt"
	"net/netip"
)

// overLimitLocked says which stream limit a new stream from client would
// exceed: a reason for the client, a hint for the operator; "" when none.
// r.mu is held.
func (r *Relay) overLimitLocked(client netip.Addr) (reason, hint string) {
	switch {
	case len(r.streams) >= r.live().maxStreams:
		return fmt.Sprintf("relay at its limit of %d streams", r.live().maxStreams), "see --max-streams"
	case r.perIP[clientKey(client)] >= r.live().maxStreamsPerClient:
		return fmt.Sprintf("too many streams from %s: limit %d", clientLabel(client), r.live().maxStreamsPerClient), "see --max-streams-per-client"
	}
	return "", ""
}

// clientKey is what per-client limits count: the address, or for IPv6 its
// /64, since one IPv6 client usually holds a whole /64.
func clientKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func clientLabel(a netip.Addr) string {
	if a.Is6() {
		return clientKey(a).String()
	}
	return a.String()
}
