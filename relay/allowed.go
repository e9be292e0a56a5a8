package relay

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"tunnelkit/relay/resolve"
	"tunnelkit/relay/wire"
)

// use is what an address is checked for: the dial bridge connects to it,
// the listen bridge binds it. Their policies differ; the steps do not.
type use int

const (
	forDial use = iota
	forListen
)

// maxDialAddrs bounds how many resolved addresses one dial tries.
const maxDialAddrs = 8

// allowedAddrs resolves h and returns the addresses pol allows at port, in
// order, or refuses the stream. An IP literal must be allowed as an
// address; a name is resolved here, and each address is checked: a name
// rule covers what the name resolves to, except link-local and metadata
// addresses. The caller dials or binds exactly these: no second lookup.
func (r *Relay) allowedAddrs(ctx context.Context, s *stream, pol policy, h resolve.Host, port uint16, target string, u use) ([]netip.AddrPort, bool) {
	if h.IsAddr() {
		a := h.Addr
		switch {
		case u == forDial && a.IsUnspecified():
			r.refuse(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused %s: unspecified address (name the host)", target))
			return nil, false
		case neverTarget(carried(a), u):
			r.refuse(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused %s: an address in 0.0.0.0/8 is not a host to dial", target))
			return nil, false
		case pol.allowsAddrFor(a, port, u):
			return []netip.AddrPort{netip.AddrPortFrom(a, port)}, true
		}
		r.refusePolicy(s, pol, false, target, "", u, a, port)
		return nil, false
	}
	nameOK := pol.allowsName(h.Name, port)
	if !nameOK && !pol.hasAddrRuleFor(port) {
		// Nothing could allow it: refuse without asking DNS.
		r.refusePolicy(s, pol, false, target, "", u, netip.Addr{}, port)
		return nil, false
	}
	found, err := r.cfg.Resolver.LookupNetIP(ctx, "ip", h.Name)
	if err != nil {
		if ctx.Err() != nil && s.ctx.Err() == nil {
			r.refuseHint(s, "dial_timeout", wire.CloseDialTimeout, fmt.Sprintf("relay timed out resolving %s", target), "see --dial-timeout")
		} else {
			r.refuse(s, "resolve", wire.CloseDialFailed, fmt.Sprintf("relay could not resolve %s: %s", target, resolveErrText(err)))
		}
		return nil, false
	}
	max := maxDialAddrs
	if u == forListen {
		max = 1 // one listener, on the first allowed address
	}
	var ok []netip.AddrPort
	var refused []string
	for _, a := range found {
		a = a.Unmap()
		if pol.allowsResolvedFor(h.Name, nameOK, a, port, u) && len(ok) < max {
			ok = append(ok, netip.AddrPortFrom(a, port))
		} else {
			refused = append(refused, a.String())
		}
	}
	if len(ok) > 0 && len(refused) > 0 && u == forDial {
		r.log.Info("dropped resolved addresses", "target", target, "refused", refused, "from", s.client.String())
	}
	if len(ok) == 0 {
		first := netip.Addr{}
		if len(found) > 0 {
			first = found[0].Unmap()
		}
		r.refusePolicy(s, pol, nameOK, target, strings.Join(refused, " "), u, first, port)
		return nil, false
	}
	return ok, true
}

// refusePolicy refuses target by policy. The reason says what was refused
// in the protocol's words; the hint names the operator's setting that
// would allow it. a, when valid, is the address that was refused (the
// first one a name resolved to); resolved lists them all. nameOK says a
// name rule allowed the name asked for.
func (r *Relay) refusePolicy(s *stream, pol policy, nameOK bool, target, resolved string, u use, a netip.Addr, port uint16) {
	if u == forListen {
		r.refuseHint(s, "policy", wire.CloseRefused, fmt.Sprintf("relay refused listen on %s: not in listen allow list", target), "see --allow-listen")
		return
	}
	what := "relay refused " + target
	if resolved != "" {
		what += " (resolves to " + resolved + ")"
	}
	if a.IsValid() {
		a = a.WithZone("")
		ap := netip.AddrPortFrom(a, port)
		hint := fmt.Sprintf("allow it by address: --allow %s", ap)
		c := carried(a)
		switch _, sens := sensitiveRange(c); {
		case neverTarget(c, u) || c.IsUnspecified():
			r.refuse(s, "policy", wire.CloseRefused, what+": an address in 0.0.0.0/8 is not a host to dial")
			return
		case sens:
			r.refuseHint(s, "policy", wire.CloseRefused, what+": link-local or metadata address, allowed only by address", hint)
			return
		case isLoopback(c) && (nameOK || pol.opensUnguarded(a, port)):
			// A rule matched but does not name the relay's loopback.
			r.refuseHint(s, "policy", wire.CloseRefused, what+": the relay's own loopback, allowed only by a rule naming it", hint)
			return
		}
	}
	r.refuseHint(s, "policy", wire.CloseRefused, what+": not in allow list", "see --allow")
}

// opensUnguarded reports whether an address rule would allow a:port if a
// were not guarded: the refusal is then the guard's, not the list's.
func (p policy) opensUnguarded(a netip.Addr, port uint16) bool {
	for _, x := range []netip.Addr{a, carried(a)} {
		for i := range p {
			if p[i].name == "" && p[i].hasPort(port) && p[i].prefix.Contains(x) {
				return true
			}
		}
	}
	return false
}
