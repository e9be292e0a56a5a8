package relay

import (
	"encoding/json"
	"strings"
	"testing"

	"tunnelkit/relay/resolve"

	"tunnelkit/relay/wire"
)

// FuzzControlMessage: control messages and query parameters never panic
// the parsers, and what parses re-encodes to the same thing.
func FuzzControlMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"open","addr":"127.0.0.1:22"}`,
		`{"type":"accept","id":"0123456789abcdef0123456789abcdef","remote":"[::1]:5"}`,
		`{"type":"listening","addr":"0.0.0.0:8080","extra":[1,2]}`,
		`{"type":""}`, `[]`, `{"type":"x\u0000"}`, `*:0`, `:22`, `[::1]:0`,
		"0123456789abcdef0123456789abcdef",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := wire.ParseMessage(b); err == nil {
			out, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := wire.ParseMessage(out)
			if err != nil || m2 != m {
				t.Fatalf("%q re-encoded as %q parses to %+v, %v", b, out, m2, err)
			}
		}
		s := string(b)
		for rest := b; len(rest) > 0; {
			conn, payload, next, err := wire.NextFrame(rest)
			if err != nil {
				break
			}
			if conn == 0 || len(next)+len(payload)+wire.FrameHeader != len(rest) {
				t.Fatalf("frame of %q: conn %d, %d payload bytes, %d left", rest, conn, len(payload), len(next))
			}
			rest = next
		}
		if h, p, err := parseListenAddr(s); err == nil {
			c := resolve.JoinHostPort(h, p)
			h2, p2, err := parseListenAddr(c)
			if err != nil || h2 != h || p2 != p {
				t.Fatalf("listen addr %q canonical %q re-parses to %v %d %v", s, c, h2, p2, err)
			}
		}
		if _, err := parseRule(s); err == nil {
			// A valid rule stays valid with a comment after it.
			if a, _, err := ParseRuleFile(strings.NewReader(s + " # c\n")); err != nil || len(a) != 1 {
				t.Fatalf("rule %q parses alone but not in a file: %v %q", s, err, a)
			}
		}
	})
}
