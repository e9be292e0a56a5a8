package relay

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/wire"
)

// sinkNeverReads accepts connections and never reads them.
func sinkNeverReads(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(4096)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// stallFlowStream opens a flow-controlled dial stream to target and sends,
// within its credit, until the relay stops acknowledging: the target's
// socket and the relay's queue are full. Bounded in bytes and time.
func stallFlowStream(t *testing.T, ctx context.Context, tr *testRelay, target string) *websocket.Conn {
	t.Helper()
	return stallFlowStreamAt(t, ctx, tr.wsURL(""), target)
}

// stallFlowStreamAt is stallFlowStream through the relay at base (ws://...).
func stallFlowStreamAt(t *testing.T, ctx context.Context, base, target string) *websocket.Conn {
	t.Helper()
	ws := connect(t, ctx, base+"/v1/dial?"+url.Values{"target": {target}, "flow": {strconv.Itoa(flowWindow)}}.Encode(), dialOpts{})
	open, err := readMessage(ctx, ws)
	if err != nil || open.Credit == 0 {
		t.Fatalf("open = %+v %v, want credit", open, err)
	}
	acks := make(chan int, 64)
	go func() {
		for {
			typ, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if m, err := wire.ParseMessage(b); typ == websocket.MessageText && err == nil && m.Type == wire.TypeAck {
				acks <- int(m.N)
			}
		}
	}()
	credit, sent := int(open.Credit), 0
	buf := make([]byte, 64<<10)
	for sent < 512<<20 {
		if credit == 0 {
			select {
			case n := <-acks:
				credit += n
				continue
			case <-time.After(500 * time.Millisecond):
				return ws // no ack: stalled with a full queue
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
		n := min(len(buf), credit)
		if err := ws.Write(ctx, websocket.MessageBinary, buf[:n]); err != nil {
			t.Fatal(err)
		}
		credit -= n
		sent += n
	}
	t.Fatalf("sent %d bytes to a target that never reads without a stall", sent)
	return nil
}

// TestStalledStreamsReleasedWhenClientGone: clients that queued all their
// credit for a target that stopped reading, then vanished, do not keep
// their streams, queues and budget: after the drain time they end, while
// another client's stream goes on.
func TestStalledStreamsReleasedWhenClientGone(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	sink := sinkNeverReads(t)
	tr := startRelay(t, Config{Allow: []string{echo, sink}, QueueDrainTimeout: 300 * time.Millisecond})
	ctx := testCtx(t, 120*time.Second)
	healthy := dialOpen(t, ctx, tr, echo)
	defer healthy.CloseNow()

	const n = 4
	var stalled []*websocket.Conn
	for i := 0; i < n; i++ {
		stalled = append(stalled, stallFlowStream(t, ctx, tr, sink))
	}
	if got := tr.budget.inUse(); got != n*wire.UpCredit {
		t.Fatalf("budget in use %d, want %d (a credit per stalled stream)", got, n*wire.UpCredit)
	}
	for _, ws := range stalled {
		ws.CloseNow() // the client vanishes: no close handshake
	}
	deadline := time.Now().Add(30 * time.Second) // far over the 300ms drain
	for tr.dataStreams() > 1 || tr.budget.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("30s after their clients vanished: %d data streams, %d bytes of budget held", tr.dataStreams(), tr.budget.inUse())
		}
		time.Sleep(50 * time.Millisecond)
	}
	roundTrip(t, ctx, healthy, "unaffected")
	assertLog(t, tr, `"close_reason":"client went away; the target did not take the`, `"hint":"see --queue-drain-timeout"`)
}

// TestQueuedBytesBudget: credits come out of one relay-wide budget; a
// stream gets what is left, none under 64 KiB, and the rest are refused
// until a stream ends; streams without flow control are unaffected.
func TestQueuedBytesBudget(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	tr := startRelay(t, Config{Allow: []string{echo}, MaxQueuedBytes: 2*wire.UpCredit + 512<<10})
	ctx := testCtx(t, 30*time.Second)
	u := tr.wsURL("/v1/dial?" + url.Values{"target": {echo}, "flow": {strconv.Itoa(flowWindow)}}.Encode())
	var open []*websocket.Conn
	for i, want := range []int64{wire.UpCredit, wire.UpCredit, 512 << 10} {
		ws := connect(t, ctx, u, dialOpts{})
		m, err := readMessage(ctx, ws)
		if err != nil || m.Credit != want {
			t.Fatalf("stream %d: open %+v %v, want credit %d", i+1, m, err, want)
		}
		open = append(open, ws)
	}
	roundTrip(t, ctx, open[2], strings.Repeat("x", 100<<10)) // the short credit works (under a quarter of it: no ack)
	refusedWith(t, ctx, u, dialOpts{}, wire.CloseOverLimit, "queued for targets")
	plain := dialOpen(t, ctx, tr, echo)
	roundTrip(t, ctx, plain, "no flow control, no credit")
	plain.Close(websocket.StatusNormalClosure, "")
	open[0].Close(websocket.StatusNormalClosure, "")
	for i := 0; ; i++ { // its credit comes back as it ends: poll, bounded
		ws := connect(t, ctx, u, dialOpts{})
		m, err := readMessage(ctx, ws)
		if err == nil && m.Credit == wire.UpCredit {
			ws.Close(websocket.StatusNormalClosure, "")
			break
		}
		ws.CloseNow()
		if i == 100 {
			t.Fatalf("credit never came back: %+v %v", m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ws := range open[1:] {
		ws.Close(websocket.StatusNormalClosure, "")
	}
}

// freezeProxy forwards TCP to addr until frozen; then it moves no byte
// either way and closes nothing, like a network that dropped off.
type freezeProxy struct {
	ln     net.Listener
	frozen chan struct{}
	done   chan struct{}
}

func startFreezeProxy(t *testing.T, addr string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, frozen: make(chan struct{}), done: make(chan struct{})}
	var conns []net.Conn
	var wg sync.WaitGroup
	var mu sync.Mutex
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-p.frozen:
				<-p.done
				return
			default:
			}
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(p.done)
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *freezeProxy) url() string { return "ws://" + p.ln.Addr().String() }
func (p *freezeProxy) freeze()     { close(p.frozen) }

// TestStalledStreamReleasedWhenClientSilent: a client that vanishes
// without a close (its network dropped) while its queue is stuck behind a
// target that does not read is pinged, does not answer, and its stream
// ends long before the idle timeout.
func TestStalledStreamReleasedWhenClientSilent(t *testing.T) {
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	sink := sinkNeverReads(t)
	tr := startRelay(t, Config{Allow: []string{echo, sink}, QueueDrainTimeout: 300 * time.Millisecond})
	ctx := testCtx(t, 120*time.Second)
	healthy := dialOpen(t, ctx, tr, echo)
	defer healthy.CloseNow()
	proxy := startFreezeProxy(t, tr.srv.Listener.Addr().String())
	ws := stallFlowStreamAt(t, ctx, proxy.url(), sink)
	defer ws.CloseNow()
	// A live client, stalled, is pinged and answers: it stays.
	time.Sleep(time.Second)
	if tr.dataStreams() != 2 {
		t.Fatalf("a stalled stream whose client answers pings ended: %d data streams\n%s", tr.dataStreams(), tr.logs.String())
	}
	proxy.freeze()
	deadline := time.Now().Add(30 * time.Second)
	for tr.dataStreams() > 1 || tr.budget.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("30s after its client went silent: %d data streams, %d bytes of budget held", tr.dataStreams(), tr.budget.inUse())
		}
		time.Sleep(50 * time.Millisecond)
	}
	roundTrip(t, ctx, healthy, "unaffected")
	assertLog(t, tr, `"close_reason":"client stopped answering pings while the target did not take the`)
}
