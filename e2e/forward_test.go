package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

const transferSize = 64 << 20

// TestLocalForward carries 64 MiB each way through a browser -L forward
// whose entry socket is on the relay host: a Go client connects to f.entry,
// the gateway dials Go services as exits.
func TestLocalForward(t *testing.T) {
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	source := sshtest.StartSource(t, "127.0.0.1:0", transferSize, 2)
	st := startStack(t)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)

	up := jsForward(t, ctx, "up", "-L 127.0.0.1:0:"+hasher)
	down := jsForward(t, ctx, "down", "-L 127.0.0.1:0:"+source)
	checkEntry(t, up, "127.0.0.1")
	if spec := mustJS[string](t, ctx, `return up.spec;`); !strings.HasPrefix(spec, "-L ") || !strings.HasSuffix(spec, hasher) {
		t.Errorf("f.spec = %q", spec)
	}
	if cmd := mustJS[string](t, ctx, `return up.command;`); !strings.HasPrefix(cmd, "ssh ") || !strings.Contains(cmd, hasher) {
		t.Errorf("f.command = %q", cmd)
	}

	t.Logf("-L upload through Chromium: %.1f MB/s", sendHashed(t, up, transferSize, 1))
	t.Logf("-L download through Chromium: %.1f MB/s", recvHashed(t, down, transferSize, 2))

	if s := jsStats(t, ctx, "up"); s.BytesOut < transferSize || s.Connections != 1 {
		t.Errorf("up.stats() = %+v, want 1 connection and >= %d bytes out", s, transferSize)
	}
	if s := jsStats(t, ctx, "down"); s.BytesIn < transferSize {
		t.Errorf("down.stats() = %+v, want >= %d bytes in", s, transferSize)
	}
	mustJS[any](t, ctx, `await up.close(); await down.close(); await s.close();`)
	if !waitFor(10*time.Second, func() bool { return !connectable(up) }) {
		t.Errorf("entry %s still accepts connections after f.close()", up)
	}
	checkNoStreams(t, st)
}

// TestRemoteForward carries 64 MiB each way through a browser -R forward:
// the gateway listens on a port it picks, the relay dials the exits.
func TestRemoteForward(t *testing.T) {
	hasher := sshtest.StartHasher(t, "127.0.0.1:0")
	source := sshtest.StartSource(t, "127.0.0.1:0", transferSize, 4)
	st := startStack(t, hasher, source)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)

	up := jsForward(t, ctx, "up", "-R 0:"+hasher)
	down := jsForward(t, ctx, "down", "-R 0:"+source)
	checkEntry(t, up, "")
	t.Logf("-R upload through Chromium: %.1f MB/s", sendHashed(t, up, transferSize, 3))
	t.Logf("-R download through Chromium: %.1f MB/s", recvHashed(t, down, transferSize, 4))

	if s := jsStats(t, ctx, "up"); s.BytesOut < transferSize || s.Connections != 1 {
		t.Errorf("up.stats() = %+v, want 1 connection and >= %d bytes out", s, transferSize)
	}
	mustJS[any](t, ctx, `await up.close(); await down.close(); await s.close();`)
	checkNoStreams(t, st)
}

