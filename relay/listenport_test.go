package relay

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// heldRange finds n consecutive free loopback ports and holds all but the
// last: a range where exactly one port is free. Bounded tries.
func heldRange(t *testing.T, n int) (lo int, held []net.Listener) {
	t.Helper()
	for try := 0; try < 50; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lo = ln.Addr().(*net.TCPAddr).Port
		held = []net.Listener{ln}
		ok := lo+n-1 <= 65535
		for p := lo + 1; ok && p < lo+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		if ok {
			held[len(held)-1].Close() // the one free port
			held = held[:len(held)-1]
			t.Cleanup(func() {
				for _, l := range held {
					l.Close()
				}
			})
			return lo, held
		}
		for _, l := range held {
			l.Close()
		}
	}
	t.Fatal("found no run of free ports")
	return 0, nil
}

// TestListenPortZeroInRange: under a range rule, port 0 binds a free port
// inside the range (here the only free one), by address or by name; when
// none is free the stream is refused, and no port outside is ever bound.
func TestListenPortZeroInRange(t *testing.T) {
	const n = 6
	lo, _ := heldRange(t, n)
	hi := lo + n - 1
	rng := fmt.Sprintf("%d-%d", lo, hi)
	res := &fakeResolver{table: map[string][]netip.Addr{"localhost": {netip.MustParseAddr("127.0.0.1")}}}
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:" + rng, "localhost:" + rng}, Resolver: res})
	ctx := testCtx(t, 30*time.Second)

	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	if want := "127.0.0.1:" + strconv.Itoa(hi); bound != want {
		t.Fatalf("port 0 under %s bound %s, want %s (the range's only free port)", rng, bound, want)
	}
	// Now none is free: refused, with the range in the reason.
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.1:0"), dialOpts{}, wire.CloseDialFailed, "any port in "+rng)
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=localhost:0"), dialOpts{}, wire.CloseDialFailed, "any port in "+rng)
	ctl.Close(websocket.StatusNormalClosure, "")
	portFreed(t, bound)
	ctl, bound = openListener(t, ctx, tr, "localhost:0")
	if bound != "127.0.0.1:"+strconv.Itoa(hi) {
		t.Fatalf("localhost:0 bound %s", bound)
	}
	ctl.Close(websocket.StatusNormalClosure, "")
	// Outside the rules' hosts port 0 is still refused by policy.
	refusedWith(t, ctx, tr.wsURL("/v1/listen?addr=127.0.0.2:0"), dialOpts{}, wire.CloseRefused, "not in listen allow list")
	if !strings.Contains(tr.logs.String(), `"reason":"listen"`) {
		t.Errorf("the full range is not in the audit log:\n%s", tr.logs.String())
	}
}

func TestListenPortZeroUnderStarStaysKernelPicked(t *testing.T) {
	tr := startRelay(t, Config{AllowListen: []string{"127.0.0.1:*"}})
	ctx := testCtx(t, 20*time.Second)
	ctl, bound := openListener(t, ctx, tr, "127.0.0.1:0")
	defer ctl.Close(websocket.StatusNormalClosure, "")
	if !strings.HasPrefix(bound, "127.0.0.1:") || strings.HasSuffix(bound, ":0") {
		t.Fatalf("bound %s", bound)
	}
}
