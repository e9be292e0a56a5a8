package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"
)

// pairedRTTFigures measures the round trip that websockify and the relay add
// to plain TCP with all three paths open at once and their 64-byte round
// trips interleaved (direct, websockify, relay, then the next order), so
// load from elsewhere on the machine falls on each alike. Measured one
// case after another, the same added RTT moved 2x between runs with the
// load average.
func pairedRTTFigures(ctx context.Context, e *Env) []Figure {
	const (
		relayName, relayLabel = "relay-added-rtt", "relay added RTT p50, interleaved with websockify"
		wsName, wsLabel       = "websockify-added-rtt", "websockify added RTT p50, interleaved with relay"
	)
	fail := func(err error) []Figure {
		return []Figure{figureNA(relayName, relayLabel, "µs", err), figureNA(wsName, wsLabel, "µs", err)}
	}
	var conns []net.Conn
	for _, c := range []Case{directCase(), websockifyCase(), relayDialCase()} {
		p, err := c.Setup(ctx, e)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", c.Label, err))
		}
		defer p.Close()
		conn, err := p.DialEcho(ctx) // ctx outlives the conn: a WebSocket conn keeps its dial context
		if err != nil {
			return fail(fmt.Errorf("%s: dialing the echo server: %w", c.Label, err))
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	rctx, cancel := context.WithTimeout(ctx, e.Mode.RunTimeout)
	defer cancel()
	stop := context.AfterFunc(rctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()

	relay := Figure{Name: relayName, Label: relayLabel, Unit: "µs", Peer: wsName, Status: statusOK}
	ws := Figure{Name: wsName, Label: wsLabel, Unit: "µs", Status: statusOK}
	msg, back := pattern[:64], make([]byte, 64)
	for range e.Mode.Runs {
		times := make([][]time.Duration, len(conns))
		const warmup = 20
		for i := range e.Mode.RTTRounds + warmup {
			for k := range conns {
				j := (i + k) % len(conns) // rotate who goes first
				d, err := roundTrip(conns[j], msg, back)
				if err != nil {
					return fail(fmt.Errorf("round %d: %w", i, err))
				}
				if i >= warmup {
					times[j] = append(times[j], d)
				}
			}
		}
		direct := quantile(times[0], 0.5)
		ws.Values = append(ws.Values, quantile(times[1], 0.5)-direct)
		relay.Values = append(relay.Values, quantile(times[2], 0.5)-direct)
	}
	return []Figure{relay, ws}
}

// quantile is the q quantile of ts in microseconds; it sorts ts.
func quantile(ts []time.Duration, q float64) float64 {
	slices.Sort(ts)
	return float64(ts[int(q*float64(len(ts)-1))].Nanoseconds()) / 1e3
}