// TestConcurrentConnections runs 50 connections at once through one -L
// forward, each echoing its own data, and checks counters and events.
func TestConcurrentConnections(t *testing.T) {
	const conns, size = 50, 256 << 10
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	mustJS[any](t, ctx, `window.events = [];`+connectJS(st, `onEvent: (ev) => events.push(ev),`))
	entry := jsForward(t, ctx, "f", "-L 0:"+echo)

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(entry, size, byte(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	var s forwardStats
	waitFor(10*time.Second, func() bool { s = jsStats(t, ctx, "f"); return s.Active == 0 })
	if s.Connections != conns || s.Active != 0 || s.BytesOut < conns*size || s.BytesIn < conns*size {
		t.Errorf("f.stats() = %+v, want %d connections, none active, >= %d bytes each way", s, conns, conns*size)
	}
	type counts struct{ Opened, Closed int }
	var c counts
	waitFor(10*time.Second, func() bool {
		c = mustJS[counts](t, ctx, `return {opened: events.filter(e => e.kind === "opened").length, closed: events.filter(e => e.kind === "closed").length};`)
		return c.Closed >= conns
	})
	if c.Opened != conns || c.Closed != conns {
		t.Errorf("onEvent saw %d opened and %d closed connections, want %d each", c.Opened, c.Closed, conns)
	}
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

// echoOnce sends size bytes through an echo exit and checks they come back.
func echoOnce(addr string, size int, seed byte) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	data := bytes.Repeat([]byte{seed, seed ^ 0x5a, 'x'}, size/3+1)[:size]
	rand.Read(data[:64])
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		writeErr <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-writeErr; werr != nil {
		return fmt.Errorf("connection %d: write: %w", seed, werr)
	}
	if err != nil {
		return fmt.Errorf("connection %d: read: %w", seed, err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("connection %d: got %d bytes back, want the %d sent", seed, len(got), len(data))
	}
	return nil
}

// TestPageGoneFreesPorts checks that when the page goes away (its tab
// closes, or it navigates elsewhere) the relay's listening port of a -L and
// the gateway's port of a -R are released.
func TestPageGoneFreesPorts(t *testing.T) {
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	st := startStack(t, exit)
	browser := newBrowser(t)

	for _, how := range []string{"close tab", "navigate away"} {
		t.Run(how, func(t *testing.T) {
			tab, closeTab := newTab(t, browser)
			connectPage(t, tab, st)
			local := jsForward(t, tab, "l", "-L 127.0.0.1:0:"+exit)
			remote := jsForward(t, tab, "r", "-R 0:"+exit)
			for _, addr := range []string{local, remote} {
				if err := echoOnce(addr, 1024, 1); err != nil {
					t.Fatalf("forward entry %s before the page went away: %v", addr, err)
				}
			}

			if how == "close tab" {
				closeTab()
			} else {
				mustJS[any](t, tab, `location.href = "about:blank";`)
			}
			if !waitFor(20*time.Second, func() bool { return !connectable(local) }) {
				t.Errorf("relay entry %s still accepts connections after the page went away", local)
			} else if l, err := net.Listen("tcp", local); err != nil {
				t.Errorf("relay entry %s not bindable after the page went away: %v", local, err)
			} else {
				l.Close()
			}
			if !waitFor(20*time.Second, func() bool { return !connectable(remote) }) {
				t.Errorf("gateway entry %s still accepts connections after the page went away", remote)
			}
			checkNoStreams(t, st)
		})
	}
}

// TestJSHeapBounded moves 1 GiB through a browser -L forward and samples
// the page's JS heap meanwhile: WebSocket writes leave JavaScript garbage
// that must be collected as it goes.
func TestJSHeapBounded(t *testing.T) {
	const size = 1 << 30
	const limit = 256 << 20
	source := sshtest.StartSource(t, "127.0.0.1:0", size, 5)
	st := startStack(t)
	ctx := newBrowser(t)
	connectPage(t, ctx, st)
	entry := jsForward(t, ctx, "f", "-L 127.0.0.1:0:"+source)
	heap := func() float64 { return mustJS[float64](t, ctx, `return performance.memory.usedJSHeapSize;`) }
	before := heap()

	sctx, stop := context.WithCancel(ctx)
	var peak float64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-sctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			if v, err := evalJS[float64](sctx, `return performance.memory.usedJSHeapSize;`); err == nil && v > peak {
				peak = v
			}
		}
	}()
	mbps := recvCounted(t, entry, size)
	stop()
	<-sampled
	after := heap()
	t.Logf("1 GiB through -L at %.1f MB/s; JS heap: %.1f MB before, peak %.1f MB, %.1f MB after",
		mbps, before/1e6, peak/1e6, after/1e6)
	if peak == 0 {
		t.Fatal("no heap sample taken during the transfer")
	}
	if peak > limit || after > limit {
		t.Errorf("JS heap peaked at %.0f MB (after: %.0f MB), want < %d MB", peak/1e6, after/1e6, limit>>20)
	}
	mustJS[any](t, ctx, `await s.close();`)
}

// checkEntry checks that f.entry is a host:port with a real port, on host when given.
func checkEntry(t *testing.T, entry, host string) {
	t.Helper()
	h, p, err := net.SplitHostPort(entry)
	if err != nil || p == "0" || (host != "" && h != host) {
		t.Fatalf("f.entry = %q, want %s:<allocated port>", entry, host)
	}
}

// sendHashed writes n bytes of sshtest.Data(seed) to a hasher exit through
// addr, half-closes, and checks the digest the exit saw. It returns MB/s.
func sendHashed(t *testing.T, addr string, n int64, seed uint64) float64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to entry %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	h := sha256.New()
	start := time.Now()
	if _, err := io.Copy(c, io.TeeReader(io.LimitReader(sshtest.Data(seed), n), h)); err != nil {
		t.Fatalf("send %d bytes to %s: %v", n, addr, err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("read the exit's digest through %s: %v", addr, err)
	}
	if want := sshtest.HashLine(hex.EncodeToString(h.Sum(nil)), n); line != want {
		t.Fatalf("exit saw %q, want %q", line, want)
	}
	return float64(n) / 1e6 / elapsed.Seconds()
}

// recvHashed reads a source exit's n bytes through addr and checks their digest. It returns MB/s.
func recvHashed(t *testing.T, addr string, n int64, seed uint64) float64 {
	t.Helper()
	want := make(chan string, 1)
	go func() { want <- sshtest.DataSum(seed, n) }()
	h := sha256.New()
	mbps := recv(t, addr, h, n)
	if got, w := hex.EncodeToString(h.Sum(nil)), <-want; got != w {
		t.Fatalf("received data has SHA-256 %s, want %s", got, w)
	}
	return mbps
}

// recvCounted reads a source exit's n bytes through addr, counting them only.
func recvCounted(t *testing.T, addr string, n int64) float64 {
	t.Helper()
	return recv(t, addr, io.Discard, n)
}

func recv(t *testing.T, addr string, dst io.Writer, n int64) float64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to entry %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Minute))
	start := time.Now()
	if err := copyN(dst, c, n); err != nil {
		t.Fatalf("receive through %s: %v", addr, err)
	}
	elapsed := time.Since(start)
	if extra, _ := io.Copy(io.Discard, c); extra != 0 {
		t.Fatalf("received %d bytes more than the %d sent", extra, n)
	}
	return float64(n) / 1e6 / elapsed.Seconds()
}
