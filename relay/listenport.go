package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"

	"tunnelkit/relay/resolve"
	"tunnelkit/relay/wire"
)

// maxPortTries bounds the binds one request for port 0 tries inside the
// allowed ranges before it gives up.
const maxPortTries = 256

// bindAllowed binds the listen bridge's listener at h:port as pol allows,
// or refuses the stream. Port 0 means "a port the policy allows": under a
// rule that allows port 0 (HOST:* or HOST:0) the kernel picks; under a
// range (HOST:20000-20100) a free port inside it is bound, so that an
// operator who allows a range does not make every page guess a port.
func (r *Relay) bindAllowed(ctx context.Context, s *stream, pol policy, h resolve.Host, port uint16, target string) (net.Listener, bool) {
	check := pol
	if port == 0 {
		check = pol.anyPort()
	}
	binds, ok := r.allowedAddrs(ctx, s, check, h, port, target, forListen)
	if !ok {
		return nil, false
	}
	a := binds[0].Addr()
	ranges := []rule{{lo: port, hi: port}}
	if port == 0 {
		ranges = pol.listenRanges(h, a)
	}
	var err error
	tries := 0
	for _, ru := range ranges {
		n := int(ru.hi) - int(ru.lo) + 1
		first := rand.IntN(n) // spread pages over the range
		for i := 0; i < n && tries < maxPortTries; i++ {
			p := ru.lo + uint16((first+i)%n)
			tries++
			var ln net.Listener
			if ln, err = r.cfg.Listen(ctx, "tcp", netip.AddrPortFrom(a, p).String()); err == nil {
				return ln, true
			}
			if ctx.Err() != nil || port != 0 {
				break
			}
		}
	}
	if err == nil {
		err = fmt.Errorf("no port left to try")
	}
	what := target
	if port == 0 {
		what = fmt.Sprintf("%s (any port in %s)", target, portRanges(ranges))
	}
	r.refuse(s, "listen", wire.CloseDialFailed, fmt.Sprintf("relay could not listen on %s: %s", what, netErrText(err)))
	return nil, false
}

// anyPort is p with every rule widened to every port: which addresses a
// request for port 0 may bind, before the port is chosen.
func (p policy) anyPort() policy {
	q := append(policy{}, p...)
	for i := range q {
		q[i].lo, q[i].hi = 0, 65535
	}
	return q
}

// listenRanges are the port ranges of the rules that allow binding a (for
// the host h asked for); a single port 0 when a rule allows port 0, which
// leaves the choice to the kernel.
func (p policy) listenRanges(h resolve.Host, a netip.Addr) []rule {
	var out []rule
	for _, ru := range p {
		one := policy{ru}
		var ok bool
		if ru.name != "" {
			ok = !h.IsAddr() && one.allowsResolvedFor(h.Name, one.allowsName(h.Name, ru.lo), a, ru.lo, forListen)
		} else {
			ok = one.allowsAddrFor(a, ru.lo, forListen)
		}
		if !ok {
			continue
		}
		if ru.lo == 0 {
			return []rule{{lo: 0, hi: 0}}
		}
		out = append(out, rule{lo: ru.lo, hi: ru.hi})
	}
	return out
}

func portRanges(rs []rule) string {
	var parts []string
	for _, r := range rs {
		if r.lo == r.hi {
			parts = append(parts, fmt.Sprint(r.lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.lo, r.hi))
		}
	}
	return strings.Join(parts, ", ")
}
