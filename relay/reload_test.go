package relay

import (
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"
)

// TestReload: new rules, limits and tokens apply to new streams at once;
// a stream admitted before keeps working; a config that does not check
// out is refused and the running one stays.
func TestReload(t *testing.T) {
	echo1 := sshtest.StartEcho(t, "127.0.0.1:0")
	echo2 := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo1}})
	ctx := testCtx(t, 30*time.Second)
	held := dialOpen(t, ctx, tr, echo1)
	roundTrip(t, ctx, held, "before")

	if err := tr.Reload(Config{Allow: []string{echo2}, MaxStreamsPerClient: 3}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, ctx, held, "after the reload") // established: untouched
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+echo1), dialOpts{}, wire.CloseRefused, "not in allow list")
	ws := dialOpen(t, ctx, tr, echo2)
	roundTrip(t, ctx, ws, "newly allowed")
	ws2 := dialOpen(t, ctx, tr, echo2)
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+echo2), dialOpts{}, wire.CloseOverLimit, "limit 3")
	ws2.CloseNow()
	ws.CloseNow()
	for i := 0; i < 200 && tr.streamCount() > 1; i++ {
		time.Sleep(10 * time.Millisecond)
	}

	for _, bad := range []Config{
		{Allow: []string{"nonsense"}},
		{Allow: []string{echo1}, AllowOrigins: []string{"*"}},
		{Allow: []string{echo1}, Tokens: []Token{{Secret: "short"}}},
		{Allow: []string{echo1}, IdleTimeout: -time.Second},
	} {
		if err := tr.Reload(bad); err == nil {
			t.Errorf("Reload(%+v) = nil, want an error", bad)
		}
	}
	// Still the last good config: echo2 allowed, echo1 not.
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+echo1), dialOpts{}, wire.CloseRefused, "not in allow list")
	ws3 := dialOpen(t, ctx, tr, echo2)
	roundTrip(t, ctx, ws3, "kept")
	ws3.CloseNow()

	// Origins: a page from another origin, allowed from now on.
	u := tr.wsURL("/v1/dial?target=" + echo2)
	if _, err := tryConnect(ctx, u, dialOpts{origin: "https://team.example"}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("cross-origin before the reload: %v, want a 403", err)
	}
	if err := tr.Reload(Config{Allow: []string{echo2}, AllowOrigins: []string{"team.example"}}); err != nil {
		t.Fatal(err)
	}
	wo := connect(t, ctx, u, dialOpts{origin: "https://team.example"})
	wo.CloseNow()

	// Tokens: required from now on.
	secret := strings.Repeat("s", 32)
	if err := tr.Reload(Config{Allow: []string{echo2}, Tokens: []Token{{Name: "ops", Secret: secret}}}); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, ctx, tr.wsURL("/v1/dial?target="+echo2), dialOpts{}, wire.CloseUnauthorized, "token")
	roundTrip(t, ctx, held, "still there")
	held.CloseNow()
}

func (r *Relay) streamCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}
